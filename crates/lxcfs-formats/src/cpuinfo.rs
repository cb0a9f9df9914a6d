//! `/proc/cpuinfo`: one block of `key\t: value` lines per CPU, blocks separated by a blank
//! line, each starting with `processor\t: N` (x86, arm64, ppc64, riscv). s390x prints a
//! different layout (`vendor_id`, `# processors`, then `processor N: ...` lines) and is handled
//! by [`filter`] too.

/// Splits x86-style cpuinfo into `(cpu number, block text including its trailing newline(s))`.
/// Text before the first `processor` line is returned as a block with number `None`.
pub fn blocks(text: &str) -> Vec<(Option<u32>, String)> {
    let mut out: Vec<(Option<u32>, String)> = Vec::new();
    for line in text.split_inclusive('\n') {
        if let Some(n) = processor_number(line) {
            out.push((Some(n), String::new()));
        } else if out.is_empty() {
            out.push((None, String::new()));
        }
        if let Some(last) = out.last_mut() {
            last.1.push_str(line);
        }
    }
    out
}

/// The CPU number of a `processor\t: N` line.
pub fn processor_number(line: &str) -> Option<u32> {
    let (k, v) = line.split_once(':')?;
    if k.trim_end() != "processor" {
        return None;
    }
    v.trim().parse().ok()
}

/// Keeps the blocks of the CPUs for which `keep(cpu)` is true, renumbered from 0 in order, at
/// most `limit` of them. Lines inside kept blocks are copied verbatim.
pub fn filter(text: &str, keep: impl Fn(u32) -> bool, limit: usize) -> String {
    if text.starts_with("vendor_id") && text.contains("# processors") {
        return filter_s390(text, keep, limit);
    }
    let mut out = String::with_capacity(text.len());
    let mut next = 0u32;
    for (cpu, block) in blocks(text) {
        let Some(cpu) = cpu else { continue };
        if !keep(cpu) || next as usize >= limit {
            continue;
        }
        let mut lines = block.split_inclusive('\n');
        if let Some(first) = lines.next() {
            let (k, _) = first.split_once(':').unwrap_or((first, ""));
            out.push_str(k);
            out.push_str(": ");
            out.push_str(&next.to_string());
            out.push('\n');
        }
        for l in lines {
            out.push_str(l);
        }
        next += 1;
    }
    out
}

/// s390x layout: header lines, `# processors    : N`, then `processor N: ...` lines and
/// per-CPU `cpu number : N` blocks. Keeps the header, fixes the processor count and keeps and
/// renumbers the `processor N:` lines of visible CPUs.
fn filter_s390(text: &str, keep: impl Fn(u32) -> bool, limit: usize) -> String {
    let mut kept = Vec::new();
    let mut header = Vec::new();
    let mut tail = Vec::new();
    let mut next = 0u32;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("processor ") {
            if let Some((n, body)) = rest.split_once(':') {
                if let Ok(n) = n.trim().parse::<u32>() {
                    if keep(n) && (next as usize) < limit {
                        kept.push(format!("processor {next}:{body}"));
                        next += 1;
                    }
                    continue;
                }
            }
        }
        if kept.is_empty() {
            header.push(line.to_string());
        } else {
            tail.push(line.to_string());
        }
    }
    let mut out = String::new();
    for h in header {
        if h.starts_with("# processors") {
            let (k, _) = h.split_once(':').unwrap_or((&h, ""));
            out.push_str(&format!("{k}: {next}\n"));
        } else {
            out.push_str(&h);
            out.push('\n');
        }
    }
    for k in kept {
        out.push_str(&k);
        out.push('\n');
    }
    for t in tail {
        out.push_str(&t);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const X86: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\n\nprocessor\t: 1\nvendor_id\t: GenuineIntel\n\nprocessor\t: 2\nvendor_id\t: GenuineIntel\n\n";

    #[test]
    fn keeps_and_renumbers() {
        let out = filter(X86, |c| c == 1 || c == 2, usize::MAX);
        assert_eq!(
            out,
            "processor\t: 0\nvendor_id\t: GenuineIntel\n\nprocessor\t: 1\nvendor_id\t: GenuineIntel\n\n"
        );
        let out = filter(X86, |_| true, 1);
        assert_eq!(out.matches("processor").count(), 1);
        assert_eq!(filter(X86, |_| false, 9), "");
    }

    #[test]
    fn s390() {
        let t = "vendor_id       : IBM/S390\n# processors    : 2\nbogomips per cpu: 1.0\nprocessor 0: version = FF\nprocessor 1: version = FF\n\ncpu number      : 0\n";
        let out = filter(t, |c| c == 1, 8);
        assert!(out.contains("# processors    : 1\n"));
        assert!(out.contains("processor 0: version = FF\n"));
        assert!(!out.contains("processor 1:"));
    }
}
