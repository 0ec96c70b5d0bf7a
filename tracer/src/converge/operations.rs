//! The operations under way: every syscall one process makes on one
//! resource until it goes quiet, exits, or someone else touches the
//! resource, and the commands (`dpkg -i`, an init script) whose process
//! trees are one operation each; and which daemon manages each resource.

use std::collections::HashMap;

use super::model::{Actor, FileOp};
use super::resource::Resource;

/// A process quiet on a resource this long has finished changing it.
pub const IDLE_NS: u64 = 100_000_000;
/// ... unless it created the file: a temporary file is renamed into place
/// or removed soon, though not always within `IDLE_NS` (puppet fsyncs
/// first; a loaded node preempts it).
pub const CREATED_IDLE_NS: u64 = 1_000_000_000;

#[derive(Clone, Copy, Debug)]
pub(super) struct CommandOp {
    pub(super) changes: bool,
    /// An `exec:` operation: changed only if its tree changed something.
    pub(super) exec: bool,
}

pub(super) struct Op {
    pub(super) id: u64,
    pub(super) daemon: Option<usize>,
    pub(super) resource: Resource,
    pub(super) actor: Actor,
    pub(super) ops: Vec<&'static str>,
    pub(super) changed: bool,
    pub(super) start_ns: u64,
    pub(super) last_ns: u64,
    pub(super) command: Option<CommandOp>,
    /// When its last change entered the kernel: what a repair of it is
    /// timed from.
    pub(super) change_entered: u64,
    /// When its first change entered the kernel (0: none yet): when it is
    /// reported at.
    pub(super) first_change_entered: u64,
    /// Whether its daemon had been told of any change when it started.
    pub(super) after_notice: bool,
    /// It created the path, and its last change removed it again (a lock
    /// directory, a temporary file): nothing is left to report.
    pub(super) created: bool,
    pub(super) removed: bool,
}

impl Op {
    /// Notes one syscall on its resource at `ts`, entered at `entered`.
    pub(super) fn record(&mut self, ts: u64, entered: u64, op: FileOp) {
        if !self.ops.contains(&op.name()) {
            self.ops.push(op.name());
        }
        self.changed |= op.changes();
        self.last_ns = ts;
        if op.changes() {
            self.change_entered = entered;
            if self.first_change_entered == 0 {
                self.first_change_entered = entered;
            }
        }
        match op {
            FileOp::Create => self.created = true,
            FileOp::Unlink => self.removed = true,
            _ if op.changes() => self.removed = false,
            _ => {}
        }
    }

    /// Takes in the temporary file `temp` that was moved onto its
    /// resource: it began when that file did, its syscalls before the
    /// rename.
    pub(super) fn absorb(&mut self, temp: Op) {
        self.start_ns = self.start_ns.min(temp.start_ns);
        for name in temp.ops {
            if !self.ops.contains(&name) {
                self.ops.insert(self.ops.len().saturating_sub(1), name);
            }
        }
    }

    /// Whether it changed its resource: a command by what it runs, an
    /// `exec:` or a file operation by what it did.
    pub(super) fn did_change(&self) -> bool {
        match self.command {
            Some(c) if !c.exec => c.changes,
            _ => self.changed,
        }
    }

    /// When it is reported at: its first change, else its start.
    pub(super) fn reported_ns(&self) -> u64 {
        if self.first_change_entered > 0 {
            self.first_change_entered
        } else {
            self.start_ns
        }
    }

    /// When a repair of it is timed from: its last change, else its start.
    pub(super) fn changed_ns(&self) -> u64 {
        if self.change_entered > 0 {
            self.change_entered
        } else {
            self.start_ns
        }
    }
}

/// One process at one file resource.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct FileKey {
    pid: u32,
    resource: Resource,
}

#[derive(Default)]
pub(super) struct Operations {
    open: HashMap<u64, Op>,
    /// The file operation each process has open on each resource.
    open_files: HashMap<FileKey, u64>,
    /// The command operations each process runs.
    commands: HashMap<u32, Vec<u64>>,
    /// The daemon each resource belongs to.
    managed: HashMap<Resource, usize>,
}

impl Operations {
    pub(super) fn is_open(&self, id: u64) -> bool {
        self.open.contains_key(&id)
    }

    pub(super) fn get(&self, id: u64) -> Option<&Op> {
        self.open.get(&id)
    }

    pub(super) fn get_mut(&mut self, id: u64) -> Option<&mut Op> {
        self.open.get_mut(&id)
    }

    pub(super) fn start(&mut self, op: Op) {
        self.open.insert(op.id, op);
    }

    /// Ends operation `id`, which stops being `pid`'s open file operation.
    pub(super) fn end(&mut self, id: u64) -> Option<Op> {
        let op = self.open.remove(&id)?;
        if op.command.is_none() {
            self.open_files.remove(&FileKey {
                pid: op.actor.pid,
                resource: op.resource.clone(),
            });
        }
        Some(op)
    }

    pub(super) fn ids(&self) -> Vec<u64> {
        self.open.keys().copied().collect()
    }

    /// File operations quiet since before `now - IDLE_NS` (or
    /// `CREATED_IDLE_NS` for a file they created).
    pub(super) fn idle(&self, now: u64) -> Vec<u64> {
        self.open
            .values()
            .filter(|op| {
                let quiet = if op.created { CREATED_IDLE_NS } else { IDLE_NS };
                op.command.is_none() && op.last_ns + quiet <= now
            })
            .map(|op| op.id)
            .collect()
    }

    /// Daemon `d`'s file operations.
    pub(super) fn files_of_daemon(&self, d: usize) -> Vec<u64> {
        self.open
            .values()
            .filter(|o| o.daemon == Some(d) && o.command.is_none())
            .map(|o| o.id)
            .collect()
    }

    /// The operations on `r` by processes other than `pid`.
    pub(super) fn others_on<'a>(
        &'a self,
        r: &'a Resource,
        pid: u32,
    ) -> impl Iterator<Item = &'a Op> + 'a {
        self.open
            .values()
            .filter(move |o| &o.resource == r && o.actor.pid != pid)
    }

    /// `pid`'s file operation on `r`.
    pub(super) fn file_op(&self, pid: u32, r: &Resource) -> Option<u64> {
        self.open_files
            .get(&FileKey {
                pid,
                resource: r.clone(),
            })
            .copied()
    }

    pub(super) fn set_file_op(&mut self, pid: u32, r: Resource, id: u64) {
        self.open_files.insert(FileKey { pid, resource: r }, id);
    }

    /// Takes `pid`'s file operation on `r` out of the open ones.
    pub(super) fn take_file_op(&mut self, pid: u32, r: Resource) -> Option<Op> {
        let id = self.open_files.remove(&FileKey { pid, resource: r })?;
        self.open.remove(&id)
    }

    /// `pid`'s file operations.
    pub(super) fn files_of(&self, pid: u32) -> Vec<u64> {
        self.open_files
            .iter()
            .filter(|(k, _)| k.pid == pid)
            .map(|(_, id)| *id)
            .collect()
    }

    pub(super) fn add_command(&mut self, pid: u32, id: u64) {
        self.commands.entry(pid).or_default().push(id);
    }

    /// The commands `pid` ran, forgotten.
    pub(super) fn take_commands(&mut self, pid: u32) -> Option<Vec<u64>> {
        self.commands.remove(&pid)
    }

    /// The daemon `r` belongs to.
    pub(super) fn manager(&self, r: &Resource) -> Option<usize> {
        self.managed.get(r).copied()
    }

    pub(super) fn is_managed(&self, r: &Resource) -> bool {
        self.managed.contains_key(r)
    }

    /// `r` is daemon `d`'s unless it is already another's.
    pub(super) fn manage(&mut self, r: Resource, d: usize) {
        self.managed.entry(r).or_insert(d);
    }

    pub(super) fn unmanage(&mut self, r: &Resource) {
        self.managed.remove(r);
    }
}
