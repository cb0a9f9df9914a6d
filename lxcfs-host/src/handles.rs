//! The open-file table: one slot per open file or directory, found from the file handle the
//! kernel passes back with every request, without a table-wide lock or a hash lookup.
//!
//! Each request of one open file may reach either event-loop thread (they take turns at the
//! FUSE queue), so whatever a request touches moves between CPUs. A slot is one cache-line-
//! aligned mutex that holds everything an open file needs (path, snapshot, listing, PSI
//! trigger); a read touches that slot and nothing else of the table. Slots live in chunks that
//! are allocated once and never moved or freed, so a handle is turned into its slot with two
//! indexed loads. A slot and its snapshot buffer are reused after a release: opening and
//! reading a file allocates nothing once the table has warmed up. Released slots keep buffers
//! of at most [`KEEP_SNAPSHOT`] bytes each and [`KEEP_TOTAL`] bytes together; beyond that a
//! buffer is freed at release, so closing many files gives their memory back.
//!
//! A handle is `generation << 32 | index + 1`. The generation counts a slot's releases, so a
//! stale or forged handle finds its slot's generation changed and gets `EBADF` instead of
//! another file's state.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use crate::psi::Trigger;

/// Slots per chunk.
const CHUNK: usize = 256;

/// Chunks (so at most `CHUNKS × CHUNK` = 1,048,576 files open at once; `ENFILE` beyond).
const CHUNKS: usize = 4096;

/// A released slot keeps a snapshot buffer up to this capacity (bytes) for its next file;
/// a larger one is freed. Most rendered files are 1-8 KiB.
pub const KEEP_SNAPSHOT: usize = 16 * 1024;

/// Capacity (bytes) of the snapshot buffers all released slots keep together.
pub const KEEP_TOTAL: usize = 1024 * 1024;

/// The state of one open file or directory. What a read uses comes first, so that it shares
/// the slot lock's cache line.
#[derive(Debug, Default)]
#[repr(C)]
pub struct Open {
    /// Counts the slot's releases (the handle's upper half).
    generation: u32,
    /// Whether the slot holds an open file.
    live: bool,
    /// Whether a read has rendered `snapshot` for this open.
    pub has_snapshot: bool,
    /// PSI-capable open (`--enable-psi-poll` pressure file).
    pub psi_capable: bool,
    /// The render order the next snapshot gets.
    pub next_seq: u64,
    /// The inode of the file (its path is in [`crate::inodes::Inodes`]).
    pub ino: u64,
    /// The first snapshot of this open file (the one nearly every open file only ever has),
    /// valid when `has_snapshot`; its buffer is reused for the slot's next files.
    pub first: Snapshot,
    /// Further snapshots, for other threads or views reading the same open file (a descriptor
    /// shared by threads, by processes, or with a process of another container), at most
    /// [`MAX_OTHER_SNAPSHOTS`], the oldest first.
    pub others: Vec<Snapshot>,
    /// Directory listing (name, kind, ino) for opendir handles.
    pub entries: Vec<(String, u32, u64)>,
    /// The armed trigger, once written.
    pub trigger: Option<Arc<Trigger>>,
}

/// A pass rendered for one thread in one view.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The view it was rendered for.
    pub view: u64,
    /// The thread it was rendered for.
    pub tid: u32,
    /// Until when (a [`coarse_now`] value) it serves its thread without a view check.
    pub trusted_until: u64,
    /// Render order among the open file's snapshots.
    pub seq: u64,
    /// The content.
    pub content: Vec<u8>,
}

/// How many snapshots besides the first one an open file keeps (threads or views sharing
/// one descriptor); a further one replaces the oldest of them, whose thread then continues
/// its view's newest pass.
pub const MAX_OTHER_SNAPSHOTS: usize = 15;

/// How long after its render (in [`coarse_now`] units, about 10 ms, plus up to one clock
/// tick) a thread's snapshot serves that thread's reads past offset 0 without the library
/// checking the thread's view: well under the time any process could make the thread's id
/// pass to another thread without privileges (a wrap of the host's pid space; `clone3` with
/// `set_tid` needs `CAP_SYS_ADMIN` over the host's pid namespace).
pub const TRUSTED_FOR: u64 = 10;

/// A coarse monotonic clock in units of 2²⁰ ns (about a millisecond): the kernel's
/// `CLOCK_MONOTONIC_COARSE` (clock_gettime(2): advanced every tick, read in the vDSO
/// without a system call). `u64::MAX`, which trusts nothing, if it cannot be read.
pub fn coarse_now() -> u64 {
    use nix::time::{clock_gettime, ClockId};
    match clock_gettime(ClockId::CLOCK_MONOTONIC_COARSE) {
        Ok(t) => {
            let sec = u64::try_from(t.tv_sec()).unwrap_or(0);
            let nsec = u64::try_from(t.tv_nsec()).unwrap_or(0);
            (sec << 10) | (nsec >> 20)
        }
        Err(_) => u64::MAX,
    }
}

impl Open {
    /// Whether any read has rendered a snapshot for this open file.
    pub fn has_any_snapshot(&self) -> bool {
        self.has_snapshot || !self.others.is_empty()
    }

    /// Every snapshot of this open file, the first one first.
    fn snapshots(&self) -> impl Iterator<Item = &Snapshot> {
        self.has_snapshot
            .then_some(&self.first)
            .into_iter()
            .chain(&self.others)
    }

    /// The snapshot thread `tid` rendered less than [`TRUSTED_FOR`] before `now` (a
    /// [`coarse_now`] value; its newest): what that thread's read past offset 0 is served from
    /// without asking the library for its view. This is the path of nearly every read past
    /// offset 0 (the read at end of file that follows the data).
    pub fn snapshot_of_thread(&self, tid: u32, now: u64) -> Option<&[u8]> {
        let newest = if self.others.is_empty() {
            Some(&self.first).filter(|s| self.has_snapshot && s.tid == tid)
        } else {
            self.snapshots()
                .filter(|s| s.tid == tid)
                .max_by_key(|s| s.seq)
        }?;
        (now < newest.trusted_until).then_some(&newest.content[..])
    }

    /// The snapshot a read past offset 0 by thread `tid`, whose view the library just gave
    /// as `view`, is served from: the pass that thread rendered in that view, else the
    /// newest pass of that view.
    ///
    /// Snapshots are matched by view, so that a reader sharing the descriptor with another
    /// (a child that inherited it, a process of another container that was handed it) is
    /// never served a render made for another container, while the threads and processes
    /// of one container (a Go program whose goroutine moved to another thread between two
    /// reads, `{ read a; cat; }` in a shell) continue the same pass; a thread that rendered
    /// a pass of its own continues that one, even after another thread of its view read the
    /// file anew.
    pub fn snapshot_of_view(&self, view: u64, tid: u32) -> Option<&[u8]> {
        let mut newest: Option<&Snapshot> = None;
        for s in self.snapshots().filter(|s| s.view == view) {
            if s.tid == tid {
                return Some(&s.content);
            }
            if newest.is_none_or(|n| s.seq > n.seq) {
                newest = Some(s);
            }
        }
        newest.map(|s| &s.content[..])
    }

    /// Keeps `content`, just rendered at `now` (a [`coarse_now`] value) for thread `tid` in
    /// `view`, as that thread's snapshot in that view.
    pub fn keep_snapshot(&mut self, view: u64, tid: u32, now: u64, content: &[u8]) {
        let seq = self.next_seq;
        self.next_seq += 1;
        // An unreadable clock (`u64::MAX`) trusts nothing, whatever the clock says later.
        let trusted_until = if now == u64::MAX {
            0
        } else {
            now.saturating_add(TRUSTED_FOR)
        };
        let made = |content: Vec<u8>| Snapshot {
            view,
            tid,
            trusted_until,
            seq,
            content,
        };
        if !self.has_snapshot || (self.first.view == view && self.first.tid == tid) {
            let mut buf = std::mem::take(&mut self.first.content);
            buf.clear();
            buf.extend_from_slice(content);
            self.first = made(buf);
            self.has_snapshot = true;
            return;
        }
        if let Some(i) = self
            .others
            .iter()
            .position(|s| s.view == view && s.tid == tid)
        {
            self.others.remove(i);
        } else if self.others.len() >= MAX_OTHER_SNAPSHOTS {
            self.others.remove(0);
        }
        self.others.push(made(content.to_vec()));
    }

    /// Forgets the file, keeping its snapshot buffer for the next one when it is small and
    /// `kept` (the bytes released slots keep) stays within [`KEEP_TOTAL`].
    fn clear(&mut self, kept: &AtomicUsize) {
        self.live = false;
        self.generation = self.generation.wrapping_add(1);
        self.ino = 0;
        self.has_snapshot = false;
        self.first = Snapshot {
            content: std::mem::take(&mut self.first.content),
            ..Snapshot::default()
        };
        self.next_seq = 0;
        self.others = Vec::new();
        let cap = self.first.content.capacity();
        let keep = cap <= KEEP_SNAPSHOT
            && kept
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |k| {
                    (k + cap <= KEEP_TOTAL).then_some(k + cap)
                })
                .is_ok();
        if keep {
            self.first.content.clear();
        } else {
            self.first.content = Vec::new();
        }
        self.entries = Vec::new();
        self.psi_capable = false;
        self.trigger = None;
    }
}

/// One slot, alone on its cache line(s).
#[derive(Debug, Default)]
#[repr(align(64))]
struct Slot(Mutex<Open>);

/// Indices never handed out yet start at `next`; released ones wait in `list`.
#[derive(Debug, Default)]
struct Free {
    list: Vec<u32>,
    next: u32,
}

/// The open-file table.
#[derive(Debug)]
pub struct Handles {
    chunks: Box<[OnceLock<Box<[Slot]>>]>,
    free: Mutex<Free>,
    /// Capacity of the snapshot buffers released slots keep (at most [`KEEP_TOTAL`]).
    kept: AtomicUsize,
}

impl Default for Handles {
    fn default() -> Self {
        Handles::new()
    }
}

/// Locks `m`, taking over a poisoned lock: every slot update leaves the slot consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Handles {
    /// An empty table (no slot allocated yet).
    pub fn new() -> Handles {
        Handles {
            chunks: (0..CHUNKS).map(|_| OnceLock::new()).collect(),
            free: Mutex::default(),
            kept: AtomicUsize::new(0),
        }
    }

    #[inline]
    fn slot(&self, index: u32) -> Option<&Slot> {
        let i = index as usize;
        let chunk = self.chunks.get(i / CHUNK)?.get_or_init(|| {
            (0..CHUNK)
                .map(|_| Slot::default())
                .collect::<Vec<_>>()
                .into_boxed_slice()
        });
        chunk.get(i % CHUNK)
    }

    /// Opens a slot, lets `init` fill it in, and returns its handle; `None` when every slot
    /// is taken (the caller answers `ENFILE`).
    pub fn insert(&self, init: impl FnOnce(&mut Open)) -> Option<u64> {
        let index = {
            let mut free = lock(&self.free);
            match free.list.pop() {
                Some(i) => i,
                None if (free.next as usize) < CHUNKS * CHUNK => {
                    free.next += 1;
                    free.next - 1
                }
                None => return None,
            }
        };
        let mut open = lock(&self.slot(index)?.0);
        // The slot's kept buffer belongs to an open file again.
        self.kept
            .fetch_sub(open.first.content.capacity(), Ordering::Relaxed);
        open.live = true;
        init(&mut open);
        Some(u64::from(open.generation) << 32 | (u64::from(index) + 1))
    }

    /// The open file of handle `fh`, locked; `None` for a handle that is not open.
    #[inline]
    pub fn get(&self, fh: u64) -> Option<MutexGuard<'_, Open>> {
        let index = u32::try_from(fh & u64::from(u32::MAX))
            .ok()?
            .checked_sub(1)?;
        let slot = self.chunks.get(index as usize / CHUNK)?.get()?;
        let open = lock(&slot.get(index as usize % CHUNK)?.0);
        (open.live && u64::from(open.generation) == fh >> 32).then_some(open)
    }

    /// Closes handle `fh` and frees its slot; what it held (a PSI trigger, say) is dropped
    /// after the slot is unlocked. Unknown handles are ignored.
    pub fn remove(&self, fh: u64) {
        let Some(mut open) = self.get(fh) else {
            return;
        };
        let trigger = open.trigger.take();
        open.clear(&self.kept);
        drop(open);
        drop(trigger);
        let index = (fh & u64::from(u32::MAX)) as u32 - 1;
        lock(&self.free).list.push(index);
    }

    /// Number of open handles.
    pub fn len(&self) -> usize {
        let free = lock(&self.free);
        free.next as usize - free.list.len()
    }

    /// Capacity (bytes) of the snapshot buffers released slots keep for their next files.
    pub fn kept_bytes(&self) -> usize {
        self.kept.load(Ordering::Relaxed)
    }

    /// Whether no handle is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_found_until_released_and_never_alias_a_reused_slot() {
        let t = Handles::new();
        let a = t.insert(|o| o.ino = 11).unwrap();
        let b = t.insert(|o| o.ino = 12).unwrap();
        assert_ne!(a, b);
        assert_eq!(t.len(), 2);
        assert_eq!(t.get(a).unwrap().ino, 11);
        t.get(a)
            .unwrap()
            .first
            .content
            .extend_from_slice(b"MemTotal");
        t.remove(a);
        assert!(t.get(a).is_none(), "released");
        // The slot is reused, under a new generation: the old handle stays dead, and the new
        // file starts without the old one's snapshot.
        let c = t.insert(|o| o.ino = 13).unwrap();
        assert_eq!(c & 0xffff_ffff, a & 0xffff_ffff, "same slot");
        assert_ne!(c, a);
        assert!(t.get(a).is_none());
        let open = t.get(c).unwrap();
        assert_eq!(open.ino, 13);
        assert!(open.first.content.is_empty() && !open.has_snapshot);
        drop(open);
        t.remove(a);
        assert!(t.get(c).is_some(), "a stale handle's release is ignored");
        for bogus in [0, u64::MAX, 1 << 40, (CHUNKS * CHUNK) as u64 + 1] {
            assert!(t.get(bogus).is_none(), "{bogus:#x}");
            t.remove(bogus);
        }
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn large_snapshot_buffers_are_not_kept() {
        let t = Handles::new();
        let a = t.insert(|_| {}).unwrap();
        t.get(a).unwrap().first.content = vec![0; 4 * KEEP_SNAPSHOT];
        t.remove(a);
        let b = t.insert(|_| {}).unwrap();
        assert_eq!(t.get(b).unwrap().first.content.capacity(), 0);
        t.get(b).unwrap().first.content.reserve(100);
        t.remove(b);
        let c = t.insert(|_| {}).unwrap();
        assert!(
            t.get(c).unwrap().first.content.capacity() >= 100,
            "small ones are"
        );
        assert_eq!(t.kept_bytes(), 0, "a reused buffer is not counted as kept");
    }

    /// Closing many files gives their snapshot memory back beyond [`KEEP_TOTAL`].
    #[test]
    fn released_slots_keep_at_most_the_total() {
        let t = Handles::new();
        let n = 4 * KEEP_TOTAL / 4096;
        let fhs: Vec<u64> = (0..n).map(|_| t.insert(|_| {}).unwrap()).collect();
        for &fh in &fhs {
            t.get(fh)
                .unwrap()
                .first
                .content
                .extend_from_slice(&[7; 4000]);
        }
        for &fh in &fhs {
            t.remove(fh);
        }
        assert!(t.kept_bytes() <= KEEP_TOTAL, "{}", t.kept_bytes());
        assert!(t.kept_bytes() >= KEEP_TOTAL - 4096, "{}", t.kept_bytes());
        let kept = (0..n)
            .map(|_| t.insert(|_| {}).unwrap())
            .filter(|&fh| t.get(fh).unwrap().first.content.capacity() > 0)
            .count();
        assert!(kept <= KEEP_TOTAL / 4000, "{kept} buffers kept");
        assert_eq!(t.kept_bytes(), 0);
    }

    #[test]
    fn snapshots_are_kept_per_view_and_thread_and_a_release_forgets_them_all() {
        let t = Handles::new();
        let fh = t.insert(|o| o.ino = 7).unwrap();
        let mut o = t.get(fh).unwrap();
        let t0 = coarse_now();
        let later = t0 + TRUSTED_FOR;
        assert!(!o.has_any_snapshot());
        assert_eq!(
            o.snapshot_of_thread(100, t0),
            None,
            "no snapshot before a render"
        );
        o.keep_snapshot(1, 100, t0, b"view 1 by 100");
        o.keep_snapshot(2, 200, t0, b"view 2 by 200");
        // A thread's own pass, without the library, only while it is fresh.
        assert_eq!(o.snapshot_of_thread(100, t0), Some(&b"view 1 by 100"[..]));
        assert_eq!(o.snapshot_of_thread(200, t0), Some(&b"view 2 by 200"[..]));
        assert_eq!(
            o.snapshot_of_thread(100, later),
            None,
            "stale: ask the library"
        );
        assert_eq!(o.snapshot_of_thread(101, t0), None);
        // With the view: the thread's own pass, else the view's newest, never another view's.
        assert_eq!(o.snapshot_of_view(1, 100), Some(&b"view 1 by 100"[..]));
        assert_eq!(o.snapshot_of_view(1, 101), Some(&b"view 1 by 100"[..]));
        assert_eq!(
            o.snapshot_of_view(3, 100),
            None,
            "thread 100 in another view"
        );
        // Another thread of view 1 reads anew: 100 keeps its own pass, 102 gets the newest.
        o.keep_snapshot(1, 101, t0 + 1, b"view 1 by 101");
        assert_eq!(o.snapshot_of_view(1, 100), Some(&b"view 1 by 100"[..]));
        assert_eq!(o.snapshot_of_view(1, 102), Some(&b"view 1 by 101"[..]));
        // A thread id that comes back in another view is not served the old pass.
        o.keep_snapshot(5, 100, later, b"view 5 by 100");
        assert_eq!(
            o.snapshot_of_thread(100, later),
            Some(&b"view 5 by 100"[..])
        );
        assert_eq!(o.snapshot_of_view(1, 100), Some(&b"view 1 by 100"[..]));
        // A new pass replaces only that thread's snapshot in that view.
        o.keep_snapshot(1, 100, later, b"view 1 by 100, again");
        assert_eq!(
            o.snapshot_of_view(1, 100),
            Some(&b"view 1 by 100, again"[..])
        );
        assert_eq!(o.snapshot_of_view(2, 200), Some(&b"view 2 by 200"[..]));
        // Past MAX_OTHER_SNAPSHOTS others, the oldest other goes first; the first stays.
        assert_eq!(o.others.len(), 3);
        for k in 0..MAX_OTHER_SNAPSHOTS as u32 - 3 {
            o.keep_snapshot(1, 1000 + k, later, b"view 1, more threads");
        }
        assert_eq!(o.others.len(), MAX_OTHER_SNAPSHOTS);
        o.keep_snapshot(6, 600, later, b"view 6");
        assert_eq!(
            o.snapshot_of_view(2, 200),
            None,
            "the oldest other was dropped"
        );
        assert_eq!(
            o.snapshot_of_view(1, 100),
            Some(&b"view 1 by 100, again"[..])
        );
        assert_eq!(o.snapshot_of_view(6, 600), Some(&b"view 6"[..]));
        assert_eq!(o.others.len(), MAX_OTHER_SNAPSHOTS);
        drop(o);
        t.remove(fh);
        let again = t.insert(|o| o.ino = 8).unwrap();
        let o = t.get(again).unwrap();
        assert!(!o.has_any_snapshot());
        assert!(o.snapshot_of_thread(100, t0).is_none() && o.snapshot_of_view(1, 100).is_none());
    }
}
