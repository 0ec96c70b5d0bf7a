//! What a run does with its events. Every output is a [`Sink`] fed by the
//! same pipeline: printing (`output::printer`), `-w` (`scap::sink`), the
//! `--containers` tally, and each mode (follow, converge, summaries, the
//! live view, the agent).

use std::io;

use crate::decode::Record;
use crate::event::clock::Clock;
use crate::event::extract::EventView;
use crate::state::ProcessTable;

/// Where events go.
pub trait Sink {
    /// One event, with the state as of its syscall (a connect's tuple known,
    /// a closed fd not yet forgotten); `shown`: the filter lets it through.
    fn observe(&mut self, view: &EventView<'_>, shown: bool);
    /// A record as the kernel wrote it, before the tables apply it.
    fn before_record(&mut self, _rec: &Record<'_>, _procs: &ProcessTable) -> io::Result<()> {
        Ok(())
    }
    /// A record once the tables applied it, with its bytes (`-w` keeps
    /// them): every record, an event's after [`Sink::observe`]; `shown`:
    /// it is one of the run's events.
    fn record(
        &mut self,
        _raw: &[u8],
        _rec: &Record<'_>,
        _procs: &ProcessTable,
        _shown: bool,
    ) -> io::Result<()> {
        Ok(())
    }
    /// `now`: the kernel time no later record can precede.
    fn tick(&mut self, _now: u64) {}
    /// The run is over: what is held is made ready.
    fn finish(&mut self) {}
    /// Writes what is ready; returns how many results that was (`-n`
    /// counts them, and the closing line calls them matched).
    fn write_ready(&mut self, _out: &mut Vec<u8>, _clock: &Clock) -> u64 {
        0
    }
    /// How the capture loop is doing (told a few times a second).
    fn loop_stats(&mut self, _stats: &LoopStats) {}
    /// Whether the mode has ended on its own.
    fn done(&mut self) -> bool {
        false
    }
    /// What events should carry besides the process: by default their
    /// container and its metadata, waited for.
    fn wants(&self) -> Wants {
        Wants {
            place: true,
            meta: Need::Wait,
            pod: Need::No,
        }
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

/// How much an answer from outside the kernel is needed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    #[default]
    No,
    /// Asked, and used when it is known.
    Lookup,
    /// Waited for: the event waits (in order, [`crate::pipeline::HOLD_MAX`]
    /// at most) until its container's runtime, or the API server, answers.
    Wait,
}

/// What the pipeline finds out about each event for its filter and sinks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wants {
    /// Which container (or the host) it ran in.
    pub place: bool,
    /// That container's name, image and labels, from its runtime.
    pub meta: Need,
    /// Its pod, as the Kubernetes API server describes it.
    pub pod: Need,
}

impl Wants {
    pub const NOTHING: Self = Self {
        place: false,
        meta: Need::No,
        pod: Need::No,
    };

    /// What either wants.
    #[must_use]
    pub fn and(self, other: Self) -> Self {
        let meta = self.meta.max(other.meta);
        Self {
            place: self.place || other.place || meta != Need::No,
            meta,
            pod: self.pod.max(other.pod),
        }
    }
}

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
