//! `floorfs [--hop-workers N] [--work-ns N] [--caller-check] <mountpoint>`: the benchmark floor, a trivial
//! fuser filesystem serving one fixed 1.5 KB file (`proc/floor`) with direct I/O, set up like
//! the lxcfs daemon's session. Runs in the foreground until SIGTERM/SIGINT/SIGHUP, then
//! unmounts. See `lxcfs_bench::floor` for the profiling and calibration options.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// The benchmark floor: a trivial FUSE filesystem serving one fixed 1.5 KB file.
#[derive(Debug, Parser)]
struct Cli {
    /// Answer lookup/getattr/open on N worker threads behind a channel (profiling: the cost
    /// of a job hop).
    #[arg(long, default_value_t = 0)]
    hop_workers: usize,
    /// Busy-wait N ns at every read at offset 0, where lxcfs does its per-open work
    /// (calibration: what a microsecond of work costs).
    #[arg(long, default_value_t = 0)]
    work_ns: u64,
    /// Check the caller's thread id with a pidfd at every read at offset 0, the one system
    /// call lxcfs's caller cache makes per request (reference: what that check costs).
    #[arg(long)]
    caller_check: bool,
    /// Where to mount.
    mountpoint: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let variant = lxcfs_bench::floor::Variant {
        hop_workers: cli.hop_workers,
        work: Duration::from_nanos(cli.work_ns),
        caller_check: cli.caller_check,
    };
    match lxcfs_bench::floor::serve(&cli.mountpoint, &variant) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("floorfs: {e}");
            ExitCode::FAILURE
        }
    }
}
