//! What a container has of the host's CPUs: which CPUs it may run on, how many of them its CFS
//! quota is worth, how long it has existed and how much CPU time it used. Shared by
//! `/proc/cpuinfo`, `/proc/stat`, `/proc/uptime` and `sys/devices/system/cpu/online`.
//!
//! Sources (kernel `Documentation/admin-guide/cgroup-v2.rst` "Cpuset Interface Files" and
//! "CPU Interface Files", `cgroup-v1/cpusets.rst`, `cgroup-v1/cpuacct.rst`,
//! `scheduler/sched-bwc.rst`, proc(5)):
//!
//! | figure | v2 | v1 |
//! |---|---|---|
//! | cpuset | `cpuset.cpus.effective`, else `cpuset.cpus`, else the nearest ancestor with either | `cpuset.effective_cpus`, else `cpuset.cpus`, else the nearest ancestor |
//! | quota | `cpu.max` (`$MAX $PERIOD`, `max` = none), min of quota/period over the cgroup and its ancestors | `cpu.cfs_quota_us` / `cpu.cfs_period_us` (−1 = none), same minimum |
//! | CPU time | `cpu.stat` `user_usec`, `system_usec` (µs, totals only) | `cpuacct.usage_all` (ns per CPU, user/system), else `cpuacct.usage_percpu` split by `cpuacct.stat`'s user:system ratio |
//! | age | host `/proc/uptime` (CLOCK_BOOTTIME) − field 22 of `/proc/<init>/stat` | same |
//!
//! Unlike upstream lxcfs the *effective* cpuset wins over the configured one (a cgroup may
//! configure CPUs its parent does not grant), and the set is intersected with the host's
//! online CPUs. All times are converted to USER_HZ ticks (100 per second, the unit of
//! `/proc/stat`; hundredths of a second in `/proc/uptime`), truncating.

use lxcfs_formats::{cgroupfile, cpuset, cputime, pid};

use crate::cgroup::{CgroupDir, Controller};
use crate::container::{self, Container};
use crate::error::{Error, Result};
use crate::hostfs::HostFs;
use crate::{proc, Lxcfs};

/// Clock ticks per second of `/proc/stat` and `/proc/<pid>/stat` (USER_HZ; fixed at 100 on
/// the architectures lxcfs supports).
pub const USER_HZ: u64 = 100;
/// Nanoseconds per USER_HZ tick.
pub const NS_PER_TICK: u64 = 1_000_000_000 / USER_HZ;
/// Microseconds per USER_HZ tick.
pub const US_PER_TICK: u64 = 1_000_000 / USER_HZ;

/// The host's list of online CPUs.
pub const HOST_ONLINE: &str = "/sys/devices/system/cpu/online";

/// The CPUs a container sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Visible {
    /// The effective cpuset intersected with the host's online CPUs: physical CPU numbers,
    /// sorted, never empty.
    pub cpuset: Vec<u32>,
    /// With `--enable-cfs`: ⌈min quota/period⌉ over the cgroup and its ancestors (at least
    /// 1); `None` without a quota or without `--enable-cfs`.
    pub quota_cpus: Option<u32>,
    /// Whether `--enable-cfs` is on (`online` then shows `0-(count−1)`).
    pub cfs: bool,
}

impl Visible {
    /// How many CPUs the container sees: the cpuset's size, bounded by the quota.
    pub fn count(&self) -> usize {
        let n = self.cpuset.len();
        self.quota_cpus.map_or(n, |q| n.min(q.max(1) as usize))
    }

    /// The visible CPUs (physical numbers): the first [`Visible::count`] of the cpuset.
    pub fn cpus(&self) -> &[u32] {
        &self.cpuset[..self.count()]
    }

    /// Content of `sys/devices/system/cpu/online`: the cpuset as the kernel prints CPU lists
    /// (`0,2-3`), or with `--enable-cfs` the renumbered `0-(count−1)` (`0` for one CPU).
    pub fn online_text(&self) -> String {
        if self.cfs {
            let n = self.count() as u32;
            if n <= 1 {
                "0\n".to_string()
            } else {
                format!("0-{}\n", n - 1)
            }
        } else {
            format!("{}\n", cpuset::render(&self.cpuset))
        }
    }
}

fn missing(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound
}

/// The effective cpuset of `dir`: the first non-empty one of its effective and configured
/// lists, walking up to the hierarchy root.
///
/// # Errors
/// [`Error::Malformed`] for an unparsable list or when no level has one; [`Error::Io`] for
/// read errors other than "not found".
pub fn effective_cpuset(fs: &HostFs, dir: &CgroupDir<'_>) -> Result<Vec<u32>> {
    let files: [&str; 2] = if dir.is_v2() {
        ["cpuset.cpus.effective", "cpuset.cpus"]
    } else {
        ["cpuset.effective_cpus", "cpuset.cpus"]
    };
    for d in dir.self_and_ancestors() {
        for f in files {
            let path = d.file(f).unwrap_or_default();
            let text = match d.read(fs, f) {
                Ok(t) => t,
                Err(e) if missing(&e) => continue,
                Err(e) => return Err(Error::io(path, e)),
            };
            if text.trim().is_empty() {
                continue;
            }
            return match cpuset::parse(&text) {
                Some(v) if !v.is_empty() => Ok(v),
                _ => Err(Error::Malformed {
                    path,
                    what: "not a CPU list",
                }),
            };
        }
    }
    Err(Error::Malformed {
        path: dir.file(files[1]).unwrap_or_default(),
        what: "no cpuset up to the root",
    })
}

/// The host's online CPUs, `None` when the list is unreadable or malformed.
pub fn host_online(fs: &HostFs) -> Option<Vec<u32>> {
    cpuset::parse(&fs.read(HOST_ONLINE).ok()?).filter(|v| !v.is_empty())
}

/// One level's CFS bandwidth as (quota µs, period µs); `Ok(None)` for "no quota" or a
/// missing file.
fn level_quota(fs: &HostFs, d: &CgroupDir<'_>) -> Result<Option<(u64, u64)>> {
    let read = |f: &str| match d.read(fs, f) {
        Ok(t) => Ok(Some(t)),
        Err(e) if missing(&e) => Ok(None),
        Err(e) => Err(Error::io(d.file(f).unwrap_or_default(), e)),
    };
    if d.is_v2() {
        let Some(t) = read("cpu.max")? else {
            return Ok(None);
        };
        if t.split_whitespace().next() == Some("max") {
            return Ok(None);
        }
        cgroupfile::parse_cpu_max(&t)
            .map(Some)
            .ok_or_else(|| Error::Malformed {
                path: d.file("cpu.max").unwrap_or_default(),
                what: "not `$MAX $PERIOD`",
            })
    } else {
        let Some(q) = read("cpu.cfs_quota_us")? else {
            return Ok(None);
        };
        let bad = || Error::Malformed {
            path: d.file("cpu.cfs_quota_us").unwrap_or_default(),
            what: "bad CFS quota/period",
        };
        match q.trim().parse::<i64>() {
            Ok(v) if v < 0 => return Ok(None),
            Ok(_) => {}
            Err(_) => return Err(bad()),
        }
        let p = read("cpu.cfs_period_us")?.ok_or_else(bad)?;
        cgroupfile::parse_cfs_quota(&q, &p)
            .map(Some)
            .ok_or_else(bad)
    }
}

/// ⌈quota/period⌉ CPUs, at least 1, saturating at `u32::MAX`.
pub fn quota_to_cpus(quota_us: u64, period_us: u64) -> u32 {
    let n = quota_us.div_ceil(period_us.max(1)).max(1);
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The smaller of two bandwidth ratios quota/period (compared exactly).
fn min_ratio(a: Option<(u64, u64)>, b: (u64, u64)) -> (u64, u64) {
    match a {
        Some(a) if u128::from(a.0) * u128::from(b.1) <= u128::from(b.0) * u128::from(a.1) => a,
        _ => b,
    }
}

/// The CPUs the CFS quota of `dir` is worth: ⌈min quota/period⌉ over `dir` and all its
/// ancestors (v2 roots have no `cpu.max`); `None` when no level has a quota.
///
/// # Errors
/// [`Error::Malformed`] for an unparsable `cpu.max` / `cpu.cfs_*_us`.
pub fn cfs_quota_cpus(fs: &HostFs, dir: &CgroupDir<'_>) -> Result<Option<u32>> {
    let mut best = None;
    for d in dir.self_and_ancestors() {
        if d.is_v2() && d.is_root() {
            break;
        }
        if let Some(q) = level_quota(fs, &d)? {
            best = Some(min_ratio(best, q));
        }
    }
    Ok(best.map(|(q, p)| quota_to_cpus(q, p)))
}

/// The CPUs container `c` sees.
///
/// # Errors
/// [`Error::NoController`] without a cpuset controller; the errors of [`effective_cpuset`]
/// and (with `--enable-cfs`) [`cfs_quota_cpus`]; [`Error::Malformed`] when no CPU of the
/// cpuset is online. A missing cpu controller means "no quota".
pub fn visible(lx: &Lxcfs, c: &Container) -> Result<Visible> {
    let dir = proc::cgroup(lx, c, Controller::Cpuset)?;
    let mut set = effective_cpuset(&lx.fs, &dir)?;
    if let Some(online) = host_online(&lx.fs) {
        set.retain(|x| online.binary_search(x).is_ok());
    }
    if set.is_empty() {
        return Err(Error::Malformed {
            path: dir.file("cpuset.cpus").unwrap_or_default(),
            what: "no online CPU in the cpuset",
        });
    }
    let quota_cpus = if lx.options.cfs {
        match proc::cgroup(lx, c, Controller::Cpu) {
            Ok(d) => cfs_quota_cpus(&lx.fs, &d)?,
            Err(_) => None,
        }
    } else {
        None
    };
    Ok(Visible {
        cpuset: set,
        quota_cpus,
        cfs: lx.options.cfs,
    })
}

/// The number of CPUs `c` sees; when that cannot be determined (see [`visible`]), the
/// host's online count, else 1 — for figures that need a count whatever happens.
pub fn visible_count_or_host(lx: &Lxcfs, c: &Container) -> usize {
    match visible(lx, c) {
        Ok(v) => v.count(),
        Err(_) => host_online(&lx.fs).map_or(1, |v| v.len()),
    }
}

/// The host's uptime (CLOCK_BOOTTIME) in ticks, from `/proc/uptime`.
///
/// # Errors
/// [`Error::Io`], or [`Error::Malformed`].
pub fn host_uptime_ticks(fs: &HostFs) -> Result<u64> {
    let t = fs
        .read("/proc/uptime")
        .map_err(|e| Error::io("/proc/uptime", e))?;
    cputime::parse_uptime(&t)
        .map(|(up, _)| up)
        .ok_or(Error::Malformed {
            path: "/proc/uptime".into(),
            what: "not `<uptime> <idle>`",
        })
}

/// The container's age in ticks: host uptime − start time of the init of its pid namespace
/// (host uptime for a host-namespace caller). The start time is the one the resolver proved
/// ([`Container::init_starttime`]); without one, the init is read from `/proc` and must
/// still be the init: its innermost `NSpid` is 1.
///
/// # Errors
/// [`Error::ProcessGone`] when the init vanished (or was never found); the errors of
/// [`host_uptime_ticks`].
pub fn age_ticks(lx: &Lxcfs, c: &Container) -> Result<u64> {
    let up = host_uptime_ticks(&lx.fs)?;
    if c.is_host {
        return Ok(up);
    }
    if let Some(start) = c.init_starttime {
        return Ok(up.saturating_sub(start));
    }
    let gone = Error::ProcessGone(c.init_pid);
    let st = lx
        .fs
        .read(&format!("/proc/{}/status", c.init_pid))
        .ok()
        .and_then(|t| pid::parse_status(&t));
    if st.is_none_or(|s| s.nspid.last() != Some(&1)) {
        return Err(gone);
    }
    let start = container::starttime(&lx.fs, c.init_pid).ok_or(gone)?;
    Ok(up.saturating_sub(start))
}

/// User and system ticks of one CPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTicks {
    /// Physical CPU number (0 for totals).
    pub cpu: u32,
    /// User-mode ticks (nice included, as the cgroup files count it).
    pub user: u64,
    /// Kernel-mode ticks.
    pub system: u64,
}

/// CPU time a container's cgroup used since it was created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UsageTimes {
    /// v1: per physical CPU.
    PerCpu(Vec<CpuTicks>),
    /// v2: totals only (`cpu` is 0).
    Total(CpuTicks),
}

impl UsageTimes {
    /// user + system over all CPUs, in ticks.
    pub fn total_ticks(&self) -> u64 {
        match self {
            UsageTimes::PerCpu(v) => v.iter().fold(0u64, |a, t| {
                a.saturating_add(t.user).saturating_add(t.system)
            }),
            UsageTimes::Total(t) => t.user.saturating_add(t.system),
        }
    }
}

/// A container's CPU time and the cgroup it was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Usage {
    /// The cgroup path (in the cpuacct or unified hierarchy) the times belong to.
    pub cgroup: String,
    /// The times.
    pub times: UsageTimes,
}

/// Converts `cpuacct.usage_all` rows (ns) to ticks.
pub fn usage_all_ticks(rows: &[cputime::CpuNs]) -> Vec<CpuTicks> {
    rows.iter()
        .map(|r| CpuTicks {
            cpu: r.cpu,
            user: r.user / NS_PER_TICK,
            system: r.system / NS_PER_TICK,
        })
        .collect()
}

/// Splits `cpuacct.usage_percpu` totals (ns) into user/system ticks with the ratio of
/// `cpuacct.stat`'s `user` and `system` (any unit). Without a usable ratio (missing, or both
/// 0) everything counts as user time. Each CPU's user + system equals its total: nothing is
/// counted twice.
pub fn split_percpu(totals_ns: &[u64], ratio: Option<(u64, u64)>) -> Vec<CpuTicks> {
    totals_ns
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let user_ns = match ratio {
                Some((u, s)) if u.saturating_add(s) > 0 => {
                    let q = u128::from(t) * u128::from(u) / (u128::from(u) + u128::from(s));
                    u64::try_from(q).unwrap_or(t)
                }
                _ => t,
            };
            let system_ns = t.saturating_sub(user_ns);
            CpuTicks {
                cpu: u32::try_from(i).unwrap_or(u32::MAX),
                user: user_ns / NS_PER_TICK,
                system: system_ns / NS_PER_TICK,
            }
        })
        .collect()
}

/// Reads v2 `cpu.stat` text into total ticks: `user_usec` and `system_usec`, or all of
/// `usage_usec` as user time when the split is missing. `None` without usable keys.
pub fn cpu_stat_ticks(text: &str) -> Option<CpuTicks> {
    let g = |k| cgroupfile::flat_get(text, k);
    let (user, system) = match (g("user_usec"), g("system_usec")) {
        (Some(u), Some(s)) => (u, s),
        _ => (g("usage_usec")?, 0),
    };
    Some(CpuTicks {
        cpu: 0,
        user: user / US_PER_TICK,
        system: system / US_PER_TICK,
    })
}

/// The CPU time of container `c`: v1 cpuacct when the container has a cpuacct cgroup,
/// otherwise the unified hierarchy's `cpu.stat`.
///
/// # Errors
/// [`Error::NoController`] when neither exists, or when a container (not a host reader) sits
/// in the hierarchy's root cgroup; [`Error::Io`] for missing files;
/// [`Error::Malformed`] for unusable content.
pub fn usage(lx: &Lxcfs, c: &Container) -> Result<Usage> {
    let fs = &lx.fs;
    // A container left in the root cgroup of a hierarchy has no CPU time of its own there:
    // the root's counters are the whole host's.
    let own = |dir: &CgroupDir<'_>| c.is_host || !dir.is_root();
    if let Ok(dir) = proc::cgroup(lx, c, Controller::Cpuacct) {
        if !own(&dir) {
            return Err(Error::NoController("cpuacct below the root"));
        }
        let path = |f: &str| dir.file(f).unwrap_or_default();
        let times = match dir.read(fs, "cpuacct.usage_all") {
            Ok(t) => cputime::parse_usage_all(&t)
                .map(|r| usage_all_ticks(&r))
                .ok_or(Error::Malformed {
                    path: path("cpuacct.usage_all"),
                    what: "no `cpu user system` row",
                })?,
            Err(e) if missing(&e) => {
                let t = dir
                    .read(fs, "cpuacct.usage_percpu")
                    .map_err(|e| Error::io(path("cpuacct.usage_percpu"), e))?;
                let totals = cputime::parse_usage_percpu(&t).ok_or(Error::Malformed {
                    path: path("cpuacct.usage_percpu"),
                    what: "not a list of numbers",
                })?;
                let ratio = dir.read(fs, "cpuacct.stat").ok().and_then(|s| {
                    Some((
                        cgroupfile::flat_get(&s, "user")?,
                        cgroupfile::flat_get(&s, "system")?,
                    ))
                });
                split_percpu(&totals, ratio)
            }
            Err(e) => return Err(Error::io(path("cpuacct.usage_all"), e)),
        };
        return Ok(Usage {
            cgroup: dir.path.clone(),
            times: UsageTimes::PerCpu(times),
        });
    }
    let unified = lx
        .hierarchies
        .unified()
        .ok_or(Error::NoController("cpuacct"))?;
    let dir = CgroupDir::of(unified, &c.membership).ok_or(Error::NoController("cpu"))?;
    if !own(&dir) {
        return Err(Error::NoController("cpu below the root"));
    }
    let path = dir.file("cpu.stat").unwrap_or_default();
    let t = dir
        .read(fs, "cpu.stat")
        .map_err(|e| Error::io(path.clone(), e))?;
    let total = cpu_stat_ticks(&t).ok_or(Error::Malformed {
        path,
        what: "no usage_usec",
    })?;
    Ok(Usage {
        cgroup: dir.path.clone(),
        times: UsageTimes::Total(total),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_rounds_up() {
        assert_eq!(quota_to_cpus(50_000, 100_000), 1);
        assert_eq!(quota_to_cpus(150_000, 100_000), 2);
        assert_eq!(quota_to_cpus(200_000, 100_000), 2);
        assert_eq!(quota_to_cpus(1, 0), 1);
        assert_eq!(quota_to_cpus(u64::MAX, 1), u32::MAX);
        assert_eq!(min_ratio(Some((300, 100)), (250, 100)), (250, 100));
        assert_eq!(min_ratio(Some((100, 100)), (250, 100)), (100, 100));
        assert_eq!(min_ratio(None, (u64::MAX, 1)), (u64::MAX, 1));
    }

    #[test]
    fn visible_count_and_online() {
        let mut v = Visible {
            cpuset: vec![0, 2, 3],
            quota_cpus: None,
            cfs: false,
        };
        assert_eq!(v.count(), 3);
        assert_eq!(v.online_text(), "0,2-3\n");
        v.cfs = true;
        assert_eq!(v.online_text(), "0-2\n");
        v.quota_cpus = Some(2);
        assert_eq!(v.cpus(), &[0, 2]);
        assert_eq!(v.online_text(), "0-1\n");
        v.quota_cpus = Some(1);
        assert_eq!(v.online_text(), "0\n");
        v.quota_cpus = Some(0);
        assert_eq!(v.count(), 1, "a quota is worth at least one CPU");
        v.quota_cpus = Some(9);
        assert_eq!(v.count(), 3, "never more than the cpuset");
    }

    #[test]
    fn percpu_split_does_not_double_count() {
        // 3 s and 1 s of CPU, user:system = 3:1.
        let v = split_percpu(&[3_000_000_000, 1_000_000_000], Some((30, 10)));
        assert_eq!(
            v[0],
            CpuTicks {
                cpu: 0,
                user: 225,
                system: 75
            }
        );
        assert_eq!(
            v[1],
            CpuTicks {
                cpu: 1,
                user: 75,
                system: 25
            }
        );
        let v = split_percpu(&[2_000_000_000], Some((0, 0)));
        assert_eq!((v[0].user, v[0].system), (200, 0));
        let v = split_percpu(&[u64::MAX], Some((u64::MAX, u64::MAX)));
        assert!(v[0].user.saturating_add(v[0].system) <= u64::MAX / NS_PER_TICK + 1);
    }

    #[test]
    fn cpu_stat_units() {
        let t = "usage_usec 992123\nuser_usec 535746\nsystem_usec 456376\nnr_periods 22\n";
        assert_eq!(
            cpu_stat_ticks(t),
            Some(CpuTicks {
                cpu: 0,
                user: 53,
                system: 45
            })
        );
        assert_eq!(
            cpu_stat_ticks("usage_usec 100000\n"),
            Some(CpuTicks {
                cpu: 0,
                user: 10,
                system: 0
            })
        );
        assert_eq!(cpu_stat_ticks("usage_usec x\n"), None);
        assert_eq!(
            UsageTimes::Total(CpuTicks {
                cpu: 0,
                user: 1,
                system: 2
            })
            .total_ticks(),
            3
        );
        let per = UsageTimes::PerCpu(usage_all_ticks(&[
            cputime::CpuNs {
                cpu: 0,
                user: 15_000_000,
                system: 5_000_000,
            },
            cputime::CpuNs {
                cpu: 1,
                user: u64::MAX,
                system: u64::MAX,
            },
        ]));
        assert!(per.total_ticks() > 2);
    }
}
