//! `/proc/meminfo` (proc(5)): `Key:<spaces>value[ kB]` lines.
//!
//! The kernel pads each label to a fixed column and right-aligns the number
//! (`MemTotal:       16316156 kB`). [`rewrite`] replaces values in place and keeps that
//! column layout, the host's line order and every line it is not asked to change.

use std::collections::HashMap;

/// One parsed meminfo line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line<'a> {
    /// The label without the colon (`MemTotal`, `Active(anon)`).
    pub key: &'a str,
    /// The number (kB for lines with a ` kB` unit, a count otherwise).
    pub value: u64,
}

/// Parses one line; `None` when it is not `Key: number ...`.
pub fn parse_line(line: &str) -> Option<Line<'_>> {
    let (key, rest) = line.split_once(':')?;
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some(Line {
        key: key.trim(),
        value,
    })
}

/// Parses the whole file into a key → value map (kB for kB lines).
pub fn parse(text: &str) -> HashMap<&str, u64> {
    text.lines()
        .filter_map(parse_line)
        .map(|l| (l.key, l.value))
        .collect()
}

/// Returns `line` with its number replaced by `value`, right-aligned in the same columns
/// (the field grows to the left when the new number is longer).
pub fn replace_value(line: &str, value: u64) -> String {
    let mut out = String::with_capacity(line.len() + 4);
    push_replaced(&mut out, line, value);
    out
}

/// Appends `line` with its number replaced by `value` to `out`; see [`replace_value`].
pub fn push_replaced(out: &mut String, line: &str, value: u64) {
    let Some(colon) = line.find(':') else {
        out.push_str(line);
        return;
    };
    let after = &line[colon + 1..];
    let Some(digits_start) = after.find(|c: char| c.is_ascii_digit()) else {
        out.push_str(line);
        return;
    };
    let digits_len = after[digits_start..]
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(after.len() - digits_start);
    let width = digits_start + digits_len;
    let tail = &after[digits_start + digits_len..];
    let mut digits = [0u8; 20];
    let mut n = digits.len();
    let mut v = value;
    loop {
        n -= 1;
        digits[n] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let num = &digits[n..];
    out.push_str(&line[..=colon]);
    if num.len() < width {
        out.extend(std::iter::repeat_n(' ', width - num.len()));
    } else {
        // Keep at least one space after the colon, as the kernel does for wide numbers.
        out.push(' ');
    }
    out.push_str(std::str::from_utf8(num).unwrap_or("0"));
    out.push_str(tail);
}

/// The value of `key` in meminfo text (exact key match, first occurrence), without building a
/// map of the whole file.
pub fn value_of(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Rewrites `host` line by line: for each line whose key `values` maps to `Some(v)`, the value
/// becomes `v`; other lines are copied unchanged. Keys are matched exactly. The result ends
/// with a newline when `host` does.
pub fn rewrite(host: &str, mut values: impl FnMut(&str) -> Option<u64>) -> String {
    let mut out = String::with_capacity(host.len() + 64);
    for line in host.lines() {
        match parse_line(line).and_then(|l| values(l.key)) {
            Some(v) => push_replaced(&mut out, line, v),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_keeps_keys() {
        let m = parse("MemTotal:       16316156 kB\nActive(anon):     123 kB\nHugePages_Total:       0\nbad line\n");
        assert_eq!(m["MemTotal"], 16316156);
        assert_eq!(m["Active(anon)"], 123);
        assert_eq!(m["HugePages_Total"], 0);
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn replace_keeps_columns() {
        assert_eq!(
            replace_value("MemTotal:       16316156 kB", 262144),
            "MemTotal:         262144 kB"
        );
        assert_eq!(
            replace_value("Zswap:                 0 kB", 12),
            "Zswap:                12 kB"
        );
        assert_eq!(
            replace_value("MemTotal:       16316156 kB", 1234567890123),
            "MemTotal:  1234567890123 kB"
        );
        assert_eq!(
            replace_value("HugePages_Total:       0", 5),
            "HugePages_Total:       5"
        );
        assert_eq!(replace_value("nonsense", 5), "nonsense");
    }

    #[test]
    fn value_lookup_is_exact() {
        let t = "MemTotalX: 5 kB\nMemTotal:  7 kB\nSwapTotal: 0 kB\n";
        assert_eq!(value_of(t, "MemTotal"), Some(7));
        assert_eq!(value_of(t, "SwapTotal"), Some(0));
        assert_eq!(value_of(t, "Nope"), None);
        assert_eq!(
            replace_value("MemFree:  1 kB", u64::MAX),
            "MemFree: 18446744073709551615 kB"
        );
    }

    #[test]
    fn rewrite_exact_keys_only() {
        let host = "MemTotal:       100 kB\nMemTotalX:      100 kB\nOther: 1\n";
        let out = rewrite(host, |k| (k == "MemTotal").then_some(7));
        assert_eq!(
            out,
            "MemTotal:         7 kB\nMemTotalX:      100 kB\nOther: 1\n"
        );
    }
}
