//! The library's periodic tick: every 5 s it queues one `tick` of the library on the current
//! generation, which samples the per-container load averages (with `-l`) and drops cached
//! state of containers whose processes have exited (their pid namespaces are freed even when
//! nothing reads any more). The timer is the host's, so it survives reloads; a pass that
//! overruns is followed immediately by the next one (no catch-up storm, never a long sleep),
//! and at most one pass is queued at a time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::plugin::Plugin;

/// Tick period (the kernel's LOAD_FREQ, 5 s, the period the load averages are made for).
pub const PERIOD: Duration = Duration::from_secs(5);

/// The running timer; dropping it stops the thread.
#[derive(Debug)]
pub struct Ticker {
    stop: Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    /// Starts ticking `plugin`.
    pub fn start(plugin: Arc<Plugin>) -> Ticker {
        let stop = Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
        let st = stop.clone();
        let busy = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("lxcfs-tick".into())
            .spawn(move || {
                let mut next = Instant::now();
                loop {
                    if !busy.swap(true, Ordering::AcqRel) {
                        let b = busy.clone();
                        let queued = plugin.submit(Box::new(move |lib| {
                            // SAFETY: runs on a generation worker with its state.
                            unsafe { (lib.vtable().tick)(lib.state()) };
                            b.store(false, Ordering::Release);
                        }));
                        if queued.is_err() {
                            // No library loaded (a reload failed completely): try again next
                            // period instead of waiting forever for a pass that never ran.
                            busy.store(false, Ordering::Release);
                        }
                    }
                    next += PERIOD;
                    let now = Instant::now();
                    if next < now {
                        next = now;
                    }
                    let (lock, cv) = &*st;
                    let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
                    let (guard, _) = cv
                        .wait_timeout_while(
                            guard,
                            next.saturating_duration_since(Instant::now()),
                            |s| !*s,
                        )
                        .unwrap_or_else(|e| e.into_inner());
                    if *guard {
                        return;
                    }
                }
            })
            .ok();
        Ticker { stop, thread }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        let (lock, cv) = &*self.stop;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
