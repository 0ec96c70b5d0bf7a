//! A capture written on one architecture, read back on both: the smoke run
//! writes a capture file where `KSMOKE_CROSS` is set (the host, the arm64
//! guests), and here every sdtrace built in this run reads it (another
//! architecture's under qemu's user-mode emulation). They must name the
//! same events alike, and the file must say which architecture wrote it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use super::check::{Outcome, Sections};
use crate::{arch::Arch, util};

/// An sdtrace that can read capture files here.
pub(super) struct Reader {
    pub arch: Arch,
    pub sdtrace: PathBuf,
}

impl Reader {
    /// `sdtrace -r file -p "*%evt.type %evt.arg.flags"`: one line per
    /// event, its name and its flags decoded (`<NA>` without).
    fn event_types(&self, file: &Path) -> Result<String> {
        let mut cmd = match self.arch.cross_lib_dir() {
            None => Command::new(&self.sdtrace),
            Some(lib) => {
                let mut qemu = Command::new(format!("qemu-{}", self.arch.name()));
                qemu.arg("-L")
                    .arg(lib.parent().expect("/usr/<triple>/lib"))
                    .arg(&self.sdtrace);
                qemu
            }
        };
        cmd.arg("-r")
            .arg(file)
            .args(["-p", "*%evt.type %evt.arg.flags"]);
        util::output(&mut cmd).with_context(|| {
            format!(
                "the {} sdtrace cannot read {}",
                self.arch.name(),
                file.display()
            )
        })
    }
}

/// Reads the `cross-scap` section of a run on `arch` with every reader, and
/// notes the result in `outcome` (a failure when they disagree or the file
/// is missing). Does nothing for a run that wrote none.
pub(super) fn check(
    name: &str,
    arch: Arch,
    sections: &Sections,
    readers: &[Reader],
    dir: &Path,
    outcome: &mut Outcome,
) {
    if !sections.has("cross-scap") {
        return;
    }
    let scap = sections.bytes("cross-scap");
    if scap.is_empty() {
        outcome.failures.push(format!(
            "the capture for the other architecture is missing: {}",
            sections.get("cross-stderr").trim()
        ));
        return;
    }
    let says = format!(r#""arch":"{}""#, arch.name());
    if !contains(scap, says.as_bytes()) {
        outcome.failures.push(format!(
            "the {} capture file does not say {says}",
            arch.name()
        ));
    }
    let file = dir.join(format!("{name}.cross.scap"));
    if let Err(e) = std::fs::write(&file, scap) {
        outcome
            .failures
            .push(format!("write {}: {e}", file.display()));
        return;
    }
    let mut reads = Vec::new();
    for r in readers {
        match r.event_types(&file) {
            Ok(types) => reads.push((r.arch, types)),
            Err(e) => {
                outcome.failures.push(format!("{e:#}"));
                return;
            }
        }
    }
    let Some((first_arch, first)) = reads.first() else {
        return;
    };
    for (other_arch, other) in &reads[1..] {
        if other != first {
            outcome.failures.push(format!(
                "the {} capture reads differently on {} and {} (first differing line {:?} / {:?})",
                arch.name(),
                first_arch.name(),
                other_arch.name(),
                first
                    .lines()
                    .zip(other.lines())
                    .find(|(a, b)| a != b)
                    .map(|(a, _)| a),
                first
                    .lines()
                    .zip(other.lines())
                    .find(|(a, b)| a != b)
                    .map(|(_, b)| b),
            ));
        }
    }
    let lines: Vec<&str> = first.lines().collect();
    let types: Vec<&str> = lines
        .iter()
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    for must in ["openat", "execve", "connect"] {
        if !types.contains(&must) {
            outcome.failures.push(format!(
                "the {} capture read back has no {must} event ({} events)",
                arch.name(),
                lines.len()
            ));
        }
    }
    // kernel-smoke's read_dir: arm64's O_DIRECTORY bit is x86_64's O_DIRECT.
    let dir_open = |l: &&str| l.starts_with("openat ") && l.contains("O_DIRECTORY");
    if !lines.iter().any(dir_open) {
        outcome.failures.push(format!(
            "the {} capture read back has no openat with O_DIRECTORY",
            arch.name()
        ));
    }
    if let Some(unnamed) = types.iter().find(|l| l.starts_with("syscall_")) {
        outcome.failures.push(format!(
            "the {} capture read back has an unnamed syscall: {unnamed}",
            arch.name()
        ));
    }
    let on: Vec<&str> = reads.iter().map(|(a, _)| a.name()).collect();
    outcome.notes.push(format!(
        "its capture file reads alike on {} ({} events)",
        on.join(" and "),
        lines.len()
    ));
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
