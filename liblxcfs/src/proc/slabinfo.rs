//! `/proc/slabinfo` for a container (proc(5) "/proc/slabinfo", slabinfo(5)).
//!
//! Source: the v1 memory cgroup's `memory.kmem.slabinfo` (cgroup-v1/memory.rst), which older
//! kernels fill with the slab caches charged to that cgroup in the `/proc/slabinfo` format
//! (`slabinfo - version: 2.1` header, then one line per cache). It is served verbatim when it
//! exists, is non-empty and starts with that header.
//!
//! Everywhere else the host's `/proc/slabinfo` is served:
//! * cgroup v2 has no per-cgroup slab listing at all (only the `slab*` totals of
//!   `memory.stat`, which `/proc/meminfo` uses);
//! * since the slab accounting rework (Linux 5.9) the v1 file no longer lists caches: on this
//!   project's reference machine (kernel 6.18) `memory.kmem.slabinfo` reads as empty, in the
//!   root and in child cgroups alike;
//! * no memory controller, or a file without the header (garbage).
//!
//! Note that the host's file is mode 0400 while lxcfs serves 0444, as upstream lxcfs does.

use crate::cgroup::Controller;
use crate::container::Container;
use crate::error::{Error, Result};
use crate::Lxcfs;

/// The first line of every slabinfo text the kernel writes (`slabinfo - version: 2.1`).
pub const HEADER_PREFIX: &str = "slabinfo - version:";

/// Checks that `text` is a slabinfo listing worth serving: it starts with the
/// [`HEADER_PREFIX`] line. Empty text (modern kernels) and anything else is refused.
pub fn render(text: &str) -> Option<String> {
    text.starts_with(HEADER_PREFIX).then(|| text.to_string())
}

/// Renders `/proc/slabinfo` for container `c` from its v1 `memory.kmem.slabinfo`.
///
/// # Errors
/// [`Error::NoController`] without a v1 memory cgroup (including every cgroup2 host);
/// [`Error::Io`] when the file is missing; [`Error::NotFound`] when it is empty (current
/// kernels); [`Error::Malformed`] when it is not slabinfo. The caller then serves the host file.
pub fn read(lx: &Lxcfs, c: &Container) -> Result<String> {
    let dir = super::cgroup(lx, c, Controller::Memory)?;
    if dir.is_v2() {
        return Err(Error::NoController("v1 memory"));
    }
    let file = "memory.kmem.slabinfo";
    let path = dir.file(file).unwrap_or_default();
    let text = dir
        .read(&lx.fs, file)
        .map_err(|e| Error::io(path.clone(), e))?;
    if text.trim().is_empty() {
        // Kernels since 5.9 account slab per object, not per cache: the file is empty.
        return Err(Error::NotFound);
    }
    render(&text).ok_or(Error::Malformed {
        path,
        what: "empty or not slabinfo",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_real_listings_are_served() {
        let t = "slabinfo - version: 2.1\n# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>\ndentry 84 84 192 21 1 : tunables 0 0 0 : slabdata 4 4 0\n";
        assert_eq!(render(t).as_deref(), Some(t));
        assert_eq!(render(""), None);
        assert_eq!(render("\n"), None);
        assert_eq!(render("garbage\nslabinfo - version: 2.1\n"), None);
    }
}
