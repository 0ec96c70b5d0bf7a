//! Faults sdtrace must live through without losing anything silently:
//! events printed plus drops reported add up to what the workload did.
use std::{
    process::{Command, Stdio},
    thread,
    time::Duration,
};

use tests::{e2e, session::signal, Session};

mod conntrack;
mod disk;
mod hidepid;
mod runtime;

fn getppid_loop(times: u64) {
    let status = Command::new(env!("CARGO_BIN_EXE_syscall-loop"))
        .args(["getppid", &times.to_string()])
        .stdout(Stdio::null())
        .status()
        .expect("run syscall-loop");
    assert!(status.success());
}

// sdtrace stopped (SIGSTOP) for seconds while the workload runs: the
// kernel keeps going, the ring fills, what does not fit is counted; once
// continued, sdtrace drains and goes on, every later event printed.
e2e!(
    stopped_for_seconds_under_load_loses_nothing_silently,
    |tracer| {
        const WHILE_STOPPED: u64 = 300_000;
        // Fits the ring (1 MiB holds some 7 000 records) even as one burst.
        const AFTER: u64 = 3_000;
        let session = Session::start(
            &tracer,
            &[
                "--buffer-size",
                "1M",
                "-c",
                "proc.name=syscall-loop and evt.type=getppid",
            ],
        );
        signal(session.pid(), libc::SIGSTOP);
        getppid_loop(WHILE_STOPPED);
        thread::sleep(Duration::from_secs(2));
        signal(session.pid(), libc::SIGCONT);
        thread::sleep(Duration::from_secs(1));
        getppid_loop(AFTER);
        let after = format!("syscall-loop getppid {AFTER}");
        let printed_after = |events: &[serde_json::Value]| {
            events
                .iter()
                .filter(|e| e.get("proc.cmdline").and_then(|c| c.as_str()) == Some(after.as_str()))
                .count() as u64
        };
        thread::sleep(Duration::from_secs(1));
        let done = session.stop();
        assert!(done.status.success(), "{:?}", done.status);
        let stats = done.stats();
        let total = WHILE_STOPPED + AFTER;
        let printed = done.events.len() as u64;
        eprintln!(
        "stopped 2 s under {WHILE_STOPPED} getppid: {printed} printed, {} reported dropped, of {total}",
        stats.dropped
    );
        assert_eq!(stats.matched, printed, "every match printed");
        assert!(
            stats.dropped > 0,
            "a 1 MiB ring held 300 000 events? {:?}",
            stats.raw
        );
        // The kernel also counts the other processes' state records (forks,
        // opens: sdtrace's tables stay exact) it could not keep while sdtrace
        // was stopped, so the sum passes the workload's total by those.
        assert!(
            printed + stats.dropped >= total,
            "nothing lost silently: {printed} printed + {} dropped < {total}",
            stats.dropped
        );
        assert_eq!(
            printed_after(&done.events),
            AFTER,
            "continued, sdtrace prints every later event"
        );
    }
);
