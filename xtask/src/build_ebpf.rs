//! `cargo xtask build-ebpf`: the eBPF programs, built with nightly for
//! `bpfel-unknown-none` and linked by the bpf-linker `setup` installed.
use std::{env, process::Command};

use anyhow::{Context, Result};

use crate::{setup, stack_budget, util};

/// Builds into `target/ebpf/bpfel-unknown-none/release/tracer`, the path
/// `tracer/build.rs` embeds the object from.
/// Fails when a program's call chain is over the stack budget that every
/// kernel users run enforces ([`stack_budget`]).
pub(crate) fn build_ebpf() -> Result<()> {
    util::run(&mut ebpf_cargo("build")?)?;
    let object = object_path();
    let elf = std::fs::read(&object).with_context(|| format!("read {}", object.display()))?;
    stack_budget::check(&elf)
}

/// The object `build_ebpf` writes.
pub(crate) fn object_path() -> std::path::PathBuf {
    util::target_dir().join("ebpf/bpfel-unknown-none/release/tracer")
}

/// `cargo +nightly <subcommand> --release --target bpfel-unknown-none -Z
/// build-std=core` in `tracer-ebpf/`, with our bpf-linker first on `PATH`.
pub(crate) fn ebpf_cargo(subcommand: &str) -> Result<Command> {
    let linker_dir = setup::bpf_linker_bin_dir()?;
    let path = env::join_paths(
        std::iter::once(linker_dir).chain(env::var_os("PATH").iter().flat_map(env::split_paths)),
    )?;
    let rustflags = [
        "--cfg",
        "bpf_target_arch=\"x86_64\"",
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
        .arg(util::target_dir().join("ebpf"));
    Ok(cmd)
}
