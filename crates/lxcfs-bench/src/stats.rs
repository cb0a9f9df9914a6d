//! Summaries of latency samples.

use std::time::Duration;

/// Throughput and latency of one benchmark cell.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    /// Operations completed inside the measurement window.
    pub ops: u64,
    /// Operations that failed (open or read error); not counted in `ops`.
    pub errors: u64,
    /// `ops` per second of the window.
    pub ops_per_sec: f64,
    /// Median latency of one operation.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Largest latency.
    pub max: Duration,
}

/// The `q`-quantile (0.0..=1.0) of sorted samples, nearest-rank; zero for no samples.
pub fn quantile<T: Copy + Default>(sorted: &[T], q: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Summary {
    /// Summarizes latency samples in nanoseconds (sorted in place) collected over `window`.
    pub fn from_nanos(samples: &mut [u32], errors: u64, window: Duration) -> Summary {
        samples.sort_unstable();
        let ns = |v: u32| Duration::from_nanos(u64::from(v));
        let secs = window.as_secs_f64();
        Summary {
            ops: samples.len() as u64,
            errors,
            ops_per_sec: if secs > 0.0 {
                samples.len() as f64 / secs
            } else {
                0.0
            },
            p50: ns(quantile(samples, 0.50)),
            p99: ns(quantile(samples, 0.99)),
            max: ns(samples.last().copied().unwrap_or(0)),
        }
    }
}

/// Formats a duration in microseconds with one decimal (`123.4`).
pub fn micros(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

/// Formats a duration in milliseconds with two decimals (`12.34`).
pub fn millis(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), 50);
        assert_eq!(quantile(&v, 0.99), 99);
        assert_eq!(quantile(&v, 1.0), 100);
        assert_eq!(quantile(&v, 0.0), 1);
        assert_eq!(quantile::<u32>(&[], 0.5), 0);
    }

    #[test]
    fn summary() {
        let mut v = vec![3000, 1000, 2000, 4000];
        let s = Summary::from_nanos(&mut v, 1, Duration::from_secs(2));
        assert_eq!(s.ops, 4);
        assert_eq!(s.errors, 1);
        assert!((s.ops_per_sec - 2.0).abs() < 1e-9);
        assert_eq!(s.p50, Duration::from_nanos(2000));
        assert_eq!(s.max, Duration::from_nanos(4000));
        assert_eq!(micros(s.p50), "2.0");
    }
}
