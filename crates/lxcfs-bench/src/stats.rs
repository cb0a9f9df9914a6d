//! Summaries of latency samples.

use std::time::Duration;

/// Throughput and latency of one benchmark cell.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    /// Operations completed inside the measurement window.
    pub ops: u64,
    /// Operations that failed (open or read error); not counted in `ops`.
    pub errors: u64,
    /// `ops` per second of the window.
    pub ops_per_sec: f64,
    /// Median latency of one operation.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Largest latency.
    pub max: Duration,
}

/// The `q`-quantile (0.0..=1.0) of sorted samples, nearest-rank; zero for no samples.
pub fn quantile<T: Copy + Default>(sorted: &[T], q: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Summary {
    /// Summarizes latency samples in nanoseconds (sorted in place) collected over `window`.
    pub fn from_nanos(samples: &mut [u32], errors: u64, window: Duration) -> Summary {
        samples.sort_unstable();
        let ns = |v: u32| Duration::from_nanos(u64::from(v));
        let secs = window.as_secs_f64();
        Summary {
            ops: samples.len() as u64,
            errors,
            ops_per_sec: if secs > 0.0 {
                samples.len() as f64 / secs
            } else {
                0.0
            },
            p50: ns(quantile(samples, 0.50)),
            p99: ns(quantile(samples, 0.99)),
            max: ns(samples.last().copied().unwrap_or(0)),
        }
    }
}

/// Formats a duration in microseconds with one decimal (`123.4`).
pub fn micros(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

/// Formats a duration in milliseconds with two decimals (`12.34`).
pub fn millis(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

/// The median of `v` (the mean of the middle two for an even count); 0 when empty.
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// One benchmark cell: throughput and latency, and how often the daemon's threads blocked.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cell {
    /// Throughput and latency.
    pub summary: Summary,
    /// Voluntary context switches of the daemon's threads per operation inside the window
    /// (`None` when the daemon's threads could not be read or nothing was measured). About
    /// zero when requests were always queued when a FUSE thread came back for one; several
    /// when each request had to wake a sleeping thread.
    pub sleeps_per_op: Option<f64>,
}

/// Below this many daemon sleeps per operation, a cell counts as measured in the *busy*
/// regime: the daemon's threads almost never waited for a request (see [`Throughput::regimes`]).
pub const BUSY_SLEEPS_PER_OP: f64 = 1.0;

/// The throughput cells of one run: `cells[row][slot]` holds one [`Cell`] per round (slot 0
/// the floor, 1 the checked floor, 2 the C original, 3 ours), `readers[row]` the row's reader
/// count. Every round measures every row's cells, so index `i` of any vector is round `i`
/// (an empty vector is an implementation that was not measured).
///
/// The floor and the checked floor serve the same file in every row, so a round holds one
/// floor cell per row: comparisons with them use the round's *pooled* value (the median over
/// the rows with the same reader count), and the rows' floor cells compared with each other
/// show how precise such a comparison can be ([`Throughput::floor_aa`]).
#[derive(Clone, Debug, Default)]
pub struct Throughput {
    /// Reader count of each row.
    pub readers: Vec<usize>,
    /// Cells by row and slot, one per round.
    pub cells: Vec<[Vec<Cell>; 4]>,
}

/// `ratio` with ✓ when it reaches `target`, else with ✗ (printed so that rounding never puts
/// it on the target: `0.948 ✗`, not `0.95 ✗`).
pub fn mark(ratio: f64, target: f64) -> String {
    if ratio >= target {
        format!("{ratio:.2} ✓")
    } else {
        format!("{} ✗", below(ratio, target))
    }
}

/// `ratio` (under `target`) with two decimals, or three when two would round it up to the
/// target (`0.948`, not `0.95`, next to a ✗).
fn below(ratio: f64, target: f64) -> String {
    if format!("{ratio:.2}")
        .parse::<f64>()
        .is_ok_and(|r| r >= target)
    {
        format!("{ratio:.3}")
    } else {
        format!("{ratio:.2}")
    }
}

/// The range the floor-against-itself values ([`Throughput::floor_aa`]) must stay within for
/// a run to judge ratios to the floor at all (see [`Throughput::verdict`]).
pub const AA_JUDGEABLE: (f64, f64) = (0.90, 1.10);

/// Fewest rounds a run needs before its ratios get a ✓ or ✗: single cells of one
/// implementation vary by 2–3× on a shared machine, and the median of one or two rounds is
/// no better than a single cell.
pub const MIN_ROUNDS: usize = 3;

/// Names of the slots of [`Throughput::cells`].
pub const SLOT_NAMES: [&str; 4] = ["floor", "checked floor", "C", "ours"];

impl Throughput {
    fn ops(&self, row: usize, slot: usize, round: usize) -> Option<f64> {
        self.cells[row][slot]
            .get(round)
            .map(|c| c.summary.ops_per_sec)
    }

    /// Rounds measured: the most cells any row and implementation has.
    pub fn rounds(&self) -> usize {
        self.cells
            .iter()
            .flat_map(|c| c.iter().map(Vec::len))
            .max()
            .unwrap_or(0)
    }

    /// Median over rounds of `a[i] / b[i]` (ops/s; rounds where `b` measured nothing are
    /// skipped); `None` without such a round.
    pub fn paired(a: &[Cell], b: &[Cell]) -> Option<f64> {
        let r: Vec<f64> = a
            .iter()
            .zip(b)
            .filter(|(_, b)| b.summary.ops_per_sec > 0.0)
            .map(|(a, b)| a.summary.ops_per_sec / b.summary.ops_per_sec)
            .collect();
        (!r.is_empty()).then(|| median(r))
    }

    /// Median over the rows with `readers` readers, other than `except`, of slot `slot`'s
    /// ops/s in `round`; `None` when no such row measured it.
    fn pooled(
        &self,
        readers: usize,
        slot: usize,
        round: usize,
        except: Option<usize>,
    ) -> Option<f64> {
        let v: Vec<f64> = (0..self.cells.len())
            .filter(|&r| self.readers[r] == readers && Some(r) != except)
            .filter_map(|r| self.ops(r, slot, round))
            .filter(|&v| v > 0.0)
            .collect();
        (!v.is_empty()).then(|| median(v))
    }

    /// Median over rounds of row `row`'s slot `slot` ops/s divided by the round's pooled
    /// slot `floor` (0 or 1) at the row's reader count.
    pub fn to_pooled(&self, row: usize, slot: usize, floor: usize) -> Option<f64> {
        self.ratio_to_pooled(row, slot, floor, None)
    }

    fn ratio_to_pooled(
        &self,
        row: usize,
        slot: usize,
        floor: usize,
        except: Option<usize>,
    ) -> Option<f64> {
        let n = self.readers[row];
        let r: Vec<f64> = (0..self.rounds())
            .filter_map(|i| {
                let own = self.ops(row, slot, i)?;
                // Against itself, a floor cell that measured nothing (a failed cell) is no
                // evidence of the floor's spread; anywhere else a zero is a result.
                if except.is_some() && own <= 0.0 {
                    return None;
                }
                Some(own / self.pooled(n, floor, i, except)?)
            })
            .collect();
        (!r.is_empty()).then(|| median(r))
    }

    /// The floor against itself (an A/A comparison): [`Throughput::to_pooled`] for row `row`'s
    /// own floor cells, pooled over the round's *other* floor cells at that reader count. Its
    /// true value is 1; `None` when the row is the only one with its reader count.
    pub fn floor_aa(&self, row: usize) -> Option<f64> {
        self.ratio_to_pooled(row, 0, 0, Some(row))
    }

    /// The lowest and highest [`Throughput::floor_aa`] over the rows with `readers` readers;
    /// `None` when no row has one.
    pub fn aa_range(&self, readers: usize) -> Option<(f64, f64)> {
        let v: Vec<f64> = (0..self.cells.len())
            .filter(|&r| self.readers[r] == readers)
            .filter_map(|r| self.floor_aa(r))
            .collect();
        let low = v.iter().copied().min_by(f64::total_cmp)?;
        let high = v.iter().copied().max_by(f64::total_cmp)?;
        Some((low, high))
    }

    /// The verdict on `ratio` (ours against the floor at `readers` readers) for `target`:
    /// ✓ at or above it; when below, ≈ if the floor against itself came out as low in this
    /// run (the lowest [`Throughput::floor_aa`] at that reader count), else ✗. A run whose
    /// floor-against-itself values at that reader count stray beyond [`AA_JUDGEABLE`]
    /// cannot judge a few percent either way: every verdict there is `?`; so is every
    /// verdict of a run that has no such values (one file per reader count), which cannot
    /// show its own noise.
    ///
    /// A run of fewer than [`MIN_ROUNDS`] rounds gets `?` before anything else.
    pub fn verdict(&self, ratio: f64, readers: usize, target: f64) -> String {
        if let Some(few) = self.too_few_rounds(ratio) {
            return few;
        }
        let aa = self.aa_range(readers);
        match aa {
            None => format!("{ratio:.2} ? (no A/A with one file: noise unknown)"),
            Some((low, high)) if low < AA_JUDGEABLE.0 || high > AA_JUDGEABLE.1 => {
                format!("{ratio:.2} ? (A/A {low:.2}–{high:.2}: too noisy to judge)")
            }
            Some((low, _)) if ratio < target && ratio >= low => {
                format!("{} ≈ (within A/A)", below(ratio, target))
            }
            _ => mark(ratio, target),
        }
    }

    /// The verdict on a ratio of two implementations' own cells (ours/C, [`Throughput::paired`])
    /// for `target`: [`mark`], or `?` in a run of fewer than [`MIN_ROUNDS`] rounds.
    pub fn paired_verdict(&self, ratio: f64, target: f64) -> String {
        self.too_few_rounds(ratio)
            .unwrap_or_else(|| mark(ratio, target))
    }

    /// `ratio` marked `?` when the run has fewer than [`MIN_ROUNDS`] rounds.
    fn too_few_rounds(&self, ratio: f64) -> Option<String> {
        let n = self.rounds();
        (n < MIN_ROUNDS).then(|| {
            format!(
                "{ratio:.2} ? ({n} round{}: too few to judge)",
                if n == 1 { "" } else { "s" }
            )
        })
    }

    /// A Markdown section on the scheduling regimes the cells ran in, per reader count and
    /// implementation: the median daemon sleeps per operation, how many cells ran *busy*
    /// (fewer than [`BUSY_SLEEPS_PER_OP`]: a request was almost always queued when a FUSE
    /// thread came back for one, so no reader had to wake a thread) and the median ops/s of
    /// the busy cells and of the others. On a machine where waking a thread is dear (a
    /// virtual CPU woken by an inter-processor interrupt), the two regimes differ by 1.5×
    /// and more, so which one a cell falls into can outweigh what the implementation does.
    pub fn regimes(&self) -> String {
        use std::fmt::Write as _;
        let mut counts: Vec<usize> = self.readers.clone();
        counts.sort_unstable();
        counts.dedup();
        let mut out = String::from(
            "\n### Scheduling regimes\n\nDaemon sleeps per operation: voluntary context \
             switches of all the daemon's threads inside the window, per operation. A cell is \
             *busy* below 1 (a request was nearly always queued when a FUSE thread came back \
             for one), *waking* otherwise (readers had to wake sleeping threads).\n\n\
             | readers | implementation | sleeps/op (median) | busy cells | ops/s busy (median) \
             | ops/s waking (median) |\n|---|---|---|---|---|---|\n",
        );
        for &n in &counts {
            for (slot, name) in SLOT_NAMES.iter().enumerate() {
                let all: Vec<&Cell> = (0..self.cells.len())
                    .filter(|&r| self.readers[r] == n)
                    .flat_map(|r| &self.cells[r][slot])
                    .collect();
                if all.is_empty() {
                    continue;
                }
                let sleeps: Vec<f64> = all.iter().filter_map(|c| c.sleeps_per_op).collect();
                let busy = |want: bool| -> Vec<f64> {
                    all.iter()
                        .filter(|c| {
                            c.sleeps_per_op
                                .is_some_and(|s| (s < BUSY_SLEEPS_PER_OP) == want)
                        })
                        .map(|c| c.summary.ops_per_sec)
                        .collect()
                };
                let (b, w) = (busy(true), busy(false));
                // Cells without a reading (see `Cell::sleeps_per_op`) are in neither.
                let classified = b.len() + w.len();
                // The median with `decimals` decimals, or – for no values.
                let med = |v: &Vec<f64>, decimals: usize| {
                    if v.is_empty() {
                        "–".to_string()
                    } else {
                        format!("{:.decimals$}", median(v.clone()))
                    }
                };
                let _ = writeln!(
                    out,
                    "| {n} | {name} | {} | {} of {} | {} | {} |",
                    med(&sleeps, 2),
                    b.len(),
                    classified,
                    med(&b, 0),
                    med(&w, 0)
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), 50);
        assert_eq!(quantile(&v, 0.99), 99);
        assert_eq!(quantile(&v, 1.0), 100);
        assert_eq!(quantile(&v, 0.0), 1);
        assert_eq!(quantile::<u32>(&[], 0.5), 0);
    }

    #[test]
    fn summary() {
        let mut v = vec![3000, 1000, 2000, 4000];
        let s = Summary::from_nanos(&mut v, 1, Duration::from_secs(2));
        assert_eq!(s.ops, 4);
        assert_eq!(s.errors, 1);
        assert!((s.ops_per_sec - 2.0).abs() < 1e-9);
        assert_eq!(s.p50, Duration::from_nanos(2000));
        assert_eq!(s.max, Duration::from_nanos(4000));
        assert_eq!(micros(s.p50), "2.0");
    }

    fn cell(ops_per_sec: f64, sleeps: f64) -> Cell {
        Cell {
            summary: Summary {
                ops_per_sec,
                ..Summary::default()
            },
            sleeps_per_op: Some(sleeps),
        }
    }

    /// Two rows at 4 readers and one at 1 reader, three rounds; the floor is slot 0, ours
    /// slot 3.
    fn run() -> Throughput {
        let row = |floor: [f64; 3], ours: [f64; 3]| -> [Vec<Cell>; 4] {
            [
                floor.iter().map(|&v| cell(v, 0.2)).collect(),
                Vec::new(),
                Vec::new(),
                ours.iter().map(|&v| cell(v, 3.0)).collect(),
            ]
        };
        Throughput {
            readers: vec![4, 4, 1],
            cells: vec![
                row([100.0, 200.0, 100.0], [90.0, 100.0, 100.0]),
                row([300.0, 100.0, 100.0], [150.0, 100.0, 50.0]),
                row([10.0, 10.0, 10.0], [5.0, 5.0, 5.0]),
            ],
        }
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), 0.0);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(vec![4.0, 1.0]), 2.5);
    }

    #[test]
    fn ratios_to_the_floor_use_the_rounds_pooled_floor_at_the_same_reader_count() {
        let t = run();
        // Pooled floor at 4 readers per round: 200, 150, 100.
        // Row 0: 90/200, 100/150, 100/100 → median 0.667.
        let r = t.to_pooled(0, 3, 0).unwrap();
        assert!((r - 100.0 / 150.0).abs() < 1e-9, "{r}");
        // Row 2 is alone at 1 reader: its own floor.
        assert_eq!(t.to_pooled(2, 3, 0), Some(0.5));
        // Nothing measured in slot 1.
        assert_eq!(t.to_pooled(0, 1, 0), None);
    }

    #[test]
    fn the_floor_against_itself_uses_only_the_other_rows() {
        let t = run();
        // Row 0 against row 1: 100/300, 200/100, 100/100 → 1.0; row 1: 3, 0.5, 1 → 1.0.
        assert_eq!(t.floor_aa(0), Some(1.0));
        assert_eq!(t.floor_aa(1), Some(1.0));
        // A row alone at its reader count has nothing to be compared with.
        assert_eq!(t.floor_aa(2), None);
        assert_eq!(t.aa_range(4), Some((1.0, 1.0)));
        assert_eq!(t.aa_range(1), None);
    }

    #[test]
    fn verdicts_use_the_target_then_the_floor_against_itself() {
        let mut t = run();
        // A/A at 4 readers is exactly 1: only the target decides.
        assert_eq!(t.verdict(0.96, 4, 0.95), "0.96 ✓");
        assert_eq!(t.verdict(0.94, 4, 0.95), "0.94 ✗");
        // No A/A at 1 reader (one row): the run cannot show its noise, so no verdict.
        assert_eq!(
            t.verdict(0.90, 1, 0.95),
            "0.90 ? (no A/A with one file: noise unknown)"
        );
        assert_eq!(
            t.verdict(1.30, 1, 0.95),
            "1.30 ? (no A/A with one file: noise unknown)"
        );
        // Row 0's floor 8 % below row 1's in every round: A/A 0.92 and 1.09.
        t.cells[0][0] = [92.0, 92.0, 92.0].iter().map(|&v| cell(v, 0.2)).collect();
        t.cells[1][0] = [100.0, 100.0, 100.0]
            .iter()
            .map(|&v| cell(v, 0.2))
            .collect();
        assert_eq!(t.verdict(0.93, 4, 0.95), "0.93 ≈ (within A/A)");
        assert_eq!(t.verdict(0.91, 4, 0.95), "0.91 ✗");
        assert_eq!(t.verdict(0.97, 4, 0.95), "0.97 ✓");
        // Rounding never puts a failing ratio on the target.
        assert_eq!(mark(0.9480, 0.95), "0.948 ✗");
        assert_eq!(t.verdict(0.9480, 4, 0.95), "0.948 ≈ (within A/A)");
        assert_eq!(mark(1.996, 2.0), "1.996 ✗");
        assert_eq!(mark(2.004, 2.0), "2.00 ✓");
        // 20 % apart: too noisy for any verdict, a passing one included.
        t.cells[0][0] = [80.0, 80.0, 80.0].iter().map(|&v| cell(v, 0.2)).collect();
        assert!(t
            .verdict(1.20, 4, 0.95)
            .starts_with("1.20 ? (A/A 0.80–1.25"));
    }

    #[test]
    fn runs_of_fewer_than_three_rounds_get_no_verdict() {
        let mut t = run();
        assert_eq!(t.rounds(), 3);
        assert_eq!(t.paired_verdict(1.96, 2.0), "1.96 ✗");
        assert_eq!(t.paired_verdict(2.50, 2.0), "2.50 ✓");
        for row in &mut t.cells {
            for slot in row.iter_mut() {
                slot.truncate(1);
            }
        }
        assert_eq!(t.rounds(), 1);
        assert_eq!(
            t.verdict(0.80, 4, 0.95),
            "0.80 ? (1 round: too few to judge)"
        );
        assert_eq!(
            t.verdict(1.30, 4, 0.95),
            "1.30 ? (1 round: too few to judge)"
        );
        assert_eq!(
            t.paired_verdict(0.57, 2.0),
            "0.57 ? (1 round: too few to judge)"
        );
        assert_eq!(
            t.paired_verdict(3.10, 2.0),
            "3.10 ? (1 round: too few to judge)"
        );
    }

    #[test]
    fn a_failed_floor_cell_does_not_widen_the_floor_against_itself() {
        let mut t = run();
        t.cells[0][0][1] = cell(0.0, 0.0);
        // Row 0 keeps rounds 0 and 2 against row 1: 100/300 and 100/100 → 0.667.
        let aa = t.floor_aa(0).unwrap();
        assert!((aa - (1.0 / 3.0 + 1.0) / 2.0).abs() < 1e-9, "{aa}");
    }

    #[test]
    fn paired_ratios_skip_rounds_without_a_measurement() {
        let a = [cell(10.0, 0.0), cell(20.0, 0.0)];
        let b = [cell(0.0, 0.0), cell(10.0, 0.0)];
        assert_eq!(Throughput::paired(&a, &b), Some(2.0));
        assert_eq!(Throughput::paired(&a, &[]), None);
    }

    #[test]
    fn regimes_count_busy_cells_per_reader_count() {
        let text = run().regimes();
        // At 4 readers: 6 floor cells, all busy (0.2 sleeps/op); 6 ours cells, none busy.
        assert!(
            text.contains("| 4 | floor | 0.20 | 6 of 6 | 100 | – |"),
            "{text}"
        );
        assert!(
            text.contains("| 4 | ours | 3.00 | 0 of 6 | – | 100 |"),
            "{text}"
        );
        assert!(
            text.contains("| 1 | floor | 0.20 | 3 of 3 | 10 | – |"),
            "{text}"
        );
        // Slots nothing measured are left out.
        assert!(!text.contains("checked floor"), "{text}");
    }
}
