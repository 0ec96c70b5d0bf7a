//! Copies the argument memory a syscall's [`SyscallSpec`] asks for into the
//! scratch area, each piece behind an [`ItemHeader`]: one function per
//! capture stage ([`crate::stages`]), each run for one slot of the spec.
//!
//! Every offset is masked with `SCRATCH_MASK` (by [`Area`]) and every length
//! bounded before a copy: the scratch area is twice the mask, so the verifier
//! can prove each copy stays inside it.
use core::ffi::c_void;
use core::mem::offset_of;

use aya_ebpf::helpers::{
    bpf_get_current_task, generated::bpf_probe_read_kernel as bpf_probe_read_kernel_raw,
};

use crate::area::{bound, Area, Read};
use crate::kernel::{off, ptr, read, user};
use tracer_common::abi::{AF_INET, AF_INET6, EINPROGRESS};
use tracer_common::{
    Capture, CaptureKind, ItemHeader, KernelOffsets, SockTuple, ARGS_MAX, PATH_MAX, PATH_NAME_MAX,
    PATH_WALK_DETACHED, PATH_WALK_ROOT, PATH_WALK_STEPS, PATH_WALK_TRUNCATED, SCRATCH_MASK,
    SNAPLEN_MAX, SOCKADDR_MAX, WHEN_FAILED, WHEN_OK, WHEN_OK_OR_INPROGRESS,
};

/// A scratch slot's data: `SCRATCH_SIZE` = 2 * (`SCRATCH_MASK` + 1) bytes
/// (asserted in `scratch`).
pub type Data = Area<SCRATCH_MASK>;

const ITEM_HDR: u32 = core::mem::size_of::<ItemHeader>() as u32;
/// argv entries copied for a failed exec at most.
const MAX_ARGV: u64 = 24;
/// iovec entries whose data is copied at most.
const MAX_IOV: u64 = 8;

/// What a capture needs to know about the call.
pub struct Call {
    /// The six arguments, in the scratch area (a map value: the verifier
    /// allows a bounded variable index there, not on the stack). Points at
    /// six readable words for as long as the `Call` lives.
    pub args: *const u64,
    pub ret: i64,
    pub snaplen: u32,
}

/// What a `FilePath*` capture's item holds at `off`; returns the new end
/// (`off` when the fd has no file).
#[inline(always)]
pub fn path_item(buf: Data, off: u32, slot: u32, cap: &Capture, call: &Call) -> u32 {
    let fd = if cap.kind == CaptureKind::FilePathArgFd as u8 {
        arg(call, cap.arg) as u32 as u64
    } else {
        call.ret as u64
    };
    let data = off + ITEM_HDR;
    let len = write_path(buf, data, fd);
    if len == 0 {
        return off;
    }
    let kind = if cap.kind == CaptureKind::FilePathArgFd as u8 {
        CaptureKind::FilePathArgFd
    } else {
        CaptureKind::FilePathRetFd
    };
    write_item_header(buf, off, slot, kind, len);
    data + len
}

/// Whether a capture applies to a call that returned `ret`.
#[inline(always)]
pub fn applies(cap: &Capture, ret: i64) -> bool {
    match cap.when {
        WHEN_FAILED => ret < 0,
        WHEN_OK => ret >= 0,
        WHEN_OK_OR_INPROGRESS => ret >= 0 || ret == -EINPROGRESS,
        _ => true,
    }
}

#[inline(always)]
fn arg(call: &Call, i: u8) -> u64 {
    // SAFETY: `args` points at the six argument words of the record in the
    // scratch slot (`stages::run`), and `i % 6` stays among them.
    unsafe { core::ptr::read_unaligned(call.args.add((i % 6) as usize)) }
}

/// Bytes of I/O data to keep for a call that moved `ret` bytes.
#[inline(always)]
fn io_len(call: &Call) -> u32 {
    if call.ret <= 0 {
        return 0;
    }
    let n = if (call.ret as u64) < call.snaplen as u64 {
        call.ret as u32
    } else {
        call.snaplen
    };
    if n > SNAPLEN_MAX {
        SNAPLEN_MAX
    } else {
        n
    }
}

#[inline(always)]
fn write_item_header(buf: Data, off: u32, slot: u32, kind: CaptureKind, len: u32) {
    let hdr = ItemHeader {
        len: len as u16,
        slot: slot as u8,
        kind: kind as u8,
    };
    buf.at(off).write(hdr);
}

/// Copies `n` bytes of user memory to `buf + off`; returns the bytes copied.
#[inline(always)]
fn copy_user(buf: Data, off: u32, src: u64, n: u32) -> u32 {
    let n = bound(n, SCRATCH_MASK);
    let dst = buf.at(off);
    if n == 0 || dst.read(n, src as *const c_void, Read::User) < 0 {
        return 0;
    }
    n
}

/// Copies a NUL-terminated user string (without its NUL); returns its length.
#[inline(always)]
fn copy_user_str(buf: Data, off: u32, src: u64) -> u32 {
    let n = buf
        .at(off)
        .read(PATH_MAX, src as *const c_void, Read::UserStr);
    if n <= 1 {
        0
    } else {
        (n - 1) as u32
    }
}

/// The item of a capture the copy stage runs (a string, a buffer, a socket
/// address, an fd pair or a small struct) at `off`; returns the new end.
#[inline(always)]
pub fn copy_item(buf: Data, off: u32, slot: u32, cap: &Capture, call: &Call) -> u32 {
    let Ok(kind) = CaptureKind::try_from(cap.kind) else {
        return off;
    };
    let data = off + ITEM_HDR;
    let src = arg(call, cap.arg);
    let len = match kind {
        CaptureKind::UserStr => copy_user_str(buf, data, src),
        CaptureKind::BufferRet => copy_user(buf, data, src, io_len(call)),
        CaptureKind::BufferArg => {
            let want = arg(call, cap.aux);
            let n = if want < call.snaplen as u64 {
                want as u32
            } else {
                call.snaplen
            };
            copy_user(
                buf,
                data,
                src,
                if n > SNAPLEN_MAX { SNAPLEN_MAX } else { n },
            )
        }
        CaptureKind::Sockaddr => copy_user(buf, data, src, sockaddr_len(arg(call, cap.aux))),
        CaptureKind::SockaddrLenPtr => {
            let len = user::<u32>(arg(call, cap.aux)).unwrap_or(0);
            copy_user(buf, data, src, sockaddr_len(len as u64))
        }
        CaptureKind::FdPair => copy_user(buf, data, src, 8),
        CaptureKind::Bytes => copy_user(buf, data, src, cap.aux as u32),
        // Each of the others has a stage of its own.
        _ => return off,
    };
    write_item_header(buf, off, slot, kind, len);
    data + len
}

/// A `char *argv[]` item at `off`; returns the new end.
#[inline(always)]
pub fn argv_item(buf: Data, off: u32, slot: u32, cap: &Capture, call: &Call) -> u32 {
    let data = off + ITEM_HDR;
    let len = copy_argv(buf, data, arg(call, cap.arg));
    write_item_header(buf, off, slot, CaptureKind::Argv, len);
    data + len
}

/// A socket 4-tuple item at `off`; returns the new end.
#[inline(always)]
pub fn tuple_item(buf: Data, off: u32, slot: u32, cap: &Capture, call: &Call) -> u32 {
    let (kind, fd) = if cap.kind == CaptureKind::SockTupleRetFd as u8 {
        (CaptureKind::SockTupleRetFd, call.ret as u64)
    } else {
        (CaptureKind::SockTupleArgFd, arg(call, cap.arg))
    };
    let data = off + ITEM_HDR;
    let len = write_tuple(buf, data, fd);
    write_item_header(buf, off, slot, kind, len);
    data + len
}

/// An iovec array's data as an item at `off`; returns the new end.
#[inline(always)]
pub fn iovec_item(buf: Data, off: u32, slot: u32, cap: &Capture, call: &Call) -> u32 {
    let data = off + ITEM_HDR;
    let len = copy_iovec(
        buf,
        data,
        arg(call, cap.arg),
        arg(call, cap.aux),
        io_len(call),
    );
    write_item_header(buf, off, slot, CaptureKind::IovecRet, len);
    data + len
}

/// A `struct msghdr`'s items at `off`; returns the new end.
#[inline(always)]
pub fn msghdr_item(buf: Data, off: u32, slot: u32, cap: &Capture, call: &Call) -> u32 {
    msghdr(buf, off, slot, arg(call, cap.arg), call)
}

#[inline(always)]
fn sockaddr_len(len: u64) -> u32 {
    if len > SOCKADDR_MAX as u64 {
        SOCKADDR_MAX
    } else {
        len as u32
    }
}

/// Copies a NULL-terminated `char *argv[]` as NUL-separated strings.
#[inline(always)]
fn copy_argv(buf: Data, data: u32, argv: u64) -> u32 {
    let mut total = 0u32;
    for i in 0..MAX_ARGV {
        let Ok(p) = user::<u64>(argv + i * 8) else {
            break;
        };
        if p == 0 || total >= ARGS_MAX {
            break;
        }
        let n = copy_user_str(buf, data + total, p);
        // Keep the separator: write a NUL after the string.
        buf.at(data + total + n).write(0u8);
        // Laundered so every path through this iteration ends in one
        // verifier state (see `run`).
        total = bound(total + n + 1, SCRATCH_MASK);
    }
    total
}

/// Copies up to `want` bytes from an iovec array.
#[inline(always)]
fn copy_iovec(buf: Data, data: u32, iov: u64, iovcnt: u64, want: u32) -> u32 {
    let mut total = 0u32;
    for i in 0..MAX_IOV {
        if i >= iovcnt || total >= want {
            break;
        }
        let Ok(base) = user::<u64>(iov + i * 16) else {
            break;
        };
        let Ok(len) = user::<u64>(iov + i * 16 + 8) else {
            break;
        };
        let room = (want - total) as u64;
        let n = if len < room { len as u32 } else { room as u32 };
        let copied = copy_user(
            buf,
            data + total,
            base,
            if n > SNAPLEN_MAX { SNAPLEN_MAX } else { n },
        );
        total = bound(total + copied, SCRATCH_MASK);
    }
    total
}

/// `struct user_msghdr`: its address (when present) and its data, as two items.
#[inline(always)]
fn msghdr(buf: Data, off: u32, slot: u32, msg: u64, call: &Call) -> u32 {
    let name = user::<u64>(msg).unwrap_or(0);
    let namelen = user::<u32>(msg + 8).unwrap_or(0);
    let iov = user::<u64>(msg + 16).unwrap_or(0);
    let iovlen = user::<u64>(msg + 24).unwrap_or(0);
    let mut off = off;
    if name != 0 && namelen > 0 {
        let data = off + ITEM_HDR;
        let len = copy_user(buf, data, name, sockaddr_len(namelen as u64));
        write_item_header(buf, off, slot, CaptureKind::Sockaddr, len);
        // Laundered: with and without an address, the iovec copy then
        // starts from one verifier state (6.1's verifier otherwise walks
        // the copy's loop twice over: 124 k instructions against 22 k).
        off = bound(data + len, SCRATCH_MASK);
    }
    let data = off + ITEM_HDR;
    let len = copy_iovec(buf, data, iov, iovlen, io_len(call));
    write_item_header(buf, off, slot, CaptureKind::IovecRet, len);
    data + len
}

/// Writes the 4-tuple of the socket behind `fd`, read from the kernel's
/// `struct sock`, as a [`SockTuple`] at `buf + data` (zeroes when `fd` is
/// not a socket); returns its size. Written in place, field by field: a tuple
/// assembled on the stack with its `Option` temporaries took a 272-byte
/// frame, and an unaligned copy of it becomes a call to `memcpy`.
#[inline(always)]
fn write_tuple(buf: Data, data: u32, fd: u64) -> u32 {
    let t = buf.at(data).ptr();
    // Byte stores the compiler cannot turn into a `memset` call.
    for i in 0..core::mem::size_of::<SockTuple>() {
        // SAFETY: a `Place` has room for `SCRATCH_MASK + 1` bytes, and a
        // `SockTuple` is 40.
        unsafe { core::ptr::write_volatile(t.add(i), 0) };
    }
    let _ = fill_tuple(t, fd);
    core::mem::size_of::<SockTuple>() as u32
}

/// Fills the zeroed tuple at `t`, which has room for a whole `SockTuple`.
#[inline(always)]
fn fill_tuple(t: *mut u8, fd: u64) -> Option<()> {
    let file = fd_file(fd)?;
    let sock = ptr(file, off(|o| &o.file_private_data))?;
    let sk = ptr(sock, off(|o| &o.socket_sk))?;
    let family = read::<u16>(sk, off(|o| &o.sk_family))?;
    let lport = read::<u16>(sk, off(|o| &o.sk_num))?;
    let rport = u16::from_be(read::<u16>(sk, off(|o| &o.sk_dport))?);
    let protocol = read::<u16>(sk, off(|o| &o.sk_protocol)).unwrap_or(0);
    // SAFETY: each field's offset is inside the `SockTuple` that `t` has
    // room for.
    let field = |at: usize| unsafe { t.add(at) };
    // SAFETY: each store is a `u16` field, inside the tuple, unaligned.
    unsafe {
        field(offset_of!(SockTuple, family))
            .cast::<u16>()
            .write_unaligned(family);
        field(offset_of!(SockTuple, lport))
            .cast::<u16>()
            .write_unaligned(lport);
        field(offset_of!(SockTuple, rport))
            .cast::<u16>()
            .write_unaligned(rport);
        field(offset_of!(SockTuple, protocol))
            .cast::<u16>()
            .write_unaligned(protocol);
    }
    // The addresses are read by the helper straight into the record.
    let (laddr, raddr, n) = match family {
        AF_INET => (off(|o| &o.sk_rcv_saddr), off(|o| &o.sk_daddr), 4),
        AF_INET6 => (off(|o| &o.sk_v6_rcv_saddr), off(|o| &o.sk_v6_daddr), 16),
        _ => return Some(()),
    };
    // SAFETY: the helper reads kernel memory with fault handling and writes
    // `n` bytes (4 or 16) into a 16-byte address field of the tuple.
    unsafe {
        bpf_probe_read_kernel_raw(
            field(offset_of!(SockTuple, laddr)).cast(),
            n,
            (sk + laddr) as *const c_void,
        );
        bpf_probe_read_kernel_raw(
            field(offset_of!(SockTuple, raddr)).cast(),
            n,
            (sk + raddr) as *const c_void,
        );
    }
    Some(())
}

/// The current task's `struct file *` for `fd`: task->files->fdt->fd[fd].
#[inline(always)]
fn fd_file(fd: u64) -> Option<u64> {
    // SAFETY: the helper takes no arguments; it returns the current task's
    // address, only ever read through the probe-read helpers.
    let task = unsafe { bpf_get_current_task() };
    let files = ptr(task, off(|o| &o.task_files))?;
    let fdt = ptr(files, off(|o| &o.files_fdt))?;
    let max = read::<u32>(fdt, off(|o| &o.fdtable_max_fds))? as u64;
    if fd >= max {
        return None;
    }
    let fds = ptr(fdt, off(|o| &o.fdtable_fd))?;
    ptr(fds, fd * 8)
}

/// Writes the path of the file behind `fd` as a status byte and its names
/// leaf first, each NUL-terminated (the layout `PATH_WALK_ROOT` describes);
/// returns the bytes written, 0 when there is no file (nothing is written).
///
/// The walk follows `d_parent` up to the root of the dentry's mount, then
/// crosses to the mount it is mounted on (`struct mount`, which holds the
/// `vfsmount` a file points at), until it reaches a mount that is its own
/// parent: the root of the mount namespace, so a container's file reads as the
/// container sees it. This is what `d_path` does against the namespace's root
/// (it is out of reach: no fentry here to call it from).
#[inline(always)]
fn write_path(buf: Data, data: u32, fd: u64) -> u32 {
    // Userspace marks every walk offset missing when one is.
    if off(|o| &o.file_path_dentry) == KernelOffsets::MISSING as u64 {
        return 0;
    }
    let Some(file) = fd_file(fd) else {
        return 0;
    };
    let (Some(mut dentry), Some(vfsmount)) = (
        ptr(file, off(|o| &o.file_path_dentry)),
        ptr(file, off(|o| &o.file_path_mnt)),
    ) else {
        return 0;
    };
    if dentry == 0 || vfsmount == 0 {
        return 0;
    }
    let mount_mnt = off(|o| &o.mount_mnt);
    // container_of(vfsmount, struct mount, mnt)
    let mut mount = vfsmount.wrapping_sub(mount_mnt);
    let mut status = PATH_WALK_TRUNCATED;
    let mut len = 1u32;
    for _ in 0..PATH_WALK_STEPS {
        let Some(root) = ptr(mount.wrapping_add(mount_mnt), off(|o| &o.vfsmount_root)) else {
            break;
        };
        if dentry == root {
            let Some(parent) = ptr(mount, off(|o| &o.mount_parent)) else {
                break;
            };
            if parent == mount {
                status = PATH_WALK_ROOT;
                break;
            }
            let Some(point) = ptr(mount, off(|o| &o.mount_mountpoint)) else {
                break;
            };
            dentry = point;
            mount = parent;
            continue;
        }
        let Some(parent) = ptr(dentry, off(|o| &o.dentry_parent)) else {
            break;
        };
        if parent == dentry {
            status = PATH_WALK_DETACHED;
            break;
        }
        let Some(name) = ptr(dentry, off(|o| &o.dentry_name)) else {
            break;
        };
        let n = copy_kernel_str(buf, data + len, name);
        if n == 0 {
            break;
        }
        // Laundered so every path through this step ends in one verifier
        // state (see `run`).
        len = bound(len + n, SCRATCH_MASK);
        dentry = parent;
    }
    buf.at(data).write(status);
    len
}

/// Copies a NUL-terminated kernel string of at most `PATH_NAME_MAX` bytes
/// (its NUL included); returns the bytes copied with the NUL, 0 on failure.
#[inline(always)]
fn copy_kernel_str(buf: Data, off: u32, src: u64) -> u32 {
    let n = buf
        .at(off)
        .read(PATH_NAME_MAX, src as *const c_void, Read::KernelStr);
    if n <= 0 {
        0
    } else {
        n as u32
    }
}
