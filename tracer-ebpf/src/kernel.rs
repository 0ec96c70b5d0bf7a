//! Reads of kernel and user memory through the probe-read helpers, at the BTF
//! offsets userspace supplied.
use aya_ebpf::helpers::{bpf_probe_read_kernel, bpf_probe_read_user};

use crate::maps::offsets;
use tracer_common::KernelOffsets;

/// The offset of a field, read so that the compiler cannot assume the zeroed
/// initialiser.
#[inline(always)]
pub fn off(f: fn(&KernelOffsets) -> &u32) -> u64 {
    // SAFETY: `f` returns a reference into `OFFSETS`, a live, aligned static;
    // the volatile load only hides its value from the optimiser.
    unsafe { core::ptr::read_volatile(f(offsets())) as u64 }
}

/// Reads a `T` (an integer, or an array of them) at `base + offset`; `None`
/// for a null base or a failed read.
#[inline(always)]
pub fn read<T>(base: u64, offset: u64) -> Option<T> {
    if base == 0 {
        return None;
    }
    // SAFETY: the helper reads kernel memory with fault handling (a bad
    // address is an error, never a crash) into a local `T`. Every caller
    // reads integers, or an array of them, which any bytes make.
    unsafe { bpf_probe_read_kernel((base + offset) as *const T).ok() }
}

/// Reads a pointer field.
#[inline(always)]
pub fn ptr(base: u64, offset: u64) -> Option<u64> {
    read::<u64>(base, offset)
}

/// Reads a `T` (an integer) of the current task's user memory at `addr`; the
/// helper's error for a failed read.
#[inline(always)]
pub fn user<T>(addr: u64) -> Result<T, i32> {
    // SAFETY: the helper reads user memory with fault handling (a bad or
    // paged-out address is an error, never a crash) into a local `T`. Every
    // caller reads integers, which any bytes make.
    unsafe { bpf_probe_read_user(addr as *const T) }
}
