//! The one rooted view of the host filesystem every read in the library goes through.
//!
//! Production uses root `/`; tests use a fixture tree (`tests/fixtures/<host>/root`) laid out
//! at the real paths (`proc/meminfo`, `proc/<pid>/status`, `sys/fs/cgroup/...`). Callers
//! always pass absolute host paths (`/proc/meminfo`); the view prefixes its root.

use std::io;
use std::path::{Path, PathBuf};

use lxcfs_abi::kind;

/// Initial read buffer (bytes): one page, enough for most proc and cgroup files in one read.
const READ_CHUNK: usize = 4096;

/// A directory entry: name and [`lxcfs_abi::kind`] value.
pub type DirEntry = (String, u32);

/// Read-only access to the host's `/proc`, `/sys` and cgroup mounts under a root.
#[derive(Clone, Debug)]
pub struct HostFs {
    root: PathBuf,
    is_real_root: bool,
}

impl HostFs {
    /// A view rooted at `root` (`/` for the real host).
    pub fn new(root: impl Into<PathBuf>) -> HostFs {
        let root = root.into();
        let is_real_root = root == Path::new("/");
        HostFs { root, is_real_root }
    }

    /// Whether this is the real host (`/`), where live-kernel shortcuts are allowed.
    pub fn is_real_root(&self) -> bool {
        self.is_real_root
    }

    /// The path under the root for the absolute host path `abs`.
    pub fn path(&self, abs: &str) -> PathBuf {
        if self.is_real_root {
            PathBuf::from(abs)
        } else {
            self.root.join(abs.trim_start_matches('/'))
        }
    }

    /// Reads a whole file as UTF-8 (invalid bytes replaced).
    ///
    /// # Errors
    /// The `io::Error` of open/read (`NotFound` for a vanished process or cgroup).
    pub fn read(&self, abs: &str) -> io::Result<String> {
        let bytes = self.read_bytes(abs)?;
        Ok(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// Reads a whole file as bytes.
    ///
    /// # Errors
    /// The `io::Error` of open/read.
    pub fn read_bytes(&self, abs: &str) -> io::Result<Vec<u8>> {
        // Not `std::fs::read`, nor `File::read_to_end`: their size hint costs a statx and an
        // lseek, and procfs and cgroupfs report size 0 anyway. Through a reader that only
        // reads, `read_to_end` reads into the spare capacity of a page-sized buffer without
        // zeroing it (most of these files fit in one read), then once more to see EOF.
        use std::io::Read;
        struct Plain(std::fs::File);
        impl Read for Plain {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.0.read(buf)
            }
        }
        let mut f = Plain(std::fs::File::open(self.path(abs))?);
        let mut buf = Vec::with_capacity(READ_CHUNK);
        f.read_to_end(&mut buf)?;
        Ok(buf)
    }

    /// The target of a symbolic link, as text.
    ///
    /// # Errors
    /// `InvalidInput` when `abs` is not a link; other `io::Error`s of readlink.
    pub fn read_link(&self, abs: &str) -> io::Result<String> {
        Ok(std::fs::read_link(self.path(abs))?
            .to_string_lossy()
            .into_owned())
    }

    /// Calls `f` with the target of the symbolic link `abs`, without allocating on the real
    /// host for paths under 128 bytes and targets under 256 bytes (the namespace links read
    /// on every request); elsewhere as [`HostFs::read_link`].
    ///
    /// # Errors
    /// As [`HostFs::read_link`]; a target that is not UTF-8 is `InvalidData`.
    pub fn read_link_with<T>(&self, abs: &str, f: impl FnOnce(&str) -> T) -> io::Result<T> {
        let mut path = [0u8; 128];
        if !self.is_real_root || abs.len() >= path.len() || abs.as_bytes().contains(&0) {
            return self.read_link(abs).map(|t| f(&t));
        }
        path[..abs.len()].copy_from_slice(abs.as_bytes());
        let mut target = [0u8; 256];
        // SAFETY: `path` is NUL-terminated (it is longer than `abs` and zero-filled, and `abs`
        // has no NUL); readlink writes at most `target.len()` bytes into `target`.
        let n = unsafe {
            libc::readlink(
                path.as_ptr().cast(),
                target.as_mut_ptr().cast(),
                target.len(),
            )
        };
        let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
        if n == target.len() {
            // Possibly truncated: take the general path.
            return self.read_link(abs).map(|t| f(&t));
        }
        let text = std::str::from_utf8(&target[..n])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(f(text))
    }

    /// Inode of the pid namespace `up` levels above the one of thread `tid` (`up == 0`: the
    /// thread's own), walked with `ioctl(NS_GET_PARENT)` (ioctl_ns(2), Linux 4.9). Only on the
    /// real host (a fixture tree has no namespaces to walk): `None` there, and when the thread
    /// is gone or the walk would leave the daemon's own namespace.
    pub fn pid_ns_ancestor(&self, tid: u32, up: usize) -> Option<u64> {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        use std::os::unix::fs::MetadataExt;
        /// `_IO(0xb7, 0x2)` from `<linux/nsfs.h>`.
        const NS_GET_PARENT: libc::Ioctl = 0xb702;
        if !self.is_real_root {
            return None;
        }
        let mut ns = OwnedFd::from(std::fs::File::open(format!("/proc/{tid}/ns/pid")).ok()?);
        for _ in 0..up {
            // SAFETY: NS_GET_PARENT takes no argument; it returns a new descriptor or -1.
            let parent = unsafe { libc::ioctl(ns.as_raw_fd(), NS_GET_PARENT) };
            if parent < 0 {
                return None;
            }
            // SAFETY: `parent` was just returned by the kernel and nothing else owns it.
            ns = unsafe { OwnedFd::from_raw_fd(parent) };
        }
        Some(std::fs::File::from(ns).metadata().ok()?.ino())
    }

    /// Whether `abs` exists (without following a final symlink).
    pub fn exists(&self, abs: &str) -> bool {
        std::fs::symlink_metadata(self.path(abs)).is_ok()
    }

    /// lstat(2) of `abs`.
    ///
    /// # Errors
    /// The `io::Error` of lstat.
    pub fn symlink_metadata(&self, abs: &str) -> io::Result<std::fs::Metadata> {
        std::fs::symlink_metadata(self.path(abs))
    }

    /// Lists a directory (without `.` and `..`), sorted by name, with each entry's kind.
    /// Entries that vanish while listing are skipped.
    ///
    /// # Errors
    /// The `io::Error` of opendir.
    pub fn read_dir(&self, abs: &str) -> io::Result<Vec<DirEntry>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(self.path(abs))? {
            let Ok(e) = e else { continue };
            let Ok(ft) = e.file_type() else { continue };
            let k = if ft.is_dir() {
                kind::DIR
            } else if ft.is_symlink() {
                kind::SYMLINK
            } else {
                kind::FILE
            };
            out.push((e.file_name().to_string_lossy().into_owned(), k));
        }
        out.sort();
        out.dedup_by(|a, b| a.0 == b.0);
        Ok(out)
    }

    /// Lists the numeric entries of a directory (`/proc` pids).
    ///
    /// # Errors
    /// The `io::Error` of opendir.
    pub fn numeric_entries(&self, abs: &str) -> io::Result<Vec<u32>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(self.path(abs))? {
            let Ok(e) = e else { continue };
            if let Some(n) = e.file_name().to_str().and_then(|s| s.parse().ok()) {
                out.push(n);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_link_with_matches_read_link_on_the_real_host() {
        let fs = HostFs::new("/");
        let slow = fs.read_link("/proc/self/ns/pid").unwrap();
        let fast = fs
            .read_link_with("/proc/self/ns/pid", str::to_owned)
            .unwrap();
        assert_eq!(fast, slow);
        assert!(fast.starts_with("pid:["), "{fast}");
        let missing = fs.read_link_with("/proc/0/ns/pid", str::to_owned);
        assert_eq!(
            missing.unwrap_err().kind(),
            io::ErrorKind::NotFound,
            "a vanished process"
        );
    }

    #[test]
    fn read_link_with_takes_long_targets_whole() {
        // A target of 300 bytes does not fit the stack buffer: the general path takes over.
        let dir = std::env::temp_dir().join(format!("hostfs-link-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let target = "t".repeat(300);
        let link = dir.join("l");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let fs = HostFs::new("/");
        let got = fs
            .read_link_with(link.to_str().unwrap(), str::to_owned)
            .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(got, target);
    }
}
