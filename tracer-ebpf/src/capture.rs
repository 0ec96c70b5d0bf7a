//! Copies the argument memory a syscall's [`SyscallSpec`] asks for into the
//! scratch area, each piece behind an [`ItemHeader`].
//!
//! Every offset is masked with `SCRATCH_MASK` and every length bounded before a
//! copy: the scratch area is twice the mask, so the verifier can prove each
//! copy stays inside it.
use core::ffi::c_void;

use aya_ebpf::helpers::{
    bpf_get_current_task, bpf_probe_read_user,
    generated::{bpf_probe_read_kernel_str, bpf_probe_read_user as read_user_raw, bpf_probe_read_user_str},
};

use crate::kernel::{off, ptr, read};
use tracer_common::{
    ARGS_MAX, Capture, CaptureKind, ItemHeader, KernelOffsets, PATH_MAX, PATH_NAME_MAX, PATH_WALK_DETACHED,
    PATH_WALK_ROOT, PATH_WALK_STEPS, PATH_WALK_TRUNCATED, SCRATCH_MASK, SNAPLEN_MAX, SOCKADDR_MAX, SockTuple,
    SyscallSpec, WHEN_FAILED, WHEN_OK, WHEN_OK_OR_INPROGRESS,
};

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
const EINPROGRESS: i64 = 115;
const ITEM_HDR: u32 = core::mem::size_of::<ItemHeader>() as u32;
/// argv entries copied for a failed exec at most.
const MAX_ARGV: u64 = 24;
/// iovec entries whose data is copied at most.
const MAX_IOV: u64 = 8;

/// What a capture needs to know about the call.
pub struct Call {
    /// The six arguments, in the scratch area (a map value: the verifier
    /// allows a bounded variable index there, not on the stack).
    pub args: *const u64,
    pub ret: i64,
    pub snaplen: u32,
}

/// Runs the spec's captures, appending items at `off`; returns the new end.
///
/// After each capture the offset is re-bounded through a volatile read, so
/// that the verifier sees the same state whichever capture kind ran: the
/// paths converge and it prunes them instead of multiplying them slot by slot.
#[inline(always)]
pub fn run(buf: *mut u8, mut off: u32, spec: &SyscallSpec, call: &Call) -> u32 {
    if spec.ncap > 0 {
        off = bound(one(buf, off, 0, &spec.caps[0], call), SCRATCH_MASK);
    }
    if spec.ncap > 1 {
        off = bound(one(buf, off, 1, &spec.caps[1], call), SCRATCH_MASK);
    }
    if spec.ncap > 2 {
        off = bound(one(buf, off, 2, &spec.caps[2], call), SCRATCH_MASK);
    }
    // The dentry walk has one call site, after the other captures (a path
    // capture is its syscall's last): verifying it once per record path, not
    // once per slot, keeps the programs far from the verifier's limit.
    let slot = if spec.ncap > 2 && is_path(&spec.caps[2]) {
        2
    } else if spec.ncap > 1 && is_path(&spec.caps[1]) {
        1
    } else if spec.ncap > 0 && is_path(&spec.caps[0]) {
        0
    } else {
        return off;
    };
    bound(path_item(buf, off, slot, &spec.caps[slot as usize % 3], call), SCRATCH_MASK)
}

fn is_path(cap: &Capture) -> bool {
    cap.kind == CaptureKind::FilePathArgFd as u8 || cap.kind == CaptureKind::FilePathRetFd as u8
}

/// A `FilePath*` capture's item at `off`; returns the new end (`off` when
/// the fd has no file).
fn path_item(buf: *mut u8, off: u32, slot: u32, cap: &Capture, call: &Call) -> u32 {
    if !applies(cap, call.ret) {
        return off;
    }
    let fd = if cap.kind == CaptureKind::FilePathArgFd as u8 { arg(call, cap.arg) as u32 as u64 } else { call.ret as u64 };
    let data = off + ITEM_HDR;
    let len = write_path(buf, data, fd);
    if len == 0 {
        return off;
    }
    let kind = if cap.kind == CaptureKind::FilePathArgFd as u8 { CaptureKind::FilePathArgFd } else { CaptureKind::FilePathRetFd };
    write_item_header(buf, off, slot, kind, len);
    data + len
}

fn applies(cap: &Capture, ret: i64) -> bool {
    match cap.when {
        WHEN_FAILED => ret < 0,
        WHEN_OK => ret >= 0,
        WHEN_OK_OR_INPROGRESS => ret >= 0 || ret == -EINPROGRESS,
        _ => true,
    }
}

fn arg(call: &Call, i: u8) -> u64 {
    unsafe { core::ptr::read_unaligned(call.args.add((i % 6) as usize)) }
}

/// Bytes of I/O data to keep for a call that moved `ret` bytes.
fn io_len(call: &Call) -> u32 {
    if call.ret <= 0 {
        return 0;
    }
    let n = if (call.ret as u64) < call.snaplen as u64 { call.ret as u32 } else { call.snaplen };
    if n > SNAPLEN_MAX { SNAPLEN_MAX } else { n }
}

/// `v & mask`, computed so that LLVM cannot drop the mask as redundant: the
/// verifier needs to see the bound right before the access.
#[inline(always)]
pub fn bound(v: u32, mask: u32) -> u32 {
    unsafe { core::ptr::read_volatile(&v) & mask }
}

#[inline(always)]
fn write_item_header(buf: *mut u8, off: u32, slot: u32, kind: CaptureKind, len: u32) {
    let hdr = ItemHeader { len: len as u16, slot: slot as u8, kind: kind as u8 };
    unsafe { core::ptr::write_unaligned(buf.add(bound(off, SCRATCH_MASK) as usize).cast::<ItemHeader>(), hdr) };
}

/// Copies `n` bytes of user memory to `buf + off`; returns the bytes copied.
#[inline(always)]
fn copy_user(buf: *mut u8, off: u32, src: u64, n: u32) -> u32 {
    let n = bound(n, SCRATCH_MASK);
    let dst = unsafe { buf.add(bound(off, SCRATCH_MASK) as usize) };
    if n == 0 || unsafe { read_user_raw(dst.cast::<c_void>(), n, src as *const c_void) } < 0 {
        return 0;
    }
    n
}

/// Copies a NUL-terminated user string (without its NUL); returns its length.
#[inline(always)]
fn copy_user_str(buf: *mut u8, off: u32, src: u64) -> u32 {
    let dst = unsafe { buf.add(bound(off, SCRATCH_MASK) as usize) };
    let n = unsafe { bpf_probe_read_user_str(dst.cast::<c_void>(), PATH_MAX, src as *const c_void) };
    if n <= 1 { 0 } else { (n - 1) as u32 }
}

fn one(buf: *mut u8, off: u32, slot: u32, cap: &Capture, call: &Call) -> u32 {
    let Ok(kind) = CaptureKind::try_from(cap.kind) else {
        return off;
    };
    if !applies(cap, call.ret) {
        return off;
    }
    let data = off + ITEM_HDR;
    let src = arg(call, cap.arg);
    let len = match kind {
        CaptureKind::None => return off,
        CaptureKind::UserStr => copy_user_str(buf, data, src),
        CaptureKind::BufferRet => copy_user(buf, data, src, io_len(call)),
        CaptureKind::BufferArg => {
            let want = arg(call, cap.aux);
            let n = if want < call.snaplen as u64 { want as u32 } else { call.snaplen };
            copy_user(buf, data, src, if n > SNAPLEN_MAX { SNAPLEN_MAX } else { n })
        }
        CaptureKind::Sockaddr => copy_user(buf, data, src, sockaddr_len(arg(call, cap.aux))),
        CaptureKind::SockaddrLenPtr => {
            let len = unsafe { bpf_probe_read_user(arg(call, cap.aux) as *const u32) }.unwrap_or(0);
            copy_user(buf, data, src, sockaddr_len(len as u64))
        }
        CaptureKind::FdPair => copy_user(buf, data, src, 8),
        CaptureKind::Bytes => copy_user(buf, data, src, cap.aux as u32),
        CaptureKind::Argv => copy_argv(buf, data, src),
        CaptureKind::SockTupleArgFd => write_tuple(buf, data, src),
        CaptureKind::SockTupleRetFd => write_tuple(buf, data, call.ret as u64),
        CaptureKind::IovecRet => copy_iovec(buf, data, src, arg(call, cap.aux), io_len(call)),
        CaptureKind::MsghdrRet => return msghdr(buf, off, slot, src, call),
        // Done once, after the others (see `run`).
        CaptureKind::FilePathArgFd | CaptureKind::FilePathRetFd => return off,
    };
    write_item_header(buf, off, slot, kind, len);
    data + len
}

fn sockaddr_len(len: u64) -> u32 {
    if len > SOCKADDR_MAX as u64 { SOCKADDR_MAX } else { len as u32 }
}

/// Copies a NULL-terminated `char *argv[]` as NUL-separated strings.
fn copy_argv(buf: *mut u8, data: u32, argv: u64) -> u32 {
    let mut total = 0u32;
    for i in 0..MAX_ARGV {
        let Ok(p) = (unsafe { bpf_probe_read_user((argv + i * 8) as *const u64) }) else {
            break;
        };
        if p == 0 || total >= ARGS_MAX {
            break;
        }
        let n = copy_user_str(buf, data + total, p);
        // Keep the separator: write a NUL after the string.
        unsafe { *buf.add(bound(data + total + n, SCRATCH_MASK) as usize) = 0 };
        // Laundered so every path through this iteration ends in one
        // verifier state (see `run`).
        total = bound(total + n + 1, SCRATCH_MASK);
    }
    total
}

/// Copies up to `want` bytes from an iovec array.
fn copy_iovec(buf: *mut u8, data: u32, iov: u64, iovcnt: u64, want: u32) -> u32 {
    let mut total = 0u32;
    for i in 0..MAX_IOV {
        if i >= iovcnt || total >= want {
            break;
        }
        let Ok(base) = (unsafe { bpf_probe_read_user((iov + i * 16) as *const u64) }) else {
            break;
        };
        let Ok(len) = (unsafe { bpf_probe_read_user((iov + i * 16 + 8) as *const u64) }) else {
            break;
        };
        let room = (want - total) as u64;
        let n = if len < room { len as u32 } else { room as u32 };
        let copied = copy_user(buf, data + total, base, if n > SNAPLEN_MAX { SNAPLEN_MAX } else { n });
        total = bound(total + copied, SCRATCH_MASK);
    }
    total
}

/// `struct user_msghdr`: its address (when present) and its data, as two items.
fn msghdr(buf: *mut u8, off: u32, slot: u32, msg: u64, call: &Call) -> u32 {
    let name = unsafe { bpf_probe_read_user(msg as *const u64) }.unwrap_or(0);
    let namelen = unsafe { bpf_probe_read_user((msg + 8) as *const u32) }.unwrap_or(0);
    let iov = unsafe { bpf_probe_read_user((msg + 16) as *const u64) }.unwrap_or(0);
    let iovlen = unsafe { bpf_probe_read_user((msg + 24) as *const u64) }.unwrap_or(0);
    let mut off = off;
    if name != 0 && namelen > 0 {
        let data = off + ITEM_HDR;
        let len = copy_user(buf, data, name, sockaddr_len(namelen as u64));
        write_item_header(buf, off, slot, CaptureKind::Sockaddr, len);
        off = data + len;
    }
    let data = off + ITEM_HDR;
    let len = copy_iovec(buf, data, iov, iovlen, io_len(call));
    write_item_header(buf, off, slot, CaptureKind::IovecRet, len);
    data + len
}

/// Reads the 4-tuple of the socket behind `fd` from the kernel's `struct sock`
/// and writes it as a [`SockTuple`].
fn write_tuple(buf: *mut u8, data: u32, fd: u64) -> u32 {
    let t = sock_tuple(fd).unwrap_or_default();
    unsafe { core::ptr::write_unaligned(buf.add(bound(data, SCRATCH_MASK) as usize).cast::<SockTuple>(), t) };
    core::mem::size_of::<SockTuple>() as u32
}

/// The current task's `struct file *` for `fd`: task->files->fdt->fd[fd].
fn fd_file(fd: u64) -> Option<u64> {
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

fn sock_tuple(fd: u64) -> Option<SockTuple> {
    let file = fd_file(fd)?;
    let sock = ptr(file, off(|o| &o.file_private_data))?;
    let sk = ptr(sock, off(|o| &o.socket_sk))?;
    let mut t = SockTuple {
        family: read::<u16>(sk, off(|o| &o.sk_family))?,
        lport: read::<u16>(sk, off(|o| &o.sk_num))?,
        rport: u16::from_be(read::<u16>(sk, off(|o| &o.sk_dport))?),
        protocol: read::<u16>(sk, off(|o| &o.sk_protocol)).unwrap_or(0),
        ..SockTuple::default()
    };
    match t.family {
        AF_INET => {
            let l = read::<[u8; 4]>(sk, off(|o| &o.sk_rcv_saddr))?;
            let r = read::<[u8; 4]>(sk, off(|o| &o.sk_daddr))?;
            t.laddr[..4].copy_from_slice(&l);
            t.raddr[..4].copy_from_slice(&r);
        }
        AF_INET6 => {
            t.laddr = read::<[u8; 16]>(sk, off(|o| &o.sk_v6_rcv_saddr))?;
            t.raddr = read::<[u8; 16]>(sk, off(|o| &o.sk_v6_daddr))?;
        }
        _ => {}
    }
    Some(t)
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
fn write_path(buf: *mut u8, data: u32, fd: u64) -> u32 {
    // Userspace marks every walk offset missing when one is.
    if off(|o| &o.file_path_dentry) == KernelOffsets::MISSING as u64 {
        return 0;
    }
    let Some(file) = fd_file(fd) else {
        return 0;
    };
    let (Some(mut dentry), Some(vfsmount)) =
        (ptr(file, off(|o| &o.file_path_dentry)), ptr(file, off(|o| &o.file_path_mnt)))
    else {
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
    unsafe { *buf.add(bound(data, SCRATCH_MASK) as usize) = status };
    len
}

/// Copies a NUL-terminated kernel string of at most `PATH_NAME_MAX` bytes
/// (its NUL included); returns the bytes copied with the NUL, 0 on failure.
#[inline(always)]
fn copy_kernel_str(buf: *mut u8, off: u32, src: u64) -> u32 {
    let dst = unsafe { buf.add(bound(off, SCRATCH_MASK) as usize) };
    let n = unsafe { bpf_probe_read_kernel_str(dst.cast::<c_void>(), PATH_NAME_MAX, src as *const c_void) };
    if n <= 0 { 0 } else { n as u32 }
}
