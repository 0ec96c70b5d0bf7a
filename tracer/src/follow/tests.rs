//! The tracker on hand-made event sequences: what a curl, a NAT rule, an
//! nginx and a proxy do, in the orders the kernel can report them.

use std::net::SocketAddr;

use tracer_common::syscall_names::nr;

use super::flow::{Flow, TCP};
use super::trace::{
    Describe, Event, Kind, Line, Socket, Trace, Tracker, Translation, Translations, Who,
};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A process in the scenario.
#[derive(Clone, Copy)]
struct Proc {
    pid: u32,
    name: &'static str,
    seed: bool,
}

const CURL: Proc = Proc {
    pid: 100,
    name: "curl",
    seed: true,
};
const CURL2: Proc = Proc {
    pid: 101,
    name: "curl",
    seed: true,
};
const NGINX: Proc = Proc {
    pid: 200,
    name: "nginx",
    seed: false,
};
const PROXY: Proc = Proc {
    pid: 300,
    name: "proxy",
    seed: false,
};
const OTHER: Proc = Proc {
    pid: 400,
    name: "cron",
    seed: false,
};

struct Said {
    p: Proc,
    tid: u32,
    ts: u64,
    ty: &'static str,
    fd_name: Option<String>,
}

impl Describe for Said {
    fn who(&self) -> Who {
        Who {
            pid: self.p.pid,
            tid: self.tid,
            name: self.p.name.into(),
            ..Who::default()
        }
    }
    fn line(&self) -> Line {
        Line {
            ts: self.ts,
            tid: self.tid,
            evt_type: self.ty.into(),
            res: "SUCCESS".into(),
            fd_name: self.fd_name.clone(),
            info: String::new(),
        }
    }
    fn shown(&self) -> bool {
        true
    }
    fn seeds(&self, _: Option<SocketAddr>) -> bool {
        self.p.seed
    }
}

/// Connection tracking with fixed entries.
#[derive(Default)]
struct Table(Vec<Translation>);

impl Translations for Table {
    fn by_original(&mut self, f: &Flow) -> Option<Translation> {
        self.0.iter().find(|t| t.original == *f).cloned()
    }
    fn by_reply(&mut self, f: &Flow) -> Option<Translation> {
        self.0.iter().find(|t| t.reply == *f).cloned()
    }
    fn rules(&mut self, _: &Translation) -> Vec<String> {
        vec!["nat/DOCKER DNAT to 172.17.0.2:80".into()]
    }
}

fn flow(src: &str, dst: &str) -> Flow {
    Flow {
        proto: TCP,
        src: addr(src),
        dst: addr(dst),
    }
}

struct Run {
    t: Tracker,
    nat: Table,
    ts: u64,
}

impl Run {
    fn new(nat: Table) -> Self {
        Self {
            t: Tracker::default(),
            nat,
            ts: 1_000,
        }
    }

    /// `what`: the event type and the fd's name.
    fn ev(
        &mut self,
        p: Proc,
        nr: u16,
        ret: i64,
        fd: Option<i32>,
        sock: Option<Socket>,
        what: (&'static str, Option<&str>),
    ) {
        let (ty, fd_name) = what;
        self.ts += 1_000;
        let ev = Event {
            ts: self.ts,
            tgid: p.pid,
            tid: p.pid,
            nr,
            ret,
            exit: false,
            fd,
            socket: sock,
        };
        let d = Said {
            p,
            tid: p.pid,
            ts: self.ts,
            ty,
            fd_name: fd_name.map(str::to_owned),
        };
        self.t.observe(&ev, &d, &mut self.nat);
    }

    fn connect(&mut self, p: Proc, fd: i32, local: &str, remote: &str, ret: i64) {
        let s = Socket {
            proto: TCP,
            local: Some(addr(local)),
            remote: Some(addr(remote)),
        };
        self.ev(p, nr::CONNECT, ret, Some(fd), Some(s), ("connect", None));
    }

    fn accept(&mut self, p: Proc, fd: i32, local: &str, remote: &str) {
        let s = Socket {
            proto: TCP,
            local: Some(addr(local)),
            remote: Some(addr(remote)),
        };
        self.ev(
            p,
            nr::ACCEPT4,
            i64::from(fd),
            Some(fd),
            Some(s),
            ("accept4", None),
        );
    }

    fn on_fd(&mut self, p: Proc, nr: u16, ret: i64, fd: i32, ty: &'static str) {
        self.ev(p, nr, ret, Some(fd), None, (ty, None));
    }

    fn open(&mut self, p: Proc, path: &str) {
        self.ev(p, nr::OPENAT, 9, Some(9), None, ("openat", Some(path)));
    }

    fn wait(&mut self, p: Proc) {
        self.ev(p, nr::EPOLL_WAIT, 1, None, None, ("epoll_wait", None));
    }

    fn close(&mut self, p: Proc, fd: i32) {
        self.on_fd(p, nr::CLOSE, 0, fd, "close");
    }

    fn done(&mut self) -> Vec<Trace> {
        self.t.take_done(&mut self.nat)
    }
}

const EINPROGRESS: i64 = -tracer_common::abi::EINPROGRESS;

fn kinds(t: &Trace) -> Vec<(Kind, &str)> {
    t.spans
        .iter()
        .map(|s| (s.kind, s.who.name.as_str()))
        .collect()
}

fn types(t: &Trace, kind: Kind, name: &str) -> Vec<String> {
    t.spans
        .iter()
        .filter(|s| s.kind == kind && s.who.name == name)
        .flat_map(|s| s.lines.iter())
        .map(|l| match &l.fd_name {
            Some(f) => format!("{} {f}", l.evt_type),
            None => l.evt_type.clone(),
        })
        .collect()
}

/// curl to 172.17.0.1:8080, DNAT'd to nginx at 172.17.0.2:80.
fn published_port() -> Table {
    Table(vec![Translation {
        original: flow("172.17.0.1:40000", "172.17.0.1:8080"),
        reply: flow("172.17.0.2:80", "172.17.0.1:40000"),
        refused: false,
    }])
}

fn serve_one(r: &mut Run, curl: Proc, cport: u16, file: &str, sfd: i32) {
    let local = format!("172.17.0.1:{cport}");
    r.connect(curl, 5, &local, "172.17.0.1:8080", EINPROGRESS);
    r.accept(NGINX, sfd, "172.17.0.2:80", &local);
    r.on_fd(curl, nr::SENDTO, 78, 5, "sendto");
    r.wait(NGINX);
    r.on_fd(NGINX, nr::RECVFROM, 78, sfd, "recvfrom");
    r.open(NGINX, file);
    r.on_fd(NGINX, nr::SENDFILE, 612, sfd, "sendfile");
    r.wait(NGINX);
}

#[test]
fn a_request_through_dnat_is_one_trace_in_order() {
    let mut r = Run::new(published_port());
    r.ev(
        OTHER,
        nr::OPENAT,
        3,
        Some(3),
        None,
        ("openat", Some("/etc/crontab")),
    );
    serve_one(&mut r, CURL, 40000, "/usr/share/nginx/html/index.html", 7);
    r.open(NGINX, "/var/cache/unrelated");
    r.on_fd(CURL, nr::RECVFROM, 850, 5, "recvfrom");
    r.close(CURL, 5);
    assert!(r.done().is_empty(), "nginx has not closed yet");
    r.on_fd(NGINX, nr::RECVFROM, 0, 7, "recvfrom");
    r.close(NGINX, 7);
    let done = r.done();
    assert_eq!(done.len(), 1);
    let t = &done[0];
    assert_eq!(
        kinds(t),
        [
            (Kind::Client, "curl"),
            (Kind::Nat, "curl"),
            (Kind::Server, "nginx")
        ]
    );
    let nat = t.spans[1].nat.as_ref().unwrap();
    assert_eq!(nat.0.to_string(), "172.17.0.1:40000->172.17.0.1:8080");
    assert_eq!(nat.1.to_string(), "172.17.0.1:40000->172.17.0.2:80");
    assert_eq!(
        types(t, Kind::Server, "nginx"),
        [
            "accept4",
            "recvfrom",
            "openat /usr/share/nginx/html/index.html",
            "sendfile",
            "recvfrom",
            "close"
        ],
        "the open after nginx went back to epoll_wait is not this request's"
    );
    assert_eq!(
        types(t, Kind::Client, "curl"),
        ["connect", "sendto", "recvfrom", "close"]
    );
    assert!(t.spans.iter().all(|s| s.error.is_none()));
    assert_eq!(t.spans[2].depth, 1);
}

#[test]
fn an_accept_reported_before_its_connect_is_still_matched() {
    let mut r = Run::new(Table::default());
    r.accept(NGINX, 7, "127.0.0.1:80", "127.0.0.1:40000");
    r.connect(CURL, 5, "127.0.0.1:40000", "127.0.0.1:80", 0);
    r.on_fd(NGINX, nr::READ, 10, 7, "read");
    r.close(NGINX, 7);
    r.close(CURL, 5);
    let done = r.done();
    assert_eq!(done.len(), 1);
    assert_eq!(
        kinds(&done[0]),
        [(Kind::Client, "curl"), (Kind::Server, "nginx")]
    );
    assert_eq!(
        types(&done[0], Kind::Server, "nginx"),
        ["accept4", "read", "close"]
    );
}

#[test]
fn two_interleaved_requests_on_one_worker_are_not_mixed() {
    let mut r = Run::new(Table(vec![
        Translation {
            original: flow("172.17.0.1:40001", "172.17.0.1:8080"),
            reply: flow("172.17.0.2:80", "172.17.0.1:40001"),
            refused: false,
        },
        Translation {
            original: flow("172.17.0.1:40002", "172.17.0.1:8080"),
            reply: flow("172.17.0.2:80", "172.17.0.1:40002"),
            refused: false,
        },
    ]));
    r.connect(CURL, 5, "172.17.0.1:40001", "172.17.0.1:8080", EINPROGRESS);
    r.connect(CURL2, 5, "172.17.0.1:40002", "172.17.0.1:8080", EINPROGRESS);
    r.accept(NGINX, 7, "172.17.0.2:80", "172.17.0.1:40001");
    r.accept(NGINX, 8, "172.17.0.2:80", "172.17.0.1:40002");
    r.on_fd(NGINX, nr::RECVFROM, 78, 8, "recvfrom");
    r.open(NGINX, "/b.html");
    r.on_fd(NGINX, nr::RECVFROM, 78, 7, "recvfrom");
    r.open(NGINX, "/a.html");
    r.on_fd(NGINX, nr::SENDFILE, 2, 7, "sendfile");
    r.on_fd(NGINX, nr::SENDFILE, 2, 8, "sendfile");
    for (curl, fd) in [(CURL, 7), (CURL2, 8)] {
        r.close(curl, 5);
        r.close(NGINX, fd);
    }
    let done = r.done();
    assert_eq!(done.len(), 2);
    for (t, pid, file) in [
        (&done[0], CURL.pid, "/a.html"),
        (&done[1], CURL2.pid, "/b.html"),
    ] {
        assert_eq!(t.spans[0].who.pid, pid);
        let opened: Vec<_> = types(t, Kind::Server, "nginx")
            .into_iter()
            .filter(|l| l.starts_with("openat"))
            .collect();
        assert_eq!(opened, [format!("openat {file}")]);
    }
}

#[test]
fn a_refused_connection_says_where_it_failed() {
    let mut r = Run::new(Table(vec![Translation {
        original: flow("172.17.0.1:40000", "10.96.0.10:80"),
        reply: flow("172.17.0.2:81", "172.17.0.1:40000"),
        refused: true,
    }]));
    r.connect(CURL, 5, "172.17.0.1:40000", "10.96.0.10:80", EINPROGRESS);
    r.close(CURL, 5);
    let done = r.done();
    assert_eq!(done.len(), 1);
    let t = &done[0];
    assert_eq!(kinds(t), [(Kind::Client, "curl"), (Kind::Nat, "curl")]);
    for s in &t.spans {
        let e = s.error.as_deref().unwrap_or_default();
        assert!(e.contains("refused") && e.contains("172.17.0.2:81"), "{e}");
    }
}

#[test]
fn a_proxys_upstream_connection_is_the_next_hop() {
    let mut r = Run::new(Table::default());
    r.connect(CURL, 5, "127.0.0.1:40000", "127.0.0.1:8080", EINPROGRESS);
    r.accept(PROXY, 6, "127.0.0.1:8080", "127.0.0.1:40000");
    // Another thread of the proxy dials the backend, as Go's runtime does.
    r.connect(PROXY, 7, "172.17.0.1:50000", "172.17.0.2:80", EINPROGRESS);
    r.accept(NGINX, 9, "172.17.0.2:80", "172.17.0.1:50000");
    r.on_fd(NGINX, nr::SENDFILE, 612, 9, "sendfile");
    r.close(NGINX, 9);
    r.close(PROXY, 7);
    r.close(PROXY, 6);
    r.close(CURL, 5);
    let done = r.done();
    assert_eq!(done.len(), 1);
    let t = &done[0];
    assert_eq!(
        kinds(t),
        [
            (Kind::Client, "curl"),
            (Kind::Server, "proxy"),
            (Kind::Client, "proxy"),
            (Kind::Server, "nginx")
        ]
    );
    let depths: Vec<_> = t.spans.iter().map(|s| s.depth).collect();
    assert_eq!(depths, [0, 1, 1, 2]);
    assert_eq!(t.spans[2].parent, Some(t.spans[1].id));
}

#[test]
fn a_trace_waits_for_its_server_only_so_long() {
    let mut r = Run::new(Table::default());
    r.connect(CURL, 5, "127.0.0.1:40000", "127.0.0.1:80", 0);
    r.accept(NGINX, 7, "127.0.0.1:80", "127.0.0.1:40000");
    r.close(CURL, 5);
    r.t.tick(r.ts + 1_000);
    assert!(r.done().is_empty());
    r.t.tick(r.ts + super::trace::LINGER_NS);
    let done = r.done();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].spans[1].end, None, "nginx's side is still open");
}

#[test]
fn a_long_keep_alive_connection_keeps_its_first_events_and_counts_the_rest() {
    let mut r = Run::new(Table::default());
    r.connect(CURL, 5, "127.0.0.1:40000", "127.0.0.1:80", 0);
    r.accept(NGINX, 7, "127.0.0.1:80", "127.0.0.1:40000");
    for _ in 0..super::trace::MAX_LINES + 10 {
        r.on_fd(NGINX, nr::RECVFROM, 78, 7, "recvfrom");
    }
    r.close(NGINX, 7);
    r.close(CURL, 5);
    let done = r.done();
    let server = &done[0].spans[1];
    assert_eq!(server.lines.len(), super::trace::MAX_LINES);
    // The accept is the first line kept.
    assert_eq!(server.elided, 12, "eleven reads and the close");
}

#[test]
fn a_connect_reported_late_still_gets_what_the_server_did_meanwhile() {
    let mut r = Run::new(Table::default());
    // The client's CPU batch came late: its connect is handled after the
    // server had accepted, read the request and opened the file.
    r.accept(NGINX, 7, "127.0.0.1:80", "127.0.0.1:40000");
    r.on_fd(NGINX, nr::RECVFROM, 78, 7, "recvfrom");
    r.open(NGINX, "/www/a.html");
    r.connect(CURL, 5, "127.0.0.1:40000", "127.0.0.1:80", EINPROGRESS);
    r.on_fd(NGINX, nr::SENDFILE, 612, 7, "sendfile");
    r.close(NGINX, 7);
    r.close(CURL, 5);
    let done = r.done();
    assert_eq!(done.len(), 1);
    assert_eq!(
        types(&done[0], Kind::Server, "nginx"),
        [
            "accept4",
            "recvfrom",
            "openat /www/a.html",
            "sendfile",
            "close"
        ]
    );
}

#[test]
fn an_unclaimed_accept_is_forgotten_and_starts_no_trace() {
    let mut r = Run::new(Table::default());
    r.accept(NGINX, 7, "127.0.0.1:80", "127.0.0.1:40000");
    r.on_fd(NGINX, nr::RECVFROM, 78, 7, "recvfrom");
    r.close(NGINX, 7);
    r.t.tick(r.ts + 10 * super::trace::LINGER_NS);
    r.t.finish_all();
    assert!(r.done().is_empty());
    assert_eq!(r.t.open_traces(), 0);
}

#[test]
fn a_server_reported_after_its_clients_close_still_joins_the_trace() {
    let mut r = Run::new(published_port());
    // nginx's CPU batch came after the reorder window had released all of
    // curl's events, its close included.
    r.connect(CURL, 5, "172.17.0.1:40000", "172.17.0.1:8080", EINPROGRESS);
    r.on_fd(CURL, nr::SENDTO, 78, 5, "sendto");
    r.on_fd(CURL, nr::RECVFROM, 850, 5, "recvfrom");
    r.close(CURL, 5);
    r.t.tick(r.ts + super::trace::ANSWER_GRACE_NS - 1);
    assert!(
        r.done().is_empty(),
        "curl was answered by a server not seen yet"
    );
    r.accept(NGINX, 7, "172.17.0.2:80", "172.17.0.1:40000");
    r.on_fd(NGINX, nr::RECVFROM, 78, 7, "recvfrom");
    r.open(NGINX, "/www/index.html");
    r.on_fd(NGINX, nr::SENDFILE, 612, 7, "sendfile");
    r.close(NGINX, 7);
    let done = r.done();
    assert_eq!(done.len(), 1);
    assert_eq!(
        kinds(&done[0]),
        [
            (Kind::Client, "curl"),
            (Kind::Nat, "curl"),
            (Kind::Server, "nginx")
        ]
    );
}

#[test]
fn an_answer_from_an_unseen_server_delays_its_trace_only_so_long() {
    let mut r = Run::new(Table::default());
    r.connect(CURL, 5, "10.0.0.1:40000", "192.0.2.7:80", EINPROGRESS);
    r.on_fd(CURL, nr::RECVFROM, 850, 5, "recvfrom");
    r.close(CURL, 5);
    assert!(r.done().is_empty());
    r.t.tick(r.ts + super::trace::ANSWER_GRACE_NS);
    let done = r.done();
    assert_eq!(kinds(&done[0]), [(Kind::Client, "curl")]);
    assert_eq!(done[0].spans[0].error, None, "it was answered");
}
