//! Test kit for lxcfs's integration tests.
//!
//! * [`binaries`] builds `lxcfs` and `liblxcfs.so` once per test process (the test profile's
//!   target dir) and returns their paths;
//! * [`Daemon`] runs `lxcfs` on a fresh temporary mount point with its own pid file and
//!   unmounts, kills and cleans up on drop, also when a test fails;
//! * [`Cgroup`] creates a cgroup in the host's v1 hierarchies (or the unified one), sets
//!   limits, moves processes, and removes everything on drop;
//! * [`Fixture`] loads a fixture tree under `tests/fixtures/` and reads files through the
//!   library exactly as the daemon would, without root or FUSE.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The target directory cargo builds into.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Paths of the built daemon and library.
#[derive(Clone, Debug)]
pub struct Binaries {
    /// `lxcfs`
    pub lxcfs: PathBuf,
    /// `liblxcfs.so`
    pub lib: PathBuf,
}

/// Builds `lxcfs` and `liblxcfs.so` (debug profile) once per process.
pub fn binaries() -> Binaries {
    static B: OnceLock<Binaries> = OnceLock::new();
    B.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "lxcfs-host", "-p", "liblxcfs"])
            .current_dir(workspace_root())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build of lxcfs failed");
        let dir = target_dir().join("debug");
        Binaries {
            lxcfs: dir.join("lxcfs"),
            lib: dir.join("liblxcfs.so"),
        }
    })
    .clone()
}

/// A unique scratch directory, removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

/// A shell script (in its own temporary directory, removed on drop) that starts the daemon
/// binary `lxcfs` with extra environment variables and through a prefix command, passing its
/// arguments on: the test kit starts daemons with the test process's environment, which
/// other tests share. `exec` keeps the daemon's pid the script's.
#[derive(Debug)]
pub struct Wrapper {
    _dir: TempDir,
    /// The script.
    pub path: PathBuf,
}

impl Wrapper {
    /// `export K='V'` for each of `env`, then `exec <prefix...> '<lxcfs>' "$@"`.
    pub fn new(lxcfs: &Path, env: &[(&str, &str)], prefix: &[&str]) -> Wrapper {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::new("lxcfs-wrapper");
        let path = dir.path().join("lxcfs");
        let mut script = String::from("#!/bin/sh\n");
        for (k, v) in env {
            script.push_str(&format!("export {k}='{v}'\n"));
        }
        script.push_str("exec ");
        for p in prefix {
            script.push_str(&format!("'{p}' "));
        }
        script.push_str(&format!("'{}' \"$@\"\n", lxcfs.display()));
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Wrapper { _dir: dir, path }
    }
}

impl TempDir {
    /// Creates `/tmp/lxcfs-test-<tag>-<pid>-<n>`.
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("lxcfs-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether `path` is a mount point listed in `/proc/self/mountinfo`.
pub fn is_mounted(path: &Path) -> bool {
    let p = path.to_string_lossy();
    mounts().iter().any(|m| m.mount_point == p)
}

/// A running `lxcfs` on a temporary mount point.
#[derive(Debug)]
pub struct Daemon {
    child: Option<Child>,
    /// The temporary directory holding `mnt/`, `lxcfs.pid`, `lxcfs.log` and `run/`.
    pub dir: TempDir,
    /// Mount point.
    pub mnt: PathBuf,
    /// Pid file.
    pub pidfile: PathBuf,
    /// Log file (the daemon's stderr).
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `lxcfs <args> -p <pidfile> --runtime-dir <dir>/run <mnt>` with the built library
    /// and waits until the mount serves `proc/meminfo`.
    ///
    /// # Panics
    /// When the daemon does not come up within 10 s (the log is included).
    pub fn start(args: &[&str]) -> Daemon {
        let b = binaries();
        Self::start_with(&b.lxcfs, &b.lib, args)
    }

    /// As [`Daemon::start`] with explicit binary and library paths.
    pub fn start_with(lxcfs: &Path, lib: &Path, args: &[&str]) -> Daemon {
        let dir = TempDir::new("daemon");
        let mnt = dir.path().join("mnt");
        let run = dir.path().join("run");
        std::fs::create_dir_all(&mnt).unwrap();
        std::fs::create_dir_all(&run).unwrap();
        let pidfile = dir.path().join("lxcfs.pid");
        let log = dir.path().join("lxcfs.log");
        let logf = std::fs::File::create(&log).unwrap();
        let child = Command::new(lxcfs)
            .args(args)
            .arg("--library")
            .arg(lib)
            .arg("-p")
            .arg(&pidfile)
            .arg("--runtime-dir")
            .arg(&run)
            .arg(&mnt)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(logf.try_clone().unwrap())
            .stderr(logf)
            .spawn()
            .expect("spawn lxcfs");
        let mut d = Daemon {
            child: Some(child),
            dir,
            mnt,
            pidfile,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(is_mounted(&d.mnt) && d.mnt.join("proc/meminfo").exists()) {
            if let Some(c) = d.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    panic!("lxcfs exited early ({st}); log:\n{}", d.log_text());
                }
            }
            assert!(
                Instant::now() < deadline,
                "lxcfs did not mount; log:\n{}",
                d.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    /// As [`Daemon::start`], with the daemon's open-descriptor limit (soft and hard) set to
    /// `nofile` (through `prlimit`, which execs the daemon: the pid stays the daemon's).
    pub fn start_with_fd_limit(nofile: u64, args: &[&str]) -> Daemon {
        let b = binaries();
        let limit = format!("--nofile={nofile}:{nofile}");
        let wrapper = Wrapper::new(&b.lxcfs, &[], &["prlimit", &limit]);
        // The wrapper is needed only until it has exec'd, which is before the mount serves.
        Self::start_with(&wrapper.path, &b.lib, args)
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// A path inside the mount (`proc/meminfo`).
    pub fn path(&self, rel: &str) -> PathBuf {
        self.mnt.join(rel)
    }

    /// Reads a file through the mount.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel))
            .unwrap_or_else(|e| panic!("read {rel}: {e}; log:\n{}", self.log_text()))
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `sig` to the daemon.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid() as i32), sig);
    }

    /// Waits until the log contains `needle` (or panics after `timeout`).
    pub fn wait_log(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.log_text().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "log never showed {needle:?}:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the daemon with SIGTERM and returns its exit status (`None` if it had to be
    /// killed).
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return Some(st);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
        if is_mounted(&self.mnt) {
            let _ = nix::mount::umount2(&self.mnt, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// A cgroup created for a test in one or more hierarchies, removed on drop (processes still
/// in it are moved to the root first, child cgroups removed before parents).
#[derive(Debug)]
pub struct Cgroup {
    /// Absolute directories, one per hierarchy.
    pub dirs: Vec<PathBuf>,
    /// The cgroup path (`/lxcfs-test-…/child`).
    pub path: String,
}

/// The v1 mount point of `controller` on this host (`/sys/fs/cgroup/memory`).
pub fn v1_mount(controller: &str) -> Option<PathBuf> {
    mounts().into_iter().find_map(|m| {
        (m.fstype == "cgroup" && m.super_option_list().any(|o| o == controller))
            .then(|| PathBuf::from(m.mount_point))
    })
}

/// The unified (cgroup2) mount point, if any.
pub fn unified_mount() -> Option<PathBuf> {
    mounts()
        .into_iter()
        .find_map(|m| (m.fstype == "cgroup2").then(|| PathBuf::from(m.mount_point)))
}

/// The mounts of this mount namespace (`/proc/self/mountinfo`, parsed by the same parser the
/// library uses).
pub fn mounts() -> Vec<lxcfs_formats::mountinfo::Mount> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|t| lxcfs_formats::mountinfo::parse(&t))
        .unwrap_or_default()
}

impl Cgroup {
    /// Creates `path` (e.g. `/lxcfs-test-meminfo-<pid>`) in the v1 hierarchies of
    /// `controllers` (`"unified"` names the cgroup2 hierarchy). For cpuset, `cpuset.cpus` and
    /// `cpuset.mems` are initialized from the parent so tasks can join.
    ///
    /// # Panics
    /// When a controller is not mounted or the directory cannot be created.
    pub fn new(path: &str, controllers: &[&str]) -> Cgroup {
        let mut dirs = Vec::new();
        for c in controllers {
            let root = if *c == "unified" {
                unified_mount().expect("cgroup2 mounted")
            } else {
                v1_mount(c).unwrap_or_else(|| panic!("v1 controller {c} not mounted"))
            };
            let mut cur = root.clone();
            for comp in path.trim_matches('/').split('/') {
                let parent = cur.clone();
                cur = cur.join(comp);
                if !cur.exists() {
                    std::fs::create_dir(&cur).unwrap_or_else(|e| panic!("mkdir {cur:?}: {e}"));
                    if *c == "cpuset" {
                        for f in ["cpuset.cpus", "cpuset.mems"] {
                            let v = std::fs::read_to_string(parent.join(f)).unwrap_or_default();
                            let _ = std::fs::write(cur.join(f), v.trim());
                        }
                    }
                }
            }
            dirs.push(cur);
        }
        Cgroup {
            dirs,
            path: path.to_string(),
        }
    }

    /// The directory in the hierarchy whose path contains `controller`'s mount.
    pub fn dir(&self, controller: &str) -> &Path {
        let root = if controller == "unified" {
            unified_mount()
        } else {
            v1_mount(controller)
        };
        let root = root.unwrap_or_else(|| panic!("{controller} not mounted"));
        self.dirs
            .iter()
            .find(|d| d.starts_with(&root))
            .expect("cgroup has that controller")
    }

    /// Writes `value` to `file` in the hierarchy of `controller`.
    ///
    /// # Panics
    /// When the write fails.
    pub fn set(&self, controller: &str, file: &str, value: &str) {
        let p = self.dir(controller).join(file);
        std::fs::write(&p, value).unwrap_or_else(|e| panic!("write {value:?} to {p:?}: {e}"));
    }

    /// Reads `file` in the hierarchy of `controller`.
    pub fn get(&self, controller: &str, file: &str) -> String {
        std::fs::read_to_string(self.dir(controller).join(file)).unwrap_or_default()
    }

    /// A shell snippet that moves the current shell (`$$`) into this cgroup everywhere.
    pub fn enter_script(&self) -> String {
        self.dirs
            .iter()
            .map(|d| format!("echo $$ > {}/cgroup.procs", d.display()))
            .collect::<Vec<_>>()
            .join(" && ")
    }

    /// Runs `script` with `sh -c` inside this cgroup and returns its stdout (panics with
    /// stderr on failure).
    pub fn sh(&self, script: &str) -> String {
        let full = format!("{} && {{\n{script}\n}}", self.enter_script());
        let out = Command::new("sh")
            .arg("-c")
            .arg(&full)
            .output()
            .expect("spawn sh");
        assert!(
            out.status.success(),
            "sh -c {full:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `script` inside a new pid and mount namespace (`unshare --pid --fork
    /// --mount-proc`) whose init is in this cgroup; returns stdout.
    pub fn sh_in_pidns(&self, script: &str) -> String {
        let inner = format!("{} && {{\n{script}\n}}", self.enter_script());
        let out = Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "sh", "-c", &inner])
            .output()
            .expect("spawn unshare");
        assert!(
            out.status.success(),
            "unshare sh -c {inner:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        for d in &self.dirs {
            remove_cgroup_tree(d);
        }
    }
}

/// Moves every task below `dir` to the hierarchy root and removes the directories bottom-up.
pub fn remove_cgroup_tree(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_cgroup_tree(&e.path());
        }
    }
    let root = dir.ancestors().find(|a| {
        a.join("cgroup.procs").exists()
            && !a.parent().is_some_and(|p| p.join("cgroup.procs").exists())
    });
    if let (Ok(procs), Some(root)) = (std::fs::read_to_string(dir.join("cgroup.procs")), root) {
        for p in procs.split_whitespace() {
            let _ = std::fs::write(root.join("cgroup.procs"), p);
        }
    }
    for _ in 0..50 {
        if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A fixture host tree under `tests/fixtures/<name>/root`, read through the library.
#[derive(Debug)]
pub struct Fixture {
    /// The fixture's directory (`tests/fixtures/<name>`).
    pub dir: PathBuf,
    /// The library state over the fixture root.
    pub lx: lxcfs::Lxcfs,
}

impl Fixture {
    /// Loads fixture `name` with `options`.
    pub fn load(name: &str, options: lxcfs::Options) -> Fixture {
        let dir = workspace_root().join("tests/fixtures").join(name);
        assert!(dir.join("root").is_dir(), "no fixture tree {dir:?}");
        let lx = lxcfs::Lxcfs::new(dir.join("root"), options);
        Fixture { dir, lx }
    }

    /// Content of `path` (`/proc/meminfo`) as seen by thread `tid` of the fixture.
    pub fn read(&self, tid: u32, path: &str) -> String {
        String::from_utf8(self.lx.read(tid, path).expect("read through the library"))
            .expect("utf-8")
    }

    /// The fixture's host file `path` (`/proc/meminfo`), as it is stored.
    pub fn host(&self, path: &str) -> String {
        std::fs::read_to_string(self.dir.join("root").join(path.trim_start_matches('/')))
            .unwrap_or_default()
    }
}

/// Compares `actual` with the golden file `tests/fixtures/<rel>`; with `LXCFS_BLESS=1` the
/// golden file is (re)written instead. Panics with a line diff on mismatch.
pub fn assert_golden(rel: &str, actual: &str) {
    let p = workspace_root().join("tests/fixtures").join(rel);
    if std::env::var_os("LXCFS_BLESS").is_some() {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("golden file {p:?}: {e} (run with LXCFS_BLESS=1 to create)"));
    if expected != actual {
        let mut diff = String::new();
        let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
        for i in 0..e.len().max(a.len()) {
            let (x, y) = (
                e.get(i).copied().unwrap_or("<none>"),
                a.get(i).copied().unwrap_or("<none>"),
            );
            if x != y {
                diff.push_str(&format!(
                    "line {}:\n  expected: {x}\n  actual:   {y}\n",
                    i + 1
                ));
            }
        }
        panic!("{rel} differs from its golden file:\n{diff}");
    }
}

/// The value of `key` in meminfo-like text (`MemTotal:  262144 kB` → 262144).
pub fn meminfo_value(text: &str, key: &str) -> Option<u64> {
    lxcfs_formats::meminfo::parse(text).get(key).copied()
}

/// `(aggregate, rows)` of a `/proc/stat` text, asserting that the rows are named `cpu0`,
/// `cpu1`, … in order and that there is an aggregate `cpu` line.
pub fn stat_rows(
    text: &str,
) -> (
    lxcfs_formats::stat::CpuTimes,
    Vec<lxcfs_formats::stat::CpuTimes>,
) {
    use lxcfs_formats::stat::{parse_cpu_line, CpuLine};
    let mut total = None;
    let mut rows = Vec::new();
    for l in text.lines() {
        match parse_cpu_line(l) {
            Some(CpuLine::Total(t)) => total = Some(t),
            Some(CpuLine::Cpu(n, t)) => {
                assert_eq!(n as usize, rows.len(), "rows renumbered in order:\n{text}");
                rows.push(t);
            }
            None => {}
        }
    }
    (total.expect("aggregate cpu line"), rows)
}
