//! The process table: processes by tgid, threads by tid, each process's fd
//! table, and the event methods that keep them current.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::fd::{FdInfo, FdKind, FdTable, O_CLOEXEC};
use super::net::{L4Proto, NetTable, SockTuple};
use super::path::{normalize, resolve};
use super::procfs::{split_args, ProcFs};
use super::{IdMap, IdSet, StateError};
use crate::journal::Snapshot;

/// `openat`'s "relative to the cwd" dirfd.
pub const AT_FDCWD: i32 = -100;

/// How long an exited process stays resolvable, in event-timestamp
/// nanoseconds: events from other CPUs' buffers can arrive after the exit.
pub const DEFAULT_GRACE_NS: u64 = 5_000_000_000;

/// Bound on remembered dead pids; past it the set is cleared (a retried
/// `/proc` read is harmless, unbounded growth is not).
const DEAD_MAX: usize = 65_536;

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    /// `task->exit_code` of the thread that ended it (wait status encoding).
    pub code: i32,
    pub ts_ns: u64,
}

/// A process (thread group).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Process {
    pub tgid: u32,
    pub ppid: u32,
    /// sysdig's `proc.name`: the kernel's comm (at most 15 bytes).
    pub comm: String,
    /// sysdig's `proc.exe`: argv[0] (the comm for kernel threads).
    pub exe: String,
    /// sysdig's `proc.exepath`: the executable's full path.
    pub exepath: String,
    /// sysdig's `proc.args`: argv[1..].
    pub args: Vec<String>,
    /// sysdig's `proc.cmdline`: comm followed by the arguments.
    pub cmdline: String,
    pub cwd: String,
    /// Controlling terminal's device number (`tty_nr`), 0 for none.
    pub tty: u32,
    /// Effective uid and gid.
    pub uid: u32,
    pub gid: u32,
    /// Start time, nanoseconds since boot (the event timestamps' clock).
    pub start_ns: u64,
    /// Namespace inode numbers as read at bootstrap (or inherited at fork);
    /// 0 when unknown. Events carry the current ones in their header.
    pub pid_ns: u64,
    pub mnt_ns: u64,
    pub net_ns: u64,
    /// Set once the process has ended; it is reaped after the grace period.
    pub exit: Option<Exit>,
    pub fds: FdTable,
    tids: Vec<u32>,
    /// Distinguishes a reused pid's process from the exited one it replaced.
    generation: u64,
}

impl Process {
    /// The live threads' ids (the leader's included).
    #[must_use]
    pub fn tids(&self) -> &[u32] {
        &self.tids
    }

    #[must_use]
    pub fn is_alive(&self) -> bool {
        self.exit.is_none()
    }

    fn from_snapshot(snap: Snapshot, net: Option<&NetTable>, generation: u64) -> Self {
        let mut argv = snap.argv.into_iter();
        let exe = argv.next().unwrap_or_else(|| snap.comm.clone());
        let mut fds = FdTable::default();
        for (fd, target, flags) in &snap.fds {
            fds.insert(*fd, FdInfo::from_link(target, *flags, net));
        }
        let mut p = Self {
            tgid: snap.tgid,
            ppid: snap.ppid,
            comm: snap.comm,
            exe,
            exepath: snap.exepath,
            args: argv.collect(),
            cmdline: String::new(),
            cwd: snap.cwd,
            tty: snap.tty,
            uid: snap.uid,
            gid: snap.gid,
            start_ns: snap.start_ns,
            pid_ns: snap.pid_ns,
            mnt_ns: snap.mnt_ns,
            net_ns: snap.net_ns,
            exit: None,
            fds,
            tids: snap.tids,
            generation,
        };
        p.rebuild_cmdline();
        p
    }

    /// A process another tool's capture described: its `/proc` view, and
    /// fds already typed.
    pub(crate) fn described(snap: Snapshot, fds: impl IntoIterator<Item = (i32, FdInfo)>) -> Self {
        let mut p = Self::from_snapshot(snap, None, 0);
        for (fd, info) in fds {
            p.fds.insert(fd, info);
        }
        p
    }

    fn rebuild_cmdline(&mut self) {
        self.cmdline.clear();
        self.cmdline.push_str(&self.comm);
        for arg in &self.args {
            self.cmdline.push(' ');
            self.cmdline.push_str(arg);
        }
    }
}

/// A `sched_process_fork`: `child_tgid == parent_tgid` for a new thread.
#[derive(Clone, Copy, Debug)]
pub struct Fork {
    pub parent_tid: u32,
    pub parent_tgid: u32,
    pub child_tid: u32,
    pub child_tgid: u32,
    pub ts_ns: u64,
}

/// A `sched_process_exec`. `tid == tgid` afterwards; `old_tid` is the thread
/// that called execve (a non-leader thread takes over the leader's pid).
#[derive(Clone, Copy, Debug)]
pub struct Exec<'a> {
    pub tid: u32,
    pub tgid: u32,
    pub old_tid: u32,
    /// The filename execve was given (relative to the cwd if not absolute).
    pub exe_path: &'a str,
    /// NUL-separated argv, argv[0] included, as in `/proc/<pid>/cmdline`.
    pub args: &'a [u8],
    pub comm: &'a str,
    pub ts_ns: u64,
}

/// Processes, threads and fds. See the [module docs](super) for the contract.
#[derive(Debug)]
pub struct ProcessTable {
    procfs: ProcFs,
    procs: IdMap<u32, Process>,
    /// tid -> tgid for every known thread, leaders included.
    threads: IdMap<u32, u32>,
    /// Pids whose lazy `/proc` read failed.
    dead: IdSet<u32>,
    /// Socket tables by (netns inode, pid when the netns is unknown).
    nets: HashMap<(u64, u32), NetTable>,
    /// (deadline, tgid, generation) of exited processes, in arrival order.
    /// Exits from different CPUs may arrive slightly out of order; an entry
    /// then waits behind a later deadline, which only lengthens its grace.
    reap_queue: VecDeque<(u64, u32, u64)>,
    grace_ns: u64,
    next_generation: u64,
}

impl ProcessTable {
    /// An empty table that lazily reads from `procfs`.
    #[must_use]
    pub fn new(procfs: ProcFs) -> Self {
        Self {
            procfs,
            procs: IdMap::default(),
            threads: IdMap::default(),
            dead: IdSet::default(),
            nets: HashMap::new(),
            reap_queue: VecDeque::new(),
            grace_ns: DEFAULT_GRACE_NS,
            next_generation: 0,
        }
    }

    /// A table holding every process `procfs` lists now. Processes that
    /// vanish or cannot be read meanwhile are skipped.
    ///
    /// # Errors
    /// When the `/proc` root itself cannot be listed.
    pub fn bootstrap(procfs: ProcFs) -> Result<Self, StateError> {
        let mut table = Self::new(procfs);
        for pid in table.procfs.pids()? {
            match table.procfs.read_process(pid) {
                Ok(snap) => table.insert_snapshot(snap),
                Err(e) => log::debug!("bootstrap skips pid {pid}: {e}"),
            }
        }
        Ok(table)
    }

    /// A table holding `processes` as they were when [`ProcessTable::snapshot`]
    /// took them, reading (or replaying) anything else from `procfs`.
    pub fn restore(procfs: ProcFs, processes: Vec<Process>) -> Self {
        let mut table = Self::new(procfs);
        for p in processes {
            table.next_generation = table.next_generation.max(p.generation);
            for &tid in &p.tids {
                table.threads.insert(tid, p.tgid);
            }
            table.procs.insert(p.tgid, p);
        }
        table
    }

    /// Every process held, for [`ProcessTable::restore`].
    #[must_use]
    pub fn snapshot(&self) -> Vec<Process> {
        let mut all: Vec<Process> = self.procs.values().cloned().collect();
        all.sort_by_key(|p| p.tgid);
        all
    }

    /// How long exited processes stay resolvable (default [`DEFAULT_GRACE_NS`]).
    #[must_use]
    pub fn with_grace_ns(mut self, grace_ns: u64) -> Self {
        self.grace_ns = grace_ns;
        self
    }

    /// The `/proc` this table reads from (or replays).
    #[must_use]
    pub fn procfs(&self) -> &ProcFs {
        &self.procfs
    }

    /// Number of processes held, exited ones in their grace period included.
    #[must_use]
    pub fn len(&self) -> usize {
        self.procs.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.procs.is_empty()
    }

    /// Every process held, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Process> {
        self.procs.values()
    }

    // ---- lookups ---------------------------------------------------------

    /// The process `tgid`, if known. No I/O.
    #[must_use]
    pub fn process(&self, tgid: u32) -> Option<&Process> {
        self.procs.get(&tgid)
    }

    /// The process `tgid`, read from `/proc` on the first miss (a process
    /// that started before attach). A failed read is remembered.
    pub fn process_or_load(&mut self, tgid: u32) -> Option<&Process> {
        if self.load(tgid) {
            self.procs.get(&tgid)
        } else {
            None
        }
    }

    /// The process a thread belongs to.
    #[must_use]
    pub fn thread_tgid(&self, tid: u32) -> Option<u32> {
        self.threads.get(&tid).copied()
    }

    /// The parent of `tgid` (sysdig's `proc.pname`, `proc.ppid`).
    #[must_use]
    pub fn parent(&self, tgid: u32) -> Option<&Process> {
        self.ancestor(tgid, 1)
    }

    /// The ancestor `n` levels up: 0 is `tgid` itself, 1 its parent (sysdig's
    /// `proc.aname[n]`, `proc.apid[n]`). `None` past the top of the known tree.
    #[must_use]
    pub fn ancestor(&self, tgid: u32, n: usize) -> Option<&Process> {
        let mut p = self.procs.get(&tgid)?;
        for _ in 0..n {
            if p.ppid == 0 || p.ppid == p.tgid {
                return None;
            }
            p = self.procs.get(&p.ppid)?;
        }
        Some(p)
    }

    /// The fd `fd` of process `tgid`, if known. No I/O.
    #[must_use]
    pub fn fd(&self, tgid: u32, fd: i32) -> Option<&FdInfo> {
        self.procs.get(&tgid)?.fds.get(fd)
    }

    /// The fd, falling back once to `readlink /proc/<tgid>/fd/<fd>` on a miss
    /// (opened while the process's events were filtered out, or before we knew
    /// it). The answer, found or not, is cached.
    pub fn fd_or_load(&mut self, tgid: u32, fd: i32) -> Option<&FdInfo> {
        if !self.load(tgid) {
            return None;
        }
        let p = self.procs.get(&tgid)?;
        if p.fds.get(fd).is_none() && !p.fds.is_missing(fd) {
            self.load_fd(tgid, fd);
        }
        self.procs.get(&tgid)?.fds.get(fd)
    }

    // ---- process events --------------------------------------------------

    /// A new thread or process. A new process inherits its parent's name,
    /// arguments, cwd, ids, namespaces and a copy of its fd table.
    pub fn fork(&mut self, ev: &Fork) {
        self.reap(ev.ts_ns);
        if ev.child_tgid == ev.parent_tgid {
            if self.load(ev.parent_tgid) {
                self.add_thread(ev.parent_tgid, ev.child_tid);
            }
            return;
        }
        self.dead.remove(&ev.child_tgid);
        if !self.load(ev.parent_tgid) {
            // Parent unknown and gone: the child's /proc is the best source.
            self.load(ev.child_tgid);
            return;
        }
        let generation = self.bump_generation();
        let parent = &self.procs[&ev.parent_tgid];
        let child = Process {
            tgid: ev.child_tgid,
            ppid: ev.parent_tgid,
            comm: parent.comm.clone(),
            exe: parent.exe.clone(),
            exepath: parent.exepath.clone(),
            args: parent.args.clone(),
            cmdline: parent.cmdline.clone(),
            cwd: parent.cwd.clone(),
            tty: parent.tty,
            uid: parent.uid,
            gid: parent.gid,
            start_ns: ev.ts_ns,
            pid_ns: parent.pid_ns,
            mnt_ns: parent.mnt_ns,
            net_ns: parent.net_ns,
            exit: None,
            fds: parent.fds.clone(),
            tids: vec![ev.child_tid],
            generation,
        };
        self.replace(child);
    }

    /// A successful exec: new image, one thread, cloexec fds closed.
    pub fn exec(&mut self, ev: &Exec<'_>) {
        self.reap(ev.ts_ns);
        if !self.load(ev.tgid) {
            // /proc does not show it (hidepid, a parent sdtrace may not
            // read): the exec record says what it runs from now on; its
            // cwd, ids and inherited fds stay unknown.
            self.dead.remove(&ev.tgid);
            self.insert_snapshot(Snapshot {
                tgid: ev.tgid,
                comm: ev.comm.to_owned(),
                tids: vec![ev.tgid],
                ..Snapshot::default()
            });
        }
        let p = self.procs.get_mut(&ev.tgid).expect("loaded above");
        // Every other thread died in the exec; the caller now holds the tgid.
        for &tid in &p.tids {
            if tid != ev.tgid && self.threads.get(&tid) == Some(&ev.tgid) {
                self.threads.remove(&tid);
            }
        }
        if ev.old_tid != ev.tgid && self.threads.get(&ev.old_tid) == Some(&ev.tgid) {
            self.threads.remove(&ev.old_tid);
        }
        p.tids.clear();
        p.tids.push(ev.tgid);
        self.threads.insert(ev.tgid, ev.tgid);

        let mut argv = split_args(ev.args).into_iter();
        p.exepath = resolve(&p.cwd, ev.exe_path);
        p.exe = argv.next().unwrap_or_else(|| ev.exe_path.to_owned());
        p.args = argv.collect();
        ev.comm.clone_into(&mut p.comm);
        p.rebuild_cmdline();
        p.fds.exec();
    }

    /// A thread exited. The process ends with its leader or its last thread,
    /// and stays resolvable for the grace period after `ts_ns`.
    pub fn exit(&mut self, tid: u32, tgid: u32, code: i32, ts_ns: u64) {
        self.reap(ts_ns);
        let Some(p) = self.procs.get_mut(&tgid) else {
            self.threads.remove(&tid);
            return;
        };
        if p.exit.is_some() {
            return;
        }
        // A thread we never saw start (it began between the /proc read and
        // attach) is not the last one just because it is not in `tids`.
        let last = p.tids.len() == 1 && p.tids[0] == tid;
        if tid != tgid && !last {
            p.tids.retain(|&t| t != tid);
            if self.threads.get(&tid) == Some(&tgid) {
                self.threads.remove(&tid);
            }
            return;
        }
        // Thread entries stay until the reap so late events still resolve.
        p.exit = Some(Exit { code, ts_ns });
        self.reap_queue
            .push_back((ts_ns.saturating_add(self.grace_ns), tgid, p.generation));
    }

    /// Drops processes whose grace period ended by `now_ns`. The event
    /// methods call this with their timestamps; call it on idle ticks too.
    pub fn reap(&mut self, now_ns: u64) {
        while let Some(&(deadline, tgid, generation)) = self.reap_queue.front() {
            if deadline > now_ns {
                break;
            }
            self.reap_queue.pop_front();
            let due = self
                .procs
                .get(&tgid)
                .is_some_and(|p| p.generation == generation && p.exit.is_some());
            if due {
                let p = self.procs.remove(&tgid).expect("checked above");
                self.forget_threads(&p);
            }
        }
    }

    /// `chdir(path)`: relative paths are taken from the old cwd.
    pub fn chdir(&mut self, tgid: u32, path: &str) {
        if let Some(p) = self.process_mut(tgid) {
            p.cwd = resolve(&p.cwd, path);
        }
    }

    /// `fchdir(fd)`: the cwd becomes the directory `fd` names.
    pub fn fchdir(&mut self, tgid: u32, fd: i32) {
        let Some(dir) = self
            .fd_or_load(tgid, fd)
            .filter(|d| d.kind.is_path())
            .map(|d| d.name.clone())
        else {
            return;
        };
        if let Some(p) = self.procs.get_mut(&tgid) {
            p.cwd = dir;
        }
    }

    // ---- fd events -------------------------------------------------------

    /// `open`/`openat`/`creat` returned `fd`. A relative `path` is resolved
    /// against `dirfd`'s path, or the cwd when `dirfd` is [`AT_FDCWD`].
    pub fn open(&mut self, tgid: u32, dirfd: i32, fd: i32, path: &str, flags: u32) {
        let base = if path.starts_with('/') || dirfd == AT_FDCWD {
            None
        } else {
            Some(
                self.fd_or_load(tgid, dirfd)
                    .filter(|d| d.kind.is_path())
                    .map(|d| d.name.clone()),
            )
        };
        let Some(p) = self.process_mut(tgid) else {
            return;
        };
        let full = match base {
            None => resolve(&p.cwd, path),
            Some(Some(dir)) => resolve(&dir, path),
            // Unknown dirfd: keep what we were told rather than guess.
            Some(None) => normalize(path),
        };
        p.fds.insert(fd, FdInfo::path(full, flags));
    }

    /// `socket(domain, type, protocol)` returned `fd`. `SOCK_CLOEXEC` and
    /// `SOCK_NONBLOCK` in `ty` have the values of their `O_*` twins.
    pub fn socket(&mut self, tgid: u32, fd: i32, domain: u32, ty: u32, proto: u32) {
        let Some(p) = self.process_mut(tgid) else {
            return;
        };
        p.fds.insert(fd, new_socket(domain, ty, proto));
    }

    /// `socketpair` returned `fds`.
    pub fn socketpair(&mut self, tgid: u32, fds: [i32; 2], domain: u32, ty: u32, proto: u32) {
        let Some(p) = self.process_mut(tgid) else {
            return;
        };
        for fd in fds {
            p.fds.insert(fd, new_socket(domain, ty, proto));
        }
    }

    /// `bind` of an IP socket to `local`.
    pub fn bind(&mut self, tgid: u32, fd: i32, local: SocketAddr) {
        self.update_socket(tgid, fd, |s| {
            s.local = Some(local);
            s.kind = if local.is_ipv6() {
                FdKind::Ipv6
            } else {
                FdKind::Ipv4
            };
        });
    }

    /// `listen`: this socket is a server.
    pub fn listen(&mut self, tgid: u32, fd: i32) {
        self.update_socket(tgid, fd, |s| s.server = true);
    }

    /// `connect` of an IP socket completed: this end is the client.
    pub fn connected(&mut self, tgid: u32, fd: i32, tuple: &SockTuple) {
        let flags = self.fd(tgid, fd).map_or(0, |s| s.flags);
        self.ip_connection(tgid, fd, tuple, false, flags);
    }

    /// `accept`/`accept4` returned `fd` for an IP connection: the server end.
    pub fn accepted(&mut self, tgid: u32, fd: i32, tuple: &SockTuple, flags: u32) {
        self.ip_connection(tgid, fd, tuple, true, flags);
    }

    /// Records `fd` as one end of an IP connection.
    fn ip_connection(&mut self, tgid: u32, fd: i32, tuple: &SockTuple, server: bool, flags: u32) {
        let Some(p) = self.process_mut(tgid) else {
            return;
        };
        let info = FdInfo::ip_socket(
            tuple.proto,
            Some(tuple.local),
            Some(tuple.remote),
            server,
            flags,
        );
        p.fds.insert(fd, info);
    }

    /// `connect` of a unix socket to `path` (or an abstract name).
    pub fn unix_connected(&mut self, tgid: u32, fd: i32, path: &str) {
        let Some(p) = self.process_mut(tgid) else {
            return;
        };
        let flags = p.fds.get(fd).map_or(0, |s| s.flags);
        p.fds
            .insert(fd, FdInfo::new(FdKind::Unix, path.to_owned(), flags));
    }

    /// `accept` on the unix socket `listen_fd` returned `fd`; it takes the
    /// listener's name.
    pub fn unix_accepted(&mut self, tgid: u32, listen_fd: i32, fd: i32, flags: u32) {
        let Some(p) = self.process_mut(tgid) else {
            return;
        };
        let name = p
            .fds
            .get(listen_fd)
            .map(|l| l.name.clone())
            .unwrap_or_default();
        let mut info = FdInfo::new(FdKind::Unix, name, flags);
        info.server = true;
        p.fds.insert(fd, info);
    }

    /// `pipe`/`pipe2` returned `fds`; `ino` is the pipe's inode (0 if unknown).
    pub fn pipe(&mut self, tgid: u32, fds: [i32; 2], ino: u64, flags: u32) {
        let Some(p) = self.process_mut(tgid) else {
            return;
        };
        let name = if ino == 0 {
            "pipe".to_owned()
        } else {
            format!("pipe:[{ino}]")
        };
        for fd in fds {
            p.fds
                .insert(fd, FdInfo::new(FdKind::Pipe, name.clone(), flags));
        }
    }

    /// An anon-inode fd: `eventfd`, `signalfd`, `epoll_create`,
    /// `inotify_init`, `timerfd_create`, `userfaultfd`, `io_uring_setup`,
    /// `pidfd_open`, `bpf`. Named as readlink would show it.
    pub fn anon(&mut self, tgid: u32, fd: i32, kind: FdKind, flags: u32) {
        let Some(p) = self.process_mut(tgid) else {
            return;
        };
        p.fds
            .insert(fd, FdInfo::new(kind, kind.anon_link().to_owned(), flags));
    }

    /// `memfd_create(name)` returned `fd`.
    pub fn memfd(&mut self, tgid: u32, fd: i32, name: &str, flags: u32) {
        let Some(p) = self.process_mut(tgid) else {
            return;
        };
        p.fds.insert(
            fd,
            FdInfo::new(FdKind::Memfd, format!("/memfd:{name}"), flags),
        );
    }

    /// `dup`, `dup2`, `dup3`, `fcntl(F_DUPFD[_CLOEXEC])`: `new` now refers to
    /// what `old` does; `cloexec` is the new fd's own flag. Whatever `new`
    /// was is closed.
    pub fn dup(&mut self, tgid: u32, old: i32, new: i32, cloexec: bool) {
        if self.fd_or_load(tgid, old).is_none() {
            if let Some(p) = self.procs.get_mut(&tgid) {
                p.fds.remove(new);
            }
            return;
        }
        if let Some(p) = self.procs.get_mut(&tgid) {
            p.fds.dup(old, new, cloexec);
        }
    }

    /// `fcntl(F_SETFD)` or `ioctl(FIOCLEX/FIONCLEX)`.
    pub fn set_cloexec(&mut self, tgid: u32, fd: i32, cloexec: bool) {
        if let Some(info) = self.procs.get_mut(&tgid).and_then(|p| p.fds.get_mut(fd)) {
            if cloexec {
                info.flags |= O_CLOEXEC;
            } else {
                info.flags &= !O_CLOEXEC;
            }
        }
    }

    /// `close(fd)` succeeded.
    pub fn close(&mut self, tgid: u32, fd: i32) {
        if let Some(p) = self.procs.get_mut(&tgid) {
            p.fds.remove(fd);
        }
    }

    // ---- internals -------------------------------------------------------

    fn bump_generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation
    }

    fn process_mut(&mut self, tgid: u32) -> Option<&mut Process> {
        if self.load(tgid) {
            self.procs.get_mut(&tgid)
        } else {
            None
        }
    }

    /// Makes sure `tgid` is in the table, reading `/proc/<tgid>` once if not.
    fn load(&mut self, tgid: u32) -> bool {
        if self.procs.contains_key(&tgid) {
            return true;
        }
        if self.dead.contains(&tgid) {
            return false;
        }
        match self.procfs.read_process(tgid) {
            Ok(snap) if snap.tgid == tgid => {
                self.insert_snapshot(snap);
                true
            }
            other => {
                if let Err(e) = other {
                    log::debug!("no /proc entry for tgid {tgid}: {e}");
                }
                if self.dead.len() >= DEAD_MAX {
                    self.dead.clear();
                }
                self.dead.insert(tgid);
                false
            }
        }
    }

    fn insert_snapshot(&mut self, snap: Snapshot) {
        let net = Self::net_table(&mut self.nets, &self.procfs, snap.net_ns, snap.tgid, false);
        let generation = self.next_generation + 1;
        let p = Process::from_snapshot(snap, Some(net), generation);
        self.next_generation = generation;
        self.replace(p);
    }

    /// Puts `p` in the table, dropping any process it replaces (pid reuse).
    fn replace(&mut self, p: Process) {
        let tgid = p.tgid;
        if let Some(old) = self.procs.remove(&tgid) {
            self.forget_threads(&old);
        }
        for &tid in &p.tids {
            self.threads.insert(tid, tgid);
        }
        self.threads.insert(tgid, tgid);
        self.procs.insert(tgid, p);
    }

    fn forget_threads(&mut self, p: &Process) {
        for tid in p.tids.iter().copied().chain([p.tgid]) {
            if self.threads.get(&tid) == Some(&p.tgid) {
                self.threads.remove(&tid);
            }
        }
    }

    fn add_thread(&mut self, tgid: u32, tid: u32) {
        let p = self.procs.get_mut(&tgid).expect("caller loaded it");
        if !p.tids.contains(&tid) {
            p.tids.push(tid);
        }
        self.threads.insert(tid, tgid);
    }

    /// The socket table of a network namespace, read through `pid` on first
    /// use (or again with `refresh`, when a socket is newer than the table).
    fn net_table<'a>(
        nets: &'a mut HashMap<(u64, u32), NetTable>,
        procfs: &ProcFs,
        net_ns: u64,
        pid: u32,
        refresh: bool,
    ) -> &'a NetTable {
        let key = (net_ns, if net_ns == 0 { pid } else { 0 });
        if refresh {
            nets.insert(key, procfs.read_net(pid));
        }
        nets.entry(key).or_insert_with(|| procfs.read_net(pid))
    }

    fn load_fd(&mut self, tgid: u32, fd: i32) {
        let Some(p) = self.procs.get(&tgid) else {
            return;
        };
        let net_ns = p.net_ns;
        let found = if p.is_alive() {
            self.procfs.read_fd(tgid, fd)
        } else {
            None
        };
        let info = found.map(|(target, flags)| {
            let ino = target
                .strip_prefix("socket:[")
                .and_then(|r| r.strip_suffix(']')?.parse::<u64>().ok());
            let mut net = Self::net_table(&mut self.nets, &self.procfs, net_ns, tgid, false);
            if ino.is_some_and(|ino| !net.by_inode.contains_key(&ino)) {
                net = Self::net_table(&mut self.nets, &self.procfs, net_ns, tgid, true);
            }
            FdInfo::from_link(&target, flags, Some(net))
        });
        let p = self.procs.get_mut(&tgid).expect("looked up above");
        match info {
            Some(info) => p.fds.insert(fd, info),
            None => p.fds.mark_missing(fd),
        }
    }

    /// Applies `f` to an IP socket fd and renames it from its addresses.
    fn update_socket(&mut self, tgid: u32, fd: i32, f: impl FnOnce(&mut FdInfo)) {
        self.fd_or_load(tgid, fd);
        let Some(s) = self.procs.get_mut(&tgid).and_then(|p| p.fds.get_mut(fd)) else {
            return;
        };
        // An unlabelled `socket:[ino]` from a lazy read may be an IP socket.
        let unlabelled = s.kind == FdKind::Other && s.name.starts_with("socket:[");
        if matches!(s.kind, FdKind::Ipv4 | FdKind::Ipv6) || unlabelled {
            f(s);
            s.rename_socket();
        }
    }
}

fn new_socket(domain: u32, ty: u32, proto: u32) -> FdInfo {
    let flags = ty & (libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK).cast_unsigned();
    let kind = FdKind::from_domain(domain);
    let mut info = FdInfo::new(kind, String::new(), flags);
    if matches!(kind, FdKind::Ipv4 | FdKind::Ipv6) {
        info.l4proto = L4Proto::from_socket(ty, proto);
    }
    info
}
