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
/// most `limit` of them.
///
/// Lines inside kept blocks are copied verbatim except the x86 topology counts, which the
/// kernel computes over *online* CPUs and which are recomputed over the kept blocks the same
/// way (arch/x86/kernel/cpu/proc.c `show_cpuinfo_core`): `siblings` becomes the number of kept
/// blocks with the block's `physical id`, `cpu cores` the number of distinct `core id`s among
/// them. A block without `physical id` counts in one package with the other such blocks.
pub fn filter(text: &str, keep: impl Fn(u32) -> bool, limit: usize) -> String {
    if text.starts_with("vendor_id") && text.contains("# processors") {
        return filter_s390(text, keep, limit);
    }
    let kept: Vec<String> = blocks(text)
        .into_iter()
        .filter_map(|(cpu, block)| cpu.filter(|c| keep(*c)).map(|_| block))
        .take(limit)
        .collect();
    let mut packages: Vec<Package> = Vec::new();
    for block in &kept {
        let id = field(block, "physical id");
        let core = field(block, "core id");
        match packages.iter_mut().find(|p| p.id == id) {
            Some(p) => {
                p.siblings += 1;
                if !p.cores.contains(&core) {
                    p.cores.push(core);
                }
            }
            None => packages.push(Package {
                id,
                siblings: 1,
                cores: vec![core],
            }),
        }
    }
    let mut out = String::with_capacity(text.len());
    for (next, block) in kept.iter().enumerate() {
        let id = field(block, "physical id");
        let (siblings, cores) = packages
            .iter()
            .find(|p| p.id == id)
            .map(|p| (p.siblings, p.cores.len()))
            .unwrap_or((1, 1));
        for (i, line) in block.split_inclusive('\n').enumerate() {
            let (k, _) = line.split_once(':').unwrap_or((line, ""));
            let value = match k.trim_end() {
                _ if i == 0 => next,
                "siblings" => siblings,
                "cpu cores" => cores,
                _ => {
                    out.push_str(line);
                    continue;
                }
            };
            out.push_str(k);
            out.push_str(": ");
            out.push_str(&value.to_string());
            out.push('\n');
        }
    }
    out
}

/// One x86 package (`physical id`) among the kept blocks.
struct Package<'a> {
    /// Its `physical id`, `None` for blocks without one.
    id: Option<&'a str>,
    /// Kept blocks in it.
    siblings: usize,
    /// Distinct `core id`s of those blocks.
    cores: Vec<Option<&'a str>>,
}

/// The value of the first `key : value` line of a block.
fn field<'a>(block: &'a str, key: &str) -> Option<&'a str> {
    block.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim_end() == key).then(|| v.trim())
    })
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
    fn topology_counts_are_those_of_the_kept_cpus() {
        // Two packages of two cores with two threads each (cpus 0-3 in package 0).
        let mut host = String::new();
        for cpu in 0..8 {
            host.push_str(&format!(
                "processor\t: {cpu}\nphysical id\t: {}\nsiblings\t: 4\ncore id\t\t: {}\n\
                 cpu cores\t: 2\napicid\t\t: {cpu}\n\n",
                cpu / 4,
                (cpu / 2) % 2
            ));
        }
        // Both threads of core 0 of package 0, one thread of core 1 of package 1.
        let out = filter(&host, |c| [0, 1, 6].contains(&c), usize::MAX);
        let blocks: Vec<&str> = out.split("\n\n").filter(|b| !b.is_empty()).collect();
        assert_eq!(blocks.len(), 3, "{out}");
        assert_eq!(
            blocks[0],
            "processor\t: 0\nphysical id\t: 0\nsiblings\t: 2\ncore id\t\t: 0\ncpu cores\t: 1\napicid\t\t: 0"
        );
        assert!(blocks[1].contains("siblings\t: 2\n") && blocks[1].contains("cpu cores\t: 1\n"));
        assert_eq!(
            blocks[2],
            "processor\t: 2\nphysical id\t: 1\nsiblings\t: 1\ncore id\t\t: 1\ncpu cores\t: 1\napicid\t\t: 6"
        );
        // A quota cut counts only the blocks shown.
        let out = filter(&host, |_| true, 3);
        assert_eq!(out.matches("siblings\t: 3\n").count(), 3, "{out}");
        assert_eq!(out.matches("cpu cores\t: 2\n").count(), 3, "{out}");
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
