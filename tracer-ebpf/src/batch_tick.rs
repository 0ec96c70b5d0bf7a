//! `perf_event` (cpu-clock, one per CPU, ~100 Hz): writes out the batch of a
//! CPU that went quiet, so its last records do not wait for its next one.
use aya_ebpf::{macros::perf_event, programs::PerfEventContext};

#[perf_event]
pub fn batch_tick(_ctx: PerfEventContext) -> u32 {
    crate::batch::tick();
    0
}
