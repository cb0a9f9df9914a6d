//! The render cache (`--cache-ms`) through a real mount: readers are processes in their own
//! pid namespace (the only readers whose renders are kept), inside real v1 memory cgroups with
//! real limits. What must hold: a kept render is served only within its lifetime, only to
//! readers of the same container, and never to a new container that happens to get the pid
//! namespace inode of a dead one, or to a reader that got a dead reader's thread id. Also
//! when a render is made at all: at the first read of an open file, not at its open.

use std::process::Command;

use lxcfs_testkit::{meminfo_value, Cgroup, Daemon};

const MIB: u64 = 1 << 20;

fn unique(tag: &str) -> String {
    format!("/lxcfs-test-{tag}-{}", std::process::id())
}

/// A v1 memory cgroup limited to `mib` MiB.
fn limited(tag: &str, mib: u64) -> Cgroup {
    let cg = Cgroup::new(&unique(tag), &["memory"]);
    cg.set("memory", "memory.limit_in_bytes", &(mib * MIB).to_string());
    cg
}

/// MemTotal (kB) of every `MemTotal:` line in `out`, in order.
fn totals(out: &str) -> Vec<u64> {
    out.lines()
        .filter(|l| l.starts_with("MemTotal:"))
        .map(|l| meminfo_value(l, "MemTotal").unwrap())
        .collect()
}

/// Inside a new pid namespace whose init is in `cg`: reads MemTotal twice (the second render
/// is the one kept), raises the limit to `new_mib`, reads it again at once, sleeps `sleep`
/// seconds and reads it a last time.
fn change_under_reader(cg: &Cgroup, d: &Daemon, new_mib: u64, sleep: &str) -> Vec<u64> {
    let m = d.path("proc/meminfo");
    let limit = cg.dir("memory").join("memory.limit_in_bytes");
    let out = cg.sh_in_pidns(&format!(
        "grep MemTotal {m}; grep MemTotal {m}; echo {new} > {limit}; grep MemTotal {m}; \
         sleep {sleep}; grep MemTotal {m}",
        m = m.display(),
        limit = limit.display(),
        new = new_mib * MIB,
    ));
    totals(&out)
}

#[test]
fn a_kept_render_is_served_within_its_lifetime_and_not_after() {
    let d = Daemon::start(&["--cache-ms", "3000"]);
    let cg = limited("cache-life", 300);
    // Read at once after the change: the render kept a moment ago (300 MiB); 3.5 s later the
    // lifetime is over and the new limit shows.
    assert_eq!(
        change_under_reader(&cg, &d, 400, "3.5"),
        vec![300 * 1024, 300 * 1024, 300 * 1024, 400 * 1024]
    );
}

#[test]
fn without_the_cache_a_change_shows_at_once() {
    let d = Daemon::start(&["--cache-ms", "0"]);
    let cg = limited("cache-off", 300);
    assert_eq!(
        change_under_reader(&cg, &d, 400, "0"),
        vec![300 * 1024, 300 * 1024, 400 * 1024, 400 * 1024]
    );
}

#[test]
fn the_default_lifetime_is_one_tick() {
    let d = Daemon::start(&[]);
    let cg = limited("cache-default", 300);
    let t = change_under_reader(&cg, &d, 400, "0.05");
    assert_eq!(t[..2], [300 * 1024, 300 * 1024]);
    assert_eq!(t[3], 400 * 1024, "50 ms after the change: {t:?}");
}

#[test]
fn containers_never_get_each_others_renders() {
    let d = Daemon::start(&["--cache-ms", "60000"]);
    let a = limited("cache-a", 100);
    let b = limited("cache-b", 300);
    let script = |cg: &Cgroup, expect: u64| {
        let inner = format!(
            "{enter} && i=0; while [ $i -lt 300 ]; do v=$(grep MemTotal {m} | tr -s ' ' | \
             cut -d' ' -f2); [ \"$v\" = {expect} ] || {{ echo BAD $v; exit 1; }}; \
             i=$((i+1)); done; echo OK",
            enter = cg.enter_script(),
            m = d.path("proc/meminfo").display()
        );
        std::thread::spawn(move || {
            Command::new("unshare")
                .args(["--pid", "--fork", "--mount-proc", "sh", "-c", &inner])
                .output()
                .unwrap()
        })
    };
    let (ta, tb) = (script(&a, 102400), script(&b, 307200));
    for (name, t) in [("a", ta), ("b", tb)] {
        let out = t.join().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.trim() == "OK",
            "container {name}: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_new_container_after_a_dead_one_gets_a_fresh_render() {
    // A render kept for a container that has exited (with a lifetime of a minute) must not
    // reach the next one. Namespace inode numbers are handed out lowest-free-first once a
    // namespace is freed, so without care the next container could get the dead one's
    // number; the daemon's pidfd on the dead init keeps that namespace allocated while its
    // entry exists, and every use of an entry checks that its init is alive.
    let d = Daemon::start(&["--cache-ms", "60000"]);
    let a = limited("next-a", 100);
    let b = limited("next-b", 300);
    let m = d.path("proc/meminfo");
    let pod = |cg: &Cgroup, reads: usize| {
        let out = cg.sh_in_pidns(&format!(
            "readlink /proc/self/ns/pid; for i in $(seq {reads}); do grep MemTotal {m}; done",
            m = m.display()
        ));
        let ns = out.lines().next().unwrap_or_default().to_string();
        (ns, totals(&out))
    };
    for _ in 0..10 {
        let (ns_a, ta) = pod(&a, 3);
        assert_eq!(ta, vec![102400; 3]);
        std::thread::sleep(std::time::Duration::from_millis(150));
        let (ns_b, tb) = pod(&b, 1);
        assert_eq!(tb, vec![307200], "namespace {ns_b} after {ns_a}");
    }
}

/// Runs `script` in `cg` as the init of a new pid namespace whose pid in the host's namespace
/// is `want` (set up through `/proc/sys/kernel/ns_last_pid`; `/proc` stays the host's, so
/// `/proc/self` names the host pid). Returns stdout, or `None` when another process on the
/// machine took `want` first.
fn as_host_pid(want: u32, cg: &Cgroup, script: &str) -> Option<String> {
    // unshare gets `want - 1`, the init it forks `want`.
    std::fs::write("/proc/sys/kernel/ns_last_pid", (want - 2).to_string()).unwrap();
    let inner = format!(
        "cd -P /proc/self && [ \"$PWD\" = /proc/{want} ] || exit 3; {} && {{\n{script}\n}}",
        cg.enter_script()
    );
    let out = Command::new("unshare")
        .args(["--pid", "--fork", "sh", "-c", &inner])
        .output()
        .unwrap();
    if out.status.code() == Some(3) {
        return None;
    }
    assert!(
        out.status.success(),
        "{inner}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn a_recycled_thread_id_is_not_taken_for_its_old_container() {
    // The daemon remembers which pid namespace a caller thread is in. A thread id freed by an
    // exited reader of container a and handed to a reader of container b must get b's file,
    // not the render kept for a (a minute's lifetime keeps it around). Both readers are the
    // inits of their namespaces and read with the shell's own `read`, so the thread id that
    // reaches the daemon is exactly the chosen pid.
    let d = Daemon::start(&["--cache-ms", "60000"]);
    let a = limited("reuse-a", 100);
    let b = limited("reuse-b", 300);
    let m = d.path("proc/meminfo");
    let read_total = format!(
        "while IFS= read -r l; do case \"$l\" in MemTotal*) echo \"$l\";; esac; done < {}",
        m.display()
    );
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let pid_max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut done = 0;
    for i in 0..40u32 {
        let want = 300 + (last + 1000 + i * 97) % (pid_max - 400);
        // Twice: the second render is the one kept for a.
        let Some(out_a) = as_host_pid(want, &a, &format!("{read_total}; {read_total}")) else {
            continue;
        };
        assert_eq!(totals(&out_a), vec![102400, 102400]);
        let Some(out_b) = as_host_pid(want, &b, &read_total) else {
            continue;
        };
        assert_eq!(totals(&out_b), vec![307200], "thread id {want} reused by b");
        done += 1;
        if done == 3 {
            return;
        }
    }
    panic!("could not hand one pid to two containers in a row (only {done} times)");
}

#[test]
fn a_file_is_rendered_at_its_first_read_not_at_open() {
    // As seq_file: the content of an open file is made when it is first read, so a file
    // opened before a change and read after it shows the change.
    let d = Daemon::start(&["--cache-ms", "0"]);
    let cg = limited("first-read", 300);
    let limit = cg.dir("memory").join("memory.limit_in_bytes");
    let out = cg.sh_in_pidns(&format!(
        "exec 3< {m}; echo {new} > {limit}; grep MemTotal <&3",
        m = d.path("proc/meminfo").display(),
        limit = limit.display(),
        new = 400 * MIB,
    ));
    assert_eq!(totals(&out), vec![400 * 1024]);
}

/// Reads MemTotal through the mount from `threads` live threads at once (each a distinct
/// caller thread id), in a new pid namespace in `cg`; prints one line per thread.
const THREADS_PY: &str = r#"
import sys, threading
path, n = sys.argv[1], int(sys.argv[2])
barrier = threading.Barrier(n)
out = [None] * n
def read(i):
    with open(path) as f:
        text = f.read()
    total = [l for l in text.splitlines() if l.startswith("MemTotal:")]
    out[i] = total[0] if total else "EMPTY %r" % text[:40]
    barrier.wait()
ts = [threading.Thread(target=read, args=(i,)) for i in range(n)]
for t in ts: t.start()
for t in ts: t.join()
print("\n".join(out))
"#;

#[test]
fn many_callers_never_exhaust_the_daemons_descriptors() {
    // Each caller thread seen is kept with a pidfd. A daemon with a small descriptor limit
    // (here 200) must keep serving real content to hundreds of live callers, and afterwards.
    let d = Daemon::start_with_fd_limit(200, &["--cache-ms", "60000"]);
    let dir = lxcfs_testkit::TempDir::new("fd-limit");
    let cg = limited("fd-limit", 100);
    let script = dir.path().join("threads.py");
    std::fs::write(&script, THREADS_PY).unwrap();
    for round in 0..3 {
        let out = cg.sh_in_pidns(&format!(
            "python3 {} {} 300",
            script.display(),
            d.path("proc/meminfo").display()
        ));
        assert_eq!(totals(&out), vec![102400; 300], "round {round}: {out}");
        let fds = std::fs::read_dir(format!("/proc/{}/fd", d.pid()))
            .unwrap()
            .count();
        assert!(
            fds < 150,
            "round {round}: the daemon holds {fds} descriptors"
        );
    }
}
