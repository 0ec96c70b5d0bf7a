//! `cargo xtask build-ebpf`: the eBPF programs, built with nightly for
//! `bpfel-unknown-none` and linked by the bpf-linker `setup` installed, for
//! one architecture's `struct pt_regs` (`--cfg bpf_target_arch`).
use std::{env, process::Command};

use anyhow::{Context, Result};

use crate::{arch::Arch, setup, stack_budget, util};

/// Builds into `<ebpf target dir>/bpfel-unknown-none/release/tracer`, the
/// path `tracer/build.rs` embeds the object from.
/// Fails when a program's call chain is over the stack budget that every
/// kernel users run enforces ([`stack_budget`]).
pub(crate) fn build_ebpf(arch: Arch) -> Result<()> {
    util::run(&mut ebpf_cargo("build", arch)?)?;
    let object = object_path(arch);
    let elf = std::fs::read(&object).with_context(|| format!("read {}", object.display()))?;
    stack_budget::check(&elf)
}

/// The object `build_ebpf` writes.
pub(crate) fn object_path(arch: Arch) -> std::path::PathBuf {
    arch.ebpf_target_dir()
        .join("bpfel-unknown-none/release/tracer")
}

/// `cargo +nightly <subcommand> --release --target bpfel-unknown-none -Z
/// build-std=core` in `tracer-ebpf/`, with our bpf-linker first on `PATH`.
pub(crate) fn ebpf_cargo(subcommand: &str, arch: Arch) -> Result<Command> {
    let linker_dir = setup::bpf_linker_bin_dir()?;
    let path = env::join_paths(
        std::iter::once(linker_dir).chain(env::var_os("PATH").iter().flat_map(env::split_paths)),
    )?;
    let target_arch = format!("bpf_target_arch=\"{}\"", arch.name());
    let rustflags = [
        "--cfg",
        &target_arch,
        "-C",
        "debuginfo=2",
        "-C",
        "link-arg=--btf",
    ];
    let mut cmd = util::cargo();
    cmd.current_dir(util::repo_root().join("tracer-ebpf"))
        .env("PATH", path)
        .env("CARGO_ENCODED_RUSTFLAGS", rustflags.join("\x1f"))
        .args([
            "+nightly",
            subcommand,
            "--release",
            "--target",
            "bpfel-unknown-none",
            "-Z",
            "build-std=core",
        ])
        .arg("--target-dir")
        .arg(arch.ebpf_target_dir());
    Ok(cmd)
}
