//! `cargo xtask`: the project's setup, build, run, test and benchmark entry
//! points, one module per command.
mod bench;
mod build;
mod build_ebpf;
mod run;
mod setup;
mod test;
mod util;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install what building and testing need: nightly rust-src, bpf-linker built
    /// against nightly's libLLVM, and the Debian packages the tests and bench use.
    Setup,
    /// Build the eBPF programs (nightly, bpfel-unknown-none).
    BuildEbpf,
    /// Build the eBPF programs and sdtrace (release).
    Build,
    /// Set up, build what is stale, then run sdtrace as root with the given arguments.
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Set up, build, run unit and end-to-end tests (release), then fmt and clippy.
    Test {
        /// Skip `cargo fmt --check` and `cargo clippy`.
        #[arg(long)]
        no_lint: bool,
        /// Passed to the test binaries (e.g. a test name filter).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Measure the overhead sdtrace, strace, perf trace and bpftrace add to a syscall loop.
    Bench(bench::Options),
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Setup => setup::setup(),
        Cmd::BuildEbpf => setup::setup().and_then(|()| build_ebpf::build_ebpf()),
        Cmd::Build => setup::setup().and_then(|()| build::build()),
        Cmd::Run { args } => run::run(&args),
        Cmd::Test { no_lint, args } => test::test(&test::Options {
            lint: !no_lint,
            cargo_test_args: args,
        }),
        Cmd::Bench(opts) => bench::bench(&opts),
    }
}
