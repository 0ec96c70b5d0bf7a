//! The agent's share of the capture loop: every event is offered to every
//! client, the clients' frames go out once per loop turn, clients join and
//! leave, the kernel passes what they ask for, and the metrics are
//! published.

use std::io;
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use bytes::Bytes;

use super::clients::{union_of_syscalls, Client, Sent, Subscriber};
use super::metrics::{ClientRow, Metrics, Snapshot};
use super::protocol::{Frame, Start};
use crate::capture::SyscallSwitch;
use crate::decode::Record;
use crate::event::clock::Clock;
use crate::event::extract::EventView;
use crate::scap::writer::CaptureInfo;
use crate::sink::{LoopStats, Need, Sink, Wants};
use crate::state::ProcessTable;
use crate::sys::clock::boot_ns;
use tracer_common::arch::Arch;

/// The node's `/etc/passwd` and `/etc/group`: records clients name users with them.
pub struct UserFiles {
    pub passwd: String,
    pub group: String,
}

pub struct AgentSink {
    clients: Vec<Client>,
    joining: Receiver<Subscriber>,
    /// Records clients waiting for their start: the state is taken
    /// between two records.
    starting: Vec<Subscriber>,
    users: UserFiles,
    switch: SyscallSwitch,
    metrics: Arc<Metrics>,
    /// Whether pods are known from the API server.
    pods: bool,
    /// The loop's last report.
    stats: LoopStats,
    /// Sent to and dropped for clients that have left.
    sent_gone: u64,
    queue_drops_gone: u64,
    /// The longest an event sent since the last report waited.
    lag_ns: u64,
    /// The oldest event offered to a client since the last turn: the one
    /// that waited longest when the turn queues them.
    oldest_offered: Option<u64>,
    /// The last `now` the loop gave (kernel time).
    now: u64,
    /// The node's clock: frames carry wall-clock times, which compare
    /// across nodes (kernel times count from each node's boot).
    clock: Clock,
}

impl AgentSink {
    #[must_use]
    pub fn new(
        joining: Receiver<Subscriber>,
        switch: SyscallSwitch,
        metrics: Arc<Metrics>,
        pods: bool,
        clock: Clock,
        users: UserFiles,
    ) -> Self {
        AgentSink {
            clients: Vec::new(),
            joining,
            starting: Vec::new(),
            users,
            switch,
            metrics,
            pods,
            stats: LoopStats::default(),
            sent_gone: 0,
            queue_drops_gone: 0,
            lag_ns: 0,
            oldest_offered: None,
            now: 0,
            clock,
        }
    }

    /// Clients that subscribed since the last turn join.
    /// The kernel passes their syscalls before they hear hello (on which
    /// `sdtrace --agent` says it is attached), so nothing a client's user
    /// runs after that is missed.
    fn admit(&mut self) -> bool {
        let first = self.clients.len();
        while let Ok(sub) = self.joining.try_recv() {
            if sub.wants_records() {
                self.starting.push(sub);
            } else {
                self.clients.push(Client::new(sub));
            }
        }
        self.welcome(first, None)
    }

    /// The clients from `first` on have joined: the kernel passes what
    /// they ask for, then they hear hello (and records clients, `state`).
    fn welcome(&mut self, first: usize, state: Option<&Bytes>) -> bool {
        if self.clients.len() == first {
            return false;
        }
        self.push_down();
        for c in &self.clients[first..] {
            c.sub.queue.force(c.sub.hello.clone());
            if let Some(state) = state {
                c.sub.queue.force(state.clone());
            }
            eprintln!(
                "sdtrace agent: client {} ({}) subscribed: {}",
                c.sub.id, c.sub.peer, c.sub.asked
            );
        }
        true
    }

    /// Records clients join with the tables as they are now (between two
    /// records): hello, then that state.
    fn start_records(&mut self, procs: &ProcessTable) -> io::Result<()> {
        let start = Start {
            info: CaptureInfo {
                sdtrace: env!("CARGO_PKG_VERSION").to_owned(),
                arch: Arch::HOST,
                clock: self.clock,
                passwd: self.users.passwd.clone(),
                group: self.users.group.clone(),
            },
            processes: procs.snapshot(),
            answers: procs.procfs().journal().lasting(),
        };
        let json = serde_json::to_string(&start).map_err(io::Error::other)?;
        let mut frame = Vec::new();
        Frame::State { json: &json }.write(&mut frame);
        let first = self.clients.len();
        for sub in self.starting.drain(..) {
            self.clients.push(Client::new(sub));
        }
        self.welcome(first, Some(&Bytes::from(frame)));
        self.publish();
        Ok(())
    }

    fn forget(&mut self, at: usize) {
        let c = self.clients.swap_remove(at);
        self.sent_gone += c.sent;
        self.queue_drops_gone += c.queue_drops;
        eprintln!(
            "sdtrace agent: client {} ({}) left: {} events sent, {} dropped from its queue",
            c.sub.id, c.sub.peer, c.sent, c.queue_drops
        );
    }

    /// The kernel passes on what the clients now ask for.
    fn push_down(&mut self) {
        let syscalls = union_of_syscalls(self.clients.iter().map(|c| &c.sub.syscalls));
        if let Err(e) = self.switch.set(syscalls) {
            eprintln!("sdtrace agent: the kernel's syscall set could not be changed: {e}");
        }
    }

    fn publish(&self) {
        let clients = self
            .clients
            .iter()
            .map(|c| ClientRow {
                id: c.sub.id,
                peer: c.sub.peer.clone(),
                sent: c.sent,
                queue_drops: c.queue_drops,
                queued_bytes: c.sub.queue.queued() as u64,
            })
            .collect::<Vec<_>>();
        self.metrics.publish(Snapshot {
            events: self.stats.events,
            sent: self.sent_gone + clients.iter().map(|c| c.sent).sum::<u64>(),
            drops_per_cpu: self.stats.drops_per_cpu.clone(),
            decode_errors: self.stats.decode_errors,
            kernel_misses: self.stats.kernel_misses,
            queue_drops: self.queue_drops_gone + clients.iter().map(|c| c.queue_drops).sum::<u64>(),
            ring_backlog_peak: self.stats.ring_backlog_peak,
            ring_size: self.stats.ring_size,
            lag_ns: self.lag_ns,
            clients,
        });
    }

    /// Events sent to clients, and dropped from their queues, so far.
    #[must_use]
    pub fn totals(&self) -> (u64, u64) {
        let snapshot = self.metrics.snapshot();
        (snapshot.sent, snapshot.queue_drops)
    }
}

impl Sink for AgentSink {
    fn before_record(&mut self, _rec: &Record<'_>, procs: &ProcessTable) -> io::Result<()> {
        if self.starting.is_empty() {
            return Ok(());
        }
        self.start_records(procs)
    }

    /// Records clients get the record and the answers its handling used
    /// (taken every record, so the journal never grows).
    fn record(
        &mut self,
        raw: &[u8],
        rec: &Record<'_>,
        procs: &ProcessTable,
        _shown: bool,
    ) -> io::Result<()> {
        let answers = procs.procfs().journal().take();
        let mut json = None;
        for c in self.clients.iter_mut().filter(|c| c.sub.wants_records()) {
            let json = match &mut json {
                Some(json) => json,
                None if answers.is_empty() => json.insert(Vec::new()),
                None => json.insert(serde_json::to_vec(&answers).map_err(io::Error::other)?),
            };
            c.offer_record(raw, rec, json, &self.clock);
        }
        Ok(())
    }

    fn observe(&mut self, view: &EventView<'_>, _shown: bool) {
        let mut offered = false;
        for c in &mut self.clients {
            offered |= c.offer_event(view);
        }
        if offered {
            self.oldest_offered.get_or_insert(view.rec.hdr.ts_ns);
        }
    }

    fn tick(&mut self, now: u64) {
        // The clock is read once a turn, not per event (the hot path).
        if let Some(oldest) = self.oldest_offered.take() {
            self.lag_ns = self.lag_ns.max(boot_ns().saturating_sub(oldest));
        }
        self.now = now;
        let wall = self.clock.epoch_ns(now);
        let joined = self.admit();
        let mut left = false;
        let drops = self.stats.drops();
        let mut i = 0;
        while i < self.clients.len() {
            match self.clients[i].send(now, wall, &self.clock, drops) {
                Sent::Gone => {
                    self.forget(i);
                    left = true;
                    continue;
                }
                Sent::Dropped(n) => {
                    let c = &self.clients[i];
                    if c.queue_drops == n {
                        eprintln!(
                            "sdtrace agent: client {} ({}) reads too slowly: dropping what does not fit in its queue",
                            c.sub.id, c.sub.peer
                        );
                    }
                }
                Sent::Sent | Sent::Nothing => {}
            }
            i += 1;
        }
        if left {
            self.push_down();
        }
        if joined || left {
            self.publish();
        }
    }

    fn write_ready(&mut self, _out: &mut Vec<u8>, _clock: &Clock) -> u64 {
        0
    }

    fn loop_stats(&mut self, stats: &LoopStats) {
        self.stats = stats.clone();
        self.publish();
        self.lag_ns = 0;
    }

    /// Every client hears that the agent is stopping.
    fn finish(&mut self) {
        let drops = self.stats.drops();
        let wall = self.clock.epoch_ns(self.now);
        for c in &mut self.clients {
            c.bye(self.now, wall, &self.clock, drops, "the agent is stopping");
        }
        self.publish();
    }

    fn wants(&self) -> Wants {
        Wants {
            place: true,
            meta: Need::Wait,
            pod: if self.pods { Need::Wait } else { Need::No },
        }
    }
}
