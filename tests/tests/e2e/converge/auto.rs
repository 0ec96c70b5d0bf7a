//! Without `--daemon` or `--pid`, sdtrace finds the daemons itself: Puppet
//! by name (a known agent), minimgmt by what it does (watches a path with
//! inotify, then writes it).
use std::process::{Command, Stdio};

use serde_json::Value;
use tests::{
    converge::{
        fixtures,
        puppet::{self, PuppetFile},
        Converge, Daemon, DerivedExt,
    },
    e2e, TempDir,
};

use super::{file_res, minimgmt_bin, require};

fn daemon_of(e: &Value) -> &str {
    e.get("daemon").and_then(Value::as_str).unwrap_or("")
}

e2e!(daemons_are_found_without_being_named, |tracer, test| {
    if !require(test, &["puppet"]) {
        return;
    }
    let dir = TempDir::new("converge-auto");
    let watched = dir.path().join("watched.conf");
    let pulled = dir.path().join("pulled.conf");
    let (watched_res, pulled_res) = (file_res(&watched), file_res(&pulled));
    let run = Converge::start(&tracer, &[]);
    let daemon = Daemon::spawn(
        "minimgmt",
        fixtures::minimgmt(&minimgmt_bin(), &watched, "a = 1\n", None),
    );
    daemon.wait_lines("minimgmt: converged", 1);
    let status = Command::new("sh")
        .args(["-c", "echo 'b = 2' >> \"$1\"", "sh"])
        .arg(&watched)
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    daemon.wait_lines("repaired content", 2);
    let drift = run.wait_for("the DRIFT of minimgmt's file", |e| {
        e.kind() == "DRIFT" && e.resource() == watched_res
    });
    let repair = run.wait_for("minimgmt's repair", |e| {
        e.kind() == "CONVERGE" && e.cause_id() == drift.id()
    });
    let manifest = puppet::manifest(
        dir.path(),
        &[PuppetFile {
            path: &pulled,
            content: "c = 3\n",
        }],
    );
    puppet::apply(&manifest, 1);
    let pulled_ev = run.wait_for("puppet's CONVERGE", |e| {
        e.kind() == "CONVERGE" && e.resource() == pulled_res
    });
    let done = run.stop();
    drop(daemon);
    assert!(done.status.success(), "{}", done.describe());
    assert_eq!(daemon_of(&drift), "minimgmt", "{drift}");
    assert_eq!(daemon_of(&repair), "minimgmt", "{repair}");
    assert_eq!(daemon_of(&pulled_ev), "puppet", "{pulled_ev}");
    assert_eq!(
        pulled_ev.cause_str("kind"),
        Some("scheduled"),
        "{pulled_ev}"
    );
});
