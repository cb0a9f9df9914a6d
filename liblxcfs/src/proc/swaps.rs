//! `/proc/swaps` for a container (proc(5) "/proc/swaps").
//!
//! The header as the kernel prints it, then, when the container has any swap, one virtual
//! device `none` of type `virtual` whose size and use are meminfo's SwapTotal and
//! SwapTotal − SwapFree (kB, [`crate::memory::swap_kb`]). Host swap devices are never listed.

use crate::memory::{self, Memory};

/// The header line of `/proc/swaps`.
pub const HEADER: &str = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";

/// Renders the container's swaps file. `host_swap_total_kb` is the host's SwapTotal.
pub fn render(mem: &Memory, host_swap_total_kb: u64, swap_off: bool) -> String {
    let mut out = String::from(HEADER);
    if swap_off {
        return out;
    }
    if let Some((total, used)) = memory::swap_kb(mem, host_swap_total_kb) {
        if total > 0 {
            out.push_str(&format!(
                "{:<40}virtual\t{}\t\t{}\t\t0\n",
                "none",
                total,
                used.min(total)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{MemStat, Swap};
    use lxcfs_formats::cgroupfile::Limit;

    #[test]
    fn one_virtual_device() {
        let m = Memory {
            v1: false,
            limit: Limit::Value(256 << 20),
            usage: 0,
            stat: MemStat::default(),
            swap: Some(Swap {
                limit: Limit::Value(32 << 20),
                used: 1 << 20,
                swappiness_zero: false,
            }),
        };
        let out = render(&m, 65536, false);
        let mut lines = out.lines();
        assert_eq!(lines.next().unwrap(), HEADER.trim_end());
        let dev: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(dev, ["none", "virtual", "32768", "1024", "0"]);
        assert_eq!(render(&m, 65536, true), HEADER);
        assert_eq!(render(&m, 0, false), HEADER);
    }
}
