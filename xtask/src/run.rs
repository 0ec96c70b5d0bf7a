//! `cargo xtask run -- <args>`: set up, build what is stale, then become sdtrace,
//! as root (through `sudo` when we are not root and it is there).
use std::{os::unix::process::CommandExt, process::Command};

use anyhow::{bail, Result};

use crate::{build::build, setup::setup, util};

pub(crate) fn run(args: &[String]) -> Result<()> {
    setup()?;
    build()?;
    let bin = util::sdtrace_bin();
    let mut cmd = if util::is_root() {
        Command::new(&bin)
    } else if util::on_path("sudo") {
        eprintln!("xtask: sdtrace loads eBPF programs and needs root; running it through sudo");
        let mut sudo = Command::new("sudo");
        sudo.arg("--").arg(&bin);
        sudo
    } else {
        bail!(
            "sdtrace loads eBPF programs and needs root (or CAP_BPF and CAP_PERFMON); \
             sudo is not installed, so run `{}` as root",
            bin.display()
        );
    };
    cmd.args(args);
    // exec only returns on failure; on success sdtrace's exit status is ours.
    let err = cmd.exec();
    bail!("cannot exec {}: {err}", util::describe(&cmd))
}
