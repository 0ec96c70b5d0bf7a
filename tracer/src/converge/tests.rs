//! The engine on scripted sequences of facts, as the syscalls of a daemon
//! and of the processes around it would produce them.

use std::collections::HashMap;

use super::engine::{Engine, ProcessInfo, Selection, CREATED_IDLE_NS, IDLE_NS};
use super::inotify::Event;
use super::model::{Actor, CauseKind, Derived, Fact, FileOp, Kind, Via};
use super::resource::{self, Resource};

const MS: u64 = 1_000_000;
const IN_MODIFY: u32 = 0x2;

struct Script {
    engine: Engine,
    now: u64,
    comms: HashMap<u32, String>,
    parents: HashMap<u32, u32>,
    out: Vec<Derived>,
    /// How long each syscall took (from entry to return).
    took: u64,
}

impl Script {
    fn new(selection: Selection) -> Self {
        Self {
            engine: Engine::new(selection),
            now: 1_000 * MS,
            comms: HashMap::new(),
            parents: HashMap::new(),
            out: Vec::new(),
            took: 0,
        }
    }

    fn named(names: &[&str]) -> Self {
        Self::new(Selection {
            pids: Vec::new(),
            names: names.iter().map(|n| (*n).to_owned()).collect(),
        })
    }

    fn fact(&mut self, f: &Fact<'_>) {
        self.now += MS;
        let comms = self.comms.clone();
        let actor = move |pid: u32| Actor {
            pid,
            comm: comms
                .get(&pid)
                .cloned()
                .unwrap_or_else(|| format!("p{pid}")),
            exe: String::new(),
            container: None,
        };
        self.engine
            .observe(self.now - self.took, self.now, f, &actor);
        self.out.extend(self.engine.take());
    }

    /// A fork: the child is placed by its ancestry when first seen, as
    /// the pipeline's process table tells it.
    fn fork(&mut self, parent: u32, pid: u32) {
        self.parents.insert(pid, parent);
        let mut chain = Vec::new();
        let mut at = pid;
        while let Some(&up) = self.parents.get(&at) {
            chain.push(up);
            at = up;
        }
        self.engine.place(pid, chain.into_iter());
    }

    fn spawn(&mut self, parent: u32, pid: u32, argv: &[&str]) {
        self.fork(parent, pid);
        self.exec(pid, argv);
    }

    fn exec(&mut self, pid: u32, argv: &[&str]) {
        let argv: Vec<String> = argv.iter().map(|a| (*a).to_owned()).collect();
        let comm = resource_comm(&argv);
        self.comms.insert(pid, comm.clone());
        let exe = argv[0].clone();
        self.fact(&Fact::Exec {
            pid,
            comm: &comm,
            exe: &exe,
            argv: &argv,
        });
    }

    fn file(&mut self, pid: u32, path: &str, op: FileOp) {
        self.fact(&Fact::File { pid, path, op });
    }

    fn exit(&mut self, pid: u32) {
        self.fact(&Fact::Exit { pid });
    }

    fn watch(&mut self, pid: u32, path: &str, wd: Result<i32, i64>) {
        self.fact(&Fact::Watch {
            pid,
            ifd: 3,
            path,
            wd,
            existing: false,
        });
    }

    fn notified(&mut self, pid: u32, wd: i32, name: &str) {
        let events = vec![Event {
            wd,
            mask: IN_MODIFY,
            name: name.into(),
        }];
        self.fact(&Fact::Inotify {
            pid,
            ifd: 3,
            events,
        });
    }

    /// Lets every open operation go quiet.
    fn settle(&mut self) {
        self.now += CREATED_IDLE_NS + MS;
        self.engine.tick(self.now);
        self.out.extend(self.engine.take());
    }

    fn of(&self, kind: Kind) -> Vec<&Derived> {
        self.out.iter().filter(|d| d.kind == kind).collect()
    }

    /// A daemon `minimgmt` (pid 10) managing /etc/app.conf, after startup.
    fn with_daemon() -> Self {
        let mut s = Self::named(&["minimgmt"]);
        s.spawn(
            1,
            10,
            &["/usr/bin/minimgmt", "--config", "/etc/minimgmt.json"],
        );
        s.watch(10, "/etc/app.conf", Ok(1));
        s.watch(10, "/etc", Ok(2));
        s
    }
}

fn resource_comm(argv: &[String]) -> String {
    let a = argv
        .iter()
        .find(|a| a.starts_with("/etc/init.d/"))
        .unwrap_or(&argv[0]);
    a.rsplit('/').next().unwrap_or(a).chars().take(15).collect()
}

fn file(p: &str) -> Resource {
    Resource::File(p.into())
}

#[test]
fn a_drift_and_its_repair_are_tied_by_the_inotify_event_the_daemon_read() {
    let mut s = Script::with_daemon();
    s.spawn(1, 20, &["/bin/sh", "-c", "echo x >> /etc/app.conf"]);
    s.file(20, "/etc/app.conf", FileOp::Write);
    s.notified(10, 1, "");
    s.file(10, "/etc/app.conf", FileOp::Read);
    s.file(10, "/etc/app.conf", FileOp::Truncate);
    s.file(10, "/etc/app.conf", FileOp::Write);
    s.exit(20);
    s.settle();
    let watches = s.of(Kind::Watch);
    assert_eq!(watches.len(), 2);
    assert_eq!(watches[0].resource, file("/etc/app.conf"));
    let drifts = s.of(Kind::Drift);
    assert_eq!(drifts.len(), 1, "{:#?}", s.out);
    assert_eq!(drifts[0].actor.pid, 20);
    assert_eq!(drifts[0].daemon, "minimgmt");
    assert_eq!(drifts[0].ops, vec!["write"]);
    let converges = s.of(Kind::Converge);
    assert_eq!(converges.len(), 1, "{:#?}", s.out);
    let c = converges[0].cause.as_ref().unwrap();
    assert_eq!(c.kind, CauseKind::Drift);
    assert_eq!(c.id, Some(drifts[0].id));
    assert_eq!(c.via, Some(Via::Inotify));
    assert_eq!(converges[0].ops, vec!["read", "truncate", "write"]);
    assert!(converges[0].ttc_ns.unwrap() > 0);
    // The drift is reported before the repair.
    let pos = |id| s.out.iter().position(|d| d.id == id).unwrap();
    assert!(pos(drifts[0].id) < pos(converges[0].id));
}

#[test]
fn without_an_inotify_read_the_repair_is_tied_by_resource_and_time() {
    let mut s = Script::with_daemon();
    s.spawn(1, 20, &["/bin/chmod", "600", "/etc/app.conf"]);
    s.file(20, "/etc/app.conf", FileOp::Chmod);
    s.exit(20);
    s.file(10, "/etc/app.conf", FileOp::Chmod);
    s.settle();
    let c = s.of(Kind::Converge)[0].cause.clone().unwrap();
    assert_eq!((c.kind, c.via), (CauseKind::Drift, Some(Via::Time)));
}

#[test]
fn the_daemons_own_writes_coming_back_through_its_watch_are_no_drift() {
    let mut s = Script::with_daemon();
    s.file(10, "/etc/app.conf", FileOp::Truncate);
    s.file(10, "/etc/app.conf", FileOp::Write);
    s.notified(10, 1, "");
    s.file(10, "/etc/app.conf", FileOp::Read);
    s.settle();
    s.notified(10, 1, "");
    s.file(10, "/etc/app.conf", FileOp::Read);
    s.settle();
    assert!(s.of(Kind::Drift).is_empty(), "{:#?}", s.out);
    assert_eq!(s.of(Kind::Converge).len(), 1);
    assert_eq!(s.of(Kind::Check).len(), 1);
    let c = s.of(Kind::Converge)[0].cause.clone().unwrap();
    assert_eq!(c.kind, CauseKind::Startup);
}

#[test]
fn a_service_restarted_after_its_config_was_repaired_is_a_refresh() {
    let mut s = Script::with_daemon();
    s.spawn(1, 20, &["/bin/sh", "-c", "echo x >> /etc/app.conf"]);
    s.file(20, "/etc/app.conf", FileOp::Write);
    s.exit(20);
    s.notified(10, 1, "");
    s.file(10, "/etc/app.conf", FileOp::Truncate);
    s.spawn(10, 11, &["/bin/sh", "/etc/init.d/sdt-demo", "restart"]);
    s.spawn(11, 12, &["/sbin/start-stop-daemon", "--start"]);
    s.file(12, "/run/sdt-demo/pid", FileOp::Write);
    s.exit(12);
    s.exit(11);
    s.settle();
    let converges = s.of(Kind::Converge);
    assert_eq!(converges.len(), 2, "{:#?}", s.out);
    assert_eq!(converges[0].resource, file("/etc/app.conf"));
    assert_eq!(converges[1].resource, Resource::Svc("sdt-demo".into()));
    assert_eq!(converges[1].ops, vec!["restart"]);
    let c = converges[1].cause.clone().unwrap();
    assert_eq!(c.kind, CauseKind::Refresh);
    assert_eq!(c.id, Some(converges[0].id));
    assert_eq!(c.resource, Some(file("/etc/app.conf")));
    // The pidfile written inside the init script is the service's, not a file resource.
    assert!(s
        .out
        .iter()
        .all(|d| d.resource != file("/run/sdt-demo/pid")));
}

#[test]
fn a_service_stopped_outside_is_a_drift_its_restart_repairs() {
    let mut s = Script::with_daemon();
    s.spawn(10, 11, &["/bin/sh", "/etc/init.d/sdt-demo", "start"]);
    s.file(11, "/run/sdt-demo/pid", FileOp::Write);
    s.exit(11);
    s.watch(10, "/run/sdt-demo", Ok(3));
    s.spawn(1, 20, &["/bin/sh", "/etc/init.d/sdt-demo", "stop"]);
    s.file(20, "/run/sdt-demo/pid", FileOp::Unlink);
    s.notified(10, 3, "pid");
    s.exit(20);
    s.spawn(10, 13, &["/bin/sh", "/etc/init.d/sdt-demo", "start"]);
    s.exit(13);
    s.settle();
    let drifts = s.of(Kind::Drift);
    assert_eq!(drifts.len(), 1, "{:#?}", s.out);
    assert_eq!(drifts[0].resource, Resource::Svc("sdt-demo".into()));
    assert_eq!(drifts[0].ops, vec!["stop"]);
    let converges = s.of(Kind::Converge);
    let last = converges.last().unwrap();
    let c = last.cause.clone().unwrap();
    assert_eq!(
        (c.kind, c.id, c.via),
        (CauseKind::Drift, Some(drifts[0].id), Some(Via::Inotify))
    );
}

#[test]
fn a_missing_file_is_watched_through_its_directory() {
    let mut s = Script::named(&["minimgmt"]);
    s.spawn(1, 10, &["/usr/bin/minimgmt"]);
    s.watch(10, "/etc/new.conf", Err(2));
    s.watch(10, "/etc", Ok(1));
    let w = s.of(Kind::Watch);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].resource, file("/etc/new.conf"));
    assert_eq!(w[0].ops, vec!["watch", "parent-dir"]);
    // Created by someone else: a drift, told through the directory's watch.
    s.spawn(1, 20, &["/usr/bin/touch", "/etc/new.conf"]);
    s.file(20, "/etc/new.conf", FileOp::Write);
    s.notified(10, 1, "new.conf");
    s.file(10, "/etc/new.conf", FileOp::Truncate);
    s.settle();
    let c = s.of(Kind::Converge)[0].cause.clone().unwrap();
    assert_eq!(c.via, Some(Via::Inotify));
}

#[test]
fn a_temporary_file_moved_into_place_is_one_change_of_the_target() {
    let mut s = Script::with_daemon();
    s.file(10, "/etc/.app.conf.tmp", FileOp::Write);
    s.file(10, "/etc/.app.conf.tmp", FileOp::Chmod);
    s.fact(&Fact::Rename {
        pid: 10,
        from: "/etc/.app.conf.tmp",
        to: "/etc/app.conf",
    });
    s.settle();
    let c = s.of(Kind::Converge);
    assert_eq!(c.len(), 1, "{:#?}", s.out);
    assert_eq!(c[0].resource, file("/etc/app.conf"));
    assert_eq!(c[0].ops, vec!["write", "chmod", "rename"]);
    // An editor replacing it is one drift: its temporary file is nobody's.
    s.spawn(1, 20, &["/bin/sh", "-c", "echo y > /etc/app.conf.new"]);
    s.file(20, "/etc/app.conf.new", FileOp::Write);
    s.exit(20);
    s.spawn(1, 21, &["/bin/mv", "/etc/app.conf.new", "/etc/app.conf"]);
    s.fact(&Fact::Rename {
        pid: 21,
        from: "/etc/app.conf.new",
        to: "/etc/app.conf",
    });
    s.exit(21);
    s.settle();
    let d = s.of(Kind::Drift);
    assert_eq!(d.len(), 1, "{:#?}", s.out);
    assert_eq!((d[0].actor.pid, d[0].ops.clone()), (21, vec!["rename"]));
}

#[test]
fn a_package_removed_outside_is_one_drift_with_dpkgs_files_folded_in() {
    let mut s = Script::with_daemon();
    s.watch(10, "/var/lib/dpkg/info", Ok(4));
    s.spawn(
        10,
        11,
        &["/usr/bin/dpkg-query", "-W", "-f=${Status}", "sdt-hello"],
    );
    s.exit(11);
    s.spawn(1, 20, &["/usr/bin/dpkg", "-r", "sdt-hello"]);
    s.file(20, "/usr/share/sdt-hello/hello.txt", FileOp::Unlink);
    s.file(20, "/var/lib/dpkg/info/sdt-hello.list", FileOp::Unlink);
    s.file(20, "/var/lib/dpkg/status", FileOp::Write);
    s.notified(10, 4, "sdt-hello.list");
    s.exit(20);
    s.spawn(
        10,
        12,
        &["/usr/bin/dpkg", "-i", "/tmp/x/sdt-hello_1.0_all.deb"],
    );
    s.file(12, "/var/lib/dpkg/info/sdt-hello.list", FileOp::Write);
    s.exit(12);
    s.settle();
    let pkg = Resource::Pkg("sdt-hello".into());
    assert_eq!(
        s.of(Kind::Check)
            .iter()
            .filter(|d| d.resource == pkg)
            .count(),
        1
    );
    let drifts = s.of(Kind::Drift);
    assert_eq!(drifts.len(), 1, "{:#?}", s.out);
    assert_eq!(
        (drifts[0].resource.clone(), drifts[0].ops.clone()),
        (pkg.clone(), vec!["remove"])
    );
    let c = s.of(Kind::Converge);
    assert_eq!(c.len(), 1, "{:#?}", s.out);
    assert_eq!(
        (c[0].resource.clone(), c[0].ops.clone()),
        (pkg, vec!["install"])
    );
    let cause = c[0].cause.clone().unwrap();
    assert_eq!(
        (cause.id, cause.via),
        (Some(drifts[0].id), Some(Via::Inotify))
    );
}

#[test]
fn processes_a_finished_command_left_behind_are_nobodys() {
    let mut s = Script::with_daemon();
    s.spawn(10, 11, &["/bin/sh", "/etc/init.d/sdt-demo", "start"]);
    s.fork(11, 12);
    s.exit(11);
    s.settle();
    let n = s.out.len();
    s.file(12, "/etc/app.conf", FileOp::Write);
    s.settle();
    assert_eq!(s.out.len(), n, "{:#?}", &s.out[n..]);
}

#[test]
fn a_periodic_agent_converges_on_schedule_and_checks_what_is_right() {
    let mut s = Script::new(Selection::default());
    // Two runs, as cron starts them. Each reads facts (files it never puts
    // back: no resource); the first puts the managed file in place, the
    // second finds it right.
    for (pid, first) in [(30, true), (31, false)] {
        s.spawn(
            1,
            pid,
            &["/usr/bin/ruby", "/usr/bin/puppet", "apply", "/tmp/site.pp"],
        );
        s.file(pid, "/usr/lib/ruby/vendor_ruby/puppet.rb", FileOp::Lstat);
        s.file(pid, "/var/lib/puppet/state/state.yaml", FileOp::Write);
        s.file(pid, "/etc/passwd", FileOp::Lstat);
        s.file(pid, "/etc/passwd", FileOp::Read);
        s.file(pid, "/etc/managed.conf", FileOp::Lstat);
        if first {
            let temp = format!("/etc/managed.conf20261125-{pid}-abc");
            s.file(pid, &temp, FileOp::Write);
            s.fact(&Fact::Rename {
                pid,
                from: &temp,
                to: "/etc/managed.conf",
            });
        } else {
            s.file(pid, "/etc/managed.conf", FileOp::Read);
        }
        s.exit(pid);
        s.settle();
    }
    assert!(s.out.iter().all(|d| d.daemon == "puppet"));
    assert!(
        s.out.iter().all(|d| d.resource != file("/etc/passwd")),
        "reading a file is not managing it: {:#?}",
        s.out
    );
    let checks = s.of(Kind::Check);
    assert_eq!(checks.len(), 1, "{:#?}", s.out);
    assert_eq!(checks[0].resource, file("/etc/managed.conf"));
    let c = s.of(Kind::Converge);
    assert_eq!(c.len(), 1, "{:#?}", s.out);
    assert_eq!(c[0].resource, file("/etc/managed.conf"));
    assert_eq!(c[0].cause.clone().unwrap().kind, CauseKind::Scheduled);
}

#[test]
fn two_daemons_fighting_over_a_file_make_one_flap() {
    let mut s = Script::named(&["minimgmt", "puppet"]);
    s.spawn(1, 10, &["/usr/bin/minimgmt"]);
    s.watch(10, "/etc/app.conf", Ok(1));
    for run in 0..4 {
        let pid = 100 + run;
        s.spawn(1, pid, &["/usr/bin/ruby", "/usr/bin/puppet", "apply"]);
        s.file(pid, "/etc/app.conf", FileOp::Truncate);
        s.exit(pid);
        s.notified(10, 1, "");
        s.file(10, "/etc/app.conf", FileOp::Truncate);
        s.settle();
    }
    let flaps = s.of(Kind::Flap);
    assert_eq!(flaps.len(), 1, "{:#?}", s.out);
    let f = flaps[0].flap.clone().unwrap();
    assert_eq!(f.writers, ["minimgmt".to_owned(), "puppet".to_owned()]);
    assert!(f.period_ns > 0);
    let rows = s.engine.summary();
    let row = rows
        .iter()
        .find(|r| r.resource == "file:/etc/app.conf" && r.daemon == "minimgmt")
        .unwrap();
    assert!(row.counts.flaps >= 3);
    // minimgmt's repairs undo puppet's change.
    let c = s
        .of(Kind::Converge)
        .into_iter()
        .find(|d| d.daemon == "minimgmt")
        .unwrap();
    assert_eq!(c.cause.clone().unwrap().kind, CauseKind::Change);
}

#[test]
fn an_unnamed_process_that_watches_then_writes_a_path_is_a_daemon() {
    let mut s = Script::new(Selection::default());
    s.spawn(1, 40, &["/usr/local/bin/confd"]);
    s.watch(40, "/etc/app.conf", Ok(1));
    assert!(s.out.is_empty());
    s.file(40, "/etc/app.conf", FileOp::Truncate);
    s.settle();
    assert_eq!(s.of(Kind::Watch).len(), 1);
    let c = s.of(Kind::Converge);
    assert_eq!((c.len(), c[0].daemon.as_str()), (1, "confd"));
}

#[test]
fn processes_alive_at_the_start_belong_by_ancestry() {
    let mut s = Script::named(&["minimgmt"]);
    let process = |pid, ppid, comm, exe, argv: &[&str]| ProcessInfo {
        pid,
        ppid,
        comm,
        exe,
        argv: argv.iter().map(|x| (*x).to_owned()).collect(),
    };
    s.engine.adopt(
        vec![
            process(10, 1, "minimgmt", "/usr/bin/minimgmt", &["minimgmt"]),
            process(12, 11, "sh", "/bin/sh", &["sh"]),
            process(11, 10, "sh", "/bin/sh", &["sh"]),
        ]
        .into_iter(),
    );
    s.file(12, "/etc/app.conf", FileOp::Write);
    s.settle();
    assert_eq!(s.of(Kind::Converge).len(), 1, "{:#?}", s.out);
}

#[test]
fn commands_are_recognised_by_what_they_run() {
    let cmd =
        |a: &[&str]| resource::command(&a.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>());
    let one = |a: &[&str]| {
        let c = cmd(a).unwrap();
        (c.resources[0].to_string(), c.verb, c.changes)
    };
    assert_eq!(
        one(&["dpkg", "-i", "/tmp/sdt-hello_1.0_all.deb"]),
        ("pkg:sdt-hello".into(), "install", true)
    );
    assert_eq!(
        one(&["/usr/bin/dpkg", "--purge", "nginx"]),
        ("pkg:nginx".into(), "purge", true)
    );
    assert_eq!(
        one(&["dpkg-query", "-W", "-f=${Status}", "nginx"]),
        ("pkg:nginx".into(), "query", false)
    );
    assert_eq!(
        one(&["apt-get", "install", "-y", "curl=8.1"]),
        ("pkg:curl".into(), "install", true)
    );
    assert_eq!(
        one(&["/bin/sh", "/etc/init.d/ssh", "restart"]),
        ("svc:ssh".into(), "restart", true)
    );
    assert_eq!(
        one(&["systemctl", "--no-pager", "is-active", "nginx.service"]),
        ("svc:nginx".into(), "is-active", false)
    );
    assert_eq!(
        one(&["service", "cron", "stop"]),
        ("svc:cron".into(), "stop", true)
    );
    assert_eq!(
        one(&["useradd", "-m", "-s", "/bin/sh", "bob"]),
        ("user:bob".into(), "add", true)
    );
    assert_eq!(
        one(&["groupdel", "ops"]),
        ("group:ops".into(), "delete", true)
    );
    assert_eq!(
        one(&["getent", "passwd", "bob"]),
        ("user:bob".into(), "query", false)
    );
    assert_eq!(
        one(&["yum", "-y", "install", "/tmp/foo-1.2-3.el9.x86_64.rpm"]),
        ("pkg:foo".into(), "install", true)
    );
    assert!(cmd(&["systemctl", "daemon-reload"]).is_none());
    assert!(cmd(&["ls", "-l"]).is_none());
    assert!(cmd(&["/etc/init.d/x"]).is_none());
    let agent = |comm: &str, a: &[&str]| {
        resource::known_agent(comm, &a.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>())
            .map(|a| a.name)
    };
    assert_eq!(
        agent(
            "puppet",
            &["/usr/bin/ruby", "/usr/bin/puppet", "apply", "x.pp"]
        ),
        Some("puppet")
    );
    assert_eq!(
        agent(
            "python3",
            &["/usr/bin/python3", "/root/.ansible/tmp/a/AnsiballZ_file.py"]
        ),
        Some("ansible")
    );
    assert_eq!(
        agent("cf-agent", &["/var/cfengine/bin/cf-agent", "-K"]),
        Some("cfengine")
    );
    assert_eq!(agent("bash", &["bash"]), None);
}

#[test]
fn an_lstat_is_a_check_only_when_the_daemon_goes_on_to_read() {
    let mut s = Script::new(Selection::default());
    s.spawn(1, 30, &["/usr/bin/ruby", "/usr/bin/puppet", "apply"]);
    s.file(30, "/etc/somedir", FileOp::Lstat);
    s.settle();
    assert!(s.out.is_empty(), "{:#?}", s.out);
    s.fork(30, 31);
    s.file(31, "/etc/motd", FileOp::Lstat);
    s.file(31, "/etc/motd", FileOp::Read);
    s.settle();
    assert!(s.out.is_empty(), "a child's lstat: {:#?}", s.out);
}

#[test]
fn the_same_path_in_a_container_and_on_the_host_are_two_resources() {
    let mut s = Script::named(&["minimgmt"]);
    s.spawn(1, 10, &["/usr/bin/minimgmt"]);
    s.watch(10, "web:/etc/app.conf", Ok(1));
    s.spawn(1, 20, &["/bin/sh"]);
    s.file(20, "/etc/app.conf", FileOp::Write);
    s.exit(20);
    s.settle();
    assert!(s.of(Kind::Drift).is_empty(), "{:#?}", s.out);
    assert_eq!(resource::local("web:/etc/app.conf"), "/etc/app.conf");
    assert_eq!(resource::local("/etc/a:b/c"), "/etc/a:b/c");
    assert!(resource::is_pseudo("web:/proc/1/stat"));
}

/// The kernel tells a watcher during the syscall; sdtrace sees the change
/// when it returns, which can be after the daemon read the event and began
/// its repair, or even finished it (seen with mv's rename). Here the rename
/// returns 5 ms after it entered, with the daemon's operations on the file
/// `before` and `after` that: still one drift, and one converge caused by
/// it through the inotify event, reported after it.
fn repair_around_a_slow_rename(before: &[FileOp], after: &[FileOp]) {
    repair_and_command_around_a_slow_rename(before, None, after);
}

/// The same, with the daemon running `command` (as pid 30) after its
/// operations `before` the rename returned.
fn repair_and_command_around_a_slow_rename(
    before: &[FileOp],
    command: Option<&[&str]>,
    after: &[FileOp],
) {
    let mut s = Script::with_daemon();
    s.spawn(1, 21, &["/bin/mv", "/etc/app.conf.new", "/etc/app.conf"]);
    s.notified(10, 2, "app.conf");
    for &op in before {
        s.file(10, "/etc/app.conf", op);
    }
    if let Some(argv) = command {
        s.spawn(10, 30, argv);
        s.exit(30);
    }
    s.took = if command.is_some() { 8 * MS } else { 5 * MS };
    s.fact(&Fact::Rename {
        pid: 21,
        from: "/etc/app.conf.new",
        to: "/etc/app.conf",
    });
    s.took = 0;
    for &op in after {
        s.file(10, "/etc/app.conf", op);
    }
    s.exit(21);
    s.settle();
    let drifts = s.of(Kind::Drift);
    assert_eq!(drifts.len(), 1, "{:#?}", s.out);
    let converges = s.of(Kind::Converge);
    assert_eq!(converges.len(), 1, "{:#?}", s.out);
    let c = converges[0].cause.clone().unwrap();
    assert_eq!(
        (c.kind, c.id, c.via),
        (CauseKind::Drift, Some(drifts[0].id), Some(Via::Inotify))
    );
    assert!(converges[0].ttc_ns.unwrap() > 0);
    let pos = |id| s.out.iter().position(|d| d.id == id).unwrap();
    assert!(pos(drifts[0].id) < pos(converges[0].id));
}

#[test]
fn a_repair_begun_before_the_drifts_syscall_returned_is_still_its_repair() {
    repair_around_a_slow_rename(
        &[FileOp::Stat, FileOp::Read],
        &[FileOp::Truncate, FileOp::Write],
    );
}

/// mv preempted inside rename(2) once the kernel queued the inotify event:
/// the daemon read it and rewrote the file before rename returned.
#[test]
fn a_repair_done_before_the_drifts_syscall_returned_is_still_its_repair() {
    repair_around_a_slow_rename(&[FileOp::Read, FileOp::Truncate, FileOp::Write], &[]);
}

/// And the daemon went on to check its service (which ends the repair)
/// before rename returned: the repair waits for the change it answers.
#[test]
fn a_repair_ended_before_the_drifts_syscall_returned_is_still_its_repair() {
    repair_and_command_around_a_slow_rename(
        &[FileOp::Read, FileOp::Truncate, FileOp::Write],
        Some(&["/bin/sh", "/etc/init.d/app", "status"]),
        &[],
    );
}

#[test]
fn a_lock_directory_made_and_removed_is_no_resource() {
    let mut s = Script::new(Selection::default());
    s.spawn(1, 30, &["/usr/bin/ruby", "/usr/bin/puppet", "apply"]);
    s.file(30, "/etc/app.conf20261126-30-x.lock", FileOp::Create);
    s.file(30, "/etc/app.conf20261126-30-x.lock", FileOp::Stat);
    s.file(30, "/etc/app.conf20261126-30-x.lock", FileOp::Unlink);
    s.settle();
    assert!(s.out.is_empty(), "{:#?}", s.out);
}

#[test]
fn another_daemons_temporary_file_in_a_watched_directory_stays_one_change() {
    let mut s = Script::named(&["minimgmt", "puppet"]);
    s.spawn(1, 10, &["/usr/bin/minimgmt"]);
    s.watch(10, "/etc/app.conf", Ok(1));
    s.watch(10, "/etc", Ok(2));
    s.spawn(1, 30, &["/usr/bin/ruby", "/usr/bin/puppet", "apply"]);
    s.file(30, "/etc/app.conf2026-x", FileOp::Chown);
    s.notified(10, 2, "app.conf2026-x");
    s.file(30, "/etc/app.conf2026-x", FileOp::Write);
    s.notified(10, 2, "app.conf2026-x");
    s.fact(&Fact::Rename {
        pid: 30,
        from: "/etc/app.conf2026-x",
        to: "/etc/app.conf",
    });
    s.exit(30);
    s.settle();
    let c = s.of(Kind::Converge);
    assert_eq!(c.len(), 1, "{:#?}", s.out);
    assert_eq!(
        (c[0].daemon.as_str(), c[0].ops.clone()),
        ("puppet", vec!["chown", "write", "rename"])
    );
}

/// A shell daemon (pid 30, `bash watch.sh`) running before the attach,
/// with its `inotifywait` child (31) already watching /srv/app.
fn attached_to_a_shell_daemon() -> Script {
    let mut s = Script::named(&["watch.sh"]);
    s.comms.insert(30, "bash".into());
    s.comms.insert(31, "inotifywait".into());
    s.engine.adopt(
        vec![
            ProcessInfo {
                pid: 30,
                ppid: 1,
                comm: "bash",
                exe: "/usr/bin/bash",
                argv: vec!["bash".into(), "/opt/watch.sh".into()],
            },
            ProcessInfo {
                pid: 31,
                ppid: 30,
                comm: "inotifywait",
                exe: "/usr/bin/inotifywait",
                argv: vec!["inotifywait".into(), "/srv/app".into()],
            },
        ]
        .into_iter(),
    );
    s.fact(&Fact::Watch {
        pid: 31,
        ifd: 3,
        path: "/srv/app",
        wd: Ok(1),
        existing: true,
    });
    s
}

#[test]
fn a_watch_in_place_at_the_attach_is_reported_as_such() {
    let s = attached_to_a_shell_daemon();
    let w = s.of(Kind::Watch);
    assert_eq!(w.len(), 1, "{:#?}", s.out);
    assert_eq!(w[0].resource, file("/srv/app"));
    assert_eq!(w[0].ops, vec!["watch", "before-attach"]);
    assert_eq!(w[0].daemon, "watch.sh");
}

#[test]
fn attached_late_an_outside_change_the_daemon_then_repairs_is_its_drift() {
    let mut s = attached_to_a_shell_daemon();
    s.spawn(1, 40, &["/bin/sh", "-c", "echo x >> /srv/app/app.conf"]);
    s.file(40, "/srv/app/app.conf", FileOp::Write);
    s.exit(40);
    s.settle();
    assert!(s.of(Kind::Drift).is_empty(), "not known managed yet");
    // The watcher child hears of it, the daemon's shell puts it back.
    s.notified(31, 1, "app.conf");
    s.file(30, "/srv/app/app.conf", FileOp::Truncate);
    s.file(30, "/srv/app/app.conf", FileOp::Write);
    s.settle();
    let drifts = s.of(Kind::Drift);
    assert_eq!(drifts.len(), 1, "{:#?}", s.out);
    assert_eq!(drifts[0].actor.pid, 40);
    assert_eq!(drifts[0].daemon, "watch.sh");
    let converges = s.of(Kind::Converge);
    assert_eq!(converges.len(), 1, "{:#?}", s.out);
    let c = converges[0].cause.as_ref().unwrap();
    assert_eq!(
        (c.kind, c.id, c.via),
        (CauseKind::Drift, Some(drifts[0].id), Some(Via::Inotify))
    );
    let pos = |id| s.out.iter().position(|d| d.id == id).unwrap();
    assert!(pos(drifts[0].id) < pos(converges[0].id));
}

#[test]
fn a_command_the_daemon_runs_on_a_file_is_a_converge_of_the_file() {
    let mut s = attached_to_a_shell_daemon();
    s.spawn(1, 40, &["/bin/chmod", "600", "/srv/app/app.conf"]);
    s.file(40, "/srv/app/app.conf", FileOp::Chmod);
    s.exit(40);
    s.notified(31, 1, "app.conf");
    s.exit(31);
    s.spawn(30, 41, &["/usr/bin/stat", "-c", "%a", "/srv/app/app.conf"]);
    s.file(41, "/srv/app/app.conf", FileOp::Stat);
    s.exit(41);
    s.spawn(30, 42, &["/usr/bin/chmod", "644", "/srv/app/app.conf"]);
    s.file(42, "/srv/app/app.conf", FileOp::Chmod);
    s.exit(42);
    s.settle();
    let drifts = s.of(Kind::Drift);
    assert_eq!(drifts.len(), 1, "{:#?}", s.out);
    let converges = s.of(Kind::Converge);
    assert_eq!(converges.len(), 1, "no exec: line\n{:#?}", s.out);
    let c = converges[0];
    assert_eq!(c.resource, file("/srv/app/app.conf"));
    assert_eq!(c.actor.pid, 42);
    assert_eq!(c.ops, vec!["chmod"]);
    let cause = c.cause.as_ref().unwrap();
    assert_eq!(
        (cause.kind, cause.id, cause.via),
        (CauseKind::Drift, Some(drifts[0].id), Some(Via::Inotify))
    );
    assert!(s.of(Kind::Check).is_empty(), "{:#?}", s.out);
}

#[test]
fn a_watcher_child_started_after_the_attach_still_tells_its_daemon() {
    let mut s = attached_to_a_shell_daemon();
    s.exit(31);
    s.spawn(30, 32, &["/usr/bin/inotifywait", "/srv/app"]);
    s.watch(32, "/srv/app", Ok(1));
    s.spawn(1, 40, &["/bin/sh", "-c", "echo x > /srv/app/app.conf"]);
    s.file(40, "/srv/app/app.conf", FileOp::Truncate);
    s.exit(40);
    s.notified(32, 1, "app.conf");
    s.file(30, "/srv/app/app.conf", FileOp::Truncate);
    s.settle();
    let c = s.of(Kind::Converge)[0].cause.clone().unwrap();
    assert_eq!((c.kind, c.via), (CauseKind::Drift, Some(Via::Inotify)));
}

#[test]
fn a_poller_that_looked_after_the_change_repairs_it_via_poll() {
    let mut s = Script::named(&["poller.py"]);
    s.comms.insert(50, "python3".into());
    s.engine.adopt(
        vec![ProcessInfo {
            pid: 50,
            ppid: 1,
            comm: "python3",
            exe: "/usr/bin/python3.11",
            argv: vec!["python3".into(), "/opt/poller.py".into()],
        }]
        .into_iter(),
    );
    s.file(50, "/srv/p.conf", FileOp::Stat);
    s.spawn(1, 40, &["/bin/chmod", "600", "/srv/p.conf"]);
    s.file(40, "/srv/p.conf", FileOp::Chmod);
    s.exit(40);
    s.settle();
    s.file(50, "/srv/p.conf", FileOp::Stat);
    s.file(50, "/srv/p.conf", FileOp::Chmod);
    s.settle();
    let drifts = s.of(Kind::Drift);
    assert_eq!(drifts.len(), 1, "{:#?}", s.out);
    let c = s.of(Kind::Converge)[0].cause.clone().unwrap();
    assert_eq!(
        (c.kind, c.id, c.via),
        (CauseKind::Drift, Some(drifts[0].id), Some(Via::Poll))
    );
}

#[test]
fn a_repair_of_nothing_seen_by_a_daemon_started_before_the_attach_says_so() {
    let mut s = attached_to_a_shell_daemon();
    s.file(30, "/srv/app/app.conf", FileOp::Truncate);
    s.settle();
    let c = s.of(Kind::Converge)[0].cause.clone().unwrap();
    assert_eq!(c.kind, CauseKind::BeforeAttach);
    assert_eq!(c.describe(), "before attach");
    // Its restart is seen: the next start-up is one.
    s.exit(30);
    s.spawn(1, 60, &["bash", "/opt/watch.sh"]);
    s.file(60, "/srv/app/other.conf", FileOp::Truncate);
    s.settle();
    let c = s.of(Kind::Converge)[1].cause.clone().unwrap();
    assert_eq!(c.kind, CauseKind::Startup);
}

#[test]
fn an_outside_change_long_before_is_not_the_drift_a_change_answers() {
    let mut s = attached_to_a_shell_daemon();
    s.spawn(1, 40, &["/bin/sh", "-c", "echo x > /srv/app/app.conf"]);
    s.file(40, "/srv/app/app.conf", FileOp::Truncate);
    s.exit(40);
    s.now += super::lookback::LOOK_BACK_NS + MS;
    s.file(30, "/srv/app/app.conf", FileOp::Truncate);
    s.settle();
    assert!(s.of(Kind::Drift).is_empty(), "{:#?}", s.out);
}

#[test]
fn a_known_agent_is_named_by_its_agents_name_too() {
    for (name, argv) in [
        (
            "ansible",
            &["/usr/bin/python3", "/usr/bin/ansible-playbook", "play.yml"][..],
        ),
        ("cfengine", &["/usr/bin/cf-agent", "-K"][..]),
    ] {
        let mut s = Script::named(&[name]);
        s.spawn(1, 10, argv);
        s.file(10, "/srv/x.conf", FileOp::Truncate);
        s.settle();
        let c = s.of(Kind::Converge);
        assert_eq!(c.len(), 1, "{name}: {:#?}", s.out);
        assert_eq!(c[0].daemon, name);
    }
}

#[test]
fn a_truncate_and_its_write_are_one_drift_though_the_daemon_heard_of_the_first() {
    let mut s = Script::with_daemon();
    s.spawn(1, 20, &["/bin/sh", "-c", "printf x > /etc/app.conf"]);
    s.file(20, "/etc/app.conf", FileOp::Truncate);
    s.notified(10, 1, "");
    s.file(10, "/etc/app.conf", FileOp::Read);
    s.file(20, "/etc/app.conf", FileOp::Write);
    s.exit(20);
    s.notified(10, 1, "");
    s.file(10, "/etc/app.conf", FileOp::Truncate);
    s.file(10, "/etc/app.conf", FileOp::Write);
    s.settle();
    let drifts = s.of(Kind::Drift);
    assert_eq!(drifts.len(), 1, "{:#?}", s.out);
    assert_eq!(drifts[0].ops, vec!["truncate", "write"]);
    let converges = s.of(Kind::Converge);
    assert_eq!(converges.len(), 1, "{:#?}", s.out);
    assert_eq!(converges[0].cause.as_ref().unwrap().id, Some(drifts[0].id));
}

#[test]
fn a_temporary_file_renamed_into_place_after_a_pause_is_still_one_change() {
    let mut s = Script::with_daemon();
    s.file(10, "/etc/app.conf20261208-10-x", FileOp::Create);
    s.file(10, "/etc/app.conf20261208-10-x", FileOp::Write);
    // An fsync on a loaded node: longer than an ordinary change's pause.
    s.now += 5 * IDLE_NS;
    s.engine.tick(s.now);
    s.fact(&Fact::Rename {
        pid: 10,
        from: "/etc/app.conf20261208-10-x",
        to: "/etc/app.conf",
    });
    s.settle();
    let converges = s.of(Kind::Converge);
    assert_eq!(converges.len(), 1, "{:#?}", s.out);
    assert_eq!(converges[0].resource, file("/etc/app.conf"));
}

#[test]
fn a_delete_heard_and_repaired_before_the_unlink_returned_is_still_its_drift() {
    let mut s = attached_to_a_shell_daemon();
    s.spawn(1, 40, &["/bin/chown", "65534", "/srv/app/app.conf"]);
    s.file(40, "/srv/app/app.conf", FileOp::Chown);
    s.exit(40);
    s.notified(31, 1, "app.conf");
    s.spawn(30, 41, &["/usr/bin/chown", "0", "/srv/app/app.conf"]);
    s.file(41, "/srv/app/app.conf", FileOp::Chown);
    s.exit(41);
    s.settle();
    // rm's unlink tells the watcher, and the daemon repairs, before the
    // unlink returns.
    s.spawn(1, 50, &["/bin/rm", "/srv/app/app.conf"]);
    s.notified(31, 1, "app.conf");
    s.file(30, "/srv/app/app.conf", FileOp::Stat);
    s.file(30, "/srv/app/app.conf", FileOp::Truncate);
    s.spawn(30, 42, &["/usr/bin/stat", "-c", "%a", "/srv/app/app.conf"]);
    s.file(42, "/srv/app/app.conf", FileOp::Stat);
    s.took = 20 * MS;
    s.file(50, "/srv/app/app.conf", FileOp::Unlink);
    s.took = 0;
    s.exit(50);
    s.exit(42);
    s.settle();
    let drifts = s.of(Kind::Drift);
    assert_eq!(drifts.len(), 2, "{:#?}", s.out);
    let converges = s.of(Kind::Converge);
    assert_eq!(converges.len(), 2, "{:#?}", s.out);
    let c = converges[1].cause.as_ref().unwrap();
    assert_eq!(
        (c.kind, c.id, c.via),
        (CauseKind::Drift, Some(drifts[1].id), Some(Via::Inotify)),
        "{:#?}",
        s.out
    );
}
