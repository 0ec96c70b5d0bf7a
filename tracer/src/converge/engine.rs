//! Turns facts into derived events: who belongs to which daemon (by
//! ancestry), which syscalls make up one change of one resource, which
//! changes are drifts and which converges, and what caused each converge.
//!
//! A change is an *operation*: every syscall one process makes on one
//! resource until it goes quiet, exits, or someone else touches the
//! resource; a command (`dpkg -i`, an init script) is one operation with
//! everything its process tree does folded in.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use super::inotify::{self, Watches};
use super::model::{Actor, Cause, CauseKind, Derived, Fact, FileOp, Flap, Kind, Via};
use super::resource::{self, Agent, Resource};

/// A process quiet on a resource this long has finished changing it.
pub const IDLE_NS: u64 = 100_000_000;
/// A service or command run this soon after the daemon changed something
/// else was refreshed by that change.
pub const REFRESH_NS: u64 = 5_000_000_000;
/// Changes of hands between the same two writers that make a flap.
pub const FLAP_SWITCHES: u64 = 3;
/// Paths remembered for tying inotify events back to the change behind them.
const PATHS_KEPT: usize = 65_536;
/// How long an inotify event a daemon read waits for the change behind it:
/// the kernel tells watchers during the syscall, sdtrace sees the change
/// when it returns, possibly after the daemon has read it and reacted.
pub const PENDING_NS: u64 = 50_000_000;
/// Outside processes remembered as such.
const OUTSIDERS_KEPT: usize = 65_536;
/// Exited members remembered for their late children.
const EXITED_KEPT: usize = 4096;
/// Drift ids a daemon was told about through inotify, remembered.
const TRIGGERS_KEPT: usize = 1024;

/// Which processes are daemons: the ones named, or (when none is) known
/// agents and processes that watch a path and then write it.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub pids: Vec<u32>,
    pub names: Vec<String>,
}

impl Selection {
    fn is_auto(&self) -> bool {
        self.pids.is_empty() && self.names.is_empty()
    }
}

/// A process alive at the start, as the process table has it.
#[derive(Clone, Debug)]
pub struct ProcessInfo<'a> {
    /// Its tgid.
    pub pid: u32,
    pub ppid: u32,
    pub comm: &'a str,
    /// The executable's path.
    pub exe: &'a str,
    /// argv[0] first.
    pub argv: Vec<String>,
}

struct Daemon {
    name: String,
    agent: Option<Agent>,
    /// Whether it has read an inotify event yet.
    notified: bool,
    /// Changes it learnt of through inotify (operation ids), newest last.
    triggers: VecDeque<u64>,
    /// Its last converge: id, resource, when it ended.
    last_converge: Option<(u64, Resource, u64)>,
}

impl Daemon {
    fn owns_dir(&self, path: &str) -> bool {
        self.agent.is_some_and(|a| {
            a.own_dirs
                .iter()
                .any(|d| resource::is_under(resource::local(path), d))
        })
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Member {
    daemon: Option<usize>,
    /// The command operation (by its first id) whose tree this process is in.
    command: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Daemon(usize),
    Outside,
    /// Inside a command's tree: folded into that command's operation.
    Command(u64),
    /// Left behind by a finished command (a service's processes): neither
    /// the daemon's doing nor a drift.
    Detached,
}

#[derive(Clone, Copy, Debug)]
struct CommandOp {
    changes: bool,
    /// An `exec:` operation: changed only if its tree changed something.
    exec: bool,
}

struct Op {
    id: u64,
    daemon: Option<usize>,
    resource: Resource,
    actor: Actor,
    ops: Vec<&'static str>,
    changed: bool,
    start_ns: u64,
    last_ns: u64,
    command: Option<CommandOp>,
    /// When its last change entered the kernel: what a repair of it is
    /// timed from.
    change_entered: u64,
    /// When its first change entered the kernel (0: none yet): when it is
    /// reported at.
    first_change_entered: u64,
    /// Whether its daemon had been told of any change when it started.
    after_notice: bool,
    /// It created the path, and its last change removed it again (a lock
    /// directory, a temporary file): nothing is left to report.
    created: bool,
    removed: bool,
}

/// The last change of a resource.
struct Change {
    id: u64,
    writer: String,
    /// When its last syscall that changed the resource entered the kernel.
    at_ns: u64,
    drift: bool,
}

#[derive(Default)]
struct FlapState {
    last_writer: Option<String>,
    pairs: HashMap<(String, String), PairState>,
}

#[derive(Default)]
struct PairState {
    switches: u64,
    first_ns: u64,
    last_ns: u64,
    reported: bool,
}

/// One row of the summary table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    pub checks: u64,
    pub drifts: u64,
    pub converges: u64,
    pub ttc_ns: Vec<u64>,
    pub last_cause: Option<String>,
    pub flaps: u64,
}

#[derive(Default)]
pub struct Engine {
    selection: Selection,
    daemons: Vec<Daemon>,
    members: HashMap<u32, Member>,
    /// The daemons' own processes (not their children).
    roots: HashSet<u32>,
    /// Processes known to be outside every daemon's tree.
    outsiders: HashSet<u32>,
    /// Exited members, forgotten a while later: a child's first event can
    /// come after its parent's exit.
    exited: VecDeque<u32>,
    open: HashMap<u64, Op>,
    open_files: HashMap<(u32, Resource), u64>,
    commands: HashMap<u32, Vec<u64>>,
    managed: HashMap<Resource, usize>,
    watched: HashSet<(usize, Resource)>,
    /// A watch that failed (the path is missing), per process: the next
    /// watch on its directory is that path's fallback.
    missing: HashMap<u32, String>,
    watches: Watches,
    /// Paths processes outside every daemon watch: one that then writes
    /// such a path is an unknown daemon.
    outside_watches: HashMap<u32, Vec<String>>,
    /// The operation that last changed each path, and its daemon.
    path_ops: HashMap<String, (u64, Option<usize>)>,
    /// When the current fact's syscall entered the kernel, and returned.
    entered: u64,
    returned: u64,
    /// Paths daemons were notified of before the change was seen: the
    /// daemon and when it read the event.
    pending: HashMap<String, Vec<(usize, u64)>>,
    /// Repairs closed while the change their daemon was told of had not
    /// returned yet, each until that change is reported or its wait ends:
    /// (the repair, its daemon, when the wait ends).
    deferred: Vec<(Op, usize, u64)>,
    path_order: VecDeque<String>,
    last_change: HashMap<Resource, Change>,
    flaps: HashMap<Resource, FlapState>,
    summary: BTreeMap<(String, String), Row>,
    out: Vec<Derived>,
    /// A flap the change being reported made: it follows that change's line.
    flap_next: Option<Derived>,
    next_id: u64,
}

impl Engine {
    #[must_use]
    pub fn new(selection: Selection) -> Self {
        Self {
            selection,
            next_id: 1,
            ..Self::default()
        }
    }

    /// Takes the processes alive at the start: the daemons among them, and
    /// their descendants (given parent first or not: ancestry is walked).
    pub fn adopt<'p>(&mut self, procs: impl Iterator<Item = ProcessInfo<'p>>) {
        let procs: Vec<_> = procs.collect();
        let parents: HashMap<u32, u32> = procs.iter().map(|p| (p.pid, p.ppid)).collect();
        for p in &procs {
            if let Some(d) = self.recognise(p.pid, p.comm, p.exe, &p.argv) {
                self.make_root(p.pid, d);
            }
        }
        for p in &procs {
            let mut at = p.pid;
            for _ in 0..64 {
                let Some(&up) = parents.get(&at) else { break };
                if let Some(m) = self.members.get(&up).copied() {
                    self.members.entry(p.pid).or_insert(m);
                    break;
                }
                if up == at || up == 0 {
                    break;
                }
                at = up;
            }
        }
    }

    /// Whether `pid`'s place (a daemon's, a command's, or outside) is known.
    #[must_use]
    pub fn knows(&self, pid: u32) -> bool {
        self.members.contains_key(&pid) || self.outsiders.contains(&pid)
    }

    /// Places a process first seen now by its ancestors (nearest first):
    /// a fork's child can run before its parent's fork returns, so
    /// ancestry, not the fork, decides.
    pub fn place(&mut self, pid: u32, ancestors: impl Iterator<Item = u32>) {
        for up in ancestors {
            if let Some(m) = self.members.get(&up).copied() {
                self.members.insert(pid, m);
                return;
            }
            if self.outsiders.contains(&up) {
                break;
            }
        }
        if self.outsiders.len() >= OUTSIDERS_KEPT {
            self.outsiders.clear();
        }
        self.outsiders.insert(pid);
    }

    /// Whether a process's reads and stats matter: only a daemon's do.
    #[must_use]
    pub fn inspects_matter(&self, pid: u32) -> bool {
        matches!(self.side(pid), Side::Daemon(_))
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
        self.entered = entered.min(ts);
        self.returned = ts;
        match *fact {
            Fact::Exec {
                pid,
                comm,
                exe,
                argv,
            } => self.exec(ts, pid, comm, exe, argv, actor),
            Fact::Exit { pid } => self.exit(pid),
            Fact::Watch { pid, ifd, path, wd } => self.watch(ts, pid, ifd, path, wd, actor),
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
        let idle: Vec<u64> = self
            .open
            .values()
            .filter(|op| op.command.is_none() && op.last_ns + IDLE_NS <= now)
            .map(|op| op.id)
            .collect();
        self.close_all(idle);
    }

    /// Ends every operation: the run is over.
    pub fn finish(&mut self) {
        let all: Vec<u64> = self.open.keys().copied().collect();
        self.close_all(all);
        self.resolve_deferred(|_, _| true);
    }

    /// Reports the deferred repairs `due` picks, with their causes as now
    /// known.
    fn resolve_deferred(&mut self, due: impl Fn(&Op, u64) -> bool) {
        if self.deferred.is_empty() {
            return;
        }
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.deferred)
            .into_iter()
            .partition(|(op, _, until)| due(op, *until));
        self.deferred = later;
        for (op, d, _) in now {
            self.report_converge(d, op);
        }
    }

    pub fn take(&mut self) -> Vec<Derived> {
        std::mem::take(&mut self.out)
    }

    /// The summary: (resource, daemon) → counts, in resource order; a
    /// resource's flaps are the most changes of hands between two writers.
    #[must_use]
    pub fn summary(&self) -> Vec<(String, String, Row)> {
        let flaps: HashMap<String, u64> = self
            .flaps
            .iter()
            .filter_map(|(r, f)| {
                let n = f.pairs.values().map(|p| p.switches).max()?;
                (n >= FLAP_SWITCHES).then(|| (r.to_string(), n))
            })
            .collect();
        self.summary
            .iter()
            .map(|((r, d), row)| {
                let mut row = row.clone();
                row.flaps = flaps.get(r).copied().unwrap_or(0);
                (r.clone(), d.clone(), row)
            })
            .collect()
    }

    fn close_all(&mut self, mut ids: Vec<u64>) {
        ids.sort_unstable();
        for id in ids {
            self.close(id);
        }
    }

    fn side(&self, pid: u32) -> Side {
        match self.members.get(&pid) {
            Some(Member {
                command: Some(id), ..
            }) => {
                if self.open.contains_key(id) {
                    Side::Command(*id)
                } else {
                    Side::Detached
                }
            }
            Some(Member {
                daemon: Some(d), ..
            }) => Side::Daemon(*d),
            _ => Side::Outside,
        }
    }

    /// `pid` is daemon `d` itself.
    fn make_root(&mut self, pid: u32, d: usize) {
        self.outsiders.remove(&pid);
        self.roots.insert(pid);
        self.members.insert(
            pid,
            Member {
                daemon: Some(d),
                command: None,
            },
        );
    }

    fn daemon_named(&mut self, name: &str, agent: Option<Agent>) -> usize {
        if let Some(i) = self.daemons.iter().position(|d| d.name == name) {
            return i;
        }
        self.daemons.push(Daemon {
            name: name.to_owned(),
            agent,
            notified: false,
            triggers: VecDeque::new(),
            last_converge: None,
        });
        self.daemons.len() - 1
    }

    fn recognise(&mut self, pid: u32, comm: &str, exe: &str, argv: &[String]) -> Option<usize> {
        let base = |p: &str| p.rsplit('/').next().unwrap_or(p).to_owned();
        if self.selection.is_auto() {
            let agent = resource::known_agent(comm, argv)?;
            return Some(self.daemon_named(agent.name, Some(agent)));
        }
        let agent = resource::known_agent(comm, argv);
        if self.selection.pids.contains(&pid) {
            return Some(self.daemon_named(comm, agent));
        }
        let candidates = [
            comm.to_owned(),
            base(exe),
            argv.first().map(|a| base(a)).unwrap_or_default(),
            resource::program(argv).to_owned(),
        ];
        let name = self
            .selection
            .names
            .iter()
            .find(|n| candidates.iter().any(|c| c == *n))?
            .clone();
        Some(self.daemon_named(&name, agent))
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
        if self.roots.contains(&pid) {
            // A daemon started through a wrapper (a shim, `exec` in a
            // start script) is still the daemon.
            return;
        }
        let member = self.members.get(&pid).copied().unwrap_or_default();
        if member.daemon.is_none() && member.command.is_none() {
            if let Some(d) = self.recognise(pid, comm, exe, argv) {
                self.make_root(pid, d);
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
                self.outsiders.remove(&pid);
                self.members.insert(
                    pid,
                    Member {
                        daemon,
                        command: Some(first),
                    },
                );
            }
        } else if let Some(d) = daemon {
            let prog = argv
                .first()
                .map_or(comm, |a| a.rsplit('/').next().unwrap_or(a));
            let shell = matches!(prog, "sh" | "dash" | "bash" | "busybox" | "env");
            if !shell && !exe.is_empty() && !self.daemons[d].owns_dir(exe) {
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
                self.members.insert(
                    pid,
                    Member {
                        daemon,
                        command: Some(id),
                    },
                );
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
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
            let mine: Vec<u64> = self
                .open
                .values()
                .filter(|o| o.daemon == Some(d) && o.command.is_none())
                .map(|o| o.id)
                .collect();
            self.close_all(mine);
        }
        self.close_others_on(&r, pid, None);
        let id = self.new_op(ts, pid, daemon, r, actor);
        let o = self.open.get_mut(&id).expect("just opened");
        o.command = Some(op);
        o.ops.push(verb);
        self.commands.entry(pid).or_default().push(id);
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
        let id = self.next_id;
        self.next_id += 1;
        self.open.insert(
            id,
            Op {
                id,
                daemon,
                resource: r,
                actor: actor(pid),
                ops: Vec::new(),
                changed: false,
                start_ns: self.entered.min(ts),
                last_ns: ts,
                change_entered: 0,
                first_change_entered: 0,
                command: None,
                after_notice: daemon.is_some_and(|d| self.daemons[d].notified),
                created: false,
                removed: false,
            },
        );
        id
    }

    fn exit(&mut self, pid: u32) {
        if let Some(ids) = self.commands.remove(&pid) {
            self.close_all(ids);
        }
        let mine: Vec<u64> = self
            .open_files
            .iter()
            .filter(|((p, _), _)| *p == pid)
            .map(|(_, id)| *id)
            .collect();
        self.close_all(mine);
        self.outsiders.remove(&pid);
        self.roots.remove(&pid);
        if self.members.contains_key(&pid) {
            self.exited.push_back(pid);
            if self.exited.len() > EXITED_KEPT {
                if let Some(old) = self.exited.pop_front() {
                    self.members.remove(&old);
                }
            }
        }
        self.watches.forget(pid);
        self.outside_watches.remove(&pid);
        self.missing.remove(&pid);
    }

    fn watch(
        &mut self,
        ts: u64,
        pid: u32,
        ifd: i32,
        path: &str,
        wd: Result<i32, i64>,
        actor: &dyn Fn(u32) -> Actor,
    ) {
        if resource::is_pseudo(path) {
            return;
        }
        let d = match self.side(pid) {
            Side::Daemon(d) => d,
            Side::Outside if self.selection.is_auto() => {
                if wd.is_ok() {
                    let list = self.outside_watches.entry(pid).or_default();
                    if list.len() < 256 {
                        list.push(path.to_owned());
                    }
                }
                return;
            }
            _ => return,
        };
        let wd = match wd {
            Ok(wd) => wd,
            Err(_) => {
                self.missing.insert(pid, path.to_owned());
                return;
            }
        };
        self.watches.add(pid, ifd, wd, path.to_owned());
        let target = match self.missing.get(&pid) {
            Some(m) if resource::parent(m) == path => self.missing.remove(&pid).unwrap_or_default(),
            _ => path.to_owned(),
        };
        let via_parent = target != path;
        self.watched_resource(ts, pid, d, target, via_parent, actor);
    }

    fn watched_resource(
        &mut self,
        ts: u64,
        pid: u32,
        d: usize,
        path: String,
        via_parent: bool,
        actor: &dyn Fn(u32) -> Actor,
    ) {
        let r = Resource::File(path);
        self.managed.entry(r.clone()).or_insert(d);
        if !self.watched.insert((d, r.clone())) {
            return;
        }
        let mut ops = vec!["watch"];
        if via_parent {
            ops.push("parent-dir");
        }
        let id = self.next_id;
        self.next_id += 1;
        let daemon = self.daemons[d].name.clone();
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
        let Side::Daemon(d) = self.side(pid) else {
            return;
        };
        for ev in events {
            if ev.mask & inotify::IN_IGNORED != 0 {
                self.watches.remove(pid, ifd, ev.wd);
                continue;
            }
            let Some(path) = self.watches.path_of(pid, ifd, ev) else {
                continue;
            };
            self.daemons[d].notified = true;
            let (id, by) = match self.path_ops.get(&path) {
                Some(&(id, by)) if by != Some(d) => (id, by),
                // Unknown, or its own change coming back: the change it is
                // told of may not have returned yet.
                _ => {
                    let list = self.pending.entry(path).or_default();
                    list.retain(|(_, t)| t + PENDING_NS > ts);
                    list.push((d, ts));
                    continue;
                }
            };
            // What the daemon reacts to has happened: a change still open on
            // one of its resources is reported before the reaction.
            let mine = |o: &Op| {
                self.managed.get(&o.resource) == Some(&d)
                    || self.watched.contains(&(d, o.resource.clone()))
            };
            if by.is_none()
                && self
                    .open
                    .get(&id)
                    .is_some_and(|o| o.command.is_none() && mine(o))
            {
                self.close(id);
            }
            self.trigger(d, id);
        }
    }

    fn trigger(&mut self, d: usize, id: u64) {
        let t = &mut self.daemons[d].triggers;
        if !t.contains(&id) {
            if t.len() == TRIGGERS_KEPT {
                t.pop_front();
            }
            t.push_back(id);
        }
    }

    /// Whether daemon `d`'s open operation `o` answers the outside change
    /// of `path` being seen now, though that change returned later: its
    /// first change entered the kernel after this one did. Without entry
    /// times, whether `d` read an event about the path lately whose change
    /// had not been seen. An operation that changed nothing yet preceded it.
    fn answers(&self, o: &Op, d: usize, path: &str) -> bool {
        if self.entered < self.returned {
            return o.start_ns >= self.entered || o.first_change_entered >= self.entered;
        }
        o.first_change_entered > 0
            && self.pending.get(path).is_some_and(|l| {
                l.iter()
                    .any(|&(pd, t)| pd == d && self.entered < t + PENDING_NS)
            })
    }

    fn file(&mut self, ts: u64, pid: u32, path: &str, op: FileOp, actor: &dyn Fn(u32) -> Actor) {
        if resource::is_pseudo(path) {
            return;
        }
        let d = match self.side(pid) {
            Side::Detached => return,
            Side::Command(id) => {
                if op.changes() {
                    self.fold(id, path);
                }
                return;
            }
            Side::Daemon(d) => Some(d),
            Side::Outside => {
                if !op.changes() {
                    return;
                }
                match self.unknown_daemon(ts, pid, path, actor) {
                    Some(d) => Some(d),
                    None => {
                        if !self.managed.contains_key(&Resource::File(path.to_owned())) {
                            return;
                        }
                        None
                    }
                }
            }
        };
        let r = Resource::File(path.to_owned());
        if let Some(d) = d {
            if self.daemons[d].owns_dir(path) {
                return;
            }
            let manages = self.managed.get(&r) == Some(&d)
                || self.watched.contains(&(d, r.clone()))
                || self.open_files.contains_key(&(pid, r.clone()));
            if op.changes() {
                self.managed.entry(r.clone()).or_insert(d);
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
        let watched = self.outside_watches.get(&pid)?;
        if !watched
            .iter()
            .any(|w| w == path || w == resource::parent(path))
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
        let d = self.daemon_named(&who.comm, None);
        self.make_root(pid, d);
        for w in self.outside_watches.remove(&pid).unwrap_or_default() {
            self.watched_resource(ts, pid, d, w, false, actor);
        }
        Some(d)
    }

    /// A change inside a command's tree: part of the command's operation.
    fn fold(&mut self, id: u64, path: &str) {
        let daemon = match self.open.get_mut(&id) {
            Some(o) => {
                o.changed = true;
                o.daemon
            }
            None => return,
        };
        self.remember_path(path, id, daemon);
    }

    fn remember_path(&mut self, path: &str, id: u64, daemon: Option<usize>) {
        if let Some(waiting) = self.pending.get_mut(path) {
            let ts = self.open.get(&id).map_or(0, |o| o.last_ns);
            let mut told = Vec::new();
            // A daemon's own change is no answer to what it was told of: it
            // may have repaired a change whose syscall has not returned yet.
            waiting.retain(|&(d, t)| {
                if Some(d) == daemon {
                    return ts < t + PENDING_NS;
                }
                if ts < t + PENDING_NS {
                    told.push(d);
                }
                false
            });
            if waiting.is_empty() {
                self.pending.remove(path);
            }
            for d in told {
                self.trigger(d, id);
            }
        }
        if self
            .path_ops
            .insert(path.to_owned(), (id, daemon))
            .is_none()
        {
            self.path_order.push_back(path.to_owned());
            if self.path_order.len() > PATHS_KEPT {
                if let Some(old) = self.path_order.pop_front() {
                    self.path_ops.remove(&old);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
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
        self.close_others_on(&r, pid, (daemon.is_none() && op.changes()).then_some(path));
        let id = match self.open_files.get(&(pid, r.clone())) {
            Some(&id) => id,
            None => {
                let id = self.new_op(ts, pid, daemon, r.clone(), actor);
                self.open_files.insert((pid, r), id);
                id
            }
        };
        let o = self.open.get_mut(&id).expect("open op");
        if !o.ops.contains(&op.name()) {
            o.ops.push(op.name());
        }
        o.changed |= op.changes();
        o.last_ns = ts;
        if op.changes() {
            o.change_entered = self.entered;
            if o.first_change_entered == 0 {
                o.first_change_entered = self.entered;
            }
        }
        match op {
            FileOp::Create => o.created = true,
            FileOp::Unlink => o.removed = true,
            _ if op.changes() => o.removed = false,
            _ => {}
        }
        if op.changes() {
            self.remember_path(path, id, daemon);
        }
    }

    /// Whoever else is at `r` is done before `pid` starts, except a
    /// daemon already reacting to this outside change of `changing` (it read
    /// the event before the change's syscall returned).
    fn close_others_on(&mut self, r: &Resource, pid: u32, changing: Option<&str>) {
        let others: Vec<u64> = self
            .open
            .values()
            .filter(|o| &o.resource == r && o.actor.pid != pid)
            .filter(|o| match (o.daemon, changing) {
                (Some(d), Some(path)) => !self.answers(o, d, path),
                _ => true,
            })
            .map(|o| o.id)
            .collect();
        self.close_all(others);
    }

    fn rename(&mut self, ts: u64, pid: u32, from: &str, to: &str, actor: &dyn Fn(u32) -> Actor) {
        match self.side(pid) {
            Side::Detached => return,
            Side::Command(id) => {
                self.fold(id, from);
                self.fold(id, to);
                return;
            }
            _ => {}
        }
        // A temporary file this process just wrote, moved into place: one
        // change of the target.
        let temp = self
            .open_files
            .remove(&(pid, Resource::File(from.to_owned())));
        let temp = temp.and_then(|id| self.open.remove(&id));
        if let Some(t) = &temp {
            if self.managed.get(&t.resource) == t.daemon.as_ref()
                && !self.watched.iter().any(|(_, r)| r == &t.resource)
            {
                self.managed.remove(&t.resource);
            }
        }
        self.file(ts, pid, to, FileOp::Rename, actor);
        if let Some(t) = temp {
            if let Some(&id) = self.open_files.get(&(pid, Resource::File(to.to_owned()))) {
                let o = self.open.get_mut(&id).expect("open op");
                o.start_ns = o.start_ns.min(t.start_ns);
                for name in t.ops {
                    if !o.ops.contains(&name) {
                        o.ops.insert(o.ops.len().saturating_sub(1), name);
                    }
                }
            }
        } else if self.managed.contains_key(&Resource::File(from.to_owned())) {
            // The managed file itself moved away.
            self.file(ts, pid, from, FileOp::Rename, actor);
        }
    }

    fn close(&mut self, id: u64) {
        let Some(op) = self.open.remove(&id) else {
            return;
        };
        if op.command.is_none() {
            self.open_files.remove(&(op.actor.pid, op.resource.clone()));
        }
        let changed = match op.command {
            Some(c) if !c.exec => c.changes,
            _ => op.changed,
        };
        if op.created && op.removed {
            if op.daemon.is_some() && self.managed.get(&op.resource) == op.daemon.as_ref() {
                self.managed.remove(&op.resource);
            }
            return;
        }
        if op.daemon.is_some() {
            // A change it reacted to before that change returned.
            self.close_others_on(&op.resource, op.actor.pid, None);
        }
        match op.daemon {
            Some(d) => {
                if !changed && op.command.is_some_and(|c| c.exec) {
                    return;
                }
                self.managed.entry(op.resource.clone()).or_insert(d);
                if changed {
                    self.converge(d, op);
                } else {
                    let name = self.daemons[d].name.clone();
                    self.emit(Kind::Check, op, name, None, None);
                }
            }
            None => {
                if !changed {
                    return;
                }
                let Some(&m) = self.managed.get(&op.resource) else {
                    return;
                };
                let name = self.daemons[m].name.clone();
                let writer = op.actor.comm.clone();
                let resource = op.resource.clone();
                self.changed(&op, writer, true);
                self.emit(Kind::Drift, op, name, None, None);
                self.resolve_deferred(|o, _| o.resource == resource);
            }
        }
    }

    /// A repair by daemon `d`, reported now, or once the outside change it
    /// answers is: the daemon read an inotify event about the file that no
    /// change seen yet explains, and the change's syscall may return after
    /// the whole repair (its process preempted inside it).
    fn converge(&mut self, d: usize, op: Op) {
        let told = match &op.resource {
            Resource::File(path) if self.answered_by(d, &op).is_none() => self
                .pending
                .get(path)
                .and_then(|l| l.iter().filter(|&&(pd, _)| pd == d).map(|&(_, t)| t).max()),
            _ => None,
        };
        match told {
            Some(t) if t <= op.start_ns.max(op.first_change_entered) => {
                self.daemons[d].last_converge = Some((op.id, op.resource.clone(), op.last_ns));
                self.deferred.push((op, d, t + PENDING_NS));
            }
            _ => self.report_converge(d, op),
        }
    }

    /// The change by someone else, already seen, that daemon `d`'s repair
    /// answers: the last one on its resource, begun before the repair ended.
    fn answered_by(&self, d: usize, op: &Op) -> Option<&Change> {
        let name = &self.daemons[d].name;
        self.last_change
            .get(&op.resource)
            .filter(|c| &c.writer != name && c.at_ns <= op.last_ns)
    }

    fn report_converge(&mut self, d: usize, op: Op) {
        let name = self.daemons[d].name.clone();
        let mut ttc = None;
        let cause = match self.answered_by(d, &op) {
            Some(c) => {
                let via = if self.daemons[d].triggers.contains(&c.id) {
                    Via::Inotify
                } else {
                    Via::Time
                };
                ttc = Some(op.last_ns - c.at_ns);
                Cause {
                    kind: if c.drift {
                        CauseKind::Drift
                    } else {
                        CauseKind::Change
                    },
                    id: Some(c.id),
                    resource: Some(op.resource.clone()),
                    via: Some(via),
                }
            }
            _ => match &self.daemons[d].last_converge {
                Some((id, r, end))
                    if op.resource.takes_refresh()
                        && r != &op.resource
                        && op.start_ns.saturating_sub(*end) <= REFRESH_NS =>
                {
                    Cause {
                        kind: CauseKind::Refresh,
                        id: Some(*id),
                        resource: Some(r.clone()),
                        via: None,
                    }
                }
                _ => {
                    let dm = &self.daemons[d];
                    if dm.agent.is_some_and(|a| a.periodic) || op.after_notice {
                        Cause::plain(CauseKind::Scheduled)
                    } else {
                        Cause::plain(CauseKind::Startup)
                    }
                }
            },
        };
        self.changed(&op, name.clone(), false);
        self.daemons[d].last_converge = Some((op.id, op.resource.clone(), op.last_ns));
        self.emit(Kind::Converge, op, name, Some(cause), ttc);
    }

    /// Records who changed a resource last, and whether that makes a flap.
    fn changed(&mut self, op: &Op, writer: String, drift: bool) {
        self.last_change.insert(
            op.resource.clone(),
            Change {
                id: op.id,
                writer: writer.clone(),
                at_ns: if op.change_entered > 0 {
                    op.change_entered
                } else {
                    op.start_ns
                },
                drift,
            },
        );
        let state = self.flaps.entry(op.resource.clone()).or_default();
        let prev = state.last_writer.replace(writer.clone());
        let Some(prev) = prev.filter(|p| *p != writer) else {
            return;
        };
        let key = if prev < writer {
            (prev, writer)
        } else {
            (writer, prev)
        };
        let pair = state.pairs.entry(key.clone()).or_default();
        if pair.switches == 0 {
            pair.first_ns = op.last_ns;
        }
        pair.switches += 1;
        pair.last_ns = op.last_ns;
        let switches = pair.switches;
        if switches < FLAP_SWITCHES {
            return;
        }
        if std::mem::replace(&mut pair.reported, true) {
            return;
        }
        let period_ns = 2 * (pair.last_ns - pair.first_ns) / (switches - 1);
        let id = self.next_id;
        self.next_id += 1;
        let daemon = self
            .managed
            .get(&op.resource)
            .map_or_else(String::new, |&d| self.daemons[d].name.clone());
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
            flap: Some(Flap {
                writers: [key.0, key.1],
                count: switches,
                period_ns,
            }),
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
        let row = self
            .summary
            .entry((op.resource.to_string(), daemon.clone()))
            .or_default();
        match kind {
            Kind::Check => row.checks += 1,
            Kind::Drift => row.drifts += 1,
            Kind::Converge => row.converges += 1,
            _ => {}
        }
        if let Some(c) = &cause {
            row.last_cause = Some(c.describe());
        }
        if let Some(t) = ttc_ns {
            row.ttc_ns.push(t);
        }
        self.out.push(Derived {
            kind,
            id: op.id,
            ts_ns: if op.first_change_entered > 0 {
                op.first_change_entered
            } else {
                op.start_ns
            },
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
