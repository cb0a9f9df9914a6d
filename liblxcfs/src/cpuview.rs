//! Per-container CPU accounting history, so that `/proc/stat` counters never go backwards.
//!
//! `/proc/stat` rows are computed afresh on every read (see [`crate::proc::stat`]), and a
//! fresh computation can be *lower* than what a reader saw before: the cpuset shrank (a row
//! vanished), the CFS quota changed the row count, the cgroup was removed and recreated (its
//! usage restarted at 0), or a row's idle shrank because its busy time grew faster than wall
//! time. Tools such as top and sar compute deltas between reads and break on negative ones.
//!
//! Each container (key: the cgroup path its times come from, and the reader's pid namespace)
//! keeps a [`History`]: the rows last shown and one offset per row and column. A read shows
//! `raw + offset` per counter; when that is below what was shown before, the offset grows by
//! the difference, so the counter continues from where it was (and later advances as the raw
//! value does, instead of freezing until the raw value catches up). When the row count
//! changes, the rows that vanished are folded into the remaining ones (row `j` into row
//! `j mod n`), so the aggregate `cpu` line, the exact sum of the rows, never decreases either.
//!
//! Bounds: a history unseen for [`TTL`] is dropped, and the map never holds more than
//! [`MAX_VIEWS`] entries (the least recently seen go first). Across a library reload the map
//! is carried as text records ([`CpuViews::export`], [`CpuViews::import`]).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lxcfs_formats::stat::{self, CpuTimes, CPU_FIELDS};

/// Histories unseen this long are dropped.
pub const TTL: Duration = Duration::from_secs(600);
/// At most this many histories are kept.
pub const MAX_VIEWS: usize = 4096;
/// Pruning of expired histories runs at most this often (and whenever the map is full).
const PRUNE_EVERY: Duration = Duration::from_secs(10);
/// Version of the export record format (first field of every record).
pub const RECORD_VERSION: u32 = 1;
/// Most rows a record may carry (the kernel's largest CPU count).
const MAX_ROWS: usize = 8192;

/// Whose history: the cgroup the CPU times are read from, and the reader's pid namespace
/// (readers in different namespaces see different ages, hence different idle times).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ViewKey {
    /// cgroup path (`/lxc/c1`).
    pub cgroup: String,
    /// Inode of the reader's pid namespace.
    pub pidns: u64,
}

/// Rows last shown to a container and the offsets that keep them monotonic.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Per row and column, added to the freshly computed value (ticks).
    pub offset: Vec<CpuTimes>,
    /// The rows last shown (ticks).
    pub shown: Vec<CpuTimes>,
    /// Per row, the largest idle deficit seen since the rows last changed (ticks; see
    /// [`History::step`]); empty while no row has one. Not carried across reloads: it is
    /// rebuilt from the next deficit, and the offsets keep the idle column from going back
    /// meanwhile.
    pub idle_base: Vec<u64>,
    /// Per row, the raw busy time (user + system, ticks) of the last step; not carried across
    /// reloads.
    pub last_busy: Vec<u64>,
}

/// Histories are equal when they show and offset the same: `idle_base` and `last_busy` are
/// rebuilt by the next [`History::step`] (they are not carried across reloads either).
impl PartialEq for History {
    fn eq(&self, other: &History) -> bool {
        self.offset == other.offset && self.shown == other.shown
    }
}

impl Eq for History {}

impl History {
    /// Turns freshly computed rows into the rows to show, updating the history. Every
    /// column of every row shown is at least what was shown before in that row; when the
    /// row count changes, vanished row `j` is added to row `j mod n` first; new rows start
    /// from their raw values. An empty `raw` returns empty rows and changes nothing.
    ///
    /// `age` is the container's age in ticks, from which the raw idle was computed
    /// (`age − busy`, floored at 0). A row whose busy time exceeds the age (its cgroup had
    /// used CPU before the container started, or busy time of CPUs taken away was folded in)
    /// has an idle *deficit*; its idle would stay at 0, and `top` would show the container
    /// 100 % busy, until wall time made the deficit up. Instead the largest deficit seen is
    /// kept per row and the idle shown is `age − busy + that deficit`: from the first such
    /// read on, idle advances by the wall time the row did not spend busy. When the rows
    /// change under the history (another row count, or a row's raw busy time going back: the
    /// cgroup was recreated, or the row now stands for another CPU), the kept deficits are
    /// rebuilt from the current ones, as after a reload: a row never gains idle it did not
    /// spend.
    pub fn step(&mut self, raw: &[CpuTimes], age: u64) -> Vec<CpuTimes> {
        let n = raw.len();
        if n == 0 {
            return Vec::new();
        }
        let busy: Vec<u64> = raw
            .iter()
            .map(|r| r.0[stat::col::USER].saturating_add(r.0[stat::col::SYSTEM]))
            .collect();
        let deficit: Vec<u64> = busy.iter().map(|b| b.saturating_sub(age)).collect();
        let changed = self.last_busy.len() != n
            || busy
                .iter()
                .zip(&self.last_busy)
                .any(|(now, before)| now < before);
        if changed {
            self.idle_base.clear();
        }
        if !self.idle_base.is_empty() || deficit.iter().any(|d| *d > 0) {
            self.idle_base.resize(n, 0);
        }
        self.last_busy = busy;
        let mut raw = raw.to_vec();
        for (k, r) in raw.iter_mut().enumerate() {
            let Some(base) = self.idle_base.get_mut(k) else {
                break;
            };
            *base = (*base).max(deficit[k]);
            let idle = &mut r.0[stat::col::IDLE];
            *idle = idle.saturating_add(*base - deficit[k]);
        }
        if self.shown.len() != n {
            let mut floors = vec![CpuTimes::default(); n];
            for (j, r) in self.shown.iter().enumerate() {
                floors[j % n] = floors[j % n].add(r);
            }
            self.shown = floors;
            self.offset.resize(n, CpuTimes::default());
        }
        let mut out = vec![CpuTimes::default(); n];
        for (k, row) in out.iter_mut().enumerate() {
            for col in 0..CPU_FIELDS {
                let candidate = raw[k].0[col].saturating_add(self.offset[k].0[col]);
                let floor = self.shown[k].0[col];
                if candidate < floor {
                    self.offset[k].0[col] = self.offset[k].0[col].saturating_add(floor - candidate);
                }
                row.0[col] = candidate.max(floor);
            }
        }
        self.shown.clone_from(&out);
        out
    }
}

#[derive(Debug)]
struct Entry {
    history: History,
    seen: Instant,
}

#[derive(Debug, Default)]
struct Inner {
    views: HashMap<ViewKey, Entry>,
    last_prune: Option<Instant>,
}

impl Inner {
    fn prune(&mut self, now: Instant) {
        self.views
            .retain(|_, e| now.saturating_duration_since(e.seen) < TTL);
        if self.views.len() >= MAX_VIEWS {
            let mut by_age: Vec<(Instant, ViewKey)> = self
                .views
                .iter()
                .map(|(k, e)| (e.seen, k.clone()))
                .collect();
            by_age.sort_by_key(|(seen, _)| *seen);
            let excess = self.views.len() + 1 - MAX_VIEWS;
            for (_, k) in by_age.into_iter().take(excess) {
                self.views.remove(&k);
            }
        }
        self.last_prune = Some(now);
    }
}

/// History of every container's CPU view.
#[derive(Debug, Default)]
pub struct CpuViews {
    inner: Mutex<Inner>,
}

impl CpuViews {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves consistent data (each update is a
        // plain assignment); keep serving rather than propagate the poison.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The rows to show for `key` given freshly computed `raw` rows for a container `age`
    /// ticks old, at time `now`; see [`History::step`].
    pub fn advance(&self, key: ViewKey, raw: &[CpuTimes], age: u64, now: Instant) -> Vec<CpuTimes> {
        let mut inner = self.lock();
        let due = inner
            .last_prune
            .is_none_or(|t| now.saturating_duration_since(t) >= PRUNE_EVERY);
        if due || (inner.views.len() >= MAX_VIEWS && !inner.views.contains_key(&key)) {
            inner.prune(now);
        }
        let e = inner.views.entry(key).or_insert_with(|| Entry {
            history: History::default(),
            seen: now,
        });
        e.seen = now;
        e.history.step(raw, age)
    }

    /// Number of histories kept.
    pub fn len(&self) -> usize {
        self.lock().views.len()
    }

    /// Whether no history is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The history of `key`, if kept.
    pub fn get(&self, key: &ViewKey) -> Option<History> {
        self.lock().views.get(key).map(|e| e.history.clone())
    }

    /// Records to carry across a reload (see [`crate::state`]), one line each:
    /// `1 <pidns> <cgroup, %-escaped> <rows> <rows × 10 offsets> <rows × 10 shown>`, all
    /// counters in USER_HZ ticks, rows in order, columns in `/proc/stat` order.
    pub fn export(&self) -> Vec<String> {
        let inner = self.lock();
        let mut out: Vec<String> = inner
            .views
            .iter()
            .filter(|(_, e)| !e.history.shown.is_empty())
            .map(|(k, e)| {
                let mut s = format!(
                    "{RECORD_VERSION} {} {} {}",
                    k.pidns,
                    escape(&k.cgroup),
                    e.history.shown.len()
                );
                for row in e.history.offset.iter().chain(e.history.shown.iter()) {
                    for v in row.0 {
                        s.push(' ');
                        s.push_str(&v.to_string());
                    }
                }
                s
            })
            .collect();
        out.sort();
        out
    }

    /// Restores one record written by [`CpuViews::export`]; `false` (and nothing changes)
    /// when its version is unknown, it is malformed, or the map is full. Restored histories
    /// count as seen now.
    pub fn import(&self, record: &str) -> bool {
        let Some((key, history)) = parse_record(record) else {
            return false;
        };
        let mut inner = self.lock();
        if inner.views.len() >= MAX_VIEWS && !inner.views.contains_key(&key) {
            return false;
        }
        inner.views.insert(
            key,
            Entry {
                history,
                seen: Instant::now(),
            },
        );
        true
    }
}

fn parse_record(record: &str) -> Option<(ViewKey, History)> {
    let mut it = record.split_whitespace();
    if it.next()?.parse::<u32>().ok()? != RECORD_VERSION {
        return None;
    }
    let pidns = it.next()?.parse().ok()?;
    let cgroup = unescape(it.next()?)?;
    let n: usize = it.next()?.parse().ok()?;
    if n == 0 || n > MAX_ROWS {
        return None;
    }
    let mut rows = Vec::with_capacity(2 * n);
    for _ in 0..2 * n {
        let mut t = CpuTimes::default();
        for v in t.0.iter_mut() {
            *v = it.next()?.parse().ok()?;
        }
        rows.push(t);
    }
    if it.next().is_some() {
        return None;
    }
    let shown = rows.split_off(n);
    Some((
        ViewKey { cgroup, pidns },
        History {
            offset: rows,
            shown,
            idle_base: Vec::new(),
            last_busy: Vec::new(),
        },
    ))
}

/// %-escapes bytes that would break a whitespace-separated record (controls, space, `%`,
/// DEL and non-ASCII bytes).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b <= b' ' || b == b'%' || b >= 0x7f {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(char::from(b));
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    out
}

fn unescape(s: &str) -> Option<String> {
    if s == "%00" {
        return Some(String::new());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An age no row's busy time exceeds.
    pub(crate) const NO_DEFICIT: u64 = u64::MAX;

    fn row(user: u64, system: u64, idle: u64) -> CpuTimes {
        let mut t = CpuTimes::default();
        t.0[0] = user;
        t.0[2] = system;
        t.0[3] = idle;
        t
    }

    fn sum(rows: &[CpuTimes]) -> CpuTimes {
        rows.iter().fold(CpuTimes::default(), |a, r| a.add(r))
    }

    fn no_decrease(a: &[CpuTimes], b: &[CpuTimes]) {
        let (sa, sb) = (sum(a), sum(b));
        for c in 0..CPU_FIELDS {
            assert!(
                sb.0[c] >= sa.0[c],
                "aggregate column {c} decreased: {sa:?} -> {sb:?}"
            );
        }
        for (k, (x, y)) in a.iter().zip(b.iter()).enumerate() {
            for c in 0..CPU_FIELDS {
                assert!(
                    y.0[c] >= x.0[c],
                    "row {k} column {c} decreased: {x:?} -> {y:?}"
                );
            }
        }
    }

    #[test]
    fn first_read_is_raw_then_follows_raw() {
        let mut h = History::default();
        let a = h.step(&[row(10, 5, 100), row(1, 1, 100)], NO_DEFICIT);
        assert_eq!(a, vec![row(10, 5, 100), row(1, 1, 100)]);
        let b = h.step(&[row(20, 5, 190), row(1, 1, 200)], NO_DEFICIT);
        assert_eq!(b, vec![row(20, 5, 190), row(1, 1, 200)]);
    }

    #[test]
    fn backwards_raw_continues_from_the_shown_value() {
        let mut h = History::default();
        h.step(&[row(100, 50, 1000)], NO_DEFICIT);
        // cgroup recreated: usage restarts at 0.
        let b = h.step(&[row(0, 0, 10)], NO_DEFICIT);
        assert_eq!(b, vec![row(100, 50, 1000)]);
        // ...and advances with the raw values at once.
        let c = h.step(&[row(5, 1, 110)], NO_DEFICIT);
        assert_eq!(c, vec![row(105, 51, 1100)]);
    }

    #[test]
    fn shrinking_folds_vanished_rows() {
        let mut h = History::default();
        let a = h.step(&[row(10, 0, 100), row(20, 0, 100)], NO_DEFICIT);
        let b = h.step(&[row(11, 0, 101)], NO_DEFICIT);
        no_decrease(&[sum(&a)], &b);
        assert_eq!(b, vec![row(30, 0, 200)]);
        let c = h.step(&[row(12, 0, 102), row(21, 0, 110)], NO_DEFICIT);
        no_decrease(&b, &c[..1]);
        assert!(sum(&c).0[3] >= sum(&b).0[3]);
        let d = h.step(&[row(13, 0, 103), row(22, 0, 120)], NO_DEFICIT);
        no_decrease(&c, &d);
        assert_eq!(d[1], row(22, 0, 120), "a new row follows its raw values");
    }

    #[test]
    fn idle_advances_with_wall_time_when_busy_time_exceeds_the_age() {
        // The cgroup had used 500 ticks before a container of age 100 started: raw idle is
        // floored at 0, yet 50 ticks later (5 of them busy) the row must show 45 more idle.
        let mut h = History::default();
        let a = h.step(&[row(400, 100, 0)], 100);
        assert_eq!(a, vec![row(400, 100, 0)]);
        let b = h.step(&[row(404, 101, 0)], 150);
        assert_eq!(b, vec![row(404, 101, 45)]);
        // Once the age has caught up, idle goes on from there.
        let c = h.step(&[row(404, 101, 95)], 600);
        assert_eq!(c, vec![row(404, 101, 495)]);
        // Without a deficit nothing changes.
        let mut plain = History::default();
        assert_eq!(plain.step(&[row(1, 1, 98)], 100), vec![row(1, 1, 98)]);
        assert!(plain.idle_base.is_empty());
    }

    #[test]
    fn a_cpuset_going_back_and_forth_gains_no_idle_it_did_not_spend() {
        use crate::cpu::{CpuTicks, UsageTimes};
        use crate::proc::stat::container_rows;
        // An idle container that had burnt 1000 ticks on CPU 1; its cpuset toggles between
        // {0} (CPU 1's time folded into the one row: an idle deficit) and {0, 1}, one step
        // per 100 ticks of wall time.
        let times = UsageTimes::PerCpu(vec![
            CpuTicks {
                cpu: 0,
                user: 0,
                system: 0,
            },
            CpuTicks {
                cpu: 1,
                user: 1000,
                system: 0,
            },
        ]);
        let run = |age_of: &dyn Fn(u64) -> u64| {
            let mut h = History::default();
            let mut idle = Vec::new();
            for step in 0..12u64 {
                let cpus: &[u32] = if step % 2 == 0 { &[0, 1] } else { &[0] };
                let age = 150 + 100 * step;
                let out = h.step(&container_rows(&times, cpus, age), age_of(age));
                idle.push(out[0].0[stat::col::IDLE]);
            }
            idle
        };
        let with = run(&|age| age);
        let without = run(&|_| NO_DEFICIT);
        // Row 0's idle is what the history without deficits shows; keeping a deficit across
        // the row changes added another 1100 ticks of idle on every cycle.
        assert_eq!(with, without);
    }

    #[test]
    fn random_walk_never_decreases() {
        // Deterministic pseudo-random raw rows whose count and values jump around.
        let mut h = History::default();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut prev: Vec<CpuTimes> = Vec::new();
        for _ in 0..500 {
            let n = (next() % 4 + 1) as usize;
            let raw: Vec<CpuTimes> = (0..n)
                .map(|_| row(next() % 1000, next() % 1000, next() % 100_000))
                .collect();
            let out = h.step(&raw, NO_DEFICIT);
            assert_eq!(out.len(), n);
            if !prev.is_empty() {
                let (sa, sb) = (sum(&prev), sum(&out));
                for c in 0..CPU_FIELDS {
                    assert!(sb.0[c] >= sa.0[c]);
                }
                for k in 0..n.min(prev.len()) {
                    for c in 0..CPU_FIELDS {
                        assert!(out[k].0[c] >= prev[k].0[c]);
                    }
                }
            }
            prev = out;
        }
        assert!(h.step(&[], NO_DEFICIT).is_empty());
    }

    #[test]
    fn expiry_and_bound() {
        let v = CpuViews::default();
        let t0 = Instant::now();
        let key = |i: usize| ViewKey {
            cgroup: format!("/c{i}"),
            pidns: 1,
        };
        v.advance(key(0), &[row(1, 1, 1)], NO_DEFICIT, t0);
        v.advance(
            key(1),
            &[row(1, 1, 1)],
            NO_DEFICIT,
            t0 + Duration::from_secs(300),
        );
        assert_eq!(v.len(), 2);
        v.advance(
            key(2),
            &[row(1, 1, 1)],
            NO_DEFICIT,
            t0 + Duration::from_secs(700),
        );
        assert!(v.get(&key(0)).is_none(), "unseen for 700 s");
        assert!(v.get(&key(1)).is_some());
        for i in 3..MAX_VIEWS + 10 {
            v.advance(
                key(i),
                &[row(1, 1, 1)],
                NO_DEFICIT,
                t0 + Duration::from_secs(701) + Duration::from_millis(i as u64),
            );
        }
        assert!(v.len() <= MAX_VIEWS);
        assert!(v.get(&key(MAX_VIEWS + 9)).is_some(), "the newest is kept");
    }

    #[test]
    fn export_import_round_trip() {
        let v = CpuViews::default();
        let k = ViewKey {
            cgroup: "/lxc/my box%1".into(),
            pidns: 4026533000,
        };
        let now = Instant::now();
        v.advance(
            k.clone(),
            &[row(10, 5, 100), row(3, 4, 50)],
            NO_DEFICIT,
            now,
        );
        v.advance(k.clone(), &[row(1, 1, 1), row(3, 4, 60)], NO_DEFICIT, now);
        let recs = v.export();
        assert_eq!(recs.len(), 1);
        assert!(
            recs[0].starts_with("1 4026533000 /lxc/my%20box%251 2 "),
            "{}",
            recs[0]
        );
        let w = CpuViews::default();
        assert!(w.import(&recs[0]));
        assert_eq!(w.get(&k), v.get(&k));
        // Monotonic across the reload.
        let after = w.advance(k.clone(), &[row(0, 0, 0), row(0, 0, 0)], NO_DEFICIT, now);
        assert_eq!(after, v.get(&k).unwrap().shown);
        for bad in [
            "2 1 /x 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0",
            "1 1 /x 1 0 0 0",
            "1 1 /x 0",
            "1 x /x 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0",
            "1 1 /x%zz 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0",
            "1 1 /x 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 9",
            "",
            "garbage",
        ] {
            assert!(!w.import(bad), "{bad:?}");
        }
        assert_eq!(unescape(&escape("")), Some(String::new()));
        assert_eq!(unescape(&escape("/a b\n%é")), Some("/a b\n%é".to_string()));
    }
}
