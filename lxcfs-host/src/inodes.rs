//! The inode table: path ↔ inode number, owned by the host so numbers stay stable across
//! library reloads. Inode 1 is `/`; numbers are never reused (the tree is small and bounded:
//! the `/proc` files plus the host's `/sys/devices/system/cpu`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Path ↔ inode table. Inode 1 is `/`; numbers are never reused.
#[derive(Debug, Default)]
pub struct Inodes {
    inner: RwLock<InodeTable>,
}

#[derive(Debug, Default)]
struct InodeTable {
    by_path: HashMap<Arc<str>, u64>,
    paths: Vec<Arc<str>>,
}

impl Inodes {
    /// A table holding only the root.
    pub fn new() -> Inodes {
        let t = InodeTable {
            by_path: HashMap::from([(Arc::from("/"), 1)]),
            paths: vec!["/".into()],
        };
        Inodes {
            inner: RwLock::new(t),
        }
    }

    /// The path of `ino` (shared: cloning it allocates nothing).
    pub fn path(&self, ino: u64) -> Option<Arc<str>> {
        let t = self.inner.read().unwrap_or_else(|e| e.into_inner());
        t.paths.get(ino.checked_sub(1)? as usize).cloned()
    }

    /// The inode of `path`, allocating one on first sight.
    pub fn ino(&self, path: &str) -> u64 {
        if let Some(i) = self
            .inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .by_path
            .get(path)
        {
            return *i;
        }
        let mut t = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = t.by_path.get(path) {
            return *i;
        }
        let path: Arc<str> = path.into();
        t.paths.push(path.clone());
        let ino = t.paths.len() as u64;
        t.by_path.insert(path, ino);
        ino
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
        assert_eq!(t.ino("/"), 1);
        let a = t.ino("/proc");
        let b = t.ino("/proc/meminfo");
        assert_eq!(t.ino("/proc"), a);
        assert_eq!(&*t.path(b).unwrap(), "/proc/meminfo");
        assert_eq!(t.path(0), None);
        assert_eq!(t.path(999), None);
        assert_eq!(child("/", "proc"), "/proc");
        assert_eq!(child("/proc", "meminfo"), "/proc/meminfo");
    }
}
