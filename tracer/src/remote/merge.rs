//! Several agents' streams into one, in time order.
//!
//! Each stream is in time order on its own, and its marks promise that
//! nothing older will follow. An event is released once every stream
//! that still counts has promised (by a mark, or by a later event) that
//! nothing older is coming; equal times go in stream order.
//!
//! Nothing here reads a clock or a socket: the caller says what arrived
//! and when, so the rules are tested as plain data.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// How long a stream may say nothing at all before it stops holding the
/// others back. Agents mark at least every ~100 ms even when idle, so two
/// seconds of silence is some twenty marks missed: the agent or the path
/// to it is stuck, and waiting longer would only freeze every other
/// node's output behind it. A stream that speaks again counts again; what
/// it sends older than what was already printed is printed late rather
/// than lost. The same holds for a stream that has sent nothing yet: its
/// first mark may be slow (a port-forward through the API server), but
/// not slower than this.
pub const PATIENCE: Duration = Duration::from_secs(2);

/// One event let out of the merge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Released {
    /// Which stream it came from (its index, in the order they were added).
    pub stream: usize,
    pub ts: u64,
    pub line: String,
}

/// An event waiting in the merge. Ordered by time, then stream, then
/// arrival, so the heap's least is the next to print and the line itself
/// is never compared.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Queued {
    ts: u64,
    stream: usize,
    seq: u64,
    line: String,
}

#[derive(Debug)]
struct Stream {
    /// Nothing older than this will come (the latest mark or event), once
    /// the stream has said anything.
    promised: Option<u64>,
    /// When it last said anything (or was added).
    heard: Instant,
    ended: bool,
}

impl Stream {
    /// Whether it still holds back events newer than its promise.
    fn holds(&self, now: Instant, patience: Duration) -> bool {
        !self.ended && now.saturating_duration_since(self.heard) < patience
    }
}

/// The k-way merge.
#[derive(Debug)]
pub struct Merge {
    streams: Vec<Stream>,
    queue: BinaryHeap<Reverse<Queued>>,
    seq: u64,
    patience: Duration,
}

impl Merge {
    /// A merge of `streams` streams, all added at `now`.
    pub fn new(streams: usize, now: Instant) -> Self {
        Self::with_patience(streams, now, PATIENCE)
    }

    pub fn with_patience(streams: usize, now: Instant, patience: Duration) -> Self {
        let streams = (0..streams)
            .map(|_| Stream {
                promised: None,
                heard: now,
                ended: false,
            })
            .collect();
        Merge {
            streams,
            queue: BinaryHeap::new(),
            seq: 0,
            patience,
        }
    }

    fn heard(&mut self, stream: usize, ts: u64, now: Instant) {
        let s = &mut self.streams[stream];
        s.heard = now;
        s.promised = Some(s.promised.map_or(ts, |p| p.max(ts)));
    }

    /// An event from `stream`.
    pub fn event(&mut self, stream: usize, ts: u64, line: String, now: Instant) {
        self.heard(stream, ts, now);
        self.seq += 1;
        self.queue.push(Reverse(Queued {
            ts,
            stream,
            seq: self.seq,
            line,
        }));
    }

    /// A mark from `stream`: nothing older than `ts` will follow.
    pub fn mark(&mut self, stream: usize, ts: u64, now: Instant) {
        self.heard(stream, ts, now);
    }

    /// `stream` will send nothing more; what it sent is still released in
    /// its turn.
    pub fn end(&mut self, stream: usize) {
        self.streams[stream].ended = true;
    }

    /// Whether every stream has ended and every event was released.
    pub fn is_done(&self) -> bool {
        self.queue.is_empty() && self.streams.iter().all(|s| s.ended)
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The oldest time every holding stream has promised past; `None`
    /// when one has promised nothing yet.
    pub fn bound(&self, now: Instant) -> Option<u64> {
        self.streams
            .iter()
            .filter(|s| s.holds(now, self.patience))
            .map(|s| s.promised)
            .try_fold(u64::MAX, |least, p| Some(least.min(p?)))
    }

    /// Releases the next event if no stream can still send an older one.
    pub fn pop(&mut self, now: Instant) -> Option<Released> {
        let bound = self.bound(now)?;
        self.pop_within(bound)
    }

    fn pop_within(&mut self, bound: u64) -> Option<Released> {
        if self.queue.peek()?.0.ts > bound {
            return None;
        }
        let Reverse(q) = self.queue.pop()?;
        Some(Released {
            stream: q.stream,
            ts: q.ts,
            line: q.line,
        })
    }

    /// Every event that may be released now, in order (the bound is worked
    /// out once: releasing changes no promise).
    pub fn ready(&mut self, now: Instant) -> Vec<Released> {
        let Some(bound) = self.bound(now) else {
            return Vec::new();
        };
        std::iter::from_fn(|| self.pop_within(bound)).collect()
    }

    /// Everything still waiting, in order, whatever was promised: the end.
    pub fn drain(&mut self) -> Vec<Released> {
        std::iter::from_fn(|| self.pop_within(u64::MAX)).collect()
    }

    /// When a silent stream's patience runs out and events it holds back
    /// may go: the caller's next wake-up while events wait.
    pub fn wake_at(&self, now: Instant) -> Option<Instant> {
        if self.queue.is_empty() {
            return None;
        }
        self.streams
            .iter()
            .filter(|s| s.holds(now, self.patience))
            .map(|s| s.heard + self.patience)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(out: &[Released]) -> Vec<(usize, u64, &str)> {
        out.iter()
            .map(|r| (r.stream, r.ts, r.line.as_str()))
            .collect()
    }

    #[test]
    fn interleaves_by_time_once_every_stream_has_passed() {
        let t = Instant::now();
        let mut m = Merge::new(2, t);
        m.event(0, 10, "a10".into(), t);
        m.event(0, 30, "a30".into(), t);
        // Stream 1 has promised nothing: nothing may go.
        assert!(m.ready(t).is_empty());
        m.event(1, 20, "b20".into(), t);
        // Stream 1 is at 20: a10 may go, but a30 waits for stream 1.
        assert_eq!(lines(&m.ready(t)), [(0, 10, "a10"), (1, 20, "b20")]);
        m.mark(1, 29, t);
        assert!(m.ready(t).is_empty());
        m.mark(1, 35, t);
        assert_eq!(lines(&m.ready(t)), [(0, 30, "a30")]);
        assert!(m.is_empty());
    }

    #[test]
    fn equal_times_go_in_stream_order() {
        let t = Instant::now();
        let mut m = Merge::new(3, t);
        m.event(2, 5, "c".into(), t);
        m.event(1, 5, "b".into(), t);
        m.event(0, 5, "a".into(), t);
        m.event(0, 5, "a2".into(), t);
        assert_eq!(
            lines(&m.ready(t)),
            [(0, 5, "a"), (0, 5, "a2"), (1, 5, "b"), (2, 5, "c")]
        );
    }

    #[test]
    fn a_mark_at_an_events_time_lets_it_go() {
        let t = Instant::now();
        let mut m = Merge::new(2, t);
        m.event(1, 7, "b".into(), t);
        m.mark(0, 6, t);
        assert_eq!(m.pop(t), None);
        m.mark(0, 7, t);
        assert_eq!(m.pop(t).map(|r| r.line), Some("b".to_owned()));
    }

    #[test]
    fn a_silent_stream_holds_the_others_back_until_its_patience_runs_out() {
        let t = Instant::now();
        let patience = Duration::from_secs(2);
        let mut m = Merge::with_patience(2, t, patience);
        let later = t + Duration::from_millis(500);
        m.event(0, 1, "a".into(), later);
        assert!(m.ready(later).is_empty());
        // Stream 1 was added at t and has said nothing since.
        assert_eq!(m.wake_at(later), Some(t + patience));
        assert!(m.ready(t + patience - Duration::from_millis(1)).is_empty());
        assert_eq!(lines(&m.ready(t + patience)), [(0, 1, "a")]);
        // Once it speaks it counts again.
        let back = t + Duration::from_secs(3);
        m.event(0, 8, "a8".into(), back);
        m.event(0, 9, "a9".into(), back);
        m.mark(1, 5, back);
        assert!(m.ready(back).is_empty());
        m.mark(1, 8, back);
        assert_eq!(lines(&m.ready(back)), [(0, 8, "a8")]);
    }

    #[test]
    fn a_stream_that_stops_marking_is_let_go_too() {
        let t = Instant::now();
        let patience = Duration::from_secs(2);
        let mut m = Merge::with_patience(2, t, patience);
        m.mark(1, 100, t);
        let later = t + Duration::from_secs(1);
        m.event(0, 150, "a".into(), later);
        assert!(m.ready(later).is_empty());
        assert_eq!(m.wake_at(later), Some(t + patience));
        assert_eq!(lines(&m.ready(t + patience)), [(0, 150, "a")]);
    }

    #[test]
    fn an_ended_stream_no_longer_holds_back_but_its_events_still_go_in_order() {
        let t = Instant::now();
        let mut m = Merge::new(3, t);
        m.event(0, 10, "a".into(), t);
        m.event(1, 5, "b".into(), t);
        m.event(2, 20, "c".into(), t);
        m.end(1);
        assert_eq!(lines(&m.ready(t)), [(1, 5, "b"), (0, 10, "a")]);
        m.end(0);
        assert_eq!(lines(&m.ready(t)), [(2, 20, "c")]);
        assert!(!m.is_done());
        m.end(2);
        assert!(m.is_done());
        assert_eq!(m.wake_at(t), None);
    }

    #[test]
    fn drain_releases_everything_in_order() {
        let t = Instant::now();
        let mut m = Merge::new(2, t);
        m.event(1, 3, "b3".into(), t);
        m.event(0, 4, "a4".into(), t);
        m.event(1, 9, "b9".into(), t);
        m.event(0, 3, "a3".into(), t);
        assert_eq!(m.len(), 4);
        assert_eq!(
            lines(&m.drain()),
            [(0, 3, "a3"), (1, 3, "b3"), (0, 4, "a4"), (1, 9, "b9")]
        );
        assert!(m.is_empty());
    }
}
