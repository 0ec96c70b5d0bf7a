//! `sdtrace converge`: which resources a configuration-management daemon
//! touched, which outside changes (drifts) it repaired, and what made it
//! act — from the kernel's point of view.
//!
//! - The daemons are the processes named (`--daemon`, `--pid`), or known
//!   agents (puppet, mgmt, ansible, cfengine, salt, chef), or processes that
//!   watch a path with inotify and later write it. Everything their process
//!   trees do is theirs.
//! - A file is managed once a daemon watched it (or, when it is missing,
//!   its directory in its place), wrote it, or lstat-checked it; packages,
//!   services and accounts are managed once a daemon ran a command on them.
//! - A change to a managed resource by a process outside every daemon's
//!   tree is a DRIFT; a daemon's change is a CONVERGE, caused by the drift
//!   it repairs (tied by the inotify event the daemon read when the kernel
//!   delivered one, else by resource and time), by a refresh from a
//!   resource it had just changed, by a scheduled run, or by its startup.
//!
//! The facts come from syscalls in [`extract`]; [`engine`] derives the
//! events; [`render`] prints them.

pub mod cli;
pub mod engine;
pub mod extract;
pub mod inotify;
pub mod model;
pub mod render;
pub mod resource;

#[cfg(test)]
mod tests;

use crate::fields::extract::EventView;
use crate::output::clock::Clock;
use crate::run::Sink;

use engine::{Engine, Selection};

/// The convergence mode's share of the pipeline.
pub struct Converger {
    engine: Engine,
    json: bool,
    adopted: bool,
    /// Derived events written so far (`-n` counts them).
    written: u64,
    kernel_drops: u64,
    /// The run is over: the summary goes after the last events.
    finished: bool,
    summary_written: bool,
}

impl Converger {
    #[must_use]
    pub fn new(selection: Selection, json: bool) -> Self {
        Self {
            engine: Engine::new(selection),
            json,
            adopted: false,
            written: 0,
            kernel_drops: 0,
            finished: false,
            summary_written: false,
        }
    }

    /// The table printed at the end.
    pub fn write_summary(&self, out: &mut Vec<u8>) {
        let rows = self.engine.summary();
        if self.json {
            render::summary_json(out, &rows);
        } else {
            render::summary_text(out, &rows);
        }
    }
}

impl Sink for Converger {
    fn observe(&mut self, view: &EventView<'_>, shown: bool) {
        if !self.adopted {
            self.adopted = true;
            self.engine.adopt(view.procs.iter().map(|p| {
                let argv = std::iter::once(p.exe.clone())
                    .chain(p.args.iter().cloned())
                    .collect();
                (p.tgid, p.ppid, p.comm.as_str(), p.exepath.as_str(), argv)
            }));
        }
        extract::feed(&mut self.engine, view, shown);
    }

    fn tick(&mut self, now: u64) {
        self.engine.tick(now);
    }

    fn finish(&mut self) {
        self.engine.finish();
        self.finished = true;
    }

    fn write_ready(&mut self, out: &mut Vec<u8>, clock: &Clock) -> u64 {
        let ready = self.engine.take();
        for d in &ready {
            if self.json {
                render::json(out, d, clock);
            } else {
                render::text(out, d, clock);
            }
        }
        self.written += ready.len() as u64;
        if self.finished && !std::mem::replace(&mut self.summary_written, true) {
            self.write_summary(out);
        }
        ready.len() as u64
    }

    fn kernel_drops(&mut self, total: u64) {
        self.kernel_drops = total;
    }

    fn closing_words(&self) -> Option<String> {
        let mut s = format!(
            "sdtrace: converge: {} daemon(s), {} repair(s) of drifts seen",
            self.engine.daemons(),
            self.engine.repaired()
        );
        if self.kernel_drops > 0 {
            s.push_str(&format!(
                "; the kernel dropped {} events: some changes may be missing",
                self.kernel_drops
            ));
        }
        Some(s)
    }
}
