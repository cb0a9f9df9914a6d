//! State kept across a library reload: versioned bytes written by the old library in
//! `shutdown` and read by the new one in `init`.
//!
//! Format (UTF-8 text, one record per line): a first line `lxcfs-state <version>`, then
//! records `<kind> <payload>`; `cpuview` records belong to [`crate::cpuview::CpuViews`],
//! `loadavg` records to [`crate::proc::loadavg::LoadAvgs`], each of which defines its payload.
//! An unknown version is dropped whole with a log line; unknown kinds and records their owner
//! rejects are skipped and counted.

/// Current version of the saved-state format.
pub const VERSION: u32 = 1;

/// Serializes the state worth keeping.
pub fn export(lx: &crate::Lxcfs) -> Vec<u8> {
    let mut out = format!("lxcfs-state {VERSION}\n");
    for r in lx.cpuview.export() {
        out.push_str("cpuview ");
        out.push_str(&r);
        out.push('\n');
    }
    for r in lx.loadavg.export() {
        out.push_str("loadavg ");
        out.push_str(&r);
        out.push('\n');
    }
    out.into_bytes()
}

/// Restores what `export` wrote; returns the number of records accepted.
pub fn import(lx: &crate::Lxcfs, saved: &[u8]) -> usize {
    if saved.is_empty() {
        return 0;
    }
    let text = String::from_utf8_lossy(saved);
    let mut lines = text.lines();
    match lines.next().and_then(|l| l.strip_prefix("lxcfs-state ")).map(str::trim) {
        Some(v) if v == VERSION.to_string() => {}
        other => {
            tracing::warn!("dropping saved state of unknown version {other:?}");
            return 0;
        }
    }
    let (mut ok, mut bad) = (0, 0);
    for line in lines {
        let (kind, payload) = line.split_once(' ').unwrap_or((line, ""));
        let accepted = match kind {
            "cpuview" => lx.cpuview.import(payload),
            "loadavg" => lx.loadavg.import(payload),
            _ => false,
        };
        if accepted {
            ok += 1;
        } else {
            bad += 1;
        }
    }
    if bad > 0 {
        tracing::warn!("skipped {bad} saved-state records that this version cannot use");
    }
    ok
}
