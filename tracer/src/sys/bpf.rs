//! The `bpf()` commands aya 0.14 does not wrap: a program's recursion
//! misses (`BPF_OBJ_GET_INFO_BY_FD`) and a run of a raw tracepoint program
//! on a chosen CPU (`BPF_PROG_TEST_RUN` with `BPF_F_TEST_RUN_ON_CPU`).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_F_TEST_RUN_ON_CPU: u32 = 1;

/// `bpf_prog_info.recursion_misses` of a loaded program (0 when unreadable).
pub fn recursion_misses(fd: BorrowedFd<'_>) -> u64 {
    /// The `info` member of `union bpf_attr` for `BPF_OBJ_GET_INFO_BY_FD`.
    #[repr(C)]
    struct InfoByFd {
        bpf_fd: u32,
        info_len: u32,
        info: u64,
    }
    // SAFETY: bpf_prog_info is a plain C struct; all-zero is a valid value.
    let mut info: aya_obj::generated::bpf_prog_info = unsafe { std::mem::zeroed() };
    let mut attr = InfoByFd {
        bpf_fd: fd.as_raw_fd() as u32,
        info_len: std::mem::size_of_val(&info) as u32,
        info: std::ptr::addr_of_mut!(info) as u64,
    };
    // SAFETY: attr points at a correctly sized info struct that outlives the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            aya_obj::generated::bpf_cmd::BPF_OBJ_GET_INFO_BY_FD as libc::c_long,
            std::ptr::addr_of_mut!(attr),
            std::mem::size_of::<InfoByFd>(),
        )
    };
    if ret == 0 {
        info.recursion_misses
    } else {
        0
    }
}

/// The `test` member of `union bpf_attr` (5.10 layout, `cpu` last used).
#[repr(C)]
#[derive(Default)]
struct TestRun {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    tail: u32,
}

/// Runs the raw tracepoint program `prog` once on `cpu` with `args` as its
/// arguments: one IPI to that CPU (or a run in place when it is this one).
pub fn run_on_cpu(prog: BorrowedFd<'_>, cpu: u32, args: &[u64]) -> io::Result<()> {
    let mut attr = TestRun {
        prog_fd: prog.as_raw_fd() as u32,
        ctx_size_in: std::mem::size_of_val(args) as u32,
        ctx_in: args.as_ptr() as u64,
        flags: BPF_F_TEST_RUN_ON_CPU,
        cpu,
        ..TestRun::default()
    };
    // SAFETY: attr is a valid BPF_PROG_TEST_RUN request whose ctx_in points
    // at `args`, which outlives the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_TEST_RUN,
            std::ptr::addr_of_mut!(attr),
            std::mem::size_of::<TestRun>(),
        )
    };
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
