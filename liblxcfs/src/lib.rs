//! liblxcfs: the reloadable half of lxcfs. It knows containers; the host binary knows FUSE.
//!
//! Data flow of a read: the host calls [`ffi`]'s `read` with the caller's thread id and a path;
//! [`tree::Node::lookup`] names the file; [`container::Resolver`] finds the caller's container
//! (the cgroups of its pid namespace's init); the file's module under [`proc`] or [`sys`]
//! gathers cgroup figures through [`hostfs::HostFs`] (the single rooted view of the host
//! filesystem) and renders text with pure functions; on any failure the host's own file is
//! served instead, so a read never fails because a cgroup file is missing or malformed.
//!
//! The whole library runs against fixture trees (`HostFs::new("tests/fixtures/...")`) without
//! root; see [`Lxcfs::new`].

pub mod cgroup;
pub mod container;
pub mod cpu;
pub mod cpuview;
pub mod error;
pub mod ffi;
pub mod hostfs;
pub mod logging;
pub mod memory;
pub mod proc;
pub mod state;
pub mod sys;
pub mod tree;

use std::sync::atomic::{AtomicBool, Ordering};

use lxcfs_abi::{kind, Attr, OpenReply};

use crate::cgroup::Hierarchies;
use crate::container::{Container, Resolver};
use crate::error::{Error, Result};
use crate::hostfs::HostFs;
use crate::tree::Node;

/// The bit that marks a [`Lxcfs::view`] as a host reader's (with a hash of its cgroups in
/// the low bits); a container's view is its pid namespace inode, which never has it.
pub const HOST_VIEW: u64 = 1 << 63;

/// With [`HOST_VIEW`]: a host reader's view that no other reader shares (its thread id in the
/// low bits), given when its cgroups could not be read or changed during a render.
pub const OWN_VIEW: u64 = 1 << 62;

/// Page size used to round reported file sizes (bytes).
const PAGE: u64 = 4096;

/// Library switches, from the host's command line (see [`lxcfs_abi::opt`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// `-u`: no swap anywhere.
    pub swap_off: bool,
    /// `--disable-zswap`.
    pub zswap_off: bool,
    /// `--enable-cfs`: CPU count from the CFS quota too.
    pub cfs: bool,
    /// `-l`: per-container loadavg.
    pub loadavg: bool,
    /// `--enable-psi-poll`: PSI triggers.
    pub psi_poll: bool,
    /// `--cache-ms`: how long a file rendered for a container is served again to readers in
    /// the same container; zero renders on every read. See [`Lxcfs::serve`].
    pub cache_ttl: std::time::Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            swap_off: false,
            zswap_off: false,
            cfs: false,
            loadavg: false,
            psi_poll: false,
            cache_ttl: std::time::Duration::from_micros(lxcfs_abi::DEFAULT_CACHE_TTL_US.into()),
        }
    }
}

impl Options {
    /// Decodes [`lxcfs_abi::opt`] bits.
    pub fn from_bits(flags: u32) -> Options {
        use lxcfs_abi::opt;
        Options {
            swap_off: flags & opt::SWAP_OFF != 0,
            zswap_off: flags & opt::ZSWAP_OFF != 0,
            cfs: flags & opt::CFS != 0,
            loadavg: flags & opt::LOADAVG != 0,
            psi_poll: flags & opt::PSI_POLL != 0,
            ..Options::default()
        }
    }
}

/// The library's state: one per load.
#[derive(Debug)]
pub struct Lxcfs {
    /// The host filesystem view.
    pub fs: HostFs,
    /// The host's cgroup hierarchies, discovered at load.
    pub hierarchies: Hierarchies,
    /// Caller → container resolution and its cache.
    pub resolver: Resolver,
    /// Switches.
    pub options: Options,
    /// Per-container CPU accounting history (`/proc/stat`, uptime idle).
    pub cpuview: cpuview::CpuViews,
    /// Per-container load averages (`-l`).
    pub loadavg: proc::loadavg::LoadAvgs,
    virtualize: AtomicBool,
}

impl Lxcfs {
    /// Loads the library state over the host view rooted at `root` (`/` in production).
    pub fn new(root: impl Into<std::path::PathBuf>, options: Options) -> Lxcfs {
        let fs = HostFs::new(root);
        let hierarchies = Hierarchies::discover(&fs);
        tracing::info!(
            "cgroup layout {:?}: v1 {:?}, unified {:?}",
            hierarchies.layout(),
            hierarchies
                .v1
                .iter()
                .map(|h| h.controllers.join(","))
                .collect::<Vec<_>>(),
            hierarchies
                .unified
                .as_ref()
                .map(|u| u.controllers.join(" "))
        );
        let resolver = Resolver::new(&fs);
        Lxcfs {
            fs,
            hierarchies,
            resolver,
            options,
            cpuview: cpuview::CpuViews::default(),
            loadavg: proc::loadavg::LoadAvgs::default(),
            virtualize: AtomicBool::new(true),
        }
    }

    /// Whether files are virtualized (SIGUSR2 toggles this).
    pub fn virtualizing(&self) -> bool {
        self.virtualize.load(Ordering::Relaxed)
    }

    /// Turns virtualization on or off.
    pub fn set_virtualization(&self, on: bool) {
        self.virtualize.store(on, Ordering::Relaxed);
        tracing::info!(
            "virtualization {}",
            if on { "on" } else { "off: serving host files" }
        );
    }

    /// The container of the caller thread `tid`.
    ///
    /// # Errors
    /// [`Error::ProcessGone`] when the caller vanished.
    pub fn container(&self, tid: u32) -> Result<Container> {
        self.resolver.resolve(&self.fs, tid)
    }

    /// Attributes of `path`.
    ///
    /// # Errors
    /// [`Error::NotFound`] for unknown paths.
    pub fn getattr(&self, path: &str) -> Result<Attr> {
        let node = Node::lookup(path).ok_or(Error::NotFound)?;
        match node {
            Node::SysCpu(rel) => sys::cpu::getattr(self, &rel),
            Node::Proc(f) => Ok(Attr {
                size: self.proc_size(f),
                ..node.static_attr()
            }),
            // Writable by everyone, as the kernel's `/proc/pressure/*`, when triggers may be
            // written (`--enable-psi-poll`); read-only otherwise.
            Node::Pressure(_) => Ok(Attr {
                size: PAGE,
                perm: if self.options.psi_poll { 0o666 } else { 0o444 },
                ..node.static_attr()
            }),
            other => Ok(other.static_attr()),
        }
    }

    /// The size reported for a generated `/proc` file: an upper bound of what a read returns,
    /// rounded up to whole pages. The kernel's procfs reports 0, but splice(2) and sendfile(2)
    /// on a FUSE file (`cp`, Python's `shutil.copyfile`) stop at the reported size, so 0 would
    /// copy nothing. Small files report one page; files whose length grows with the host
    /// (cpuinfo, stat, diskstats, slabinfo) report the host file's length plus a page of
    /// slack, since the container's version is never longer than that (diskstats may add a
    /// few devices the host does not list; a page covers dozens of lines).
    pub fn proc_size(&self, f: proc::ProcFile) -> u64 {
        use proc::ProcFile as P;
        match f {
            P::Cpuinfo | P::Stat | P::Diskstats | P::Slabinfo => {
                let host = self
                    .fs
                    .read_bytes(f.host_path())
                    .map(|b| b.len() as u64)
                    .unwrap_or(0);
                (host + PAGE).div_ceil(PAGE) * PAGE
            }
            _ => PAGE,
        }
    }

    /// Entries of the directory `path` (no `.`/`..`), each with its [`lxcfs_abi::kind`].
    ///
    /// # Errors
    /// [`Error::NotFound`], or `ENOTDIR` as [`Error::Invalid`]-like I/O errors for files.
    pub fn readdir(&self, path: &str) -> Result<Vec<(String, u32)>> {
        let node = Node::lookup(path).ok_or(Error::NotFound)?;
        match node {
            Node::SysCpu(rel) => sys::cpu::readdir(self, &rel),
            other => other
                .static_entries()
                .ok_or_else(|| Error::io(path, not_a_dir())),
        }
    }

    /// Checks an open(2) of `path` with `flags` by a caller with user id `uid` (in the
    /// daemon's user namespace).
    ///
    /// # Errors
    /// [`Error::NotFound`]; `EISDIR` for directories; [`Error::Access`] for write access to
    /// anything but a PSI trigger file with `--enable-psi-poll`, and for mirrored `/sys` files
    /// the host does not let other users read, unless `uid` is 0.
    pub fn open(&self, uid: u32, path: &str, flags: i32) -> Result<OpenReply> {
        let node = Node::lookup(path).ok_or(Error::NotFound)?;
        // Kind and mode only: the size a getattr reports may cost a read of a host file.
        let attr = match &node {
            Node::SysCpu(rel) => sys::cpu::getattr(self, rel)?,
            other => other.static_attr(),
        };
        if attr.kind == kind::DIR {
            return Err(Error::io(
                path,
                std::io::Error::from_raw_os_error(libc::EISDIR),
            ));
        }
        // The daemon reads the host's files as root; the mirrored modes are the host's, so a
        // file the host keeps from other users stays closed to them here too.
        if matches!(node, Node::SysCpu(_)) && uid != 0 && attr.perm & 0o004 == 0 {
            return Err(Error::Access);
        }
        let writing = flags & libc::O_ACCMODE != libc::O_RDONLY;
        let psi = matches!(node, Node::Pressure(_)) && self.options.psi_poll;
        if writing && !psi {
            return Err(Error::Access);
        }
        let mut flags = lxcfs_abi::open_flags::DIRECT_IO;
        if psi {
            flags |= lxcfs_abi::open_flags::PSI_TRIGGER;
        }
        // Mirrored `/sys` files follow the host file's mode and the caller's uid; everything
        // else depends on the path and the access mode only.
        if !matches!(node, Node::SysCpu(_)) {
            flags |= lxcfs_abi::open_flags::CALLER_INDEPENDENT;
        }
        Ok(OpenReply { flags, reserved: 0 })
    }

    /// The whole content of the file `path` as `tid` sees it. Every problem with the
    /// container's figures falls back to the host's content (empty when the host has no such
    /// file).
    ///
    /// # Errors
    /// [`Error::NotFound`] for unknown paths; `EISDIR` for directories; the host file's
    /// error when the fallback is needed and the host file exists but cannot be read (out of
    /// descriptors, say): a reader gets that errno, never an empty file.
    pub fn read(&self, tid: u32, path: &str) -> Result<Vec<u8>> {
        let node = Node::lookup(path).ok_or(Error::NotFound)?;
        match node {
            Node::Proc(f) => proc::render(self, tid, f).map(String::into_bytes),
            Node::Pressure(r) => proc::pressure::render(self, tid, r).map(String::into_bytes),
            Node::SysCpu(rel) => sys::cpu::read(self, tid, &rel),
            Node::PanicHook => {
                #[cfg(feature = "test-hooks")]
                panic!("test hook: panic inside a read");
                #[cfg(not(feature = "test-hooks"))]
                Err(Error::NotFound)
            }
            _ => Err(Error::io(
                path,
                std::io::Error::from_raw_os_error(libc::EISDIR),
            )),
        }
    }

    /// The content of `path` for the caller thread `tid`, as [`Lxcfs::read`] renders it, with
    /// the render cache for `/proc` and pressure files: what was rendered from the caller's
    /// container's own figures (never a host-file fallback) less than
    /// [`Options::cache_ttl`] ago is served again instead of being rendered anew. The cache
    /// is per container (pid namespace, checked against its init on every use, see
    /// [`Resolver::rendered`]), so a container never gets another's content; a reader reading
    /// less often than the lifetime always gets a fresh render. Readers in the daemon's own
    /// pid namespace (each served for its own cgroup) and a zero lifetime bypass the cache,
    /// as does a daemon with virtualization switched off.
    ///
    /// # Errors
    /// As [`Lxcfs::read`].
    pub fn serve(&self, tid: u32, path: &str) -> Result<std::sync::Arc<[u8]>> {
        self.serve_view_with(tid, path, std::sync::Arc::clone)
            .map(|(bytes, _)| bytes)
    }

    /// The view of the caller thread `tid`: an opaque key equal for two callers only when
    /// every file renders the same for both at one moment. For a reader in a container it is
    /// the container's [`container::container_view`] (pid namespace inode and init); for a
    /// reader served as a host process (for its own cgroups, see [`Resolver::is_host_ns`]; a
    /// `hostPID` container's processes too) it is [`HOST_VIEW`] with a 62-bit hash of its
    /// `/proc/<tid>/cgroup`, so that the threads and processes of one set of cgroups share it
    /// (its own [`OWN_VIEW`] when that file cannot be read). It does not depend on whether
    /// virtualization is on, so that a render made while it was on can never match a reader
    /// of another container after it was switched off. The host keeps an open file's renders
    /// per view. Finding it checks the caller's thread id with the caller cache's pidfd.
    ///
    /// # Errors
    /// [`Error::ProcessGone`] when the caller thread is gone.
    pub fn view(&self, tid: u32) -> Result<u64> {
        let pidns = self
            .resolver
            .pidns_of(&self.fs, tid)
            .ok_or(Error::ProcessGone(tid))?;
        Ok(self.view_in(tid, pidns))
    }

    /// [`Lxcfs::view`] of `tid`, whose pid namespace is `pidns`.
    fn view_in(&self, tid: u32, pidns: u64) -> u64 {
        if self.resolver.is_host_ns(pidns) {
            self.host_view(tid)
        } else {
            self.resolver.container_view_of(&self.fs, tid, pidns)
        }
    }

    /// The view of host reader `tid`: [`HOST_VIEW`] with a 62-bit hash of its
    /// `/proc/<tid>/cgroup` (std's SipHash with fixed keys), or its own [`OWN_VIEW`] when
    /// that file cannot be read.
    fn host_view(&self, tid: u32) -> u64 {
        use std::hash::{Hash, Hasher};
        match self.fs.read(&format!("/proc/{tid}/cgroup")) {
            Ok(membership) => {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                membership.hash(&mut h);
                HOST_VIEW | (h.finish() & (OWN_VIEW - 1))
            }
            Err(_) => HOST_VIEW | OWN_VIEW | u64::from(tid),
        }
    }

    /// Content for `tid` from `render`, with the view it was rendered for, found after the
    /// render (so that finding a container's init for it does not count as resolved before
    /// the render began, see `Resolver::keep_rendered`). A host reader's cgroups are read
    /// before and after the render: if they changed meanwhile (the thread was moved), the
    /// render may be of either, and it gets a view no other reader shares; so does a reader
    /// whose pid namespace is unknown (`pidns` `None`).
    fn view_around<R>(
        &self,
        tid: u32,
        pidns: Option<u64>,
        render: impl FnOnce() -> Result<R>,
    ) -> Result<(R, u64)> {
        let own = HOST_VIEW | OWN_VIEW | u64::from(tid);
        let Some(pidns) = pidns else {
            return Ok((render()?, own));
        };
        if !self.resolver.is_host_ns(pidns) {
            let r = render()?;
            return Ok((r, self.resolver.container_view_of(&self.fs, tid, pidns)));
        }
        let before = self.host_view(tid);
        let r = render()?;
        let view = if self.host_view(tid) == before {
            before
        } else {
            own
        };
        Ok((r, view))
    }

    /// [`Lxcfs::serve`] handing the content to `take` instead of returning it, with the
    /// [`Lxcfs::view`] it was served for (found on the way, at no extra cost when the render
    /// cache serves it). A content served from the render cache is handed over under the
    /// cache's lock, without touching its reference count, so `take` should only copy it out
    /// (the read path copies it into the host's buffer).
    ///
    /// # Errors
    /// As [`Lxcfs::read`]; `take` is not called then.
    pub fn serve_view_with<T, R>(&self, tid: u32, path: &str, take: T) -> Result<(R, u64)>
    where
        T: FnOnce(&std::sync::Arc<[u8]>) -> R,
    {
        // Served as `read` serves it, and never kept.
        let uncached = |take: T| Ok(take(&self.read(tid, path)?.into()));
        let ttl = self.options.cache_ttl;
        if ttl.is_zero() || !self.virtualizing() {
            let pidns = self.resolver.pidns_of(&self.fs, tid);
            return self.view_around(tid, pidns, || uncached(take));
        }
        let (pidns, take) = match self.resolver.with_rendered(&self.fs, tid, path, ttl, take) {
            Ok((r, view)) => return Ok((r, view)),
            Err((Some(pidns), take)) => (pidns, take),
            Err((None, take)) => return self.view_around(tid, None, || uncached(take)),
        };
        self.view_around(tid, Some(pidns), || {
            let started = std::time::Instant::now();
            match self.render_for_container(tid, path) {
                Some((bytes, rendered_for)) => {
                    // Kept under the namespace the render really used (the caller's thread
                    // id was resolved twice; a reused id must not file one container's render
                    // under another's key).
                    if rendered_for == pidns {
                        self.resolver.keep_rendered(
                            &self.fs,
                            pidns,
                            path,
                            started,
                            bytes.clone(),
                            ttl,
                        );
                    }
                    Ok(take(&bytes))
                }
                // Not container-specific, or the container's figures could not be read: the
                // host's file, never kept, so a passing failure is not handed to the
                // container's other readers.
                None => uncached(take),
            }
        })
    }

    /// A `/proc` or pressure file rendered for the container of `tid` from that container's
    /// own figures, with the pid namespace inode it was rendered for; `None` for other files
    /// and when the container or its figures cannot be read.
    fn render_for_container(&self, tid: u32, path: &str) -> Option<(std::sync::Arc<[u8]>, u64)> {
        let node = Node::lookup(path)?;
        let c = self.container(tid).ok()?;
        let text = match node {
            Node::Proc(f) => proc::render_container(self, &c, f).ok()?,
            Node::Pressure(r) => proc::pressure::read(self, &c, r).ok()?,
            _ => return None,
        };
        Some((text.into_bytes().into(), c.pidns))
    }

    /// The target of the symlink `path`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for non-links.
    pub fn readlink(&self, path: &str) -> Result<String> {
        match Node::lookup(path).ok_or(Error::NotFound)? {
            Node::SysCpu(rel) => sys::cpu::readlink(self, &rel),
            _ => Err(Error::Invalid),
        }
    }

    /// access(2) for `mask`: reads and directory searches are allowed, writes are not.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Access`].
    pub fn access(&self, path: &str, mask: i32) -> Result<()> {
        let node = Node::lookup(path).ok_or(Error::NotFound)?;
        let attr = self.getattr(path)?;
        if mask & libc::W_OK != 0 && !(matches!(node, Node::Pressure(_)) && self.options.psi_poll) {
            return Err(Error::Access);
        }
        if mask & libc::X_OK != 0 && attr.kind == kind::FILE {
            return Err(Error::Access);
        }
        Ok(())
    }

    /// A plain write (not a PSI trigger): refused, as generated files are read-only.
    ///
    /// # Errors
    /// [`Error::Access`] under `/sys`, [`Error::Invalid`] elsewhere, [`Error::NotFound`].
    pub fn write(&self, path: &str) -> Result<usize> {
        match Node::lookup(path).ok_or(Error::NotFound)? {
            Node::SysCpu(_) => Err(Error::Access),
            _ => Err(Error::Invalid),
        }
    }
}

fn not_a_dir() -> std::io::Error {
    std::io::Error::from_raw_os_error(libc::ENOTDIR)
}
