//! Agents' times on one clock, so the merge compares like with like.
//!
//! An agent stamps events and marks with its kernel's time, which is
//! nanoseconds since *its node's* boot: two nodes that booted an hour apart
//! are an hour apart in it, and merged as they are, the later-booted node's
//! promises would never reach the other's events, which would wait forever.
//! So each stream's times are moved onto this machine's wall clock by an
//! offset taken from its first stamped frame: the wall time it arrived,
//! less its stamp. Cross-node order is then as good as that estimate: the
//! stream's delay plus the age of its first frame (an agent sends at least
//! every 100 ms), which is the grain a merge of several machines' clocks
//! could hope for anyway. The offset is kept for the stream's life, so
//! each stream's own order is kept exactly.
//!
//! An agent that stamps with the wall clock instead (nanoseconds since
//! 1970) is left as it is: no boot-relative time comes near such numbers
//! ([`SINCE_BOOT_BELOW`]), and its node's own clock, kept by NTP, is a
//! better estimate than ours.

use std::time::{SystemTime, UNIX_EPOCH};

/// Stamps below this are since boot: 10^17 ns is over three years of
/// uptime, and the wall clock passed it in 1973.
pub const SINCE_BOOT_BELOW: u64 = 100_000_000_000_000_000;

/// One stream's move onto our clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct Align {
    /// What to add to its stamps, once known.
    offset: Option<i128>,
}

impl Align {
    /// `ts` on our clock; `now` is our wall clock, in ns since 1970, when
    /// the frame arrived.
    pub fn map(&mut self, ts: u64, now: u64) -> u64 {
        let offset = *self.offset.get_or_insert_with(|| {
            if ts < SINCE_BOOT_BELOW {
                i128::from(now) - i128::from(ts)
            } else {
                0
            }
        });
        u64::try_from((i128::from(ts) + offset).max(0)).unwrap_or(u64::MAX)
    }
}

/// Our wall clock, in ns since 1970.
pub fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_795_657_925_000_000_000;

    #[test]
    fn nodes_booted_apart_land_on_one_clock() {
        let (mut early, mut late) = (Align::default(), Align::default());
        // Node a booted a day before node b; both stamp "now" alike.
        let day = 86_400_000_000_000;
        let a0 = 2 * day;
        let b0 = day;
        assert_eq!(early.map(a0, NOW), NOW);
        assert_eq!(late.map(b0, NOW + 5), NOW + 5);
        // Later frames keep their own spacing, and compare across nodes.
        assert_eq!(early.map(a0 + 100, NOW + 999), NOW + 100);
        assert!(late.map(b0 + 200, NOW) > early.map(a0 + 100, NOW));
    }

    #[test]
    fn wall_clock_stamps_are_left_alone() {
        let mut wall = Align::default();
        assert_eq!(wall.map(NOW - 7, NOW), NOW - 7);
        assert_eq!(wall.map(NOW + 3, NOW + 10), NOW + 3);
        assert!(wall_ns() > SINCE_BOOT_BELOW);
    }
}
