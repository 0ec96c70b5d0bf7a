//! `cargo xtask`: the project's setup, build, run, test and benchmark entry
//! points, one module per command.
mod arch;
mod bench;
mod build;
mod build_ebpf;
mod docker;
mod fuzz;
mod image;
mod kernels;
mod manuals;
mod oci;
mod run;
mod setup;
mod stack_budget;
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
    /// against nightly's libLLVM, cargo-fuzz, and the Debian packages the tests
    /// and bench use.
    Setup,
    /// Build the eBPF programs (nightly, bpfel-unknown-none).
    BuildEbpf {
        /// The architecture whose registers and syscall ABI the programs read.
        #[arg(long, visible_alias = "arch", value_enum, default_value_t = arch::Arch::host())]
        target: arch::Arch,
    },
    /// Build the eBPF programs and sdtrace (release), and install its man
    /// pages and shell completions (as root). `--target aarch64` (or `--arch
    /// arm64`) cross-compiles for arm64 into target/aarch64-unknown-linux-gnu/.
    Build {
        #[arg(long, visible_alias = "arch", value_enum, default_value_t = arch::Arch::host())]
        target: arch::Arch,
    },
    /// Build sdtrace (release) for x86_64 and arm64 and make each a Docker
    /// image in the local engine (`sdtrace:<version>-amd64`, `-arm64`; this
    /// machine's also `sdtrace:<version>`): the binary, its shared libraries
    /// and the loader over an empty root, entrypoint sdtrace; and both under
    /// the one name in an OCI image index, target/image/sdtrace-<version>.oci.tar.
    /// deploy/40-daemonset.yaml runs this tag; `kind load docker-image
    /// sdtrace:<version>` puts it on kind's nodes. No registry is involved.
    Image,
    /// Set up, build what is stale, then run sdtrace as root with the given arguments.
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Set up, build, run unit and end-to-end tests (release), the kernel
    /// matrix (`cargo xtask kernels`), the kind cluster test (tests/kind/run.sh;
    /// skipped when kind is not installed), the fuzz targets for a bounded time
    /// (under CI=true or with --fuzz), then fmt and clippy.
    Test {
        /// Skip `cargo fmt --check` and `cargo clippy`.
        #[arg(long)]
        no_lint: bool,
        /// Skip the kernel matrix (never skipped under CI=true).
        #[arg(long)]
        no_kernels: bool,
        /// Run every fuzz target for --fuzz-seconds each (always done under CI=true).
        #[arg(long)]
        fuzz: bool,
        /// How long each fuzz target runs.
        #[arg(long, default_value_t = fuzz::DEFAULT_SECONDS)]
        fuzz_seconds: u64,
        /// Passed to the test binaries (e.g. a test name filter).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Set up, then run fuzz targets (all, or those named) for a while each.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 300)]
        seconds: u64,
        targets: Vec<String>,
    },
    /// Measure the overhead sdtrace, strace, perf trace and bpftrace add to a syscall loop.
    Bench(bench::Options),
    /// Build sdtrace (x86_64 and arm64), then boot Debian's 5.10, 6.1, 6.12 and
    /// 6.12-rt kernels and the arm64 6.1 and 6.12 under qemu with it, check a
    /// smoke capture on each and on this machine's kernel, and read each
    /// architecture's capture file with the other's sdtrace.
    Kernels(kernels::Options),
}

fn main() -> Result<()> {
    restore_interrupt();
    match Cli::parse().cmd {
        Cmd::Setup => setup::setup(),
        Cmd::BuildEbpf { target } => setup::setup().and_then(|()| build_ebpf::build_ebpf(target)),
        Cmd::Build { target } => setup::setup().and_then(|()| build::build_for(target)),
        Cmd::Image => image::image(),
        Cmd::Run { args } => run::run(&args),
        Cmd::Test {
            no_lint,
            no_kernels,
            fuzz,
            fuzz_seconds,
            args,
        } => test::test(&test::Options {
            lint: !no_lint,
            kernels: !no_kernels || util::in_ci(),
            fuzz_seconds: (fuzz || util::in_ci()).then_some(fuzz_seconds),
            cargo_test_args: args,
        }),
        Cmd::Fuzz { seconds, targets } => {
            setup::setup().and_then(|()| fuzz::fuzz(&targets, seconds))
        }
        Cmd::Bench(opts) => bench::bench(&opts),
        Cmd::Kernels(opts) => setup::setup()
            .and_then(|()| build::build())
            .and_then(|()| kernels::kernels(&opts)),
    }
}

/// Puts SIGINT and SIGQUIT back to their default for xtask and everything
/// it starts. A script that runs `cargo xtask test &` starts it with both
/// ignored, and a shell inherits an ignored signal it cannot trap: the
/// tests that stop a program (or a stand-in shell script) with SIGINT
/// then waited for an exit that never came.
fn restore_interrupt() {
    for signal in [libc::SIGINT, libc::SIGQUIT] {
        // SAFETY: SIG_DFL for a signal xtask installs no handler for.
        unsafe { libc::signal(signal, libc::SIG_DFL) };
    }
}
