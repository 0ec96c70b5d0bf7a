//! libscap's events turned into the records sdtrace's kernel side writes:
//! a syscall's enter and exit become one syscall record (arguments in
//! their registers, argument memory as captured items, in the layout of
//! the shared syscall table), a clone's and an execve's exit also give the
//! fork and exec records that keep the process table, `procexit` the exit
//! record. Records are numbered as sysdig numbers their exit events.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::mem::size_of;
use std::sync::OnceLock;

use tracer_common::syscall_names::{nr, SYSCALL_NAMES};
use tracer_common::syscalls::{self, ArgType, SyscallDef};
use tracer_common::{
    CaptureKind, EventHeader, ExecPayload, ExitPayload, ForkPayload, ItemHeader, RecordKind,
    SyscallArgs, COMM_LEN, HDR_NO_LATENCY, HDR_NO_RESULT,
};

use super::super::encode::is_clone;
use super::super::event::{self as table, pt, EventInfo, Param};
use super::super::ppm_flags;
use super::event::Event;
use super::params;
use crate::journal::{Answer, Snapshot};

/// What sdtrace knows of a thread from the file: enough for a record's header.
#[derive(Clone, Debug, Default)]
pub struct Thread {
    pub tgid: u32,
    pub comm: String,
    pub uid: u32,
    pub gid: u32,
}

/// One record made from the file's events.
pub struct Converted {
    pub bytes: Vec<u8>,
    /// The number sysdig gives the record's last event; `None` for records
    /// no event of the file stands for (forks, execs).
    pub num: Option<u64>,
}

/// An enter event waiting for its exit.
struct Enter {
    code: u16,
    ts: u64,
    params: Vec<Vec<u8>>,
}

/// `PPM_CL_CLONE_THREAD`.
const PPM_CLONE_THREAD: i64 = 0x2000;

#[derive(Default)]
pub struct Converter {
    threads: HashMap<u64, Thread>,
    enters: HashMap<u64, Enter>,
    /// Threads whose fork record was made (from the parent's or the child's exit).
    forked: HashSet<u64>,
    /// Events of kinds sdtrace does not decode, by name.
    pub skipped: BTreeMap<&'static str, u64>,
    /// What `/proc` would have said of threads first met in the events
    /// (started before the capture, missing from its process list): a
    /// process of their own, which their exec or fork then describes.
    pub answers: Vec<Answer>,
}

impl Converter {
    pub fn new(threads: HashMap<u64, Thread>) -> Self {
        Self {
            threads,
            ..Self::default()
        }
    }

    /// The records event number `num` of the file gives, appended to `out`.
    pub fn event(&mut self, ev: &Event<'_>, num: u64, out: &mut impl Extend<Converted>) {
        let Some(info) = table::info(ev.code) else {
            *self.skipped.entry("unknown").or_default() += 1;
            return;
        };
        if is_internal(info) {
            return;
        }
        if ev.code == table::PROCEXIT {
            out.extend([Converted {
                bytes: self.exit_record(ev, info),
                num: Some(num),
            }]);
            self.threads.remove(&ev.tid);
            return;
        }
        // libscap numbers each enter event even, its exit the next.
        let enter = ev.code.is_multiple_of(2);
        let pending = match self.enters.get(&ev.tid) {
            Some(e) if !enter && e.code + 1 == ev.code => self.enters.remove(&ev.tid),
            _ => None,
        };
        let Some(sysno) = native_nr(ev.code, info, ev, pending.as_ref()) else {
            *self.skipped.entry(info.name).or_default() += 1;
            return;
        };
        // A clone's child is met in its first event, which describes it.
        let child = !enter && is_clone(sysno);
        if !child && !self.threads.contains_key(&ev.tid) {
            self.met(ev.tid);
        }
        if enter {
            self.enters.insert(
                ev.tid,
                Enter {
                    code: ev.code,
                    ts: ev.ts,
                    params: ev.params.iter().map(|p| p.to_vec()).collect(),
                },
            );
            return;
        }
        let exit = Exit { ev, info };
        let ret = exit.ret();
        let made = match sysno {
            _ if is_clone(sysno) => self.fork_record(&exit, ret),
            nr::EXECVE | nr::EXECVEAT if ret == 0 => Some(self.exec_record(&exit)),
            _ => None,
        };
        out.extend(made.map(|bytes| Converted { bytes, num: None }));
        out.extend([Converted {
            bytes: self.syscall_record(sysno, &exit, pending.as_ref(), ret),
            num: Some(num),
        }]);
    }

    /// A thread the file first shows in an event: its own process until
    /// an event says otherwise.
    fn met(&mut self, tid: u64) {
        self.threads.insert(
            tid,
            Thread {
                tgid: tid as u32,
                comm: String::new(),
                uid: u32::MAX,
                gid: u32::MAX,
            },
        );
        self.answers.push(Answer::Process {
            pid: tid as u32,
            snap: Some(Snapshot {
                tgid: tid as u32,
                tids: vec![tid as u32],
                uid: u32::MAX,
                gid: u32::MAX,
                ..Snapshot::default()
            }),
        });
    }

    /// What an exec's exit says of a process met only just before (its
    /// parent, its directory), while the pipeline has not yet asked.
    fn describe_met(&mut self, pid: u32, exit: &Exit<'_, '_>) {
        let ppid = exit.int("ptid").map(|ptid| {
            self.threads
                .get(&(ptid as u64))
                .map_or(ptid as u32, |t| t.tgid)
        });
        let cwd = exit.text("cwd").map(lossy);
        for answer in &mut self.answers {
            if let Answer::Process {
                pid: p,
                snap: Some(snap),
            } = answer
            {
                if *p == pid {
                    snap.ppid = ppid.unwrap_or(snap.ppid);
                    if let Some(cwd) = &cwd {
                        snap.cwd.clone_from(cwd);
                    }
                }
            }
        }
    }

    fn header(&self, tid: u64, ts: u64, kind: RecordKind, cpu: u16) -> EventHeader {
        let t = self.threads.get(&tid);
        let mut comm = [0u8; COMM_LEN];
        if let Some(t) = t {
            let n = t.comm.len().min(COMM_LEN - 1);
            comm[..n].copy_from_slice(&t.comm.as_bytes()[..n]);
        }
        EventHeader {
            ts_ns: ts,
            tgid: t.map_or(tid as u32, |t| t.tgid),
            tid: tid as u32,
            uid: t.map_or(u32::MAX, |t| t.uid),
            gid: t.map_or(u32::MAX, |t| t.gid),
            kind: kind as u16,
            cpu,
            comm,
            ..EventHeader::default()
        }
    }

    fn syscall_record(
        &self,
        sysno: u16,
        exit: &Exit<'_, '_>,
        enter: Option<&Enter>,
        ret: i64,
    ) -> Vec<u8> {
        let ev = exit.ev;
        let mut hdr = self.header(ev.tid, ev.ts, RecordKind::Syscall, ev.cpu);
        hdr.nr = sysno;
        hdr.ret = ret;
        // Generic events and some old layouts carry no return value.
        if exit.ev.params.is_empty() || exit.ev.code == table::GENERIC_X {
            hdr.flags |= HDR_NO_RESULT;
        }
        match enter {
            Some(e) => hdr.latency_ns = ev.ts.saturating_sub(e.ts),
            None => hdr.flags |= HDR_NO_LATENCY,
        }
        let lookup = Lookup { exit, enter };
        let mut args = SyscallArgs::default();
        let mut items: Vec<(u8, CaptureKind, Vec<u8>)> = Vec::new();
        if let Some(def) = syscalls::def(sysno) {
            fill(def, &lookup, &mut args, &mut items);
        }
        let mut out = Vec::with_capacity(160);
        out.extend_from_slice(bytes_of(&hdr));
        out.extend_from_slice(bytes_of(&args));
        for (slot, kind, data) in items {
            let data = &data[..data.len().min(usize::from(u16::MAX))];
            let ih = ItemHeader {
                len: data.len() as u16,
                slot,
                kind: kind as u8,
            };
            out.extend_from_slice(bytes_of(&ih));
            out.extend_from_slice(data);
        }
        finish(out)
    }

    /// The fork record for a clone's exit, once per new thread.
    fn fork_record(&mut self, exit: &Exit<'_, '_>, ret: i64) -> Option<Vec<u8>> {
        let ev = exit.ev;
        let (child_tid, child_tgid, parent_tid) = if ret > 0 {
            let thread = exit.int("flags").unwrap_or(0) & PPM_CLONE_THREAD != 0;
            let parent_tgid = self
                .threads
                .get(&ev.tid)
                .map_or(ev.tid, |t| u64::from(t.tgid));
            let child = ret as u64;
            (child, if thread { parent_tgid } else { child }, ev.tid)
        } else if ret == 0 {
            let pid = exit.int("pid").map_or(ev.tid, |p| p as u64);
            let ptid = exit.int("ptid").map_or(0, |p| p as u64);
            (ev.tid, pid, ptid)
        } else {
            return None;
        };
        if !self.forked.insert(child_tid) {
            return None;
        }
        if !self.threads.contains_key(&parent_tid) && parent_tid != 0 {
            self.met(parent_tid);
        }
        let parent = self.threads.get(&parent_tid).cloned().unwrap_or_default();
        let child = Thread {
            tgid: child_tgid as u32,
            comm: exit.text("comm").map_or_else(|| parent.comm.clone(), lossy),
            uid: exit.int("uid").map_or(parent.uid, |u| u as u32),
            gid: exit.int("gid").map_or(parent.gid, |g| g as u32),
        };
        let hdr = self.header(parent_tid, ev.ts, RecordKind::ProcFork, ev.cpu);
        self.threads.insert(child_tid, child);
        let payload = ForkPayload {
            child_tid: child_tid as u32,
            child_tgid: child_tgid as u32,
        };
        let mut out = bytes_of(&hdr).to_vec();
        out.extend_from_slice(bytes_of(&payload));
        Some(finish(out))
    }

    /// The exec record of a successful execve: the new image.
    fn exec_record(&mut self, exit: &Exit<'_, '_>) -> Vec<u8> {
        let ev = exit.ev;
        let exe = exit.text("exe").unwrap_or_default().to_vec();
        let pid = exit.int("pid").map_or_else(
            || {
                self.threads
                    .get(&ev.tid)
                    .map_or(ev.tid, |t| u64::from(t.tgid))
            },
            |p| p as u64,
        );
        let comm = exit.text("comm").map_or_else(
            || {
                let base = exe.rsplit(|&b| b == b'/').next().unwrap_or_default();
                lossy(base)
            },
            lossy,
        );
        self.describe_met(pid as u32, exit);
        let t = self.threads.entry(ev.tid).or_default();
        t.tgid = pid as u32;
        t.comm = comm;
        if let Some(uid) = exit.int("uid") {
            t.uid = uid as u32;
        }
        let thread = t.clone();
        if ev.tid != pid {
            self.threads.insert(pid, thread);
        }
        let mut hdr = self.header(ev.tid, ev.ts, RecordKind::ProcExec, ev.cpu);
        hdr.tid = pid as u32;
        let mut argv = exe.clone();
        argv.push(0);
        argv.extend_from_slice(exit.bytes("args").unwrap_or_default());
        let exe = &exe[..exe.len().min(4096)];
        let argv = &argv[..argv.len().min(4096)];
        let payload = ExecPayload {
            old_tid: ev.tid as u32,
            exe_len: exe.len() as u16,
            args_len: argv.len() as u16,
        };
        let mut out = bytes_of(&hdr).to_vec();
        out.extend_from_slice(bytes_of(&payload));
        out.extend_from_slice(exe);
        out.extend_from_slice(argv);
        finish(out)
    }

    fn exit_record(&self, ev: &Event<'_>, info: &EventInfo) -> Vec<u8> {
        let status = info
            .params
            .first()
            .zip(ev.param(0))
            .and_then(|(p, b)| params::int(p, b))
            .unwrap_or(0);
        let hdr = self.header(ev.tid, ev.ts, RecordKind::ProcExit, ev.cpu);
        let payload = ExitPayload {
            exit_code: status as i32,
            _pad: 0,
        };
        let mut out = bytes_of(&hdr).to_vec();
        out.extend_from_slice(bytes_of(&payload));
        finish(out)
    }
}

/// Events libscap keeps for itself, which sysdig numbers but never shows.
fn is_internal(info: &EventInfo) -> bool {
    matches!(info.name, "procinfo" | "drop" | "sysdigevent") || info.name.starts_with("NA")
}

/// The native syscall an event stands for. The table maps each syscall to
/// its newest layouts; older layouts go by name, and generic events by the
/// native number their enter carries (or the scap syscall id of the exit).
fn native_nr(code: u16, info: &EventInfo, ev: &Event<'_>, enter: Option<&Enter>) -> Option<u16> {
    if code == table::GENERIC_E {
        return params::int(&Param::new("nativeID", pt::UINT16), ev.param(1)?).map(|n| n as u16);
    }
    if code == table::GENERIC_X {
        if let Some(native) = enter.and_then(|e| e.params.get(1)) {
            return params::int(&Param::new("nativeID", pt::UINT16), native).map(|n| n as u16);
        }
        let id = params::int(&Param::new("ID", pt::SYSCALLID), ev.param(0)?)?;
        return inverse().by_scap_id.get(&(id as u16)).copied();
    }
    if let Some(&n) = inverse().by_code.get(&code) {
        return Some(n);
    }
    let name = match info.name {
        // The first accept4 layouts were named after accept.
        "accept" if info.params.iter().any(|p| p.name == "flags") => "accept4",
        name => name,
    };
    SYSCALL_NAMES
        .iter()
        .position(|n| *n == name)
        .map(|n| n as u16)
}

/// The event table read backwards: native syscalls by the event codes of
/// their own layouts, and by scap's syscall ids.
struct Inverse {
    by_code: HashMap<u16, u16>,
    by_scap_id: HashMap<u16, u16>,
}

fn inverse() -> &'static Inverse {
    static MAP: OnceLock<Inverse> = OnceLock::new();
    MAP.get_or_init(|| {
        let (mut by_code, mut by_scap_id) = (HashMap::new(), HashMap::new());
        for n in 0..512u16 {
            let (e, x, id) = table::syscall_events(n);
            if e != table::GENERIC_E {
                by_code.entry(e).or_insert(n);
                by_code.entry(x).or_insert(n);
            }
            if id != 0 {
                by_scap_id.entry(id).or_insert(n);
            }
        }
        Inverse {
            by_code,
            by_scap_id,
        }
    })
}

/// An exit event with its layout.
struct Exit<'e, 'a> {
    ev: &'e Event<'a>,
    info: &'static EventInfo,
}

impl Exit<'_, '_> {
    /// The return value: an exit's first parameter.
    fn ret(&self) -> i64 {
        let Some((p, b)) = self.info.params.first().zip(self.ev.param(0)) else {
            return 0;
        };
        if p.ty == pt::DYN {
            // An index byte, then the value.
            return b
                .get(1..9)
                .map_or(0, |v| i64::from_le_bytes(v.try_into().expect("8")));
        }
        params::int(p, b).unwrap_or(0)
    }

    fn find(&self, name: &str) -> Option<(&'static Param, &[u8])> {
        let i = self.info.params.iter().position(|p| p.name == name)?;
        Some((&self.info.params[i], self.ev.param(i)?))
    }

    fn int(&self, name: &str) -> Option<i64> {
        let (p, b) = self.find(name)?;
        params::int(p, b)
    }

    fn bytes(&self, name: &str) -> Option<&[u8]> {
        Some(self.find(name)?.1)
    }

    fn text(&self, name: &str) -> Option<&[u8]> {
        self.bytes(name).map(params::text).filter(|t| !t.is_empty())
    }
}

/// A parameter by name: the exit's (past its return value), then the enter's.
struct Lookup<'l, 'e, 'a> {
    exit: &'l Exit<'e, 'a>,
    enter: Option<&'l Enter>,
}

impl Lookup<'_, '_, '_> {
    fn get(&self, name: &str) -> Option<(&'static Param, &[u8])> {
        let exit = self.exit;
        let in_exit = exit
            .info
            .params
            .iter()
            .enumerate()
            .skip(1)
            .find(|(_, p)| p.name == name)
            .and_then(|(i, p)| Some((p, exit.ev.param(i)?)));
        in_exit.or_else(|| {
            let e = self.enter?;
            let info = table::info(e.code)?;
            let i = info.params.iter().position(|p| p.name == name)?;
            Some((&info.params[i], e.params.get(i)?.as_slice()))
        })
    }

    fn int(&self, name: &str) -> Option<i64> {
        let (p, b) = self.get(name)?;
        params::int(p, b)
    }
}

/// The registers and items of syscall `def` from the events' parameters.
fn fill(
    def: &SyscallDef,
    l: &Lookup<'_, '_, '_>,
    args: &mut SyscallArgs,
    items: &mut Vec<(u8, CaptureKind, Vec<u8>)>,
) {
    let syscall = SYSCALL_NAMES
        .get(usize::from(def.nr))
        .copied()
        .unwrap_or("");
    for a in def.args {
        let reg = usize::from(a.reg) % 6;
        let ArgType::Captured(slot) = a.ty else {
            if let Some(v) = register(syscall, a.name, l) {
                args.args[reg] = v as u64;
            }
            continue;
        };
        let Some(cap) = def.caps.get(usize::from(slot)) else {
            continue;
        };
        let Ok(kind) = CaptureKind::try_from(cap.kind) else {
            continue;
        };
        if let Some(data) = captured(syscall, a.name, kind, l) {
            items.push((slot, kind, data));
        }
    }
}

/// The register value of argument `name`, from the parameter that holds it.
fn register(syscall: &str, name: &str, l: &Lookup<'_, '_, '_>) -> Option<i64> {
    let raw = l.int(match (syscall, name) {
        ("dup" | "dup2" | "dup3", "oldfd") => "fd",
        _ => name,
    })?;
    Some(match (syscall, name) {
        ("open" | "openat" | "openat2" | "creat", "flags") => {
            ppm_flags::native_open_flags(raw as u64) as i64
        }
        ("clone" | "unshare", "flags") => ppm_flags::native_clone_flags(raw as u64) as i64,
        ("mmap", "prot") => ppm_flags::native_mmap_prot(raw as u64) as i64,
        ("mmap", "flags") => ppm_flags::native_mmap_flags(raw as u64) as i64,
        ("fcntl", "cmd") => ppm_flags::native_fcntl_cmd(raw as u64) as i64,
        _ => raw,
    })
}

/// The item capture `kind` would have copied for argument `name`.
fn captured(
    syscall: &str,
    name: &str,
    kind: CaptureKind,
    l: &Lookup<'_, '_, '_>,
) -> Option<Vec<u8>> {
    let bytes = |n: &str| l.get(n).map(|(_, b)| b);
    match kind {
        CaptureKind::UserStr => Some(params::text(bytes(name)?).to_vec()),
        CaptureKind::BufferRet
        | CaptureKind::BufferArg
        | CaptureKind::IovecRet
        | CaptureKind::MsghdrRet => Some(bytes("data")?.to_vec()),
        CaptureKind::Sockaddr | CaptureKind::SockaddrLenPtr => {
            match bytes(name).filter(|b| !b.is_empty()) {
                Some(addr) => params::sockaddr(addr),
                // Old layouts named a unix peer only in the tuple.
                None => {
                    let path = params::unix_tuple_path(bytes("tuple")?)?;
                    params::sockaddr(&[&[1u8][..], path, &[0]].concat())
                }
            }
        }
        CaptureKind::SockTupleArgFd | CaptureKind::SockTupleRetFd => {
            let inbound = matches!(syscall, "accept" | "accept4" | "recvfrom" | "recvmsg");
            let proto = if matches!(syscall, "sendto" | "recvfrom") {
                17
            } else {
                6
            };
            params::ip_tuple(bytes("tuple")?, inbound, proto)
        }
        CaptureKind::FdPair => {
            let (a, b) = (l.int("fd1")?, l.int("fd2")?);
            let mut out = (a as i32).to_le_bytes().to_vec();
            out.extend_from_slice(&(b as i32).to_le_bytes());
            Some(out)
        }
        CaptureKind::Argv => {
            let mut out = params::text(bytes("exe").or_else(|| bytes("filename"))?).to_vec();
            out.push(0);
            out.extend_from_slice(bytes("args").unwrap_or_default());
            Some(out)
        }
        CaptureKind::Bytes
        | CaptureKind::None
        | CaptureKind::FilePathArgFd
        | CaptureKind::FilePathRetFd => None,
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn bytes_of<T>(v: &T) -> &[u8] {
    // SAFETY: a view of a repr(C) value of plain integers as bytes.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }
}

/// Writes the record's length into its header.
fn finish(mut out: Vec<u8>) -> Vec<u8> {
    let len = out.len() as u32;
    out[68..72].copy_from_slice(&len.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{args::arg_named, args::ArgValue, decode, Body};

    fn ev<'a>(tid: u64, code: u16, params: Vec<&'a [u8]>) -> Event<'a> {
        Event {
            cpu: 0,
            ts: 1_000 + tid,
            tid,
            code,
            params,
        }
    }

    fn known(tid: u64, tgid: u32, comm: &str) -> (u64, Thread) {
        let t = Thread {
            tgid,
            comm: comm.into(),
            uid: 0,
            gid: 0,
        };
        (tid, t)
    }

    #[test]
    fn interleaved_threads_merge_into_records_numbered_by_their_exits() {
        let mut c = Converter::new([known(10, 10, "cat"), known(11, 10, "cat")].into());
        let mut out = Vec::new();
        let dirfd = (-100i64).to_le_bytes();
        let flags = 0x1001u32.to_le_bytes(); // PPM_O_RDONLY | PPM_O_CLOEXEC
        let mode = 0u32.to_le_bytes();
        let fd3 = 3i64.to_le_bytes();
        let zero = 0i64.to_le_bytes();
        c.event(
            &ev(10, 102, vec![&dirfd, b"/etc/hosts\0", &flags, &mode]),
            1,
            &mut out,
        );
        c.event(&ev(11, 4, vec![&fd3]), 2, &mut out);
        c.event(&ev(11, 5, vec![&zero]), 3, &mut out);
        c.event(&ev(10, 103, vec![&fd3]), 4, &mut out);
        let nums: Vec<_> = out.iter().map(|c| c.num).collect();
        assert_eq!(nums, [Some(3), Some(4)]);
        let open = decode(&out[1].bytes).unwrap();
        assert_eq!(
            (open.hdr.nr, open.hdr.ret, open.hdr.tid, open.hdr.tgid),
            (nr::OPENAT, 3, 10, 10)
        );
        let Body::Syscall(s) = &open.body else {
            panic!("a syscall")
        };
        assert_eq!(
            arg_named(nr::OPENAT, s, "name"),
            Some(ArgValue::Path(b"/etc/hosts"))
        );
        assert_eq!(
            arg_named(nr::OPENAT, s, "flags"),
            Some(ArgValue::OpenFlags(0o2_000_000))
        );
        assert!(c.answers.is_empty(), "both threads were known");
    }

    #[test]
    fn clone_and_execve_give_fork_and_exec_records() {
        let mut c = Converter::new([known(10, 10, "sh")].into());
        let mut out = Vec::new();
        let (res, none) = (20i64.to_le_bytes(), 0i64.to_le_bytes());
        let (tid, pid, ptid) = (
            20i64.to_le_bytes(),
            20i64.to_le_bytes(),
            10i64.to_le_bytes(),
        );
        let lim = 1024u32.to_le_bytes();
        let flags = 0u32.to_le_bytes();
        let id = 0u32.to_le_bytes();
        c.event(&ev(10, 14, vec![]), 1, &mut out);
        c.event(
            &ev(
                10,
                15,
                vec![
                    &res, b"sh\0", b"", &res, &res, &ptid, b"/\0", &lim, &flags, &id, &id,
                ],
            ),
            2,
            &mut out,
        );
        // The child's own return: the fork is made once.
        c.event(
            &ev(
                20,
                15,
                vec![
                    &none, b"sh\0", b"", &tid, &pid, &ptid, b"/\0", &lim, &flags, &id, &id,
                ],
            ),
            3,
            &mut out,
        );
        c.event(&ev(20, 12, vec![]), 4, &mut out);
        c.event(
            &ev(
                20,
                13,
                vec![
                    &none,
                    b"ls\0",
                    b"-l\0",
                    &tid,
                    &pid,
                    &ptid,
                    b"/tmp\0",
                    &lim.repeat(2),
                ],
            ),
            5,
            &mut out,
        );
        let status = 0i64.to_le_bytes();
        c.event(
            &ev(20, 186, vec![&status, &status, &[0], &[0]]),
            6,
            &mut out,
        );
        let kinds: Vec<_> = out
            .iter()
            .map(|o| {
                let r = decode(&o.bytes).unwrap();
                let kind = match r.body {
                    Body::Fork(f) => format!("fork {}>{}", r.hdr.tid, f.child_tid),
                    Body::Exec { exe, args, .. } => format!(
                        "exec {} {}",
                        String::from_utf8_lossy(exe),
                        String::from_utf8_lossy(args).replace('\0', " ")
                    ),
                    Body::Syscall(_) => format!("syscall {} ret {}", r.hdr.nr, r.hdr.ret),
                    Body::Exit(_) => "exit".into(),
                };
                (kind, o.num)
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("fork 10>20".to_owned(), None),
                ("syscall 56 ret 20".to_owned(), Some(2)),
                ("syscall 56 ret 0".to_owned(), Some(3)),
                ("exec ls ls -l ".to_owned(), None),
                ("syscall 59 ret 0".to_owned(), Some(5)),
                ("exit".to_owned(), Some(6)),
            ]
        );
        let exec = decode(&out[4].bytes).unwrap();
        assert_eq!(&exec.hdr.comm[..3], b"ls\0");
    }

    #[test]
    fn a_thread_first_met_in_an_event_is_answered_for_and_has_no_name() {
        let mut c = Converter::default();
        let mut out = Vec::new();
        let fd = 1i64.to_le_bytes();
        let size = 5u32.to_le_bytes();
        c.event(&ev(7, 8, vec![&fd, &size]), 1, &mut out);
        c.event(&ev(7, 9, vec![&5i64.to_le_bytes(), b"hello"]), 2, &mut out);
        let w = decode(&out[0].bytes).unwrap();
        assert_eq!((w.hdr.tgid, w.hdr.comm[0]), (7, 0));
        assert!(matches!(
            c.answers.as_slice(),
            [Answer::Process {
                pid: 7,
                snap: Some(_)
            }]
        ));
        // A kind sdtrace does not decode is counted, not dropped silently.
        c.event(&ev(7, 232, vec![b"", b"", b""]), 3, &mut out);
        assert_eq!(c.skipped.get("signaldeliver"), Some(&1));
    }
}
