//! Rates that follow what happens now: counts in one-second buckets of
//! kernel time, of which the last [`WINDOW_SECS`] make the rate.

const NS: u64 = 1_000_000_000;

/// Seconds a rate looks back over.
pub const WINDOW_SECS: u64 = 3;

/// One bucket more than the window, so the current (partial) second and
/// the window's full ones never share a slot.
const SLOTS: usize = WINDOW_SECS as usize + 1;

#[derive(Clone, Debug, Default)]
pub struct Window {
    counts: [u64; SLOTS],
    /// The second (of kernel time) the newest bucket counts.
    newest: u64,
}

impl Window {
    /// Counts one event at `ts_ns`; one older than the buckets kept is
    /// left out (it can no longer change a rate).
    pub fn add(&mut self, ts_ns: u64) {
        let sec = ts_ns / NS;
        if sec > self.newest {
            let gap = (sec - self.newest).min(SLOTS as u64);
            for s in 1..=gap {
                self.counts[slot(self.newest + s)] = 0;
            }
            self.newest = sec;
        }
        if sec + SLOTS as u64 > self.newest {
            self.counts[slot(sec)] += 1;
        }
    }

    /// Events per second at `now` over the window, or over the time since
    /// `since` (when counting began) when that is shorter.
    #[must_use]
    pub fn rate(&self, now: u64, since: u64) -> f64 {
        let now_sec = now / NS;
        let first = now_sec.saturating_sub(WINDOW_SECS - 1);
        let sum: u64 = (first..=now_sec.min(self.newest))
            .filter(|&s| s + SLOTS as u64 > self.newest)
            .map(|s| self.counts[slot(s)])
            .sum();
        let start = since.max(first * NS);
        let span = now.saturating_sub(start);
        if span == 0 {
            return 0.0;
        }
        sum as f64 * NS as f64 / span as f64
    }
}

fn slot(sec: u64) -> usize {
    (sec % SLOTS as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_over_the_last_seconds() {
        let mut w = Window::default();
        // 10/s for 5 s, starting at second 100.
        for i in 0..50 {
            w.add(100 * NS + i * NS / 10);
        }
        let rate = w.rate(105 * NS, 100 * NS);
        assert!((rate - 10.0).abs() < 0.5, "{rate}");
        // Two quiet seconds later, only one busy second is in the window.
        let rate = w.rate(107 * NS, 100 * NS);
        assert!(rate < 4.0, "{rate}");
        assert!(w.rate(120 * NS, 100 * NS).abs() < f64::EPSILON);
    }

    #[test]
    fn a_young_view_is_rated_over_its_age() {
        let mut w = Window::default();
        for i in 0..5 {
            w.add(200 * NS + i * NS / 10);
        }
        // 5 events in half a second.
        let rate = w.rate(200 * NS + NS / 2, 200 * NS);
        assert!((rate - 10.0).abs() < 0.01, "{rate}");
    }
}
