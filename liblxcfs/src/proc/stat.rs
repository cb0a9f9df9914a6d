//! `/proc/stat` for a container (proc(5) "/proc/stat"): CPU time rows of the container's own
//! usage, one per visible CPU, in USER_HZ ticks.
//!
//! Rows: as many as `/proc/cpuinfo` shows ([`crate::cpu::Visible::cpus`]), named
//! `cpu0 … cpu(n−1)`; the aggregate `cpu` line is their exact column-wise sum. Every other
//! line (`intr`, `ctxt`, `btime`, `processes`, `procs_running`, `procs_blocked`, `softirq`)
//! is the host's, in the host's order.
//!
//! Per row `k` of `n`, physical CPU `p = cpus[k]`:
//! * **user, system** — v1: `cpuacct.usage_all`'s user/system of `p` (or
//!   `cpuacct.usage_percpu` split by `cpuacct.stat`'s ratio), plus an even share of the time
//!   the container spent on CPUs that have no row (outside its current cpuset, or beyond the
//!   CFS count); v2: `cpu.stat`'s `user_usec` and `system_usec` shared evenly over the rows.
//!   "Evenly" means `total / n` each, the `total mod n` remaining ticks one each to the lowest
//!   rows — so the rows always add up to the container's whole CPU time.
//! * **idle** — the container's age (host uptime − start time of its pid namespace's init)
//!   minus the row's user + system, floored at 0. Each row therefore advances by about
//!   USER_HZ ticks per second of wall time (busy + idle = age), like a real CPU that came up
//!   when the container started; the sum of the rows' idle equals `/proc/uptime`'s idle
//!   (age × CPUs − CPU time). Where a row's busy time exceeds the age (the cgroup had used
//!   CPU before the container's init started, or the busy time of CPUs taken away was
//!   folded in), the history keeps the idle advancing by the wall time the row was not busy
//!   instead of holding it at 0 (see [`crate::cpuview::History::step`]); `/proc/uptime`'s
//!   idle stays the plain formula. The host's per-CPU idle is not used: it would mix in other
//!   containers' activity and the time before the container existed.
//! * **nice, iowait, irq, softirq, steal, guest, guest_nice** — 0: cgroups do not account
//!   them per container (nice time is inside user).
//!
//! With `--enable-cfs` the rows are the quota's CPU count; each row still advances at about
//! USER_HZ per second (no partial-CPU scaling: a 1.5-CPU quota shows 2 rows whose busy time
//! together grows by at most 150 ticks per second).
//!
//! The rows then go through the container's [`crate::cpuview`] history, which keeps every
//! counter monotonic across cpuset and quota changes, cgroup recreation and library reloads.
//!
//! Without CPU time data (no cpuacct cgroup on v1, no readable `cpu.stat`) or without an age
//! (the init is gone), the rows are the host's rows of the visible CPUs, renumbered, with
//! their sum as the aggregate (upstream's behaviour; such rows bypass the history); without a
//! cpuset the host's file is served.

use std::time::Instant;

use lxcfs_formats::stat::{self, CpuLine, CpuTimes};

use crate::container::Container;
use crate::cpu::{self, CpuTicks, UsageTimes};
use crate::cpuview::ViewKey;
use crate::error::Result;
use crate::proc;
use crate::Lxcfs;

/// Renders `/proc/stat` for container `c`.
///
/// # Errors
/// The errors of [`cpu::visible`]; the host file unreadable.
pub fn read(lx: &Lxcfs, c: &Container) -> Result<String> {
    let vis = cpu::visible(lx, c)?;
    let host = proc::read_host(lx, "/proc/stat")?;
    let rows = match cpu::usage(lx, c).and_then(|u| Ok((u, cpu::age_ticks(lx, c)?))) {
        Ok((u, age)) => {
            let raw = container_rows(&u.times, vis.cpus(), age);
            lx.cpuview.advance(
                ViewKey {
                    cgroup: u.cgroup,
                    pidns: c.pidns,
                },
                &raw,
                age,
                Instant::now(),
            )
        }
        Err(e) => {
            if e.is_missing() {
                tracing::debug!("/proc/stat: no CPU time or age, host rows of the cpuset: {e}");
            } else {
                tracing::warn!("/proc/stat: unusable CPU time data, host rows of the cpuset: {e}");
            }
            host_rows(&host, vis.cpus())
        }
    };
    Ok(render(&host, &rows))
}

/// Row `k`'s share of `total` ticks spread over `n` rows: `total / n`, plus one of the
/// `total mod n` remaining ticks for the lowest rows. Non-decreasing in `total`.
pub fn spread(total: u64, n: usize, k: usize) -> u64 {
    let n = n.max(1) as u64;
    total / n + u64::from((k as u64) < total % n)
}

/// The container's rows for the physical CPUs `cpus` from its CPU time and its age (both
/// in ticks); see the module documentation.
pub fn container_rows(times: &UsageTimes, cpus: &[u32], age: u64) -> Vec<CpuTimes> {
    let n = cpus.len();
    let (own, hidden): (Vec<CpuTicks>, CpuTicks) = match times {
        UsageTimes::PerCpu(v) => {
            let own = cpus
                .iter()
                .map(|p| v.iter().find(|t| t.cpu == *p).copied().unwrap_or_default())
                .collect();
            let hidden =
                v.iter()
                    .filter(|t| !cpus.contains(&t.cpu))
                    .fold(CpuTicks::default(), |a, t| CpuTicks {
                        cpu: 0,
                        user: a.user.saturating_add(t.user),
                        system: a.system.saturating_add(t.system),
                    });
            (own, hidden)
        }
        UsageTimes::Total(t) => (vec![CpuTicks::default(); n], *t),
    };
    own.iter()
        .enumerate()
        .map(|(k, o)| {
            let mut t = CpuTimes::default();
            let user = o.user.saturating_add(spread(hidden.user, n, k));
            let system = o.system.saturating_add(spread(hidden.system, n, k));
            t.0[stat::col::USER] = user;
            t.0[stat::col::SYSTEM] = system;
            t.0[stat::col::IDLE] = age.saturating_sub(user.saturating_add(system));
            t
        })
        .collect()
}

/// The host's rows of the physical CPUs `cpus`, in that order (zeros for a CPU the host
/// file does not list).
pub fn host_rows(host: &str, cpus: &[u32]) -> Vec<CpuTimes> {
    let all = stat::per_cpu(host);
    cpus.iter()
        .map(|p| {
            all.iter()
                .find(|(n, _)| n == p)
                .map(|(_, t)| *t)
                .unwrap_or_default()
        })
        .collect()
}

/// The file: the aggregate of `rows`, the rows as `cpu0…`, then the host's other lines.
pub fn render(host: &str, rows: &[CpuTimes]) -> String {
    let total = rows.iter().fold(CpuTimes::default(), |a, r| a.add(r));
    let mut cpu_lines = stat::render_cpu_line(None, &total);
    cpu_lines.push('\n');
    for (k, r) in rows.iter().enumerate() {
        cpu_lines.push_str(&stat::render_cpu_line(
            Some(u32::try_from(k).unwrap_or(u32::MAX)),
            r,
        ));
        cpu_lines.push('\n');
    }
    let mut out = String::with_capacity(host.len() + cpu_lines.len());
    let mut placed = false;
    for line in host.lines() {
        let is_cpu = matches!(
            stat::parse_cpu_line(line),
            Some(CpuLine::Total(_) | CpuLine::Cpu(..))
        ) || line.starts_with("cpu");
        if !placed && (is_cpu || !line.is_empty()) {
            out.push_str(&cpu_lines);
            placed = true;
        }
        if !is_cpu {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !placed {
        out.push_str(&cpu_lines);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "cpu  40 1 20 300 4 0 1 0 0 0\ncpu0 10 1 5 100 1 0 0 0 0 0\ncpu1 10 0 5 100 1 0 1 0 0 0\ncpu2 20 0 10 100 2 0 0 0 0 0\nintr 5 1\nctxt 9\nbtime 17\nprocesses 3\nprocs_running 1\nprocs_blocked 0\nsoftirq 4 1\n";

    #[test]
    fn spread_is_exact_and_lowest_first() {
        let v: Vec<u64> = (0..3).map(|k| spread(7, 3, k)).collect();
        assert_eq!(v, vec![3, 2, 2]);
        assert_eq!(
            (0..4)
                .map(|k| spread(u64::MAX, 4, k))
                .fold(0u64, |a, b| a.wrapping_add(b)),
            u64::MAX
        );
        assert_eq!(spread(5, 0, 0), 5);
        for t in 0..50 {
            for k in 0..3 {
                assert!(spread(t + 1, 3, k) >= spread(t, 3, k));
            }
        }
    }

    #[test]
    fn v1_rows_fold_hidden_cpus() {
        let times = UsageTimes::PerCpu(vec![
            CpuTicks {
                cpu: 0,
                user: 300,
                system: 100,
            },
            CpuTicks {
                cpu: 1,
                user: 50,
                system: 0,
            },
            CpuTicks {
                cpu: 2,
                user: 7,
                system: 3,
            },
        ]);
        let rows = container_rows(&times, &[0, 2], 1000);
        // cpu1 is not visible: its 50 user ticks are shared by both rows.
        assert_eq!(rows[0].0[..4], [325, 0, 100, 575]);
        assert_eq!(rows[1].0[..4], [32, 0, 3, 965]);
        let busy: u64 = rows.iter().map(|r| r.0[0] + r.0[2]).sum();
        assert_eq!(busy, times.total_ticks());
    }

    #[test]
    fn v2_rows_share_totals_and_idle_never_negative() {
        let times = UsageTimes::Total(CpuTicks {
            cpu: 0,
            user: 53,
            system: 45,
        });
        let rows = container_rows(&times, &[0, 1], 40);
        assert_eq!(rows[0].0[..4], [27, 0, 23, 0]);
        assert_eq!(rows[1].0[..4], [26, 0, 22, 0]);
        let rows = container_rows(&times, &[3], 1000);
        assert_eq!(rows[0].0[..4], [53, 0, 45, 902]);
    }

    #[test]
    fn host_rows_of_the_cpuset() {
        let rows = host_rows(HOST, &[1, 2, 9]);
        assert_eq!(rows[0].0[0], 10);
        assert_eq!(rows[1].0[0], 20);
        assert_eq!(rows[2], CpuTimes::default());
    }

    #[test]
    fn render_sums_rows_and_keeps_other_lines() {
        let rows = host_rows(HOST, &[1, 2]);
        let out = render(HOST, &rows);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "cpu  30 0 15 200 3 0 1 0 0 0");
        assert_eq!(lines[1], "cpu0 10 0 5 100 1 0 1 0 0 0");
        assert_eq!(lines[2], "cpu1 20 0 10 100 2 0 0 0 0 0");
        assert_eq!(
            &lines[3..],
            HOST.lines().skip(4).collect::<Vec<_>>().as_slice()
        );
        let no_cpu = render("intr 1\n", &rows);
        assert!(no_cpu.starts_with("cpu  30 "), "{no_cpu}");
        assert!(no_cpu.ends_with("intr 1\n"));
        assert!(render("", &rows).starts_with("cpu  "));
        assert!(!render("cpu1 a b\nctxt 1\n", &rows).contains("cpu1 a"));
    }
}
