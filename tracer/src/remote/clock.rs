//! Agents' times on one clock, so the merge compares like with like.
//!
//! An agent stamps events and marks with its kernel's time, nanoseconds
//! since *its node's* boot: two nodes that booted an hour apart are an
//! hour apart in it, and merged as they are, the later-booted node's
//! promises would never reach the other's events, which would wait for it
//! to end. So each stream's stamps are moved onto this machine's wall
//! clock by an offset taken from its first mark: the wall time the mark
//! arrived, less its stamp (a mark is stamped as it is sent; an event may
//! have waited a mark interval). Events before that first mark wait for it.
//!
//! Agents that share a kernel (two on one machine, a kind cluster's
//! nodes) share the clock exactly, and their events can be microseconds
//! apart; estimates would blur that by the difference in the links'
//! delays. So an estimate within [`SAME_CLOCK`] of one already taken is
//! that clock, and its offset is reused: such streams merge on their own
//! stamps, exactly. Nodes that really booted that close together merge
//! within that much, no worse than two estimates would.
//!
//! The offset is kept for the stream's life, so its own order is exact.
//! Stamps on the wall clock already (nanoseconds since 1970, which no
//! uptime comes near: [`SINCE_BOOT_BELOW`]) are left as they are.

use std::time::{SystemTime, UNIX_EPOCH};

/// Stamps below this are since boot: 10^17 ns is over three years of
/// uptime, and the wall clock passed it in 1973.
pub const SINCE_BOOT_BELOW: u64 = 100_000_000_000_000_000;

/// Two estimated offsets this close are one clock: more than two links'
/// delays and an agent's busy loop differ by, less than an event stream
/// would notice across machines.
pub const SAME_CLOCK: i128 = 250_000_000;

/// The clocks found so far, by their offset to ours.
#[derive(Debug, Default)]
pub struct Clocks {
    known: Vec<i128>,
}

impl Clocks {
    /// The offset of the clock that stamped `ts`, seen at our `wall`.
    fn offset(&mut self, ts: u64, wall: u64) -> i128 {
        if ts >= SINCE_BOOT_BELOW {
            return 0;
        }
        let estimate = i128::from(wall) - i128::from(ts);
        if let Some(&known) = self
            .known
            .iter()
            .find(|&&k| (k - estimate).abs() < SAME_CLOCK)
        {
            return known;
        }
        self.known.push(estimate);
        estimate
    }
}

/// One stream's move onto our clock.
#[derive(Debug, Default)]
pub struct Align {
    offset: Option<i128>,
    /// Events that came before the first mark.
    early: Vec<(u64, String)>,
}

fn shift(ts: u64, offset: i128) -> u64 {
    u64::try_from((i128::from(ts) + offset).max(0)).unwrap_or(u64::MAX)
}

impl Align {
    /// An event on our clock; `None` while it waits for the first mark.
    pub fn event(&mut self, ts: u64, line: String) -> Option<(u64, String)> {
        match self.offset {
            Some(offset) => Some((shift(ts, offset), line)),
            None => {
                self.early.push((ts, line));
                None
            }
        }
    }

    /// A mark that arrived at our `wall`: the events that waited for it,
    /// and its own time, on our clock.
    pub fn mark(&mut self, ts: u64, wall: u64, clocks: &mut Clocks) -> (Vec<(u64, String)>, u64) {
        let offset = *self.offset.get_or_insert_with(|| clocks.offset(ts, wall));
        (self.release(offset), shift(ts, offset))
    }

    /// The stream ended: the events still waiting, placed by the first
    /// of them if no mark ever came.
    pub fn end(&mut self, wall: u64, clocks: &mut Clocks) -> Vec<(u64, String)> {
        let Some(&(first, _)) = self.early.first() else {
            return Vec::new();
        };
        let offset = *self
            .offset
            .get_or_insert_with(|| clocks.offset(first, wall));
        self.release(offset)
    }

    fn release(&mut self, offset: i128) -> Vec<(u64, String)> {
        std::mem::take(&mut self.early)
            .into_iter()
            .map(|(ts, line)| (shift(ts, offset), line))
            .collect()
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
    const MS: u64 = 1_000_000;
    const DAY: u64 = 86_400_000 * MS;

    #[test]
    fn nodes_booted_apart_land_on_one_clock() {
        let mut clocks = Clocks::default();
        let (mut early, mut late) = (Align::default(), Align::default());
        // Node a booted a day before node b; both mark "now" alike.
        assert_eq!(early.mark(2 * DAY, NOW, &mut clocks), (vec![], NOW));
        assert_eq!(late.mark(DAY, NOW + 5, &mut clocks), (vec![], NOW + 5));
        // Later stamps keep their own spacing, and compare across nodes.
        let a = early.event(2 * DAY + 100, "a".into()).unwrap();
        let b = late.event(DAY + 200, "b".into()).unwrap();
        assert_eq!(a, (NOW + 100, "a".to_owned()));
        assert!(b.0 > a.0);
    }

    #[test]
    fn agents_on_one_kernel_keep_its_clock_exactly() {
        let mut clocks = Clocks::default();
        let (mut one, mut two) = (Align::default(), Align::default());
        let boot = 5 * DAY;
        one.mark(boot, NOW, &mut clocks);
        // The other's first mark took 30 ms longer to come.
        two.mark(boot + MS, NOW + 31 * MS, &mut clocks);
        let a = one.event(boot + 2 * MS, "a".into()).unwrap();
        let b = two.event(boot + 2 * MS + 1, "b".into()).unwrap();
        assert_eq!(b.0 - a.0, 1, "{a:?} {b:?}");
    }

    #[test]
    fn events_before_the_first_mark_wait_for_it() {
        let mut clocks = Clocks::default();
        let mut align = Align::default();
        assert_eq!(align.event(DAY - 50 * MS, "early".into()), None);
        let (held, mark) = align.mark(DAY, NOW, &mut clocks);
        assert_eq!(held, [(NOW - 50 * MS, "early".to_owned())]);
        assert_eq!(mark, NOW);
        // A stream that ends before any mark still gives its events.
        let mut unmarked = Align::default();
        assert_eq!(unmarked.event(7 * DAY, "x".into()), None);
        assert_eq!(unmarked.end(NOW, &mut clocks), [(NOW, "x".to_owned())]);
        assert!(unmarked.end(NOW, &mut clocks).is_empty());
    }

    #[test]
    fn wall_clock_stamps_are_left_alone() {
        let mut clocks = Clocks::default();
        let mut wall = Align::default();
        assert_eq!(wall.mark(NOW - 7, NOW, &mut clocks), (vec![], NOW - 7));
        assert_eq!(wall.event(NOW + 3, "w".into()), Some((NOW + 3, "w".into())));
        assert!(wall_ns() > SINCE_BOOT_BELOW);
    }
}
