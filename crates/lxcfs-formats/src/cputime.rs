//! CPU time sources: v1 `cpuacct.usage_all` and `cpuacct.usage_percpu` (kernel
//! `Documentation/admin-guide/cgroup-v1/cpuacct.rst`), and `/proc/uptime` (proc(5)).
//!
//! Units are the files' own: cpuacct files count nanoseconds, `/proc/uptime` prints seconds
//! with two decimals, returned here as hundredths of a second (which equal USER_HZ ticks,
//! USER_HZ being 100).

/// Nanoseconds one CPU spent for a cgroup, split as `cpuacct.usage_all` reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuNs {
    /// CPU number.
    pub cpu: u32,
    /// Time in user mode (ns).
    pub user: u64,
    /// Time in kernel mode (ns).
    pub system: u64,
}

/// Parses `cpuacct.usage_all`: a header line `cpu user system`, then one line
/// `<cpu> <user ns> <system ns>` per possible CPU. Lines that do not have that shape (the
/// header included) are skipped; `None` when no line could be read.
pub fn parse_usage_all(text: &str) -> Option<Vec<CpuNs>> {
    let rows: Vec<CpuNs> = text
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let cpu = it.next()?.parse().ok()?;
            let user = it.next()?.parse().ok()?;
            let system = it.next()?.parse().ok()?;
            Some(CpuNs { cpu, user, system })
        })
        .collect();
    (!rows.is_empty()).then_some(rows)
}

/// Parses `cpuacct.usage_percpu`: space-separated nanosecond totals, the n-th for CPU n.
/// `None` when a field is not a number or there is none.
pub fn parse_usage_percpu(text: &str) -> Option<Vec<u64>> {
    let v: Option<Vec<u64>> = text.split_whitespace().map(|t| t.parse().ok()).collect();
    v.filter(|v| !v.is_empty())
}

/// Parses a non-negative decimal with at most two fractional digits (`1963.1`, `8.20`, `7`)
/// into hundredths. Further digits are truncated. `None` when malformed.
pub fn parse_hundredths(text: &str) -> Option<u64> {
    let t = text.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut f: u64 = 0;
    let mut digits = frac.bytes();
    for _ in 0..2 {
        f = f * 10 + digits.next().map_or(0, |b| u64::from(b - b'0'));
    }
    int.parse::<u64>().ok()?.checked_mul(100)?.checked_add(f)
}

/// Parses `/proc/uptime` (`<uptime s> <idle s>`) into (uptime, idle) in hundredths of a
/// second. The uptime is CLOCK_BOOTTIME; idle is summed over all CPUs.
pub fn parse_uptime(text: &str) -> Option<(u64, u64)> {
    let mut it = text.split_whitespace();
    let up = parse_hundredths(it.next()?)?;
    let idle = parse_hundredths(it.next()?)?;
    Some((up, idle))
}

/// Renders hundredths as `/proc/uptime` prints seconds: `12.05`.
pub fn render_hundredths(v: u64) -> String {
    format!("{}.{:02}", v / 100, v % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_all() {
        let t = "cpu user system\n0 119214226000 295946366142\n1 171248855458 418690592811\n";
        let v = parse_usage_all(t).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(
            v[1],
            CpuNs {
                cpu: 1,
                user: 171248855458,
                system: 418690592811
            }
        );
        assert_eq!(parse_usage_all("cpu user system\n"), None);
        assert_eq!(parse_usage_all("garbage\n"), None);
        assert_eq!(parse_usage_all("0 1 x\n1 2 3\n").unwrap().len(), 1);
    }

    #[test]
    fn usage_percpu() {
        assert_eq!(
            parse_usage_percpu("423145514149 597408819785 \n"),
            Some(vec![423145514149, 597408819785])
        );
        assert_eq!(parse_usage_percpu("1 x"), None);
        assert_eq!(parse_usage_percpu("\n"), None);
    }

    #[test]
    fn hundredths() {
        assert_eq!(parse_hundredths("1963.10"), Some(196310));
        assert_eq!(parse_hundredths("8.2"), Some(820));
        assert_eq!(parse_hundredths("7"), Some(700));
        assert_eq!(parse_hundredths("0.129"), Some(12));
        assert_eq!(parse_hundredths("-1.00"), None);
        assert_eq!(parse_hundredths("1.x"), None);
        assert_eq!(parse_hundredths(""), None);
        assert_eq!(parse_hundredths("99999999999999999999.00"), None);
        assert_eq!(parse_uptime("8.20 8.33\n"), Some((820, 833)));
        assert_eq!(parse_uptime("8.20\n"), None);
        for v in [0, 5, 100, 12345] {
            assert_eq!(parse_hundredths(&render_hundredths(v)), Some(v));
        }
        assert_eq!(render_hundredths(1205), "12.05");
    }
}
