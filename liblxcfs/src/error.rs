//! The library's error type and its errno mapping.

use std::io;

/// Why a container-aware value could not be computed. Renderers turn every one of these into
/// a fallback (the host's file), so they reach the kernel as errno only for path lookups.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A host file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// Absolute host path.
        path: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A host file had content the parser does not accept.
    #[error("malformed {path}: {what}")]
    Malformed {
        /// Absolute host path (or a description of the source).
        path: String,
        /// What was wrong.
        what: &'static str,
    },
    /// The controller is not mounted or not enabled for the container.
    #[error("no {0} controller for this container")]
    NoController(&'static str),
    /// The calling process (or its container's init) vanished.
    #[error("process {0} is gone")]
    ProcessGone(u32),
    /// The path does not exist in the filesystem tree.
    #[error("no such file")]
    NotFound,
    /// The operation is not allowed on this path.
    #[error("permission denied")]
    Access,
    /// Invalid argument (malformed PSI trigger, write to a read-only generated file).
    #[error("invalid argument")]
    Invalid,
}

impl Error {
    /// The positive errno value this error maps to.
    pub fn errno(&self) -> i32 {
        match self {
            Error::Io { source, .. } => source.raw_os_error().unwrap_or(libc::EIO),
            Error::Malformed { .. } => libc::EIO,
            Error::NoController(_) => libc::ENOENT,
            Error::ProcessGone(_) => libc::ESRCH,
            Error::NotFound => libc::ENOENT,
            Error::Access => libc::EACCES,
            Error::Invalid => libc::EINVAL,
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Whether this error means "the thing is not there" (as opposed to garbage content).
    pub fn is_missing(&self) -> bool {
        match self {
            Error::Io { source, .. } => source.kind() == io::ErrorKind::NotFound,
            Error::NoController(_) | Error::ProcessGone(_) | Error::NotFound => true,
            _ => false,
        }
    }
}

/// Result alias of the library.
pub type Result<T> = std::result::Result<T, Error>;
