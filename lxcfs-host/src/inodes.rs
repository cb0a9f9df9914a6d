//! The inode table: path ↔ inode number, owned by the host so numbers stay stable across
//! library reloads. Inode 1 is `/`; numbers are never reused (the tree is small and bounded:
//! the `/proc` files plus the host's `/sys/devices/system/cpu`).
//!
//! Turning an inode into its path, which every request does, takes no lock and touches no
//! shared counter: paths live in chunks that are filled once and never change or move, so a
//! path is borrowed from the table for as long as the table lives. Only giving a path its
//! number (after a successful lookup, a few times per file) takes the write lock.
//!
//! Each inode also keeps the library's answer to the last read-only open of it when the
//! library marked that answer [`lxcfs_abi::open_flags::CALLER_INDEPENDENT`], with the number
//! of the library generation that gave it, so that the next read-only opens are answered
//! without a library call for as long as that generation serves.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{OnceLock, RwLock};

/// Paths per chunk.
const CHUNK: usize = 1024;

/// Chunks (so at most `CHUNKS × CHUNK` = 1,048,576 inodes).
const CHUNKS: usize = 1024;

/// One inode: its path and the read-only open answer kept for it.
#[derive(Debug)]
struct Entry {
    path: Box<str>,
    /// `generation << 32 | open flags` of the kept answer; 0 for none.
    open_ro: AtomicU64,
}

/// A chunk of [`CHUNK`] inodes, each set once.
type Chunk = Box<[OnceLock<Entry>]>;

/// Path ↔ inode table. Inode 1 is `/`; numbers are never reused.
#[derive(Debug)]
pub struct Inodes {
    /// Path → inode, for lookups.
    by_path: RwLock<HashMap<Box<str>, u64>>,
    /// Inode − 1 → path, filled in order under the `by_path` write lock.
    paths: Box<[OnceLock<Chunk>]>,
}

impl Default for Inodes {
    fn default() -> Self {
        Inodes::new()
    }
}

impl Inodes {
    /// A table holding only the root.
    pub fn new() -> Inodes {
        let t = Inodes {
            by_path: RwLock::new(HashMap::new()),
            paths: (0..CHUNKS).map(|_| OnceLock::new()).collect(),
        };
        let root = t.ino("/");
        debug_assert_eq!(root, Some(1));
        t
    }

    #[inline]
    fn entry(&self, ino: u64) -> Option<&Entry> {
        let index = usize::try_from(ino.checked_sub(1)?).ok()?;
        self.paths
            .get(index / CHUNK)?
            .get()?
            .get(index % CHUNK)?
            .get()
    }

    /// The path of `ino`; `None` for a number never handed out.
    #[inline]
    pub fn path(&self, ino: u64) -> Option<&str> {
        self.entry(ino).map(|e| &*e.path)
    }

    /// The open flags library generation `generation` answered for a read-only open of `ino`
    /// and marked caller-independent ([`Inodes::keep_open`]); `None` when there is no such
    /// answer (none kept, or kept from another generation).
    #[inline]
    pub fn kept_open(&self, ino: u64, generation: u64) -> Option<u32> {
        let kept = self.entry(ino)?.open_ro.load(Ordering::Relaxed);
        (kept != 0 && kept >> 32 == generation & u64::from(u32::MAX)).then_some(kept as u32)
    }

    /// Keeps `flags`, library generation `generation`'s caller-independent answer to a
    /// read-only open of `ino`.
    pub fn keep_open(&self, ino: u64, generation: u64, flags: u32) {
        if let Some(e) = self.entry(ino) {
            let g = generation & u64::from(u32::MAX);
            e.open_ro
                .store(g << 32 | u64::from(flags), Ordering::Relaxed);
        }
    }

    /// The inode of `path`, allocating one on first sight; `None` when the table is full
    /// (more than 1,048,576 paths).
    pub fn ino(&self, path: &str) -> Option<u64> {
        let read = self.by_path.read().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = read.get(path) {
            return Some(*i);
        }
        drop(read);
        let mut by_path = self.by_path.write().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = by_path.get(path) {
            return Some(*i);
        }
        let index = by_path.len();
        let chunk = self.paths.get(index / CHUNK)?.get_or_init(|| {
            (0..CHUNK)
                .map(|_| OnceLock::new())
                .collect::<Vec<_>>()
                .into_boxed_slice()
        });
        // Numbers are handed out in order under the write lock, so this slot is empty.
        let entry = Entry {
            path: path.into(),
            open_ro: AtomicU64::new(0),
        };
        chunk[index % CHUNK].set(entry).ok()?;
        let ino = index as u64 + 1;
        by_path.insert(path.into(), ino);
        Some(ino)
    }
}

/// Joins a directory path and an entry name (`/` + `proc` → `/proc`).
pub fn child(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inode_table_is_stable() {
        let t = Inodes::new();
        assert_eq!(t.ino("/"), Some(1));
        assert_eq!(t.path(1), Some("/"));
        let a = t.ino("/proc").unwrap();
        let b = t.ino("/proc/meminfo").unwrap();
        assert_eq!(t.ino("/proc"), Some(a));
        assert_eq!(t.path(b), Some("/proc/meminfo"));
        assert_eq!(t.path(0), None);
        assert_eq!(t.path(999), None);
        assert_eq!(t.path(u64::MAX), None);
        assert_eq!(child("/", "proc"), "/proc");
        assert_eq!(child("/proc", "meminfo"), "/proc/meminfo");
    }

    #[test]
    fn a_kept_open_answer_holds_for_its_generation_only() {
        let t = Inodes::new();
        let ino = t.ino("/proc/meminfo").unwrap();
        assert_eq!(t.kept_open(ino, 1), None);
        t.keep_open(ino, 1, 0b101);
        assert_eq!(t.kept_open(ino, 1), Some(0b101));
        assert_eq!(t.kept_open(ino, 2), None, "after a reload");
        assert_eq!(t.kept_open(ino + 1, 1), None, "another inode");
        t.keep_open(ino, 2, 0b001);
        assert_eq!(t.kept_open(ino, 1), None);
        assert_eq!(t.kept_open(ino, 2), Some(0b001));
        t.keep_open(999, 2, 1);
        assert_eq!(t.kept_open(999, 2), None, "unknown inodes keep nothing");
    }

    #[test]
    fn numbers_cross_chunks_and_stop_at_the_cap() {
        let t = Inodes::new();
        for i in 1..(CHUNK as u64 + 10) {
            let ino = t.ino(&format!("/sys/devices/system/cpu/cpu{i}")).unwrap();
            assert_eq!(ino, i + 1);
            assert_eq!(
                t.path(ino),
                Some(&*format!("/sys/devices/system/cpu/cpu{i}"))
            );
        }
        // Fill the table to its cap: the next new path gets no number, known ones still do.
        let full = Inodes {
            by_path: RwLock::new(HashMap::new()),
            paths: (0..1).map(|_| OnceLock::new()).collect(),
        };
        for i in 0..CHUNK {
            assert!(full.ino(&format!("/p{i}")).is_some());
        }
        assert_eq!(full.ino("/one-too-many"), None);
        assert_eq!(full.ino("/p7"), Some(8));
    }
}
