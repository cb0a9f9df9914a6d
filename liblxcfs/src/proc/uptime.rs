//! `/proc/uptime` for a container. Not virtualized yet: the host's file is served.

use crate::container::Container;
use crate::error::{Error, Result};
use crate::Lxcfs;

/// Renders `/proc/uptime` for container `c`.
///
/// # Errors
/// Always [`Error::NotFound`] for now (the caller serves the host file).
pub fn read(_lx: &Lxcfs, _c: &Container) -> Result<String> {
    Err(Error::NotFound)
}
