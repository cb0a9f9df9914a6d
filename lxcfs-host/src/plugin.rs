//! Loading, running and reloading `liblxcfs.so`.
//!
//! A loaded library is a generation (`Generation`): the dlopen handle, the vtable, the
//! library's state pointer, and one worker thread that belongs to it. FUSE operations call
//! the library directly on the event-loop threads, inside the generation's gate (or, while a
//! reload has the gate closed, under its read lock) for the length of the call
//! ([`Plugin::with_lib`], [`crate::gate`]): a hop to another thread cost more than most
//! calls themselves. Background work (the loadavg pass, the virtualization switch) is a
//! [`Job`] queued to the generation's worker. Loading (dlopen, which runs the image's
//! initializers, and `init`), probing and `shutdown` run on short-lived threads.
//!
//! The event-loop threads live as long as the mount, and glibc keeps an image in memory after
//! `dlclose` while a thread-local destructor the image registered on a live thread is pending
//! (rust-stack.md §2). So library code must never register one on a calling thread: no
//! `thread_local!` with a destructor, no `std::thread::spawn` from a call, no thread-local
//! tracing dispatcher; it has none. The test `library_calls_on_the_event_loop_threads_pin_nothing`
//! (`tests/reload.rs`) runs every operation on every node on those threads, then reloads and
//! requires the old image to be unmapped; a single touched `thread_local!` String makes it
//! fail. Should it ever happen anyway, step 5 below reports it and the new code still runs.
//!
//! # What is mapped
//! The daemon never maps the installed file. Each load copies it into a memory file sealed
//! against every change (`memfd_create`, `F_SEAL_WRITE`/`SHRINK`/`GROW`/`SEAL`; with
//! `F_SEAL_FUTURE_WRITE` when `F_SEAL_WRITE` is refused, and unsealed, still private to the
//! daemon, when both are) and maps the copy, so that an operator who copies a new library over the installed one in place (`cp`
//! without `rm`, `cat >`, `rsync --inplace`) changes nothing under the running code: mapped
//! pages of a file are the file's page cache, and a process whose code is truncated or
//! rewritten under it dies of SIGBUS or SIGSEGV, taking every container's files with it. A
//! copy made while the file is being written is refused (its size or times moved, or it is
//! not a whole ELF object). The copy costs the file's size in memory while its image is
//! loaded, `/proc/<pid>/maps` names it `/memfd:liblxcfs.so:inode=<installed inode>`, and the
//! installed file stays open beside it so that this number stays unique. Where the kernel
//! gives no executable memory file or cannot fill one (before 3.17, `vm.memfd_noexec=2`, a
//! seccomp filter, out of memory), the installed file is mapped in place and a warning says
//! what that risks.
//!
//! # How an image is named
//! Every image is dlopened through a descriptor the generation holds on its copy:
//! `dlopen("/proc/self/fd/N")`. The kernel maps the very inode that was opened (and probed),
//! and glibc's two "already loaded?" tests (same name, then same device and inode) can only
//! ever match an image of the same copy. The rule that keeps those names unambiguous: **fd `N` stays open for as long as an
//! image may be known to glibc under `/proc/self/fd/N`**. A descriptor is closed only after
//! `dlopen(name, RTLD_NOLOAD)` confirmed that its image is gone; the descriptor of an image that
//! could not be unloaded is leaked together with the image, so its number is never reused.
//!
//! # Reload (SIGUSR1)
//! 1. Open the configured path, copy it, and probe the copy while the old generation keeps
//!    serving: check that it is a whole ELF object (headers, tables and loadable segments
//!    inside the file) exporting the entry symbol, load it in a child process (`lxcfs --version` on the same inode: a
//!    file that crashes the loader or its initializers kills the child, not the daemon),
//!    then dlopen it on a short-lived thread, check the entry symbol, ABI version and vtable
//!    size, dlclose it and verify it is gone. A file that fails is refused; nothing else
//!    changes. (Only a file mapped in place can be the image already running; it is not
//!    probed again: it was checked when it was loaded.)
//! 2. Take the write lock, which waits for the library calls in progress: new calls and
//!    submissions wait from here on (this is the "pause").
//! 3. Close the old job queue; the old worker finishes every queued job with the old code and
//!    exits; join it.
//! 4. Call the old `shutdown` on a short-lived thread; it returns the saved state as bytes.
//! 5. `dlclose` the old image and verify with `dlopen(name, RTLD_NOLOAD)` that it is gone. If
//!    it is not, log an error: the new file is still loaded under its own unique name (its own
//!    descriptor, a different inode), so the new code runs; the old image leaks.
//! 6. dlopen the new file, check ABI version and vtable size, run `init` with the saved
//!    state, start the new worker, release the lock.
//! 7. If step 6 fails, load the previous library again from the descriptor still held on it
//!    (this works after the operator's `rm`) with the same saved state, so service continues
//!    with the last good library, and report the failure.

use std::ffi::{c_void, CString};
use std::fs::File;
use std::os::fd::{AsRawFd, IntoRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use libloading::os::unix::Library;
use lxcfs_abi::{Bytes, HostApi, LibVTable, Options, VecSink, ABI_VERSION, ENTRY_SYMBOL};

use crate::gate::Gate;

/// Why a library could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file does not exist, cannot be read, or is not a regular file.
    #[error("{path}: cannot open library: {source}")]
    Missing {
        /// Library path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a whole ELF shared object: its headers, section table or symbol
    /// tables do not parse, or a loadable segment lies past its end (a copy still being
    /// written, a full disk). Such a file is never handed to dlopen: dlopen maps segments
    /// straight from the file, and touching a page past the end of a file raises SIGBUS.
    #[error("{path}: not a complete shared object: {reason}")]
    Incomplete {
        /// Library path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Loading the file killed a child process that tried it first (corrupt relocations,
    /// code or initializers: a copy with holes, a damaged disk); it is never loaded here.
    #[error("{path}: loading it killed a test process ({reason})")]
    Crashed {
        /// Library path.
        path: PathBuf,
        /// How the child ended.
        reason: String,
    },
    /// dlopen failed (not an ELF object, missing dependencies, wrong architecture).
    #[error("{path}: dlopen failed: {reason}")]
    Dlopen {
        /// Library path.
        path: PathBuf,
        /// dlerror() text.
        reason: String,
    },
    /// The entry symbol is missing.
    #[error("{path}: not an lxcfs library (no symbol {symbol}): {reason}")]
    NoEntry {
        /// Library path.
        path: PathBuf,
        /// The symbol looked for.
        symbol: String,
        /// dlerror() text.
        reason: String,
    },
    /// ABI version or struct size mismatch.
    #[error(
        "{path}: incompatible library: ABI version {found_version} (need {ABI_VERSION}), \
         vtable size {found_size} bytes (need at least {need_size})"
    )]
    Incompatible {
        /// Library path.
        path: PathBuf,
        /// The library's ABI version.
        found_version: u32,
        /// The library's vtable size in bytes.
        found_size: u32,
        /// The host's vtable size in bytes.
        need_size: usize,
    },
    /// The library's `init` returned an error (a panic inside it is reported as EIO).
    #[error("{path}: library init failed: {errno}")]
    Init {
        /// Library path.
        path: PathBuf,
        /// The returned errno.
        errno: std::io::Error,
    },
}

/// Identity of a loaded library, for logs and `--version`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LibraryInfo {
    /// Where it was loaded from (the configured path).
    pub path: PathBuf,
    /// Its version string.
    pub version: String,
    /// Its build id.
    pub build_id: String,
}

/// A handle to the current generation's library, valid for the duration of a job.
#[derive(Clone, Copy, Debug)]
pub struct Lib {
    vt: *const LibVTable,
    state: *mut c_void,
    generation: u64,
}

// SAFETY: `Lib` is only handed to calls made inside the generation's gate or under its read
// lock (event-loop threads) or to jobs on the generation's own worker, while the generation (image and state)
// is alive; the library's state is internally synchronized (the library's operations take
// `&Lxcfs` and use locks/atomics for mutation).
unsafe impl Send for Lib {}
// SAFETY: as above.
unsafe impl Sync for Lib {}

impl Lib {
    /// The library's vtable.
    pub fn vtable(&self) -> &LibVTable {
        // SAFETY: valid while the generation is alive, which outlives every call and job.
        unsafe { &*self.vt }
    }

    /// The library's state pointer.
    pub fn state(&self) -> *mut c_void {
        self.state
    }

    /// Number of the generation this library belongs to (1 is the library loaded at start).
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

/// A unit of work run on a generation worker thread with the library handle.
pub type Job = Box<dyn FnOnce(&Lib) + Send + 'static>;

/// Device and inode of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

/// A library file opened for loading: normally a sealed in-memory copy of the installed file
/// ([`private_copy`]), so that nothing done to the installed file afterwards (an in-place
/// `cp`, `cat >`, `rsync --inplace`) can reach the pages the daemon runs; the installed file
/// itself only when no copy can be made. The descriptor pins what was probed: it is what is
/// loaded, and it can be loaded again after the path was removed or rewritten.
#[derive(Debug)]
struct LibFile {
    file: File,
    /// Device and inode of `file` (the copy's own), which is how glibc tells images apart.
    id: FileId,
    /// The installed file a copy was made from, kept open while the copy is: its inode
    /// number names the copy, and an open file's number is not given to another file.
    _installed: Option<File>,
    /// The configured path, for messages.
    path: PathBuf,
}

/// The largest library file loaded (bytes): a release build with its line tables is about 7
/// MiB, a debug build about 12; a larger file is refused before it is copied into memory.
const MAX_LIBRARY_SIZE: u64 = 256 << 20;

/// Why no private copy of a library file was made.
enum CopyError {
    /// The kernel cannot give a sealed, executable memory file (`memfd_create` before Linux
    /// 3.17, refused by `vm.memfd_noexec=2` or a seccomp filter; out of memory): load the
    /// installed file in place instead.
    Unsupported(std::io::Error),
    /// The installed file changed while it was copied (a copy still being written).
    Changed(String),
    /// Reading the installed file failed.
    Read(std::io::Error),
}

/// What identifies one version of a file's content: a write changes the size or the times.
fn content_stamp(m: &std::fs::Metadata) -> (u64, u64, u64, i64, i64, i64, i64) {
    (
        m.dev(),
        m.ino(),
        m.len(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
    )
}

/// Copies the library file `src` (whose metadata was `meta`) into a memory file
/// (`memfd_create(2)`, named `liblxcfs.so:inode=<installed inode>`, which is what
/// `/proc/<pid>/maps` shows for the loaded image) and seals it against any change
/// (`F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`, memfd_create(2)). The daemon
/// then maps the copy, never the installed file: overwriting that file in place changes pages
/// the kernel shares with every mapping of it, which kills a process running them. The copy
/// costs the file's size in memory (shmem) while its image is loaded.
///
/// # Errors
/// [`CopyError::Unsupported`] when no sealed executable memory file can be made;
/// [`CopyError::Changed`] when the installed file's size or times moved during the copy;
/// [`CopyError::Read`] when reading it failed.
fn private_copy(src: &File, meta: &std::fs::Metadata) -> Result<(File, FileId), CopyError> {
    use nix::fcntl::{fcntl, FcntlArg, SealFlag};
    use nix::sys::memfd::{memfd_create, MFdFlags};
    let name = CString::new(format!("liblxcfs.so:inode={}", meta.ino()))
        .map_err(|e| CopyError::Unsupported(e.into()))?;
    let base = MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING;
    // Linux 6.3 asks for an explicit MFD_EXEC (older kernels refuse the unknown flag).
    let fd = memfd_create(
        name.as_c_str(),
        base | MFdFlags::from_bits_retain(libc::MFD_EXEC),
    )
    .or_else(|e| match e {
        nix::errno::Errno::EINVAL => memfd_create(name.as_c_str(), base),
        e => Err(e),
    })
    .map_err(|e| CopyError::Unsupported(e.into()))?;
    let mut copy = File::from(fd);
    let mut reader = src;
    // The checks before read the file through this descriptor: copy from its start.
    std::io::Seek::seek(&mut reader, std::io::SeekFrom::Start(0)).map_err(CopyError::Read)?;
    // At most one byte more than the checked size: a file that grows meanwhile is refused
    // below without being copied whole.
    let copied = std::io::copy(
        &mut std::io::Read::take(reader, meta.len().saturating_add(1)),
        &mut copy,
    )
    .map_err(|e| match e.raw_os_error() {
        Some(libc::ENOSPC | libc::ENOMEM | libc::EFBIG) => CopyError::Unsupported(e),
        _ => CopyError::Read(e),
    })?;
    let after = src.metadata().map_err(CopyError::Read)?;
    if content_stamp(&after) != content_stamp(meta) || copied != meta.len() {
        return Err(CopyError::Changed(format!(
            "the file changed while it was read ({} bytes then, {copied} copied, {} now; a \
             copy still in progress?)",
            meta.len(),
            after.len()
        )));
    }
    // F_SEAL_WRITE waits for transient references to the copy's pages and fails with EBUSY
    // when they last (pages still in another CPU's LRU batch after a copy that migrated);
    // F_SEAL_FUTURE_WRITE (Linux 5.1) refuses every later write without waiting. A copy that
    // cannot be sealed at all is still private to the daemon: it is used unsealed.
    let fixed = SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_SEAL;
    if let Err(e) = fcntl(&copy, FcntlArg::F_ADD_SEALS(fixed | SealFlag::F_SEAL_WRITE)) {
        if let Err(e2) = fcntl(
            &copy,
            FcntlArg::F_ADD_SEALS(fixed | SealFlag::F_SEAL_FUTURE_WRITE),
        ) {
            tracing::debug!("the library's copy stays unsealed ({e}, then {e2})");
        }
    }
    let m = copy.metadata().map_err(CopyError::Read)?;
    let id = FileId {
        dev: m.dev(),
        ino: m.ino(),
    };
    Ok((copy, id))
}

impl LibFile {
    /// Opens `path` (close-on-exec; non-blocking, so that a FIFO put there by mistake cannot
    /// hang the signal thread), checks that it is a regular file, and copies it into a sealed
    /// memory file ([`private_copy`]; when that cannot be done, the installed file is used in
    /// place and a warning says so). What is returned is checked to be a whole ELF object.
    fn open(path: &Path) -> Result<LibFile, LoadError> {
        use std::os::unix::fs::OpenOptionsExt;
        let missing = |source| LoadError::Missing {
            path: path.to_path_buf(),
            source,
        };
        let incomplete = |reason| LoadError::Incomplete {
            path: path.to_path_buf(),
            reason,
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(missing)?;
        let meta = file.metadata().map_err(missing)?;
        if !meta.is_file() {
            return Err(missing(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file",
            )));
        }
        // The installed file is checked before it is copied, so that a file that is no
        // library at all (or a huge one) costs nothing; the copy is checked again below, as
        // it is what gets loaded.
        check_library(&file, meta.len(), path)?;
        let (file, id, installed) = match private_copy(&file, &meta) {
            Ok((copy, id)) => (copy, id, Some(file)),
            Err(CopyError::Changed(reason)) => return Err(incomplete(reason)),
            Err(CopyError::Read(e)) => return Err(missing(e)),
            Err(CopyError::Unsupported(e)) => {
                tracing::warn!(
                    "{}: cannot keep a private copy of the library ({e}); loading the file in \
                     place, so copying a new library over it (rather than removing it first) \
                     would crash the daemon",
                    path.display()
                );
                let id = FileId {
                    dev: meta.dev(),
                    ino: meta.ino(),
                };
                (file, id, None)
            }
        };
        let len = file.metadata().map_err(missing)?.len();
        check_library(&file, len, path)?;
        Ok(LibFile {
            file,
            id,
            _installed: installed,
            path: path.to_path_buf(),
        })
    }

    /// The name the image is dlopened under: `/proc/self/fd/N` of this descriptor.
    fn dl_name(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.file.as_raw_fd()))
    }

    /// Releases the descriptor once its image is gone; otherwise leaks it (and remembers its
    /// identity in `leaked`) so that the name `/proc/self/fd/N` is never reused while glibc
    /// may still know an image under it.
    fn retire(self, unloaded: bool, leaked: &Mutex<Vec<FileId>>) {
        if unloaded {
            drop(self.file);
        } else {
            let fd = self.file.into_raw_fd();
            // The installed file stays open too: its inode number names the copy.
            let _ = self._installed.map(IntoRawFd::into_raw_fd);
            tracing::warn!(
                "keeping descriptor {fd} of {} open for the image still in memory",
                self.path.display()
            );
            leaked
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(self.id);
        }
    }
}

/// How long a child trying a library may take before the library is refused.
const CHILD_PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Loads `file` in a child process before the daemon does: the daemon's own executable run
/// as `lxcfs --version --library /proc/<daemon>/fd/<N>` dlopens that very inode, runs its
/// initializers and reads its identity. A file that crashes the dynamic loader or its own
/// initializers kills the child, not the daemon, and is refused. A child that fails
/// without crashing is left to the in-process probe, which says why in detail.
///
/// # Errors
/// [`LoadError::Crashed`] when the child dies of a signal or does not finish within
/// [`CHILD_PROBE_TIMEOUT`].
fn probe_in_child(file: &LibFile) -> Result<(), LoadError> {
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    let crashed = |reason: String| LoadError::Crashed {
        path: file.path.clone(),
        reason,
    };
    let own = format!("/proc/{}/fd/{}", std::process::id(), file.file.as_raw_fd());
    let mut child = match Command::new("/proc/self/exe")
        .args(["--version", "--library", &own])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            // Without a child there is only the in-process probe (as before this check).
            tracing::warn!("cannot start a process to try the library first: {e}");
            return Ok(());
        }
    };
    let deadline = Instant::now() + CHILD_PROBE_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                return match status.signal() {
                    Some(sig) => Err(crashed(format!("signal {sig}"))),
                    None => Ok(()),
                };
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(crashed(format!(
                    "no answer within {} s",
                    CHILD_PROBE_TIMEOUT.as_secs()
                )));
            }
            Err(e) => {
                tracing::warn!("cannot wait for the process trying the library: {e}");
                return Ok(());
            }
        }
    }
}

/// The entry symbol's name, without its NUL.
fn entry_name() -> &'static str {
    std::str::from_utf8(ENTRY_SYMBOL)
        .unwrap_or_default()
        .trim_end_matches('\0')
}

/// Checks `file` (installed at `path`), `len` bytes long, before anything maps it, with one
/// parse of its headers and tables through the descriptor (the object crate's parser):
/// * at most [`MAX_LIBRARY_SIZE`] bytes;
/// * a whole 64-bit ELF object: the ELF header, program headers, section table and symbol
///   tables parse within the file (the section table and symbols sit at its end, so a
///   truncated copy fails here), and every `PT_LOAD` segment's bytes lie inside the file;
/// * exporting the entry symbol ([`ENTRY_SYMBOL`]) in its dynamic symbol table, so that
///   another shared object (the C original's `liblxcfs.so`, any library put at the path by
///   mistake) is refused without its initializers ever running, in the daemon or in the
///   probing child.
///
/// # Errors
/// [`LoadError::Incomplete`] for the first two, [`LoadError::NoEntry`] for the last.
fn check_library(file: &File, len: u64, path: &Path) -> Result<(), LoadError> {
    use object::read::elf::{ElfFile64, ProgramHeader};
    use object::{Object, ObjectSymbol};
    let incomplete = |reason: String| LoadError::Incomplete {
        path: path.to_path_buf(),
        reason,
    };
    if len > MAX_LIBRARY_SIZE {
        return Err(incomplete(format!(
            "{len} bytes, more than any lxcfs library ({MAX_LIBRARY_SIZE} bytes at most)"
        )));
    }
    let cache = object::ReadCache::new(file);
    let elf =
        ElfFile64::<object::Endianness, _>::parse(&cache).map_err(|e| incomplete(e.to_string()))?;
    let endian = elf.endian();
    for ph in elf.elf_program_headers() {
        if ph.p_type(endian) != object::elf::PT_LOAD {
            continue;
        }
        let (offset, size) = (ph.p_offset(endian), ph.p_filesz(endian));
        match offset.checked_add(size) {
            Some(end) if end <= len => {}
            _ => {
                return Err(incomplete(format!(
                    "a loadable segment needs bytes {offset}..{} but the file has {len} \
                     (a copy still in progress?)",
                    offset.saturating_add(size)
                )))
            }
        }
    }
    let want = entry_name().as_bytes();
    let exported = elf
        .dynamic_symbols()
        .any(|sym| sym.is_definition() && sym.is_global() && sym.name_bytes() == Ok(want));
    if exported {
        Ok(())
    } else {
        Err(LoadError::NoEntry {
            path: path.to_path_buf(),
            symbol: entry_name().to_string(),
            reason: "the file's dynamic symbol table does not define it (nothing of the file \
                     was run)"
                .into(),
        })
    }
}

/// A dlopened, checked image.
struct Image {
    library: Library,
    vt: *const LibVTable,
}

// SAFETY: `vt` points at a static inside the image, valid on any thread while `library` is
// open; the image is moved between host threads only as a whole.
unsafe impl Send for Image {}

/// One loaded library and its workers.
struct Generation {
    number: u64,
    library: Option<Library>,
    lib: Lib,
    queue: Option<Arc<JobQueue>>,
    workers: Vec<JoinHandle<()>>,
    info: LibraryInfo,
    /// The file the image was loaded from; its descriptor names the image.
    file: LibFile,
}

/// What is left of a stopped generation.
struct Stopped {
    /// State the library saved in `shutdown`.
    saved: Vec<u8>,
    /// Whether `dlopen(RTLD_NOLOAD)` confirmed the image is gone.
    unloaded: bool,
    /// The generation's file (kept for a fallback load, then retired).
    file: LibFile,
    /// How long draining the workers, `shutdown`, and dlclose with its check took.
    phases: [Duration; 3],
}

/// Options the host passes to every generation's `init`.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// [`lxcfs_abi::opt`] bits.
    pub flags: u32,
    /// `--runtime-dir`.
    pub runtime_dir: String,
    /// Host view root (`/`).
    pub root: String,
    /// Max log level ([`lxcfs_abi::level`]).
    pub max_log_level: u32,
    /// Render cache lifetime in µs ([`Options::cache_ttl_us`]).
    pub cache_ttl_us: u32,
}

/// The loaded library, its generations and the job queue.
pub struct Plugin {
    current: RwLock<Option<Generation>>,
    /// The current generation's library for calls on event-loop threads: closed (and
    /// drained) whenever `current` changes, so that a reload also waits for those calls.
    gate: Gate<Lib>,
    /// Number of the generation behind the open gate; 0 while it is closed.
    serving: AtomicU64,
    path: PathBuf,
    options: InitOptions,
    workers: usize,
    generation: AtomicU64,
    virtualize: AtomicBool,
    /// Files whose images could not be unloaded (their descriptors are leaked).
    leaked: Mutex<Vec<FileId>>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

static HOST_API: HostApi = HostApi {
    abi_version: ABI_VERSION,
    struct_size: std::mem::size_of::<HostApi>() as u32,
    log: crate::logging::library_log,
};

/// Copies a [`Bytes`] the library returned (a static string of the library) into a `String`.
///
/// # Safety
/// `b` must point into an image that stays loaded for the duration of the call.
unsafe fn bytes_to_string(b: Bytes) -> String {
    // SAFETY: guaranteed by the caller.
    String::from_utf8_lossy(unsafe { b.as_slice() }).into_owned()
}

/// Outcome of a successful reload.
#[derive(Clone, Debug)]
pub struct ReloadReport {
    /// The library before.
    pub old: LibraryInfo,
    /// The library after.
    pub new: LibraryInfo,
    /// Number of the new generation (1 is the library loaded at start).
    pub generation: u64,
    /// Whether the old image was verified unmapped (`false`: it stays in memory, leaked).
    pub old_unloaded: bool,
    /// How long submissions were blocked: from taking the write lock to the new workers
    /// running.
    pub pause: Duration,
}

/// A refused or failed reload.
#[derive(Debug, thiserror::Error)]
#[error("{cause}")]
pub struct ReloadError {
    /// Why the new library could not be used.
    pub cause: LoadError,
    /// The library that serves now: the previous one, untouched when the file was refused
    /// by the probe, or loaded again when the new one failed later. `None` when not even the
    /// previous library could be loaded again: requests fail with EIO until a reload works.
    pub serving: Option<LibraryInfo>,
    /// Whether the previous library had been stopped and was loaded again (its state went
    /// through a save and restore).
    pub restarted: bool,
}

/// dlopens the library file `name` (a `/proc/self/fd/N` name; RTLD_NOW, so unresolved symbols
/// fail here) and checks the entry symbol, ABI version and vtable size; `path` is the
/// configured path, for messages. On a failed check the image is closed again; the error
/// comes with `true` when no image of the file is left in memory (it was never mapped, or it
/// is verified gone), so that the caller can retire the descriptor accordingly.
fn open_image(name: &Path, path: &Path) -> Result<Image, (LoadError, bool)> {
    use libloading::os::unix::{RTLD_LOCAL, RTLD_NOW};
    // dlerror() text (the error's source) names the file by its descriptor name; say "the
    // file" instead.
    let reason = |e: libloading::Error| {
        let text = match std::error::Error::source(&e) {
            Some(dl) => dl.to_string(),
            None => e.to_string(),
        };
        text.replace(&*name.to_string_lossy(), "the file")
    };
    // SAFETY: loading runs the file's initializers; that is the point of loading it. Files
    // that are not lxcfs libraries are rejected below before any other code of theirs runs.
    let library = unsafe { Library::open(Some(name), RTLD_NOW | RTLD_LOCAL) }.map_err(|e| {
        let err = LoadError::Dlopen {
            path: path.to_path_buf(),
            reason: reason(e),
        };
        (err, true)
    })?;
    let fail = |library: Library, err: LoadError| (err, close_image(library, name));
    // SAFETY: the symbol's type is fixed by the ABI contract (`EntryFn`); the function pointer
    // is copied out of the symbol while `library` is open.
    let entry = match unsafe { library.get::<lxcfs_abi::EntryFn>(ENTRY_SYMBOL) } {
        Ok(sym) => *sym,
        Err(e) => {
            let err = LoadError::NoEntry {
                path: path.to_path_buf(),
                symbol: String::from_utf8_lossy(&ENTRY_SYMBOL[..ENTRY_SYMBOL.len() - 1]).into(),
                reason: reason(e),
            };
            return Err(fail(library, err));
        }
    };
    // SAFETY: per the contract the entry function only returns the address of a static.
    let vt = unsafe { entry() };
    // SAFETY: a non-null pointer from the entry function points at the library's static
    // vtable; only the two leading u32 fields are read before the size is checked.
    let (version, size) = match unsafe { vt.as_ref() } {
        Some(v) => (v.abi_version, v.struct_size),
        None => (0, 0),
    };
    if version != ABI_VERSION || (size as usize) < std::mem::size_of::<LibVTable>() {
        let err = LoadError::Incompatible {
            path: path.to_path_buf(),
            found_version: version,
            found_size: size,
            need_size: std::mem::size_of::<LibVTable>(),
        };
        return Err(fail(library, err));
    }
    Ok(Image { library, vt })
}

/// dlcloses `library`, loaded as `name`, and reports whether the image is really gone.
fn close_image(library: Library, name: &Path) -> bool {
    if let Err(e) = library.close() {
        tracing::warn!("dlclose of {}: {e}", name.display());
    }
    !still_loaded(name)
}

/// Whether glibc still has an image it knows as `name` (or an image of the file `name` opens)
/// loaded in this process.
fn still_loaded(name: &Path) -> bool {
    let Ok(c) = CString::new(name.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: RTLD_NOLOAD never loads anything (no initializer runs); it returns a new
    // reference to an object that is already loaded, or null. That reference is released
    // right away.
    unsafe {
        let h = libc::dlopen(c.as_ptr(), libc::RTLD_LAZY | libc::RTLD_NOLOAD);
        if h.is_null() {
            false
        } else {
            libc::dlclose(h);
            true
        }
    }
}

/// Runs `f` on a short-lived thread named `name` and returns its result: whatever thread-local
/// state library code creates on that thread dies with it. `None` when the thread could not be
/// started or panicked.
fn on_short_thread<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .ok()?
        .join()
        .ok()
}

impl Plugin {
    /// Loads the library at `path` and starts its first generation with `workers` worker
    /// threads (at least one).
    ///
    /// # Errors
    /// [`LoadError`] naming the path and the reason.
    pub fn load(path: &Path, options: InitOptions, workers: usize) -> Result<Plugin, LoadError> {
        let plugin = Plugin {
            current: RwLock::new(None),
            gate: Gate::new(),
            serving: AtomicU64::new(0),
            path: path.to_path_buf(),
            options,
            workers: workers.max(1),
            generation: AtomicU64::new(0),
            virtualize: AtomicBool::new(true),
            leaked: Mutex::new(Vec::new()),
        };
        let g = plugin.start_generation(LibFile::open(path)?, &[])?;
        tracing::info!(
            "loaded liblxcfs {} (build {}) from {}",
            g.info.version,
            g.info.build_id,
            g.info.path.display()
        );
        plugin.install(
            &mut plugin.current.write().unwrap_or_else(|e| e.into_inner()),
            Some(g),
        );
        Ok(plugin)
    }

    /// The configured library path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Identity of the current library, if one is loaded.
    pub fn info(&self) -> Option<LibraryInfo> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|g| g.info.clone())
    }

    /// Queues `job` for the current generation. Blocks while a reload is in progress. Returns
    /// the job back when no library is loaded (the caller answers EIO).
    ///
    /// # Errors
    /// The job itself, unrun.
    pub fn submit(&self, job: Job) -> Result<(), Job> {
        let guard = self.current.read().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref().and_then(|g| g.queue.as_ref()) {
            Some(q) => q.push(job),
            None => Err(job),
        }
    }

    /// Makes `g` the current generation (under `current`'s write lock, which `slot` is the
    /// inside of) and returns the one it replaces. The gate is closed, and every call inside it finished, before the old generation is
    /// handed back; it opens again only with a new library, so calls made meanwhile wait on
    /// the generation lock (held by the caller) and run on the new library.
    fn install(&self, slot: &mut Option<Generation>, g: Option<Generation>) -> Option<Generation> {
        self.serving.store(0, Ordering::Release);
        let closed = self.gate.close();
        let lib = g.as_ref().map(|g| g.lib);
        let old = std::mem::replace(slot, g);
        if let Some(l) = lib {
            closed.open(lib);
            self.serving.store(l.generation(), Ordering::Release);
        }
        old
    }

    /// Number of the generation serving now; 0 while the gate is closed (during a reload, and
    /// after a failed one). One load, without entering the gate: a value read just before a
    /// reload begins may be the old generation's, as for any request that arrives then.
    pub fn serving(&self) -> u64 {
        self.serving.load(Ordering::Acquire)
    }

    /// Runs `f` with the current generation's library on the calling thread, holding the
    /// generation (a reload waits until `f` returns): inside the gate, which costs no write to
    /// memory other threads write, or, while a reload has it closed, under the generation's
    /// read lock. `None` when no library is loaded or `f` panicked.
    pub fn with_lib<T>(&self, f: impl FnOnce(&Lib) -> T) -> Option<T> {
        let run = |lib: Option<Lib>| -> Option<T> {
            let lib = lib?;
            catch_unwind(AssertUnwindSafe(|| f(&lib))).ok()
        };
        match self.gate.enter(run) {
            Ok(r) => r,
            Err(run) => {
                let guard = self.current.read().unwrap_or_else(|e| e.into_inner());
                run(guard.as_ref().map(|g| g.lib))
            }
        }
    }

    /// Sets the virtualization switch (SIGUSR2) for the current and future generations.
    pub fn set_virtualization(&self, on: bool) {
        self.virtualize.store(on, Ordering::Relaxed);
        let _ = self.submit(Box::new(move |lib| {
            // SAFETY: called on a generation worker with that generation's state.
            unsafe { (lib.vtable().set_virtualization)(lib.state(), u32::from(on)) };
        }));
    }

    /// Current virtualization switch.
    pub fn virtualizing(&self) -> bool {
        self.virtualize.load(Ordering::Relaxed)
    }

    /// Loads `file`, runs `init` with `saved` and starts the workers. dlopen and `init` run on
    /// a short-lived thread. On failure the image is closed and `file` retired.
    fn start_generation(&self, file: LibFile, saved: &[u8]) -> Result<Generation, LoadError> {
        struct Loaded {
            image: Image,
            state: usize,
            version: String,
            build_id: String,
        }
        let opts = self.options.clone();
        let saved = saved.to_vec();
        let on = self.virtualizing();
        let (name, path) = (file.dl_name(), file.path.clone());
        // `file` stays open on this thread until the load thread has ended.
        let result = on_short_thread(
            "lxcfs-load",
            move || -> Result<Loaded, (LoadError, bool)> {
                let image = open_image(&name, &path)?;
                // SAFETY: checked by `open_image`; the image stays open for this whole closure.
                let vt = unsafe { &*image.vt };
                // SAFETY: the identity functions return statics of the loaded image.
                let (version, build_id) = unsafe {
                    (
                        bytes_to_string((vt.lib_version)()),
                        bytes_to_string((vt.build_id)()),
                    )
                };
                let options = Options {
                    struct_size: std::mem::size_of::<Options>() as u32,
                    flags: opts.flags,
                    runtime_dir: Bytes::new(opts.runtime_dir.as_bytes()),
                    root: Bytes::new(opts.root.as_bytes()),
                    max_log_level: opts.max_log_level,
                    reserved: 0,
                    cache_ttl_us: opts.cache_ttl_us,
                };
                let mut state: *mut c_void = std::ptr::null_mut();
                // SAFETY: all pointers are valid for the call; HOST_API is static.
                let rc = unsafe { (vt.init)(&HOST_API, &options, Bytes::new(&saved), &mut state) };
                if rc != 0 || state.is_null() {
                    let errno = if rc < 0 { -rc } else { libc::EIO };
                    let err = LoadError::Init {
                        path,
                        errno: std::io::Error::from_raw_os_error(errno),
                    };
                    return Err((err, close_image(image.library, &name)));
                }
                if !on {
                    // SAFETY: `state` was just created by this library's init.
                    unsafe { (vt.set_virtualization)(state, 0) };
                }
                Ok(Loaded {
                    image,
                    state: state as usize,
                    version,
                    build_id,
                })
            },
        );
        let loaded = match result {
            Some(Ok(l)) => l,
            Some(Err((err, unloaded))) => {
                file.retire(unloaded, &self.leaked);
                return Err(err);
            }
            None => {
                // The load thread panicked (host code; the library catches its own panics):
                // whatever it opened stays open, so the descriptor must stay too.
                let err = LoadError::Init {
                    path: file.path.clone(),
                    errno: std::io::Error::from_raw_os_error(libc::EIO),
                };
                file.retire(false, &self.leaked);
                return Err(err);
            }
        };
        let number = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let lib = Lib {
            vt: loaded.image.vt,
            state: loaded.state as *mut c_void,
            generation: number,
        };
        let queue = Arc::new(JobQueue::default());
        let mut workers = Vec::with_capacity(self.workers);
        let mut spawn_error = None;
        for i in 0..self.workers {
            match spawn_worker(number, i, queue.clone(), lib) {
                Ok(w) => workers.push(w),
                Err(e) if !workers.is_empty() => {
                    tracing::warn!("generation {number}: only {i} workers: {e}");
                    break;
                }
                Err(e) => {
                    spawn_error = Some(e);
                    break;
                }
            }
        }
        let mut g = Generation {
            number,
            library: Some(loaded.image.library),
            lib,
            queue: Some(queue),
            workers,
            info: LibraryInfo {
                path: self.path.clone(),
                version: loaded.version,
                build_id: loaded.build_id,
            },
            file,
        };
        if let Some(e) = spawn_error {
            // Not even one worker: the library is shut down and unloaded again.
            if let Some(q) = g.queue.take() {
                q.close();
            }
            let stopped = Self::stop_generation(g);
            stopped.file.retire(stopped.unloaded, &self.leaked);
            return Err(LoadError::Init {
                path: self.path.clone(),
                errno: e,
            });
        }
        Ok(g)
    }

    /// Stops a generation: drains and joins its workers, shuts the library down on a
    /// short-lived thread, dlcloses it and checks that the image is gone.
    fn stop_generation(mut g: Generation) -> Stopped {
        let t0 = Instant::now();
        if let Some(q) = g.queue.take() {
            q.close();
        }
        for w in g.workers.drain(..) {
            let _ = w.join();
        }
        let t1 = Instant::now();
        let lib = g.lib;
        let number = g.number;
        let saved = on_short_thread("lxcfs-shutdown", move || {
            let mut sink = VecSink::new();
            let s = sink.sink();
            // SAFETY: no worker runs anymore; the state is passed to shutdown exactly once.
            let rc = unsafe { (lib.vtable().shutdown)(lib.state(), &s) };
            if rc != 0 {
                tracing::warn!("generation {number}: library shutdown returned {rc}");
            }
            sink.into_inner()
        })
        .unwrap_or_default();
        let t2 = Instant::now();
        let unloaded = match g.library.take() {
            Some(library) => close_image(library, &g.file.dl_name()),
            None => !still_loaded(&g.file.dl_name()),
        };
        Stopped {
            saved,
            unloaded,
            file: g.file,
            phases: [t1 - t0, t2 - t1, t2.elapsed()],
        }
    }

    /// Checks, without disturbing the running generation, that `file` is a loadable and
    /// compatible library: its image is opened and checked on a short-lived thread and closed
    /// again; no library code runs except its initializers and the entry function. Skipped
    /// for a file whose image is already in memory (the running one, or one that could not be
    /// unloaded): glibc would hand back that image rather than load the file.
    ///
    /// # Errors
    /// Why the file is refused, and whether no image of it is left in memory (`true`) or the
    /// descriptor must be kept (`false`).
    fn probe(&self, file: &LibFile) -> Result<(), (LoadError, bool)> {
        let running = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|g| g.file.id);
        let leaked = |id| {
            let mut l = self.leaked.lock().unwrap_or_else(|e| e.into_inner());
            if !l.contains(&id) {
                l.push(id);
            }
        };
        if running == Some(file.id)
            || self
                .leaked
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&file.id)
        {
            return Ok(());
        }
        probe_in_child(file).map_err(|e| (e, true))?;
        let (name, path) = (file.dl_name(), file.path.clone());
        // `file` stays open on this thread until the probe thread has ended.
        let result = on_short_thread("lxcfs-probe", move || {
            let image = open_image(&name, &path)?;
            Ok(close_image(image.library, &name))
        });
        match result {
            Some(Ok(true)) => Ok(()),
            Some(Ok(false)) => {
                // Usable anyway: the real load will find this very image.
                tracing::warn!("{}: the probed image stayed in memory", file.path.display());
                leaked(file.id);
                Ok(())
            }
            Some(Err((e, unloaded))) => {
                if !unloaded {
                    leaked(file.id);
                }
                Err((e, unloaded))
            }
            None => {
                leaked(file.id);
                let reason = "the probe thread failed".to_string();
                let path = file.path.clone();
                Err((LoadError::Dlopen { path, reason }, false))
            }
        }
    }

    /// Replaces the running library with the file at the configured path; see the module
    /// documentation. On error the daemon keeps serving with the last good library.
    ///
    /// # Errors
    /// [`ReloadError`]: why the new library was refused and what serves now.
    pub fn reload(&self) -> Result<ReloadReport, Box<ReloadError>> {
        let refused = |cause| {
            Box::new(ReloadError {
                cause,
                serving: self.info(),
                restarted: false,
            })
        };
        let begun = Instant::now();
        let file = LibFile::open(&self.path).map_err(refused)?;
        if let Err((cause, unloaded)) = self.probe(&file) {
            file.retire(unloaded, &self.leaked);
            return Err(refused(cause));
        }
        let probed = Instant::now();
        let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
        let started = Instant::now();
        let Some(old) = self.install(&mut guard, None) else {
            // Nothing was loaded (an earlier reload failed completely): just load.
            let g = self
                .start_generation(file, &[])
                .map_err(|cause| ReloadError {
                    cause,
                    serving: None,
                    restarted: false,
                })?;
            let report = ReloadReport {
                old: LibraryInfo {
                    path: self.path.clone(),
                    version: "none".into(),
                    build_id: "none".into(),
                },
                new: g.info.clone(),
                generation: g.number,
                old_unloaded: true,
                pause: started.elapsed(),
            };
            self.install(&mut guard, Some(g));
            return Ok(report);
        };
        let old_info = old.info.clone();
        let old_number = old.number;
        let same_file = old.file.id == file.id;
        let Stopped {
            saved,
            unloaded,
            file: old_file,
            phases,
        } = Self::stop_generation(old);
        let stopped = Instant::now();
        if !unloaded {
            tracing::error!(
                "generation {old_number}: liblxcfs {} (build {}) is still in memory after \
                 dlclose (something pinned it); {}",
                old_info.version,
                old_info.build_id,
                if same_file {
                    "the same file was installed again, so its old image serves again"
                } else {
                    "the new file is loaded under its own name, so its code runs; the old \
                     image leaks"
                }
            );
        }
        let result = self.start_generation(file, &saved);
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        tracing::debug!(
            "reload phases (ms): open and probe {:.2}, lock wait {:.2}, drain {:.2}, shutdown \
             {:.2}, dlclose and check {:.2}, load and init {:.2}",
            ms(probed - begun),
            ms(started - probed),
            ms(phases[0]),
            ms(phases[1]),
            ms(phases[2]),
            ms(stopped.elapsed())
        );
        match result {
            Ok(g) => {
                old_file.retire(unloaded, &self.leaked);
                let report = ReloadReport {
                    old: old_info,
                    new: g.info.clone(),
                    generation: g.number,
                    old_unloaded: unloaded,
                    pause: started.elapsed(),
                };
                self.install(&mut guard, Some(g));
                Ok(report)
            }
            Err(cause) => {
                tracing::error!("{cause}; loading the previous library again");
                let serving = match self.start_generation(old_file, &saved) {
                    Ok(g) => {
                        let info = g.info.clone();
                        self.install(&mut guard, Some(g));
                        Some(info)
                    }
                    Err(e2) => {
                        tracing::error!("the previous library failed to load again: {e2}");
                        None
                    }
                };
                Err(Box::new(ReloadError {
                    cause,
                    serving,
                    restarted: true,
                }))
            }
        }
    }

    /// Stops the current generation (at exit). Later submissions fail.
    pub fn shutdown(&self) {
        let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
        if let Some(g) = self.install(&mut guard, None) {
            let stopped = Self::stop_generation(g);
            stopped.file.retire(stopped.unloaded, &self.leaked);
        }
    }
}

/// A generation's job queue: a FIFO under a mutex and a condition variable. An idle worker
/// sleeps on the condition variable and one submission wakes one worker (a single futex
/// wake); a channel whose receivers spin and yield before sleeping costs more CPU than the
/// jobs themselves on a 2-CPU host, where the spinning competes with the FUSE threads and the
/// readers. After `close`, workers finish the queued jobs and then exit.
#[derive(Default)]
struct JobQueue {
    state: Mutex<(std::collections::VecDeque<Job>, bool)>,
    ready: std::sync::Condvar,
}

impl JobQueue {
    /// Queues `job`; returns it back when the queue is closed.
    fn push(&self, job: Job) -> Result<(), Job> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.1 {
            return Err(job);
        }
        st.0.push_back(job);
        drop(st);
        self.ready.notify_one();
        Ok(())
    }

    /// The next job, waiting for one; `None` once the queue is closed and empty.
    fn pop(&self) -> Option<Job> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(job) = st.0.pop_front() {
                return Some(job);
            }
            if st.1 {
                return None;
            }
            st = self.ready.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Refuses new jobs and lets the workers drain the queue and exit.
    fn close(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
        self.ready.notify_all();
    }
}

impl std::fmt::Debug for JobQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobQueue").finish_non_exhaustive()
    }
}

fn spawn_worker(
    generation: u64,
    i: usize,
    queue: Arc<JobQueue>,
    lib: Lib,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("lxcfs-g{generation}-w{i}"))
        .spawn(move || {
            while let Some(job) = queue.pop() {
                if catch_unwind(AssertUnwindSafe(|| job(&lib))).is_err() {
                    tracing::error!("a job panicked on worker g{generation}-w{i}");
                }
            }
        })
}

impl Drop for Plugin {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Runs `f` with the library on a generation worker and waits for its result (used for
/// operations whose reply must be built on the calling thread, and by tests).
///
/// # Errors
/// `EIO` when no library is loaded or the job was dropped.
pub fn call<T: Send + 'static>(
    plugin: &Plugin,
    f: impl FnOnce(&Lib) -> T + Send + 'static,
) -> Result<T, i32> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    plugin
        .submit(Box::new(move |lib| {
            let _ = tx.send(f(lib));
        }))
        .map_err(|_| libc::EIO)?;
    rx.recv().map_err(|_| libc::EIO)
}

/// Shared handle to the plugin.
pub type SharedPlugin = Arc<Plugin>;

/// Opens `path` just to read the library's identity (no `init`, no library code beyond the
/// entry and identity functions), then closes it. Meant for short-lived processes
/// (`lxcfs --version`).
///
/// # Errors
/// The [`LoadError`] of opening or checking the file.
pub fn peek(path: &Path) -> Result<LibraryInfo, LoadError> {
    let file = LibFile::open(path)?;
    let image = open_image(&file.dl_name(), path).map_err(|(e, _)| e)?;
    // SAFETY: checked by `open_image`; the image stays open until after these calls.
    let info = unsafe {
        let vt = &*image.vt;
        LibraryInfo {
            path: path.to_path_buf(),
            version: bytes_to_string((vt.lib_version)()),
            build_id: bytes_to_string((vt.build_id)()),
        }
    };
    let _ = image.library.close();
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn scratch(name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("lxcfs-plugin-{name}-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    #[test]
    fn a_private_copy_is_sealed_and_a_file_that_grows_is_not_copied_whole() {
        let p = scratch("copy");
        std::fs::write(&p, vec![7u8; 4096]).unwrap();
        let f = File::open(&p).unwrap();
        let meta = f.metadata().unwrap();
        let (mut copy, id) = match private_copy(&f, &meta) {
            Ok(c) => c,
            Err(_) => panic!("no private copy on this kernel"),
        };
        assert_eq!(copy.metadata().unwrap().len(), 4096);
        assert_eq!(id.ino, copy.metadata().unwrap().ino());
        assert!(copy.write_all(b"x").is_err(), "the copy is sealed");
        // The file grows by 64 MiB after it was checked: at most one byte more is copied.
        let mut w = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        w.write_all(&vec![1u8; 64 << 20]).unwrap();
        match private_copy(&f, &meta) {
            Err(CopyError::Changed(why)) => {
                assert!(why.contains("4096 bytes then, 4097 copied"), "{why}")
            }
            Ok(_) => panic!("a grown file was copied"),
            Err(_) => panic!("unexpected error"),
        }
        let _ = std::fs::remove_file(&p);
    }
}
