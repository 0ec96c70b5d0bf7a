//! `sdtrace ui --agent`, `sdtrace top --agent` (and `--cluster`): the
//! agents' records run through this machine's pipeline, each node's with
//! its own processes, users and answers (an [`Origin`]), so every mode
//! works on them as on the local kernel's. The agents send what a capture
//! file holds (see [`crate::agent::protocol::Mode::Records`]).
//!
//! Nodes booted at different times, and sinks compare times across
//! events: every kernel time is moved onto this machine's boot clock
//! (records, processes' start and exit times, `/proc` answers).

use std::io;
use std::mem::offset_of;
use std::path::PathBuf;

use anyhow::Context;
use base64::Engine as _;
use tracer_common::EventHeader;

use super::connect;
use super::merge::Released;
use super::reach::Reach;
use super::relay::{self, Consumer, Halt};
use super::stream::Attached;
use super::tally::Tally;
use crate::agent::protocol::{Mode, Start, Subscribe};
use crate::event::clock::Clock;
use crate::journal::Answer;
use crate::pipeline::{Options, Origin, Pipeline};
use crate::run::End;
use crate::scap::sidecar;
use crate::state::{ProcFs, Process, ProcessTable, Users};

/// Which agents to read, and what to ask them for.
#[derive(Clone, Debug, Default)]
pub struct Agents {
    pub reach: Reach,
    pub kubeconfig: Option<PathBuf>,
    /// Sent to every agent, which then sends only the records it matches
    /// (and those that keep the tables exact); the pipeline filters again.
    pub filter: Option<String>,
}

/// How far one node's kernel times are from this machine's.
#[derive(Clone, Copy, Debug)]
struct Shift(i128);

impl Shift {
    fn ns(self, t: u64) -> u64 {
        if t == 0 {
            // Unknown stays unknown.
            return 0;
        }
        (i128::from(t) + self.0).max(0) as u64
    }

    fn record(self, bytes: &mut [u8]) {
        let at = offset_of!(EventHeader, ts_ns);
        if let Some(field) = bytes.get_mut(at..at + 8) {
            let ts = u64::from_le_bytes(field.try_into().expect("8 bytes"));
            field.copy_from_slice(&self.ns(ts).to_le_bytes());
        }
    }

    fn process(self, p: &mut Process) {
        p.start_ns = self.ns(p.start_ns);
        if let Some(exit) = &mut p.exit {
            exit.ts_ns = self.ns(exit.ts_ns);
        }
    }

    fn answer(self, a: &mut Answer) {
        if let Answer::Process { snap: Some(s), .. } = a {
            s.start_ns = self.ns(s.start_ns);
        }
    }
}

/// The agents, subscribed to and each past its state.
pub struct Attachment {
    runtime: tokio::runtime::Runtime,
    attached: Vec<Attached>,
    /// Whether an agent could not be reached.
    lost: bool,
    shifts: Vec<Shift>,
}

/// Subscribes to every agent for records; returns them with the origin
/// each node's records are handled in, on `local`'s clock.
pub fn attach(agents: &Agents, local: &Clock) -> anyhow::Result<(Attachment, Vec<Origin>)> {
    let filter = connect::checked_filter(agents.filter.clone(), &agents.reach)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let subscribe = Subscribe {
        filter,
        mode: Some(Mode::Records),
        ..Subscribe::default()
    };
    let say = |line: &str| eprintln!("{line}");
    let (attached, lost) = runtime.block_on(async {
        let (dials, token) = connect::dials(&agents.reach, agents.kubeconfig.as_deref()).await?;
        connect::attach_all(dials, token, subscribe, &say).await
    })?;
    let mut origins = Vec::new();
    let mut shifts = Vec::new();
    for a in &attached {
        let (origin, shift) = origin(a, local)?;
        origins.push(origin);
        shifts.push(shift);
    }
    let attachment = Attachment {
        runtime,
        attached,
        lost,
        shifts,
    };
    Ok((attachment, origins))
}

/// A node's origin from its agent's state, its times moved to `local`'s.
fn origin(a: &Attached, local: &Clock) -> anyhow::Result<(Origin, Shift)> {
    let json = a.state.as_deref().unwrap_or_default();
    let start: Start = serde_json::from_str(json)
        .with_context(|| format!("agent {}: its state is not sdtrace's", a.agent))?;
    let shift = Shift(start.info.clock.shift_to(local));
    let mut processes = start.processes;
    processes.iter_mut().for_each(|p| shift.process(p));
    let mut answers = start.answers;
    answers.iter_mut().for_each(|a| shift.answer(a));
    let procs = ProcessTable::restore(ProcFs::replaying(), processes);
    procs.procfs().journal().replay(answers);
    let users = Users::parse(&start.info.passwd, &start.info.group);
    Ok((Origin::new(procs, users).on_node(a.node.clone()), shift))
}

impl Attachment {
    /// Feeds the pipeline until the agents are gone or a stop condition
    /// (`-n`, `-M`, Ctrl-C or SIGTERM, a closed stdout, the sink done);
    /// returns why it stopped, a line per agent, and whether an agent was
    /// lost (unreachable, or its stream broken off) on the way.
    pub fn run(
        &mut self,
        pipe: &mut Pipeline,
        opts: &Options,
    ) -> anyhow::Result<(End, Vec<String>, bool)> {
        let mut feed = Feed {
            local: pipe.clock(),
            pipe,
            shifts: &self.shifts,
            count: opts.count,
            record: Vec::new(),
        };
        let attached = std::mem::take(&mut self.attached);
        let say = |line: &str| eprintln!("{line}");
        eprintln!("sdtrace: attached");
        let relayed = self.runtime.block_on(relay::relay(
            attached,
            opts.duration,
            self.lost,
            &mut feed,
            &say,
        ))?;
        let end = match relayed.halted {
            Some(Halt::Enough) => End::Count,
            Some(Halt::Closed) => End::OutputClosed,
            Some(Halt::Done) => End::SinkDone,
            Some(Halt::Failed(e)) => return Err(e.into()),
            None if relayed.ended => End::AgentsGone,
            None => End::Signal,
        };
        Ok((end, relayed.summaries, relayed.lost))
    }
}

/// The merge's events into the pipeline.
struct Feed<'a> {
    pipe: &'a mut Pipeline,
    shifts: &'a [Shift],
    /// This machine's clock, which the pipeline's times are on.
    local: Clock,
    /// `-n`.
    count: Option<u64>,
    /// The record being handled, its time moved.
    record: Vec<u8>,
}

fn io_halt(e: io::Error) -> Halt {
    if crate::output::is_broken_pipe(&e) {
        Halt::Closed
    } else {
        Halt::Failed(e)
    }
}

impl Feed<'_> {
    /// One frame's items from node `origin`: answers for its `/proc`, then
    /// its record. A frame that does not decode is counted, not fatal.
    fn frame(&mut self, origin: usize, data: &str) -> Result<(), Halt> {
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(data) else {
            self.pipe.stats_mut().decode_errors += 1;
            return Ok(());
        };
        let shift = self.shifts[origin];
        for (kind, body) in sidecar::split(&bytes) {
            match kind {
                sidecar::ANSWERS => match serde_json::from_slice::<Vec<Answer>>(body) {
                    Ok(mut answers) => {
                        answers.iter_mut().for_each(|a| shift.answer(a));
                        self.pipe.origins()[origin].journal().replay(answers);
                    }
                    Err(_) => self.pipe.stats_mut().decode_errors += 1,
                },
                sidecar::SHOWN | sidecar::CONTEXT => {
                    self.record.clear();
                    self.record.extend_from_slice(body);
                    shift.record(&mut self.record);
                    let shown = kind == sidecar::SHOWN;
                    let result = self.pipe.handle_from(origin, &self.record, shown);
                    if result.map_err(io_halt)?
                        && self.count.is_some_and(|n| self.pipe.stats().results >= n)
                    {
                        return Err(Halt::Enough);
                    }
                }
                _ => self.pipe.stats_mut().decode_errors += 1,
            }
        }
        Ok(())
    }
}

impl Consumer for Feed<'_> {
    fn take(&mut self, released: Vec<Released>, _tallies: &[Tally]) -> Result<(), Halt> {
        for r in released {
            self.frame(r.stream, &r.line)?;
        }
        Ok(())
    }

    /// The sinks hear that time has reached what every agent promised.
    fn turn(&mut self, bound: Option<u64>) -> Result<(), Halt> {
        if let Some(bound) = bound {
            self.pipe
                .write_ready(Some(self.local.boot_ns(bound)))
                .map_err(io_halt)?;
        }
        self.pipe.flush().map_err(io_halt)?;
        if self.pipe.sink_done() {
            return Err(Halt::Done);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nodes_times_move_onto_this_machines_boot_clock() {
        // The node booted 100 s before this machine (its kernel times are
        // 100 s ahead for the same moment).
        let node = Clock::fixed(1_000_000_000_000, 0);
        let local = Clock::fixed(1_100_000_000_000, 0);
        let shift = Shift(node.shift_to(&local));
        let t = 500_000_000_000;
        assert_eq!(local.epoch_ns(shift.ns(t)), node.epoch_ns(t));
        assert_eq!(shift.ns(0), 0, "unknown stays unknown");

        let mut record = vec![0u8; std::mem::size_of::<EventHeader>()];
        let at = offset_of!(EventHeader, ts_ns);
        record[at..at + 8].copy_from_slice(&t.to_le_bytes());
        shift.record(&mut record);
        let moved = crate::decode::header(&record).unwrap().ts_ns;
        assert_eq!(local.epoch_ns(moved), node.epoch_ns(t));
    }
}
