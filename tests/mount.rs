//! The real thing: the daemon mounted with FUSE, real v1 memory cgroups with real limits, and
//! real processes (shells, threads, processes in their own pid namespace) reading through the
//! mount. Needs root and /dev/fuse (CI has both). Every test removes its cgroups and mount,
//! also when it fails (Drop guards in the test kit).

use std::os::unix::fs::{FileExt, PermissionsExt};
use std::process::Command;
use std::time::Duration;

use lxcfs_testkit::{binaries, is_mounted, meminfo_value, Cgroup, Daemon, TempDir};

const MIB: u64 = 1 << 20;

fn unique(tag: &str) -> String {
    format!("/lxcfs-test-{tag}-{}", std::process::id())
}

/// MemTotal in kB from meminfo text.
fn memtotal(text: &str) -> u64 {
    meminfo_value(text, "MemTotal").unwrap_or_else(|| panic!("no MemTotal in {text:?}"))
}

fn read_in(cg: &Cgroup, d: &Daemon, rel: &str) -> String {
    cg.sh(&format!("cat {}", d.path(rel).display()))
}

#[test]
fn memory_limit_256m() {
    let d = Daemon::start(&[]);
    let cg = Cgroup::new(&unique("m256"), &["memory"]);
    cg.set("memory", "memory.limit_in_bytes", &(256 * MIB).to_string());
    let m = read_in(&cg, &d, "proc/meminfo");
    assert_eq!(memtotal(&m), 262144, "{m}");
    let free = meminfo_value(&m, "MemFree").unwrap();
    assert!(free <= 262144 && free > 200_000, "MemFree {free}");
    let swaps = read_in(&cg, &d, "proc/swaps");
    assert!(swaps.starts_with("Filename\t"), "{swaps}");
}

#[test]
fn parent_limit_bounds_a_child() {
    let d = Daemon::start(&[]);
    let parent = unique("parent");
    let p = Cgroup::new(&parent, &["memory"]);
    p.set("memory", "memory.limit_in_bytes", &(128 * MIB).to_string());
    let c = Cgroup::new(&format!("{parent}/child"), &["memory"]);
    c.set("memory", "memory.limit_in_bytes", &(512 * MIB).to_string());
    assert_eq!(memtotal(&read_in(&c, &d, "proc/meminfo")), 131072);
    drop(c);
}

#[test]
fn reader_thread_resolves_to_its_process() {
    let d = Daemon::start(&[]);
    let cg = Cgroup::new(&unique("thread"), &["memory"]);
    cg.set("memory", "memory.limit_in_bytes", &(192 * MIB).to_string());
    let script = format!(
        "python3 -c \"import threading\nr=[]\nt=threading.Thread(target=lambda: \
         r.append(open('{}').read()))\nt.start(); t.join(); print(r[0])\"",
        d.path("proc/meminfo").display()
    );
    let out = cg.sh(&script);
    assert_eq!(memtotal(&out), 196608, "{out}");
}

#[test]
fn pid_namespace_uses_its_init_cgroup() {
    let d = Daemon::start(&[]);
    let base = unique("pidns");
    let cg = Cgroup::new(&base, &["memory"]);
    cg.set("memory", "memory.limit_in_bytes", &(256 * MIB).to_string());
    let sub = Cgroup::new(&format!("{base}/sub"), &["memory"]);
    sub.set("memory", "memory.limit_in_bytes", &(64 * MIB).to_string());
    let meminfo = d.path("proc/meminfo");
    // The init of the new namespace stays in `base`; a child moves to `base/sub` and still sees
    // the container (init) limit, while a host process in `sub` sees its own 64 MiB.
    let out = cg.sh_in_pidns(&format!(
        "cat {m} | head -1; sh -c 'echo $$ > {sub}/cgroup.procs; cat {m} | head -1'",
        m = meminfo.display(),
        sub = sub.dir("memory").display()
    ));
    let totals: Vec<u64> = out.lines().map(memtotal).collect();
    assert_eq!(totals, vec![262144, 262144], "{out}");
    assert_eq!(memtotal(&read_in(&sub, &d, "proc/meminfo")), 65536);
}

#[test]
fn concurrent_containers_see_only_their_own() {
    let d = Daemon::start(&[]);
    let a = Cgroup::new(&unique("conc-a"), &["memory"]);
    a.set("memory", "memory.limit_in_bytes", &(100 * MIB).to_string());
    let b = Cgroup::new(&unique("conc-b"), &["memory"]);
    b.set("memory", "memory.limit_in_bytes", &(300 * MIB).to_string());
    let loop_script = |expect: u64| {
        format!(
            "i=0; while [ $i -lt 150 ]; do v=$(head -1 {m} | tr -s ' ' | cut -d' ' -f2); \
             [ \"$v\" = {expect} ] || {{ echo BAD $v; exit 1; }}; i=$((i+1)); done; echo OK",
            m = d.path("proc/meminfo").display()
        )
    };
    let (sa, sb) = (loop_script(102400), loop_script(307200));
    let ta = std::thread::spawn({
        let s = format!("{} && {}", a.enter_script(), sa);
        move || Command::new("sh").arg("-c").arg(s).output().unwrap()
    });
    let tb = std::thread::spawn({
        let s = format!("{} && {}", b.enter_script(), sb);
        move || Command::new("sh").arg("-c").arg(s).output().unwrap()
    });
    for (name, t) in [("a", ta), ("b", tb)] {
        let o = t.join().unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success() && out.contains("OK"), "{name}: {out}");
    }
}

/// Up to `len` bytes of `f` at offset `off` (one `pread`), as text.
fn pread_text(f: &std::fs::File, off: u64, len: usize) -> String {
    let mut buf = vec![0u8; len];
    let n = f.read_at(&mut buf, off).unwrap();
    buf.truncate(n);
    String::from_utf8(buf).unwrap()
}

#[test]
fn a_read_at_offset_zero_renders_and_later_offsets_read_its_snapshot() {
    let d = Daemon::start(&[]);
    let f = std::fs::File::open(d.path("proc/uptime")).unwrap();
    let pread = |off: u64, len: usize| pread_text(&f, off, len);
    // The rest of a pass comes from the render its read at offset 0 made, however late.
    let head = pread(0, 4);
    std::thread::sleep(Duration::from_millis(60));
    let tail = pread(4, 4096);
    let pass = format!("{head}{tail}");
    let fields: Vec<f64> = pass
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(fields.len() == 2 && pass.ends_with('\n'), "{pass:?}");
    // Every read at offset 0 renders anew (as seq_file does), also when the previous one did
    // not reach the end of the file: the uptime has moved on by 60 ms.
    let short = pass.len() - 1;
    let first = pread(0, short);
    std::thread::sleep(Duration::from_millis(60));
    let second = pread(0, short);
    assert_ne!(first, second, "a read at offset 0 served the old snapshot");
    // Reading in 7-byte chunks reassembles the same bytes as one read of a second open.
    let g = std::fs::File::open(d.path("proc/meminfo")).unwrap();
    let mut chunks = Vec::new();
    let mut off = 0u64;
    loop {
        let mut buf = [0u8; 7];
        let k = g.read_at(&mut buf, off).unwrap();
        if k == 0 {
            break;
        }
        chunks.extend_from_slice(&buf[..k]);
        off += k as u64;
    }
    let text = String::from_utf8(chunks).unwrap();
    assert!(
        text.starts_with("MemTotal:") && text.ends_with('\n'),
        "{text}"
    );
    assert_eq!(
        text.lines().count(),
        std::fs::read_to_string("/proc/meminfo")
            .unwrap()
            .lines()
            .count()
    );
}

#[test]
fn a_read_going_back_after_a_whole_read_finds_the_same_pass() {
    // bash's `read` reads a block at offset 0, then seeks back to the end of the line it
    // used and reads from there: that must be the same pass, however late, or lines come
    // out torn when a counter's width changes between two renders.
    let d = Daemon::start(&[]);
    let f = std::fs::File::open(d.path("proc/uptime")).unwrap();
    let pread = |off: u64, len: usize| pread_text(&f, off, len);
    let whole = pread(0, 4096);
    assert!(whole.ends_with('\n') && whole.len() > 4, "{whole:?}");
    std::thread::sleep(Duration::from_millis(60));
    assert_eq!(
        pread(2, 4096),
        whole[2..],
        "a read going back got another pass"
    );
    assert_eq!(pread(whole.len() as u64, 4096), "", "EOF after the content");
    assert_eq!(
        pread(whole.len() as u64 + 100, 16),
        "",
        "EOF past the content"
    );
    // Another open renders its own pass, and leaves this one's alone.
    std::thread::sleep(Duration::from_millis(60));
    let other = std::fs::File::open(d.path("proc/uptime")).unwrap();
    assert_ne!(
        pread_text(&other, 0, 4096),
        whole,
        "a new open renders anew"
    );
    assert_eq!(pread(1, 4096), whole[1..]);
    // And a read at offset 0 is a fresh pass again.
    let again = pread(0, 4096);
    let up = |s: &str| s.split_whitespace().next().unwrap().parse::<f64>().unwrap();
    assert!(up(&again) > up(&whole), "{whole:?} then {again:?}");
}

#[test]
fn a_descriptor_shared_with_another_container_never_serves_its_render() {
    // One open file, inherited by processes of two containers (pid namespaces whose inits sit
    // in cgroups with different limits). The first reads the start of its pass; the second
    // reads the whole file at offset 0 (its own pass); then a process of the first container
    // reads on from where the first stopped. It must get the rest of a pass of its own
    // container, never the other container's figures.
    let d = Daemon::start(&[]);
    let small = Cgroup::new(&unique("shared-small"), &["memory"]);
    small.set("memory", "memory.limit_in_bytes", &(256 * MIB).to_string());
    let large = Cgroup::new(&unique("shared-large"), &["memory"]);
    large.set("memory", "memory.limit_in_bytes", &(1024 * MIB).to_string());
    let f = std::fs::File::open(d.path("proc/meminfo")).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
    let flags = nix::fcntl::fcntl(&f, nix::fcntl::FcntlArg::F_GETFD).unwrap();
    let inherit = nix::fcntl::FdFlag::from_bits_truncate(flags) - nix::fcntl::FdFlag::FD_CLOEXEC;
    nix::fcntl::fcntl(&f, nix::fcntl::FcntlArg::F_SETFD(inherit)).unwrap();
    let pread = |cg: &Cgroup, off: u64, len: usize| {
        cg.sh_in_pidns(&format!(
            "python3 -c 'import os, sys; sys.stdout.buffer.write(os.pread({fd}, {len}, {off}))'"
        ))
    };
    let start = pread(&small, 0, 28);
    assert!(start.starts_with("MemTotal:"), "{start:?}");
    let other = pread(&large, 0, 4096);
    assert_eq!(memtotal(&other), 1024 * 1024, "{other}");
    let rest = pread(&small, 28, 4096);
    let seen = format!("{start}{rest}");
    assert_eq!(memtotal(&seen), 262144, "{seen}");
    let free = meminfo_value(&seen, "MemFree").unwrap();
    assert!(
        free <= 262144,
        "MemFree {free} kB above the container's MemTotal: the other container's render \
         was served:\n{seen}"
    );
}

#[test]
fn threads_sharing_a_descriptor_each_read_their_own_pass() {
    // Thread A reads the start of a pass, thread B reads a later pass whole at offset 0 on the
    // same descriptor, then A reads on: A must get the rest of its own pass, not B's.
    let d = Daemon::start(&[]);
    let f = std::sync::Arc::new(std::fs::File::open(d.path("proc/uptime")).unwrap());
    let (to_a, a_rx) = std::sync::mpsc::channel::<()>();
    let (to_main, main_rx) = std::sync::mpsc::channel::<String>();
    let fa = f.clone();
    let a = std::thread::spawn(move || {
        let start = pread_text(&fa, 0, 2);
        to_main.send(start.clone()).unwrap();
        a_rx.recv().unwrap();
        format!("{start}{}", pread_text(&fa, 2, 4096))
    });
    let start = main_rx.recv().unwrap();
    assert_eq!(start.len(), 2, "{start:?}");
    std::thread::sleep(Duration::from_millis(60));
    let fb = f.clone();
    let later = std::thread::spawn(move || pread_text(&fb, 0, 4096))
        .join()
        .unwrap();
    to_a.send(()).unwrap();
    let own = a.join().unwrap();
    let up = |s: &str| s.split_whitespace().next().unwrap().parse::<f64>().unwrap();
    assert!(own.ends_with('\n'), "{own:?}");
    assert!(
        up(&own) < up(&later),
        "thread A got thread B's later pass: {own:?}, B read {later:?}"
    );
}

/// Runs the Python `script` (where `{m}` stands for the mount's `proc/uptime`) in a new
/// container (pid namespace) whose init is in a fresh memory cgroup; returns its output.
fn python_in_container(d: &Daemon, tag: &str, script: &str) -> String {
    let cg = Cgroup::new(&unique(tag), &["memory"]);
    let dir = TempDir::new(tag);
    let py = dir.path().join("t.py");
    let text = script.replace("{m}", &d.path("proc/uptime").display().to_string());
    std::fs::write(&py, text).unwrap();
    cg.sh_in_pidns(&format!("python3 {}", py.display()))
}

#[test]
fn another_thread_of_the_same_container_reads_on_in_the_same_pass() {
    // A Go program's goroutine can move to another thread between two reads of one file, and
    // `{ read a; cat; }` continues in a child what the shell began: within one container a
    // read past offset 0 by another thread must continue the pass, however late.
    let d = Daemon::start(&[]);
    let out = python_in_container(
        &d,
        "samepass",
        "import os, threading, time\n\
         fd = os.open('{m}', os.O_RDONLY)\n\
         whole = os.pread(fd, 4096, 0)\n\
         time.sleep(0.06)\n\
         got = []\n\
         t = threading.Thread(target=lambda: got.append(os.pread(fd, 4096, 2)))\n\
         t.start(); t.join()\n\
         fresh = os.pread(os.open('{m}', os.O_RDONLY), 4096, 0)\n\
         print(whole.decode().strip() + '|' + got[0].decode().strip() + '|' + fresh.decode().strip())\n",
    );
    let parts: Vec<&str> = out.trim().split('|').collect();
    assert_eq!(parts.len(), 3, "{out:?}");
    assert_ne!(
        parts[0], parts[2],
        "a new open 60 ms later renders anew: {out:?}"
    );
    assert_eq!(
        parts[1],
        &parts[0][2..],
        "the other thread got another pass: {out:?}"
    );
}

#[test]
fn another_thread_of_a_host_process_reads_on_in_the_same_pass() {
    // Host processes (and hostPID containers) are served for their own cgroups: the threads
    // of one set of cgroups share a view too, so a thread continues another's pass.
    let d = Daemon::start(&[]);
    let f = std::sync::Arc::new(std::fs::File::open(d.path("proc/uptime")).unwrap());
    let whole = pread_text(&f, 0, 4096);
    std::thread::sleep(Duration::from_millis(60));
    let fb = f.clone();
    let rest = std::thread::spawn(move || pread_text(&fb, 2, 4096))
        .join()
        .unwrap();
    assert_eq!(rest, whole[2..], "the other thread got another pass");
}

#[test]
fn threads_of_one_container_sharing_a_descriptor_each_keep_their_pass() {
    // Inside a container: thread A reads the start of a pass, thread B a later pass whole at
    // offset 0 on the same descriptor, then A reads on: A gets the rest of its own pass.
    let d = Daemon::start(&[]);
    let out = python_in_container(
        &d,
        "ownpass",
        "import os, threading, time\n\
         fd = os.open('{m}', os.O_RDONLY)\n\
         start = os.pread(fd, 2, 0)\n\
         time.sleep(0.06)\n\
         later = []\n\
         t = threading.Thread(target=lambda: later.append(os.pread(fd, 4096, 0)))\n\
         t.start(); t.join()\n\
         own = start + os.pread(fd, 4096, 2)\n\
         print(own.decode().strip() + '|' + later[0].decode().strip())\n",
    );
    let (own, later) = out.trim().split_once('|').unwrap();
    let up = |s: &str| s.split_whitespace().next().unwrap().parse::<f64>().unwrap();
    assert!(
        up(own) < up(later),
        "thread A got thread B's later pass: {own:?}, B read {later:?}"
    );
}

/// A process of one container (its pid namespace's init, in cgroup A) reads the start of a
/// shared descriptor and exits; a process of another container (cgroup B) then gets the same
/// host thread id (`clone3` with `set_tid`) and reads on. Prints what the second one read.
const TID_REUSE_C: &str = r#"
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t spawn_init(pid_t host_tid) {
    struct clone_args a;
    pid_t tids[2] = {1, host_tid};
    memset(&a, 0, sizeof a);
    a.flags = CLONE_NEWPID;
    a.exit_signal = SIGCHLD;
    if (host_tid) {
        a.set_tid = (uint64_t)(uintptr_t)tids;
        a.set_tid_size = 2;
    }
    return syscall(SYS_clone3, &a, sizeof a);
}

static void join(const char *procs) {
    int fd = open(procs, O_WRONLY);
    if (fd < 0 || write(fd, "0", 1) != 1) _exit(2);
    close(fd);
}

int main(int argc, char **argv) {
    char buf[8192];
    int fd = open(argv[1], O_RDONLY);
    if (argc != 4 || fd < 0) return 2;
    pid_t a = spawn_init(0);
    if (a < 0) return 3;
    if (a == 0) {
        join(argv[2]);
        _exit(pread(fd, buf, 10, 0) == 10 ? 0 : 4);
    }
    int st;
    if (waitpid(a, &st, 0) != a || st != 0) return 5;
    usleep(100000);
    pid_t b = spawn_init(a);
    if (b < 0) return 6;
    if (b == 0) {
        join(argv[3]);
        ssize_t n = pread(fd, buf, sizeof buf - 1, 10);
        if (n < 0) _exit(7);
        buf[n] = 0;
        fputs(buf, stdout);
        fflush(stdout);
        _exit(0);
    }
    if (waitpid(b, &st, 0) != b || st != 0) return 8;
    printf("\nreused %d\n", (int)a);
    return 0;
}
"#;

#[test]
fn a_thread_id_reused_by_another_container_is_not_served_the_old_pass() {
    let d = Daemon::start(&[]);
    let small = Cgroup::new(&unique("reuse-small"), &["memory"]);
    small.set("memory", "memory.limit_in_bytes", &(256 * MIB).to_string());
    let large = Cgroup::new(&unique("reuse-large"), &["memory"]);
    large.set("memory", "memory.limit_in_bytes", &(1024 * MIB).to_string());
    let dir = TempDir::new("tid-reuse");
    let (c, bin) = (dir.path().join("reuse.c"), dir.path().join("reuse"));
    std::fs::write(&c, TID_REUSE_C).unwrap();
    let cc = Command::new("cc")
        .arg("-o")
        .arg(&bin)
        .arg(&c)
        .output()
        .unwrap();
    assert!(
        cc.status.success(),
        "{}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let out = Command::new(&bin)
        .arg(d.path("proc/meminfo"))
        .arg(small.dir("memory").join("cgroup.procs"))
        .arg(large.dir("memory").join("cgroup.procs"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{:?}: {text}", out.status);
    assert!(text.contains("\nreused "), "{text}");
    // From offset 10 on: the rest of the MemTotal line, then MemFree.
    let free = meminfo_value(&text, "MemFree").unwrap_or_else(|| panic!("{text}"));
    assert!(
        free > 262144,
        "the reused thread id was served the first container's pass (MemFree {free} kB):\n{text}"
    );
}

/// Number of pidfds the process `pid` holds.
fn pidfds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|l| l.to_string_lossy() == "anon_inode:[pidfd]")
                })
                .count()
        })
        .unwrap_or(0)
}

/// The daemon's cached pidfds hold pid namespaces (a pidfd pins its task's `struct pid`, which
/// pins the namespace), and the kernel counts held namespaces against
/// `user.max_pid_namespaces`. In a user namespace allowing 10, thirty one-shot containers
/// that each read meminfo must all start (the daemon used to keep every exited container's
/// namespace until some later read: the eleventh `unshare` failed with ENOSPC), and once
/// nothing reads any more the daemon must let go of every pidfd within a tick (5 s), not keep
/// them until the next read. (The kernel uncounts a freed namespace only after an RCU grace
/// period, which a loaded machine stretches: the containers are 0.2 s apart, so that only the
/// daemon's holding can add up to ten.)
#[test]
fn exited_containers_do_not_keep_their_pid_namespaces() {
    let d = Daemon::start(&[]);
    let cg = Cgroup::new(&unique("pinns"), &["memory"]);
    let script = format!(
        "echo 10 > /proc/sys/user/max_pid_namespaces && for i in $(seq 30); do \
         unshare --pid --fork cat {} >/dev/null || {{ echo \"container $i failed\" >&2; exit 1; }}; \
         sleep 0.2; done",
        d.path("proc/meminfo").display()
    );
    cg.sh(&format!("unshare --user --map-root-user sh -c '{script}'"));
    let deadline = std::time::Instant::now() + Duration::from_secs(12);
    loop {
        let held = pidfds(d.pid());
        if held == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon still holds {held} pidfds 12 s after the last container exited"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn rewinding_reader_sees_fresh_values() {
    // procps keeps /proc/uptime open and re-reads it from offset 0: each pass is new.
    let d = Daemon::start(&[]);
    let f = std::fs::File::open(d.path("proc/uptime")).unwrap();
    let mut buf = [0u8; 128];
    let n1 = f.read_at(&mut buf, 0).unwrap();
    let first = String::from_utf8_lossy(&buf[..n1]).to_string();
    assert_eq!(
        f.read_at(&mut buf, n1 as u64).unwrap(),
        0,
        "EOF after the content"
    );
    std::thread::sleep(Duration::from_millis(1100));
    let n2 = f.read_at(&mut buf, 0).unwrap();
    let second = String::from_utf8_lossy(&buf[..n2]).to_string();
    let up = |s: &str| s.split_whitespace().next().unwrap().parse::<f64>().unwrap();
    assert!(up(&second) > up(&first), "{first:?} then {second:?}");
}

#[test]
fn tree_and_modes_match_upstream() {
    let d = Daemon::start(&[]);
    let mode = |rel: &str| std::fs::metadata(d.path(rel)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(""), 0o755);
    assert_eq!(mode("proc"), 0o555);
    assert_eq!(mode("proc/pressure"), 0o555);
    for f in [
        "cpuinfo",
        "diskstats",
        "loadavg",
        "meminfo",
        "slabinfo",
        "stat",
        "swaps",
        "uptime",
    ] {
        assert_eq!(mode(&format!("proc/{f}")), 0o444, "{f}");
    }
    for r in ["cpu", "io", "memory"] {
        assert_eq!(mode(&format!("proc/pressure/{r}")), 0o444, "{r}");
    }
    let mut names: Vec<String> = std::fs::read_dir(d.path("proc"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "cpuinfo",
            "diskstats",
            "loadavg",
            "meminfo",
            "pressure",
            "slabinfo",
            "stat",
            "swaps",
            "uptime"
        ]
    );
    assert!(d.path("sys/devices/system/cpu/online").exists());
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = mi
        .lines()
        .find(|l| l.contains(&*d.mnt.to_string_lossy()))
        .unwrap();
    assert!(line.contains(" - fuse.lxcfs lxcfs "), "{line}");
    assert!(line.contains("allow_other"), "{line}");
    // Writes are refused.
    assert!(std::fs::write(d.path("proc/meminfo"), "x").is_err());
    assert!(std::fs::create_dir(d.path("proc/new")).is_err());
}

#[test]
fn disable_swap_flag_reports_no_swap() {
    let d = Daemon::start(&["-u"]);
    let cg = Cgroup::new(&unique("noswap"), &["memory"]);
    cg.set("memory", "memory.limit_in_bytes", &(256 * MIB).to_string());
    let m = read_in(&cg, &d, "proc/meminfo");
    assert_eq!(meminfo_value(&m, "SwapTotal"), Some(0));
    assert_eq!(read_in(&cg, &d, "proc/swaps").lines().count(), 1);
}

#[test]
fn sigterm_unmounts_and_removes_the_pidfile() {
    let mut d = Daemon::start(&[]);
    assert!(d.pidfile.exists());
    let st = d.stop().expect("daemon exits on SIGTERM");
    assert!(st.success(), "exit status {st}");
    assert!(!is_mounted(&d.mnt), "still mounted");
    assert!(!d.pidfile.exists(), "pid file left behind");
}

#[test]
fn busy_mount_is_detached_lazily_on_sigterm() {
    let mut d = Daemon::start(&[]);
    let mut holder = Command::new("sh")
        .arg("-c")
        .arg(format!("cd {} && sleep 30", d.path("proc").display()))
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let st = d.stop();
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(st.is_some(), "daemon must exit even with a busy mount");
    assert!(!is_mounted(&d.mnt), "busy mount not detached");
}

#[test]
fn second_instance_on_the_same_pidfile_refuses() {
    let d = Daemon::start(&[]);
    let b = binaries();
    let other = TempDir::new("second");
    let out = Command::new(&b.lxcfs)
        .arg("--library")
        .arg(&b.lib)
        .arg("-p")
        .arg(&d.pidfile)
        .arg(other.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("locked by another lxcfs"), "{err}");
    assert!(!is_mounted(other.path()), "refused instance must not mount");
}

#[test]
fn stale_mount_of_a_killed_daemon_is_cleaned_at_start() {
    let b = binaries();
    let mut first = Daemon::start(&[]);
    let mnt = first.mnt.clone();
    first.signal(nix::sys::signal::Signal::SIGKILL);
    std::thread::sleep(Duration::from_millis(300));
    let dead = std::fs::metadata(&mnt).err().and_then(|e| e.raw_os_error());
    assert_eq!(
        dead,
        Some(libc::ENOTCONN),
        "a killed daemon leaves a dead mount"
    );
    let _ = first.stop();
    // Start a new daemon on the same mount point.
    let pid = first.dir.path().join("second.pid");
    let log = std::fs::File::create(first.dir.path().join("second.log")).unwrap();
    let mut child = Command::new(&b.lxcfs)
        .arg("--library")
        .arg(&b.lib)
        .arg("-p")
        .arg(&pid)
        .arg(&mnt)
        .stderr(log)
        .spawn()
        .unwrap();
    let mut ok = false;
    for _ in 0..200 {
        if std::fs::read_to_string(mnt.join("proc/uptime")).is_ok() {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = child.wait();
    let _ = nix::mount::umount2(&mnt, nix::mount::MntFlags::MNT_DETACH);
    let log = std::fs::read_to_string(first.dir.path().join("second.log")).unwrap_or_default();
    assert!(ok, "new daemon did not serve over the stale mount:\n{log}");
    assert!(log.contains("stale FUSE mount"), "{log}");
}

#[test]
fn missing_library_is_a_clear_error_before_mounting() {
    let b = binaries();
    let t = TempDir::new("nolib");
    let out = Command::new(&b.lxcfs)
        .arg("--library")
        .arg("/nonexistent/liblxcfs.so")
        .arg("-p")
        .arg(t.path().join("p.pid"))
        .arg(t.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/liblxcfs.so"), "{err}");
    assert!(!is_mounted(t.path()));
}

#[test]
fn bad_flags_are_usage_errors() {
    let b = binaries();
    for args in [vec!["--bogus", "/mnt"], vec!["-d", "-f", "/mnt"], vec![]] {
        let out = Command::new(&b.lxcfs).args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?} must fail");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            all.contains("Usage") || all.contains("usage"),
            "{args:?}: {all}"
        );
    }
}

#[test]
fn version_names_host_and_library() {
    let b = binaries();
    let out = Command::new(&b.lxcfs)
        .arg("--library")
        .arg(&b.lib)
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("lxcfs ") && s.contains("liblxcfs "), "{s}");
}

#[test]
fn sigusr2_toggles_virtualization() {
    let d = Daemon::start(&[]);
    let cg = Cgroup::new(&unique("usr2"), &["memory"]);
    cg.set("memory", "memory.limit_in_bytes", &(256 * MIB).to_string());
    assert_eq!(memtotal(&read_in(&cg, &d, "proc/meminfo")), 262144);
    d.signal(nix::sys::signal::Signal::SIGUSR2);
    d.wait_log("non-virtualization", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(100));
    let host = memtotal(&std::fs::read_to_string("/proc/meminfo").unwrap());
    assert_eq!(memtotal(&read_in(&cg, &d, "proc/meminfo")), host);
    d.signal(nix::sys::signal::Signal::SIGUSR2);
    d.wait_log("switched to virtualization", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(memtotal(&read_in(&cg, &d, "proc/meminfo")), 262144);
}

#[test]
fn splice_and_sendfile_copy_the_whole_file() {
    // cp/shutil use copy_file_range/sendfile, which stop at the reported size.
    let d = Daemon::start(&[]);
    let t = TempDir::new("copy");
    for f in [
        "proc/meminfo",
        "proc/cpuinfo",
        "proc/stat",
        "proc/uptime",
        "proc/swaps",
    ] {
        let dst = t.path().join("copy");
        let out = Command::new("python3")
            .arg("-c")
            .arg("import shutil,sys; shutil.copyfile(sys.argv[1], sys.argv[2])")
            .arg(d.path(f))
            .arg(&dst)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{f}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let copied = std::fs::read_to_string(&dst).unwrap();
        assert!(
            !copied.is_empty() && copied.ends_with('\n'),
            "{f}: copied {copied:?}"
        );
        let size = std::fs::metadata(d.path(f)).unwrap().len();
        assert!(
            size >= copied.len() as u64,
            "{f}: st_size {size} < content {}",
            copied.len()
        );
    }
}

#[test]
fn tree_changes_are_refused_with_upstream_errnos() {
    let d = Daemon::start(&[]);
    let errno = |r: std::io::Result<()>| r.unwrap_err().raw_os_error();
    assert_eq!(
        errno(std::fs::create_dir(d.path("proc/x"))),
        Some(libc::EPERM)
    );
    assert_eq!(
        errno(std::fs::create_dir(d.path("sys/devices/system/cpu/x"))),
        Some(libc::EACCES)
    );
    assert_eq!(
        errno(std::fs::rename(d.path("proc/meminfo"), d.path("proc/m2"))),
        Some(libc::EPERM)
    );
    assert_eq!(
        errno(std::fs::write(d.path("sys/devices/system/cpu/online"), "0")),
        Some(libc::EACCES)
    );
    let long = "x".repeat(300);
    assert_eq!(
        std::fs::metadata(d.path(&format!("proc/{long}")))
            .unwrap_err()
            .raw_os_error(),
        Some(libc::ENAMETOOLONG)
    );
    // isatty() on a generated file is answered quietly (no log line per open).
    let out = Command::new("python3")
        .arg("-c")
        .arg(format!(
            "print(open('{}').isatty())",
            d.path("proc/meminfo").display()
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "False");
    assert!(
        !d.log_text().contains("Not Implemented"),
        "{}",
        d.log_text()
    );
}

#[test]
fn a_second_daemon_on_a_served_mountpoint_is_refused() {
    let d = Daemon::start(&[]);
    let b = binaries();
    let other = TempDir::new("stack");
    let out = Command::new(&b.lxcfs)
        .arg("--library")
        .arg(&b.lib)
        .arg("-p")
        .arg(other.path().join("other.pid"))
        .arg(&d.mnt)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already mounted"), "{err}");
    assert!(
        d.read("proc/uptime").ends_with('\n'),
        "the first daemon still serves"
    );
}

#[test]
fn a_mount_point_that_does_not_exist_is_an_error_not_a_new_directory() {
    // As with the C original and mount(8): a mistyped path must not quietly become a mount.
    let b = binaries();
    let dir = TempDir::new("no-mnt");
    let run = |mnt: &std::path::Path| {
        Command::new(&b.lxcfs)
            .arg("--library")
            .arg(&b.lib)
            .arg("-p")
            .arg(dir.path().join("lxcfs.pid"))
            .arg(mnt)
            .output()
            .unwrap()
    };
    let missing = dir.path().join("typo");
    let out = run(&missing);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the mount point does not exist (create it first: mkdir -p"),
        "{err}"
    );
    assert!(!missing.exists(), "the daemon created {missing:?}");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let out = run(&file);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Not a directory"), "{err}");
    assert!(!dir.path().join("lxcfs.pid").exists(), "no pid file left");
}

#[test]
fn external_unmount_makes_the_daemon_exit() {
    let mut d = Daemon::start(&[]);
    nix::mount::umount2(&d.mnt, nix::mount::MntFlags::empty()).expect("umount");
    d.wait_log("unmounted from outside", Duration::from_secs(10));
    let st = d.stop();
    assert!(
        st.is_some_and(|s| s.success()),
        "daemon did not exit cleanly: {st:?}"
    );
    assert!(!d.pidfile.exists());
}

#[test]
fn container_without_cpu_accounting_gets_host_rows_not_root_usage() {
    // Memory and cpuset cgroups only: the container still sits in the cpuacct root, whose
    // counters are the whole host's; stat must not pour them into the container's rows.
    let d = Daemon::start(&[]);
    let cg = Cgroup::new(&unique("noacct"), &["memory", "cpuset"]);
    cg.set("cpuset", "cpuset.cpus", "0");
    let stat = cg.sh_in_pidns(&format!("cat {}", d.path("proc/stat").display()));
    let (total, rows) = lxcfs_testkit::stat_rows(&stat);
    assert_eq!(rows.len(), 1, "{stat}");
    assert!(
        total.0[3] > 0,
        "idle must not be 0 for a fresh container:\n{stat}"
    );
}
