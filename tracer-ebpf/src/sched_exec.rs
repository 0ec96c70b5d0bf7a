//! `raw_tracepoint/sched_process_exec`: a task now runs a new program.
//!
//! Prototype (include/trace/events/sched.h):
//!     TP_PROTO(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
//! Runs in the task's context after the new image is in place, so its
//! arguments are read from the new `mm` (`arg_start..arg_end`): the execve's
//! own argument pointers belong to the old image and are gone at syscall exit.
use core::ffi::c_void;

use aya_ebpf::{
    helpers::{bpf_get_current_task, generated::bpf_probe_read_kernel_str},
    macros::raw_tracepoint,
    programs::RawTracePointContext,
};

use crate::area::{bound, Read};
use crate::capture::Data;
use crate::kernel::{off, ptr};
use crate::maps::{cfg, config};
use crate::record::{current_task, fill_header, now};
use crate::scratch;
use tracer_common::{EventHeader, ExecPayload, RecordKind, ARGS_MAX, PATH_MAX, SCRATCH_MASK};

const HDR: u32 = size_of::<EventHeader>() as u32;
const PAYLOAD: u32 = HDR + size_of::<ExecPayload>() as u32;

#[raw_tracepoint(tracepoint = "sched_process_exec")]
pub fn sched_process_exec(ctx: RawTracePointContext) -> i32 {
    let _ = handle(&ctx);
    0
}

fn handle(ctx: &RawTracePointContext) -> Option<()> {
    let task = current_task();
    if task.tgid == cfg(&config().self_tgid) {
        return None;
    }
    let old_tid: u32 = ctx.arg::<u64>(1) as u32;
    let bprm: u64 = ctx.arg(2);
    crate::batch::flush_current();
    // SAFETY: this CPU's scratch slot, this run's alone (see `scratch`).
    let buf = unsafe { (*scratch::slot()?).data.as_mut_ptr() };

    let filename = ptr(bprm, off(|o| &o.binprm_filename)).unwrap_or(0);
    let exe_len = if filename == 0 {
        0
    } else {
        // SAFETY: the helper reads kernel memory with fault handling and
        // writes at most `PATH_MAX` bytes from `PAYLOAD`, well inside the
        // slot's `SCRATCH_SIZE`.
        let n = unsafe {
            bpf_probe_read_kernel_str(
                buf.add(PAYLOAD as usize).cast::<c_void>(),
                PATH_MAX,
                filename as *const c_void,
            )
        };
        if n <= 1 {
            0
        } else {
            (n - 1) as u32
        }
    };

    let args_at = (PAYLOAD + exe_len) & SCRATCH_MASK;
    // SAFETY: the slot's data is `SCRATCH_SIZE` = 2 * (`SCRATCH_MASK` + 1)
    // bytes (asserted in `scratch`), this run's alone.
    let args_len = read_args(unsafe { Data::new(buf) }, args_at).unwrap_or(0);

    let end = PAYLOAD + exe_len + args_len;
    let hdr = buf.cast::<EventHeader>();
    // SAFETY: the header and the payload after it lie at the start of the
    // slot's data, which is 8-byte aligned (a map value, 24 bytes in); the
    // payload is written unaligned.
    unsafe {
        fill_header(&mut *hdr, &task, RecordKind::ProcExec as u16, 0, 0, now());
        (*hdr).len = end;
        let payload = buf.add(HDR as usize).cast::<ExecPayload>();
        core::ptr::write_unaligned(
            payload,
            ExecPayload {
                old_tid,
                exe_len: exe_len as u16,
                args_len: args_len as u16,
            },
        );
    }
    scratch::output(buf, end);
    Some(())
}

/// Copies `mm->arg_start..arg_end` (NUL-separated argv) to `buf + at`.
fn read_args(buf: Data, at: u32) -> Option<u32> {
    // SAFETY: the helper takes no arguments; the task is only read through
    // the probe-read helpers.
    let task = unsafe { bpf_get_current_task() };
    let mm = ptr(task, off(|o| &o.task_mm))?;
    let start = ptr(mm, off(|o| &o.mm_arg_start))?;
    let end = ptr(mm, off(|o| &o.mm_arg_end))?;
    if end <= start {
        return Some(0);
    }
    let len = end - start;
    let len = (if len > ARGS_MAX as u64 {
        ARGS_MAX as u64
    } else {
        len
    }) as u32;
    let len = bound(len, 2 * ARGS_MAX - 1);
    if buf.at(at).read(len, start as *const c_void, Read::User) < 0 {
        return Some(0);
    }
    Some(len)
}
