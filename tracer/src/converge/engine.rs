//! Turns facts into derived events: who belongs to which daemon (by
//! ancestry), which syscalls make up one change of one resource, which
//! changes are drifts and which converges, and what caused each converge.
//!
//! A change is an *operation*: every syscall one process makes on one
//! resource until it goes quiet, exits, or someone else touches the
//! resource; a command (`dpkg -i`, an init script) is one operation with
//! everything its process tree does folded in.
//!
//! The engine applies each fact across the state it composes: which
//! processes are whose (`membership`), the operations under way and who
//! manages what (`operations`), watches and notifications and what they
//! caused (`causes`), who changed a resource last and the flaps that makes
//! (`flaps`), and the counts (`summary`).

use super::causes::{self, Causes, Deferred, PathChange, SyscallTime};
use super::flaps::{Change, Flaps};
use super::inotify;
use super::lookback::Lookback;
use super::membership::{LastConverge, Membership, Side};
use super::model::{Actor, Cause, Derived, Fact, FileOp, Kind, Via};
use super::operations::{CommandOp, Op, Operations};
use super::resource::{self, Resource};
use super::summary::Summary;

pub use super::causes::{PENDING_NS, REFRESH_NS};
pub use super::flaps::FLAP_SWITCHES;
pub use super::membership::{ProcessInfo, Selection};
pub use super::operations::{CREATED_IDLE_NS, IDLE_NS};
pub use super::summary::{Row, SummaryRow};

#[derive(Default)]
pub struct Engine {
    membership: Membership,
    operations: Operations,
    causes: Causes,
    flaps: Flaps,
    lookback: Lookback,
    summary: Summary,
    /// The syscall behind the current fact.
    now: SyscallTime,
    out: Vec<Derived>,
    /// A flap the change being reported made: it follows that change's line.
    flap_next: Option<Derived>,
    next_id: u64,
}

impl Engine {
    #[must_use]
    pub fn new(selection: Selection) -> Self {
        Self {
            membership: Membership::new(selection),
            next_id: 1,
            ..Self::default()
        }
    }

    /// Takes the processes alive at the start: the daemons among them, and
    /// their descendants (given parent first or not: ancestry is walked).
    pub fn adopt<'p>(&mut self, procs: impl Iterator<Item = ProcessInfo<'p>>) {
        let procs: Vec<_> = procs.collect();
        self.membership.adopt(&procs);
    }

    /// Whether `pid`'s place (a daemon's, a command's, or outside) is known.
    #[must_use]
    pub fn knows(&self, pid: u32) -> bool {
        self.membership.knows(pid)
    }

    /// Places a process first seen now by its ancestors (nearest first):
    /// a fork's child can run before its parent's fork returns, so
    /// ancestry, not the fork, decides.
    pub fn place(&mut self, pid: u32, ancestors: impl Iterator<Item = u32>) {
        self.membership.place(pid, ancestors);
    }

    /// A process placed outside whose exec was not seen (it ran before the
    /// attach and the process table caught up since) may be a daemon by
    /// what it runs now (`me`, asked only for a process placed outside).
    pub fn recognise_late<'p>(&mut self, pid: u32, me: impl FnOnce() -> ProcessInfo<'p>) {
        if self.side(pid) != Side::Outside {
            return;
        }
        let me = me();
        if let Some(d) = self.membership.recognise(pid, me.comm, me.exe, &me.argv) {
            self.membership.make_root(pid, d);
        }
    }

    /// Whether a process's reads and stats matter: only a daemon's tree's
    /// do.
    #[must_use]
    pub fn inspects_matter(&self, pid: u32) -> bool {
        self.tree_daemon(pid).is_some()
    }

    /// Whether `pid`'s inotify watches matter: `Some(true)` for a daemon's
    /// tree, `Some(false)` for a process that may turn out to be a daemon
    /// nobody named.
    #[must_use]
    pub fn watches_matter(&self, pid: u32) -> Option<bool> {
        if self.tree_daemon(pid).is_some() {
            Some(true)
        } else if self.membership.is_auto() && self.side(pid) == Side::Outside {
            Some(false)
        } else {
            None
        }
    }

    /// The daemon whose tree `pid` is in, the commands it runs included:
    /// whichever of its processes watches or looks, the daemon learns.
    fn tree_daemon(&self, pid: u32) -> Option<usize> {
        match self.side(pid) {
            Side::Daemon(d) => Some(d),
            Side::Command(id) => self.operations.get(id).and_then(|o| o.daemon),
            Side::Outside | Side::Detached => None,
        }
    }

    /// Whether command operation `id` is an `exec:` one: its tree's
    /// changes of resources are its daemon's changes, each its own.
    fn is_exec(&self, id: u64) -> bool {
        self.operations
            .get(id)
            .is_some_and(|o| o.daemon.is_some() && o.command.is_some_and(|c| c.exec))
    }

    /// One fact, of a syscall that entered the kernel at `entered` and
    /// returned at `ts` (the same when the entry is not known).
    pub fn observe(
        &mut self,
        entered: u64,
        ts: u64,
        fact: &Fact<'_>,
        actor: &dyn Fn(u32) -> Actor,
    ) {
        self.now = SyscallTime {
            entered: entered.min(ts),
            returned: ts,
        };
        match *fact {
            Fact::Exec {
                pid,
                comm,
                exe,
                argv,
            } => self.exec(ts, pid, comm, exe, argv, actor),
            Fact::Exit { pid } => self.exit(pid),
            Fact::Watch {
                pid,
                ifd,
                path,
                wd,
                existing,
            } => self.watch(ts, pid, ifd, path, wd, existing, actor),
            Fact::Inotify {
                pid,
                ifd,
                ref events,
            } => self.inotify(ts, pid, ifd, events),
            Fact::File { pid, path, op } => self.file(ts, pid, path, op, actor),
            Fact::Rename { pid, from, to } => self.rename(ts, pid, from, to, actor),
        }
    }

    /// Ends the operations quiet since before `now - IDLE_NS`.
    pub fn tick(&mut self, now: u64) {
        self.resolve_deferred(|_, until| until <= now);
        let idle = self.operations.idle(now);
        self.close_all(idle);
    }

    /// Ends every operation: the run is over.
    pub fn finish(&mut self) {
        let all = self.operations.ids();
        self.close_all(all);
        self.resolve_deferred(|_, _| true);
    }

    /// Reports the deferred repairs `due` picks, with their causes as now
    /// known.
    fn resolve_deferred(&mut self, due: impl Fn(&Op, u64) -> bool) {
        for repair in self.causes.take_due(due) {
            self.report_converge(repair.daemon, repair.op);
        }
    }

    pub fn take(&mut self) -> Vec<Derived> {
        std::mem::take(&mut self.out)
    }

    /// The summary: a row per resource and daemon, in resource order; a
    /// resource's flaps are the most changes of hands between two writers.
    #[must_use]
    pub fn summary(&self) -> Vec<SummaryRow> {
        self.summary.rows(&self.flaps.counts())
    }

    fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn close_all(&mut self, mut ids: Vec<u64>) {
        ids.sort_unstable();
        for id in ids {
            self.close(id);
        }
    }

    fn side(&self, pid: u32) -> Side {
        self.membership
            .side(pid, |command| self.operations.is_open(command))
    }

    fn exec(
        &mut self,
        ts: u64,
        pid: u32,
        comm: &str,
        exe: &str,
        argv: &[String],
        actor: &dyn Fn(u32) -> Actor,
    ) {
        if self.membership.is_root(pid) {
            // A daemon started through a wrapper (a shim, `exec` in a
            // start script) is still the daemon.
            return;
        }
        let member = self.membership.member(pid);
        if member.daemon.is_none() && member.command.is_none() {
            if let Some(d) = self.membership.recognise(pid, comm, exe, argv) {
                self.membership.make_root(pid, d);
                return;
            }
        }
        let side = self.side(pid);
        let daemon = match side {
            Side::Command(_) | Side::Detached => return,
            Side::Daemon(d) => Some(d),
            Side::Outside => None,
        };
        if let Some(cmd) = resource::command(argv) {
            let ops = cmd
                .resources
                .into_iter()
                .map(|r| {
                    let op = CommandOp {
                        changes: cmd.changes,
                        exec: false,
                    };
                    self.start_command(ts, pid, daemon, r, cmd.verb, op, actor)
                })
                .collect::<Vec<_>>();
            if let Some(&first) = ops.first() {
                self.membership.not_outside(pid);
                self.membership.enter_command(pid, daemon, first);
            }
        } else if let Some(d) = daemon {
            let prog = argv
                .first()
                .map_or(comm, |a| a.rsplit('/').next().unwrap_or(a));
            let shell = matches!(prog, "sh" | "dash" | "bash" | "busybox" | "env");
            if !shell && !exe.is_empty() && !self.membership.daemon(d).owns_dir(exe) {
                let op = CommandOp {
                    changes: false,
                    exec: true,
                };
                let id = self.start_command(
                    ts,
                    pid,
                    daemon,
                    Resource::Exec(exe.to_owned()),
                    "run",
                    op,
                    actor,
                );
                self.membership.enter_command(pid, daemon, id);
            }
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one fact's facets, each from a different field of the syscall"
    )]
    fn start_command(
        &mut self,
        ts: u64,
        pid: u32,
        daemon: Option<usize>,
        r: Resource,
        verb: &'static str,
        op: CommandOp,
        actor: &dyn Fn(u32) -> Actor,
    ) -> u64 {
        // The daemon moved on: what it was changing is done, and whoever
        // else was at this resource has finished before it.
        if let Some(d) = daemon {
            let mine = self.operations.files_of_daemon(d);
            self.close_all(mine);
            if op.changes && !op.exec {
                self.drift_before(d, &r);
            }
        }
        self.close_others_on(&r, pid, None);
        let id = self.new_op(ts, pid, daemon, r, actor);
        let o = self.operations.get_mut(id).expect("just opened");
        o.command = Some(op);
        o.ops.push(verb);
        self.operations.add_command(pid, id);
        id
    }

    fn new_op(
        &mut self,
        ts: u64,
        pid: u32,
        daemon: Option<usize>,
        r: Resource,
        actor: &dyn Fn(u32) -> Actor,
    ) -> u64 {
        let id = self.next_id();
        self.operations.start(Op {
            id,
            daemon,
            resource: r,
            actor: actor(pid),
            ops: Vec::new(),
            changed: false,
            start_ns: self.now.entered.min(ts),
            last_ns: ts,
            change_entered: 0,
            first_change_entered: 0,
            command: None,
            after_notice: daemon.is_some_and(|d| self.membership.daemon(d).notified),
            created: false,
            removed: false,
        });
        id
    }

    fn exit(&mut self, pid: u32) {
        if let Some(ids) = self.operations.take_commands(pid) {
            self.close_all(ids);
        }
        let mine = self.operations.files_of(pid);
        self.close_all(mine);
        self.membership.exit(pid);
        self.causes.forget(pid);
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one fact's facets, each from a different field of the syscall"
    )]
    fn watch(
        &mut self,
        ts: u64,
        pid: u32,
        ifd: i32,
        path: &str,
        wd: Result<i32, i64>,
        existing: bool,
        actor: &dyn Fn(u32) -> Actor,
    ) {
        if resource::is_pseudo(path) {
            return;
        }
        let d = match (self.tree_daemon(pid), self.side(pid)) {
            (Some(d), _) => d,
            (None, Side::Outside) if self.membership.is_auto() => {
                if let Ok(wd) = wd {
                    self.causes.outside_watch(pid, ifd, wd, path);
                }
                return;
            }
            _ => return,
        };
        let Ok(wd) = wd else {
            self.causes.missed(pid, path);
            return;
        };
        let target = self.causes.add_watch(pid, ifd, wd, path);
        let mut how = vec!["watch"];
        if target != path {
            how.push("parent-dir");
        }
        if existing {
            how.push("before-attach");
        }
        self.watched_resource(ts, pid, d, target, how, actor);
    }

    fn watched_resource(
        &mut self,
        ts: u64,
        pid: u32,
        d: usize,
        path: String,
        ops: Vec<&'static str>,
        actor: &dyn Fn(u32) -> Actor,
    ) {
        let r = Resource::File(path);
        self.operations.manage(r.clone(), d);
        if !self.causes.watch(d, r.clone()) {
            return;
        }
        let id = self.next_id();
        let daemon = self.membership.name(d).to_owned();
        self.out.push(Derived {
            kind: Kind::Watch,
            id,
            ts_ns: ts,
            resource: r,
            daemon,
            actor: actor(pid),
            ops,
            cause: None,
            ttc_ns: None,
            flap: None,
        });
    }

    fn inotify(&mut self, ts: u64, pid: u32, ifd: i32, events: &[inotify::Event]) {
        let Some(d) = self.tree_daemon(pid) else {
            return;
        };
        for ev in events {
            if ev.mask & inotify::IN_IGNORED != 0 {
                self.causes.remove_watch(pid, ifd, ev.wd);
                continue;
            }
            let Some(path) = self.causes.path_of(pid, ifd, ev) else {
                continue;
            };
            self.membership.daemon_mut(d).notified = true;
            // A change still under way stays open, one change (a truncate
            // and its write): the daemon's own change, when it comes, ends
            // it first, so it is reported before the repair.
            match self.causes.last_op(&path) {
                Some(last) if last.daemon != Some(d) => {
                    self.membership.daemon_mut(d).saw(last.id, Via::Inotify);
                }
                // Unknown, or its own change coming back: the change it is
                // told of may not have returned yet.
                _ => self.causes.notice(path, d, ts),
            }
        }
    }

    fn file(&mut self, ts: u64, pid: u32, path: &str, op: FileOp, actor: &dyn Fn(u32) -> Actor) {
        if resource::is_pseudo(path) {
            return;
        }
        let d = match self.side(pid) {
            Side::Detached => return,
            Side::Command(id) => {
                if !op.changes() {
                    if let Some(d) = self.tree_daemon(pid) {
                        self.inspected(d, path);
                    }
                    return;
                }
                if !self.is_exec(id) {
                    self.fold(id, path);
                    return;
                }
                // A command the daemon ran (`chmod`, `cp`, `sed -i`)
                // changing a file: the daemon's change of that file.
                self.tree_daemon(pid)
            }
            Side::Daemon(d) => {
                if !op.changes() {
                    self.inspected(d, path);
                }
                Some(d)
            }
            Side::Outside => {
                if !op.changes() {
                    return;
                }
                // Unmanaged or not: a daemon may yet show it manages it.
                self.unknown_daemon(ts, pid, path, actor)
            }
        };
        let r = Resource::File(path.to_owned());
        if let Some(d) = d {
            if self.membership.daemon(d).owns_dir(path) {
                return;
            }
            let manages = self.operations.manager(&r) == Some(d)
                || self.causes.watches(d, &r)
                || self.operations.file_op(pid, &r).is_some();
            if op.changes() {
                self.operations.manage(r.clone(), d);
            } else if !manages {
                // Reading a file is not managing it: a daemon's tree reads
                // facts, libraries and its own state that it never puts
                // back (facter reads /etc/passwd, /etc/fstab, ... on every
                // puppet run). A read is a CHECK only of a resource the
                // daemon is known to manage: one it watches or has changed.
                return;
            }
        }
        self.touch(ts, pid, d, r, op, path, actor);
    }

    /// A process outside every daemon that writes a path it watches is a
    /// daemon nobody named (only when none was named).
    fn unknown_daemon(
        &mut self,
        ts: u64,
        pid: u32,
        path: &str,
        actor: &dyn Fn(u32) -> Actor,
    ) -> Option<usize> {
        let watched = self.causes.outside_watches(pid)?;
        if !watched
            .iter()
            .any(|w| w.path == path || w.path == resource::parent(path))
        {
            return None;
        }
        if ["/run/", "/var/log/", "/tmp/systemd"]
            .iter()
            .any(|p| resource::local(path).starts_with(p))
        {
            return None;
        }
        let who = actor(pid);
        if ["systemd", "dockerd", "containerd", "udev", "sdtrace"]
            .iter()
            .any(|s| who.comm.starts_with(s))
        {
            return None;
        }
        let d = self.membership.daemon_named(&who.comm, None);
        self.membership.make_root(pid, d);
        for w in self.causes.take_outside_watches(pid) {
            let target = self.causes.add_watch(pid, w.ifd, w.wd, &w.path);
            self.watched_resource(ts, pid, d, target, vec!["watch"], actor);
        }
        Some(d)
    }

    /// A process of daemon `d`'s tree looked at `path`: a change someone
    /// else made to it, already seen, is one `d` saw by polling.
    fn inspected(&mut self, d: usize, path: &str) {
        if let Some(last) = self.causes.last_op(path) {
            if last.daemon != Some(d) {
                self.membership.daemon_mut(d).saw(last.id, Via::Poll);
            }
        }
    }

    /// Daemon `d` changes `r`, which nobody was known to manage when it was
    /// last changed from outside: that change was a drift, reported now.
    fn drift_before(&mut self, d: usize, r: &Resource) {
        let Some(op) = self.lookback.take(r, self.now.entered) else {
            return;
        };
        self.report_drift(op, d);
    }

    fn report_drift(&mut self, op: Op, manager: usize) {
        let name = self.membership.name(manager).to_owned();
        let writer = op.actor.comm.clone();
        let resource = op.resource.clone();
        self.record_change(&op, writer, true);
        self.emit(Kind::Drift, op, name, None, None);
        self.resolve_deferred(|o, _| o.resource == resource);
    }

    /// A change inside a command's tree: part of the command's operation.
    fn fold(&mut self, id: u64, path: &str) {
        let daemon = match self.operations.get_mut(id) {
            Some(o) => {
                o.changed = true;
                o.daemon
            }
            None => return,
        };
        self.remember_path(path, id, daemon);
    }

    /// Operation `id` (of `daemon`) changed `path`: the daemons told of it
    /// before it was seen learn what it was.
    fn remember_path(&mut self, path: &str, id: u64, daemon: Option<usize>) {
        let ts = self.operations.get(id).map_or(0, |o| o.last_ns);
        for d in self.causes.changed(path, PathChange { id, daemon }, ts) {
            self.membership.daemon_mut(d).saw(id, Via::Inotify);
        }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one fact's facets, each from a different field of the syscall"
    )]
    fn touch(
        &mut self,
        ts: u64,
        pid: u32,
        daemon: Option<usize>,
        r: Resource,
        op: FileOp,
        path: &str,
        actor: &dyn Fn(u32) -> Actor,
    ) {
        if let (Some(d), true) = (daemon, op.changes()) {
            self.drift_before(d, &r);
        }
        // A look ends nobody's change: an outside change under way when a
        // daemon's check comes by is still one change.
        if op.changes() {
            self.close_others_on(&r, pid, daemon.is_none().then_some(path));
        }
        let id = match self.operations.file_op(pid, &r) {
            Some(id) => id,
            None => {
                let id = self.new_op(ts, pid, daemon, r.clone(), actor);
                self.operations.set_file_op(pid, r, id);
                id
            }
        };
        let entered = self.now.entered;
        self.operations
            .get_mut(id)
            .expect("open op")
            .record(ts, entered, op);
        if op.changes() {
            self.remember_path(path, id, daemon);
        }
    }

    /// Whoever else is at `r` is done before `pid` starts, except a
    /// daemon already reacting to this outside change of `changing` (it read
    /// the event before the change's syscall returned).
    fn close_others_on(&mut self, r: &Resource, pid: u32, changing: Option<&str>) {
        let now = self.now;
        let others: Vec<u64> = self
            .operations
            .others_on(r, pid)
            .filter(|o| match (o.daemon, changing) {
                (Some(d), Some(path)) => !self.causes.answers(o, d, path, now),
                _ => true,
            })
            .map(|o| o.id)
            .collect();
        self.close_all(others);
    }

    fn rename(&mut self, ts: u64, pid: u32, from: &str, to: &str, actor: &dyn Fn(u32) -> Actor) {
        match self.side(pid) {
            Side::Detached => return,
            Side::Command(id) if !self.is_exec(id) => {
                self.fold(id, from);
                self.fold(id, to);
                return;
            }
            _ => {}
        }
        // A temporary file this process just wrote, moved into place: one
        // change of the target.
        let temp = self
            .operations
            .take_file_op(pid, Resource::File(from.to_owned()));
        if let Some(t) = &temp {
            if self.operations.manager(&t.resource) == t.daemon
                && !self.causes.watched_by_any(&t.resource)
            {
                self.operations.unmanage(&t.resource);
            }
        }
        self.file(ts, pid, to, FileOp::Rename, actor);
        if let Some(t) = temp {
            if let Some(id) = self.operations.file_op(pid, &Resource::File(to.to_owned())) {
                self.operations.get_mut(id).expect("open op").absorb(t);
            }
        } else if self.operations.is_managed(&Resource::File(from.to_owned())) {
            // The managed file itself moved away.
            self.file(ts, pid, from, FileOp::Rename, actor);
        }
    }

    fn close(&mut self, id: u64) {
        let Some(op) = self.operations.end(id) else {
            return;
        };
        let changed = op.did_change();
        if op.created && op.removed {
            if op.daemon.is_some() && self.operations.manager(&op.resource) == op.daemon {
                self.operations.unmanage(&op.resource);
            }
            return;
        }
        if op.daemon.is_some() && changed {
            // A change it reacted to before that change returned (a look
            // ends nobody's change).
            self.close_others_on(&op.resource, op.actor.pid, None);
        }
        match op.daemon {
            Some(d) => {
                if !changed && op.command.is_some_and(|c| c.exec) {
                    return;
                }
                self.operations.manage(op.resource.clone(), d);
                if changed {
                    self.converge(d, op);
                } else {
                    let name = self.membership.name(d).to_owned();
                    self.emit(Kind::Check, op, name, None, None);
                }
            }
            None => {
                if !changed {
                    return;
                }
                match self.operations.manager(&op.resource) {
                    Some(m) => self.report_drift(op, m),
                    None => self.lookback.keep(op),
                }
            }
        }
    }

    /// A repair by daemon `d`, reported now, or once the outside change it
    /// answers is: the daemon read an inotify event about the file that no
    /// change seen yet explains, and the change's syscall may return after
    /// the whole repair (its process preempted inside it).
    fn converge(&mut self, d: usize, op: Op) {
        let told = match &op.resource {
            Resource::File(path) if self.answered_by(d, &op).is_none() => {
                self.causes.told_at(path, d)
            }
            _ => None,
        };
        match told {
            Some(t) if t <= op.start_ns.max(op.first_change_entered) => {
                self.membership.daemon_mut(d).last_converge = Some(LastConverge {
                    id: op.id,
                    resource: op.resource.clone(),
                    end_ns: op.last_ns,
                });
                self.causes.defer(Deferred {
                    op,
                    daemon: d,
                    until_ns: t + PENDING_NS,
                });
            }
            _ => self.report_converge(d, op),
        }
    }

    /// The change by someone else, already seen, that daemon `d`'s repair
    /// answers: the last one on its resource, begun before the repair ended.
    fn answered_by(&self, d: usize, op: &Op) -> Option<&Change> {
        self.flaps
            .last_change_by_other(&op.resource, self.membership.name(d), op.last_ns)
    }

    fn report_converge(&mut self, d: usize, op: Op) {
        let name = self.membership.name(d).to_owned();
        let answered = self.answered_by(d, &op);
        let ttc = answered.map(|c| op.last_ns - c.at_ns);
        let cause = causes::cause_of(&op, self.membership.daemon(d), answered);
        self.record_change(&op, name.clone(), false);
        self.membership.daemon_mut(d).last_converge = Some(LastConverge {
            id: op.id,
            resource: op.resource.clone(),
            end_ns: op.last_ns,
        });
        self.emit(Kind::Converge, op, name, Some(cause), ttc);
    }

    /// Records who changed a resource last, and whether that makes a flap.
    fn record_change(&mut self, op: &Op, writer: String, drift: bool) {
        let change = Change {
            id: op.id,
            writer,
            at_ns: op.changed_ns(),
            drift,
        };
        let Some(flap) = self.flaps.record(&op.resource, change, op.last_ns) else {
            return;
        };
        let id = self.next_id();
        let daemon = self
            .operations
            .manager(&op.resource)
            .map_or_else(String::new, |d| self.membership.name(d).to_owned());
        self.flap_next = Some(Derived {
            kind: Kind::Flap,
            id,
            ts_ns: op.last_ns,
            resource: op.resource.clone(),
            daemon,
            actor: op.actor.clone(),
            ops: Vec::new(),
            cause: None,
            ttc_ns: None,
            flap: Some(flap),
        });
    }

    fn emit(
        &mut self,
        kind: Kind,
        op: Op,
        daemon: String,
        cause: Option<Cause>,
        ttc_ns: Option<u64>,
    ) {
        self.summary.count(
            op.resource.to_string(),
            daemon.clone(),
            kind,
            cause.as_ref(),
            ttc_ns,
        );
        self.out.push(Derived {
            kind,
            id: op.id,
            ts_ns: op.reported_ns(),
            resource: op.resource,
            daemon,
            actor: op.actor,
            ops: op.ops,
            cause,
            ttc_ns,
            flap: None,
        });
        self.out.extend(self.flap_next.take());
    }
}
