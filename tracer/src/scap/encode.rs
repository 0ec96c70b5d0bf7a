//! sdtrace records as libscap events: one enter and one exit event per
//! syscall, in the layouts of [`super::table`], and `procexit` for a
//! process's end. Each parameter is filled from the argument of the same
//! name, from the process table for the process-describing parameters of
//! clone and execve, and with a typed empty value when sdtrace has nothing
//! for it (sysdig then shows 0 or an empty string, never garbage).

use std::net::IpAddr;

use tracer_common::syscall_names::{nr, SYSCALL_NAMES};
use tracer_common::ExitPayload;

use super::block::{self, EVENT_V2};
use super::event::{self, pt, EventInfo, Param};
use super::ppm_flags;
use crate::decode::args::{arg_named, ArgValue};
use crate::decode::sockaddr::{SockAddr, Tuple, AF_INET, AF_INET6, AF_UNIX};
use crate::decode::{Body, Record, SyscallEvent};
use crate::state::apply::EINPROGRESS;
use crate::state::ProcessTable;

/// A parameter value before it takes its type's width.
enum Value<'a> {
    Int(i64),
    /// NUL-terminated on disk.
    Str(&'a [u8]),
    Owned(Vec<u8>),
    Absent,
}

/// Where the event happened, in file terms.
pub struct EventHead {
    pub cpu: u16,
    /// Nanoseconds since the epoch.
    pub ts: u64,
    pub tid: u64,
}

/// The largest parameter sdtrace appends; readers take up to 64 KiB blocks.
pub const CHUNK: usize = 60_000;

/// Appends one event block with `info`'s parameters, each from `value`,
/// then `sidecar` in extra parameters of at most [`CHUNK`] bytes, which
/// readers that go by the event table ignore.
fn event<'v>(
    out: &mut Vec<u8>,
    head: &EventHead,
    code: u16,
    sidecar: &[u8],
    mut value: impl FnMut(usize, &Param) -> Value<'v>,
) {
    let info = event::info(code).expect("codes come from the table");
    let chunks: Vec<&[u8]> = sidecar.chunks(CHUNK).collect();
    let nparams = info.params.len() + chunks.len();
    block::write(out, EVENT_V2, |b| {
        let start = b.len();
        b.extend_from_slice(&head.cpu.to_le_bytes());
        b.extend_from_slice(&head.ts.to_le_bytes());
        b.extend_from_slice(&head.tid.to_le_bytes());
        let len_at = b.len();
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&code.to_le_bytes());
        b.extend_from_slice(&(nparams as u32).to_le_bytes());
        let lens_at = b.len();
        b.resize(lens_at + 2 * nparams, 0);
        for (i, p) in info.params.iter().enumerate() {
            let at = b.len();
            put(b, p, value(i, p));
            // Paths, buffers and addresses are bounded far below 64 KiB.
            let n = u16::try_from(b.len() - at).unwrap_or(u16::MAX);
            b[lens_at + 2 * i..lens_at + 2 * i + 2].copy_from_slice(&n.to_le_bytes());
        }
        for (i, chunk) in chunks.iter().enumerate() {
            let i = info.params.len() + i;
            b.extend_from_slice(chunk);
            let n = chunk.len() as u16;
            b[lens_at + 2 * i..lens_at + 2 * i + 2].copy_from_slice(&n.to_le_bytes());
        }
        // The event length counts from the timestamp, after the cpu id.
        let len = (b.len() - start - 2) as u32;
        b[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
    });
}

/// Writes `v` as type `p.ty` wants it.
fn put(b: &mut Vec<u8>, p: &Param, v: Value<'_>) {
    if let Some(size) = p.fixed_size() {
        let n = match v {
            Value::Int(n) => n,
            _ => 0,
        };
        b.extend_from_slice(&n.to_le_bytes()[..size]);
        return;
    }
    match (v, p.ty) {
        (Value::Str(s), _) => {
            let s = s.strip_suffix(&[0]).unwrap_or(s);
            b.extend_from_slice(s);
            b.push(0);
        }
        (Value::Owned(bytes), _) => b.extend_from_slice(&bytes),
        (_, pt::CHARBUF | pt::FSPATH | pt::FSRELPATH) => b.push(0),
        // An fd list with no entries.
        (_, pt::FDLIST) => b.extend_from_slice(&0u16.to_le_bytes()),
        // Buffers, addresses and dynamic values are simply absent.
        _ => {}
    }
}

/// The enter and exit events of one syscall record; `sidecar` rides on the exit.
pub fn syscall(
    out: &mut Vec<u8>,
    rec: &Record<'_>,
    ev: &SyscallEvent<'_>,
    procs: &ProcessTable,
    (enter_ts, exit_ts): (u64, u64),
    sidecar: &[u8],
) {
    let nr = rec.hdr.nr;
    let (enter, exit, ppm_sc) = event::syscall_events(nr);
    let fill = Fill { rec, ev, procs };
    let head = |ts| EventHead {
        cpu: rec.hdr.cpu,
        ts,
        tid: u64::from(rec.hdr.tid),
    };
    let einfo = event::info(exit).expect("codes come from the table");
    if events_of(rec) == 2 {
        event(out, &head(enter_ts), enter, &[], |i, p| {
            fill.enter(enter, i, p, ppm_sc)
        });
    }
    event(out, &head(exit_ts), exit, sidecar, |i, p| {
        fill.exit(einfo, i, p, ppm_sc)
    });
}

/// An internal event (which sysdig does not show) carrying only `sidecar`.
pub fn carrier(out: &mut Vec<u8>, head: &EventHead, sidecar: &[u8]) {
    event(out, head, event::CARRIER, sidecar, |_, _| Value::Absent);
}

/// How many scap events stand for a record: a syscall's enter and exit,
/// but only the exit for a new thread's return from clone (it never
/// entered; sysdig mistakes a child's enter event for a thread of its own),
/// one procexit, none for the fork and exec records.
pub fn events_of(rec: &Record<'_>) -> u64 {
    match rec.body {
        Body::Syscall(_) if rec.hdr.ret == 0 && is_clone(rec.hdr.nr) => 1,
        Body::Syscall(_) => 2,
        Body::Exit(_) => 1,
        Body::Fork(_) | Body::Exec { .. } => 0,
    }
}

/// Whether syscall `nr` makes a thread or process.
pub(crate) fn is_clone(nr: u16) -> bool {
    matches!(nr, nr::CLONE | nr::CLONE3 | nr::FORK | nr::VFORK)
}

/// `procexit` for an exit record; `sidecar` rides on it.
pub fn procexit(out: &mut Vec<u8>, head: &EventHead, exit: &ExitPayload, sidecar: &[u8]) {
    let status = exit.exit_code;
    event(out, head, event::PROCEXIT, sidecar, |i, _| match i {
        0 => Value::Int(i64::from(status)),
        1 => Value::Int(i64::from((status >> 8) & 0xff)),
        2 => Value::Int(i64::from(status & 0x7f)),
        _ => Value::Int(i64::from(status & 0x80 != 0)),
    });
}

struct Fill<'r, 'a> {
    rec: &'r Record<'a>,
    ev: &'r SyscallEvent<'a>,
    procs: &'r ProcessTable,
}

impl<'a> Fill<'_, 'a> {
    fn enter(&self, code: u16, i: usize, p: &Param, ppm_sc: u16) -> Value<'a> {
        // A successful exec's path memory is gone at exit; the new image's is known.
        if p.name == "filename" && matches!(self.rec.hdr.nr, nr::EXECVE | nr::EXECVEAT) {
            if let Some(ArgValue::Path(path)) = arg_named(self.rec.hdr.nr, self.ev, "filename") {
                return Value::Str(path);
            }
            let exe = self
                .procs
                .process(self.rec.hdr.tgid)
                .map(|p| p.exepath.clone());
            return Value::Owned(nul_terminated(exe.unwrap_or_default().as_bytes()));
        }
        if code == event::GENERIC_E {
            return Value::Int(if i == 0 {
                i64::from(ppm_sc)
            } else {
                i64::from(self.rec.hdr.nr)
            });
        }
        self.named(p)
    }

    fn exit(&self, info: &EventInfo, i: usize, p: &Param, ppm_sc: u16) -> Value<'a> {
        if info.params.len() == 1 && info.params[0].ty == pt::SYSCALLID {
            return Value::Int(i64::from(ppm_sc));
        }
        // An exit event's first parameter is always the return value.
        if i == 0 {
            if p.ty == pt::DYN {
                return Value::Owned(dyn_int(self.rec.hdr.ret));
            }
            return Value::Int(self.rec.hdr.ret);
        }
        if matches!(
            info.name,
            "clone" | "clone3" | "fork" | "vfork" | "execve" | "execveat"
        ) {
            if let Some(v) = self.process_param(info.name, p) {
                return v;
            }
        }
        self.named(p)
    }

    /// A parameter filled from the syscall's argument of the same name.
    fn named(&self, p: &Param) -> Value<'a> {
        let nr = self.rec.hdr.nr;
        let arg = |name: &str| arg_named(nr, self.ev, name);
        let raw = |name: &str| match arg(name) {
            Some(ArgValue::OpenFlags(v) | ArgValue::Hex(v) | ArgValue::UInt(v)) => Some(v),
            Some(ArgValue::Mode(v) | ArgValue::CloneFlags(v)) => Some(v),
            Some(ArgValue::Int(v)) => Some(v as u64),
            _ => None,
        };
        let syscall = syscall_name(nr);
        match (syscall, p.name) {
            ("open" | "openat" | "openat2" | "creat", "flags") => {
                let flags = if syscall == "creat" {
                    0o1101 // O_CREAT|O_WRONLY|O_TRUNC
                } else {
                    raw("flags").unwrap_or(0)
                };
                return Value::Int(i64::from(ppm_flags::open_flags(flags)));
            }
            ("open" | "openat" | "openat2" | "creat", "mode") => {
                let flags = if syscall == "creat" {
                    0o100
                } else {
                    raw("flags").unwrap_or(0)
                };
                let mode = raw("mode").unwrap_or(0);
                return Value::Int(i64::from(ppm_flags::open_mode(flags, mode)));
            }
            ("clone" | "unshare", "flags") => {
                return Value::Int(i64::from(ppm_flags::clone_flags(raw("flags").unwrap_or(0))));
            }
            ("mmap", "prot") => {
                return Value::Int(i64::from(ppm_flags::mmap_prot(raw("prot").unwrap_or(0))));
            }
            ("mmap", "flags") => {
                return Value::Int(i64::from(ppm_flags::mmap_flags(raw("flags").unwrap_or(0))));
            }
            (_, "fd1" | "fd2") => {
                if let Some(ArgValue::FdPair(a, b)) = arg("fds") {
                    return Value::Int(i64::from(if p.name == "fd1" { a } else { b }));
                }
            }
            (_, "tuple") => {
                // A refused connect has no connection to describe.
                let failed = self.rec.hdr.ret < 0 && self.rec.hdr.ret != -EINPROGRESS;
                if syscall == "connect" && failed {
                    return Value::Absent;
                }
                return self.tuple(syscall);
            }
            ("fcntl", "cmd") => {
                return Value::Int(i64::from(ppm_flags::fcntl_cmd(raw("cmd").unwrap_or(0))));
            }
            _ => {}
        }
        let value = arg(p.name).or_else(|| alias(syscall, p.name).and_then(arg));
        match value {
            Some(v) => from_arg(v, p),
            None => Value::Absent,
        }
    }

    /// A socket tuple as scap lays it out: source first. For an accepted
    /// connection the source is the peer.
    fn tuple(&self, syscall: &str) -> Value<'a> {
        let nr = self.rec.hdr.nr;
        if let Some(ArgValue::Tuple(t)) = arg_named(nr, self.ev, "tuple") {
            let inbound = matches!(syscall, "accept" | "accept4");
            return Value::Owned(ip_tuple(&t, inbound));
        }
        if let Some(ArgValue::Addr(SockAddr::Unix(path))) = arg_named(nr, self.ev, "addr") {
            let mut b = vec![AF_UNIX as u8];
            b.extend_from_slice(&[0; 16]);
            b.extend_from_slice(path.as_bytes());
            b.push(0);
            return Value::Owned(b);
        }
        Value::Absent
    }

    /// clone's and execve's description of the thread after the call.
    fn process_param(&self, syscall: &str, p: &Param) -> Option<Value<'a>> {
        let hdr = &self.rec.hdr;
        let proc = self.procs.process(hdr.tgid);
        let text = |s: &str| Value::Owned(nul_terminated(s.as_bytes()));
        Some(match p.name {
            "exe" => text(proc.map_or("", |p| p.exe.as_str())),
            "args" => {
                let mut b = Vec::new();
                for a in proc.map(|p| p.args.as_slice()).unwrap_or_default() {
                    b.extend_from_slice(a.as_bytes());
                    b.push(0);
                }
                Value::Owned(b)
            }
            "tid" | "vtid" => Value::Int(i64::from(hdr.tid)),
            "pid" | "vpid" | "pgid" => Value::Int(i64::from(hdr.tgid)),
            // A thread's creator is (as far as sysdig needs) its process.
            "ptid" if hdr.tid != hdr.tgid => Value::Int(i64::from(hdr.tgid)),
            "ptid" => Value::Int(i64::from(proc.map_or(0, |p| p.ppid))),
            "cwd" => text(proc.map_or("", |p| p.cwd.as_str())),
            "comm" => text(proc.map_or("", |p| p.comm.as_str())),
            // No limit known; large enough that sysdig never thinks an fd is beyond it.
            "fdlimit" => Value::Int(1 << 20),
            "uid" => Value::Int(i64::from(hdr.uid)),
            "gid" => Value::Int(i64::from(hdr.gid)),
            "tty" => Value::Int(i64::from(proc.map_or(0, |p| p.tty))),
            "loginuid" => Value::Int(-1),
            "flags" if syscall == "clone" => return None,
            "flags" => {
                let thread = self.procs.thread_tgid(hdr.ret as u32) == Some(hdr.tgid)
                    || (hdr.ret == 0 && hdr.tid != hdr.tgid);
                let native = if syscall.starts_with("exec") {
                    0
                } else if thread {
                    ppm_flags::THREAD_CLONE_FLAGS
                } else if syscall == "vfork" {
                    ppm_flags::VFORK_CLONE_FLAGS
                } else {
                    0
                };
                Value::Int(i64::from(ppm_flags::clone_flags(native)))
            }
            _ => return None,
        })
    }
}

fn syscall_name(nr: u16) -> &'static str {
    SYSCALL_NAMES.get(usize::from(nr)).copied().unwrap_or("")
}

/// scap names that sdtrace's syscall table spells differently.
fn alias(syscall: &str, name: &str) -> Option<&'static str> {
    Some(match (syscall, name) {
        ("dup" | "dup2" | "dup3", "fd") => "oldfd",
        // sdtrace's msghdr argument is the data it carries.
        ("sendmsg" | "recvmsg", "data") => "msg",
        _ => return None,
    })
}

fn from_arg<'a>(v: ArgValue<'a>, p: &Param) -> Value<'a> {
    match v {
        ArgValue::Fd(n) | ArgValue::Dirfd(n) | ArgValue::Int(n) | ArgValue::Signal(n) => {
            Value::Int(n)
        }
        ArgValue::Pid(n) => Value::Int(n),
        ArgValue::UInt(n) | ArgValue::Hex(n) | ArgValue::OpenFlags(n) | ArgValue::Mode(n) => {
            Value::Int(n as i64)
        }
        ArgValue::CloneFlags(n) | ArgValue::SocketDomain(n) | ArgValue::SocketType(n) => {
            Value::Int(n as i64)
        }
        ArgValue::Uid(n) | ArgValue::Gid(n) => Value::Int(i64::from(n)),
        ArgValue::Path(s) | ArgValue::Argv(s) => match p.ty {
            pt::BYTEBUF => Value::Owned(s.to_vec()),
            _ => Value::Str(s),
        },
        ArgValue::Buffer(b) | ArgValue::Bytes(b) => match p.ty {
            pt::CHARBUF | pt::FSPATH | pt::FSRELPATH => Value::Str(b),
            _ => Value::Owned(b.to_vec()),
        },
        ArgValue::Addr(a) if p.ty == pt::SOCKADDR => Value::Owned(sockaddr(&a)),
        ArgValue::Tuple(t) if p.ty == pt::SOCKTUPLE => Value::Owned(ip_tuple(&t, false)),
        _ => Value::Absent,
    }
}

fn nul_terminated(s: &[u8]) -> Vec<u8> {
    let mut v = s.to_vec();
    v.push(0);
    v
}

/// A dynamic parameter holding a plain integer (its first variant).
fn dyn_int(n: i64) -> Vec<u8> {
    let mut b = vec![0u8];
    b.extend_from_slice(&n.to_le_bytes());
    b
}

fn put_ip(b: &mut Vec<u8>, ip: IpAddr, v4: bool) {
    match (ip, v4) {
        (IpAddr::V4(a), true) => b.extend_from_slice(&a.octets()),
        (IpAddr::V4(a), false) => b.extend_from_slice(&a.to_ipv6_mapped().octets()),
        (IpAddr::V6(a), _) => b.extend_from_slice(&a.octets()),
    }
}

/// family, then address and port; ports in host order, as scap keeps them.
fn sockaddr(a: &SockAddr) -> Vec<u8> {
    match a {
        SockAddr::Ip(ip, port) => {
            let v4 = ip.is_ipv4();
            let mut b = vec![if v4 { AF_INET } else { AF_INET6 } as u8];
            put_ip(&mut b, *ip, v4);
            b.extend_from_slice(&port.to_le_bytes());
            b
        }
        SockAddr::Unix(path) => {
            let mut b = vec![AF_UNIX as u8];
            b.extend_from_slice(path.as_bytes());
            b.push(0);
            b
        }
        SockAddr::Other(family) => vec![*family as u8],
    }
}

fn ip_tuple(t: &Tuple, inbound: bool) -> Vec<u8> {
    let (src, dst) = if inbound {
        (t.remote, t.local)
    } else {
        (t.local, t.remote)
    };
    let v4 = src.0.is_ipv4() && dst.0.is_ipv4();
    let mut b = vec![if v4 { AF_INET } else { AF_INET6 } as u8];
    put_ip(&mut b, src.0, v4);
    b.extend_from_slice(&src.1.to_le_bytes());
    put_ip(&mut b, dst.0, v4);
    b.extend_from_slice(&dst.1.to_le_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracer_common::syscalls;

    /// Every parameter of a syscall's own layout that sdtrace knows under
    /// another name, or not at all, is listed here on purpose.
    #[test]
    fn parameters_resolve_to_arguments() {
        let mut missing = Vec::new();
        for nr in 0..512u16 {
            let Some(def) = syscalls::def(nr) else {
                continue;
            };
            let (e, x, _) = event::syscall_events(nr);
            if e == event::GENERIC_E {
                continue;
            }
            let name = syscall_name(nr);
            for (code, skip) in [(e, 0), (x, 1)] {
                for p in event::info(code).unwrap().params.iter().skip(skip) {
                    let known = def
                        .args
                        .iter()
                        .any(|a| a.name == p.name || alias(name, p.name) == Some(a.name));
                    if !known {
                        missing.push(format!("{name}.{}", p.name));
                    }
                }
            }
        }
        // Filled elsewhere: clone's and execve's process description, fd
        // pairs, tuples. Unknown to sdtrace, written as 0 or empty: memory
        // and page-fault counters, device numbers, accept queue sizes,
        // iovec totals, pipe inodes, socketpair kernel addresses,
        // nanosleep's interval, getcwd's path, openat2's open_how.
        let handled = |m: &str| {
            let (sys, param) = m.split_once('.').unwrap();
            matches!(
                sys,
                "clone" | "fork" | "vfork" | "clone3" | "execve" | "execveat"
            ) || matches!(param, "fd1" | "fd2" | "tuple" | "dev" | "ino" | "size")
                || matches!(param, "vm_size" | "vm_rss" | "vm_swap")
                || matches!(
                    param,
                    "queuepct" | "queuelen" | "queuemax" | "source" | "peer"
                )
                || matches!(m, "nanosleep.interval" | "getcwd.path" | "splice.flags")
                || sys == "openat2"
        };
        let unexpected: Vec<_> = missing.iter().filter(|m| !handled(m)).collect();
        assert!(unexpected.is_empty(), "{unexpected:?}");
    }
}
