//! Field values of one event: the event side of the registry. Everything is
//! read from the record and the state tables by reference; only the fields
//! that are themselves formatted text (`evt.time`, `evt.info`, ...) allocate.

use std::borrow::Cow;

use tracer_common::syscall_names::nr;
use tracer_common::syscalls::ArgType;
use tracer_common::HDR_NO_RESULT;

use crate::container::{docker::Meta, Place};
use crate::decode::args::{self, ArgValue};
use crate::decode::{flags, Body, Record};
use crate::event::clock::Clock;
use crate::event::info::{self, returns_fd, FdLabel};
use crate::filter::FieldSource;
use crate::k8s::PodInfo;
use crate::state::{resolve, FdInfo, FdKind, Process, ProcessTable, Users, AT_FDCWD};

use crate::fields::{FieldArg, FieldId, FieldRef, Value};

/// One event with everything needed to answer any field about it.
pub struct EventView<'a> {
    /// sysdig's `evt.num`.
    pub num: u64,
    pub rec: &'a Record<'a>,
    pub procs: &'a ProcessTable,
    pub users: &'a Users,
    pub clock: &'a Clock,
    /// Whether events carry their latency (entry hook attached).
    pub latency: bool,
    /// How I/O buffers are printed in `evt.info`/`evt.args`.
    pub buffers: info::BufferMode,
    /// Where the process runs, when looked up (see [`crate::container`]).
    pub place: Option<&'a Place>,
    /// Its container's metadata, once the runtime has answered.
    pub meta: Option<&'a Meta>,
    /// Its pod as the Kubernetes API server describes it, once known.
    pub pod: Option<&'a PodInfo>,
    /// The node every event happens on, when sdtrace knows it is one
    /// (`sdtrace agent`).
    pub node: Option<&'a str>,
}

/// `evt.type` of a record: the syscall name, `procexit`, or `syscall_<nr>`
/// for numbers the table does not name.
pub fn event_type(rec: &Record<'_>) -> Cow<'static, str> {
    match rec.body {
        Body::Exit(_) => Cow::Borrowed("procexit"),
        _ => crate::fields::syscall_name(u32::from(rec.hdr.nr)),
    }
}

fn comm<'r>(rec: &'r Record<'_>) -> &'r str {
    let c = &rec.hdr.comm;
    let end = c.iter().position(|&b| b == 0).unwrap_or(c.len());
    std::str::from_utf8(&c[..end]).unwrap_or("<bad-utf8>")
}

/// The fd a record is about: the one it returned, or its first fd argument.
pub fn event_fd(rec: &Record<'_>) -> Option<i64> {
    let Body::Syscall(ev) = &rec.body else {
        return None;
    };
    let h = &rec.hdr;
    // As sysdig: no fd fields for events it does not tie to an fd (mmap's
    // fd argument, fchmod's) even when an argument is one.
    if crate::scap::event::syscall_has_fd(h.nr) == Some(false) {
        return None;
    }
    if returns_fd(h.nr) && h.ret >= 0 {
        return Some(h.ret);
    }
    // fcntl's duplicating commands are about the new fd, as in sysdig.
    use tracer_common::abi::{F_DUPFD, F_DUPFD_CLOEXEC};
    if h.nr == nr::FCNTL && h.ret >= 0 && matches!(ev.args[1], F_DUPFD | F_DUPFD_CLOEXEC) {
        return Some(h.ret);
    }
    let def = tracer_common::syscalls::def(h.nr)?;
    def.args
        .iter()
        .find(|a| a.ty == tracer_common::syscalls::ArgType::Fd)
        .map(|a| ev.args[a.reg as usize % 6] as i32 as i64)
}

const O_CREAT: u64 = 0o100;

/// Which way an I/O syscall moves data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Io {
    Read,
    Write,
    /// From one fd to another (copy_file_range): both, as in sysdig.
    Both,
}

/// sysdig's `evt.is_io_*`: the read, write, send and recv families.
fn io_kind(sysno: u16) -> Option<Io> {
    match sysno {
        nr::READ
        | nr::PREAD64
        | nr::READV
        | nr::PREADV
        | nr::PREADV2
        | nr::RECVFROM
        | nr::RECVMSG
        | nr::RECVMMSG => Some(Io::Read),
        nr::WRITE
        | nr::PWRITE64
        | nr::WRITEV
        | nr::PWRITEV
        | nr::PWRITEV2
        | nr::SENDTO
        | nr::SENDMSG
        | nr::SENDMMSG
        | nr::SENDFILE => Some(Io::Write),
        nr::COPY_FILE_RANGE => Some(Io::Both),
        _ => None,
    }
}

fn label(fd: Option<&FdInfo>) -> FdLabel<'_> {
    fd.map(|f| (f.type_char(), f.name.as_str()))
}

impl<'a> EventView<'a> {
    pub fn process(&self) -> Option<&'a Process> {
        self.procs.process(self.rec.hdr.tgid)
    }

    /// The fd this event is about (see [`event_fd`]).
    pub fn fd_num(&self) -> Option<i64> {
        event_fd(self.rec)
    }

    /// The path a failed open tried, resolved as a successful one would
    /// be: sysdig shows it as `fd.name` (with `fd.num` -1) though no fd exists.
    fn failed_open_path(&self) -> Option<String> {
        let h = &self.rec.hdr;
        if h.ret >= 0 || !matches!(h.nr, nr::OPEN | nr::OPENAT | nr::OPENAT2 | nr::CREAT) {
            return None;
        }
        let Body::Syscall(ev) = &self.rec.body else {
            return None;
        };
        let Some(ArgValue::Path(path)) = args::arg_named(h.nr, ev, "name") else {
            return None;
        };
        let path = String::from_utf8_lossy(path);
        let dirfd = match args::arg_named(h.nr, ev, "dirfd") {
            Some(ArgValue::Dirfd(d)) => i32::try_from(d).unwrap_or(AT_FDCWD),
            _ => AT_FDCWD,
        };
        let base = if dirfd == AT_FDCWD {
            self.process().map(|p| p.cwd.as_str())
        } else {
            self.procs
                .fd(h.tgid, dirfd)
                .filter(|d| d.kind.is_path())
                .map(|d| d.name.as_str())
        };
        Some(match base {
            Some(base) => resolve(base, &path),
            None => path.into_owned(),
        })
    }

    /// The path the kernel's dentry walk found for the event's fd (see
    /// [`crate::decode::kernel_path`]).
    pub fn kernel_path(&self) -> Option<String> {
        match &self.rec.body {
            Body::Syscall(ev) => crate::decode::kernel_path(ev),
            _ => None,
        }
    }

    /// `fd.name` of an event about an fd the fd table does not know (opened
    /// before sdtrace started and not found in /proc, say): the kernel's
    /// path, when the record carries one.
    fn unknown_fd_path(&self) -> Option<String> {
        self.fd_num()?;
        self.kernel_path()
    }

    pub fn fd(&self) -> Option<&'a FdInfo> {
        let fd = i32::try_from(self.fd_num()?).ok()?;
        self.procs.fd(self.rec.hdr.tgid, fd)
    }

    fn fd_label(&self, fd: i64) -> FdLabel<'a> {
        label(
            i32::try_from(fd)
                .ok()
                .and_then(|fd| self.procs.fd(self.rec.hdr.tgid, fd)),
        )
    }

    /// `evt.args`: the arguments as `name=value` text.
    pub fn write_args(&self, out: &mut Vec<u8>) {
        let h = &self.rec.hdr;
        match &self.rec.body {
            // A successful exec's argument memory is gone at exit; the
            // process table holds what the exec hook read from the new image.
            Body::Syscall(_) if h.ret == 0 && matches!(h.nr, nr::EXECVE | nr::EXECVEAT) => {
                if let Some(p) = self.process() {
                    out.extend_from_slice(b"exe=");
                    out.extend_from_slice(p.exepath.as_bytes());
                    out.extend_from_slice(b" args=");
                    out.extend_from_slice(p.args.join(" ").as_bytes());
                    out.extend_from_slice(b" cwd=");
                    out.extend_from_slice(p.cwd.as_bytes());
                }
            }
            Body::Syscall(ev) => {
                let list = args::args(self.rec.hdr.nr, ev);
                info::write_args(out, &list, &|fd| self.fd_label(fd), self.buffers);
            }
            Body::Exit(e) => {
                let code = e.exit_code;
                let _ = std::io::Write::write_fmt(
                    out,
                    format_args!(
                        "status={} ret={} sig={} core={}",
                        code,
                        code >> 8 & 0xff,
                        code & 0x7f,
                        u8::from(code & 0x80 != 0)
                    ),
                );
            }
            _ => {}
        }
    }

    /// `evt.info`: the result, then the arguments.
    pub fn write_info(&self, out: &mut Vec<u8>) {
        let h = &self.rec.hdr;
        if let Body::Syscall(_) = self.rec.body {
            let ret_label = if returns_fd(h.nr) && h.ret >= 0 {
                self.fd_label(h.ret)
            } else {
                None
            };
            info::write_result(out, h.nr, h.ret, ret_label);
            let mark = out.len();
            out.push(b' ');
            self.write_args(out);
            if out.len() == mark + 1 {
                out.truncate(mark);
            }
            if self.latency {
                let _ = std::io::Write::write_fmt(out, format_args!(" latency={}", h.latency_ns));
            }
        } else {
            self.write_args(out);
        }
    }

    fn text(&self, write: impl Fn(&Self, &mut Vec<u8>)) -> Value<'a> {
        let mut out = Vec::new();
        write(self, &mut out);
        Value::Str(Cow::Owned(String::from_utf8_lossy(&out).into_owned()))
    }

    fn arg_value(&self, arg: &FieldArg) -> Option<Value<'a>> {
        let Body::Syscall(ev) = &self.rec.body else {
            return None;
        };
        let nr = self.rec.hdr.nr;
        let value = match arg {
            FieldArg::Name(name) => args::arg_named(nr, ev, name)?,
            FieldArg::Index(i) => {
                args::args(nr, ev)
                    .into_iter()
                    .nth(usize::try_from(*i).ok()?)?
                    .value
            }
            FieldArg::None => return None,
        };
        if value == ArgValue::Missing {
            return None;
        }
        let mut out = Vec::new();
        info::write_value(
            &mut out,
            &value,
            &|fd| self.fd_label(fd),
            info::BufferMode::Dots,
        );
        Some(Value::Str(Cow::Owned(
            String::from_utf8_lossy(&out).into_owned(),
        )))
    }

    /// `evt.rawarg.<name>`: the argument register as a number.
    fn raw_arg(&self, arg: &FieldArg) -> Option<Value<'a>> {
        let FieldArg::Name(name) = arg else {
            return None;
        };
        let Body::Syscall(ev) = &self.rec.body else {
            return None;
        };
        let def = tracer_common::syscalls::def(self.rec.hdr.nr)?;
        let a = def.args.iter().find(|a| a.name == name)?;
        let raw = ev.args[a.reg as usize % 6];
        Some(Value::I64(match a.ty {
            // Descriptors, pids and signals are C ints.
            ArgType::Fd | ArgType::Dirfd | ArgType::Pid | ArgType::Signal | ArgType::Int => {
                i64::from(raw as i32)
            }
            _ => raw as i64,
        }))
    }

    /// `evt.buffer`: the data an I/O event captured.
    fn buffer(&self) -> Option<&'a [u8]> {
        let Body::Syscall(ev) = &self.rec.body else {
            return None;
        };
        args::args(self.rec.hdr.nr, ev)
            .into_iter()
            .find_map(|a| match a.value {
                ArgValue::Buffer(b) => Some(b),
                _ => None,
            })
    }

    /// Flags and mode of a successful open-family event.
    fn open_flags(&self) -> Option<(u64, u64)> {
        let Body::Syscall(ev) = &self.rec.body else {
            return None;
        };
        let a = &ev.args;
        match self.rec.hdr.nr {
            nr::OPEN => Some((a[1], a[2])),
            nr::OPENAT => Some((a[2], a[3])),
            nr::CREAT => Some((0o1101, a[1])),
            nr::OPENAT2 => match args::arg_named(nr::OPENAT2, ev, "how")? {
                ArgValue::OpenFlags(flags) => Some((flags, 0)),
                _ => None,
            },
            _ => None,
        }
    }

    /// The value of one field, or `None` when the event has none.
    pub fn get(&self, field: &FieldRef) -> Option<Value<'a>> {
        let h = &self.rec.hdr;
        let u = |v: u64| Some(Value::U64(v));
        let s = |v: &'a str| Some(Value::Str(Cow::Borrowed(v)));
        let is_syscall = matches!(self.rec.body, Body::Syscall(_));
        match field.id {
            FieldId::EvtNum => u(self.num),
            FieldId::EvtTime => Some(self.text(|v, o| v.clock.write_time(o, v.rec.hdr.ts_ns))),
            FieldId::EvtDatetime => {
                Some(self.text(|v, o| v.clock.write_datetime(o, v.rec.hdr.ts_ns)))
            }
            FieldId::EvtRawtime => u(self.clock.epoch_ns(h.ts_ns)),
            FieldId::EvtCpu => u(u64::from(h.cpu)),
            FieldId::EvtType => Some(Value::Str(event_type(self.rec))),
            // sysdig's procexit is an enter event; syscalls show their exit.
            FieldId::EvtDir => s(if is_syscall { "<" } else { ">" }),
            FieldId::EvtRes | FieldId::EvtRawres | FieldId::EvtFailed
                if h.flags & HDR_NO_RESULT != 0 =>
            {
                None
            }
            FieldId::EvtRes if is_syscall => Some(Value::Str(if h.ret < 0 {
                flags::errno_name(h.ret.saturating_neg())
                    .map_or_else(|| Cow::Owned(h.ret.to_string()), Cow::Borrowed)
            } else {
                Cow::Borrowed("SUCCESS")
            })),
            FieldId::EvtRawres if is_syscall => Some(Value::I64(h.ret)),
            FieldId::EvtFailed if is_syscall => Some(Value::Bool(h.ret < 0)),
            FieldId::EvtRes | FieldId::EvtRawres | FieldId::EvtFailed => None,
            // As sysdig: 0 for an exit whose entry was not seen (a new
            // thread's return from clone, a call that began before capture)
            // and for procexit, which has no exit.
            FieldId::EvtLatency => self.latency.then_some(Value::U64(
                if is_syscall && h.flags & tracer_common::HDR_NO_LATENCY == 0 {
                    h.latency_ns
                } else {
                    0
                },
            )),
            FieldId::EvtInfo => Some(self.text(Self::write_info)),
            FieldId::EvtArgs => Some(self.text(Self::write_args)),
            FieldId::EvtArg => self.arg_value(&field.arg),
            FieldId::EvtRawarg => self.raw_arg(&field.arg),
            FieldId::EvtBuffer => self.buffer().map(|b| Value::Bytes(Cow::Borrowed(b))),
            FieldId::EvtIsIo => is_syscall.then(|| Value::Bool(io_kind(h.nr).is_some())),
            FieldId::EvtIsIoRead => {
                is_syscall.then(|| Value::Bool(matches!(io_kind(h.nr), Some(Io::Read | Io::Both))))
            }
            FieldId::EvtIsIoWrite => {
                is_syscall.then(|| Value::Bool(matches!(io_kind(h.nr), Some(Io::Write | Io::Both))))
            }
            FieldId::EvtIsOpenRead
            | FieldId::EvtIsOpenWrite
            | FieldId::EvtIsOpenExec
            | FieldId::EvtIsOpenCreate => is_syscall.then(|| {
                Value::Bool(
                    self.open_flags()
                        .is_some_and(|(flags, mode)| match field.id {
                            FieldId::EvtIsOpenRead => flags & 3 != 1,
                            FieldId::EvtIsOpenWrite => flags & 3 != 0,
                            FieldId::EvtIsOpenCreate => flags & O_CREAT != 0,
                            _ => flags & O_CREAT != 0 && mode & 0o111 != 0,
                        }),
                )
            }),
            FieldId::ProcPid => u(u64::from(h.tgid)),
            FieldId::ProcPpid => u(u64::from(self.process()?.ppid)),
            // No name: a thread a capture file met before knowing it.
            FieldId::ProcName => Some(comm(self.rec))
                .filter(|c| !c.is_empty())
                .map(|c| Value::Str(Cow::Borrowed(c))),
            FieldId::ProcExe => s(&self.process()?.exe),
            FieldId::ProcExepath => s(&self.process()?.exepath),
            FieldId::ProcCmdline => s(&self.process()?.cmdline),
            FieldId::ProcArgs => Some(Value::Str(Cow::Owned(self.process()?.args.join(" ")))),
            FieldId::ProcPname => s(&self.procs.parent(h.tgid)?.comm),
            FieldId::ProcAname => {
                let n = match field.arg {
                    FieldArg::Index(i) => usize::try_from(i).ok()?,
                    _ => 1,
                };
                s(&self.procs.ancestor(h.tgid, n)?.comm)
            }
            FieldId::ProcApid => {
                let FieldArg::Index(n) = field.arg else {
                    return None;
                };
                u(u64::from(
                    self.procs.ancestor(h.tgid, usize::try_from(n).ok()?)?.tgid,
                ))
            }
            // sysdig ends a working directory with '/'.
            FieldId::ProcCwd => {
                let cwd = &self.process()?.cwd;
                Some(Value::Str(if cwd.ends_with('/') {
                    Cow::Borrowed(cwd.as_str())
                } else {
                    Cow::Owned(format!("{cwd}/"))
                }))
            }
            FieldId::ProcTty => u(u64::from(self.process()?.tty)),
            FieldId::ThreadTid => u(u64::from(h.tid)),
            FieldId::UserUid => u(u64::from(h.uid)),
            FieldId::UserName => s(self.users.user_name(h.uid)?),
            FieldId::GroupGid => u(u64::from(h.gid)),
            FieldId::GroupName => s(self.users.group_name(h.gid)?),
            FieldId::FdNum => match self.fd_num() {
                Some(n) => Some(Value::I64(n)),
                None => self.failed_open_path().map(|_| Value::I64(-1)),
            },
            FieldId::FdName => match self.fd() {
                Some(fd) => s(&fd.name),
                None => Some(Value::Str(Cow::Owned(
                    self.failed_open_path().or_else(|| self.unknown_fd_path())?,
                ))),
            },
            FieldId::FdKname => self.kernel_path().map(|p| Value::Str(Cow::Owned(p))),
            FieldId::FdType => s(self.fd()?.type_name()),
            FieldId::FdTypechar => {
                let c = match self.fd() {
                    Some(fd) => fd.type_char(),
                    // sysdig's failed open still reads as a file.
                    None => self.failed_open_path().map(|_| 'f')?,
                };
                Some(Value::Str(Cow::Owned(c.to_string())))
            }
            // As sysdig: a directory is its own fd.directory and has no
            // fd.filename; so has a path a failed open tried.
            FieldId::FdDirectory | FieldId::FdFilename => {
                let (name, whole_dir): (Cow<'a, str>, bool) = match self.fd() {
                    Some(fd) if fd.kind.is_path() => (
                        Cow::Borrowed(fd.name.as_str()),
                        fd.kind == FdKind::Directory,
                    ),
                    Some(_) => return None,
                    None => (Cow::Owned(self.failed_open_path()?), false),
                };
                let failed = self.fd().is_none();
                if field.id == FieldId::FdFilename {
                    if whole_dir || failed {
                        return None;
                    }
                    let (_, file) = name.rsplit_once('/')?;
                    return Some(Value::Str(Cow::Owned(file.to_owned())));
                }
                if whole_dir {
                    return Some(Value::Str(name));
                }
                let (dir, _) = name.rsplit_once('/')?;
                Some(Value::Str(Cow::Owned(
                    if dir.is_empty() { "/" } else { dir }.to_owned(),
                )))
            }
            FieldId::FdCip => self.fd()?.cip().map(Value::Ip),
            FieldId::FdSip => self.fd()?.sip().map(Value::Ip),
            FieldId::FdLip => self.fd()?.lip().map(Value::Ip),
            FieldId::FdRip => self.fd()?.rip().map(Value::Ip),
            FieldId::FdCport => self.fd()?.cport().map(|p| Value::U64(u64::from(p))),
            FieldId::FdSport => self.fd()?.sport().map(|p| Value::U64(u64::from(p))),
            FieldId::FdLport => self.fd()?.lport().map(|p| Value::U64(u64::from(p))),
            FieldId::FdRport => self.fd()?.rport().map(|p| Value::U64(u64::from(p))),
            FieldId::FdL4proto => {
                let fd = self.fd()?;
                matches!(
                    fd.kind,
                    crate::state::FdKind::Ipv4 | crate::state::FdKind::Ipv6
                )
                .then(|| Value::Str(Cow::Borrowed(fd.l4proto.as_str())))
            }
            // As sysdig: any fd that is not a server socket's is false.
            FieldId::FdIsServer => {
                let fd = self.fd()?;
                let socket = matches!(fd.kind, FdKind::Ipv4 | FdKind::Ipv6 | FdKind::Unix);
                Some(Value::Bool(socket && fd.server))
            }
            FieldId::NsPid => u(u64::from(h.pid_ns)),
            FieldId::NsMnt => u(u64::from(h.mnt_ns)),
            FieldId::NsNet => u(u64::from(h.net_ns)),
            FieldId::CgroupId => u(h.cgroup_id),
            FieldId::CgroupV1id => (h.cgroup_v1_id != 0).then_some(Value::U64(h.cgroup_v1_id)),
            FieldId::ContainerId | FieldId::ContainerFullId | FieldId::ContainerType => {
                let text = match (self.place?, field.id) {
                    (Place::Host, _) => "host",
                    (Place::Container(c), FieldId::ContainerId) => c.short_id(),
                    (Place::Container(c), FieldId::ContainerFullId) => c.id.as_str(),
                    (Place::Container(c), _) => c.runtime.as_str(),
                };
                s(text)
            }
            FieldId::ContainerName if matches!(self.place?, Place::Host) => s("host"),
            FieldId::ContainerName => s(&self.meta?.name),
            FieldId::ContainerImage => s(&self.meta?.image),
            FieldId::ContainerImageRepository => s(self.meta?.image_parts().0),
            FieldId::ContainerImageTag => s(self.meta?.image_parts().1),
            FieldId::ContainerImageId => s(&self.meta?.image_id),
            FieldId::ContainerPrivileged => Some(Value::Bool(self.meta?.privileged)),
            FieldId::ContainerIp => {
                let ip = &self.meta?.ip;
                (!ip.is_empty()).then_some(Value::Str(Cow::Borrowed(ip.as_str())))
            }
            FieldId::ContainerLabel => {
                let FieldArg::Name(key) = &field.arg else {
                    return None;
                };
                s(self.meta?.labels.get(key)?)
            }
            // A container without mounts has nothing to show.
            FieldId::ContainerMounts => {
                let meta = self.meta?;
                (!meta.mounts.is_empty()).then(|| Value::Str(Cow::Owned(meta.mounts_text())))
            }
            FieldId::K8sPodName
            | FieldId::K8sNsName
            | FieldId::K8sPodUid
            | FieldId::K8sContainerName => {
                let label = match field.id {
                    FieldId::K8sPodName => "io.kubernetes.pod.name",
                    FieldId::K8sNsName => "io.kubernetes.pod.namespace",
                    FieldId::K8sPodUid => "io.kubernetes.pod.uid",
                    _ => "io.kubernetes.container.name",
                };
                s(self.meta?.labels.get(label)?)
            }
            FieldId::K8sPodLabel | FieldId::K8sNsLabel => {
                let FieldArg::Name(key) = &field.arg else {
                    return None;
                };
                let pod = self.pod?;
                let labels = if field.id == FieldId::K8sPodLabel {
                    &pod.labels
                } else {
                    &pod.ns_labels
                };
                s(labels.get(key)?)
            }
            FieldId::K8sPodLabels => {
                let text = self.pod?.labels_text();
                (!text.is_empty()).then_some(Value::Str(Cow::Owned(text)))
            }
            FieldId::K8sSvcName => {
                let services = &self.pod?.services;
                (!services.is_empty()).then(|| Value::Str(Cow::Owned(services.join(", "))))
            }
            FieldId::K8sNodeName => {
                let node = self.pod.map(|p| p.node.as_str()).filter(|n| !n.is_empty());
                s(node.or(self.node)?)
            }
            FieldId::K8sPodIp | FieldId::K8sRsName | FieldId::K8sDeploymentName => {
                let pod = self.pod?;
                let text = match field.id {
                    FieldId::K8sPodIp => &pod.ip,
                    FieldId::K8sRsName => &pod.rs,
                    _ => &pod.deployment,
                };
                (!text.is_empty()).then_some(Value::Str(Cow::Borrowed(text.as_str())))
            }
        }
    }
}

impl FieldSource for EventView<'_> {
    fn value(&mut self, field: &FieldRef) -> Option<Value<'_>> {
        self.get(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode, tests::syscall_record};
    use crate::fields::parse_field_ref;
    use crate::state::ProcFs;
    use tracer_common::CaptureKind;

    fn field(bytes: &[u8], name: &str) -> Option<String> {
        field_with(bytes, name, None, None)
    }

    fn field_with(
        bytes: &[u8],
        name: &str,
        meta: Option<&Meta>,
        pod: Option<&PodInfo>,
    ) -> Option<String> {
        let rec = decode(bytes).unwrap();
        let procs = ProcessTable::new(ProcFs::new("/nonexistent-proc"));
        let users = Users::parse("", "");
        let clock = Clock::now();
        let view = EventView {
            num: 1,
            rec: &rec,
            procs: &procs,
            users: &users,
            clock: &clock,
            latency: false,
            buffers: info::BufferMode::Dots,
            place: None,
            meta,
            pod,
            node: None,
        };
        view.get(&parse_field_ref(name).unwrap()).map(|v| match v {
            Value::Bool(b) => b.to_string(),
            Value::I64(n) => n.to_string(),
            Value::Bytes(b) => String::from_utf8_lossy(&b).into_owned(),
            Value::Str(s) => s.into_owned(),
            other => format!("{other:?}"),
        })
    }

    #[test]
    fn open_and_io_convenience_fields() {
        // openat(AT_FDCWD, "/x", O_WRONLY|O_CREAT, 0755) = 5
        let open = syscall_record(
            nr::OPENAT,
            5,
            [(-100i64) as u64, 0, 0o101, 0o755, 0, 0],
            &[(0, CaptureKind::UserStr, b"/x")],
        );
        assert_eq!(field(&open, "evt.is_open_write").as_deref(), Some("true"));
        assert_eq!(field(&open, "evt.is_open_read").as_deref(), Some("false"));
        assert_eq!(field(&open, "evt.is_open_create").as_deref(), Some("true"));
        assert_eq!(field(&open, "evt.is_open_exec").as_deref(), Some("true"));
        assert_eq!(field(&open, "evt.is_io").as_deref(), Some("false"));
        assert_eq!(field(&open, "evt.rawarg.dirfd").as_deref(), Some("-100"));
        assert_eq!(field(&open, "evt.buffer"), None);

        let read = syscall_record(
            nr::READ,
            3,
            [7, 0, 100, 0, 0, 0],
            &[(0, CaptureKind::BufferRet, b"abc")],
        );
        assert_eq!(field(&read, "evt.is_io_read").as_deref(), Some("true"));
        assert_eq!(field(&read, "evt.is_io_write").as_deref(), Some("false"));
        assert_eq!(field(&read, "evt.buffer").as_deref(), Some("abc"));
        assert_eq!(field(&read, "evt.rawarg.size").as_deref(), Some("100"));
        assert_eq!(field(&read, "evt.is_open_read").as_deref(), Some("false"));
    }

    #[test]
    fn kubernetes_api_fields() {
        let rec = syscall_record(nr::GETPID, 1, [0; 6], &[]);
        let meta = Meta {
            labels: [("io.kubernetes.pod.name", "web-1")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            ..Meta::default()
        };
        let pairs = |p: &[(&str, &str)]| {
            p.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let pod = PodInfo {
            labels: pairs(&[
                ("app.kubernetes.io/name", "web"),
                ("canary", ""),
                ("io.kubernetes.pod.name", "web-1"),
                ("tier", "http"),
            ]),
            ip: "10.244.1.7".into(),
            ns_labels: pairs(&[("team", "payments")]),
            rs: "web-7d9".into(),
            deployment: "web".into(),
            services: vec!["http-edge".into(), "web".into()],
            node: "node-a".into(),
        };
        let get = |name: &str| field_with(&rec, name, Some(&meta), Some(&pod));
        assert_eq!(
            get("k8s.pod.label[app.kubernetes.io/name]").as_deref(),
            Some("web")
        );
        assert_eq!(get("k8s.pod.label.tier").as_deref(), Some("http"));
        assert_eq!(get("k8s.pod.label.missing"), None);
        // sysdig's text: `key:value`, a bare key for an empty value, kubelet's own keys left out.
        assert_eq!(
            get("k8s.pod.labels").as_deref(),
            Some("app.kubernetes.io/name:web, canary, tier:http")
        );
        assert_eq!(get("k8s.pod.ip").as_deref(), Some("10.244.1.7"));
        assert_eq!(get("k8s.ns.label.team").as_deref(), Some("payments"));
        assert_eq!(get("k8s.rs.name").as_deref(), Some("web-7d9"));
        assert_eq!(get("k8s.deployment.name").as_deref(), Some("web"));
        assert_eq!(get("k8s.svc.name").as_deref(), Some("http-edge, web"));
        assert_eq!(get("k8s.node.name").as_deref(), Some("node-a"));
        // Without an answer from the API server they are absent, while the
        // runtime-label fields still answer.
        for name in [
            "k8s.pod.label.tier",
            "k8s.pod.labels",
            "k8s.pod.ip",
            "k8s.ns.label.team",
            "k8s.rs.name",
            "k8s.deployment.name",
            "k8s.svc.name",
            "k8s.node.name",
        ] {
            assert_eq!(field_with(&rec, name, Some(&meta), None), None, "{name}");
        }
        assert_eq!(
            field_with(&rec, "k8s.pod.name", Some(&meta), None).as_deref(),
            Some("web-1")
        );
        // A pod without owners or services has none of those fields.
        let bare = PodInfo::default();
        for name in [
            "k8s.rs.name",
            "k8s.deployment.name",
            "k8s.svc.name",
            "k8s.pod.labels",
        ] {
            assert_eq!(
                field_with(&rec, name, Some(&meta), Some(&bare)),
                None,
                "{name}"
            );
        }
    }
}
