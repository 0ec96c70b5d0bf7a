//! How `top`, `spy` and `echo` run: a sink fed live from the kernel or
//! from a capture file (`-r`), through the same pipeline `sdtrace` uses.

use std::path::PathBuf;
use std::time::Duration;

use crate::capture::{CaptureOptions, KernelFilter, SyscallHook};
use crate::cli::SummaryArgs;
use crate::filter::Filter;
use crate::output;
use crate::output::info::BufferMode;
use crate::run::{self, End, Options, Sink};
use crate::session;

/// Where a mode's events come from.
pub struct Source {
    /// `-r`: a capture file instead of the kernel.
    pub read: Option<PathBuf>,
    pub capture: CaptureOptions,
    pub cri: Option<PathBuf>,
}

/// Runs `sink` over the events matching `filter` until the file ends, or
/// live until Ctrl-C or `-M`; then lets it write what it holds.
pub fn run(
    source: &Source,
    filter: Option<Filter>,
    opts: &Options,
    sink: Box<dyn Sink>,
) -> anyhow::Result<()> {
    if let Some(path) = &source.read {
        let (mut reader, mut pipe) = session::open_capture(path, filter, opts)?;
        pipe.set_sink(sink);
        let end = run::replay(&mut reader, &mut pipe, opts)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        return finish(&mut pipe, &end);
    }
    let mut live = session::start(&source.capture, false, filter, opts, source.cri.as_ref())?;
    live.pipe.set_sink(sink);
    let end = live.run(opts)?;
    finish(&mut live.pipe, &end)?;
    let pipe = &mut live.pipe;
    pipe.stats.kernel_misses = live.capture.kernel_misses();
    eprintln!("{}", pipe.stats.line(&live.capture.drops_per_cpu()));
    Ok(())
}

/// The sink's last words, unless nobody reads them any more.
fn finish(pipe: &mut run::Pipeline, end: &End) -> anyhow::Result<()> {
    if *end == End::OutputClosed {
        return Ok(());
    }
    match pipe.finish_sink().and_then(|()| pipe.flush()) {
        Err(e) if !output::is_broken_pipe(&e) => Err(e.into()),
        _ => Ok(()),
    }
}

/// The run's options from the command line; `latency`: events carry how
/// long their syscall took (the entry hook is attached).
#[must_use]
pub fn options(args: &SummaryArgs, latency: bool) -> Options {
    Options {
        format: output::Format::Text,
        count: None,
        duration: args.duration.map(Duration::from_secs_f64),
        stats_interval: (args.stats_interval > 0).then(|| Duration::from_secs(args.stats_interval)),
        latency,
        buffers: BufferMode::Dots,
    }
}

/// Where the events come from, per the command line; `snaplen`: bytes of
/// each I/O buffer to capture.
#[must_use]
pub fn source(args: &SummaryArgs, snaplen: u32, latency: bool) -> Source {
    Source {
        read: args.read.clone(),
        capture: CaptureOptions {
            buffer_size: args.live.buffer_size,
            snaplen,
            latency,
            filter: KernelFilter::default(),
            hook: SyscallHook::Auto,
            kernel_paths: false,
        },
        cri: args.live.cri.clone(),
    }
}
