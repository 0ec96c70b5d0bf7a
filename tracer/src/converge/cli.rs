//! `sdtrace converge`'s command line, and the run it makes.

use std::process::ExitCode;

use crate::capture::{CaptureOptions, KernelFilter, SyscallHook};
use crate::cli::ConvergeCli;
use crate::session;
use crate::sink_mode;

use super::engine::Selection;
use super::{extract, Converger};

/// Only the syscalls the mode reads are captured; the filter (`-c`) decides
/// which of them count, process lifecycles always do.
pub fn main(cli: &ConvergeCli) -> anyhow::Result<ExitCode> {
    if cli.reach.is_remote() {
        return crate::remote::converge(cli);
    }
    let filter = session::parse_filter(cli.common.filter.as_deref())?;
    let mut opts = sink_mode::options(&cli.common, false);
    opts.count = cli.count;
    let source = sink_mode::source_with(
        &cli.common,
        CaptureOptions {
            buffer_size: cli.common.live.buffer_size,
            snaplen: cli.snaplen,
            // A change's entry time: a daemon can hear of it (inotify) and
            // react before its syscall returns.
            latency: true,
            filter: KernelFilter {
                syscalls: Some(extract::syscalls()),
                ..KernelFilter::default()
            },
            hook: SyscallHook::Auto,
            // Files named by the kernel's dentry walk: an open through a
            // dirfd or a symlink is its real path, and a write, fchmod or
            // fsync on a file renamed since it was opened names where it is.
            kernel_paths: true,
        },
    );
    let selection = Selection {
        pids: cli.pids.clone(),
        names: cli.daemons.clone(),
    };
    sink_mode::run(
        source,
        filter,
        opts,
        Box::new(Converger::new(selection, cli.json)),
    )?;
    Ok(ExitCode::SUCCESS)
}
