//! `raw_tracepoint/batch_flush`: writes out one CPU's batch. Never attached:
//! userspace runs it on the CPU it names (`BPF_PROG_TEST_RUN` with
//! `BPF_F_TEST_RUN_ON_CPU`, an IPI) when that CPU's batch has waited too
//! long, so the last records of a CPU that went idle reach the ring. A
//! cpu-clock perf event did this before, but it does not fire on an idle
//! CPU. Argument 0: 1 writes the batch whatever its age (the final drain).
use aya_ebpf::{macros::raw_tracepoint, programs::RawTracePointContext};

#[raw_tracepoint(tracepoint = "batch_flush")]
pub fn batch_flush(ctx: RawTracePointContext) -> i32 {
    let force: u64 = ctx.arg(0);
    crate::batch::tick(force != 0);
    0
}
