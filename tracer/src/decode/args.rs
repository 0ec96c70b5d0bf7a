//! A syscall record's arguments, typed by the shared syscall table.

use tracer_common::{
    syscall_names::nr,
    syscalls::{self, ArgType},
    CaptureKind,
};

use super::sockaddr::{SockAddr, Tuple};
use super::SyscallEvent;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgValue<'a> {
    Fd(i64),
    Dirfd(i64),
    Int(i64),
    UInt(u64),
    Hex(u64),
    OpenFlags(u64),
    Mode(u64),
    Signal(i64),
    Pid(i64),
    Uid(u32),
    Gid(u32),
    CloneFlags(u64),
    SocketDomain(u64),
    SocketType(u64),
    Path(&'a [u8]),
    Buffer(&'a [u8]),
    Addr(SockAddr),
    Tuple(Tuple),
    FdPair(i32, i32),
    Argv(&'a [u8]),
    Bytes(&'a [u8]),
    /// The kernel copied nothing for this argument (e.g. the call failed).
    Missing,
}

#[derive(Clone, Debug)]
pub struct Arg<'a> {
    pub name: &'static str,
    pub value: ArgValue<'a>,
}

/// The decoded arguments of syscall `sysno`; `arg0..arg5` as hex for
/// syscalls outside the table.
pub fn args<'a>(sysno: u16, ev: &SyscallEvent<'a>) -> Vec<Arg<'a>> {
    let Some(def) = syscalls::def(sysno) else {
        const RAW: [&str; 6] = ["arg0", "arg1", "arg2", "arg3", "arg4", "arg5"];
        return RAW
            .iter()
            .zip(ev.args)
            .map(|(&name, v)| Arg {
                name,
                value: ArgValue::Hex(v),
            })
            .collect();
    };
    def.args
        .iter()
        .map(|a| Arg {
            name: a.name,
            value: value(sysno, a.ty, ev.args[a.reg as usize % 6], ev),
        })
        .collect()
}

/// One argument by name, for `evt.arg.<name>`.
pub fn arg_named<'a>(sysno: u16, ev: &SyscallEvent<'a>, name: &str) -> Option<ArgValue<'a>> {
    let def = syscalls::def(sysno)?;
    let a = def.args.iter().find(|a| a.name == name)?;
    Some(value(sysno, a.ty, ev.args[a.reg as usize % 6], ev))
}

fn value<'a>(sysno: u16, ty: ArgType, raw: u64, ev: &SyscallEvent<'a>) -> ArgValue<'a> {
    let int = raw as i64;
    match ty {
        ArgType::Fd => ArgValue::Fd(int as i32 as i64),
        ArgType::Dirfd => ArgValue::Dirfd(int as i32 as i64),
        ArgType::Int => ArgValue::Int(int),
        ArgType::UInt => ArgValue::UInt(raw),
        ArgType::Hex => ArgValue::Hex(raw),
        ArgType::OpenFlags => ArgValue::OpenFlags(raw),
        ArgType::Mode => ArgValue::Mode(raw),
        ArgType::Signal => ArgValue::Signal(int as i32 as i64),
        ArgType::Pid => ArgValue::Pid(int as i32 as i64),
        ArgType::Uid => ArgValue::Uid(raw as u32),
        ArgType::Gid => ArgValue::Gid(raw as u32),
        ArgType::CloneFlags => ArgValue::CloneFlags(raw),
        ArgType::SocketDomain => ArgValue::SocketDomain(raw),
        ArgType::SocketType => ArgValue::SocketType(raw),
        ArgType::Captured(slot) => captured(sysno, slot, ev),
    }
}

fn captured<'a>(sysno: u16, slot: u8, ev: &SyscallEvent<'a>) -> ArgValue<'a> {
    // A msghdr capture yields an address and data under one slot: the data is the argument.
    let item = ev
        .item_of(slot, CaptureKind::IovecRet)
        .or_else(|| ev.item(slot));
    let Some(item) = item else {
        return ArgValue::Missing;
    };
    let d = item.data;
    let u64_at = |at: usize| {
        d.get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
    };
    match item.kind {
        CaptureKind::UserStr => ArgValue::Path(d),
        CaptureKind::BufferRet
        | CaptureKind::BufferArg
        | CaptureKind::IovecRet
        | CaptureKind::MsghdrRet => ArgValue::Buffer(d),
        CaptureKind::Sockaddr | CaptureKind::SockaddrLenPtr => {
            SockAddr::parse(d).map_or(ArgValue::Missing, ArgValue::Addr)
        }
        CaptureKind::SockTupleArgFd | CaptureKind::SockTupleRetFd => {
            Tuple::parse(d).map_or(ArgValue::Missing, ArgValue::Tuple)
        }
        CaptureKind::FdPair if d.len() >= 8 => ArgValue::FdPair(
            i32::from_le_bytes([d[0], d[1], d[2], d[3]]),
            i32::from_le_bytes([d[4], d[5], d[6], d[7]]),
        ),
        CaptureKind::Argv => ArgValue::Argv(d),
        CaptureKind::Bytes if sysno == nr::CLONE3 => {
            u64_at(0).map_or(ArgValue::Missing, ArgValue::CloneFlags)
        }
        CaptureKind::Bytes if sysno == nr::OPENAT2 => {
            u64_at(0).map_or(ArgValue::Missing, ArgValue::OpenFlags)
        }
        CaptureKind::Bytes => ArgValue::Bytes(d),
        // No argument names a kernel path (see `kpath`).
        CaptureKind::FdPair
        | CaptureKind::None
        | CaptureKind::FilePathArgFd
        | CaptureKind::FilePathRetFd => ArgValue::Missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{decode, tests::syscall_record, Body};

    #[test]
    fn openat_args_are_typed() {
        let bytes = syscall_record(
            nr::OPENAT,
            3,
            [(-100i64) as u64, 0x1000, 0o2000000, 0o644, 0, 0],
            &[(0, CaptureKind::UserStr, b"/etc/hosts")],
        );
        let rec = decode(&bytes).unwrap();
        let Body::Syscall(ev) = rec.body else {
            panic!()
        };
        let a = args(nr::OPENAT, &ev);
        assert_eq!(a[0].name, "dirfd");
        assert_eq!(a[0].value, ArgValue::Dirfd(-100));
        assert_eq!(a[1].value, ArgValue::Path(b"/etc/hosts"));
        assert_eq!(a[2].value, ArgValue::OpenFlags(0o2000000));
        assert_eq!(
            arg_named(nr::OPENAT, &ev, "name"),
            Some(ArgValue::Path(b"/etc/hosts"))
        );
    }

    #[test]
    fn unknown_syscalls_show_raw_registers() {
        let bytes = syscall_record(nr::VHANGUP, 1, [1, 2, 3, 4, 5, 6], &[]);
        let Body::Syscall(ev) = decode(&bytes).unwrap().body else {
            panic!()
        };
        let a = args(nr::VHANGUP, &ev);
        assert_eq!(a.len(), 6);
        assert_eq!(a[5].value, ArgValue::Hex(6));
    }

    #[test]
    fn failed_read_has_no_data() {
        let bytes = syscall_record(nr::READ, -9, [3, 0x1000, 10, 0, 0, 0], &[]);
        let Body::Syscall(ev) = decode(&bytes).unwrap().body else {
            panic!()
        };
        assert_eq!(args(nr::READ, &ev)[1].value, ArgValue::Missing);
    }
}
