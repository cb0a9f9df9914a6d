//! A description of the machine a benchmark ran on.

/// CPU model name (first `model name` of `/proc/cpuinfo`).
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("model name")?
                    .split_once(':')
                    .map(|(_, v)| v.trim().to_string())
            })
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Number of online CPUs.
pub fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
}

/// Kernel release (`uname -r`).
pub fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Total memory in MiB.
pub fn mem_total_mib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            let l = t.lines().find(|l| l.starts_with("MemTotal:"))?;
            l.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kb| kb / 1024)
}

/// The three load averages (`/proc/loadavg`), e.g. `1.23 0.98 0.77`.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The 1-minute load average.
pub fn load1() -> f64 {
    loadavg()
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Whether the hypervisor flag is set (a virtual machine).
pub fn virtualized() -> bool {
    std::fs::read_to_string("/proc/cpuinfo")
        .map(|t| {
            t.lines()
                .any(|l| l.starts_with("flags") && l.contains(" hypervisor"))
        })
        .unwrap_or(false)
}

/// How an idle CPU waits for work: the cpuidle driver and governor
/// (`/sys/devices/system/cpu/cpuidle/`) and, under the `haltpoll` governor of a KVM guest,
/// the longest the guest polls before halting (`/sys/module/haltpoll/parameters/
/// guest_halt_poll_ns`, ns, the ceiling of an adaptive window; 0 means every idle period
/// halts the virtual CPU). A halted virtual CPU is woken through the hypervisor, and on the
/// development VM every request a FUSE daemon answered at one reader then cost two to seven
/// times the CPU it cost under polling (doc/benchmarks.md, "How the idle policy moves one
/// reader"), so two runs compare only under the same idle policy. E.g. `driver haltpoll,
/// governor haltpoll, guest halt polling 0 ns`.
pub fn idle_policy() -> String {
    idle_policy_in(std::path::Path::new("/sys"))
}

/// [`idle_policy`] under a sysfs root `sys` (a fixture tree in tests).
pub fn idle_policy_in(sys: &std::path::Path) -> String {
    let read = |p: &str| {
        std::fs::read_to_string(sys.join(p))
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let cpuidle = "devices/system/cpu/cpuidle";
    let mut parts = vec![format!(
        "driver {}",
        read(&format!("{cpuidle}/current_driver")).unwrap_or_else(|| "none".into())
    )];
    let governor = read(&format!("{cpuidle}/current_governor"))
        .or_else(|| read(&format!("{cpuidle}/current_governor_ro")));
    if let Some(g) = &governor {
        parts.push(format!("governor {g}"));
    }
    // The parameter belongs to the haltpoll governor and means nothing under another one.
    if governor.as_deref() == Some("haltpoll") {
        if let Some(ns) = read("module/haltpoll/parameters/guest_halt_poll_ns") {
            parts.push(format!("guest halt polling {ns} ns"));
        }
    }
    parts.join(", ")
}

/// CPU time of one thread from `/proc/<pid>/task/<tid>/`: tid, name, user and system
/// ticks (`stat`, tick-sampled), the exact run time in ns (`schedstat`) and how often the
/// thread went to sleep (`status`).
#[derive(Clone, Debug)]
pub struct ThreadTimes {
    /// Thread id.
    pub tid: u32,
    /// Thread name (`fuser-0`).
    pub name: String,
    /// User time, clock ticks.
    pub user: u64,
    /// System time, clock ticks.
    pub system: u64,
    /// Time on a CPU, ns (scheduler accounting, exact).
    pub run_ns: u64,
    /// Voluntary context switches (`voluntary_ctxt_switches` of `status`): how often the
    /// thread blocked, e.g. in read(2) on `/dev/fuse` with no request queued.
    pub sleeps: u64,
    /// Minor page faults (`minflt`, field 10 of `stat`): pages the thread touched that had to
    /// be mapped in, e.g. after the allocator gave memory back to the kernel.
    pub minor_faults: u64,
}

/// CPU time of every thread of `pid`.
pub fn thread_times(pid: u32) -> Vec<ThreadTimes> {
    let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let Some(tid) = e.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_string();
        // Fields after the name start at field 3 (state); utime and stime are fields 14, 15.
        let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let field = |n: usize| {
            rest.get(n - 3)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let run_ns = std::fs::read_to_string(e.path().join("schedstat"))
            .ok()
            .and_then(|t| t.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let sleeps = std::fs::read_to_string(e.path().join("status"))
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(0);
        out.push(ThreadTimes {
            tid,
            name,
            user: field(14),
            system: field(15),
            run_ns,
            sleeps,
            minor_faults: field(10),
        });
    }
    out
}

/// How much `counter` (a cumulative per-thread count: run time, sleeps) grew over all threads
/// between two [`thread_times`] readings; threads that appeared in between count from zero,
/// threads that exited in between are not counted.
pub fn growth(
    before: &[ThreadTimes],
    after: &[ThreadTimes],
    counter: impl Fn(&ThreadTimes) -> u64,
) -> u64 {
    after.iter().map(|a| grown(before, a, &counter)).sum()
}

/// How much `counter` of thread `a` grew since the reading `before` (from zero for a thread
/// that is not in it).
fn grown(before: &[ThreadTimes], a: &ThreadTimes, counter: impl Fn(&ThreadTimes) -> u64) -> u64 {
    let b = before.iter().find(|b| b.tid == a.tid).map_or(0, &counter);
    counter(a).saturating_sub(b)
}

/// Voluntary context switches of all threads between two [`thread_times`] readings (see
/// [`growth`]).
pub fn sleeps_between(before: &[ThreadTimes], after: &[ThreadTimes]) -> u64 {
    growth(before, after, |t| t.sleeps)
}

/// CPU use of one group of threads per operation.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupCpu {
    /// Thread name with digits removed (`fuser-`, `lxcfs-g-w`).
    pub group: String,
    /// Exact CPU time per operation, µs (schedstat).
    pub total_us: f64,
    /// Share of that spent in the kernel (from the tick-sampled user/system split).
    pub system_share: f64,
}

/// Per thread group, the CPU time between two [`thread_times`] readings per operation.
pub fn cpu_per_op(before: &[ThreadTimes], after: &[ThreadTimes], ops: u64) -> Vec<GroupCpu> {
    // (group, run ns, user ticks, system ticks)
    let mut groups: Vec<(String, u64, u64, u64)> = Vec::new();
    for a in after {
        let group: String = a.name.chars().filter(|c| !c.is_ascii_digit()).collect();
        let d = (
            grown(before, a, |t| t.run_ns),
            grown(before, a, |t| t.user),
            grown(before, a, |t| t.system),
        );
        match groups.iter_mut().find(|g| g.0 == group) {
            Some(g) => {
                g.1 += d.0;
                g.2 += d.1;
                g.3 += d.2;
            }
            None => groups.push((group, d.0, d.1, d.2)),
        }
    }
    let ops = ops.max(1) as f64;
    let mut out: Vec<GroupCpu> = groups
        .into_iter()
        .map(|(group, run, user, system)| GroupCpu {
            group,
            total_us: run as f64 / 1e3 / ops,
            system_share: if user + system > 0 {
                system as f64 / (user + system) as f64
            } else {
                0.0
            },
        })
        .collect();
    out.sort_by(|a, b| b.total_us.total_cmp(&a.total_us));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sysfs fixture tree named after `tag` (one per case, so no two cases share one).
    fn tree(tag: &str, files: &[(&str, &str)]) -> std::path::PathBuf {
        let root =
            std::env::temp_dir().join(format!("lxcfs-bench-idle-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (path, text) in files {
            let p = root.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        root
    }

    #[test]
    fn idle_policy_names_driver_governor_and_guest_halt_polling() {
        let root = tree(
            "haltpoll",
            &[
                ("devices/system/cpu/cpuidle/current_driver", "haltpoll\n"),
                (
                    "devices/system/cpu/cpuidle/current_governor_ro",
                    "haltpoll\n",
                ),
                ("module/haltpoll/parameters/guest_halt_poll_ns", "0\n"),
            ],
        );
        assert_eq!(
            idle_policy_in(&root),
            "driver haltpoll, governor haltpoll, guest halt polling 0 ns"
        );
        let _ = std::fs::remove_dir_all(&root);
        // The parameter file exists whenever the module is loaded; under another governor it
        // has no effect and is not reported.
        let root = tree(
            "menu",
            &[
                ("devices/system/cpu/cpuidle/current_driver", "intel_idle\n"),
                ("devices/system/cpu/cpuidle/current_governor", "menu\n"),
                ("module/haltpoll/parameters/guest_halt_poll_ns", "200000\n"),
            ],
        );
        assert_eq!(idle_policy_in(&root), "driver intel_idle, governor menu");
        let _ = std::fs::remove_dir_all(&root);
        let root = tree(
            "driver-only",
            &[("devices/system/cpu/cpuidle/current_driver", "intel_idle\n")],
        );
        assert_eq!(idle_policy_in(&root), "driver intel_idle");
        let _ = std::fs::remove_dir_all(&root);
        assert_eq!(
            idle_policy_in(std::path::Path::new("/nonexistent")),
            "driver none"
        );
    }
}
