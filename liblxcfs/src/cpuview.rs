//! Per-container CPU accounting history, so that `/proc/stat` counters never go backwards.

/// History of every container's CPU view.
#[derive(Debug, Default)]
pub struct CpuViews {}
