//! `lxcfs-bench`: the benchmark harness (run it through `scripts/bench.sh`).
//!
//! * `lxcfs-bench run ...` mounts the floor (`floorfs`), Debian's C lxcfs and ours, each on
//!   its own mount point under `--workdir`, then measures
//!   1. throughput and latency: reader processes in the benchmark cgroup and their own pid
//!      namespace loop open → read to EOF → close on one file for a fixed time, after a
//!      warm-up; cells for every file and reader count are run floor, C, ours back to back;
//!   2. our daemon's RSS before and after a million opens of `proc/meminfo`;
//!   3. the reload pause: readers record every operation while the harness sends SIGUSR1
//!      reloads one after another; for each reload the longest operation overlapping it is
//!      the pause a reader saw;
//!
//!   and prints a Markdown report.
//! * `lxcfs-bench load ...` mounts one implementation (optionally under a wrapper such as
//!   valgrind, or with a profiler attached to it) and drives a fixed number of operations
//!   through it, for profiling.
//!
//! The harness stays single-threaded (reader pods are created with clone/fork) and removes
//! its mounts, cgroup and processes on every exit path, including SIGINT/SIGTERM.

use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand, ValueEnum};
use lxcfs_bench::cgroup::{self, BenchCgroup};
use lxcfs_bench::daemon::{Kind, Launch, Mounted};
use lxcfs_bench::machine;
use lxcfs_bench::pod::{Pod, ReaderResult, ReaderSpec, SharedPage};
use lxcfs_bench::stats::{
    median, millis, quantile, Cell, Summary, Throughput, AA_JUDGEABLE, MIN_ROUNDS, SLOT_NAMES,
};
use nix::sys::signal::Signal;

/// Benchmark harness for lxcfs (see scripts/bench.sh).
#[derive(Debug, Parser)]
#[command(name = "lxcfs-bench")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// The full benchmark: throughput table, RSS over a million opens, reload pause.
    /// A repeated option overrides the earlier one (scripts/bench.sh passes defaults first).
    #[command(args_override_self = true)]
    Run(RunArgs),
    /// Drive a fixed number of operations through one implementation (for profiling).
    #[command(args_override_self = true)]
    Load(LoadArgs),
}

/// Options shared by both subcommands.
#[derive(Debug, Args)]
struct Common {
    /// Scratch directory for mount points, logs and reader results (created).
    #[arg(long)]
    workdir: PathBuf,
    /// The floor filesystem binary (`floorfs`).
    #[arg(long)]
    floor: Option<PathBuf>,
    /// Our daemon (`target/release/lxcfs`).
    #[arg(long)]
    ours: Option<PathBuf>,
    /// Our library (`target/release/liblxcfs.so`).
    #[arg(long)]
    ours_lib: Option<PathBuf>,
    /// Extra options for our daemon (split at whitespace), e.g. "--cache-ms 0" to measure
    /// without the render cache.
    #[arg(long, allow_hyphen_values = true)]
    ours_args: Option<String>,
    /// The C original.
    #[arg(long, default_value = "/usr/bin/lxcfs")]
    c_lxcfs: PathBuf,
    /// Memory limit of the readers' cgroup, MiB.
    #[arg(long, default_value_t = 512)]
    memory_limit_mib: u64,
    /// cpuset of the readers' cgroup.
    #[arg(long, default_value = "0-1")]
    cpus: String,
    /// Keep the readers in the harness's pid namespace (default: their own, as in a
    /// container).
    #[arg(long)]
    no_pidns: bool,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    common: Common,
    /// Measured seconds per cell.
    #[arg(long, default_value_t = 2.0)]
    duration: f64,
    /// Warm-up seconds per cell (operations done, not counted). Two seconds: on the KVM
    /// guests this was developed on, single-reader latency keeps improving for about a second
    /// after a reader pod starts, for every implementation alike.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Rounds over all cells (the table shows medians). On a shared virtual machine a cell
    /// varies by up to 2× from one round to the next, so five.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Reader counts.
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    readers: Vec<usize>,
    /// Files under proc/ to read through the lxcfs implementations.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "meminfo,cpuinfo,stat,uptime"
    )]
    files: Vec<String>,
    /// Opens of proc/meminfo between the two RSS readings (0 skips the phase).
    #[arg(long, default_value_t = 1_000_000)]
    million: u64,
    /// Readers of the RSS phase.
    #[arg(long, default_value_t = 4)]
    million_readers: usize,
    /// Reloads of the reload phase (0 skips it).
    #[arg(long, default_value_t = 100)]
    reloads: usize,
    /// Readers of the reload phase.
    #[arg(long, default_value_t = 2)]
    reload_readers: usize,
    /// Do not measure the C original.
    #[arg(long)]
    skip_c: bool,
    /// Also write the report to this file.
    #[arg(long)]
    report: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Target {
    Floor,
    /// The floor with lookup/getattr/open answered on 4 crossbeam-fed worker threads.
    FloorHop,
    /// The floor with lxcfs's per-request caller check (a pidfd poll at every read at
    /// offset 0): the least any lxcfs must do beyond the floor.
    FloorChecked,
    C,
    Ours,
}

#[derive(Debug, Args)]
struct LoadArgs {
    #[command(flatten)]
    common: Common,
    /// Which implementation to drive.
    #[arg(long, value_enum, default_value = "ours")]
    target: Target,
    /// File under proc/ (ignored for the floor).
    #[arg(long, default_value = "meminfo")]
    file: String,
    /// Reader processes.
    #[arg(long, default_value_t = 1)]
    readers: usize,
    /// Measured operations (total over the readers).
    #[arg(long, default_value_t = 20_000)]
    ops: u64,
    /// Operations before the attach command starts.
    #[arg(long, default_value_t = 2_000)]
    warmup_ops: u64,
    /// Run the daemon under this command (split at whitespace), e.g.
    /// "valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out".
    #[arg(long)]
    wrap: Option<String>,
    /// After the warm-up, run this command (split at whitespace; `{pid}` is the daemon's
    /// pid), e.g. "strace -c -f -o /tmp/sc.txt -p {pid}"; it gets SIGINT after the run.
    #[arg(long)]
    attach: Option<String>,
    /// The floor busy-waits this many ns at every read at offset 0, where lxcfs does its
    /// per-open work (calibration: what a microsecond of work costs the floor).
    #[arg(long, default_value_t = 0)]
    floor_work_ns: u64,
}

/// Set by SIGINT/SIGTERM/SIGHUP (signal-hook's handler only stores to it, which is
/// async-signal-safe); every wait loop checks it and unwinds through the cleanup guards.
static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();

fn install_signal_flags() -> io::Result<()> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        signal_hook::flag::register(sig, flag.clone())?;
    }
    FLAG.set(flag)
        .map_err(|_| io::Error::other("signal flags installed twice"))
}

/// An `Interrupted` error once a terminating signal has arrived.
fn poll_signals() -> io::Result<()> {
    if FLAG.get().is_some_and(|f| f.load(Ordering::Relaxed)) {
        Err(io::Error::new(
            io::ErrorKind::Interrupted,
            "interrupted by a signal",
        ))
    } else {
        Ok(())
    }
}

/// Sleeps `d` in small steps, returning early with an error on interruption.
fn sleep_checked(d: Duration) -> io::Result<()> {
    let end = Instant::now() + d;
    while Instant::now() < end {
        poll_signals()?;
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(10)));
    }
    Ok(())
}

/// What every phase needs: where readers run and write.
struct Ctx {
    workdir: PathBuf,
    procs: Vec<PathBuf>,
    pidns: bool,
}

impl Ctx {
    /// Runs a pod to completion and returns its readers' results (and saved content).
    fn run_pod(
        &self,
        spec: ReaderSpec,
        shared: &SharedPage,
        mut tick: impl FnMut() -> io::Result<()>,
    ) -> io::Result<(Vec<ReaderResult>, Option<String>)> {
        let mut pod = Pod::launch(spec, &self.procs, self.pidns, shared)?;
        pod.wait(|| {
            poll_signals()?;
            tick()
        })?;
        Ok((pod.results()?, pod.content()))
    }

    fn spec(&self, path: PathBuf, readers: usize) -> ReaderSpec {
        let now = Instant::now();
        ReaderSpec {
            path,
            readers,
            warmup_until: now,
            measure_until: None,
            op_budget: None,
            record: false,
            timeline: false,
            epoch: now,
            save_content: false,
            out_dir: self.workdir.join("readers"),
        }
    }

    /// One throughput cell, with how often the daemon `daemon` (pid) went to sleep per
    /// operation inside the measurement window.
    fn cell(
        &self,
        path: PathBuf,
        readers: usize,
        warmup: Duration,
        d: Duration,
        daemon: u32,
    ) -> io::Result<Cell> {
        let shared = SharedPage::new()?;
        let mut spec = self.spec(path, readers);
        spec.warmup_until = spec.epoch + warmup;
        spec.measure_until = Some(spec.warmup_until + d);
        spec.record = true;
        let (start, end) = (spec.warmup_until, spec.warmup_until + d);
        // Thread readings at the first tick (10 ms apart) inside the window and at the first
        // one after it, or when the readers are done if that comes first.
        // No reading (a daemon whose threads cannot be read, or no tick inside the window)
        // leaves the cell without one rather than with zero sleeps.
        let reading = || Some(machine::thread_times(daemon)).filter(|t| !t.is_empty());
        let (mut before, mut after, mut window_seen) = (None, None, false);
        let (results, _) = self.run_pod(spec, &shared, || {
            let now = Instant::now();
            if !window_seen && now >= start {
                window_seen = true;
                before = (now < end).then(reading).flatten();
            } else if before.is_some() && after.is_none() && now >= end {
                after = reading();
            }
            Ok(())
        })?;
        if before.is_some() && after.is_none() {
            after = reading();
        }
        let errors = results.iter().map(|r| r.errors).sum();
        let mut lat: Vec<u32> = results.into_iter().flat_map(|r| r.latencies).collect();
        let summary = Summary::from_nanos(&mut lat, errors, d);
        let sleeps_per_op = match (before, after) {
            (Some(b), Some(a)) if summary.ops > 0 => {
                Some(machine::sleeps_between(&b, &a) as f64 / summary.ops as f64)
            }
            _ => None,
        };
        Ok(Cell {
            summary,
            sleeps_per_op,
        })
    }

    /// One read of `path` by a reader in the cgroup: the content it saw.
    fn sample(&self, path: PathBuf) -> io::Result<String> {
        let shared = SharedPage::new()?;
        let mut spec = self.spec(path, 1);
        spec.op_budget = Some(1);
        spec.save_content = true;
        let (_, content) = self.run_pod(spec, &shared, || Ok(()))?;
        Ok(content.unwrap_or_default())
    }
}

fn split_words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

fn required(p: &Option<PathBuf>, what: &str) -> io::Result<PathBuf> {
    let p = p
        .clone()
        .ok_or_else(|| io::Error::other(format!("--{what} is required")))?;
    if !p.exists() {
        return Err(io::Error::other(format!("{}: not found", p.display())));
    }
    Ok(p)
}

/// Worker threads of the floor's hop mode: the worker count of the daemon when it answered
/// through such a hop.
const HOP_WORKERS: usize = 4;

/// `floor_work_ns` is passed to the floor as `--work-ns` (calibration).
fn launch(
    common: &Common,
    target: Target,
    wrap: Vec<String>,
    floor_work_ns: u64,
) -> io::Result<Launch> {
    Ok(match target {
        Target::Floor | Target::FloorHop | Target::FloorChecked => Launch {
            kind: Kind::Floor,
            name: match target {
                Target::FloorHop => "floor-hop",
                Target::FloorChecked => "floor-checked",
                _ => "floor",
            },
            program: required(&common.floor, "floor")?,
            library: None,
            wrap,
            extra: {
                let mut extra = vec![];
                if target == Target::FloorHop {
                    extra.extend(["--hop-workers".into(), HOP_WORKERS.to_string()]);
                }
                if target == Target::FloorChecked {
                    extra.push("--caller-check".into());
                }
                if floor_work_ns > 0 {
                    extra.extend(["--work-ns".into(), floor_work_ns.to_string()]);
                }
                extra
            },
        },
        Target::C => Launch {
            kind: Kind::C,
            name: "c",
            program: required(&Some(common.c_lxcfs.clone()), "c-lxcfs")?,
            library: None,
            wrap,
            extra: vec![],
        },
        Target::Ours => Launch {
            kind: Kind::Ours,
            name: "ours",
            program: required(&common.ours, "ours")?,
            library: Some(required(&common.ours_lib, "ours-lib")?),
            wrap,
            extra: common
                .ours_args
                .as_deref()
                .map(split_words)
                .unwrap_or_default(),
        },
    })
}

/// Creates the workdir and the readers' cgroup.
fn setup(common: &Common) -> io::Result<(BenchCgroup, Ctx)> {
    std::fs::create_dir_all(&common.workdir)?;
    cgroup::remove_stale();
    let name = format!("{}{}", cgroup::PREFIX, std::process::id());
    let cg = BenchCgroup::create(&name, common.memory_limit_mib << 20, &common.cpus)?;
    let ctx = Ctx {
        workdir: common.workdir.clone(),
        procs: cg.procs_files(),
        pidns: !common.no_pidns,
    };
    Ok((cg, ctx))
}

/// The relative path read on `kind` for a row of file `file`.
fn rel_for(kind: Kind, file: &str) -> String {
    match kind {
        Kind::Floor => lxcfs_bench::floor::FILE_REL.to_string(),
        Kind::C | Kind::Ours => format!("proc/{file}"),
    }
}

/// A one-line digest of what a reader saw in `file`, to show that the content is the
/// container's (MemTotal, processor count, cpu lines, uptime).
fn digest(file: &str, content: &str) -> String {
    let count = |pred: &dyn Fn(&str) -> bool| content.lines().filter(|l| pred(l)).count();
    match file {
        "meminfo" => content
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| "no MemTotal".into()),
        "cpuinfo" => format!("{} processors", count(&|l| l.starts_with("processor"))),
        "stat" => format!(
            "{} cpuN lines",
            count(&|l| {
                l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit)
            })
        ),
        "uptime" => format!(
            "uptime {}",
            content.split_whitespace().next().unwrap_or("?")
        ),
        _ => format!("{} bytes", content.len()),
    }
}

/// Counts "reloaded"/"refused" lines in our daemon's log and collects reported pauses (ms).
fn reload_log(text: &str) -> (usize, Vec<f64>, usize) {
    let (mut n, mut pauses, mut pinned) = (0, Vec::new(), 0);
    for l in text.lines() {
        if l.contains("reload refused") {
            n += 1;
        } else if l.contains("reloaded liblxcfs") {
            n += 1;
            if l.contains("could not be unloaded") {
                pinned += 1;
            }
            if let Some(ms) = l
                .rfind(" in ")
                .and_then(|i| l[i + 4..].split(" ms").next())
                .and_then(|v| v.trim().parse::<f64>().ok())
            {
                pauses.push(ms);
            }
        }
    }
    (n, pauses, pinned)
}

fn run(args: RunArgs) -> io::Result<String> {
    let common = &args.common;
    let warmup = Duration::from_secs_f64(args.warmup);
    let duration = Duration::from_secs_f64(args.duration);
    let started = Instant::now();
    let (cg, ctx) = setup(common)?;
    let mut out = String::new();

    let _ = writeln!(out, "## Machine\n");
    let _ = writeln!(
        out,
        "- CPU: {} × {} ({})\n- idle CPUs: {}\n- kernel {}, {} MiB RAM\n- load average at \
         start: {}\n- readers: processes in cgroup v1 `{}` (memory.limit_in_bytes {} MiB, \
         cpuset.cpus {}){}",
        machine::cpus(),
        machine::cpu_model(),
        if machine::virtualized() {
            "virtual machine"
        } else {
            "bare metal"
        },
        machine::idle_policy(),
        machine::kernel(),
        machine::mem_total_mib(),
        machine::loadavg(),
        cg.path,
        common.memory_limit_mib,
        cg.get("cpuset", "cpuset.cpus").unwrap_or_default(),
        if ctx.pidns {
            ", each pod in its own pid namespace"
        } else {
            ""
        },
    );

    eprintln!(
        "lxcfs-bench: mounting the floor, the checked floor, {}ours",
        if args.skip_c {
            ""
        } else {
            "the C original and "
        }
    );
    let mount_timeout = Duration::from_secs(20);
    let floor = Mounted::start(
        launch(common, Target::Floor, vec![], 0)?,
        &ctx.workdir,
        mount_timeout,
    )?;
    let checked = Mounted::start(
        launch(common, Target::FloorChecked, vec![], 0)?,
        &ctx.workdir,
        mount_timeout,
    )?;
    let c = if args.skip_c {
        None
    } else {
        Some(Mounted::start(
            launch(common, Target::C, vec![], 0)?,
            &ctx.workdir,
            mount_timeout,
        )?)
    };
    let ours = Mounted::start(
        launch(common, Target::Ours, vec![], 0)?,
        &ctx.workdir,
        mount_timeout,
    )?;
    // (slot, implementation); slots are the table's columns: floor, checked floor, C, ours.
    let mut targets: Vec<(usize, &Mounted)> = vec![(0, &floor), (1, &checked)];
    targets.extend(c.as_ref().map(|c| (2, c)));
    targets.push((3, &ours));

    // What the readers see: proof that both lxcfs implementations answer for the cgroup.
    let _ = writeln!(
        out,
        "\n## What the readers saw (one read each, from inside the cgroup)\n"
    );
    let _ = writeln!(
        out,
        "| file | host | C original | ours |\n|---|---|---|---|"
    );
    for file in &args.files {
        let host = std::fs::read_to_string(format!("/proc/{file}")).unwrap_or_default();
        let mut row = format!("| {file} | {} |", digest(file, &host));
        for m in [c.as_ref(), Some(&ours)] {
            let cell = match m {
                Some(m) => digest(file, &ctx.sample(m.path(&rel_for(m.launch.kind, file)))?),
                None => "–".into(),
            };
            let _ = write!(row, " {cell} |");
        }
        let _ = writeln!(out, "{row}");
    }
    let _ = writeln!(
        out,
        "\nThe floor serves a fixed {} byte file (`{}`). The checked floor is the same \
         filesystem doing lxcfs's caller check at every read at offset 0 (a pidfd per caller \
         thread, polled: one system call) and nothing else: the least any lxcfs that never \
         takes a recycled thread id for another container's reader must do beyond the floor.",
        lxcfs_bench::floor::FILE_SIZE,
        lxcfs_bench::floor::FILE_REL
    );

    // Throughput cells: every round measures each row's floor, checked floor, C and ours cells
    // back to back, starting with a different one each round (so that no implementation always
    // runs right after the same neighbour); the table shows medians over the rounds.
    let _ = writeln!(
        out,
        "\n## Throughput and latency (open → read to EOF → close; {} round{} of {:.1} s per cell \
         after {:.1} s warm-up; medians over the rounds)\n",
        args.rounds,
        if args.rounds == 1 { "" } else { "s" },
        args.duration,
        args.warmup
    );
    if args.rounds < 3 {
        let _ = writeln!(
            out,
            "**Fewer than three rounds: a cell on a shared or virtual machine varies by 2× or \
             more between rounds, so the ✓/✗ marks below say little; use the default five \
             rounds to judge the targets.**\n"
        );
    }
    let rows: Vec<(String, usize)> = args
        .files
        .iter()
        .flat_map(|f| args.readers.iter().map(move |&r| (f.clone(), r)))
        .collect();
    // cells[row][slot] = one Cell per round; slot 0 floor, 1 checked floor, 2 C, 3 ours.
    let mut cells: Vec<[Vec<Cell>; 4]> = vec![Default::default(); rows.len()];
    let mut loads: Vec<Vec<f64>> = vec![Vec::new(); rows.len()];
    let mut errors = Vec::new();
    for round in 0..args.rounds {
        for (row, (file, readers)) in rows.iter().enumerate() {
            loads[row].push(machine::load1());
            let first = (round + row) % targets.len();
            for &(slot, m) in targets[first..].iter().chain(&targets[..first]) {
                poll_signals()?;
                let kind = m.launch.kind;
                eprintln!(
                    "lxcfs-bench: round {} {} {file} × {readers}",
                    round + 1,
                    SLOT_NAMES[slot]
                );
                let path = m.path(&rel_for(kind, file));
                let cell = ctx.cell(path, *readers, warmup, duration, m.pid())?;
                if cell.summary.errors > 0 {
                    errors.push(format!(
                        "{} {file} ×{readers}: {} errors",
                        SLOT_NAMES[slot], cell.summary.errors
                    ));
                }
                cells[row][slot].push(cell);
            }
        }
    }
    let table = Throughput {
        readers: rows.iter().map(|(_, r)| *r).collect(),
        cells,
    };
    let _ = writeln!(
        out,
        "| file | readers | floor ops/s | p50 µs | p99 µs | C ops/s | p50 µs | p99 µs | ours \
         ops/s | p50 µs | p99 µs | ours/floor (≥0.95) | ours/C (≥2) | checked floor ops/s | \
         ours/checked floor | floor/floor (A/A) | load1 |"
    );
    let _ = writeln!(
        out,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let mut detail = String::new();
    let fmt_ratio = |r: Option<f64>| r.map_or("–".into(), |r| format!("{r:.2}"));
    for (row, (file, readers)) in rows.iter().enumerate() {
        let c = &table.cells[row];
        let col = |v: &Vec<Cell>| {
            if v.is_empty() {
                return "– | – | –".to_string();
            }
            let med =
                |f: &dyn Fn(&Summary) -> f64| median(v.iter().map(|c| f(&c.summary)).collect());
            format!(
                "{:.0} | {:.1} | {:.1}",
                med(&|s| s.ops_per_sec),
                med(&|s| s.p50.as_secs_f64() * 1e6),
                med(&|s| s.p99.as_secs_f64() * 1e6)
            )
        };
        let to_floor = table.to_pooled(row, 3, 0);
        let mark_floor = to_floor.map_or("–".into(), |r| table.verdict(r, *readers, 0.95));
        let mark_c =
            Throughput::paired(&c[3], &c[2]).map_or("–".into(), |r| table.paired_verdict(r, 2.0));
        let _ = writeln!(
            out,
            "| {file} | {readers} | {} | {} | {} | {mark_floor} | {mark_c} | {:.0} ({} × floor) | \
             {} | {} | {:.2} |",
            col(&c[0]),
            col(&c[2]),
            col(&c[3]),
            median(c[1].iter().map(|c| c.summary.ops_per_sec).collect()),
            fmt_ratio(table.to_pooled(row, 1, 0)),
            fmt_ratio(table.to_pooled(row, 3, 1)),
            fmt_ratio(table.floor_aa(row)),
            median(loads[row].clone()),
        );
        let rounds = |v: &Vec<Cell>| {
            if v.is_empty() {
                return "–".to_string();
            }
            v.iter()
                .map(|c| format!("{:.0}", c.summary.ops_per_sec))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        let _ = writeln!(
            detail,
            "| {file} | {readers} | {} | {} | {} | {} |",
            rounds(&c[0]),
            rounds(&c[1]),
            rounds(&c[2]),
            rounds(&c[3])
        );
    }
    let _ = writeln!(
        out,
        "\nThe floor serves the same file in every row, so each round measures it once per row: \
         a ratio to the floor (or to the checked floor) divides a cell by the median of that \
         round's floor cells at the same reader count, and the column shows the median of \
         those per-round ratios. **floor/floor (A/A)** applies the same statistic to the \
         row's own floor cell against the round's other floor cells: the floor compared with \
         itself, whose true ratio is 1. How far it strays from 1 is how finely this run can \
         compare anything with the floor: an ours/floor ratio under 0.95 that is no lower than \
         the lowest A/A ratio at its reader count is marked ≈ (the floor came out as low \
         against itself; a hint, not a pass, as ours' own cells vary more), and when the A/A \
         values at a reader count stray beyond {:.2}–{:.2} every ours/floor verdict there is ? \
         (too noisy to judge either way), as is every verdict of a run with one file, which \
         has no A/A. ours/C is the median of per-round ratios of the row's own cells. A run of \
         fewer than {} rounds gets ? for every ratio, ours/C included. ops/s of every \
         round:\n\n| file | readers | floor | checked floor | C | ours |\n\
         |---|---|---|---|---|---|\n{detail}",
        AA_JUDGEABLE.0, AA_JUDGEABLE.1, MIN_ROUNDS
    );
    let _ = write!(out, "{}", table.regimes());
    if !errors.is_empty() {
        let _ = writeln!(out, "\nErrors: {}", errors.join("; "));
    }
    drop(floor);
    drop(checked);
    drop(c);

    // RSS across a million opens.
    if args.million > 0 {
        eprintln!(
            "lxcfs-bench: {} opens of proc/meminfo for the RSS reading",
            args.million
        );
        let before = ours.rss_kib().unwrap_or(0);
        let shared = SharedPage::new()?;
        let mut spec = ctx.spec(ours.path("proc/meminfo"), args.million_readers);
        spec.op_budget = Some(args.million);
        let t0 = Instant::now();
        let mut peak = before;
        let mut last_sample = Instant::now();
        let mut last_report = Instant::now();
        let (results, _) = ctx.run_pod(spec, &shared, || {
            if last_sample.elapsed() >= Duration::from_millis(500) {
                peak = peak.max(ours.rss_kib().unwrap_or(0));
                last_sample = Instant::now();
            }
            if last_report.elapsed() >= Duration::from_secs(15) {
                eprintln!("lxcfs-bench:   {} opens done", shared.done());
                last_report = Instant::now();
            }
            Ok(())
        })?;
        let elapsed = t0.elapsed();
        let after = ours.rss_kib().unwrap_or(0);
        peak = peak.max(after);
        let ops: u64 = results.iter().map(|r| r.ops).sum();
        let errs: u64 = results.iter().map(|r| r.errors).sum();
        let growth = after as i64 - before as i64;
        let _ = writeln!(out, "\n## Daemon memory across {} opens\n", args.million);
        let _ = writeln!(
            out,
            "| RSS before | RSS after | growth | peak during | opens | errors | time | opens/s \
             ({} readers) |\n|---|---|---|---|---|---|---|---|",
            args.million_readers
        );
        let _ = writeln!(
            out,
            "| {before} KiB | {after} KiB | {growth:+} KiB {} | {peak} KiB | {ops} | {errs} | {:.1} \
             s | {:.0} |",
            if growth < 1024 { "✓ (< 1 MiB)" } else { "✗ (≥ 1 MiB)" },
            elapsed.as_secs_f64(),
            ops as f64 / elapsed.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "\n\"Before\" is taken after the throughput cells, which served as warm-up (every \
             worker thread and malloc arena already in use)."
        );
    }

    // Reload pause.
    if args.reloads > 0 {
        eprintln!(
            "lxcfs-bench: {} reloads under {} readers",
            args.reloads, args.reload_readers
        );
        let shared = SharedPage::new()?;
        let mut spec = ctx.spec(ours.path("proc/meminfo"), args.reload_readers);
        spec.warmup_until = spec.epoch + Duration::from_millis(300);
        spec.record = true;
        spec.timeline = true;
        let epoch = spec.epoch;
        let mut pod = Pod::launch(spec, &ctx.procs, ctx.pidns, &shared)?;
        sleep_checked(Duration::from_millis(600))?;
        let (base, _, _) = reload_log(&ours.log_text());
        let mut windows = Vec::with_capacity(args.reloads);
        let mut failure = None;
        for i in 0..args.reloads {
            if let Err(e) = poll_signals() {
                failure = Some(e);
                break;
            }
            let t_sig = epoch.elapsed();
            ours.signal(Signal::SIGUSR1)?;
            let deadline = Instant::now() + Duration::from_secs(10);
            while reload_log(&ours.log_text()).0 < base + i + 1 {
                if Instant::now() > deadline || pod.finished() {
                    failure = Some(io::Error::other(format!("reload {i} did not complete")));
                    break;
                }
                std::thread::sleep(Duration::from_micros(500));
            }
            if failure.is_some() {
                break;
            }
            windows.push((t_sig, epoch.elapsed()));
            std::thread::sleep(Duration::from_millis(25));
        }
        std::thread::sleep(Duration::from_millis(100));
        shared.stop();
        pod.wait(poll_signals)?;
        if let Some(e) = failure {
            return Err(e);
        }
        let results = pod.results()?;
        let (_, mut pauses, pinned) = reload_log(&ours.log_text());
        pauses.drain(..pauses.len().saturating_sub(windows.len()));
        let ops: Vec<(u64, u64)> = results
            .iter()
            .flat_map(|r| {
                r.starts
                    .iter()
                    .zip(&r.latencies)
                    .map(|(&s, &l)| (s, u64::from(l)))
            })
            .collect();
        let errs: u64 = results.iter().map(|r| r.errors).sum();
        let mut stalls: Vec<u64> = windows
            .iter()
            .map(|(s, d)| {
                let (s, d) = (s.as_nanos() as u64, d.as_nanos() as u64);
                ops.iter()
                    .filter(|(start, lat)| *start <= d && start + lat >= s)
                    .map(|(_, lat)| *lat)
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        stalls.sort_unstable();
        let mut all: Vec<u64> = ops.iter().map(|(_, l)| *l).collect();
        all.sort_unstable();
        pauses.sort_by(f64::total_cmp);
        let ns = |v: u64| Duration::from_nanos(v);
        let ms = |v: f64| Duration::from_secs_f64(v / 1e3);
        let _ = writeln!(
            out,
            "\n## Reload pause ({} SIGUSR1 reloads, {} readers on proc/meminfo)\n",
            windows.len(),
            args.reload_readers
        );
        let _ = writeln!(
            out,
            "| measure | p50 ms | p99 ms | max ms |\n|---|---|---|---|"
        );
        let _ = writeln!(
            out,
            "| longest reader operation overlapping a reload | {} | {} | {} |",
            millis(ns(quantile(&stalls, 0.5))),
            millis(ns(quantile(&stalls, 0.99))),
            millis(ns(stalls.last().copied().unwrap_or(0)))
        );
        let mut spans: Vec<u64> = windows
            .iter()
            .map(|(s, d)| d.saturating_sub(*s).as_nanos() as u64)
            .collect();
        spans.sort_unstable();
        let _ = writeln!(
            out,
            "| SIGUSR1 sent → \"reloaded\" logged (probe + swap, harness view) | {} | {} | {} |",
            millis(ns(quantile(&spans, 0.5))),
            millis(ns(quantile(&spans, 0.99))),
            millis(ns(spans.last().copied().unwrap_or(0)))
        );
        let _ = writeln!(
            out,
            "| reload time reported by the daemon (write lock held) | {} | {} | {} |",
            millis(ms(quantile(&pauses, 0.5))),
            millis(ms(quantile(&pauses, 0.99))),
            millis(ms(pauses.last().copied().unwrap_or(0.0)))
        );
        let _ = writeln!(
            out,
            "| any reader operation during the run (baseline) | {} | {} | {} |",
            millis(ns(quantile(&all, 0.5))),
            millis(ns(quantile(&all, 0.99))),
            millis(ns(all.last().copied().unwrap_or(0)))
        );
        let _ = writeln!(
            out,
            "\n{} reader operations, {errs} errors; the old library image stayed in memory after \
             {pinned} of {} reloads (0: every old image was unloaded).",
            all.len(),
            args.reloads
        );
    }
    let _ = writeln!(
        out,
        "\nHarness time {:.0} s (without the build and a separate reload-bench); load average at \
         the end: {}.",
        started.elapsed().as_secs_f64(),
        machine::loadavg()
    );
    drop(ours);
    drop(cg);
    Ok(out)
}

fn load(args: LoadArgs) -> io::Result<String> {
    let common = &args.common;
    let (cg, ctx) = setup(common)?;
    let wrap = args.wrap.as_deref().map(split_words).unwrap_or_default();
    let timeout = if wrap.is_empty() {
        Duration::from_secs(20)
    } else {
        Duration::from_secs(120)
    };
    let m = Mounted::start(
        launch(common, args.target, wrap, args.floor_work_ns)?,
        &ctx.workdir,
        timeout,
    )?;
    let path = m.path(&rel_for(m.launch.kind, &args.file));
    if args.warmup_ops > 0 {
        let shared = SharedPage::new()?;
        let mut spec = ctx.spec(path.clone(), args.readers);
        spec.op_budget = Some(args.warmup_ops);
        ctx.run_pod(spec, &shared, || Ok(()))?;
    }
    let mut attached = None;
    if let Some(a) = &args.attach {
        let words: Vec<String> = split_words(&a.replace("{pid}", &m.pid().to_string()));
        let (prog, rest) = words
            .split_first()
            .ok_or_else(|| io::Error::other("empty --attach"))?;
        let mut cmd = std::process::Command::new(prog);
        cmd.args(rest)
            .stdin(std::process::Stdio::null())
            .process_group(0);
        // SAFETY: between fork and exec only async-signal-safe calls: signal(2) restores the
        // default SIGINT disposition, which a shell's background job inherits as "ignored";
        // the profiler is stopped with SIGINT and must see it.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        attached = Some(AttachGuard(Some(child)));
        sleep_checked(Duration::from_millis(1500))?;
    }
    let shared = SharedPage::new()?;
    let mut spec = ctx.spec(path, args.readers);
    spec.op_budget = Some(args.ops);
    let cpu_before = machine::thread_times(m.pid());
    let t0 = Instant::now();
    let (results, _) = ctx.run_pod(spec, &shared, || Ok(()))?;
    let elapsed = t0.elapsed();
    let cpu_after = machine::thread_times(m.pid());
    drop(attached);
    let ops: u64 = results.iter().map(|r| r.ops).sum();
    let errs: u64 = results.iter().map(|r| r.errors).sum();
    let mut out = format!(
        "{} {}: {ops} operations ({errs} errors) by {} readers in {:.2} s = {:.0} ops/s; daemon \
         pid {}\ndaemon CPU per operation by thread group (µs, exact; kernel share tick-sampled):\n",
        m.launch.name,
        args.file,
        args.readers,
        elapsed.as_secs_f64(),
        ops as f64 / elapsed.as_secs_f64(),
        m.pid()
    );
    let groups = machine::cpu_per_op(&cpu_before, &cpu_after, ops);
    for g in &groups {
        let _ = writeln!(
            out,
            "  {:<16} {:7.1} µs ({:.0}% kernel)",
            g.group,
            g.total_us,
            g.system_share * 100.0
        );
    }
    let total: f64 = groups.iter().map(|g| g.total_us).sum();
    let _ = writeln!(out, "  {:<16} {total:7.1} µs", "all");
    let _ = writeln!(
        out,
        "daemon sleeps per operation (voluntary context switches): {:.2}",
        machine::sleeps_between(&cpu_before, &cpu_after) as f64 / ops.max(1) as f64
    );
    let _ = writeln!(
        out,
        "daemon minor page faults per operation: {:.3}",
        machine::growth(&cpu_before, &cpu_after, |t| t.minor_faults) as f64 / ops.max(1) as f64
    );
    let _ = writeln!(out, "idle CPUs: {}", machine::idle_policy());
    drop(m);
    drop(cg);
    Ok(out)
}

use std::os::unix::process::CommandExt as _;

/// An attached profiler: SIGINT and a wait (up to 30 s, then SIGKILL) on drop.
struct AttachGuard(Option<std::process::Child>);

impl Drop for AttachGuard {
    fn drop(&mut self) {
        let Some(mut c) = self.0.take() else { return };
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), Signal::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(30);
        while matches!(c.try_wait(), Ok(None)) {
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = install_signal_flags() {
        eprintln!("lxcfs-bench: {e}");
        return ExitCode::FAILURE;
    }
    let (result, report) = match cli.cmd {
        Cmd::Run(a) => {
            let report = a.report.clone();
            (run(a), report)
        }
        Cmd::Load(a) => (load(a), None),
    };
    match result {
        Ok(text) => {
            print!("{text}");
            if let Some(p) = report {
                if let Err(e) = std::fs::write(&p, &text) {
                    eprintln!("lxcfs-bench: cannot write {}: {e}", p.display());
                    return ExitCode::FAILURE;
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lxcfs-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reload_log_lines() {
        let log = "x INFO reloaded liblxcfs: 0.1 (build a) -> 0.1 (build a) in 12.5 ms\n\
                   y ERROR reload refused, still serving the previous library: bad\n\
                   z INFO reloaded liblxcfs: 0.1 (build a) -> 0.1 (build a) in 3.0 ms (old image \
                   could not be unloaded)\n";
        let (n, pauses, pinned) = reload_log(log);
        assert_eq!(n, 3);
        assert_eq!(pauses, vec![12.5, 3.0]);
        assert_eq!(pinned, 1);
    }

    #[test]
    fn digests() {
        assert_eq!(
            digest("meminfo", "MemTotal:  524288 kB\nMemFree: 1 kB\n"),
            "524288 kB"
        );
        assert_eq!(
            digest("cpuinfo", "processor\t: 0\nx\nprocessor\t: 1\n"),
            "2 processors"
        );
        assert_eq!(
            digest("stat", "cpu  1 2\ncpu0 1\ncpu1 2\nintr 3\n"),
            "2 cpuN lines"
        );
        assert_eq!(digest("uptime", "12.5 3.0\n"), "uptime 12.5");
    }
}
