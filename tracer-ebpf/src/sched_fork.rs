//! `raw_tracepoint/sched_process_fork`: a new thread or process exists.
//!
//! Prototype (include/trace/events/sched.h):
//!     TP_PROTO(struct task_struct *parent, struct task_struct *child)
//! Runs in the parent's context.
use aya_ebpf::{macros::raw_tracepoint, programs::RawTracePointContext};

use crate::kernel::{off, read};
use crate::maps::{cfg, config, count, EVENTS};
use crate::record::{current_task, fill_header, now, NO_WAKEUP};
use tracer_common::{EventHeader, ForkPayload, RecordKind, COUNTER_DROPS};

#[repr(C)]
struct ForkRecord {
    hdr: EventHeader,
    fork: ForkPayload,
}

#[raw_tracepoint(tracepoint = "sched_process_fork")]
pub fn sched_process_fork(ctx: RawTracePointContext) -> i32 {
    let _ = handle(&ctx);
    0
}

fn handle(ctx: &RawTracePointContext) -> Option<()> {
    let task = current_task();
    if task.tgid == cfg(&config().self_tgid) {
        return None;
    }
    let child: u64 = ctx.arg(1);
    let fork = ForkPayload {
        child_tid: read::<u32>(child, off(|o| &o.task_pid))?,
        child_tgid: read::<u32>(child, off(|o| &o.task_tgid))?,
    };
    crate::batch::flush_current();
    let Some(mut entry) = EVENTS.reserve::<ForkRecord>(0) else {
        count(COUNTER_DROPS);
        return None;
    };
    let rec = entry.as_mut_ptr();
    // SAFETY: the reservation is a whole `ForkRecord`, 8-byte aligned, this
    // program's until it submits it.
    unsafe {
        fill_header(
            &mut (*rec).hdr,
            &task,
            RecordKind::ProcFork as u16,
            0,
            0,
            now(),
        );
        (*rec).hdr.len = size_of::<ForkRecord>() as u32;
        (*rec).fork = fork;
    }
    entry.submit(NO_WAKEUP);
    Some(())
}
