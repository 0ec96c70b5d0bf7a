//! `cargo xtask build`: the eBPF object, then the release sdtrace that embeds it,
//! then its man pages and shell completions.
use anyhow::Result;

use crate::{build_ebpf::build_ebpf, util};

pub(crate) fn build() -> Result<()> {
    build_ebpf()?;
    util::run(util::cargo().args(["build", "--release", "-p", "tracer"]))?;
    crate::manuals::install(&util::sdtrace_bin())
}
