//! `cargo xtask bench`: what tracing costs a process making cheap syscalls.
//!
//! The workload (`syscall-loop` from the tests crate) times its own loop, so
//! tracer start-up never counts. Each tracer gets a short calibration run, then
//! `--runs` timed runs of as many iterations as fit in about `--seconds` (at
//! most `--iterations`: strace would take minutes for millions of calls); the
//! table shows the median per iteration. Then the drain test: the highest
//! syscall rate sdtrace captures in full (all syscalls) with zero drops.
//!
//! Then the web-server row (`nginx.rs`): requests per second of nginx in a
//! container under `ab`, with and without `sdtrace follow`; and the
//! convergence row (`converge.rs`): how fast a config daemon repairs drifts,
//! with and without `sdtrace converge` watching it. Last, the soak
//! (`soak.rs`): sdtrace and an agent left running for `--soak-minutes`
//! under a held 100 k events/s, their RSS sampled for a slope.
//!
//! sdtrace and bpftrace trace the whole machine, so other load on it shows up
//! in their rows; run on an idle machine for numbers to publish.
mod attach;
mod converge;
mod nginx;
mod soak;
mod tracers;

use std::{fmt::Write as _, fs, path::Path};

use anyhow::Result;
use serde_json::Value;

use crate::{build::build, setup::setup, util};
use tracers::{Sample, Tracer, Workload};

#[derive(clap::Args)]
pub(crate) struct Options {
    /// Syscalls per run at most.
    #[arg(long, default_value_t = 5_000_000)]
    iterations: u64,
    /// Timed runs per tracer; the table shows the median.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Seconds one run should take at most (fewer iterations for slow tracers).
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// The syscall the loop makes: `getppid`, or `read` (1 byte from /dev/zero).
    #[arg(long, default_value = "getppid", value_parser = ["getppid", "read"])]
    workload: String,
    /// Skip the syscall-loop table (every tracer on `syscall-loop`), and with
    /// it the search for the highest drop-free rate.
    #[arg(long)]
    no_loop: bool,
    /// Skip the search for the highest drop-free rate.
    #[arg(long)]
    no_drain: bool,
    /// Skip the nginx row (`sdtrace follow` under `ab`).
    #[arg(long)]
    no_nginx: bool,
    /// Skip the convergence row (`sdtrace converge` watching a daemon).
    #[arg(long)]
    no_converge: bool,
    /// Skip the time-to-attach row.
    #[arg(long)]
    no_attach: bool,
    /// Skip the soak (sdtrace and an agent under a held load, RSS sampled).
    #[arg(long)]
    no_soak: bool,
    /// How long the soak holds its load; shorter for a quick look, though
    /// a slope from a few minutes says little.
    #[arg(long, default_value_t = 30, value_name = "MINUTES",
          value_parser = clap::value_parser!(u32).range(1..))]
    soak_minutes: u32,
}

struct Row {
    tracer: Tracer,
    iterations: u64,
    result: Result<Vec<Sample>, String>,
}

pub(crate) fn bench(opts: &Options) -> Result<()> {
    setup()?;
    build()?;
    util::run(util::cargo().args([
        "build",
        "--release",
        "-p",
        "tests",
        "--bin",
        "syscall-loop",
        "--bin",
        "nginx-image",
        "--bin",
        "minimgmt",
    ]))?;
    let workload_bin = util::target_dir().join("release/syscall-loop");
    let sdtrace = util::sdtrace_bin();
    if !util::is_root() {
        eprintln!("xtask: warning: not root; sdtrace, perf trace and bpftrace rows will fail");
    }
    let foreign = foreign_tracers();
    for t in &foreign {
        eprintln!("xtask: warning: another tracer is running and slows every syscall: {t}");
    }

    let mut rows = Vec::new();
    let loop_tracers = if opts.no_loop {
        &[][..]
    } else {
        &tracers::ALL[..]
    };
    for &tracer in loop_tracers {
        eprintln!("xtask: bench: {}", tracer.label());
        if let Some(why) = tracer.unavailable(&sdtrace) {
            rows.push(Row {
                tracer,
                iterations: 0,
                result: Err(why),
            });
            continue;
        }
        let row = measure(tracer, &sdtrace, &workload_bin, opts);
        if let Err(e) = &row.result {
            eprintln!("xtask: bench: {} failed: {e}", tracer.label());
        }
        rows.push(row);
    }
    let drain =
        if opts.no_loop || opts.no_drain || Tracer::SdtraceAll.unavailable(&sdtrace).is_some() {
            None
        } else {
            Some(drain(&sdtrace, &workload_bin, opts, &rows))
        };

    let web = (!opts.no_nginx).then(|| {
        eprintln!("xtask: bench: nginx under ab, with and without sdtrace follow");
        nginx::measure(&sdtrace, &nginx::image_builder(), opts.runs).map_err(|e| {
            eprintln!("xtask: bench: the nginx row failed: {e:#}");
            format!("{e:#}")
        })
    });

    let daemon = (!opts.no_converge).then(|| {
        eprintln!("xtask: bench: minimgmt repairing drifts, with and without sdtrace converge");
        converge::measure(&sdtrace, opts.runs).map_err(|e| {
            eprintln!("xtask: bench: the convergence row failed: {e:#}");
            format!("{e:#}")
        })
    });

    let attach = (!opts.no_attach).then(|| {
        eprintln!("xtask: bench: time to attach");
        attach::measure(&sdtrace, opts.runs.max(5)).map_err(|e| format!("{e:#}"))
    });

    // Last: the longest, and the one a quick run skips or shortens.
    let soak = (!opts.no_soak).then(|| {
        eprintln!(
            "xtask: bench: soak, {} minutes of sdtrace and an agent under a held load",
            opts.soak_minutes
        );
        soak::measure(&sdtrace, &workload_bin, opts.soak_minutes).map_err(|e| {
            eprintln!("xtask: bench: the soak failed: {e:#}");
            format!("{e:#}")
        })
    });

    let mut report = render(opts, &rows, drain.as_ref(), &foreign);
    if let Some(attach) = &attach {
        attach::render(&mut report, attach);
    }
    if let Some(web) = &web {
        nginx::render(&mut report, web);
    }
    if let Some(daemon) = &daemon {
        converge::render(&mut report, daemon);
    }
    if let Some(soak) = &soak {
        soak::render(&mut report, soak);
    }
    println!("{report}");
    let path = util::target_dir().join("bench.md");
    fs::write(&path, &report)?;
    eprintln!("xtask: bench: written to {}", path.display());
    Ok(())
}

fn measure(tracer: Tracer, sdtrace: &Path, bin: &Path, opts: &Options) -> Row {
    let calibration = (opts.iterations / 250).max(10_000);
    let work = |iterations| Workload {
        bin,
        kind: &opts.workload,
        iterations,
        rate: None,
    };
    let calibrated = tracers::sample(tracer, sdtrace, &[], &work(calibration));
    let iterations = match calibrated {
        Ok(s) => {
            let per_iter = ns_per_iter(s.loop_ns, calibration).max(1.0);
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "a positive count well below 2^53"
            )]
            let fit = (opts.seconds * 1e9 / per_iter) as u64;
            fit.clamp(10_000.min(opts.iterations), opts.iterations)
        }
        Err(e) => {
            return Row {
                tracer,
                iterations: calibration,
                result: Err(format!("{e:#}")),
            }
        }
    };
    let result = (0..opts.runs)
        .map(|_| tracers::sample(tracer, sdtrace, &[], &work(iterations)))
        .collect::<Result<Vec<_>>>()
        .map_err(|e| format!("{e:#}"));
    Row {
        tracer,
        iterations,
        result,
    }
}

/// A section's measurement, or `None` once the first line of why it has
/// none is written under its heading.
fn measured_or_said<'a, T>(out: &mut String, measured: &'a Result<T, String>) -> Option<&'a T> {
    match measured {
        Ok(m) => Some(m),
        Err(why) => {
            let _ = writeln!(
                out,
                "Not measured: {}",
                why.lines().next().unwrap_or_default()
            );
            None
        }
    }
}

#[expect(
    clippy::cast_precision_loss,
    reason = "ns and counts stay far below 2^52"
)]
fn ns_per_iter(ns: u64, iterations: u64) -> f64 {
    ns as f64 / iterations.max(1) as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn stat(stats: Option<&Value>, key: &str) -> Option<u64> {
    stats?.get(key)?.as_u64()
}

/// A paced run and what sdtrace saw of it.
struct DrainStep {
    rate: f64,
    achieved: f64,
    /// Records sdtrace received per second of the loop (its stats' `events`).
    received: Option<f64>,
    dropped: Option<u64>,
}

/// Runs the loop paced at falling rates under sdtrace capturing all syscalls
/// (text output to /dev/null) until a run loses nothing, starting from the
/// unpaced rate the bench just measured.
fn drain(
    sdtrace: &Path,
    bin: &Path,
    opts: &Options,
    rows: &[Row],
) -> Result<Vec<DrainStep>, String> {
    eprintln!("xtask: bench: searching for the highest drop-free rate");
    let all = rows
        .iter()
        .find(|r| r.tracer == Tracer::SdtraceAll)
        .ok_or("no sdtrace row")?;
    let samples = all.result.as_ref().map_err(Clone::clone)?;
    let unpaced: Vec<f64> = samples
        .iter()
        .map(|s| 1e9 / ns_per_iter(s.loop_ns, all.iterations))
        .collect();
    let mut rate = median(unpaced);
    let mut steps = Vec::new();
    if samples
        .iter()
        .all(|s| stat(s.stats.as_ref(), "dropped") == Some(0))
    {
        steps.push(step(rate, &samples[samples.len() / 2], all.iterations));
        return Ok(steps);
    }
    // Step down by 30% until a run loses nothing, then halve the gap to the
    // last lossy rate twice.
    let mut lossy = rate;
    let mut clean = None;
    for _ in 0..8 {
        rate *= 0.7;
        let step = paced(sdtrace, bin, opts, rate)?;
        let ok = step.dropped == Some(0);
        steps.push(step);
        if ok {
            clean = Some(rate);
            break;
        }
        lossy = rate;
    }
    if let Some(mut clean) = clean {
        for _ in 0..2 {
            let mid = (clean + lossy) / 2.0;
            let step = paced(sdtrace, bin, opts, mid)?;
            if step.dropped == Some(0) {
                clean = mid;
            } else {
                lossy = mid;
            }
            steps.push(step);
        }
    }
    Ok(steps)
}

/// One run paced at `rate` syscalls/s for about two seconds.
fn paced(sdtrace: &Path, bin: &Path, opts: &Options, rate: f64) -> Result<DrainStep, String> {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a positive count well below 2^53"
    )]
    let iterations = ((rate * 2.0) as u64).max(10_000);
    let work = Workload {
        bin,
        kind: &opts.workload,
        iterations,
        rate: Some(rate),
    };
    let s =
        tracers::sample(Tracer::SdtraceAll, sdtrace, &[], &work).map_err(|e| format!("{e:#}"))?;
    Ok(step(rate, &s, iterations))
}

fn step(rate: f64, s: &Sample, iterations: u64) -> DrainStep {
    DrainStep {
        rate,
        achieved: 1e9 / ns_per_iter(s.loop_ns, iterations),
        received: stat(s.stats.as_ref(), "events").map(|e| 1e9 / ns_per_iter(s.loop_ns, e)),
        dropped: stat(s.stats.as_ref(), "dropped"),
    }
}

/// Tracers already running when the bench starts (other users, a test left
/// behind): system-wide ones add their cost to every row, the baseline too.
fn foreign_tracers() -> Vec<String> {
    let Ok(procs) = fs::read_dir("/proc") else {
        return vec![];
    };
    let mut found: Vec<String> = procs
        .filter_map(|e| {
            let e = e.ok()?;
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let comm = fs::read_to_string(e.path().join("comm")).ok()?;
            let comm = comm.trim();
            if !matches!(comm, "sdtrace" | "bpftrace" | "strace" | "perf") {
                return None;
            }
            let cmdline = fs::read(e.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            Some(format!("pid {pid}: {}", cmdline.trim()))
        })
        .collect();
    found.sort();
    found
}

fn render(
    opts: &Options,
    rows: &[Row],
    drain: Option<&Result<Vec<DrainStep>, String>>,
    foreign: &[String],
) -> String {
    let mut out = String::new();
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    let _ = writeln!(out, "# sdtrace benchmark\n");
    let machine = format!(
        "kernel {}, {cpus} CPUs, load average {load} at the end",
        kernel.trim()
    );
    let _ = if opts.no_loop {
        writeln!(
            out,
            "{machine}. The syscall-loop table was skipped (`--no-loop`).\n"
        )
    } else {
        writeln!(
            out,
            "Workload: `syscall-loop {}`, median of {} runs; {machine}. Iterations per run \
             are capped so a run takes about {} s.\n",
            opts.workload, opts.runs, opts.seconds
        )
    };
    if !foreign.is_empty() {
        let _ = writeln!(
            out,
            "**Warning:** other tracers were running, so every row (the baseline too) includes their cost:\n"
        );
        for t in foreign {
            let _ = writeln!(out, "- `{t}`");
        }
        let _ = writeln!(out);
    }
    if opts.no_loop {
        return out;
    }
    let _ = writeln!(out, "| tracer | iterations/run | median ns/iter | vs. no tracer | sdtrace drops (median) | notes |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---|");
    let baseline = rows
        .iter()
        .find(|r| r.tracer == Tracer::None)
        .and_then(|r| {
            let samples = r.result.as_ref().ok()?;
            Some(median(
                samples
                    .iter()
                    .map(|s| ns_per_iter(s.loop_ns, r.iterations))
                    .collect(),
            ))
        });
    for row in rows {
        match &row.result {
            Err(why) => {
                let why = why.lines().next().unwrap_or_default().replace('|', "\\|");
                let _ = writeln!(
                    out,
                    "| {} | | | | | not measured: {why} |",
                    row.tracer.label()
                );
            }
            Ok(samples) => {
                let per_iter = median(
                    samples
                        .iter()
                        .map(|s| ns_per_iter(s.loop_ns, row.iterations))
                        .collect(),
                );
                let ratio =
                    baseline.map_or_else(|| "?".into(), |b| format!("{:.2}x", per_iter / b));
                let (drops, notes) = if row.tracer.is_sdtrace() {
                    let drops: Vec<f64> = samples
                        .iter()
                        .filter_map(|s| stat(s.stats.as_ref(), "dropped"))
                        .map(|d| d as f64)
                        .collect();
                    let events: Vec<f64> = samples
                        .iter()
                        .filter_map(|s| stat(s.stats.as_ref(), "events"))
                        .map(|d| d as f64)
                        .collect();
                    let drops = if drops.is_empty() {
                        "?".into()
                    } else {
                        format!("{:.0}", median(drops))
                    };
                    let reported = samples.iter().any(|s| {
                        let dropped = stat(s.stats.as_ref(), "dropped").unwrap_or(0);
                        dropped > 0
                            && s.drop_lines
                                .iter()
                                .any(|l| l.contains(&dropped.to_string()))
                    });
                    let notes = format!(
                        "events received (median) {}{}",
                        if events.is_empty() {
                            "?".into()
                        } else {
                            format!("{:.0}", median(events))
                        },
                        if reported {
                            "; drops reported on stderr"
                        } else {
                            ""
                        }
                    );
                    (drops, notes)
                } else {
                    (String::new(), String::new())
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {per_iter:.0} | {ratio} | {drops} | {notes} |",
                    row.tracer.label(),
                    row.iterations
                );
            }
        }
    }
    match drain {
        None => {}
        Some(Err(e)) => {
            let _ = writeln!(out, "\nHighest drop-free rate: not measured: {e}");
        }
        Some(Ok(steps)) => {
            let _ = writeln!(out, "\n## Highest rate sdtrace drains with zero drops (all syscalls, default buffers)\n");
            let _ = writeln!(
                out,
                "| target syscalls/s | achieved syscalls/s | records received/s | dropped |"
            );
            let _ = writeln!(out, "|---:|---:|---:|---:|");
            for s in steps {
                let dropped = s.dropped.map_or_else(|| "?".into(), |d| d.to_string());
                let received = s.received.map_or_else(|| "?".into(), |r| format!("{r:.0}"));
                let _ = writeln!(
                    out,
                    "| {:.0} | {:.0} | {received} | {dropped} |",
                    s.rate, s.achieved
                );
            }
            let best = steps
                .iter()
                .filter(|s| s.dropped == Some(0))
                .max_by(|a, b| a.achieved.total_cmp(&b.achieved));
            let _ = match best {
                Some(s) => writeln!(
                    out,
                    "\nsdtrace drained {:.0} syscalls/s with zero drops.",
                    s.achieved
                ),
                None => writeln!(out, "\nNo rate tried was drained without drops."),
            };
        }
    }
    out
}
