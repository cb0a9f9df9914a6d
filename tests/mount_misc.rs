//! `/proc/diskstats`, `/proc/loadavg` (`-l`) and `/proc/pressure/*` (with and without
//! `--enable-psi-poll`) through the real daemon on this host's cgroups: v1 blkio and cpu, and
//! the nearly empty cgroup2 `unified` mount whose cgroups all carry PSI files. Needs root and
//! /dev/fuse.
//!
//! Nothing is left behind on failure: cgroups, mounts and the loop device have Drop guards,
//! and every busy loop runs inside its own pid namespace, whose processes the kernel kills when
//! the namespace's init (the test's shell) exits.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lxcfs_formats::cgroupfile::nested_keyed;
use lxcfs_formats::diskstats::{self, field};
use lxcfs_testkit::{Cgroup, Daemon};

fn unique(tag: &str) -> String {
    format!("/lxcfs-test-misc-{tag}-{}", std::process::id())
}

fn read_in(cg: &Cgroup, d: &Daemon, rel: &str) -> String {
    cg.sh(&format!("cat {}", d.path(rel).display()))
}

/// A loop device over a sparse file in /tmp, detached and deleted on drop.
struct LoopDev {
    dev: PathBuf,
    file: PathBuf,
}

impl LoopDev {
    fn new(mib: u64) -> LoopDev {
        let file = std::env::temp_dir().join(format!("lxcfs-test-io-{}.img", std::process::id()));
        std::fs::File::create(&file)
            .and_then(|f| f.set_len(mib << 20))
            .expect("backing file");
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(&file)
            .output()
            .expect("run losetup");
        if !out.status.success() {
            let _ = std::fs::remove_file(&file);
            panic!("losetup: {}", String::from_utf8_lossy(&out.stderr));
        }
        let dev = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        LoopDev { dev, file }
    }

    /// `(major, minor)` of the device.
    fn devno(&self) -> (u32, u32) {
        use std::os::unix::fs::MetadataExt;
        let rdev = std::fs::metadata(&self.dev)
            .expect("stat loop device")
            .rdev();
        let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
        let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
        (major as u32, minor as u32)
    }
}

impl Drop for LoopDev {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
        let _ = std::fs::remove_file(&self.file);
    }
}

#[test]
fn diskstats_counts_direct_writes_of_the_cgroup() {
    let d = Daemon::start(&[]);
    let lo = LoopDev::new(20);
    let (major, minor) = lo.devno();
    let cg = Cgroup::new(&unique("io"), &["blkio", "unified"]);
    // On this kernel (6.18) the v1 throttle counters only run for devices with a throttle
    // rule somewhere; an unreachable limit turns them on without slowing anything down.
    cg.set(
        "blkio",
        "blkio.throttle.write_bps_device",
        &format!("{major}:{minor} 1099511627776"),
    );
    // A cgroup with a rule on the device but no I/O: zero counters, so no line at all.
    let other = Cgroup::new(&unique("io-other"), &["blkio", "unified"]);
    other.set(
        "blkio",
        "blkio.throttle.write_bps_device",
        &format!("{major}:{minor} 1099511627776"),
    );
    let out = cg.sh(&format!(
        "dd if=/dev/zero of={} bs=1M count=16 oflag=direct status=none && cat {}",
        lo.dev.display(),
        d.path("proc/diskstats").display()
    ));
    let lines = diskstats::parse(&out);
    let line = lines
        .iter()
        .find(|l| (l.major, l.minor) == (major, minor))
        .unwrap_or_else(|| panic!("no {major}:{minor} line in:\n{out}"));
    assert_eq!(line.fields[field::SECTORS_WRITTEN], 32768, "{out}");
    assert!(line.fields[field::WRITES] >= 16, "{out}");
    assert_eq!(line.fields[field::SECTORS_READ], 0, "{out}");
    assert_eq!(
        Some(line.name.as_str()),
        lo.dev.file_name().and_then(|n| n.to_str())
    );
    let host = std::fs::read_to_string("/proc/diskstats").unwrap();
    assert_eq!(line.fields.len(), diskstats::field_count(&host));
    // Only devices the cgroup used are listed (vda etc. are not).
    assert!(
        lines.iter().all(|l| l.fields.iter().any(|&v| v > 0)),
        "{out}"
    );
    let theirs = read_in(&other, &d, "proc/diskstats");
    assert_eq!(theirs, "", "the other cgroup did no I/O");
    // Without any rule the kernel keeps no v1 counters for a cgroup: no data, the host's file
    // (which lists every disk of the host).
    let norule = Cgroup::new(&unique("io-norule"), &["blkio", "unified"]);
    let host_view = read_in(&norule, &d, "proc/diskstats");
    let host_names: Vec<String> = diskstats::parse(&host)
        .into_iter()
        .filter(|l| !l.name.starts_with("loop"))
        .map(|l| l.name)
        .collect();
    let names: Vec<String> = diskstats::parse(&host_view)
        .into_iter()
        .filter(|l| !l.name.starts_with("loop"))
        .map(|l| l.name)
        .collect();
    assert!(!names.is_empty(), "{host_view}");
    assert_eq!(
        names, host_names,
        "the host's disks (loop devices come and go):\n{host_view}"
    );
}

/// The 1-minute average of a loadavg line.
fn one_minute(line: &str) -> f64 {
    line.split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("bad loadavg {line:?}"))
}

/// Kills a process on drop.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0 as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

#[test]
fn loadavg_follows_busy_tasks_of_the_container_only() {
    let d = Daemon::start(&["-l"]);
    // The host's ticker samples as the daemon comes up and every 5 s after: start the busy
    // period 1.5 s before a tick so that its ~18 s span four periods (two active tasks give
    // 0.44 after three periods and 0.57 after four, kernel arithmetic).
    let mounted = Instant::now();
    let busy = Cgroup::new(&unique("busy"), &["cpu", "unified"]);
    let idle = Cgroup::new(&unique("idle"), &["cpu", "unified"]);
    let sleeper = idle.sh(": ; sleep 60 >/dev/null 2>&1 & echo $!");
    let _sleeper = KillOnDrop(sleeper.trim().parse().expect("sleeper pid"));
    let loadavg = d.path("proc/loadavg");
    let first_idle = read_in(&idle, &d, "proc/loadavg");
    assert!(first_idle.starts_with("0.00 0.00 0.00 "), "{first_idle}");
    std::thread::sleep(
        (mounted + Duration::from_millis(3500)).saturating_duration_since(Instant::now()),
    );
    let t0 = Instant::now();
    // pid 1 of the namespace is this shell; the loops die with it whatever happens. (The
    // leading `:` ends the test kit's `enter && ...` list before the first `&`.)
    let out = busy.sh_in_pidns(&format!(
        ": ; (while :; do :; done) & A=$!; (while :; do :; done) & B=$!; \
         cat {l}; sleep 17.5; cat {l}; \
         ls /proc | grep -E '^[0-9]+$' | sort -n | tail -1; kill $A $B",
        l = loadavg.display()
    ));
    let busy_secs = t0.elapsed();
    let last_idle = read_in(&idle, &d, "proc/loadavg");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("0.00 0.00 0.00 "), "first read: {out}");
    let fields: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(fields.len(), 5, "{out}");
    let avg1 = one_minute(lines[1]);
    assert!(avg1 > 0.5 && avg1 < 3.0, "1-minute average {avg1}: {out}");
    let (running, total) = fields[3].split_once('/').unwrap();
    let (running, total): (u32, u32) = (running.parse().unwrap(), total.parse().unwrap());
    assert!(running >= 2 && total >= 3 && running <= total, "{out}");
    let last: u32 = fields[4].parse().unwrap();
    let highest: u32 = lines[2].trim().parse().unwrap();
    assert!(
        last > 0 && last <= highest,
        "last pid {last} vs highest {highest} in the namespace"
    );
    // The idle container: a sleeping task only.
    assert!(one_minute(&last_idle) < 0.2, "idle: {last_idle}");
    let idle_total: u32 = last_idle
        .split_whitespace()
        .nth(3)
        .unwrap()
        .split('/')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(idle_total >= 1, "{last_idle}");
    println!(
        "loadavg: busy {busy_secs:?}: {} / idle {}",
        lines[1],
        last_idle.trim()
    );
}

/// The host pid of the init of the pid namespace made by `unshare --pid --fork` process
/// `unshare` (its only child), waiting up to 5 s for it.
fn child_of(unshare: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let children = std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children"))
            .unwrap_or_default();
        if let Some(pid) = children.split_whitespace().next() {
            return pid.parse().expect("child pid");
        }
        assert!(Instant::now() < deadline, "unshare {unshare} has no child");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The last field of `loadavg` read by a new process in the pid namespace of `init`.
fn last_pid_seen_from(init: u32, loadavg: &Path) -> u32 {
    let out = Command::new("nsenter")
        .arg("-t")
        .arg(init.to_string())
        .args(["-p", "cat"])
        .arg(loadavg)
        .output()
        .expect("nsenter");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "nsenter cat: {text}");
    text.split_whitespace()
        .nth(4)
        .and_then(|f| f.parse().ok())
        .unwrap_or_else(|| panic!("no last pid in {text:?}"))
}

/// Pid namespaces in one cgroup (sandboxes without cgroups of their own): each must read its
/// own numbering as loadavg's last pid, never another's, also when the tick's sample was taken
/// while another namespace, or one nested below it, had made the newest process. (The daemon used to show
/// namespace A the newest task at A's depth, here B's `sleep`, pid 63 as B numbers it.)
#[test]
fn loadavg_last_pid_is_never_a_sibling_namespaces() {
    let d = Daemon::start(&["-l"]);
    let cg = Cgroup::new(&unique("siblings"), &["cpu", "unified"]);
    let loadavg = d.path("proc/loadavg");
    let start = |script: &str| -> (KillOnDrop, u32) {
        let unshare: u32 = cg
            .sh(&format!(
                ": ; unshare --pid --fork --kill-child sh -c '{script}' >/dev/null 2>&1 & echo $!"
            ))
            .trim()
            .parse()
            .expect("unshare pid");
        (KillOnDrop(unshare), child_of(unshare))
    };
    // A: pid 1 (sh) and pid 2 (sleep).
    let (_a, a_init) = start("sleep 60; true");
    let first = last_pid_seen_from(a_init, &loadavg);
    assert!(first <= 3, "A's first read: last pid {first}");
    // B: `seq`, sixty short-lived processes, then a sleep that is pid 63 in B and the newest
    // task.
    // After a tick, A still reads one of its own pids, whatever `other` made.
    let a_after_a_tick = |other: &str| {
        std::thread::sleep(Duration::from_secs(6));
        let a = last_pid_seen_from(a_init, &loadavg);
        assert!(
            a <= 3,
            "namespace A read last pid {a}, a number of namespace {other}"
        );
    };
    let (_b, b_init) = start("for i in $(seq 60); do /bin/true; done; sleep 60; true");
    a_after_a_tick("B");
    let b = last_pid_seen_from(b_init, &loadavg);
    assert!(b >= 60, "namespace B read last pid {b}, not its own newest");
    // C nests a namespace at B's depth + 1: its `unshare` is pid 63 in C and the nested
    // sleep pid 64 (pid 1 of the nested namespace) and the newest task. A must not see 64;
    // C must (its own namespace, found by walking up from the nested one).
    let (_c, c_init) = start(
        "for i in $(seq 60); do /bin/true; done; unshare --pid --fork --kill-child sleep 60; true",
    );
    a_after_a_tick("C");
    let c = last_pid_seen_from(c_init, &loadavg);
    assert_eq!(c, 64, "namespace C: the nested sleep as C numbers it");
}

/// `(name, key list, total)` per line of a PSI text.
fn psi_lines(text: &str) -> Vec<(String, Vec<String>, u64)> {
    nested_keyed(text)
        .into_iter()
        .map(|l| {
            (
                l.name.to_string(),
                l.fields.iter().map(|(k, _)| k.to_string()).collect(),
                l.get_u64("total")
                    .unwrap_or_else(|| panic!("no total in {text:?}")),
            )
        })
        .collect()
}

#[test]
fn pressure_is_the_cgroup_file() {
    let d = Daemon::start(&[]);
    let cg = Cgroup::new(&unique("psi"), &["unified"]);
    let dir = cg.dir("unified").to_path_buf();
    for r in ["cpu", "io", "memory"] {
        let out = cg.sh(&format!(
            "cat {}; echo --; cat {}",
            d.path(&format!("proc/pressure/{r}")).display(),
            dir.join(format!("{r}.pressure")).display()
        ));
        let (ours, direct) = out.split_once("--\n").unwrap();
        let (ours, direct) = (psi_lines(ours), psi_lines(direct));
        assert!(!ours.is_empty(), "{out}");
        assert_eq!(ours.len(), direct.len(), "{r}: {out}");
        for (a, b) in ours.iter().zip(&direct) {
            assert_eq!((&a.0, &a.1), (&b.0, &b.1), "{r}: same lines and keys");
            assert!(a.2 <= b.2, "{r} {}: totals only grow: {out}", a.0);
        }
        let host = psi_lines(&std::fs::read_to_string(format!("/proc/pressure/{r}")).unwrap());
        assert!(
            ours[0].2 <= host[0].2,
            "{r}: a cgroup stalls no more than the host"
        );
        if r == "cpu" {
            assert!(ours[0].2 < host[0].2, "cpu: not the host's file: {out}");
        }
    }
}

/// Python run inside a fresh pid namespace in `cg`: arms a trigger through the mount, checks
/// the errors of a second and a malformed write, then waits for an event while four busy
/// loops (more than this host's CPUs) stall each other in the same cgroup.
const TRIGGER_PY: &str = r#"
import errno, os, select, subprocess, sys, time
p = sys.argv[1]
def err(f):
    try:
        f()
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]
fd = os.open(p, os.O_RDWR | os.O_NONBLOCK)
print("first", err(lambda: os.write(fd, b"some 150000 1000000")))
print("second", err(lambda: os.write(fd, b"some 150000 1000000")))
fd2 = os.open(p, os.O_RDWR | os.O_NONBLOCK)
print("malformed", err(lambda: os.write(fd2, b"sometimes 1 2")))
os.close(fd2)
kids = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(4)]
po = select.poll()
po.register(fd, select.POLLPRI)
t0 = time.time()
got = None
try:
    while time.time() - t0 < 15 and got is None:
        for _, ev in po.poll(500):
            if ev & select.POLLPRI:
                got = time.time() - t0
finally:
    for k in kids:
        k.kill()
        k.wait()
print("event", "none" if got is None else "%.2f" % got)
"#;

/// A Python script in a temporary file, removed on drop.
struct Script(PathBuf);

impl Script {
    fn new(tag: &str, text: &str) -> Script {
        let p = std::env::temp_dir().join(format!("lxcfs-test-{tag}-{}.py", std::process::id()));
        std::fs::write(&p, text).unwrap();
        Script(p)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn psi_trigger_raises_a_poll_event() {
    let d = Daemon::start(&["--enable-psi-poll"]);
    // Writable by everyone, as the kernel's (read-only without the flag: `mount.rs`).
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(d.path("proc/pressure/cpu"))
            .expect("stat pressure/cpu")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o666);
    let cg = Cgroup::new(&unique("psi-trigger"), &["unified"]);
    let script = Script::new("psi-trigger", TRIGGER_PY);
    let t0 = Instant::now();
    let out = cg.sh_in_pidns(&format!(
        "python3 {} {}",
        script.path().display(),
        d.path("proc/pressure/cpu").display()
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.get(..3),
        Some(&["first ok", "second EBUSY", "malformed EINVAL"][..]),
        "{out}"
    );
    let event = lines
        .get(3)
        .and_then(|l| l.strip_prefix("event "))
        .unwrap_or("none");
    assert_ne!(
        event,
        "none",
        "no PSI event within 15 s: {out}\nlog:\n{}",
        d.log_text()
    );
    let secs: f64 = event.parse().unwrap();
    assert!(secs < 15.0);
    println!("psi: event after {secs} s (test {:?})", t0.elapsed());
}

/// Without `--enable-psi-poll`: opening a pressure file or `online` for writing fails, and
/// poll(2) answers the kernel's default mask (readable, never `POLLPRI`) at once.
const PSI_OFF_PY: &str = r#"
import errno, os, select, sys
def err(f):
    try:
        f()
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]
print(err(lambda: os.open(sys.argv[1], os.O_RDWR)))
print(err(lambda: os.open(sys.argv[2], os.O_WRONLY)))
fd = os.open(sys.argv[1], os.O_RDONLY)
po = select.poll()
po.register(fd, select.POLLPRI | select.POLLIN)
ev = po.poll(2000)
print("timeout" if not ev else "%s %d" % (ev[0][1] & select.POLLIN != 0, ev[0][1] & (select.POLLPRI | select.POLLERR)))
"#;

#[test]
fn without_psi_poll_pressure_is_read_only_and_poll_is_plain() {
    let d = Daemon::start(&[]);
    let cg = Cgroup::new(&unique("psi-off"), &["unified"]);
    let script = Script::new("psi-off", PSI_OFF_PY);
    let out = cg.sh(&format!(
        "python3 {} {} {}",
        script.path().display(),
        d.path("proc/pressure/cpu").display(),
        d.path("sys/devices/system/cpu/online").display()
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, ["EACCES", "EACCES", "True 0"], "{out}");
    // Plain writes to /sys are refused for any caller.
    let e = std::fs::OpenOptions::new()
        .write(true)
        .open(d.path("sys/devices/system/cpu/online"))
        .unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EACCES));
}

#[test]
fn slabinfo_is_the_hosts_where_the_kernel_keeps_no_per_cgroup_listing() {
    let d = Daemon::start(&[]);
    let cg = Cgroup::new(&unique("slab"), &["memory"]);
    // Kernel 6.18 answers an empty memory.kmem.slabinfo; the host's listing is served.
    assert!(cg.dir("memory").join("memory.kmem.slabinfo").exists());
    assert_eq!(cg.get("memory", "memory.kmem.slabinfo"), "");
    let ours = read_in(&cg, &d, "proc/slabinfo");
    assert!(ours.starts_with("slabinfo - version: "), "{ours}");
    assert!(ours.lines().count() > 20, "{ours}");
    assert!(ours.lines().any(|l| l.starts_with("dentry ")), "{ours}");
}

#[test]
fn the_daemon_raises_its_open_file_limit_to_the_hard_limit() {
    // A systemd service starts with a soft limit of 1024 descriptors; the daemon keeps a
    // pidfd per container and per recent caller thread and up to 1024 PSI triggers, so it
    // raises the soft limit to the hard one. The daemon inherits this process's limits.
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    let soft = 256.min(hard / 2);
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard).unwrap();
    let d = Daemon::start(&[]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", d.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        (f[3], f[4]),
        (&*hard.to_string(), &*hard.to_string()),
        "{line}"
    );
}

/// Arms PSI triggers through the mount until one is refused (at most `argv[2]`), then reads
/// `proc/meminfo` through the mount; prints "armed N <errno>" and "meminfo <MemTotal line>".
const MANY_TRIGGERS_PY: &str = r#"
import errno, os, sys
p, most = sys.argv[1], int(sys.argv[2])
meminfo = os.path.join(os.path.dirname(os.path.dirname(p)), "meminfo")
fds, why = [], "none"
for _ in range(most):
    fd = os.open(p, os.O_RDWR | os.O_NONBLOCK)
    try:
        os.write(fd, b"some 150000 1000000")
        fds.append(fd)
    except OSError as e:
        why = errno.errorcode[e.errno]
        os.close(fd)
        break
print("armed", len(fds), why)
with open(meminfo) as f:
    print("meminfo", [l for l in f if l.startswith("MemTotal:")][0].strip())
"#;

/// Starts a daemon with `--enable-psi-poll` and a limit of `nofile` descriptors, and runs
/// [`MANY_TRIGGERS_PY`] with at most `most` triggers in a fresh container (200 MiB memory
/// limit); returns its output and the daemon's log.
fn arm_many_triggers(tag: &str, nofile: u64, most: usize) -> (String, String) {
    let d = Daemon::start_with_fd_limit(nofile, &["--enable-psi-poll"]);
    let cg = Cgroup::new(&unique(tag), &["unified", "memory"]);
    cg.set(
        "memory",
        "memory.limit_in_bytes",
        &(200u64 << 20).to_string(),
    );
    let script = Script::new(tag, MANY_TRIGGERS_PY);
    let out = cg.sh_in_pidns(&format!(
        "python3 {} {} {most}",
        script.path().display(),
        d.path("proc/pressure/cpu").display()
    ));
    (out, d.log_text())
}

#[test]
fn psi_triggers_leave_the_daemon_descriptors_to_serve() {
    // Under a limit of 320 descriptors the daemon arms at most 320/16 = 20 triggers (three
    // descriptors each); beyond, a trigger write fails with EMFILE and reads keep working.
    let (out, log) = arm_many_triggers("psi-fds", 320, 200);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"armed 20 EMFILE"), "{out}");
    assert!(
        log.contains("the daemon has 20 PSI triggers armed, the most it allows"),
        "the log says why: {log}"
    );
    assert_eq!(
        lines.get(1),
        Some(&"meminfo MemTotal:         204800 kB"),
        "{out}"
    );
}

#[test]
fn one_cgroup_arms_at_most_its_share_of_psi_triggers() {
    // With room for 4096/16 = 256 triggers in the daemon, one container still gets at most
    // 64, so that it cannot take every other container's PSI monitoring away.
    let (out, log) = arm_many_triggers("psi-share", 4096, 100);
    assert_eq!(out.lines().next(), Some("armed 64 EMFILE"), "{out}");
    assert!(
        log.contains("has 64 PSI triggers armed, the most one cgroup may have"),
        "the log says why: {log}"
    );
}
