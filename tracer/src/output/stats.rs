//! Counting what was seen, matched and lost, and telling the user: drops are
//! never silent.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

/// The cgroups a run knows of and has muted, for `--stats-json`: with
/// containers created and destroyed all day, these must stay flat.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CgroupCounts {
    /// Cgroups muted in the kernel so far.
    pub muted: u64,
    /// Of those, taken out again once removed.
    pub unmuted_removed: u64,
    /// In the kernel's map at the end.
    pub muted_now: u64,
    /// Cgroups placed and cached at the end.
    pub cached: u64,
}

/// Userspace counters; the kernel's drop counters are read separately.
#[derive(Debug)]
pub struct Stats {
    /// Records received from the ring buffer.
    pub events: u64,
    /// Events the filter let through.
    pub matched: u64,
    /// What the sinks made of them: lines printed, events written (`-w`),
    /// tables (`top`). `-n` counts these.
    pub results: u64,
    /// Records that failed to decode (a bug or a version mismatch).
    pub decode_errors: u64,
    /// Program runs the kernel skipped (recursion guard), read at each report.
    pub kernel_misses: u64,
    /// cgroups the kernel was told to drop (see [`crate::capture::mute`]),
    /// and the cgroup caches.
    pub cgroups: CgroupCounts,
    /// Records the kernel wrote without some of their captures, because a
    /// capture stage could not be reached (never expected).
    pub stage_misses: u64,
    started: Instant,
}

#[derive(Serialize)]
struct Snapshot<'a> {
    events: u64,
    matched: u64,
    dropped: u64,
    dropped_per_cpu: &'a [u64],
    drop_ratio: f64,
    decode_errors: u64,
    kernel_misses: u64,
    muted_cgroups: u64,
    /// Muted cgroups taken out of the kernel's map once removed.
    muted_cgroups_removed: u64,
    /// In the kernel's map at the end.
    muted_cgroups_now: u64,
    /// Cgroups cached at the end.
    cgroups_cached: u64,
    stage_misses: u64,
    seconds: f64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            events: 0,
            matched: 0,
            results: 0,
            decode_errors: 0,
            kernel_misses: 0,
            cgroups: CgroupCounts::default(),
            stage_misses: 0,
            started: Instant::now(),
        }
    }
}

impl Stats {
    pub fn seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn ratio(&self, dropped: u64) -> f64 {
        let total = self.events + dropped;
        if total == 0 {
            0.0
        } else {
            dropped as f64 / total as f64
        }
    }

    /// One line for stderr.
    pub fn line(&self, drops_per_cpu: &[u64]) -> String {
        let dropped: u64 = drops_per_cpu.iter().sum();
        let mut s = format!(
            "sdtrace: {} events, {} matched, {} dropped ({:.2}%) in {:.1}s",
            self.events,
            self.matched,
            dropped,
            100.0 * self.ratio(dropped),
            self.seconds()
        );
        if dropped > 0 {
            s.push_str(" [dropped per cpu:");
            for (cpu, d) in drops_per_cpu.iter().enumerate().filter(|(_, d)| **d > 0) {
                let _ = write!(s, " cpu{cpu}={d}");
            }
            s.push_str("; raise --buffer-size or narrow the filter]");
        }
        if self.kernel_misses > 0 {
            let _ = write!(
                s,
                " ({} events skipped by the kernel: a program was already running on that CPU)",
                self.kernel_misses
            );
        }
        if self.cgroups.muted > 0 {
            let _ = write!(
                s,
                " ({} cgroups the filter cannot match dropped in the kernel)",
                self.cgroups.muted
            );
        }
        if self.decode_errors > 0 {
            let _ = write!(s, " ({} undecodable records)", self.decode_errors);
        }
        if self.stage_misses > 0 {
            let _ = write!(
                s,
                " ({} records without their captured arguments: a capture stage was missing)",
                self.stage_misses
            );
        }
        s
    }

    pub fn write_json(&self, path: &Path, drops_per_cpu: &[u64]) -> std::io::Result<()> {
        let dropped = drops_per_cpu.iter().sum();
        let snap = Snapshot {
            events: self.events,
            matched: self.matched,
            dropped,
            dropped_per_cpu: drops_per_cpu,
            drop_ratio: self.ratio(dropped),
            decode_errors: self.decode_errors,
            kernel_misses: self.kernel_misses,
            muted_cgroups: self.cgroups.muted,
            muted_cgroups_removed: self.cgroups.unmuted_removed,
            muted_cgroups_now: self.cgroups.muted_now,
            cgroups_cached: self.cgroups.cached,
            stage_misses: self.stage_misses,
            seconds: self.seconds(),
        };
        std::fs::write(path, serde_json::to_vec(&snap)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_reports_drops_per_cpu() {
        let s = Stats {
            events: 900,
            matched: 10,
            results: 10,
            decode_errors: 0,
            kernel_misses: 0,
            cgroups: CgroupCounts::default(),
            stage_misses: 0,
            started: Instant::now(),
        };
        let line = s.line(&[0, 100]);
        assert!(
            line.contains("900 events, 10 matched, 100 dropped (10.00%)"),
            "{line}"
        );
        assert!(line.contains("cpu1=100"), "{line}");
        assert!(!s.line(&[0, 0]).contains("per cpu"));
    }
}
