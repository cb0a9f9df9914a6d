//! `/proc/uptime` for a container (proc(5) "/proc/uptime"): `<age> <idle>` in seconds with
//! two decimals.
//!
//! * age = host uptime (first field of the host's `/proc/uptime`, CLOCK_BOOTTIME) − start
//!   time of the init of the reader's pid namespace (field 22 of `/proc/<init>/stat`, USER_HZ
//!   ticks), floored at 0;
//! * idle = age × visible CPUs − the container's CPU time (v1 `cpuacct` usage, v2 `cpu.stat`
//!   user + system), floored at 0: the kernel's idle field, too, sums the idle time of all
//!   CPUs. It equals the sum of the idle columns of the container's `/proc/stat` rows, except
//!   where those keep advancing past a busy time larger than the age (a cgroup that had used
//!   CPU before the container started; see [`crate::cpuview::History::step`]). Without
//!   CPU time data, idle = age × CPUs; when the visible CPUs cannot be determined (no
//!   cpuset controller, unreadable cpuset or, with `--enable-cfs`, quota), the host's online
//!   CPU count is used.
//!
//! A reader in the host's pid namespace gets the host's line; when the init is gone (its
//! `/proc` entry vanished or no longer shows it as a namespace init) the host's file is
//! served.

use lxcfs_formats::cputime;

use crate::container::Container;
use crate::cpu;
use crate::error::Result;
use crate::proc;
use crate::Lxcfs;

/// Renders `/proc/uptime` for container `c`.
///
/// # Errors
/// The errors of [`cpu::age_ticks`] (init gone, host uptime unreadable).
pub fn read(lx: &Lxcfs, c: &Container) -> Result<String> {
    if c.is_host {
        return proc::read_host(lx, "/proc/uptime");
    }
    let age = cpu::age_ticks(lx, c)?;
    let cpus = cpu::visible_count_or_host(lx, c);
    let busy = match cpu::usage(lx, c) {
        Ok(u) => Some(u.times.total_ticks()),
        Err(e) => {
            tracing::debug!("/proc/uptime: no CPU time, idle = age × CPUs: {e}");
            None
        }
    };
    Ok(render(age, cpus, busy))
}

/// The line for an age and CPU time in ticks (hundredths of a second) and a CPU count.
pub fn render(age: u64, cpus: usize, busy: Option<u64>) -> String {
    let all = age.saturating_mul(cpus.max(1) as u64);
    let idle = all.saturating_sub(busy.unwrap_or(0));
    format!(
        "{} {}\n",
        cputime::render_hundredths(age),
        cputime::render_hundredths(idle)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_two_decimals() {
        assert_eq!(render(100_050, 2, Some(450)), "1000.50 1996.50\n");
        assert_eq!(render(5, 1, None), "0.05 0.05\n");
        assert_eq!(render(5, 0, None), "0.05 0.05\n");
        assert_eq!(render(0, 4, Some(1)), "0.00 0.00\n");
    }

    #[test]
    fn idle_never_negative() {
        assert_eq!(render(100, 1, Some(1_000_000)), "1.00 0.00\n");
        assert_eq!(render(u64::MAX, usize::MAX, Some(0)).split(' ').count(), 2);
    }
}
