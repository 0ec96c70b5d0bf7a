//! The kernel's connection tracking table, mirrored from ctnetlink: which
//! post-NAT tuple a connection got, so a client's `connect()` (the tuple it
//! asked for) can be matched with the server's `accept()` (the tuple it saw).
//!
//! Netlink is spoken by hand over `libc` (no crate): one socket subscribed to
//! the NEW, UPDATE and DESTROY event groups, read on a background thread into
//! a bounded table, after one dump of the entries that existed before.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::flow::{Flow, TCP, UDP};
use crate::sys::{fd, netlink};
use table::Table;

/// NFNLGRP_CONNTRACK_NEW (1), _UPDATE (2) and _DESTROY (3), as the
/// legacy bind bitmask (group n is bit n-1).
const EVENT_GROUPS: u32 = 1 | 2 | 4;

mod table;
mod wire;

#[cfg(test)]
mod kernel_tests;
#[cfg(test)]
mod tests;

/// Entries kept at most: the kernel's own default `nf_conntrack_max` on a
/// small host. Roughly 0.5 KB each with both indexes, so ~128 MB when full.
const CAPACITY: usize = 256 * 1024;
/// How long a destroyed entry stays answerable: the tracer may look a
/// connection up after it closed (a short request's events arrive late).
const LINGER: Duration = Duration::from_secs(10);
/// Asked of the kernel for the event socket: bursts of new connections
/// overrun the default ~200 KB quickly.
const RECEIVE_BUFFER: libc::c_int = 8 << 20;
/// Overrides [`RECEIVE_BUFFER`] (bytes), for tests only: a tiny buffer is
/// how a test makes the kernel drop notifications on purpose.
const RECEIVE_BUFFER_ENV: &str = "SDTRACE_TEST_CONNTRACK_RCVBUF";
/// The least time between two reads of the whole table after losses: a
/// flood that overflows the queue again and again must not turn into a
/// dump of a large table after every drained burst.
const REDUMP_EVERY: Duration = Duration::from_secs(1);
/// How often the reader expires old entries, even when no event comes.
const EXPIRE_EVERY: Duration = Duration::from_secs(1);
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
    /// Times the table was dumped again after such a loss.
    redumped: AtomicU64,
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
        let events = netlink::Socket::open(EVENT_GROUPS).map_err(|e| explain_open(&e))?;
        let buffer = std::env::var(RECEIVE_BUFFER_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(RECEIVE_BUFFER);
        events.set_receive_buffer(buffer);

        let shared = Arc::new(Shared {
            table: Mutex::new(Table::new(CAPACITY, LINGER)),
            lost: AtomicU64::new(0),
            redumped: AtomicU64::new(0),
        });
        // Subscribed first, dumped second: an entry created in between is
        // in the dump or in the queued events, and a stale state from the
        // queue is overtaken by the next event for it.
        load_table(&shared).map_err(|e| explain_dump(&e))?;

        let (stop_read, stop_write) = fd::pipe()?;
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

    /// How many times the table was read again from the kernel after
    /// notifications were dropped.
    #[must_use]
    pub fn redumped(&self) -> u64 {
        self.shared.redumped.load(Ordering::Relaxed)
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

/// Folds every current entry of both address families into the table.
fn load_table(shared: &Shared) -> io::Result<()> {
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
            Err(e) => return Err(e),
        }
    }
    Ok(())
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
/// even when idle. After the kernel dropped notifications (the socket's
/// buffer overflowed), the table is dumped again once the queue is drained:
/// connections whose NEW or UPDATE was lost are known again.
fn read_events(events: &netlink::Socket, stop: &OwnedFd, shared: &Shared) {
    let mut buf = vec![0u8; DATAGRAM];
    let mut batch = Vec::new();
    let mut overflowed = false;
    let mut last_dump: Option<Instant> = None;
    loop {
        let ready = match fd::wait_readable([events.as_fd(), stop.as_fd()], EXPIRE_EVERY) {
            Ok(ready) => ready,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log::warn!(
                    "conntrack: polling for events failed, so NAT hops are no longer followed: {e}"
                );
                return;
            }
        };
        if ready[1] {
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
                    overflowed = true;
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
        drop(table);
        // Only once nothing is queued: dumping while a flood still arrives
        // would overflow the socket again before the dump is read.
        // At most once per REDUMP_EVERY; a later turn (at least one a
        // second, EXPIRE_EVERY) does it otherwise.
        let may_dump = last_dump.is_none_or(|at| at.elapsed() >= REDUMP_EVERY);
        if overflowed && may_dump && !events_pending(events) {
            overflowed = false;
            last_dump = Some(Instant::now());
            match load_table(shared) {
                Ok(()) => {
                    shared.redumped.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => log::debug!("conntrack: dump after a loss failed: {e}"),
            }
        }
    }
}

/// Whether the event socket has more to read now.
fn events_pending(events: &netlink::Socket) -> bool {
    fd::wait_readable([events.as_fd()], Duration::ZERO).is_ok_and(|[ready]| ready)
}

/// One ctnetlink message understood: the entry it describes, and conntrack's
/// id for the connection, which tells a reused tuple from the same one.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Parsed {
    entry: Entry,
    id: Option<u32>,
}
