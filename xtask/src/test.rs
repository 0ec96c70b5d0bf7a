//! `cargo xtask test`: set up, build, run every unit and end-to-end test in
//! release mode against the freshly built sdtrace, the kernel matrix
//! (`cargo xtask kernels`), the kind cluster test (tests/kind/run.sh,
//! skipped without kind), the fuzz targets for a bounded time (CI, or
//! `--fuzz`), then the lints.
//!
//! `cargo fmt --check` and `cargo clippy -D warnings` (the workspace, and the
//! eBPF crate for its own target) fail the run: both depend
//! only on the source and the image's pinned stable toolchain, so a failure is
//! something the project can fix. What it cannot fix is a toolchain installed
//! without the rustfmt or clippy component and no network to add it; that case
//! is reported and skipped instead of failing CI.
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{arch::Arch, build::build, build_ebpf::ebpf_cargo, docker, fuzz, setup::setup, util};

pub(crate) struct Options {
    pub lint: bool,
    /// Run the kernel matrix.
    pub kernels: bool,
    /// Run every fuzz target for this many seconds.
    pub fuzz_seconds: Option<u64>,
    pub cargo_test_args: Vec<String>,
}

pub(crate) fn test(opts: &Options) -> Result<()> {
    setup()?;
    build()?;
    let mut failed = Vec::new();
    // The container tests need a running engine; without one they skip
    // (or, under CI=true, fail) and say why.
    if let Err(e) = docker::ensure_dockerd() {
        eprintln!("xtask: {e:#}");
    }

    let mut cargo_test = util::cargo();
    cargo_test
        .env("SDTRACE_BIN", util::sdtrace_bin())
        .env("SDTRACE_DEBS", crate::setup::debs_dir()?)
        .args(["test", "--workspace", "--release", "--no-fail-fast"]);
    if !opts.cargo_test_args.is_empty() {
        cargo_test.arg("--").args(&opts.cargo_test_args);
    }
    if let Err(e) = run_tests(&mut cargo_test) {
        failed.push(format!("tests: {e:#}"));
    }

    // After the cargo tests, so the guests' emulation does not slow the
    // timing-sensitive e2e tests: the kernel matrix.
    if opts.kernels {
        if let Err(e) = crate::kernels::kernels(&crate::kernels::Options::default_run()) {
            failed.push(format!("kernel matrix: {e:#}"));
        }
    } else {
        eprintln!("xtask: the kernel matrix was skipped (--no-kernels)");
    }

    // After the cargo tests: the DaemonSet on a kind cluster. The script
    // skips (one line, exit 0) where kind is not installed.
    if let Err(e) = kind_tests() {
        failed.push(format!("kind: {e:#}"));
    }

    if let Some(seconds) = opts.fuzz_seconds {
        if let Err(e) = fuzz::fuzz(&[], seconds) {
            failed.push(format!("fuzzing: {e:#}"));
        }
    }

    if opts.lint {
        if component_available("rustfmt", &["fmt", "--version"]) {
            if let Err(e) = util::run(util::cargo().args(["fmt", "--all", "--check"])) {
                failed.push(format!("formatting (run `cargo fmt --all`): {e}"));
            }
            // The eBPF crate is outside the workspace, which `--all` does not
            // leave; the same stable rustfmt checks it.
            let ebpf = ["--manifest-path", "tracer-ebpf/Cargo.toml"];
            if let Err(e) = util::run(util::cargo().args(["fmt", "--check"]).args(ebpf)) {
                failed.push(format!(
                    "formatting of tracer-ebpf (run `cargo fmt --manifest-path tracer-ebpf/Cargo.toml`): {e}"
                ));
            }
        }
        if component_available("clippy", &["clippy", "--version"]) {
            let mut clippy = util::cargo();
            clippy.args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]);
            if let Err(e) = util::run(&mut clippy) {
                failed.push(format!("clippy: {e}"));
            }
            // The eBPF crate is outside the workspace: linted on its own, for
            // its real target (panic=abort comes from its profile). Map calls
            // take references on purpose (they also compile
            // on aya-ebpf 0.3), which this lint would flag at every call.
            // Once per architecture: each compiles its own `pt_regs` reader.
            for arch in [Arch::X86_64, Arch::Aarch64] {
                let mut ebpf = ebpf_cargo("clippy", arch)?;
                ebpf.args([
                    "--",
                    "-D",
                    "warnings",
                    "-A",
                    "clippy::needless_borrows_for_generic_args",
                ]);
                if let Err(e) = util::run(&mut ebpf) {
                    failed.push(format!("clippy (tracer-ebpf, {}): {e}", arch.name()));
                }
            }
        }
    }

    if failed.is_empty() {
        eprintln!("xtask: all tests and checks passed");
        return Ok(());
    }
    bail!(
        "{} step(s) failed:\n  {}",
        failed.len(),
        failed.join("\n  ")
    )
}

/// tests/kind/run.sh against the sdtrace just built; its output passes through.
fn kind_tests() -> Result<()> {
    let script = util::repo_root().join("tests/kind/run.sh");
    util::run(
        Command::new("bash")
            .arg(&script)
            .current_dir(util::repo_root())
            .env("SDTRACE_BIN", util::sdtrace_bin())
            .env("CARGO_TARGET_DIR", util::target_dir()),
    )
}

/// Runs the test binaries, passing their output through, and on failure
/// repeats each failing test's report at the end: CI shows the tail of a
/// long log, where the reason must be.
fn run_tests(cmd: &mut Command) -> Result<()> {
    use std::io::{BufRead, BufReader, Write};
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("cannot start cargo test")?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut reports = Vec::new();
    // A libtest failure report runs from its `---- name stdout ----` line
    // to the `failures:` list that follows the reports.
    let mut in_report = false;
    let mut in_backtrace = false;
    let mut out = std::io::stdout().lock();
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading cargo test's output")?;
        let _ = writeln!(out, "{line}");
        if line.starts_with("---- ") {
            in_report = true;
        } else if line == "failures:" {
            in_report = false;
        }
        // Frames are indented; the repeat keeps the messages only.
        in_backtrace = (in_backtrace && line.starts_with(' ')) || line == "stack backtrace:";
        if in_report && !in_backtrace {
            reports.push(line);
        }
    }
    let status = child.wait().context("waiting for cargo test")?;
    if status.success() {
        return Ok(());
    }
    let reports: Vec<String> = reports.into_iter().take(400).collect();
    bail!("cargo test failed: {status}\n{}", reports.join("\n"))
}

/// Whether `cargo <probe>` works, adding the rustup component once if not.
fn component_available(component: &str, probe: &[&str]) -> bool {
    let works = || {
        util::cargo()
            .args(probe)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if works() {
        return true;
    }
    let added = Command::new("rustup")
        .args(["component", "add", component])
        .status()
        .is_ok_and(|s| s.success());
    if added && works() {
        return true;
    }
    eprintln!("xtask: WARNING: the {component} component is not installed and cannot be added; skipping that check");
    false
}
