//! Loading, running and reloading `liblxcfs.so`.
//!
//! A loaded library is a [`Generation`]: the dlopen handle, the vtable, the library's state
//! pointer, and a pool of worker threads that belong to it. Every library call is a [`Job`]
//! queued to the current generation's workers; `init` and `shutdown` run on short-lived
//! threads. No long-lived host thread ever runs library code, so when a generation's workers
//! exit their thread-local destructors run, glibc drops the image's TLS pins, and `dlclose`
//! really unmaps it (rust-stack.md §2–3).
//!
//! Reload (SIGUSR1), under the write lock that makes new submissions wait:
//! 1. probe the new file (a private copy is dlopened, its entry symbol, ABI version and
//!    struct size checked, and closed again) — a bad file is refused while the old
//!    generation keeps serving;
//! 2. drop the old job queue; the old workers drain it and exit; join them;
//! 3. call the old `shutdown` (saved state comes back as bytes), `dlclose`, and verify with
//!    `dlopen(RTLD_NOLOAD)` that the image is gone — if it is not, the new file is loaded from
//!    a unique path so the new code runs anyway;
//! 4. dlopen the new file, `init` it with the saved state, start its workers;
//! 5. if `init` fails, load the previous file again from the descriptor kept open on it
//!    (`/proc/self/fd/N`, which works after the file was deleted) so service continues.

use std::ffi::{c_void, CString};
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::fd::AsRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use lxcfs_abi::{Bytes, HostApi, LibVTable, Options, VecSink, ABI_VERSION, ENTRY_SYMBOL};

/// Why a library could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file does not exist or cannot be read.
    #[error("{path}: cannot open library: {source}")]
    Missing {
        /// Library path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
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
         vtable size {found_size} (need at least {need_size})"
    )]
    Incompatible {
        /// Library path.
        path: PathBuf,
        /// The library's ABI version.
        found_version: u32,
        /// The library's vtable size.
        found_size: u32,
        /// The host's vtable size.
        need_size: usize,
    },
    /// The library's `init` returned an error (or panicked, which it reports as EIO).
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
    /// Where it was loaded from.
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
}

// SAFETY: `Lib` is only handed to jobs running on the generation's own worker threads, while
// the generation (image and state) is alive; the library's state is internally synchronized
// (the library's operations take `&Lxcfs` and use locks/atomics for mutation).
unsafe impl Send for Lib {}
// SAFETY: as above.
unsafe impl Sync for Lib {}

impl Lib {
    /// The library's vtable.
    pub fn vtable(&self) -> &LibVTable {
        // SAFETY: valid while the generation is alive, which outlives every job it runs.
        unsafe { &*self.vt }
    }

    /// The library's state pointer.
    pub fn state(&self) -> *mut c_void {
        self.state
    }
}

/// A unit of work run on a generation worker thread with the library handle.
pub type Job = Box<dyn FnOnce(&Lib) + Send + 'static>;

/// One loaded library and its workers.
struct Generation {
    number: u64,
    library: Option<libloading::os::unix::Library>,
    lib: Lib,
    tx: Option<Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
    info: LibraryInfo,
    /// Name the image was dlopened under (for the RTLD_NOLOAD check).
    loaded_as: PathBuf,
    /// Descriptor on the library file, so it can be loaded again after `rm`.
    file: File,
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
}

/// The loaded library, its generations and the job queue.
pub struct Plugin {
    current: RwLock<Option<Generation>>,
    path: PathBuf,
    options: InitOptions,
    workers: usize,
    generation: AtomicU64,
    virtualize: AtomicBool,
    scratch_dir: PathBuf,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin").field("path", &self.path).finish_non_exhaustive()
    }
}

static HOST_API: HostApi = HostApi {
    abi_version: ABI_VERSION,
    struct_size: std::mem::size_of::<HostApi>() as u32,
    log: crate::logging::library_log,
};

/// Reads a [`Bytes`] the library returned (static strings).
fn bytes_to_string(b: Bytes) -> String {
    // SAFETY: the library returns pointers to its own statics, valid while it is loaded.
    String::from_utf8_lossy(unsafe { b.as_slice() }).into_owned()
}

/// Outcome of a successful reload.
#[derive(Clone, Debug)]
pub struct ReloadReport {
    /// The library before.
    pub old: LibraryInfo,
    /// The library after.
    pub new: LibraryInfo,
    /// Whether the old image was verified unmapped.
    pub old_unloaded: bool,
    /// How long submissions were blocked.
    pub pause: Duration,
}

fn dlerror_of(e: libloading::Error) -> String {
    e.to_string()
}

/// dlopens `path` (RTLD_NOW so missing symbols fail here) and checks the vtable.
fn open_checked(
    path: &Path,
) -> Result<(libloading::os::unix::Library, *const LibVTable), LoadError> {
    use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
    // SAFETY: loading a library runs its initializers; liblxcfs has none beyond Rust's std
    // runtime setup, and other files are rejected below before any of their code is called.
    let library = unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL) }
        .map_err(|e| LoadError::Dlopen { path: path.to_path_buf(), reason: dlerror_of(e) })?;
    // SAFETY: the symbol's type is fixed by the ABI contract (`EntryFn`).
    let entry = unsafe { library.get::<lxcfs_abi::EntryFn>(ENTRY_SYMBOL) }.map_err(|e| {
        LoadError::NoEntry {
            path: path.to_path_buf(),
            symbol: String::from_utf8_lossy(&ENTRY_SYMBOL[..ENTRY_SYMBOL.len() - 1]).into(),
            reason: dlerror_of(e),
        }
    })?;
    // SAFETY: the entry function only returns the address of a static.
    let vt = unsafe { entry() };
    // SAFETY: non-null pointers from the entry function point at the library's static vtable;
    // only the two leading u32 fields are read before the size is checked.
    let (version, size) = match unsafe { vt.as_ref() } {
        Some(v) => (v.abi_version, v.struct_size),
        None => (0, 0),
    };
    if version != ABI_VERSION || (size as usize) < std::mem::size_of::<LibVTable>() {
        return Err(LoadError::Incompatible {
            path: path.to_path_buf(),
            found_version: version,
            found_size: size,
            need_size: std::mem::size_of::<LibVTable>(),
        });
    }
    Ok((library, vt))
}

/// Whether an image named `path` is still mapped in this process.
fn still_loaded(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else { return false };
    // SAFETY: RTLD_NOLOAD never loads anything; it returns a new reference to an already
    // loaded object (or null), which is released right away.
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

impl Plugin {
    /// Loads the library at `path` and starts its first generation.
    ///
    /// # Errors
    /// [`LoadError`] naming the path and the reason.
    pub fn load(path: &Path, options: InitOptions, workers: usize) -> Result<Plugin, LoadError> {
        let scratch_dir = Path::new(&options.runtime_dir).join("lxcfs");
        let plugin = Plugin {
            current: RwLock::new(None),
            path: path.to_path_buf(),
            options,
            workers: workers.max(1),
            generation: AtomicU64::new(0),
            virtualize: AtomicBool::new(true),
            scratch_dir,
        };
        let g = plugin.start_generation(path, &[])?;
        tracing::info!(
            "loaded liblxcfs {} (build {}) from {}",
            g.info.version,
            g.info.build_id,
            g.info.path.display()
        );
        *plugin.current.write().unwrap_or_else(|e| e.into_inner()) = Some(g);
        Ok(plugin)
    }

    /// The configured library path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Identity of the current library, if one is loaded.
    pub fn info(&self) -> Option<LibraryInfo> {
        self.current.read().ok()?.as_ref().map(|g| g.info.clone())
    }

    /// Queues `job` for the current generation. Returns the job back when no library is
    /// loaded (the caller answers EIO).
    pub fn submit(&self, job: Job) -> Result<(), Job> {
        let guard = self.current.read().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref().and_then(|g| g.tx.as_ref()) {
            Some(tx) => tx.send(job).map_err(|e| e.into_inner()),
            None => Err(job),
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

    fn start_generation(&self, path: &Path, saved: &[u8]) -> Result<Generation, LoadError> {
        let file = File::open(path)
            .map_err(|e| LoadError::Missing { path: path.to_path_buf(), source: e })?;
        let (library, vt) = open_checked(path)?;
        // SAFETY: checked by `open_checked`.
        let vtable = unsafe { &*vt };
        let info = LibraryInfo {
            path: self.path.clone(),
            version: bytes_to_string((vtable.lib_version)()),
            build_id: bytes_to_string((vtable.build_id)()),
        };
        let opts = self.options.clone();
        let saved = saved.to_vec();
        let vt_addr = vt as usize;
        let on = self.virtualizing();
        // init runs on a short-lived thread: whatever thread-locals it touches die with it.
        let init = std::thread::Builder::new()
            .name("lxcfs-init".into())
            .spawn(move || -> Result<usize, i32> {
                let options = Options {
                    struct_size: std::mem::size_of::<Options>() as u32,
                    flags: opts.flags,
                    runtime_dir: Bytes::new(opts.runtime_dir.as_bytes()),
                    root: Bytes::new(opts.root.as_bytes()),
                    max_log_level: opts.max_log_level,
                };
                // SAFETY: the vtable was checked; the library lives until the generation is
                // closed, after this thread is joined.
                let vt = unsafe { &*(vt_addr as *const LibVTable) };
                let mut state: *mut c_void = std::ptr::null_mut();
                // SAFETY: all pointers are valid for the call; HOST_API is static.
                let rc = unsafe { (vt.init)(&HOST_API, &options, Bytes::new(&saved), &mut state) };
                if rc != 0 || state.is_null() {
                    return Err(if rc < 0 { -rc } else { libc::EIO });
                }
                if !on {
                    // SAFETY: `state` was just created by this library's init.
                    unsafe { (vt.set_virtualization)(state, 0) };
                }
                Ok(state as usize)
            })
            .map_err(|e| LoadError::Init { path: path.to_path_buf(), errno: e })?;
        let state = match init.join() {
            Ok(Ok(s)) => s as *mut c_void,
            Ok(Err(errno)) => {
                return Err(LoadError::Init {
                    path: path.to_path_buf(),
                    errno: std::io::Error::from_raw_os_error(errno),
                })
            }
            Err(_) => {
                return Err(LoadError::Init {
                    path: path.to_path_buf(),
                    errno: std::io::Error::from_raw_os_error(libc::EIO),
                })
            }
        };
        let lib = Lib { vt, state };
        let number = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let workers = (0..self.workers)
            .map(|i| spawn_worker(number, i, rx.clone(), lib))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| LoadError::Init { path: path.to_path_buf(), errno: e })?;
        Ok(Generation {
            number,
            library: Some(library),
            lib,
            tx: Some(tx),
            workers,
            info,
            loaded_as: path.to_path_buf(),
            file,
        })
    }

    /// Stops a generation: drain and join its workers, shut the library down, dlclose it.
    /// Returns the saved state and whether the image is verified gone.
    fn stop_generation(mut g: Generation) -> (Vec<u8>, bool) {
        drop(g.tx.take());
        for w in g.workers.drain(..) {
            let _ = w.join();
        }
        let lib = g.lib;
        let saved = std::thread::Builder::new()
            .name("lxcfs-shutdown".into())
            .spawn(move || {
                let mut sink = VecSink::new();
                let s = sink.sink();
                // SAFETY: no worker runs anymore; the state is passed to shutdown exactly once.
                let rc = unsafe { (lib.vtable().shutdown)(lib.state(), &s) };
                if rc != 0 {
                    tracing::warn!("library shutdown returned {rc}");
                }
                sink.into_inner()
            })
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        if let Some(library) = g.library.take() {
            if let Err(e) = library.close() {
                tracing::warn!("dlclose of generation {} failed: {e}", g.number);
            }
        }
        let unloaded = !still_loaded(&g.loaded_as);
        drop(g.file);
        (saved, unloaded)
    }

    /// Copies `path` to a unique file in the scratch directory (for loading a new image while
    /// an old one of the same name is still mapped, or for probing).
    fn private_copy(&self, path: &Path, tag: &str) -> std::io::Result<PathBuf> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = if std::fs::create_dir_all(&self.scratch_dir).is_ok() {
            self.scratch_dir.clone()
        } else {
            std::env::temp_dir()
        };
        let dst = dir.join(format!("liblxcfs-{tag}-{}-{n}.so", std::process::id()));
        std::fs::copy(path, &dst)?;
        Ok(dst)
    }

    /// Checks that `path` is a loadable, compatible library without disturbing the running
    /// generation (a private copy is opened, checked and closed; no library code runs).
    ///
    /// # Errors
    /// The [`LoadError`] the real load would hit (except init failures).
    pub fn probe(&self, path: &Path) -> Result<(), LoadError> {
        File::open(path).map_err(|e| LoadError::Missing { path: path.to_path_buf(), source: e })?;
        let copy = self
            .private_copy(path, "probe")
            .map_err(|e| LoadError::Missing { path: path.to_path_buf(), source: e })?;
        let result = open_checked(&copy).map(|(lib, _)| {
            let _ = lib.close();
        });
        let _ = std::fs::remove_file(&copy);
        result.map_err(|e| match e {
            LoadError::Dlopen { reason, .. } => {
                LoadError::Dlopen { path: path.to_path_buf(), reason }
            }
            LoadError::NoEntry { symbol, reason, .. } => {
                LoadError::NoEntry { path: path.to_path_buf(), symbol, reason }
            }
            LoadError::Incompatible { found_version, found_size, need_size, .. } => {
                LoadError::Incompatible {
                    path: path.to_path_buf(),
                    found_version,
                    found_size,
                    need_size,
                }
            }
            other => other,
        })
    }

    /// Replaces the running library with the file at the configured path; see the module
    /// documentation. On error the daemon keeps serving with the last good library.
    ///
    /// # Errors
    /// Why the new library was refused.
    pub fn reload(&self) -> Result<ReloadReport, LoadError> {
        self.probe(&self.path)?;
        let started = Instant::now();
        let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
        let Some(old) = guard.take() else {
            let g = self.start_generation(&self.path, &[])?;
            let new = g.info.clone();
            *guard = Some(g);
            return Ok(ReloadReport {
                old: new.clone(),
                new,
                old_unloaded: true,
                pause: started.elapsed(),
            });
        };
        let old_info = old.info.clone();
        // Keep a descriptor on the old file to fall back to it after `rm`.
        let fallback = old.file.try_clone().ok();
        let (saved, old_unloaded) = Self::stop_generation(old);
        if !old_unloaded {
            tracing::error!(
                "old liblxcfs image is still mapped after dlclose; loading the new one from a \
                 unique path"
            );
        }
        let load_path = if old_unloaded {
            Ok(self.path.clone())
        } else {
            self.private_copy(&self.path, "gen")
        };
        let result = match load_path {
            Ok(p) => {
                let r = self.start_generation(&p, &saved);
                if p != self.path {
                    let _ = std::fs::remove_file(&p);
                }
                r
            }
            Err(e) => Err(LoadError::Missing { path: self.path.clone(), source: e }),
        };
        match result {
            Ok(g) => {
                let new = g.info.clone();
                *guard = Some(g);
                let pause = started.elapsed();
                Ok(ReloadReport { old: old_info, new, old_unloaded, pause })
            }
            Err(e) => {
                tracing::error!("{e}; reloading the previous library");
                let restored = fallback.and_then(|f| {
                    let p = PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd()));
                    let r = self.start_generation(&p, &saved);
                    drop(f);
                    match r {
                        Ok(mut g) => {
                            g.info = LibraryInfo { ..old_info.clone() };
                            Some(g)
                        }
                        Err(e2) => {
                            tracing::error!("previous library failed to load again: {e2}");
                            None
                        }
                    }
                });
                *guard = restored;
                Err(e)
            }
        }
    }

    /// Stops the current generation (at exit).
    pub fn shutdown(&self) {
        let mut guard = self.current.write().unwrap_or_else(|e| e.into_inner());
        if let Some(g) = guard.take() {
            let _ = Self::stop_generation(g);
        }
    }
}

fn spawn_worker(
    generation: u64,
    i: usize,
    rx: Receiver<Job>,
    lib: Lib,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name(format!("lxcfs-g{generation}-w{i}")).spawn(move || {
        while let Ok(job) = rx.recv() {
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
/// entry and version functions), then closes it.
///
/// # Errors
/// The [`LoadError`] of opening or checking the file.
pub fn peek(path: &Path) -> Result<LibraryInfo, LoadError> {
    File::open(path).map_err(|e| LoadError::Missing { path: path.to_path_buf(), source: e })?;
    let (library, vt) = open_checked(path)?;
    // SAFETY: checked by `open_checked`; the library stays open until after these calls.
    let vtable = unsafe { &*vt };
    let info = LibraryInfo {
        path: path.to_path_buf(),
        version: bytes_to_string((vtable.lib_version)()),
        build_id: bytes_to_string((vtable.build_id)()),
    };
    let _ = library.close();
    Ok(info)
}
