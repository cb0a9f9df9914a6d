//! The harness's daemons on real FUSE mounts (root and `/dev/fuse`, as CI has): daemons
//! mounted at once each answer their own mount point's requests, and a mount point that is
//! mounted already is refused instead of being mounted over.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lxcfs_bench::daemon::{Kind, Launch, Mounted};
use lxcfs_bench::floor::FILE_REL;
use lxcfs_bench::machine::{growth, thread_times};

fn floor(name: &'static str, extra: &[&str]) -> Launch {
    Launch {
        kind: Kind::Floor,
        name,
        program: PathBuf::from(env!("CARGO_BIN_EXE_floorfs")),
        library: None,
        wrap: Vec::new(),
        extra: extra.iter().map(|s| (*s).to_string()).collect(),
    }
}

/// A scratch directory removed when dropped, also when a test fails (after the daemons,
/// which are declared later and so dropped first).
struct Workdir(PathBuf);

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn workdir(test: &str) -> Workdir {
    let dir = std::env::temp_dir().join(format!("lxcfs-bench-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Workdir(dir)
}

/// Reads `file` `n` times and returns each daemon's CPU time meanwhile.
fn cpu_while_reading(file: &Path, n: usize, daemons: &[&Mounted]) -> Vec<u64> {
    let before: Vec<_> = daemons.iter().map(|d| thread_times(d.pid())).collect();
    for _ in 0..n {
        let bytes = std::fs::read(file).unwrap();
        assert_eq!(bytes.len(), lxcfs_bench::floor::FILE_SIZE);
    }
    daemons
        .iter()
        .zip(&before)
        .map(|(d, b)| growth(b, &thread_times(d.pid()), |t| t.run_ns))
        .collect()
}

#[test]
fn daemons_mounted_at_once_each_answer_their_own_mount_point() {
    let dir = workdir("apart");
    let timeout = Duration::from_secs(20);
    let plain = Mounted::start(floor("floor", &[]), &dir.0, timeout).unwrap();
    let checked =
        Mounted::start(floor("floor-checked", &["--caller-check"]), &dir.0, timeout).unwrap();
    for (reading, other) in [(&plain, &checked), (&checked, &plain)] {
        let cpu = cpu_while_reading(&reading.path(FILE_REL), 2000, &[reading, other]);
        // 2000 opens and reads cost the daemon that serves them tens of milliseconds; the
        // other one only its idle wake-ups.
        assert!(
            cpu[0] > 10 * cpu[1].max(100_000),
            "{}: {} ns, {}: {} ns",
            reading.launch.name,
            cpu[0],
            other.launch.name,
            cpu[1]
        );
    }
}

#[test]
fn a_mount_point_in_use_is_refused() {
    let dir = workdir("refused");
    let timeout = Duration::from_secs(20);
    let first = Mounted::start(floor("floor", &[]), &dir.0, timeout).unwrap();
    let Err(err) = Mounted::start(floor("floor", &["--caller-check"]), &dir.0, timeout) else {
        panic!("a second daemon on the same mount point must be refused");
    };
    assert!(err.to_string().contains("mounted already"), "{err}");
    // The first one still serves its mount point.
    assert_eq!(
        std::fs::read(first.path(FILE_REL)).unwrap().len(),
        lxcfs_bench::floor::FILE_SIZE
    );
}
