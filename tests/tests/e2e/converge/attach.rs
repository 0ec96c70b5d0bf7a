//! Daemons of several shapes, each running before `sdtrace converge`
//! attaches, given every kind of outside change one at a time: sdtrace's
//! DRIFT and CONVERGE lines must match the test's table of changes and
//! repairs line for line (scenario.rs), the causes included.
use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use tests::{
    converge::{
        agents,
        fixtures::{self, Package, Service},
        scenario::{
            self, Change, Desired, Expect, APPEND, CHMOD, CHOWN, DELETE, RENAME_OVER, REWRITE,
        },
        shapes, Converge, Daemon, DerivedExt,
    },
    e2e, TempDir, Tracer,
};

use super::{file_res, minimgmt_bin, require};

const CONTENT: &str = "listen = 8080\n";

const FILE_CHANGES: &[&Change] = &[&APPEND, &REWRITE, &RENAME_OVER, &CHMOD, &CHOWN, &DELETE];

/// How a daemon of one shape is started: in a directory of the test's,
/// keeping a file there as `CONTENT`, mode 0644, owner root.
type Shape = fn(&Path, &Path, &str) -> Command;

/// How sdtrace is told which daemon: its pid, or its name.
enum Named<'a> {
    Pid,
    Name(&'a str),
}

/// Starts a daemon of `shape` before sdtrace, waits until it says `ready`,
/// attaches, makes every file change, and checks the report: each repair
/// tied `via` one of `vias`. A daemon that says `repaired` for each repair
/// is held to its count; one that says nothing to one repair a change.
fn attach_and_check(tracer: &Tracer, label: &str, shape: Shape, named: &Named<'_>, vias: &[&str]) {
    let dir = TempDir::new(&format!("converge-{label}-late"));
    let file: PathBuf = dir.path().join("app.conf");
    let desired = Desired {
        path: &file,
        content: CONTENT,
        owner: true,
    };
    let daemon = Daemon::spawn(label, shape(dir.path(), &file, CONTENT));
    let _group = shapes::Group(daemon.pid());
    daemon.wait_lines("ready", 1);
    assert!(
        desired.holds(),
        "the daemon's first pass put the file right"
    );
    let pid = daemon.pid().to_string();
    let (args, name) = match named {
        Named::Pid => (["--pid", pid.as_str()], daemon_name(daemon.pid())),
        Named::Name(n) => (["--daemon", *n], (*n).to_owned()),
    };
    let run = Converge::start(tracer, &args);
    let res = file_res(&file);
    let said = || daemon.count("repaired");
    let says = matches!(named, Named::Pid);
    let made = scenario::make(
        FILE_CHANGES,
        &file,
        &res,
        |_| desired.holds(),
        says.then_some(&said as &dyn Fn() -> usize),
    );
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
    if vias.contains(&"inotify") {
        let dir = file_res(dir.path());
        assert!(
            done.of("WATCH")
                .iter()
                .any(|w| w.resource() == dir && w.has_op("before-attach")),
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
        if require(test, &["bash", "inotifywait", "stat", "chmod", "chown"]) {
            attach_and_check(
                &tracer,
                "keep.sh",
                shapes::shell_daemon,
                &Named::Pid,
                &["inotify"],
            );
        }
    }
);

e2e!(
    a_python_daemon_polling_with_stat_attached_to_late,
    |tracer, test| {
        if require(test, &[shapes::PYTHON3]) {
            attach_and_check(
                &tracer,
                "keep.py",
                shapes::python_daemon,
                &Named::Pid,
                &["poll"],
            );
        }
    }
);

// The configuration agents, run from loops as cron or a timer would: each
// change is put back by a later run that looked at the file first.

e2e!(puppet_runs_from_a_loop_attached_to_late, |tracer, test| {
    if require(test, &["puppet"]) {
        attach_and_check(
            &tracer,
            "puppet",
            agents::puppet_loop,
            &Named::Name("puppet"),
            &["poll"],
        );
    }
});

e2e!(ansible_runs_from_a_loop_attached_to_late, |tracer, test| {
    if require(test, &["ansible-playbook"]) {
        attach_and_check(
            &tracer,
            "ansible",
            agents::ansible_loop,
            &Named::Name("ansible"),
            &["poll"],
        );
    }
});

e2e!(
    cfengine_runs_from_a_loop_attached_to_late,
    |tracer, test| {
        if require(test, &["cf-agent"]) {
            attach_and_check(
                &tracer,
                "cfengine",
                agents::cfengine_loop,
                &Named::Name("cfengine"),
                &["poll"],
            );
        }
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
            // its `status` check's look at the pidfile ties it, or (when
            // that came first too) only time (as in mgmt.rs).
            vias: &|c| match c.resource {
                Some("svc:sdt-demo") => &["inotify", "poll", "time"],
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
