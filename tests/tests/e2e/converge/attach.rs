//! Daemons of several shapes, each running before `sdtrace converge`
//! attaches, given every kind of outside change one at a time: sdtrace's
//! DRIFT and CONVERGE lines must match the test's table of changes and
//! repairs line for line (scenario.rs), the causes included.
use std::fs;

use tests::{
    converge::{
        agents,
        fixtures::{self, Package, Service},
        scenario::{
            self, Change, Desired, Expect, APPEND, CHMOD, CHOWN, DELETE, RENAME_OVER, REWRITE,
        },
        shapes, Converge, Daemon,
    },
    e2e, TempDir,
};

use super::{file_res, minimgmt_bin, require};

const CONTENT: &str = "listen = 8080";

const FILE_CHANGES: &[&Change] = &[&APPEND, &REWRITE, &RENAME_OVER, &CHMOD, &CHOWN, &DELETE];

/// Starts `daemon` before sdtrace, waits until it says `ready`, attaches
/// with `--pid`, makes every file change, and checks the report.
fn attach_and_check(tracer: &tests::Tracer, daemon: Daemon, desired: &Desired<'_>, vias: &[&str]) {
    daemon.wait_lines("ready", 1);
    assert!(
        desired.holds(),
        "the daemon's first pass put the file right"
    );
    let pid = daemon.pid().to_string();
    let run = Converge::start(tracer, &["--pid", &pid]);
    let res = file_res(desired.path);
    let said = || daemon.count("repaired");
    let made = scenario::make(
        FILE_CHANGES,
        desired.path,
        &res,
        |_| desired.holds(),
        Some(&said),
    );
    let name = daemon_name(daemon.pid());
    let done = scenario::check(
        run,
        &made,
        &Expect {
            daemon: &name,
            vias: &|_| vias,
            other_causes: &[],
        },
    );
    // What its tree watched before the attach was read from /proc.
    let dir = file_res(desired.path.parent().unwrap());
    let watches = done.of("WATCH");
    if vias.contains(&"inotify") {
        assert!(
            watches
                .iter()
                .any(
                    |w| w.get("resource").and_then(|r| r.as_str()) == Some(dir.as_str())
                        && tests::converge::DerivedExt::has_op(*w, "before-attach")
                ),
            "the watch in place at the attach, named\n{}",
            done.describe()
        );
    }
    drop(daemon);
}

/// A daemon named by `--pid` is called by its command name.
fn daemon_name(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap()
        .trim()
        .to_owned()
}

e2e!(
    a_shell_daemon_around_inotifywait_attached_to_late,
    |tracer, test| {
        if !require(test, &["bash", "inotifywait", "stat", "chmod", "chown"]) {
            return;
        }
        let dir = TempDir::new("converge-shell");
        let file = dir.path().join("app.conf");
        let content = format!("{CONTENT}\n");
        let desired = Desired {
            path: &file,
            content: &content,
            owner: true,
        };
        let daemon = Daemon::spawn("keep.sh", shapes::shell_daemon(dir.path(), &file, CONTENT));
        attach_and_check(&tracer, daemon, &desired, &["inotify"]);
    }
);

e2e!(
    a_python_daemon_polling_with_stat_attached_to_late,
    |tracer, test| {
        if !require(test, &[shapes::PYTHON3]) {
            return;
        }
        let dir = TempDir::new("converge-poll");
        let file = dir.path().join("app.conf");
        let content = format!("{CONTENT}\n");
        let desired = Desired {
            path: &file,
            content: &content,
            owner: true,
        };
        let daemon = Daemon::spawn("keep.py", shapes::python_daemon(dir.path(), &file, CONTENT));
        attach_and_check(&tracer, daemon, &desired, &["poll"]);
    }
);

e2e!(minimgmt_attached_to_late, |tracer, test| {
    if !require(test, &["dpkg", "dpkg-deb", "dpkg-query"]) {
        return;
    }
    const SVC_STOP: Change = Change {
        what: "a stop of the service",
        script: "exec /etc/init.d/sdt-demo stop",
        resource: Some("svc:sdt-demo"),
        op: "stop",
    };
    const PKG_REMOVE: Change = Change {
        what: "a removal of the package",
        script: "exec dpkg -r sdt-hello",
        resource: Some("pkg:sdt-hello"),
        op: "remove",
    };
    let dir = TempDir::new("converge-mgmt-late");
    let deb = fixtures::build_deb(dir.path());
    let file = dir.path().join("app.conf");
    let content = "listen = 8080\nworkers = 2\n";
    let _pkg = Package::absent();
    let _svc = Service::install();
    let daemon = Daemon::spawn(
        "minimgmt",
        fixtures::minimgmt(&minimgmt_bin(), &file, content, Some(&deb)),
    );
    daemon.wait_lines("minimgmt: converged", 1);
    let desired = Desired {
        path: &file,
        content,
        owner: false,
    };
    let run = Converge::start(&tracer, &["--daemon", "minimgmt"]);
    let res = file_res(&file);
    // minimgmt keeps content and mode (not the owner).
    let changes: &[&'static Change] = &[
        &APPEND,
        &REWRITE,
        &RENAME_OVER,
        &CHMOD,
        &DELETE,
        &SVC_STOP,
        &PKG_REMOVE,
    ];
    let said =
        || daemon.count("repaired") + daemon.count(": started") + daemon.count(": installed");
    let made = scenario::make(
        changes,
        &file,
        &res,
        |c| match c.resource {
            Some("svc:sdt-demo") => Service::running(),
            Some(_) => fixtures::package_installed(),
            None => desired.holds() && Service::running(),
        },
        Some(&said),
    );
    let done = scenario::check(
        run,
        &made,
        &Expect {
            daemon: "minimgmt",
            // The service's stop is told through its pidfile, which the
            // init script's `rm` child removes; minimgmt may read the
            // deletion before sdtrace has tied it to the stop, and then
            // its `status` check's look at the pidfile ties it.
            vias: &|c| match c.resource {
                Some("svc:sdt-demo") => &["inotify", "poll"],
                _ => &["inotify"],
            },
            // Each file repair restarts the service.
            other_causes: &["refresh"],
        },
    );
    drop(daemon);
    assert!(
        !done.of("WATCH").is_empty(),
        "minimgmt's watches, read at the attach\n{}",
        done.describe()
    );
});

/// A configuration agent run from a loop started before sdtrace, named by
/// `--daemon`: every file change, each put back by a later run that looked
/// at the file first (`via poll`).
fn agent_loop_attached(tracer: &tests::Tracer, daemon: Daemon, name: &str, desired: &Desired<'_>) {
    daemon.wait_lines("ready", 1);
    assert!(desired.holds(), "the first run put the file right");
    let run = Converge::start(tracer, &["--daemon", name]);
    let res = file_res(desired.path);
    // Their runs say nothing: one repair per change.
    let made = scenario::make(FILE_CHANGES, desired.path, &res, |_| desired.holds(), None);
    scenario::check(
        run,
        &made,
        &Expect {
            daemon: name,
            vias: &|_| &["poll"],
            other_causes: &[],
        },
    );
    drop(daemon);
}

e2e!(puppet_runs_from_a_loop_attached_to_late, |tracer, test| {
    if !require(test, &["puppet"]) {
        return;
    }
    let dir = TempDir::new("converge-puppet-late");
    let file = dir.path().join("app.conf");
    let content = format!("{CONTENT}\n");
    let desired = Desired {
        path: &file,
        content: &content,
        owner: true,
    };
    let daemon = Daemon::spawn(
        "puppet loop",
        agents::puppet_loop(dir.path(), &file, &content),
    );
    agent_loop_attached(&tracer, daemon, "puppet", &desired);
});

e2e!(ansible_runs_from_a_loop_attached_to_late, |tracer, test| {
    if !require(test, &["ansible-playbook"]) {
        return;
    }
    let dir = TempDir::new("converge-ansible-late");
    let file = dir.path().join("app.conf");
    let content = format!("{CONTENT}\n");
    let desired = Desired {
        path: &file,
        content: &content,
        owner: true,
    };
    let daemon = Daemon::spawn(
        "ansible loop",
        agents::ansible_loop(dir.path(), &file, &content),
    );
    agent_loop_attached(&tracer, daemon, "ansible", &desired);
});

e2e!(
    cfengine_runs_from_a_loop_attached_to_late,
    |tracer, test| {
        if !require(test, &["cf-agent"]) {
            return;
        }
        let dir = TempDir::new("converge-cfengine-late");
        let file = dir.path().join("app.conf");
        let content = format!("{CONTENT}\n");
        let desired = Desired {
            path: &file,
            content: &content,
            owner: true,
        };
        let daemon = Daemon::spawn(
            "cf-agent loop",
            agents::cfengine_loop(dir.path(), &file, CONTENT),
        );
        agent_loop_attached(&tracer, daemon, "cfengine", &desired);
    }
);
