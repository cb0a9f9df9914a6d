//! `/sys/devices/system/cpu`: the host's directory mirrored read-only, with `online`
//! rewritten for the container.
//!
//! Every `cpuN` directory stays visible (hiding them breaks JVMs and glibc's
//! `_NPROCESSORS_CONF`; the kernel itself never hides offline CPUs); each name is listed once
//! with its real type; symlinks resolve to the host's targets. Write bits are removed from the
//! mirrored modes and every write is refused with `EACCES` before it could reach the host.

use lxcfs_abi::{kind, Attr};

use crate::error::{Error, Result};
use crate::Lxcfs;

/// The host directory mirrored here.
pub const HOST_DIR: &str = "/sys/devices/system/cpu";

fn host_path(rel: &str) -> String {
    if rel.is_empty() {
        HOST_DIR.to_string()
    } else {
        format!("{HOST_DIR}/{rel}")
    }
}

/// Attributes of `rel` (relative to the cpu directory; empty for the directory itself).
///
/// # Errors
/// [`Error::NotFound`] when the host has no such entry.
pub fn getattr(lx: &Lxcfs, rel: &str) -> Result<Attr> {
    let md = lx
        .fs
        .symlink_metadata(&host_path(rel))
        .map_err(|_| Error::NotFound)?;
    let perm = std::os::unix::fs::PermissionsExt::mode(&md.permissions()) & 0o7777;
    let ft = md.file_type();
    Ok(if ft.is_dir() {
        Attr {
            kind: kind::DIR,
            perm: perm & 0o555,
            size: 0,
            nlink: 2,
            reserved: 0,
        }
    } else if ft.is_symlink() {
        Attr {
            kind: kind::SYMLINK,
            perm: 0o777,
            size: md.len(),
            nlink: 1,
            reserved: 0,
        }
    } else {
        Attr {
            kind: kind::FILE,
            perm: perm & 0o555,
            size: md.len(),
            nlink: 1,
            reserved: 0,
        }
    })
}

/// Entries of the directory `rel`, each name once.
///
/// # Errors
/// [`Error::NotFound`], or the host's error (e.g. `ENOTDIR`).
pub fn readdir(lx: &Lxcfs, rel: &str) -> Result<Vec<(String, u32)>> {
    let p = host_path(rel);
    lx.fs.read_dir(&p).map_err(|e| Error::io(p, e))
}

/// Content of the file `rel`: `online` for the container, anything else the host's.
///
/// # Errors
/// The host's read error (e.g. `EACCES` for root-only files, `EISDIR`).
pub fn read(lx: &Lxcfs, tid: u32, rel: &str) -> Result<Vec<u8>> {
    if rel == "online" && lx.virtualizing() {
        if let Some(s) = crate::proc::cpuinfo::online(lx, tid) {
            return Ok(s.into_bytes());
        }
    }
    let p = host_path(rel);
    lx.fs.read_bytes(&p).map_err(|e| Error::io(p, e))
}

/// Target of the symlink `rel`.
///
/// # Errors
/// [`Error::Invalid`] when `rel` is not a symlink.
pub fn readlink(lx: &Lxcfs, rel: &str) -> Result<String> {
    lx.fs.read_link(&host_path(rel)).map_err(|_| Error::Invalid)
}
