//! Which processes belong to which daemon: the daemons (the ones named, or
//! recognised), every process in their trees by ancestry, the commands
//! those trees run, and the processes known to be outside them all.

use std::collections::{HashMap, HashSet, VecDeque};

use super::model::Via;
use super::resource::{self, Agent, Resource};

/// Outside processes remembered as such.
const OUTSIDERS_KEPT: usize = 65_536;
/// Exited members remembered for their late children.
const EXITED_KEPT: usize = 4096;
/// Changes (operation ids) a daemon saw, remembered.
const SEEN_KEPT: usize = 1024;

/// Which processes are daemons: the ones named, or (when none is) known
/// agents and processes that watch a path and then write it.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub pids: Vec<u32>,
    pub names: Vec<String>,
}

impl Selection {
    pub(super) fn is_auto(&self) -> bool {
        self.pids.is_empty() && self.names.is_empty()
    }
}

/// A process as the process table has it.
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

impl<'a> ProcessInfo<'a> {
    /// `p` as the process table has it, argv[0] first.
    #[must_use]
    pub fn of(p: &'a crate::state::Process) -> Self {
        Self {
            pid: p.tgid,
            ppid: p.ppid,
            comm: &p.comm,
            exe: &p.exepath,
            argv: std::iter::once(p.exe.clone())
                .chain(p.args.iter().cloned())
                .collect(),
        }
    }
}

pub(super) struct Daemon {
    pub(super) name: String,
    pub(super) agent: Option<Agent>,
    /// Whether it has read an inotify event yet.
    pub(super) notified: bool,
    /// It was running when sdtrace attached: its start-up was not seen.
    pub(super) before_attach: bool,
    /// Changes by others it saw (operation ids), and how, newest last.
    seen: VecDeque<(u64, Via)>,
    pub(super) last_converge: Option<LastConverge>,
}

/// A daemon's last converge.
#[derive(Clone, Debug)]
pub(super) struct LastConverge {
    pub(super) id: u64,
    pub(super) resource: Resource,
    /// When it ended.
    pub(super) end_ns: u64,
}

impl Daemon {
    /// Whether `path` is the agent's own: under its directories, or one of
    /// its scratch files.
    pub(super) fn owns_dir(&self, path: &str) -> bool {
        let path = resource::local(path);
        self.agent.is_some_and(|a| {
            a.own_dirs.iter().any(|d| resource::is_under(path, d))
                || path
                    .split('/')
                    .any(|c| a.scratch_prefixes.iter().any(|p| c.starts_with(p)))
        })
    }

    /// A process of its tree learnt of change `id` `via` inotify or a
    /// poll; what inotify told stays told.
    pub(super) fn saw(&mut self, id: u64, via: Via) {
        let seen = &mut self.seen;
        if let Some(s) = seen.iter_mut().find(|(i, _)| *i == id) {
            if s.1 != Via::Inotify {
                s.1 = via;
            }
            return;
        }
        if seen.len() == SEEN_KEPT {
            seen.pop_front();
        }
        seen.push_back((id, via));
    }

    /// How its tree learnt of change `id`, if it did.
    pub(super) fn how_it_saw(&self, id: u64) -> Option<Via> {
        self.seen.iter().find(|(i, _)| *i == id).map(|(_, v)| *v)
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Member {
    pub(super) daemon: Option<usize>,
    /// The command operation (by its first id) whose tree this process is in.
    pub(super) command: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Side {
    Daemon(usize),
    Outside,
    /// Inside a command's tree: folded into that command's operation.
    Command(u64),
    /// Left behind by a finished command (a service's processes): neither
    /// the daemon's doing nor a drift.
    Detached,
}

#[derive(Default)]
pub(super) struct Membership {
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
    /// The processes alive when sdtrace attached.
    at_attach: HashSet<u32>,
}

impl Membership {
    pub(super) fn new(selection: Selection) -> Self {
        Self {
            selection,
            ..Self::default()
        }
    }

    /// Whether daemons are found rather than named.
    pub(super) fn is_auto(&self) -> bool {
        self.selection.is_auto()
    }

    pub(super) fn daemon(&self, d: usize) -> &Daemon {
        &self.daemons[d]
    }

    pub(super) fn daemon_mut(&mut self, d: usize) -> &mut Daemon {
        &mut self.daemons[d]
    }

    pub(super) fn name(&self, d: usize) -> &str {
        &self.daemons[d].name
    }

    /// Takes the processes alive at the start: the daemons among them, and
    /// their descendants (given parent first or not: ancestry is walked).
    pub(super) fn adopt(&mut self, procs: &[ProcessInfo<'_>]) {
        let parents: HashMap<u32, u32> = procs.iter().map(|p| (p.pid, p.ppid)).collect();
        self.at_attach = procs.iter().map(|p| p.pid).collect();
        for p in procs {
            if let Some(d) = self.recognise(p.pid, p.comm, p.exe, &p.argv) {
                self.make_root(p.pid, d);
            }
        }
        for p in procs {
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
    pub(super) fn knows(&self, pid: u32) -> bool {
        self.members.contains_key(&pid) || self.outsiders.contains(&pid)
    }

    /// Places a process first seen now by its ancestors (nearest first).
    pub(super) fn place(&mut self, pid: u32, ancestors: impl Iterator<Item = u32>) {
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

    /// Where `pid` stands; `running` says whether a command operation is
    /// still open.
    pub(super) fn side(&self, pid: u32, running: impl Fn(u64) -> bool) -> Side {
        match self.members.get(&pid) {
            Some(Member {
                command: Some(id), ..
            }) => {
                if running(*id) {
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

    /// The daemon's own process, not one of its children.
    pub(super) fn is_root(&self, pid: u32) -> bool {
        self.roots.contains(&pid)
    }

    /// Whose tree `pid` is in (nobody's, when not a member).
    pub(super) fn member(&self, pid: u32) -> Member {
        self.members.get(&pid).copied().unwrap_or_default()
    }

    /// `pid` is daemon `d` itself.
    pub(super) fn make_root(&mut self, pid: u32, d: usize) {
        if self.at_attach.contains(&pid) {
            self.daemons[d].before_attach = true;
        } else if !self
            .roots
            .iter()
            .any(|r| self.members.get(r).and_then(|m| m.daemon) == Some(d))
        {
            // Restarted since: this start-up is seen.
            self.daemons[d].before_attach = false;
        }
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

    /// `pid` runs command operation `id` (for `daemon`, or outside): its
    /// tree's doings fold into that operation.
    pub(super) fn enter_command(&mut self, pid: u32, daemon: Option<usize>, id: u64) {
        self.members.insert(
            pid,
            Member {
                daemon,
                command: Some(id),
            },
        );
    }

    /// `pid` is no longer known to be outside.
    pub(super) fn not_outside(&mut self, pid: u32) {
        self.outsiders.remove(&pid);
    }

    /// `pid` exited: its membership is kept a while for its late children.
    pub(super) fn exit(&mut self, pid: u32) {
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
    }

    /// The daemon called `name`, made if new.
    pub(super) fn daemon_named(&mut self, name: &str, agent: Option<Agent>) -> usize {
        if let Some(i) = self.daemons.iter().position(|d| d.name == name) {
            return i;
        }
        self.daemons.push(Daemon {
            name: name.to_owned(),
            agent,
            notified: false,
            before_attach: false,
            seen: VecDeque::new(),
            last_converge: None,
        });
        self.daemons.len() - 1
    }

    /// The daemon a process is, by the selection: its pid or names, or a
    /// known agent when none is given.
    pub(super) fn recognise(
        &mut self,
        pid: u32,
        comm: &str,
        exe: &str,
        argv: &[String],
    ) -> Option<usize> {
        let base = |p: &str| p.rsplit('/').next().unwrap_or(p).to_owned();
        if self.selection.is_auto() {
            let agent = resource::known_agent(comm, argv)?;
            return Some(self.daemon_named(agent.name, Some(agent)));
        }
        let agent = resource::known_agent(comm, argv);
        if self.selection.pids.contains(&pid) {
            return Some(self.daemon_named(comm, agent));
        }
        // `--daemon ansible` names every process of an ansible run, as the
        // agent's own name does without `--daemon`.
        let candidates = [
            comm.to_owned(),
            base(exe),
            argv.first().map(|a| base(a)).unwrap_or_default(),
            resource::program(argv).to_owned(),
            agent.map(|a| a.name.to_owned()).unwrap_or_default(),
        ];
        let name = self
            .selection
            .names
            .iter()
            .find(|n| candidates.iter().any(|c| c == *n))?
            .clone();
        Some(self.daemon_named(&name, agent))
    }
}
