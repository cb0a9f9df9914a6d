//! Reader processes: a "pod" is the init of a new pid namespace, moved into the benchmark
//! cgroup, that forks N reader processes. Each reader loops open → read to EOF → close on one
//! file and writes what it measured to a file. Because the readers live in their own pid
//! namespace and cgroup, an lxcfs serving them does its full container resolution on every
//! open: caller thread → init of its pid namespace → that init's cgroups → cgroup files.
//!
//! The harness must be single-threaded when it launches a pod: the pod is created with
//! clone(2) (fork semantics plus `CLONE_NEWPID`) and then forks again, and only a
//! single-threaded process can safely keep running Rust code after a fork.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Counters shared by the harness and every reader: an anonymous `MAP_SHARED` page that
/// survives clone and fork.
#[derive(Debug)]
pub struct SharedPage {
    ptr: *mut AtomicU64,
}

const SLOT_STOP: usize = 0;
const SLOT_CLAIMED: usize = 1;
const SLOT_DONE: usize = 2;
const SLOTS: usize = 3;
const PAGE: usize = 4096;

impl SharedPage {
    /// Maps a zeroed shared page.
    ///
    /// # Errors
    /// mmap failures.
    pub fn new() -> io::Result<SharedPage> {
        // SAFETY: an anonymous shared mapping with no address hint; the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(SharedPage { ptr: p.cast() })
    }

    fn slot(&self, i: usize) -> &AtomicU64 {
        assert!(i < SLOTS);
        // SAFETY: the page is mapped for the lifetime of `self`, page-aligned, zero-filled
        // (a valid AtomicU64 bit pattern) and large enough for `SLOTS` u64s; other processes
        // only ever access it atomically.
        unsafe { &*self.ptr.add(i) }
    }

    /// Asks every reader to stop after its current operation.
    pub fn stop(&self) {
        self.slot(SLOT_STOP).store(1, Ordering::SeqCst);
    }

    fn stopped(&self) -> bool {
        self.slot(SLOT_STOP).load(Ordering::Relaxed) != 0
    }

    /// Operations finished so far by budgeted readers (progress).
    pub fn done(&self) -> u64 {
        self.slot(SLOT_DONE).load(Ordering::Relaxed)
    }
}

impl Drop for SharedPage {
    fn drop(&mut self) {
        // SAFETY: the mapping was created by `new` with this size and is not used afterwards
        // by this process (children hold their own copies of the mapping).
        unsafe { libc::munmap(self.ptr.cast(), PAGE) };
    }
}

/// What the readers of a pod do.
#[derive(Clone, Debug)]
pub struct ReaderSpec {
    /// The file to read (`<mnt>/proc/meminfo`).
    pub path: PathBuf,
    /// Number of reader processes.
    pub readers: usize,
    /// Operations before this instant are warm-up: done, not recorded.
    pub warmup_until: Instant,
    /// Readers stop at this instant; `None` runs until the op budget is used up or the
    /// harness calls [`SharedPage::stop`].
    pub measure_until: Option<Instant>,
    /// Total operations over all readers; `None` for no budget.
    pub op_budget: Option<u64>,
    /// Record each operation's latency (off for the long memory run).
    pub record: bool,
    /// Also record each operation's start (nanoseconds after `epoch`), for the reload run.
    pub timeline: bool,
    /// Time origin of timelines.
    pub epoch: Instant,
    /// Reader 0 saves the content of one read to `<out_dir>/content`.
    pub save_content: bool,
    /// Where readers write `reader-<i>.bin`.
    pub out_dir: PathBuf,
}

/// What one reader measured.
#[derive(Clone, Debug, Default)]
pub struct ReaderResult {
    /// Successful operations in the window.
    pub ops: u64,
    /// Failed operations in the window.
    pub errors: u64,
    /// Bytes of the last successful read.
    pub last_len: u64,
    /// Latency of each recorded operation, ns (saturated at `u32::MAX`).
    pub latencies: Vec<u32>,
    /// Start of each recorded operation, ns after the epoch (timeline runs only).
    pub starts: Vec<u64>,
}

impl ReaderResult {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.latencies.len() * 12);
        for v in [
            self.ops,
            self.errors,
            self.last_len,
            self.latencies.len() as u64,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&(self.starts.len() as u64).to_le_bytes());
        for v in &self.latencies {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in &self.starts {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    fn decode(b: &[u8]) -> Option<ReaderResult> {
        let u64_at = |i: usize| Some(u64::from_le_bytes(b.get(i..i + 8)?.try_into().ok()?));
        let (ops, errors, last_len) = (u64_at(0)?, u64_at(8)?, u64_at(16)?);
        let (n, m) = (
            usize::try_from(u64_at(24)?).ok()?,
            usize::try_from(u64_at(32)?).ok()?,
        );
        let lat_bytes = b.get(40..40 + n * 4)?;
        let latencies = lat_bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        let start_bytes = b.get(40 + n * 4..40 + n * 4 + m * 8)?;
        let starts = start_bytes
            .chunks_exact(8)
            .filter_map(|c| Some(u64::from_le_bytes(c.try_into().ok()?)));
        Some(ReaderResult {
            ops,
            errors,
            last_len,
            latencies: latencies.collect(),
            starts: starts.collect(),
        })
    }
}

/// One open → read-to-EOF → close; returns the bytes read or the errno.
fn one_op(path: &CString, buf: &mut [u8]) -> Result<usize, i32> {
    // SAFETY: `path` is a NUL-terminated string; the descriptor is closed below.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO));
    }
    let mut total = 0usize;
    let result = loop {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes; `fd` is open.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        match n {
            0 => break Ok(total),
            n if n > 0 => total += n as usize,
            _ => {
                break Err(io::Error::last_os_error()
                    .raw_os_error()
                    .unwrap_or(libc::EIO))
            }
        }
    };
    // SAFETY: `fd` was opened above and is closed exactly once.
    unsafe { libc::close(fd) };
    result
}

/// Size of the read buffer: as `cat`'s, larger than any file served.
const READ_BUF: usize = 128 * 1024;

/// Saturating nanoseconds of a duration as u32.
fn nanos_u32(d: Duration) -> u32 {
    u32::try_from(d.as_nanos()).unwrap_or(u32::MAX)
}

/// The reader loop (runs in a reader process).
fn reader(spec: &ReaderSpec, index: usize, shared: &SharedPage) -> ReaderResult {
    let path = CString::new(spec.path.as_os_str().as_bytes()).unwrap_or_default();
    let mut buf = vec![0u8; READ_BUF];
    let mut r = ReaderResult::default();
    if spec.record {
        r.latencies.reserve(1 << 18);
        if spec.timeline {
            r.starts.reserve(1 << 18);
        }
    }
    let claimed = shared.slot(SLOT_CLAIMED);
    let done = shared.slot(SLOT_DONE);
    let mut consecutive_errors = 0u32;
    loop {
        if shared.stopped() {
            break;
        }
        if let Some(budget) = spec.op_budget {
            if claimed.fetch_add(1, Ordering::Relaxed) >= budget {
                break;
            }
        }
        let t0 = Instant::now();
        if spec.measure_until.is_some_and(|end| t0 >= end) {
            break;
        }
        let res = one_op(&path, &mut buf);
        let t1 = Instant::now();
        if spec.op_budget.is_some() {
            done.fetch_add(1, Ordering::Relaxed);
        }
        let counted = t0 >= spec.warmup_until;
        match res {
            Ok(n) => {
                consecutive_errors = 0;
                r.last_len = n as u64;
                if counted {
                    r.ops += 1;
                    if spec.record {
                        r.latencies.push(nanos_u32(t1 - t0));
                        if spec.timeline {
                            r.starts.push((t0 - spec.epoch).as_nanos() as u64);
                        }
                    }
                }
            }
            Err(_) => {
                if counted {
                    r.errors += 1;
                }
                consecutive_errors += 1;
                if consecutive_errors > 10_000 {
                    break; // the mount is gone; do not spin for the rest of the window
                }
            }
        }
    }
    if spec.save_content && index == 0 {
        if let Ok(n) = one_op(&path, &mut buf) {
            let _ = std::fs::write(spec.out_dir.join("content"), &buf[..n]);
        }
    }
    r
}

/// A running pod: the init of its pid namespace (host pid) and its readers. Killed on drop
/// if it still runs (SIGKILL to a pid namespace's init ends every process in it).
#[derive(Debug)]
pub struct Pod {
    init: Option<Pid>,
    spec: ReaderSpec,
    status: Option<i32>,
}

/// Reader file of reader `i`.
fn reader_file(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("reader-{i}.bin"))
}

impl Pod {
    /// Starts a pod: its init joins the cgroup through `procs_files` (writing `0`), then forks
    /// `spec.readers` readers. With `new_pidns` the init is the init of a new pid namespace,
    /// else it stays in the harness's.
    ///
    /// # Errors
    /// clone(2) failures.
    pub fn launch(
        spec: ReaderSpec,
        procs_files: &[PathBuf],
        new_pidns: bool,
        shared: &SharedPage,
    ) -> io::Result<Pod> {
        std::fs::create_dir_all(&spec.out_dir)?;
        for i in 0..spec.readers {
            let _ = std::fs::remove_file(reader_file(&spec.out_dir, i));
        }
        let _ = std::fs::remove_file(spec.out_dir.join("content"));
        let procs = procs_files.to_vec();
        let child_spec = spec.clone();
        let flags = if new_pidns {
            CloneFlags::CLONE_NEWPID
        } else {
            CloneFlags::empty()
        };
        let mut stack = vec![0u8; 1 << 20];
        let cb = Box::new(move || pod_init(&child_spec, &procs, shared));
        // SAFETY: without CLONE_VM the child gets a copy of this (single-threaded) process,
        // as with fork; it runs `pod_init` on its copy of `stack` and exits with its result
        // without returning into the harness.
        let pid = unsafe { nix::sched::clone(cb, &mut stack, flags, Some(libc::SIGCHLD)) }
            .map_err(io::Error::from)?;
        Ok(Pod {
            init: Some(pid),
            spec,
            status: None,
        })
    }

    /// Whether the pod has finished (reaping it if so).
    pub fn finished(&mut self) -> bool {
        let Some(pid) = self.init else { return true };
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => false,
            Ok(WaitStatus::Exited(_, code)) => {
                self.status = Some(code);
                self.init = None;
                true
            }
            Ok(_) | Err(_) => {
                self.status = Some(-1);
                self.init = None;
                true
            }
        }
    }

    /// Waits for the pod, calling `tick` about every 10 ms; `tick` returning an error kills
    /// the pod and returns that error.
    ///
    /// # Errors
    /// The error of `tick`, or a non-zero exit of the pod.
    pub fn wait(&mut self, mut tick: impl FnMut() -> io::Result<()>) -> io::Result<()> {
        while !self.finished() {
            if let Err(e) = tick() {
                self.kill();
                return Err(e);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        match self.status {
            Some(0) => Ok(()),
            other => Err(io::Error::other(format!(
                "reader pod failed (status {other:?})"
            ))),
        }
    }

    /// Kills and reaps the pod.
    pub fn kill(&mut self) {
        if let Some(pid) = self.init.take() {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
    }

    /// The readers' results (after [`Pod::wait`]).
    ///
    /// # Errors
    /// A missing or truncated result file.
    pub fn results(&self) -> io::Result<Vec<ReaderResult>> {
        (0..self.spec.readers)
            .map(|i| {
                let p = reader_file(&self.spec.out_dir, i);
                let b = std::fs::read(&p)?;
                ReaderResult::decode(&b)
                    .ok_or_else(|| io::Error::other(format!("{}: truncated", p.display())))
            })
            .collect()
    }

    /// The content reader 0 saved, if asked to.
    pub fn content(&self) -> Option<String> {
        std::fs::read_to_string(self.spec.out_dir.join("content")).ok()
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The pod's init: join the cgroup, fork the readers, wait for them. Runs in the clone child
/// and returns its exit code.
fn pod_init(spec: &ReaderSpec, procs: &[PathBuf], shared: &SharedPage) -> isize {
    for f in procs {
        if let Err(e) = std::fs::write(f, "0") {
            eprintln!("lxcfs-bench: cannot join cgroup {}: {e}", f.display());
            return 2;
        }
    }
    let mut children = Vec::new();
    for i in 0..spec.readers {
        // SAFETY: this process is single-threaded (a clone of the single-threaded harness),
        // so the child may keep running ordinary Rust code; it leaves with `_exit`.
        match unsafe { libc::fork() } {
            0 => {
                let r = reader(spec, i, shared);
                let code = match std::fs::write(reader_file(&spec.out_dir, i), r.encode()) {
                    Ok(()) => 0,
                    Err(_) => 3,
                };
                // SAFETY: ends the reader without running the harness's destructors or
                // atexit handlers, which belong to the harness process.
                unsafe { libc::_exit(code) };
            }
            -1 => {
                shared.stop();
                break;
            }
            pid => children.push(Pid::from_raw(pid)),
        }
    }
    let mut failed = children.len() < spec.readers;
    for pid in children {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, 0)) => {}
            _ => failed = true,
        }
    }
    if failed {
        1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_round_trip() {
        let r = ReaderResult {
            ops: 3,
            errors: 1,
            last_len: 1536,
            latencies: vec![10, 20, 30],
            starts: vec![1, 2, 3],
        };
        let d = ReaderResult::decode(&r.encode()).unwrap();
        assert_eq!((d.ops, d.errors, d.last_len), (3, 1, 1536));
        assert_eq!(d.latencies, vec![10, 20, 30]);
        assert_eq!(d.starts, vec![1, 2, 3]);
        assert!(ReaderResult::decode(&r.encode()[..20]).is_none());
    }
}
