//! Benchmark of the live-upgrade pause, and the reader process of the reload tests.
//!
//! ```text
//! cargo run --release -p lxcfs-tests --bin reload-bench [-- --reloads N --readers N --gap-ms N
//!     --lxcfs PATH --library PATH]
//! reload-bench reader <mountpoint> [--slow-us N]
//! ```
//!
//! **Benchmark** (no arguments, as root with /dev/fuse): builds the release daemon and library
//! (or takes the ones `--lxcfs` and `--library` name, both or neither), installs the library in a temporary directory, starts the daemon on a temporary mount, starts
//! reader processes, then performs N reloads the way an operator does (`rm` the installed
//! library, `cp` it back, `kill -USR1`), waiting for the daemon's "reloaded" log line each time.
//! It reports, over the reloads, the pause the daemon logs (write lock held: submissions
//! blocked) and the longest read (open + read + close, as a reader process measures it) that
//! overlapped each reload window (from the signal to the log line), with p50, p99 and max, and
//! the same reads' latency outside reloads for comparison. Every read is validated; the run
//! fails when any read failed.
//!
//! **Reader** (`reader <mountpoint>`): loops over `proc/meminfo`, `proc/uptime`,
//! `proc/cpuinfo`, `proc/stat` and `sys/devices/system/cpu/online` under the mount, each an
//! open/read/close, validating the whole content of each read (complete, well-formed, not torn),
//! until its standard input reaches end-of-file (the parent closed it or died). Then it prints
//!
//! ```text
//! reads <n>
//! failures <n>
//! fail <file>: <reason>                 (at most 20 lines)
//! latency-us p50 <n> p99 <n> max <n>    (every read)
//! slow <start-ns> <end-ns>              (each read of at least --slow-us µs, CLOCK_MONOTONIC)
//! ```
//!
//! and exits 0.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lxcfs_formats::stat::{parse_cpu_line, CpuLine, CpuTimes};

/// The files every reader cycles through (paths under the mount point).
const FILES: [&str; 5] = [
    "proc/meminfo",
    "proc/uptime",
    "proc/cpuinfo",
    "proc/stat",
    "sys/devices/system/cpu/online",
];

/// At most this many failures are described in a reader's report.
const MAX_DESCRIBED: usize = 20;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("reader") => reader_main(&args[1..]),
        Some("-h" | "--help") => {
            println!("{}", USAGE);
            0
        }
        _ => bench_main(&args),
    };
    std::process::exit(code);
}

const USAGE: &str = "usage: reload-bench [--reloads N] [--readers N] [--gap-ms N] [--lxcfs PATH \
                     --library PATH]\n       \
                     reload-bench reader <mountpoint> [--slow-us N]";

/// The value after `--name` in `args`, parsed, or `default`.
fn flag<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}: bad value {v:?}\n{USAGE}"))
        })
        .unwrap_or(default)
}

/// CLOCK_MONOTONIC in nanoseconds (the same clock in every process of the machine).
fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

// ---------------------------------------------------------------------------------------------
// Validation of one read.

/// Checks the complete content of one read of `file`; `Err` says what is wrong.
fn validate(file: &str, bytes: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    if text.is_empty() {
        return Err("empty".into());
    }
    if !text.ends_with('\n') {
        return Err(format!("no final newline: {:?}", tail(text)));
    }
    match file {
        "proc/meminfo" => meminfo(text),
        "proc/uptime" => uptime(text),
        "proc/cpuinfo" => cpuinfo(text),
        "proc/stat" => stat(text),
        "sys/devices/system/cpu/online" => cpu_list(text),
        _ => Ok(()),
    }
}

fn tail(text: &str) -> &str {
    let start = text
        .char_indices()
        .rev()
        .nth(40)
        .map(|(i, _)| i)
        .unwrap_or(0);
    &text[start..]
}

/// `Key:   value[ kB]` lines, `MemTotal` first.
fn meminfo(text: &str) -> Result<(), String> {
    if !text.starts_with("MemTotal:") {
        return Err(format!(
            "first line is not MemTotal: {:?}",
            text.lines().next()
        ));
    }
    let mut n = 0;
    for line in text.lines() {
        let (key, value) = line
            .split_once(':')
            .ok_or_else(|| format!("no colon: {line:?}"))?;
        let value = value.trim_start();
        let number = value.strip_suffix(" kB").unwrap_or(value);
        if key.is_empty() || number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("bad line {line:?}"));
        }
        n += 1;
    }
    if n < 3 {
        return Err(format!("only {n} lines"));
    }
    Ok(())
}

/// `^\d+\.\d\d \d+\.\d\d\n$`
fn uptime(text: &str) -> Result<(), String> {
    let seconds = |s: &str| {
        s.split_once('.').is_some_and(|(i, f)| {
            !i.is_empty()
                && i.bytes().all(|b| b.is_ascii_digit())
                && f.len() == 2
                && f.bytes().all(|b| b.is_ascii_digit())
        })
    };
    let ok = text
        .strip_suffix('\n')
        .and_then(|t| t.split_once(' '))
        .is_some_and(|(a, b)| seconds(a) && seconds(b));
    if ok {
        Ok(())
    } else {
        Err(format!("bad uptime {text:?}"))
    }
}

/// Blocks starting `processor\t: N` with N = 0, 1, … in order.
fn cpuinfo(text: &str) -> Result<(), String> {
    let mut next = 0;
    for line in text.lines().filter(|l| l.starts_with("processor")) {
        let n: u32 = line
            .split_once(':')
            .and_then(|(_, v)| v.trim().parse().ok())
            .ok_or_else(|| format!("bad processor line {line:?}"))?;
        if n != next {
            return Err(format!("processor {n} where {next} was expected"));
        }
        next += 1;
    }
    if next == 0 || !text.starts_with("processor") {
        return Err(format!(
            "no processor block first: {:?}",
            text.lines().next()
        ));
    }
    Ok(())
}

/// The aggregate `cpu` line first and equal to the sum of the `cpuN` rows, `btime` present.
fn stat(text: &str) -> Result<(), String> {
    let mut lines = text.lines();
    let total = match lines.next().and_then(parse_cpu_line) {
        Some(CpuLine::Total(t)) => t,
        _ => return Err(format!("first line is not cpu: {:?}", text.lines().next())),
    };
    let mut sum = CpuTimes::default();
    let mut rows = 0;
    for l in text.lines() {
        if let Some(CpuLine::Cpu(_, t)) = parse_cpu_line(l) {
            sum = sum.add(&t);
            rows += 1;
        }
    }
    if rows == 0 || sum != total {
        return Err(format!("{rows} rows whose sum is not the cpu line"));
    }
    if !text.lines().any(|l| l.starts_with("btime ")) {
        return Err("no btime line".into());
    }
    Ok(())
}

/// `^\d+(-\d+)?(,\d+(-\d+)?)*\n$`
fn cpu_list(text: &str) -> Result<(), String> {
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let ok = text.strip_suffix('\n').is_some_and(|t| {
        t.split(',').all(|r| match r.split_once('-') {
            Some((a, b)) => number(a) && number(b),
            None => number(r),
        })
    });
    if ok {
        Ok(())
    } else {
        Err(format!("bad cpu list {text:?}"))
    }
}

// ---------------------------------------------------------------------------------------------
// Reader process.

fn reader_main(args: &[String]) -> i32 {
    let Some(mnt) = args.first().map(PathBuf::from) else {
        eprintln!("{USAGE}");
        return 2;
    };
    let slow_us: u64 = flag(args, "--slow-us", u64::MAX);
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        s.store(true, Ordering::Relaxed);
    });
    let mut latencies: Vec<u32> = Vec::new();
    let mut slow: Vec<(u64, u64, &str)> = Vec::new();
    let mut failures = 0u64;
    let mut described: Vec<String> = Vec::new();
    let mut buf = Vec::with_capacity(1 << 16);
    // Readers start at different files (by pid) so that all files are read at once.
    let offset = std::process::id() as usize;
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let file = FILES[(offset + i) % FILES.len()];
        i += 1;
        buf.clear();
        let t0 = mono_ns();
        let result = std::fs::File::open(mnt.join(file)).and_then(|mut f| f.read_to_end(&mut buf));
        let t1 = mono_ns();
        let us = (t1 - t0) / 1000;
        latencies.push(us.min(u64::from(u32::MAX)) as u32);
        if us >= slow_us {
            slow.push((t0, t1, file));
        }
        let verdict = match result {
            Ok(_) => validate(file, &buf),
            Err(e) => Err(format!("{e}")),
        };
        if let Err(why) = verdict {
            failures += 1;
            if described.len() < MAX_DESCRIBED {
                described.push(format!("{file}: {why}"));
            }
        }
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "reads {}", latencies.len());
    let _ = writeln!(out, "failures {failures}");
    for d in &described {
        let _ = writeln!(out, "fail {}", d.replace('\n', "\\n"));
    }
    latencies.sort_unstable();
    let q = |p: f64| u64::from(percentile(&latencies, p).unwrap_or(0));
    let _ = writeln!(
        out,
        "latency-us p50 {} p99 {} max {}",
        q(50.0),
        q(99.0),
        q(100.0)
    );
    for (a, b, file) in slow {
        let _ = writeln!(out, "slow {a} {b} {file}");
    }
    0
}

/// Nearest-rank percentile `p` (0–100) of ascending `sorted`.
fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// What a reader reported.
#[derive(Debug, Default)]
struct ReaderReport {
    reads: u64,
    failures: u64,
    described: Vec<String>,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
    slow: Vec<(u64, u64, String)>,
}

fn parse_report(text: &str) -> ReaderReport {
    let mut r = ReaderReport::default();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["reads", n] => r.reads = n.parse().unwrap_or(0),
            ["failures", n] => r.failures = n.parse().unwrap_or(0),
            ["latency-us", "p50", a, "p99", b, "max", c] => {
                r.p50_us = a.parse().unwrap_or(0);
                r.p99_us = b.parse().unwrap_or(0);
                r.max_us = c.parse().unwrap_or(0);
            }
            ["slow", a, b, file] => {
                if let (Ok(a), Ok(b)) = (a.parse(), b.parse()) {
                    r.slow.push((a, b, file.to_string()));
                }
            }
            ["fail", ..] => r.described.push(line.to_string()),
            _ => {}
        }
    }
    r
}

/// A running reader process; killed on drop.
struct Reader {
    child: Child,
    stdin: Option<ChildStdin>,
    output: Option<std::thread::JoinHandle<String>>,
}

impl Reader {
    fn spawn(mnt: &Path, slow_us: u64) -> Reader {
        let mut child = Command::new(std::env::current_exe().expect("own path"))
            .arg("reader")
            .arg(mnt)
            .args(["--slow-us", &slow_us.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn reader");
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().expect("reader stdout");
        let output = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            s
        });
        Reader {
            child,
            stdin,
            output: Some(output),
        }
    }

    /// Tells the reader to stop after its current read (closes its stdin).
    fn stop(&mut self) {
        drop(self.stdin.take());
    }

    fn finish(mut self) -> ReaderReport {
        self.stop();
        let text = self
            .output
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let _ = self.child.wait();
        parse_report(&text)
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if self.output.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Benchmark.

/// Builds the release daemon and library; returns their paths.
fn build_release() -> (PathBuf, PathBuf) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-q",
            "-p",
            "lxcfs-host",
            "-p",
            "liblxcfs",
        ])
        .current_dir(lxcfs_testkit::workspace_root())
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build --release failed");
    let dir = lxcfs_testkit::target_dir().join("release");
    (dir.join("lxcfs"), dir.join("liblxcfs.so"))
}

/// Lines of the daemon log that report a finished reload, read incrementally.
struct LogFollower {
    file: std::fs::File,
    partial: Vec<u8>,
    /// The last "reload phases" line (daemon started with `lxcfs_host::plugin=debug`).
    phases: String,
}

impl LogFollower {
    fn new(path: &Path) -> LogFollower {
        LogFollower {
            file: std::fs::File::open(path).expect("daemon log"),
            partial: Vec::new(),
            phases: String::new(),
        }
    }

    /// The next complete log line mentioning a reload outcome, polling every 100 µs for at
    /// most `timeout`.
    fn next_reload_line(&mut self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let _ = self.file.read_to_end(&mut self.partial);
            while let Some(i) = self.partial.iter().position(|b| *b == b'\n') {
                let bytes: Vec<u8> = self.partial.drain(..=i).collect();
                let line = String::from_utf8_lossy(&bytes).into_owned();
                if let Some((_, p)) = line.split_once("reload phases (ms): ") {
                    self.phases = p.trim().to_string();
                }
                if ["reloaded liblxcfs:", "reload refused:", "reload failed:"]
                    .iter()
                    .any(|k| line.contains(k))
                {
                    return Some(line);
                }
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    }
}

/// The pause in ms of a "reloaded liblxcfs: … in X ms, …" line.
fn logged_pause_ms(line: &str) -> Option<f64> {
    let (_, rest) = line.split_once(" in ")?;
    rest.split_whitespace().next()?.parse().ok()
}

fn summary(name: &str, values: &mut [f64]) -> String {
    values.sort_by(|a, b| a.total_cmp(b));
    let p = |q| percentile(values, q).unwrap_or(f64::NAN);
    format!(
        "{name}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (n={})",
        p(50.0),
        p(99.0),
        p(100.0),
        values.len()
    )
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpus} CPUs ({model}), Linux {}", kernel.trim())
}

/// While `on` (`-v`): every 20 ms, looks at what each reader process waits for; when one has
/// waited in FUSE for more than a second, prints its kernel stack and every daemon thread's
/// state, wait channel and kernel stack to stderr (at most three times).
fn watch_stalls(readers: &[u32], daemon: u32, on: &AtomicBool) {
    let read = |p: String| std::fs::read_to_string(p).unwrap_or_default();
    let mut since: Vec<Option<Instant>> = vec![None; readers.len()];
    let mut dumps = 0;
    while on.load(Ordering::Relaxed) && dumps < 3 {
        for (i, pid) in readers.iter().enumerate() {
            let wchan = read(format!("/proc/{pid}/wchan"));
            if !(wchan.contains("fuse") || wchan.contains("request")) {
                since[i] = None;
                continue;
            }
            let t = *since[i].get_or_insert_with(Instant::now);
            if t.elapsed() > Duration::from_secs(1) {
                dumps += 1;
                since[i] = None;
                eprintln!(
                    "STALL: reader {pid} waits in {wchan}:\n{}",
                    read(format!("/proc/{pid}/stack"))
                );
                if let Ok(tasks) = std::fs::read_dir(format!("/proc/{daemon}/task")) {
                    for t in tasks.flatten() {
                        let p = t.path().display().to_string();
                        let stat = read(format!("{p}/stat"));
                        let state = stat.rsplit_once(')').map(|(_, r)| r.trim().chars().next());
                        eprintln!(
                            "  daemon task {} {} {:?} {}:\n{}",
                            t.file_name().to_string_lossy(),
                            read(format!("{p}/comm")).trim(),
                            state.flatten(),
                            read(format!("{p}/wchan")),
                            read(format!("{p}/stack"))
                        );
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn bench_main(args: &[String]) -> i32 {
    let reloads: usize = flag(args, "--reloads", 100);
    let readers: usize = flag(args, "--readers", 4);
    let gap = Duration::from_millis(flag(args, "--gap-ms", 50));
    let verbose = args.iter().any(|a| a == "-v");
    let given: Option<PathBuf> = args
        .iter()
        .position(|a| a == "--lxcfs")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let given_lib: Option<PathBuf> = args
        .iter()
        .position(|a| a == "--library")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let (shared_lxcfs, shared_lib) = match (given, given_lib) {
        (Some(d), Some(l)) => (d, l),
        (None, None) => build_release(),
        _ => {
            eprintln!("--lxcfs and --library go together\n{USAGE}");
            return 2;
        }
    };
    // Private copies: others build into the shared target directory, and a rebuild must not
    // change what runs or what is installed halfway through.
    let dir = lxcfs_testkit::TempDir::new("reload-bench");
    let (lxcfs, built) = (dir.path().join("lxcfs"), dir.path().join("new.so"));
    std::fs::copy(&shared_lxcfs, &lxcfs).expect("copy the daemon");
    std::fs::copy(&shared_lib, &built).expect("copy the library");
    let installed = dir.path().join("liblxcfs.so");
    std::fs::copy(&built, &installed).expect("install the library");
    let daemon = lxcfs_testkit::Daemon::start_with(&lxcfs, &installed, &[]);
    let mut log = LogFollower::new(&daemon.log);
    println!("machine: {}", machine());
    println!(
        "daemon {} (pid {}), library {}, {readers} readers, {reloads} reloads {} ms apart",
        shared_lxcfs.display(),
        daemon.pid(),
        shared_lib.display(),
        gap.as_millis()
    );
    let procs: Vec<Reader> = (0..readers)
        .map(|_| Reader::spawn(&daemon.mnt, 1000))
        .collect();
    let watching = Arc::new(AtomicBool::new(verbose));
    let watcher = {
        let pids: Vec<u32> = procs.iter().map(|r| r.child.id()).collect();
        let (daemon_pid, on) = (daemon.pid(), watching.clone());
        std::thread::spawn(move || watch_stalls(&pids, daemon_pid, &on))
    };
    std::thread::sleep(Duration::from_millis(500));
    let mut windows = Vec::with_capacity(reloads);
    let mut pauses = Vec::with_capacity(reloads);
    let mut problems = Vec::new();
    let mut phases: Vec<String> = Vec::new();
    for i in 0..reloads {
        let _ = std::fs::remove_file(&installed);
        std::fs::copy(&built, &installed).expect("install the library");
        let t0 = mono_ns();
        daemon.signal(nix::sys::signal::Signal::SIGUSR1);
        let line = log.next_reload_line(Duration::from_secs(10));
        let t1 = mono_ns();
        match line.as_deref().and_then(logged_pause_ms) {
            Some(ms) if line.as_deref().is_some_and(|l| l.contains("reloaded")) => {
                pauses.push(ms);
                windows.push((t0, t1));
                phases.push(std::mem::take(&mut log.phases));
            }
            _ => problems.push(format!("reload {i}: {line:?}")),
        }
        std::thread::sleep(gap);
    }
    std::thread::sleep(Duration::from_millis(200));
    watching.store(false, Ordering::Relaxed);
    let _ = watcher.join();
    let mut procs = procs;
    procs.iter_mut().for_each(Reader::stop);
    let reports: Vec<ReaderReport> = procs.into_iter().map(Reader::finish).collect();
    drop(daemon);

    let slow: Vec<(u64, u64, String)> = reports.iter().flat_map(|r| r.slow.clone()).collect();
    let mut window_max: Vec<f64> = windows
        .iter()
        .map(|&(a, b)| {
            slow.iter()
                .filter(|&&(s, e, _)| s < b && e > a)
                .map(|&(s, e, _)| (e - s) as f64 / 1e6)
                .fold(0.0, f64::max)
        })
        .collect();
    let below = window_max.iter().filter(|v| **v == 0.0).count();
    let reads: u64 = reports.iter().map(|r| r.reads).sum();
    let failures: u64 = reports.iter().map(|r| r.failures).sum();
    println!("reads: {reads}, failed reads: {failures}");
    for r in &reports {
        println!(
            "  reader: {} reads, {} failed, latency p50 {} µs, p99 {} µs, max {} µs",
            r.reads, r.failures, r.p50_us, r.p99_us, r.max_us
        );
        for d in &r.described {
            println!("    {d}");
        }
    }
    println!("{}", summary("daemon-logged pause", &mut pauses));
    println!(
        "{} (a window in which no read took 1 ms or more counts as 0; there were {below})",
        summary("longest read overlapping a reload", &mut window_max)
    );
    if verbose {
        let start = windows.first().map_or(0, |w| w.0);
        let mut top = slow.clone();
        top.sort_by_key(|&(s, e, _)| std::cmp::Reverse(e - s));
        let mut w: Vec<(usize, f64)> = windows
            .iter()
            .enumerate()
            .map(|(i, &(a, b))| (i, (b - a) as f64 / 1e6))
            .collect();
        w.sort_by(|x, y| y.1.total_cmp(&x.1));
        for &(i, ms) in w.iter().take(5) {
            println!("  reload window {i}: {ms:.2} ms; phases: {}", phases[i]);
        }
        for (s, e, f) in top.iter().take(10) {
            println!(
                "  slow read: {f} {:.2} ms, started {:.3} s after the first reload",
                (e - s) as f64 / 1e6,
                (*s as f64 - start as f64) / 1e9
            );
        }
    }
    for p in &problems {
        println!("problem: {p}");
    }
    let p99 = percentile(&window_max, 99.0)
        .unwrap_or(f64::MAX)
        .max(percentile(&pauses, 99.0).unwrap_or(f64::MAX));
    println!(
        "target p99 <= 20 ms: {}",
        if p99 <= 20.0 { "met" } else { "NOT met" }
    );
    if failures > 0 || !problems.is_empty() || pauses.len() != reloads {
        1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validators_accept_good_and_refuse_torn_content() {
        let meminfo =
            "MemTotal:       262144 kB\nMemFree:        1000 kB\nHugePages_Total:       0\n";
        assert!(validate("proc/meminfo", meminfo.as_bytes()).is_ok());
        assert!(validate("proc/meminfo", &meminfo.as_bytes()[..30]).is_err());
        assert!(validate("proc/meminfo", &meminfo.as_bytes()[26..]).is_err());
        assert!(validate("proc/uptime", b"12.34 56.78\n").is_ok());
        for bad in [
            &b"12.34 56.7\n"[..],
            b"12.34 56.78",
            b"12.34\n",
            b"1.00 2.00\n3",
        ] {
            assert!(validate("proc/uptime", bad).is_err(), "{bad:?}");
        }
        let stat = "cpu  2 0 2 0 0 0 0 0 0 0\ncpu0 1 0 1 0 0 0 0 0 0 0\n\
                    cpu1 1 0 1 0 0 0 0 0 0 0\nbtime 1\n";
        assert!(validate("proc/stat", stat.as_bytes()).is_ok());
        let torn = stat.replace("cpu1 1 0 1", "cpu1 1 0 2");
        assert!(validate("proc/stat", torn.as_bytes()).is_err());
        assert!(validate(
            "proc/cpuinfo",
            b"processor\t: 0\nx : y\n\nprocessor\t: 1\n\n"
        )
        .is_ok());
        assert!(validate("proc/cpuinfo", b"processor\t: 1\n\n").is_err());
        assert!(validate("sys/devices/system/cpu/online", b"0-1,3\n").is_ok());
        assert!(validate("sys/devices/system/cpu/online", b"0-\n").is_err());
        assert_eq!(percentile(&[1, 2, 3, 4], 50.0), Some(2));
        assert_eq!(percentile(&(1..=100).collect::<Vec<_>>(), 99.0), Some(99));
        assert_eq!(
            logged_pause_ms("x reloaded liblxcfs: a (build b) -> c (build d) in 1.25 ms, g"),
            Some(1.25)
        );
    }
}
