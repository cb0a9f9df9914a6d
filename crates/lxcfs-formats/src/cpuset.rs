//! CPU list format (`0-3,7`) of `cpuset.cpus`, `cpuset.cpus.effective`, v1
//! `cpuset.effective_cpus` and `/sys/devices/system/cpu/{online,possible,present}`
//! (cgroup-v2.rst "Cpuset Interface Files", "cpu list" in the kernel's `cpumask_parselist`).

/// Largest CPU number accepted; larger numbers make the list malformed (kernel NR_CPUS max).
pub const MAX_CPU: u32 = 8191;

/// Parses a CPU list into the sorted, de-duplicated CPU numbers. `None` when malformed.
/// An empty (or whitespace-only) list is `Some(vec![])`.
pub fn parse(text: &str) -> Option<Vec<u32>> {
    let mut cpus = Vec::new();
    for part in text
        .trim()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?),
            None => {
                let a = part.parse::<u32>().ok()?;
                (a, a)
            }
        };
        if a > b || b > MAX_CPU {
            return None;
        }
        cpus.extend(a..=b);
    }
    cpus.sort_unstable();
    cpus.dedup();
    Some(cpus)
}

/// Renders sorted CPU numbers as the kernel does (`0-2,5`), without a newline.
pub fn render(cpus: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        let mut end = start;
        while i + 1 < cpus.len() && cpus[i + 1] == end + 1 {
            i += 1;
            end = cpus[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}-{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_lists() {
        assert_eq!(parse("0-3,7\n"), Some(vec![0, 1, 2, 3, 7]));
        assert_eq!(parse("1,2"), Some(vec![1, 2]));
        assert_eq!(parse("1,4-5"), Some(vec![1, 4, 5]));
        assert_eq!(parse(""), Some(vec![]));
        assert_eq!(parse("\n"), Some(vec![]));
        assert_eq!(parse("3-1"), None);
        assert_eq!(parse("a"), None);
        assert_eq!(parse("0-99999"), None);
    }

    #[test]
    fn render_round_trips() {
        for s in ["0", "0-3", "0,2-3", "1,3,5-7", ""] {
            assert_eq!(render(&parse(s).unwrap()), s);
        }
        assert_eq!(render(&[0, 1, 2, 5]), "0-2,5");
    }
}
