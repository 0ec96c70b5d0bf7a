//! `sdtrace converge`: which resources a configuration-management daemon
//! touched, which outside changes (drifts) it repaired, and what made it
//! act — from the kernel's point of view.
//!
//! - The daemons are the processes named (`--daemon`, `--pid`), or known
//!   agents (puppet, mgmt, ansible, cfengine, salt, chef), or processes that
//!   watch a path with inotify and later write it. Everything their process
//!   trees do is theirs.
//! - A file is managed once a daemon's tree watched it (or, when it is
//!   missing, its directory in its place) or changed it; packages,
//!   services and accounts once a daemon ran a command on them. Watches in
//!   place when sdtrace attached are read from `/proc` ([`attach`]).
//! - A change to a managed resource by a process outside every daemon's
//!   tree is a DRIFT; so is an outside change to a resource a daemon
//!   changes soon after, though nobody was known to manage it then
//!   (`lookback`). A daemon's change is a CONVERGE, caused by the drift it
//!   repairs (tied by the inotify event its tree read, else by a look its
//!   tree took after the change, else by resource and time), by a refresh
//!   from a resource it had just changed, by a scheduled run, by its
//!   startup, or by something before the attach.
//!
//! The facts come from syscalls in [`extract`]; [`engine`] derives the
//! events from what it keeps in `membership`, `operations`, `causes`,
//! `flaps` and `summary`; [`render`] prints them.

pub mod attach;
mod causes;
pub mod cli;
pub mod engine;
pub mod extract;
mod flaps;
pub mod inotify;
mod lookback;
mod membership;
pub mod model;
mod operations;
pub mod render;
pub mod resource;
mod summary;

#[cfg(test)]
mod tests;

use crate::event::clock::Clock;
use crate::event::extract::EventView;
use crate::sink::Sink;

use engine::{Engine, ProcessInfo, Selection};
use model::{Actor, Fact};

/// The engine fed from the pipeline: the processes alive at the start are
/// adopted before the first event.
pub struct Tracker {
    engine: Engine,
    adopted: bool,
}

impl Default for Tracker {
    /// Known agents and unnamed inotify daemons (the live view's).
    fn default() -> Self {
        Self::new(Selection::default())
    }
}

impl Tracker {
    #[must_use]
    pub fn new(selection: Selection) -> Self {
        Self {
            engine: Engine::new(selection),
            adopted: false,
        }
    }

    /// One event; `shown`: the filter lets it count (process lifecycles
    /// always do).
    pub fn feed(&mut self, view: &EventView<'_>, shown: bool) {
        if !self.adopted {
            self.adopted = true;
            self.adopt(view);
        }
        extract::feed(&mut self.engine, view, shown);
    }

    /// Takes the processes alive at the first event, and (live) the
    /// watches their daemons had in place already.
    fn adopt(&mut self, view: &EventView<'_>) {
        self.engine.adopt(view.procs.iter().map(ProcessInfo::of));
        let procfs = view.procs.procfs();
        if procfs.is_replay() {
            return;
        }
        let ts = view.rec.hdr.ts_ns;
        let mut unnamed = 0;
        for p in view.procs.iter() {
            let Some(mine) = self.engine.watches_matter(p.tgid) else {
                continue;
            };
            let actor = |pid| Actor {
                pid,
                comm: p.comm.clone(),
                exe: p.exepath.clone(),
                container: None,
            };
            for ifd in attach::inotify_fds(procfs.root(), p.tgid) {
                let (named, missed) = attach::watches(procfs.root(), p.tgid, ifd);
                if mine {
                    unnamed += missed;
                }
                for w in named {
                    let fact = Fact::Watch {
                        pid: p.tgid,
                        ifd,
                        path: &w.path,
                        wd: Ok(w.wd),
                        existing: true,
                    };
                    self.engine.observe(ts, ts, &fact, &actor);
                }
            }
        }
        if unnamed > 0 {
            eprintln!(
                "sdtrace: converge: {unnamed} inotify watch(es) a daemon had in place before sdtrace started could not be named (deleted since, in another mount namespace, or on a filesystem without file handles): the changes they report are tied by time"
            );
        }
    }

    pub fn tick(&mut self, now: u64) {
        self.engine.tick(now);
    }

    pub fn finish(&mut self) {
        self.engine.finish();
    }

    /// The derived events since the last call.
    pub fn take(&mut self) -> Vec<model::Derived> {
        self.engine.take()
    }

    #[must_use]
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// The convergence mode's share of the pipeline.
pub struct Converger {
    tracker: Tracker,
    json: bool,
    /// The run is over: the summary goes after the last events.
    finished: bool,
    summary_written: bool,
}

impl Converger {
    #[must_use]
    pub fn new(selection: Selection, json: bool) -> Self {
        Self {
            tracker: Tracker::new(selection),
            json,
            finished: false,
            summary_written: false,
        }
    }

    /// The table printed at the end.
    pub fn write_summary(&self, out: &mut Vec<u8>) {
        let rows = self.tracker.engine().summary();
        if self.json {
            render::summary_json(out, &rows);
        } else {
            render::summary_text(out, &rows);
        }
    }
}

impl Sink for Converger {
    fn observe(&mut self, view: &EventView<'_>, shown: bool) {
        self.tracker.feed(view, shown);
    }

    fn tick(&mut self, now: u64) {
        self.tracker.tick(now);
    }

    fn finish(&mut self) {
        self.tracker.finish();
        self.finished = true;
    }

    fn write_ready(&mut self, out: &mut Vec<u8>, clock: &Clock) -> u64 {
        let ready = self.tracker.take();
        for d in &ready {
            if self.json {
                render::json(out, d, clock);
            } else {
                render::text(out, d, clock);
            }
        }
        if self.finished && !std::mem::replace(&mut self.summary_written, true) {
            self.write_summary(out);
        }
        ready.len() as u64
    }
}
