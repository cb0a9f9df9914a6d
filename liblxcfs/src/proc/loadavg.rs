//! `/proc/loadavg` for a container (`-l`; proc(5) "/proc/loadavg").
//!
//! ```text
//! 0.57 0.17 0.06 2/5 7
//! ```
//!
//! The three numbers are exponentially damped averages of the number of *active* tasks
//! (runnable `R` plus uninterruptible `D`) of the container over 1, 5 and 15 minutes, computed
//! with the kernel's fixed-point arithmetic (kernel/sched/loadavg.c: 11 fractional bits, decay
//! factors [`EXP_1`], [`EXP_5`], [`EXP_15`] per 5-second period, [`calc_load`]). Then come the
//! number of runnable tasks, the number of tasks (threads), and the most recently created pid
//! *as the container numbers it*.
//!
//! How it is sampled:
//! * the host calls [`tick`] every 5 s (the kernel's `LOAD_FREQ`); each call is one period;
//! * a container cgroup is *tracked* from its first read, which shows `0.00 0.00 0.00` and a
//!   fresh `running/total last`; later reads show the figures of the latest tick;
//! * a tick samples every tracked cgroup and its descendants: the thread ids of v2
//!   `cgroup.threads` (v1 `tasks`; `cgroup.procs` plus `/proc/<pid>/task` when those are
//!   missing) and each thread's state and start time from `/proc/<tid>/stat`. Each cgroup
//!   directory is read once per tick even when tracked cgroups nest. Threads that exit in
//!   the meantime are skipped;
//! * the last pid is the reader's own number (its `NSpid:` entry at the reader's
//!   pid-namespace level) of the newest of the sampled subtree's threads (latest start time,
//!   then highest id; the [`NEWEST_KEPT`] newest are kept per tick) that is in the reader's
//!   pid namespace or one nested below it, 0 when none is ([`visible_pid`]): several pid
//!   namespaces sharing one cgroup each get their own numbering, never a sibling's. It is
//!   looked up at each read among the threads alive at the last tick that are still alive,
//!   so unlike the kernel's it misses processes started since that tick and can go down when
//!   the newest of those threads exits. Upstream lxcfs prints the highest *host* tid instead;
//! * a cgroup stays tracked, read or not, until a tick finds its directory gone or no thread
//!   in it or below it (as upstream lxcfs drops a node whose cgroup has no pids): a reader
//!   who looks once a quarter of an hour (`uptime` now and then) sees the 15-minute average,
//!   not a fresh `0.00` each time;
//! * the cgroup is the container's v1 `cpu` (else `pids`) cgroup, else its unified cgroup, where
//!   thread lists exist without any controller. A container at the root of its hierarchy is
//!   the whole host: it is served the host's file.
//!
//! Work per tick is bounded by [`MAX_CGROUPS`] directories and [`MAX_TASKS`] threads per
//! tracked cgroup; nothing sleeps and no lock is held while files are read, so readers are
//! never blocked by a tick.
//!
//! The averages survive library reloads as versioned text records ([`LoadAvgs::export`]).
//! Without `-l` the host's file is served.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lxcfs_formats::pid;

use crate::cgroup::{CgroupDir, Controller};
use crate::container::Container;
use crate::error::{Error, Result};
use crate::hostfs::HostFs;
use crate::Lxcfs;

/// Fractional bits of the fixed-point load values (kernel `FSHIFT`).
pub const FSHIFT: u32 = 11;
/// 1.0 in fixed point (kernel `FIXED_1`).
pub const FIXED_1: u64 = 1 << FSHIFT;
/// 1-minute decay per 5 s period: 2048 · e^(−5/60) (kernel `EXP_1`).
pub const EXP_1: u64 = 1884;
/// 5-minute decay per 5 s period: 2048 · e^(−5/300) (kernel `EXP_5`).
pub const EXP_5: u64 = 2014;
/// 15-minute decay per 5 s period: 2048 · e^(−5/900) (kernel `EXP_15`).
pub const EXP_15: u64 = 2037;
/// Sampling period the decay factors are made for (kernel `LOAD_FREQ`).
pub const PERIOD: Duration = Duration::from_secs(5);
/// Descendant cgroup directories visited per tracked cgroup and tick (deeper trees are
/// counted partially).
pub const MAX_CGROUPS: usize = 4096;
/// Threads examined per tracked cgroup and tick.
pub const MAX_TASKS: usize = 1 << 17;
/// Nesting depth below a tracked cgroup that is visited.
pub const MAX_DEPTH: usize = 64;
/// Version of the [`LoadAvgs::export`] record format.
pub const RECORD_VERSION: u32 = 1;

/// Newest threads kept per cgroup and tick as candidates for a reader's last pid.
pub const NEWEST_KEPT: usize = 8;

/// One period of the kernel's exponential average: `load` and `active` in fixed point
/// ([`FIXED_1`] = 1.0), `exp` one of [`EXP_1`], [`EXP_5`], [`EXP_15`]. Rounds up while the
/// load is rising, as the kernel does. Saturates instead of overflowing.
pub fn calc_load(load: u64, exp: u64, active: u64) -> u64 {
    let exp = exp.min(FIXED_1);
    let mut n = load
        .saturating_mul(exp)
        .saturating_add(active.saturating_mul(FIXED_1 - exp));
    if active >= load {
        n = n.saturating_add(FIXED_1 - 1);
    }
    n / FIXED_1
}

/// Formats a fixed-point load as `%lu.%02lu` the way the kernel does (`LOAD_INT`/`LOAD_FRAC`
/// after adding `FIXED_1/200`, i.e. rounded to the nearest hundredth).
pub fn format_load(x: u64) -> String {
    let x = x.saturating_add(FIXED_1 / 200);
    let int = x >> FSHIFT;
    let frac = ((x & (FIXED_1 - 1)) * 100) >> FSHIFT;
    format!("{int}.{frac:02}")
}

/// Renders a loadavg line: three fixed-point averages (1, 5, 15 min), runnable and total
/// task counts, last pid.
pub fn render(avg: [u64; 3], runnable: u64, total: u64, last_pid: u32) -> String {
    format!(
        "{} {} {} {runnable}/{total} {last_pid}\n",
        format_load(avg[0]),
        format_load(avg[1]),
        format_load(avg[2])
    )
}

/// The tasks of a cgroup subtree at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    /// Threads in state `R`.
    pub runnable: u64,
    /// Threads in state `R` or `D` (what the averages count).
    pub active: u64,
    /// All threads.
    pub total: u64,
    /// The newest threads of the subtree, `(start time in clock ticks, host tid)`, newest
    /// first, at most [`NEWEST_KEPT`]: the candidates for a reader's last pid (see
    /// [`last_pid`]).
    pub newest: Vec<(u64, u32)>,
}

/// Who reads `loadavg`: the reader's pid namespace and its depth below the daemon's (0 for
/// host readers; `None` when unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reader {
    /// Inode of the reader's pid namespace.
    pub pidns: u64,
    /// Its level (number of `NSpid:` entries of its init minus one).
    pub level: Option<usize>,
}

/// The pid of a task as `reader` numbers it, if the task is in the reader's pid namespace or
/// one nested below it: its `NSpid:` list (`nspid`, daemon's namespace first) must reach the
/// reader's level, and `ns_at_level`, the inode of the task's namespace at that level (its
/// own, or the ancestor that many levels up), must be the reader's. A host reader (level 0)
/// sees every task. A namespace at the reader's depth that is not the reader's is another
/// container, however deep the task sits below it.
pub fn visible_pid(nspid: &[u32], ns_at_level: Option<u64>, reader: Reader) -> Option<u32> {
    let level = reader.level?;
    if level == 0 {
        return nspid.first().copied();
    }
    let pid = *nspid.get(level)?;
    (ns_at_level == Some(reader.pidns)).then_some(pid)
}

/// The last pid for `reader`: its numbering of the newest of `newest` (host tids, newest first)
/// that it can see ([`visible_pid`]); 0 when it sees none of them. A task's namespace at the
/// reader's level is its own (`/proc/<tid>/ns/pid`) when it sits at that level, else found
/// with [`HostFs::pid_ns_ancestor`] (on a fixture tree, tasks below the reader's level are
/// therefore not counted).
pub fn last_pid(fs: &HostFs, newest: &[(u64, u32)], reader: Reader) -> u32 {
    let Some(level) = reader.level else {
        return 0;
    };
    newest
        .iter()
        .find_map(|(_, tid)| {
            let nspid = crate::container::status(fs, *tid)?.nspid;
            let depth = nspid.len().checked_sub(1)?;
            let ns_at_level = match depth.checked_sub(level)? {
                _ if level == 0 => None,
                0 => crate::container::ns_inode(fs, tid),
                up => fs.pid_ns_ancestor(*tid, up),
            };
            visible_pid(&nspid, ns_at_level, reader)
        })
        .unwrap_or(0)
}

#[derive(Clone, Debug)]
struct Node {
    v2: bool,
    avg: [u64; 3],
    sample: Sample,
}

/// What one [`tick_pass`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Cgroups sampled.
    pub sampled: usize,
    /// Cgroups dropped (vanished, or no thread left in them).
    pub untracked: usize,
    /// Cgroups whose sample failed for another reason (kept, averages unchanged).
    pub failed: usize,
    /// Distinct cgroup directories read.
    pub dirs: usize,
    /// Threads examined.
    pub tasks: usize,
}

/// Per-container load averages, keyed by the absolute host directory of the cgroup
/// (`/sys/fs/cgroup/cpu/lxc/c1`).
#[derive(Debug, Default)]
pub struct LoadAvgs {
    nodes: Mutex<HashMap<String, Node>>,
}

impl LoadAvgs {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Node>> {
        self.nodes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of tracked cgroups.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no cgroup is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tracked cgroup directories, sorted.
    pub fn tracked(&self) -> Vec<String> {
        let mut v: Vec<String> = self.lock().keys().cloned().collect();
        v.sort();
        v
    }

    /// The loadavg line of the cgroup directory `dir` for `reader`, tracking the cgroup if it
    /// is new (then with a fresh sample and zero averages).
    ///
    /// # Errors
    /// [`Error::Io`] when a new cgroup's directory cannot be read.
    pub fn read(&self, fs: &HostFs, dir: &str, v2: bool, reader: Reader) -> Result<String> {
        let kept = self.lock().get(dir).map(|n| {
            (
                n.avg,
                n.sample.runnable,
                n.sample.total,
                n.sample.newest.clone(),
            )
        });
        if let Some((avg, runnable, total, newest)) = kept {
            return Ok(render(avg, runnable, total, last_pid(fs, &newest, reader)));
        }
        let mut sampler = Sampler::new(fs);
        let sample = match sampler.sample(dir, v2) {
            Ok(s) => s,
            Err(e) => {
                let kind = match e {
                    SampleError::Gone => std::io::ErrorKind::NotFound,
                    SampleError::Unreadable => std::io::ErrorKind::InvalidData,
                };
                let list = if v2 { "cgroup.threads" } else { "tasks" };
                return Err(Error::io(format!("{dir}/{list}"), kind.into()));
            }
        };
        let line = render(
            [0; 3],
            sample.runnable,
            sample.total,
            last_pid(fs, &sample.newest, reader),
        );
        self.lock().entry(dir.to_string()).or_insert(Node {
            v2,
            avg: [0; 3],
            sample,
        });
        Ok(line)
    }

    /// Records to carry across a reload (see [`crate::state`]), one per tracked cgroup:
    ///
    /// ```text
    /// 1 <avg1> <avg5> <avg15> <runnable> <total> <v2: 0|1> <nspid,nspid|-> <dir, %-escaped>
    /// ```
    ///
    /// (`1` is [`RECORD_VERSION`]; averages in fixed point; `%`, space, CR and LF in the
    /// directory escaped as `%25`, `%20`, `%0D`, `%0A`.)
    pub fn export(&self) -> Vec<String> {
        let nodes = self.lock();
        let mut out: Vec<String> = nodes
            .iter()
            .map(|(dir, n)| {
                // The newest thread's host tid: the first `NSpid:` entry, as the record's
                // readers before this format's candidates list expect.
                let nspid = n
                    .sample
                    .newest
                    .first()
                    .map_or_else(|| "-".to_string(), |(_, tid)| tid.to_string());
                format!(
                    "{RECORD_VERSION} {} {} {} {} {} {} {nspid} {}",
                    n.avg[0],
                    n.avg[1],
                    n.avg[2],
                    n.sample.runnable,
                    n.sample.total,
                    u8::from(n.v2),
                    escape(dir)
                )
            })
            .collect();
        out.sort();
        out
    }

    /// The candidates for the last pid ([`Sample::newest`]) of each tracked cgroup, one record
    /// each, to carry across a reload beside [`LoadAvgs::export`]'s (a separate record kind, so
    /// that older libraries skip them):
    ///
    /// ```text
    /// <dir, %-escaped> <host tid,host tid,...>
    /// ```
    ///
    /// (newest first). Cgroups without candidates have no record.
    pub fn export_newest(&self) -> Vec<String> {
        let nodes = self.lock();
        let mut out: Vec<String> = nodes
            .iter()
            .filter(|(_, n)| !n.sample.newest.is_empty())
            .map(|(dir, n)| {
                let tids: Vec<String> =
                    n.sample.newest.iter().map(|(_, t)| t.to_string()).collect();
                format!("{} {}", escape(dir), tids.join(","))
            })
            .collect();
        out.sort();
        out
    }

    /// Restores one [`LoadAvgs::export_newest`] record into a cgroup already restored by
    /// [`LoadAvgs::import`]; `false` when the record is malformed or the cgroup is not tracked.
    pub fn import_newest(&self, record: &str) -> bool {
        let Some((dir, tids)) = record.split_once(' ') else {
            return false;
        };
        let (Some(dir), Some(tids)) = (
            unescape(dir),
            tids.split(',')
                .take(NEWEST_KEPT)
                .map(|t| t.parse::<u32>().ok().map(|t| (0, t)))
                .collect::<Option<Vec<(u64, u32)>>>(),
        ) else {
            return false;
        };
        match self.lock().get_mut(&dir) {
            Some(n) => {
                n.sample.newest = tids;
                true
            }
            None => false,
        }
    }

    /// Restores one exported record (the cgroup counts as read now); `false` when the record
    /// has another version or is malformed.
    pub fn import(&self, record: &str) -> bool {
        match parse_record(record) {
            Some((dir, node)) => {
                self.lock().insert(dir, node);
                true
            }
            None => false,
        }
    }
}

fn parse_record(record: &str) -> Option<(String, Node)> {
    let f: Vec<&str> = record.split(' ').collect();
    let [ver, a1, a5, a15, runnable, total, v2, nspid, dir] = f.as_slice() else {
        return None;
    };
    if ver.parse::<u32>().ok()? != RECORD_VERSION {
        return None;
    }
    let v2 = match *v2 {
        "0" => false,
        "1" => true,
        _ => return None,
    };
    // An `NSpid:` list whose first entry is the newest thread's host tid (older libraries
    // wrote the whole list): that thread is the one candidate until the next tick.
    let newest = if *nspid == "-" {
        Vec::new()
    } else {
        let ids = nspid
            .split(',')
            .map(|p| p.parse().ok())
            .collect::<Option<Vec<u32>>>()?;
        ids.first().map(|tid| vec![(0, *tid)]).unwrap_or_default()
    };
    let dir = unescape(dir)?;
    if !dir.starts_with('/') {
        return None;
    }
    let runnable: u64 = runnable.parse().ok()?;
    let node = Node {
        v2,
        avg: [a1.parse().ok()?, a5.parse().ok()?, a15.parse().ok()?],
        sample: Sample {
            runnable,
            active: runnable,
            total: total.parse().ok()?,
            newest,
        },
    };
    Some((dir, node))
}

fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => o.push_str("%25"),
            ' ' => o.push_str("%20"),
            '\n' => o.push_str("%0A"),
            '\r' => o.push_str("%0D"),
            c => o.push(c),
        }
    }
    o
}

fn unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Why a cgroup could not be sampled.
#[derive(Debug, PartialEq, Eq)]
enum SampleError {
    /// The tracked cgroup directory vanished.
    Gone,
    /// Its thread list cannot be read.
    Unreadable,
}

/// The tasks directly in one cgroup directory.
#[derive(Debug, Default)]
struct Own {
    runnable: u64,
    active: u64,
    total: u64,
    /// Up to [`NEWEST_KEPT`] `(starttime, tid)`, newest first.
    newest: Vec<(u64, u32)>,
    children: Vec<String>,
}

/// Reads cgroup directories and task states, each directory at most once.
struct Sampler<'a> {
    fs: &'a HostFs,
    own: HashMap<String, std::result::Result<Rc<Own>, std::io::ErrorKind>>,
    tasks: usize,
}

impl<'a> Sampler<'a> {
    fn new(fs: &'a HostFs) -> Sampler<'a> {
        Sampler {
            fs,
            own: HashMap::new(),
            tasks: 0,
        }
    }

    /// Thread ids listed in `dir`.
    fn thread_ids(&self, dir: &str, v2: bool) -> std::io::Result<Vec<u32>> {
        let list = if v2 { "cgroup.threads" } else { "tasks" };
        match self.fs.read(&format!("{dir}/{list}")) {
            Ok(t) => return parse_ids(&t),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            Err(_) => {}
        }
        let procs = parse_ids(&self.fs.read(&format!("{dir}/cgroup.procs"))?)?;
        let mut out = Vec::new();
        for p in procs {
            match self.fs.numeric_entries(&format!("/proc/{p}/task")) {
                Ok(t) => out.extend(t),
                Err(_) => out.push(p),
            }
        }
        Ok(out)
    }

    /// The tasks directly in `dir` (cached for the pass); the error kind of its thread list
    /// otherwise (`NotFound` for a cgroup that is gone).
    fn own(
        &mut self,
        dir: &str,
        v2: bool,
        budget: usize,
    ) -> std::result::Result<Rc<Own>, std::io::ErrorKind> {
        if let Some(o) = self.own.get(dir) {
            return o.clone();
        }
        let o = self.thread_ids(dir, v2).map_err(|e| e.kind()).map(|tids| {
            let mut own = Own::default();
            for tid in tids.into_iter().take(budget) {
                self.tasks += 1;
                let Some(st) = self
                    .fs
                    .read(&format!("/proc/{tid}/stat"))
                    .ok()
                    .and_then(|t| pid::parse_stat(&t))
                else {
                    continue;
                };
                own.total += 1;
                match st.state {
                    'R' => {
                        own.runnable += 1;
                        own.active += 1;
                    }
                    'D' => own.active += 1,
                    _ => {}
                }
                keep_newest(&mut own.newest, (st.starttime, tid));
            }
            own.children = self
                .fs
                .read_dir(dir)
                .map(|es| {
                    es.into_iter()
                        .filter(|(_, k)| *k == lxcfs_abi::kind::DIR)
                        .map(|(n, _)| format!("{dir}/{n}"))
                        .collect()
                })
                .unwrap_or_default();
            Rc::new(own)
        });
        self.own.insert(dir.to_string(), o.clone());
        o
    }

    /// Samples the subtree at `dir`.
    fn sample(&mut self, dir: &str, v2: bool) -> std::result::Result<Sample, SampleError> {
        let mut s = Sample::default();
        let mut newest: Vec<(u64, u32)> = Vec::new();
        let mut stack = vec![(dir.to_string(), 0usize)];
        let (mut dirs, mut tasks) = (0usize, 0usize);
        while let Some((d, depth)) = stack.pop() {
            if dirs >= MAX_CGROUPS || tasks >= MAX_TASKS {
                break;
            }
            dirs += 1;
            let own = match self.own(&d, v2, MAX_TASKS - tasks) {
                Ok(o) => o,
                // A sub-cgroup removed while walking.
                Err(std::io::ErrorKind::NotFound) if d != dir => continue,
                Err(_) if d == dir && !self.fs.exists(dir) => return Err(SampleError::Gone),
                Err(_) => return Err(SampleError::Unreadable),
            };
            tasks = tasks.saturating_add(own.total as usize);
            s.runnable = s.runnable.saturating_add(own.runnable);
            s.active = s.active.saturating_add(own.active);
            s.total = s.total.saturating_add(own.total);
            for n in &own.newest {
                keep_newest(&mut newest, *n);
            }
            if depth < MAX_DEPTH {
                stack.extend(own.children.iter().map(|c| (c.clone(), depth + 1)));
            }
        }
        s.newest = newest;
        Ok(s)
    }
}

/// Parses a cgroup id list (one decimal id per line).
///
/// # Errors
/// `InvalidData` for anything that is not an id.
fn parse_ids(text: &str) -> std::io::Result<Vec<u32>> {
    text.split_whitespace()
        .map(|x| {
            x.parse()
                .map_err(|_| std::io::ErrorKind::InvalidData.into())
        })
        .collect()
}

/// Inserts `x` into `v` (newest first, at most [`NEWEST_KEPT`] entries).
fn keep_newest(v: &mut Vec<(u64, u32)>, x: (u64, u32)) {
    let pos = v.iter().position(|y| x > *y).unwrap_or(v.len());
    if pos < NEWEST_KEPT && !v.contains(&x) {
        v.insert(pos, x);
        v.truncate(NEWEST_KEPT);
    }
}

/// The cgroup whose tasks make up container `c`'s load: v1 `cpu`, else v1 `pids`, else the
/// unified hierarchy.
///
/// # Errors
/// [`Error::NoController`] when none of them holds the container.
pub fn task_cgroup<'a>(lx: &'a Lxcfs, c: &Container) -> Result<CgroupDir<'a>> {
    for ctrl in [Controller::Cpu, Controller::Pids] {
        if let Ok(d) = super::cgroup(lx, c, ctrl) {
            return Ok(d);
        }
    }
    let u = lx.hierarchies.unified().ok_or(Error::NoController("cpu"))?;
    CgroupDir::of(u, &c.membership).ok_or(Error::NoController("cpu"))
}

/// The pid-namespace level of container `c` counted from the daemon's (0): the number of
/// `NSpid:` entries of its init minus one; 0 for host readers; `None` when unknown.
pub fn ns_level(lx: &Lxcfs, c: &Container) -> Option<usize> {
    if c.is_host {
        return Some(0);
    }
    let st = lx.fs.read(&format!("/proc/{}/status", c.init_pid)).ok()?;
    pid::parse_status(&st)?.nspid.len().checked_sub(1)
}

/// Renders `/proc/loadavg` for container `c`; see the module documentation.
///
/// # Errors
/// [`Error::NotFound`] without `-l` or for a container at the hierarchy root (the host's own
/// load); [`Error::NoController`]; [`Error::Io`] for a vanished cgroup.
pub fn read(lx: &Lxcfs, c: &Container) -> Result<String> {
    if !lx.options.loadavg {
        return Err(Error::NotFound);
    }
    let dir = task_cgroup(lx, c)?;
    if dir.is_root() {
        return Err(Error::NotFound);
    }
    let abs = dir
        .hierarchy
        .dir_of(&dir.path)
        .ok_or(Error::NoController("cpu"))?;
    let reader = Reader {
        pidns: c.pidns,
        level: ns_level(lx, c),
    };
    lx.loadavg.read(&lx.fs, &abs, dir.is_v2(), reader)
}

/// One sampling pass over the tracked cgroups (one [`PERIOD`]); see [`tick_pass`].
pub fn tick(lx: &Lxcfs) {
    let t0 = Instant::now();
    let r = tick_pass(lx);
    tracing::debug!(
        "loadavg tick: {} cgroups ({} dirs, {} threads) in {:?}; {} untracked, {} failed",
        r.sampled,
        r.dirs,
        r.tasks,
        t0.elapsed(),
        r.untracked,
        r.failed
    );
}

/// One sampling pass: samples every tracked cgroup, drops those whose directory vanished or
/// that have no thread left, and advances every other average by one period.
pub fn tick_pass(lx: &Lxcfs) -> TickReport {
    let mut report = TickReport::default();
    let work: Vec<(String, bool)> = {
        let nodes = lx.loadavg.lock();
        nodes.iter().map(|(d, n)| (d.clone(), n.v2)).collect()
    };
    let mut sampler = Sampler::new(&lx.fs);
    let results: Vec<(String, std::result::Result<Sample, SampleError>)> = work
        .into_iter()
        .map(|(d, v2)| {
            let s = sampler.sample(&d, v2);
            (d, s)
        })
        .collect();
    report.dirs = sampler.own.len();
    report.tasks = sampler.tasks;
    let mut nodes = lx.loadavg.lock();
    for (dir, s) in results {
        match s {
            Err(SampleError::Gone) => {
                if nodes.remove(&dir).is_some() {
                    report.untracked += 1;
                }
            }
            Err(SampleError::Unreadable) => report.failed += 1,
            Ok(s) if s.total == 0 => {
                if nodes.remove(&dir).is_some() {
                    report.untracked += 1;
                }
            }
            Ok(s) => {
                let Some(n) = nodes.get_mut(&dir) else {
                    continue;
                };
                let active = s.active.saturating_mul(FIXED_1);
                for (a, e) in n.avg.iter_mut().zip([EXP_1, EXP_5, EXP_15]) {
                    *a = calc_load(*a, e, active);
                }
                n.sample = s;
                report.sampled += 1;
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_fixed_point() {
        // Two active tasks from zero: the kernel's sequence for the 1-minute average.
        let mut a = 0;
        let mut seq = Vec::new();
        for _ in 0..4 {
            a = calc_load(a, EXP_1, 2 * FIXED_1);
            seq.push(a);
        }
        assert_eq!(seq, [328, 630, 908, 1164]);
        assert_eq!(format_load(1164), "0.57");
        // Decay rounds down.
        assert_eq!(calc_load(2048, EXP_1, 0), 1884);
        assert_eq!(calc_load(0, EXP_15, 0), 0);
        // Saturation, no panic.
        assert!(calc_load(u64::MAX, EXP_5, u64::MAX) > 0);
        assert_eq!(calc_load(5, 9999, 0), 5);
    }

    #[test]
    fn kernel_rounding() {
        assert_eq!(format_load(0), "0.00");
        assert_eq!(format_load(FIXED_1), "1.00");
        // 0.995 and up shows as 1.00 (FIXED_1/200 added before truncation).
        assert_eq!(format_load(2038), "1.00");
        assert_eq!(format_load(2027), "0.99");
        assert_eq!(format_load(3 * FIXED_1 + FIXED_1 / 2), "3.50");
        assert_eq!(render([1164, 400, 0], 2, 5, 7), "0.57 0.20 0.00 2/5 7\n");
        assert!(!format_load(u64::MAX).is_empty());
    }

    #[test]
    fn newest_list() {
        let mut v = Vec::new();
        for x in [(5, 1), (9, 2), (5, 3), (1, 4), (9, 2)] {
            keep_newest(&mut v, x);
        }
        assert_eq!(v, [(9, 2), (5, 3), (5, 1), (1, 4)]);
        for i in 0..20 {
            keep_newest(&mut v, (100 + i, 1000));
        }
        assert_eq!(v.len(), NEWEST_KEPT);
        assert_eq!(v[0], (119, 1000));
    }

    #[test]
    fn id_lists() {
        assert_eq!(parse_ids("12\n13\n").unwrap(), [12, 13]);
        assert_eq!(parse_ids("").unwrap(), Vec::<u32>::new());
        assert!(parse_ids("12\nlots\n").is_err());
        assert!(parse_ids("-1\n").is_err());
    }

    #[test]
    fn visible_pid_by_level_and_namespace() {
        let reader = |pidns, level| Reader { pidns, level };
        // A task one level down: host tid 5004, pid 7 in the container (namespace 40).
        assert_eq!(
            visible_pid(&[5004, 7], None, reader(1, Some(0))),
            Some(5004)
        );
        assert_eq!(
            visible_pid(&[5004, 7], Some(40), reader(40, Some(1))),
            Some(7)
        );
        // A sibling namespace at the reader's depth is another container.
        assert_eq!(visible_pid(&[5004, 7], Some(41), reader(40, Some(1))), None);
        assert_eq!(visible_pid(&[5004, 7], None, reader(40, Some(1))), None);
        // Nested below the reader (its namespace at level 1 is the reader's): the reader's
        // number; nested below a sibling: not visible.
        assert_eq!(
            visible_pid(&[5004, 7, 1], Some(40), reader(40, Some(1))),
            Some(7)
        );
        assert_eq!(
            visible_pid(&[5004, 7, 1], Some(41), reader(40, Some(1))),
            None
        );
        // Not deep enough, or the reader's level unknown.
        assert_eq!(visible_pid(&[5004], Some(40), reader(40, Some(1))), None);
        assert_eq!(visible_pid(&[5004, 7], Some(40), reader(40, None)), None);
        assert_eq!(visible_pid(&[], None, reader(1, Some(0))), None);
    }

    #[test]
    fn records_round_trip() {
        let l = LoadAvgs::default();
        // An older library's record: the whole `NSpid:` list; its host tid is kept.
        assert!(l.import("1 1164 400 12 2 5 1 5004,7 /sys/fs/cgroup/a%20b%25c%0Ad"));
        assert_eq!(l.tracked(), ["/sys/fs/cgroup/a b%c\nd"]);
        assert_eq!(
            l.export(),
            ["1 1164 400 12 2 5 1 5004 /sys/fs/cgroup/a%20b%25c%0Ad"]
        );
        assert!(l.import("1 0 0 0 0 0 0 - /x"));
        assert_eq!(l.len(), 2);
        // The last-pid candidates travel in records of their own.
        assert_eq!(l.export_newest(), ["/sys/fs/cgroup/a%20b%25c%0Ad 5004"]);
        assert!(l.import_newest("/x 9,8,7"));
        assert!(l.export_newest().contains(&"/x 9,8,7".to_string()));
        for bad in ["/untracked 1", "/x", "/x 1,a", "/x%zz 1"] {
            assert!(!l.import_newest(bad), "{bad:?}");
        }
        for bad in [
            "2 1164 400 12 2 5 1 - /x",
            "1 1164 400 12 2 5 1 - relative",
            "1 a 400 12 2 5 1 - /x",
            "1 1 1 1 1 1 7 - /x",
            "1 1 1 1 1 1 1 x,y /x",
            "1 1 1 1 1 1 1 - /x%zz",
            "1 1 1 1 1 1 1 - /x%+1",
            "1 1 1 1 1 1 1 - /x%2",
            "1 1 1 1 1 1 1 -",
            "",
            "garbage",
        ] {
            assert!(!l.import(bad), "{bad:?}");
        }
        assert_eq!(l.len(), 2);
    }
}
