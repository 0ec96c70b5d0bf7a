//! The per-CPU scratch slot a variable-size record is assembled in, with the
//! cursor the capture stages hand on to each other through their tail calls.
//!
//! A slot is only used from the start of a hook's run to its end: a tail call
//! stays in the same run, and tracepoint programs run with preemption off
//! (PREEMPT_RT included), so no other program on the CPU can start in
//! between. Nothing in a slot outlives the run that wrote it.
use aya_ebpf::helpers::bpf_get_smp_processor_id;

use crate::area::bound;
use crate::maps::{count, EVENTS, SCRATCH};
use crate::record::NO_WAKEUP;
use tracer_common::{SyscallSpec, COUNTER_DROPS, SCRATCH_MASK, SCRATCH_SIZE};

#[repr(C)]
pub struct Scratch {
    /// Where the next captured item goes in `data`.
    pub end: u32,
    /// The capture slot the running stage works on.
    pub slot: u32,
    /// The syscall's captures as they were when its record started: the
    /// table may be rewritten (the agent's clients come and go) while the
    /// stages run.
    pub spec: SyscallSpec,
    /// The record: header, arguments, then items.
    pub data: [u8; SCRATCH_SIZE],
}

// The spec is copied as two 8-byte words (`sys_exit::copy_spec`), so it
// must sit 8-byte aligned; the record starts right after it.
const _: () = {
    assert!(core::mem::offset_of!(Scratch, spec) == 8);
    assert!(core::mem::offset_of!(Scratch, data) == 24);
    assert!(core::mem::align_of::<Scratch>() == 4);
};

// The data is an `Area<SCRATCH_MASK>` (`capture::Data`).
const _: () = assert!(SCRATCH_SIZE == 2 * (SCRATCH_MASK as usize + 1));

/// This CPU's scratch slot.
#[inline(always)]
pub fn slot() -> Option<*mut Scratch> {
    // SAFETY: the helper takes no arguments and only reports the CPU.
    let cpu = unsafe { bpf_get_smp_processor_id() };
    SCRATCH.get_ptr_mut(cpu)
}

/// Writes the first `len` bytes of `buf` (a scratch slot's data) to the ring
/// as one record.
#[inline(always)]
pub fn output(buf: *mut u8, len: u32) {
    // The mask is a no-op for real lengths; it proves the bound to the verifier.
    let len = bound(len, (SCRATCH_SIZE - 1) as u32) as usize;
    // SAFETY: `buf` is the start of this run's scratch data (`SCRATCH_SIZE`
    // bytes, see the module doc), and the mask keeps `len` below that size.
    let data = unsafe { core::slice::from_raw_parts(buf as *const u8, len) };
    if EVENTS.output::<[u8]>(data, NO_WAKEUP).is_err() {
        count(COUNTER_DROPS);
    }
}
