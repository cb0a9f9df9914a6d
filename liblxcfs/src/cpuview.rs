//! Per-container CPU accounting history, so that `/proc/stat` counters never go backwards.

/// History of every container's CPU view.
#[derive(Debug, Default)]
pub struct CpuViews {}

impl CpuViews {
    /// Records to carry across a reload (see [`crate::state`]).
    pub fn export(&self) -> Vec<String> {
        Vec::new()
    }

    /// Restores one exported record; `false` when it is not understood.
    pub fn import(&self, _record: &str) -> bool {
        false
    }
}
