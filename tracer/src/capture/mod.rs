//! Loading and attaching the eBPF programs, handing them their configuration
//! and push-down sets, and reading their ring buffer and drop counters.

pub mod btf;
pub mod flush;
pub mod mute;
pub mod offsets;
pub mod order;
mod programs;
pub mod report;
pub mod verifier;

use std::collections::BTreeSet;
use std::os::fd::AsFd;

use aya::{
    maps::{Array, HashMap, MapData, PerCpuArray, RingBuf},
    programs::RawTracePoint,
    Ebpf, EbpfLoader,
};
use tracer_common::{
    arch::Arch,
    syscalls::{self, STATE_SYSCALLS},
    KernelConfig, SyscallSpec, COMM_LEN, COUNTER_DROPS, COUNTER_STAGE_MISSES, FILTER_CGROUP,
    FILTER_COMM, FILTER_COMM_SMALL, FILTER_MUTED, FILTER_TGID, FILTER_TGID_SMALL, SMALL_SET,
    SNAPLEN_MAX, SPEC_PASS, SYSCALL_SLOTS,
};

pub use offsets::CgroupMounts;

/// The compiled eBPF object, embedded by build.rs.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tracer.bpf.o"));

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("this sdtrace was built without its eBPF programs: run `cargo xtask build` (or `cargo xtask run`)")]
    NoObject,
    #[error(transparent)]
    Btf(#[from] btf::BtfError),
    /// One line: what failed, the innermost cause, and what to do.
    #[error("{what}: {cause}{hint}")]
    Load {
        what: String,
        cause: String,
        hint: &'static str,
    },
    #[error(
        "Linux {release} is too old: sdtrace needs {}.{} or later (the BPF ring buffer); \
         it is tested on 5.10, 6.1, 6.12 and 6.12-rt",
        report::MINIMUM_KERNEL.0,
        report::MINIMUM_KERNEL.1
    )]
    KernelTooOld { release: String },
    /// Neither hook type loaded.
    #[error("{}", both_hooks(.raw, .btf))]
    BothHooks {
        raw: Box<CaptureError>,
        btf: Box<CaptureError>,
    },
    /// The verifier refused a program: its reason, and what to try.
    #[error("the verifier of Linux {kernel} refused {program}: {reason}; {hint}")]
    Refused {
        program: String,
        kernel: String,
        reason: String,
        hint: &'static str,
    },
}

/// Both hooks' refusals in one line; once, when the verifier gave both
/// the same reason.
fn both_hooks(raw: &CaptureError, btf: &CaptureError) -> String {
    match (raw, btf) {
        (
            CaptureError::Refused {
                program,
                kernel,
                reason,
                hint,
            },
            CaptureError::Refused {
                program: first,
                reason: first_reason,
                ..
            },
        ) if reason == first_reason => format!(
            "the verifier of Linux {kernel} refused {first} and {program}: {reason}; {hint}"
        ),
        _ => format!("{raw}; tp_btf/sys_exit, tried first: {btf}"),
    }
}

const PRIVILEGE_HINT: &str =
    " (sdtrace needs root, or CAP_BPF + CAP_PERFMON, to load eBPF programs)";

pub(super) fn load_err(
    what: impl Into<String>,
    source: impl std::error::Error + 'static,
) -> CaptureError {
    let what = what.into();
    // The innermost cause says what the kernel refused; the layers above it
    // repeat the map or program name already in `what`. The whole chain (with
    // a verifier log) is for developers: -v or SDTRACE_DEBUG=1 prints it.
    log::debug!("{what}: {source:#?}");
    let mut cause: &dyn std::error::Error = &source;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    let cause = cause.to_string();
    let hint = if cause.contains("Operation not permitted") || cause.contains("os error 1)") {
        PRIVILEGE_HINT
    } else {
        ""
    };
    CaptureError::Load { what, cause, hint }
}

/// What the kernel may decide for the user's filter. `None` means "every".
#[derive(Clone, Debug, Default)]
pub struct KernelFilter {
    /// Syscall numbers the filter can match.
    pub syscalls: Option<BTreeSet<u16>>,
    pub tgids: Option<BTreeSet<u32>>,
    /// Task names (the kernel's comm, at most 15 bytes).
    pub comms: Option<BTreeSet<Vec<u8>>>,
    /// cgroup v2 ids and v1 kernfs ids (v1 ones tagged with `CGROUP_V1_TAG`).
    pub cgroups: Option<BTreeSet<u64>>,
    /// Whether the kernel drops the cgroups userspace mutes ([`mute`]).
    pub muting: bool,
}

/// Which program type carries the syscall-exit hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SyscallHook {
    /// BTF tracepoint, falling back to the raw tracepoint when it does not load.
    Auto,
    /// `tp_btf/sys_exit`: registers read with direct loads.
    Btf,
    /// `raw_tracepoint/sys_exit`: registers read with a probe-read helper.
    Raw,
}

/// Capture settings from the command line.
#[derive(Clone, Debug)]
pub struct CaptureOptions {
    pub buffer_size: u32,
    pub snaplen: u32,
    /// Attach the entry hook so events carry their latency.
    pub latency: bool,
    pub filter: KernelFilter,
    pub hook: SyscallHook,
    /// Also read, by walking the kernel's dentries, the path of the fd each
    /// open returned and each write went to
    /// ([`syscalls::KERNEL_PATH_CAPTURES`]). Off by default: it costs every
    /// open and write, and the default records keep their layout.
    pub kernel_paths: bool,
}

/// Loaded and attached programs with the maps userspace reads.
pub struct Capture {
    ebpf: Ebpf,
    pub ring: RingBuf<MapData>,
    /// The ring buffer's size in bytes.
    pub ring_size: u32,
    counters: PerCpuArray<MapData, u64>,
    pub mounts: CgroupMounts,
    /// `None` when the kernel cannot run the flush program on a chosen CPU:
    /// records are then written one by one, not batched.
    flusher: Option<flush::BatchFlusher>,
    /// What the kernel took, and what it cost.
    pub report: report::LoadReport,
}

fn possible_cpus() -> u32 {
    aya::util::nr_cpus().map_or(256, |n| n as u32).max(1)
}

/// Rounds a requested ring size to what the kernel accepts: a power of two
/// multiple of the page size.
pub fn ring_size(requested: u32) -> u32 {
    let page = 4096u32;
    requested
        .max(page)
        .checked_next_power_of_two()
        .unwrap_or(1 << 31)
}

impl Capture {
    /// Loads and attaches every program; says, one line each, which
    /// fallbacks this kernel needed.
    pub fn start(opts: &CaptureOptions) -> Result<Self, CaptureError> {
        let capture = match Self::load(opts, true) {
            // A kernel that cannot run the flush program on another CPU
            // (`BPF_PROG_TEST_RUN` of a raw tracepoint on a chosen CPU)
            // gets records one by one instead of per-CPU batches.
            Err(LoadFailure::Flush(e)) => {
                let mut c = Self::load(opts, false).map_err(LoadFailure::into_error)?;
                c.report.fallbacks.insert(
                    0,
                    format!(
                        "no per-CPU batches: the flush program cannot run on a chosen CPU ({e}); \
                         each record is written on its own"
                    ),
                );
                c
            }
            other => other.map_err(LoadFailure::into_error)?,
        };
        for line in &capture.report.fallbacks {
            eprintln!("sdtrace: {line}");
        }
        Ok(capture)
    }

    fn load(opts: &CaptureOptions, batching: bool) -> Result<Self, LoadFailure> {
        let started = std::time::Instant::now();
        if OBJECT.is_empty() {
            return Err(CaptureError::NoObject.into());
        }
        let mut report = report::LoadReport::new();
        if report::version(&report.kernel).is_some_and(|v| v < report::MINIMUM_KERNEL) {
            return Err(CaptureError::KernelTooOld {
                release: report.kernel,
            }
            .into());
        }
        let kernel_btf = btf::Btf::from_sys_fs().map_err(CaptureError::from)?;
        let mounts = CgroupMounts::discover();
        let offsets = offsets::kernel_offsets(&kernel_btf, &mounts).map_err(CaptureError::from)?;
        let f = &opts.filter;
        let mut config = KernelConfig {
            self_tgid: std::process::id(),
            snaplen: opts.snaplen.min(SNAPLEN_MAX),
            latency: u32::from(opts.latency),
            batch_bytes: if batching {
                batch_bytes(ring_size(opts.buffer_size))
            } else {
                0
            },
            batch_age_us: BATCH_AGE_US,
            ..KernelConfig::zeroed()
        };
        small_sets(&mut config, f);
        let mut ebpf = EbpfLoader::new()
            .override_global("CONFIG", &config, true)
            .override_global("OFFSETS", &offsets, true)
            .map_max_entries("EVENTS", ring_size(opts.buffer_size))
            .map_max_entries("SCRATCH", possible_cpus())
            .map_max_entries("BATCH", possible_cpus())
            .verifier_log_level(verifier::log_level())
            .load(OBJECT)
            .map_err(|e| load_err("loading the eBPF programs failed", e))?;

        fill_specs(&mut ebpf, f, opts.kernel_paths)?;
        fill_sets(&mut ebpf, f)?;

        let mut hooks = vec![
            ("sched_process_fork", "sched_process_fork"),
            ("sched_process_exec", "sched_process_exec"),
            ("sched_process_exit", "sched_process_exit"),
            ("cgroup_attach_task", "cgroup_attach_task"),
        ];
        if opts.latency {
            hooks.push(("sys_enter", "sys_enter"));
        }
        for (prog, tp) in hooks {
            programs::load_raw(&mut ebpf, prog, &mut report)?;
            programs::attach_raw(&mut ebpf, prog, tp)?;
        }

        programs::attach_syscall_hook(&mut ebpf, opts.hook, &mut report)?;
        let flusher = if batching {
            Some(batch_flusher(&mut ebpf, &mut report)?)
        } else {
            None
        };

        let ring = RingBuf::try_from(ebpf.take_map("EVENTS").expect("EVENTS is in the object"))
            .map_err(|e| load_err("ring buffer", e))?;
        let counters = PerCpuArray::try_from(
            ebpf.take_map("COUNTERS")
                .expect("COUNTERS is in the object"),
        )
        .map_err(|e| load_err("counters", e))?;
        report.total_ms = started.elapsed().as_secs_f64() * 1e3;
        Ok(Capture {
            ebpf,
            ring,
            ring_size: ring_size(opts.buffer_size),
            counters,
            mounts,
            flusher,
            report,
        })
    }

    /// Writes out the batches that quiet CPUs have held too long.
    pub fn flush_waiting(&self) {
        if let Some(f) = &self.flusher {
            f.flush_waiting(crate::sys::clock::boot_ns());
        }
    }

    /// Writes out every CPU's batch: the capture is ending.
    pub fn flush_all(&self) {
        if let Some(f) = &self.flusher {
            f.flush_all();
        }
    }

    /// The handle that mutes cgroups (the kernel consults them only when
    /// started with [`KernelFilter::muting`]); `None` once taken.
    pub fn muter(&mut self) -> Result<Option<mute::CgroupMuter>, CaptureError> {
        let Some(map) = self.ebpf.take_map("MUTED_CGROUPS") else {
            return Ok(None);
        };
        let map = HashMap::try_from(map).map_err(|e| load_err("MUTED_CGROUPS", e))?;
        Ok(Some(mute::CgroupMuter::new(map)))
    }

    /// The handle that changes, while running, which syscalls the kernel
    /// passes on; `None` once taken.
    pub fn syscall_switch(
        &mut self,
        kernel_paths: bool,
    ) -> Result<Option<SyscallSwitch>, CaptureError> {
        let Some(map) = self.ebpf.take_map("SPECS") else {
            return Ok(None);
        };
        let specs = Array::try_from(map).map_err(|e| load_err("SPECS", e))?;
        Ok(Some(SyscallSwitch {
            specs,
            kernel_paths,
            current: None,
        }))
    }

    /// Times the kernel skipped one of our programs because it was already
    /// running on that CPU (its recursion guard): events lost before any
    /// ring-buffer reservation, so not in [`Self::drops_per_cpu`].
    pub fn kernel_misses(&self) -> u64 {
        self.ebpf
            .programs()
            .filter_map(|(_, p)| p.fd().ok())
            .map(|fd| crate::sys::bpf::recursion_misses(fd.as_fd()))
            .sum()
    }

    /// Records lost to a full ring buffer so far, per possible CPU.
    pub fn drops_per_cpu(&self) -> Vec<u64> {
        self.counters
            .get(&COUNTER_DROPS, 0)
            .map(|v| v.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Records written without some of their captures because a capture
    /// stage could not be reached (never expected; see `COUNTER_STAGE_MISSES`).
    pub fn stage_misses(&self) -> u64 {
        self.counters
            .get(&COUNTER_STAGE_MISSES, 0)
            .map(|v| v.iter().sum())
            .unwrap_or_default()
    }
}

/// Which syscalls the kernel passes on, changed while running (the agent's
/// clients come and go): the per-syscall table rewritten in place. A
/// syscall's records already in the ring buffer are still delivered.
pub struct SyscallSwitch {
    specs: Array<MapData, SyscallSpec>,
    kernel_paths: bool,
    current: Option<Option<BTreeSet<u16>>>,
}

impl SyscallSwitch {
    /// Passes `syscalls` (`None`: every syscall) and the state syscalls;
    /// nothing is written when that is already so.
    pub fn set(&mut self, syscalls: Option<BTreeSet<u16>>) -> Result<(), CaptureError> {
        if self.current.as_ref() == Some(&syscalls) {
            return Ok(());
        }
        write_specs(&mut self.specs, syscalls.as_ref(), self.kernel_paths)?;
        self.current = Some(syscalls);
        Ok(())
    }
}

/// The program `name` from the object, as program type `P`.
pub(super) fn program<'e, P>(ebpf: &'e mut Ebpf, name: &str) -> Result<&'e mut P, CaptureError>
where
    &'e mut P: TryFrom<&'e mut aya::programs::Program, Error = aya::programs::ProgramError>,
{
    ebpf.program_mut(name)
        .ok_or_else(|| {
            load_err(
                format!("program {name}"),
                std::io::Error::other("missing from object"),
            )
        })?
        .try_into()
        .map_err(|e| load_err(format!("program {name}"), e))
}

/// A batch older than this is written out at its CPU's next record, or by
/// userspace's flush ([`flush::WAIT_NS`]) when the CPU stays quiet.
const BATCH_AGE_US: u32 = 2000;

/// Per-CPU batch size for a ring of `ring` bytes: small rings get small
/// batches, so one batch never takes more than an eighth of the ring.
pub fn batch_bytes(ring: u32) -> u32 {
    (ring / 8).min(tracer_common::BATCH_MAX)
}

/// Why a load failed: the flush program could not run on a chosen CPU
/// (which has a fallback), or anything else.
enum LoadFailure {
    Flush(std::io::Error),
    Other(CaptureError),
}

impl From<CaptureError> for LoadFailure {
    fn from(e: CaptureError) -> Self {
        Self::Other(e)
    }
}

impl LoadFailure {
    fn into_error(self) -> CaptureError {
        match self {
            Self::Flush(e) => load_err("running batch_flush on another CPU (BPF_PROG_TEST_RUN)", e),
            Self::Other(e) => e,
        }
    }
}

/// Loads `batch_flush` (run on a CPU by userspace, never attached) and maps
/// the batches' headers.
fn batch_flusher(
    ebpf: &mut Ebpf,
    report: &mut report::LoadReport,
) -> Result<flush::BatchFlusher, LoadFailure> {
    programs::load_raw(ebpf, "batch_flush", report)?;
    let p: &mut RawTracePoint = program(ebpf, "batch_flush")?;
    let prog = p
        .fd()
        .and_then(|fd| fd.as_fd().try_clone_to_owned().map_err(Into::into))
        .map_err(|e| load_err("batch_flush", e))?;
    let Some(aya::maps::Map::Array(batch)) = ebpf.map("BATCH") else {
        return Err(load_err("the BATCH map", std::io::Error::other("not an array")).into());
    };
    let cpus = aya::util::online_cpus().map_err(|(_, e)| load_err("online CPUs", e))?;
    flush::BatchFlusher::new(batch.fd().as_fd(), prog, possible_cpus() as usize, cpus)
        .map_err(LoadFailure::Flush)
}

/// Writes the per-syscall table: captures from the shared definitions (with
/// the kernel-path ones when asked for), and the pass bit from the filter's
/// syscall set plus the syscalls that keep the process and fd tables exact.
fn fill_specs(ebpf: &mut Ebpf, f: &KernelFilter, kernel_paths: bool) -> Result<(), CaptureError> {
    let mut specs: Array<_, SyscallSpec> =
        Array::try_from(ebpf.map_mut("SPECS").expect("SPECS is in the object"))
            .map_err(|e| load_err("SPECS", e))?;
    write_specs(&mut specs, f.syscalls.as_ref(), kernel_paths)
}

fn write_specs<T: std::borrow::BorrowMut<MapData>>(
    specs: &mut Array<T, SyscallSpec>,
    syscalls: Option<&BTreeSet<u16>>,
    kernel_paths: bool,
) -> Result<(), CaptureError> {
    // Indexed by this kernel's native numbers, each slot naming its
    // canonical one; a number the architecture does not have stays off.
    for native in 0..SYSCALL_SLOTS {
        let spec = match Arch::HOST.canonical(native) {
            Some(nr) => spec_for(nr, syscalls, kernel_paths),
            None => SyscallSpec::default(),
        };
        specs
            .set(native, spec, 0)
            .map_err(|e| load_err("SPECS", e))?;
    }
    Ok(())
}

/// The spec of canonical syscall `nr`: passed when the filter's set has it
/// (or the tables need it), with its captures.
fn spec_for(nr: u16, syscalls: Option<&BTreeSet<u16>>, kernel_paths: bool) -> SyscallSpec {
    let pass = match syscalls {
        None => true,
        Some(set) => set.contains(&nr) || STATE_SYSCALLS.contains(&nr),
    };
    let mut spec = SyscallSpec {
        flags: if pass { SPEC_PASS } else { 0 },
        nr,
        ..SyscallSpec::default()
    };
    if let Some(def) = syscalls::def(nr) {
        (spec.caps, spec.ncap) = def.captures(kernel_paths);
    }
    spec
}

/// Chooses, per set, between the in-config small set and the hash map.
fn small_sets(config: &mut KernelConfig, f: &KernelFilter) {
    if let Some(tgids) = &f.tgids {
        if tgids.len() <= SMALL_SET {
            config.filters |= FILTER_TGID_SMALL;
            config.ntgids = tgids.len() as u32;
            for (slot, t) in config.tgids.iter_mut().zip(tgids) {
                *slot = *t;
            }
        } else {
            config.filters |= FILTER_TGID;
        }
    }
    if let Some(comms) = &f.comms {
        // Names of 16 bytes or more can never equal a kernel comm.
        let comms: Vec<&Vec<u8>> = comms.iter().filter(|c| c.len() < COMM_LEN).collect();
        if comms.len() <= SMALL_SET {
            config.filters |= FILTER_COMM_SMALL;
            config.ncomms = comms.len() as u32;
            for (slot, c) in config.comms.iter_mut().zip(comms) {
                slot[..c.len()].copy_from_slice(c);
            }
        } else {
            config.filters |= FILTER_COMM;
        }
    }
    if f.cgroups.is_some() {
        config.filters |= FILTER_CGROUP;
    }
    if f.muting {
        config.filters |= FILTER_MUTED;
    }
}

fn fill_sets(ebpf: &mut Ebpf, f: &KernelFilter) -> Result<(), CaptureError> {
    if let Some(tgids) = f.tgids.as_ref().filter(|t| t.len() > SMALL_SET) {
        let mut m: HashMap<_, u32, u8> =
            HashMap::try_from(ebpf.map_mut("TGID_FILTER").expect("map in object"))
                .map_err(|e| load_err("TGID_FILTER", e))?;
        for t in tgids {
            m.insert(t, 1, 0).map_err(|e| load_err("TGID_FILTER", e))?;
        }
    }
    if let Some(comms) = f
        .comms
        .as_ref()
        .filter(|c| c.iter().filter(|c| c.len() < COMM_LEN).count() > SMALL_SET)
    {
        let mut m: HashMap<_, [u8; COMM_LEN], u8> =
            HashMap::try_from(ebpf.map_mut("COMM_FILTER").expect("map in object"))
                .map_err(|e| load_err("COMM_FILTER", e))?;
        for c in comms {
            // The kernel keeps at most 15 bytes plus a NUL; longer names can
            // never match and are not inserted.
            if c.len() < COMM_LEN {
                let mut key = [0u8; COMM_LEN];
                key[..c.len()].copy_from_slice(c);
                m.insert(key, 1, 0)
                    .map_err(|e| load_err("COMM_FILTER", e))?;
            }
        }
    }
    if let Some(cgroups) = &f.cgroups {
        let mut m: HashMap<_, u64, u8> =
            HashMap::try_from(ebpf.map_mut("CGROUP_FILTER").expect("map in object"))
                .map_err(|e| load_err("CGROUP_FILTER", e))?;
        for c in cgroups {
            m.insert(c, 1, 0)
                .map_err(|e| load_err("CGROUP_FILTER", e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_hooks_refused_is_one_line() {
        let refused = |program: &str, reason: &str| CaptureError::Refused {
            program: program.into(),
            kernel: "6.1.0-57-amd64".into(),
            reason: reason.into(),
            hint: "try this",
        };
        let same = CaptureError::BothHooks {
            raw: Box::new(refused("sys_exit", "R2 unbounded memory access")),
            btf: Box::new(refused("sys_exit_btf", "R2 unbounded memory access")),
        };
        assert_eq!(
            same.to_string(),
            "the verifier of Linux 6.1.0-57-amd64 refused sys_exit_btf and sys_exit: \
             R2 unbounded memory access; try this"
        );
        let different = CaptureError::BothHooks {
            raw: Box::new(refused("sys_exit", "a")),
            btf: Box::new(refused("sys_exit_btf", "b")),
        };
        let text = different.to_string();
        assert!(
            text.contains("refused sys_exit: a; try this; tp_btf/sys_exit, tried first:"),
            "{text}"
        );
        assert!(!text.contains('\n'));
    }

    #[test]
    fn ring_sizes_are_page_powers_of_two() {
        assert_eq!(ring_size(1), 4096);
        assert_eq!(ring_size(8192), 8192);
        assert_eq!(ring_size(10_000), 16384);
        assert_eq!(ring_size(16 << 20), 16 << 20);
    }
}
