//! The capture stages of a syscall record: `sys_exit` writes the header and
//! arguments into the scratch slot and starts them; each stage program runs
//! one capture of the syscall's spec and tail-calls the stage of the next one;
//! the path walk, when the spec has one, runs last; the last stage writes the
//! record out.
//!
//! Why tail calls: one program holding every capture kind for every slot
//! cost the verifier 607 k processed instructions on 6.18, and more than the
//! 1 M limit on 6.1, whose verifier prunes less. Verified one by one, the
//! stages cost the sum of their sizes. Each stage exists for both hook types
//! (a tail call only reaches a program of its caller's type), with a program
//! array of its own; userspace loads the set of the hook it attached and
//! fills that set's array.
//!
//! Every function here is inlined: a program that tail-calls and also makes
//! bpf-to-bpf calls gets at most 256 bytes of stack per frame.
//!
//! `s` is always this CPU's scratch slot (`scratch::slot`), a map value the
//! running program has to itself from the hook to the last stage (see
//! [`crate::scratch`]): every access through it below relies on that.
use aya_ebpf::{
    macros::{btf_tracepoint, raw_tracepoint},
    maps::ProgramArray,
    programs::{BtfTracePointContext, RawTracePointContext},
    EbpfContext,
};

use crate::area::bound;
use crate::batch;
use crate::capture::{self, applies, Call};
use crate::maps::{cfg, config, count, STAGES_BTF, STAGES_RAW};
use crate::scratch::{self, Scratch};
use tracer_common::{
    stage, CaptureKind, EventHeader, SyscallRecord, COUNTER_STAGE_MISSES, MAX_CAPTURES,
    SCRATCH_MASK,
};

/// Runs the captures of the record in `s` (header, arguments and spec
/// written, `end` after the arguments) through `stages` (the array of the
/// caller's hook type), then writes the record out.
#[inline(always)]
pub fn start<C: EbpfContext>(ctx: &C, stages: &ProgramArray, s: *mut Scratch) {
    next(ctx, stages, s, 0);
}

/// Tail-calls the stage of the first capture from slot `from` on that
/// applies to the call, the path walk after every other; writes the record
/// out when none is left, or when the tail call fails (counted: the stage
/// is missing from `STAGES`).
#[inline(always)]
fn next<C: EbpfContext>(ctx: &C, stages: &ProgramArray, s: *mut Scratch, from: u32) {
    if let Some((st, slot)) = next_stage(s, from) {
        // SAFETY: `s` is this run's slot (module doc). A tail call that
        // succeeds never returns, and nothing here needs dropping; one that
        // fails returns, and the record is written without the stage.
        unsafe {
            (*s).slot = slot;
            stages.tail_call(ctx, st);
        }
        count(COUNTER_STAGE_MISSES);
    }
    emit(s);
}

/// The stage and slot of the next capture to run, if any.
#[inline(always)]
fn next_stage(s: *mut Scratch, from: u32) -> Option<(u32, u32)> {
    // SAFETY: `s` is this run's slot (module doc).
    let spec = unsafe { (*s).spec };
    // SAFETY: as above; its record starts with the header.
    let ret = unsafe { (*header(s)).ret };
    let mut path = None;
    for slot in 0..MAX_CAPTURES as u32 {
        if slot >= u32::from(spec.ncap) {
            break;
        }
        let cap = &spec.caps[slot as usize];
        let Some(st) = CaptureKind::try_from(cap.kind).ok().and_then(stage::of) else {
            continue;
        };
        if !applies(cap, ret) {
            continue;
        }
        if st == stage::PATH {
            path = Some((st, slot));
        } else if slot >= from {
            return Some((st, slot));
        }
    }
    path
}

#[inline(always)]
fn header(s: *mut Scratch) -> *mut EventHeader {
    // SAFETY: `s` is this run's slot (module doc); only the place is taken.
    unsafe { (*s).data.as_mut_ptr().cast::<EventHeader>() }
}

/// Writes the record out: into this CPU's batch, or to the ring on its own
/// when it does not fit one.
#[inline(always)]
fn emit(s: *mut Scratch) {
    // SAFETY: `s` is this run's slot (module doc).
    let end = bound(unsafe { (*s).end }, SCRATCH_MASK);
    let hdr = header(s);
    // SAFETY: as above.
    let buf = unsafe { (*s).data.as_mut_ptr() };
    // SAFETY: the record in this run's slot starts with its header, and the
    // data is 8-byte aligned (it follows two `u32`s and a 16-byte spec).
    let ts = unsafe {
        (*hdr).len = end;
        (*hdr).ts_ns
    };
    if !batch::append_bytes(ts, buf, end) {
        batch::flush_current();
        scratch::output(buf, end);
    }
}

/// One stage: runs the capture of the current slot, then the next stage.
#[inline(always)]
fn run<C: EbpfContext>(ctx: &C, stages: &ProgramArray, st: u32) -> Option<()> {
    let s = scratch::slot()?;
    // Bounded by a mask and a compare, which the verifier follows (it does
    // not follow the multiplication a `%` compiles to).
    // SAFETY: `s` is this run's slot (module doc), from the map.
    let slot = bound(unsafe { (*s).slot }, 3);
    // SAFETY: as above; `get` checks the index.
    let cap = *unsafe { (*s).spec.caps.get(slot as usize) }?;
    // SAFETY: as above.
    let buf = unsafe { (*s).data.as_mut_ptr() };
    // SAFETY: the data is `SCRATCH_SIZE` = 2 * (`SCRATCH_MASK` + 1) bytes
    // (asserted in `scratch`), this run's alone until its last stage ends.
    let data = unsafe { capture::Data::new(buf) };
    let rec = buf.cast::<SyscallRecord>();
    // SAFETY: `sys_exit` wrote a whole `SyscallRecord` at the start of the
    // 8-byte aligned data before the first stage; only places are taken and
    // `ret` copied, and the argument words stay in the slot while this stage
    // runs.
    let call = unsafe {
        Call {
            args: core::ptr::addr_of!((*rec).args.args).cast::<u64>(),
            ret: (*rec).hdr.ret,
            snaplen: cfg(&config().snaplen),
        }
    };
    // SAFETY: `s` is this run's slot (module doc).
    let off = bound(unsafe { (*s).end }, SCRATCH_MASK);
    let end = match st {
        stage::COPY => capture::copy_item(data, off, slot, &cap, &call),
        stage::ARGV => capture::argv_item(data, off, slot, &cap, &call),
        stage::TUPLE => capture::tuple_item(data, off, slot, &cap, &call),
        stage::IOVEC => capture::iovec_item(data, off, slot, &cap, &call),
        stage::MSGHDR => capture::msghdr_item(data, off, slot, &cap, &call),
        _ => capture::path_item(data, off, slot, &cap, &call),
    };
    // SAFETY: as above.
    unsafe { (*s).end = bound(end, SCRATCH_MASK) };
    if st == stage::PATH {
        emit(s);
    } else {
        next(ctx, stages, s, slot + 1);
    }
    Some(())
}

/// Each stage as a BTF tracepoint and as a raw tracepoint program on
/// `sys_exit` (never attached: reached by tail calls only). The names are
/// `tracer_common::stage::PROGRAMS`.
macro_rules! stage_programs {
    ($($st:path => $btf:ident, $raw:ident;)*) => {$(
        #[btf_tracepoint(function = "sys_exit")]
        pub fn $btf(ctx: BtfTracePointContext) -> i32 {
            let _ = run(&ctx, &STAGES_BTF, $st);
            0
        }

        #[raw_tracepoint(tracepoint = "sys_exit")]
        pub fn $raw(ctx: RawTracePointContext) -> i32 {
            let _ = run(&ctx, &STAGES_RAW, $st);
            0
        }
    )*};
}

stage_programs! {
    stage::COPY => stage_copy_btf, stage_copy_raw;
    stage::ARGV => stage_argv_btf, stage_argv_raw;
    stage::TUPLE => stage_tuple_btf, stage_tuple_raw;
    stage::IOVEC => stage_iovec_btf, stage_iovec_raw;
    stage::MSGHDR => stage_msghdr_btf, stage_msghdr_raw;
    stage::PATH => stage_path_btf, stage_path_raw;
}
