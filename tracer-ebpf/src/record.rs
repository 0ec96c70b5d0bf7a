//! The common header every record starts with, and who the current task is.
//! A record reaches the ring buffer reserved in place (fixed size), through
//! the per-CPU batch, or assembled in the per-CPU scratch slot and copied out
//! (variable size, [`crate::scratch`]).
use aya_ebpf::helpers::{
    bpf_get_current_cgroup_id, bpf_get_current_pid_tgid, bpf_get_current_uid_gid,
    bpf_get_smp_processor_id,
    generated::{bpf_get_current_comm, bpf_ktime_get_boot_ns},
};

use tracer_common::{EventHeader, TaskIdentity, COMM_LEN};

/// Ring-buffer submit flag: no wakeup per record. Userspace polls every few
/// milliseconds; a wakeup per event costs ~290 ns here.
pub const NO_WAKEUP: u64 = 1;

/// Who the current task is, gathered once per hook.
pub struct Task {
    pub tgid: u32,
    pub tid: u32,
    pub comm: [u8; COMM_LEN],
    pub cgroup_id: u64,
    pub id: TaskIdentity,
}

#[inline(always)]
pub fn now() -> u64 {
    // SAFETY: the helper takes no arguments and only reads the clock.
    unsafe { bpf_ktime_get_boot_ns() }
}

/// The current task, for the sched hooks (the syscall hook builds its own
/// step by step, to stop as early as a push-down check fails).
#[inline(always)]
pub fn current_task() -> Task {
    let pid_tgid = bpf_get_current_pid_tgid();
    let tid = pid_tgid as u32;
    Task {
        tgid: (pid_tgid >> 32) as u32,
        tid,
        comm: comm().unwrap_or([0; COMM_LEN]),
        cgroup_id: cgroup_id(),
        id: crate::identity::current(tid),
    }
}

/// Fills a header for the current task.
#[inline(always)]
pub fn fill_header(hdr: &mut EventHeader, task: &Task, kind: u16, nr: u16, ret: i64, ts: u64) {
    let ugid = bpf_get_current_uid_gid();
    hdr.ts_ns = ts;
    hdr.latency_ns = 0;
    hdr.ret = ret;
    hdr.cgroup_id = task.cgroup_id;
    hdr.cgroup_v1_id = task.id.cgroup_v1_id;
    hdr.tgid = task.tgid;
    hdr.tid = task.tid;
    hdr.uid = ugid as u32;
    hdr.gid = (ugid >> 32) as u32;
    hdr.pid_ns = task.id.pid_ns;
    hdr.mnt_ns = task.id.mnt_ns;
    hdr.net_ns = task.id.net_ns;
    hdr.len = 0;
    hdr.kind = kind;
    hdr.nr = nr;
    // SAFETY: the helper takes no arguments and only reports the CPU.
    hdr.cpu = unsafe { bpf_get_smp_processor_id() } as u16;
    hdr.flags = 0;
    hdr.comm = task.comm;
}

/// The current task's cgroup v2 id (1, the root, on a v1-only host).
#[inline(always)]
pub fn cgroup_id() -> u64 {
    // SAFETY: the helper takes no arguments and only reads the current task.
    unsafe { bpf_get_current_cgroup_id() }
}

/// The current task's name, NUL-padded (the helper writes all 16 bytes).
/// Held in words until returned: a zeroed byte array would be cleared by a
/// call to `memset`, a bpf-to-bpf call the verifier counts as a frame.
#[inline(always)]
pub fn comm() -> Option<[u8; COMM_LEN]> {
    let mut words = core::mem::MaybeUninit::<[u64; 2]>::uninit();
    // SAFETY: the helper writes at most `COMM_LEN` bytes to `words`, which
    // holds 16.
    let ret = unsafe { bpf_get_current_comm(words.as_mut_ptr().cast(), COMM_LEN as u32) };
    if ret != 0 {
        return None;
    }
    // SAFETY: the helper wrote all 16 bytes, and any bytes are a valid
    // `[u8; 16]`.
    Some(unsafe { core::mem::transmute::<[u64; 2], [u8; COMM_LEN]>(words.assume_init()) })
}
