//! `/proc/stat` (proc(5)): `cpu` lines in USER_HZ ticks plus other lines passed through.

/// Number of time columns the kernel prints on a `cpu` line (user nice system idle iowait irq
/// softirq steal guest guest_nice).
pub const CPU_FIELDS: usize = 10;

/// Column indices of [`CpuTimes::0`].
pub mod col {
    /// user
    pub const USER: usize = 0;
    /// nice
    pub const NICE: usize = 1;
    /// system
    pub const SYSTEM: usize = 2;
    /// idle
    pub const IDLE: usize = 3;
    /// iowait
    pub const IOWAIT: usize = 4;
    /// irq
    pub const IRQ: usize = 5;
    /// softirq
    pub const SOFTIRQ: usize = 6;
    /// steal
    pub const STEAL: usize = 7;
}

/// The ten time columns of one `cpu` line, in USER_HZ ticks. Missing columns (old kernels) are 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTimes(pub [u64; CPU_FIELDS]);

impl CpuTimes {
    /// Every column except idle and iowait (guest time is already inside user/nice).
    pub fn busy(&self) -> u64 {
        let v = &self.0;
        v[col::USER]
            .saturating_add(v[col::NICE])
            .saturating_add(v[col::SYSTEM])
            .saturating_add(v[col::IRQ])
            .saturating_add(v[col::SOFTIRQ])
            .saturating_add(v[col::STEAL])
    }

    /// Column-wise saturating sum.
    pub fn add(&self, other: &CpuTimes) -> CpuTimes {
        let mut r = *self;
        for (a, b) in r.0.iter_mut().zip(other.0.iter()) {
            *a = a.saturating_add(*b);
        }
        r
    }
}

/// A `cpu` line of `/proc/stat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuLine {
    /// The aggregate `cpu  ...` line.
    Total(CpuTimes),
    /// A `cpuN ...` line.
    Cpu(u32, CpuTimes),
}

/// Parses a `cpu` or `cpuN` line; `None` for other lines or malformed numbers.
pub fn parse_cpu_line(line: &str) -> Option<CpuLine> {
    let rest = line.strip_prefix("cpu")?;
    let mut it = rest.split_whitespace();
    let first = if rest.starts_with(' ') {
        None
    } else {
        Some(it.next()?)
    };
    let mut t = CpuTimes::default();
    for (i, tok) in it.enumerate() {
        if i >= CPU_FIELDS {
            break;
        }
        t.0[i] = tok.parse().ok()?;
    }
    match first {
        None => Some(CpuLine::Total(t)),
        Some(n) => Some(CpuLine::Cpu(n.parse().ok()?, t)),
    }
}

/// Renders a `cpu` line as the kernel does: `cpu  a b ...` for the aggregate (two spaces),
/// `cpuN a b ...` for one CPU; no trailing newline.
pub fn render_cpu_line(cpu: Option<u32>, t: &CpuTimes) -> String {
    let mut s = match cpu {
        None => String::from("cpu "),
        Some(n) => format!("cpu{n}"),
    };
    for v in t.0 {
        s.push(' ');
        s.push_str(&v.to_string());
    }
    s
}

/// Returns the per-CPU lines of a host `/proc/stat`, in file order.
pub fn per_cpu(text: &str) -> Vec<(u32, CpuTimes)> {
    text.lines()
        .filter_map(|l| match parse_cpu_line(l)? {
            CpuLine::Cpu(n, t) => Some((n, t)),
            CpuLine::Total(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_render() {
        let total = "cpu  10 0 20 300 4 0 1 0 0 0";
        let one = "cpu1 5 0 10 150 2 0 0 0 0 0";
        let CpuLine::Total(t) = parse_cpu_line(total).unwrap() else {
            panic!()
        };
        assert_eq!(t.0[col::IDLE], 300);
        assert_eq!(t.busy(), 31);
        assert_eq!(render_cpu_line(None, &t), total);
        let CpuLine::Cpu(n, t1) = parse_cpu_line(one).unwrap() else {
            panic!()
        };
        assert_eq!(n, 1);
        assert_eq!(render_cpu_line(Some(1), &t1), one);
        assert_eq!(parse_cpu_line("intr 1 2 3"), None);
        assert_eq!(parse_cpu_line("cpux 1 2"), None);
        assert_eq!(parse_cpu_line("cpu1 a b"), None);
        let short = parse_cpu_line("cpu0 1 2 3 4").unwrap();
        assert_eq!(
            short,
            CpuLine::Cpu(0, CpuTimes([1, 2, 3, 4, 0, 0, 0, 0, 0, 0]))
        );
    }

    #[test]
    fn per_cpu_lines() {
        let t = "cpu  1 1 1 1 1 1 1 1 1 1\ncpu0 1 0 0 0 0 0 0 0 0 0\ncpu3 2 0 0 0 0 0 0 0 0 0\nintr 5\n";
        let v = per_cpu(t);
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].0, 3);
    }
}
