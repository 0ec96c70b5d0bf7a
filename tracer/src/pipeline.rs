//! The per-record path: decode, the process table, where the process runs
//! (container, metadata, pod), the filter, then every sink; records whose
//! container's runtime has not answered yet wait here, in order.

use std::collections::{HashSet, VecDeque};
use std::io::{self, Write};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::capture::mute::CgroupMuter;
use crate::container::classify::ContainerRef;
use crate::container::meta::MetaCache;
use crate::container::{self, Containers, Place, CONTAINER_FIELDS, META_FIELDS};
use crate::decode::{decode, header, Body};
use crate::event::extract::{event_fd, EventView};
use crate::event::{clock::Clock, info::BufferMode};
use crate::filter::Filter;
use crate::journal::Journal;
use crate::k8s::{self, PodCache};
use crate::output::{
    stats::{CgroupCounts, Stats},
    tally::Tally,
    Format,
};
use crate::scap::{self, sink::CaptureSink};
use crate::sink::{LoopStats, Need, Sink, Wants};
use crate::state::{apply, ProcessTable, Users};

/// How a run prints and when it stops; by default sysdig's text line,
/// until Ctrl-C.
#[derive(Clone, Default)]
pub struct Options {
    /// The printer's (and what the pipeline looks up for it).
    pub format: Format,
    /// `-n`: stop after this many results.
    pub count: Option<u64>,
    /// `-M`: stop after this long (of capture time, for a file).
    pub duration: Option<Duration>,
    /// `-s`: the statistics line every so often.
    pub stats_interval: Option<Duration>,
    /// Events carry how long their syscall took (the entry hook).
    pub latency: bool,
    pub buffers: BufferMode,
}

/// A machine whose records the pipeline handles: this one's kernel, a
/// capture file's, or an agent's node. Each has its own processes, users,
/// containers and answers; the filter, the sinks and the output are shared.
pub struct Origin {
    /// Every answer from outside the kernel its records used (shared with
    /// its process table's `/proc` reader).
    journal: Rc<Journal>,
    procs: ProcessTable,
    users: Users,
    /// sysdig's `evt.num` of the next event, matched or not. A syscall is
    /// two scap events (enter and exit; its number is the exit's), a
    /// process exit one, so the numbers are those sysdig gives our captures.
    next_num: u64,
    /// Which container each event's process runs in.
    containers: Containers,
    /// Containers' names, images and labels from their runtimes.
    metas: MetaCache,
    /// Pods as the Kubernetes API server describes them.
    pods: PodCache,
    /// The node every event happens on: the agent's, or the node an
    /// agent's client reads from.
    node: Option<String>,
}

impl Origin {
    pub fn new(procs: ProcessTable, users: Users) -> Self {
        Self {
            journal: Rc::clone(procs.procfs().journal()),
            procs,
            users,
            next_num: 1,
            containers: Containers::default(),
            metas: MetaCache::default(),
            pods: PodCache::default(),
            node: None,
        }
    }

    /// Every event of this origin happens on `node`.
    #[must_use]
    pub fn on_node(mut self, node: String) -> Self {
        self.node = Some(node);
        self
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Where `cgroup_id`'s process runs, its container's metadata and pod,
    /// as far as `wants` asks.
    fn place(
        &mut self,
        wants: Wants,
        cgroup_id: u64,
        cgroup_v1_id: u64,
    ) -> (
        Option<Place>,
        Option<Arc<container::docker::Meta>>,
        Option<Arc<k8s::PodInfo>>,
    ) {
        let journal = &*self.journal;
        let place = if wants.place {
            self.containers.place(journal, cgroup_id, cgroup_v1_id)
        } else {
            None
        };
        let meta = match &place {
            Some(Place::Container(c)) if wants.meta != Need::No => self.metas.get(journal, c),
            _ => None,
        };
        let pod = match &meta {
            Some(m) if wants.pod != Need::No => {
                k8s::pod_key(&m.labels).and_then(|key| self.pods.get(journal, &key))
            }
            _ => None,
        };
        (place, meta, pod)
    }
}

/// Everything the per-record path touches.
pub struct Pipeline {
    /// Where records come from; the first is the only one but with agents.
    origins: Vec<Origin>,
    filter: Option<Filter>,
    clock: Clock,
    stats: Stats,
    latency: bool,
    buffers: BufferMode,
    /// Records waiting, in order, for a new container's runtime to answer
    /// (see [`Pipeline::release_held`]), and since when: their origin, the
    /// record, and whether it is shown.
    held: VecDeque<(usize, Vec<u8>, bool)>,
    held_since: Option<Instant>,
    /// What the filter, the format and the sinks need to know of each
    /// event beyond its process.
    wants: Wants,
    /// Live runs whose filter reads container fields: mutes, in the
    /// kernel, the cgroups it can never match (see [`crate::capture::mute`]).
    muter: Option<CgroupMuter>,
    /// The cgroups (as records carry them) already decided for muting.
    decided: HashSet<(u64, u64)>,
    sinks: Sinks,
    /// What the sinks wrote and stdout has not yet: it goes out in large
    /// writes (a write per printed line showed up as the top cost in a
    /// profile).
    pending: Vec<u8>,
    out: io::Stdout,
}

/// What a held record waits for.
enum Waiting {
    /// The container's runtime to answer.
    Meta(Arc<ContainerRef>),
    /// The pod (by key) to appear in the API server's answers.
    Pod(String),
}

/// Longest a record waits for its container's runtime (or its pod) to answer.
pub const HOLD_MAX: Duration = Duration::from_millis(500);

/// `pending` is written out once it holds this much.
const PENDING_FLUSH: usize = 1 << 16;

impl Pipeline {
    /// A pipeline whose filter (and `opts.format`, the printer's) decide
    /// what it looks up.
    pub fn new(procs: ProcessTable, users: Users, filter: Option<Filter>, opts: &Options) -> Self {
        Self::of_origins(vec![Origin::new(procs, users)], filter, opts)
    }

    /// A pipeline for records from several origins (agents' nodes).
    pub fn of_origins(origins: Vec<Origin>, filter: Option<Filter>, opts: &Options) -> Self {
        let uses = |id| filter.as_ref().is_some_and(|f| f.uses(id)) || opts.format.uses(id);
        let wait_if = |wanted: bool| if wanted { Need::Wait } else { Need::No };
        let pod = wait_if(k8s::API_FIELDS.into_iter().any(&uses));
        // A container's pod is found by the labels in its metadata.
        let meta = pod.max(wait_if(META_FIELDS.into_iter().any(&uses)));
        let place = CONTAINER_FIELDS.into_iter().any(uses);
        let wants = Wants { place, meta, pod }.and(Wants::NOTHING);
        Pipeline {
            origins,
            filter,
            held: VecDeque::new(),
            held_since: None,
            wants,
            muter: None,
            decided: HashSet::new(),
            sinks: Sinks::default(),
            clock: Clock::now(),
            stats: Stats::default(),
            latency: opts.latency,
            buffers: opts.buffers,
            pending: Vec::with_capacity(PENDING_FLUSH + 4096),
            out: io::stdout(),
        }
    }

    /// The first origin's journal of outside answers.
    pub fn journal(&self) -> &Journal {
        &self.origins[0].journal
    }

    /// The first origin's processes (this machine's, or the file's).
    pub fn procs(&self) -> &ProcessTable {
        &self.origins[0].procs
    }

    /// Where records come from.
    pub fn origins(&self) -> &[Origin] {
        &self.origins
    }

    fn local(&mut self) -> &mut Origin {
        &mut self.origins[0]
    }

    /// Reads `pid` from `/proc` now, unless it is known.
    pub fn load_process(&mut self, pid: u32) {
        self.local().procs.process_or_load(pid);
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The clock of a capture file's machine.
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn stats_mut(&mut self) -> &mut Stats {
        &mut self.stats
    }

    pub fn take_stats(&mut self) -> Stats {
        std::mem::take(&mut self.stats)
    }

    pub fn set_containers(&mut self, containers: Containers) {
        self.local().containers = containers;
    }

    pub fn set_metas(&mut self, metas: MetaCache) {
        self.local().metas = metas;
    }

    /// `--containers`: count every event's container.
    pub fn set_tally(&mut self, tally: Tally) {
        self.wants = self.wants.and(tally.wants());
        self.sinks.tally = Some(tally);
    }

    pub fn set_pods(&mut self, pods: PodCache) {
        self.local().pods = pods;
    }

    /// Whether the API server is asked about pods.
    pub fn pods_live(&self) -> bool {
        self.origins[0].pods.is_live()
    }

    /// The node every event is said to happen on.
    pub fn set_node(&mut self, node: String) {
        self.local().node = Some(node);
    }

    /// The cgroups the filter can never match are muted through `muter`.
    pub fn set_muter(&mut self, muter: Option<CgroupMuter>) {
        self.muter = muter;
    }

    /// What the cgroup caches and the kernel's mute map hold.
    pub fn cgroup_counts(&self) -> CgroupCounts {
        let muter = self.muter.as_ref();
        CgroupCounts {
            muted: muter.map_or(0, |m| m.muted),
            unmuted_removed: muter.map_or(0, |m| m.evicted),
            muted_now: muter.map_or(0, |m| m.in_kernel() as u64),
            cached: self
                .origins
                .iter()
                .map(|o| o.containers.cached() as u64)
                .sum(),
        }
    }

    /// `-w`: every record goes to a capture file.
    pub fn set_writer(&mut self, writer: CaptureSink) {
        self.wants = self.wants.and(writer.wants());
        self.sinks.writer = Some(writer);
    }

    /// Whether `-w` writes a capture file.
    pub fn writes(&self) -> bool {
        self.sinks.writer.is_some()
    }

    pub fn take_writer(&mut self) -> Option<CaptureSink> {
        self.sinks.writer.take()
    }

    pub fn take_sink(&mut self) -> Option<Box<dyn Sink>> {
        self.sinks.mode.take()
    }

    /// Every event goes to `sink` (the mode's, or the printer) from now on,
    /// carrying what it wants to know.
    pub fn set_sink(&mut self, sink: Box<dyn Sink>) {
        self.wants = self.wants.and(sink.wants());
        self.sinks.mode = Some(sink);
    }

    /// Whether the mode's sink has ended on its own.
    pub fn sink_done(&mut self) -> bool {
        self.sinks.mode.as_mut().is_some_and(|s| s.done())
    }

    /// Tells every sink how the capture loop is doing.
    pub fn loop_stats(&mut self, stats: &LoopStats) {
        for sink in self.sinks.each() {
            sink.loop_stats(stats);
        }
    }

    /// Writes what the sink has ready (`now`: the kernel time no record can
    /// precede any more); whether it wrote anything.
    pub fn write_ready(&mut self, now: Option<u64>) -> io::Result<bool> {
        // A record held for its container's runtime is still to come.
        let held = self.held.front().and_then(|(_, b, _)| header(b).ok());
        let now = now.map(|now| held.map_or(now, |h| now.min(h.ts_ns.saturating_sub(1))));
        let mut n = 0;
        for sink in self.sinks.each() {
            if let Some(now) = now {
                sink.tick(now);
            }
            n += sink.write_ready(&mut self.pending, &self.clock);
        }
        self.stats.results += n;
        if self.pending.len() >= PENDING_FLUSH {
            self.write_pending()?;
        }
        Ok(n > 0)
    }

    /// At the end: the sinks write whatever they still hold.
    pub fn finish_sinks(&mut self) -> io::Result<()> {
        for sink in self.sinks.each() {
            sink.finish();
        }
        self.write_ready(None).map(|_| ())
    }

    /// Whether the filter or format uses a field only the Kubernetes API
    /// server can answer.
    pub fn wants_pod(&self) -> bool {
        self.wants.pod == Need::Wait
    }

    /// Handles one record; `Ok(true)` when a sink made a result of it.
    pub fn handle(&mut self, bytes: &[u8]) -> io::Result<bool> {
        self.handle_record(bytes, true)
    }

    /// Handles one record; one that is not `shown` only updates the state
    /// (a capture file's context record). A record of a container whose
    /// name the output needs and whose runtime has not answered yet waits
    /// (and every later one behind it, to keep their order) for at most
    /// [`HOLD_MAX`].
    pub fn handle_record(&mut self, bytes: &[u8], shown: bool) -> io::Result<bool> {
        self.handle_from(0, bytes, shown)
    }

    /// [`Pipeline::handle_record`] for a record of origin `origin`.
    pub fn handle_from(&mut self, origin: usize, bytes: &[u8], shown: bool) -> io::Result<bool> {
        if !self.held.is_empty() || self.unanswered(origin, bytes, shown).is_some() {
            self.held.push_back((origin, bytes.to_vec(), shown));
            self.held_since.get_or_insert_with(Instant::now);
            return Ok(false);
        }
        self.handle_now(origin, bytes, shown)
    }

    /// What a record whose output needs its container's metadata (or its
    /// pod's) waits for, when that may still come but has not yet.
    fn unanswered(&mut self, origin: usize, bytes: &[u8], shown: bool) -> Option<Waiting> {
        if !(self.wants.meta == Need::Wait && shown) {
            return None;
        }
        let o = &mut self.origins[origin];
        let journal = &*o.journal;
        // Only whose record it is: handle_now decodes the rest.
        let hdr = header(bytes).ok()?;
        let Place::Container(c) = o
            .containers
            .place(journal, hdr.cgroup_id, hdr.cgroup_v1_id)?
        else {
            return None;
        };
        let meta = o.metas.get(journal, &c);
        let Some(meta) = meta else {
            return o.metas.may_answer(&c).then_some(Waiting::Meta(c));
        };
        // A pod the API server has not shown yet: kubelet starts a pod's
        // containers after the pod was bound to this node, so it is usually
        // on its way in the watch stream.
        let key = k8s::pod_key(&meta.labels).filter(|_| self.wants.pod == Need::Wait)?;
        (o.pods.may_answer(&key) && o.pods.get(journal, &key).is_none())
            .then(|| Waiting::Pod(key.into_owned()))
    }

    /// Handles the held records once the runtime answered about the first
    /// one's container, or it waited [`HOLD_MAX`] (then that container is
    /// shown without metadata), or at once when `now`. Stops at `count`
    /// matched events; returns whether it was reached.
    pub fn release_held(&mut self, now: bool, count: Option<u64>) -> io::Result<bool> {
        let Some(since) = self.held_since else {
            return Ok(false);
        };
        let (origin, first, shown) = self.held.front().cloned().expect("held_since implies held");
        let waiting = self.unanswered(origin, &first, shown);
        let o = &mut self.origins[origin];
        match waiting {
            Some(Waiting::Meta(c)) if now || since.elapsed() >= HOLD_MAX => o.metas.give_up(&c),
            Some(Waiting::Pod(key)) if now || since.elapsed() >= HOLD_MAX => {
                o.pods.give_up(&key);
            }
            Some(_) => return Ok(false),
            None => {}
        }
        let held = std::mem::take(&mut self.held);
        self.held_since = None;
        for (origin, bytes, shown) in held {
            let printed = if now && self.held.is_empty() {
                self.handle_now(origin, &bytes, shown)?
            } else {
                self.handle_from(origin, &bytes, shown)?
            };
            if printed && count.is_some_and(|n| self.stats.results >= n) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn handle_now(&mut self, origin: usize, bytes: &[u8], shown: bool) -> io::Result<bool> {
        self.stats.events += 1;
        let rec = match decode(bytes) {
            Ok(r) => r,
            Err(_) => {
                self.stats.decode_errors += 1;
                return Ok(false);
            }
        };
        let o = &mut self.origins[origin];
        for sink in self.sinks.each() {
            sink.before_record(&rec, &o.procs)?;
        }
        apply::before(&mut o.procs, &rec);
        if matches!(rec.body, Body::Fork(_) | Body::Exec { .. }) {
            for sink in self.sinks.each() {
                sink.record(bytes, &rec, &o.procs, true)?;
            }
            return Ok(false);
        }
        // Numbered as sysdig numbers the scap events standing for the
        // record; a context record is none of the capture's events.
        let events = if shown {
            scap::encode::events_of(&rec)
        } else {
            0
        };
        let num = o.next_num + events.max(1) - 1;
        o.next_num += events;
        // Resolve what started before sdtrace (or while filtered out) once.
        o.procs.process_or_load(rec.hdr.tgid);
        if let Some(fd) = event_fd(&rec).and_then(|fd| i32::try_from(fd).ok()) {
            if o.procs.fd(rec.hdr.tgid, fd).is_none() {
                o.procs.fd_or_load(rec.hdr.tgid, fd);
            }
        }
        let (place, meta, pod) = o.place(self.wants, rec.hdr.cgroup_id, rec.hdr.cgroup_v1_id);
        if o.containers.sweep_due() && !o.journal.is_replay() {
            for gone in o.containers.sweep() {
                if let Some(c) = &gone.container {
                    o.metas.forget(&c.id);
                }
                if self.decided.remove(&gone.ids) {
                    if let Some(m) = &mut self.muter {
                        m.forget(gone.ids.0, gone.ids.1);
                    }
                }
            }
        }
        let mut view = EventView {
            num,
            rec: &rec,
            procs: &o.procs,
            users: &o.users,
            clock: &self.clock,
            latency: self.latency,
            buffers: self.buffers,
            place: place.as_ref(),
            meta: meta.as_deref(),
            pod: pod.as_deref(),
            node: o.node.as_deref(),
        };
        let ids = (rec.hdr.cgroup_id, rec.hdr.cgroup_v1_id);
        let mute = match (&self.muter, &self.filter, &place) {
            (Some(_), Some(f), Some(p)) if !self.decided.contains(&ids) => {
                // Decided once the container's metadata is in (a host
                // cgroup has none to wait for).
                (matches!(p, Place::Host) || meta.is_some())
                    .then(|| f.decide(&mut view, &container::decided_by_cgroup) == Some(false))
            }
            _ => None,
        };
        let matched = shown && self.filter.as_ref().is_none_or(|f| f.matches(&mut view));
        self.stats.matched += u64::from(matched);
        for sink in self.sinks.each() {
            sink.observe(&view, matched);
        }
        if let Some(mute) = mute {
            self.decided.insert(ids);
            if let (true, Some(m)) = (mute, &mut self.muter) {
                m.mute(ids.0, ids.1);
            }
        }
        apply::after(&mut o.procs, &rec);
        for sink in self.sinks.each() {
            sink.record(bytes, &rec, &o.procs, matched)?;
        }
        self.write_ready(None)
    }

    /// Counts `n` events that carry no record (a capture file's internal
    /// events), so evt.num stays the number sysdig gives each event.
    pub fn skip_events(&mut self, n: u64) {
        self.local().next_num += n;
    }

    /// Gives the next record's first event number `n` (a capture file
    /// whose threads' events interleave says each record's own).
    pub fn number_from(&mut self, n: u64) {
        self.local().next_num = n;
    }

    fn write_pending(&mut self) -> io::Result<()> {
        let mut out = self.out.lock();
        out.write_all(&self.pending)?;
        self.pending.clear();
        out.flush()
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.write_pending()
    }

    /// `--containers`' table, once the run is over. Containers whose
    /// runtime has not answered yet are waited for, [`HOLD_MAX`] at most
    /// for all of them.
    pub fn containers_table(&mut self) -> Option<String> {
        let tally = self.sinks.tally.as_ref()?;
        let deadline = Instant::now() + HOLD_MAX;
        let Origin { journal, metas, .. } = &mut self.origins[0];
        let journal = &**journal;
        loop {
            let waiting = tally
                .containers()
                .any(|c| metas.may_answer(c) && metas.get(journal, c).is_none());
            if !waiting || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Some(tally.render(&self.clock, |c| metas.get(journal, c)))
    }
}

/// The run's sinks: the mode's (or the printer), `-w`'s, and the tally.
#[derive(Default)]
struct Sinks {
    mode: Option<Box<dyn Sink>>,
    writer: Option<CaptureSink>,
    tally: Option<Tally>,
}

impl Sinks {
    fn each(&mut self) -> impl Iterator<Item = &mut dyn Sink> {
        let writer = self.writer.as_mut().map(|w| w as &mut dyn Sink);
        let tally = self.tally.as_mut().map(|t| t as &mut dyn Sink);
        self.mode
            .as_deref_mut()
            .map(|m| m as &mut dyn Sink)
            .into_iter()
            .chain(writer)
            .chain(tally)
    }
}
