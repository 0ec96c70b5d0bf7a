//! `raw_tracepoint/cgroup_attach_task`: a task moved to another cgroup (often
//! by another process, e.g. a container runtime), so its cached identity is stale.
//!
//! Prototype (include/trace/events/cgroup.h):
//!     TP_PROTO(struct cgroup *dst_cgrp, const char *path, struct task_struct *task, bool threadgroup)
use aya_ebpf::{macros::raw_tracepoint, programs::RawTracePointContext};

use crate::identity;
use crate::kernel::{off, read};

#[raw_tracepoint(tracepoint = "cgroup_attach_task")]
pub fn cgroup_attach_task(ctx: RawTracePointContext) -> i32 {
    let task: u64 = ctx.arg(2);
    if let Some(tid) = read::<u32>(task, off(|o| &o.task_pid)) {
        identity::forget(tid);
    }
    0
}
