//! Per-CPU batches of records: a ring-buffer reservation and commit cost
//! ~110 ns per event here, a third of a null syscall's traced cost, so
//! syscall records (fixed-size ones written in place, variable-size ones
//! copied from the scratch area) are gathered per CPU and written with one
//! `bpf_ringbuf_output` per batch. Each record starts 8-byte aligned.
//!
//! A batch is written when the next record would not fit, when it is older
//! than the configured age at the next record, before any record that goes
//! to the ring on its own (so each CPU's records stay in order), and by
//! `batch_flush`, which userspace runs on a CPU whose batch it sees waiting
//! (the map is mmapped). `busy` keeps the flush, which runs in an IPI, away
//! from a batch being written to.
//!
//! `b` is always this CPU's slot (`slot`), a map value only programs on
//! this CPU write: they run with preemption off, so one at a time, and the
//! flush that can interrupt one in an IPI leaves the batch alone while
//! `busy` is set. Userspace only reads it. Every access through `b` below
//! relies on that.
use aya_ebpf::helpers::bpf_get_smp_processor_id;

use crate::area::{bound, Area, Read};
use crate::maps::{cfg, config, BATCH, COUNTERS, EVENTS};
use crate::record::{now, NO_WAKEUP};
use tracer_common::{SyscallRecord, BATCH_MAX, COUNTER_DROPS};

/// The data area is twice the capacity, so a masked offset plus a masked
/// length always stays inside it (what the verifier checks).
const DATA: usize = 2 * BATCH_MAX as usize;
const REC: u32 = size_of::<SyscallRecord>() as u32;
/// Offsets are masked with this before a write.
const OFFSET_MASK: u32 = BATCH_MAX - 1;

#[repr(C)]
pub struct Batch {
    used: u32,
    count: u32,
    busy: u32,
    _pad: u32,
    first_ts: u64,
    data: [u8; DATA],
}

const _: () = {
    assert!(core::mem::offset_of!(Batch, used) == tracer_common::BATCH_USED_AT);
    assert!(core::mem::offset_of!(Batch, first_ts) == tracer_common::BATCH_FIRST_TS_AT);
    assert!(size_of::<Batch>() == tracer_common::BATCH_SLOT_BYTES);
};

/// This CPU's batch.
#[inline(always)]
pub fn slot() -> Option<*mut Batch> {
    // SAFETY: the helper takes no arguments and only reports the CPU.
    BATCH.get_ptr_mut(unsafe { bpf_get_smp_processor_id() })
}

#[inline(always)]
fn set_busy(b: *mut Batch, busy: u32) {
    // SAFETY: `b` is this CPU's slot (module doc).
    unsafe { core::ptr::write_volatile(&mut (*b).busy, busy) };
}

/// Writes the batch to the ring buffer as one record and empties it.
#[inline(always)]
fn flush(b: *mut Batch) {
    // SAFETY: `b` is this CPU's slot (module doc).
    let used = unsafe { core::ptr::read_volatile(&(*b).used) };
    if used == 0 {
        return;
    }
    let len = bound(used, 2 * BATCH_MAX - 1);
    if len <= BATCH_MAX {
        // SAFETY: `b` is this CPU's slot (module doc), and `len` is at most
        // `BATCH_MAX`, inside its data area.
        let data = unsafe { core::slice::from_raw_parts((*b).data.as_ptr(), len as usize) };
        if EVENTS.output::<[u8]>(data, NO_WAKEUP).is_err() {
            if let Some(c) = COUNTERS.get_ptr_mut(COUNTER_DROPS) {
                // SAFETY: a per-CPU counter (see `maps::count`); `b` is this
                // CPU's slot (module doc).
                unsafe { *c += u64::from((*b).count) };
            }
        }
    }
    // SAFETY: `b` is this CPU's slot (module doc).
    unsafe {
        (*b).used = 0;
        (*b).count = 0;
    }
}

/// Writes this CPU's pending batch, if any: called before a record that
/// goes to the ring on its own.
#[inline(always)]
pub fn flush_current() {
    if cfg(&config().batch_bytes) == 0 {
        return;
    }
    if let Some(b) = slot() {
        set_busy(b, 1);
        flush(b);
        set_busy(b, 0);
    }
}

/// Appends a record of `len` bytes that `write` puts at offset `used` of the
/// data area (returning whether it could); `false` when batching is off or
/// the record is larger than a batch, and the caller must write it itself.
#[inline(always)]
fn append_with(ts: u64, len: u32, write: impl FnOnce(Area<OFFSET_MASK>, u32) -> bool) -> bool {
    let c = config();
    let cap = cfg(&c.batch_bytes);
    let padded = (len + 7) & !7;
    if cap == 0 || padded > cap {
        return false;
    }
    let Some(b) = slot() else { return false };
    set_busy(b, 1);
    // SAFETY: `b` is this CPU's slot (module doc).
    let mut used = unsafe { core::ptr::read_volatile(&(*b).used) };
    if used + padded > cap {
        flush(b);
        used = 0;
    }
    // SAFETY: the data area is `DATA` = 2 * (`OFFSET_MASK` + 1) bytes of
    // this CPU's slot, this run's alone while `busy` is set (module doc).
    let data = unsafe { Area::new((*b).data.as_mut_ptr()) };
    let written = write(data, used);
    // SAFETY: `b` is this CPU's slot (module doc), and `c` a per-CPU counter
    // (see `maps::count`).
    unsafe {
        if written {
            if (*b).count == 0 {
                (*b).first_ts = ts;
            }
            (*b).used = used + padded;
            (*b).count += 1;
        } else if let Some(c) = COUNTERS.get_ptr_mut(COUNTER_DROPS) {
            // Never happens for scratch memory; counted rather than lost silently.
            *c += 1;
        }
        if ts.wrapping_sub((*b).first_ts) > u64::from(cfg(&c.batch_age_us)) * 1000 {
            flush(b);
        }
    }
    set_busy(b, 0);
    true
}

/// Appends one fixed-size record that `fill` writes in place: it gets room
/// for a `SyscallRecord`, 8-byte aligned, that only it writes.
#[inline(always)]
pub fn append(ts: u64, fill: impl FnOnce(*mut SyscallRecord)) -> bool {
    append_with(ts, REC, |data, used| {
        fill(data.at(used).ptr().cast::<SyscallRecord>());
        true
    })
}

/// Appends a variable-size record assembled at `src` (the scratch area).
#[inline(always)]
pub fn append_bytes(ts: u64, src: *const u8, len: u32) -> bool {
    append_with(ts, len, |data, used| {
        let dst = data.at(used);
        dst.read(bound(len, OFFSET_MASK), src.cast(), Read::Kernel) == 0
    })
}

/// The tick: writes this CPU's batch when it has waited long enough (or
/// `force`) and no program is writing to it. It runs in an IPI, or with
/// preemption off on the caller's CPU, so no append starts during it.
#[inline(always)]
pub fn tick(force: bool) {
    let Some(b) = slot() else { return };
    // SAFETY: `b` is this CPU's slot; it is only flushed while `busy` is
    // clear, when no append is under way (module doc).
    unsafe {
        if core::ptr::read_volatile(&(*b).busy) != 0 || core::ptr::read_volatile(&(*b).used) == 0 {
            return;
        }
        if force
            || now().wrapping_sub((*b).first_ts) >= u64::from(cfg(&config().batch_age_us)) * 1000
        {
            flush(b);
        }
    }
}
