//! The live capture loop: drain the ring buffer every few milliseconds,
//! decode, update state, filter, print (or write `-w`); report drops; stop
//! cleanly on Ctrl-C, SIGTERM, `-n`, `-M`, or a closed stdout. And the same
//! pipeline fed from a capture file (`-r`).

use std::collections::{HashSet, VecDeque};
use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::signal::unix::{signal, SignalKind};

use crate::capture::order::Reorder;
use crate::capture::{mute::CgroupMuter, Capture};
use crate::container::classify::ContainerRef;
use crate::container::meta::MetaCache;
use crate::container::table::Tally;
use crate::container::{self, Containers, Place, CONTAINER_FIELDS, META_FIELDS};
use crate::decode::{decode, header, Body, Record};
use crate::fields::extract::{event_fd, EventView};
use crate::filter::Filter;
use crate::k8s::{self, PodCache};
use crate::output::{self, clock::Clock, stats::Stats, Format};
use crate::scap::writer::ScapWriter;
use crate::scap::{self, reader::ScapReader};
use crate::state::{apply, ProcessTable, Users};
use crate::sys::clock::boot_ns;

/// How long the loop sleeps when the ring buffer is empty. The kernel side
/// submits without wakeups (a wakeup per event costs more than the event),
/// so userspace polls; a few ms of buffering is far below the ring's capacity.
const POLL: Duration = Duration::from_millis(2);

/// Why the loop ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    Signal,
    /// The capture file was read to its end.
    EndOfFile,
    Count,
    Duration,
    /// stdout was closed by its reader.
    OutputClosed,
    /// The mode's sink finished on its own (`follow -- COMMAND`: the
    /// command exited and its traces are done).
    SinkDone,
}

#[derive(Clone)]
pub struct Options {
    pub format: Format,
    pub count: Option<u64>,
    pub duration: Option<Duration>,
    pub stats_interval: Option<Duration>,
    pub latency: bool,
    pub buffers: output::info::BufferMode,
}

/// Everything the per-record path touches.
pub struct Pipeline {
    procs: ProcessTable,
    users: Users,
    filter: Option<Filter>,
    clock: Clock,
    stats: Stats,
    format: Format,
    latency: bool,
    buffers: output::info::BufferMode,
    /// sysdig's `evt.num` of the next event, matched or not. A syscall is
    /// two scap events (enter and exit; its number is the exit's), a
    /// process exit one, so the numbers are those sysdig gives our captures.
    next_num: u64,
    /// `-w`: matched events go to the capture file instead of stdout.
    writer: Option<ScapWriter>,
    /// Which container each event's process runs in.
    containers: Containers,
    /// Containers' names, images and labels from their runtimes.
    metas: MetaCache,
    /// `--containers`: every event's container counted.
    tally: Option<Tally>,
    /// Pods as the Kubernetes API server describes them.
    pods: PodCache,
    /// The node every event happens on, when sdtrace runs as its agent.
    node: Option<String>,
    /// Records waiting, in order, for a new container's runtime to answer
    /// (see [`Pipeline::release_held`]), and since when.
    held: VecDeque<(Vec<u8>, bool)>,
    held_since: Option<Instant>,
    /// Whether the filter or format asks where processes run, and about
    /// their containers; a capture file always records both.
    wants_place: bool,
    wants_meta: bool,
    /// Live runs whose filter reads container fields: mutes, in the
    /// kernel, the cgroups it can never match (see [`crate::capture::mute`]).
    muter: Option<CgroupMuter>,
    /// The cgroups (as records carry them) already decided for muting.
    decided: HashSet<(u64, u64)>,
    /// Whether they ask what only the API server knows of pods.
    wants_pod: bool,
    /// A mode other than printing events (`follow`, `top`, `ui`): every
    /// event goes to it instead of the output.
    sink: Option<Box<dyn Sink>>,
    /// Printed lines not yet written: events are formatted straight into it
    /// and it goes to stdout in large writes (a per-line copy into a
    /// BufWriter showed up as the top cost in a profile).
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
    pub fn new(procs: ProcessTable, users: Users, filter: Option<Filter>, opts: &Options) -> Self {
        let uses = |id| {
            filter.as_ref().is_some_and(|f| f.uses(id))
                || match &opts.format {
                    Format::Custom(p) | Format::CustomJson(p) => p.fields().any(|f| f.id == id),
                    Format::Text | Format::Json => false,
                }
        };
        let wants_pod = k8s::API_FIELDS.into_iter().any(&uses);
        // A container's pod is found by the labels in its metadata.
        let wants_meta = wants_pod || META_FIELDS.into_iter().any(&uses);
        let wants_place = wants_meta || CONTAINER_FIELDS.into_iter().any(uses);
        Pipeline {
            procs,
            users,
            filter,
            containers: Containers::default(),
            metas: MetaCache::default(),
            tally: None,
            pods: PodCache::default(),
            node: None,
            held: VecDeque::new(),
            held_since: None,
            wants_place,
            wants_meta,
            muter: None,
            decided: HashSet::new(),
            wants_pod,
            sink: None,
            clock: Clock::now(),
            stats: Stats::default(),
            format: opts.format.clone(),
            latency: opts.latency,
            buffers: opts.buffers,
            next_num: 1,
            writer: None,
            pending: Vec::with_capacity(PENDING_FLUSH + 4096),
            out: io::stdout(),
        }
    }

    pub fn procs(&self) -> &ProcessTable {
        &self.procs
    }

    /// Reads `pid` from `/proc` now, unless it is known.
    pub fn load_process(&mut self, pid: u32) {
        self.procs.process_or_load(pid);
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

    pub fn take_stats(&mut self) -> Stats {
        std::mem::take(&mut self.stats)
    }

    pub fn set_containers(&mut self, containers: Containers) {
        self.containers = containers;
    }

    pub fn set_metas(&mut self, metas: MetaCache) {
        self.metas = metas;
    }

    /// `--containers`: count every event's container.
    pub fn set_tally(&mut self, tally: Tally) {
        self.tally = Some(tally);
    }

    pub fn set_pods(&mut self, pods: PodCache) {
        self.pods = pods;
    }

    /// Whether the API server is asked about pods.
    pub fn pods_live(&self) -> bool {
        self.pods.is_live()
    }

    /// The node every event is said to happen on.
    pub fn set_node(&mut self, node: String) {
        self.node = Some(node);
    }

    /// The cgroups the filter can never match are muted through `muter`.
    pub fn set_muter(&mut self, muter: Option<CgroupMuter>) {
        self.muter = muter;
    }

    /// Cgroups muted so far.
    pub fn muted_cgroups(&self) -> u64 {
        self.muter.as_ref().map_or(0, |m| m.muted)
    }

    /// `-w`: matched events go to `writer` instead of stdout.
    pub fn set_writer(&mut self, writer: ScapWriter) {
        self.writer = Some(writer);
    }

    pub fn take_writer(&mut self) -> Option<ScapWriter> {
        self.writer.take()
    }

    pub fn take_sink(&mut self) -> Option<Box<dyn Sink>> {
        self.sink.take()
    }

    /// Every event goes to `sink` from now on, with its container known
    /// when the sink asks for containers.
    pub fn set_sink(&mut self, sink: Box<dyn Sink>) {
        if sink.wants_containers() {
            self.wants_place = true;
            self.wants_meta = true;
        }
        if sink.wants_pods() {
            self.wants_pod = true;
        }
        self.sink = Some(sink);
    }

    /// Writes what the sink has ready (`now`: the kernel time no record can
    /// precede any more); whether it wrote anything.
    fn write_ready(&mut self, now: Option<u64>) -> io::Result<bool> {
        let Some(sink) = &mut self.sink else {
            return Ok(false);
        };
        if let Some(now) = now {
            // A record held for its container's runtime is still to come.
            let held = self.held.front().and_then(|(b, _)| header(b).ok());
            sink.tick(held.map_or(now, |h| now.min(h.ts_ns.saturating_sub(1))));
        }
        let n = sink.write_ready(&mut self.pending, &self.clock);
        self.stats.matched += n;
        if n > 0 {
            self.write_pending()?;
        }
        Ok(n > 0)
    }

    /// At the end: the sink writes whatever it still holds.
    pub fn finish_sink(&mut self) -> io::Result<()> {
        if let Some(sink) = &mut self.sink {
            sink.finish();
        }
        self.write_ready(None).map(|_| ())
    }

    /// Whether the filter or format uses a field only the Kubernetes API
    /// server can answer.
    pub fn wants_pod(&self) -> bool {
        self.wants_pod
    }

    /// Handles one record; `Ok(true)` when it was printed (or written).
    pub fn handle(&mut self, bytes: &[u8]) -> io::Result<bool> {
        self.handle_record(bytes, true)
    }

    /// Handles one record; one that is not `shown` only updates the state
    /// (a capture file's context record). A record of a container whose
    /// name the output needs and whose runtime has not answered yet waits
    /// (and every later one behind it, to keep their order) for at most
    /// [`HOLD_MAX`].
    pub fn handle_record(&mut self, bytes: &[u8], shown: bool) -> io::Result<bool> {
        if !self.held.is_empty() || self.unanswered(bytes, shown).is_some() {
            self.held.push_back((bytes.to_vec(), shown));
            self.held_since.get_or_insert_with(Instant::now);
            return Ok(false);
        }
        self.handle_now(bytes, shown)
    }

    /// What a record whose output needs its container's metadata (or its
    /// pod's) waits for, when that may still come but has not yet.
    fn unanswered(&mut self, bytes: &[u8], shown: bool) -> Option<Waiting> {
        if !(self.wants_meta && shown) {
            return None;
        }
        // Only whose record it is: handle_now decodes the rest.
        let hdr = header(bytes).ok()?;
        let Place::Container(c) =
            self.containers
                .place(self.procs.procfs(), hdr.cgroup_id, hdr.cgroup_v1_id)?
        else {
            return None;
        };
        let meta = self.metas.get(self.procs.procfs(), &c);
        let Some(meta) = meta else {
            return self.metas.may_answer(&c).then_some(Waiting::Meta(c));
        };
        // A pod the API server has not shown yet: kubelet starts a pod's
        // containers after the pod was bound to this node, so it is usually
        // on its way in the watch stream.
        let key = k8s::pod_key(&meta.labels).filter(|_| self.wants_pod)?;
        (self.pods.may_answer(&key) && self.pods.get(self.procs.procfs(), &key).is_none())
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
        let (first, shown) = self.held.front().cloned().expect("held_since implies held");
        let waiting = self.unanswered(&first, shown);
        match waiting {
            Some(Waiting::Meta(c)) if now || since.elapsed() >= HOLD_MAX => self.metas.give_up(&c),
            Some(Waiting::Pod(key)) if now || since.elapsed() >= HOLD_MAX => {
                self.pods.give_up(&key);
            }
            Some(_) => return Ok(false),
            None => {}
        }
        let held = std::mem::take(&mut self.held);
        self.held_since = None;
        for (bytes, shown) in held {
            let printed = if now && self.held.is_empty() {
                self.handle_now(&bytes, shown)?
            } else {
                self.handle_record(&bytes, shown)?
            };
            if printed && count.is_some_and(|n| self.stats.matched >= n) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn handle_now(&mut self, bytes: &[u8], shown: bool) -> io::Result<bool> {
        self.stats.events += 1;
        let rec = match decode(bytes) {
            Ok(r) => r,
            Err(_) => {
                self.stats.decode_errors += 1;
                return Ok(false);
            }
        };
        if let Some(w) = &mut self.writer {
            w.before_record(rec.hdr.ts_ns, &self.procs)?;
        }
        apply::before(&mut self.procs, &rec);
        if matches!(rec.body, Body::Fork(_) | Body::Exec { .. }) {
            return self.write_record(bytes, &rec, true).map(|()| false);
        }
        // Numbered as sysdig numbers the scap events standing for the
        // record; a context record is none of the capture's events.
        let events = if shown {
            scap::encode::events_of(&rec)
        } else {
            0
        };
        let num = self.next_num + events.max(1) - 1;
        self.next_num += events;
        // Resolve what started before sdtrace (or while filtered out) once.
        self.procs.process_or_load(rec.hdr.tgid);
        if let Some(fd) = event_fd(&rec).and_then(|fd| i32::try_from(fd).ok()) {
            if self.procs.fd(rec.hdr.tgid, fd).is_none() {
                self.procs.fd_or_load(rec.hdr.tgid, fd);
            }
        }
        let place = if self.wants_place || self.writer.is_some() || self.tally.is_some() {
            self.containers
                .place(self.procs.procfs(), rec.hdr.cgroup_id, rec.hdr.cgroup_v1_id)
        } else {
            None
        };
        if let (Some(t), Some(Place::Container(c))) = (&mut self.tally, &place) {
            t.add(c, rec.hdr.ts_ns);
        }
        let meta = match &place {
            Some(Place::Container(c)) if self.wants_meta || self.writer.is_some() => {
                self.metas.get(self.procs.procfs(), c)
            }
            _ => None,
        };
        let pod = match &meta {
            Some(m) if self.wants_pod || self.writer.is_some() => {
                k8s::pod_key(&m.labels).and_then(|key| self.pods.get(self.procs.procfs(), &key))
            }
            _ => None,
        };
        let mut view = EventView {
            num,
            rec: &rec,
            procs: &self.procs,
            users: &self.users,
            clock: &self.clock,
            latency: self.latency,
            buffers: self.buffers,
            place: place.as_ref(),
            meta: meta.as_deref(),
            pod: pod.as_deref(),
            node: self.node.as_deref(),
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
        let mut matched = shown && self.filter.as_ref().is_none_or(|f| f.matches(&mut view));
        if let Some(sink) = &mut self.sink {
            sink.observe(&view, matched);
            apply::after(&mut self.procs, &rec);
            return self.write_ready(None);
        }
        if matched && self.writer.is_none() {
            // A -p format without `*` skips events missing one of its fields.
            matched = output::write_event(&mut self.pending, &self.format, &view);
            if self.pending.len() >= PENDING_FLUSH {
                self.write_pending()?;
            }
        }
        if matched {
            self.stats.matched += 1;
        }
        if let Some(mute) = mute {
            self.decided.insert(ids);
            if let (true, Some(m)) = (mute, &mut self.muter) {
                m.mute(ids.0, ids.1);
            }
        }
        apply::after(&mut self.procs, &rec);
        self.write_record(bytes, &rec, matched)?;
        Ok(matched)
    }

    /// Counts `n` events that carry no record (a capture file's internal
    /// events), so evt.num stays the number sysdig gives each event.
    pub fn skip_events(&mut self, n: u64) {
        self.next_num += n;
    }

    /// `-w`: the record goes to the file, as an event when `shown`.
    fn write_record(&mut self, bytes: &[u8], rec: &Record<'_>, shown: bool) -> io::Result<()> {
        match &mut self.writer {
            Some(w) => w.record(bytes, rec, &self.procs, shown),
            None => Ok(()),
        }
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
        let tally = self.tally.as_ref()?;
        let deadline = Instant::now() + HOLD_MAX;
        loop {
            let procfs = self.procs.procfs();
            let waiting = tally
                .containers()
                .any(|c| self.metas.may_answer(c) && self.metas.get(procfs, c).is_none());
            if !waiting || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let procfs = self.procs.procfs();
        Some(tally.render(&self.clock, |c| self.metas.get(procfs, c)))
    }
}

/// What a mode other than printing events does with them.
pub trait Sink {
    /// One event, with the state as of its syscall (a connect's tuple known,
    /// a closed fd not yet forgotten); `shown`: the filter lets it through.
    fn observe(&mut self, view: &EventView<'_>, shown: bool);
    /// `now`: the kernel time no later record can precede.
    fn tick(&mut self, _now: u64) {}
    /// The run is over: what is held is made ready.
    fn finish(&mut self) {}
    /// Writes what is ready; returns how many results that was (`-n`
    /// counts them).
    fn write_ready(&mut self, _out: &mut Vec<u8>, _clock: &Clock) -> u64 {
        0
    }
    /// How the capture loop is doing (told a few times a second).
    fn loop_stats(&mut self, _stats: &LoopStats) {}
    /// Whether the mode has ended on its own.
    fn done(&mut self) -> bool {
        false
    }
    /// Whether events should carry their container and its metadata.
    fn wants_containers(&self) -> bool {
        true
    }
    /// Whether events should wait for, and carry, their pod as the API
    /// server describes it.
    fn wants_pods(&self) -> bool {
        false
    }
    /// The exit code the mode asks sdtrace to end with.
    fn exit_code(&self) -> Option<i32> {
        None
    }
    /// What the user should know at the end (one line, for stderr).
    fn closing_words(&self) -> Option<String> {
        None
    }
}

/// How often a sink is told the loop's statistics (a map read per CPU).
const LOOP_STATS_EVERY: Duration = Duration::from_millis(250);

/// The capture loop's own account, for a sink that reports it.
#[derive(Clone, Debug, Default)]
pub struct LoopStats {
    /// Records lost to a full ring buffer, per possible CPU.
    pub drops_per_cpu: Vec<u64>,
    /// Records received from the ring buffer.
    pub events: u64,
    pub decode_errors: u64,
    /// Program runs the kernel skipped (its recursion guard).
    pub kernel_misses: u64,
    /// The most bytes found waiting in the ring buffer at one read since
    /// the last report: how close it came to full.
    pub ring_backlog_peak: u64,
    /// The ring buffer's size in bytes.
    pub ring_size: u64,
}

impl LoopStats {
    pub fn drops(&self) -> u64 {
        self.drops_per_cpu.iter().sum()
    }
}

/// Runs until a stop condition; returns why it stopped.
pub async fn run(
    capture: &mut Capture,
    pipe: &mut Pipeline,
    opts: &Options,
) -> anyhow::Result<End> {
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let started = Instant::now();
    let mut last_stats = Instant::now();
    let mut last_loop_stats = Instant::now();
    let mut order = Reorder::default();
    eprintln!("sdtrace: attached");
    loop {
        match drain(capture, &mut order, pipe, opts.count, settled()) {
            Ok(Some(end)) => return Ok(end),
            Ok(None) => {}
            Err(e) if output::is_broken_pipe(&e) => return Ok(End::OutputClosed),
            Err(e) => return Err(e.into()),
        }
        if pipe.sink.as_mut().is_some_and(|s| s.done()) {
            return last_drain(capture, &mut order, pipe, opts.count, End::SinkDone).await;
        }
        if opts.duration.is_some_and(|d| started.elapsed() >= d) {
            return last_drain(capture, &mut order, pipe, opts.count, End::Duration).await;
        }
        if pipe.sink.is_some() && last_loop_stats.elapsed() >= LOOP_STATS_EVERY {
            last_loop_stats = Instant::now();
            count_kernel(capture, &mut pipe.stats);
            let stats = LoopStats {
                drops_per_cpu: capture.drops_per_cpu(),
                events: pipe.stats.events,
                decode_errors: pipe.stats.decode_errors + order.malformed,
                kernel_misses: pipe.stats.kernel_misses,
                ring_backlog_peak: std::mem::take(&mut order.backlog_peak),
                ring_size: u64::from(capture.ring_size),
            };
            if let Some(sink) = pipe.sink.as_mut() {
                sink.loop_stats(&stats);
            }
        }
        if let Some(every) = opts.stats_interval {
            if last_stats.elapsed() >= every {
                last_stats = Instant::now();
                count_kernel(capture, &mut pipe.stats);
                pipe.stats.decode_errors += std::mem::take(&mut order.malformed);
                eprintln!("{}", pipe.stats.line(&capture.drops_per_cpu()));
            }
        }
        tokio::select! {
            _ = sigint.recv() => return last_drain(capture, &mut order, pipe, opts.count, End::Signal).await,
            _ = sigterm.recv() => return last_drain(capture, &mut order, pipe, opts.count, End::Signal).await,
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Brings the kernel's own counters into `stats`: program runs it skipped,
/// and records written without their captures.
pub fn count_kernel(capture: &Capture, stats: &mut Stats) {
    stats.kernel_misses = capture.kernel_misses();
    stats.stage_misses = capture.stage_misses();
}

/// How long the kernel may hold a record in a per-CPU batch (until a quiet
/// CPU's batch is flushed, plus a poll, with margin): records are released
/// in time order once they are this old. Before stopping, syscalls under way
/// get this long to return, then every batch is flushed, so nothing already
/// captured is lost.
const BATCH_LINGER: Duration = Duration::from_millis(25);

/// Records at or before this kernel time can no longer be overtaken.
fn settled() -> u64 {
    boot_ns().saturating_sub(BATCH_LINGER.as_nanos() as u64)
}

/// Waits for the kernel's batches to be written, then handles what is left.
async fn last_drain(
    capture: &mut Capture,
    order: &mut Reorder,
    pipe: &mut Pipeline,
    count: Option<u64>,
    end: End,
) -> anyhow::Result<End> {
    tokio::time::sleep(BATCH_LINGER).await;
    capture.flush_all();
    let result = drain(capture, order, pipe, count, u64::MAX);
    pipe.stats.decode_errors += std::mem::take(&mut order.malformed);
    match result {
        Ok(Some(e)) => Ok(e),
        Ok(None) => Ok(end),
        Err(e) if output::is_broken_pipe(&e) => Ok(End::OutputClosed),
        Err(e) => Err(e.into()),
    }
}

/// Queues everything in the ring buffer, then handles, in time order, what
/// is older than `watermark`; stops early at the `-n` limit.
fn drain(
    capture: &mut Capture,
    order: &mut Reorder,
    pipe: &mut Pipeline,
    count: Option<u64>,
    watermark: u64,
) -> io::Result<Option<End>> {
    capture.flush_waiting();
    let mut backlog = 0;
    while let Some(item) = capture.ring.next() {
        backlog += item.len() as u64;
        order.push(&item);
    }
    order.backlog_peak = order.backlog_peak.max(backlog);
    // The last drain lets nothing wait any longer.
    if pipe.release_held(watermark == u64::MAX, count)? {
        pipe.flush()?;
        return Ok(Some(End::Count));
    }
    let mut reached = order.release(watermark, |record| {
        let printed = pipe.handle(record)?;
        Ok::<bool, io::Error>(printed && count.is_some_and(|n| pipe.stats.matched >= n))
    })?;
    if !reached && watermark != u64::MAX && pipe.write_ready(Some(watermark))? {
        reached = count.is_some_and(|n| pipe.stats.matched >= n);
    }
    if watermark == u64::MAX && !reached {
        reached = pipe.release_held(true, count)?;
    }
    pipe.flush()?;
    Ok(reached.then_some(End::Count))
}

/// `-r`: handles every record of a capture file, in order; stops at `-n`
/// or once `-M` seconds of capture time have been read. A corrupt or
/// truncated file is read up to its last good block, then the error says
/// where it stops.
pub fn replay(reader: &mut ScapReader, pipe: &mut Pipeline, opts: &Options) -> anyhow::Result<End> {
    let mut first_ts = None;
    let result = loop {
        let item = match reader.next_item(pipe.procs.procfs()) {
            Ok(Some(item)) => item,
            Ok(None) => break Ok(End::EndOfFile),
            Err(e) => break Err(anyhow::anyhow!("{e} (after {} records)", reader.records)),
        };
        pipe.skip_events(item.internal_events);
        let (bytes, shown) = (item.bytes, item.shown);
        if let (Some(limit), Ok(rec)) = (opts.duration, decode(bytes)) {
            let start = *first_ts.get_or_insert(rec.hdr.ts_ns);
            if rec.hdr.ts_ns.saturating_sub(start) > limit.as_nanos() as u64 {
                break Ok(End::Duration);
            }
        }
        match pipe.handle_record(bytes, shown) {
            Ok(printed) if printed && opts.count.is_some_and(|n| pipe.stats.matched >= n) => {
                break Ok(End::Count)
            }
            Ok(_) => {}
            Err(e) if output::is_broken_pipe(&e) => return Ok(End::OutputClosed),
            Err(e) => return Err(e.into()),
        }
    };
    match pipe.flush() {
        Err(e) if output::is_broken_pipe(&e) => Ok(End::OutputClosed),
        Err(e) => Err(e.into()),
        Ok(()) => result,
    }
}
