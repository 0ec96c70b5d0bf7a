//! Accesses to a map value at an offset the verifier must see bounded: the
//! per-CPU scratch slot's data and a batch's data area. Each area is
//! `2 * (MASK + 1)` bytes, so an offset masked with `MASK` right before the
//! access, plus an access of at most `MASK + 1` bytes, stays inside it: the
//! range the verifier checks. The offset mask is applied here ([`Area::at`]),
//! and the soundness argument made once.
use core::ffi::{c_long, c_void};

use aya_ebpf::helpers::generated::{
    bpf_probe_read_kernel, bpf_probe_read_kernel_str, bpf_probe_read_user, bpf_probe_read_user_str,
};

/// `v & mask`, computed so that LLVM cannot drop the mask as redundant: the
/// verifier needs to see the bound right before the access.
#[inline(always)]
pub fn bound(v: u32, mask: u32) -> u32 {
    // SAFETY: `&v` is a live, aligned local; the volatile load only hides
    // its value from the optimiser.
    unsafe { core::ptr::read_volatile(&v) & mask }
}

/// The probe-read helper a copy into an area uses.
#[derive(Clone, Copy)]
pub enum Read {
    /// `bpf_probe_read_user`: `len` bytes.
    User,
    /// `bpf_probe_read_user_str`: a NUL-terminated string of at most `len` bytes.
    UserStr,
    /// `bpf_probe_read_kernel`: `len` bytes.
    Kernel,
    /// `bpf_probe_read_kernel_str`: a NUL-terminated string of at most `len` bytes.
    KernelStr,
}

/// `2 * (MASK + 1)` bytes of a map value that only the running program
/// touches.
#[derive(Clone, Copy)]
pub struct Area<const MASK: u32> {
    base: *mut u8,
}

impl<const MASK: u32> Area<MASK> {
    /// # Safety
    ///
    /// `base` points at `2 * (MASK + 1)` writable bytes that nothing else
    /// reads or writes until the current program run (tail calls included)
    /// ends.
    #[inline(always)]
    pub unsafe fn new(base: *mut u8) -> Self {
        Self { base }
    }

    /// Byte `off`, masked into the first half.
    #[inline(always)]
    pub fn at(self, off: u32) -> Place<MASK> {
        // SAFETY: the masked offset is at most `MASK`, inside the
        // `2 * (MASK + 1)` bytes `new` was promised.
        Place(unsafe { self.base.add(bound(off, MASK) as usize) })
    }
}

/// A byte of an [`Area`] with at least `MASK + 1` bytes of it from there on:
/// room for any access the verifier sees bounded by the mask.
#[derive(Clone, Copy)]
pub struct Place<const MASK: u32>(*mut u8);

impl<const MASK: u32> Place<MASK> {
    /// The address, for stores the caller makes itself.
    #[inline(always)]
    pub fn ptr(self) -> *mut u8 {
        self.0
    }

    /// Copies with `read` (at most) `len` bytes from `src` to here; returns
    /// the helper's result: negative on a failed read, the string's length
    /// with its NUL for the string helpers.
    #[inline(always)]
    pub fn read(self, len: u32, src: *const c_void, read: Read) -> c_long {
        let dst = self.0.cast::<c_void>();
        // SAFETY: the helpers read `src` with fault handling (a bad address
        // is an error return, never a crash) and write at most `len` bytes
        // from `dst`, in an area this run has to itself. Callers bound `len`
        // to `MASK + 1` (a constant, or a mask of their own); the verifier
        // refuses to load any program for which it cannot prove `dst + len`
        // inside the map value on every path.
        unsafe {
            match read {
                Read::User => bpf_probe_read_user(dst, len, src),
                Read::UserStr => bpf_probe_read_user_str(dst, len, src),
                Read::Kernel => bpf_probe_read_kernel(dst, len, src),
                Read::KernelStr => bpf_probe_read_kernel_str(dst, len, src),
            }
        }
    }

    /// Stores `value` here, unaligned.
    #[inline(always)]
    pub fn write<T>(self, value: T) {
        const { assert!(size_of::<T>() <= MASK as usize + 1) };
        // SAFETY: the value is at most `MASK + 1` bytes (asserted above), so
        // it ends inside the area, which this run has to itself.
        unsafe { self.0.cast::<T>().write_unaligned(value) }
    }
}
