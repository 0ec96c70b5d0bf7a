//! File descriptors: what each fd of a process refers to, in sysdig's terms.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use super::net::{write_addr, L4Proto, NetEntry, NetTable};
use super::{IdMap, IdSet};

/// What an fd refers to (sysdig's `fd.type` / `fd.typechar`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FdKind {
    File,
    Directory,
    Ipv4,
    Ipv6,
    Unix,
    Pipe,
    /// eventfd.
    Event,
    Signalfd,
    Eventpoll,
    Inotify,
    Timerfd,
    Netlink,
    Bpf,
    Userfaultfd,
    IoUring,
    Memfd,
    Pidfd,
    /// Anything else (other anon inodes, namespace fds, unlabelled sockets).
    Other,
}

impl FdKind {
    /// sysdig's `fd.type`.
    #[must_use]
    pub fn type_name(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Directory => "directory",
            Self::Ipv4 => "ipv4",
            Self::Ipv6 => "ipv6",
            Self::Unix => "unix",
            Self::Pipe => "pipe",
            Self::Event => "event",
            Self::Signalfd => "signalfd",
            Self::Eventpoll => "eventpoll",
            Self::Inotify => "inotify",
            Self::Timerfd => "timerfd",
            Self::Netlink => "netlink",
            Self::Bpf => "bpf",
            Self::Userfaultfd => "userfaultfd",
            Self::IoUring => "io_uring",
            Self::Memfd => "memfd",
            Self::Pidfd => "pidfd",
            Self::Other => "<NA>",
        }
    }

    /// sysdig's `fd.typechar`.
    #[must_use]
    pub fn type_char(self) -> char {
        match self {
            Self::File => 'f',
            Self::Directory => 'd',
            Self::Ipv4 => '4',
            Self::Ipv6 => '6',
            Self::Unix | Self::Userfaultfd => 'u',
            Self::Pipe => 'p',
            Self::Event => 'e',
            Self::Signalfd => 's',
            Self::Eventpoll => 'l',
            Self::Inotify => 'i',
            Self::Timerfd => 't',
            Self::Netlink => 'n',
            Self::Bpf => 'b',
            Self::IoUring => 'r',
            Self::Memfd => 'm',
            Self::Pidfd => 'P',
            Self::Other => 'o',
        }
    }

    /// The kind of an anon-inode fd from its class name, as in the
    /// `anon_inode:[eventfd]` (or `anon_inode:inotify`) that readlink shows.
    #[must_use]
    pub fn from_anon_class(class: &str) -> Self {
        match class.trim_start_matches('[').trim_end_matches(']') {
            "eventfd" => Self::Event,
            "signalfd" => Self::Signalfd,
            "eventpoll" => Self::Eventpoll,
            "inotify" => Self::Inotify,
            "timerfd" => Self::Timerfd,
            "userfaultfd" => Self::Userfaultfd,
            "io_uring" => Self::IoUring,
            "pidfd" => Self::Pidfd,
            c if c.starts_with("bpf") => Self::Bpf,
            _ => Self::Other,
        }
    }

    /// The kind for a `socket(domain, ...)` before it has addresses.
    #[must_use]
    pub fn from_domain(domain: u32) -> Self {
        match i32::try_from(domain) {
            Ok(libc::AF_INET) => Self::Ipv4,
            Ok(libc::AF_INET6) => Self::Ipv6,
            Ok(libc::AF_UNIX) => Self::Unix,
            Ok(libc::AF_NETLINK) => Self::Netlink,
            _ => Self::Other,
        }
    }

    /// What readlink shows for an anon-inode fd of this kind.
    #[must_use]
    pub fn anon_link(self) -> &'static str {
        match self {
            Self::Event => "anon_inode:[eventfd]",
            Self::Signalfd => "anon_inode:[signalfd]",
            Self::Eventpoll => "anon_inode:[eventpoll]",
            Self::Inotify => "anon_inode:inotify",
            Self::Timerfd => "anon_inode:[timerfd]",
            Self::Userfaultfd => "anon_inode:[userfaultfd]",
            Self::IoUring => "anon_inode:[io_uring]",
            Self::Pidfd => "anon_inode:[pidfd]",
            Self::Bpf => "anon_inode:bpf",
            _ => "anon_inode:",
        }
    }

    /// Whether `fd.name` is a filesystem path that a dirfd-relative open or an
    /// `fchdir` may use as its base.
    #[must_use]
    pub fn is_path(self) -> bool {
        matches!(self, Self::File | Self::Directory)
    }
}

pub(crate) use tracer_common::abi::{O_CLOEXEC, O_DIRECTORY};

/// One open fd.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdInfo {
    pub kind: FdKind,
    /// sysdig's `fd.name`: the path for files; `cip:cport->sip:sport` for a
    /// connected IP socket, `ip:port` for a bound or listening one; the path
    /// (or kernel address) for a unix socket; `pipe:[ino]` and
    /// `anon_inode:[class]` otherwise.
    pub name: String,
    /// Open flags (`O_*`), with `O_CLOEXEC` kept current by dup and fcntl.
    pub flags: u32,
    /// For IP sockets.
    pub l4proto: L4Proto,
    /// This process's end of an IP socket, once bound or connected.
    pub local: Option<SocketAddr>,
    /// The peer of a connected IP socket.
    pub remote: Option<SocketAddr>,
    /// Whether this end is the server: an accepted or listening socket.
    pub server: bool,
}

impl FdInfo {
    /// An fd that is only a name: files, pipes, anon inodes.
    #[must_use]
    pub fn new(kind: FdKind, name: String, flags: u32) -> Self {
        Self {
            kind,
            name,
            flags,
            l4proto: L4Proto::Unknown,
            local: None,
            remote: None,
            server: false,
        }
    }

    /// A file or directory opened with `flags`; `O_DIRECTORY` decides which.
    #[must_use]
    pub fn path(path: String, flags: u32) -> Self {
        let kind = if flags & O_DIRECTORY != 0 {
            FdKind::Directory
        } else {
            FdKind::File
        };
        Self::new(kind, path, flags)
    }

    /// An IP socket with whatever addresses are known; the name follows them.
    #[must_use]
    pub fn ip_socket(
        l4proto: L4Proto,
        local: Option<SocketAddr>,
        remote: Option<SocketAddr>,
        server: bool,
        flags: u32,
    ) -> Self {
        let v6 = local.or(remote).is_some_and(|a| a.is_ipv6());
        let kind = if v6 { FdKind::Ipv6 } else { FdKind::Ipv4 };
        let mut fd = Self {
            kind,
            name: String::new(),
            flags,
            l4proto,
            local,
            remote,
            server,
        };
        fd.rename_socket();
        fd
    }

    /// Recomputes `name` of an IP socket from its addresses, client end first.
    /// Leaves the name alone while no address is known (a fresh or
    /// unlabelled socket keeps `""` or `socket:[ino]`).
    pub(crate) fn rename_socket(&mut self) {
        let (first, second) = match (self.local, self.remote) {
            (Some(l), Some(r)) if self.server => (r, Some(l)),
            (Some(l), Some(r)) => (l, Some(r)),
            (Some(a), None) | (None, Some(a)) => (a, None),
            (None, None) => return,
        };
        self.name.clear();
        write_addr(&mut self.name, &first);
        if let Some(second) = second {
            self.name.push_str("->");
            write_addr(&mut self.name, &second);
        }
    }

    /// Whether the fd is closed by exec.
    #[must_use]
    pub fn cloexec(&self) -> bool {
        self.flags & O_CLOEXEC != 0
    }

    /// sysdig's `fd.type`.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }

    /// sysdig's `fd.typechar`.
    #[must_use]
    pub fn type_char(&self) -> char {
        self.kind.type_char()
    }

    fn client_server(&self) -> (Option<SocketAddr>, Option<SocketAddr>) {
        if self.server {
            (self.remote, self.local)
        } else {
            (self.local, self.remote)
        }
    }

    /// `fd.cip`: the client's address of a connected IP socket.
    #[must_use]
    pub fn cip(&self) -> Option<IpAddr> {
        self.client_server().0.map(|a| a.ip())
    }
    /// `fd.cport`.
    #[must_use]
    pub fn cport(&self) -> Option<u16> {
        self.client_server().0.map(|a| a.port())
    }
    /// `fd.sip`: the server's address.
    #[must_use]
    pub fn sip(&self) -> Option<IpAddr> {
        self.client_server().1.map(|a| a.ip())
    }
    /// `fd.sport`.
    #[must_use]
    pub fn sport(&self) -> Option<u16> {
        self.client_server().1.map(|a| a.port())
    }
    /// `fd.lip`: this process's end.
    #[must_use]
    pub fn lip(&self) -> Option<IpAddr> {
        self.local.map(|a| a.ip())
    }
    /// `fd.lport`.
    #[must_use]
    pub fn lport(&self) -> Option<u16> {
        self.local.map(|a| a.port())
    }
    /// `fd.rip`: the peer's end.
    #[must_use]
    pub fn rip(&self) -> Option<IpAddr> {
        self.remote.map(|a| a.ip())
    }
    /// `fd.rport`.
    #[must_use]
    pub fn rport(&self) -> Option<u16> {
        self.remote.map(|a| a.port())
    }

    /// Labels what `readlink /proc/<pid>/fd/<n>` returned, with the fdinfo
    /// `flags` and, for `socket:[ino]`, the inode table of the process's netns.
    pub(crate) fn from_link(target: &str, flags: u32, net: Option<&NetTable>) -> Self {
        if target.starts_with("/memfd:") {
            return Self::new(FdKind::Memfd, target.to_owned(), flags);
        }
        if target.starts_with('/') {
            return Self::path(target.to_owned(), flags);
        }
        if let Some(class) = target.strip_prefix("anon_inode:") {
            return Self::new(FdKind::from_anon_class(class), target.to_owned(), flags);
        }
        if target.starts_with("pipe:[") {
            return Self::new(FdKind::Pipe, target.to_owned(), flags);
        }
        let inode = target
            .strip_prefix("socket:[")
            .and_then(|r| r.strip_suffix(']'))
            .and_then(|n| n.parse::<u64>().ok());
        match inode.and_then(|ino| net?.by_inode.get(&ino).map(|e| (e, net))) {
            Some((
                NetEntry::Ip {
                    proto,
                    local,
                    remote,
                },
                Some(net),
            )) => {
                let server = remote.is_none() || net.is_server(*proto, local);
                Self::ip_socket(*proto, Some(*local), *remote, server, flags)
            }
            Some((NetEntry::Unix { path, kaddr }, _)) => {
                let name = path.clone().unwrap_or_else(|| format!("{kaddr:#x}"));
                Self::new(FdKind::Unix, name, flags)
            }
            _ => Self::new(FdKind::Other, target.to_owned(), flags),
        }
    }
}

/// The fds of one process; its threads share it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FdTable {
    fds: IdMap<i32, FdInfo>,
    /// Fds a lazy `/proc` lookup found closed, so it is not repeated per event.
    /// Cleared for an fd when an event creates it.
    missing: IdSet<i32>,
}

impl FdTable {
    /// The fd, if known.
    #[must_use]
    pub fn get(&self, fd: i32) -> Option<&FdInfo> {
        self.fds.get(&fd)
    }

    /// Number of open fds known.
    #[must_use]
    pub fn len(&self) -> usize {
        self.fds.len()
    }

    /// Whether no fd is known.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }

    /// All known fds, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (i32, &FdInfo)> {
        self.fds.iter().map(|(&fd, info)| (fd, info))
    }

    pub(crate) fn insert(&mut self, fd: i32, info: FdInfo) {
        self.missing.remove(&fd);
        self.fds.insert(fd, info);
    }

    pub(crate) fn remove(&mut self, fd: i32) -> Option<FdInfo> {
        self.fds.remove(&fd)
    }

    pub(crate) fn get_mut(&mut self, fd: i32) -> Option<&mut FdInfo> {
        self.fds.get_mut(&fd)
    }

    pub(crate) fn mark_missing(&mut self, fd: i32) {
        self.missing.insert(fd);
    }

    pub(crate) fn is_missing(&self, fd: i32) -> bool {
        self.missing.contains(&fd)
    }

    /// What exec does: cloexec fds go. A new image also gets a fresh chance at
    /// lazily found fds.
    pub(crate) fn exec(&mut self) {
        self.fds.retain(|_, info| !info.cloexec());
        self.missing.clear();
    }

    /// `dup`/`dup2`/`dup3`/`F_DUPFD`: `new` refers to what `old` does, with
    /// its own close-on-exec bit.
    pub(crate) fn dup(&mut self, old: i32, new: i32, cloexec: bool) -> bool {
        let Some(mut info) = self.fds.get(&old).cloned() else {
            return false;
        };
        info.flags = if cloexec {
            info.flags | O_CLOEXEC
        } else {
            info.flags & !O_CLOEXEC
        };
        self.insert(new, info);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_links() {
        let k = |t: &str| FdInfo::from_link(t, 0, None).kind;
        assert_eq!(k("/etc/passwd"), FdKind::File);
        assert_eq!(
            FdInfo::from_link("/tmp", O_DIRECTORY, None).kind,
            FdKind::Directory
        );
        assert_eq!(k("pipe:[123]"), FdKind::Pipe);
        assert_eq!(k("anon_inode:[eventfd]"), FdKind::Event);
        assert_eq!(k("anon_inode:[eventpoll]"), FdKind::Eventpoll);
        assert_eq!(k("anon_inode:inotify"), FdKind::Inotify);
        assert_eq!(k("anon_inode:[timerfd]"), FdKind::Timerfd);
        assert_eq!(k("anon_inode:[signalfd]"), FdKind::Signalfd);
        assert_eq!(k("anon_inode:bpf-map"), FdKind::Bpf);
        assert_eq!(k("anon_inode:[pidfd]"), FdKind::Pidfd);
        assert_eq!(k("/memfd:wayland (deleted)"), FdKind::Memfd);
        assert_eq!(k("socket:[99]"), FdKind::Other);
        assert_eq!(k("net:[4026531833]"), FdKind::Other);
        assert_eq!(FdKind::Eventpoll.type_char(), 'l');
        assert_eq!(FdKind::Event.type_name(), "event");
    }

    #[test]
    fn socket_names_put_the_client_first() {
        let a: SocketAddr = "10.0.0.1:40000".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let client = FdInfo::ip_socket(L4Proto::Tcp, Some(a), Some(b), false, 0);
        assert_eq!(client.name, "10.0.0.1:40000->10.0.0.2:80");
        assert_eq!(client.sport(), Some(80));
        let server = FdInfo::ip_socket(L4Proto::Tcp, Some(b), Some(a), true, 0);
        assert_eq!(server.name, "10.0.0.1:40000->10.0.0.2:80");
        assert_eq!(server.cip(), Some(a.ip()));
        assert_eq!(server.lip(), Some(b.ip()));
        assert_eq!(server.rport(), Some(40000));
        assert_eq!(server.kind, FdKind::Ipv4);
    }

    #[test]
    fn dup_sets_its_own_cloexec() {
        let mut t = FdTable::default();
        t.insert(3, FdInfo::path("/a".into(), O_CLOEXEC));
        assert!(t.dup(3, 4, false));
        assert!(t.dup(3, 5, true));
        assert!(!t.dup(9, 6, false));
        t.exec();
        assert!(t.get(3).is_none() && t.get(5).is_none());
        assert_eq!(t.get(4).unwrap().name, "/a");
    }
}
