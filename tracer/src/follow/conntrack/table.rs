//! The entries known, in a bounded amount of memory.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use std::net::{IpAddr, SocketAddr};

use super::{Entry, Flow, Parsed};

/// Entries by original tuple, with an index by reply tuple.
pub(super) struct Table {
    by_original: HashMap<Flow, Slot>,
    /// Reply tuple -> original tuple of the same entry.
    original_of_reply: HashMap<Flow, Flow>,
    /// Insertion order (by `Slot::born`), for evicting the oldest when full.
    age: BTreeMap<u64, Flow>,
    /// Destroyed entries in the order they died, to drop after `linger`.
    dying: VecDeque<(Instant, u64)>,
    next_born: u64,
    capacity: usize,
    linger: Duration,
}

struct Slot {
    entry: Entry,
    id: Option<u32>,
    born: u64,
}

impl Table {
    pub(super) fn new(capacity: usize, linger: Duration) -> Table {
        Table {
            by_original: HashMap::new(),
            original_of_reply: HashMap::new(),
            age: BTreeMap::new(),
            dying: VecDeque::new(),
            next_born: 0,
            capacity: capacity.max(1),
            linger,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.by_original.len()
    }

    #[cfg(test)]
    pub(super) fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.by_original.values().map(|slot| &slot.entry)
    }

    pub(super) fn by_original(&self, orig: &Flow) -> Option<&Entry> {
        self.by_original.get(orig).map(|slot| &slot.entry)
    }

    /// The newest of the last `scan` entries sent from `src` (any
    /// port) to `dst`.
    pub(super) fn newest_between(
        &self,
        proto: u8,
        src: IpAddr,
        dst: SocketAddr,
        scan: usize,
    ) -> Option<&Entry> {
        self.age
            .values()
            .rev()
            .take(scan)
            .filter_map(|flow| self.by_original(flow))
            .find(|e| {
                e.original.proto == proto && e.original.src.ip() == src && e.original.dst == dst
            })
    }

    pub(super) fn by_reply(&self, reply: &Flow) -> Option<&Entry> {
        let orig = self.original_of_reply.get(reply)?;
        self.by_original(orig)
    }

    /// Folds one message into the table.
    pub(super) fn apply(&mut self, parsed: Parsed, now: Instant) {
        let Parsed { entry, id } = parsed;
        let key = entry.original;
        if let Some(slot) = self.by_original.get_mut(&key) {
            let same = match (slot.id, id) {
                (Some(known), Some(new)) => known == new,
                // Without ids: once destroyed, only another destroy is about
                // the same connection; anything else is the tuple reused.
                _ => !slot.entry.destroyed || entry.destroyed,
            };
            if same {
                let died = entry.destroyed && !slot.entry.destroyed;
                let old_reply = slot.entry.reply;
                merge(&mut slot.entry, entry);
                slot.id = slot.id.or(id);
                let (born, reply) = (slot.born, slot.entry.reply);
                if reply != old_reply {
                    self.unindex_reply(&old_reply, &key);
                    self.original_of_reply.insert(reply, key);
                }
                if died {
                    self.mark_dying(now, born);
                }
                return;
            }
            self.remove(&key);
        }
        self.insert(entry, id, now);
    }

    fn insert(&mut self, entry: Entry, id: Option<u32>, now: Instant) {
        while self.by_original.len() >= self.capacity {
            let Some((_, oldest)) = self.age.pop_first() else {
                break;
            };
            self.remove(&oldest);
        }
        let born = self.next_born;
        self.next_born += 1;
        let key = entry.original;
        let destroyed = entry.destroyed;
        self.age.insert(born, key);
        self.original_of_reply.insert(entry.reply, key);
        self.by_original.insert(key, Slot { entry, id, born });
        if destroyed {
            self.mark_dying(now, born);
        }
    }

    fn mark_dying(&mut self, now: Instant, born: u64) {
        self.dying.push_back((now, born));
        // Records of entries evicted or replaced before their time stay
        // queued; never more of them than entries the table can hold.
        while self.dying.len() > self.capacity {
            if let Some((_, born)) = self.dying.pop_front() {
                self.remove_dead(born);
            }
        }
    }

    /// Drops the destroyed entries older than `linger`.
    pub(super) fn expire(&mut self, now: Instant) {
        while let Some(&(died, born)) = self.dying.front() {
            if now.saturating_duration_since(died) < self.linger {
                break;
            }
            self.dying.pop_front();
            self.remove_dead(born);
        }
    }

    /// Removes the entry born `born` if it is still there and destroyed.
    fn remove_dead(&mut self, born: u64) {
        let Some(key) = self.age.get(&born).copied() else {
            return;
        };
        if self
            .by_original
            .get(&key)
            .is_some_and(|slot| slot.born == born && slot.entry.destroyed)
        {
            self.remove(&key);
        }
    }

    fn remove(&mut self, key: &Flow) {
        if let Some(slot) = self.by_original.remove(key) {
            self.age.remove(&slot.born);
            self.unindex_reply(&slot.entry.reply, key);
        }
    }

    fn unindex_reply(&mut self, reply: &Flow, key: &Flow) {
        if self.original_of_reply.get(reply) == Some(key) {
            self.original_of_reply.remove(reply);
        }
    }
}

/// Folds a later message about the same connection into what is known:
/// states move on, but what was once seen stays seen.
fn merge(known: &mut Entry, later: Entry) {
    known.reply = later.reply;
    if later.tcp_state.is_some() {
        known.tcp_state = later.tcp_state;
    }
    known.destroyed |= later.destroyed;
    known.seen_reply |= later.seen_reply;
    known.was_established |= later.was_established;
}

#[cfg(test)]
mod tests {
    use super::super::tests::{entry, flow, parsed};
    use super::super::TcpState;
    use super::*;
    use crate::follow::flow::{TCP, UDP};

    fn table() -> Table {
        Table::new(4, Duration::from_secs(10))
    }

    #[test]
    fn finds_by_either_direction() {
        let mut t = table();
        let orig = flow(TCP, "192.0.2.2:51000", "192.0.2.2:18080");
        let reply = flow(TCP, "172.17.0.2:80", "192.0.2.2:51000");
        t.apply(parsed(entry(orig, reply, None), Some(1)), Instant::now());
        assert_eq!(t.by_original(&orig).unwrap().reply, reply);
        assert_eq!(t.by_reply(&reply).unwrap().original, orig);
        assert!(t.by_reply(&orig.reversed()).is_none());
    }

    #[test]
    fn merges_updates_and_keeps_what_was_seen() {
        let mut t = table();
        let now = Instant::now();
        let orig = flow(TCP, "10.0.0.1:1", "10.0.0.2:2");
        let mut e = entry(orig, orig.reversed(), Some(TcpState::Established));
        e.was_established = true;
        e.seen_reply = true;
        t.apply(parsed(e, Some(9)), now);
        // A later message may carry no state and no status bits.
        let mut gone = entry(orig, orig.reversed(), None);
        gone.destroyed = true;
        t.apply(parsed(gone, Some(9)), now);
        let got = t.by_original(&orig).unwrap();
        assert!(got.destroyed && got.was_established && got.seen_reply);
        assert_eq!(got.tcp_state, Some(TcpState::Established));
    }

    #[test]
    fn a_reused_tuple_is_a_new_connection() {
        let mut t = table();
        let now = Instant::now();
        let orig = flow(TCP, "10.0.0.1:1", "10.0.0.2:2");
        let mut old = entry(orig, orig.reversed(), Some(TcpState::Established));
        old.was_established = true;
        t.apply(parsed(old, Some(1)), now);
        // Its DESTROY was lost; the next connection has another id.
        t.apply(
            parsed(
                entry(orig, orig.reversed(), Some(TcpState::SynSent)),
                Some(2),
            ),
            now,
        );
        assert!(!t.by_original(&orig).unwrap().was_established);

        // Without ids, a destroyed entry followed by a NEW is also new.
        let other = flow(UDP, "10.0.0.1:1", "10.0.0.2:2");
        let mut dead = entry(other, other.reversed(), None);
        dead.destroyed = true;
        dead.seen_reply = true;
        t.apply(parsed(dead, None), now);
        t.apply(parsed(entry(other, other.reversed(), None), None), now);
        let got = t.by_original(&other).unwrap();
        assert!(!got.destroyed && !got.seen_reply);
    }

    #[test]
    fn destroyed_entries_linger_then_go() {
        let mut t = table();
        let start = Instant::now();
        let orig = flow(TCP, "10.0.0.1:1", "10.0.0.2:2");
        let mut e = entry(orig, orig.reversed(), None);
        t.apply(parsed(e.clone(), Some(1)), start);
        e.destroyed = true;
        t.apply(parsed(e, Some(1)), start);
        t.expire(start + Duration::from_secs(9));
        assert!(t.by_original(&orig).is_some());
        t.expire(start + Duration::from_secs(10));
        assert!(t.by_original(&orig).is_none());
        assert!(t.by_reply(&orig.reversed()).is_none());
        assert_eq!(t.len(), 0);
        assert!(t.age.is_empty());
    }

    #[test]
    fn a_full_table_drops_its_oldest() {
        let mut t = table();
        let now = Instant::now();
        let flows: Vec<Flow> = (1..=5)
            .map(|port| flow(UDP, &format!("10.0.0.1:{port}"), "10.0.0.2:53"))
            .collect();
        for f in &flows {
            t.apply(parsed(entry(*f, f.reversed(), None), None), now);
        }
        assert_eq!(t.len(), 4);
        assert!(t.by_original(&flows[0]).is_none());
        assert!(t.by_reply(&flows[0].reversed()).is_none());
        assert!(t.by_original(&flows[4]).is_some());
        assert_eq!(t.age.len(), 4);
        assert_eq!(t.original_of_reply.len(), 4);
    }

    #[test]
    fn dying_records_stay_bounded() {
        let mut t = table();
        let now = Instant::now();
        for port in 0..100u16 {
            let f = flow(UDP, &format!("10.0.0.1:{port}"), "10.0.0.2:53");
            let mut e = entry(f, f.reversed(), None);
            e.destroyed = true;
            t.apply(parsed(e, None), now);
        }
        assert!(t.len() <= 4);
        assert!(t.dying.len() <= 4);
    }
}
