//! How the modes that are one sink (`top`, `spy`, `echo`, `converge`) run:
//! the sink fed live from the kernel, from a capture file (`-r`) or from
//! agents, through the session every mode uses, as their common command
//! line ([`SummaryArgs`]) asks.

use std::time::Duration;

use crate::capture::{CaptureOptions, KernelFilter, SyscallHook};
use crate::cli::{Reach, SummaryArgs};
use crate::filter::Filter;
use crate::session::Options;
use crate::session::{Agents, Plan, Session, Source};
use crate::sink::Sink;

/// Runs `sink` over the events matching `filter` until the file ends, or
/// live until Ctrl-C or `-M`; then lets it write what it holds, and says
/// how the live capture did.
pub fn run(
    source: Source,
    filter: Option<Filter>,
    opts: Options,
    sink: Box<dyn Sink>,
) -> anyhow::Result<()> {
    let report = Session::open(Plan::new(source, filter, opts))?.run(Some(sink))?;
    if report.live {
        eprintln!("{}", report.stats_line());
    }
    report.lost_agent()
}

/// The run's options from the command line; `latency`: events carry how
/// long their syscall took (the entry hook is attached).
#[must_use]
pub fn options(args: &SummaryArgs, latency: bool) -> Options {
    Options {
        duration: args.duration.map(Duration::from_secs_f64),
        stats_interval: (args.stats_interval > 0).then(|| Duration::from_secs(args.stats_interval)),
        latency,
        ..Options::default()
    }
}

/// Where the events come from, per the command line (`-r`, or the kernel
/// with every syscall); `snaplen`: bytes of each I/O buffer to capture.
#[must_use]
pub fn source(args: &SummaryArgs, snaplen: u32, latency: bool) -> Source {
    source_with(
        args,
        CaptureOptions {
            buffer_size: args.live.buffer_size,
            snaplen,
            latency,
            filter: KernelFilter::default(),
            hook: SyscallHook::Auto,
            kernel_paths: false,
        },
    )
}

/// `-r`'s file, or the kernel with `capture`.
#[must_use]
pub fn source_with(args: &SummaryArgs, capture: CaptureOptions) -> Source {
    match &args.read {
        Some(path) => Source::File(path.clone()),
        None => Source::Live {
            capture,
            sockets: args.live.sockets(),
        },
    }
}

/// The agents `reach` names (their records, filtered by `args`' filter
/// there already), else [`source`].
pub fn source_or_agents(
    args: &SummaryArgs,
    reach: &Reach,
    snaplen: u32,
    latency: bool,
) -> anyhow::Result<Source> {
    if !reach.is_remote() {
        return Ok(source(args, snaplen, latency));
    }
    if args.read.is_some() {
        anyhow::bail!("--agent and --cluster read the agents' events: -r reads a capture file");
    }
    Ok(Source::Agents(Agents {
        reach: reach.clone(),
        kubeconfig: None,
        filter: args.filter.clone(),
    }))
}
