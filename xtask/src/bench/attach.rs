//! Time to attach: from the exec of `sdtrace -c evt.type=openat` to its
//! `sdtrace: attached` line (programs loaded and verified, maps filled,
//! hooks attached, the process table read), the wait an on-call engineer
//! has before the first event.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::Result;

use super::tracers::{Background, Ready};

/// The target: under a second on a machine of the CI's kind.
const TARGET_MS: f64 = 1000.0;

/// Milliseconds to attach, once per run.
pub(super) fn measure(sdtrace: &Path, runs: usize) -> Result<Vec<f64>> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let mut cmd = Command::new(sdtrace);
        cmd.args(["-c", "evt.type=openat"]);
        let start = Instant::now();
        let bg = Background::start(cmd, Ready::Stderr("sdtrace: attached"))?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
        bg.stop()?;
    }
    Ok(times)
}

pub(super) fn render(out: &mut String, times: &Result<Vec<f64>, String>) {
    let _ = writeln!(out, "\n## Time to attach\n");
    match times {
        Ok(t) if !t.is_empty() => {
            let median = super::median(t.clone());
            let (min, max) = t
                .iter()
                .fold((f64::MAX, 0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            let _ = writeln!(
                out,
                "From the exec of `sdtrace -c evt.type=openat` to its `sdtrace: attached` line, \
                 {} runs: median {median:.0} ms (min {min:.0}, max {max:.0}); target ≤ {TARGET_MS:.0} ms: {}.",
                t.len(),
                if median <= TARGET_MS { "met" } else { "NOT met" }
            );
        }
        Ok(_) => {}
        Err(e) => {
            let _ = writeln!(out, "Not measured: {e}");
        }
    }
}
