//! `floorfs [--hop-workers N] <mountpoint>`: the benchmark floor, a trivial fuser filesystem
//! serving one fixed 1.5 KB file (`proc/floor`) with direct I/O, set up like the lxcfs
//! daemon's session. Runs in the foreground until SIGTERM/SIGINT/SIGHUP, then unmounts.
//! `--hop-workers N` answers lookup/getattr/open on N worker threads behind a crossbeam
//! channel, as the daemon does (for measuring that hop). See `lxcfs_bench::floor`.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (hop, mnt) = match args.as_slice() {
        [mnt] => (Some(0), mnt),
        [flag, n, mnt] if flag == "--hop-workers" => (n.parse().ok(), mnt),
        _ => (None, &String::new()),
    };
    let Some(hop) = hop else {
        eprintln!("usage: floorfs [--hop-workers N] <mountpoint>");
        return ExitCode::from(2);
    };
    match lxcfs_bench::floor::serve(&PathBuf::from(mnt), hop) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("floorfs: {e}");
            ExitCode::FAILURE
        }
    }
}
