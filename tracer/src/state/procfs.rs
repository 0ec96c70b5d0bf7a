//! Reading one process's entries under a `/proc` root. The root is a
//! parameter so tests can point it at a fixture tree.
//!
//! Every answer goes through the origin's [`Journal`]: recorded for a
//! reader elsewhere, or, replaying, given back instead of reading `/proc`.

use std::fs;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::net::{L4Proto, NetTable};
use super::StateError;
use crate::journal::{Answer, Journal, Query, Snapshot};

/// A `/proc` to read from, through its origin's journal.
#[derive(Clone, Debug)]
pub struct ProcFs {
    root: PathBuf,
    /// `USER_HZ`, the unit of `starttime` in `/proc/<pid>/stat`.
    ticks_per_sec: u64,
    journal: Rc<Journal>,
}

impl Default for ProcFs {
    fn default() -> Self {
        Self::new("/proc")
    }
}

impl ProcFs {
    /// A `/proc` mounted (or faked) at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            ticks_per_sec: crate::sys::host::clock_ticks_per_sec().unwrap_or(100),
            journal: Rc::new(Journal::off()),
        }
    }

    /// A `/proc` that only gives back a journal's answers (fed with
    /// [`Journal::replay`]); a query with no answer left finds nothing.
    #[must_use]
    pub fn replaying() -> Self {
        Self {
            root: PathBuf::new(),
            ticks_per_sec: 100,
            journal: Rc::new(Journal::replaying()),
        }
    }

    /// Whether answers come from a journal (a capture file's, a node's).
    #[must_use]
    pub fn is_replay(&self) -> bool {
        self.journal.is_replay()
    }

    /// Records every answer from now on (see [`Journal::take`]).
    #[must_use]
    pub fn journaled(mut self) -> Self {
        self.journal = Rc::new(Journal::recording());
        self
    }

    /// The journal every answer goes through.
    #[must_use]
    pub fn journal(&self) -> &Rc<Journal> {
        &self.journal
    }

    /// Where this `/proc` lives (nowhere for a replay).
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn io(path: PathBuf) -> impl FnOnce(std::io::Error) -> StateError {
        move |source| StateError::Io { path, source }
    }

    fn record(&self, answer: &Answer) {
        self.journal.record(answer);
    }

    fn replayed(&self, query: Query) -> Option<Option<Answer>> {
        self.journal.replayed(query)
    }

    /// The numeric entries of the root: every process (threads are hidden).
    pub(crate) fn pids(&self) -> Result<Vec<u32>, StateError> {
        let pids = match self.replayed(Query::Pids) {
            Some(Some(Answer::Pids(p))) => p,
            Some(_) => None,
            None => self.live_pids(),
        };
        self.record(&Answer::Pids(pids.clone()));
        pids.ok_or_else(|| StateError::Parse {
            path: self.root().to_path_buf(),
            what: "process list",
        })
    }

    fn live_pids(&self) -> Option<Vec<u32>> {
        let dir = fs::read_dir(self.root()).ok()?;
        Some(
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect(),
        )
    }

    /// Everything sdtrace wants from `/proc/<pid>`. Fails only when `stat`
    /// is unreadable (the process is gone); other entries that cannot be read
    /// (permissions, kernel threads) are left empty.
    pub(crate) fn read_process(&self, pid: u32) -> Result<Snapshot, StateError> {
        let snap = match self.replayed(Query::Process(pid)) {
            Some(Some(Answer::Process { snap: Some(s), .. })) => Ok(s),
            Some(_) => Err(StateError::Parse {
                path: PathBuf::from(format!("{pid}/stat")),
                what: "process not in the capture",
            }),
            None => self.live_process(pid),
        };
        self.record(&Answer::Process {
            pid,
            snap: snap.as_ref().ok().cloned(),
        });
        snap
    }

    fn live_process(&self, pid: u32) -> Result<Snapshot, StateError> {
        let (root, ticks_per_sec) = (&self.root, &self.ticks_per_sec);
        let dir = root.join(pid.to_string());
        let stat_path = dir.join("stat");
        let stat = fs::read_to_string(&stat_path).map_err(Self::io(stat_path.clone()))?;
        let stat = parse_stat(&stat).ok_or(StateError::Parse {
            path: stat_path,
            what: "stat line",
        })?;
        let mut snap = Snapshot {
            tgid: pid,
            ppid: stat.ppid,
            comm: stat.comm.to_owned(),
            tty: stat.tty,
            start_ns: stat
                .start_ticks
                .saturating_mul(1_000_000_000 / ticks_per_sec),
            ..Snapshot::default()
        };
        if let Ok(status) = fs::read_to_string(dir.join("status")) {
            let s = parse_status(&status);
            snap.tgid = s.tgid.unwrap_or(pid);
            snap.uid = s.uid;
            snap.gid = s.gid;
        }
        if let Ok(cmdline) = fs::read(dir.join("cmdline")) {
            snap.argv = split_args(&cmdline);
        }
        snap.exepath = read_link(&dir.join("exe")).unwrap_or_default();
        snap.cwd = read_link(&dir.join("cwd")).unwrap_or_default();
        let ns = |name: &str| {
            read_link(&dir.join("ns").join(name))
                .and_then(|l| parse_ns_link(&l))
                .unwrap_or(0)
        };
        snap.pid_ns = ns("pid");
        snap.mnt_ns = ns("mnt");
        snap.net_ns = ns("net");
        snap.tids = fs::read_dir(dir.join("task"))
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        if snap.tids.is_empty() {
            snap.tids.push(snap.tgid);
        }
        if let Ok(fds) = fs::read_dir(dir.join("fd")) {
            for entry in fds.flatten() {
                let Some(fd) = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| n.parse::<i32>().ok())
                else {
                    continue;
                };
                if let Some((target, flags)) = self.live_fd(pid, fd) {
                    snap.fds.push((fd, target, flags));
                }
            }
        }
        Ok(snap)
    }

    /// `readlink /proc/<pid>/fd/<fd>` and the flags from its fdinfo.
    pub(crate) fn read_fd(&self, pid: u32, fd: i32) -> Option<(String, u32)> {
        let link = match self.replayed(Query::Fd(pid, fd)) {
            Some(Some(Answer::Fd { link, .. })) => link,
            Some(_) => None,
            None => self.live_fd(pid, fd),
        };
        self.record(&Answer::Fd {
            pid,
            fd,
            link: link.clone(),
        });
        link
    }

    fn live_fd(&self, pid: u32, fd: i32) -> Option<(String, u32)> {
        let dir = self.root().join(pid.to_string());
        let target = read_link(&dir.join("fd").join(fd.to_string()))?;
        let flags = fs::read_to_string(dir.join("fdinfo").join(fd.to_string()))
            .ok()
            .and_then(|t| parse_fdinfo_flags(&t))
            .unwrap_or(0);
        Some((target, flags))
    }

    /// The socket tables of `pid`'s network namespace. Missing files (no
    /// IPv6, say) leave those sockets unlabelled.
    pub(crate) fn read_net(&self, pid: u32) -> NetTable {
        let files = match self.replayed(Query::Net(pid)) {
            Some(Some(Answer::Net { files, .. })) => files,
            Some(_) => Vec::new(),
            None => self.live_net(pid),
        };
        let mut table = NetTable::default();
        for (file, text) in &files {
            match file.as_str() {
                "tcp" | "tcp6" => table.add_inet(text, L4Proto::Tcp),
                "udp" | "udp6" => table.add_inet(text, L4Proto::Udp),
                "unix" => table.add_unix(text),
                _ => {}
            }
        }
        self.record(&Answer::Net { pid, files });
        table
    }

    fn live_net(&self, pid: u32) -> Vec<(String, String)> {
        let dir = self.root().join(pid.to_string()).join("net");
        ["tcp", "tcp6", "udp", "udp6", "unix"]
            .into_iter()
            .filter_map(|file| Some((file.to_owned(), fs::read_to_string(dir.join(file)).ok()?)))
            .collect()
    }
}

fn read_link(path: &Path) -> Option<String> {
    fs::read_link(path)
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

/// The fields of `/proc/<pid>/stat` sdtrace uses.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Stat<'a> {
    pub comm: &'a str,
    pub ppid: u32,
    pub tty: u32,
    pub start_ticks: u64,
}

/// `pid (comm) state ppid pgrp session tty_nr ... starttime ...`. The comm
/// may itself hold spaces and parentheses, so it ends at the last `)`.
pub(crate) fn parse_stat(line: &str) -> Option<Stat<'_>> {
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    let comm = line.get(open + 1..close)?;
    let rest: Vec<&str> = line.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is the state (field 3); field n is rest[n - 3].
    let tty = rest.get(4)?.parse::<i64>().ok()?;
    Some(Stat {
        comm,
        ppid: rest.get(1)?.parse().ok()?,
        tty: u32::try_from(tty).unwrap_or(0),
        start_ticks: rest.get(19)?.parse().ok()?,
    })
}

#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Status {
    pub tgid: Option<u32>,
    /// Effective ids, as sysdig's `user.uid`/`group.gid`.
    pub uid: u32,
    pub gid: u32,
}

pub(crate) fn parse_status(text: &str) -> Status {
    let mut s = Status::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let second = || value.split_whitespace().nth(1)?.parse().ok();
        match key {
            "Tgid" => s.tgid = value.trim().parse().ok(),
            "Uid" => s.uid = second().unwrap_or(0),
            "Gid" => s.gid = second().unwrap_or(0),
            _ => {}
        }
    }
    s
}

/// NUL-separated arguments (as in `/proc/<pid>/cmdline` or an exec event).
/// A trailing NUL does not add an empty argument.
pub(crate) fn split_args(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// `net:[4026531833]` -> 4026531833.
pub(crate) fn parse_ns_link(link: &str) -> Option<u64> {
    link.split_once(":[")?.1.strip_suffix(']')?.parse().ok()
}

/// The octal `flags:` line of an fdinfo file.
pub(crate) fn parse_fdinfo_flags(text: &str) -> Option<u32> {
    let line = text.lines().find_map(|l| l.strip_prefix("flags:"))?;
    u32::from_str_radix(line.trim(), 8).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_awkward_comm() {
        let line = "7617 (a) b (c)) R 7604 7604 5070 34816 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 76298 3133440 389";
        let s = parse_stat(line).unwrap();
        assert_eq!(
            s,
            Stat {
                comm: "a) b (c)",
                ppid: 7604,
                tty: 34816,
                start_ticks: 76298
            }
        );
        assert!(parse_stat("12 (x) S").is_none());
    }

    #[test]
    fn status_takes_effective_ids() {
        let s = parse_status(
            "Name:\tx\nTgid:\t42\nPid:\t43\nUid:\t1000\t0\t0\t0\nGid:\t100\t5\t5\t5\n",
        );
        assert_eq!(
            s,
            Status {
                tgid: Some(42),
                uid: 0,
                gid: 5
            }
        );
    }

    #[test]
    fn small_parsers() {
        assert_eq!(split_args(b"ls\0-l\0/tmp\0"), ["ls", "-l", "/tmp"]);
        assert_eq!(split_args(b"a\0\0b"), ["a", "", "b"]);
        assert!(split_args(b"").is_empty());
        assert_eq!(parse_ns_link("net:[4026531833]"), Some(4_026_531_833));
        assert_eq!(parse_ns_link("garbage"), None);
        assert_eq!(
            parse_fdinfo_flags("pos:\t0\nflags:\t02100002\nmnt_id:\t26\n"),
            Some(0o2100002)
        );
    }
}
