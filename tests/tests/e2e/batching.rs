//! The kernel gathers records in per-CPU batches; a process that makes a few
//! syscalls and then computes without any must still have its events
//! delivered while it runs (the per-CPU tick writes quiet batches out).
use std::process::{Command, Stdio};
use std::time::Duration;

use tests::{require_tracer, EventExt, Session};

#[test]
fn events_of_a_process_gone_quiet_arrive_while_it_spins() {
    let Some(tracer) = require_tracer("events_of_a_process_gone_quiet_arrive_while_it_spins")
    else {
        return;
    };
    let session = Session::start(
        &tracer,
        &["-c", "evt.type=getppid and proc.name=syscall-loop"],
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_syscall-loop"))
        .args(["getppid", "3", "--spin-ms", "10000"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Well before the 10 s spin ends (and so before the exit that would also
    // write the batch out), the three calls are seen.
    let ev = session.wait_for_within(
        &format!("getppid of spinning pid {pid}"),
        Duration::from_secs(5),
        |e| e.evt_type() == Some("getppid") && e.pid() == Some(pid),
    );
    assert_eq!(ev.str_field("proc.name"), Some("syscall-loop"), "{ev}");
    let still_running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        still_running,
        "the child must still be spinning when its events arrive"
    );
    assert!(session.stop().status.success());
}
