//! `/proc/cpuinfo` for a container (proc(5) "/proc/cpuinfo"), and the container's
//! `sys/devices/system/cpu/online`.
//!
//! The host's blocks of the visible CPUs ([`crate::cpu::Visible::cpus`]: the effective cpuset
//! ∩ online CPUs, cut to the CFS quota with `--enable-cfs`) are kept in order and renumbered
//! `processor : 0, 1, …`; the lines inside a block are the host's (as upstream lxcfs) except
//! the x86 `siblings` and `cpu cores`, which count the kept CPUs per package the way the
//! kernel counts online ones (upstream keeps the host's: a one-CPU container read "siblings
//! 64"). The s390x layout is handled by [`lxcfs_formats::cpuinfo::filter`]. Without a cpuset
//! controller, or with an unreadable cpuset, the host's file is served.

use lxcfs_formats::cpuinfo;

use crate::container::Container;
use crate::cpu;
use crate::error::{Error, Result};
use crate::proc;
use crate::Lxcfs;

/// Renders `/proc/cpuinfo` for container `c`.
///
/// # Errors
/// The errors of [`cpu::visible`]; [`Error::Io`] when the host file is unreadable;
/// [`Error::Malformed`] when the host file has no block of a visible CPU.
pub fn read(lx: &Lxcfs, c: &Container) -> Result<String> {
    let vis = cpu::visible(lx, c)?;
    let host = proc::read_host(lx, "/proc/cpuinfo")?;
    render(&host, vis.cpus())
}

/// Keeps the host `cpuinfo` blocks of the physical CPUs `cpus` (sorted), renumbered from 0.
///
/// # Errors
/// [`Error::Malformed`] when no block is kept (the host file lists none of `cpus`).
pub fn render(host: &str, cpus: &[u32]) -> Result<String> {
    let out = cpuinfo::filter(host, |n| cpus.binary_search(&n).is_ok(), cpus.len());
    if out.trim().is_empty() || !out.contains("processor") {
        return Err(Error::Malformed {
            path: "/proc/cpuinfo".into(),
            what: "no block of a visible CPU",
        });
    }
    Ok(out)
}

/// `sys/devices/system/cpu/online` for the caller thread `tid` (see
/// [`cpu::Visible::online_text`]), or `None` to serve the host's file (caller gone, no
/// cpuset controller, unreadable cpuset or quota).
pub fn online(lx: &Lxcfs, tid: u32) -> Option<String> {
    let c = lx.container(tid).ok()?;
    match cpu::visible(lx, &c) {
        Ok(v) => Some(v.online_text()),
        Err(e) => {
            tracing::debug!("cpu/online: serving the host file: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "processor\t: 0\nmodel name\t: X\ncore id\t\t: 0\n\nprocessor\t: 1\nmodel name\t: X\ncore id\t\t: 1\n\nprocessor\t: 2\nmodel name\t: X\ncore id\t\t: 2\n\n";

    #[test]
    fn keeps_visible_blocks_renumbered() {
        let out = render(HOST, &[1, 2]).unwrap();
        assert_eq!(out.matches("processor").count(), 2);
        assert!(
            out.starts_with("processor\t: 0\nmodel name\t: X\ncore id\t\t: 1\n\n"),
            "{out}"
        );
        assert!(out.contains("processor\t: 1\nmodel name\t: X\ncore id\t\t: 2\n"));
    }

    #[test]
    fn no_block_is_an_error() {
        assert!(render(HOST, &[7]).is_err());
        assert!(render("", &[0]).is_err());
        assert!(render("garbage without blocks\n", &[0]).is_err());
    }
}
