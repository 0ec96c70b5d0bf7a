//! `evt.latency` attaches the entry hook: a sleep's syscall reports how long
//! it took, and the filter compares durations with units.
use std::process::Command;

use tests::{e2e, which, EventExt, Session};

e2e!(latency_of_a_sleep_is_measured, |tracer| {
    let session = Session::start(&tracer, &["-c", "proc.name=sleep and evt.latency > 30ms"]);
    let child = Command::new(which("sleep")).arg("0.05").spawn().unwrap();
    let pid = child.id();
    assert!(child.wait_with_output().unwrap().status.success());

    let ev = session.wait_for(
        &format!("a syscall of sleep {pid} slower than 30 ms"),
        |e| e.pid() == Some(pid),
    );
    let latency = ev.int_field("evt.latency").unwrap_or_default();
    // The sleep asked for 50 ms; the kernel never wakes it early.
    assert!(
        latency >= 50_000_000,
        "evt.latency {latency} ns for a 50 ms sleep: {ev}"
    );
    assert!(ev.evt_type().is_some_and(|t| t.contains("sleep")), "{ev}");
    assert!(session.stop().status.success());
});
