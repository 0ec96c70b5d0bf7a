//! The aggregation on scripted events: records built as the kernel writes
//! them, run through the process table as the pipeline does, for two
//! processes, one on the host and one in a pod's container.

use std::collections::BTreeMap;
use std::fs;
use std::sync::Arc;

use tracer_common::syscall_names::nr;
use tracer_common::CaptureKind;

use crate::container::classify::{ContainerRef, Runtime};
use crate::container::docker::Meta;
use crate::container::Place;
use crate::decode::{decode, tests::syscall_record};
use crate::event::clock::Clock;
use crate::event::extract::{event_fd, EventView};
use crate::event::info::BufferMode;
use crate::filter::Filter;
use crate::sink::Sink;
use crate::state::{apply, ProcFs, ProcessTable, Users};

use super::aggregate::{Aggregator, Rates, EVENT_LINES};
use super::link::{self, Command};
use super::live::LiveAggregator;
use super::table::{Cell, Table, View};

const SEC: u64 = 1_000_000_000;
const CAT: u32 = 100;
const NGINX: u32 = 200;
const WEB_ID: &str = "3f2a9c1b7d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8";

/// A syscall as the script says it.
struct Ev {
    pid: u32,
    tid: u32,
    nr: u16,
    ret: i64,
    args: [u64; 6],
    path: Option<&'static str>,
    latency: u64,
}

fn ev(pid: u32, nr: u16, ret: i64) -> Ev {
    Ev {
        pid,
        tid: pid,
        nr,
        ret,
        args: [0; 6],
        path: None,
        latency: 1000,
    }
}

fn open(pid: u32, path: &'static str, ret: i64) -> Ev {
    Ev {
        args: [(-100i64) as u64, 0, 0, 0, 0, 0],
        path: Some(path),
        ..ev(pid, nr::OPENAT, ret)
    }
}

fn io(pid: u32, nr: u16, fd: u64, ret: i64) -> Ev {
    Ev {
        args: [fd, 0, 4096, 0, 0, 0],
        ..ev(pid, nr, ret)
    }
}

fn record(e: &Ev, ts: u64) -> Vec<u8> {
    let items: Vec<(u8, CaptureKind, &[u8])> = e
        .path
        .map(|p| (0, CaptureKind::UserStr, p.as_bytes()))
        .into_iter()
        .collect();
    let mut b = syscall_record(e.nr, e.ret, e.args, &items);
    b[0..8].copy_from_slice(&ts.to_le_bytes());
    b[8..16].copy_from_slice(&e.latency.to_le_bytes());
    b[40..44].copy_from_slice(&e.pid.to_le_bytes());
    b[44..48].copy_from_slice(&e.tid.to_le_bytes());
    let comm: &[u8] = if e.pid == CAT { b"cat" } else { b"nginx" };
    b[80..96].fill(0);
    b[80..80 + comm.len()].copy_from_slice(comm);
    b
}

/// The script: files read, written, tried and failed, by `cat` on the
/// host and `nginx` in pod shop/web-1.
fn script() -> Vec<Ev> {
    vec![
        open(CAT, "/etc/passwd", 3),
        io(CAT, nr::READ, 3, 100),
        Ev {
            tid: CAT + 1,
            ..io(CAT, nr::READ, 3, 100)
        },
        open(CAT, "/nope", -2),
        open(NGINX, "/var/log/x", 4),
        io(NGINX, nr::WRITE, 4, 50),
        io(NGINX, nr::READ, 4, -11),
        open(NGINX, "/etc/passwd", 5),
        io(NGINX, nr::READ, 5, 10),
        ev(CAT, nr::GETPID, CAT.into()),
        open(CAT, "/tmp/a \"b\" \\c (d)", 6),
        io(CAT, nr::WRITE, 6, 7),
    ]
}

/// A `/proc` with the script's two processes, and what the pipeline knows.
struct World {
    _dir: tempfile::TempDir,
    procs: ProcessTable,
    users: Users,
    clock: Clock,
    host: Place,
    web: Place,
    meta: Meta,
}

fn world() -> World {
    world_with("cat")
}

/// The world with the host process under another name.
fn world_with(host_comm: &str) -> World {
    let dir = tempfile::tempdir().unwrap();
    for (pid, comm) in [(CAT, host_comm), (NGINX, "nginx")] {
        let d = dir.path().join(pid.to_string());
        fs::create_dir_all(d.join("fd")).unwrap();
        fs::write(
            d.join("stat"),
            format!("{pid} ({comm}) S 1 {pid} {pid} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 100 12345 67\n"),
        )
        .unwrap();
        fs::write(d.join("cmdline"), format!("{comm}\0")).unwrap();
    }
    let labels: BTreeMap<String, String> = [
        ("io.kubernetes.pod.name", "web-1"),
        ("io.kubernetes.pod.namespace", "shop"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    World {
        procs: ProcessTable::new(ProcFs::new(dir.path())),
        _dir: dir,
        users: Users::parse("root:x:0:0::/root:/bin/sh\n", ""),
        clock: Clock::fixed(0, 0),
        host: Place::Host,
        web: Place::Container(Arc::new(ContainerRef {
            runtime: Runtime::Docker,
            id: WEB_ID.into(),
        })),
        meta: Meta {
            name: "web".into(),
            image: "nginx:1.25".into(),
            labels,
            ..Meta::default()
        },
    }
}

/// Runs `events` through a fresh world into `sink`, as the pipeline does:
/// state before, the sink, state after; one event every 10 ms.
fn feed(sink: &mut dyn Sink, events: &[Ev]) {
    feed_in(world(), sink, events);
}

fn feed_in(w: World, sink: &mut dyn Sink, events: &[Ev]) {
    feed_on(None, w, sink, events);
}

/// [`feed_in`], the events happening on `node` (as an agent's do).
fn feed_on(node: Option<&str>, mut w: World, sink: &mut dyn Sink, events: &[Ev]) {
    for (i, e) in events.iter().enumerate() {
        let bytes = record(e, 100 * SEC + i as u64 * SEC / 100);
        let rec = decode(&bytes).unwrap();
        apply::before(&mut w.procs, &rec);
        w.procs.process_or_load(rec.hdr.tgid);
        if let Some(fd) = event_fd(&rec).and_then(|fd| i32::try_from(fd).ok()) {
            w.procs.fd_or_load(rec.hdr.tgid, fd);
        }
        let in_web = e.pid == NGINX;
        let view = EventView {
            num: i as u64 + 1,
            rec: &rec,
            procs: &w.procs,
            users: &w.users,
            clock: &w.clock,
            latency: true,
            buffers: BufferMode::Dots,
            place: Some(if in_web { &w.web } else { &w.host }),
            meta: in_web.then_some(&w.meta),
            pod: None,
            node,
        };
        sink.observe(&view, true);
        apply::after(&mut w.procs, &rec);
    }
}

fn table(view: View, filter: Option<&str>, events: &[Ev]) -> Table {
    table_on(&[None], view, filter, events)
}

/// The table of `events` happening on each of `nodes` (the same pids on
/// each, as two machines have).
fn table_on(nodes: &[Option<&str>], view: View, filter: Option<&str>, events: &[Ev]) -> Table {
    let filter = filter.map(|f| Filter::parse(f).unwrap_or_else(|e| panic!("{f}: {e}")));
    let mut agg = Aggregator::new(view, filter).with_rates(Rates::Whole);
    for node in nodes {
        feed_on(*node, world(), &mut agg, events);
    }
    agg.table()
}

const TWO_NODES: [Option<&str>; 2] = [Some("node-a"), Some("node-b")];

#[test]
fn events_from_two_nodes_are_rows_of_each_node() {
    let s = script();
    let procs = table_on(&TWO_NODES, View::Processes, None, &s);
    assert_eq!(procs.columns[0].title, "NODE");
    assert_eq!(procs.main_column(), View::Processes.main_column() + 1);
    assert_eq!(
        rows(&procs),
        [
            "node-a | 100 | cat | host | 200 | 7 | 1",
            "node-a | 200 | nginx | web | 10 | 50 | 1",
            "node-b | 100 | cat | host | 200 | 7 | 1",
            "node-b | 200 | nginx | web | 10 | 50 | 1",
        ]
    );
    let nodes = table_on(&TWO_NODES, View::Nodes, None, &s);
    let titles: Vec<&str> = nodes.columns.iter().map(|c| c.title).collect();
    assert_eq!(titles, ["NODE", "SYSCALLS/S", "IN", "OUT", "ERRORS"]);
    assert_eq!(
        rows(&nodes),
        ["node-a | 210 | 57 | 2", "node-b | 210 | 57 | 2"]
    );
    assert_eq!(
        nodes.rows.iter().filter_map(|r| r.narrow.as_deref()).min(),
        Some("k8s.node.name=\"node-a\"")
    );
    // A single machine's events have no node column, and no nodes.
    assert_ne!(table(View::Processes, None, &s).columns[0].title, "NODE");
    assert!(table(View::Nodes, None, &s).rows.is_empty());
}

fn text(c: &Cell) -> String {
    match c {
        Cell::Text(s) => s.clone(),
        Cell::Count(n) | Cell::Bytes(n) | Cell::Nanos(n) => n.to_string(),
        Cell::Rate(r) => format!("{r:.1}"),
        Cell::Empty => "-".into(),
    }
}

/// The rows as text, sorted, without rates (they depend on when a view
/// starts).
fn rows(t: &Table) -> Vec<String> {
    let mut rows: Vec<String> = t
        .rows
        .iter()
        .map(|r| {
            r.cells
                .iter()
                .filter(|c| !matches!(c, Cell::Rate(_)))
                .map(text)
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn files_count_bytes_opens_and_errors_per_container() {
    let t = table(View::Files, None, &script());
    assert_eq!(t.columns.len(), t.rows[0].cells.len());
    assert_eq!(
        rows(&t),
        [
            "/etc/passwd | host | 200 | 200 | 0 | 1 | 0",
            "/etc/passwd | web | 10 | 10 | 0 | 1 | 0",
            "/nope | host | 0 | 0 | 0 | 0 | 1",
            "/tmp/a \"b\" \\c (d) | host | 7 | 0 | 7 | 1 | 0",
            "/var/log/x | web | 50 | 0 | 50 | 1 | 1",
        ]
    );
}

#[test]
fn processes_threads_containers_pods() {
    let s = script();
    assert_eq!(
        rows(&table(View::Processes, None, &s)),
        [
            "100 | cat | host | 200 | 7 | 1",
            "200 | nginx | web | 10 | 50 | 1"
        ]
    );
    assert_eq!(
        rows(&table(View::Threads, None, &s)),
        [
            "100 | 100 | cat | host | 100 | 7 | 1",
            "101 | 100 | cat | host | 100 | 0 | 0",
            "200 | 200 | nginx | web | 10 | 50 | 1",
        ]
    );
    assert_eq!(
        rows(&table(View::Containers, None, &s)),
        [
            "3f2a9c1b7d4e | web | nginx:1.25 | 10 | 50 | 0 | 1".to_owned(),
            "host | host | - | 200 | 7 | 0 | 1".to_owned(),
        ]
    );
    assert_eq!(
        rows(&table(View::Pods, None, &s)),
        ["shop | web-1 | 10 | 50 | 1"]
    );
    assert_eq!(
        rows(&table(View::Namespaces, None, &s)),
        ["shop | 10 | 50 | 1"]
    );
}

#[test]
fn syscalls_with_latency_and_errors() {
    let s = script();
    assert_eq!(
        rows(&table(View::Syscalls, None, &s)),
        [
            // 1 µs each, as the middle of its bucket (960..1024 ns).
            "getpid | 1 | 0 | 992 | 992",
            "openat | 5 | 1 | 992 | 992",
            "read | 4 | 1 | 992 | 992",
            "write | 2 | 0 | 992 | 992",
        ]
    );
    assert_eq!(
        rows(&table(View::Errors, None, &s)),
        ["openat | ENOENT | cat | 1", "read | EAGAIN | nginx | 1"]
    );
}

/// Each row's clause parses, and the view narrowed by it has that row
/// alone, with the same numbers.
#[test]
fn drill_down_clauses_select_their_row() {
    let s = script();
    for nodes in [&[None][..], &TWO_NODES] {
        for view in View::ALL {
            let whole = table_on(nodes, view, None, &s);
            // The script has no sockets, and no daemon (see the converge
            // view's own test); one machine's events have no node.
            let single = nodes[0].is_none();
            if matches!(view, View::Events | View::Connections | View::Converge)
                || (view == View::Nodes && single)
            {
                assert!(whole.rows.is_empty());
                continue;
            }
            assert!(!whole.rows.is_empty(), "{view}");
            for row in &whole.rows {
                let clause = row.narrow.as_deref().expect("every row narrows");
                let narrowed = table_on(nodes, view, Some(clause), &s);
                let alone = Table {
                    rows: vec![row.clone()],
                    ..whole.clone()
                };
                assert_eq!(rows(&narrowed), rows(&alone), "{view}: {clause}");
            }
        }
    }
}

#[test]
fn a_filter_keeps_other_events_out() {
    let t = table(View::Files, Some("proc.name=nginx"), &script());
    assert_eq!(t.rows.len(), 2);
}

#[test]
fn events_view_keeps_the_newest_lines() {
    let many: Vec<Ev> = (0..EVENT_LINES as i64 + 20)
        .map(|i| ev(CAT, nr::GETPID, i))
        .collect();
    let mut agg = Aggregator::new(View::Events, None);
    feed(&mut agg, &many);
    let lines = agg.lines();
    assert_eq!(lines.len(), EVENT_LINES);
    assert!(lines[0].starts_with("21 "), "{}", lines[0]);
    assert!(
        lines
            .last()
            .unwrap()
            .contains("host (host) cat (100) < getpid"),
        "{}",
        lines.last().unwrap()
    );
}

#[test]
fn rates_follow_the_window() {
    // 100 events 10 ms apart: one second at 100/s.
    let many: Vec<Ev> = (0..100).map(|i| ev(CAT, nr::GETPID, i)).collect();
    let mut agg = Aggregator::new(View::Processes, None);
    feed(&mut agg, &many);
    let Cell::Rate(rate) = agg.table().rows[0].cells[3] else {
        panic!("not a rate");
    };
    assert!((rate - 100.0).abs() < 2.0, "{rate}");
    assert!(agg.totals().event_rate > 90.0);
    // Three quiet seconds on, nothing is happening.
    agg.advance(104 * SEC);
    let Cell::Rate(rate) = agg.table().rows[0].cells[3] else {
        panic!("not a rate");
    };
    assert!(rate.abs() < f64::EPSILON, "{rate}");
}

#[test]
fn live_aggregator_obeys_and_publishes() {
    let (ui, loop_end) = link::link();
    let mut live = LiveAggregator::new(loop_end, View::Processes, None);
    assert!(ui.send(Command::Show {
        view: View::Files,
        filter: Some("fd.name=\"/etc/passwd\"".into()),
    }));
    live.tick(SEC);
    let first = ui.take().expect("a snapshot at once");
    assert_eq!(first.table.view, View::Files);
    feed(&mut live, &script());
    live.tick(200 * SEC);
    let snap = ui.take().expect("a newer snapshot");
    assert_eq!(rows(&snap.table).len(), 2);
    assert!(ui.send(Command::Pause(true)));
    live.tick(300 * SEC);
    assert!(ui.take().is_none(), "paused");
    assert!(!live.done());
    drop(ui);
    live.tick(400 * SEC);
    assert!(live.done());
}

/// What `observe` costs per event, view by view: the script, repeated,
/// fed once into a sink that does nothing and once into the aggregator.
/// `cargo test --release -p tracer --lib summary::tests::observe_cost -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, not a check"]
fn observe_cost() {
    struct Nothing;
    impl Sink for Nothing {
        fn observe(&mut self, _: &EventView<'_>, _: bool) {}
    }
    let script: Vec<Ev> = (0..20_000).flat_map(|_| script()).collect();
    let time = |sink: &mut dyn Sink| {
        let start = std::time::Instant::now();
        feed(sink, &script);
        start.elapsed().as_nanos() as f64 / script.len() as f64
    };
    let base = time(&mut Nothing);
    println!(
        "feeding alone: {base:.0} ns/event ({} events)",
        script.len()
    );
    for view in View::ALL {
        let mut agg = Aggregator::new(view, None);
        let with = time(&mut agg);
        println!("{view:>10}: observe {:.0} ns/event", with - base);
    }
    let filter = Filter::parse("proc.name=nginx and fd.name startswith /var").unwrap();
    let mut agg = Aggregator::new(View::Files, Some(filter));
    let with = time(&mut agg);
    println!(
        "files with a 2-clause filter: observe {:.0} ns/event",
        with - base
    );
}

#[test]
fn the_converge_view_lists_what_a_daemon_changed() {
    let mut agg = Aggregator::new(View::Converge, None);
    feed_in(world_with("puppet"), &mut agg, &script());
    agg.advance(200 * SEC);
    let t = agg.table();
    assert_eq!(t.columns.len(), t.rows[0].cells.len());
    let rows: Vec<Vec<String>> = t
        .rows
        .iter()
        .map(|r| r.cells.iter().map(text).collect())
        .collect();
    assert_eq!(
        rows,
        vec![vec![
            "file:/tmp/a \"b\" \\c (d)".to_owned(),
            "puppet".into(),
            "0".into(),
            "0".into(),
            "1".into(),
            "-".into(),
            "-".into(),
            "0".into(),
            "scheduled run".into(),
        ]],
        "nginx's writes are nobody's: no daemon manages /var/log/x"
    );
    let narrow = t.rows[0].narrow.clone().unwrap();
    assert!(Filter::parse(&narrow).is_ok(), "{narrow}");
}
