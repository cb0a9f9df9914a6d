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

/// The `log` target fuser's reply errors come from.
const REPLY_TARGET: &str = "fuser::reply";

impl<S: Subscriber> Layer<S> for QuietInterruptedReplies {
    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        // fuser logs through the `log` crate: bridged records carry the target "log" and
        // the record's own target in a `log.target` field.
        let target = event.metadata().target();
        if self.keep || (target != REPLY_TARGET && target != "log") {
            return true;
        }
        let mut seen = Seen {
            bridged_target: None,
            gone: false,
        };
        event.record(&mut seen);
        let from_reply =
            target == REPLY_TARGET || seen.bridged_target.as_deref() == Some(REPLY_TARGET);
        !(from_reply && seen.gone)
    }
}

/// What [`QuietInterruptedReplies`] looks for in an event's fields.
struct Seen {
    /// The `log.target` field of a record bridged from `log`.
    bridged_target: Option<String>,
    /// Whether the `message` field tells of `ENOENT`.
    gone: bool,
}

impl Visit for Seen {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "log.target" => self.bridged_target = Some(value.to_owned()),
            "message" => self.gone |= value.contains(GONE),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.gone |= format!("{value:?}").contains(GONE);
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
        // Records from the `log` crate, as fuser writes them, through the bridge the daemon
        // installs.
        let _ = tracing_log::LogTracer::init();
        tracing::subscriber::with_default(subscriber, || {
            log::error!(
                target: "fuser::reply",
                "Failed to send FUSE reply: {}",
                std::io::Error::from_raw_os_error(libc::ENOENT)
            );
            log::error!(
                target: "fuser::reply",
                "Failed to send FUSE reply: {}",
                std::io::Error::from_raw_os_error(libc::EBADF)
            );
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
        assert!(quiet.contains("Bad file descriptor"), "{quiet}");
        assert!(quiet.contains("other"), "{quiet}");
        let all = logged(true);
        assert_eq!(all.matches("os error 2)").count(), 2, "{all}");
    }
}
