//! The kernel gathers records in per-CPU batches; a process that makes a few
//! syscalls and then computes without any, or sleeps and leaves its CPU
//! idle, must still have its events delivered while it runs, and a stop
//! right after them must not lose them (userspace flushes quiet batches).
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tests::{e2e, EventExt, Session};

e2e!(
    events_of_a_process_gone_quiet_arrive_while_it_spins,
    |tracer| {
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
);

/// The CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: an all-zero cpu_set_t is a valid (empty) set for the kernel to fill.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: set is a valid cpu_set_t of the size passed.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    assert_eq!(
        r,
        0,
        "sched_getaffinity: {}",
        std::io::Error::last_os_error()
    );
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: cpu is below CPU_SETSIZE.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// `syscall-loop getppid 3` on `cpu`, then asleep for a minute; returns once
/// its calls are made (it prints their time).
fn three_calls_then_sleep(cpu: usize) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_syscall-loop"))
        .args([
            "getppid",
            "3",
            "--cpu",
            &cpu.to_string(),
            "--idle-ms",
            "60000",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(!line.is_empty(), "syscall-loop on CPU {cpu} made its calls");
    child
}

e2e!(
    events_of_a_process_asleep_on_an_idle_cpu_arrive_while_it_sleeps,
    |tracer| {
        let session = Session::start(
            &tracer,
            &["-c", "evt.type=getppid and proc.name=syscall-loop"],
        );
        // On each CPU in turn: the CPU the calls ran on may then stay idle for
        // the whole wait, with their batch in it.
        for cpu in allowed_cpus() {
            let mut child = three_calls_then_sleep(cpu);
            let pid = child.id();
            let ev = session.wait_for_within(
                &format!("getppid of pid {pid}, asleep after its calls on CPU {cpu}"),
                Duration::from_secs(5),
                |e| e.evt_type() == Some("getppid") && e.pid() == Some(pid),
            );
            assert_eq!(ev.int_field("evt.cpu"), i64::try_from(cpu).ok(), "{ev}");
            let still_running = child.try_wait().unwrap().is_none();
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                still_running,
                "the child must still sleep when its events arrive"
            );
        }
        assert!(session.stop().status.success());
    }
);

e2e!(
    a_stop_right_after_the_last_calls_keeps_their_events,
    |tracer| {
        for cpu in allowed_cpus() {
            let session = Session::start(
                &tracer,
                &["-c", "evt.type=getppid and proc.name=syscall-loop"],
            );
            let mut child = three_calls_then_sleep(cpu);
            let pid = child.id();
            // Stopped at once: the calls' batch may still be in the kernel.
            let done = session.stop();
            let _ = child.kill();
            let _ = child.wait();
            assert!(done.status.success());
            let calls = done
                .events
                .iter()
                .filter(|e| e.evt_type() == Some("getppid") && e.pid() == Some(pid))
                .count();
            assert_eq!(
                calls, 3,
                "pid {pid}'s calls on CPU {cpu}: {:?}",
                done.stderr
            );
        }
    }
);
