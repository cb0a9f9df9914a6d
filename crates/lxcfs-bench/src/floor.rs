//! The floor: the cheapest filesystem that still makes the kernel do what a read of an lxcfs
//! file makes it do.
//!
//! It is a fuser 0.18 filesystem shaped like the lxcfs daemon at the FUSE level: the same
//! session setup (two event-loop threads with cloned descriptors, `allow_other`), the same
//! entry and attribute time-to-live, a directory to look up (`/proc`) holding one file
//! (`/proc/floor`) opened with `FOPEN_DIRECT_IO | FOPEN_NOFLUSH` and reported with size 0, so
//! a reader's open/read-to-EOF/close costs the same FUSE round trips as on lxcfs (lookups while
//! the entry cache is cold, then open, a read returning the data, a read returning nothing,
//! release). Everything else that lxcfs does — finding the caller's container, reading cgroup
//! files, rendering — is absent: every request is answered
//! inline on the event-loop thread from a fixed 1.5 KB buffer.
//!
//! For profiling, `--hop-workers N` adds a hop the daemon used to make (until it called the
//! library on its event-loop threads): lookup, getattr and open are answered from a pool of N
//! worker threads fed through a crossbeam channel, while reads and releases stay on the
//! event-loop threads. The difference to the plain floor is the cost of such a hop.
//!
//! For calibration, `--work-ns N` makes the floor busy-wait N ns at every read at offset 0,
//! where lxcfs does its per-open work (finding the caller's container, looking up or making
//! the render): how much a microsecond of such work costs the floor shows how much lxcfs can
//! afford (see doc/benchmarks.md).
//!
//! As a reference, `--caller-check` makes the floor do the one thing every lxcfs must do per
//! request beyond the floor and that no cache can remove: prove that the caller's thread id
//! still names the thread it named when the caller was first seen (a recycled id must never
//! be taken for another container's reader). It keeps a pidfd per caller thread and polls it at
//! every read at offset 0, one system call, with lxcfs's own functions
//! (`lxcfs::container::pidfd_open_thread`, `pidfd_alive`); nothing else. The
//! difference to the plain floor is what that check costs on the machine.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

// The caller check is lxcfs's own, with its bound on kept callers (beyond it the table starts
// afresh).
use lxcfs::container::{pidfd_alive, pidfd_open_thread, MAX_CALLERS};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    OpenFlags, ReplyAttr, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, Request,
};

/// Entry and attribute time-to-live: the lxcfs daemon's (`lxcfs_host::fuse::TTL`, 0.5 s).
pub const TTL: Duration = Duration::from_millis(500);

/// Size of the served file: about the size of a container's `/proc/meminfo`.
pub const FILE_SIZE: usize = 1536;

/// The directory the file lives in, as `proc` holds lxcfs's files.
pub const DIR_NAME: &str = "proc";

/// The file's name.
pub const FILE_NAME: &str = "floor";

/// Path of the file relative to the mount point.
pub const FILE_REL: &str = "proc/floor";

const ROOT_INO: u64 = 1;
const DIR_INO: u64 = 2;
const FILE_INO: u64 = 3;

/// Fixed content: 48 meminfo-style lines of exactly 32 bytes.
pub fn content() -> Vec<u8> {
    let mut out = Vec::with_capacity(FILE_SIZE);
    let mut i = 0u64;
    while out.len() < FILE_SIZE {
        // 12 + 1 + 14 + 3 + 1 = 31 bytes, then the newline.
        let line = format!("FloorKey{i:04}:{:>15} kB\n", i * 4096 + 17);
        debug_assert_eq!(line.len(), 32);
        out.extend_from_slice(line.as_bytes());
        i += 1;
    }
    out.truncate(FILE_SIZE);
    out
}

/// A reply-sending closure run on a hop worker.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// The floor filesystem.
#[derive(Debug)]
pub struct FloorFs {
    data: Vec<u8>,
    /// Busy time at each read at offset 0 (calibration; zero for the floor proper).
    work: Duration,
    hop: Option<crossbeam_channel::Sender<Job>>,
    /// Pidfds of the callers seen, by thread id, when the caller check is on.
    callers: Option<Mutex<HashMap<u32, OwnedFd>>>,
}

impl Default for FloorFs {
    fn default() -> Self {
        FloorFs::new()
    }
}

impl FloorFs {
    /// A filesystem serving [`content`], answering everything inline.
    pub fn new() -> FloorFs {
        FloorFs {
            data: content(),
            work: Duration::ZERO,
            hop: None,
            callers: None,
        }
    }

    /// The caller check: a caller thread seen before costs one poll of its pidfd; a new or
    /// exited one gets a fresh pidfd.
    fn check_caller(&self, tid: u32) {
        let Some(callers) = &self.callers else {
            return;
        };
        let mut callers = callers.lock().unwrap_or_else(|e| e.into_inner());
        if callers.get(&tid).is_some_and(pidfd_alive) {
            return;
        }
        if callers.len() >= MAX_CALLERS {
            callers.clear();
        }
        if let Ok(fd) = pidfd_open_thread(tid) {
            callers.insert(tid, fd);
        }
    }

    /// A filesystem that answers lookup, getattr and open on `workers` threads fed through a
    /// crossbeam channel, as the daemon does. The workers exit when the filesystem is dropped.
    ///
    /// # Errors
    /// Thread creation failures.
    pub fn with_hop(workers: usize) -> std::io::Result<FloorFs> {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        for i in 0..workers.max(1) {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("floor-w{i}"))
                .spawn(move || {
                    while let Ok(job) = rx.recv() {
                        job();
                    }
                })?;
        }
        Ok(FloorFs {
            data: content(),
            work: Duration::ZERO,
            hop: Some(tx),
            callers: None,
        })
    }

    /// Runs `f` on a hop worker when hopping, else right here.
    fn answer(&self, f: impl FnOnce() + Send + 'static) {
        match &self.hop {
            Some(tx) => {
                if let Err(e) = tx.send(Box::new(f)) {
                    (e.into_inner())();
                }
            }
            None => f(),
        }
    }

    fn attr(ino: u64) -> FileAttr {
        let now = SystemTime::now();
        let (kind, perm, nlink) = match ino {
            ROOT_INO => (FileType::Directory, 0o755, 2),
            DIR_INO => (FileType::Directory, 0o555, 2),
            _ => (FileType::RegularFile, 0o444, 1),
        };
        FileAttr {
            ino: INodeNo(ino),
            // As lxcfs: generated files report size 0 and are read with direct I/O.
            size: 0,
            blocks: 0,
            atime: now,
            mtime: now,
            ctime: now,
            crtime: now,
            kind,
            perm,
            nlink,
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }
}

impl Filesystem for FloorFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let ino = match (parent.0, name.to_str()) {
            (ROOT_INO, Some(DIR_NAME)) => DIR_INO,
            (DIR_INO, Some(FILE_NAME)) => FILE_INO,
            _ => return reply.error(Errno::ENOENT),
        };
        self.answer(move || reply.entry(&TTL, &Self::attr(ino), Generation(0)));
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match ino.0 {
            ROOT_INO | DIR_INO | FILE_INO => {
                self.answer(move || reply.attr(&TTL, &Self::attr(ino.0)))
            }
            _ => reply.error(Errno::ENOENT),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if ino.0 != FILE_INO {
            return reply.error(Errno::EISDIR);
        }
        if flags.0 & libc::O_ACCMODE != libc::O_RDONLY {
            return reply.error(Errno::EACCES);
        }
        self.answer(move || {
            reply.opened(
                FileHandle(0),
                FopenFlags::FOPEN_DIRECT_IO | FopenFlags::FOPEN_NOFLUSH,
            )
        });
    }

    fn read(
        &self,
        req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        if offset == 0 {
            self.check_caller(req.pid());
        }
        if offset == 0 && !self.work.is_zero() {
            let t = std::time::Instant::now();
            while t.elapsed() < self.work {
                std::hint::spin_loop();
            }
        }
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.data.len());
        let end = start.saturating_add(size as usize).min(self.data.len());
        reply.data(&self.data[start..end]);
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match ino.0 {
            ROOT_INO | DIR_INO => reply.opened(FileHandle(0), FopenFlags::empty()),
            _ => reply.error(Errno::ENOTDIR),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let entries: &[(u64, FileType, &str)] = match ino.0 {
            ROOT_INO => &[
                (ROOT_INO, FileType::Directory, "."),
                (ROOT_INO, FileType::Directory, ".."),
                (DIR_INO, FileType::Directory, DIR_NAME),
            ],
            DIR_INO => &[
                (DIR_INO, FileType::Directory, "."),
                (ROOT_INO, FileType::Directory, ".."),
                (FILE_INO, FileType::RegularFile, FILE_NAME),
            ],
            _ => return reply.error(Errno::ENOTDIR),
        };
        for (i, (ino, kind, name)) in entries.iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(*ino), (i + 1) as u64, *kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }
}

/// Number of FUSE event-loop threads: the lxcfs daemon's (`FUSE_THREADS` in
/// `lxcfs-host/src/daemon.rs`).
pub const FUSE_THREADS: usize = 2;

/// The session configuration the lxcfs daemon uses: `allow_other`, [`FUSE_THREADS`]
/// event-loop threads, each with its own cloned `/dev/fuse` descriptor.
pub fn session_config() -> fuser::Config {
    let mut cfg = fuser::Config::default();
    cfg.mount_options = vec![
        fuser::MountOption::FSName("floorfs".into()),
        fuser::MountOption::CUSTOM("subtype=floorfs".into()),
    ];
    cfg.acl = fuser::SessionACL::All;
    cfg.n_threads = Some(FUSE_THREADS);
    cfg.clone_fd = true;
    cfg
}

/// How a floor differs from the floor proper (the default: in nothing).
#[derive(Clone, Debug, Default)]
pub struct Variant {
    /// Answer lookup, getattr and open on this many hop workers ([`FloorFs::with_hop`]).
    pub hop_workers: usize,
    /// Busy-wait this long at every read at offset 0 (calibration).
    pub work: Duration,
    /// Check the caller's thread id with a pidfd at every read at offset 0 (reference).
    pub caller_check: bool,
}

/// Mounts the floor on `mountpoint` and serves until SIGTERM, SIGINT or SIGHUP, then
/// unmounts (lazily if the mount is busy).
///
/// # Errors
/// Mounting or signal set-up failures.
pub fn serve(mountpoint: &Path, variant: &Variant) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    let mut fs = if variant.hop_workers > 0 {
        FloorFs::with_hop(variant.hop_workers)?
    } else {
        FloorFs::new()
    };
    fs.work = variant.work;
    fs.callers = variant.caller_check.then(Mutex::default);
    let mut session = fuser::Session::new(fs, mountpoint, &session_config())?;
    let mut unmounter = session.unmount_callable();
    let (done_tx, done_rx) = std::sync::mpsc::sync_channel::<()>(1);
    let runner = std::thread::Builder::new()
        .name("fuse-session".into())
        .spawn(move || {
            if let Err(e) = session.run() {
                eprintln!("floorfs: session ended with an error: {e}");
            }
            let _ = done_tx.send(());
        })?;
    // Serve until a terminating signal arrives.
    let _ = signals.forever().next();
    if unmounter.unmount().is_err() {
        let _ = nix::mount::umount2(mountpoint, nix::mount::MntFlags::MNT_DETACH);
    }
    if done_rx.recv_timeout(Duration::from_secs(3)).is_ok() {
        let _ = runner.join();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_one_and_a_half_kilobytes_of_lines() {
        let c = content();
        assert_eq!(c.len(), FILE_SIZE);
        assert_eq!(c.iter().filter(|&&b| b == b'\n').count(), FILE_SIZE / 32);
        assert!(c.starts_with(b"FloorKey0000:"));
    }
}
