//! Losses: a ring buffer too small for a syscall flood loses events, and
//! sdtrace counts and reports every one instead of hiding them.
use std::process::{Command, Stdio};

use tests::{e2e, Session};

e2e!(flood_into_tiny_buffer_reports_drops, |tracer| {
    let session =
        Session::start_discarding(&tracer, &["--buffer-size", "8192", "--stats-interval", "1"]);
    let out = Command::new(env!("CARGO_BIN_EXE_syscall-loop"))
        .args(["getppid", "2000000"])
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success());
    let done = session.stop();
    assert!(
        done.status.success(),
        "sdtrace exits 0 on SIGINT: {:?}",
        done.status
    );
    let stats = done.stats();
    assert!(
        stats.dropped > 0,
        "2M syscalls into an 8 KiB buffer lost nothing? {:?}",
        stats.raw
    );
    assert_eq!(
        stats.dropped_per_cpu.iter().sum::<u64>(),
        stats.dropped,
        "per-CPU drops add up: {:?}",
        stats.raw
    );
    // The count itself on stderr, not just a "0 dropped" summary.
    let count = stats.dropped.to_string();
    assert!(
        done.stderr
            .iter()
            .any(|l| l.to_ascii_lowercase().contains("drop") && l.contains(&count)),
        "sdtrace did not report its {count} drops on stderr:\n{}",
        done.stderr.join("\n")
    );
});
