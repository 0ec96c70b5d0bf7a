//! The syscalls sdtrace decodes: the name and type of each argument, and the
//! captures that tell the kernel which argument memory to copy. Userspace loads
//! the captures into the kernel's spec map from this one table and decodes the
//! records with it, so the two sides cannot disagree.
//!
//! Syscalls missing here still arrive, with their number and raw arguments.

use crate::syscall_names::nr;
use crate::{
    Capture, CaptureKind, MAX_CAPTURES, WHEN_ALWAYS, WHEN_FAILED, WHEN_OK, WHEN_OK_OR_INPROGRESS,
};

/// How userspace shows one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgType {
    /// A file descriptor, resolved to its name through the fd table.
    Fd,
    /// A directory fd for *at() calls (`AT_FDCWD` = -100).
    Dirfd,
    Int,
    UInt,
    Hex,
    OpenFlags,
    Mode,
    Signal,
    Pid,
    Uid,
    Gid,
    CloneFlags,
    SocketDomain,
    SocketType,
    /// Whatever capture `slot` produced (path, buffer, sockaddr, fd pair, argv, bytes).
    Captured(u8),
}

#[derive(Clone, Copy, Debug)]
pub struct ArgDef {
    pub name: &'static str,
    /// Register index, 0..6.
    pub reg: u8,
    pub ty: ArgType,
}

#[derive(Clone, Copy, Debug)]
pub struct SyscallDef {
    pub nr: u16,
    pub args: &'static [ArgDef],
    pub caps: &'static [Capture],
}

impl SyscallDef {
    /// The captures as the kernel's fixed-size array.
    pub fn capture_array(&self) -> [Capture; MAX_CAPTURES] {
        let mut out = [Capture::default(); MAX_CAPTURES];
        let mut i = 0;
        while i < self.caps.len() && i < MAX_CAPTURES {
            out[i] = self.caps[i];
            i += 1;
        }
        out
    }

    /// The captures with the [`KERNEL_PATH_CAPTURES`] ones appended when
    /// `kernel_paths` is set, and how many are used. An appended capture
    /// takes the next slot, which no argument names: decoding by slot is
    /// unchanged, and the path is found by its kind.
    pub fn captures(&self, kernel_paths: bool) -> ([Capture; MAX_CAPTURES], u8) {
        let mut out = self.capture_array();
        let mut n = self.caps.len().min(MAX_CAPTURES);
        if kernel_paths {
            for (nr, cap) in KERNEL_PATH_CAPTURES {
                if *nr == self.nr && n < MAX_CAPTURES {
                    out[n] = *cap;
                    n += 1;
                }
            }
        }
        (out, n as u8)
    }
}

const fn a(name: &'static str, reg: u8, ty: ArgType) -> ArgDef {
    ArgDef { name, reg, ty }
}
const fn c(kind: CaptureKind, arg: u8, aux: u8, when: u8) -> Capture {
    Capture {
        kind: kind as u8,
        arg,
        aux,
        when,
    }
}
const fn path(arg: u8) -> Capture {
    c(CaptureKind::UserStr, arg, 0, WHEN_ALWAYS)
}
const fn d(nr: u16, args: &'static [ArgDef], caps: &'static [Capture]) -> SyscallDef {
    SyscallDef { nr, args, caps }
}

use ArgType::*;
use CaptureKind as K;

/// Slot helper for readability in the table.
const S0: ArgType = Captured(0);
const S1: ArgType = Captured(1);
const S2: ArgType = Captured(2);

const TUPLE_ARG0: Capture = c(K::SockTupleArgFd, 0, 0, WHEN_OK_OR_INPROGRESS);
const TUPLE_RET: Capture = c(K::SockTupleRetFd, 0, 0, WHEN_OK);
/// The path of the file behind the fd in `args[0]`, from the kernel's dentry walk.
pub const KPATH_ARG0: Capture = c(K::FilePathArgFd, 0, 0, WHEN_ALWAYS);
/// The path of the file behind the fd an open returned.
pub const KPATH_RET: Capture = c(K::FilePathRetFd, 0, 0, WHEN_OK);
const READ_BUF: Capture = c(K::BufferRet, 1, 0, WHEN_OK);
const WRITE_BUF: Capture = c(K::BufferRet, 1, 0, WHEN_OK);

/// Every decoded syscall, sorted by number.
pub const SYSCALL_DEFS: &[SyscallDef] = &[
    d(
        nr::READ,
        &[a("fd", 0, Fd), a("data", 1, S0), a("size", 2, UInt)],
        &[READ_BUF],
    ),
    d(
        nr::WRITE,
        &[a("fd", 0, Fd), a("data", 1, S0), a("size", 2, UInt)],
        &[WRITE_BUF],
    ),
    d(
        nr::OPEN,
        &[
            a("name", 0, S0),
            a("flags", 1, OpenFlags),
            a("mode", 2, Mode),
        ],
        &[path(0)],
    ),
    d(nr::CLOSE, &[a("fd", 0, Fd)], &[]),
    d(nr::STAT, &[a("path", 0, S0)], &[path(0)]),
    d(nr::FSTAT, &[a("fd", 0, Fd)], &[]),
    d(nr::LSTAT, &[a("path", 0, S0)], &[path(0)]),
    d(
        nr::POLL,
        &[a("fds", 0, Hex), a("nfds", 1, UInt), a("timeout", 2, Int)],
        &[],
    ),
    d(
        nr::LSEEK,
        &[a("fd", 0, Fd), a("offset", 1, Int), a("whence", 2, Int)],
        &[],
    ),
    d(
        nr::MMAP,
        &[
            a("addr", 0, Hex),
            a("length", 1, UInt),
            a("prot", 2, Hex),
            a("flags", 3, Hex),
            a("fd", 4, Fd),
            a("offset", 5, UInt),
        ],
        &[],
    ),
    d(
        nr::MPROTECT,
        &[a("addr", 0, Hex), a("length", 1, UInt), a("prot", 2, Hex)],
        &[],
    ),
    d(nr::MUNMAP, &[a("addr", 0, Hex), a("length", 1, UInt)], &[]),
    d(nr::BRK, &[a("addr", 0, Hex)], &[]),
    d(
        nr::RT_SIGACTION,
        &[a("sig", 0, Signal), a("act", 1, Hex), a("oact", 2, Hex)],
        &[],
    ),
    d(
        nr::RT_SIGPROCMASK,
        &[a("how", 0, Int), a("set", 1, Hex), a("oset", 2, Hex)],
        &[],
    ),
    d(
        nr::IOCTL,
        &[a("fd", 0, Fd), a("request", 1, Hex), a("argument", 2, Hex)],
        &[],
    ),
    d(
        nr::PREAD64,
        &[
            a("fd", 0, Fd),
            a("data", 1, S0),
            a("size", 2, UInt),
            a("pos", 3, Int),
        ],
        &[READ_BUF],
    ),
    d(
        nr::PWRITE64,
        &[
            a("fd", 0, Fd),
            a("data", 1, S0),
            a("size", 2, UInt),
            a("pos", 3, Int),
        ],
        &[WRITE_BUF],
    ),
    d(
        nr::READV,
        &[a("fd", 0, Fd), a("data", 1, S0), a("iovcnt", 2, UInt)],
        &[c(K::IovecRet, 1, 2, WHEN_OK)],
    ),
    d(
        nr::WRITEV,
        &[a("fd", 0, Fd), a("data", 1, S0), a("iovcnt", 2, UInt)],
        &[c(K::IovecRet, 1, 2, WHEN_OK)],
    ),
    d(
        nr::ACCESS,
        &[a("name", 0, S0), a("mode", 1, Mode)],
        &[path(0)],
    ),
    d(nr::PIPE, &[a("fds", 0, S0)], &[c(K::FdPair, 0, 0, WHEN_OK)]),
    d(
        nr::SELECT,
        &[
            a("nfds", 0, Int),
            a("readfds", 1, Hex),
            a("writefds", 2, Hex),
            a("exceptfds", 3, Hex),
            a("timeout", 4, Hex),
        ],
        &[],
    ),
    d(nr::SCHED_YIELD, &[], &[]),
    d(
        nr::MADVISE,
        &[a("addr", 0, Hex), a("length", 1, UInt), a("advice", 2, Int)],
        &[],
    ),
    d(nr::DUP, &[a("oldfd", 0, Fd)], &[]),
    d(nr::DUP2, &[a("oldfd", 0, Fd), a("newfd", 1, Int)], &[]),
    d(nr::NANOSLEEP, &[a("req", 0, Hex), a("rem", 1, Hex)], &[]),
    d(nr::GETPID, &[], &[]),
    d(
        nr::SENDFILE,
        &[
            a("out_fd", 0, Fd),
            a("in_fd", 1, Fd),
            a("offset", 2, Hex),
            a("size", 3, UInt),
        ],
        &[],
    ),
    d(
        nr::SOCKET,
        &[
            a("domain", 0, SocketDomain),
            a("type", 1, SocketType),
            a("proto", 2, Int),
        ],
        &[],
    ),
    d(
        nr::CONNECT,
        &[a("fd", 0, Fd), a("addr", 1, S0), a("tuple", 0, S1)],
        &[c(K::Sockaddr, 1, 2, WHEN_ALWAYS), TUPLE_ARG0],
    ),
    d(
        nr::ACCEPT,
        &[a("fd", 0, Fd), a("addr", 1, S0), a("tuple", 0, S1)],
        &[c(K::SockaddrLenPtr, 1, 2, WHEN_OK), TUPLE_RET],
    ),
    d(
        nr::SENDTO,
        &[
            a("fd", 0, Fd),
            a("data", 1, S0),
            a("size", 2, UInt),
            a("addr", 4, S1),
        ],
        &[WRITE_BUF, c(K::Sockaddr, 4, 5, WHEN_ALWAYS)],
    ),
    d(
        nr::RECVFROM,
        &[
            a("fd", 0, Fd),
            a("data", 1, S0),
            a("size", 2, UInt),
            a("addr", 4, S1),
        ],
        &[READ_BUF, c(K::SockaddrLenPtr, 4, 5, WHEN_OK)],
    ),
    d(
        nr::SENDMSG,
        &[a("fd", 0, Fd), a("msg", 1, S0), a("flags", 2, Hex)],
        &[c(K::MsghdrRet, 1, 0, WHEN_OK)],
    ),
    d(
        nr::RECVMSG,
        &[a("fd", 0, Fd), a("msg", 1, S0), a("flags", 2, Hex)],
        &[c(K::MsghdrRet, 1, 0, WHEN_OK)],
    ),
    d(nr::SHUTDOWN, &[a("fd", 0, Fd), a("how", 1, Int)], &[]),
    d(
        nr::BIND,
        &[a("fd", 0, Fd), a("addr", 1, S0)],
        &[c(K::Sockaddr, 1, 2, WHEN_ALWAYS)],
    ),
    d(nr::LISTEN, &[a("fd", 0, Fd), a("backlog", 1, Int)], &[]),
    d(
        nr::SOCKETPAIR,
        &[
            a("domain", 0, SocketDomain),
            a("type", 1, SocketType),
            a("proto", 2, Int),
            a("fds", 3, S0),
        ],
        &[c(K::FdPair, 3, 0, WHEN_OK)],
    ),
    d(nr::CLONE, &[a("flags", 0, CloneFlags)], &[]),
    d(nr::FORK, &[], &[]),
    d(nr::VFORK, &[], &[]),
    d(
        nr::EXECVE,
        &[a("filename", 0, S0), a("argv", 1, S1)],
        &[
            c(K::UserStr, 0, 0, WHEN_FAILED),
            c(K::Argv, 1, 0, WHEN_FAILED),
        ],
    ),
    d(nr::EXIT, &[a("status", 0, Int)], &[]),
    d(
        nr::WAIT4,
        &[
            a("pid", 0, Pid),
            a("status", 1, Hex),
            a("options", 2, Hex),
            a("rusage", 3, Hex),
        ],
        &[],
    ),
    d(nr::KILL, &[a("pid", 0, Pid), a("sig", 1, Signal)], &[]),
    d(
        nr::FCNTL,
        &[a("fd", 0, Fd), a("cmd", 1, Int), a("arg", 2, Hex)],
        &[],
    ),
    d(nr::FLOCK, &[a("fd", 0, Fd), a("operation", 1, Int)], &[]),
    d(nr::FSYNC, &[a("fd", 0, Fd)], &[KPATH_ARG0]),
    d(nr::FDATASYNC, &[a("fd", 0, Fd)], &[KPATH_ARG0]),
    d(
        nr::TRUNCATE,
        &[a("path", 0, S0), a("length", 1, Int)],
        &[path(0)],
    ),
    d(
        nr::FTRUNCATE,
        &[a("fd", 0, Fd), a("length", 1, Int)],
        &[KPATH_ARG0],
    ),
    d(nr::GETCWD, &[a("buf", 0, Hex), a("size", 1, UInt)], &[]),
    d(nr::CHDIR, &[a("path", 0, S0)], &[path(0)]),
    d(nr::FCHDIR, &[a("fd", 0, Fd)], &[]),
    d(
        nr::RENAME,
        &[a("oldpath", 0, S0), a("newpath", 1, S1)],
        &[path(0), path(1)],
    ),
    d(
        nr::MKDIR,
        &[a("path", 0, S0), a("mode", 1, Mode)],
        &[path(0)],
    ),
    d(nr::RMDIR, &[a("path", 0, S0)], &[path(0)]),
    d(
        nr::CREAT,
        &[a("name", 0, S0), a("mode", 1, Mode)],
        &[path(0)],
    ),
    d(
        nr::LINK,
        &[a("oldpath", 0, S0), a("newpath", 1, S1)],
        &[path(0), path(1)],
    ),
    d(nr::UNLINK, &[a("path", 0, S0)], &[path(0)]),
    d(
        nr::SYMLINK,
        &[a("target", 0, S0), a("linkpath", 1, S1)],
        &[path(0), path(1)],
    ),
    d(nr::READLINK, &[a("path", 0, S0)], &[path(0)]),
    d(
        nr::CHMOD,
        &[a("filename", 0, S0), a("mode", 1, Mode)],
        &[path(0)],
    ),
    d(
        nr::FCHMOD,
        &[a("fd", 0, Fd), a("mode", 1, Mode)],
        &[KPATH_ARG0],
    ),
    d(
        nr::CHOWN,
        &[a("path", 0, S0), a("uid", 1, Uid), a("gid", 2, Gid)],
        &[path(0)],
    ),
    d(
        nr::FCHOWN,
        &[a("fd", 0, Fd), a("uid", 1, Uid), a("gid", 2, Gid)],
        &[KPATH_ARG0],
    ),
    d(
        nr::LCHOWN,
        &[a("path", 0, S0), a("uid", 1, Uid), a("gid", 2, Gid)],
        &[path(0)],
    ),
    d(
        nr::PTRACE,
        &[
            a("request", 0, Int),
            a("pid", 1, Pid),
            a("addr", 2, Hex),
            a("data", 3, Hex),
        ],
        &[],
    ),
    d(nr::GETUID, &[], &[]),
    d(nr::GETGID, &[], &[]),
    d(nr::SETUID, &[a("uid", 0, Uid)], &[]),
    d(nr::SETGID, &[a("gid", 0, Gid)], &[]),
    d(nr::GETEUID, &[], &[]),
    d(nr::GETEGID, &[], &[]),
    d(nr::GETPPID, &[], &[]),
    d(nr::SETREUID, &[a("ruid", 0, Uid), a("euid", 1, Uid)], &[]),
    d(nr::SETREGID, &[a("rgid", 0, Gid), a("egid", 1, Gid)], &[]),
    d(
        nr::SETRESUID,
        &[a("ruid", 0, Uid), a("euid", 1, Uid), a("suid", 2, Uid)],
        &[],
    ),
    d(
        nr::SETRESGID,
        &[a("rgid", 0, Gid), a("egid", 1, Gid), a("sgid", 2, Gid)],
        &[],
    ),
    d(nr::SETFSUID, &[a("uid", 0, Uid)], &[]),
    d(nr::SETFSGID, &[a("gid", 0, Gid)], &[]),
    d(nr::FSTATFS, &[a("fd", 0, Fd), a("buf", 1, Hex)], &[]),
    d(
        nr::PRCTL,
        &[
            a("option", 0, Int),
            a("arg2", 1, Hex),
            a("arg3", 2, Hex),
            a("arg4", 3, Hex),
            a("arg5", 4, Hex),
        ],
        &[],
    ),
    d(nr::ARCH_PRCTL, &[a("code", 0, Hex), a("addr", 1, Hex)], &[]),
    d(
        nr::MOUNT,
        &[
            a("dev", 0, S0),
            a("dir", 1, S1),
            a("type", 2, S2),
            a("flags", 3, Hex),
        ],
        &[path(0), path(1), path(2)],
    ),
    d(
        nr::UMOUNT2,
        &[a("name", 0, S0), a("flags", 1, Hex)],
        &[path(0)],
    ),
    d(nr::GETTID, &[], &[]),
    d(nr::TKILL, &[a("tid", 0, Pid), a("sig", 1, Signal)], &[]),
    d(
        nr::FUTEX,
        &[a("addr", 0, Hex), a("op", 1, Int), a("val", 2, UInt)],
        &[],
    ),
    d(
        nr::GETDENTS64,
        &[a("fd", 0, Fd), a("dirp", 1, Hex), a("count", 2, UInt)],
        &[],
    ),
    d(nr::SET_TID_ADDRESS, &[a("tidptr", 0, Hex)], &[]),
    d(
        nr::CLOCK_NANOSLEEP,
        &[
            a("clockid", 0, Int),
            a("flags", 1, Hex),
            a("req", 2, Hex),
            a("rem", 3, Hex),
        ],
        &[],
    ),
    d(nr::EXIT_GROUP, &[a("status", 0, Int)], &[]),
    d(
        nr::EPOLL_WAIT,
        &[
            a("epfd", 0, Fd),
            a("events", 1, Hex),
            a("maxevents", 2, Int),
            a("timeout", 3, Int),
        ],
        &[],
    ),
    d(
        nr::EPOLL_CTL,
        &[
            a("epfd", 0, Fd),
            a("op", 1, Int),
            a("fd", 2, Int),
            a("event", 3, Hex),
        ],
        &[],
    ),
    d(
        nr::TGKILL,
        &[a("pid", 0, Pid), a("tid", 1, Pid), a("sig", 2, Signal)],
        &[],
    ),
    d(
        nr::INOTIFY_ADD_WATCH,
        &[a("fd", 0, Fd), a("name", 1, S0), a("mask", 2, Hex)],
        &[path(1)],
    ),
    d(
        nr::OPENAT,
        &[
            a("dirfd", 0, Dirfd),
            a("name", 1, S0),
            a("flags", 2, OpenFlags),
            a("mode", 3, Mode),
        ],
        &[path(1)],
    ),
    d(
        nr::MKDIRAT,
        &[a("dirfd", 0, Dirfd), a("path", 1, S0), a("mode", 2, Mode)],
        &[path(1)],
    ),
    d(
        nr::FCHOWNAT,
        &[
            a("dirfd", 0, Dirfd),
            a("pathname", 1, S0),
            a("uid", 2, Uid),
            a("gid", 3, Gid),
            a("flags", 4, Hex),
        ],
        &[path(1)],
    ),
    d(
        nr::NEWFSTATAT,
        &[a("dirfd", 0, Dirfd), a("path", 1, S0), a("flags", 3, Hex)],
        &[path(1)],
    ),
    d(
        nr::UNLINKAT,
        &[a("dirfd", 0, Dirfd), a("name", 1, S0), a("flags", 2, Hex)],
        &[path(1)],
    ),
    d(
        nr::RENAMEAT,
        &[
            a("olddirfd", 0, Dirfd),
            a("oldpath", 1, S0),
            a("newdirfd", 2, Dirfd),
            a("newpath", 3, S1),
        ],
        &[path(1), path(3)],
    ),
    d(
        nr::LINKAT,
        &[
            a("olddir", 0, Dirfd),
            a("oldpath", 1, S0),
            a("newdir", 2, Dirfd),
            a("newpath", 3, S1),
            a("flags", 4, Hex),
        ],
        &[path(1), path(3)],
    ),
    d(
        nr::SYMLINKAT,
        &[
            a("target", 0, S0),
            a("linkdirfd", 1, Dirfd),
            a("linkpath", 2, S1),
        ],
        &[path(0), path(2)],
    ),
    d(
        nr::READLINKAT,
        &[a("dirfd", 0, Dirfd), a("path", 1, S0)],
        &[path(1)],
    ),
    d(
        nr::FCHMODAT,
        &[
            a("dirfd", 0, Dirfd),
            a("filename", 1, S0),
            a("mode", 2, Mode),
        ],
        &[path(1)],
    ),
    d(
        nr::FACCESSAT,
        &[a("dirfd", 0, Dirfd), a("name", 1, S0), a("mode", 2, Mode)],
        &[path(1)],
    ),
    d(
        nr::PPOLL,
        &[
            a("fds", 0, Hex),
            a("nfds", 1, UInt),
            a("timeout", 2, Hex),
            a("sigmask", 3, Hex),
        ],
        &[],
    ),
    d(nr::UNSHARE, &[a("flags", 0, CloneFlags)], &[]),
    d(
        nr::SPLICE,
        &[
            a("fd_in", 0, Fd),
            a("off_in", 1, Hex),
            a("fd_out", 2, Fd),
            a("off_out", 3, Hex),
            a("size", 4, UInt),
        ],
        &[],
    ),
    d(
        nr::EPOLL_PWAIT,
        &[
            a("epfd", 0, Fd),
            a("events", 1, Hex),
            a("maxevents", 2, Int),
            a("timeout", 3, Int),
        ],
        &[],
    ),
    d(
        nr::TIMERFD_CREATE,
        &[a("clockid", 0, Int), a("flags", 1, Hex)],
        &[],
    ),
    d(
        nr::ACCEPT4,
        &[
            a("fd", 0, Fd),
            a("addr", 1, S0),
            a("tuple", 0, S1),
            a("flags", 3, Hex),
        ],
        &[c(K::SockaddrLenPtr, 1, 2, WHEN_OK), TUPLE_RET],
    ),
    d(
        nr::EVENTFD2,
        &[a("initval", 0, UInt), a("flags", 1, Hex)],
        &[],
    ),
    d(nr::EPOLL_CREATE1, &[a("flags", 0, Hex)], &[]),
    d(
        nr::DUP3,
        &[a("oldfd", 0, Fd), a("newfd", 1, Int), a("flags", 2, Hex)],
        &[],
    ),
    d(
        nr::PIPE2,
        &[a("fds", 0, S0), a("flags", 1, Hex)],
        &[c(K::FdPair, 0, 0, WHEN_OK)],
    ),
    d(nr::INOTIFY_INIT1, &[a("flags", 0, Hex)], &[]),
    d(
        nr::PREADV,
        &[
            a("fd", 0, Fd),
            a("data", 1, S0),
            a("iovcnt", 2, UInt),
            a("pos", 3, Int),
        ],
        &[c(K::IovecRet, 1, 2, WHEN_OK)],
    ),
    d(
        nr::PWRITEV,
        &[
            a("fd", 0, Fd),
            a("data", 1, S0),
            a("iovcnt", 2, UInt),
            a("pos", 3, Int),
        ],
        &[c(K::IovecRet, 1, 2, WHEN_OK)],
    ),
    d(
        nr::RECVMMSG,
        &[a("fd", 0, Fd), a("vlen", 2, UInt), a("flags", 3, Hex)],
        &[],
    ),
    d(
        nr::SENDMMSG,
        &[a("fd", 0, Fd), a("vlen", 2, UInt), a("flags", 3, Hex)],
        &[],
    ),
    d(
        nr::SETNS,
        &[a("fd", 0, Fd), a("nstype", 1, CloneFlags)],
        &[],
    ),
    d(
        nr::RENAMEAT2,
        &[
            a("olddirfd", 0, Dirfd),
            a("oldpath", 1, S0),
            a("newdirfd", 2, Dirfd),
            a("newpath", 3, S1),
            a("flags", 4, Hex),
        ],
        &[path(1), path(3)],
    ),
    d(
        nr::GETRANDOM,
        &[a("buf", 0, Hex), a("length", 1, UInt), a("flags", 2, Hex)],
        &[],
    ),
    d(
        nr::MEMFD_CREATE,
        &[a("name", 0, S0), a("flags", 1, Hex)],
        &[path(0)],
    ),
    d(
        nr::EXECVEAT,
        &[
            a("dirfd", 0, Dirfd),
            a("pathname", 1, S0),
            a("argv", 2, S1),
            a("flags", 4, Hex),
        ],
        &[
            c(K::UserStr, 1, 0, WHEN_FAILED),
            c(K::Argv, 2, 0, WHEN_FAILED),
        ],
    ),
    d(
        nr::COPY_FILE_RANGE,
        &[
            a("fdin", 0, Fd),
            a("offin", 1, Hex),
            a("fdout", 2, Fd),
            a("offout", 3, Hex),
            a("len", 4, UInt),
            a("flags", 5, Hex),
        ],
        &[],
    ),
    d(
        nr::PREADV2,
        &[
            a("fd", 0, Fd),
            a("data", 1, S0),
            a("iovcnt", 2, UInt),
            a("pos", 3, Int),
            a("flags", 5, Hex),
        ],
        &[c(K::IovecRet, 1, 2, WHEN_OK)],
    ),
    d(
        nr::PWRITEV2,
        &[
            a("fd", 0, Fd),
            a("data", 1, S0),
            a("iovcnt", 2, UInt),
            a("pos", 3, Int),
            a("flags", 5, Hex),
        ],
        &[c(K::IovecRet, 1, 2, WHEN_OK)],
    ),
    d(
        nr::STATX,
        &[a("dirfd", 0, Dirfd), a("path", 1, S0), a("flags", 2, Hex)],
        &[path(1)],
    ),
    d(
        nr::CLONE3,
        &[a("flags", 0, S0)],
        &[c(K::Bytes, 0, 8, WHEN_ALWAYS)],
    ),
    d(
        nr::CLOSE_RANGE,
        &[a("first", 0, Fd), a("last", 1, UInt), a("flags", 2, Hex)],
        &[],
    ),
    d(
        nr::OPENAT2,
        &[a("dirfd", 0, Dirfd), a("name", 1, S0), a("how", 2, S1)],
        &[path(1), c(K::Bytes, 2, 24, WHEN_ALWAYS)],
    ),
    d(
        nr::FACCESSAT2,
        &[
            a("dirfd", 0, Dirfd),
            a("name", 1, S0),
            a("mode", 2, Mode),
            a("flags", 3, Hex),
        ],
        &[path(1)],
    ),
];

/// Captures appended to a syscall's own when userspace asks for kernel paths
/// (`CaptureOptions::kernel_paths`): the fd an open returned, the fd a write
/// went to. Off by default, so the default capture (and what a capture file
/// holds) does not pay for them.
pub static KERNEL_PATH_CAPTURES: &[(u16, Capture)] = &[
    (nr::OPEN, KPATH_RET),
    (nr::OPENAT, KPATH_RET),
    (nr::OPENAT2, KPATH_RET),
    (nr::CREAT, KPATH_RET),
    (nr::WRITE, KPATH_ARG0),
    (nr::PWRITE64, KPATH_ARG0),
    (nr::WRITEV, KPATH_ARG0),
    (nr::PWRITEV, KPATH_ARG0),
];

/// Marks a syscall number without a definition in [`DEF_INDEX`].
const NO_DEF: u8 = u8::MAX;

/// Position in [`SYSCALL_DEFS`] by syscall number, built at compile time:
/// `def` runs for every event printed.
const DEF_INDEX: [u8; crate::SYSCALL_SLOTS as usize] = {
    let mut index = [NO_DEF; crate::SYSCALL_SLOTS as usize];
    let mut i = 0;
    while i < SYSCALL_DEFS.len() {
        assert!(i < NO_DEF as usize, "too many definitions for a u8 index");
        index[SYSCALL_DEFS[i].nr as usize] = i as u8;
        i += 1;
    }
    index
};

/// The definition of syscall `nr`, when sdtrace decodes it.
pub fn def(nr: u16) -> Option<&'static SyscallDef> {
    match DEF_INDEX.get(nr as usize) {
        Some(&i) if i != NO_DEF => SYSCALL_DEFS.get(i as usize),
        _ => None,
    }
}

/// Syscalls whose results keep userspace's process and fd tables exact. The
/// kernel forwards them whatever the filter's syscall set says; userspace
/// applies them to its tables and then filters them like any other event.
pub static STATE_SYSCALLS: &[u16] = &[
    nr::OPEN,
    nr::OPENAT,
    nr::OPENAT2,
    nr::CREAT,
    nr::CLOSE,
    nr::CLOSE_RANGE,
    nr::DUP,
    nr::DUP2,
    nr::DUP3,
    nr::FCNTL,
    nr::SOCKET,
    nr::SOCKETPAIR,
    nr::CONNECT,
    nr::ACCEPT,
    nr::ACCEPT4,
    nr::BIND,
    nr::PIPE,
    nr::PIPE2,
    nr::INOTIFY_INIT1,
    nr::CHDIR,
    nr::FCHDIR,
    nr::CLONE,
    nr::CLONE3,
    nr::FORK,
    nr::VFORK,
    nr::EXECVE,
    nr::EXECVEAT,
    nr::SETNS,
    nr::UNSHARE,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for w in SYSCALL_DEFS.windows(2) {
            assert!(w[0].nr < w[1].nr, "{} before {}", w[0].nr, w[1].nr);
        }
    }

    #[test]
    fn index_finds_every_definition() {
        for d in SYSCALL_DEFS {
            assert_eq!(def(d.nr).map(|x| x.nr), Some(d.nr));
        }
        assert!(def(nr::VHANGUP).is_none());
        assert!(def(u16::MAX).is_none());
    }

    #[test]
    fn kernel_path_captures_fit_and_come_last() {
        for (nr, cap) in KERNEL_PATH_CAPTURES {
            let d = def(*nr).expect("a kernel path capture needs a definition");
            assert!(d.caps.len() < MAX_CAPTURES, "no room in syscall {nr}");
            let (caps, n) = d.captures(true);
            assert_eq!(n as usize, d.caps.len() + 1);
            assert_eq!(caps[d.caps.len()].kind, cap.kind);
            let (_, n) = d.captures(false);
            assert_eq!(n as usize, d.caps.len(), "off by default");
        }
        let fchmod = def(nr::FCHMOD).unwrap();
        assert_eq!(fchmod.captures(false).1, 1, "fchmod's path is always read");
    }

    #[test]
    fn captured_slots_exist() {
        for d in SYSCALL_DEFS {
            assert!(d.caps.len() <= MAX_CAPTURES);
            for arg in d.args {
                if let ArgType::Captured(slot) = arg.ty {
                    assert!(
                        (slot as usize) < d.caps.len(),
                        "syscall {} arg {}",
                        d.nr,
                        arg.name
                    );
                }
            }
        }
    }
}
