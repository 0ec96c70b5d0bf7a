//! `evt.info` and `evt.args`: a syscall's result and arguments as sysdig
//! prints them (`fd=3(<f>/etc/hosts) dirfd=-100(AT_FDCWD) name=/etc/hosts ...`).

use tracer_common::syscall_names::nr;

use crate::decode::args::{Arg, ArgValue};
use crate::decode::flags;

use super::num::{push_hex, push_i64, push_u64};

/// How an fd number is shown: its type letter and name, when known.
pub type FdLabel<'a> = Option<(char, &'a str)>;

/// Syscalls whose non-negative result is a new file descriptor.
pub fn returns_fd(sysno: u16) -> bool {
    matches!(
        sysno,
        nr::OPEN
            | nr::OPENAT
            | nr::OPENAT2
            | nr::CREAT
            | nr::SOCKET
            | nr::ACCEPT
            | nr::ACCEPT4
            | nr::DUP
            | nr::DUP2
            | nr::DUP3
            | nr::INOTIFY_INIT
            | nr::INOTIFY_INIT1
            | nr::EPOLL_CREATE
            | nr::EPOLL_CREATE1
            | nr::EVENTFD
            | nr::EVENTFD2
            | nr::SIGNALFD
            | nr::SIGNALFD4
            | nr::TIMERFD_CREATE
            | nr::MEMFD_CREATE
            | nr::PIDFD_OPEN
            | nr::OPEN_BY_HANDLE_AT
    )
}

/// How I/O buffers are printed (sysdig's -A, -x, -X).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BufferMode {
    /// Printable ASCII kept, everything else as `.`.
    #[default]
    Dots,
    /// `-A`: only the printable text, with its line ends.
    Ascii,
    /// `-x`: a hex dump on the following lines.
    Hex,
    /// `-X`: a hex dump with an ASCII column.
    HexAscii,
}

/// Writes `bytes` printable: ASCII kept, everything else as `.`, as sysdig's
/// default output does.
pub fn write_printable(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend(
        bytes
            .iter()
            .map(|&b| if (0x20..0x7f).contains(&b) { b } else { b'.' }),
    );
}

/// Writes a buffer in `mode`.
pub fn write_buffer(out: &mut Vec<u8>, bytes: &[u8], mode: BufferMode) {
    match mode {
        BufferMode::Dots => write_printable(out, bytes),
        BufferMode::Ascii => out.extend(
            bytes
                .iter()
                .copied()
                .filter(|&b| (0x20..0x7f).contains(&b) || matches!(b, b'\n' | b'\r' | b'\t')),
        ),
        BufferMode::Hex | BufferMode::HexAscii => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            for (line, chunk) in bytes.chunks(16).enumerate() {
                out.extend_from_slice(b"\n\t0x");
                for shift in [12, 8, 4, 0] {
                    out.push(HEX[(line * 16) >> shift & 0xf]);
                }
                out.extend_from_slice(b": ");
                for (i, b) in chunk.iter().enumerate() {
                    if i % 2 == 0 {
                        out.push(b' ');
                    }
                    out.push(HEX[usize::from(b >> 4)]);
                    out.push(HEX[usize::from(b & 0xf)]);
                }
                if mode == BufferMode::HexAscii {
                    let used = chunk.len() * 2 + chunk.len().div_ceil(2);
                    out.resize(out.len() + (40 - used) + 2, b' ');
                    write_printable(out, chunk);
                }
            }
        }
    }
}

fn write_fd(out: &mut Vec<u8>, fd: i64, label: FdLabel<'_>) {
    push_i64(out, fd);
    if let Some((c, name)) = label {
        out.extend_from_slice(b"(<");
        let mut ch = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut ch).as_bytes());
        out.push(b'>');
        out.extend_from_slice(name.as_bytes());
        out.push(b')');
    }
}

fn push_name(out: &mut Vec<u8>, name: Option<&str>) {
    if let Some(name) = name {
        out.push(b'(');
        out.extend_from_slice(name.as_bytes());
        out.push(b')');
    }
}

/// `res=0`, `res=-2(ENOENT)`, or `fd=3(<f>/etc/hosts)` for fd-returning calls.
pub fn write_result(out: &mut Vec<u8>, sysno: u16, ret: i64, ret_label: FdLabel<'_>) {
    if ret < 0 {
        out.extend_from_slice(b"res=");
        push_i64(out, ret);
        push_name(out, flags::errno_name(ret.saturating_neg()));
    } else if returns_fd(sysno) {
        out.extend_from_slice(b"fd=");
        write_fd(out, ret, ret_label);
    } else {
        out.extend_from_slice(b"res=");
        push_i64(out, ret);
    }
}

/// Writes one argument's value.
pub fn write_value<'s>(
    out: &mut Vec<u8>,
    value: &ArgValue<'_>,
    label: &dyn Fn(i64) -> FdLabel<'s>,
    buffers: BufferMode,
) {
    match value {
        ArgValue::Fd(fd) => write_fd(out, *fd, label(*fd)),
        ArgValue::Dirfd(fd) if *fd == -100 => out.extend_from_slice(b"-100(AT_FDCWD)"),
        ArgValue::Dirfd(fd) => write_fd(out, *fd, label(*fd)),
        ArgValue::Int(v) | ArgValue::Pid(v) => push_i64(out, *v),
        ArgValue::UInt(v) => push_u64(out, *v),
        ArgValue::Hex(v) => push_hex(out, *v),
        ArgValue::OpenFlags(v) => out.extend_from_slice(flags::open_flags(*v).as_bytes()),
        ArgValue::Mode(0) => out.push(b'0'),
        ArgValue::Mode(v) => out.extend_from_slice(format!("0{v:o}").as_bytes()),
        ArgValue::Signal(s) => {
            push_i64(out, *s);
            push_name(out, flags::signal_name(*s));
        }
        ArgValue::Uid(v) | ArgValue::Gid(v) => push_i64(out, i64::from(*v as i32)),
        ArgValue::CloneFlags(v) => out.extend_from_slice(flags::clone_flags(*v).as_bytes()),
        ArgValue::SocketDomain(d) => {
            let name = flags::socket_domain(*d);
            if name.is_empty() {
                push_u64(out, *d);
            } else {
                out.extend_from_slice(name.as_bytes());
            }
        }
        ArgValue::SocketType(t) => push_u64(out, *t),
        ArgValue::Path(p) => out.extend_from_slice(p),
        ArgValue::Buffer(b) => write_buffer(out, b, buffers),
        ArgValue::Bytes(b) => write_printable(out, b),
        ArgValue::Addr(a) => out.extend_from_slice(a.to_string().as_bytes()),
        ArgValue::Tuple(t) => out.extend_from_slice(
            format!("{}:{}->{}:{}", t.local.0, t.local.1, t.remote.0, t.remote.1).as_bytes(),
        ),
        ArgValue::FdPair(a, b) => {
            push_i64(out, i64::from(*a));
            out.push(b',');
            push_i64(out, i64::from(*b));
        }
        ArgValue::Argv(a) => {
            let trimmed = a.strip_suffix(b"\0").unwrap_or(a);
            out.extend(trimmed.iter().map(|&c| if c == 0 { b' ' } else { c }));
        }
        ArgValue::Missing => {}
    }
}

/// `name=value` pairs separated by spaces; arguments with no captured value
/// are left out.
pub fn write_args<'s>(
    out: &mut Vec<u8>,
    args: &[Arg<'_>],
    label: &dyn Fn(i64) -> FdLabel<'s>,
    buffers: BufferMode,
) {
    let mut first = true;
    for arg in args {
        if arg.value == ArgValue::Missing {
            continue;
        }
        if !first {
            out.push(b' ');
        }
        first = false;
        out.extend_from_slice(arg.name.as_bytes());
        out.push(b'=');
        write_value(out, &arg.value, label, buffers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_modes() {
        let data = b"GET / HTTP/1.1\r\nHost: x\r\n\x00\x01";
        let mut out = Vec::new();
        write_buffer(&mut out, data, BufferMode::Dots);
        assert_eq!(out, b"GET / HTTP/1.1..Host: x....");
        out.clear();
        write_buffer(&mut out, data, BufferMode::Ascii);
        assert_eq!(out, b"GET / HTTP/1.1\r\nHost: x\r\n");
        out.clear();
        write_buffer(&mut out, &data[..18], BufferMode::Hex);
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "\n\t0x0000:  4745 5420 2f20 4854 5450 2f31 2e31 0d0a\n\t0x0010:  486f"
        );
        out.clear();
        write_buffer(&mut out, &data[..4], BufferMode::HexAscii);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("\n\t0x0000:  4745 5420{}GET ", " ".repeat(32))
        );
    }

    fn none(_: i64) -> FdLabel<'static> {
        None
    }

    #[test]
    fn results() {
        let mut out = Vec::new();
        write_result(&mut out, nr::OPENAT, 3, Some(('f', "/etc/hosts")));
        assert_eq!(out, b"fd=3(<f>/etc/hosts)");
        out.clear();
        write_result(&mut out, nr::OPENAT, -2, None);
        assert_eq!(out, b"res=-2(ENOENT)");
        out.clear();
        write_result(&mut out, nr::READ, 5, None);
        assert_eq!(out, b"res=5");
        // Found by the scap_read fuzzer: a damaged record's result.
        out.clear();
        write_result(&mut out, nr::READ, i64::MIN, None);
        assert_eq!(out, b"res=-9223372036854775808");
    }

    #[test]
    fn args_line() {
        let args = [
            Arg {
                name: "dirfd",
                value: ArgValue::Dirfd(-100),
            },
            Arg {
                name: "name",
                value: ArgValue::Path(b"/etc/hosts"),
            },
            Arg {
                name: "flags",
                value: ArgValue::OpenFlags(0),
            },
            Arg {
                name: "data",
                value: ArgValue::Missing,
            },
            Arg {
                name: "buf",
                value: ArgValue::Buffer(b"GET /\r\n"),
            },
        ];
        let mut out = Vec::new();
        write_args(&mut out, &args, &none, BufferMode::Dots);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "dirfd=-100(AT_FDCWD) name=/etc/hosts flags=O_RDONLY buf=GET /.."
        );
    }
}
