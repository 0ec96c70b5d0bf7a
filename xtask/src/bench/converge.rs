//! The convergence row of `cargo xtask bench`: what `sdtrace converge`
//! costs the daemon it watches. `minimgmt` (the tests' mgmt-like daemon)
//! keeps one file in its wanted content; the benchmark drifts it (appends a
//! line, as an outside process) and waits until the daemon has put it back,
//! `DRIFTS` times per run. Runs with no tracer and with `sdtrace converge
//! --daemon minimgmt` alternate. Reported: the time from a drift to its
//! repair as seen from outside (median and p99), the daemon's CPU time per
//! repair, and the time to converge sdtrace itself measured.
use std::{
    fmt::Write as _,
    fs::{self, OpenOptions},
    io::Write as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::{
    median,
    tracers::{Background, Ready},
};
use crate::util;

const DRIFTS: usize = 300;
const WANTED: &str = "managed=1\n";
/// How long one repair may take before the run is abandoned.
const REPAIR_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) struct Measured {
    baseline: Vec<Run>,
    traced: Vec<Run>,
    /// Converges sdtrace reported and the median of its times to converge.
    reported: Vec<(u64, Option<f64>)>,
}

struct Run {
    /// Drift to repaired, as the drifting process saw it, in µs.
    repairs_us: Vec<f64>,
    /// The daemon's user+system CPU time over the run, per repair, in µs.
    cpu_per_repair_us: f64,
}

/// Kills the daemon when a run is done, measured or not.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where `cargo build -p tests --bin minimgmt` puts the daemon.
pub(super) fn daemon_bin() -> PathBuf {
    util::target_dir().join("release/minimgmt")
}

pub(super) fn measure(sdtrace: &Path, runs: usize) -> Result<Measured> {
    let dir = std::env::temp_dir().join(format!("sdtrace-bench-converge-{}", std::process::id()));
    fs::create_dir_all(&dir)?;
    let file = dir.join("app.conf");
    let out = dir.join("converge.json");
    let mut m = Measured {
        baseline: Vec::new(),
        traced: Vec::new(),
        reported: Vec::new(),
    };
    let result = (|| -> Result<()> {
        for _ in 0..runs {
            m.baseline.push(run(&file)?);
            let mut cmd = Command::new(sdtrace);
            cmd.args(["converge", "--daemon", "minimgmt", "-j"]);
            let tracer =
                Background::start(cmd, Ready::StderrStdoutTo("sdtrace: attached", out.clone()))?;
            let measured = run(&file);
            tracer.stop()?;
            m.traced.push(measured?);
            m.reported.push(reported(&fs::read_to_string(&out)?, &file));
        }
        Ok(())
    })();
    let _ = fs::remove_dir_all(&dir);
    result.map(|()| m)
}

/// One daemon's life: started on a fresh file, drifted `DRIFTS` times.
fn run(file: &Path) -> Result<Run> {
    let _ = fs::remove_file(file);
    let child = Command::new(daemon_bin())
        .args([
            "--file".as_ref(),
            file.as_os_str(),
            "--content".as_ref(),
            WANTED.as_ref(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", daemon_bin().display()))?;
    let pid = child.id();
    let daemon = Daemon(child);
    wait_repaired(file)?;
    let cpu_before = cpu_ns(pid)?;
    let mut repairs_us = Vec::with_capacity(DRIFTS);
    for i in 0..DRIFTS {
        let started = Instant::now();
        OpenOptions::new()
            .append(true)
            .open(file)?
            .write_all(format!("drift {i}\n").as_bytes())?;
        wait_repaired(file)?;
        repairs_us.push(started.elapsed().as_secs_f64() * 1e6);
    }
    let cpu = cpu_ns(pid)?.saturating_sub(cpu_before);
    drop(daemon);
    Ok(Run {
        repairs_us,
        cpu_per_repair_us: cpu as f64 / 1e3 / DRIFTS as f64,
    })
}

/// Polls the file until it holds the wanted content again (the repair is
/// the daemon's to make; polling is how an outside observer would see it).
fn wait_repaired(file: &Path) -> Result<()> {
    let deadline = Instant::now() + REPAIR_TIMEOUT;
    loop {
        if fs::read(file).is_ok_and(|c| c == WANTED.as_bytes()) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "minimgmt did not repair {} within {REPAIR_TIMEOUT:?}",
                file.display()
            );
        }
        thread::sleep(Duration::from_micros(200));
    }
}

/// A process's time on a CPU, in ns, from /proc/PID/schedstat (exact,
/// where /proc/PID/stat counts 10 ms ticks).
fn cpu_ns(pid: u32) -> Result<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/schedstat"))?;
    stat.split_whitespace()
        .next()
        .and_then(|f| f.parse().ok())
        .with_context(|| format!("/proc/{pid}/schedstat: {stat:?}"))
}

/// What sdtrace said about the file: its converges and their median time.
fn reported(json: &str, file: &Path) -> (u64, Option<f64>) {
    let resource = format!("file:{}", file.display());
    json.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "SUMMARY" && v["resource"] == resource.as_str())
        .map_or((0, None), |v| {
            (
                v["converges"].as_u64().unwrap_or(0),
                v["ttc_p50_ms"].as_f64(),
            )
        })
}

fn p99(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get((v.len() * 99 / 100).min(v.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0.0)
}

pub(super) fn render(out: &mut String, measured: &Result<Measured, String>) {
    let _ = writeln!(
        out,
        "\n## A config daemon watched (`minimgmt` repairing {DRIFTS} drifts of one file per run)\n"
    );
    let Some(m) = super::measured_or_said(out, measured) else {
        return;
    };
    let _ = writeln!(
        out,
        "Median over {} runs each, alternating. \"repair\" is from the outside append to the \
         daemon's rewrite being visible (polled every 200 µs); CPU is the daemon's own.\n",
        m.baseline.len()
    );
    let _ = writeln!(out, "| tracer | repair median | repair p99 | daemon CPU per repair | vs. no tracer | sdtrace's time to converge (p50) |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    let summary = |runs: &[Run]| {
        let med = median(runs.iter().map(|r| median(r.repairs_us.clone())).collect());
        let tail = median(runs.iter().map(|r| p99(r.repairs_us.clone())).collect());
        let cpu = median(runs.iter().map(|r| r.cpu_per_repair_us).collect());
        (med, tail, cpu)
    };
    let (b_med, b_tail, b_cpu) = summary(&m.baseline);
    let (t_med, t_tail, t_cpu) = summary(&m.traced);
    let ttc = median(m.reported.iter().filter_map(|r| r.1).collect());
    let converges: Vec<u64> = m.reported.iter().map(|r| r.0).collect();
    let _ = writeln!(
        out,
        "| no tracer | {b_med:.0} µs | {b_tail:.0} µs | {b_cpu:.0} µs | 1.00x | |"
    );
    let _ = writeln!(
        out,
        "| sdtrace converge --daemon minimgmt | {t_med:.0} µs | {t_tail:.0} µs | {t_cpu:.0} µs | {:.2}x | {:.0} µs ({converges:?} converges reported per run) |",
        t_med / b_med,
        ttc * 1000.0
    );
}
