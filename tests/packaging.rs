//! Packaging tests: what `meson install` puts on a machine, and the deployment files.
//!
//! * `meson_install_tree`: `meson setup --prefix=/usr` in a scratch directory, compile (reusing
//!   the workspace's Cargo target directory, so a warm tree only relinks), run meson's quick
//!   suite, `meson install --destdir`, then check the installed tree file by file, render the
//!   man page, `systemd-analyze verify` the unit, run the installed daemon on a scratch mount
//!   point (read proc/meminfo and proc/uptime through it, try the LXC hooks against it in a
//!   private mount namespace, stop it with SIGTERM).
//! * `kubernetes_manifests`: `kubernetes-validate --strict` on `packaging/kubernetes/*.yaml`, plus
//!   the mounts the manifests must carry.
//! * `shell_scripts`: shellcheck on the shell scripts this packaging ships.
//!
//! Needs root, /dev/fuse and the tools `tests/packaging/prepare.sh` installs; without them the
//! tests fail and say so. `LXCFS_SKIP_PACKAGING=1` skips them, loudly.
//!
//! Everything a test creates (scratch directory, mounts, the daemon) is owned by a guard whose
//! `Drop` removes it, so a failing assertion leaves nothing behind.

use std::collections::BTreeSet;
use std::ffi::CString;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Every file `meson install --prefix=/usr` must produce, relative to the DESTDIR, except the
/// unit, whose directory comes from systemd's pkg-config file (see [`unit_dir`]).
const INSTALLED_FILES: &[&str] = &[
    "usr/bin/lxcfs",
    "usr/lib/lxcfs/liblxcfs.so",
    "usr/share/lxcfs/lxc.mount.hook",
    "usr/share/lxcfs/lxc.reboot.hook",
    "usr/share/lxc/config/common.conf.d/00-lxcfs.conf",
    "usr/share/man/man1/lxcfs.1",
];

/// The files lxcfs serves below `proc/`; each must be mounted by the example pod.
const PROC_FILES: &[&str] = &[
    "cpuinfo",
    "diskstats",
    "loadavg",
    "meminfo",
    "slabinfo",
    "stat",
    "swaps",
    "uptime",
    "pressure/cpu",
    "pressure/io",
    "pressure/memory",
];

/// The long options of upstream lxcfs (plus `--library`), which the man page must document.
const LONG_OPTIONS: &[&str] = &[
    "--debug",
    "--foreground",
    "--enable-loadavg",
    "--pidfile",
    "--disable-swap",
    "--disable-zswap",
    "--version",
    "--enable-cfs",
    "--enable-pidfd",
    "--enable-psi-poll",
    "--runtime-dir",
    "--library",
];

// ----------------------------------------------------------------------------------------------
// Environment

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests package lives one level below the workspace root")
        .to_path_buf()
}

/// The Cargo target directory this test binary was built in (`<target>/<profile>/deps/<exe>`),
/// unless CARGO_TARGET_DIR says otherwise. The meson build shares it, so it starts warm.
fn cargo_target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        return if dir.is_absolute() {
            dir
        } else {
            source_root().join(dir)
        };
    }
    let exe = std::env::current_exe().expect("current_exe");
    exe.ancestors()
        .nth(3)
        .expect("test binary at <target>/<profile>/deps/<name>")
        .to_path_buf()
}

fn cargo() -> PathBuf {
    std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from)
}

fn venv() -> PathBuf {
    std::env::var_os("LXCFS_TEST_VENV").map_or_else(
        || PathBuf::from("/var/cache/lxcfs-test-venv"),
        PathBuf::from,
    )
}

fn find_in_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `false` when the packaging tests are to be skipped; panics when a prerequisite is missing.
fn prerequisites(tools: &[&str]) -> bool {
    if std::env::var_os("LXCFS_SKIP_PACKAGING").is_some_and(|v| v == "1") {
        // Straight to the process's stderr: the test harness captures eprintln! of passing
        // tests, and a skip must be seen.
        let banner = "##############################################################\n\
                      ## LXCFS_SKIP_PACKAGING=1: packaging test SKIPPED, not run  ##\n\
                      ##############################################################\n";
        let _ = std::io::stderr().write_all(banner.as_bytes());
        return false;
    }
    let hint = "run `sudo tests/packaging/prepare.sh` first (or LXCFS_SKIP_PACKAGING=1 to skip)";
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "the packaging tests need root; {hint}");
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| find_in_path(t).is_none())
        .collect();
    assert!(missing.is_empty(), "missing tools {missing:?}; {hint}");
    true
}

fn workspace_version() -> String {
    let manifest = fs::read_to_string(source_root().join("Cargo.toml")).expect("read Cargo.toml");
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[workspace.package]";
        } else if in_package {
            if let Some(value) = line.strip_prefix("version").map(str::trim) {
                if let Some(value) = value.strip_prefix('=') {
                    return value.trim().trim_matches('"').to_string();
                }
            }
        }
    }
    panic!("no version in [workspace.package] of Cargo.toml");
}

// ----------------------------------------------------------------------------------------------
// Commands

/// Runs `cmd` to completion within `limit`, with its output in `log`; panics (showing the end
/// of the output) unless it exits 0. Returns the output.
fn run(what: &str, cmd: &mut Command, log: &Path, limit: Duration) -> String {
    let (status, output) = run_status(what, cmd, log, limit);
    assert!(
        status.success(),
        "{what} failed ({status}):\n{}",
        tail(&output, 60)
    );
    output
}

/// Like [`run`], but returns the exit status instead of insisting on success.
fn run_status(what: &str, cmd: &mut Command, log: &Path, limit: Duration) -> (ExitStatus, String) {
    eprintln!("packaging: {what}: {cmd:?}");
    let out = fs::File::create(log).expect("create log");
    let err = out.try_clone().expect("clone log");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start {cmd:?}: {e}"));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let output = fs::read_to_string(log).unwrap_or_default();
            panic!(
                "{what} did not finish within {limit:?}:\n{}",
                tail(&output, 60)
            );
        }
        sleep(Duration::from_millis(50));
    };
    let mut output = String::new();
    fs::File::open(log)
        .and_then(|mut f| f.read_to_string(&mut output))
        .expect("read log");
    (status, output)
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// ----------------------------------------------------------------------------------------------
// Guards

/// A scratch directory, removed on drop after detaching anything still mounted below it.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn new(tag: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "lxcfs-packaging-{tag}-{}-{nanos:x}",
            std::process::id()
        ));
        fs::create_dir_all(&path).expect("create scratch directory");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod scratch");
        Scratch { path }
    }

    fn join(&self, rel: &str) -> PathBuf {
        self.path.join(rel)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let mut below: Vec<PathBuf> = mounts()
            .into_iter()
            .map(|m| m.target)
            .filter(|t| t.starts_with(&self.path))
            .collect();
        // Deepest first.
        below.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for target in below {
            eprintln!("packaging: cleanup: detaching {}", target.display());
            detach(&target);
        }
        if let Err(e) = fs::remove_dir_all(&self.path) {
            eprintln!(
                "packaging: cleanup: cannot remove {}: {e}",
                self.path.display()
            );
        }
    }
}

/// A running daemon: stopped (SIGTERM, then SIGKILL) and its mount detached on drop.
struct Daemon {
    child: Child,
    mountpoint: PathBuf,
}

impl Daemon {
    fn pid(&self) -> libc::pid_t {
        libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t")
    }

    /// Sends `signal` and waits up to `limit` for the daemon to exit.
    fn stop(&mut self, signal: libc::c_int, limit: Duration) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        // SAFETY: kill(2) on our own child's pid, which stays reserved until we reap it.
        unsafe { libc::kill(self.pid(), signal) };
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.stop(libc::SIGTERM, Duration::from_secs(10)).is_none() {
            eprintln!("packaging: cleanup: lxcfs ignored SIGTERM, killing it");
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if mounted_lxcfs(&self.mountpoint).is_some() {
            eprintln!(
                "packaging: cleanup: detaching {}",
                self.mountpoint.display()
            );
            detach(&self.mountpoint);
        }
    }
}

fn detach(target: &Path) {
    let Ok(path) = CString::new(target.as_os_str().as_bytes()) else {
        return;
    };
    // SAFETY: a valid NUL-terminated path; MNT_DETACH has no other requirements.
    unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
}

// ----------------------------------------------------------------------------------------------
// Mounts

#[derive(Debug)]
struct Mount {
    target: PathBuf,
    fstype: String,
    source: String,
}

/// The mount table of this process (`/proc/self/mountinfo`).
fn mounts() -> Vec<Mount> {
    let table = fs::read_to_string("/proc/self/mountinfo").expect("read mountinfo");
    table
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let target = left.split(' ').nth(4)?;
            let mut right = right.split(' ');
            let fstype = right.next()?.to_string();
            let source = right.next()?.to_string();
            Some(Mount {
                target: PathBuf::from(unescape(target)),
                fstype,
                source,
            })
        })
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space, ...).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4].iter().all(u8::is_ascii_digit)
        {
            let code = u8::from_str_radix(&field[i + 1..i + 4], 8).unwrap_or(b'?');
            out.push(code);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The lxcfs mount on `target`, if there is one.
fn mounted_lxcfs(target: &Path) -> Option<Mount> {
    mounts()
        .into_iter()
        .filter(|m| m.target == target)
        .find(|m| m.fstype == "fuse.lxcfs")
}

// ----------------------------------------------------------------------------------------------
// meson install

/// Where the unit goes: meson asks systemd's pkg-config file, as this does.
fn unit_dir(log: &Path) -> PathBuf {
    let (status, out) = run_status(
        "pkg-config systemd",
        Command::new("pkg-config").args(["--variable=systemdsystemunitdir", "systemd"]),
        log,
        Duration::from_secs(30),
    );
    let dir = out.trim();
    if status.success() && !dir.is_empty() {
        PathBuf::from(dir)
    } else {
        PathBuf::from("/usr/lib/systemd/system")
    }
}

/// Relative paths of every file (and symlink) below `root`.
fn file_tree(root: &Path) -> BTreeSet<String> {
    let mut files = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("read_dir") {
            let entry = entry.expect("dir entry");
            let kind = entry.file_type().expect("file type");
            if kind.is_dir() {
                stack.push(entry.path());
            } else {
                let rel = entry
                    .path()
                    .strip_prefix(root)
                    .expect("below root")
                    .to_path_buf();
                files.insert(rel.to_string_lossy().into_owned());
            }
        }
    }
    files
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The ELF type field (2 = executable, 3 = shared object or PIE).
fn elf_type(path: &Path) -> u16 {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert!(
        bytes.len() > 18 && &bytes[..4] == b"\x7fELF",
        "{} is not an ELF file",
        path.display()
    );
    u16::from_le_bytes([bytes[16], bytes[17]])
}

#[test]
fn meson_install_tree() {
    let tools = [
        "meson",
        "ninja",
        "pkg-config",
        "systemd-analyze",
        "groff",
        "man",
        "unshare",
        "mount",
    ];
    if !prerequisites(&tools) {
        return;
    }
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing (modprobe fuse?)"
    );
    let started = Instant::now();
    let scratch = Scratch::new("meson");
    let build = scratch.join("build");
    let dest = scratch.join("dest");
    let logs = scratch.join("logs");
    fs::create_dir_all(&logs).expect("mkdir logs");
    let log = |name: &str| logs.join(format!("{name}.log"));
    let src = source_root();
    let target_dir = cargo_target_dir();

    // -- configure, build, quick tests, install --------------------------------------------
    run(
        "meson setup",
        Command::new("meson")
            .arg("setup")
            .arg(&build)
            .arg(&src)
            .arg("--prefix=/usr")
            .arg(format!("-Dcargo={}", cargo().display()))
            .arg(format!("-Dcargo-target-dir={}", target_dir.display())),
        &log("setup"),
        Duration::from_secs(120),
    );
    let info = run(
        "meson introspect",
        Command::new("meson")
            .args(["introspect", "--projectinfo"])
            .arg(&build),
        &log("introspect"),
        Duration::from_secs(60),
    );
    let version = workspace_version();
    assert!(
        info.contains(&format!("\"version\": \"{version}\"")),
        "meson.build's project version differs from Cargo.toml's {version}: {info}"
    );
    run(
        "meson compile",
        Command::new("meson").arg("compile").arg("-C").arg(&build),
        &log("compile"),
        Duration::from_secs(30 * 60),
    );
    run(
        "meson test (quick suite)",
        Command::new("meson")
            .args(["test", "--suite", "quick", "--print-errorlogs", "-C"])
            .arg(&build),
        &log("meson-test"),
        Duration::from_secs(300),
    );
    run(
        "meson install",
        Command::new("meson")
            .arg("install")
            .arg("-C")
            .arg(&build)
            .arg("--destdir")
            .arg(&dest),
        &log("install"),
        Duration::from_secs(300),
    );

    // -- the installed tree ------------------------------------------------------------------
    let unit_rel = unit_dir(&log("pkg-config")).join("lxcfs.service");
    let unit_rel = unit_rel
        .strip_prefix("/")
        .expect("absolute unit dir")
        .to_path_buf();
    let mut expected: BTreeSet<String> = INSTALLED_FILES.iter().map(ToString::to_string).collect();
    expected.insert(unit_rel.to_string_lossy().into_owned());
    let installed = file_tree(&dest);
    assert_eq!(
        installed, expected,
        "installed files differ from the expected set"
    );

    let lxcfs = dest.join("usr/bin/lxcfs");
    let library = dest.join("usr/lib/lxcfs/liblxcfs.so");
    assert_eq!(mode(&lxcfs), 0o755, "usr/bin/lxcfs mode");
    assert!(
        mode(&library) & 0o444 == 0o444,
        "liblxcfs.so must be readable by all"
    );
    assert_eq!(elf_type(&library), 3, "liblxcfs.so must be a shared object");
    assert!(
        matches!(elf_type(&lxcfs), 2 | 3),
        "usr/bin/lxcfs must be an ELF executable"
    );
    for hook in ["lxc.mount.hook", "lxc.reboot.hook"] {
        let path = dest.join("usr/share/lxcfs").join(hook);
        assert_eq!(mode(&path), 0o755, "{hook} must be executable");
        assert!(
            read(&path).starts_with("#!/bin/sh\n"),
            "{hook} must be a POSIX sh script"
        );
    }
    let conf = read(&dest.join("usr/share/lxc/config/common.conf.d/00-lxcfs.conf"));
    assert!(
        conf.contains("\nlxc.hook.mount = /usr/share/lxcfs/lxc.mount.hook\n"),
        "{conf}"
    );
    assert!(
        conf.contains("\nlxc.hook.post-stop = /usr/share/lxcfs/lxc.reboot.hook\n"),
        "{conf}"
    );
    assert!(
        !conf.contains('@'),
        "unsubstituted placeholder in 00-lxcfs.conf:\n{conf}"
    );

    // The daemon was built to look for the library where it was installed.
    let binary = fs::read(&lxcfs).expect("read lxcfs");
    let wanted = b"/usr/lib/lxcfs/liblxcfs.so";
    assert!(
        binary.windows(wanted.len()).any(|w| w == wanted),
        "usr/bin/lxcfs does not mention its default library path /usr/lib/lxcfs/liblxcfs.so"
    );

    // -- the unit ---------------------------------------------------------------------------
    let unit_path = dest.join(&unit_rel);
    let unit = read(&unit_path);
    assert_eq!(mode(&unit_path), 0o644, "unit file mode");
    for line in [
        "Before=lxc.service",
        "ConditionVirtualization=!container",
        "OOMScoreAdjust=-1000",
        "ExecStartPre=/bin/mkdir -p /var/lib/lxcfs",
        "ExecStart=/usr/bin/lxcfs /var/lib/lxcfs",
        "KillMode=process",
        "Restart=on-failure",
        "ExecStopPost=-/bin/umount -l /var/lib/lxcfs",
        "ExecReload=/bin/kill -USR1 $MAINPID",
        "Delegate=yes",
        "WantedBy=multi-user.target",
    ] {
        assert!(
            unit.lines().any(|l| l == line),
            "lxcfs.service lacks `{line}`:\n{unit}"
        );
    }
    // systemd-analyze insists that ExecStart exists and that man:lxcfs(1) resolves: point the
    // first at the DESTDIR binary and MANPATH at the DESTDIR man pages. Anything it prints is
    // a finding (unknown keys are only warnings, with exit status 0).
    let verify_dir = scratch.join("verify");
    fs::create_dir_all(&verify_dir).expect("mkdir verify");
    let verify = |unit_text: &str, name: &str| {
        let copy = verify_dir.join("lxcfs.service");
        fs::write(
            &copy,
            unit_text.replace("=/usr/bin/lxcfs ", &format!("={} ", lxcfs.display())),
        )
        .expect("write unit copy");
        run_status(
            "systemd-analyze verify",
            Command::new("systemd-analyze")
                .arg("verify")
                .arg(&copy)
                .env("MANPATH", dest.join("usr/share/man"))
                .env("SYSTEMD_LOG_COLOR", "0"),
            &log(name),
            Duration::from_secs(60),
        )
    };
    let (status, findings) = verify(&unit, "verify");
    assert!(
        status.success() && findings.trim().is_empty(),
        "systemd-analyze verify: {findings}"
    );
    // ... and it does complain when the unit is wrong.
    let (_, findings) = verify(&unit.replace("KillMode=", "KilMode="), "verify-broken");
    assert!(
        findings.contains("KilMode"),
        "systemd-analyze missed a broken key: {findings:?}"
    );

    // -- the man page -----------------------------------------------------------------------
    let page = dest.join("usr/share/man/man1/lxcfs.1");
    assert_eq!(mode(&page), 0o644, "man page mode");
    let (status, warnings) = run_status(
        "groff",
        Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&page),
        &log("groff"),
        Duration::from_secs(60),
    );
    assert!(
        status.success() && warnings.trim().is_empty(),
        "groff on lxcfs.1: {warnings}"
    );
    let rendered = run(
        "man -l",
        Command::new("man")
            .arg("-l")
            .arg(&page)
            .env("MANWIDTH", "100")
            .env("MANPAGER", "cat"),
        &log("man"),
        Duration::from_secs(60),
    );
    for heading in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "SIGNALS",
        "FILES",
    ] {
        assert!(
            rendered.contains(heading),
            "lxcfs.1 has no {heading} section:\n{rendered}"
        );
    }
    for option in LONG_OPTIONS {
        assert!(
            rendered.contains(option),
            "lxcfs.1 does not document {option}"
        );
    }
    assert!(
        rendered.contains("/usr/lib/lxcfs/liblxcfs.so"),
        "lxcfs.1 lacks the library path"
    );
    // The synopsis names what options take (clap_mangen's own leaves it out). Compared with
    // runs of blanks and line breaks (justification, wrapping) made single spaces.
    let flat = rendered.split_whitespace().collect::<Vec<_>>().join(" ");
    for usage in [
        "[-p|--pidfile FILE]",
        "[-o OPTIONS]",
        "[--cache-ms MS]",
        "[MOUNTPOINT]",
    ] {
        assert!(
            flat.contains(usage),
            "lxcfs.1 synopsis lacks {usage}:\n{rendered}"
        );
    }

    // -- the installed binary -----------------------------------------------------------------
    let output = run(
        "lxcfs --version",
        Command::new(&lxcfs)
            .arg("--library")
            .arg(&library)
            .arg("--version"),
        &log("version"),
        Duration::from_secs(30),
    );
    assert!(
        output.matches(version.as_str()).count() >= 2,
        "`lxcfs --version` should name the daemon's and the library's version ({version}): \
         {output:?}"
    );

    let mountpoint = scratch.join("mnt");
    let runtime = scratch.join("run");
    let pidfile = scratch.join("lxcfs.pid");
    fs::create_dir_all(&mountpoint).expect("mkdir mnt");
    fs::create_dir_all(&runtime).expect("mkdir run");
    let daemon_log = log("daemon");
    let out = fs::File::create(&daemon_log).expect("daemon log");
    let err = out.try_clone().expect("clone log");
    let child = Command::new(&lxcfs)
        .arg("--library")
        .arg(&library)
        .arg("-p")
        .arg(&pidfile)
        .arg("--runtime-dir")
        .arg(&runtime)
        .arg(&mountpoint)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("start the installed lxcfs");
    let mut daemon = Daemon {
        child,
        mountpoint: mountpoint.clone(),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mount = loop {
        if let Some(mount) = mounted_lxcfs(&mountpoint) {
            break mount;
        }
        if let Ok(Some(status)) = daemon.child.try_wait() {
            panic!(
                "lxcfs exited ({status}) before mounting:\n{}",
                read(&daemon_log)
            );
        }
        assert!(
            Instant::now() < deadline,
            "lxcfs did not mount within 20 s:\n{}",
            read(&daemon_log)
        );
        sleep(Duration::from_millis(50));
    };
    assert_eq!(mount.source, "lxcfs", "mount source (fsname)");
    let pid_text = loop {
        let text = fs::read_to_string(&pidfile).unwrap_or_default();
        if !text.trim().is_empty() || Instant::now() > deadline {
            break text;
        }
        sleep(Duration::from_millis(50));
    };
    assert_eq!(
        pid_text.trim(),
        daemon.child.id().to_string(),
        "pid file content"
    );

    let meminfo = read(&mountpoint.join("proc/meminfo"));
    assert!(
        meminfo.starts_with("MemTotal:"),
        "proc/meminfo through lxcfs: {meminfo:?}"
    );
    assert!(
        meminfo.contains("\nSwapTotal:"),
        "proc/meminfo lacks SwapTotal: {meminfo:?}"
    );
    let uptime = read(&mountpoint.join("proc/uptime"));
    let fields: Vec<f64> = uptime
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    assert!(
        fields.len() == 2 && uptime.ends_with('\n') && fields.iter().all(|f| *f >= 0.0),
        "proc/uptime through lxcfs: {uptime:?}"
    );

    check_lxc_hooks(&scratch, &dest, &mountpoint, &log("hooks"));

    let status = daemon.stop(libc::SIGTERM, Duration::from_secs(15));
    let status = status.unwrap_or_else(|| panic!("lxcfs still runs 15 s after SIGTERM"));
    assert!(
        status.success(),
        "lxcfs exit status after SIGTERM: {status}\n{}",
        read(&daemon_log)
    );
    assert!(
        mounted_lxcfs(&mountpoint).is_none(),
        "lxcfs left its mount behind after SIGTERM"
    );
    assert!(
        !pidfile.exists(),
        "lxcfs left its pid file behind after SIGTERM"
    );
    drop(daemon);
    eprintln!("packaging: meson_install_tree took {:?}", started.elapsed());
}

/// Runs the installed LXC hooks against a fake container root, in a private mount namespace
/// so that nothing they mount outlives the check.
fn check_lxc_hooks(scratch: &Scratch, dest: &Path, mountpoint: &Path, log: &Path) {
    let rootfs = scratch.join("rootfs");
    for dir in ["proc/pressure", "sys/devices/system/cpu"] {
        fs::create_dir_all(rootfs.join(dir)).expect("mkdir rootfs");
    }
    // The container has these /proc files; slabinfo is left out on purpose.
    for file in [
        "cpuinfo",
        "meminfo",
        "uptime",
        "stat",
        "swaps",
        "diskstats",
        "loadavg",
    ] {
        fs::write(rootfs.join("proc").join(file), "").expect("placeholder");
    }
    // A container with the lxcfs directory gets lxcfs itself (nesting).
    let nested = rootfs.join(mountpoint.strip_prefix("/").expect("absolute"));
    fs::create_dir_all(&nested).expect("mkdir nested");

    let hook = dest.join("usr/share/lxcfs/lxc.mount.hook");
    let script = r#"
        set -eu
        "$HOOK"
        cut -d' ' -f5 /proc/self/mountinfo | grep -F "$LXC_ROOTFS_MOUNT/" | sort
        echo "meminfo: $(head -n 1 "$LXC_ROOTFS_MOUNT/proc/meminfo")"
        echo "uptime: $(cat "$LXC_ROOTFS_MOUNT/proc/uptime")"
    "#;
    let output = run(
        "lxc.mount.hook",
        Command::new("unshare")
            .args([
                "--mount",
                "--propagation",
                "private",
                "--",
                "sh",
                "-c",
                script,
            ])
            .env("HOOK", &hook)
            .env("LXC_ROOTFS_MOUNT", &rootfs)
            .env("LXCFS_HOOK_MOUNTPOINT", mountpoint),
        log,
        Duration::from_secs(60),
    );
    let root = rootfs.display().to_string();
    let mounted: BTreeSet<&str> = output
        .lines()
        .filter_map(|l| l.strip_prefix(root.as_str()))
        .collect();
    let mut wanted: BTreeSet<String> = ["cpuinfo", "meminfo", "uptime", "stat", "swaps"]
        .iter()
        .chain(["diskstats", "loadavg", "pressure"].iter())
        .map(|f| format!("/proc/{f}"))
        .collect();
    wanted.insert(format!(
        "/{}",
        mountpoint.strip_prefix("/").expect("abs").display()
    ));
    for want in &wanted {
        assert!(
            mounted.contains(want.as_str()),
            "the mount hook did not mount {want}:\n{output}"
        );
    }
    assert!(
        !mounted.contains("/proc/slabinfo"),
        "the mount hook mounted over a missing file"
    );
    assert!(
        mounted
            .iter()
            .any(|m| m.starts_with("/sys/devices/system/cpu")),
        "the mount hook did not mount sys/devices/system/cpu:\n{output}"
    );
    assert!(
        output.contains("\nmeminfo: MemTotal:"),
        "meminfo in the container:\n{output}"
    );
    assert!(
        mounts().iter().all(|m| !m.target.starts_with(&rootfs)),
        "hook mounts leaked"
    );

    // The post-stop hook: no pause for a stop, a short one for a reboot.
    let reboot_hook = dest.join("usr/share/lxcfs/lxc.reboot.hook");
    for (target, min, max) in [("stop", 0.0, 0.4), ("reboot", 0.4, 3.0)] {
        let start = Instant::now();
        run(
            "lxc.reboot.hook",
            Command::new(&reboot_hook).env("LXC_TARGET", target),
            log,
            Duration::from_secs(10),
        );
        let took = start.elapsed().as_secs_f64();
        assert!(
            took >= min && took < max,
            "lxc.reboot.hook for {target} took {took} s"
        );
    }
}

// ----------------------------------------------------------------------------------------------
// Deployment files

#[test]
fn kubernetes_manifests() {
    if !prerequisites(&[]) {
        return;
    }
    let validator = venv().join("bin/kubernetes-validate");
    assert!(
        is_executable(&validator),
        "{} is missing: run `sudo tests/packaging/prepare.sh`",
        validator.display()
    );
    let scratch = Scratch::new("k8s");
    let dir = source_root().join("packaging/kubernetes");
    let daemonset = dir.join("lxcfs-daemonset.yaml");
    let pod = dir.join("example-pod.yaml");
    let output = run(
        "kubernetes-validate",
        Command::new(&validator)
            .args(["--strict", "--quiet"])
            .arg(&daemonset)
            .arg(&pod),
        &scratch.join("validate.log"),
        Duration::from_secs(120),
    );
    assert!(!output.contains("ERROR"), "kubernetes-validate: {output}");

    // The validator does reject what it should.
    let broken = scratch.join("broken.yaml");
    fs::write(
        &broken,
        read(&pod).replace("mountPropagation:", "mountPropagaton:"),
    )
    .expect("write");
    let (status, output) = run_status(
        "kubernetes-validate (broken copy)",
        Command::new(&validator).arg("--strict").arg(&broken),
        &scratch.join("broken.log"),
        Duration::from_secs(120),
    );
    assert!(
        !status.success(),
        "kubernetes-validate accepted an unknown field: {output}"
    );

    let ds = read(&daemonset);
    for needle in [
        "kind: DaemonSet",
        "hostPID: true",
        "privileged: true",
        "mountPropagation: Bidirectional",
        "path: /var/lib/lxcfs\n",
        "mountPath: /sys/fs/cgroup\n",
        "/usr/bin/lxcfs",
    ] {
        assert!(ds.contains(needle), "lxcfs-daemonset.yaml lacks {needle:?}");
    }
    let pod_text = read(&pod);
    let mut files: Vec<String> = PROC_FILES.iter().map(|f| format!("proc/{f}")).collect();
    files.push("sys/devices/system/cpu".to_string());
    for file in &files {
        assert!(
            pod_text.contains(&format!("mountPath: /{file}\n")),
            "example pod: no /{file}"
        );
        assert!(
            pod_text.contains(&format!("path: /var/lib/lxcfs/{file}\n")),
            "example pod: no volume for /var/lib/lxcfs/{file}"
        );
    }
    assert_eq!(
        pod_text
            .matches("mountPropagation: HostToContainer")
            .count(),
        files.len(),
        "every lxcfs mount of the example pod needs HostToContainer propagation"
    );
}

#[test]
fn shell_scripts() {
    if !prerequisites(&["shellcheck"]) {
        return;
    }
    let src = source_root();
    let scripts = [
        "packaging/lxc/lxc.mount.hook",
        "packaging/lxc/lxc.reboot.hook",
        "packaging/meson/cargo-build.sh",
        "scripts/setup-and-run.sh",
        "tests/packaging/prepare.sh",
    ];
    let scratch = Scratch::new("shellcheck");
    let mut cmd = Command::new("shellcheck");
    cmd.current_dir(&src).args(scripts);
    run(
        "shellcheck",
        &mut cmd,
        &scratch.join("shellcheck.log"),
        Duration::from_secs(120),
    );
    for script in scripts {
        let path = src.join(script);
        assert!(mode(&path) & 0o111 == 0o111, "{script} must be executable");
        let text = read(&path);
        assert!(
            text.lines().any(|l| l.trim() == "set -eu"),
            "{script} must `set -eu`"
        );
    }
}
