//! Which namespaces and which v1 cgroup a thread is in. Walking the pointers
//! costs ~70 ns, so the result is cached per thread in `IDENTITY` and the cache
//! entry is dropped exactly when it can go stale.
use aya_ebpf::helpers::bpf_get_current_task;

use crate::kernel::{off, ptr, read};
use crate::maps::IDENTITY;
use tracer_common::{KernelOffsets, TaskIdentity};

/// The current thread's identity, from the cache or read afresh.
#[inline(always)]
pub fn current(tid: u32) -> TaskIdentity {
    if let Some(id) = unsafe { IDENTITY.get(&tid) } {
        return *id;
    }
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
fn pid_ns(task: u64) -> Option<u32> {
    let pid = ptr(task, off(|o| &o.task_thread_pid))?;
    let level = read::<u32>(pid, off(|o| &o.pid_level))? as u64;
    // Nesting is capped at 32 levels by the kernel.
    let level = level & 31;
    let upid = pid + off(|o| &o.pid_numbers) + level * off(|o| &o.upid_size);
    let ns = ptr(upid, off(|o| &o.upid_ns))?;
    read::<u32>(ns, off(|o| &o.pid_ns_inum))
}

/// `task->cgroups->subsys[id]->cgroup->kn->id` for the chosen v1 controller.
fn cgroup_v1(task: u64) -> Option<u64> {
    let subsys = off(|o| &o.cgroup_v1_subsys);
    if subsys == KernelOffsets::MISSING as u64 {
        return None;
    }
    let cset = ptr(task, off(|o| &o.task_cgroups))?;
    let css = ptr(cset, off(|o| &o.css_set_subsys) + (subsys & 63) * 8)?;
    let cgroup = ptr(css, off(|o| &o.css_cgroup))?;
    let kn = ptr(cgroup, off(|o| &o.cgroup_kn))?;
    read::<u64>(kn, off(|o| &o.kernfs_node_id))
}
