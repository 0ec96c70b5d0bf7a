//! `cargo xtask`: the project's build, run, test and benchmark entry points.
use std::{path::PathBuf, process::Command};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the eBPF programs (nightly, bpfel-unknown-none).
    BuildEbpf,
    /// Build the eBPF programs and sdtrace (release).
    Build,
    /// Build what is stale, then run sdtrace as root with the given arguments.
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("spawn {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

fn build_ebpf() -> Result<()> {
    let root = root();
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root.join("tracer-ebpf"))
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTC")
        .env_remove("RUSTC_WRAPPER")
        .env(
            "CARGO_ENCODED_RUSTFLAGS",
            [
                "--cfg",
                "bpf_target_arch=\"x86_64\"",
                "-C",
                "debuginfo=2",
                "-C",
                "link-arg=--btf",
            ]
            .join("\x1f"),
        )
        .args([
            "+nightly",
            "build",
            "--release",
            "--target",
            "bpfel-unknown-none",
            "-Z",
            "build-std=core",
            "--target-dir",
        ])
        .arg(root.join("target/ebpf"));
    run(&mut cmd)
}

fn build() -> Result<()> {
    build_ebpf()?;
    run(Command::new("cargo")
        .current_dir(root())
        .args(["build", "--release", "-p", "tracer"]))
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::BuildEbpf => build_ebpf(),
        Cmd::Build => build(),
        Cmd::Run { args } => {
            build()?;
            let bin = root().join("target/release/sdtrace");
            run(Command::new(bin).args(args))
        }
    }
}
