//! `raw_tracepoint/sys_enter`: attached only when latency is asked for
//! (`evt.latency` in the filter or output); remembers when each thread entered.
//!
//! Prototype (include/trace/events/syscalls.h):
//!     TP_PROTO(struct pt_regs *regs, long id)
use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid, macros::raw_tracepoint, programs::RawTracePointContext,
};

use crate::filters::pass_tgid;
use crate::maps::{cfg, config, ENTRY_TS, SPECS};
use crate::record::now;
use tracer_common::{SPEC_PASS, SYSCALL_SLOTS};

#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn sys_enter(ctx: RawTracePointContext) -> i32 {
    let c = config();
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    let id: u64 = ctx.arg(1);
    if tgid == cfg(&c.self_tgid)
        || id >= SYSCALL_SLOTS as u64
        || !pass_tgid(c, cfg(&c.filters), tgid)
    {
        return 0;
    }
    if SPECS
        .get(id as u32)
        .is_some_and(|s| s.flags & SPEC_PASS != 0)
    {
        let _ = ENTRY_TS.insert(&(pid_tgid as u32), &now(), 0);
    }
    0
}
