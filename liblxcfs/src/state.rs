//! State kept across a library reload: versioned bytes written by the old library in
//! `shutdown` and read by the new one in `init`.
//!
//! Format (UTF-8 text, one line each): a header `lxcfs-state <version>`, then records
//! `<kind> <payload>`. `cpuview` records belong to [`crate::cpuview::CpuViews`], `loadavg`
//! and `loadavg-newest` records to [`crate::proc::loadavg::LoadAvgs`]; each owner defines
//! (and versions) its payload, which never contains a line break.
//!
//! Reading is strict so that bytes are never misread: bytes that are not UTF-8, or whose
//! header is missing or names another version, are dropped whole with a log line. Within a
//! known version, records of an unknown kind (written by a newer library) are skipped and
//! counted, as are records their owner rejects; the rest are restored.

use std::fmt;

/// Current version of the saved-state format (the header's number).
pub const VERSION: u32 = 1;

/// First word of the header line.
const MAGIC: &str = "lxcfs-state";

/// Why saved bytes were dropped whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The bytes are not UTF-8.
    NotText,
    /// The first line is not `lxcfs-state <number>`.
    NoHeader,
    /// The header names a version this library does not read.
    UnknownVersion(String),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::NotText => write!(f, "not UTF-8 text"),
            FrameError::NoHeader => write!(f, "no `{MAGIC} <version>` header"),
            FrameError::UnknownVersion(v) => {
                write!(f, "unknown version {v:?} (this library reads {VERSION})")
            }
        }
    }
}

/// What [`decode`] did with the records of a readable blob.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Records their owner accepted.
    pub accepted: usize,
    /// Records their owner rejected (malformed, or a record version it does not read).
    pub rejected: usize,
    /// Records of a kind no owner claims.
    pub unknown: usize,
}

/// Frames `sections` (a record kind, and that kind's records) as saved-state bytes. A record
/// containing a line break would corrupt the framing; it is left out with a log line.
pub fn encode(sections: &[(&str, Vec<String>)]) -> Vec<u8> {
    let mut out = format!("{MAGIC} {VERSION}\n");
    for (kind, records) in sections {
        for r in records {
            if r.contains(['\n', '\r']) {
                tracing::error!("not saving a {kind} record with a line break: {r:?}");
                continue;
            }
            out.push_str(kind);
            out.push(' ');
            out.push_str(r);
            out.push('\n');
        }
    }
    out.into_bytes()
}

/// Reads saved-state bytes, handing each record to `accept(kind, payload)`, which answers
/// `Some(true)` (restored), `Some(false)` (rejected by the owner) or `None` (unknown kind).
/// Empty bytes (first start) are a blob without records.
///
/// # Errors
/// [`FrameError`] when the bytes are not a blob of [`VERSION`]; then `accept` is never called.
pub fn decode(
    saved: &[u8],
    mut accept: impl FnMut(&str, &str) -> Option<bool>,
) -> Result<Counts, FrameError> {
    let mut counts = Counts::default();
    if saved.is_empty() {
        return Ok(counts);
    }
    let text = std::str::from_utf8(saved).map_err(|_| FrameError::NotText)?;
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let version = match header.split_once(' ') {
        Some((MAGIC, v)) => v.trim(),
        _ => return Err(FrameError::NoHeader),
    };
    if version != VERSION.to_string() {
        return Err(FrameError::UnknownVersion(version.to_string()));
    }
    for line in lines.filter(|l| !l.is_empty()) {
        let (kind, payload) = line.split_once(' ').unwrap_or((line, ""));
        match accept(kind, payload) {
            Some(true) => counts.accepted += 1,
            Some(false) => counts.rejected += 1,
            None => counts.unknown += 1,
        }
    }
    Ok(counts)
}

/// Serializes the state worth keeping across a reload.
pub fn export(lx: &crate::Lxcfs) -> Vec<u8> {
    encode(&[
        ("cpuview", lx.cpuview.export()),
        ("loadavg", lx.loadavg.export()),
        ("loadavg-newest", lx.loadavg.export_newest()),
    ])
}

/// Restores what [`export`] wrote (possibly by another build); returns the number of records
/// restored. Everything dropped or skipped is logged.
pub fn import(lx: &crate::Lxcfs, saved: &[u8]) -> usize {
    let result = decode(saved, |kind, payload| match kind {
        "cpuview" => Some(lx.cpuview.import(payload)),
        "loadavg" => Some(lx.loadavg.import(payload)),
        "loadavg-newest" => Some(lx.loadavg.import_newest(payload)),
        _ => None,
    });
    match result {
        Ok(c) => {
            if c.unknown > 0 {
                tracing::warn!(
                    "saved state: skipped {} records of unknown kinds",
                    c.unknown
                );
            }
            if c.rejected > 0 {
                tracing::warn!(
                    "saved state: skipped {} records this version cannot use",
                    c.rejected
                );
            }
            c.accepted
        }
        Err(e) => {
            tracing::warn!(
                "dropping saved state of {} bytes: {e}; starting without it",
                saved.len()
            );
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::{Arc, Mutex};

    use tracing_core::field::{Field, Visit};
    use tracing_core::span::{Attributes, Id, Record};
    use tracing_core::{Event, Metadata, Subscriber};

    /// Collects the messages of events (for checking log lines).
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<String>>>);

    struct Msg(String);

    impl Visit for Msg {
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            if field.name() == "message" {
                self.0 = format!("{value:?}");
            }
        }
    }

    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut m = Msg(String::new());
            event.record(&mut m);
            self.0.lock().unwrap().push(m.0);
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    /// Runs `f` and returns its result with the log messages it emitted.
    fn logged<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
        let c = Capture::default();
        let r = tracing::subscriber::with_default(c.clone(), f);
        let lines = c.0.lock().unwrap().clone();
        (r, lines)
    }

    /// Decodes with owners `a` (accepts payloads starting with "ok") and `b` (accepts all);
    /// returns the counts and the records handed over.
    fn decode_ab(saved: &[u8]) -> (Result<Counts, FrameError>, Vec<String>) {
        let mut seen = Vec::new();
        let r = decode(saved, |k, p| {
            seen.push(format!("{k}:{p}"));
            match k {
                "a" => Some(p.starts_with("ok")),
                "b" => Some(true),
                _ => None,
            }
        });
        (r, seen)
    }

    #[test]
    fn round_trip() {
        let blob = encode(&[
            ("a", vec!["ok 1".into(), "ok 2 with spaces".into()]),
            ("b", vec!["x".into()]),
        ]);
        assert_eq!(
            std::str::from_utf8(&blob).unwrap(),
            "lxcfs-state 1\na ok 1\na ok 2 with spaces\nb x\n"
        );
        let (r, seen) = decode_ab(&blob);
        assert_eq!(
            r,
            Ok(Counts {
                accepted: 3,
                rejected: 0,
                unknown: 0
            })
        );
        assert_eq!(seen, ["a:ok 1", "a:ok 2 with spaces", "b:x"]);
    }

    #[test]
    fn empty_bytes_are_a_first_start() {
        assert_eq!(decode_ab(b""), (Ok(Counts::default()), vec![]));
        assert_eq!(decode_ab(&encode(&[])), (Ok(Counts::default()), vec![]));
    }

    #[test]
    fn unknown_version_is_dropped_whole() {
        for blob in [
            &b"lxcfs-state 2\na ok 1\nb x\n"[..],
            b"lxcfs-state 0\na ok\n",
            b"lxcfs-state 1.1\na ok\n",
            b"lxcfs-state \na ok\n",
        ] {
            let (r, seen) = decode_ab(blob);
            assert!(matches!(r, Err(FrameError::UnknownVersion(_))), "{r:?}");
            assert!(seen.is_empty(), "no record of {blob:?} may be read");
        }
        let (r, _) = decode_ab(b"lxcfs-state 7\n");
        assert_eq!(r, Err(FrameError::UnknownVersion("7".into())));
    }

    #[test]
    fn garbage_is_dropped_whole() {
        for blob in [
            &b"a ok 1\n"[..],
            b"lxcfs-statex 1\na ok\n",
            b"LXCFS-STATE 1\na ok\n",
            b"\nlxcfs-state 1\na ok\n",
        ] {
            let (r, seen) = decode_ab(blob);
            assert_eq!(r, Err(FrameError::NoHeader), "{blob:?}");
            assert!(seen.is_empty());
        }
        let (r, seen) = decode_ab(b"lxcfs-state 1\na ok \xff\n");
        assert_eq!(r, Err(FrameError::NotText));
        assert!(seen.is_empty());
    }

    #[test]
    fn unknown_kinds_and_rejected_records_are_skipped() {
        let blob = b"lxcfs-state 1\nfuture 1 2 3\na ok 1\na bad\n\nnokind\nb x\r\n";
        let (r, seen) = decode_ab(blob);
        assert_eq!(
            r,
            Ok(Counts {
                accepted: 2,
                rejected: 1,
                unknown: 2
            })
        );
        assert_eq!(seen, ["future:1 2 3", "a:ok 1", "a:bad", "nokind:", "b:x"]);
    }

    #[test]
    fn records_with_line_breaks_are_not_saved() {
        let (blob, log) = logged(|| {
            encode(&[(
                "a",
                vec!["ok 1".into(), "ok\nb injected".into(), "ok 3".into()],
            )])
        });
        let (r, seen) = decode_ab(&blob);
        assert_eq!(r.unwrap().accepted, 2);
        assert_eq!(seen, ["a:ok 1", "a:ok 3"]);
        assert!(log.iter().any(|l| l.contains("line break")), "{log:?}");
    }

    /// With the real owners: a record goes through, the same record under another version
    /// is dropped with a log line and leaves the state untouched.
    #[test]
    fn real_owners_and_versions() {
        use crate::cpuview::ViewKey;
        use lxcfs_formats::stat::CpuTimes;
        let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/v2/root");
        let lx = crate::Lxcfs::new(fixture, crate::Options::default());
        let key = ViewKey {
            cgroup: "/lxc/c1".into(),
            pidns: 4026531836,
        };
        let mut row = CpuTimes::default();
        row.0[0] = 1234;
        lx.cpuview
            .advance(key.clone(), &[row], u64::MAX, std::time::Instant::now());
        let saved = export(&lx);

        let next = crate::Lxcfs::new(fixture, crate::Options::default());
        assert_eq!(import(&next, &saved), 1);
        assert_eq!(next.cpuview.get(&key), lx.cpuview.get(&key));

        let text = String::from_utf8(saved).unwrap();
        let newer = text.replacen("lxcfs-state 1", "lxcfs-state 2", 1);
        let other = crate::Lxcfs::new(fixture, crate::Options::default());
        let (n, log) = logged(|| import(&other, newer.as_bytes()));
        assert_eq!(n, 0);
        assert!(
            other.cpuview.is_empty(),
            "nothing of a version-2 blob is read"
        );
        assert!(
            log.iter()
                .any(|l| l.contains("dropping saved state") && l.contains("unknown version")),
            "{log:?}"
        );

        let with_future = format!("{text}future-kind 9 9 9\n");
        let (n, log) = logged(|| import(&other, with_future.as_bytes()));
        assert_eq!(n, 1);
        assert!(
            log.iter().any(|l| l.contains("1 records of unknown kinds")),
            "{log:?}"
        );
    }
}
