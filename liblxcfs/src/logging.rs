//! Forwards the library's `tracing` events to the host's log callback, so they land in the
//! host's tracing-subscriber with target `liblxcfs::...`.
//!
//! A small hand-written [`tracing_core::Subscriber`] is installed as this image's global
//! default at `init`. It keeps no thread-local buffers (tracing-subscriber's `fmt` layer does,
//! and those pin the library image in memory across `dlclose`), and spans are ignored.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use lxcfs_abi::{level, Bytes};
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Metadata, Subscriber};

/// The host's log function.
pub type LogFn = unsafe extern "C" fn(level: u32, target: Bytes, message: Bytes);

static HOST_LOG: Mutex<Option<LogFn>> = Mutex::new(None);
static MAX_LEVEL: AtomicU32 = AtomicU32::new(level::INFO);

/// Routes this image's `tracing` events to `log`, up to `max_level` ([`lxcfs_abi::level`]).
/// Safe to call once per loaded image; later calls only replace the callback.
pub fn install(log: LogFn, max_level: u32) {
    if let Ok(mut g) = HOST_LOG.lock() {
        *g = Some(log);
    }
    MAX_LEVEL.store(
        max_level.clamp(level::ERROR, level::TRACE),
        Ordering::Relaxed,
    );
    let _ = tracing::subscriber::set_global_default(HostLogger);
}

/// Stops forwarding (called at shutdown, before the host's callback may go away).
pub fn uninstall() {
    if let Ok(mut g) = HOST_LOG.lock() {
        *g = None;
    }
}

fn level_number(l: &Level) -> u32 {
    match *l {
        Level::ERROR => level::ERROR,
        Level::WARN => level::WARN,
        Level::INFO => level::INFO,
        Level::DEBUG => level::DEBUG,
        Level::TRACE => level::TRACE,
    }
}

/// The subscriber; see the module documentation.
#[derive(Debug)]
struct HostLogger;

struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

impl Subscriber for HostLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        level_number(metadata.level()) <= MAX_LEVEL.load(Ordering::Relaxed)
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let Some(log) = HOST_LOG.lock().ok().and_then(|g| *g) else {
            return;
        };
        let mut msg = Message(String::new());
        event.record(&mut msg);
        let target = event.metadata().target();
        // SAFETY: `log` is the host's callback, valid until `uninstall` (called before the
        // host tears down); both slices live across the call.
        unsafe {
            log(
                level_number(event.metadata().level()),
                Bytes::new(target.as_bytes()),
                Bytes::new(msg.0.as_bytes()),
            )
        };
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}
