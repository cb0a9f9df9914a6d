//! `/proc/meminfo` for a container (proc(5) "/proc/meminfo").
//!
//! Every line the container's memory cgroup can answer is rewritten; the others (system-wide
//! figures such as `CommitLimit`, `Vmalloc*`, `HugePages_*`) pass through from the host in the
//! host's order and column format. All arithmetic saturates: no value ever wraps.
//!
//! | line | value (kB) |
//! |---|---|
//! | MemTotal | min(limit, host MemTotal) |
//! | MemFree | MemTotal − usage (0 when usage exceeds the limit) |
//! | MemAvailable | min(MemTotal, MemFree + active_file + inactive_file + slab_reclaimable): shmem/tmpfs sits on the anon LRUs and is not counted |
//! | Buffers | 0 |
//! | Cached | page cache incl. shmem |
//! | SwapCached | swap cache, else 0 |
//! | Active, Inactive | anon + file LRUs |
//! | Active(anon) … Unevictable | the LRU sizes |
//! | Dirty, Writeback, Mapped, Shmem | the matching stat keys |
//! | AnonPages | `anon` (v2) / `total_rss` (v1), else (active_anon + inactive_anon − shmem) |
//! | AnonHugePages | `anon_thp` / `total_rss_huge` |
//! | Slab, SReclaimable, SUnreclaim, KReclaimable | v2 slab keys (KReclaimable = SReclaimable); 0 on v1, which has no slab statistics per cgroup |
//! | KernelStack, PageTables, SecPageTables, Percpu, ShmemHugePages, FileHugePages | v2 keys when the kernel reports them |
//! | Zswap, Zswapped | v2 `zswap`/`zswapped`, 0 with `--disable-zswap` or without zswap accounting |
//! | SwapTotal, SwapFree | see [`crate::memory::swap_kb`]; 0 with `-u` or without swap accounting |

use lxcfs_formats::meminfo;

use crate::memory::{self, Memory};

/// Switches that change meminfo.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MeminfoOptions {
    /// `-u`: no swap.
    pub swap_off: bool,
    /// `--disable-zswap`: Zswap and Zswapped are 0.
    pub zswap_off: bool,
}

/// Renders the container's meminfo from the host's text and the container's figures.
pub fn render(host: &str, mem: &Memory, opts: MeminfoOptions) -> String {
    let host_total = meminfo::value_of(host, "MemTotal").unwrap_or(u64::MAX);
    let host_swap = meminfo::value_of(host, "SwapTotal").unwrap_or(0);
    let kb = |b: u64| b / 1024;
    let s = &mem.stat;

    let total = mem
        .limit
        .value()
        .map_or(host_total, |b| kb(b).min(host_total));
    let free = total.saturating_sub(kb(mem.usage));
    let reclaimable = s
        .active_file
        .saturating_add(s.inactive_file)
        .saturating_add(s.slab_reclaimable.unwrap_or(0));
    let available = free.saturating_add(kb(reclaimable)).min(total);
    let anon_pages = s.anon.unwrap_or_else(|| {
        s.active_anon
            .saturating_add(s.inactive_anon)
            .saturating_sub(s.shmem)
    });
    let (swap_total, swap_free) = if opts.swap_off {
        (0, 0)
    } else {
        match memory::swap_kb(mem, host_swap) {
            Some((t, used)) => (t, t.saturating_sub(used)),
            None => (0, 0),
        }
    };
    let (zswap, zswapped) = if opts.zswap_off {
        (0, 0)
    } else {
        (kb(s.zswap.unwrap_or(0)), kb(s.zswapped.unwrap_or(0)))
    };
    let slab_v1_zero = |v: Option<u64>| if mem.v1 { Some(0) } else { v.map(kb) };

    meminfo::rewrite(host, |key| match key {
        "MemTotal" => Some(total),
        "MemFree" => Some(free),
        "MemAvailable" => Some(available),
        "Buffers" => Some(0),
        "Cached" => Some(kb(s.cached)),
        "SwapCached" => Some(kb(s.swapcached.unwrap_or(0))),
        "Active" => Some(kb(s.active_anon.saturating_add(s.active_file))),
        "Inactive" => Some(kb(s.inactive_anon.saturating_add(s.inactive_file))),
        "Active(anon)" => Some(kb(s.active_anon)),
        "Inactive(anon)" => Some(kb(s.inactive_anon)),
        "Active(file)" => Some(kb(s.active_file)),
        "Inactive(file)" => Some(kb(s.inactive_file)),
        "Unevictable" => Some(kb(s.unevictable)),
        "Dirty" => Some(kb(s.dirty)),
        "Writeback" => Some(kb(s.writeback)),
        "AnonPages" => Some(kb(anon_pages)),
        "Mapped" => Some(kb(s.mapped)),
        "Shmem" => Some(kb(s.shmem)),
        "AnonHugePages" => Some(kb(s.anon_thp)),
        "Slab" => slab_v1_zero(s.slab),
        "SReclaimable" | "KReclaimable" => slab_v1_zero(s.slab_reclaimable),
        "SUnreclaim" => slab_v1_zero(s.slab_unreclaimable),
        "KernelStack" => s.kernel_stack.map(kb),
        "PageTables" => s.pagetables.map(kb),
        "SecPageTables" => s.sec_pagetables.map(kb),
        "Percpu" => s.percpu.map(kb),
        "ShmemHugePages" => s.shmem_thp.map(kb),
        "FileHugePages" => s.file_thp.map(kb),
        "ShmemPmdMapped" | "FilePmdMapped" => Some(0),
        "Zswap" => Some(zswap),
        "Zswapped" => Some(zswapped),
        "SwapTotal" => Some(swap_total),
        "SwapFree" => Some(swap_free),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{MemStat, Swap};
    use lxcfs_formats::cgroupfile::Limit;

    const HOST: &str = "MemTotal:       16000000 kB\nMemFree:         8000000 kB\nMemAvailable:   12000000 kB\nShmem:             10000 kB\nAnonPages:         10000 kB\nSwapTotal:         65536 kB\nSwapFree:          65536 kB\nCommitLimit:     8000000 kB\n";

    fn mem(limit: Limit, usage: u64) -> Memory {
        Memory {
            v1: false,
            limit,
            usage,
            stat: MemStat::default(),
            swap: None,
        }
    }

    #[test]
    fn usage_above_limit_saturates() {
        let out = render(
            HOST,
            &mem(Limit::Value(100 << 20), 200 << 20),
            MeminfoOptions::default(),
        );
        let v = meminfo::parse(&out);
        assert_eq!(v["MemTotal"], 102400);
        assert_eq!(v["MemFree"], 0);
        assert_eq!(v["MemAvailable"], 0);
        assert_eq!(v["CommitLimit"], 8000000, "host-wide lines pass through");
    }

    #[test]
    fn zero_limit_means_zero() {
        let out = render(HOST, &mem(Limit::Value(0), 0), MeminfoOptions::default());
        assert_eq!(meminfo::parse(&out)["MemTotal"], 0);
    }

    #[test]
    fn no_limit_is_host_total() {
        let out = render(HOST, &mem(Limit::Max, 1 << 30), MeminfoOptions::default());
        let v = meminfo::parse(&out);
        assert_eq!(v["MemTotal"], 16000000);
        assert_eq!(v["MemFree"], 16000000 - 1048576);
    }

    #[test]
    fn shmem_not_available() {
        let mut m = mem(Limit::Value(256 << 20), 64 << 20);
        m.stat = MemStat {
            cached: 40 << 20,
            shmem: 32 << 20,
            active_anon: 32 << 20,
            active_file: 4 << 20,
            inactive_file: 4 << 20,
            ..MemStat::default()
        };
        let v_out = render(HOST, &m, MeminfoOptions::default());
        let v = meminfo::parse(&v_out);
        assert_eq!(v["MemAvailable"], (256 - 64 + 8) * 1024);
        assert_eq!(v["Shmem"], 32768);
        assert_eq!(v["AnonPages"], 0);
    }

    #[test]
    fn swap_flag_and_accounting() {
        let mut m = mem(Limit::Value(256 << 20), 0);
        m.swap = Some(Swap {
            limit: Limit::Value(32 << 20),
            used: 40 << 20,
            swappiness_zero: false,
        });
        let v_out = render(HOST, &m, MeminfoOptions::default());
        let v = meminfo::parse(&v_out);
        assert_eq!(v["SwapTotal"], 32768);
        assert_eq!(v["SwapFree"], 0, "used above total saturates");
        let v_out = render(
            HOST,
            &m,
            MeminfoOptions {
                swap_off: true,
                zswap_off: false,
            },
        );
        assert_eq!(meminfo::parse(&v_out)["SwapTotal"], 0);
    }
}
