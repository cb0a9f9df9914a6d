//! Which container is asking: the caller's thread id → the init (reaper) of its pid namespace →
//! that init's cgroups.
//!
//! Rules (upstream lxcfs's, see `upstream-lxcfs.md` §3, with its gaps closed):
//! * the container is the cgroup of the init of the reader's pid namespace, with a trailing
//!   `/init.scope` dropped;
//! * a reader in the daemon's own (host) pid namespace uses its own cgroup;
//! * the FUSE request carries a thread id; `/proc/<tid>/...` resolves for any thread.
//!
//! The init of a pid namespace is found by walking up the caller's ancestors (`PPid:`) to the
//! first process whose innermost `NSpid:` is 1 in that namespace; processes that entered the
//! namespace with setns(2) (`docker exec`, `lxc-attach`) have ancestors outside it, and then
//! every `/proc/<pid>` is scanned. Results are cached per namespace inode and revalidated on
//! each use — with a pidfd on the real host (one syscall; a pidfd never follows a recycled
//! pid), else by the init's start time and namespace — so a recycled pid is never mistaken for
//! the old init.
//!
//! The same per-namespace entry keeps the files lately rendered for that container (see
//! [`crate::Lxcfs::serve`]): they are served again only while the entry's init is still the
//! very same process, so a namespace inode reused by a new container never sees them.
//!
//! Which namespace a caller thread is in is itself cached on the real host (see
//! [`Resolver::pidns_of`]): by thread id, with a pidfd on that very thread, so a thread id
//! recycled by a process of another container is never taken for the old caller.
//!
//! A cached pidfd keeps its task's pid namespace allocated, so entries whose task has exited
//! are dropped at every cache miss and at the host's 5-second tick
//! ([`Resolver::housekeep`]): an exited container's namespace is not held for long, and never
//! until some later read (it counts against `user.max_pid_namespaces`).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use lxcfs_formats::pid;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use rustc_hash::FxHashMap as HashMap;

use crate::cgroup::Membership;
use crate::error::{Error, Result};
use crate::hostfs::HostFs;

/// The container a request is answered for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    /// The process whose cgroups define the container: the namespace's init, or the caller
    /// itself when it lives in the daemon's pid namespace (or no init could be found).
    pub cgroup_pid: u32,
    /// The init of the caller's pid namespace in the daemon's numbering (`1` for host
    /// callers); its start time is the container's boot time.
    pub init_pid: u32,
    /// Start time of `init_pid` (USER_HZ ticks after boot, field 22 of `/proc/<pid>/stat`)
    /// as the resolver found it when it proved `init_pid` to be the namespace's init; `None`
    /// for host callers and namespaces without a found init.
    pub init_starttime: Option<u64>,
    /// Inode of the caller's pid namespace.
    pub pidns: u64,
    /// Whether the caller shares the daemon's pid namespace.
    pub is_host: bool,
    /// The cgroups of `cgroup_pid` (trailing `/init.scope` pruned).
    pub membership: Membership,
}

#[derive(Debug)]
struct CachedInit {
    pid: u32,
    starttime: u64,
    /// A pidfd on the init (real host only): while it does not poll readable (`pidfd_alive`),
    /// `pid` is still that very process — a pidfd never follows a recycled pid.
    pidfd: Option<OwnedFd>,
    /// When this entry was made (after the init was found and checked).
    inserted: Instant,
    /// Files rendered for this container, by path: content and when its render began.
    rendered: HashMap<Box<str>, (Instant, Arc<[u8]>)>,
}

impl CachedInit {
    /// Whether the cached init is still the process it was, checked with the pidfd when there
    /// is one, else by its start time and pid namespace.
    fn still_valid(&self, fs: &HostFs, pidns: u64) -> bool {
        match &self.pidfd {
            Some(fd) => pidfd_alive(fd),
            None => {
                starttime(fs, self.pid) == Some(self.starttime)
                    && ns_inode(fs, self.pid) == Some(pidns)
            }
        }
    }
}

/// `pidfd_open(2)` of `pid` with `flags`.
///
/// # Errors
/// The errno (`EINVAL`, `ESRCH`, `EMFILE`, `ENOSYS` before 5.3).
fn pidfd_open_with(pid: u32, flags: libc::c_int) -> std::result::Result<OwnedFd, i32> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| libc::EINVAL)?;
    // SAFETY: pidfd_open takes two integers and returns a new descriptor or -1; nothing is
    // borrowed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, flags) };
    match i32::try_from(fd).ok().filter(|fd| *fd >= 0) {
        // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
        Some(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
        None => Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)),
    }
}

/// A pidfd on the process `pid`; `None` where the kernel lacks pidfds (before 5.3).
fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    pidfd_open_with(pid, 0).ok()
}

/// `PIDFD_THREAD` (Linux 6.9): a pidfd on one thread rather than on a thread group.
const PIDFD_THREAD: libc::c_int = libc::O_EXCL;

/// A pidfd on the thread `tid`: with `PIDFD_THREAD` where the kernel has it, else a plain
/// pidfd, which the kernel gives only for a thread-group leader (before 6.9 other threads get
/// `EINVAL`). A thread-group pidfd stays valid while the group lives, and a leader's id is not
/// released before its whole group is gone, so either kind proves that `tid` still names the
/// thread it named when the pidfd was opened.
///
/// # Errors
/// The errno of the last attempt (`EINVAL`, `ESRCH`, `EMFILE`, `ENOSYS` before 5.3).
pub fn pidfd_open_thread(tid: u32) -> std::result::Result<OwnedFd, i32> {
    match pidfd_open_with(tid, PIDFD_THREAD) {
        Err(libc::EINVAL) => pidfd_open_with(tid, 0),
        other => other,
    }
}

/// The soft limit on this process's open descriptors (`RLIMIT_NOFILE`; 1024 when unknown).
fn fd_limit() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the limit into `r`, a valid, exclusively borrowed struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0 {
        r.rlim_cur
    } else {
        1024
    }
}

/// Whether the thread (or, for a thread-group pidfd, the process) behind `fd` still exists:
/// `poll(2)` with a zero timeout, which reports a pidfd readable once its task has exited
/// (Linux 5.3, pidfd_open(2)). No event means the task, and with it its id, is still there;
/// an exited or reaped task, or an error, counts as gone, which costs only a fresh lookup.
/// One system call, and the cheapest of the checks a pidfd offers (no permission check, no
/// signal path).
pub fn pidfd_alive(fd: &OwnedFd) -> bool {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `p` is one valid, exclusively borrowed pollfd; a zero timeout never blocks.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n == 0
}

/// Resolves callers to containers, with a per-pid-namespace cache of inits.
#[derive(Debug, Default)]
pub struct Resolver {
    own_pidns: Option<u64>,
    /// The caller table and the per-namespace entries, under one lock: a request served from
    /// the render cache takes it once, for reading, so that requests on several event-loop
    /// threads are served at once; only new callers and new renders take it for writing.
    table: RwLock<Table>,
    /// [`MAX_CALLERS`] within the descriptor limit.
    max_callers: usize,
    /// [`MAX_CACHE`] within the descriptor limit.
    max_inits: usize,
    /// Which cached pidfds' tasks have exited.
    exits: Exits,
}

/// Tells which cached pidfds' tasks have exited without polling each of them: every cached
/// pidfd is registered in one epoll set for `EPOLLIN` (a pidfd turns readable when its task
/// exits, pidfd_open(2)), so one `epoll_wait` with a zero timeout returns exactly the dead
/// ones. A pidfd pins its task's `struct pid` and with it the task's pid namespace, which
/// counts against `user.max_pid_namespaces` until freed: entries of exited tasks are dropped
/// on every cache miss and on every [`Resolver::housekeep`], so a container's namespace is
/// freed soon after its last process exits, whether or not anything reads again. Without
/// epoll (fixture trees, or when it cannot be created) the periodic sweeps remain.
#[derive(Debug, Default)]
struct Exits {
    epoll: Option<Epoll>,
}

/// Marks an [`Exits`] key as a caller's thread id; other keys are pid namespace inodes
/// (32-bit numbers).
const CALLER_KEY: u64 = 1 << 63;

/// Most exits taken from the epoll set per [`Exits::exited`] call (the rest wait for the next).
const EXITS_PER_CALL: usize = 256;

impl Exits {
    fn new() -> Exits {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)
            .map_err(|e| tracing::warn!("epoll_create1: {e}; exited containers are dropped late"))
            .ok();
        Exits { epoll }
    }

    /// Watches `fd` under `key`. A descriptor that is closed leaves the set by itself.
    fn watch(&self, fd: &OwnedFd, key: u64) {
        if let Some(epoll) = &self.epoll {
            if let Err(e) = epoll.add(fd, EpollEvent::new(EpollFlags::EPOLLIN, key)) {
                tracing::debug!("epoll_ctl: {e}; an exit is noticed by the periodic sweep");
            }
        }
    }

    /// Keys of watched descriptors whose task has exited.
    fn exited(&self) -> Vec<u64> {
        let Some(epoll) = &self.epoll else {
            return Vec::new();
        };
        let mut events = [EpollEvent::empty(); EXITS_PER_CALL];
        match epoll.wait(&mut events, EpollTimeout::ZERO) {
            Ok(n) => events[..n].iter().map(EpollEvent::data).collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// What `take` made of a kept render, or `take` given back with the caller's pid namespace
/// inode (`None` when the caller is gone) when nothing is kept.
pub type Taken<R, T> = std::result::Result<(R, u64), (Option<u64>, T)>;

/// The view (see `Lxcfs::view`) of a reader in a container: its pid namespace's inode (a
/// 32-bit number, `proc_alloc_inum`) in the low half and the host pid of the namespace's init
/// (0 when none was found) above it. A namespace's inode number can be handed to a new
/// namespace once the old one is gone; the init's pid makes the pair unique unless both were
/// reused.
pub fn container_view(pidns: u64, init_pid: u32) -> u64 {
    (u64::from(init_pid) << 32) | (pidns & 0xffff_ffff)
}

/// What [`Resolver::table`] guards.
#[derive(Debug, Default)]
struct Table {
    callers: Callers,
    inits: InitCache,
}

/// Callers lately seen on the real host, by thread id: the thread's pid namespace inode and
/// a pidfd on that very thread. A thread's pid namespace never changes (setns(2) changes only
/// its children's), and while the pidfd's thread exists the id names it and no other, so a
/// live pidfd proves the namespace in one system call.
#[derive(Debug, Default)]
struct Callers {
    by_tid: HashMap<u32, CachedCaller>,
    /// When entries of exited threads were last dropped.
    swept: Option<Instant>,
}

#[derive(Debug)]
struct CachedCaller {
    pidfd: OwnedFd,
    pidns: u64,
}

/// Most callers kept (each holds one descriptor), and at most an eighth of the descriptor
/// limit. When full, exited threads are dropped, and if at least three quarters remain the
/// table is emptied and rebuilt on demand.
pub const MAX_CALLERS: usize = 512;

/// How often, at most, a new caller's insertion drops the entries of exited threads (their
/// pidfds keep the thread's `struct pid`, and with it its pid namespace, allocated).
const SWEEP_CALLERS_EVERY: Duration = Duration::from_secs(10);

/// The per-namespace entries and when expired renders were last dropped.
#[derive(Debug, Default)]
struct InitCache {
    by_ns: HashMap<u64, CachedInit>,
    swept: Option<Instant>,
    reaped: Option<Instant>,
}

/// How often [`Resolver::keep_rendered`] drops expired renders of every container, so that
/// containers nobody reads any more do not keep theirs.
const SWEEP_EVERY: Duration = Duration::from_millis(100);

/// How often [`Resolver::keep_rendered`] drops the entries of containers whose init is gone.
/// An entry's pidfd keeps the init's `struct pid`, and with it the pid namespace, allocated
/// (which is also why a kept namespace's inode cannot be reused while its renders are kept).
const REAP_EVERY: Duration = Duration::from_secs(10);

/// Upper bound on the ancestor walk (pid namespaces nest at most 32 deep; process trees can be
/// deeper, after which the scan takes over).
const MAX_WALK: usize = 256;

/// Cache entries (one pidfd each) beyond this many, or beyond a quarter of the descriptor
/// limit, are dropped wholesale (then rebuilt on demand).
const MAX_CACHE: usize = 4096;

impl Resolver {
    /// A resolver for a daemon whose own pid namespace is read from `/proc/self/ns/pid`.
    pub fn new(fs: &HostFs) -> Resolver {
        let own_pidns = ns_inode(fs, "self");
        if own_pidns.is_none() {
            tracing::warn!(
                "cannot read /proc/self/ns/pid; every caller is treated as a host caller"
            );
        }
        let limit = usize::try_from(fd_limit()).unwrap_or(usize::MAX);
        Resolver {
            own_pidns,
            table: RwLock::new(Table::default()),
            max_callers: MAX_CALLERS.min(limit / 8).max(1),
            max_inits: MAX_CACHE.min(limit / 4).max(1),
            exits: if fs.is_real_root() {
                Exits::new()
            } else {
                Exits::default()
            },
        }
    }

    /// Drops the cached callers and inits whose task has exited (see `Exits`), releasing
    /// their pidfds and so their pid namespaces. Called by the host's periodic tick.
    pub fn housekeep(&self) {
        if let Ok(mut table) = self.table.write() {
            self.reap(&mut table);
        }
    }

    /// [`Resolver::housekeep`] on a table already locked.
    fn reap(&self, table: &mut Table) {
        for key in self.exits.exited() {
            if key & CALLER_KEY != 0 {
                let tid = key as u32;
                if table
                    .callers
                    .by_tid
                    .get(&tid)
                    .is_some_and(|c| !pidfd_alive(&c.pidfd))
                {
                    table.callers.by_tid.remove(&tid);
                }
            } else if table
                .inits
                .by_ns
                .get(&key)
                .and_then(|c| c.pidfd.as_ref())
                .is_some_and(|fd| !pidfd_alive(fd))
            {
                table.inits.by_ns.remove(&key);
            }
        }
    }

    /// Inode of the pid namespace of thread `tid` (`/proc/<tid>/ns/pid`); `None` when the
    /// thread is gone.
    ///
    /// On the real host the answer is kept per thread id together with a pidfd on the thread
    /// (see `Callers`): a caller seen before costs one `poll` of that pidfd (`pidfd_alive`) instead
    /// of a path walk through `/proc`. The pidfd is opened before the namespace link is read,
    /// so an entry whose pidfd is alive was read from that very thread; a dead pidfd (the
    /// thread exited, its id may have passed to another process) is replaced by a fresh
    /// lookup. Without pidfds (fixture trees, kernels before 5.3, threads other than a
    /// leader before 6.9) every call reads the link.
    pub fn pidns_of(&self, fs: &HostFs, tid: u32) -> Option<u64> {
        if !fs.is_real_root() {
            return ns_inode(fs, tid);
        }
        if let Some(pidns) = self.table.read().ok()?.callers.live(tid) {
            return Some(pidns);
        }
        self.pidns_uncached(fs, tid)
    }

    /// [`Resolver::pidns_of`] for a caller the table does not hold (or holds dead) on the
    /// real host: a pidfd on the thread, then its namespace link, kept together.
    fn pidns_uncached(&self, fs: &HostFs, tid: u32) -> Option<u64> {
        let pidfd = pidfd_open_thread(tid);
        let pidns = ns_inode(fs, tid)?;
        let Ok(mut table) = self.table.write() else {
            return Some(pidns);
        };
        self.reap(&mut table);
        let callers = &mut table.callers;
        match pidfd {
            Ok(pidfd) => {
                self.exits.watch(&pidfd, CALLER_KEY | u64::from(tid));
                callers.insert(tid, CachedCaller { pidfd, pidns }, self.max_callers);
            }
            // Out of descriptors: give back the ones this table holds, so that the daemon can
            // go on opening the files it serves from.
            Err(libc::EMFILE | libc::ENFILE) => {
                tracing::warn!(
                    "out of file descriptors; dropping {} cached callers",
                    callers.by_tid.len()
                );
                callers.by_tid.clear();
            }
            Err(_) => {}
        }
        Some(pidns)
    }

    /// Number of cached callers (thread ids with a pidfd).
    pub fn cached_callers(&self) -> usize {
        self.table
            .read()
            .map(|t| t.callers.by_tid.len())
            .unwrap_or(0)
    }

    /// The content of `path` rendered for the container of pid namespace `pidns` less than
    /// `ttl` ago, if it was kept for that very namespace.
    ///
    /// On the real host the entry holds a pidfd on the namespace's init; a pidfd holds the
    /// init's `struct pid`, and every `struct pid` holds a reference on its pid namespace, so
    /// the namespace stays allocated and its inode number cannot be handed to another
    /// namespace while the entry exists: a caller whose namespace has this inode is in this
    /// very namespace, and no system call is needed. (If the init has died, the namespace's
    /// remaining processes are being killed; serving them their own container's content is
    /// harmless, and the next render resolves anew.) Without a pidfd (fixture trees,
    /// kernels before 5.3) the init's start time and namespace are checked instead.
    pub fn rendered(
        &self,
        fs: &HostFs,
        pidns: u64,
        path: &str,
        ttl: Duration,
    ) -> Option<Arc<[u8]>> {
        let table = self.table.read().ok()?;
        table
            .inits
            .rendered(fs, pidns, path, ttl)
            .map(|(bytes, _)| bytes.clone())
    }

    /// [`container_view`] of the caller thread `tid`, whose pid namespace is `pidns`, with the
    /// namespace's init found (and checked) as for a render.
    pub fn container_view_of(&self, fs: &HostFs, tid: u32, pidns: u64) -> u64 {
        let init = self.init_of(fs, tid, pidns).map_or(0, |(pid, _)| pid);
        container_view(pidns, init)
    }

    /// [`Resolver::pidns_of`] the caller thread `tid`, then [`Resolver::rendered`] for that
    /// namespace, with `take` applied to the kept content (returned with the caller's
    /// [`container_view`]): on the real host a caller seen before costs one lock, one `poll` and two hash
    /// lookups, and `take` runs under that lock (so it should only copy the bytes out).
    ///
    /// # Errors
    /// Gives `take` back when nothing is kept: with the caller's pid namespace inode, or
    /// `None` when the caller thread is gone.
    pub fn with_rendered<T, R>(
        &self,
        fs: &HostFs,
        tid: u32,
        path: &str,
        ttl: Duration,
        take: T,
    ) -> Taken<R, T>
    where
        T: FnOnce(&Arc<[u8]>) -> R,
    {
        let pidns = if fs.is_real_root() {
            let Ok(table) = self.table.read() else {
                return Err((None, take));
            };
            // A caller seen before: everything under one read lock.
            if let Some(pidns) = table.callers.live(tid) {
                return table.take_rendered(fs, pidns, path, ttl, take);
            }
            drop(table);
            self.pidns_uncached(fs, tid)
        } else {
            ns_inode(fs, tid)
        };
        let Some(pidns) = pidns else {
            return Err((None, take));
        };
        match self.table.read() {
            Ok(table) => table.take_rendered(fs, pidns, path, ttl, take),
            Err(_) => Err((Some(pidns), take)),
        }
    }

    /// Keeps `bytes`, the content of `path` for a reader in pid namespace `pidns` whose
    /// render began at `started`, for [`Resolver::rendered`]. Kept only when the namespace's
    /// init was already resolved and cached before the render began: a render that had to
    /// find the init itself (a new container, or a namespace inode reused after the old
    /// container died) is not kept, so a render is never attached to another container's
    /// entry. Host readers and namespaces without an init have no entry and keep nothing.
    /// Drops expired renders of every container at most every 100 ms, and the entries of
    /// dead inits at most every 10 s.
    pub fn keep_rendered(
        &self,
        fs: &HostFs,
        pidns: u64,
        path: &str,
        started: Instant,
        bytes: Arc<[u8]>,
        ttl: Duration,
    ) {
        let Ok(mut table) = self.table.write() else {
            return;
        };
        let cache = &mut table.inits;
        let now = Instant::now();
        if cache
            .swept
            .is_none_or(|t| now.duration_since(t) >= SWEEP_EVERY)
        {
            for c in cache.by_ns.values_mut() {
                c.rendered
                    .retain(|_, (at, _)| now.duration_since(*at) < ttl);
            }
            cache.swept = Some(now);
        }
        if cache
            .reaped
            .is_none_or(|t| now.duration_since(t) >= REAP_EVERY)
        {
            cache.by_ns.retain(|ns, c| c.still_valid(fs, *ns));
            cache.reaped = Some(now);
        }
        if let Some(c) = cache.by_ns.get_mut(&pidns) {
            // A render that began before the kept one (two made at once) does not replace it.
            let newer = c.rendered.get(path).is_none_or(|(at, _)| *at <= started);
            if c.inserted <= started && newer {
                c.rendered.insert(path.into(), (started, bytes));
            }
        }
    }

    /// Whether a reader in pid namespace `pidns` is served as a host process, for its own
    /// cgroup: the daemon's own namespace (every namespace when the daemon's is unknown).
    pub fn is_host_ns(&self, pidns: u64) -> bool {
        self.own_pidns.is_none_or(|own| own == pidns)
    }

    /// Resolves the caller thread `tid`.
    ///
    /// # Errors
    /// [`Error::ProcessGone`] when the caller (or the process whose cgroups are used)
    /// vanished.
    pub fn resolve(&self, fs: &HostFs, tid: u32) -> Result<Container> {
        let pidns = self.pidns_of(fs, tid).ok_or(Error::ProcessGone(tid))?;
        let is_host = self.is_host_ns(pidns);
        let (cgroup_pid, init_pid, init_starttime) = if is_host {
            (tid, 1, None)
        } else {
            match self.init_of(fs, tid, pidns) {
                Some((init, start)) => (init, init, Some(start)),
                None => {
                    tracing::debug!("no init found for pid namespace {pidns} of {tid}");
                    (tid, tid, None)
                }
            }
        };
        let text = fs
            .read(&format!("/proc/{cgroup_pid}/cgroup"))
            .map_err(|_| Error::ProcessGone(cgroup_pid))?;
        Ok(Container {
            cgroup_pid,
            init_pid,
            init_starttime,
            pidns,
            is_host,
            membership: Membership::parse(&text),
        })
    }

    /// Number of cached pid namespaces.
    pub fn cached(&self) -> usize {
        self.table.read().map(|t| t.inits.by_ns.len()).unwrap_or(0)
    }

    /// The init of pid namespace `pidns` (found from `tid`) and its start time.
    fn init_of(&self, fs: &HostFs, tid: u32, pidns: u64) -> Option<(u32, u64)> {
        if let Some(found) = self
            .table
            .read()
            .ok()?
            .inits
            .by_ns
            .get(&pidns)
            .filter(|c| c.still_valid(fs, pidns))
            .map(|c| (c.pid, c.starttime))
        {
            return Some(found);
        }
        let init = walk_to_init(fs, tid, pidns).or_else(|| scan_for_init(fs, pidns))?;
        // Open the pidfd first, then confirm that the pid still names the init found above:
        // from then on the pidfd alone proves it.
        let pidfd = if fs.is_real_root() {
            pidfd_open(init)
        } else {
            None
        };
        let st = starttime(fs, init)?;
        if ns_inode(fs, init) != Some(pidns) {
            return None;
        }
        if let Some(fd) = &pidfd {
            self.exits.watch(fd, pidns);
        }
        if let Ok(mut table) = self.table.write() {
            self.reap(&mut table);
            let cache = &mut table.inits;
            if cache.by_ns.len() >= self.max_inits {
                cache.by_ns.clear();
            }
            cache.by_ns.insert(
                pidns,
                CachedInit {
                    pid: init,
                    starttime: st,
                    pidfd,
                    inserted: Instant::now(),
                    rendered: HashMap::default(),
                },
            );
        }
        Some((init, st))
    }
}

impl Table {
    /// `take` applied to the content of `path` kept for `pidns` ([`InitCache::rendered`]),
    /// or `take` given back with `pidns` when none is.
    fn take_rendered<T, R>(
        &self,
        fs: &HostFs,
        pidns: u64,
        path: &str,
        ttl: Duration,
        take: T,
    ) -> Taken<R, T>
    where
        T: FnOnce(&Arc<[u8]>) -> R,
    {
        match self.inits.rendered(fs, pidns, path, ttl) {
            Some((bytes, init)) => Ok((take(bytes), container_view(pidns, init))),
            None => Err((Some(pidns), take)),
        }
    }
}

impl InitCache {
    /// The content of `path` kept for pid namespace `pidns` less than `ttl` ago (see
    /// [`Resolver::rendered`]).
    fn rendered(
        &self,
        fs: &HostFs,
        pidns: u64,
        path: &str,
        ttl: Duration,
    ) -> Option<(&Arc<[u8]>, u32)> {
        let c = self.by_ns.get(&pidns)?;
        let (at, bytes) = c.rendered.get(path)?;
        // A clock read and a comparison (`elapsed()` would add a checked subtraction).
        let expired = at.checked_add(ttl).is_none_or(|end| Instant::now() >= end);
        if expired || (c.pidfd.is_none() && !c.still_valid(fs, pidns)) {
            return None;
        }
        Some((bytes, c.pid))
    }
}

impl Callers {
    /// The pid namespace of `tid` if it is cached and its pidfd shows the very thread is
    /// still there (one `poll`).
    fn live(&self, tid: u32) -> Option<u64> {
        self.by_tid
            .get(&tid)
            .filter(|c| pidfd_alive(&c.pidfd))
            .map(|c| c.pidns)
    }

    /// Keeps `c` for `tid`, replacing a dead entry, within `max` entries.
    fn insert(&mut self, tid: u32, c: CachedCaller, max: usize) {
        let now = Instant::now();
        let sweep_due = self
            .swept
            .is_none_or(|t| now.duration_since(t) >= SWEEP_CALLERS_EVERY);
        if sweep_due || self.by_tid.len() >= max {
            self.by_tid.retain(|_, c| pidfd_alive(&c.pidfd));
            self.swept = Some(now);
            if self.by_tid.len() >= max * 3 / 4 {
                self.by_tid.clear();
            }
        }
        self.by_tid.insert(tid, c);
    }
}

/// Inode of the pid namespace of `who` (a thread id, or `self`), read from
/// `/proc/<who>/ns/pid` without allocating.
pub(crate) fn ns_inode(fs: &HostFs, who: impl std::fmt::Display) -> Option<u64> {
    use std::io::Write;
    let mut path = [0u8; 40];
    let len = {
        let mut w = &mut path[..];
        write!(w, "/proc/{who}/ns/pid").ok()?;
        40 - w.len()
    };
    let abs = std::str::from_utf8(&path[..len]).ok()?;
    fs.read_link_with(abs, pid::parse_ns_link).ok().flatten()
}

/// `/proc/<p>/status` parsed; `None` when the task is gone or the file is malformed.
pub(crate) fn status(fs: &HostFs, p: u32) -> Option<pid::Status> {
    pid::parse_status(&fs.read(&format!("/proc/{p}/status")).ok()?)
}

/// Start time of `p` in clock ticks after boot.
pub fn starttime(fs: &HostFs, p: u32) -> Option<u64> {
    Some(pid::parse_stat(&fs.read(&format!("/proc/{p}/stat")).ok()?)?.starttime)
}

fn is_init_of(st: &pid::Status, ns_of_p: Option<u64>, pidns: u64) -> bool {
    ns_of_p == Some(pidns) && st.nspid.last() == Some(&1)
}

fn walk_to_init(fs: &HostFs, tid: u32, pidns: u64) -> Option<u32> {
    let mut p = status(fs, tid)?.tgid;
    for _ in 0..MAX_WALK {
        let st = status(fs, p)?;
        let ns = ns_inode(fs, p);
        if ns != Some(pidns) {
            return None;
        }
        if is_init_of(&st, ns, pidns) {
            return Some(p);
        }
        if st.ppid == 0 {
            return None;
        }
        p = st.ppid;
    }
    None
}

fn scan_for_init(fs: &HostFs, pidns: u64) -> Option<u32> {
    let mut pids = fs.numeric_entries("/proc").ok()?;
    pids.sort_unstable();
    pids.into_iter().find(|&p| {
        let ns = ns_inode(fs, p);
        ns == Some(pidns) && status(fs, p).is_some_and(|st| is_init_of(&st, ns, pidns))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pidfd on this test process (alive for the whole test).
    fn own_pidfd() -> OwnedFd {
        pidfd_open_thread(std::process::id()).expect("pidfd_open on this process")
    }

    #[test]
    fn the_caller_table_stays_bounded_while_every_caller_lives() {
        let mut callers = Callers::default();
        for tid in 0..(3 * MAX_CALLERS as u32) {
            callers.insert(
                tid,
                CachedCaller {
                    pidfd: own_pidfd(),
                    pidns: 7,
                },
                MAX_CALLERS,
            );
            assert!(
                callers.by_tid.len() <= MAX_CALLERS,
                "{}",
                callers.by_tid.len()
            );
        }
        assert!(callers.by_tid.contains_key(&(3 * MAX_CALLERS as u32 - 1)));
    }

    #[test]
    fn a_live_caller_is_answered_from_its_entry_and_an_exited_one_is_not() {
        let fs = HostFs::new("/");
        let r = Resolver::new(&fs);
        let own = ns_inode(&fs, std::process::id()).unwrap();
        assert_eq!(r.pidns_of(&fs, std::process::id()), Some(own));
        assert_eq!(r.cached_callers(), 1);
        let mut child = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .unwrap();
        let pid = child.id();
        assert_eq!(r.pidns_of(&fs, pid), Some(own));
        assert_eq!(r.cached_callers(), 2);
        child.kill().unwrap();
        child.wait().unwrap();
        // Reaped: the entry's pidfd is dead, and /proc/<pid> is gone.
        assert_eq!(r.pidns_of(&fs, pid), None);
    }
}
