//! A container's memory figures, read from its memory cgroup on v1 or v2 and normalized.
//!
//! Sources (kernel `cgroup-v2.rst` "Memory Interface Files", `cgroup-v1/memory.rst`):
//!
//! | figure | v2 | v1 |
//! |---|---|---|
//! | limit | min of `memory.max` over the cgroup and its ancestors (the root has none) | `memory.stat`'s `hierarchical_memory_limit`: the kernel's minimum of `memory.limit_in_bytes` over the cgroup and the ancestors its limits apply to |
//! | usage | `memory.current` | `memory.usage_in_bytes` |
//! | swap limit | min of `memory.swap.max` over the cgroup and ancestors | RAM+swap: `memory.stat`'s `hierarchical_memsw_limit`, the same minimum of `memory.memsw.limit_in_bytes` |
//! | swap used | `memory.swap.current` | `memory.memsw.usage_in_bytes` − `memory.usage_in_bytes` |
//! | stats | `memory.stat` | `memory.stat` `total_*` keys |
//!
//! Swap accounting is detected on every read: the swap usage file exists in the container's
//! cgroup, or there is no swap accounting.
//!
//! On v1 the kernel computes the hierarchical limits itself (`memcg_get_hierarchical_limit`
//! in 2.6.29–3.18, `memcg_stat_show` in 3.19–6.4, `memcg1_stat_format` since 6.5, in
//! mm/memcontrol-v1.c since 6.11): starting from the cgroup's own limit, then each ancestor
//! up to the first one without `use_hierarchy` (which kernels since 5.11 no longer allow to be
//! off), so the cgroup's own limit files add nothing. A `memory.stat` without them is
//! malformed (the host's file is served), as is any unreadable figure.

use lxcfs_formats::cgroupfile::{self, Limit};

use crate::cgroup::CgroupDir;
use crate::error::{Error, Result};
use crate::hostfs::HostFs;

/// Normalized `memory.stat` figures in bytes (`None` when the kernel does not report one).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemStat {
    /// Page cache including shmem (v2 `file`, v1 `total_cache`).
    pub cached: u64,
    /// tmpfs/shmem (v2 `shmem`, v1 `total_shmem`).
    pub shmem: u64,
    /// Mapped file pages (v2 `file_mapped`, v1 `total_mapped_file`).
    pub mapped: u64,
    /// Dirty file pages (v2 `file_dirty`, v1 `total_dirty`).
    pub dirty: u64,
    /// File pages under writeback (v2 `file_writeback`, v1 `total_writeback`).
    pub writeback: u64,
    /// Active anonymous LRU (v2 `active_anon`, v1 `total_active_anon`); holds shmem too.
    pub active_anon: u64,
    /// Inactive anonymous LRU.
    pub inactive_anon: u64,
    /// Active file LRU (no shmem).
    pub active_file: u64,
    /// Inactive file LRU (no shmem).
    pub inactive_file: u64,
    /// Unevictable LRU.
    pub unevictable: u64,
    /// Anonymous memory (v2 `anon`, v1 `total_rss`).
    pub anon: Option<u64>,
    /// Transparent huge pages backing anonymous memory (v2 `anon_thp`, v1 `total_rss_huge`).
    pub anon_thp: u64,
    /// Slab (v2 `slab`, else `slab_reclaimable + slab_unreclaimable`).
    pub slab: Option<u64>,
    /// Reclaimable slab (v2 `slab_reclaimable`).
    pub slab_reclaimable: Option<u64>,
    /// Unreclaimable slab (v2 `slab_unreclaimable`).
    pub slab_unreclaimable: Option<u64>,
    /// Kernel stacks (v2 `kernel_stack`).
    pub kernel_stack: Option<u64>,
    /// Page tables (v2 `pagetables`).
    pub pagetables: Option<u64>,
    /// Secondary page tables (v2 `sec_pagetables`).
    pub sec_pagetables: Option<u64>,
    /// Per-CPU allocations (v2 `percpu`).
    pub percpu: Option<u64>,
    /// shmem THP (v2 `shmem_thp`).
    pub shmem_thp: Option<u64>,
    /// file THP (v2 `file_thp`).
    pub file_thp: Option<u64>,
    /// Compressed size in zswap (v2 `zswap`).
    pub zswap: Option<u64>,
    /// Original size of what zswap holds (v2 `zswapped`).
    pub zswapped: Option<u64>,
    /// Swap cache (v1 `total_swapcached`, v2 `swapcached` on 6.x).
    pub swapcached: Option<u64>,
}

impl MemStat {
    /// Normalizes a v2 `memory.stat` (one pass, exact key matches).
    pub fn from_v2(text: &str) -> MemStat {
        let mut m = MemStat::default();
        let (mut slab_r, mut slab_u, mut slab) = (None, None, None);
        for (k, v) in cgroupfile::flat_keyed(text) {
            match k {
                "file" => m.cached = v,
                "shmem" => m.shmem = v,
                "file_mapped" => m.mapped = v,
                "file_dirty" => m.dirty = v,
                "file_writeback" => m.writeback = v,
                "active_anon" => m.active_anon = v,
                "inactive_anon" => m.inactive_anon = v,
                "active_file" => m.active_file = v,
                "inactive_file" => m.inactive_file = v,
                "unevictable" => m.unevictable = v,
                "anon" => m.anon = Some(v),
                "anon_thp" => m.anon_thp = v,
                "slab" => slab = Some(v),
                "slab_reclaimable" => slab_r = Some(v),
                "slab_unreclaimable" => slab_u = Some(v),
                "kernel_stack" => m.kernel_stack = Some(v),
                "pagetables" => m.pagetables = Some(v),
                "sec_pagetables" => m.sec_pagetables = Some(v),
                "percpu" => m.percpu = Some(v),
                "shmem_thp" => m.shmem_thp = Some(v),
                "file_thp" => m.file_thp = Some(v),
                "zswap" => m.zswap = Some(v),
                "zswapped" => m.zswapped = Some(v),
                "swapcached" => m.swapcached = Some(v),
                _ => {}
            }
        }
        m.slab = slab.or_else(|| Some(slab_r?.saturating_add(slab_u?)));
        m.slab_reclaimable = slab_r;
        m.slab_unreclaimable = slab_u;
        m
    }

    /// Normalizes a v1 `memory.stat` (hierarchical `total_*` keys; one pass, exact keys).
    pub fn from_v1(text: &str) -> MemStat {
        Self::from_v1_with_limits(text).0
    }

    /// As [`MemStat::from_v1`], also returning `hierarchical_memory_limit` and
    /// `hierarchical_memsw_limit`: the kernel's own minimum of the limits over the cgroup and
    /// its ancestors (bytes; `None` when the kernel does not report them).
    pub fn from_v1_with_limits(text: &str) -> (MemStat, Option<Limit>, Option<Limit>) {
        let mut m = MemStat::default();
        let (mut mem_limit, mut memsw_limit) = (None, None);
        let as_limit = |v: u64| {
            if v >= cgroupfile::V1_UNLIMITED_FLOOR {
                Limit::Max
            } else {
                Limit::Value(v)
            }
        };
        for (k, v) in cgroupfile::flat_keyed(text) {
            match k {
                "total_cache" => m.cached = v,
                "total_shmem" => m.shmem = v,
                "total_mapped_file" => m.mapped = v,
                "total_dirty" => m.dirty = v,
                "total_writeback" => m.writeback = v,
                "total_active_anon" => m.active_anon = v,
                "total_inactive_anon" => m.inactive_anon = v,
                "total_active_file" => m.active_file = v,
                "total_inactive_file" => m.inactive_file = v,
                "total_unevictable" => m.unevictable = v,
                "total_rss" => m.anon = Some(v),
                "total_rss_huge" => m.anon_thp = v,
                "total_swapcached" => m.swapcached = Some(v),
                "hierarchical_memory_limit" => mem_limit = Some(as_limit(v)),
                "hierarchical_memsw_limit" => memsw_limit = Some(as_limit(v)),
                _ => {}
            }
        }
        (m, mem_limit, memsw_limit)
    }
}

/// Swap figures of a container with swap accounting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Swap {
    /// v2: swap limit (`memory.swap.max`, min over ancestors); v1: the RAM+swap limit.
    pub limit: Limit,
    /// Swap in use, bytes.
    pub used: u64,
    /// v1 `memory.swappiness` is 0: the container is not meant to swap.
    pub swappiness_zero: bool,
}

/// A container's memory figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Memory {
    /// Whether the figures come from cgroup v1 (swap limit is then RAM+swap).
    pub v1: bool,
    /// Memory limit in bytes, min over the cgroup and its ancestors.
    pub limit: Limit,
    /// Memory in use in bytes (page cache included).
    pub usage: u64,
    /// Normalized statistics.
    pub stat: MemStat,
    /// `None` when the kernel does no swap accounting for this cgroup.
    pub swap: Option<Swap>,
}

/// Reads a limit file; a missing file is `Ok(None)`, garbage is an error.
fn read_limit(fs: &HostFs, dir: &CgroupDir<'_>, file: &str) -> Result<Option<Limit>> {
    match dir.read(fs, file) {
        Ok(t) => cgroupfile::parse_limit(&t)
            .map(Some)
            .ok_or_else(|| Error::Malformed {
                path: dir.file(file).unwrap_or_default(),
                what: "not a limit",
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(dir.file(file).unwrap_or_default(), e)),
    }
}

/// The minimum of `file` over `dir` and its ancestors (v2 roots are skipped: they carry no
/// limit files). Missing files mean "no limit at that level".
pub fn min_limit(fs: &HostFs, dir: &CgroupDir<'_>, file: &str) -> Result<Limit> {
    let mut limit = Limit::Max;
    for d in dir.self_and_ancestors() {
        if d.is_v2() && d.is_root() {
            break;
        }
        if let Some(l) = read_limit(fs, &d, file)? {
            limit = limit.min(l);
        }
    }
    Ok(limit)
}

fn read_u64(fs: &HostFs, dir: &CgroupDir<'_>, file: &str) -> Result<u64> {
    let path = dir.file(file).unwrap_or_default();
    let t = dir.read(fs, file).map_err(|e| Error::io(path.clone(), e))?;
    cgroupfile::parse_u64(&t).ok_or(Error::Malformed {
        path,
        what: "not a number",
    })
}

/// Reads the memory figures of the memory cgroup `dir`.
///
/// # Errors
/// Any missing or malformed required file (usage, stat, limits); the caller serves the host's
/// file instead.
pub fn read(fs: &HostFs, dir: &CgroupDir<'_>) -> Result<Memory> {
    if dir.is_v2() {
        let usage = read_u64(fs, dir, "memory.current")?;
        let stat_path = dir.file("memory.stat").unwrap_or_default();
        let stat = MemStat::from_v2(
            &dir.read(fs, "memory.stat")
                .map_err(|e| Error::io(stat_path, e))?,
        );
        let limit = min_limit(fs, dir, "memory.max")?;
        let swap = match dir.read(fs, "memory.swap.current") {
            Ok(t) => Some(Swap {
                limit: min_limit(fs, dir, "memory.swap.max")?,
                used: cgroupfile::parse_u64(&t).ok_or(Error::Malformed {
                    path: dir.file("memory.swap.current").unwrap_or_default(),
                    what: "not a number",
                })?,
                swappiness_zero: false,
            }),
            // No swap accounting: the file does not exist.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(Error::io(
                    dir.file("memory.swap.current").unwrap_or_default(),
                    e,
                ))
            }
        };
        Ok(Memory {
            v1: false,
            limit,
            usage,
            stat,
            swap,
        })
    } else {
        let usage = read_u64(fs, dir, "memory.usage_in_bytes")?;
        let stat_path = dir.file("memory.stat").unwrap_or_default();
        let stat_text = dir
            .read(fs, "memory.stat")
            .map_err(|e| Error::io(stat_path.clone(), e))?;
        let (stat, hier_mem, hier_memsw) = MemStat::from_v1_with_limits(&stat_text);
        // The kernel's own minimum over the cgroup and its ancestors (see the module doc).
        let hierarchical = |limit: Option<Limit>, what| {
            limit.ok_or_else(|| Error::Malformed {
                path: stat_path.clone(),
                what,
            })
        };
        let limit = hierarchical(hier_mem, "no hierarchical_memory_limit")?;
        let swap = match dir.read(fs, "memory.memsw.usage_in_bytes") {
            Ok(t) => {
                let memsw_usage = cgroupfile::parse_u64(&t).ok_or(Error::Malformed {
                    path: dir.file("memory.memsw.usage_in_bytes").unwrap_or_default(),
                    what: "not a number",
                })?;
                let swappiness_zero = dir
                    .read(fs, "memory.swappiness")
                    .ok()
                    .and_then(|t| cgroupfile::parse_u64(&t))
                    == Some(0);
                Some(Swap {
                    limit: hierarchical(hier_memsw, "no hierarchical_memsw_limit")?,
                    used: memsw_usage.saturating_sub(usage),
                    swappiness_zero,
                })
            }
            // No swap accounting: the file does not exist.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(Error::io(
                    dir.file("memory.memsw.usage_in_bytes").unwrap_or_default(),
                    e,
                ))
            }
        };
        Ok(Memory {
            v1: true,
            limit,
            usage,
            stat,
            swap,
        })
    }
}

/// Swap size and use in kB as meminfo and swaps report them, or `None` for "no swap".
///
/// * v2: total = min(swap limit, host SwapTotal); used = `memory.swap.current`.
/// * v1: total = min(RAM+swap limit, host SwapTotal): the kernel may swap out more than the
///   RAM+swap minus RAM difference, so the RAM+swap limit is the only bound that usage never
///   exceeds; used = RAM+swap usage − RAM usage.
/// * swappiness 0 (v1): total = used (nothing more will be swapped).
/// * `used` never exceeds `total` in the result's free space (saturating).
pub fn swap_kb(mem: &Memory, host_swap_total_kb: u64) -> Option<(u64, u64)> {
    let s = mem.swap?;
    let limit_kb = s.limit.value().map_or(u64::MAX, |b| b / 1024);
    let used_kb = s.used / 1024;
    let mut total = limit_kb.min(host_swap_total_kb);
    if s.swappiness_zero {
        total = used_kb;
    }
    Some((total, used_kb))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_exact_keys() {
        let s = MemStat::from_v2(
            "anon 100\nfile 200\nfile_mapped 30\nfile_dirty 4\nfile_writeback 5\nanon_thp 6\nshmem 7\nslab_reclaimable 8\nslab_unreclaimable 9\n",
        );
        assert_eq!(s.cached, 200);
        assert_eq!(s.mapped, 30);
        assert_eq!(s.dirty, 4);
        assert_eq!(s.writeback, 5);
        assert_eq!(s.anon_thp, 6);
        assert_eq!(s.anon, Some(100));
        assert_eq!(s.slab, Some(17));
    }

    #[test]
    fn v1_exact_keys() {
        let s = MemStat::from_v1("total_rss 100\ntotal_rss_huge 50\ntotal_cache 10\nrss 1\n");
        assert_eq!(s.anon, Some(100));
        assert_eq!(s.anon_thp, 50);
        assert_eq!(s.cached, 10);
    }

    #[test]
    fn swap_rules() {
        let mut m = Memory {
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
        assert_eq!(swap_kb(&m, 65536), Some((32768, 1024)));
        m.swap.as_mut().unwrap().limit = Limit::Max;
        assert_eq!(swap_kb(&m, 65536), Some((65536, 1024)));
        m.swap.as_mut().unwrap().swappiness_zero = true;
        assert_eq!(swap_kb(&m, 65536), Some((1024, 1024)));
        m.swap = None;
        assert_eq!(swap_kb(&m, 65536), None);
    }
}
