//! A subscribed client as the capture loop keeps it: its filter and format
//! (or the mode it asked the agent to run), the frames written since the
//! last send, and what it was sent and lost.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;

use super::auth::Access;
use super::protocol::{Frame, Mode, Subscribe};
use super::queue::{Offer, QueueTx};
use crate::converge::{self, engine::Selection, Converger};
use crate::decode::redact::raw_without_io_data;
use crate::decode::{Body, Record};
use crate::event::clock::Clock;
use crate::event::extract::EventView;
use crate::filter::Filter;
use crate::follow::{self, seeds::Seeds, Follower};
use crate::output::{self, Format};
use crate::scap::sidecar;
use crate::sink::Sink;

/// A subscription the server accepted: compiled, on its way to the loop.
pub struct Subscriber {
    pub id: u64,
    /// Where it connected from, for the logs and metrics.
    pub peer: String,
    filter: Option<Filter>,
    format: Format,
    /// A mode to run instead of printing events, and whether it prints JSON.
    mode: Option<(Mode, bool)>,
    /// The syscalls its filter can match (`None`: any).
    pub syscalls: Option<BTreeSet<u16>>,
    pub queue: QueueTx,
    /// When it subscribed (kernel time): older events, still in the
    /// reorder window then, are not its.
    since: u64,
    /// Its first frame, sent once the capture loop has admitted it (the
    /// client says "attached" on it: nothing it then runs may be missed).
    pub hello: Bytes,
    /// What it asked for, and who asked, for the log.
    pub asked: String,
    /// Whether it may see the data reads and writes carry; without, its
    /// filter, format and records see those buffers empty.
    buffers: bool,
}

impl Subscriber {
    /// Compiles what `sub` asks for; the error is the filter's or the
    /// format's, with its caret lines.
    pub fn new(
        id: u64,
        peer: String,
        sub: &Subscribe,
        access: &Access,
        queue: QueueTx,
        hello: Bytes,
    ) -> Result<Self, String> {
        let filter = match sub.filter.as_deref().filter(|t| !t.trim().is_empty()) {
            Some(text) => Some(Filter::parse(text).map_err(|errors| errors.to_string())?),
            None => None,
        };
        let format = Format::from_options(sub.print.as_deref(), sub.json)?;
        let syscalls = match &sub.mode {
            // A request's server is not known before it accepts.
            Some(Mode::Follow { pids, comms, conns }) => {
                if pids.is_empty() && comms.is_empty() && conns.is_empty() {
                    return Err(
                        "follow: say whose requests to follow: --pid, --comm or --conn".into(),
                    );
                }
                None
            }
            // The filter decides which of the mode's syscalls count.
            Some(Mode::Converge { .. }) => Some(converge::extract::syscalls()),
            Some(Mode::Records) | None => filter
                .as_ref()
                .and_then(|f| f.pushdown().syscalls.map(|s| s.numbers())),
        };
        Ok(Subscriber {
            id,
            peer,
            filter,
            format,
            mode: sub.mode.clone().map(|m| (m, sub.json)),
            syscalls,
            queue,
            since: crate::sys::clock::boot_ns(),
            hello,
            asked: format!(
                "{} ({}{})",
                match sub.mode {
                    Some(Mode::Records) => {
                        format!("records, filter {:?}", sub.filter.as_deref().unwrap_or(""))
                    }
                    _ => format!(
                        "filter {:?}, format {:?}{}",
                        sub.filter.as_deref().unwrap_or(""),
                        sub.print.as_deref().unwrap_or("default"),
                        if sub.json { ", json" } else { "" }
                    ),
                },
                access.who,
                if access.buffers {
                    ""
                } else {
                    ", without I/O buffers"
                }
            ),
            buffers: access.buffers,
        })
    }
}

/// How often an idle client hears that time has moved on (a merging
/// client holds every other agent's events until it does).
pub const MARK_EVERY: Duration = Duration::from_millis(100);

/// The mode's own sink, made in the capture loop (it owns what the mode
/// reads, such as a conntrack subscription); none for records, which the
/// client's own pipeline reads.
fn mode_sink(mode: &Mode, json: bool) -> Option<Box<dyn Sink>> {
    Some(match mode {
        Mode::Follow { pids, comms, conns } => {
            let seeds = Seeds {
                pids: pids.clone(),
                comms: comms.clone(),
                conns: conns.clone(),
            };
            Box::new(Follower::new(seeds, follow::translations(), json))
        }
        Mode::Converge { daemons, pids } => {
            let selection = Selection {
                pids: pids.clone(),
                names: daemons.clone(),
            };
            Box::new(Converger::new(selection, json))
        }
        Mode::Records => return None,
    })
}

impl Subscriber {
    /// Whether it asked for the records themselves.
    #[must_use]
    pub fn wants_records(&self) -> bool {
        matches!(self.mode, Some((Mode::Records, _)))
    }
}

/// A subscribed client in the capture loop.
pub struct Client {
    pub sub: Subscriber,
    /// The mode it runs, fed every event.
    mode: Option<Box<dyn Sink>>,
    /// A records client: whether its filter matched the event being
    /// handled (its record comes next).
    matched: Option<bool>,
    /// Event frames not sent yet.
    pending: Vec<u8>,
    pending_events: u64,
    pub sent: u64,
    pub queue_drops: u64,
    last_send: Instant,
}

/// What a send found.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    Nothing,
    Sent,
    /// The client read too slowly: this many events were dropped.
    Dropped(u64),
    Gone,
}

impl Client {
    #[must_use]
    pub fn new(sub: Subscriber) -> Self {
        Client {
            mode: sub.mode.as_ref().and_then(|(m, json)| mode_sink(m, *json)),
            matched: None,
            sub,
            pending: Vec::new(),
            pending_events: 0,
            sent: 0,
            queue_drops: 0,
            last_send: Instant::now(),
        }
    }

    /// Writes the event's frame when the client's filter matches it;
    /// whether it did. A client that may not see I/O buffers is shown the
    /// event with them empty, its filter included: `evt.buffer contains`
    /// must not tell it what it cannot print.
    pub fn offer_event(&mut self, view: &EventView<'_>) -> bool {
        if self.sub.buffers {
            return self.offer_view(view);
        }
        let Body::Syscall(ev) = &view.rec.body else {
            return self.offer_view(view);
        };
        let rec = Record {
            hdr: view.rec.hdr,
            body: Body::Syscall(ev.without_io_data()),
        };
        self.offer_view(&EventView { rec: &rec, ..*view })
    }

    fn offer_view(&mut self, view: &EventView<'_>) -> bool {
        let records = self.sub.wants_records();
        // A records client started from the state as of its admission:
        // every record since then is its, whatever its time.
        if view.rec.hdr.ts_ns < self.sub.since && !records {
            return false;
        }
        let shown = self
            .sub
            .filter
            .as_ref()
            .is_none_or(|f| f.matches(&mut EventView { ..*view }));
        if records {
            self.matched = Some(shown);
            return shown;
        }
        if let Some(mode) = &mut self.mode {
            // Every event: a mode keeps its own state (a followed
            // server's fds) from those it does not show.
            mode.observe(view, shown);
            return false;
        }
        if !shown {
            return false;
        }
        let start = self.pending.len();
        let ts = view.clock.epoch_ns(view.rec.hdr.ts_ns);
        self.pending.extend_from_slice(b"ev ");
        self.pending
            .extend_from_slice(itoa::Buffer::new().format(ts).as_bytes());
        self.pending.push(b' ');
        let line = self.pending.len();
        // A -p format without `*` skips events missing one of its fields.
        if !output::write_event(&mut self.pending, &self.sub.format, view) {
            self.pending.truncate(start);
            return false;
        }
        // A line is one frame: a newline inside it (-A's buffers) is
        // written as `\n`.
        let body = &self.pending[line..self.pending.len() - 1];
        if body.contains(&b'\n') {
            let text = String::from_utf8_lossy(body).into_owned();
            self.pending.truncate(start);
            Frame::Event { ts, line: &text }.write(&mut self.pending);
        }
        self.pending_events += 1;
        true
    }

    /// A records client's frame for a record the tables have applied:
    /// `answers` (JSON, or empty) are the `/proc` and runtime answers its
    /// handling used. Sent when the filter matched it, or as context when
    /// it keeps the tables exact; the answers go either way.
    pub fn offer_record(&mut self, raw: &[u8], rec: &Record<'_>, answers: &[u8], clock: &Clock) {
        let redacted = if self.sub.buffers {
            None
        } else {
            raw_without_io_data(raw)
        };
        let raw = redacted.as_deref().unwrap_or(raw);
        let matched = self.matched.take() == Some(true);
        let context = match &rec.body {
            Body::Syscall(_) => tracer_common::syscalls::STATE_SYSCALLS.contains(&rec.hdr.nr),
            Body::Fork(_) | Body::Exec { .. } | Body::Exit(_) => true,
        };
        let mut items = Vec::new();
        if !answers.is_empty() {
            sidecar::push(&mut items, sidecar::ANSWERS, answers);
        }
        if matched || context {
            let kind = if matched {
                sidecar::SHOWN
            } else {
                sidecar::CONTEXT
            };
            sidecar::push(&mut items, kind, raw);
        }
        if items.is_empty() {
            return;
        }
        let data = base64::engine::general_purpose::STANDARD.encode(&items);
        let ts = clock.epoch_ns(rec.hdr.ts_ns);
        Frame::Record { ts, data: &data }.write(&mut self.pending);
        self.pending_events += 1;
    }

    /// What the mode printed since the last turn (`now`: the kernel time
    /// no record can precede), each line a frame at `wall`.
    fn take_mode_lines(&mut self, now: u64, wall: u64, clock: &Clock, finish: bool) {
        let Some(mode) = &mut self.mode else {
            return;
        };
        if finish {
            mode.finish();
        } else {
            mode.tick(now);
        }
        let mut out = Vec::new();
        mode.write_ready(&mut out, clock);
        for line in String::from_utf8_lossy(&out).lines() {
            Frame::Event { ts: wall, line }.write(&mut self.pending);
            self.pending_events += 1;
        }
    }

    /// Sends the pending events with a mark at `wall` (nothing older will
    /// follow), or a mark alone when the client has heard nothing for a
    /// while. What does not fit in the queue is dropped, and the mark says
    /// so. `now` is the same moment in kernel time.
    pub fn send(&mut self, now: u64, wall: u64, clock: &Clock, kernel_drops: u64) -> Sent {
        self.take_mode_lines(now, wall, clock, false);
        if self.pending_events == 0 && self.last_send.elapsed() < MARK_EVERY {
            return Sent::Nothing;
        }
        self.last_send = Instant::now();
        let events = std::mem::take(&mut self.pending_events);
        let mut chunk = std::mem::take(&mut self.pending);
        let mark = |queue_drops| Frame::Mark {
            ts: wall,
            kernel_drops,
            queue_drops,
        };
        mark(self.queue_drops).write(&mut chunk);
        let offer = self.sub.queue.offer(Bytes::from(chunk));
        match offer {
            Offer::Queued => {
                self.sent += events;
                Sent::Sent
            }
            Offer::Closed => Sent::Gone,
            Offer::Full => {
                self.queue_drops += events;
                let mut chunk = Vec::new();
                mark(self.queue_drops).write(&mut chunk);
                match self.sub.queue.force(Bytes::from(chunk)) {
                    Offer::Closed => Sent::Gone,
                    _ => Sent::Dropped(events),
                }
            }
        }
    }

    /// The last frames: what a mode holds (its summary), and that the
    /// agent is stopping.
    pub fn bye(&mut self, now: u64, wall: u64, clock: &Clock, kernel_drops: u64, reason: &str) {
        self.take_mode_lines(now, wall, clock, true);
        let _ = self.send(now, wall, clock, kernel_drops);
        let mut chunk = Vec::new();
        Frame::Bye { reason }.write(&mut chunk);
        let _ = self.sub.queue.force(Bytes::from(chunk));
    }
}

/// What the kernel must pass on for every client: the union of their
/// syscall sets; none at all (beyond the state syscalls) without clients.
#[must_use]
pub fn union_of_syscalls<'a>(
    sets: impl IntoIterator<Item = &'a Option<BTreeSet<u16>>>,
) -> Option<BTreeSet<u16>> {
    let mut union = BTreeSet::new();
    for set in sets {
        union.extend(set.as_ref()?);
    }
    Some(union)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_passes_what_any_client_asks_for() {
        let open: Option<BTreeSet<u16>> = Some([2, 257].into());
        let read: Option<BTreeSet<u16>> = Some([0].into());
        assert_eq!(union_of_syscalls([]), Some(BTreeSet::new()));
        assert_eq!(union_of_syscalls([&open, &read]), Some([0, 2, 257].into()));
        assert_eq!(union_of_syscalls([&open, &None]), None);
    }

    /// What a records client was sent: each frame's item kinds.
    fn sent_kinds(client: &mut Client) -> Vec<Vec<u8>> {
        let text = String::from_utf8(std::mem::take(&mut client.pending)).unwrap();
        text.lines()
            .map(|line| match Frame::parse(line).unwrap() {
                Frame::Record { data, .. } => {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(data)
                        .unwrap();
                    sidecar::split(&bytes).map(|(kind, _)| kind).collect()
                }
                other => panic!("not a record: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_records_client_gets_its_matches_the_state_records_and_every_answer() {
        use crate::decode::{decode, tests::syscall_record};
        use tracer_common::syscall_names::nr;
        let (tx, _body) = super::super::queue::queue(1 << 20);
        let sub = Subscribe {
            mode: Some(Mode::Records),
            ..Subscribe::default()
        };
        let sub = Subscriber::new(1, "peer".into(), &sub, &everything(), tx, Bytes::new()).unwrap();
        assert!(sub.wants_records());
        let mut client = Client::new(sub);
        let clock = Clock::fixed(0, 0);
        let read = syscall_record(nr::READ, 10, [3, 0, 10, 0, 0, 0], &[]);
        let open = syscall_record(nr::OPENAT, 3, [0; 6], &[]);
        let (read, open) = (decode(&read).unwrap(), decode(&open).unwrap());
        let raw = b"raw";

        // Not matched, and nothing the tables need: nothing at all...
        client.offer_record(raw, &read, b"", &clock);
        // ...but the answers its handling used still go.
        client.offer_record(raw, &read, b"[]", &clock);
        // Not matched, but it opens an fd: context.
        client.offer_record(raw, &open, b"", &clock);
        // Matched: shown.
        client.matched = Some(true);
        client.offer_record(raw, &read, b"", &clock);
        assert_eq!(
            sent_kinds(&mut client),
            [
                vec![sidecar::ANSWERS],
                vec![sidecar::CONTEXT],
                vec![sidecar::SHOWN]
            ]
        );
    }

    fn everything() -> Access {
        Access {
            who: "the test".into(),
            buffers: true,
        }
    }

    #[test]
    fn a_records_client_without_buffers_gets_them_empty() {
        use crate::decode::{decode, tests::syscall_record};
        use tracer_common::{syscall_names::nr, CaptureKind};
        let (tx, _body) = super::super::queue::queue(1 << 20);
        let sub = Subscribe {
            mode: Some(Mode::Records),
            ..Subscribe::default()
        };
        let access = Access {
            who: "user alice".into(),
            buffers: false,
        };
        let sub = Subscriber::new(1, "peer".into(), &sub, &access, tx, Bytes::new()).unwrap();
        assert!(
            sub.asked.ends_with("(user alice, without I/O buffers)"),
            "{}",
            sub.asked
        );
        let mut client = Client::new(sub);
        let raw = syscall_record(
            nr::READ,
            6,
            [3, 0, 64, 0, 0, 0],
            &[(1, CaptureKind::BufferRet, b"s3cret")],
        );
        client.matched = Some(true);
        client.offer_record(&raw, &decode(&raw).unwrap(), b"", &Clock::fixed(0, 0));
        let text = String::from_utf8(std::mem::take(&mut client.pending)).unwrap();
        let Frame::Record { data, .. } = Frame::parse(text.lines().next().unwrap()).unwrap() else {
            panic!("a record: {text}");
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap();
        let (_, sent) = sidecar::split(&bytes).next().unwrap();
        let Body::Syscall(ev) = decode(sent).unwrap().body else {
            panic!("a syscall");
        };
        assert_eq!(
            ev.item(1).map(|i| i.data),
            Some(&b""[..]),
            "the data is gone"
        );
        assert_eq!(decode(sent).unwrap().hdr.ret, 6, "what read returned stays");
    }

    #[test]
    fn a_subscription_compiles_its_filter_and_pushes_its_syscalls_down() {
        let (tx, _body) = super::super::queue::queue(1 << 20);
        let sub = Subscribe {
            filter: Some("evt.type=openat and proc.name=cat".into()),
            print: Some("%proc.name %fd.name".into()),
            json: false,
            mode: None,
        };
        let s = Subscriber::new(1, "peer".into(), &sub, &everything(), tx, Bytes::new()).unwrap();
        assert_eq!(s.syscalls, Some([libc::SYS_openat as u16].into()));

        let (tx, _body) = super::super::queue::queue(1 << 20);
        let bad = Subscribe {
            filter: Some("evt.typ=openat".into()),
            ..Subscribe::default()
        };
        let err = Subscriber::new(2, "peer".into(), &bad, &everything(), tx, Bytes::new())
            .err()
            .unwrap();
        assert!(err.contains("evt.typ"), "{err}");
        assert!(err.contains('^'), "the caret: {err}");
    }
}
