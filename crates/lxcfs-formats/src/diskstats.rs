//! `/proc/diskstats` (Documentation/admin-guide/iostats.rst): `major minor name` followed by
//! 11 (before 4.18), 15 (4.18+, discards) or 17 (5.5+, flushes) counters.

/// One diskstats line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// Device major number.
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
    /// Device name (`sda`, `ram0`).
    pub name: String,
    /// The counters in file order (iostats.rst fields 1..).
    pub fields: Vec<u64>,
}

/// Field indices into [`Line::fields`] (iostats.rst numbering minus one).
pub mod field {
    /// reads completed
    pub const READS: usize = 0;
    /// reads merged
    pub const READS_MERGED: usize = 1;
    /// sectors read
    pub const SECTORS_READ: usize = 2;
    /// ms spent reading
    pub const READ_MS: usize = 3;
    /// writes completed
    pub const WRITES: usize = 4;
    /// writes merged
    pub const WRITES_MERGED: usize = 5;
    /// sectors written
    pub const SECTORS_WRITTEN: usize = 6;
    /// ms spent writing
    pub const WRITE_MS: usize = 7;
    /// I/Os in progress
    pub const IN_FLIGHT: usize = 8;
    /// ms doing I/O
    pub const IO_MS: usize = 9;
    /// weighted ms doing I/O
    pub const WEIGHTED_MS: usize = 10;
    /// discards completed
    pub const DISCARDS: usize = 11;
    /// discards merged
    pub const DISCARDS_MERGED: usize = 12;
    /// sectors discarded
    pub const SECTORS_DISCARDED: usize = 13;
    /// ms spent discarding
    pub const DISCARD_MS: usize = 14;
}

/// Parses one line; `None` when malformed.
pub fn parse_line(line: &str) -> Option<Line> {
    let mut it = line.split_whitespace();
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    let name = it.next()?.to_string();
    let fields: Option<Vec<u64>> = it.map(|t| t.parse().ok()).collect();
    let fields = fields?;
    if fields.is_empty() {
        return None;
    }
    Some(Line {
        major,
        minor,
        name,
        fields,
    })
}

/// Parses the whole file, skipping malformed lines.
pub fn parse(text: &str) -> Vec<Line> {
    text.lines().filter_map(parse_line).collect()
}

/// Number of counters per line in `text` (the first well-formed line), or 17 for an empty file.
pub fn field_count(text: &str) -> usize {
    parse(text).first().map_or(17, |l| l.fields.len())
}

/// Renders one line as the kernel does (`%4d %7d %s` then ` %lu` per counter), with a newline.
pub fn render_line(l: &Line) -> String {
    let mut s = format!("{:>4} {:>7} {}", l.major, l.minor, l.name);
    for v in &l.fields {
        s.push(' ');
        s.push_str(&v.to_string());
    }
    s.push('\n');
    s
}

/// Device name from a `/sys/dev/block/MAJ:MIN/uevent` text (`DEVNAME=ram0`).
pub fn uevent_devname(text: &str) -> Option<&str> {
    text.lines()
        .find_map(|l| l.strip_prefix("DEVNAME="))
        .map(str::trim)
        .filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let l = "   8       0 sda 100 2 300 4 5 6 7 8 0 9 10 0 0 0 0 1 2";
        let p = parse_line(l).unwrap();
        assert_eq!(p.fields.len(), 17);
        assert_eq!(render_line(&p), format!("{l}\n"));
        assert_eq!(parse_line("8 0"), None);
        assert_eq!(parse_line("8 0 sda x"), None);
        assert_eq!(field_count(""), 17);
    }

    #[test]
    fn uevent() {
        assert_eq!(
            uevent_devname("MAJOR=1\nMINOR=0\nDEVNAME=ram0\nDEVTYPE=disk\n"),
            Some("ram0")
        );
        assert_eq!(uevent_devname("MAJOR=1\n"), None);
    }
}
