//! The daemon's logging: tracing-subscriber to stderr, and the callback through which the
//! library's events join the same stream (target `liblxcfs::...`).

use lxcfs_abi::{level, Bytes};
use tracing_subscriber::EnvFilter;

/// Installs the subscriber. `debug` (`-d`) selects debug level; `RUST_LOG` refines it.
/// Returns the most verbose [`lxcfs_abi::level`] that will be printed, for the library.
pub fn init(debug: bool) -> u32 {
    let default = if debug { "debug" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let max = filter.max_level_hint();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    match max.and_then(|m| m.into_level()) {
        Some(tracing::Level::TRACE) => level::TRACE,
        Some(tracing::Level::DEBUG) => level::DEBUG,
        Some(tracing::Level::INFO) => level::INFO,
        Some(tracing::Level::WARN) => level::WARN,
        Some(tracing::Level::ERROR) => level::ERROR,
        None => {
            if debug {
                level::DEBUG
            } else {
                level::INFO
            }
        }
    }
}

/// The [`lxcfs_abi::HostApi::log`] callback.
///
/// # Safety
/// `target` and `message` must be valid byte slices for the duration of the call.
pub unsafe extern "C" fn library_log(lvl: u32, target: Bytes, message: Bytes) {
    // SAFETY: guaranteed by the caller per the ABI contract.
    let (target, message) = unsafe { (target.as_slice(), message.as_slice()) };
    let target = String::from_utf8_lossy(target);
    let message = String::from_utf8_lossy(message);
    match lvl {
        level::ERROR => tracing::error!(target: "liblxcfs", "[{target}] {message}"),
        level::WARN => tracing::warn!(target: "liblxcfs", "[{target}] {message}"),
        level::INFO => tracing::info!(target: "liblxcfs", "[{target}] {message}"),
        level::DEBUG => tracing::debug!(target: "liblxcfs", "[{target}] {message}"),
        _ => tracing::trace!(target: "liblxcfs", "[{target}] {message}"),
    }
}
