//! `/proc/cpuinfo` for a container. Not virtualized yet: the host's file is served.

use crate::container::Container;
use crate::error::{Error, Result};
use crate::Lxcfs;

/// Renders `/proc/cpuinfo` for container `c`.
///
/// # Errors
/// Always [`Error::NotFound`] for now (the caller serves the host file).
pub fn read(_lx: &Lxcfs, _c: &Container) -> Result<String> {
    Err(Error::NotFound)
}

/// `sys/devices/system/cpu/online` for the caller thread `tid`, or `None` to serve the host's.
pub fn online(_lx: &Lxcfs, _tid: u32) -> Option<String> {
    None
}
