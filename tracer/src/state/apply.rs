//! What each decoded record changes in the tables. A record is applied in two
//! steps around filtering and printing, so that an event shows the state it
//! produced (the fd an `openat` returned) and the state it consumed (the name
//! of the fd a `close` closed).

use std::net::SocketAddr;

use tracer_common::{syscall_names::nr, CaptureKind};

use crate::decode::sockaddr::{SockAddr, Tuple, AF_INET, AF_INET6, AF_UNIX};
use crate::decode::{Body, Record, SyscallEvent};

use super::{Exec, FdKind, Fork, L4Proto, ProcessTable, SockTuple, AT_FDCWD};

pub(crate) use tracer_common::abi::EINPROGRESS;
use tracer_common::abi::{
    FD_CLOEXEC, F_DUPFD, F_DUPFD_CLOEXEC, F_SETFD, O_CLOEXEC, O_CREAT, O_TRUNC, O_WRONLY,
};
const O_CREAT_WRONLY_TRUNC: u32 = O_CREAT | O_WRONLY | O_TRUNC;
const SOCK_CLOEXEC: u64 = tracer_common::abi::SOCK_CLOEXEC as u64;

fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// The bytes of the first item a capture slot produced.
fn item<'a>(ev: &SyscallEvent<'a>, slot: u8) -> Option<&'a [u8]> {
    ev.item(slot).map(|i| i.data)
}

fn fd_pair(ev: &SyscallEvent<'_>, slot: u8) -> Option<[i32; 2]> {
    let d = ev.item_of(slot, CaptureKind::FdPair)?.data;
    Some([
        i32::from_le_bytes(d.get(0..4)?.try_into().ok()?),
        i32::from_le_bytes(d.get(4..8)?.try_into().ok()?),
    ])
}

fn tuple_of(ev: &SyscallEvent<'_>) -> Option<Tuple> {
    ev.items()
        .find(|i| {
            matches!(
                i.kind,
                CaptureKind::SockTupleArgFd | CaptureKind::SockTupleRetFd
            )
        })
        .and_then(|i| Tuple::parse(i.data))
}

fn state_tuple(t: &Tuple) -> SockTuple {
    let proto = match t.protocol {
        6 => L4Proto::Tcp,
        17 => L4Proto::Udp,
        1 | 58 => L4Proto::Icmp,
        255 => L4Proto::Raw,
        _ => L4Proto::Unknown,
    };
    SockTuple {
        proto,
        local: SocketAddr::new(t.local.0, t.local.1),
        remote: SocketAddr::new(t.remote.0, t.remote.1),
    }
}

/// Changes a record makes before it is filtered and printed: new processes,
/// exec'd images, new fds, a new cwd.
pub fn before(procs: &mut ProcessTable, rec: &Record<'_>) {
    let h = &rec.hdr;
    match &rec.body {
        Body::Fork(f) => procs.fork(&Fork {
            parent_tid: h.tid,
            parent_tgid: h.tgid,
            child_tid: f.child_tid,
            child_tgid: f.child_tgid,
            ts_ns: h.ts_ns,
        }),
        Body::Exec { old_tid, exe, args } => {
            let comm_len = h.comm.iter().position(|&c| c == 0).unwrap_or(h.comm.len());
            procs.exec(&Exec {
                tid: h.tid,
                tgid: h.tgid,
                old_tid: *old_tid,
                exe_path: &text(exe),
                args,
                comm: &text(&h.comm[..comm_len]),
                ts_ns: h.ts_ns,
            });
        }
        Body::Syscall(ev) => syscall_before(procs, h.tgid, h.nr, h.ret, ev),
        Body::Exit(_) => {}
    }
}

fn syscall_before(
    procs: &mut ProcessTable,
    tgid: u32,
    sysno: u16,
    ret: i64,
    ev: &SyscallEvent<'_>,
) {
    let a = &ev.args;
    let fd_arg = |i: usize| a[i] as i32;
    let inprogress = ret == -EINPROGRESS;
    if ret < 0 && !(inprogress && sysno == nr::CONNECT) {
        return;
    }
    let ret_fd = ret as i32;
    // The kernel's own path of an opened file (kernel paths on) is exact
    // where the lexical resolution below is not: symlinks, a dirfd the table
    // does not know, a directory renamed since.
    let opened = matches!(sysno, nr::OPEN | nr::CREAT | nr::OPENAT | nr::OPENAT2)
        .then(|| crate::decode::kernel_path(ev))
        .flatten()
        .filter(|p| !p.starts_with(crate::decode::kpath::TRUNCATED_PREFIX));
    match sysno {
        nr::OPEN | nr::CREAT => {
            if let Some(path) = opened.as_deref().map(str::as_bytes).or_else(|| item(ev, 0)) {
                let flags = if sysno == nr::CREAT {
                    O_CREAT_WRONLY_TRUNC
                } else {
                    a[1] as u32
                };
                procs.open(tgid, AT_FDCWD, ret_fd, &text(path), flags);
            }
        }
        nr::OPENAT | nr::OPENAT2 => {
            if let Some(path) = opened.as_deref().map(str::as_bytes).or_else(|| item(ev, 0)) {
                let flags = if sysno == nr::OPENAT2 {
                    item(ev, 1).and_then(|h| h.get(0..8)).map_or(0, |b| {
                        u64::from_le_bytes(b.try_into().unwrap_or_default()) as u32
                    })
                } else {
                    a[2] as u32
                };
                procs.open(tgid, fd_arg(0), ret_fd, &text(path), flags);
            }
        }
        nr::SOCKET => procs.socket(tgid, ret_fd, a[0] as u32, a[1] as u32, a[2] as u32),
        nr::SOCKETPAIR => {
            if let Some(fds) = fd_pair(ev, 0) {
                procs.socketpair(tgid, fds, a[0] as u32, a[1] as u32, a[2] as u32);
            }
        }
        nr::CONNECT => match tuple_of(ev) {
            Some(t) if t.family == AF_INET || t.family == AF_INET6 => {
                procs.connected(tgid, fd_arg(0), &state_tuple(&t))
            }
            _ => {
                if let Some(SockAddr::Unix(path)) = item(ev, 0).and_then(SockAddr::parse) {
                    procs.unix_connected(tgid, fd_arg(0), &path);
                }
            }
        },
        nr::ACCEPT | nr::ACCEPT4 => {
            let flags = if sysno == nr::ACCEPT4 && a[3] & SOCK_CLOEXEC != 0 {
                O_CLOEXEC
            } else {
                0
            };
            match tuple_of(ev) {
                Some(t) if t.family == AF_INET || t.family == AF_INET6 => {
                    procs.accepted(tgid, ret_fd, &state_tuple(&t), flags);
                }
                Some(t) if t.family == AF_UNIX => {
                    procs.unix_accepted(tgid, fd_arg(0), ret_fd, flags)
                }
                _ => procs.unix_accepted(tgid, fd_arg(0), ret_fd, flags),
            }
        }
        nr::BIND => {
            if let Some(SockAddr::Ip(ip, port)) = item(ev, 0).and_then(SockAddr::parse) {
                procs.bind(tgid, fd_arg(0), SocketAddr::new(ip, port));
            }
        }
        nr::LISTEN => procs.listen(tgid, fd_arg(0)),
        nr::PIPE | nr::PIPE2 => {
            if let Some(fds) = fd_pair(ev, 0) {
                let flags = if sysno == nr::PIPE2 { a[1] as u32 } else { 0 };
                procs.pipe(tgid, fds, 0, flags);
            }
        }
        nr::DUP => procs.dup(tgid, fd_arg(0), ret_fd, false),
        nr::DUP2 => procs.dup(tgid, fd_arg(0), ret_fd, false),
        nr::DUP3 => procs.dup(tgid, fd_arg(0), ret_fd, a[2] as u32 & O_CLOEXEC != 0),
        nr::FCNTL => match a[1] {
            F_DUPFD => procs.dup(tgid, fd_arg(0), ret_fd, false),
            F_DUPFD_CLOEXEC => procs.dup(tgid, fd_arg(0), ret_fd, true),
            F_SETFD => procs.set_cloexec(tgid, fd_arg(0), a[2] & FD_CLOEXEC != 0),
            _ => {}
        },
        nr::INOTIFY_INIT | nr::INOTIFY_INIT1 => {
            procs.anon(tgid, ret_fd, FdKind::Inotify, a[0] as u32)
        }
        nr::EVENTFD | nr::EVENTFD2 => procs.anon(tgid, ret_fd, FdKind::Event, a[1] as u32),
        nr::EPOLL_CREATE | nr::EPOLL_CREATE1 => {
            procs.anon(tgid, ret_fd, FdKind::Eventpoll, a[0] as u32)
        }
        nr::TIMERFD_CREATE => procs.anon(tgid, ret_fd, FdKind::Timerfd, a[1] as u32),
        nr::SIGNALFD | nr::SIGNALFD4 => procs.anon(tgid, ret_fd, FdKind::Signalfd, a[3] as u32),
        nr::MEMFD_CREATE => {
            if let Some(name) = item(ev, 0) {
                procs.memfd(tgid, ret_fd, &text(name), a[1] as u32);
            }
        }
        nr::CHDIR => {
            if let Some(path) = item(ev, 0) {
                procs.chdir(tgid, &text(path));
            }
        }
        nr::FCHDIR => procs.fchdir(tgid, fd_arg(0)),
        _ => {}
    }
}

/// Changes a record makes after it is printed: closed fds, ended threads.
pub fn after(procs: &mut ProcessTable, rec: &Record<'_>) {
    let h = &rec.hdr;
    match &rec.body {
        Body::Syscall(ev) if h.nr == nr::CLOSE && h.ret == 0 => {
            procs.close(h.tgid, ev.args[0] as i32)
        }
        Body::Syscall(ev) if h.nr == nr::CLOSE_RANGE && h.ret == 0 => {
            close_range(procs, h.tgid, ev.args)
        }
        // As sysdig: a unix socket whose connect failed is named, from the
        // next event on, by the path it tried to reach.
        Body::Syscall(ev) if h.nr == nr::CONNECT && h.ret < 0 && h.ret != -EINPROGRESS => {
            if let Some(SockAddr::Unix(path)) = item(ev, 0).and_then(SockAddr::parse) {
                procs.unix_connected(h.tgid, ev.args[0] as i32, &path);
            }
        }
        Body::Exit(e) => procs.exit(h.tid, h.tgid, e.exit_code, h.ts_ns),
        _ => {}
    }
}

/// `close_range(first, last, flags)`: every open fd in the range, or, with
/// `CLOSE_RANGE_CLOEXEC`, only their close-on-exec flag.
fn close_range(procs: &mut ProcessTable, tgid: u32, args: [u64; 6]) {
    const CLOSE_RANGE_CLOEXEC: u64 = 1 << 2;
    let (first, last) = (args[0], args[1]);
    let Some(p) = procs.process(tgid) else { return };
    let fds: Vec<i32> = p
        .fds
        .iter()
        .map(|(fd, _)| fd)
        .filter(|&fd| u64::try_from(fd).is_ok_and(|fd| (first..=last).contains(&fd)))
        .collect();
    for fd in fds {
        if args[2] & CLOSE_RANGE_CLOEXEC != 0 {
            procs.set_cloexec(tgid, fd, true);
        } else {
            procs.close(tgid, fd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode, tests::syscall_record};
    use crate::state::ProcFs;

    /// The records describe this test process, which the table loads lazily
    /// from the real /proc; fd 900 is one it does not have open.
    const FD: u64 = 900;

    fn as_self(mut rec: Vec<u8>) -> Vec<u8> {
        rec[40..44].copy_from_slice(&std::process::id().to_le_bytes());
        rec
    }

    #[test]
    fn open_then_close_tracks_the_fd() {
        let me = std::process::id();
        let mut procs = ProcessTable::new(ProcFs::default());
        let open = as_self(syscall_record(
            nr::OPENAT,
            FD as i64,
            [(-100i64) as u64, 0, 0, 0, 0, 0],
            &[(0, CaptureKind::UserStr, b"/etc/hosts")],
        ));
        before(&mut procs, &decode(&open).unwrap());
        assert_eq!(
            procs.fd(me, FD as i32).map(|f| f.name.as_str()),
            Some("/etc/hosts")
        );
        let close = as_self(syscall_record(nr::CLOSE, 0, [FD, 0, 0, 0, 0, 0], &[]));
        let rec = decode(&close).unwrap();
        before(&mut procs, &rec);
        assert!(
            procs.fd(me, FD as i32).is_some(),
            "close shows the fd it closes"
        );
        after(&mut procs, &rec);
        assert!(procs.fd(me, FD as i32).is_none());
    }

    #[test]
    fn close_range_closes_the_fds_in_it() {
        let me = std::process::id();
        let mut procs = ProcessTable::new(ProcFs::default());
        for fd in [FD, FD + 1, FD + 5] {
            let open = as_self(syscall_record(
                nr::OPENAT,
                fd as i64,
                [(-100i64) as u64, 0, 0, 0, 0, 0],
                &[(0, CaptureKind::UserStr, b"/etc/hosts")],
            ));
            before(&mut procs, &decode(&open).unwrap());
        }
        let close = as_self(syscall_record(
            nr::CLOSE_RANGE,
            0,
            [FD, FD + 1, 0, 0, 0, 0],
            &[],
        ));
        after(&mut procs, &decode(&close).unwrap());
        assert!(procs.fd(me, FD as i32).is_none());
        assert!(procs.fd(me, FD as i32 + 1).is_none());
        assert!(procs.fd(me, FD as i32 + 5).is_some(), "outside the range");
    }

    #[test]
    fn an_open_with_a_kernel_path_stores_it() {
        let me = std::process::id();
        let mut procs = ProcessTable::new(ProcFs::default());
        // Relative to a dirfd the table cannot know: the kernel's walk names it.
        let open = as_self(syscall_record(
            nr::OPENAT,
            FD as i64,
            [7777, 0, 0, 0, 0, 0],
            &[
                (0, CaptureKind::UserStr, b"link"),
                (1, CaptureKind::FilePathRetFd, b"\0target\0data\0srv\0"),
            ],
        ));
        before(&mut procs, &decode(&open).unwrap());
        assert_eq!(
            procs.fd(me, FD as i32).map(|f| f.name.as_str()),
            Some("/srv/data/target")
        );
        // A cut-off walk is not a path: the argument's resolution stands.
        let open = as_self(syscall_record(
            nr::OPEN,
            FD as i64 + 1,
            [0, 0, 0, 0, 0, 0],
            &[
                (0, CaptureKind::UserStr, b"/a/b/c"),
                (1, CaptureKind::FilePathRetFd, b"\x01c\0b\0"),
            ],
        ));
        before(&mut procs, &decode(&open).unwrap());
        assert_eq!(
            procs.fd(me, FD as i32 + 1).map(|f| f.name.as_str()),
            Some("/a/b/c")
        );
    }

    #[test]
    fn failed_open_adds_nothing() {
        let me = std::process::id();
        let mut procs = ProcessTable::new(ProcFs::default());
        let fds_before = procs.process_or_load(me).expect("own process").fds.len();
        let open = as_self(syscall_record(
            nr::OPENAT,
            -2,
            [(-100i64) as u64, 0, 0, 0, 0, 0],
            &[(0, CaptureKind::UserStr, b"/nope")],
        ));
        before(&mut procs, &decode(&open).unwrap());
        assert_eq!(
            procs.process(me).expect("own process").fds.len(),
            fds_before
        );
    }
}
