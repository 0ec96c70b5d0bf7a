//! Loading and attaching the programs: each load timed and its verifier cost
//! recorded, a refusal explained in one line, and the syscall hook of the
//! type this kernel takes, with its capture stages.

use std::time::Instant;

use aya::{
    maps::ProgramArray,
    programs::{BtfTracePoint, ProgramError, RawTracePoint},
    Ebpf,
};
use tracer_common::stage;

use super::report::LoadReport;
use super::{load_err, program, verifier, CaptureError, SyscallHook};

/// `bpf_prog_info.verified_insns` of a loaded program (Linux 5.16+).
fn verified_insns(p: &aya::programs::Program) -> Option<u32> {
    p.info().ok()?.verified_instruction_count()
}

/// The error for a program that did not load: the verifier's reason when it
/// refused it, the innermost cause otherwise.
fn refused(name: &str, report: &LoadReport, e: ProgramError) -> CaptureError {
    if let ProgramError::LoadError {
        io_error,
        verifier_log,
    } = &e
    {
        let log = verifier_log.to_string();
        log::debug!("the verifier's log for {name}:\n{log}");
        let reason = verifier::summary(&log).unwrap_or_else(|| io_error.to_string());
        return CaptureError::Refused {
            program: name.to_owned(),
            kernel: report.kernel.clone(),
            hint: verifier::hint(&reason),
            reason,
        };
    }
    load_err(format!("loading {name}"), e)
}

/// Loads the raw tracepoint program `name`.
pub(super) fn load_raw(
    ebpf: &mut Ebpf,
    name: &str,
    report: &mut LoadReport,
) -> Result<(), CaptureError> {
    let start = Instant::now();
    let p: &mut RawTracePoint = program(ebpf, name)?;
    p.load().map_err(|e| refused(name, report, e))?;
    let insns = ebpf.program(name).and_then(verified_insns);
    report.loaded(name, "raw_tp", start.elapsed(), insns);
    Ok(())
}

/// Loads the BTF tracepoint program `name` for the kernel function `target`.
fn load_btf(
    ebpf: &mut Ebpf,
    name: &str,
    target: &str,
    btf: &aya::Btf,
    report: &mut LoadReport,
) -> Result<(), CaptureError> {
    let start = Instant::now();
    let p: &mut BtfTracePoint = program(ebpf, name)?;
    p.load(target, btf).map_err(|e| refused(name, report, e))?;
    let insns = ebpf.program(name).and_then(verified_insns);
    report.loaded(name, "tp_btf", start.elapsed(), insns);
    Ok(())
}

/// Attaches the loaded raw tracepoint program `name` to `tracepoint`.
pub(super) fn attach_raw(
    ebpf: &mut Ebpf,
    name: &str,
    tracepoint: &str,
) -> Result<(), CaptureError> {
    let p: &mut RawTracePoint = program(ebpf, name)?;
    p.attach(tracepoint).map_err(|e| {
        load_err(
            format!("attaching {name} to raw tracepoint {tracepoint}"),
            e,
        )
    })?;
    Ok(())
}

/// Puts the loaded capture stages (`names`, indexed by stage) into the
/// program array `map`.
fn fill_stages(ebpf: &mut Ebpf, map: &str, names: &[&str]) -> Result<(), CaptureError> {
    let fds = names
        .iter()
        .map(|name| {
            let p = ebpf.program(name).ok_or_else(|| {
                load_err(
                    format!("program {name}"),
                    std::io::Error::other("missing from object"),
                )
            })?;
            p.fd()
                .and_then(|fd| fd.try_clone().map_err(Into::into))
                .map_err(|e| load_err(format!("program {name}"), e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut stages: ProgramArray<_> = ProgramArray::try_from(
        ebpf.map_mut(map)
            .expect("the stage arrays are in the object"),
    )
    .map_err(|e| load_err(map, e))?;
    for (i, fd) in fds.iter().enumerate() {
        stages
            .set(i as u32, fd, 0)
            .map_err(|e| load_err(format!("{map}[{i}] = {}", names[i]), e))?;
    }
    Ok(())
}

/// Loads and attaches the syscall-exit hook of the type asked for, with its
/// capture stages; `Auto` takes the BTF tracepoint and falls back to the raw
/// one, saying why in the report.
pub(super) fn attach_syscall_hook(
    ebpf: &mut Ebpf,
    hook: SyscallHook,
    report: &mut LoadReport,
) -> Result<(), CaptureError> {
    let mut btf_failed = None;
    if hook != SyscallHook::Raw {
        match attach_btf_hook(ebpf, report) {
            Ok(()) => {
                report.hook = "tp_btf/sys_exit".to_owned();
                return Ok(());
            }
            Err(e) if hook == SyscallHook::Btf => return Err(e),
            Err(e) => {
                report.fallbacks.push(format!(
                    "raw_tracepoint/sys_exit instead of tp_btf/sys_exit, which {}: \
                     each thread's namespaces and cgroup are read with helpers and cached",
                    why_not_btf(&e)
                ));
                btf_failed = Some(e);
            }
        }
    }
    attach_raw_hook(ebpf, report).map_err(|raw| match btf_failed {
        // Both refused: the first refusal is as much the user's answer.
        Some(btf) => CaptureError::BothHooks {
            raw: Box::new(raw),
            btf: Box::new(btf),
        },
        None => raw,
    })
}

/// The raw tracepoint and its stages, which tail-call through `STAGES_RAW`.
fn attach_raw_hook(ebpf: &mut Ebpf, report: &mut LoadReport) -> Result<(), CaptureError> {
    let stages: Vec<&str> = stage::PROGRAMS.iter().map(|(_, raw)| *raw).collect();
    for name in &stages {
        load_raw(ebpf, name, report)?;
    }
    load_raw(ebpf, "sys_exit", report)?;
    fill_stages(ebpf, "STAGES_RAW", &stages)?;
    attach_raw(ebpf, "sys_exit", "sys_exit")?;
    report.hook = "raw_tp/sys_exit".to_owned();
    Ok(())
}

/// Why the BTF tracepoint did not load, briefly.
fn why_not_btf(e: &CaptureError) -> String {
    match e {
        CaptureError::Refused { reason, .. } => match verifier::missing_helper(reason) {
            Some((helper, since)) => format!("needs {helper} (Linux {since})"),
            None => format!("the verifier refused ({reason})"),
        },
        other => format!("did not load ({other})"),
    }
}

/// The BTF tracepoint and its stages, which tail-call through `STAGES_BTF`
/// (the raw ones have an array of their own: an array takes the type of the
/// first program loaded that uses it).
fn attach_btf_hook(ebpf: &mut Ebpf, report: &mut LoadReport) -> Result<(), CaptureError> {
    let btf = aya::Btf::from_sys_fs().map_err(|e| load_err("kernel BTF", e))?;
    let stages: Vec<&str> = stage::PROGRAMS.iter().map(|(btf, _)| *btf).collect();
    for name in &stages {
        load_btf(ebpf, name, "sys_exit", &btf, report)?;
    }
    load_btf(ebpf, "sys_exit_btf", "sys_exit", &btf, report)?;
    fill_stages(ebpf, "STAGES_BTF", &stages)?;
    let p: &mut BtfTracePoint = program(ebpf, "sys_exit_btf")?;
    p.attach()
        .map_err(|e| load_err("attaching tp_btf/sys_exit", e))?;
    Ok(())
}
