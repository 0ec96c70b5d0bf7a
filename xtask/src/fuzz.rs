//! The fuzz targets in `fuzz/` (cargo-fuzz, libFuzzer, nightly), each run for
//! a bounded time: by `cargo xtask test` under CI or with `--fuzz`, and by
//! `cargo xtask fuzz` for longer sessions.
//!
//! Targets are whatever `cargo fuzz list` reports, so a new `[[bin]]` in
//! `fuzz/Cargo.toml` is picked up without touching xtask. Each target reads
//! the seeds in `fuzz/seeds/<target>/` and the dictionary
//! `fuzz/dict/<target>.dict` when they exist, and grows its corpus under the
//! build directory, so runs build on each other without touching the tree. A
//! crash fails the run; libFuzzer saves the input under `fuzz/artifacts/`.
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{setup::cargo_fuzz_bin_dir, util};

/// How long each target runs under `cargo xtask test`.
pub(crate) const DEFAULT_SECONDS: u64 = 20;

/// `cargo +nightly fuzz <subcommand>`, run from the repository root with the
/// cargo-fuzz that setup installed first on `PATH`.
fn cargo_fuzz(subcommand: &str) -> Result<Command> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(
        std::iter::once(cargo_fuzz_bin_dir()?).chain(std::env::split_paths(&path)),
    )?;
    let mut cmd = util::cargo();
    cmd.env("PATH", path)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .args(["+nightly", "fuzz", subcommand]);
    Ok(cmd)
}

/// Every target in `fuzz/Cargo.toml`.
pub(crate) fn targets() -> Result<Vec<String>> {
    let out = util::output(&mut cargo_fuzz("list")?)?;
    Ok(out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Runs each of `targets` (all of them when empty) for `seconds`; fails
/// when one crashes, with the name of every target that did.
pub(crate) fn fuzz(targets_wanted: &[String], seconds: u64) -> Result<()> {
    let all = targets()?;
    let chosen: Vec<&String> = if targets_wanted.is_empty() {
        all.iter().collect()
    } else {
        for t in targets_wanted {
            if !all.contains(t) {
                bail!("no fuzz target `{t}`; the targets are {all:?}");
            }
        }
        targets_wanted.iter().collect()
    };
    if chosen.is_empty() {
        bail!("`cargo fuzz list` found no fuzz target in fuzz/Cargo.toml");
    }
    let root = util::repo_root();
    let build_dir = util::target_dir().join("fuzz");
    let mut crashed = Vec::new();
    for target in chosen {
        let corpus = build_dir.join("corpus").join(target);
        std::fs::create_dir_all(&corpus).with_context(|| format!("create {}", corpus.display()))?;
        let seeds = root.join("fuzz/seeds").join(target);
        let dict = root.join("fuzz/dict").join(format!("{target}.dict"));
        let mut cmd = cargo_fuzz("run")?;
        // Release with debug assertions and overflow checks (cargo-fuzz's
        // default), under AddressSanitizer.
        cmd.arg("--target-dir")
            .arg(&build_dir)
            .arg(target)
            .arg(&corpus);
        if seeds.is_dir() {
            cmd.arg(&seeds);
        }
        cmd.args([
            "--",
            &format!("-max_total_time={seconds}"),
            "-print_final_stats=1",
        ]);
        if dict.is_file() {
            cmd.arg(format!("-dict={}", dict.display()));
        }
        eprintln!("xtask: fuzzing {target} for {seconds} s");
        if let Err(e) = util::run(&mut cmd) {
            eprintln!("xtask: fuzz target {target} failed: {e}");
            crashed.push(target.clone());
        }
    }
    if crashed.is_empty() {
        return Ok(());
    }
    bail!(
        "fuzz target(s) {} crashed; the inputs are under fuzz/artifacts/",
        crashed.join(", ")
    )
}
