//! Latency percentiles at a fixed cost: log-linear buckets, eight per
//! power of two, so a percentile is off by at most an eighth of its value,
//! counting costs a few instructions and a syscall's histogram 4 KiB.

/// Sub-buckets per power of two (a power of two itself).
const SUB: u64 = 8;
const SUB_BITS: u32 = SUB.trailing_zeros();
/// Values below `SUB` have a bucket each; above, one row of `SUB` per power of two up to 2^63.
const BUCKETS: usize = ((64 - SUB_BITS + 1) * SUB as u32) as usize;

#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }
}

fn bucket(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros();
    let mantissa = (v >> (exp - SUB_BITS)) & (SUB - 1);
    ((exp - SUB_BITS + 1) as u64 * SUB + mantissa) as usize
}

/// The smallest value in bucket `b`.
fn lower(b: usize) -> u64 {
    let b = b as u64;
    if b < SUB {
        return b;
    }
    let exp = (b / SUB - 1) as u32 + SUB_BITS;
    (SUB + b % SUB) << (exp - SUB_BITS)
}

impl Histogram {
    pub fn add(&mut self, v: u64) {
        self.counts[bucket(v)] += 1;
        self.total += 1;
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The value below which `q` (0..=1) of the values lie: the middle of
    /// its bucket; `None` before any value.
    #[must_use]
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (b, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let low = lower(b);
                let high = if b + 1 < BUCKETS {
                    lower(b + 1)
                } else {
                    u64::MAX
                };
                return Some(low + (high - low) / 2);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_tight() {
        let mut last = 0;
        for v in (0..100_000u64).chain([u64::MAX / 3, u64::MAX]) {
            let b = bucket(v);
            assert!(b >= last && b < BUCKETS, "{v}");
            assert!(lower(b) <= v, "{v}: bucket {b} starts at {}", lower(b));
            if b + 1 < BUCKETS {
                assert!(v < lower(b + 1), "{v}");
            }
            last = b;
        }
    }

    #[test]
    fn percentiles_within_an_eighth() {
        let mut h = Histogram::default();
        for v in 1..=1000u64 {
            h.add(v * 1000);
        }
        let p50 = h.quantile(0.5).unwrap() as f64;
        let p99 = h.quantile(0.99).unwrap() as f64;
        assert!((p50 / 500_000.0 - 1.0).abs() < 0.125, "{p50}");
        assert!((p99 / 990_000.0 - 1.0).abs() < 0.125, "{p99}");
        assert_eq!(Histogram::default().quantile(0.5), None);
    }
}
