//! Generated files under `/sys`.

pub mod cpu;
