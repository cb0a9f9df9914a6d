//! cgroup interface file formats (cgroup-v2.rst "Format", cgroup-v1 memory.rst).
//!
//! * single value: `memory.max` (`max` or bytes), `cpu.max` (`$MAX $PERIOD`), v1 `*_in_bytes`;
//! * flat keyed: `memory.stat`, `cpu.stat`, v1 `cpuacct.stat` (`key value` per line);
//! * nested keyed: `io.stat` (`MAJ:MIN key=value ...`), PSI files (`some avg10=… total=…`);
//! * v1 blkio: `MAJ:MIN Op value` lines (`blkio.throttle.io_serviced_recursive`).

/// A limit as cgroup files express it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Limit {
    /// A finite limit (bytes, or whatever unit the file uses).
    Value(u64),
    /// No limit: v2 `max`, or a v1 value at or above [`V1_UNLIMITED_FLOOR`].
    Max,
}

/// v1 memory files report "no limit" as `PAGE_COUNTER_MAX` pages in bytes
/// (0x7FFFFFFFFFFFF000 with 4 KiB pages); anything at or above 2^62 bytes is treated as no limit.
pub const V1_UNLIMITED_FLOOR: u64 = 1 << 62;

impl Limit {
    /// The smaller of two limits (`Max` is larger than every value).
    pub fn min(self, other: Limit) -> Limit {
        std::cmp::min(self, other)
    }

    /// The finite value, if any.
    pub fn value(self) -> Option<u64> {
        match self {
            Limit::Value(v) => Some(v),
            Limit::Max => None,
        }
    }
}

/// Parses a single-value limit file (`max`, a decimal number, or a v1 "unlimited" number;
/// surrounding whitespace allowed). `None` for empty or malformed text. v1's `-1` (cfs quota)
/// is also "no limit".
pub fn parse_limit(text: &str) -> Option<Limit> {
    let t = text.trim();
    if t == "max" || t == "-1" {
        return Some(Limit::Max);
    }
    let v: u64 = t.parse().ok()?;
    Some(if v >= V1_UNLIMITED_FLOOR {
        Limit::Max
    } else {
        Limit::Value(v)
    })
}

/// Parses a single unsigned decimal value (`memory.current`, `cpuacct.usage`, ...).
pub fn parse_u64(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// Parses v2 `cpu.max` (`$MAX $PERIOD`, `max` meaning no quota) into (quota µs, period µs).
/// `None` when there is no quota or the text is malformed.
pub fn parse_cpu_max(text: &str) -> Option<(u64, u64)> {
    let mut it = text.split_whitespace();
    let quota = it.next()?;
    let period: u64 = it.next().map_or(Some(100_000), |p| p.parse().ok())?;
    if quota == "max" || period == 0 {
        return None;
    }
    Some((quota.parse().ok()?, period))
}

/// Parses v1 `cpu.cfs_quota_us` + `cpu.cfs_period_us` into (quota µs, period µs); a negative
/// quota means no quota (`None`).
pub fn parse_cfs_quota(quota: &str, period: &str) -> Option<(u64, u64)> {
    let q: i64 = quota.trim().parse().ok()?;
    let p: u64 = period.trim().parse().ok()?;
    if q <= 0 || p == 0 {
        return None;
    }
    Some((q as u64, p))
}

/// Iterates the `key value` pairs of a flat keyed file, skipping malformed lines.
pub fn flat_keyed(text: &str) -> impl Iterator<Item = (&str, u64)> {
    text.lines().filter_map(|l| {
        let mut it = l.split_whitespace();
        let k = it.next()?;
        let v = it.next()?.parse().ok()?;
        Some((k, v))
    })
}

/// The value of `key` in a flat keyed file (exact key match, first occurrence).
pub fn flat_get(text: &str, key: &str) -> Option<u64> {
    flat_keyed(text).find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// One line of a nested keyed file: `MAJ:MIN key=value ...` or `some key=value ...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NestedLine<'a> {
    /// The first token (`8:0`, `some`, `full`).
    pub name: &'a str,
    /// The `key=value` pairs in order; values kept as text.
    pub fields: Vec<(&'a str, &'a str)>,
}

impl NestedLine<'_> {
    /// The value of `key` parsed as `u64`.
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.fields
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.parse().ok())
    }
}

/// Parses a nested keyed file; lines without a name are skipped, tokens without `=` ignored.
pub fn nested_keyed(text: &str) -> Vec<NestedLine<'_>> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let name = it.next()?;
            let fields = it.filter_map(|t| t.split_once('=')).collect();
            Some(NestedLine { name, fields })
        })
        .collect()
}

/// Parses a `MAJ:MIN` device number.
pub fn parse_devno(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// One `MAJ:MIN Op value` line of a v1 blkio file (`Op` is `Read`, `Write`, `Sync`, `Async`,
/// `Discard` or `Total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlkioLine<'a> {
    /// Device major number.
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
    /// Operation name.
    pub op: &'a str,
    /// Counter value.
    pub value: u64,
}

/// Parses a v1 blkio recursive stats file; the trailing `Total N` line and malformed lines
/// are skipped.
pub fn blkio_lines(text: &str) -> Vec<BlkioLine<'_>> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (major, minor) = parse_devno(it.next()?)?;
            let op = it.next()?;
            let value = it.next()?.parse().ok()?;
            Some(BlkioLine {
                major,
                minor,
                op,
                value,
            })
        })
        .collect()
}

/// Checks that a PSI text (`some ...`/`full ...` lines, psi.rst) is well formed: every line
/// names `some` or `full` and carries `avg10`, `avg60`, `avg300` and `total`.
pub fn is_valid_psi(text: &str) -> bool {
    let lines = nested_keyed(text);
    !lines.is_empty()
        && lines.iter().all(|l| {
            matches!(l.name, "some" | "full")
                && ["avg10", "avg60", "avg300", "total"]
                    .iter()
                    .all(|k| l.fields.iter().any(|(fk, _)| fk == k))
        })
}

/// A parsed PSI trigger (`some|full <threshold µs> <window µs>`, psi.rst "Userspace monitors").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PsiTrigger {
    /// `true` for `full`, `false` for `some`.
    pub full: bool,
    /// Stall threshold in µs.
    pub threshold_us: u64,
    /// Window in µs.
    pub window_us: u64,
}

impl PsiTrigger {
    /// The trigger as the kernel expects it, without a trailing NUL.
    pub fn render(&self) -> String {
        format!(
            "{} {} {}",
            if self.full { "full" } else { "some" },
            self.threshold_us,
            self.window_us
        )
    }
}

/// Parses and validates a trigger as upstream lxcfs does: window 1..=10 s in µs (forced to 2 s
/// unless it is a multiple of 2 s, the kernel's rule for unprivileged triggers), threshold
/// 1..=window. Trailing NULs and newlines are ignored. `None` when invalid (`EINVAL`).
pub fn parse_psi_trigger(text: &str) -> Option<PsiTrigger> {
    let t = text.trim_end_matches(['\0', '\n', ' ']);
    let mut it = t.split_whitespace();
    let full = match it.next()? {
        "some" => false,
        "full" => true,
        _ => return None,
    };
    let threshold_us: u64 = it.next()?.parse().ok()?;
    let mut window_us: u64 = it.next()?.parse().ok()?;
    if it.next().is_some() || window_us == 0 || window_us > 10_000_000 {
        return None;
    }
    if window_us % 2_000_000 != 0 {
        window_us = 2_000_000;
    }
    if threshold_us == 0 || threshold_us > window_us {
        return None;
    }
    Some(PsiTrigger {
        full,
        threshold_us,
        window_us,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(parse_limit("max\n"), Some(Limit::Max));
        assert_eq!(parse_limit("268435456\n"), Some(Limit::Value(268435456)));
        assert_eq!(parse_limit("9223372036854771712\n"), Some(Limit::Max));
        assert_eq!(parse_limit("0"), Some(Limit::Value(0)));
        assert_eq!(parse_limit("garbage"), None);
        assert_eq!(parse_limit(""), None);
        assert_eq!(Limit::Max.min(Limit::Value(3)), Limit::Value(3));
    }

    #[test]
    fn cpu_max() {
        assert_eq!(parse_cpu_max("50000 100000\n"), Some((50000, 100000)));
        assert_eq!(parse_cpu_max("max 100000\n"), None);
        assert_eq!(parse_cpu_max("x 100000"), None);
        assert_eq!(parse_cfs_quota("-1\n", "100000\n"), None);
        assert_eq!(
            parse_cfs_quota("50000\n", "100000\n"),
            Some((50000, 100000))
        );
    }

    #[test]
    fn flat_exact_keys() {
        let t = "file 10\nfile_mapped 20\nanon_thp 5\nbroken\nx y\n";
        assert_eq!(flat_get(t, "file"), Some(10));
        assert_eq!(flat_get(t, "file_mapped"), Some(20));
        assert_eq!(flat_get(t, "anon"), None);
        assert_eq!(flat_keyed(t).count(), 3);
    }

    #[test]
    fn nested() {
        let t = "1:0 rbytes=0 wbytes=8388608 rios=0 wios=64 dbytes=0 dios=0\n\n";
        let l = nested_keyed(t);
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].name, "1:0");
        assert_eq!(l[0].get_u64("wbytes"), Some(8388608));
        assert!(is_valid_psi(
            "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
        ));
        assert!(!is_valid_psi("garbage\n"));
        assert!(!is_valid_psi(""));
    }

    #[test]
    fn blkio() {
        let t = "8:0 Read 10\n8:0 Write 20\nTotal 30\n";
        let l = blkio_lines(t);
        assert_eq!(l.len(), 2);
        assert_eq!(
            l[1],
            BlkioLine {
                major: 8,
                minor: 0,
                op: "Write",
                value: 20
            }
        );
    }

    #[test]
    fn psi_triggers() {
        assert_eq!(
            parse_psi_trigger("some 150000 1000000\0"),
            Some(PsiTrigger {
                full: false,
                threshold_us: 150000,
                window_us: 2_000_000
            })
        );
        assert_eq!(
            parse_psi_trigger("full 20000 4000000\n").unwrap().render(),
            "full 20000 4000000"
        );
        assert_eq!(parse_psi_trigger("some 0 2000000"), None);
        assert_eq!(parse_psi_trigger("some 3000000 2000000"), None);
        assert_eq!(parse_psi_trigger("some 1 20000000"), None);
        assert_eq!(parse_psi_trigger("other 1 2000000"), None);
        assert_eq!(parse_psi_trigger("some 1 2000000 extra"), None);
    }
}
