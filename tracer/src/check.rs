//! `sdtrace check`: whether sdtrace runs on this kernel, and at what cost.
//! Loads and attaches every program (the entry hook included), prints the
//! load report, and detaches. The kernel matrix runs it on every kernel.

use std::process::ExitCode;

use crate::capture::{Capture, CaptureOptions, KernelFilter};
use crate::cli::CheckCli;

pub fn main(cli: &CheckCli) -> anyhow::Result<ExitCode> {
    let opts = CaptureOptions {
        buffer_size: cli.buffer_size,
        snaplen: 0,
        latency: true,
        filter: KernelFilter::default(),
        hook: cli.syscall_hook,
        kernel_paths: true,
    };
    let capture = Capture::start(&opts)?;
    if cli.json {
        println!("{}", serde_json::to_string(&capture.report)?);
    } else {
        print!("{}", capture.report.table());
    }
    Ok(ExitCode::SUCCESS)
}
