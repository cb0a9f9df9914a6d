//! Benchmarks for lxcfs: read throughput and latency of our daemon against a trivial fuser
//! filesystem (the floor, [`floor`]) and Debian's C lxcfs, the pause a library reload
//! causes readers, and the daemon's memory across a million opens.
//!
//! The harness (`lxcfs-bench`) mounts each filesystem on its own temporary mount point
//! ([`daemon`]), creates a v1 cgroup with a memory limit and a cpuset ([`cgroup`]), and runs
//! reader processes inside it and inside their own pid namespace ([`pod`]) so that both lxcfs
//! implementations do their full container resolution on every open. [`stats`] turns the
//! readers' samples into ops/s and latency percentiles; [`machine`] describes the machine.
//! `scripts/bench.sh` builds everything and runs the harness; `doc/benchmarks.md` has results.

pub mod cgroup;
pub mod daemon;
pub mod floor;
pub mod machine;
pub mod pod;
pub mod stats;
