//! Live upgrade (SIGUSR1) through the real daemon: the library is replaced the way an operator
//! does it (`rm` the installed file, `cp` the new one, `kill -USR1`), swapping two builds — the
//! normal library and a variant built with `LXCFS_VERSION_SUFFIX=-variant` and the `test-hooks`
//! feature (a `/proc/.lxcfs-panic` file that panics, and the `LXCFS_TEST_INIT` switch read at
//! `init`) — and checking, after every reload, that exactly one library image is mapped and
//! that it is the installed file's inode.
//!
//! Needs root and /dev/fuse; the cgroup tests use this host's v1 and unified hierarchies.
//! Daemons, mounts, readers, cgroups and temporary libraries are removed on drop, also when a
//! test fails.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use lxcfs_formats::stat::{parse_cpu_line, CpuLine, CpuTimes};
use lxcfs_testkit::{
    binaries, is_mounted, target_dir, workspace_root, Cgroup, Daemon, TempDir, Wrapper,
};
use nix::sys::signal::Signal;

/// Version of the normal library.
const NORMAL: &str = env!("CARGO_PKG_VERSION");

/// Version of the variant library.
fn variant_version() -> String {
    format!("{NORMAL}-variant")
}

/// The variant library, built once per test process into `target/variant` (its own target
/// directory, so the main one is not rebuilt): `LXCFS_VERSION_SUFFIX=-variant`, feature
/// `test-hooks`.
fn variant() -> PathBuf {
    static V: OnceLock<PathBuf> = OnceLock::new();
    V.get_or_init(|| {
        let dir = target_dir().join("variant");
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "liblxcfs", "--features", "test-hooks"])
            .env("CARGO_TARGET_DIR", &dir)
            .env("LXCFS_VERSION_SUFFIX", "-variant")
            .current_dir(workspace_root())
            .status()
            .expect("run cargo build");
        assert!(
            status.success(),
            "cargo build of the variant library failed"
        );
        dir.join("debug/liblxcfs.so")
    })
    .clone()
}

/// The daemon, and private copies of the normal and the variant library (in the returned
/// directory, removed on drop): other people build into the shared target directory, and a
/// rebuild must not change what a test installs halfway through.
fn snapshot() -> (lxcfs_testkit::Binaries, PathBuf, TempDir) {
    let mut b = binaries();
    let v = variant();
    let dir = TempDir::new("reload-libs");
    let (normal, var) = (dir.path().join("normal.so"), dir.path().join("variant.so"));
    std::fs::copy(&b.lib, &normal).expect("copy the normal library");
    std::fs::copy(&v, &var).expect("copy the variant library");
    b.lib = normal;
    (b, var, dir)
}

fn unique(tag: &str) -> String {
    format!("/lxcfs-test-reload-{tag}-{}", std::process::id())
}

/// The library as installed for the daemon: `<tmp>/liblxcfs.so`.
struct Installed {
    _dir: TempDir,
    path: PathBuf,
}

impl Installed {
    fn new(src: &Path) -> Installed {
        let dir = TempDir::new("reload-lib");
        let path = dir.path().join("liblxcfs.so");
        std::fs::copy(src, &path).expect("install the library");
        Installed { _dir: dir, path }
    }

    /// Replaces the installed file as an operator does (`rm`, then `cp`); returns the new
    /// file's inode.
    fn install(&self, src: &Path) -> u64 {
        self.remove();
        std::fs::copy(src, &self.path).expect("cp the library");
        self.inode()
    }

    fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }

    fn inode(&self) -> u64 {
        std::fs::metadata(&self.path)
            .expect("stat the library")
            .ino()
    }
}

/// The installed file's inode that a mapped image name stands for: the daemon maps a sealed
/// copy named `/memfd:liblxcfs.so:inode=<installed inode> (deleted)`.
fn source_inode(name: &str) -> Option<u64> {
    let rest = name.split("liblxcfs.so:inode=").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// The library images mapped by `pid`, one entry per distinct copy (the copy's own inode),
/// each given as the installed inode it was copied from, sorted.
///
/// # Errors
/// The first maps line of an image that is not a private copy.
fn images(pid: u32) -> Result<Vec<u64>, String> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("read maps");
    let copies: BTreeMap<u64, u64> = maps
        .lines()
        .filter(|l| l.contains("liblxcfs"))
        .map(|l| {
            let copy = l.split_whitespace().nth(4).and_then(|i| i.parse().ok());
            match (copy, source_inode(l)) {
                (Some(copy), Some(installed)) => Ok((copy, installed)),
                _ => Err(l.to_string()),
            }
        })
        .collect::<Result<_, _>>()?;
    let mut installed: Vec<u64> = copies.into_values().collect();
    installed.sort_unstable();
    Ok(installed)
}

/// Asserts that `pid` maps exactly one image copied from each of `inodes`.
fn assert_images(d: &Daemon, inodes: &[u64], context: &str) {
    let mut want = inodes.to_vec();
    want.sort_unstable();
    let got = images(d.pid()).unwrap_or_else(|l| {
        panic!(
            "{context}: a library image mapped from something else than a private copy: \
             {l}\nlog:\n{}",
            d.log_text()
        )
    });
    if got != want {
        let maps = std::fs::read_to_string(format!("/proc/{}/maps", d.pid())).unwrap_or_default();
        let lines: Vec<&str> = maps.lines().filter(|l| l.contains("liblxcfs")).collect();
        panic!(
            "{context}: library images mapped {got:?}, expected {want:?}:\n{}\nlog:\n{}",
            lines.join("\n"),
            d.log_text()
        );
    }
}

/// Lines of the log that report the outcome of a reload.
fn outcomes(log: &str) -> Vec<String> {
    // Whole lines only: the daemon may be writing the last one while the log is read.
    let whole = log.rfind('\n').map_or("", |end| &log[..end]);
    whole
        .lines()
        .filter(|l| {
            l.contains("reloaded liblxcfs:")
                || l.contains("reload refused:")
                || l.contains("reload failed:")
        })
        .map(str::to_string)
        .collect()
}

/// Sends SIGUSR1 and returns the log line reporting the outcome of that reload.
fn reload(d: &Daemon) -> String {
    reload_pid(d, d.pid())
}

/// [`reload`], signalling process `pid` (the daemon when something else was spawned first).
fn reload_pid(d: &Daemon, pid: u32) -> String {
    let before = outcomes(&d.log_text()).len();
    let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid"));
    if let Err(e) = nix::sys::signal::kill(pid, Signal::SIGUSR1) {
        panic!("SIGUSR1 to {pid}: {e}; log:\n{}", d.log_text());
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(line) = outcomes(&d.log_text()).get(before) {
            return line.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no reload outcome within 30 s; log:\n{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Asserts that `line` reports a successful reload to `version`.
fn assert_reloaded(d: &Daemon, line: &str, version: &str) {
    assert!(
        line.contains("reloaded liblxcfs:") && line.contains(&format!("-> {version} (build ")),
        "expected a reload to {version}, got {line:?}; log:\n{}",
        d.log_text()
    );
}

/// Whether the process `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| r.trim_start().chars().next())
        })
        .flatten()
        .is_some_and(|state| state != 'Z')
}

/// Asserts the daemon is up, mounted, and serving a well-formed `proc/meminfo`.
fn assert_serving(d: &Daemon, context: &str) {
    assert!(
        alive(d.pid()),
        "{context}: the daemon died; log:\n{}",
        d.log_text()
    );
    assert!(is_mounted(&d.mnt), "{context}: not mounted any more");
    let m = std::fs::read_to_string(d.path("proc/meminfo"))
        .unwrap_or_else(|e| panic!("{context}: meminfo: {e}; log:\n{}", d.log_text()));
    assert!(
        m.starts_with("MemTotal:") && m.ends_with('\n'),
        "{context}: {m:?}"
    );
}

/// The errno of reading `rel` under the mount (`None` when the read succeeds).
fn read_errno(d: &Daemon, rel: &str) -> Option<i32> {
    std::fs::read(d.path(rel))
        .err()
        .map(|e| e.raw_os_error().unwrap_or(-1))
}

/// Kills a process on drop.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.0 as i32), Signal::SIGKILL);
    }
}

/// A reader process (`reload-bench reader`): open/read/close loops over five files, validating
/// every read, until its stdin is closed. Killed on drop.
struct ReaderProc {
    child: Child,
    stdin: Option<ChildStdin>,
    output: Option<std::thread::JoinHandle<String>>,
}

/// What a reader process counted.
#[derive(Debug)]
struct Counts {
    reads: u64,
    failures: u64,
    text: String,
}

impl ReaderProc {
    fn spawn(mnt: &Path) -> ReaderProc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_reload-bench"))
            .arg("reader")
            .arg(mnt)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn a reader");
        let stdin = child.stdin.take();
        let mut out = child.stdout.take().unwrap();
        let output = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        ReaderProc {
            child,
            stdin,
            output: Some(output),
        }
    }

    /// Stops the reader (closes its stdin) and returns its counts.
    fn finish(mut self) -> Counts {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().ok().flatten().is_none() {
            assert!(
                Instant::now() < deadline,
                "a reader did not stop within 30 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let text = self.output.take().unwrap().join().unwrap_or_default();
        let value = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.trim().parse().ok())
                .unwrap_or_else(|| panic!("reader report without {key:?}:\n{text}"))
        };
        Counts {
            reads: value("reads "),
            failures: value("failures "),
            text,
        }
    }
}

impl Drop for ReaderProc {
    fn drop(&mut self) {
        if self.output.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The pause in ms of every successful reload in `log`.
fn pauses_ms(log: &str) -> Vec<f64> {
    outcomes(log)
        .iter()
        .filter(|l| l.contains("reloaded liblxcfs:"))
        .filter_map(|l| {
            l.split_once(" in ")?
                .1
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

#[test]
fn hundred_reloads_under_four_readers_lose_no_read() {
    let (b, v, _snapshot) = snapshot();
    let inst = Installed::new(&b.lib);
    let d = Daemon::start_with(&b.lxcfs, &inst.path, &[]);
    assert_images(&d, &[inst.inode()], "at start");
    let readers: Vec<ReaderProc> = (0..4).map(|_| ReaderProc::spawn(&d.mnt)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    let variant_version = variant_version();
    for i in 0..100 {
        let (src, version) = if i % 2 == 0 {
            (&v, variant_version.as_str())
        } else {
            (&b.lib, NORMAL)
        };
        let ino = inst.install(src);
        let line = reload(&d);
        assert_reloaded(&d, &line, version);
        assert_images(&d, &[ino], &format!("after reload {}", i + 1));
    }
    let elapsed = t0.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    let counts: Vec<Counts> = readers.into_iter().map(ReaderProc::finish).collect();
    for c in &counts {
        assert_eq!(c.failures, 0, "a reader saw failed reads:\n{}", c.text);
        assert!(c.reads >= 100, "a reader barely ran:\n{}", c.text);
    }
    assert_serving(&d, "after 100 reloads");
    let mut p = pauses_ms(&d.log_text());
    assert_eq!(p.len(), 100);
    p.sort_by(|a, b| a.total_cmp(b));
    println!(
        "100 reloads in {elapsed:?}; reads per reader {:?}, 0 failed; pause (debug build) \
         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        counts.iter().map(|c| c.reads).collect::<Vec<_>>(),
        p[49],
        p[98],
        p[99]
    );
}

/// `opendir` through libc (the directory handle is opened now, read later).
struct Dir(*mut libc::DIR);

impl Dir {
    fn open(path: &Path) -> Dir {
        let c = CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: `c` is a valid NUL-terminated path.
        let p = unsafe { libc::opendir(c.as_ptr()) };
        assert!(
            !p.is_null(),
            "opendir {path:?}: {}",
            std::io::Error::last_os_error()
        );
        Dir(p)
    }

    /// All names, read now.
    fn names(&self) -> Vec<String> {
        let mut names = Vec::new();
        loop {
            // SAFETY: `self.0` is an open directory stream.
            let e = unsafe { libc::readdir(self.0) };
            if e.is_null() {
                return names;
            }
            // SAFETY: `d_name` of an entry returned by readdir is NUL-terminated and valid
            // until the next readdir call on this stream.
            let name = unsafe { std::ffi::CStr::from_ptr((*e).d_name.as_ptr()) };
            names.push(name.to_string_lossy().into_owned());
        }
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: `self.0` came from opendir and is closed exactly once.
        unsafe { libc::closedir(self.0) };
    }
}

#[test]
fn library_calls_on_the_event_loop_threads_pin_nothing() {
    // The daemon calls the library on its FUSE event-loop threads, which live as long as the
    // mount. A thread-local destructor registered there by library code would keep the image
    // in memory after dlclose; so every operation on every node (lookup, getattr, readdir,
    // readlink, open/read, write refusals, PSI triggers, the render cache's hits and misses),
    // by host readers and by readers in a pid namespace, runs before a reload that must
    // unload the image.
    let (b, v, _snapshot) = snapshot();
    let inst = Installed::new(&b.lib);
    let d = Daemon::start_with(&b.lxcfs, &inst.path, &["-l", "--enable-psi-poll"]);
    let cg = Cgroup::new(&unique("all-ops"), &["memory", "cpu", "cpuacct", "cpuset"]);
    let walk = format!(
        "cd {mnt} && for i in 1 2; do find . -print0 | xargs -0 ls -ld > /dev/null; \
         find . -type l -print0 | xargs -0 readlink > /dev/null; \
         find . -type f -print0 | xargs -0 cat > /dev/null 2>&1; done; \
         echo x > proc/meminfo 2>/dev/null; echo x > sys/devices/system/cpu/online 2>/dev/null; \
         python3 -c \"import os
fd = os.open('proc/pressure/cpu', os.O_RDWR | os.O_NONBLOCK)
os.write(fd, b'some 150000 1000000')
os.close(fd)\"; echo done",
        mnt = d.mnt.display()
    );
    assert_eq!(cg.sh(&walk).trim(), "done");
    assert_eq!(cg.sh_in_pidns(&walk).trim(), "done");
    let ino = inst.install(&v);
    assert_reloaded(&d, &reload(&d), &variant_version());
    assert_images(
        &d,
        &[ino],
        "after every operation on the event-loop threads",
    );
    assert_serving(&d, "after the reload");
}

#[test]
fn open_files_and_directories_survive_a_reload() {
    let (b, v, _snapshot) = snapshot();
    let inst = Installed::new(&b.lib);
    let d = Daemon::start_with(&b.lxcfs, &inst.path, &[]);
    let mut f = std::fs::File::open(d.path("proc/meminfo")).unwrap();
    let mut head = [0u8; 16];
    f.read_exact(&mut head).unwrap();
    let dir = Dir::open(&d.path("proc"));

    let ino = inst.install(&v);
    assert_reloaded(&d, &reload(&d), &variant_version());
    assert_images(&d, &[ino], "after the reload");

    let mut rest = Vec::new();
    f.read_to_end(&mut rest).unwrap();
    let whole = String::from_utf8([&head[..], &rest].concat()).unwrap();
    assert!(
        whole.starts_with("MemTotal:") && whole.ends_with('\n') && whole.lines().count() > 3,
        "the snapshot taken before the reload reads on: {whole:?}"
    );
    f.seek(SeekFrom::Start(0)).unwrap();
    let mut again = String::new();
    f.read_to_string(&mut again).unwrap();
    assert!(again.starts_with("MemTotal:"), "{again:?}");

    let names = dir.names();
    for n in [".", "..", "meminfo", "cpuinfo", "stat", "uptime"] {
        assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
    }
    // The variant's test hook shows the new code answers new requests.
    assert_eq!(read_errno(&d, "proc/.lxcfs-panic"), Some(libc::EIO));
}

/// Compiles `src` (C) into a shared object `name` in `dir`.
fn cc(dir: &Path, name: &str, src: &str, defines: &[String]) -> PathBuf {
    let c = dir.join(format!("{name}.c"));
    let so = dir.join(format!("{name}.so"));
    std::fs::write(&c, src).unwrap();
    let out = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&c)
        .args(defines)
        .output()
        .expect("run cc");
    assert!(
        out.status.success(),
        "cc {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    so
}

/// An lxcfs-like library whose vtable header says `ABI` and `SIZE`.
const FAKE_VTABLE_C: &str = r#"
struct vtable { unsigned int abi_version; unsigned int struct_size; void *fns[64]; };
static const struct vtable VT = { ABI, SIZE, { 0 } };
const struct vtable *lxcfs_vtable_v1(void) { return &VT; }
"#;

#[test]
fn copying_a_library_over_the_installed_one_in_place_leaves_the_running_image_alone() {
    let (b, v, _snapshot) = snapshot();
    let inst = Installed::new(&b.lib);
    let ino = inst.inode();
    let d = Daemon::start_with(&b.lxcfs, &inst.path, &[]);
    assert_serving(&d, "at start");
    assert_eq!(read_errno(&d, "proc/.lxcfs-panic"), Some(libc::ENOENT));

    // `cp variant.so liblxcfs.so` halfway: the installed file truncated and partly rewritten
    // in place (same inode). A daemon that mapped that file dies of SIGBUS or SIGSEGV at its
    // next library call; ours runs a private copy.
    let variant = std::fs::read(&v).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&inst.path)
        .unwrap();
    f.write_all(&variant[..variant.len() / 3]).unwrap();
    f.flush().unwrap();
    assert_eq!(inst.inode(), ino, "rewritten in place");
    for _ in 0..20 {
        assert_serving(&d, "while the installed file is being rewritten");
    }
    assert_eq!(read_errno(&d, "proc/.lxcfs-panic"), Some(libc::ENOENT));
    let line = reload(&d);
    assert!(
        line.contains("reload refused:") && line.contains("still serving"),
        "a reload during the copy is refused: {line}"
    );
    assert_serving(&d, "after the refused reload");

    // The copy finishes; the next reload loads what is now in the file.
    f.write_all(&variant[variant.len() / 3..]).unwrap();
    drop(f);
    assert_serving(&d, "after the in-place copy");
    assert_reloaded(&d, &reload(&d), &variant_version());
    assert_eq!(read_errno(&d, "proc/.lxcfs-panic"), Some(libc::EIO));
    assert_images(&d, &[ino], "the rewritten file's copy, alone");
    assert_serving(&d, "after reloading the rewritten file");
}

/// The one child of process `pid` (what `unshare --fork` started).
fn only_child(pid: u32) -> u32 {
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .expect("read the children of unshare");
    let ids: Vec<u32> = children
        .split_whitespace()
        .filter_map(|c| c.parse().ok())
        .collect();
    assert_eq!(ids.len(), 1, "unshare's children: {children:?}");
    ids[0]
}

#[test]
fn without_sealed_memory_files_the_installed_file_is_mapped_and_a_warning_says_so() {
    let (b, v, _snapshot) = snapshot();
    // `vm.memfd_noexec=2` (Linux 6.3) refuses executable memory files to the processes of
    // the pid namespace that sets it; the daemon runs as the init of a namespace of its own,
    // so the host's setting does not change.
    assert!(
        Path::new("/proc/sys/vm/memfd_noexec").exists(),
        "this test needs Linux 6.3 or later (vm.memfd_noexec)"
    );
    let refuse = "echo 2 > /proc/sys/vm/memfd_noexec && exec \"$0\" \"$@\"";
    let wrapper = Wrapper::new(
        &b.lxcfs,
        &[],
        &[
            "unshare",
            "--pid",
            "--fork",
            "--kill-child=SIGTERM",
            "sh",
            "-c",
            refuse,
        ],
    );
    let inst = Installed::new(&b.lib);
    let d = Daemon::start_with(&wrapper.path, &inst.path, &[]);
    let daemon = only_child(d.pid());
    assert!(
        d.log_text()
            .contains("cannot keep a private copy of the library (Permission denied"),
        "{}",
        d.log_text()
    );
    let mapped = |context: &str| {
        let maps = std::fs::read_to_string(format!("/proc/{daemon}/maps")).unwrap();
        let lines: BTreeMap<u64, String> = maps
            .lines()
            .filter(|l| l.contains("liblxcfs"))
            .filter_map(|l| {
                let mut f = l.split_whitespace().skip(4);
                Some((f.next()?.parse().ok()?, f.next()?.to_string()))
            })
            .collect();
        let want: BTreeMap<u64, String> = [(inst.inode(), inst.path.display().to_string())].into();
        assert_eq!(
            lines, want,
            "{context}: the installed file, mapped in place"
        );
    };
    mapped("at start");
    assert_serving(&d, "mapped in place");

    // Reloads work as before (the operator's `rm` matters again here).
    inst.install(&v);
    let line = reload_pid(&d, daemon);
    assert_reloaded(&d, &line, &variant_version());
    mapped("after a reload");
    assert_eq!(read_errno(&d, "proc/.lxcfs-panic"), Some(libc::EIO));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(daemon as i32), Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while is_mounted(&d.mnt) {
        assert!(
            Instant::now() < deadline,
            "SIGTERM did not unmount; log:\n{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_huge_file_at_the_library_path_is_refused_before_it_costs_memory() {
    // The daemon in a memory cgroup of 96 MiB; 200 MiB of zeros at the library path. Copying
    // it into memory before looking at it would get the daemon OOM-killed.
    let b = binaries();
    let inst = Installed::new(&b.lib);
    let d = Daemon::start_with(&b.lxcfs, &inst.path, &[]);
    let cg = Cgroup::new(&unique("huge"), &["memory"]);
    cg.set(
        "memory",
        "memory.limit_in_bytes",
        &(96u64 << 20).to_string(),
    );
    cg.set("memory", "cgroup.procs", &d.pid().to_string());
    for (len, why) in [
        (200u64 << 20, "not a complete shared object"),
        (300u64 << 20, "more than any lxcfs library"),
    ] {
        inst.remove();
        let f = std::fs::File::create(&inst.path).unwrap();
        f.set_len(len).unwrap();
        drop(f);
        let line = reload(&d);
        assert!(
            line.contains("reload refused:") && line.contains(why),
            "{len} bytes: {line}"
        );
        assert_serving(&d, "after a huge file");
    }
    let oom = cg.get("memory", "memory.oom_control");
    assert!(oom.contains("oom_kill 0"), "{oom}");
    // Out of the cgroup again before it is removed.
    std::fs::write("/sys/fs/cgroup/memory/cgroup.procs", d.pid().to_string()).unwrap();
}

#[test]
fn bad_libraries_are_refused_while_the_last_good_one_serves() {
    let (b, v, _snapshot) = snapshot();
    let tmp = TempDir::new("reload-bad");
    let text = tmp.path().join("text.so");
    std::fs::write(&text, "this is not an ELF object\n").unwrap();
    // Another shared object: its initializer leaves a mark wherever it runs (the daemon or
    // the probing child); it must be refused before anything loads it.
    let ran = tmp.path().join("no-entry-initializer-ran");
    let no_entry = cc(
        tmp.path(),
        "no-entry",
        "#include <fcntl.h>\n#include <unistd.h>\n\
         __attribute__((constructor)) static void ran(void) {\n\
         int fd = open(MARKER, O_CREAT | O_WRONLY, 0600); if (fd >= 0) close(fd); }\n\
         int lxcfs_vtable_v0(void) { return 0; }\n",
        &[format!("-DMARKER=\"{}\"", ran.display())],
    );
    let size = std::mem::size_of::<lxcfs_abi::LibVTable>();
    let abi99 = cc(
        tmp.path(),
        "abi99",
        FAKE_VTABLE_C,
        &["-DABI=99".into(), format!("-DSIZE={size}")],
    );
    let small = cc(
        tmp.path(),
        "small",
        FAKE_VTABLE_C,
        &["-DABI=1".into(), "-DSIZE=8".into()],
    );

    // Copies of the real library cut short, as a reload signalled while `cp` is still
    // writing (or after a full disk) finds them: dlopen would map pages past the end of the
    // file and the daemon would die of SIGBUS touching them.
    let whole = std::fs::read(&b.lib).unwrap();
    let cut = |name: &str, len: usize| {
        let p = tmp.path().join(name);
        std::fs::write(&p, &whole[..len]).unwrap();
        p
    };
    let cut_100k = cut("cut-100k.so", 100_000);
    let cut_half = cut("cut-half.so", whole.len() / 2);
    let cut_last_page = cut("cut-last-page.so", whole.len() - 4096);
    // Whole size and intact headers and tables, but pages 100..400 never written (a
    // preallocating or out-of-order copy interrupted): dlopen and the image's initializers
    // run into zeros. Tried in a child process first, it is refused without harm.
    let holes = tmp.path().join("holes.so");
    let mut with_holes = whole.clone();
    with_holes[100 * 4096..400 * 4096].fill(0);
    std::fs::write(&holes, &with_holes).unwrap();

    let inst = Installed::new(&b.lib);
    let good = inst.inode();
    let d = Daemon::start_with(&b.lxcfs, &inst.path, &[]);

    // SIGUSR1 with the same file installed: it is unloaded and loaded again.
    assert_reloaded(&d, &reload(&d), NORMAL);
    assert_images(&d, &[good], "after reloading the same file");

    let still = format!("still serving liblxcfs {NORMAL} (build ");
    let incomplete: &[&str] = &["not a complete shared object"];
    let cases: [(&str, Option<&Path>, &[&str]); 9] = [
        (
            "missing file",
            None,
            &["cannot open library", "No such file"],
        ),
        ("not an ELF file", Some(&text), incomplete),
        (
            "the first 100 kB of the library",
            Some(&cut_100k),
            incomplete,
        ),
        ("half of the library", Some(&cut_half), incomplete),
        (
            "the library but its last page",
            Some(&cut_last_page),
            incomplete,
        ),
        (
            "the library with 300 pages of zeros",
            Some(&holes),
            &["loading it killed a test process"],
        ),
        (
            "ELF object without the entry symbol",
            Some(&no_entry),
            &["no symbol lxcfs_vtable_v1", "nothing of the file was run"],
        ),
        (
            "ABI version mismatch",
            Some(&abi99),
            &["ABI version 99 (need 1)"],
        ),
        ("vtable too small", Some(&small), &["vtable size 8 bytes"]),
    ];
    for (what, file, needles) in cases {
        match file {
            Some(f) => {
                inst.install(f);
            }
            None => inst.remove(),
        }
        let line = reload(&d);
        assert!(
            line.contains("reload refused:") && line.contains(&still),
            "{what}: {line}"
        );
        for n in needles {
            assert!(line.contains(n), "{what}: {n:?} not in {line:?}");
        }
        assert_serving(&d, what);
        assert_images(&d, &[good], what);
    }
    assert!(
        !ran.exists(),
        "the initializer of the library without the entry symbol ran"
    );
    // A good library afterwards is taken.
    let ino = inst.install(&v);
    assert_reloaded(&d, &reload(&d), &variant_version());
    assert_images(&d, &[ino], "good library after the bad ones");
    assert_serving(&d, "good library after the bad ones");
    assert_eq!(read_errno(&d, "proc/.lxcfs-panic"), Some(libc::EIO));
}

#[test]
fn failing_or_panicking_init_brings_the_previous_library_back() {
    let (b, v, _snapshot) = snapshot();
    for mode in ["fail", "panic"] {
        // Only the variant (test-hooks) library reads LXCFS_TEST_INIT.
        let wrapper = Wrapper::new(&b.lxcfs, &[("LXCFS_TEST_INIT", mode)], &[]);
        let inst = Installed::new(&b.lib);
        let good = inst.inode();
        let d = Daemon::start_with(&wrapper.path, &inst.path, &[]);
        inst.install(&v);
        let line = reload(&d);
        assert!(
            line.contains("reload failed:")
                && line.contains("library init failed")
                && line.contains(&format!(
                    "the previous liblxcfs {NORMAL} (build {}) was loaded again",
                    build_of(&d, 0)
                )),
            "{mode}: {line}\nlog:\n{}",
            d.log_text()
        );
        let errno = if mode == "fail" {
            "Operation not permitted"
        } else {
            "Input/output error"
        };
        assert!(line.contains(errno), "{mode}: {line}");
        if mode == "panic" {
            assert!(
                d.log_text().contains("test hook: panic in init"),
                "the panic is logged:\n{}",
                d.log_text()
            );
        }
        assert_serving(&d, mode);
        // The previous file was removed by the install; it is loaded again from the daemon's
        // descriptor, and the failed image is gone.
        assert_images(&d, &[good], mode);
        assert_eq!(read_errno(&d, "proc/.lxcfs-panic"), Some(libc::ENOENT));

        let ino = inst.install(&b.lib);
        assert_reloaded(&d, &reload(&d), NORMAL);
        assert_images(&d, &[ino], &format!("{mode}: good reload afterwards"));
        assert_serving(&d, mode);
    }
}

/// The build id the `n`-th "ready" line of the log names.
fn build_of(d: &Daemon, n: usize) -> String {
    d.log_text()
        .lines()
        .filter(|l| l.contains(" ready; "))
        .nth(n)
        .and_then(|l| l.split_once("(build ")?.1.split_once(')'))
        .map(|(b, _)| b.to_string())
        .unwrap_or_else(|| panic!("no ready line {n}:\n{}", d.log_text()))
}

#[test]
fn a_panicking_operation_fails_alone() {
    let (b, v, _snapshot) = snapshot();
    // With RUST_BACKTRACE=1 the standard panic hook would map the library for symbolizing
    // and never unmap it; the library's own hook does not.
    let wrapper = Wrapper::new(&b.lxcfs, &[("RUST_BACKTRACE", "1")], &[]);
    let inst = Installed::new(&v);
    let d = Daemon::start_with(&wrapper.path, &inst.path, &[]);
    for i in 0..20 {
        assert_eq!(
            read_errno(&d, "proc/.lxcfs-panic"),
            Some(libc::EIO),
            "read {i}"
        );
        assert_serving(&d, &format!("after panic {i}"));
    }
    let log = d.log_text();
    assert!(
        log.contains("test hook: panic inside a read") && log.contains("panic in read"),
        "{log}"
    );
    let ino = inst.install(&b.lib);
    assert_reloaded(&d, &reload(&d), NORMAL);
    assert_images(&d, &[ino], "the panics pinned nothing");
    assert_eq!(read_errno(&d, "proc/.lxcfs-panic"), Some(libc::ENOENT));
}

/// Reads `rel` under the mount from a shell inside `cg`.
fn read_in(cg: &Cgroup, d: &Daemon, rel: &str) -> String {
    cg.sh(&format!("cat {}", d.path(rel).display()))
}

/// The aggregate `cpu` line of a `/proc/stat` text and its number of rows.
fn stat_total(text: &str) -> (CpuTimes, usize) {
    let mut total = None;
    let mut rows = 0;
    for l in text.lines() {
        match parse_cpu_line(l) {
            Some(CpuLine::Total(t)) => total = Some(t),
            Some(CpuLine::Cpu(..)) => rows += 1,
            None => {}
        }
    }
    (total.unwrap_or_else(|| panic!("no cpu line: {text}")), rows)
}

/// The number in the last log line matching `<prefix>N<suffix>`.
fn last_count(log: &str, prefix: &str, suffix: &str) -> Option<u64> {
    log.lines().rev().find_map(|l| {
        let (_, rest) = l.split_once(prefix)?;
        rest.strip_suffix(suffix)
            .or_else(|| rest.split_once(suffix).map(|(n, _)| n))?
            .trim()
            .parse()
            .ok()
    })
}

#[test]
fn loadavg_and_cpu_view_history_survive_a_reload() {
    let (b, v, _snapshot) = snapshot();
    let two_cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2;
    let inst = Installed::new(&b.lib);
    let d = Daemon::start_with(&b.lxcfs, &inst.path, &["-l"]);
    let cg = Cgroup::new(&unique("state"), &["cpu", "cpuacct", "cpuset"]);
    if two_cpus {
        cg.set("cpuset", "cpuset.cpus", "0-1");
    }
    let busy = cg.sh("(while :; do :; done) >/dev/null 2>&1 & echo $!");
    let busy: u32 = busy.trim().parse().expect("busy pid");
    let _busy = KillOnDrop(busy);

    // The first read tracks the cgroup (zeros); the host's 5-second tick then moves it.
    let first = read_in(&cg, &d, "proc/loadavg");
    assert!(first.starts_with("0.00 0.00 0.00 "), "{first}");
    let (stat_before, rows) = stat_total(&read_in(&cg, &d, "proc/stat"));
    let deadline = Instant::now() + Duration::from_secs(15);
    let before = loop {
        let l = read_in(&cg, &d, "proc/loadavg");
        if !l.starts_with("0.00 ") {
            break l;
        }
        assert!(
            Instant::now() < deadline,
            "loadavg never moved: {l}; tasks of the cgroup {:?}, busy loop {busy} in {:?}; \
             log:\n{}",
            cg.get("cpu", "tasks"),
            std::fs::read_to_string(format!("/proc/{busy}/cgroup")),
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    };

    inst.install(&v);
    assert_reloaded(&d, &reload(&d), &variant_version());
    let log = d.log_text();
    let saved = last_count(&log, "shutting down; ", " records of state").expect("saved count");
    let restored = last_count(&log, "ready; ", " saved records restored").expect("restored count");
    assert!(saved >= 2, "cpuview and loadavg records saved:\n{log}");
    assert_eq!(restored, saved, "every saved record restored:\n{log}");

    // A cgroup the new library did not know would show 0.00 0.00 0.00 now.
    let after = read_in(&cg, &d, "proc/loadavg");
    assert!(
        !after.starts_with("0.00 "),
        "averages lost in the reload: before {before:?}, after {after:?}"
    );
    println!("loadavg before the reload {before:?}, after {after:?}");

    if two_cpus {
        assert_eq!(rows, 2);
        // One CPU now. Without the history the single row's idle could be at most the host's
        // uptime; with it, the two rows shown before are folded in and nothing decreases.
        cg.set("cpuset", "cpuset.cpus", "0");
        let (stat_after, rows) = stat_total(&read_in(&cg, &d, "proc/stat"));
        let up: f64 = std::fs::read_to_string("/proc/uptime")
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(rows, 1);
        for col in 0..stat_before.0.len() {
            assert!(
                stat_after.0[col] >= stat_before.0[col],
                "column {col} decreased: {stat_before:?} -> {stat_after:?}"
            );
        }
        assert!(
            stat_after.0[3] as f64 > up * 100.0,
            "idle {} is more than one CPU's worth ({} ticks): the history came through",
            stat_after.0[3],
            up * 100.0
        );
    } else {
        println!("one CPU: the cpuset part of this test needs two");
    }
}

/// Arms a PSI trigger through the mount, waits for a line on stdin (the test reloads the
/// library meanwhile), then checks the handle: a second trigger write is refused (the trigger
/// is still armed), poll(2) reports no error, and an event arrives while four busy loops
/// stall each other in the cgroup.
/// Starts `python3` running `script` inside cgroup `cg`, with the daemon's
/// `proc/pressure/cpu` as its argument and stdin and stdout piped; the script's directory is
/// removed when the returned `TempDir` drops.
fn psi_python(d: &Daemon, cg: &Cgroup, script: &str) -> (Child, TempDir) {
    let tmp = TempDir::new("reload-psi");
    let path = tmp.path().join("psi.py");
    std::fs::write(&path, script).unwrap();
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} && exec python3 {} {}",
            cg.enter_script(),
            path.display(),
            d.path("proc/pressure/cpu").display()
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn python3");
    (child, tmp)
}

const PSI_PY: &str = r#"
import errno, os, select, subprocess, sys, time
p = sys.argv[1]
def err(f):
    try:
        f()
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]
fd = os.open(p, os.O_RDWR | os.O_NONBLOCK)
print("armed", err(lambda: os.write(fd, b"some 150000 1000000")), flush=True)
sys.stdin.readline()
print("second", err(lambda: os.write(fd, b"some 150000 1000000")), flush=True)
bad = select.POLLERR | select.POLLNVAL | select.POLLHUP
po = select.poll()
po.register(fd, select.POLLPRI)
print("poll0", "error" if any(ev & bad for _, ev in po.poll(0)) else "ok", flush=True)
kids = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(4)]
t0 = time.time()
got = None
errors = 0
try:
    while time.time() - t0 < 15 and got is None:
        for _, ev in po.poll(500):
            if ev & bad:
                errors += 1
            if ev & select.POLLPRI:
                got = time.time() - t0
finally:
    for k in kids:
        k.kill()
        k.wait()
print("errors", errors)
print("event", "none" if got is None else "%.2f" % got, flush=True)
"#;

#[test]
fn an_armed_psi_trigger_survives_a_reload() {
    let (b, v, _snapshot) = snapshot();
    let inst = Installed::new(&b.lib);
    let d = Daemon::start_with(&b.lxcfs, &inst.path, &["--enable-psi-poll"]);
    let cg = Cgroup::new(&unique("psi"), &["unified"]);
    let (mut child, _script) = psi_python(&d, &cg, PSI_PY);
    let _kill = KillOnDrop(child.id());
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut armed = String::new();
    out.read_line(&mut armed).unwrap();
    assert_eq!(armed.trim(), "armed ok", "log:\n{}", d.log_text());

    let ino = inst.install(&v);
    assert_reloaded(&d, &reload(&d), &variant_version());
    assert_images(&d, &[ino], "with an armed trigger");
    writeln!(stdin, "go").unwrap();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let _ = child.wait();
    let lines: Vec<&str> = rest.lines().collect();
    assert_eq!(
        lines.get(..3),
        Some(&["second EBUSY", "poll0 ok", "errors 0"][..]),
        "{rest}\nlog:\n{}",
        d.log_text()
    );
    let event = lines
        .get(3)
        .and_then(|l| l.strip_prefix("event "))
        .unwrap_or("none");
    assert_ne!(event, "none", "no PSI event after the reload: {rest}");
    println!("psi: event {event} s after the reload");
}

/// A trigger write whose check is slow (`LXCFS_TEST_PSI_DELAY_MS` in the variant library), a
/// reload that must wait for it, and a read of the same open file issued while the reload
/// waits: the read holds the file's slot and waits for the reload, so the write must not need
/// that slot before it leaves the library. Prints `ready`, then `read ok`, then `write ok`.
const PSI_RACE_PY: &str = r#"
import os, sys, threading, time
fd = os.open(sys.argv[1], os.O_RDWR)
res = {}
def arm():
    try:
        os.write(fd, b"some 150000 1000000")
        res["write"] = "ok"
    except OSError as e:
        res["write"] = e.strerror
w = threading.Thread(target=arm)
w.start()
time.sleep(0.3)
print("ready", flush=True)
sys.stdin.readline()
time.sleep(0.3)
try:
    os.pread(fd, 4096, 0)
    print("read ok", flush=True)
except OSError as e:
    print("read", e.strerror, flush=True)
w.join()
print("write", res.get("write"), flush=True)
"#;

#[test]
fn a_read_and_a_trigger_write_on_one_file_do_not_deadlock_a_reload() {
    let (b, v, _snapshot) = snapshot();
    let wrapper = Wrapper::new(&b.lxcfs, &[("LXCFS_TEST_PSI_DELAY_MS", "1500")], &[]);
    let inst = Installed::new(&v);
    let d = Daemon::start_with(&wrapper.path, &inst.path, &["--enable-psi-poll"]);
    let cg = Cgroup::new(&unique("psi-race"), &["unified"]);
    let (mut child, _script) = psi_python(&d, &cg, PSI_RACE_PY);
    let _kill = KillOnDrop(child.id());
    let mut stdin = child.stdin.take().unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = |what: &str| {
        rx.recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| {
                panic!(
                    "no `{what}` line within 20 s: the daemon is stuck; log:\n{}",
                    d.log_text()
                )
            })
    };
    assert_eq!(next("ready"), "ready");
    // The write is inside the library for 1.5 s: the reload waits for it, and the read below
    // comes while it waits.
    inst.install(&v);
    d.signal(Signal::SIGUSR1);
    writeln!(stdin, "go").unwrap();
    assert_eq!(next("read"), "read ok");
    assert_eq!(next("write"), "write ok");
    let _ = child.wait();
    let line = reload(&d);
    assert_reloaded(&d, &line, &variant_version());
    assert_eq!(
        outcomes(&d.log_text()).len(),
        2,
        "both reloads finished: {}",
        d.log_text()
    );
}

#[test]
fn an_image_that_stays_in_memory_is_reported_and_the_new_code_runs() {
    let (b, v, _snapshot) = snapshot();
    // The variant pins itself (RTLD_NODELETE) at init; the normal library ignores the switch.
    let wrapper = Wrapper::new(&b.lxcfs, &[("LXCFS_TEST_INIT", "pin")], &[]);
    let inst = Installed::new(&b.lib);
    let d = Daemon::start_with(&wrapper.path, &inst.path, &[]);
    let pinned = inst.install(&v);
    assert_reloaded(&d, &reload(&d), &variant_version());
    assert!(d.log_text().contains("this image is pinned"));
    assert_images(&d, &[pinned], "pinned variant serving");

    let normal = inst.install(&b.lib);
    let line = reload(&d);
    assert_reloaded(&d, &line, NORMAL);
    assert!(line.contains("(old image could not be unloaded)"), "{line}");
    let log = d.log_text();
    assert!(
        log.contains("is still in memory after dlclose")
            && log.contains("the old liblxcfs image could not be unloaded"),
        "{log}"
    );
    assert_images(&d, &[pinned, normal], "old image leaked, new one loaded");
    // The normal library answers, not the pinned variant.
    assert_eq!(read_errno(&d, "proc/.lxcfs-panic"), Some(libc::ENOENT));
    assert_serving(&d, "after the leak");
    // The descriptor of the leaked image is kept (its name must never be reused).
    let fds = std::fs::read_dir(format!("/proc/{}/fd", d.pid()))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|t| source_inode(&t.to_string_lossy()) == Some(pinned))
        .count();
    assert_eq!(fds, 1, "one descriptor kept on the leaked image's copy");

    // The next reload unloads the normal library as usual.
    let again = inst.install(&v);
    assert_reloaded(&d, &reload(&d), &variant_version());
    assert_images(&d, &[pinned, again], "normal library unloaded");
    assert_eq!(read_errno(&d, "proc/.lxcfs-panic"), Some(libc::EIO));
}

#[test]
fn with_no_library_left_the_mount_answers_eio_until_a_good_reload() {
    let (b, v, _snapshot) = snapshot();
    // The variant fails every init made by a reload, so the previous (variant) library
    // cannot come back either.
    let wrapper = Wrapper::new(&b.lxcfs, &[("LXCFS_TEST_INIT", "fail-reload")], &[]);
    let inst = Installed::new(&v);
    let d = Daemon::start_with(&wrapper.path, &inst.path, &[]);
    inst.install(&v);
    let line = reload(&d);
    assert!(
        line.contains("reload failed:") && line.contains("no library is loaded"),
        "{line}\nlog:\n{}",
        d.log_text()
    );
    assert!(alive(d.pid()) && is_mounted(&d.mnt));
    assert_eq!(read_errno(&d, "proc/meminfo"), Some(libc::EIO));
    assert_images(&d, &[], "both failed images are gone");

    let ino = inst.install(&b.lib);
    let line = reload(&d);
    assert!(
        line.contains(&format!(
            "reloaded liblxcfs: none (build none) -> {NORMAL} (build "
        )),
        "{line}"
    );
    assert_images(&d, &[ino], "recovered");
    assert_serving(&d, "recovered");
}
