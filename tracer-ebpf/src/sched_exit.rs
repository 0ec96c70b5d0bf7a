//! `raw_tracepoint/sched_process_exit`: a thread is gone (the process, when it
//! was the last one).
//!
//! Prototype (include/trace/events/sched.h, 6.x):
//!     TP_PROTO(struct task_struct *p, bool group_dead)
//! Runs in the exiting task's context.
use aya_ebpf::{
    helpers::bpf_get_current_task, macros::raw_tracepoint, programs::RawTracePointContext,
};

use crate::identity;
use crate::kernel::{off, read};
use crate::maps::{cfg, config, count, ENTRY_TS, EVENTS};
use crate::record::{current_task, fill_header, now, NO_WAKEUP};
use tracer_common::{EventHeader, ExitPayload, RecordKind, COUNTER_DROPS};

#[repr(C)]
struct ExitRecord {
    hdr: EventHeader,
    exit: ExitPayload,
}

#[raw_tracepoint(tracepoint = "sched_process_exit")]
pub fn sched_process_exit(_ctx: RawTracePointContext) -> i32 {
    let _ = handle();
    0
}

fn handle() -> Option<()> {
    let task = current_task();
    identity::forget(task.tid);
    let _ = ENTRY_TS.remove(&task.tid);
    if task.tgid == cfg(&config().self_tgid) {
        return None;
    }
    // SAFETY: the helper takes no arguments; the task is only read through
    // the probe-read helpers.
    let exit_code = read::<i32>(
        unsafe { bpf_get_current_task() },
        off(|o| &o.task_exit_code),
    )
    .unwrap_or(0);
    crate::batch::flush_current();
    let Some(mut entry) = EVENTS.reserve::<ExitRecord>(0) else {
        count(COUNTER_DROPS);
        return None;
    };
    let rec = entry.as_mut_ptr();
    // SAFETY: the reservation is a whole `ExitRecord`, 8-byte aligned, this
    // program's until it submits it.
    unsafe {
        fill_header(
            &mut (*rec).hdr,
            &task,
            RecordKind::ProcExit as u16,
            0,
            0,
            now(),
        );
        (*rec).hdr.len = size_of::<ExitRecord>() as u32;
        (*rec).exit = ExitPayload { exit_code, _pad: 0 };
    }
    entry.submit(NO_WAKEUP);
    Some(())
}
