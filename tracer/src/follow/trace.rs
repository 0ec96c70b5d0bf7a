//! Stitching: which connections belong to which request, and which of a
//! server's syscalls were done for it.
//!
//! A trace starts at a connection a seed makes. The server side of that
//! connection is the accept whose tuple is the client's after NAT (the
//! kernel's connection tracking says what the client's tuple became). What
//! the server does on the accepted fd is the request's; so is what the
//! thread does between touching that fd and going back to wait for other
//! work (epoll_wait, accept, another connection), and the connections it
//! makes meanwhile, which are followed the same way.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use tracer_common::syscall_names::nr;

use super::flow::{Flow, TCP};

pub type SpanId = u64;
pub type TraceId = u64;

/// What the kernel's connection tracking knows of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Translation {
    /// As the client sent it.
    pub original: Flow,
    /// The answer's direction: from the server to the client as NAT
    /// rewrote it.
    pub reply: Flow,
    /// The connection was refused (reset before it was established).
    pub refused: bool,
}

impl Translation {
    /// Whether NAT rewrote the connection.
    #[must_use]
    pub fn is_translated(&self) -> bool {
        self.reply != self.original.reversed()
    }
}

/// Where the tracker asks about NAT.
pub trait Translations {
    fn by_original(&mut self, original: &Flow) -> Option<Translation>;
    fn by_reply(&mut self, reply: &Flow) -> Option<Translation>;
    /// The newest connection from `src` (any port) to `dst`: a socket reset
    /// during connect() has lost its port by the time its tuple is read.
    fn newest_between(
        &mut self,
        _proto: u8,
        _src: IpAddr,
        _dst: SocketAddr,
    ) -> Option<Translation> {
        None
    }
    /// The rules that rewrote it, e.g. `nat/DOCKER DNAT to 172.17.0.2:80`.
    fn rules(&mut self, t: &Translation) -> Vec<String>;
    /// What the user should know about the source at the end of the run.
    fn summary(&self) -> Option<String> {
        None
    }
}

/// What connection tracking says of a client's connection; one whose
/// source port is gone is looked up by its addresses.
fn lookup_original(nat: &mut dyn Translations, flow: &Flow) -> Option<Translation> {
    if flow.src.port() == 0 {
        return nat.newest_between(flow.proto, flow.src.ip(), flow.dst);
    }
    nat.by_original(flow)
}

/// No connection tracking: tuples are matched as they are.
pub struct NoTranslations;

impl Translations for NoTranslations {
    fn by_original(&mut self, _: &Flow) -> Option<Translation> {
        None
    }
    fn by_reply(&mut self, _: &Flow) -> Option<Translation> {
        None
    }
    fn rules(&mut self, _: &Translation) -> Vec<String> {
        Vec::new()
    }
}

/// A process (and where it runs) as a span shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Who {
    pub pid: u32,
    pub tid: u32,
    pub name: String,
    pub container_id: Option<String>,
    pub container_name: Option<String>,
    pub pod: Option<String>,
}

/// One syscall as a trace shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub ts: u64,
    pub tid: u32,
    pub evt_type: String,
    pub res: String,
    pub fd_name: Option<String>,
    pub info: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A connection a process made (connect).
    Client,
    /// The rewrite of a client's connection by NAT.
    Nat,
    /// A connection a process accepted.
    Server,
}

impl Kind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Client => "client",
            Kind::Nat => "nat",
            Kind::Server => "server",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Span {
    pub id: SpanId,
    pub trace: TraceId,
    pub parent: Option<SpanId>,
    pub kind: Kind,
    /// Hops from the trace's root: a server and the connections it makes
    /// are one deeper than the client it serves.
    pub depth: u32,
    pub who: Who,
    /// As this side's socket sees it: the client's local -> the address it
    /// connected to; the server's peer -> its own address.
    pub flow: Option<Flow>,
    pub start: u64,
    pub end: Option<u64>,
    pub lines: Vec<Line>,
    /// Events past [`MAX_LINES`], counted but not kept.
    pub elided: u64,
    pub error: Option<String>,
    /// Nat spans: what the client sent, what left NAT, and the rules.
    pub nat: Option<(Flow, Flow, Vec<String>)>,
    /// Client spans: the server side was found.
    served: bool,
    /// Client spans: connect's error, if it failed at once.
    connect_error: Option<String>,
    /// Client spans: data came back (from a server sdtrace may not see).
    received: bool,
}

/// Events a span keeps: a keep-alive connection can carry thousands of
/// requests, and a trace is for reading.
pub const MAX_LINES: usize = 1000;

/// When a trace may be emitted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Finish {
    /// Once every span ended and every answered client's server was seen.
    WhenComplete,
    /// Once every span ended.
    WithoutUnseenServers,
    /// As it is.
    Now,
}

impl Span {
    /// A client that got data back from a server sdtrace has not seen.
    fn awaits_server(&self) -> bool {
        self.kind == Kind::Client && self.received && !self.served
    }

    fn add_line(&mut self, d: &dyn Describe, ts: u64) {
        let keeps = if self.trace == UNTRACED {
            self.lines.len() < UNTRACED_LINES && ts.saturating_sub(self.start) < UNTRACED_LINES_NS
        } else {
            self.lines.len() < MAX_LINES
        };
        if keeps {
            self.lines.push(d.line());
        } else {
            self.elided += 1;
        }
    }
}

pub struct Trace {
    pub id: TraceId,
    /// In creation order: parents before children.
    pub spans: Vec<Span>,
}

/// What the tracker needs of one event.
pub struct Event {
    pub ts: u64,
    pub tgid: u32,
    pub tid: u32,
    pub nr: u16,
    pub ret: i64,
    /// A process exit (the whole thread group).
    pub exit: bool,
    /// The fd the event is about.
    pub fd: Option<i32>,
    /// That fd, when it is an IP socket.
    pub socket: Option<Socket>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Socket {
    pub proto: u8,
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
}

/// What is asked of the event only when the tracker keeps it.
pub trait Describe {
    fn who(&self) -> Who;
    fn line(&self) -> Line;
    /// Whether the `-c` filter lets this event be shown.
    fn shown(&self) -> bool;
    /// Whether the process is one whose connections start traces, or the
    /// destination is one that does.
    fn seeds(&self, remote: Option<SocketAddr>) -> bool;
}

/// How long a trace whose root connection closed waits for its other hops.
pub const LINGER_NS: u64 = 2_000_000_000;
/// How long a finished trace whose client was answered by a server not seen
/// yet waits for that server: the server's CPU batch can reach userspace
/// after the reorder window released the client's close. A server on
/// another host is never seen, and only delays its trace by this much.
pub const ANSWER_GRACE_NS: u64 = 250_000_000;
/// How long an accept nobody's connect explains yet is kept: the client's
/// connect may be ordered after it (on loopback the handshake completes
/// inside connect, and the server's accept can return first).
const UNMATCHED_NS: u64 = 1_000_000_000;
const UNMATCHED_MAX: usize = 16_384;

/// The trace of a server span no client's connect explains yet: it is
/// followed (its fd, its thread's work) while it waits, so that a connect
/// reported late (a CPU's batch overtaken by the reorder window) still gets
/// the whole request.
const UNTRACED: TraceId = 0;
/// What such a span keeps while it waits: the first events of its first
/// moments (a busy server's unrelated connections all wait here).
const UNTRACED_LINES: usize = 16;
const UNTRACED_LINES_NS: u64 = 100_000_000;

#[derive(Default)]
pub struct Tracker {
    next_id: u64,
    traces_started: u64,
    spans: HashMap<SpanId, Span>,
    /// Open traces: their spans, in creation order, and when the root ended.
    traces: HashMap<TraceId, (Vec<SpanId>, Option<u64>)>,
    by_fd: HashMap<(u32, i32), SpanId>,
    /// Client spans by the flow they sent (local -> remote, before NAT).
    clients: HashMap<Flow, SpanId>,
    /// Untraced server spans by the server's (local, remote), with when
    /// they were accepted.
    unmatched: HashMap<(SocketAddr, SocketAddr), (u64, SpanId)>,
    unmatched_order: VecDeque<(u64, (SocketAddr, SocketAddr))>,
    /// The server span each thread works for, until it waits again.
    working: HashMap<u32, SpanId>,
    /// The server span each process last worked for (threads hand work
    /// to each other, as Go programs do).
    last_worked: HashMap<u32, SpanId>,
    done: Vec<Trace>,
}

/// Syscalls a thread makes when it waits for its next piece of work.
fn waits_for_work(sysno: u16) -> bool {
    matches!(
        sysno,
        nr::EPOLL_WAIT
            | nr::EPOLL_PWAIT
            | nr::EPOLL_PWAIT2
            | nr::POLL
            | nr::PPOLL
            | nr::SELECT
            | nr::PSELECT6
            | nr::ACCEPT
            | nr::ACCEPT4
    )
}

/// Syscalls that bring data in from a socket.
fn receives(sysno: u16) -> bool {
    matches!(
        sysno,
        nr::READ | nr::READV | nr::RECVFROM | nr::RECVMSG | nr::RECVMMSG
    )
}

impl Tracker {
    /// Traces complete since the last call, oldest first, each unanswered
    /// connection in them marked with where it failed, as connection
    /// tracking says now.
    pub fn take_done(&mut self, nat: &mut dyn Translations) -> Vec<Trace> {
        let mut done = std::mem::take(&mut self.done);
        for t in &mut done {
            for s in &mut t.spans {
                let unanswered = s.kind == Kind::Client && !s.served && !s.received;
                if let Some(f) = s.flow.filter(|f| unanswered && f.proto == TCP) {
                    if lookup_original(nat, &f).is_some_and(|t| t.refused) {
                        s.connect_error = Some("connection refused".into());
                    }
                }
            }
            explain_failures(&mut t.spans);
        }
        done
    }

    /// How many traces are still open.
    #[must_use]
    pub fn open_traces(&self) -> usize {
        self.traces.len()
    }

    pub fn observe(&mut self, ev: &Event, d: &dyn Describe, nat: &mut dyn Translations) {
        if ev.exit {
            self.process_exit(ev);
            return;
        }
        let key = ev.fd.map(|fd| (ev.tgid, fd));
        let followed = key.and_then(|k| self.by_fd.get(&k).copied());
        match ev.nr {
            nr::CONNECT => {
                if followed.is_none() {
                    self.connect(ev, d, nat);
                }
                return;
            }
            nr::ACCEPT | nr::ACCEPT4 if ev.ret >= 0 => {
                self.working.remove(&ev.tid);
                self.accept(ev, d, nat);
                return;
            }
            _ => {}
        }
        if let Some(span) = followed {
            self.on_followed_fd(span, ev, d);
            return;
        }
        if waits_for_work(ev.nr)
            || ev
                .socket
                .is_some_and(|s| s.remote.is_some() && s.proto == TCP)
        {
            self.working.remove(&ev.tid);
            return;
        }
        if let Some(&span) = self.working.get(&ev.tid) {
            if d.shown() {
                if let Some(s) = self.spans.get_mut(&span) {
                    s.add_line(d, ev.ts);
                }
            }
        }
    }

    fn on_followed_fd(&mut self, span: SpanId, ev: &Event, d: &dyn Describe) {
        let Some(s) = self.spans.get_mut(&span) else {
            return;
        };
        if d.shown() {
            s.add_line(d, ev.ts);
        }
        if ev.ret > 0 && receives(ev.nr) {
            s.received = true;
        }
        if s.kind == Kind::Server {
            self.working.insert(ev.tid, span);
            self.last_worked.insert(ev.tgid, span);
        }
        if ev.nr == nr::CLOSE && ev.ret == 0 {
            if let Some(fd) = ev.fd {
                self.by_fd.remove(&(ev.tgid, fd));
            }
            self.end(span, ev.ts);
        }
    }

    /// A connection made while working for a server span is an upstream hop
    /// of it; one a seed makes starts a trace.
    fn connect(&mut self, ev: &Event, d: &dyn Describe, nat: &mut dyn Translations) {
        let Some(sock) = ev.socket else {
            return;
        };
        let parent = self
            .working
            .get(&ev.tid)
            .or_else(|| self.last_worked.get(&ev.tgid))
            .copied()
            .filter(|p| self.spans.get(p).is_some_and(|s| s.trace != UNTRACED));
        let (trace, depth) = match parent {
            // The same process, so the same hop as the work it does it for.
            Some(p) => {
                let s = &self.spans[&p];
                (s.trace, s.depth)
            }
            None if d.seeds(sock.remote) => {
                self.traces_started += 1;
                (self.traces_started, 0)
            }
            None => return,
        };
        let flow = match (sock.local, sock.remote) {
            (Some(src), Some(dst)) => Some(Flow {
                proto: sock.proto,
                src,
                dst,
            }),
            _ => None,
        };
        let line = d.line();
        let connect_error = (ev.ret < 0 && ev.ret != -i64::from(libc::EINPROGRESS))
            .then(|| format!("connect failed: {}", line.res));
        let id = self.add_span(Span {
            id: 0,
            trace,
            parent,
            kind: Kind::Client,
            depth,
            who: d.who(),
            flow,
            start: ev.ts,
            end: None,
            lines: vec![line],
            elided: 0,
            error: None,
            nat: None,
            served: false,
            connect_error,
            received: false,
        });
        if let Some(fd) = ev.fd {
            self.by_fd.insert((ev.tgid, fd), id);
        }
        let Some(flow) = flow else {
            return;
        };
        self.clients.insert(flow, id);
        let translation = lookup_original(nat, &flow);
        if let Some(t) = translation.as_ref().filter(|t| t.is_translated()) {
            self.add_nat(id, t, ev.ts, nat);
        }
        // The server may have been seen first.
        let server_view = translation.map_or((flow.dst, flow.src), |t| (t.reply.src, t.reply.dst));
        if let Some((_, server)) = self.unmatched.remove(&server_view) {
            self.adopt(id, server);
        }
    }

    fn add_nat(&mut self, client: SpanId, t: &Translation, ts: u64, nat: &mut dyn Translations) {
        let c = &self.spans[&client];
        if self.child_of_kind(client, Kind::Nat).is_some() {
            return;
        }
        let span = Span {
            id: 0,
            trace: c.trace,
            parent: Some(client),
            kind: Kind::Nat,
            depth: c.depth,
            who: c.who.clone(),
            flow: Some(t.original),
            start: ts,
            end: Some(ts),
            lines: Vec::new(),
            elided: 0,
            error: None,
            nat: Some((t.original, t.reply.reversed(), nat.rules(t))),
            served: false,
            connect_error: None,
            received: false,
        };
        self.add_span(span);
    }

    fn child_of_kind(&self, parent: SpanId, kind: Kind) -> Option<SpanId> {
        let trace = self.spans.get(&parent)?.trace;
        self.traces.get(&trace)?.0.iter().copied().find(|id| {
            self.spans
                .get(id)
                .is_some_and(|s| s.parent == Some(parent) && s.kind == kind)
        })
    }

    fn accept(&mut self, ev: &Event, d: &dyn Describe, nat: &mut dyn Translations) {
        let (Some(sock), Some(fd)) = (ev.socket, ev.fd) else {
            return;
        };
        let (Some(local), Some(remote)) = (sock.local, sock.remote) else {
            return;
        };
        let reply = Flow {
            proto: sock.proto,
            src: local,
            dst: remote,
        };
        let translation = nat.by_reply(&reply);
        let original = translation
            .as_ref()
            .map_or(reply.reversed(), |t| t.original);
        let server = self.add_untraced(Span {
            id: 0,
            trace: UNTRACED,
            parent: None,
            kind: Kind::Server,
            depth: 0,
            who: d.who(),
            flow: Some(reply.reversed()),
            start: ev.ts,
            end: None,
            lines: d.shown().then(|| d.line()).into_iter().collect(),
            elided: 0,
            error: None,
            nat: None,
            served: false,
            connect_error: None,
            received: false,
        });
        self.by_fd.insert((ev.tgid, fd), server);
        self.working.insert(ev.tid, server);
        self.last_worked.insert(ev.tgid, server);
        match self.clients.get(&original).copied() {
            Some(client) if !self.spans[&client].served => {
                if let Some(t) = translation.filter(Translation::is_translated) {
                    self.add_nat(client, &t, ev.ts, nat);
                }
                self.adopt(client, server);
            }
            _ => self.remember_unmatched((local, remote), ev.ts, server),
        }
    }

    fn add_untraced(&mut self, mut span: Span) -> SpanId {
        let id = self.new_id();
        span.id = id;
        self.spans.insert(id, span);
        id
    }

    fn remember_unmatched(&mut self, key: (SocketAddr, SocketAddr), ts: u64, span: SpanId) {
        while let Some(&(old, k)) = self.unmatched_order.front() {
            if ts.saturating_sub(old) < UNMATCHED_NS && self.unmatched.len() < UNMATCHED_MAX {
                break;
            }
            self.unmatched_order.pop_front();
            if let Some(&(_, gone)) = self.unmatched.get(&k).filter(|(at, _)| *at == old) {
                self.unmatched.remove(&k);
                self.forget_untraced(gone);
            }
        }
        if let Some((_, replaced)) = self.unmatched.insert(key, (ts, span)) {
            self.forget_untraced(replaced);
        }
        self.unmatched_order.push_back((ts, key));
    }

    /// Drops a server span no client claimed in time.
    fn forget_untraced(&mut self, span: SpanId) {
        if self.spans.get(&span).is_some_and(|s| s.trace == UNTRACED) {
            self.spans.remove(&span);
            self.by_fd.retain(|_, s| *s != span);
            self.working.retain(|_, s| *s != span);
            self.last_worked.retain(|_, s| *s != span);
        }
    }

    /// `server` (untraced until now) answers `client`: it joins the
    /// client's trace, under its NAT hop when there is one.
    fn adopt(&mut self, client: SpanId, server: SpanId) {
        let parent = self.child_of_kind(client, Kind::Nat).unwrap_or(client);
        let c = self.spans.get_mut(&client).expect("client span");
        c.served = true;
        let (trace, depth) = (c.trace, c.depth + 1);
        let Some(s) = self.spans.get_mut(&server) else {
            return;
        };
        s.trace = trace;
        s.parent = Some(parent);
        s.depth = depth;
        let start = s.start;
        if let Some(n) = self.spans.get_mut(&parent).filter(|s| s.kind == Kind::Nat) {
            n.end = Some(start.max(n.start));
        }
        self.traces
            .entry(trace)
            .or_insert_with(|| (Vec::new(), None))
            .0
            .push(server);
    }

    fn add_span(&mut self, mut span: Span) -> SpanId {
        let id = self.new_id();
        span.id = id;
        self.traces
            .entry(span.trace)
            .or_insert_with(|| (Vec::new(), None))
            .0
            .push(id);
        self.spans.insert(id, span);
        id
    }

    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn process_exit(&mut self, ev: &Event) {
        let gone: Vec<_> = self
            .by_fd
            .iter()
            .filter(|((tgid, _), _)| *tgid == ev.tgid)
            .map(|(k, v)| (*k, *v))
            .collect();
        for (k, span) in gone {
            self.by_fd.remove(&k);
            self.end(span, ev.ts);
        }
        self.last_worked.remove(&ev.tgid);
        self.working.retain(|_, s| {
            // Threads of the exiting process: their spans just ended.
            !self
                .spans
                .get(s)
                .is_none_or(|span| span.who.pid == ev.tgid && span.end.is_some())
        });
    }

    fn end(&mut self, span: SpanId, ts: u64) {
        let Some(s) = self.spans.get_mut(&span) else {
            return;
        };
        s.end.get_or_insert(ts);
        let (trace, root) = (s.trace, s.parent.is_none());
        if root {
            if let Some(t) = self.traces.get_mut(&trace) {
                t.1.get_or_insert(ts);
            }
        }
        self.working.retain(|_, s| *s != span);
        self.last_worked.retain(|_, s| *s != span);
        self.finish_if_complete(trace, Finish::WhenComplete);
    }

    /// Emits traces whose root ended [`LINGER_NS`] before `now`, and those
    /// that only waited for an unseen server for [`ANSWER_GRACE_NS`].
    pub fn tick(&mut self, now: u64) {
        let due: Vec<_> = self
            .traces
            .iter()
            .filter_map(|(id, (_, ended))| {
                let since = now.saturating_sub((*ended)?);
                if since >= LINGER_NS {
                    Some((*id, Finish::Now))
                } else if since >= ANSWER_GRACE_NS {
                    Some((*id, Finish::WithoutUnseenServers))
                } else {
                    None
                }
            })
            .collect();
        for (t, how) in due {
            self.finish_if_complete(t, how);
        }
    }

    /// Emits every open trace (the run is over).
    pub fn finish_all(&mut self) {
        let mut all: Vec<_> = self.traces.keys().copied().collect();
        all.sort_unstable();
        for t in all {
            self.finish_if_complete(t, Finish::Now);
        }
    }

    fn finish_if_complete(&mut self, trace: TraceId, how: Finish) {
        let Some((ids, root_end)) = self.traces.get(&trace) else {
            return;
        };
        let spans = || ids.iter().filter_map(|id| self.spans.get(id));
        let complete = root_end.is_some()
            && spans().all(|s| s.end.is_some())
            && (how == Finish::WithoutUnseenServers || !spans().any(Span::awaits_server));
        if !(complete || how == Finish::Now) {
            return;
        }
        let (ids, _) = self.traces.remove(&trace).expect("checked");
        let spans: Vec<Span> = ids.iter().filter_map(|id| self.spans.remove(id)).collect();
        for s in &spans {
            if let Some(f) = s.flow.filter(|_| s.kind == Kind::Client) {
                if self.clients.get(&f) == Some(&s.id) {
                    self.clients.remove(&f);
                }
            }
        }
        self.by_fd.retain(|_, s| !ids.contains(s));
        self.working.retain(|_, s| !ids.contains(s));
        self.last_worked.retain(|_, s| !ids.contains(s));
        self.done.push(Trace { id: trace, spans });
    }
}

/// Says where each unanswered TCP connection of a finished trace failed.
fn explain_failures(spans: &mut [Span]) {
    let nat_of: HashMap<SpanId, usize> = spans
        .iter()
        .enumerate()
        .filter(|(_, s)| s.kind == Kind::Nat)
        .filter_map(|(i, s)| s.parent.map(|p| (p, i)))
        .collect();
    for i in 0..spans.len() {
        let s = &spans[i];
        let answered = s.served || s.received;
        if s.kind != Kind::Client || answered || s.flow.is_none_or(|f| f.proto != TCP) {
            continue;
        }
        let dst = s.flow.map(|f| f.dst);
        let why = s.connect_error.clone();
        match nat_of.get(&s.id) {
            Some(&n) => {
                let to = spans[n].nat.as_ref().map(|(_, t, _)| t.dst);
                let text = match (&why, to) {
                    (Some(w), Some(to)) => format!("{w} by {to} (after NAT)"),
                    (None, Some(to)) => format!("no server accepted {to} (after NAT)"),
                    (Some(w), None) => w.clone(),
                    (None, None) => "no server accepted the connection".into(),
                };
                spans[n].error = Some(text.clone());
                spans[i].error = Some(text);
            }
            None => {
                spans[i].error = Some(match (why, dst) {
                    (Some(w), Some(d)) => format!("{w} by {d}"),
                    (Some(w), None) => w,
                    (None, Some(d)) => format!("no traced process accepted {d}"),
                    (None, None) => "no server accepted the connection".into(),
                });
            }
        }
    }
}
