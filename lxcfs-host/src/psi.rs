//! PSI triggers (`--enable-psi-poll`): the host side.
//!
//! The library validates a trigger written to `proc/pressure/<res>` and names the container
//! cgroup's `<res>.pressure` file; the host opens that file, writes the trigger
//! (Documentation/accounting/psi.rst "Userspace monitors"), and owns the descriptor, so armed
//! triggers and pending poll handles survive library reloads. One waiter thread per trigger
//! blocks in poll(2) for `POLLPRI`, records the event and wakes the kernel's pending FUSE poll
//! with `FUSE_NOTIFY_POLL`; dropping the trigger (release) cancels the waiter through a pipe.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use fuser::{PollEvents, PollNotifier};
use nix::fcntl::{open, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;

/// Most triggers armed at once in the whole daemon. Each one holds a kernel PSI trigger, a
/// pipe and a waiter thread, and the kernel tears triggers down slowly (an RCU grace period
/// each), so an unbounded number would let one reader exhaust the daemon's descriptors and
/// threads. Writes beyond the cap fail with `EMFILE`. The cap is also at most a sixteenth of
/// the daemon's descriptor limit ([`trigger_cap`]): three descriptors each, so triggers never
/// take more than 3/16 of it and renders always have descriptors left.
pub const MAX_TRIGGERS: usize = 1024;

/// [`MAX_TRIGGERS`] within the descriptor limit, read once (after the daemon raised its soft
/// limit to the hard one).
pub fn trigger_cap() -> usize {
    static CAP: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CAP.get_or_init(|| {
        use nix::sys::resource::{getrlimit, Resource};
        let limit = getrlimit(Resource::RLIMIT_NOFILE).map_or(1024, |(soft, _)| soft);
        MAX_TRIGGERS.min(usize::try_from(limit / 16).unwrap_or(usize::MAX))
    })
}

static ARMED: AtomicUsize = AtomicUsize::new(0);

/// Most triggers armed at once on the pressure files of one cgroup, so that one container
/// cannot take the daemon's whole cap from the others (a PSI monitor such as systemd-oomd or
/// lmkd uses a handful). Writes beyond it fail with `EMFILE`.
pub const MAX_TRIGGERS_PER_CGROUP: usize = 64;

/// Armed triggers by cgroup directory (the target file's parent).
static PER_CGROUP: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());

/// Number of triggers armed right now.
pub fn armed() -> usize {
    ARMED.load(Ordering::Relaxed)
}

/// Why a trigger could not be armed.
#[derive(Debug, thiserror::Error)]
pub enum ArmError {
    /// The cgroup has [`MAX_TRIGGERS_PER_CGROUP`] triggers armed.
    #[error(
        "{cgroup} has {limit} PSI triggers armed, the most one cgroup may have (a closed \
         trigger gives its slot back once the kernel has torn it down, some milliseconds to \
         seconds later)"
    )]
    CgroupFull {
        /// The cgroup directory.
        cgroup: String,
        /// [`MAX_TRIGGERS_PER_CGROUP`].
        limit: usize,
    },
    /// The daemon has [`trigger_cap`] triggers armed.
    #[error("the daemon has {limit} PSI triggers armed, the most it allows")]
    DaemonFull {
        /// [`trigger_cap`].
        limit: usize,
    },
    /// Opening the pressure file, writing the trigger or starting its waiter failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl ArmError {
    /// The errno the writer gets: `EMFILE` for a full cap, else the system call's.
    pub fn errno(&self) -> i32 {
        match self {
            ArmError::CgroupFull { .. } | ArmError::DaemonFull { .. } => libc::EMFILE,
            ArmError::Io(e) => e.raw_os_error().unwrap_or(libc::EIO),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    fired: AtomicBool,
    pending: Mutex<Option<PollNotifier>>,
}

/// An armed trigger.
#[derive(Debug)]
pub struct Trigger {
    state: Arc<State>,
    cancel: Option<OwnedFd>,
    waiter: Option<JoinHandle<()>>,
}

impl Trigger {
    /// Opens `target` (a cgroup `*.pressure` file), writes `text` and starts the waiter.
    ///
    /// # Errors
    /// [`ArmError::CgroupFull`] or [`ArmError::DaemonFull`] when a cap is reached; the errno of
    /// open/write otherwise (e.g. `EINVAL` for a trigger the kernel rejects, `ENOENT` for a
    /// vanished cgroup).
    pub fn arm(target: &str, text: &str) -> Result<Trigger, ArmError> {
        let armed = Armed::take(target)?;
        let fd = open(
            target,
            OFlag::O_RDWR | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(std::io::Error::from)?;
        let mut file = std::fs::File::from(fd);
        let mut buf = text.as_bytes().to_vec();
        buf.push(0);
        file.write_all(&buf)?;
        let fd = OwnedFd::from(file);
        let (cancel_r, cancel_w) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(std::io::Error::from)?;
        let state = Arc::new(State::default());
        let st = state.clone();
        let waiter = std::thread::Builder::new()
            .name("lxcfs-psi".into())
            .spawn(move || {
                wait_loop(&fd, &cancel_r, &st);
                // Closing the trigger descriptor can take a while in the kernel: it happens
                // here, on the waiter, never on a FUSE thread; the slot is freed after it.
                drop(fd);
                drop(armed);
            })?;
        Ok(Trigger {
            state,
            cancel: Some(cancel_w),
            waiter: Some(waiter),
        })
    }

    /// Answers a FUSE poll: `POLLPRI` when an event fired since the last poll; otherwise no
    /// events, and `notify` (when the kernel asked to be notified) is kept for the next event.
    pub fn poll(&self, notify: Option<PollNotifier>) -> PollEvents {
        if self.state.fired.swap(false, Ordering::AcqRel) {
            return PollEvents::POLLPRI;
        }
        if let Some(n) = notify {
            *self.state.pending.lock().unwrap_or_else(|e| e.into_inner()) = Some(n);
            // An event may have fired between the check above and storing the handle.
            if self.state.fired.swap(false, Ordering::AcqRel) {
                self.state
                    .pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take();
                return PollEvents::POLLPRI;
            }
        }
        PollEvents::empty()
    }
}

fn wait_loop(fd: &OwnedFd, cancel: &OwnedFd, st: &State) {
    loop {
        let mut fds = [
            PollFd::new(fd.as_fd(), PollFlags::POLLPRI),
            PollFd::new(cancel.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                tracing::warn!("PSI trigger poll failed: {e}");
                return;
            }
        }
        if fds[1].revents().is_some_and(|r| !r.is_empty()) {
            return;
        }
        let r = fds[0].revents().unwrap_or(PollFlags::empty());
        if r.intersects(PollFlags::POLLPRI | PollFlags::POLLERR) {
            st.fired.store(true, Ordering::Release);
            if let Some(n) = st.pending.lock().unwrap_or_else(|e| e.into_inner()).take() {
                let _ = n.notify();
            }
        }
        if r.intersects(PollFlags::POLLERR | PollFlags::POLLHUP | PollFlags::POLLNVAL) {
            // The cgroup went away: report once, then stop.
            tracing::debug!("PSI trigger fd {} closed by the kernel", fd.as_raw_fd());
            return;
        }
    }
}

/// One slot of [`trigger_cap`] and of its cgroup's [`MAX_TRIGGERS_PER_CGROUP`], released
/// when dropped.
#[derive(Debug)]
struct Armed {
    cgroup: String,
}

impl Armed {
    /// Takes a slot for a trigger on `target`.
    ///
    /// # Errors
    /// [`ArmError::CgroupFull`] or [`ArmError::DaemonFull`] when a cap is reached.
    fn take(target: &str) -> Result<Armed, ArmError> {
        let cgroup = std::path::Path::new(target)
            .parent()
            .map_or_else(String::new, |p| p.to_string_lossy().into_owned());
        let mut per = PER_CGROUP.lock().unwrap_or_else(|e| e.into_inner());
        let n = per.entry(cgroup.clone()).or_insert(0);
        if *n >= MAX_TRIGGERS_PER_CGROUP {
            return Err(ArmError::CgroupFull {
                cgroup,
                limit: MAX_TRIGGERS_PER_CGROUP,
            });
        }
        if ARMED.fetch_add(1, Ordering::AcqRel) >= trigger_cap() {
            ARMED.fetch_sub(1, Ordering::AcqRel);
            if *n == 0 {
                per.remove(&cgroup);
            }
            return Err(ArmError::DaemonFull {
                limit: trigger_cap(),
            });
        }
        *n += 1;
        Ok(Armed { cgroup })
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        ARMED.fetch_sub(1, Ordering::AcqRel);
        let mut per = PER_CGROUP.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = per.get_mut(&self.cgroup) {
            *n -= 1;
            if *n == 0 {
                per.remove(&self.cgroup);
            }
        }
    }
}

impl Drop for Trigger {
    /// Cancels the waiter without waiting for it (release runs on a FUSE thread, and the
    /// kernel's trigger teardown may be slow); the waiter closes the descriptor and exits.
    fn drop(&mut self) {
        if let Some(w) = self.cancel.take() {
            let _ = nix::unistd::write(&w, b"x");
        }
        drop(self.waiter.take());
    }
}
