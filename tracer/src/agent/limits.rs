//! What a client may hold of the agent: how many connections in all, how
//! many event streams from one address, and how long a connection may sit
//! without a request or without anything to carry. Hostile or broken
//! clients (port scanners, slowloris, forgotten `nc`s) would otherwise keep
//! sockets and memory forever.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::{Body, Frame, SizeHint};

/// The server's limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Open connections, all clients together.
    pub connections: usize,
    /// Event streams open at once from one address.
    pub streams_per_peer: usize,
    /// How long a new connection has to complete its first request.
    pub first_request: Duration,
    /// How long a connection without a stream may sit after its last request.
    pub idle: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connections: 1024,
            streams_per_peer: 16,
            first_request: Duration::from_secs(10),
            idle: Duration::from_secs(30),
        }
    }
}

/// Why the watchdog closed a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// No complete request within [`Limits::first_request`].
    NoRequest,
    /// Nothing to carry for [`Limits::idle`].
    Idle,
}

/// What one connection has done, for its watchdog.
pub struct Activity {
    opened: Instant,
    requests: AtomicU64,
    streams: AtomicUsize,
    /// Milliseconds after `opened` of the last request.
    last_ms: AtomicU64,
}

impl Activity {
    #[must_use]
    pub fn new() -> Arc<Self> {
        Arc::new(Activity {
            opened: Instant::now(),
            requests: AtomicU64::new(0),
            streams: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
        })
    }

    /// A request arrived (its headers are complete).
    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.touch();
    }

    fn touch(&self) {
        let ms = self.opened.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Why the connection should be closed now, if it should.
    #[must_use]
    pub fn verdict(&self, limits: &Limits, now: Instant) -> Option<Closed> {
        let open_for = now.saturating_duration_since(self.opened);
        if self.requests.load(Ordering::Relaxed) == 0 {
            return (open_for > limits.first_request).then_some(Closed::NoRequest);
        }
        if self.streams.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        (open_for.saturating_sub(last) > limits.idle).then_some(Closed::Idle)
    }

    /// What a connection closed for silence was: without a request yet, or
    /// idle after its last.
    #[must_use]
    pub fn silence(&self) -> Closed {
        if self.requests.load(Ordering::Relaxed) == 0 {
            Closed::NoRequest
        } else {
            Closed::Idle
        }
    }

    /// Waits until the connection should be closed, and says why.
    pub async fn watch(&self, limits: Limits) -> Closed {
        let tick = (limits.first_request.min(limits.idle) / 4).max(Duration::from_millis(50));
        loop {
            tokio::time::sleep(tick).await;
            if let Some(why) = self.verdict(&limits, Instant::now()) {
                return why;
            }
        }
    }
}

/// Event streams open per peer address.
#[derive(Default)]
pub struct Streams {
    by_peer: Mutex<HashMap<IpAddr, usize>>,
}

impl Streams {
    /// A stream for `peer` on the connection `activity` watches, unless the
    /// peer holds `max` already.
    pub fn admit(
        self: &Arc<Self>,
        peer: IpAddr,
        max: usize,
        activity: &Arc<Activity>,
    ) -> Option<StreamGuard> {
        let mut by_peer = self.by_peer.lock().unwrap_or_else(|e| e.into_inner());
        let open = by_peer.entry(peer).or_default();
        if *open >= max {
            return None;
        }
        *open += 1;
        activity.streams.fetch_add(1, Ordering::Relaxed);
        Some(StreamGuard {
            streams: self.clone(),
            peer,
            activity: activity.clone(),
        })
    }
}

/// One open stream; it ends when the response body is dropped.
pub struct StreamGuard {
    streams: Arc<Streams>,
    peer: IpAddr,
    activity: Arc<Activity>,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let mut by_peer = self
            .streams
            .by_peer
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(open) = by_peer.get_mut(&self.peer) {
            *open -= 1;
            if *open == 0 {
                by_peer.remove(&self.peer);
            }
        }
        self.activity.streams.fetch_sub(1, Ordering::Relaxed);
        self.activity.touch();
    }
}

/// A response body that holds its stream's place while it is sent.
pub struct Guarded<B> {
    body: B,
    _guard: StreamGuard,
}

impl<B> Guarded<B> {
    pub fn new(body: B, guard: StreamGuard) -> Self {
        Guarded {
            body,
            _guard: guard,
        }
    }
}

impl<B: Body + Unpin> Body for Guarded<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        connections: 4,
        streams_per_peer: 2,
        first_request: Duration::from_secs(10),
        idle: Duration::from_secs(30),
    };

    #[test]
    fn a_connection_without_a_request_is_closed_after_the_first_request_time() {
        let a = Activity::new();
        let t0 = a.opened;
        assert_eq!(a.verdict(&LIMITS, t0 + Duration::from_secs(5)), None);
        assert_eq!(
            a.verdict(&LIMITS, t0 + Duration::from_secs(11)),
            Some(Closed::NoRequest)
        );
        a.request();
        assert_eq!(a.verdict(&LIMITS, t0 + Duration::from_secs(11)), None);
        assert_eq!(
            a.verdict(&LIMITS, t0 + Duration::from_secs(31)),
            Some(Closed::Idle)
        );
    }

    #[test]
    fn a_stream_keeps_its_connection_and_counts_against_its_peer() {
        let streams = Arc::new(Streams::default());
        let a = Activity::new();
        a.request();
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let first = streams.admit(peer, LIMITS.streams_per_peer, &a).unwrap();
        let second = streams.admit(peer, LIMITS.streams_per_peer, &a).unwrap();
        assert!(streams.admit(peer, LIMITS.streams_per_peer, &a).is_none());
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(streams.admit(other, LIMITS.streams_per_peer, &a).is_some());
        let late = a.opened + Duration::from_secs(3600);
        assert_eq!(a.verdict(&LIMITS, late), None, "streaming is not idle");
        drop((first, second));
        // The peer's places are given back: two streams again, not three.
        let again = (0..3)
            .map(|_| streams.admit(peer, LIMITS.streams_per_peer, &a))
            .collect::<Vec<_>>();
        assert_eq!(again.iter().filter(|g| g.is_some()).count(), 2);
        drop(again);
        assert_eq!(a.verdict(&LIMITS, Instant::now()), None, "just ended");
        assert_eq!(
            a.verdict(&LIMITS, Instant::now() + Duration::from_secs(31)),
            Some(Closed::Idle)
        );
    }
}
