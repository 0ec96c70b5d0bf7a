//! Writing out the batches of quiet CPUs.
//!
//! Each CPU gathers its records in a batch that its next record writes out
//! once the batch is old enough. A CPU that goes idle would keep its last
//! records until it next runs a traced syscall, and lose them at exit. A
//! cpu-clock perf event used to write them out, but on these kernels it does
//! not fire on an idle CPU. So userspace watches every batch's header
//! through an mmap of the `BATCH` map and runs the `batch_flush` program on
//! a CPU whose batch waits: `BPF_PROG_TEST_RUN` with
//! `BPF_F_TEST_RUN_ON_CPU` runs it there in an IPI. A CPU with a batch
//! waiting gets at most one IPI per poll, and a busy or empty one none.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;

use tracer_common::{BATCH_FIRST_TS_AT, BATCH_SLOT_BYTES, BATCH_USED_AT};

/// A batch waiting longer than this is written out by an IPI. Within the
/// reorder window (run.rs's 25 ms) with a poll to spare, and rarely enough
/// that a CPU with a slow trickle of records is interrupted at most 100
/// times a second, as often as the perf tick did.
pub const WAIT_NS: u64 = 10_000_000;

/// The read-only mapping of the `BATCH` map.
struct Slots {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is shared memory the kernel writes; this side only
// reads it with volatile loads, from whichever thread owns the capture.
unsafe impl Send for Slots {}

impl Slots {
    fn map(map: BorrowedFd<'_>, slots: usize) -> io::Result<Self> {
        let page = 4096;
        let len = (BATCH_SLOT_BYTES * slots).div_ceil(page) * page;
        // SAFETY: a fresh shared read-only mapping of an mmappable array
        // map of `slots` values; the kernel checks the length.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                map.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(base.cast()).ok_or_else(io::Error::last_os_error)?;
        Ok(Self { base, len })
    }

    /// `(bytes used, first record's time)` of `cpu`'s batch, as last
    /// written: a torn read only delays or repeats a flush.
    fn header(&self, cpu: usize) -> (u32, u64) {
        let at = cpu * BATCH_SLOT_BYTES;
        if at + BATCH_SLOT_BYTES > self.len {
            return (0, 0);
        }
        // SAFETY: both fields lie inside the mapping (checked above) at
        // the offsets the eBPF side asserts, naturally aligned.
        unsafe {
            let slot = self.base.as_ptr().add(at);
            let used = slot.add(BATCH_USED_AT).cast::<u32>().read_volatile();
            let first = slot.add(BATCH_FIRST_TS_AT).cast::<u64>().read_volatile();
            (used, first)
        }
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, unmapped once.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

/// Writes out the batches quiet CPUs hold.
pub struct BatchFlusher {
    slots: Slots,
    prog: OwnedFd,
    cpus: Vec<u32>,
}

impl BatchFlusher {
    /// `map`: the `BATCH` map with `slots` values; `prog`: the loaded
    /// `batch_flush` program; `cpus`: the online CPUs. Checks once that the
    /// kernel runs the program on another CPU.
    pub fn new(
        map: BorrowedFd<'_>,
        prog: OwnedFd,
        slots: usize,
        cpus: Vec<u32>,
    ) -> io::Result<Self> {
        let flusher = Self {
            slots: Slots::map(map, slots)?,
            prog,
            cpus,
        };
        if let Some(&cpu) = flusher.cpus.last() {
            flusher.run_on(cpu, false)?;
        }
        Ok(flusher)
    }

    /// Writes out every batch that has waited `WAIT_NS` by `now` (the
    /// kernel's boot-time clock).
    pub fn flush_waiting(&self, now: u64) {
        for &cpu in &self.cpus {
            let (used, first) = self.slots.header(cpu as usize);
            if used > 0 && now.saturating_sub(first) >= WAIT_NS {
                // A CPU gone offline keeps its batch: nothing to do.
                let _ = self.run_on(cpu, false);
            }
        }
    }

    /// Writes out every batch whatever its age: the capture is ending.
    pub fn flush_all(&self) {
        for &cpu in &self.cpus {
            if self.slots.header(cpu as usize).0 > 0 {
                let _ = self.run_on(cpu, true);
            }
        }
    }

    fn run_on(&self, cpu: u32, force: bool) -> io::Result<()> {
        crate::sys::bpf::run_on_cpu(self.prog.as_fd(), cpu, &[u64::from(force)])
    }
}
