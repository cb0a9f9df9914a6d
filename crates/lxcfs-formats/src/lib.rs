//! Pure parsers and renderers of the kernel text formats lxcfs reads and serves.
//!
//! Nothing here does I/O: every function takes `&str` (or values) and returns values (or
//! `String`s), so all of it is tested against fixture text and can be fuzzed. Parsers are
//! tolerant: a malformed line is skipped or reported as `None`, never a panic.
//!
//! Sources of truth for the formats: proc(5), the kernel's `Documentation/admin-guide/
//! cgroup-v2.rst` ("Interface Files", "Format"), `Documentation/admin-guide/cgroup-v1/
//! memory.rst`, `Documentation/accounting/psi.rst` and `Documentation/admin-guide/iostats.rst`.
#![deny(missing_docs)]

pub mod cgroupfile;
pub mod cpuinfo;
pub mod cpuset;
pub mod cputime;
pub mod diskstats;
pub mod meminfo;
pub mod mountinfo;
pub mod pid;
pub mod stat;
