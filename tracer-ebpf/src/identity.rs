//! Which namespaces and which v1 cgroup a thread is in. Walking the pointers
//! costs ~70 ns, so the result is cached per thread in `IDENTITY` and the cache
//! entry is dropped exactly when it can go stale.
use aya_ebpf::helpers::bpf_get_current_task;

use crate::kernel::{off, ptr, read};
use crate::maps::IDENTITY;
use tracer_common::{KernelOffsets, TaskIdentity};

/// The deepest pid namespace nesting the kernel allows (`MAX_PID_NS_LEVEL`).
const MAX_PID_NS_LEVEL: u64 = 32;

/// The current thread's identity, from the cache or read afresh.
#[inline(always)]
pub fn current(tid: u32) -> TaskIdentity {
    // SAFETY: the entry is copied out at once. Another CPU may delete it
    // meanwhile (`cgroup_attach_task`), and a preallocated element can then
    // be reused for another thread: at worst a wrong identity for this one
    // event (any bytes make a `TaskIdentity`), the race the cache accepts.
    // The memory itself stays the map's.
    if let Some(id) = unsafe { IDENTITY.get(&tid) } {
        return *id;
    }
    // SAFETY: the helper takes no arguments; the task is only read through
    // the probe-read helpers.
    let id = read_task(unsafe { bpf_get_current_task() });
    // A full cache only costs speed: the value is still right for this event.
    let _ = IDENTITY.insert(&tid, &id, 0);
    id
}

/// Forgets a thread's cached identity (it changed namespaces or cgroups, or exited).
#[inline(always)]
pub fn forget(tid: u32) {
    let _ = IDENTITY.remove(&tid);
}

#[inline(always)]
fn read_task(task: u64) -> TaskIdentity {
    let mut id = TaskIdentity::default();
    if let Some(nsproxy) = ptr(task, off(|o| &o.task_nsproxy)) {
        id.mnt_ns = ptr(nsproxy, off(|o| &o.nsproxy_mnt_ns))
            .and_then(|ns| read::<u32>(ns, off(|o| &o.mnt_ns_inum)))
            .unwrap_or(0);
        id.net_ns = ptr(nsproxy, off(|o| &o.nsproxy_net_ns))
            .and_then(|ns| read::<u32>(ns, off(|o| &o.net_inum)))
            .unwrap_or(0);
    }
    id.pid_ns = pid_ns(task).unwrap_or(0);
    id.cgroup_v1_id = cgroup_v1(task).unwrap_or(0);
    id
}

/// `task->thread_pid->numbers[level].ns->ns.inum`: the namespace the task's pid lives in.
#[inline(always)]
fn pid_ns(task: u64) -> Option<u32> {
    let pid = ptr(task, off(|o| &o.task_thread_pid))?;
    let level = read::<u32>(pid, off(|o| &o.pid_level))? as u64;
    // The kernel nests at most MAX_PID_NS_LEVEL (32) deep; a larger value
    // is a misread, not a level.
    if level > MAX_PID_NS_LEVEL {
        return None;
    }
    let upid = pid + off(|o| &o.pid_numbers) + level * off(|o| &o.upid_size);
    let ns = ptr(upid, off(|o| &o.upid_ns))?;
    read::<u32>(ns, off(|o| &o.pid_ns_inum))
}

/// `task->cgroups->subsys[id]->cgroup->kn->id` for the chosen v1 controller.
#[inline(always)]
fn cgroup_v1(task: u64) -> Option<u64> {
    let subsys = off(|o| &o.cgroup_v1_subsys);
    if subsys == KernelOffsets::MISSING as u64 {
        return None;
    }
    let cset = ptr(task, off(|o| &o.task_cgroups))?;
    // The index is checked against the array's length by userspace.
    let css = ptr(cset, off(|o| &o.css_set_subsys) + subsys * 8)?;
    let cgroup = ptr(css, off(|o| &o.css_cgroup))?;
    let kn = ptr(cgroup, off(|o| &o.cgroup_kn))?;
    read::<u64>(kn, off(|o| &o.kernfs_node_id))
}

/// The identity read with plain loads through the BTF-typed current task, for
/// the tp_btf hook. The offsets come from read-only config that the verifier
/// knows as constants, so each load is checked against the kernel's types at
/// load time and costs about a nanosecond: cheaper than the cache lookup.
/// Where the verifier refuses it, the hook does not load and sdtrace falls
/// back to the raw tracepoint with the cached, helper-based read.
#[inline(always)]
pub fn current_direct() -> TaskIdentity {
    // SAFETY: the helper takes no arguments and returns the current task as
    // a BTF-typed pointer, never null.
    let task = unsafe { aya_ebpf::helpers::generated::bpf_get_current_task_btf() } as *const u8;
    let mut id = TaskIdentity::default();
    // SAFETY: every load starts from `task` or a pointer loaded from it,
    // null-checked first (`load_ptr`, `load_u32`, `kn`), at an offset of a
    // field of its type (the BTF offsets userspace supplied). The verifier
    // checks each against the kernel's types and makes it a load that reads
    // zero on a fault; it refuses the program where it cannot.
    unsafe {
        let nsproxy = load_ptr(task, off(|o| &o.task_nsproxy));
        if !nsproxy.is_null() {
            id.mnt_ns = load_u32(
                load_ptr(nsproxy, off(|o| &o.nsproxy_mnt_ns)),
                off(|o| &o.mnt_ns_inum),
            );
            id.net_ns = load_u32(
                load_ptr(nsproxy, off(|o| &o.nsproxy_net_ns)),
                off(|o| &o.net_inum),
            );
        }
        let pid = load_ptr(task, off(|o| &o.task_thread_pid));
        if !pid.is_null() {
            let level = load_u32(pid, off(|o| &o.pid_level));
            let numbers = off(|o| &o.pid_numbers);
            let size = off(|o| &o.upid_size);
            let ns_off = off(|o| &o.upid_ns);
            // A constant offset per nesting level: the verifier checks typed
            // loads only at constant offsets. Deeper than that, the helper
            // reads the level's entry wherever it is.
            let ns = match level {
                0 => load_ptr(pid, numbers + ns_off),
                1 => load_ptr(pid, numbers + size + ns_off),
                2 => load_ptr(pid, numbers + 2 * size + ns_off),
                3 => load_ptr(pid, numbers + 3 * size + ns_off),
                _ => core::ptr::null(),
            };
            id.pid_ns = if ns.is_null() && level > 3 {
                pid_ns(task as u64).unwrap_or(0)
            } else {
                load_u32(ns, off(|o| &o.pid_ns_inum))
            };
        }
        let subsys = off(|o| &o.cgroup_v1_subsys);
        if subsys != KernelOffsets::MISSING as u64 {
            let cset = load_ptr(task, off(|o| &o.task_cgroups));
            // The index is checked against the array's length by userspace
            // (and the verifier knows it: it is read-only config).
            let css = load_ptr(cset, off(|o| &o.css_set_subsys) + subsys * 8);
            let cgroup = load_ptr(css, off(|o| &o.css_cgroup));
            let kn = load_ptr(cgroup, off(|o| &o.cgroup_kn));
            if !kn.is_null() {
                id.cgroup_v1_id =
                    core::ptr::read(kn.add(off(|o| &o.kernfs_node_id) as usize).cast::<u64>());
            }
        }
    }
    id
}

/// The current thread's name, two direct loads from the BTF-typed task.
#[inline(always)]
pub fn comm_direct() -> [u8; tracer_common::COMM_LEN] {
    // SAFETY: as in `current_direct`.
    let task = unsafe { aya_ebpf::helpers::generated::bpf_get_current_task_btf() } as *const u8;
    let at = off(|o| &o.task_comm) as usize;
    // SAFETY: the two words of `task->comm` (16 bytes), checked by the
    // verifier as in `current_direct`.
    let (lo, hi) = unsafe {
        (
            core::ptr::read(task.add(at).cast::<u64>()),
            core::ptr::read(task.add(at + 8).cast::<u64>()),
        )
    };
    // The kernel leaves stale bytes after the terminating NUL; clear them so
    // names compare equal to the helper's NUL-padded copy. Word-wise: this
    // runs on every syscall when a name filter is on.
    let (lo, hi) = match tracer_common::keep_through_nul(lo) {
        Some(mask) => (lo & mask, 0),
        None => (
            lo,
            tracer_common::keep_through_nul(hi).map_or(hi, |mask| hi & mask),
        ),
    };
    // From words, not into a zeroed array: see `record::comm`.
    // SAFETY: both are 16 bytes, and any bytes are a valid `[u8; 16]`.
    unsafe { core::mem::transmute::<[u64; 2], [u8; tracer_common::COMM_LEN]>([lo, hi]) }
}

/// A pointer field at `base + offset`; null for a null `base`.
///
/// # Safety
///
/// `base` is null or a BTF-typed kernel pointer, and `offset` that of a
/// pointer field of its type: the verifier then checks the load.
#[inline(always)]
unsafe fn load_ptr(base: *const u8, offset: u64) -> *const u8 {
    if base.is_null() {
        return core::ptr::null();
    }
    // SAFETY: the caller's promise; `base` is not null.
    unsafe { core::ptr::read(base.add(offset as usize).cast::<*const u8>()) }
}

/// A `u32` field at `base + offset`; 0 for a null `base`.
///
/// # Safety
///
/// As for [`load_ptr`], with a `u32` field.
#[inline(always)]
unsafe fn load_u32(base: *const u8, offset: u64) -> u32 {
    if base.is_null() {
        return 0;
    }
    // SAFETY: the caller's promise; `base` is not null.
    unsafe { core::ptr::read(base.add(offset as usize).cast::<u32>()) }
}
