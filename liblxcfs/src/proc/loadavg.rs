//! `/proc/loadavg` for a container (`-l`). Not virtualized yet: the host's file is served.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::container::Container;
use crate::error::{Error, Result};
use crate::Lxcfs;

/// Per-container load averages, keyed by cgroup path.
#[derive(Debug, Default)]
pub struct LoadAvgs {
    nodes: Mutex<HashMap<String, [u64; 3]>>,
}

impl LoadAvgs {
    /// Number of tracked cgroups.
    pub fn len(&self) -> usize {
        self.nodes.lock().map(|n| n.len()).unwrap_or(0)
    }

    /// Whether no cgroup is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records to carry across a reload (see [`crate::state`]).
    pub fn export(&self) -> Vec<String> {
        Vec::new()
    }

    /// Restores one exported record; `false` when it is not understood.
    pub fn import(&self, _record: &str) -> bool {
        false
    }
}

/// Renders `/proc/loadavg` for container `c`.
///
/// # Errors
/// Always [`Error::NotFound`] for now (the caller serves the host file).
pub fn read(_lx: &Lxcfs, _c: &Container) -> Result<String> {
    Err(Error::NotFound)
}

/// One sampling pass over the tracked cgroups.
pub fn tick(_lx: &Lxcfs) {}
