//! The daemon's logging: tracing-subscriber to stderr, and the callback through which the
//! library's events join the same stream (target `liblxcfs::...`).

use lxcfs_abi::{level, Bytes};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Installs the subscriber. `debug` (`-d`) selects debug level; `RUST_LOG` refines it.
/// Returns the most verbose [`lxcfs_abi::level`] that will be printed, for the library.
pub fn init(debug: bool) -> u32 {
    let default = if debug { "debug" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let max = filter.max_level_hint();
    let quiet = QuietInterruptedReplies {
        keep: max.is_some_and(|m| m >= tracing::level_filters::LevelFilter::DEBUG),
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(quiet)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
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

/// Drops fuser's `Failed to send FUSE reply: No such file or directory` errors unless debug
/// logging is on. The kernel answers a reply with `ENOENT` when the request is gone: its
/// reader was interrupted or killed while the daemon worked on it (fuse(4)), which is no
/// fault of the daemon, and a container stopped mid-read would otherwise log one error per
/// request in flight. Other reply errors are still logged.
struct QuietInterruptedReplies {
    /// Keep them anyway (debug logging).
    keep: bool,
}

/// ENOENT as `std::io::Error` prints it.
const GONE: &str = "No such file or directory";

impl<S: Subscriber> Layer<S> for QuietInterruptedReplies {
    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        if self.keep || event.metadata().target() != "fuser::reply" {
            return true;
        }
        let mut gone = false;
        event.record(&mut MessageContains {
            needle: GONE,
            found: &mut gone,
        });
        !gone
    }
}

/// Sets `found` when the event's `message` field contains `needle`.
struct MessageContains<'a> {
    needle: &'a str,
    found: &'a mut bool,
}

impl Visit for MessageContains<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" && value.contains(self.needle) {
            *self.found = true;
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" && format!("{value:?}").contains(self.needle) {
            *self.found = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged(keep: bool) -> String {
        let buf = Buf::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::registry()
            .with(QuietInterruptedReplies { keep })
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(move || out.clone())
                    .with_ansi(false),
            );
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(
                target: "fuser::reply",
                "Failed to send FUSE reply: No such file or directory (os error 2)"
            );
            tracing::error!(
                target: "fuser::reply",
                "Failed to send FUSE reply: Invalid argument (os error 22)"
            );
            tracing::error!(target: "other", "No such file or directory");
        });
        let text = buf.0.lock().unwrap().clone();
        String::from_utf8(text).unwrap()
    }

    #[test]
    fn replies_to_interrupted_requests_are_quiet_unless_debugging() {
        let quiet = logged(false);
        assert!(!quiet.contains("os error 2)"), "{quiet}");
        assert!(quiet.contains("Invalid argument"), "{quiet}");
        assert!(quiet.contains("other"), "{quiet}");
        assert!(logged(true).contains("os error 2)"));
    }
}
