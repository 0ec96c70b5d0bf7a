//! The maps and read-only globals shared by every hook.
use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, LruHashMap, PerCpuArray, ProgramArray, RingBuf},
};
use tracer_common::{
    stage, KernelConfig, KernelOffsets, SyscallSpec, TaskIdentity, COMM_LEN, COUNTER_SLOTS,
    SYSCALL_SLOTS,
};

use crate::scratch::Scratch;

/// Settings userspace fixes at load time.
// SAFETY: `no_mangle` so that userspace finds it by this name; no other
// symbol in the object has it.
#[unsafe(no_mangle)]
static CONFIG: KernelConfig = KernelConfig::zeroed();

/// Kernel struct field offsets userspace read from BTF.
// SAFETY: as for `CONFIG`.
#[unsafe(no_mangle)]
static OFFSETS: KernelOffsets = KernelOffsets::zeroed();

/// The load-time settings. Fields must be read with [`cfg`]: the value is
/// patched into .rodata at load time, so the compiler must not fold the
/// zeroed initialiser.
#[inline(always)]
pub fn config() -> &'static KernelConfig {
    &CONFIG
}

/// Reads one configuration word.
#[inline(always)]
pub fn cfg(word: &u32) -> u32 {
    // SAFETY: a reference is live and aligned; the volatile load only hides
    // the value from the optimiser.
    unsafe { core::ptr::read_volatile(word) }
}

#[inline(always)]
pub fn offsets() -> &'static KernelOffsets {
    // Each field is read through this reference with a volatile load at the
    // use site (see `kernel::off`).
    &OFFSETS
}

/// Every record goes here; userspace sets the size (`--buffer-size`).
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(8 * 1024 * 1024, 0);

/// Per-syscall push-down bit and captures, indexed by syscall number.
#[map]
pub static SPECS: Array<SyscallSpec> = Array::with_max_entries(SYSCALL_SLOTS, 0);

/// Per-CPU counters: records lost to a full ring buffer.
#[map]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTER_SLOTS, 0);

/// Push-down sets; consulted only when the matching `FILTER_*` bit is set.
#[map]
pub static TGID_FILTER: HashMap<u32, u8> = HashMap::with_max_entries(4096, 0);
#[map]
pub static COMM_FILTER: HashMap<[u8; COMM_LEN], u8> = HashMap::with_max_entries(1024, 0);
#[map]
pub static CGROUP_FILTER: HashMap<u64, u8> = HashMap::with_max_entries(4096, 0);
/// cgroups whose events the filter can never match, keyed like
/// `CGROUP_FILTER`. LRU: a cgroup evicted on a busy node is only muted again
/// after its next event reaches userspace.
#[map]
pub static MUTED_CGROUPS: LruHashMap<u64, u8> = LruHashMap::with_max_entries(16384, 0);

/// Namespaces and v1 cgroup of each thread, filled on first sight and dropped
/// when they can change (setns, unshare, cgroup migration, exit).
#[map]
pub static IDENTITY: HashMap<u32, TaskIdentity> = HashMap::with_max_entries(65536, 0);

/// Entry timestamps by tid, written by the entry hook when latency is measured.
#[map]
pub static ENTRY_TS: HashMap<u32, u64> = HashMap::with_max_entries(65536, 0);

/// Per-CPU batches of records, one slot per CPU (userspace sizes
/// it to the possible CPUs). Mmappable: userspace reads each batch's
/// `used` and `first_ts` to find the ones waiting on a quiet CPU.
#[map]
pub static BATCH: Array<crate::batch::Batch> =
    Array::with_max_entries(1, tracer_common::BPF_F_MMAPABLE);

/// Where variable-size records are assembled before they are copied out, one
/// slot per CPU (userspace sizes it to the possible CPUs). A plain array: a
/// per-CPU array's value may not exceed 32 KiB.
#[map]
pub static SCRATCH: Array<Scratch> = Array::with_max_entries(1, 0);

/// The capture stages, by `stage::*`: one array per hook type, since a
/// program array takes the type of the first program loaded that tail-calls
/// through it, and refuses every other.
#[map]
pub static STAGES_BTF: ProgramArray = ProgramArray::with_max_entries(stage::SLOTS, 0);
#[map]
pub static STAGES_RAW: ProgramArray = ProgramArray::with_max_entries(stage::SLOTS, 0);

/// Counts one lost record on this CPU.
#[inline(always)]
pub fn count(slot: u32) {
    if let Some(c) = COUNTERS.get_ptr_mut(slot) {
        // SAFETY: a per-CPU map value: only programs on this CPU touch it,
        // with preemption off. The batch flush may interrupt one in an IPI
        // on the same CPU, like a signal handler, not a second thread: at
        // worst an increment is lost.
        unsafe { *c += 1 };
    }
}
