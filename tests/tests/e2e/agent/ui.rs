//! `sdtrace ui` and `sdtrace top` reading two agents' events instead of
//! this machine's kernel: node-a on the host and node-b in a network
//! namespace of its own, both tracing this one kernel, so one process is a
//! row on each node. The live view gets a NODE column first and a `nodes`
//! view, whose row drills into that node's containers; `top` ranks each
//! node's processes, and the nodes themselves.
use std::{
    collections::BTreeSet,
    fs,
    process::{self, Child, Command, Stdio},
    sync::{
        atomic::{AtomicU32, Ordering},
        MutexGuard,
    },
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;
use tests::{
    agent::Agent,
    e2e,
    netns::NetNs,
    require_program,
    session::{serial, spawn_attached},
    tmux::{shell_word, Pane},
    watch::{Output, Stdout},
    TempDir, Tracer,
};

use super::{agent_command, host_agent, reach_args};
use crate::ui::{breadcrumb, pick_view, rows, sorted_by, titles};

const NODES: [&str; 2] = ["node-a", "node-b"];

/// How long the screen may take to show a step's rows: both agents'
/// events, through the client's merge, into the view's next refresh.
const SCREEN_TIMEOUT: Duration = Duration::from_secs(30);

/// The pane: wide enough for every column of every view.
const PANE: (u16, u16) = (200, 50);

/// `top -M 3` may take this long to exit after it attached.
const TOP_EXIT: Duration = Duration::from_secs(30);

/// The columns of the `nodes` view.
const NODES_TITLES: [&str; 5] = ["NODE", "SYSCALLS/S", "IN", "OUT", "ERRORS"];

/// node-a on the host and node-b in a network namespace, sharing a token,
/// during the harness's turn. Stopped in [`TwoAgents::stop`], or killed
/// when dropped.
struct TwoAgents {
    a: Agent,
    b: Agent,
    _ns: NetNs,
    dir: TempDir,
    _turn: MutexGuard<'static, ()>,
}

impl TwoAgents {
    /// `index` picks the namespace's /30 (see [`NetNs::create`]): one of
    /// its own per test, as a namespace's link goes away only a moment
    /// after the namespace.
    fn start(tracer: &Tracer, tag: &str, index: u8) -> Self {
        let turn = serial();
        let dir = TempDir::new(tag);
        let ns = NetNs::create("sdt-agentui", index);
        let a = host_agent(tracer, "node-a", &dir, &[]);
        let b = Agent::start(agent_command(
            tracer,
            ns.command("env"),
            "node-b",
            &ns.ip,
            &dir,
        ));
        assert!(b.address.starts_with(&ns.ip), "{}", b.address);
        TwoAgents {
            a,
            b,
            _ns: ns,
            dir,
            _turn: turn,
        }
    }

    /// `--agent`'s value: `A,B`.
    fn list(&self) -> String {
        format!("{},{}", self.a.address, self.b.address)
    }

    /// The token and the agents' CA, as a client names them.
    fn reach(&self) -> Vec<String> {
        reach_args(&[&self.a, &self.b], &self.dir)
    }

    /// `sdtrace top WHAT --agent A,B --token-file F ... ARGS`, from its
    /// attached line to its exit, which must be a success.
    fn top(&self, tracer: &Tracer, what: &str, args: &[&str]) -> Output {
        let mut cmd = Command::new(&tracer.bin);
        cmd.args(["top", what, "--agent", &self.list()])
            .args(self.reach())
            .args(args);
        let name = format!("sdtrace top {what} --agent");
        let watch = spawn_attached(&name, &mut cmd, Stdout::Lines);
        let (status, out) = watch.wait(TOP_EXIT);
        assert!(
            status.success(),
            "{name} {args:?}: {status}\n{}",
            out.describe()
        );
        out
    }

    fn stop(self) {
        for agent in [self.a, self.b] {
            let stopped = agent.stop();
            assert!(stopped.status.success(), "{:?}", stopped.stderr);
        }
    }
}

/// A process of a name no other has (a copy of `syscall-loop`), failing
/// an open 500 times a second until dropped: a row of its own in every
/// view, on both nodes.
struct Workload {
    child: Child,
    name: String,
}

impl Workload {
    fn start(dir: &TempDir) -> Self {
        // At most 15 bytes, the kernel's comm; one of its own per test.
        static STARTED: AtomicU32 = AtomicU32::new(0);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let name = format!("sdtui{}-{n}", process::id() % 100_000);
        let exe = dir.path().join(&name);
        fs::copy(env!("CARGO_BIN_EXE_syscall-loop"), &exe)
            .unwrap_or_else(|e| panic!("copy syscall-loop to {}: {e}", exe.display()));
        let spawn = || {
            Command::new(&exe)
                .args(["openat", "1000000000", "--rate", "500"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
        };
        // The copy's descriptor may still be open in a child another test
        // forked meanwhile, until that child's exec closes it.
        let deadline = Instant::now() + Duration::from_secs(5);
        let child = loop {
            match spawn() {
                Ok(child) => break child,
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("run {}: {e}", exe.display()),
            }
        };
        Workload { child, name }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Panics if it is no longer running (then no row could be its).
    fn assert_running(&mut self) {
        let status = self.child.try_wait().expect("wait for the workload");
        assert!(
            status.is_none(),
            "the workload {} exited: {status:?}",
            self.name
        );
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `row` is the workload's, on `node`: its node first, with its
/// pid and name among the other cells.
fn workload_row(row: &[&str], node: &str, work: &Workload) -> bool {
    row.first() == Some(&node)
        && row.contains(&work.pid().as_str())
        && row.contains(&work.name.as_str())
}

e2e!(
    the_live_view_over_two_agents_shows_both_nodes,
    |tracer, test| {
        let Some(tmux) = require_program(test, "tmux") else {
            return;
        };
        if require_program(test, "ip").is_none() {
            return;
        }
        let agents = TwoAgents::start(&tracer, "agents-ui", 3);
        let mut work = Workload::start(&agents.dir);
        let log = agents.dir.path().join("ui.log");
        let reach: Vec<String> = agents.reach().iter().map(|a| shell_word(a)).collect();
        let command = format!(
            "{} ui --agent {} {} --view procs -c {} --log {}; \
             echo sdtrace-exit=$?; sleep 60",
            shell_word(&tracer.bin.display().to_string()),
            shell_word(&agents.list()),
            reach.join(" "),
            shell_word(&format!("proc.name={}", work.name)),
            shell_word(&log.display().to_string()),
        );
        let pane = Pane::start_sized(
            &tmux,
            &format!("sdtrace-e2e-{}", agents.dir.token()),
            PANE,
            &command,
        );
        eprintln!("{test}: in tmux: {command}");
        let log_text = || fs::read_to_string(&log).unwrap_or_default();
        // A failed step shows the screen and what sdtrace logged.
        let wait = |what: &str, want: &dyn Fn(&str) -> bool| -> String {
            pane.try_wait_for(SCREEN_TIMEOUT, want)
                .unwrap_or_else(|screen| {
                    panic!(
                        "no {what} on screen within {SCREEN_TIMEOUT:?}:\n{screen}\n\
                     sdtrace's --log:\n{}",
                        log_text()
                    )
                })
        };
        let fail = |what: &str, screen: &str| -> ! {
            panic!("{what}:\n{screen}\nsdtrace's --log:\n{}", log_text())
        };

        // procs: the workload once per node, under a NODE column first.
        let screen = wait(
            "procs view with the workload's row on node-a and on node-b",
            &|s| {
                let rows = rows(s);
                breadcrumb(s) == "procs"
                    && titles(s).first() == Some(&"NODE")
                    && NODES
                        .iter()
                        .all(|n| rows.iter().any(|r| workload_row(r, n, &work)))
            },
        );
        let titles_now = titles(&screen);
        if !(titles_now.contains(&"PID") && titles_now.contains(&"NAME")) {
            fail("procs' columns after NODE: PID and NAME", &screen);
        }
        if rows(&screen).len() != 2 {
            fail(
                "only the workload's two rows (the filter is its name)",
                &screen,
            );
        }
        work.assert_running();

        // nodes, picked from F2's menu: a row per node.
        pick_view(&pane, "nodes");
        let screen = wait("nodes view with a row for node-a and node-b", &|s| {
            let rows = rows(s);
            breadcrumb(s) == "nodes"
                && NODES
                    .iter()
                    .all(|n| rows.iter().any(|r| r.first() == Some(n)))
        });
        if titles(&screen) != NODES_TITLES {
            fail(
                &format!("the nodes view's columns {NODES_TITLES:?}"),
                &screen,
            );
        }
        if rows(&screen).len() != 2 {
            fail("exactly one row per node", &screen);
        }

        // Sorted by NODE, A first, the cursor (on the first row) is on
        // node-a; Enter drills into its containers.
        sort_by(&pane, "NODE");
        wait("node-a first, sorted by NODE", &|s| {
            sorted_by(s) == Some(("NODE", true)) && rows(s).first().map(|r| r[0]) == Some("node-a")
        });
        pane.keys(&["Enter"], false);
        let screen = wait("containers view of node-a", &|s| {
            breadcrumb(s).ends_with("containers")
                && titles(s).first() == Some(&"NODE")
                && rows(s).iter().any(|r| r[0] == "node-a")
        });
        if !breadcrumb(&screen).starts_with("nodes > ") {
            fail("the breadcrumb goes nodes > … > containers", &screen);
        }
        if rows(&screen).iter().any(|r| r[0] != "node-a") || screen.contains("node-b") {
            fail("only node-a's rows once drilled into node-a", &screen);
        }

        // Back to both nodes.
        pane.keys(&["BSpace"], false);
        wait("nodes view again, after Backspace", &|s| {
            let rows = rows(s);
            breadcrumb(s) == "nodes"
                && NODES
                    .iter()
                    .all(|n| rows.iter().any(|r| r.first() == Some(n)))
        });
        work.assert_running();

        pane.keys(&["q"], false);
        let screen = wait("sdtrace's exit, after q", &|s| s.contains("sdtrace-exit="));
        if !screen.contains("sdtrace-exit=0") {
            fail("sdtrace's exit status 0", &screen);
        }
        // Said before the view took the terminal (then it is on the screen
        // it gave back), or while it was up (then it went to --log).
        if !(log_text().contains("sdtrace: attached") || screen.contains("sdtrace: attached")) {
            fail(
                "`sdtrace: attached` on stderr (--log or the terminal)",
                &screen,
            );
        }
        drop(pane);
        drop(work);
        agents.stop();
    }
);

/// Moves the sort (`<`) to the column titled `title`, from its smallest
/// (text: from A).
fn sort_by(pane: &Pane, title: &str) {
    let mut screen = pane.screen();
    for _ in 0..=NODES_TITLES.len() * 2 {
        match sorted_by(&screen) {
            Some((t, true)) if t == title => return,
            Some((t, false)) if t == title => {
                pane.keys(&["s"], true);
                screen = pane.wait_for(&format!("{title}▲"), |s| {
                    sorted_by(s) == Some((title, true))
                });
            }
            Some((t, _)) => {
                let from = t.to_owned();
                pane.keys(&["<"], true);
                screen = pane.wait_for("the sort to move left", |s| {
                    sorted_by(s).is_some_and(|(now, _)| now != from)
                });
            }
            None => panic!("no sorted column (▲ or ▼) in the table's header:\n{screen}"),
        }
    }
    panic!("the sort never reached {title}:\n{screen}");
}

e2e!(
    top_over_two_agents_ranks_each_nodes_processes,
    |tracer, test| {
        if require_program(test, "ip").is_none() {
            return;
        }
        let agents = TwoAgents::start(&tracer, "agents-top", 4);
        let mut work = Workload::start(&agents.dir);
        let filter = format!("proc.name={}", work.name);
        let out = agents.top(&tracer, "procs", &["-M", "3", "-c", &filter]);
        work.assert_running();
        let text = out.stdout.join("\n");
        let mut lines = out.stdout.iter().filter(|l| !l.trim().is_empty());
        let header: Vec<&str> = lines
            .next()
            .map(|l| l.split_whitespace().collect())
            .unwrap_or_default();
        assert_eq!(
            header.first(),
            Some(&"NODE"),
            "the NODE column first:\n{text}"
        );
        assert!(
            header.contains(&"PID") && header.contains(&"NAME"),
            "procs' columns:\n{text}"
        );
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
        for node in NODES {
            assert!(
                rows.iter().any(|r| workload_row(r, node, &work)),
                "a row for {} (pid {}) on {node}:\n{text}\nstderr: {:?}",
                work.name,
                work.pid(),
                out.stderr
            );
        }
        assert_eq!(rows.len(), 2, "only the workload's row per node:\n{text}");
        drop(work);
        agents.stop();
    }
);

e2e!(
    top_nodes_over_two_agents_ranks_both_nodes,
    |tracer, test| {
        if require_program(test, "ip").is_none() {
            return;
        }
        let agents = TwoAgents::start(&tracer, "agents-top-nodes", 5);
        let mut work = Workload::start(&agents.dir);
        let filter = format!("proc.name={}", work.name);
        let out = agents.top(&tracer, "nodes", &["-M", "3", "-j", "-c", &filter]);
        work.assert_running();
        let rows: Vec<Value> = out
            .stdout
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("a JSON row: {e}: {l}")))
            .collect();
        let described = format!("{rows:#?}\nstderr: {:?}", out.stderr);
        let nodes: BTreeSet<&str> = rows.iter().filter_map(|r| r["node"].as_str()).collect();
        assert_eq!(
            nodes,
            BTreeSet::from(NODES),
            "a row per node, its name under `node`: {described}"
        );
        assert_eq!(rows.len(), 2, "{described}");
        for row in &rows {
            let node = row["node"].as_str().expect("a node");
            assert_eq!(row["view"], "nodes", "{described}");
            // The workload's opens of a missing file, 500 a second.
            assert!(
                row["syscalls/s"].as_f64().is_some_and(|r| r > 0.0),
                "{node}'s syscalls/s: {described}"
            );
            assert!(
                row["errors"].as_u64().is_some_and(|n| n > 0),
                "{node}'s errors (failed opens): {described}"
            );
            // Its drill-down clause, as the live view's Enter narrows by.
            let clause: String = row["filter"]
                .as_str()
                .unwrap_or_else(|| panic!("{node}'s drill-down `filter`: {described}"))
                .split_whitespace()
                .collect();
            assert!(
                clause.contains(&format!("k8s.node.name=\"{node}\"")),
                "{node}'s drill-down clause is k8s.node.name = \"{node}\": {described}"
            );
        }
        drop(work);
        agents.stop();
    }
);
