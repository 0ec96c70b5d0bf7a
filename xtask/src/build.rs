//! `cargo xtask build`: the eBPF object, then the release sdtrace that embeds it,
//! then (for this machine's architecture) its man pages and shell completions.
use anyhow::Result;

use crate::{arch::Arch, build_ebpf::build_ebpf, util};

pub(crate) fn build() -> Result<()> {
    build_for(Arch::host())
}

/// The eBPF object and sdtrace for `arch`; another architecture's is
/// cross-compiled (`target/<triple>/release/sdtrace`) and installs nothing.
pub(crate) fn build_for(arch: Arch) -> Result<()> {
    build_ebpf(arch)?;
    let mut cargo = util::cargo();
    cargo.args(["build", "--release", "-p", "tracer"]);
    if let Some(target) = arch.rust_target() {
        cargo.args(["--target", target]);
    }
    util::run(&mut cargo)?;
    if arch == Arch::host() {
        crate::manuals::install(&util::sdtrace_bin())?;
    }
    Ok(())
}
