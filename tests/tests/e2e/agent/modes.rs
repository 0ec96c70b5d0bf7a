//! `sdtrace follow` and `sdtrace converge` against agents: each agent runs
//! the mode on its node's events, and the client merges what they print,
//! every span or derived event with its node.
use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use tests::{
    agent::Agent,
    converge::{fixtures, Converge, Daemon, DerivedExt},
    e2e,
    json_run::JsonRun,
    netns::NetNs,
    require_program,
    session::serial,
    EventExt, TempDir,
};

use super::{agent_command, host_agent, node_of, reach_args, EVENT_TIMEOUT};

/// busybox's httpd serving `dir` inside `ns`, killed when dropped.
struct Httpd(Child);

impl Httpd {
    fn start(ns: &NetNs, dir: &std::path::Path, port: u16) -> Self {
        let child = ns
            .command(tests::which("busybox").to_str().expect("UTF-8"))
            .args(["httpd", "-f", "-p", &format!("{}:{port}", ns.ip), "-h"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start busybox httpd");
        Httpd(child)
    }
}

impl Drop for Httpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn curl(url: &str) -> bool {
    Command::new(tests::which("curl"))
        .args(["-s", "-f", "-o", "/dev/null", "--max-time", "2", url])
        .status()
        .is_ok_and(|s| s.success())
}

e2e!(
    follow_runs_on_every_agent_and_each_span_names_its_node,
    |tracer, test| {
        for program in ["ip", "busybox", "curl"] {
            if require_program(test, program).is_none() {
                return;
            }
        }
        let _turn = serial();
        let dir = TempDir::new("agent-follow");
        let www = dir.path().join("www");
        std::fs::create_dir(&www).expect("a web root");
        std::fs::write(www.join("index.html"), "hello\n").expect("a page");
        let ns = NetNs::create("sdt-follow", 2);
        let _httpd = Httpd::start(&ns, &www, 8080);
        let url = format!("http://{}:8080/index.html", ns.ip);
        let deadline = Instant::now() + Duration::from_secs(10);
        // Polling a server's start-up, not synchronising with an event.
        while !curl(&url) {
            assert!(
                Instant::now() < deadline,
                "busybox httpd never answered {url}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let a = host_agent(&tracer, "node-a", &dir, &[]);
        let b = Agent::start(agent_command(
            &tracer,
            ns.command("env"),
            "node-b",
            &ns.ip,
            &dir,
        ));
        let agents = format!("{},{}", a.address, b.address);
        let reach = reach_args(&[&a, &b], &dir);
        let mut args = vec!["follow", "--agent", &agents];
        args.extend(reach.iter().map(String::as_str));
        args.extend(["-j", "--comm", "curl"]);
        let run = JsonRun::start_in_turn(&tracer, &args);
        assert!(curl(&url), "curl {url}");
        // Both agents see this machine's one kernel: each follows the request.
        let spans = run.wait_until("a server span from each node", EVENT_TIMEOUT, |out| {
            let servers = |node: &str| {
                out.values
                    .iter()
                    .any(|s| s.str_field("kind") == Some("server") && node_of(s) == node)
            };
            (servers("node-a") && servers("node-b")).then(|| out.values.clone())
        });
        run.interrupt();
        for node in ["node-a", "node-b"] {
            let mine: Vec<&Value> = spans.iter().filter(|s| node_of(s) == node).collect();
            let client = mine
                .iter()
                .find(|s| s.str_field("kind") == Some("client"))
                .unwrap_or_else(|| panic!("{node}'s client span in {mine:#?}"));
            assert_eq!(client.str_field("proc.name"), Some("curl"), "{client}");
            let server = mine
                .iter()
                .find(|s| s.str_field("kind") == Some("server"))
                .expect("checked above");
            assert_eq!(server.str_field("proc.name"), Some("busybox"), "{server}");
            assert_eq!(
                server.int_field("trace"),
                client.int_field("trace"),
                "one trace on {node}: {server}"
            );
            assert_eq!(
                server.int_field("parent"),
                client.int_field("span"),
                "{server}"
            );
        }
        a.stop();
        b.stop();
    }
);

fn minimgmt_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_minimgmt"))
}

e2e!(
    converge_runs_on_an_agent_and_its_events_name_the_node,
    |tracer| {
        let _turn = serial();
        let dir = TempDir::new("agent-converge");
        // What converge runs with on its own: entry times, kernel paths, and
        // inotify records in full.
        let a = host_agent(
            &tracer,
            "node-a",
            &dir,
            &["--latency", "--kernel-paths", "-s", "1024"],
        );
        let reach = reach_args(&[&a], &dir);
        let mut args = vec!["converge", "--agent", &a.address];
        args.extend(reach.iter().map(String::as_str));
        args.extend(["-j", "--daemon", "minimgmt"]);
        let run = Converge::start_in_turn(&tracer, &args);
        let file = dir.path().join("app.conf");
        let resource = format!("file:{}", file.display());
        let daemon = Daemon::spawn(
            "minimgmt",
            fixtures::minimgmt(&minimgmt_bin(), &file, "listen = 8080\n", None),
        );
        daemon.wait_lines("minimgmt: converged", 1);
        run.wait_for("the start-up CONVERGE", |e| {
            e.kind() == "CONVERGE" && e.resource() == resource
        });
        let appended = Command::new("sh")
            .args(["-c", "echo 'debug = 1' >> \"$1\"", "sh"])
            .arg(&file)
            .status()
            .expect("run sh");
        assert!(appended.success());
        let drift = run.wait_for("the DRIFT", |e| {
            e.kind() == "DRIFT" && e.resource() == resource
        });
        let repair = run.wait_for("the repair", |e| {
            e.kind() == "CONVERGE" && e.cause_id() == drift.id()
        });
        drop(daemon);
        let done = run.stop();
        for e in [&drift, &repair] {
            assert_eq!(node_of(e), "node-a", "{e}");
        }
        assert_eq!(repair.actor_comm(), "minimgmt", "{repair}");
        assert_eq!(repair.cause_str("kind"), Some("drift"), "{repair}");
        assert_eq!(drift.actor_comm(), "sh", "{drift}");
        a.stop();
        assert!(done.status.success(), "{}", done.describe());
    }
);
