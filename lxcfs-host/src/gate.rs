//! The gate in front of the current library generation: every library call on an event-loop
//! thread enters it, and a reload closes it and waits until no call is inside before it stops
//! the generation.
//!
//! A reader–writer lock does the same, but entering it for reading writes the lock word, one
//! cache line that every event-loop thread writes at every call, so it moves between CPUs at
//! every request. Here a thread entering the gate writes only its own slot (a depth counter on
//! its own cache line) and reads the `closed` flag, which only a reload writes:
//!
//! * enter: `slot += 1` (SeqCst), then read `closed` (SeqCst); if closed, `slot -= 1` and the
//!   caller takes its slow path (the generation's lock, which the reload holds);
//! * close: `closed = true` (SeqCst), then wait until every slot reads 0 (SeqCst).
//!
//! In the single total order of SeqCst operations either the entering thread's read of
//! `closed` comes after the store of `true` (it backs off), or its slot increment comes before
//! the closer's read of that slot (the closer waits for it to leave). So once `close` returns,
//! no thread is inside or can get in, and the value may change. `open` publishes the new value
//! before clearing `closed` (release), and an entering thread reads `closed` before the value
//! (acquire), so it sees the new value.
//!
//! A thread already inside (a nested call) stays inside without looking at `closed`: the
//! closer is waiting for it anyway. Threads get a slot index on first use; the first
//! [`SLOTS`] threads of the process have one, later ones always take the slow path.

use std::cell::{Cell, UnsafeCell};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Threads with a slot of their own (event-loop threads are the first to call in).
pub const SLOTS: usize = 64;

/// A thread's "inside" depth, alone on its cache line.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Slot(AtomicUsize);

/// The next slot index to hand out.
static NEXT_INDEX: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's slot index (`usize::MAX` until assigned).
    static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's slot index, assigned on first use; `None` past [`SLOTS`] threads.
fn index() -> Option<usize> {
    let i = INDEX.with(|c| {
        if c.get() == usize::MAX {
            c.set(NEXT_INDEX.fetch_add(1, Ordering::Relaxed));
        }
        c.get()
    });
    (i < SLOTS).then_some(i)
}

/// A value (the current library handle) that threads use inside the gate and that changes
/// only while the gate is closed.
pub struct Gate<T: Copy> {
    slots: Box<[Slot]>,
    closed: AtomicBool,
    /// Serializes closers: held from [`Gate::close`] to [`Closed::open`].
    closer: Mutex<()>,
    value: UnsafeCell<Option<T>>,
}

// SAFETY: `value` is written only by a closer holding `closer` while the gate is closed and
// no thread is inside (see the module comment), and read only inside the gate; `T` itself is
// sent between and shared by threads.
unsafe impl<T: Copy + Send + Sync> Sync for Gate<T> {}

impl<T: Copy> std::fmt::Debug for Gate<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<T: Copy> Default for Gate<T> {
    fn default() -> Self {
        Gate::new()
    }
}

/// A closed gate; [`Closed::open`] opens it with a value, dropping it leaves it closed.
#[derive(Debug)]
pub struct Closed<'a, T: Copy> {
    gate: &'a Gate<T>,
    _closer: MutexGuard<'a, ()>,
}

impl<T: Copy> Gate<T> {
    /// A closed gate without a value.
    pub fn new() -> Gate<T> {
        Gate {
            slots: (0..SLOTS).map(|_| Slot::default()).collect(),
            closed: AtomicBool::new(true),
            closer: Mutex::new(()),
            value: UnsafeCell::new(None),
        }
    }

    /// Runs `f` with the value inside the gate; gives `f` back when the gate is closed (or
    /// this thread has no slot), for the caller's slow path.
    ///
    /// # Errors
    /// `Err(f)` when the gate is closed or the thread has no slot.
    pub fn enter<R, F: FnOnce(Option<T>) -> R>(&self, f: F) -> Result<R, F> {
        let Some(slot) = index().map(|i| &self.slots[i].0) else {
            return Err(f);
        };
        let depth = slot.load(Ordering::Relaxed);
        slot.store(depth + 1, Ordering::SeqCst);
        if depth == 0 && self.closed.load(Ordering::SeqCst) {
            slot.store(depth, Ordering::Release);
            return Err(f);
        }
        /// Leaves the gate when `f` returns or unwinds.
        struct Leave<'a>(&'a AtomicUsize, usize);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.store(self.1, Ordering::Release);
            }
        }
        let _leave = Leave(slot, depth);
        // SAFETY: this thread is inside the open gate (or nested inside it), so no closer can
        // be past its wait, and the value is only written after that wait.
        let value = unsafe { *self.value.get() };
        Ok(f(value))
    }

    /// Closes the gate and waits until no thread is inside. Only one closer at a time: a
    /// second waits until the first opens the gate or drops its [`Closed`].
    pub fn close(&self) -> Closed<'_, T> {
        let closer = self.closer.lock().unwrap_or_else(|e| e.into_inner());
        self.closed.store(true, Ordering::SeqCst);
        for slot in self.slots.iter() {
            let mut spins = 0u32;
            while slot.0.load(Ordering::SeqCst) != 0 {
                spins += 1;
                if spins < 100 {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
        }
        Closed {
            gate: self,
            _closer: closer,
        }
    }
}

impl<T: Copy> Closed<'_, T> {
    /// Sets the value and opens the gate.
    pub fn open(self, value: Option<T>) {
        // SAFETY: the gate is closed, no thread is inside, and this closer holds `closer`.
        unsafe { *self.gate.value.get() = value };
        self.gate.closed.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn open_gate_runs_closed_gate_gives_back() {
        let g: Gate<u32> = Gate::new();
        assert!(g.enter(|v| v).is_err(), "a new gate is closed");
        g.close().open(Some(7));
        assert_eq!(g.enter(|v| v).ok(), Some(Some(7)));
        assert_eq!(
            g.enter(|v| g.enter(|w| (v, w)).ok()).ok(),
            Some(Some((Some(7), Some(7)))),
            "nested"
        );
        drop(g.close());
        assert!(
            g.enter(|v| v).is_err(),
            "stays closed when the closer is dropped"
        );
        g.close().open(None);
        assert_eq!(g.enter(|v| v).ok(), Some(None));
    }

    #[test]
    fn close_waits_for_the_threads_inside_and_a_panic_leaves() {
        let g: Arc<Gate<u32>> = Arc::new(Gate::new());
        g.close().open(Some(1));
        let (inside_tx, inside_rx) = std::sync::mpsc::channel();
        let g2 = g.clone();
        let t = std::thread::spawn(move || {
            g2.enter(|v| {
                inside_tx.send(()).unwrap();
                std::thread::sleep(Duration::from_millis(200));
                v
            })
            .ok()
        });
        inside_rx.recv().unwrap();
        let t0 = Instant::now();
        let closed = g.close();
        assert!(
            t0.elapsed() >= Duration::from_millis(150),
            "{:?}",
            t0.elapsed()
        );
        assert_eq!(t.join().unwrap(), Some(Some(1)));
        closed.open(Some(2));
        let g3 = g.clone();
        let panicked = std::thread::spawn(move || {
            let _ = g3.enter(|_| panic!("inside"));
        })
        .join();
        assert!(panicked.is_err());
        let t0 = Instant::now();
        g.close().open(Some(3));
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "the panicking thread left"
        );
    }

    /// Threads inside never see the value change under them while a closer swaps it.
    #[test]
    fn the_value_is_stable_inside() {
        let g: Arc<Gate<(u64, u64)>> = Arc::new(Gate::new());
        g.close().open(Some((0, 0)));
        let stop = Arc::new(AtomicBool::new(false));
        // Entries that found the gate open, over all readers: the swaps below run while
        // readers are really inside, however late a loaded machine schedules them.
        let entered = Arc::new(AtomicU64::new(0));
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let (g, stop, entered) = (g.clone(), stop.clone(), entered.clone());
                std::thread::spawn(move || {
                    let (mut inside, mut slow) = (0u64, 0u64);
                    while !stop.load(Ordering::Relaxed) {
                        match g.enter(|v| {
                            let a = v.unwrap();
                            std::thread::yield_now();
                            // A nested entry reads the value again.
                            let again = g.enter(|w| w).ok().flatten().unwrap();
                            assert_eq!(again, a, "changed while inside");
                            assert_eq!(a.0, a.1, "a half-written value");
                        }) {
                            Ok(()) => {
                                inside += 1;
                                entered.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(_) => slow += 1,
                        }
                    }
                    (inside, slow)
                })
            })
            .collect();
        let deadline = Instant::now() + std::time::Duration::from_secs(20);
        let wait_for = |n: u64| {
            while entered.load(Ordering::Relaxed) < n && Instant::now() < deadline {
                std::thread::yield_now();
            }
        };
        wait_for(3);
        let before = entered.load(Ordering::Relaxed);
        let mut i = 0u64;
        // At least 200 swaps, and until the readers have been inside 200 more times.
        while i < 200
            || (entered.load(Ordering::Relaxed) < before + 200 && Instant::now() < deadline)
        {
            i += 1;
            let closed = g.close();
            std::thread::yield_now();
            closed.open(Some((i, i)));
        }
        stop.store(true, Ordering::Relaxed);
        let inside: u64 = readers.into_iter().map(|r| r.join().unwrap().0).sum();
        assert!(inside > 0);
    }
}
