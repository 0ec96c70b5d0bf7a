//! The convergence mode's vocabulary: the facts it is fed (one per relevant
//! syscall or process event) and the derived events it reports.

use super::inotify;
use super::resource::Resource;

/// Who did something.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Actor {
    pub pid: u32,
    pub comm: String,
    /// The executable's path.
    pub exe: String,
    /// The container's name, for a process in one.
    pub container: Option<String>,
}

/// What a syscall did to a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileOp {
    Write,
    Truncate,
    Create,
    Chmod,
    Chown,
    Unlink,
    Rename,
    Read,
    Stat,
    /// A look at the path itself, not following a symlink: how configuration
    /// tools check a file resource's type and metadata.
    Lstat,
}

impl FileOp {
    #[must_use]
    pub fn changes(self) -> bool {
        !matches!(self, Self::Read | Self::Stat | Self::Lstat)
    }

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Write => "write",
            Self::Truncate => "truncate",
            Self::Create => "create",
            Self::Chmod => "chmod",
            Self::Chown => "chown",
            Self::Unlink => "unlink",
            Self::Rename => "rename",
            Self::Read => "read",
            Self::Stat | Self::Lstat => "stat",
        }
    }
}

/// One thing that happened, as the convergence engine needs it.
#[derive(Clone, Debug)]
pub enum Fact<'a> {
    Exec {
        pid: u32,
        comm: &'a str,
        exe: &'a str,
        /// argv[0] first.
        argv: &'a [String],
    },
    Exit {
        pid: u32,
    },
    /// `inotify_add_watch(ifd, path)`: the watch descriptor, or the errno.
    Watch {
        pid: u32,
        ifd: i32,
        path: &'a str,
        wd: Result<i32, i64>,
        /// In place when sdtrace attached (read from `/proc`), not seen made.
        existing: bool,
    },
    /// A read() of an inotify fd.
    Inotify {
        pid: u32,
        ifd: i32,
        events: Vec<inotify::Event>,
    },
    File {
        pid: u32,
        path: &'a str,
        op: FileOp,
    },
    Rename {
        pid: u32,
        from: &'a str,
        to: &'a str,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Watch,
    Drift,
    Converge,
    Check,
    Flap,
}

impl Kind {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Watch => "WATCH",
            Self::Drift => "DRIFT",
            Self::Converge => "CONVERGE",
            Self::Check => "CHECK",
            Self::Flap => "FLAP",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CauseKind {
    /// It repairs a drift.
    Drift,
    /// It undoes another daemon's change.
    Change,
    /// A resource it had just changed asks for it (file -> service restart).
    Refresh,
    /// A periodic run, or a poll with nothing observed before it.
    Scheduled,
    /// The daemon's first pass after it started.
    Startup,
    /// Nothing seen explains it, and the daemon started before sdtrace:
    /// what made it act may have happened before the attach.
    BeforeAttach,
}

impl CauseKind {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Drift => "drift",
            Self::Change => "change",
            Self::Refresh => "refresh",
            Self::Scheduled => "scheduled",
            Self::Startup => "startup",
            Self::BeforeAttach => "before-attach",
        }
    }
}

/// How a cause was tied to its effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// The kernel delivered the change to the daemon's inotify fd, and the
    /// daemon read it.
    Inotify,
    /// A process of the daemon's tree looked at the resource (stat, read)
    /// after the change and before the repair.
    Poll,
    /// Same resource, the change before.
    Time,
}

impl Via {
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Inotify => "inotify",
            Self::Poll => "poll",
            Self::Time => "time",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cause {
    pub kind: CauseKind,
    /// The derived event it refers to.
    pub id: Option<u64>,
    pub resource: Option<Resource>,
    pub via: Option<Via>,
}

impl Cause {
    pub(super) fn plain(kind: CauseKind) -> Self {
        Self {
            kind,
            id: None,
            resource: None,
            via: None,
        }
    }

    /// One phrase, for the text line and the summary.
    #[must_use]
    pub fn describe(&self) -> String {
        match (self.kind, self.id, &self.resource) {
            (CauseKind::Refresh, _, Some(r)) => format!("refresh from {r}"),
            (CauseKind::Drift | CauseKind::Change, Some(id), _) => {
                let via = self.via.map_or("", Via::name);
                format!("{} #{id} via {via}", self.kind.name())
            }
            (CauseKind::Scheduled, ..) => "scheduled run".into(),
            (CauseKind::BeforeAttach, ..) => "before attach".into(),
            (kind, ..) => kind.name().into(),
        }
    }
}

/// Two writers taking a resource from each other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flap {
    pub writers: [String; 2],
    /// Changes of hands so far.
    pub count: u64,
    /// Mean time for one back-and-forth.
    pub period_ns: u64,
}

/// One line of the mode's output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Derived {
    pub kind: Kind,
    pub id: u64,
    /// When it started (its first syscall).
    pub ts_ns: u64,
    pub resource: Resource,
    /// The daemon whose resource it is.
    pub daemon: String,
    pub actor: Actor,
    pub ops: Vec<&'static str>,
    pub cause: Option<Cause>,
    /// For a converge that repairs a drift: from the drift's last change to
    /// its own.
    pub ttc_ns: Option<u64>,
    pub flap: Option<Flap>,
}
