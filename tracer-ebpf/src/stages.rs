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
use aya_ebpf::{
    macros::{btf_tracepoint, raw_tracepoint},
    maps::ProgramArray,
    programs::{BtfTracePointContext, RawTracePointContext},
    EbpfContext,
};

use crate::batch;
use crate::capture::{self, applies, bound, Call};
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
    let spec = unsafe { (*s).spec };
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
    unsafe { (*s).data.as_mut_ptr().cast::<EventHeader>() }
}

/// Writes the record out: into this CPU's batch, or to the ring on its own
/// when it does not fit one.
#[inline(always)]
fn emit(s: *mut Scratch) {
    let end = bound(unsafe { (*s).end }, SCRATCH_MASK);
    let hdr = header(s);
    let buf = unsafe { (*s).data.as_mut_ptr() };
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
    let slot = bound(unsafe { (*s).slot }, 3);
    let cap = *unsafe { (*s).spec.caps.get(slot as usize) }?;
    let buf = unsafe { (*s).data.as_mut_ptr() };
    let rec = buf.cast::<SyscallRecord>();
    let call = Call {
        args: unsafe { core::ptr::addr_of!((*rec).args.args).cast::<u64>() },
        ret: unsafe { (*rec).hdr.ret },
        snaplen: cfg(&config().snaplen),
    };
    let off = bound(unsafe { (*s).end }, SCRATCH_MASK);
    let end = match st {
        stage::COPY => capture::copy_item(buf, off, slot, &cap, &call),
        stage::ARGV => capture::argv_item(buf, off, slot, &cap, &call),
        stage::TUPLE => capture::tuple_item(buf, off, slot, &cap, &call),
        stage::IOVEC => capture::iovec_item(buf, off, slot, &cap, &call),
        stage::MSGHDR => capture::msghdr_item(buf, off, slot, &cap, &call),
        _ => capture::path_item(buf, off, slot, &cap, &call),
    };
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
