//! The cgroup v2 guest stage: lxcfs on a pure cgroup v2 kernel.
//!
//! The development and CI machines are cgroup v1/hybrid hosts, so pure cgroup v2 is proven in a
//! guest: the pinned Debian 12 kernel (`tests/guest/kernel-version`, fetched by
//! `tests/guest/prepare.sh`) boots in qemu (TCG unless KVM really works) with a busybox
//! initramfs that holds the freshly built `lxcfs` and `liblxcfs.so` and the check scripts of
//! `tests/guest/checks/`. The guest is booted once; every check script reports one
//! `LXCFS-GUEST-RESULT <name> PASS|FAIL <reason>` line on the serial console, and each becomes
//! its own trial here (`guest::<name>`), as does each daemon start/stop cycle
//! (`guest::v2_lifecycle_<group>`) and the boot itself (`guest::boot`).
//!
//! Binaries: `cargo build --release -p lxcfs-host -p liblxcfs` is run first, unless `LXCFS_BIN`
//! (and optionally `LIBLXCFS_SO`) name prebuilt ones. Needs root (the initramfs holds a device
//! node) and the packages and kernel that `prepare.sh` installs; without them every trial fails,
//! unless `LXCFS_SKIP_GUEST=1`, which skips the stage loudly (trials are reported as ignored).
//! The console is kept in `<target dir>/lxcfs-guest/console.log`. A boot whose kernel locked up
//! (a CPU stuck in the kernel, see `tests/guest/README.md`) is kept as `console-lockup.log`
//! and replaced by one more boot.

use std::collections::BTreeMap;
use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use libtest_mimic::{Arguments, Failed, Trial};

/// Prefix of a result line on the guest console.
const RESULT_MARK: &str = "LXCFS-GUEST-RESULT ";
/// Printed by the guest's `/init` once every group has run.
const DONE_MARK: &str = "LXCFS-GUEST-DONE";
/// Hard limit for the guest, in seconds (a normal TCG run takes well under a minute).
const GUEST_TIMEOUT_SECS: u32 = 300;
/// Console lines quoted in a failure that has no check output of its own.
const CONSOLE_TAIL_LINES: usize = 60;

/// One expected result line: a check script or a daemon lifecycle of a group.
#[derive(Debug, Clone)]
struct Check {
    /// Name printed by the guest (`v2_meminfo_limit`).
    name: String,
    /// The group (daemon flag set) the check runs in (`plain`).
    group: String,
}

/// What the guest reported for one check.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// `LXCFS-GUEST-RESULT <name> PASS`.
    Pass,
    /// `LXCFS-GUEST-RESULT <name> FAIL <reason>`.
    Fail(String),
}

/// Everything one boot of the guest produced.
#[derive(Debug, Default)]
struct GuestRun {
    /// Why the guest could not be built or booted at all.
    error: Option<String>,
    /// The whole serial console (and qemu's stderr).
    console: String,
    /// Where the console was saved.
    console_path: Option<PathBuf>,
    /// Result lines by check name (the last one wins).
    results: BTreeMap<String, Outcome>,
    /// Output of checks (printed by the guest for failed checks), by check name.
    outputs: BTreeMap<String, String>,
    /// lxcfs's stderr, by group (printed by the guest when a group had a failure).
    daemon_logs: BTreeMap<String, String>,
    /// Kernel warnings and errors logged while the checks ran.
    kernel_log: Option<String>,
    /// Whether the guest printed its final marker.
    done: bool,
    /// How qemu (through `run.sh`) ended.
    qemu_status: Option<String>,
    /// The kernel lockup of an earlier boot that this boot replaced.
    earlier_lockup: Option<String>,
}

/// The single guest boot shared by all trials.
static GUEST: OnceLock<GuestRun> = OnceLock::new();

fn main() {
    let args = Arguments::from_args();
    let guest_dir = guest_dir();
    let checks = Arc::new(expected_checks(&guest_dir.join("checks")));
    let skip = env::var("LXCFS_SKIP_GUEST").is_ok_and(|v| v == "1");
    if skip {
        warn_skipped(&missing_prerequisites(&guest_dir));
    }

    let mut trials = Vec::with_capacity(checks.len() + 2);
    trials.push(Trial::test(
        "guest::console_parser",
        console_parser_self_test,
    ));
    {
        let checks = Arc::clone(&checks);
        trials.push(
            Trial::test("guest::boot", move || boot_outcome(guest(&checks), &checks))
                .with_ignored_flag(skip),
        );
    }
    for check in checks.iter() {
        let all = Arc::clone(&checks);
        let check = check.clone();
        trials.push(
            Trial::test(format!("guest::{}", check.name), move || {
                check_outcome(guest(&all), &check)
            })
            .with_ignored_flag(skip),
        );
    }
    libtest_mimic::run(&args, trials).exit();
}

/// The guest run, booting it on first use (other trials wait for it).
fn guest(checks: &[Check]) -> &'static GuestRun {
    GUEST.get_or_init(|| boot_guest(checks))
}

/// `tests/guest`.
fn guest_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("guest")
}

/// The checks the guest must report: every `checks/NN-GROUP/NAME.sh` plus
/// `v2_lifecycle_GROUP` for each group, in the order the guest runs them.
fn expected_checks(checks_dir: &Path) -> Vec<Check> {
    let mut groups: Vec<PathBuf> = fs::read_dir(checks_dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", checks_dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_dir())
        .collect();
    groups.sort();
    let mut checks = Vec::new();
    for dir in groups {
        let dir_name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let group = dir_name.trim_start_matches(|c: char| c.is_ascii_digit());
        let group = group.strip_prefix('-').unwrap_or(group).to_owned();
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .filter_map(|entry| entry.ok())
            .filter_map(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".sh").map(str::to_owned)
            })
            .collect();
        names.sort();
        for name in names {
            checks.push(Check {
                name,
                group: group.clone(),
            });
        }
        checks.push(Check {
            name: format!("v2_lifecycle_{group}"),
            group,
        });
    }
    checks
}

/// What is missing to run the guest here (empty when it can run).
fn missing_prerequisites(guest_dir: &Path) -> Vec<String> {
    let mut missing = Vec::new();
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        missing.push("root (the initramfs is built with a device node)".to_owned());
    }
    for tool in ["qemu-system-x86_64", "busybox", "cpio", "gzip", "timeout"] {
        if find_in_path(tool).is_none() {
            missing.push(format!("`{tool}` on PATH"));
        }
    }
    match fs::read_to_string(guest_dir.join("kernel-version")) {
        Ok(version) => {
            let cache = env::var_os("LXCFS_GUEST_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/var/cache/lxcfs-guest"));
            let entry = cache.join(version.trim());
            if !entry.join("complete").is_file() {
                missing.push(format!("the prepared kernel in {}", entry.display()));
            }
        }
        Err(e) => missing.push(format!("tests/guest/kernel-version ({e})")),
    }
    missing
}

/// The first `name` among the directories of `$PATH`.
fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Tell, impossible to miss, that the guest stage is skipped.
fn warn_skipped(missing: &[String]) {
    let bar = "!".repeat(78);
    eprintln!("{bar}");
    eprintln!("!!! LXCFS_SKIP_GUEST=1: the cgroup v2 guest stage is SKIPPED.");
    eprintln!("!!! Nothing below proves that lxcfs works on a pure cgroup v2 host.");
    if missing.is_empty() {
        eprintln!("!!! (The guest could have run here: unset LXCFS_SKIP_GUEST to run it.)");
    } else {
        eprintln!("!!! Also missing here: {}.", missing.join(", "));
        eprintln!("!!! Run `sudo bash tests/guest/prepare.sh` to install them.");
    }
    eprintln!("{bar}");
}

/// Build the binaries and the initramfs, boot the guest once and parse its console.
fn boot_guest(checks: &[Check]) -> GuestRun {
    let guest_dir = guest_dir();
    let missing = missing_prerequisites(&guest_dir);
    if !missing.is_empty() {
        return GuestRun::failed(format!(
            "the guest cannot run here: missing {}. Run `sudo bash tests/guest/prepare.sh`, or \
             set LXCFS_SKIP_GUEST=1 to skip the cgroup v2 guest stage.",
            missing.join(", ")
        ));
    }
    let started = Instant::now();
    let (lxcfs, liblxcfs, work_dir) = match binaries() {
        Ok(found) => found,
        Err(e) => return GuestRun::failed(e),
    };
    if let Err(e) = fs::create_dir_all(&work_dir) {
        return GuestRun::failed(format!("cannot create {}: {e}", work_dir.display()));
    }
    let initramfs = work_dir.join(format!("initramfs-{}.gz", std::process::id()));
    let built = Command::new("sh")
        .arg(guest_dir.join("build-initramfs.sh"))
        .arg("--lxcfs")
        .arg(&lxcfs)
        .arg("--liblxcfs")
        .arg(&liblxcfs)
        .arg("--out")
        .arg(&initramfs)
        .stdin(Stdio::null())
        .output();
    match built {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            return GuestRun::failed(format!(
                "build-initramfs.sh failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
        Err(e) => return GuestRun::failed(format!("cannot run build-initramfs.sh: {e}")),
    }
    let built_at = started.elapsed();

    let mut run = boot_once(&guest_dir, &initramfs, &work_dir.join("console.log"));
    if let Some(lockup) = run.kernel_lockup().map(str::to_owned) {
        // A CPU stuck in the guest kernel is a fault of the emulated machine or its kernel (a
        // program cannot make a correct kernel spin); it was seen in one CI run (both TCG
        // vCPUs stuck) and never in dozens of boots by hand. The first boot's console is kept
        // and its lockup printed; the checks are judged by a second boot, and a second lockup
        // fails them.
        let kept = work_dir.join("console-lockup.log");
        let _ = fs::rename(work_dir.join("console.log"), &kept);
        eprintln!(
            "guest: WARNING: the guest kernel locked up ({lockup}); its console is in {}. \
             Booting the guest a second time.",
            kept.display()
        );
        run = boot_once(&guest_dir, &initramfs, &work_dir.join("console.log"));
        run.earlier_lockup = Some(format!("{lockup} (console in {})", kept.display()));
    }
    let _ = fs::remove_file(&initramfs);
    eprintln!(
        "guest: binaries and initramfs ready in {:.1} s, guest ran {:.1} s; {} of {} results, {} \
         passed",
        built_at.as_secs_f64(),
        (started.elapsed() - built_at).as_secs_f64(),
        run.results.len(),
        checks.len(),
        run.results
            .values()
            .filter(|o| **o == Outcome::Pass)
            .count()
    );
    run
}

/// Boot the guest once from `initramfs`, keeping its console in `console_path`.
fn boot_once(guest_dir: &Path, initramfs: &Path, console_path: &Path) -> GuestRun {
    let ran = fs::File::create(console_path).and_then(|file| {
        let stderr = file.try_clone()?;
        Command::new("sh")
            .arg(guest_dir.join("run.sh"))
            .arg(initramfs)
            .env("LXCFS_GUEST_TIMEOUT", GUEST_TIMEOUT_SECS.to_string())
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(stderr)
            .status()
    });
    let status = match ran {
        Ok(status) => status,
        Err(e) => return GuestRun::failed(format!("cannot run run.sh: {e}")),
    };
    let bytes = fs::read(console_path).unwrap_or_default();
    let mut run = parse_console(&String::from_utf8_lossy(&bytes));
    run.console_path = Some(console_path.to_owned());
    run.qemu_status = Some(match status.code() {
        Some(124) => format!("killed after the {GUEST_TIMEOUT_SECS} s limit"),
        _ => status.to_string(),
    });
    run
}

/// The daemon and library to put in the guest, and the directory for the guest's files.
fn binaries() -> Result<(PathBuf, PathBuf, PathBuf), String> {
    let work_dir = lxcfs_testkit::target_dir().join("lxcfs-guest");
    if let Some(lxcfs) = env::var_os("LXCFS_BIN") {
        let lxcfs = PathBuf::from(lxcfs);
        let liblxcfs = env::var_os("LIBLXCFS_SO")
            .map(PathBuf::from)
            .unwrap_or_else(|| lxcfs.with_file_name("liblxcfs.so"));
        return Ok((lxcfs, liblxcfs, work_dir));
    }
    let started = Instant::now();
    let out = Command::new(env!("CARGO"))
        .args(["build", "--release", "-p", "lxcfs-host", "-p", "liblxcfs"])
        .current_dir(lxcfs_testkit::workspace_root())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run cargo build: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo build --release -p lxcfs-host -p liblxcfs failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    eprintln!(
        "guest: release build took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let release = lxcfs_testkit::target_dir().join("release");
    Ok((release.join("lxcfs"), release.join("liblxcfs.so"), work_dir))
}

impl GuestRun {
    /// A run that never got to boot the guest.
    fn failed(error: String) -> Self {
        GuestRun {
            error: Some(error),
            ..GuestRun::default()
        }
    }

    /// The first line that tells of a CPU stuck in the guest kernel (`run.sh` makes the kernel
    /// panic on it, and the panic replays the kernel log with every CPU's stack).
    fn kernel_lockup(&self) -> Option<&str> {
        self.console
            .lines()
            .find(|l| l.contains("BUG: soft lockup"))
            .map(str::trim)
    }

    /// The last `n` lines of the console.
    fn console_tail(&self, n: usize) -> String {
        let lines: Vec<&str> = self.console.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Where to find the whole console, for messages.
    fn console_hint(&self) -> String {
        match &self.console_path {
            Some(path) => format!("the whole guest console is in {}", path.display()),
            None => "no guest console".to_owned(),
        }
    }
}

/// Parse the serial console: result lines, check outputs and daemon logs between their markers.
fn parse_console(console: &str) -> GuestRun {
    let mut run = GuestRun::default();
    // A section being collected: (kind, key, lines).
    let mut section: Option<(Section, String, Vec<String>)> = None;
    for raw in console.lines() {
        let line = raw.trim_end_matches('\r');
        let mut cleaned = line.to_owned();
        run.console.push_str(line);
        run.console.push('\n');
        // Result and marker lines may be preceded by terminal escapes or kernel output.
        for mark in [
            RESULT_MARK,
            "LXCFS-GUEST-CHECK-OUTPUT-",
            "LXCFS-GUEST-DAEMON-LOG-",
            "LXCFS-GUEST-KERNEL-LOG-",
            DONE_MARK,
        ] {
            if let Some(at) = line.find(mark) {
                cleaned = line[at..].to_owned();
                break;
            }
        }
        if let Some((kind, key, mut lines)) = section.take() {
            if cleaned.strip_prefix(kind.end_mark()).map(str::trim) == Some(key.as_str()) {
                run.store(kind, key, lines.join("\n"));
            } else {
                lines.push(line.to_owned());
                section = Some((kind, key, lines));
            }
            continue;
        }
        if let Some(rest) = cleaned.strip_prefix(RESULT_MARK) {
            let (name, verdict) = rest.split_once(' ').unwrap_or((rest, ""));
            let outcome = match verdict.trim() {
                "PASS" => Outcome::Pass,
                v => Outcome::Fail(v.strip_prefix("FAIL").unwrap_or(v).trim().to_owned()),
            };
            run.results.insert(name.to_owned(), outcome);
        } else if let Some(key) = cleaned.strip_prefix("LXCFS-GUEST-CHECK-OUTPUT-BEGIN ") {
            section = Some((Section::CheckOutput, key.trim().to_owned(), Vec::new()));
        } else if let Some(key) = cleaned.strip_prefix("LXCFS-GUEST-DAEMON-LOG-BEGIN ") {
            section = Some((Section::DaemonLog, key.trim().to_owned(), Vec::new()));
        } else if cleaned.starts_with("LXCFS-GUEST-KERNEL-LOG-BEGIN") {
            section = Some((Section::KernelLog, String::new(), Vec::new()));
        } else if cleaned.starts_with(DONE_MARK) {
            run.done = true;
        }
    }
    // A section cut off by the end of the console is still worth showing.
    if let Some((kind, key, lines)) = section {
        run.store(kind, key, lines.join("\n") + "\n[console ended here]");
    }
    run
}

/// A multi-line section of the console between BEGIN and END marker lines.
#[derive(Debug, Clone, Copy)]
enum Section {
    /// The output of a check, keyed by check name.
    CheckOutput,
    /// lxcfs's stderr, keyed by group.
    DaemonLog,
    /// Kernel warnings and errors (no key).
    KernelLog,
}

impl Section {
    /// The marker line that ends the section (followed by its key, if any).
    fn end_mark(self) -> &'static str {
        match self {
            Section::CheckOutput => "LXCFS-GUEST-CHECK-OUTPUT-END",
            Section::DaemonLog => "LXCFS-GUEST-DAEMON-LOG-END",
            Section::KernelLog => "LXCFS-GUEST-KERNEL-LOG-END",
        }
    }
}

impl GuestRun {
    /// Keep the text of a finished section.
    fn store(&mut self, kind: Section, key: String, text: String) {
        match kind {
            Section::CheckOutput => {
                self.outputs.insert(key, text);
            }
            Section::DaemonLog => {
                self.daemon_logs.insert(key, text);
            }
            Section::KernelLog => self.kernel_log = Some(text),
        }
    }
}

/// `guest::boot`: the guest was built, booted, ran every group and reported only known checks.
fn boot_outcome(run: &GuestRun, checks: &[Check]) -> Result<(), Failed> {
    if let Some(error) = &run.error {
        return Err(error.clone().into());
    }
    let mut problems = Vec::new();
    if !run.done {
        problems.push(format!(
            "the guest did not finish (no {DONE_MARK} line; qemu: {})",
            run.qemu_status.as_deref().unwrap_or("?")
        ));
    }
    if let Some(lockup) = run.kernel_lockup() {
        problems.push(format!("the guest kernel locked up: {lockup}"));
        if let Some(earlier) = &run.earlier_lockup {
            problems.push(format!("and so did the boot before: {earlier}"));
        }
    }
    let unexpected: Vec<&str> = run
        .results
        .keys()
        .filter(|name| !checks.iter().any(|c| &c.name == *name))
        .map(String::as_str)
        .collect();
    if !unexpected.is_empty() {
        problems.push(format!(
            "results for unknown checks: {}",
            unexpected.join(", ")
        ));
    }
    if let Some(setup) = run
        .console
        .lines()
        .find(|l| l.contains("LXCFS-GUEST-SETUP-ERROR"))
    {
        problems.push(format!("guest setup failed: {}", setup.trim()));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{}\n--- guest console ({}) ---\n{}",
        problems.join("\n"),
        run.console_hint(),
        run.console
    )
    .into())
}

/// `guest::<check>`: the check's result line says PASS.
fn check_outcome(run: &GuestRun, check: &Check) -> Result<(), Failed> {
    if let Some(error) = &run.error {
        return Err(error.clone().into());
    }
    let reason = match run.results.get(&check.name) {
        Some(Outcome::Pass) => return Ok(()),
        Some(Outcome::Fail(reason)) => reason.clone(),
        None => format!(
            "the guest printed no result for {} (guest finished: {}; qemu: {}{})",
            check.name,
            if run.done { "yes" } else { "no" },
            run.qemu_status.as_deref().unwrap_or("?"),
            run.kernel_lockup()
                .map(|l| format!("; the guest kernel locked up: {l}"))
                .unwrap_or_default()
        ),
    };
    let mut message = reason;
    match run.outputs.get(&check.name) {
        Some(output) => {
            message.push_str("\n--- check output (guest console) ---\n");
            message.push_str(output);
        }
        None => {
            message.push_str(&format!(
                "\n--- last {CONSOLE_TAIL_LINES} lines of the guest console ---\n"
            ));
            message.push_str(&run.console_tail(CONSOLE_TAIL_LINES));
        }
    }
    match run.daemon_logs.get(&check.group) {
        Some(log) => {
            message.push_str(&format!("\n--- lxcfs log (group {}) ---\n", check.group));
            message.push_str(log);
        }
        None => message.push_str(&format!("\n--- no lxcfs log for group {} ---", check.group)),
    }
    if let Some(kernel_log) = &run.kernel_log {
        message.push_str("\n--- kernel warnings while the checks ran ---\n");
        message.push_str(kernel_log);
    }
    message.push_str(&format!("\n--- {} ---", run.console_hint()));
    Err(message.into())
}

/// `guest::console_parser`: the console parser copes with terminal escapes, carriage returns,
/// sections and unterminated output (needs no guest).
fn console_parser_self_test() -> Result<(), Failed> {
    let console = "\x1bc\x1b[?7lSeaBIOS\r\n\
        LXCFS-GUEST-INFO group plain: lxcfs\r\n\
        \x1b[2JLXCFS-GUEST-RESULT v2_a PASS\r\n\
        LXCFS-GUEST-RESULT v2_b FAIL MemTotal: expected '1', got '2'\r\n\
        LXCFS-GUEST-CHECK-OUTPUT-BEGIN v2_b\r\n\
        --- meminfo:\r\n\
        MemTotal: 2 kB\r\n\
        LXCFS-GUEST-CHECK-OUTPUT-END v2_b\r\n\
        LXCFS-GUEST-DAEMON-LOG-BEGIN plain\r\n\
        INFO mounted\r\n\
        LXCFS-GUEST-DAEMON-LOG-END plain\r\n\
        LXCFS-GUEST-KERNEL-LOG-BEGIN\r\n\
        <3>[ 9.0] oom\r\n\
        LXCFS-GUEST-KERNEL-LOG-END\r\n\
        LXCFS-GUEST-DONE\r\n\
        LXCFS-GUEST-CHECK-OUTPUT-BEGIN v2_c\r\n\
        half";
    let run = parse_console(console);
    let expect = |ok: bool, what: &str| if ok { Ok(()) } else { Err(Failed::from(what)) };
    expect(run.results.get("v2_a") == Some(&Outcome::Pass), "v2_a PASS")?;
    expect(
        run.results.get("v2_b") == Some(&Outcome::Fail("MemTotal: expected '1', got '2'".into())),
        "v2_b FAIL with its reason",
    )?;
    expect(run.results.len() == 2, "two results")?;
    expect(
        run.outputs.get("v2_b").map(String::as_str) == Some("--- meminfo:\nMemTotal: 2 kB"),
        "v2_b output",
    )?;
    expect(
        run.daemon_logs.get("plain").map(String::as_str) == Some("INFO mounted"),
        "daemon log of group plain",
    )?;
    expect(
        run.kernel_log.as_deref() == Some("<3>[ 9.0] oom"),
        "kernel log",
    )?;
    expect(run.done, "done marker")?;
    expect(
        run.outputs
            .get("v2_c")
            .is_some_and(|o| o.starts_with("half\n[console ended")),
        "unterminated output kept",
    )?;
    expect(
        run.kernel_lockup().is_none(),
        "no lockup in a normal console",
    )?;
    let locked = parse_console(
        "LXCFS-GUEST-INFO group cfs_loadavg: lxcfs --enable-cfs -l\r\n\
         [   40.641752] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [init:1]\r\n\
         [   40.650000] Kernel panic - not syncing: softlockup: hung tasks\r\n",
    );
    expect(
        locked.kernel_lockup()
            == Some("[   40.641752] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [init:1]"),
        "a soft lockup found",
    )?;
    Ok(())
}
