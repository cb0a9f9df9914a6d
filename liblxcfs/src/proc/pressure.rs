//! `/proc/pressure/{cpu,io,memory}` for a container (Documentation/accounting/psi.rst).
//!
//! Every cgroup of the unified (cgroup2) hierarchy carries `cpu.pressure`, `io.pressure` and
//! `memory.pressure`, whatever controllers it has enabled, in the same format as the
//! system-wide files:
//!
//! ```text
//! some avg10=8.33 avg60=1.50 avg300=0.31 total=991822
//! full avg10=7.97 avg60=1.43 avg300=0.30 total=943910
//! ```
//!
//! (`avg*` are percentages of wall time, `total` is the accumulated stall time in µs.)
//!
//! A read serves the file of the cgroup of the caller's container in the unified hierarchy:
//! the whole hierarchy on a pure cgroup2 host, the `unified` mount on a hybrid host (the
//! container's `0::` path). The text is validated ([`is_valid_psi`]) and then copied verbatim.
//! Anything else — a v1-only host, a container outside the unified mount, a missing,
//! unreadable (PSI disabled, `cgroup.pressure` 0) or malformed cgroup file — serves the host's
//! `/proc/pressure/<resource>`, and empty content when the host has no PSI either.
//!
//! Upstream lxcfs 7.0 asks for a controller named `blkio` for `io`, which never exists on
//! cgroup2, so its `pressure/io` is never virtualized; here the three resources behave alike.
//!
//! Triggers (`--enable-psi-poll`, psi.rst "Userspace monitors"): [`trigger`] validates the text
//! written to the FUSE file and names the container cgroup's `<resource>.pressure`; the host
//! opens that file, writes the trigger and polls it (see `lxcfs-host/src/psi.rs`).

use lxcfs_formats::cgroupfile::{is_valid_psi, parse_psi_trigger};

use crate::cgroup::CgroupDir;
use crate::container::Container;
use crate::error::{Error, Result};
use crate::tree::Node;
use crate::Lxcfs;

/// A PSI resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    /// `cpu`
    Cpu,
    /// `io`
    Io,
    /// `memory`
    Memory,
}

impl Resource {
    /// The resource's name (`cpu`, `io`, `memory`).
    pub fn name(self) -> &'static str {
        match self {
            Resource::Cpu => "cpu",
            Resource::Io => "io",
            Resource::Memory => "memory",
        }
    }

    /// The cgroup interface file (`cpu.pressure`).
    pub fn cgroup_file(self) -> &'static str {
        match self {
            Resource::Cpu => "cpu.pressure",
            Resource::Io => "io.pressure",
            Resource::Memory => "memory.pressure",
        }
    }

    /// The host's system-wide file (`/proc/pressure/cpu`).
    pub fn host_path(self) -> &'static str {
        match self {
            Resource::Cpu => "/proc/pressure/cpu",
            Resource::Io => "/proc/pressure/io",
            Resource::Memory => "/proc/pressure/memory",
        }
    }
}

/// The container's cgroup in the unified hierarchy (where PSI files live on pure and hybrid
/// hosts alike).
///
/// # Errors
/// [`Error::NoController`] (`"cgroup2"`) on a v1-only host or when the container has no `0::`
/// path inside the unified mount.
pub fn cgroup<'a>(lx: &'a Lxcfs, c: &Container) -> Result<CgroupDir<'a>> {
    let h = lx
        .hierarchies
        .unified()
        .ok_or(Error::NoController("cgroup2"))?;
    let dir = CgroupDir::of(h, &c.membership).ok_or(Error::NoController("cgroup2"))?;
    // The path must lie inside the mounted subtree.
    match h.dir_of(&dir.path) {
        Some(_) => Ok(dir),
        None => Err(Error::NoController("cgroup2")),
    }
}

/// Checks a PSI text read from `path` and returns it unchanged.
///
/// # Errors
/// [`Error::Malformed`] when the text is not `some`/`full` lines with `avg10`, `avg60`,
/// `avg300` and `total` (psi.rst).
pub fn validate(path: &str, text: String) -> Result<String> {
    if is_valid_psi(&text) {
        Ok(text)
    } else {
        Err(Error::Malformed {
            path: path.to_string(),
            what: "not a PSI file",
        })
    }
}

/// The container's `<resource>.pressure`, validated.
///
/// # Errors
/// See [`cgroup`]; [`Error::Io`] when the file cannot be read; [`Error::Malformed`].
pub fn read(lx: &Lxcfs, c: &Container, r: Resource) -> Result<String> {
    let dir = cgroup(lx, c)?;
    let path = dir.file(r.cgroup_file()).unwrap_or_default();
    let text = dir
        .read(&lx.fs, r.cgroup_file())
        .map_err(|e| Error::io(path.clone(), e))?;
    validate(&path, text)
}

/// The content of `/proc/pressure/<r>` for the caller thread `tid`: the container cgroup's
/// file, or the host's (empty when the host has none); see the module documentation.
///
/// # Errors
/// As [`super::host_file`], when the host file exists but cannot be read.
pub fn render(lx: &Lxcfs, tid: u32, r: Resource) -> Result<String> {
    if !lx.virtualizing() {
        return super::host_file(lx, r.host_path());
    }
    match lx.container(tid).and_then(|c| read(lx, &c, r)) {
        Ok(text) => Ok(text),
        Err(e) => {
            if e.is_missing() {
                tracing::debug!("{}: serving the host file: {e}", r.host_path());
            } else {
                tracing::warn!("{}: serving the host file: {e}", r.host_path());
            }
            super::host_file(lx, r.host_path())
        }
    }
}

/// Validates a PSI trigger written to `path` (`/proc/pressure/<res>` inside the mount) by the
/// thread `tid`. Returns the absolute host path of the container cgroup's `<res>.pressure`
/// file (for the host to open and write) and the normalized trigger text (without a NUL):
/// `some|full <threshold µs> <window µs>`, the window forced to 2 s unless it is a multiple of
/// 2 s, as upstream lxcfs does ([`parse_psi_trigger`]).
///
/// # Errors
/// * [`Error::Invalid`] (`EINVAL`) without `--enable-psi-poll`, for a path that is not a
///   pressure file, or for a malformed trigger;
/// * [`Error::ProcessGone`] (`ESRCH`) when the caller vanished;
/// * [`Error::NotFound`] (`ENOENT`) when the container has no cgroup2 pressure file.
pub fn trigger(lx: &Lxcfs, tid: u32, path: &str, data: &[u8]) -> Result<(String, String)> {
    if !lx.options.psi_poll {
        return Err(Error::Invalid);
    }
    let Some(Node::Pressure(r)) = Node::lookup(path) else {
        return Err(Error::Invalid);
    };
    let text = std::str::from_utf8(data).map_err(|_| Error::Invalid)?;
    let t = parse_psi_trigger(text).ok_or(Error::Invalid)?;
    let c = lx.container(tid)?;
    let dir = cgroup(lx, &c).map_err(|_| Error::NotFound)?;
    let file = dir.file(r.cgroup_file()).ok_or(Error::NotFound)?;
    if !lx.fs.exists(&file) {
        return Err(Error::NotFound);
    }
    Ok((file, t.render()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(Resource::Io.cgroup_file(), "io.pressure");
        assert_eq!(Resource::Memory.host_path(), "/proc/pressure/memory");
        assert_eq!(Resource::Cpu.name(), "cpu");
    }

    #[test]
    fn validation() {
        let good = "some avg10=0.00 avg60=0.00 avg300=0.00 total=12\n\
                    full avg10=0.00 avg60=0.00 avg300=0.00 total=3\n";
        assert_eq!(validate("x", good.to_string()).unwrap(), good);
        assert!(validate("x", "some avg10=1\n".to_string()).is_err());
        assert!(validate("x", String::new()).is_err());
        assert!(validate("x", "\u{0}\u{1}garbage".to_string()).is_err());
    }
}
