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

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;

use lxcfs_formats::pid;

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
    /// A pidfd on the init (real host only): while `pidfd_send_signal(pidfd, 0)` succeeds,
    /// `pid` is still that very process — a pidfd never follows a recycled pid.
    pidfd: Option<OwnedFd>,
}

impl CachedInit {
    /// Whether the cached init is still the process it was, checked with the pidfd when there
    /// is one, else by its start time and pid namespace.
    fn still_valid(&self, fs: &HostFs, pidns: u64) -> bool {
        match &self.pidfd {
            Some(fd) => pidfd_alive(fd),
            None => {
                starttime(fs, self.pid) == Some(self.starttime)
                    && ns_inode(fs, &self.pid.to_string()) == Some(pidns)
            }
        }
    }
}

/// `pidfd_open(2)`; `None` where the kernel lacks it (before 5.3).
fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).ok()?;
    // SAFETY: pidfd_open takes two integers and returns a new descriptor or -1; nothing is
    // borrowed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether the process behind `fd` still exists (`pidfd_send_signal` with signal 0).
fn pidfd_alive(fd: &OwnedFd) -> bool {
    // SAFETY: signal 0 only checks existence and permission; the info pointer may be null.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            0,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    r == 0
}

/// Resolves callers to containers, with a per-pid-namespace cache of inits.
#[derive(Debug, Default)]
pub struct Resolver {
    own_pidns: Option<u64>,
    cache: Mutex<HashMap<u64, CachedInit>>,
}

/// Upper bound on the ancestor walk (pid namespaces nest at most 32 deep; process trees can be
/// deeper, after which the scan takes over).
const MAX_WALK: usize = 256;

/// Cache entries beyond this many are dropped wholesale (then rebuilt on demand).
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
        Resolver {
            own_pidns,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Resolves the caller thread `tid`.
    ///
    /// # Errors
    /// [`Error::ProcessGone`] when the caller (or the process whose cgroups are used)
    /// vanished.
    pub fn resolve(&self, fs: &HostFs, tid: u32) -> Result<Container> {
        let tid_s = tid.to_string();
        let pidns = ns_inode(fs, &tid_s).ok_or(Error::ProcessGone(tid))?;
        let is_host = self.own_pidns.is_none_or(|own| own == pidns);
        let (cgroup_pid, init_pid) = if is_host {
            (tid, 1)
        } else {
            match self.init_of(fs, tid, pidns) {
                Some(init) => (init, init),
                None => {
                    tracing::debug!("no init found for pid namespace {pidns} of {tid}");
                    (tid, tid)
                }
            }
        };
        let text = fs
            .read(&format!("/proc/{cgroup_pid}/cgroup"))
            .map_err(|_| Error::ProcessGone(cgroup_pid))?;
        Ok(Container {
            cgroup_pid,
            init_pid,
            pidns,
            is_host,
            membership: Membership::parse(&text),
        })
    }

    /// Number of cached pid namespaces.
    pub fn cached(&self) -> usize {
        self.cache.lock().map(|c| c.len()).unwrap_or(0)
    }

    fn init_of(&self, fs: &HostFs, tid: u32, pidns: u64) -> Option<u32> {
        if let Some(pid) = self
            .cache
            .lock()
            .ok()?
            .get(&pidns)
            .filter(|c| c.still_valid(fs, pidns))
            .map(|c| c.pid)
        {
            return Some(pid);
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
        if ns_inode(fs, &init.to_string()) != Some(pidns) {
            return None;
        }
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= MAX_CACHE {
                cache.clear();
            }
            cache.insert(
                pidns,
                CachedInit {
                    pid: init,
                    starttime: st,
                    pidfd,
                },
            );
        }
        Some(init)
    }
}

/// Inode of `/proc/<who>/ns/pid`.
fn ns_inode(fs: &HostFs, who: &str) -> Option<u64> {
    pid::parse_ns_link(&fs.read_link(&format!("/proc/{who}/ns/pid")).ok()?)
}

fn status(fs: &HostFs, p: u32) -> Option<pid::Status> {
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
        let ns = ns_inode(fs, &p.to_string());
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
        let ns = ns_inode(fs, &p.to_string());
        ns == Some(pidns) && status(fs, p).is_some_and(|st| is_init_of(&st, ns, pidns))
    })
}
