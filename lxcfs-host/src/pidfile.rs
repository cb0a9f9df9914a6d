//! The pid file: created, locked for the daemon's lifetime (a second instance on the same
//! file refuses to start), holding the daemon's pid, removed at exit.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// Why the pid file could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum PidFileError {
    /// Another process holds the lock.
    #[error("{path} is locked by another lxcfs (pid {holder}); is lxcfs already running?")]
    Locked {
        /// The pid file.
        path: PathBuf,
        /// The pid written in it, or `?`.
        holder: String,
    },
    /// The file cannot be created or written.
    #[error("cannot write pid file {path}: {source}")]
    Io {
        /// The pid file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// A held pid file; dropping it removes the file and releases the lock.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    _lock: Flock<File>,
}

impl PidFile {
    /// Creates (or opens) `path`, locks it and writes our pid.
    ///
    /// # Errors
    /// [`PidFileError::Locked`] when another process holds it; [`PidFileError::Io`] otherwise.
    pub fn acquire(path: &Path) -> Result<PidFile, PidFileError> {
        let io = |e| PidFileError::Io {
            path: path.to_path_buf(),
            source: e,
        };
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((mut f, _)) => {
                let mut s = String::new();
                let _ = f.read_to_string(&mut s);
                let holder = s.trim().to_string();
                return Err(PidFileError::Locked {
                    path: path.to_path_buf(),
                    holder: if holder.is_empty() {
                        "?".into()
                    } else {
                        holder
                    },
                });
            }
        };
        lock.set_len(0).map_err(io)?;
        lock.rewind().map_err(io)?;
        writeln!(lock, "{}", std::process::id()).map_err(io)?;
        Ok(PidFile {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused() {
        let dir = std::env::temp_dir().join(format!("lxcfs-pidfile-{}", std::process::id()));
        let p = dir.join("x.pid");
        let a = PidFile::acquire(&p).unwrap();
        let content = std::fs::read_to_string(&p).unwrap();
        assert_eq!(content.trim(), std::process::id().to_string());
        let e = PidFile::acquire(&p).unwrap_err().to_string();
        assert!(e.contains("locked by another lxcfs"), "{e}");
        drop(a);
        assert!(!p.exists());
        let _ = std::fs::remove_dir_all(dir);
    }
}
