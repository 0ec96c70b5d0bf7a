//! `sdtrace ui`'s run: the capture loop feeds the aggregation, the UI
//! thread draws what it publishes, and the two meet only through the
//! [`link`]. The run ends when the view is closed (`q`), or on SIGINT or
//! SIGTERM; the terminal is given back before the statistics are printed.

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use anyhow::Context;
use tokio::signal::unix::{signal, SignalKind};

use crate::capture::{CaptureOptions, KernelFilter, SyscallHook};
use crate::cli::UiCli;
use crate::filter::Filter;
use crate::output::stats::Stats;
use crate::scap::reader::ScapReader;
use crate::session::Options;
use crate::session::{self, Agents, Plan, Session, Source};
use crate::sink::Sink;
use crate::summary::link::{link, Command, LoopEnd, UiEnd};
use crate::summary::table::View;

use super::app::App;
use super::screen::{self, Screen};

/// How often a finished capture file's relay looks for the UI's next view.
const RELAY_POLL: Duration = Duration::from_millis(20);

pub fn main(cli: &UiCli) -> anyhow::Result<ExitCode> {
    // The filter is refused before anything is loaded, with its caret.
    session::parse_filter(cli.filter.as_deref())?;
    let filter = cli.filter.clone().filter(|f| !f.trim().is_empty());
    let view = View::from_name(&cli.view).with_context(|| {
        let names: Vec<&str> = View::ALL.iter().map(|v| v.name()).collect();
        format!("ui: no view `{}`; views: {}", cli.view, names.join(", "))
    })?;
    let app = App::new(view, filter.clone());
    // Nothing may write over the screen (no statistics line until the
    // end); the syscalls view shows latencies.
    let opts = Options {
        latency: true,
        ..Options::default()
    };
    match &cli.read {
        Some(_) if cli.reach.is_remote() => anyhow::bail!(
            "ui: --agent and --cluster read the agents' events: -r reads a capture file"
        ),
        Some(path) => replay(cli, path, app, &opts),
        None => live(cli, app, opts),
    }
}

/// The kernel's events, or the agents' (all of them: the view's filter
/// changes as the user drills).
fn live_source(cli: &UiCli) -> Source {
    if cli.reach.is_remote() {
        return Source::Agents(Agents {
            reach: cli.reach.clone(),
            ..Agents::default()
        });
    }
    let capture = CaptureOptions {
        buffer_size: cli.live.buffer_size,
        snaplen: cli.snaplen,
        latency: true,
        // The filter changes while the view is up: the kernel sends all.
        filter: KernelFilter::default(),
        hook: SyscallHook::Auto,
        kernel_paths: false,
    };
    Source::Live {
        capture,
        sockets: cli.live.sockets(),
    }
}

fn live(cli: &UiCli, app: App, opts: Options) -> anyhow::Result<ExitCode> {
    // The aggregation filters (its filter changes as the user drills).
    let session = Session::open(Plan::new(live_source(cli), None, opts))?;
    let (ui_end, loop_end) = link();
    let sink = aggregation(loop_end, app.view(), first_filter(&app));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Caught (ending the run, which gives the terminal back) from before
    // the terminal is taken: tokio keeps a handler once it is installed.
    runtime.block_on(async {
        drop(signal(SignalKind::interrupt())?);
        signal(SignalKind::terminate()).map(drop)
    })?;
    let (report, ui) = with_screen(cli.log.as_deref(), ui_end, app, || session.run(Some(sink)))?;
    let report = report?;
    eprintln!("{}", report.stats_line());
    ui?;
    report.lost_agent()?;
    Ok(ExitCode::SUCCESS)
}

/// `-r`: the file is read once per view asked for, each time into a
/// fresh aggregation, and its last snapshot relayed to the UI: a file has
/// no "from now on", so a drill-down's numbers are the whole file's.
fn replay(cli: &UiCli, path: &Path, app: App, opts: &Options) -> anyhow::Result<ExitCode> {
    let name = path.display().to_string();
    // Opened once before the terminal is taken, so a bad path is said plainly.
    ScapReader::open(path).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let (ui_end, relay_end) = link();
    let mut stats = Stats::default();
    let (result, ui) = with_screen(cli.log.as_deref(), ui_end, app.clone(), || {
        relay(path, &relay_end, &app, opts, &mut stats)
    })?;
    if stats.events > 0 {
        eprintln!("{}", stats.line(&[]));
    }
    ui?;
    result.map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    Ok(ExitCode::SUCCESS)
}

/// Replays `path` into the view the UI asks for, until the UI is gone.
fn relay(
    path: &Path,
    ui: &LoopEnd,
    app: &App,
    opts: &Options,
    stats: &mut Stats,
) -> anyhow::Result<()> {
    let mut want = (app.view(), app.combined_filter());
    loop {
        let (agg_ui, agg_loop) = link();
        let filter = want.1.as_deref().map(Filter::parse).transpose();
        // The UI checked it; a clause the aggregation wrote is trusted.
        let filter = filter.map_err(|e| anyhow::anyhow!("{e}"))?;
        let session = Session::open(Plan::new(Source::File(path.to_owned()), None, opts.clone()))?;
        let report = session.run(Some(aggregation(agg_loop, want.0, filter)))?;
        *stats = report.stats;
        let last = agg_ui.take();
        if let Some(snapshot) = &last {
            ui.publish(snapshot.clone());
        }
        // Until the UI asks for something else (pausing changes nothing
        // once the file is read).
        loop {
            match ui.poll() {
                Err(()) => return Ok(()),
                Ok(Some(Command::Show { view, filter }))
                    if (view, &filter) != (want.0, &want.1) =>
                {
                    want = (view, filter);
                    break;
                }
                // The same question again (the UI dropped its answer when
                // it asked): the same answer.
                Ok(Some(Command::Show { .. })) => {
                    if let Some(snapshot) = &last {
                        ui.publish(snapshot.clone());
                    }
                }
                Ok(Some(Command::Pause(_))) => {}
                Ok(None) => thread::sleep(RELAY_POLL),
            }
        }
    }
}

/// Runs `work` with the UI thread drawing on the terminal; gives the
/// terminal back (and stops the UI) when `work` returns, whichever ended
/// first. Returns both results: the UI's error is said after the terminal
/// is restored.
fn with_screen<T>(
    log: Option<&Path>,
    ui_end: UiEnd,
    app: App,
    work: impl FnOnce() -> T,
) -> anyhow::Result<(T, anyhow::Result<()>)> {
    let screen = Screen::enter(log).context("ui: cannot take the terminal")?;
    let stop = AtomicBool::new(false);
    let (result, ui) = thread::scope(|scope| {
        let ui = thread::Builder::new()
            .name("sdtrace-ui".into())
            .spawn_scoped(scope, || screen::run(ui_end, app, &stop))
            .expect("spawning the UI thread");
        let result = work();
        stop.store(true, Ordering::Relaxed);
        (result, ui.join())
    });
    drop(screen);
    let ui = match ui {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(anyhow::anyhow!("ui: the terminal failed: {e}")),
        Err(_) => Err(anyhow::anyhow!(
            "ui: the live view panicked (message above)"
        )),
    };
    Ok((result, ui))
}

/// The first view's filter, parsed (the command line's was checked).
fn first_filter(app: &App) -> Option<Filter> {
    app.combined_filter().and_then(|f| Filter::parse(&f).ok())
}

/// The aggregation behind the view.
fn aggregation(link: LoopEnd, view: View, filter: Option<Filter>) -> Box<dyn Sink> {
    Box::new(crate::summary::live::LiveAggregator::new(
        link, view, filter,
    ))
}
