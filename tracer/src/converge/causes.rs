//! What made a daemon act: the paths it watches (and the watch descriptors
//! that name them), which operation last changed each path, so an inotify
//! event a daemon reads ties back to the change behind it, the events read
//! before that change was seen, and the repairs waiting for it; and from
//! them, what caused a repair.

use std::collections::{HashMap, HashSet, VecDeque};

use super::flaps::Change;
use super::inotify::{self, Watches};
use super::membership::Daemon;
use super::model::{Cause, CauseKind, Via};
use super::operations::Op;
use super::resource::{self, Resource};

/// Paths remembered for tying inotify events back to the change behind them.
const PATHS_KEPT: usize = 65_536;
/// How long an inotify event a daemon read waits for the change behind it:
/// the kernel tells watchers during the syscall, sdtrace sees the change
/// when it returns, possibly after the daemon has read it and reacted. On
/// a loaded machine an `rm`'s unlink was seen more than 50 ms after the
/// repair it caused (its record waiting in its CPU's batch, or the `rm`
/// preempted before returning); a repair whose change never comes is only
/// reported this much later.
pub const PENDING_NS: u64 = 2_000_000_000;
/// A service or command run this soon after the daemon changed something
/// else was refreshed by that change.
pub const REFRESH_NS: u64 = 5_000_000_000;

/// When the syscall behind the current fact entered the kernel, and when it
/// returned (the same when the entry is not known).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct SyscallTime {
    pub(super) entered: u64,
    pub(super) returned: u64,
}

/// A watch by a process outside every daemon.
pub(super) struct OutsideWatch {
    pub(super) ifd: i32,
    pub(super) wd: i32,
    pub(super) path: String,
}

/// The operation that last changed a path.
#[derive(Clone, Copy, Debug)]
pub(super) struct PathChange {
    pub(super) id: u64,
    /// Its daemon; `None` for an outside change.
    pub(super) daemon: Option<usize>,
}

/// An inotify event about a path a daemon read before the change behind it
/// was seen.
#[derive(Clone, Copy, Debug)]
struct Notice {
    daemon: usize,
    /// When the daemon read it.
    read_ns: u64,
}

/// A repair closed while the change its daemon was told of had not
/// returned yet.
pub(super) struct Deferred {
    pub(super) op: Op,
    pub(super) daemon: usize,
    /// When its wait ends.
    pub(super) until_ns: u64,
}

#[derive(Default)]
pub(super) struct Causes {
    /// The resources each daemon watches.
    watched: HashSet<(usize, Resource)>,
    /// A watch that failed (the path is missing), per process: the next
    /// watch on its directory is that path's fallback.
    missing: HashMap<u32, String>,
    watches: Watches,
    /// What processes outside every daemon watch: one that then writes
    /// such a path is an unknown daemon.
    outside_watches: HashMap<u32, Vec<OutsideWatch>>,
    /// The operation that last changed each path, and its daemon.
    path_ops: HashMap<String, PathChange>,
    /// Paths daemons were notified of before the change was seen.
    pending: HashMap<String, Vec<Notice>>,
    /// Repairs waiting, each until the change their daemon was told of is
    /// reported or its wait ends.
    deferred: Vec<Deferred>,
    /// `path_ops`'s paths, oldest first.
    path_order: VecDeque<String>,
}

impl Causes {
    /// Daemon `d` watches `r`; whether it did not before.
    pub(super) fn watch(&mut self, d: usize, r: Resource) -> bool {
        self.watched.insert((d, r))
    }

    pub(super) fn watches(&self, d: usize, r: &Resource) -> bool {
        self.watched.contains(&(d, r.clone()))
    }

    pub(super) fn watched_by_any(&self, r: &Resource) -> bool {
        self.watched.iter().any(|(_, w)| w == r)
    }

    /// `pid`'s watch on `path` failed: the path is missing.
    pub(super) fn missed(&mut self, pid: u32, path: &str) {
        self.missing.insert(pid, path.to_owned());
    }

    /// `pid`'s watch `wd` on `path` through inotify fd `ifd`, and the path
    /// it stands for: `path`, or the missing path it is the directory of.
    pub(super) fn add_watch(&mut self, pid: u32, ifd: i32, wd: i32, path: &str) -> String {
        self.watches.add(pid, ifd, wd, path.to_owned());
        match self.missing.get(&pid) {
            Some(m) if resource::parent(m) == path => self.missing.remove(&pid).unwrap_or_default(),
            _ => path.to_owned(),
        }
    }

    /// The watch is gone (the kernel said `IN_IGNORED`).
    pub(super) fn remove_watch(&mut self, pid: u32, ifd: i32, wd: i32) {
        self.watches.remove(pid, ifd, wd);
    }

    /// The path an event `pid` read from `ifd` is about.
    pub(super) fn path_of(&self, pid: u32, ifd: i32, ev: &inotify::Event) -> Option<String> {
        self.watches.path_of(pid, ifd, ev)
    }

    /// A process outside every daemon watches `path` (watch `wd` of
    /// inotify fd `ifd`).
    pub(super) fn outside_watch(&mut self, pid: u32, ifd: i32, wd: i32, path: &str) {
        let list = self.outside_watches.entry(pid).or_default();
        if list.len() < 256 {
            list.push(OutsideWatch {
                ifd,
                wd,
                path: path.to_owned(),
            });
        }
    }

    /// What outside process `pid` watches.
    pub(super) fn outside_watches(&self, pid: u32) -> Option<&[OutsideWatch]> {
        self.outside_watches.get(&pid).map(Vec::as_slice)
    }

    pub(super) fn take_outside_watches(&mut self, pid: u32) -> Vec<OutsideWatch> {
        self.outside_watches.remove(&pid).unwrap_or_default()
    }

    /// Forgets an exited process's watches.
    pub(super) fn forget(&mut self, pid: u32) {
        self.watches.forget(pid);
        self.outside_watches.remove(&pid);
        self.missing.remove(&pid);
    }

    /// The operation that last changed `path`.
    pub(super) fn last_op(&self, path: &str) -> Option<PathChange> {
        self.path_ops.get(path).copied()
    }

    /// Daemon `d` read an event about `path` at `ts` whose change has not
    /// been seen (or was its own).
    pub(super) fn notice(&mut self, path: String, d: usize, ts: u64) {
        let list = self.pending.entry(path).or_default();
        list.retain(|n| n.read_ns + PENDING_NS > ts);
        list.push(Notice {
            daemon: d,
            read_ns: ts,
        });
    }

    /// Operation `id` (of `daemon`) changed `path` at `ts`; the daemons
    /// that had been told of it already, who now learn what it was.
    pub(super) fn changed(&mut self, path: &str, change: PathChange, ts: u64) -> Vec<usize> {
        let mut told = Vec::new();
        if let Some(waiting) = self.pending.get_mut(path) {
            // A daemon's own change is no answer to what it was told of: it
            // may have repaired a change whose syscall has not returned yet.
            waiting.retain(|n| {
                if Some(n.daemon) == change.daemon {
                    return ts < n.read_ns + PENDING_NS;
                }
                if ts < n.read_ns + PENDING_NS {
                    told.push(n.daemon);
                }
                false
            });
            if waiting.is_empty() {
                self.pending.remove(path);
            }
        }
        if self.path_ops.insert(path.to_owned(), change).is_none() {
            self.path_order.push_back(path.to_owned());
            if self.path_order.len() > PATHS_KEPT {
                if let Some(old) = self.path_order.pop_front() {
                    self.path_ops.remove(&old);
                }
            }
        }
        told
    }

    /// When daemon `d` last read an event about `path` whose change has
    /// not been seen.
    pub(super) fn told_at(&self, path: &str, d: usize) -> Option<u64> {
        self.pending
            .get(path)
            .and_then(|l| l.iter().filter(|n| n.daemon == d).map(|n| n.read_ns).max())
    }

    /// Whether daemon `d`'s open operation `o` answers the outside change
    /// of `path` being seen now, though that change returned later: its
    /// first change entered the kernel after this one did. Without entry
    /// times, whether `d` read an event about the path lately whose change
    /// had not been seen. An operation that changed nothing yet preceded it.
    pub(super) fn answers(&self, o: &Op, d: usize, path: &str, now: SyscallTime) -> bool {
        if now.entered < now.returned {
            return o.start_ns >= now.entered || o.first_change_entered >= now.entered;
        }
        o.first_change_entered > 0
            && self.pending.get(path).is_some_and(|l| {
                l.iter()
                    .any(|n| n.daemon == d && now.entered < n.read_ns + PENDING_NS)
            })
    }

    pub(super) fn defer(&mut self, repair: Deferred) {
        self.deferred.push(repair);
    }

    /// Takes the deferred repairs `due` picks (by the repair and when its
    /// wait ends).
    pub(super) fn take_due(&mut self, due: impl Fn(&Op, u64) -> bool) -> Vec<Deferred> {
        if self.deferred.is_empty() {
            return Vec::new();
        }
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.deferred)
            .into_iter()
            .partition(|r| due(&r.op, r.until_ns));
        self.deferred = later;
        now
    }
}

/// What made `daemon` make its repair `op`: the change by someone else it
/// `answered` (tied by inotify when the daemon was told of it), a refresh
/// from the resource it changed just before, its schedule, or its startup.
pub(super) fn cause_of(op: &Op, daemon: &Daemon, answered: Option<&Change>) -> Cause {
    if let Some(c) = answered {
        let via = daemon.how_it_saw(c.id).unwrap_or(Via::Time);
        return Cause {
            kind: if c.drift {
                CauseKind::Drift
            } else {
                CauseKind::Change
            },
            id: Some(c.id),
            resource: Some(op.resource.clone()),
            via: Some(via),
        };
    }
    match &daemon.last_converge {
        Some(last)
            if op.resource.takes_refresh()
                && last.resource != op.resource
                && op.start_ns.saturating_sub(last.end_ns) <= REFRESH_NS =>
        {
            Cause {
                kind: CauseKind::Refresh,
                id: Some(last.id),
                resource: Some(last.resource.clone()),
                via: None,
            }
        }
        _ => {
            if daemon.agent.is_some_and(|a| a.periodic) || op.after_notice {
                Cause::plain(CauseKind::Scheduled)
            } else if daemon.before_attach {
                Cause::plain(CauseKind::BeforeAttach)
            } else {
                Cause::plain(CauseKind::Startup)
            }
        }
    }
}
