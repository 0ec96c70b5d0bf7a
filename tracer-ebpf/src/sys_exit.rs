//! `sys_exit`: one record per completed syscall, from a BTF tracepoint
//! (`tp_btf`, registers read with plain loads) or, where that does not load,
//! a raw tracepoint (registers read with one probe-read helper call).
//!
//! Prototype (include/trace/events/syscalls.h):
//!     TP_PROTO(struct pt_regs *regs, long ret)
//! At exit the saved registers still hold the arguments, so no entry hook is
//! needed to emit a complete event (as in Falco's modern probe).
use aya_ebpf::{
    bindings::pt_regs,
    helpers::bpf_get_current_pid_tgid,
    macros::{btf_tracepoint, raw_tracepoint},
    maps::ProgramArray,
    programs::{BtfTracePointContext, RawTracePointContext},
    EbpfContext,
};

use crate::batch;
use crate::filters::{pass_cgroup, pass_comm, pass_tgid};
use crate::identity;
use crate::kernel::read;
use crate::maps::{cfg, config, count, ENTRY_TS, EVENTS, SPECS, STAGES_BTF, STAGES_RAW};
use crate::record::{self, cgroup_id, fill_header, now, Task, NO_WAKEUP};
use crate::{scratch, stages};
use tracer_common::{
    syscall_names::nr, EventHeader, RecordKind, SyscallArgs, SyscallRecord, SyscallSpec,
    TaskIdentity, COMM_LEN, COUNTER_DROPS, FILTER_COMM, FILTER_COMM_SMALL, HDR_NO_LATENCY,
    SPEC_PASS, SYSCALL_SLOTS,
};

/// The six argument registers and the native syscall number, however the
/// architecture saves them.
struct Regs {
    args: [u64; 6],
    nr: u64,
}

/// `struct pt_regs` on x86_64 from `r10` (offset 56) to `orig_ax` (offset 120):
/// r10 r9 r8 ax cx dx si di orig_ax.
#[cfg(not(bpf_target_arch = "aarch64"))]
const REGS_FROM: u64 = 56;

#[cfg(not(bpf_target_arch = "aarch64"))]
impl Regs {
    /// From the registers `REGS_FROM` on, in x86_64's syscall order: di si
    /// dx r10 r8 r9.
    #[inline(always)]
    fn x86_64(r: &[u64; 9]) -> Self {
        Self {
            args: [r[7], r[6], r[5], r[0], r[2], r[1]],
            nr: r[8],
        }
    }
}

/// arm64's `struct pt_regs` (arch/arm64/include/asm/ptrace.h, the same
/// from 5.10 to 6.12): `u64 regs[31]; sp; pc; pstate;` then `u64 orig_x0`
/// at 272 and `s32 syscallno` at 280. aya's bindings leave it opaque. At
/// exit `regs[0]` already holds the return value: the first argument is
/// `orig_x0`.
#[cfg(bpf_target_arch = "aarch64")]
#[repr(C)]
struct Arm64Regs {
    regs: [u64; 31],
    sp: u64,
    pc: u64,
    pstate: u64,
    orig_x0: u64,
    syscallno: i32,
}
#[cfg(bpf_target_arch = "aarch64")]
const _: () = assert!(core::mem::offset_of!(Arm64Regs, orig_x0) == 272);
#[cfg(bpf_target_arch = "aarch64")]
const _: () = assert!(core::mem::offset_of!(Arm64Regs, syscallno) == 280);

/// How a hook reads the task it runs for: the two program types differ only
/// in this.
trait Reader {
    fn regs(&self) -> Option<Regs>;
    fn comm(&self) -> Option<[u8; COMM_LEN]>;
    fn identity(&self, tid: u32) -> TaskIdentity;
}

/// Raw tracepoint: helper calls, and the per-thread identity cache.
struct Helpers {
    regs: u64,
}

impl Reader for Helpers {
    #[cfg(not(bpf_target_arch = "aarch64"))]
    fn regs(&self) -> Option<Regs> {
        read::<[u64; 9]>(self.regs, REGS_FROM).map(|r| Regs::x86_64(&r))
    }
    #[cfg(bpf_target_arch = "aarch64")]
    fn regs(&self) -> Option<Regs> {
        // x1..x5, then orig_x0 and syscallno (read as the low half of a word).
        let rest: [u64; 5] = read(self.regs, 8)?;
        let tail: [u64; 2] = read(self.regs, 272)?;
        Some(Regs {
            args: [tail[0], rest[0], rest[1], rest[2], rest[3], rest[4]],
            nr: u64::from(tail[1] as u32),
        })
    }
    fn comm(&self) -> Option<[u8; COMM_LEN]> {
        record::comm()
    }
    fn identity(&self, tid: u32) -> TaskIdentity {
        identity::current(tid)
    }
}

/// BTF tracepoint: typed pointers, so the verifier turns every read into a
/// checked direct load.
struct Typed {
    regs: *const pt_regs,
}

impl Reader for Typed {
    #[cfg(not(bpf_target_arch = "aarch64"))]
    fn regs(&self) -> Option<Regs> {
        // SAFETY: the tracepoint's `struct pt_regs *` argument, a BTF-typed
        // pointer to the task's saved registers: the verifier checks each
        // field read against the type and makes it a fault-safe load.
        let r = unsafe { &*self.regs };
        Some(Regs::x86_64(&[
            r.r10, r.r9, r.r8, r.rax, r.rcx, r.rdx, r.rsi, r.rdi, r.orig_rax,
        ]))
    }
    #[cfg(bpf_target_arch = "aarch64")]
    fn regs(&self) -> Option<Regs> {
        // SAFETY: as on x86_64, a BTF-typed pointer to the saved registers,
        // read through the layout above (the verifier checks each load's
        // offset and size against the kernel's own type).
        let r = unsafe { &*self.regs.cast::<Arm64Regs>() };
        Some(Regs {
            args: [
                r.orig_x0, r.regs[1], r.regs[2], r.regs[3], r.regs[4], r.regs[5],
            ],
            nr: u64::from(r.syscallno as u32),
        })
    }
    fn comm(&self) -> Option<[u8; COMM_LEN]> {
        Some(identity::comm_direct())
    }
    fn identity(&self, _tid: u32) -> TaskIdentity {
        identity::current_direct()
    }
}

#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn sys_exit(ctx: RawTracePointContext) -> i32 {
    let _ = handle(&ctx, &STAGES_RAW, ctx.arg(1), &Helpers { regs: ctx.arg(0) });
    0
}

#[btf_tracepoint(function = "sys_exit")]
pub fn sys_exit_btf(ctx: BtfTracePointContext) -> i32 {
    let _ = handle(&ctx, &STAGES_BTF, ctx.arg(1), &Typed { regs: ctx.arg(0) });
    0
}

#[inline(always)]
fn handle<C: EbpfContext>(
    ctx: &C,
    stages: &ProgramArray,
    ret: i64,
    task: &impl Reader,
) -> Option<()> {
    let c = config();
    let filters = cfg(&c.filters);
    let pid_tgid = bpf_get_current_pid_tgid();
    let tgid = (pid_tgid >> 32) as u32;
    let tid = pid_tgid as u32;
    // Cheapest tests first: a process the filter excludes costs a few loads.
    if tgid == cfg(&c.self_tgid) || !pass_tgid(c, filters, tgid) {
        return None;
    }
    // The name is needed for the header anyway; read it first only when it
    // can end the work early.
    let comm_filter = filters & (FILTER_COMM | FILTER_COMM_SMALL) != 0;
    let early = if comm_filter {
        let comm = task.comm()?;
        if !pass_comm(c, filters, &comm) {
            return None;
        }
        Some(comm)
    } else {
        None
    };
    let r = task.regs()?;
    if r.nr >= SYSCALL_SLOTS as u64 {
        return None;
    }
    let spec = SPECS.get(r.nr as u32)?;
    if spec.flags & SPEC_PASS == 0 {
        return None;
    }
    let comm = match early {
        Some(comm) => comm,
        None => task.comm()?,
    };
    // The record carries the canonical number (tracer_common::arch).
    let sysno = spec.nr;
    if sysno == nr::SETNS || sysno == nr::UNSHARE {
        identity::forget(tid);
    }
    let id = task.identity(tid);
    let task = Task {
        tgid,
        tid,
        comm,
        cgroup_id: cgroup_id(),
        id,
    };
    if !pass_cgroup(filters, task.cgroup_id, task.id.cgroup_v1_id) {
        return None;
    }
    let ts = now();
    let (latency, flags) = latency(cfg(&c.latency) != 0, tid, ts);
    #[cfg(bpf_target_arch = "aarch64")]
    let r = Regs {
        args: canonical_open_flags(sysno, r.args),
        nr: r.nr,
    };
    let args = SyscallArgs { args: r.args };

    if spec.ncap == 0 {
        // SAFETY: `append` hands over room for a whole `SyscallRecord`,
        // 8-byte aligned, that only this run writes.
        let batched = batch::append(ts, |rec| unsafe {
            fill(
                &mut (*rec).hdr,
                &task,
                sysno,
                ret,
                ts,
                latency,
                flags,
                size_of::<SyscallRecord>() as u32,
            );
            (*rec).args = args;
        });
        if batched {
            return Some(());
        }
        let Some(mut entry) = EVENTS.reserve::<SyscallRecord>(0) else {
            count(COUNTER_DROPS);
            return None;
        };
        let rec = entry.as_mut_ptr();
        // SAFETY: the reservation is a whole `SyscallRecord`, 8-byte aligned,
        // this program's until it submits it.
        unsafe {
            fill(
                &mut (*rec).hdr,
                &task,
                sysno,
                ret,
                ts,
                latency,
                flags,
                size_of::<SyscallRecord>() as u32,
            );
            (*rec).args = args;
        }
        entry.submit(NO_WAKEUP);
        return Some(());
    }

    // Captures: the record is assembled in the scratch slot by the stages.
    let slot = scratch::slot()?;
    // SAFETY: this CPU's scratch slot, this run's alone (see `scratch`); its
    // data, 8-byte aligned (a map value, 24 bytes in), holds a
    // `SyscallRecord` many times over.
    unsafe {
        let rec = (*slot).data.as_mut_ptr().cast::<SyscallRecord>();
        fill(&mut (*rec).hdr, &task, sysno, ret, ts, latency, flags, 0);
        (*rec).args = args;
        copy_spec(&mut (*slot).spec, spec);
        (*slot).end = size_of::<SyscallRecord>() as u32;
    }
    stages::start(ctx, stages, slot);
    Some(())
}

/// Records carry x86_64's open(2) flags, as they carry its syscall numbers:
/// arm64 encodes four of them differently (asm-generic fcntl.h against
/// x86's), so `O_DIRECTORY` would read as `O_DIRECT` elsewhere. Rewritten
/// for the calls whose argument is those flags: openat's and
/// open_by_handle_at's third, fcntl(F_SETFL)'s. (openat2's are inside its
/// `struct open_how`, copied as bytes, and stay arm64's.)
#[cfg(bpf_target_arch = "aarch64")]
#[inline(always)]
fn canonical_open_flags(sysno: u16, mut args: [u64; 6]) -> [u64; 6] {
    /// fcntl's command that sets the status flags.
    const F_SETFL: u64 = 4;
    // (arm64, x86_64): O_DIRECTORY, O_NOFOLLOW, O_DIRECT, O_LARGEFILE.
    const MOVED: [(u64, u64); 4] = [
        (0o40000, 0o200000),
        (0o100000, 0o400000),
        (0o200000, 0o40000),
        (0o400000, 0o100000),
    ];
    let flags_arg = sysno == nr::OPENAT
        || sysno == nr::OPEN_BY_HANDLE_AT
        || (sysno == nr::FCNTL && args[1] == F_SETFL);
    if flags_arg {
        let native = args[2];
        let mut out = native & !0o740000;
        for (arm64, x86_64) in MOVED {
            if native & arm64 != 0 {
                out |= x86_64;
            }
        }
        args[2] = out;
    }
    args
}

#[expect(
    clippy::too_many_arguments,
    reason = "inlined header fill, one call per path"
)]
#[inline(always)]
fn fill(
    hdr: &mut EventHeader,
    task: &Task,
    sysno: u16,
    ret: i64,
    ts: u64,
    latency: u64,
    flags: u16,
    len: u32,
) {
    fill_header(hdr, task, RecordKind::Syscall as u16, sysno, ret, ts);
    hdr.latency_ns = latency;
    hdr.flags = flags;
    hdr.len = len;
}

/// Time since the entry hook saw this thread enter, when latency is on.
#[inline(always)]
fn latency(on: bool, tid: u32, ts: u64) -> (u64, u16) {
    if !on {
        return (0, 0);
    }
    // SAFETY: the entry is keyed by this thread's tid, which only this
    // thread's own hooks insert or remove, so it cannot change under us; it
    // is copied out at once.
    match unsafe { ENTRY_TS.get(&tid) } {
        Some(&start) => {
            let _ = ENTRY_TS.remove(&tid);
            (ts.saturating_sub(start), 0)
        }
        None => (0, HDR_NO_LATENCY),
    }
}

/// Copies a spec as two words: a copy of the byte-aligned struct becomes a
/// call to `memmove`. Both ends are 8-byte aligned (a map value, and the
/// field after two `u32`s of the scratch slot).
#[inline(always)]
fn copy_spec(dst: &mut SyscallSpec, src: &SyscallSpec) {
    const _: () = assert!(size_of::<SyscallSpec>() == 16);
    let (d, s) = (
        (dst as *mut SyscallSpec).cast::<u64>(),
        (src as *const SyscallSpec).cast::<u64>(),
    );
    // SAFETY: both are 16 bytes (asserted above) and 8-byte aligned (see
    // above), so each holds two aligned words.
    unsafe {
        d.write(s.read());
        d.add(1).write(s.add(1).read());
    }
}
