//! The agent facing clients that hold without using: hundreds of
//! connections that never send a request, send one a byte at a time, or
//! sit idle after one are all closed within a minute, with the default
//! limits, while a real client keeps its stream; past `--max-connections`
//! a connection is closed at once. And the other way round: an agent lost
//! in the middle of a client's run fails that run, saying so.
use std::{
    io::{ErrorKind, Read, Write},
    net::TcpStream,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use tests::{e2e, session::serial, TempDir};

use super::{client, host_agent, open_times, EVENT_TIMEOUT};

/// What the issue asks: every such connection closed within this.
const CLOSED_WITHIN: Duration = Duration::from_secs(60);

/// Whether the agent closed `stream` (EOF or reset); it is non-blocking.
fn closed(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            // An answer to a request (the idle ones got theirs): keep reading.
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

fn connect(address: &str) -> TcpStream {
    TcpStream::connect(address).expect("connect to the agent")
}

e2e!(
    idle_and_slow_connections_are_closed_while_a_client_streams,
    |tracer| {
        let _turn = serial();
        let dir = TempDir::new("agent-hostile");
        // Cleartext: these clients speak HTTP on bare sockets, to reach the
        // limits behind the TLS handshake (the same code serves both).
        let agent = host_agent(&tracer, "node-h", &dir, &["--insecure"]);
        let marker = dir.path().join(tests::unique_name("hostile"));
        std::fs::write(&marker, "x").expect("write the marker");
        let filter = format!("evt.type=openat and fd.name={}", marker.display());
        let run = client(&tracer, &[&agent], &dir, &["-j", "-c", &filter]);
        open_times(&marker, 1);
        run.wait_until("the real client's first event", EVENT_TIMEOUT, |out| {
            (!out.values.is_empty()).then_some(())
        });

        let started = Instant::now();
        let mut held: Vec<(&str, TcpStream)> = Vec::new();
        // Never a byte.
        for _ in 0..300 {
            held.push(("silent", connect(&agent.address)));
        }
        // One request, then nothing (a scraper that keeps its connection).
        for _ in 0..50 {
            let mut s = connect(&agent.address);
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: agent\r\n\r\n")
                .expect("ask /healthz");
            held.push(("idle after a request", s));
        }
        // A request head a byte every second (slowloris), and an HTTP/2
        // preface without a request.
        let trickling = Arc::new(AtomicBool::new(true));
        let mut slow = Vec::new();
        for _ in 0..50 {
            let s = connect(&agent.address);
            slow.push(s.try_clone().expect("clone the socket"));
            held.push(("slow head", s));
        }
        let writer = {
            let trickling = trickling.clone();
            thread::spawn(move || {
                let head = b"GET /metrics HTTP/1.1\r\nHost: agent\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
                for byte in head {
                    if !trickling.load(Ordering::Relaxed) {
                        return;
                    }
                    for s in &mut slow {
                        let _ = s.write_all(&[*byte]);
                    }
                    thread::sleep(Duration::from_secs(1));
                }
            })
        };
        for _ in 0..50 {
            let mut s = connect(&agent.address);
            s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                .expect("send the HTTP/2 preface");
            held.push(("HTTP/2 preface only", s));
        }
        for (_, s) in &held {
            s.set_nonblocking(true).expect("non-blocking");
        }
        let total = held.len();
        assert_eq!(total, 450);

        // Every one closed within the minute; the real client keeps its stream.
        let mut open = held;
        while !open.is_empty() && started.elapsed() < CLOSED_WITHIN {
            open.retain_mut(|(_, s)| !closed(s));
            thread::sleep(Duration::from_millis(500));
        }
        let took = started.elapsed();
        trickling.store(false, Ordering::Relaxed);
        writer.join().expect("the slow writer");
        let left: Vec<&str> = open.iter().map(|(kind, _)| *kind).collect();
        assert!(
            left.is_empty(),
            "{} of {total} connections still open after {took:?}: {left:?}",
            left.len()
        );
        eprintln!("{total} idle or slow connections closed within {took:?}");

        open_times(&marker, 3);
        run.wait_until(
            "the real client's events after the closing",
            EVENT_TIMEOUT,
            |out| (out.values.len() >= 4).then_some(()),
        );
        let closed_by_agent = agent.metric_sum("sdtrace_connections_closed_total");
        assert!(
            closed_by_agent >= 400.0,
            "the agent counts what it closed: {closed_by_agent}"
        );
        // The real client's connection and this scrape's are what is left.
        assert!(agent.metric_sum("sdtrace_connections ") <= 3.0);
        let finished = run.interrupt();
        assert!(finished.status.success(), "{:?}", finished.stderr);
        let stopped = agent.stop();
        assert!(stopped.status.success(), "{:?}", stopped.stderr);
    }
);

e2e!(connections_past_the_cap_are_closed_at_once, |tracer| {
    let _turn = serial();
    let dir = TempDir::new("agent-cap");
    let agent = host_agent(
        &tracer,
        "node-c",
        &dir,
        &["--max-connections", "20", "--insecure"],
    );
    let mut held: Vec<TcpStream> = (0..40).map(|_| connect(&agent.address)).collect();
    for s in &held {
        s.set_nonblocking(true).expect("non-blocking");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut shut = 0;
    while Instant::now() < deadline {
        shut = held.iter_mut().map(closed).filter(|c| *c).count();
        if shut >= 20 {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(shut, 20, "the 20 past the cap are closed, the others kept");
    drop(held);
    // Once the holders are gone, the agent answers again, and counted.
    let deadline = Instant::now() + Duration::from_secs(5);
    let refused = loop {
        if let Some(n) = refused_total(&agent.address) {
            break n;
        }
        assert!(Instant::now() < deadline, "the agent answers again");
        thread::sleep(Duration::from_millis(100));
    };
    // The 20 past the cap, and maybe a first probe here that came before
    // the agent saw the holders go.
    assert!(refused >= 20.0, "{refused} refusals counted");
    let stopped = agent.stop();
    assert!(stopped.status.success(), "{:?}", stopped.stderr);
});

/// `sdtrace_connections_refused_total`, if the agent answers `/metrics`.
fn refused_total(address: &str) -> Option<f64> {
    let mut s = TcpStream::connect(address).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("sdtrace_connections_refused_total "))
        .and_then(|v| v.trim().parse().ok())
}

// An agent lost in the middle of `top --agent` (its node crashed): the
// table of what came still prints, and the run says so and fails.
e2e!(top_says_when_an_agent_is_lost, |tracer| {
    let dir = TempDir::new("agent-lost");
    let agent = host_agent(&tracer, "node-l", &dir, &[]);
    let top = std::process::Command::new(&tracer.bin)
        .args(["top", "procs", "--agent", &agent.address])
        .args(super::reach_args(&[&agent], &dir))
        .args(["-M", "10"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run top");
    thread::sleep(Duration::from_secs(3));
    tests::session::signal(agent.pid(), libc::SIGKILL);
    let out = top.wait_with_output().expect("top ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a lost agent fails the run: {stderr}"
    );
    assert!(
        stderr.contains("node-l: disconnected") && stderr.contains("an agent was lost"),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("NODE"),
        "what came is still shown:\n{stdout}"
    );
    drop(agent);
});
