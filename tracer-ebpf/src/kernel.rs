//! Reads of kernel memory through the BTF offsets userspace supplied.
use aya_ebpf::helpers::bpf_probe_read_kernel;

use crate::maps::offsets;
use tracer_common::KernelOffsets;

/// The offset of a field, read so that the compiler cannot assume the zeroed
/// initialiser.
#[inline(always)]
pub fn off(f: fn(&KernelOffsets) -> &u32) -> u64 {
    unsafe { core::ptr::read_volatile(f(offsets())) as u64 }
}

/// Reads a `T` at `base + offset`; `None` for a null base or a failed read.
#[inline(always)]
pub fn read<T>(base: u64, offset: u64) -> Option<T> {
    if base == 0 {
        return None;
    }
    unsafe { bpf_probe_read_kernel((base + offset) as *const T).ok() }
}

/// Reads a pointer field.
#[inline(always)]
pub fn ptr(base: u64, offset: u64) -> Option<u64> {
    read::<u64>(base, offset)
}
