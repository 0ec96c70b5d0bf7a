//! The kernel's connection tracking table, mirrored from ctnetlink: which
//! post-NAT tuple a connection got, so a client's `connect()` (the tuple it
//! asked for) can be matched with the server's `accept()` (the tuple it saw).
//!
//! Netlink is spoken by hand over `libc` (no crate): one socket subscribed to
//! the NEW, UPDATE and DESTROY event groups, read on a background thread into
//! a bounded table, after one dump of the entries that existed before.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::flow::{Flow, TCP, UDP};
use table::Table;

/// Entries kept at most: the kernel's own default `nf_conntrack_max` on a
/// small host. Roughly 0.5 KB each with both indexes, so ~128 MB when full.
const CAPACITY: usize = 256 * 1024;
/// How long a destroyed entry stays answerable: the tracer may look a
/// connection up after it closed (a short request's events arrive late).
const LINGER: Duration = Duration::from_secs(10);
/// Asked of the kernel for the event socket: bursts of new connections
/// overrun the default ~200 KB quickly.
const RECEIVE_BUFFER: libc::c_int = 8 << 20;
/// The largest datagram read; netlink dump replies are at most a few pages.
const DATAGRAM: usize = 64 * 1024;

tracer_common::wire_enum! {
    /// A TCP connection's state as conntrack tracks it (`enum tcp_conntrack`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum TcpState: u8 {
        None = 0,
        SynSent = 1,
        SynRecv = 2,
        Established = 3,
        FinWait = 4,
        CloseWait = 5,
        LastAck = 6,
        TimeWait = 7,
        Close = 8,
        /// A simultaneous open: both sides sent a SYN.
        SynSent2 = 9,
    }
}

/// One tracked connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// As the client sent it (before any NAT).
    pub original: Flow,
    /// As the server answers it: source is the server, destination the
    /// client, both after NAT.
    pub reply: Flow,
    /// The last TCP state reported; `None` for UDP, or when no message
    /// about the connection carried one.
    pub tcp_state: Option<TcpState>,
    /// conntrack has let go of the connection (DESTROY).
    pub destroyed: bool,
    /// A packet was seen in the reply direction (`IPS_SEEN_REPLY`).
    pub seen_reply: bool,
    /// TCP reached ESTABLISHED, or conntrack marked the connection assured,
    /// at some point: later states (FIN_WAIT, CLOSE...) do not say whether
    /// the handshake ever completed, so this is kept apart.
    pub was_established: bool,
}

impl Entry {
    /// Whether NAT rewrote either end.
    #[must_use]
    pub fn is_translated(&self) -> bool {
        self.reply != self.original.reversed()
    }

    /// Whether a TCP connect was reset before its handshake completed, as
    /// when nothing listens on the port. conntrack then moves
    /// the entry to CLOSE and destroys it at once; the DESTROY event carries
    /// that state (and no IPS_SEEN_REPLY: the RST kills the entry before the
    /// bit is set). An unanswered SYN is not refused: it stays SYN_SENT
    /// until conntrack's timeout.
    #[must_use]
    pub fn refused(&self) -> bool {
        self.original.proto == TCP
            && !self.was_established
            && self.tcp_state == Some(TcpState::Close)
    }
}

/// How many of the newest entries [`Conntrack::newest_between`] looks at.
const NEWEST_SCAN: usize = 4096;

/// The connection tracking table, kept current by a background thread.
pub struct Conntrack {
    shared: Arc<Shared>,
    /// Closing it wakes the reader to stop.
    stop: Option<OwnedFd>,
    reader: Option<JoinHandle<()>>,
}

struct Shared {
    table: Mutex<Table>,
    /// Times the kernel reported dropping notifications (ENOBUFS).
    lost: AtomicU64,
}

impl Shared {
    fn table(&self) -> MutexGuard<'_, Table> {
        // The reader never panics while holding the lock, and the table is
        // consistent between calls anyway.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Conntrack {
    /// Subscribes to conntrack events, loads the existing table and starts
    /// the reader thread. Needs CAP_NET_ADMIN and ctnetlink.
    pub fn start() -> io::Result<Conntrack> {
        events_enabled()?;
        let events = netlink::Socket::open(netlink::EVENT_GROUPS).map_err(|e| explain_open(&e))?;
        events.set_receive_buffer(RECEIVE_BUFFER);

        let shared = Arc::new(Shared {
            table: Mutex::new(Table::new(CAPACITY, LINGER)),
            lost: AtomicU64::new(0),
        });
        // Subscribed first, dumped second: an entry created in between is
        // in the dump or in the queued events, and a stale state from the
        // queue is overtaken by the next event for it.
        for family in [libc::AF_INET, libc::AF_INET6] {
            match dump(family as u8) {
                Ok(entries) => {
                    let now = Instant::now();
                    let mut table = shared.table();
                    for parsed in entries {
                        table.apply(parsed, now);
                    }
                }
                // IPv6 conntrack may be absent where IPv4's is not.
                Err(_) if family == libc::AF_INET6 => {}
                Err(e) => return Err(explain_dump(&e)),
            }
        }

        let (stop_read, stop_write) = pipe()?;
        let reader_shared = Arc::clone(&shared);
        let reader = std::thread::Builder::new()
            .name("conntrack".into())
            .spawn(move || read_events(&events, &stop_read, &reader_shared))?;
        Ok(Conntrack {
            shared,
            stop: Some(stop_write),
            reader: Some(reader),
        })
    }

    /// The connection whose client side is `orig` (as `connect()` sees it).
    #[must_use]
    pub fn by_original(&self, orig: &Flow) -> Option<Entry> {
        self.shared.table().by_original(orig).cloned()
    }

    /// The connection a server answers on `reply`: source is the server's
    /// own address, destination the client as the server sees it (after
    /// any SNAT), i.e. the reverse of what its `accept()` returned.
    #[must_use]
    pub fn by_reply(&self, reply: &Flow) -> Option<Entry> {
        self.shared.table().by_reply(reply).cloned()
    }

    /// The newest connection from `src` to `dst`, whatever its source
    /// port: a socket reset during connect() has given its port back by the
    /// time sdtrace reads its tuple, and its entry lingers destroyed.
    #[must_use]
    pub fn newest_between(&self, proto: u8, src: IpAddr, dst: SocketAddr) -> Option<Entry> {
        self.shared
            .table()
            .newest_between(proto, src, dst, NEWEST_SCAN)
            .cloned()
    }

    /// Asks the kernel directly for the connection `orig`, for when its
    /// event was lost. What it answers is also kept in the table.
    #[must_use]
    pub fn query(&self, orig: &Flow) -> Option<Entry> {
        let parsed = query(orig).ok().flatten()?;
        let entry = parsed.entry.clone();
        self.shared.table().apply(parsed, Instant::now());
        Some(entry)
    }

    /// How many times the kernel dropped notifications because the reader
    /// fell behind (each time one or more events are gone).
    #[must_use]
    pub fn lost(&self) -> u64 {
        self.shared.lost.load(Ordering::Relaxed)
    }

    /// Entries held (live and lingering destroyed ones).
    #[must_use]
    pub fn len(&self) -> usize {
        self.shared.table().len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Conntrack {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// Fails when the kernel was told not to send conntrack events at all.
fn events_enabled() -> io::Result<()> {
    let path = "/proc/sys/net/netfilter/nf_conntrack_events";
    // Absent when nf_conntrack is not loaded yet: the dump loads it.
    let Ok(value) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    if value.trim() == "0" {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "conntrack events are disabled (sysctl net.netfilter.nf_conntrack_events=0)",
        ));
    }
    Ok(())
}

fn explain_open(e: &io::Error) -> io::Error {
    let why = match e.raw_os_error() {
        Some(libc::EPROTONOSUPPORT | libc::EAFNOSUPPORT) => {
            "netfilter netlink (nfnetlink) is not available in this kernel"
        }
        Some(libc::EPERM | libc::EACCES) => "conntrack events need CAP_NET_ADMIN",
        _ => "cannot subscribe to conntrack events",
    };
    io::Error::new(e.kind(), format!("{why}: {e}"))
}

fn explain_dump(e: &io::Error) -> io::Error {
    let why = match e.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => "reading the conntrack table needs CAP_NET_ADMIN",
        // nfnetlink answers EINVAL for a subsystem it has no module for.
        Some(libc::EINVAL | libc::EOPNOTSUPP | libc::ENOENT) => {
            "ctnetlink is not available (is the nf_conntrack_netlink module loaded?)"
        }
        _ => "cannot read the conntrack table",
    };
    io::Error::new(e.kind(), format!("{why}: {e}"))
}

/// Every current entry of one address family.
fn dump(family: u8) -> io::Result<Vec<Parsed>> {
    let socket = netlink::Socket::open(0)?;
    socket.set_timeout(Duration::from_secs(5))?;
    let seq = 1;
    let request = wire::Writer::message(
        wire::CT_GET,
        (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16,
        seq,
        family,
    );
    socket.send(&request.finish())?;
    let mut entries = Vec::new();
    answers(&socket, seq, |header, msg| match header.kind {
        wire::NLMSG_DONE => Some(Ok(())),
        wire::NLMSG_ERROR => match wire::error_code(msg) {
            Some(0) | None => Some(Ok(())),
            Some(errno) => Some(Err(io::Error::from_raw_os_error(errno))),
        },
        _ => {
            entries.extend(wire::parse_message(msg));
            None
        }
    })?;
    Ok(entries)
}

/// Reads the kernel's answers to request `seq` (other senders and
/// sequences skipped), handing each message to `each` until it returns
/// the outcome.
fn answers<T>(
    socket: &netlink::Socket,
    seq: u32,
    mut each: impl FnMut(&wire::Header, &[u8]) -> Option<io::Result<T>>,
) -> io::Result<T> {
    let mut buf = vec![0u8; DATAGRAM];
    loop {
        let (len, sender) = socket.recv(&mut buf, 0)?;
        if sender != 0 {
            continue;
        }
        for msg in wire::messages(&buf[..len]) {
            let Some(header) = wire::Header::parse(msg) else {
                continue;
            };
            if header.seq != seq {
                continue;
            }
            if let Some(outcome) = each(&header, msg) {
                return outcome;
            }
        }
    }
}

/// The kernel's entry for one original tuple; `None` when it has none.
fn query(orig: &Flow) -> io::Result<Option<Parsed>> {
    let family = match (orig.src, orig.dst) {
        (SocketAddr::V4(_), SocketAddr::V4(_)) => libc::AF_INET,
        (SocketAddr::V6(_), SocketAddr::V6(_)) => libc::AF_INET6,
        _ => return Ok(None),
    };
    let socket = netlink::Socket::open(0)?;
    socket.set_timeout(Duration::from_secs(1))?;
    let seq = 1;
    let mut request =
        wire::Writer::message(wire::CT_GET, libc::NLM_F_REQUEST as u16, seq, family as u8);
    request.tuple(wire::CTA_TUPLE_ORIG, orig);
    socket.send(&request.finish())?;
    answers(&socket, seq, |header, msg| {
        Some(if header.kind == wire::NLMSG_ERROR {
            match wire::error_code(msg) {
                Some(libc::ENOENT | 0) | None => Ok(None),
                Some(errno) => Err(io::Error::from_raw_os_error(errno)),
            }
        } else {
            Ok(wire::parse_message(msg))
        })
    })
}

/// The reader thread: waits on the event socket and on `stop` (closed by
/// `Drop`), applies what arrives, and expires old entries once a second
/// even when idle.
fn read_events(events: &netlink::Socket, stop: &OwnedFd, shared: &Shared) {
    let mut buf = vec![0u8; DATAGRAM];
    let mut batch = Vec::new();
    loop {
        let mut fds = [
            libc::pollfd {
                fd: events.fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: stop.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is a valid array of two pollfd for the call.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, 1000) };
        if ready < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            log::warn!(
                "conntrack: polling for events failed, so NAT hops are no longer followed: {e}"
            );
            return;
        }
        if fds[1].revents != 0 {
            return;
        }
        // Drained without blocking, parsed outside the lock, applied under
        // it once per batch.
        loop {
            match events.recv(&mut buf, libc::MSG_DONTWAIT) {
                Ok((len, 0)) => {
                    batch.extend(wire::messages(&buf[..len]).filter_map(wire::parse_message))
                }
                // Only the kernel (port 0) speaks for conntrack; any other
                // sender is a local process forging events.
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    shared.lost.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::warn!(
                        "conntrack: reading events failed, so NAT hops are no longer followed: {e}"
                    );
                    return;
                }
            }
            if batch.len() >= 256 {
                break;
            }
        }
        let now = Instant::now();
        let mut table = shared.table();
        for parsed in batch.drain(..) {
            table.apply(parsed, now);
        }
        table.expire(now);
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both are open descriptors we now own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// One ctnetlink message understood: the entry it describes, and conntrack's
/// id for the connection, which tells a reused tuple from the same one.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Parsed {
    entry: Entry,
    id: Option<u32>,
}

/// The entries known, in a bounded amount of memory.
mod table {
    use std::collections::{BTreeMap, HashMap, VecDeque};
    use std::time::{Duration, Instant};

    use std::net::{IpAddr, SocketAddr};

    use super::{Entry, Flow, Parsed};

    /// Entries by original tuple, with an index by reply tuple.
    pub struct Table {
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
        pub fn new(capacity: usize, linger: Duration) -> Table {
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

        pub fn len(&self) -> usize {
            self.by_original.len()
        }

        #[cfg(test)]
        pub fn entries(&self) -> impl Iterator<Item = &Entry> {
            self.by_original.values().map(|slot| &slot.entry)
        }

        pub fn by_original(&self, orig: &Flow) -> Option<&Entry> {
            self.by_original.get(orig).map(|slot| &slot.entry)
        }

        /// The newest of the last `scan` entries sent from `src` (any
        /// port) to `dst`.
        pub fn newest_between(
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

        pub fn by_reply(&self, reply: &Flow) -> Option<&Entry> {
            let orig = self.original_of_reply.get(reply)?;
            self.by_original(orig)
        }

        /// Folds one message into the table.
        pub fn apply(&mut self, parsed: Parsed, now: Instant) {
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
        pub fn expire(&mut self, now: Instant) {
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
}

/// The netlink socket itself.
mod netlink {
    use std::io;
    use std::mem;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::time::Duration;

    /// NFNLGRP_CONNTRACK_NEW (1), _UPDATE (2) and _DESTROY (3), as the
    /// legacy bind bitmask (group n is bit n-1).
    pub const EVENT_GROUPS: u32 = 1 | 2 | 4;

    pub struct Socket(OwnedFd);

    impl Socket {
        /// A NETLINK_NETFILTER socket bound to `groups`.
        pub fn open(groups: u32) -> io::Result<Socket> {
            // SAFETY: plain socket(2); the result is checked.
            let raw = unsafe {
                libc::socket(
                    libc::AF_NETLINK,
                    libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                    libc::NETLINK_NETFILTER,
                )
            };
            if raw < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `raw` is a descriptor just opened and owned by no one.
            let socket = Socket(unsafe { OwnedFd::from_raw_fd(raw) });
            let mut addr = kernel_address();
            addr.nl_groups = groups;
            // SAFETY: `addr` is a valid sockaddr_nl of the length given.
            let rc = unsafe {
                libc::bind(
                    socket.fd(),
                    (&raw const addr).cast(),
                    mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
                )
            };
            if rc < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(socket)
        }

        pub fn fd(&self) -> RawFd {
            self.0.as_raw_fd()
        }

        /// Asks for `bytes` of receive buffer, past `rmem_max` when
        /// privileged (SO_RCVBUFFORCE), else as much as `rmem_max` allows.
        pub fn set_receive_buffer(&self, bytes: libc::c_int) {
            if self.set_option(libc::SO_RCVBUFFORCE, &bytes).is_err() {
                let _ = self.set_option(libc::SO_RCVBUF, &bytes);
            }
        }

        pub fn set_timeout(&self, timeout: Duration) -> io::Result<()> {
            let tv = libc::timeval {
                tv_sec: timeout.as_secs() as libc::time_t,
                tv_usec: libc::suseconds_t::from(timeout.subsec_micros() as i32),
            };
            self.set_option(libc::SO_RCVTIMEO, &tv)
        }

        fn set_option<T>(&self, name: libc::c_int, value: &T) -> io::Result<()> {
            // SAFETY: `value` points to a T of the size given.
            let rc = unsafe {
                libc::setsockopt(
                    self.fd(),
                    libc::SOL_SOCKET,
                    name,
                    (value as *const T).cast(),
                    mem::size_of::<T>() as libc::socklen_t,
                )
            };
            if rc < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        }

        /// Sends one request to the kernel.
        pub fn send(&self, msg: &[u8]) -> io::Result<()> {
            let addr = kernel_address();
            // SAFETY: `msg` and `addr` are valid for the lengths given.
            let rc = unsafe {
                libc::sendto(
                    self.fd(),
                    msg.as_ptr().cast(),
                    msg.len(),
                    0,
                    (&raw const addr).cast(),
                    mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
                )
            };
            if rc < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        }

        /// One datagram into `buf`: its length (cut to `buf`) and the
        /// sender's port id (0 for the kernel).
        pub fn recv(&self, buf: &mut [u8], flags: libc::c_int) -> io::Result<(usize, u32)> {
            let mut addr = kernel_address();
            let mut addr_len = mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
            // SAFETY: `buf` and `addr` are valid and writable for the
            // lengths given.
            let rc = unsafe {
                libc::recvfrom(
                    self.fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    flags,
                    (&raw mut addr).cast(),
                    &raw mut addr_len,
                )
            };
            if rc < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok((rc as usize, addr.nl_pid))
        }
    }

    fn kernel_address() -> libc::sockaddr_nl {
        // SAFETY: sockaddr_nl is plain integers, valid when zeroed.
        let mut addr: libc::sockaddr_nl = unsafe { mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        addr
    }
}

/// ctnetlink messages: netlink header, nfgenmsg, then attributes, parsed
/// without trusting a single length.
mod wire {
    use super::*;

    pub const NLMSG_ERROR: u16 = libc::NLMSG_ERROR as u16;
    pub const NLMSG_DONE: u16 = libc::NLMSG_DONE as u16;

    const NLMSG_HDRLEN: usize = 16;
    /// struct nfgenmsg: family, version, resource id.
    const NFGENMSG_LEN: usize = 4;
    const NLA_HDRLEN: usize = 4;
    /// Attribute type bits that are flags (NLA_F_NESTED, NLA_F_NET_BYTEORDER).
    const NLA_TYPE_MASK: u16 = 0x3fff;
    const NLA_F_NESTED: u16 = 0x8000;

    const NFNL_SUBSYS_CTNETLINK: u16 = 1;
    pub const CT_NEW: u16 = NFNL_SUBSYS_CTNETLINK << 8;
    pub const CT_GET: u16 = (NFNL_SUBSYS_CTNETLINK << 8) | 1;
    pub const CT_DELETE: u16 = (NFNL_SUBSYS_CTNETLINK << 8) | 2;

    pub const CTA_TUPLE_ORIG: u16 = 1;
    pub const CTA_TUPLE_REPLY: u16 = 2;
    pub const CTA_STATUS: u16 = 3;
    pub const CTA_PROTOINFO: u16 = 4;
    pub const CTA_ID: u16 = 12;
    pub const CTA_TUPLE_IP: u16 = 1;
    pub const CTA_TUPLE_PROTO: u16 = 2;
    pub const CTA_IP_V4_SRC: u16 = 1;
    pub const CTA_IP_V4_DST: u16 = 2;
    pub const CTA_IP_V6_SRC: u16 = 3;
    pub const CTA_IP_V6_DST: u16 = 4;
    pub const CTA_PROTO_NUM: u16 = 1;
    pub const CTA_PROTO_SRC_PORT: u16 = 2;
    pub const CTA_PROTO_DST_PORT: u16 = 3;
    pub const CTA_PROTOINFO_TCP: u16 = 1;
    pub const CTA_PROTOINFO_TCP_STATE: u16 = 1;

    pub const IPS_SEEN_REPLY: u32 = 1 << 1;
    pub const IPS_ASSURED: u32 = 1 << 2;

    const fn align4(len: usize) -> usize {
        (len + 3) & !3
    }

    fn u16_ne(bytes: &[u8], at: usize) -> Option<u16> {
        Some(u16::from_ne_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
    }

    fn u32_ne(bytes: &[u8], at: usize) -> Option<u32> {
        Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    }

    fn u32_be(bytes: &[u8]) -> Option<u32> {
        Some(u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?))
    }

    pub struct Header {
        pub kind: u16,
        pub seq: u32,
    }

    impl Header {
        pub fn parse(msg: &[u8]) -> Option<Header> {
            Some(Header {
                kind: u16_ne(msg, 4)?,
                seq: u32_ne(msg, 8)?,
            })
        }
    }

    /// The messages of one datagram, each cut to its own `nlmsg_len`.
    pub fn messages(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
        let mut rest = buf;
        std::iter::from_fn(move || {
            let len = u32_ne(rest, 0)? as usize;
            if len < NLMSG_HDRLEN || len > rest.len() {
                return None;
            }
            let msg = &rest[..len];
            rest = rest.get(align4(len)..).unwrap_or(&[]);
            Some(msg)
        })
    }

    /// The errno of an NLMSG_ERROR message (0 is an acknowledgement).
    pub fn error_code(msg: &[u8]) -> Option<i32> {
        let code = u32_ne(msg, NLMSG_HDRLEN)? as i32;
        Some(-code)
    }

    /// The attributes in `buf` as (type without flag bits, payload).
    fn attrs(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
        let mut rest = buf;
        std::iter::from_fn(move || {
            let len = usize::from(u16_ne(rest, 0)?);
            let kind = u16_ne(rest, 2)? & NLA_TYPE_MASK;
            if len < NLA_HDRLEN || len > rest.len() {
                return None;
            }
            let payload = &rest[NLA_HDRLEN..len];
            rest = rest.get(align4(len)..).unwrap_or(&[]);
            Some((kind, payload))
        })
    }

    fn attr(buf: &[u8], kind: u16) -> Option<&[u8]> {
        attrs(buf)
            .find(|&(k, _)| k == kind)
            .map(|(_, payload)| payload)
    }

    /// A conntrack NEW (event, dump or get reply) or DELETE message, for a
    /// TCP or UDP connection; anything else, or anything malformed, is None.
    pub fn parse_message(msg: &[u8]) -> Option<Parsed> {
        let kind = u16_ne(msg, 4)?;
        let destroyed = match kind {
            CT_NEW => false,
            CT_DELETE => true,
            _ => return None,
        };
        let body = msg.get(NLMSG_HDRLEN + NFGENMSG_LEN..)?;
        let original = tuple(attr(body, CTA_TUPLE_ORIG)?)?;
        let reply = tuple(attr(body, CTA_TUPLE_REPLY)?)?;
        if reply.proto != original.proto {
            return None;
        }
        let status = attr(body, CTA_STATUS).and_then(u32_be).unwrap_or(0);
        let tcp_state = if original.proto == TCP {
            attr(body, CTA_PROTOINFO)
                .and_then(|info| attr(info, CTA_PROTOINFO_TCP))
                .and_then(|tcp| attr(tcp, CTA_PROTOINFO_TCP_STATE))
                .and_then(|state| state.first())
                .and_then(|&state| TcpState::try_from(state).ok())
        } else {
            None
        };
        let was_established = original.proto == TCP
            && (tcp_state == Some(TcpState::Established) || status & IPS_ASSURED != 0);
        Some(Parsed {
            entry: Entry {
                original,
                reply,
                tcp_state,
                destroyed,
                seen_reply: status & IPS_SEEN_REPLY != 0,
                was_established,
            },
            id: attr(body, CTA_ID).and_then(u32_be),
        })
    }

    /// A CTA_TUPLE_* nest as a flow, when it is TCP or UDP over IP.
    fn tuple(nest: &[u8]) -> Option<Flow> {
        let ip = attr(nest, CTA_TUPLE_IP)?;
        let proto = attr(nest, CTA_TUPLE_PROTO)?;
        let num = *attr(proto, CTA_PROTO_NUM)?.first()?;
        if num != TCP && num != UDP {
            return None;
        }
        let port = |kind| -> Option<u16> {
            Some(u16::from_be_bytes(
                attr(proto, kind)?.get(..2)?.try_into().ok()?,
            ))
        };
        let (src, dst) = addresses(ip)?;
        Some(Flow {
            proto: num,
            src: SocketAddr::new(src, port(CTA_PROTO_SRC_PORT)?),
            dst: SocketAddr::new(dst, port(CTA_PROTO_DST_PORT)?),
        })
    }

    fn addresses(ip: &[u8]) -> Option<(IpAddr, IpAddr)> {
        let v4 = |kind| -> Option<IpAddr> {
            let octets: [u8; 4] = attr(ip, kind)?.get(..4)?.try_into().ok()?;
            Some(Ipv4Addr::from(octets).into())
        };
        let v6 = |kind| -> Option<IpAddr> {
            let octets: [u8; 16] = attr(ip, kind)?.get(..16)?.try_into().ok()?;
            Some(Ipv6Addr::from(octets).into())
        };
        match (v4(CTA_IP_V4_SRC), v4(CTA_IP_V4_DST)) {
            (Some(src), Some(dst)) => Some((src, dst)),
            _ => Some((v6(CTA_IP_V6_SRC)?, v6(CTA_IP_V6_DST)?)),
        }
    }

    /// Builds a netlink request (and, in tests, kernel-like messages).
    pub struct Writer {
        buf: Vec<u8>,
    }

    impl Writer {
        /// A message of `kind` for address `family`, header and nfgenmsg
        /// written, its length filled in by [`Writer::finish`].
        pub fn message(kind: u16, flags: u16, seq: u32, family: u8) -> Writer {
            let mut buf = Vec::with_capacity(128);
            buf.extend_from_slice(&0u32.to_ne_bytes());
            buf.extend_from_slice(&kind.to_ne_bytes());
            buf.extend_from_slice(&flags.to_ne_bytes());
            buf.extend_from_slice(&seq.to_ne_bytes());
            buf.extend_from_slice(&0u32.to_ne_bytes());
            // nfgenmsg: family, NFNETLINK_V0, resource id 0 (big endian).
            buf.extend_from_slice(&[family, 0, 0, 0]);
            Writer { buf }
        }

        pub fn attr(&mut self, kind: u16, payload: &[u8]) {
            let len = (NLA_HDRLEN + payload.len()) as u16;
            self.buf.extend_from_slice(&len.to_ne_bytes());
            self.buf.extend_from_slice(&kind.to_ne_bytes());
            self.buf.extend_from_slice(payload);
            self.pad();
        }

        pub fn nested(&mut self, kind: u16, fill: impl FnOnce(&mut Writer)) {
            let start = self.buf.len();
            self.buf.extend_from_slice(&[0; NLA_HDRLEN]);
            fill(self);
            let len = (self.buf.len() - start) as u16;
            self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
            self.buf[start + 2..start + 4].copy_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        }

        /// A CTA_TUPLE_ORIG or CTA_TUPLE_REPLY nest for `flow`.
        pub fn tuple(&mut self, kind: u16, flow: &Flow) {
            self.nested(kind, |w| {
                w.nested(CTA_TUPLE_IP, |w| match (flow.src.ip(), flow.dst.ip()) {
                    (IpAddr::V4(src), IpAddr::V4(dst)) => {
                        w.attr(CTA_IP_V4_SRC, &src.octets());
                        w.attr(CTA_IP_V4_DST, &dst.octets());
                    }
                    (src, dst) => {
                        w.attr(CTA_IP_V6_SRC, &v6(src).octets());
                        w.attr(CTA_IP_V6_DST, &v6(dst).octets());
                    }
                });
                w.nested(CTA_TUPLE_PROTO, |w| {
                    w.attr(CTA_PROTO_NUM, &[flow.proto]);
                    w.attr(CTA_PROTO_SRC_PORT, &flow.src.port().to_be_bytes());
                    w.attr(CTA_PROTO_DST_PORT, &flow.dst.port().to_be_bytes());
                });
            });
        }

        fn pad(&mut self) {
            self.buf.resize(align4(self.buf.len()), 0);
        }

        pub fn finish(mut self) -> Vec<u8> {
            let len = self.buf.len() as u32;
            self.buf[..4].copy_from_slice(&len.to_ne_bytes());
            self.buf
        }
    }

    fn v6(ip: IpAddr) -> Ipv6Addr {
        match ip {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::wire::*;
    use super::*;

    pub(super) fn flow(proto: u8, src: &str, dst: &str) -> Flow {
        Flow {
            proto,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
        }
    }

    /// A message as the kernel sends it for `entry`.
    fn encode(entry: &Entry, status: u32, id: Option<u32>) -> Vec<u8> {
        let kind = if entry.destroyed { CT_DELETE } else { CT_NEW };
        let family = if entry.original.src.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        let mut w = Writer::message(kind, 0, 0, family as u8);
        w.tuple(CTA_TUPLE_ORIG, &entry.original);
        w.tuple(CTA_TUPLE_REPLY, &entry.reply);
        w.attr(CTA_STATUS, &status.to_be_bytes());
        if let Some(state) = entry.tcp_state {
            w.nested(CTA_PROTOINFO, |w| {
                w.nested(CTA_PROTOINFO_TCP, |w| {
                    w.attr(CTA_PROTOINFO_TCP_STATE, &[state as u8]);
                });
            });
        }
        if let Some(id) = id {
            w.attr(CTA_ID, &id.to_be_bytes());
        }
        w.finish()
    }

    pub(super) fn entry(original: Flow, reply: Flow, tcp_state: Option<TcpState>) -> Entry {
        Entry {
            original,
            reply,
            tcp_state,
            destroyed: false,
            seen_reply: false,
            was_established: false,
        }
    }

    pub(super) fn parsed(entry: Entry, id: Option<u32>) -> Parsed {
        Parsed { entry, id }
    }

    #[test]
    fn v4_new_round_trips() {
        let orig = flow(TCP, "10.0.0.1:40000", "10.0.0.2:80");
        let e = entry(orig, orig.reversed(), Some(TcpState::SynSent));
        let got = parse_message(&encode(&e, 0, Some(7))).unwrap();
        assert_eq!(got, parsed(e.clone(), Some(7)));
        assert!(!got.entry.is_translated());
    }

    #[test]
    fn v6_udp_round_trips() {
        let orig = flow(UDP, "[fd00::1]:5353", "[fd00::2]:53");
        let e = entry(orig, orig.reversed(), None);
        assert_eq!(parse_message(&encode(&e, 0, None)).unwrap().entry, e);
    }

    #[test]
    fn dnat_entry_is_translated() {
        // A client on the host reaching a published Docker port.
        let orig = flow(TCP, "192.0.2.2:51000", "192.0.2.2:18080");
        let reply = flow(TCP, "172.17.0.2:80", "192.0.2.2:51000");
        let e = entry(orig, reply, Some(TcpState::Established));
        let got = parse_message(&encode(&e, IPS_SEEN_REPLY | IPS_ASSURED, Some(1))).unwrap();
        assert!(got.entry.is_translated());
        assert!(got.entry.seen_reply);
        assert!(got.entry.was_established);
        assert_eq!(got.entry.reply, reply);
    }

    #[test]
    fn delete_is_a_destroy() {
        let orig = flow(TCP, "10.0.0.1:40000", "10.0.0.2:80");
        let mut e = entry(orig, orig.reversed(), None);
        e.destroyed = true;
        let got = parse_message(&encode(&e, IPS_SEEN_REPLY, None)).unwrap();
        assert!(got.entry.destroyed);
        assert!(got.entry.seen_reply);
    }

    #[test]
    fn other_protocols_and_messages_are_skipped() {
        let orig = flow(1, "10.0.0.1:0", "10.0.0.2:0");
        let icmp = entry(orig, orig.reversed(), None);
        assert_eq!(parse_message(&encode(&icmp, 0, None)), None);

        let tcp = flow(TCP, "10.0.0.1:1", "10.0.0.2:2");
        let mut msg = encode(&entry(tcp, tcp.reversed(), None), 0, None);
        // An expectation message (subsystem 2), same layout otherwise.
        msg[4..6].copy_from_slice(&(2u16 << 8).to_ne_bytes());
        assert_eq!(parse_message(&msg), None);
    }

    #[test]
    fn truncated_messages_do_not_parse() {
        let orig = flow(TCP, "10.0.0.1:40000", "10.0.0.2:80");
        let msg = encode(
            &entry(orig, orig.reversed(), Some(TcpState::SynSent)),
            0,
            None,
        );
        for len in 0..msg.len() {
            // The message's own length still claims the whole: attributes
            // must be bounded by the slice, not by what they say.
            let _ = parse_message(&msg[..len]);
        }
        // Cutting the reply tuple loses the entry.
        assert_eq!(parse_message(&msg[..msg.len() / 2]), None);
    }

    #[test]
    fn messages_split_a_datagram() {
        let a = flow(TCP, "10.0.0.1:1", "10.0.0.2:2");
        let b = flow(UDP, "10.0.0.3:3", "10.0.0.4:4");
        let mut datagram = encode(&entry(a, a.reversed(), None), 0, None);
        datagram.extend(encode(&entry(b, b.reversed(), None), 0, None));
        let got: Vec<Flow> = messages(&datagram)
            .filter_map(parse_message)
            .map(|p| p.entry.original)
            .collect();
        assert_eq!(got, [a, b]);
        // A length past the end stops the walk rather than reading on.
        datagram[0..4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert_eq!(messages(&datagram).count(), 0);
    }

    #[test]
    fn refused_is_a_reset_before_the_handshake() {
        // As this kernel reports a connect to a closed port: NEW in
        // SYN_SENT, then DESTROY in CLOSE, no reply ever seen.
        let orig = flow(TCP, "127.0.0.1:40000", "127.0.0.1:1");
        let mut e = entry(orig, orig.reversed(), Some(TcpState::SynSent));
        assert!(!e.refused());
        e.destroyed = true;
        assert!(
            !e.refused(),
            "an unanswered SYN timed out, it was not refused"
        );
        e.tcp_state = Some(TcpState::Close);
        assert!(e.refused());
        // A connection closed by a reset after it was up was not refused.
        e.was_established = true;
        assert!(!e.refused());
        let udp = flow(UDP, "127.0.0.1:40000", "127.0.0.1:1");
        assert!(!entry(udp, udp.reversed(), Some(TcpState::Close)).refused());
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            for msg in messages(&bytes) {
                let _ = parse_message(msg);
            }
            let _ = parse_message(&bytes);
        }

        #[test]
        fn corrupted_messages_never_panic(flip in proptest::collection::vec((0usize..200, proptest::num::u8::ANY), 1..8)) {
            let orig = flow(TCP, "10.0.0.1:40000", "10.0.0.2:80");
            let mut msg = encode(&entry(orig, orig.reversed(), Some(TcpState::SynSent)), 3, Some(1));
            for (at, byte) in flip {
                let at = at % msg.len();
                msg[at] = byte;
            }
            let _ = parse_message(&msg);
        }
    }
}

/// Against the running kernel: needs root, and conntrack active in this
/// network namespace (any NAT rule, as Docker's, turns it on).
#[cfg(test)]
mod kernel_tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    /// Starts conntrack, or says loudly why not; under CI a skip fails.
    fn start_or_skip() -> Option<Conntrack> {
        let why = match Conntrack::start() {
            Ok(ct) => return Some(ct),
            // SAFETY: geteuid has no preconditions.
            Err(e) if unsafe { libc::geteuid() } != 0 => format!("not root ({e})"),
            Err(e) => e.to_string(),
        };
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "conntrack kernel test cannot run under CI: {why}"
        );
        eprintln!("SKIPPED conntrack kernel test: {why}");
        None
    }

    fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            if let Some(found) = probe() {
                return found;
            }
            assert!(Instant::now() < deadline, "{what} within 2 s");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn sees_a_loopback_connection() {
        let Some(ct) = start_or_skip() else { return };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let _server = listener.accept().unwrap();
        let orig = Flow {
            proto: TCP,
            src: client.local_addr().unwrap(),
            dst: listener.local_addr().unwrap(),
        };
        let entry = wait_for("the connection's entry", || {
            ct.by_original(&orig).filter(|e| e.was_established)
        });
        assert_eq!(entry.reply, orig.reversed());
        assert!(!entry.is_translated());
        assert_eq!(ct.by_reply(&orig.reversed()).unwrap().original, orig);
        assert_eq!(ct.query(&orig).unwrap().original, orig);
    }

    #[test]
    fn sees_a_refused_connect() {
        let Some(ct) = start_or_skip() else { return };
        // A port just closed: nothing listens there now.
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let err = TcpStream::connect(closed).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        let entry = wait_for("the refused connection's entry", || {
            let table = ct.shared.table();
            let found = table
                .entries()
                .find(|e| e.original.dst == closed && e.refused())
                .cloned();
            found
        });
        assert_eq!(entry.reply, entry.original.reversed());
    }
}
