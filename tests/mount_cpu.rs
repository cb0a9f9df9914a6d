//! CPU files through the real daemon on real v1 cgroups: cpusets, CFS quotas, CPU time of
//! busy processes, pid namespaces and the mirrored `sys/devices/system/cpu`. Needs root and
//! /dev/fuse. On this host cpu and cpuacct are separate v1 mounts, so every test cgroup is
//! created in cpu, cpuacct and cpuset; the test kit removes cgroups and mounts on drop, also
//! when a test fails.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use lxcfs_formats::stat::{CpuTimes, CPU_FIELDS};
use lxcfs_testkit::{stat_rows, Cgroup, Daemon};

const CONTROLLERS: [&str; 3] = ["cpu", "cpuacct", "cpuset"];

fn unique(tag: &str) -> String {
    format!("/lxcfs-test-cpu-{tag}-{}", std::process::id())
}

fn read_in(cg: &Cgroup, d: &Daemon, rel: &str) -> String {
    cg.sh(&format!("cat {}", d.path(rel).display()))
}

fn processors(cpuinfo: &str) -> usize {
    cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count()
}

fn busy(t: &CpuTimes) -> u64 {
    t.0[0] + t.0[2]
}

/// A shell command burning `secs` of CPU time (not wall time: the machine may be loaded).
fn burn(secs: f64) -> String {
    format!(
        "python3 -c 'import time\nt=time.process_time()\nwhile time.process_time()-t < {secs}: pass'"
    )
}

#[test]
fn cpuset_of_one_cpu() {
    let d = Daemon::start(&[]);
    let cg = Cgroup::new(&unique("pin"), &CONTROLLERS);
    cg.set("cpuset", "cpuset.cpus", "0");
    let info = read_in(&cg, &d, "proc/cpuinfo");
    assert_eq!(processors(&info), 1, "{info}");
    assert!(
        info.starts_with("processor\t: 0\n") || info.contains("processor 0:"),
        "{info}"
    );
    // x86 topology counts are those of the one CPU shown (the host's are 2 here and more on
    // most machines), as the kernel would print with only that CPU online.
    if std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|h| h.contains("\nsiblings\t")) {
        assert!(info.contains("\nsiblings\t: 1\n"), "{info}");
        assert!(info.contains("\ncpu cores\t: 1\n"), "{info}");
    }
    let stat = read_in(&cg, &d, "proc/stat");
    assert_eq!(stat_rows(&stat).1.len(), 1, "{stat}");
    for k in ["intr ", "ctxt ", "btime ", "processes "] {
        assert!(stat.contains(k), "{k} passes through:\n{stat}");
    }
    assert_eq!(read_in(&cg, &d, "sys/devices/system/cpu/online"), "0\n");
}

#[test]
fn cfs_quota_of_half_a_cpu_on_two_cpus() {
    let host_cpus = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    let d = Daemon::start(&["--enable-cfs"]);
    let cg = Cgroup::new(&unique("cfs"), &CONTROLLERS);
    cg.set("cpuset", "cpuset.cpus", "0-1");
    cg.set("cpu", "cpu.cfs_period_us", "100000");
    cg.set("cpu", "cpu.cfs_quota_us", "50000");
    assert_eq!(processors(&read_in(&cg, &d, "proc/cpuinfo")), 1);
    assert_eq!(stat_rows(&read_in(&cg, &d, "proc/stat")).1.len(), 1);
    assert_eq!(read_in(&cg, &d, "sys/devices/system/cpu/online"), "0\n");
    // Without a quota: the whole cpuset, renumbered.
    cg.set("cpu", "cpu.cfs_quota_us", "-1");
    assert_eq!(processors(&read_in(&cg, &d, "proc/cpuinfo")), 2);
    assert_eq!(
        read_in(&cg, &d, "sys/devices/system/cpu/online"),
        "0-1\n",
        "host has {host_cpus}"
    );
}

#[test]
fn busy_loop_shows_only_in_its_own_cgroup() {
    let d = Daemon::start(&[]);
    let a = Cgroup::new(&unique("busy-a"), &CONTROLLERS);
    let b = Cgroup::new(&unique("busy-b"), &CONTROLLERS);
    let a0 = stat_rows(&read_in(&a, &d, "proc/stat")).0;
    let b0 = stat_rows(&read_in(&b, &d, "proc/stat")).0;
    let t = Instant::now();
    a.sh(&burn(1.0));
    let wall = t.elapsed();
    let a1 = stat_rows(&read_in(&a, &d, "proc/stat")).0;
    let b1 = stat_rows(&read_in(&b, &d, "proc/stat")).0;
    let (ga, gb) = (busy(&a1) - busy(&a0), busy(&b1) - busy(&b0));
    eprintln!("busy loop: a +{ga} ticks, b +{gb} ticks, wall {wall:?}");
    assert!(
        (60..=160).contains(&ga),
        "1 s of CPU in a shows as {ga} ticks (wall {wall:?})"
    );
    assert!(gb < 20, "a's loop leaks into b: {gb} ticks");
    // The counters keep advancing with wall time (busy + idle ≈ USER_HZ per second per row).
    let all = |t: &CpuTimes| t.0.iter().sum::<u64>();
    assert!(all(&a1) > all(&a0), "a's rows advanced");
}

/// A container started in a cgroup that had already used CPU (here 2 s on one CPU): its
/// `/proc/stat` busy time exceeds its age, and its idle must still advance with wall time
/// while it sits idle (the daemon used to hold idle at 0 until the age caught up, so `top`
/// showed an idle container 100 % busy; C lxcfs shows it idle).
#[test]
fn idle_advances_in_a_container_whose_cgroup_had_used_cpu_before() {
    let d = Daemon::start(&[]);
    let cg = Cgroup::new(&unique("reused"), &CONTROLLERS);
    cg.set("cpuset", "cpuset.cpus", "0");
    cg.sh(&burn(2.0));
    let stat = d.path("proc/stat");
    let out = cg.sh_in_pidns(&format!(
        ": ; cat {s}; echo ==; sleep 2; cat {s}",
        s = stat.display()
    ));
    let (first, second) = out.split_once("==\n").expect("two reads");
    let (a, b) = (stat_rows(first).0, stat_rows(second).0);
    let idle = b.0[3] - a.0[3];
    let busy_then = busy(&a);
    eprintln!("reused cgroup: busy {busy_then} ticks at the first read; idle +{idle} over 2 s");
    assert!(
        busy_then >= 150,
        "the cgroup's earlier CPU time shows: {first}"
    );
    assert!(
        idle >= 100,
        "an idle container's idle advanced {idle} ticks in 2 s:\n{first}\n{second}"
    );
}

#[test]
fn stat_never_decreases_while_the_cpuset_changes() {
    let d = Daemon::start(&[]);
    let path = unique("mono");
    let mut cg = Cgroup::new(&path, &CONTROLLERS);
    cg.set("cpuset", "cpuset.cpus", "0-1");
    let mut prev = read_in(&cg, &d, "proc/stat");
    let mut counts = Vec::new();
    let steps: [(&str, Option<&str>); 8] = [
        ("burn", None),
        ("cpuset 0", Some("0")),
        ("burn on 0", None),
        ("cpuset 0-1", Some("0-1")),
        ("burn on 0-1", None),
        ("cpuset 0", Some("0")),
        ("cpuset 0-1", Some("0-1")),
        ("recreated", None),
    ];
    for (what, set) in steps {
        if let Some(list) = set {
            cg.set("cpuset", "cpuset.cpus", list);
        } else if what == "recreated" {
            // The cgroup goes away and comes back empty: its usage restarts at 0.
            drop(cg);
            cg = Cgroup::new(&path, &CONTROLLERS);
            cg.set("cpuset", "cpuset.cpus", "0-1");
        } else {
            cg.sh(&burn(0.2));
        }
        std::thread::sleep(Duration::from_millis(30));
        let next = read_in(&cg, &d, "proc/stat");
        let ((ta, ra), (tb, rb)) = (stat_rows(&prev), stat_rows(&next));
        for c in 0..CPU_FIELDS {
            assert!(
                tb.0[c] >= ta.0[c],
                "{what}: aggregate column {c} decreased\n{prev}\n{next}"
            );
        }
        for (k, (x, y)) in ra.iter().zip(rb.iter()).enumerate() {
            for c in 0..CPU_FIELDS {
                assert!(
                    y.0[c] >= x.0[c],
                    "{what}: cpu{k} column {c} decreased\n{prev}\n{next}"
                );
            }
        }
        counts.push(rb.len());
        prev = next;
    }
    assert_eq!(counts, [2, 1, 1, 2, 2, 1, 2, 2], "rows follow the cpuset");
}

#[test]
fn uptime_of_a_fresh_pid_namespace() {
    let d = Daemon::start(&[]);
    let cg = Cgroup::new(&unique("uptime"), &CONTROLLERS);
    let out = cg.sh_in_pidns(&format!("cat {}", d.path("proc/uptime").display()));
    let f: Vec<f64> = out.split_whitespace().map(|v| v.parse().unwrap()).collect();
    assert_eq!(f.len(), 2, "{out:?}");
    assert!(f[0] < 2.0, "a fresh container is under 2 s old: {out:?}");
    let cpus = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    let n = lxcfs_formats::cpuset::parse(&cpus).unwrap().len() as f64;
    assert!(
        f[1] >= 0.0 && f[1] <= f[0] * n + 0.011,
        "idle within age × CPUs: {out:?}"
    );
    assert!(
        out.ends_with('\n')
            && out
                .split(' ')
                .all(|v| v.trim().split('.').nth(1).map(str::len) == Some(2))
    );
    // The host's own line for a host reader.
    let host = read_in(&cg, &d, "proc/uptime");
    let host_up: f64 = host.split_whitespace().next().unwrap().parse().unwrap();
    assert!(
        host_up > f[0] + 1.0,
        "host reader gets the host's uptime: {host:?}"
    );
}

#[test]
fn sys_cpu_listing_has_each_name_once() {
    let d = Daemon::start(&[]);
    let out = std::process::Command::new("ls")
        .arg("-a1")
        .arg(d.path("sys/devices/system/cpu"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let unique: HashSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "duplicate names: {names:?}");
    let is_cpu_n = |n: &str| {
        n.strip_prefix("cpu")
            .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
    };
    let host_n = std::fs::read_dir("/sys/devices/system/cpu")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| is_cpu_n(&e.file_name().to_string_lossy()))
        .count();
    let ours = names.iter().filter(|n| is_cpu_n(n)).count();
    assert!(host_n > 0);
    assert_eq!(ours, host_n, "{names:?}");
    assert!(names.iter().any(|n| n == "online"));
}
