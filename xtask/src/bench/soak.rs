//! The soak of `cargo xtask bench`: sdtrace left running for
//! `--soak-minutes` (30 by default) under a steady load, to show whether its
//! memory and descriptors stay flat (issue 17: "a 30-minute soak at 100 k
//! events/s: RSS flat, report the slope"). A leak too slow for any other row
//! to notice (a table that never evicts exited processes, a buffer that only
//! grows) shows here as a slope.
//!
//! The load is held, not maximal: `syscall-loop getppid` paced at `RATE`
//! calls/s for the whole run, and a `/bin/true` fork/exec every `CHURN_EVERY`
//! so processes keep arriving in and leaving sdtrace's process table.
//! Watched under that one load, side by side (half the wall time of two
//! soaks, and an agent is the long-lived case): `sdtrace` capturing every
//! syscall as text to /dev/null, and `sdtrace agent` with one TLS
//! `--agent` client reading everything. Each traces the whole machine, so
//! each also sees the other's syscalls and whatever else runs.
//!
//! Every `SAMPLE_EVERY` each process's VmRSS and open descriptors are read
//! from /proc. The slope is a least-squares line through the RSS samples
//! after the first `WARM_UP` of the run, where buffers, caches and the
//! process table fill; no pass or fail, but a slope above
//! `GROWTH_LIMIT_KIB_PER_MIN` is said in a line of its own.
use std::{
    fmt::Write as _,
    fs,
    path::Path,
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use serde_json::Value;

use super::{
    stat,
    tracers::{run_loop, Agent, Background, Ready, Workload},
};

/// getppid calls per second: the 100 k events/s.
const RATE: u64 = 100_000;
/// One fork/exec this often (ten a second).
const CHURN_EVERY: Duration = Duration::from_millis(100);
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// A progress line on stderr every this many samples (a minute).
const PROGRESS_EVERY: usize = 6;
/// The share of the run left out of the slope.
const WARM_UP: f64 = 0.1;
/// 1 MiB per 10 minutes: above this, RSS is said to grow.
const GROWTH_LIMIT_KIB_PER_MIN: f64 = 1024.0 / 10.0;

pub(super) struct Soak {
    minutes: u32,
    /// getppid calls the loop made and the seconds it took.
    calls: u64,
    loop_secs: f64,
    /// `/bin/true` runs that exited cleanly.
    spawned: u64,
    watched: Vec<Watched>,
}

/// One process followed through the soak.
struct Watched {
    label: &'static str,
    /// `None` when it did not start.
    pid: Option<u32>,
    samples: Vec<Point>,
    /// What the process counted at its exit, or why it did not run or exit
    /// cleanly.
    counts: Result<Counts, String>,
}

impl Watched {
    fn new(label: &'static str, pid: Option<u32>) -> Self {
        Self {
            label,
            pid,
            samples: Vec::new(),
            counts: Ok(Counts::default()),
        }
    }
}

#[derive(Default)]
struct Counts {
    events: Option<u64>,
    dropped: Option<u64>,
    note: String,
}

struct Point {
    secs: f64,
    rss_kib: u64,
    fds: usize,
}

pub(super) fn measure(sdtrace: &Path, workload_bin: &Path, minutes: u32) -> Result<Soak> {
    let dir = std::env::temp_dir().join(format!("sdtrace-bench-soak-{}", std::process::id()));
    fs::create_dir_all(&dir)?;
    let stats_path = dir.join("stats.json");
    let mut cmd = Command::new(sdtrace);
    cmd.arg("--stats-json").arg(&stats_path);
    let local = Background::start(cmd, Ready::Stderr("sdtrace: attached"))?;
    let agent = Agent::start(sdtrace).map_err(|e| format!("{e:#}"));
    if let Err(e) = &agent {
        eprintln!("xtask: bench: soak: the agent did not start, soaking sdtrace alone: {e}");
    }

    let agent_pid = |pid: fn(&Agent) -> u32| agent.as_ref().ok().map(pid);
    let mut watched = [
        Watched::new("sdtrace, all syscalls, text > /dev/null", Some(local.pid())),
        Watched::new(
            "sdtrace agent (TLS, one client)",
            agent_pid(Agent::agent_pid),
        ),
        Watched::new(
            "its sdtrace --agent client > /dev/null",
            agent_pid(Agent::client_pid),
        ),
    ];
    if let Err(e) = &agent {
        watched[1].counts = Err(e.clone());
        watched[2].counts = Err(e.clone());
    }

    let calls = RATE * u64::from(minutes) * 60;
    let stop_churn = AtomicBool::new(false);
    let (loop_ns, spawned) = thread::scope(|s| {
        let (done_tx, done_rx) = mpsc::channel();
        let work = s.spawn(move || {
            let work = Workload {
                bin: workload_bin,
                kind: "getppid",
                iterations: calls,
                #[expect(clippy::cast_precision_loss, reason = "a small constant")]
                rate: Some(RATE as f64),
            };
            let ns = run_loop(&[], &work);
            let _ = done_tx.send(());
            ns
        });
        let churn = s.spawn(|| churn(&stop_churn));
        let started = Instant::now();
        let mut next = started;
        for i in 0.. {
            sample(&mut watched, started);
            if i % PROGRESS_EVERY == 0 {
                progress(started, minutes, &watched);
            }
            next += SAMPLE_EVERY;
            match done_rx.recv_timeout(next.saturating_duration_since(Instant::now())) {
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        // The last sample, as the load ends.
        sample(&mut watched, started);
        stop_churn.store(true, Ordering::Relaxed);
        let spawned = churn.join().expect("the churn thread does not panic");
        (
            work.join().expect("the loop thread does not panic"),
            spawned,
        )
    });

    if let Ok(agent) = agent {
        match agent.stop() {
            // The agent's counts go on its row; the client keeps none.
            Ok((stats, _)) => {
                let n = |key| stat(Some(&stats), key).map_or_else(|| "?".into(), |n| n.to_string());
                watched[1].counts = Ok(Counts {
                    events: stat(Some(&stats), "events"),
                    dropped: stat(Some(&stats), "dropped"),
                    note: format!(
                        "{} sent to the client, {} dropped from its queue",
                        n("sent"),
                        n("queue_drops")
                    ),
                });
            }
            Err(e) => {
                watched[1].counts = Err(format!("{e:#}"));
                watched[2].counts = Err(format!("{e:#}"));
            }
        }
    }
    watched[0].counts = local
        .stop()
        .and_then(|_| {
            let text = fs::read_to_string(&stats_path)
                .with_context(|| format!("sdtrace wrote no {}", stats_path.display()))?;
            let stats: Value =
                serde_json::from_str(&text).with_context(|| format!("bad stats JSON {text:?}"))?;
            Ok(Counts {
                events: stat(Some(&stats), "events"),
                dropped: stat(Some(&stats), "dropped"),
                note: String::new(),
            })
        })
        .map_err(|e| format!("{e:#}"));
    let _ = fs::remove_dir_all(&dir);

    Ok(Soak {
        minutes,
        calls,
        loop_secs: Duration::from_nanos(loop_ns?).as_secs_f64(),
        spawned,
        watched: watched.into(),
    })
}

/// Forks and execs `/bin/true` every `CHURN_EVERY` until told to stop;
/// returns how many ran.
fn churn(stop: &AtomicBool) -> u64 {
    let mut spawned = 0;
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let ran = Command::new("/bin/true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if ran.is_ok_and(|s| s.success()) {
            spawned += 1;
        }
        // Behind schedule (a starved CPU), start again from now rather
        // than catch up in a burst.
        next = (next + CHURN_EVERY).max(Instant::now());
        thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    spawned
}

/// A process's resident memory and open descriptors now, if it still runs.
fn point(pid: u32, secs: f64) -> Option<Point> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    Some(Point { secs, rss_kib, fds })
}

/// Reads every watched process's RSS and descriptors now.
fn sample(watched: &mut [Watched], started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    for w in watched {
        if let Some(p) = w.pid.and_then(|pid| point(pid, secs)) {
            w.samples.push(p);
        }
    }
}

fn progress(started: Instant, minutes: u32, watched: &[Watched]) {
    let now: Vec<String> = watched
        .iter()
        .filter_map(|w| {
            let p = w.samples.last()?;
            Some(format!("{} {} KiB {} fds", w.label, p.rss_kib, p.fds))
        })
        .collect();
    eprintln!(
        "xtask: bench: soak {:.0}/{minutes} min: {}",
        started.elapsed().as_secs_f64() / 60.0,
        now.join("; ")
    );
}

/// RSS growth in KiB per minute: the least-squares slope through the
/// samples after the warm-up; `None` with fewer than three of them.
#[expect(
    clippy::cast_precision_loss,
    reason = "KiB and sample counts stay far below 2^52"
)]
fn slope_kib_per_min(samples: &[Point]) -> Option<f64> {
    let end = samples.last()?.secs;
    let kept: Vec<(f64, f64)> = samples
        .iter()
        .filter(|p| p.secs >= end * WARM_UP)
        .map(|p| (p.secs / 60.0, p.rss_kib as f64))
        .collect();
    if kept.len() < 3 {
        return None;
    }
    let n = kept.len() as f64;
    let mean_x = kept.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = kept.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = kept.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = kept.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

fn mib(kib: u64) -> String {
    #[expect(clippy::cast_precision_loss, reason = "KiB stay far below 2^52")]
    let mib = kib as f64 / 1024.0;
    format!("{mib:.1} MiB")
}

pub(super) fn render(out: &mut String, soak: &Result<Soak, String>) {
    let _ = writeln!(out, "\n## Soak: RSS and descriptors under a held load\n");
    let Some(soak) = super::measured_or_said(out, soak) else {
        return;
    };
    #[expect(
        clippy::cast_precision_loss,
        reason = "call counts stay far below 2^52"
    )]
    let achieved = soak.calls as f64 / soak.loop_secs.max(1e-9);
    let _ = writeln!(
        out,
        "{} minutes: `syscall-loop getppid` paced at {RATE} calls/s ({} calls in {:.0} s: {achieved:.0}/s) \
         and a `/bin/true` fork/exec every {} ms ({} ran). RSS (VmRSS) and open fds read every {} s; \
         the slope is a least-squares line through the RSS samples after the first {:.0}% of the run. \
         The tracers ran side by side, so each also saw the other's syscalls.\n",
        soak.minutes,
        soak.calls,
        soak.loop_secs,
        CHURN_EVERY.as_millis(),
        soak.spawned,
        SAMPLE_EVERY.as_secs(),
        WARM_UP * 100.0,
    );
    let _ = writeln!(
        out,
        "| process | events received | dropped | RSS first | RSS last | RSS peak | RSS slope after warm-up | fds first → last | notes |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---|---|");
    let mut growing = Vec::new();
    for w in &soak.watched {
        let count = |n: Option<u64>| n.map_or_else(String::new, |n| n.to_string());
        let (events, dropped, note) = match &w.counts {
            Ok(c) => (count(c.events), count(c.dropped), c.note.clone()),
            Err(why) => (
                String::new(),
                String::new(),
                format!(
                    "not measured to the end: {}",
                    why.lines().next().unwrap_or_default().replace('|', "\\|")
                ),
            ),
        };
        let (Some(first), Some(last)) = (w.samples.first(), w.samples.last()) else {
            let _ = writeln!(
                out,
                "| {} | {events} | {dropped} | | | | | | {note} |",
                w.label
            );
            continue;
        };
        let peak = w.samples.iter().map(|p| p.rss_kib).max().unwrap_or(0);
        let slope = slope_kib_per_min(&w.samples);
        if let Some(s) = slope.filter(|s| *s > GROWTH_LIMIT_KIB_PER_MIN) {
            growing.push(format!(
                "**RSS grows: {} gained {s:+.1} KiB/min after the warm-up** \
                 (more than 1 MiB per 10 minutes; {} to {}).",
                w.label,
                mib(first.rss_kib),
                mib(last.rss_kib)
            ));
        }
        let _ = writeln!(
            out,
            "| {} | {events} | {dropped} | {} | {} | {} | {} | {} → {} | {} samples{}{note} |",
            w.label,
            mib(first.rss_kib),
            mib(last.rss_kib),
            mib(peak),
            slope.map_or_else(|| "?".into(), |s| format!("{s:+.1} KiB/min")),
            first.fds,
            last.fds,
            w.samples.len(),
            if note.is_empty() { "" } else { "; " },
        );
    }
    let _ = writeln!(out);
    if growing.is_empty() {
        let _ = writeln!(
            out,
            "No RSS grew faster than 1 MiB per 10 minutes after the warm-up."
        );
    }
    for line in growing {
        let _ = writeln!(out, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(rss: &[u64]) -> Vec<Point> {
        rss.iter()
            .enumerate()
            .map(|(i, &rss_kib)| Point {
                secs: i as f64 * 10.0,
                rss_kib,
                fds: 10,
            })
            .collect()
    }

    #[test]
    fn the_slope_leaves_out_the_warm_up() {
        // 20 samples over 190 s: the first two (< 19 s) are start-up; after
        // them, 50 KiB per 10 s sample is 300 KiB/min.
        let mut rss = vec![1_000, 40_000];
        rss.extend((2..20).map(|i| 50_000 + 50 * i));
        let slope = slope_kib_per_min(&points(&rss)).unwrap();
        assert!((slope - 300.0).abs() < 1e-6, "{slope}");
    }

    #[test]
    fn a_flat_line_has_no_slope_and_too_few_samples_none() {
        assert_eq!(slope_kib_per_min(&points(&[7_000; 12])), Some(0.0));
        assert_eq!(slope_kib_per_min(&points(&[7_000, 8_000])), None);
    }
}
