//! minimgmt on the host managing a file (in a temp dir), the `sdt-hello`
//! package and the `sdt-demo` service; a shell outside its tree changes
//! one of them at a time and waits for the repair.
use serde_json::Value;
use tests::{
    converge::{
        fixtures::{self, Package, Service},
        scenario::outside,
        Converge, Daemon, DerivedExt,
    },
    e2e, TempDir,
};

use super::{
    assert_only_files_in, assert_well_formed, by_id, count, file_res, minimgmt_bin, on, require,
};

const CONTENT: &str = "listen = 8080\nworkers = 2\n";
const SVC: &str = "svc:sdt-demo";
const PKG: &str = "pkg:sdt-hello";

/// One change from outside and what minimgmt should make of it.
struct Action {
    what: &'static str,
    /// `sh -c` script; `$1` is the managed file. Ends in `exec` where a
    /// program does the change, so the changer's pid is the shell's.
    script: &'static str,
    /// The resource it changes; `None`: the managed file.
    resource: Option<&'static str>,
    drift_op: &'static str,
    converge_op: &'static str,
    /// What minimgmt says once it repaired it.
    repaired: &'static str,
    /// Whether the repair restarts the service (file -> service refresh).
    refresh: bool,
}

const ACTIONS: &[Action] = &[
    Action {
        what: "an append to the file",
        script: "echo 'debug = 1' >> \"$1\"",
        resource: None,
        drift_op: "write",
        converge_op: "write",
        repaired: "repaired content",
        refresh: true,
    },
    Action {
        what: "a chmod of the file",
        script: "exec chmod 600 \"$1\"",
        resource: None,
        drift_op: "chmod",
        converge_op: "chmod",
        repaired: "repaired mode",
        refresh: true,
    },
    Action {
        what: "an editor-style replacement of the file",
        script: "printf 'listen = 9090\\n' > \"$1.tmp\" && exec mv \"$1.tmp\" \"$1\"",
        resource: None,
        drift_op: "rename",
        converge_op: "write",
        repaired: "repaired content",
        refresh: true,
    },
    Action {
        what: "a stop of the service",
        script: "exec /etc/init.d/sdt-demo stop",
        resource: Some(SVC),
        drift_op: "stop",
        converge_op: "start",
        repaired: "svc sdt-demo: started",
        refresh: false,
    },
    Action {
        what: "a removal of the package",
        script: "exec dpkg -r sdt-hello",
        resource: Some(PKG),
        drift_op: "remove",
        converge_op: "install",
        repaired: "pkg sdt-hello: installed",
        refresh: false,
    },
];

e2e!(minimgmt_repairs_each_outside_change_once, |tracer, test| {
    if !require(test, &["dpkg", "dpkg-deb", "dpkg-query"]) {
        return;
    }
    let dir = TempDir::new("converge-mgmt");
    let deb = fixtures::build_deb(dir.path());
    let file = dir.path().join("app.conf");
    let res = file_res(&file);
    let _pkg = Package::absent();
    let _svc = Service::install();
    let run = Converge::start(&tracer, &["--daemon", "minimgmt"]);
    let daemon = Daemon::spawn(
        "minimgmt",
        fixtures::minimgmt(&minimgmt_bin(), &file, CONTENT, Some(&deb)),
    );
    daemon.wait_lines("minimgmt: converged", 1);
    assert!(fixtures::package_installed() && Service::running());
    let daemon_pid = u64::from(daemon.pid());
    // Start-up: all three brought into their state, for no drift.
    for (resource, op) in [(PKG, "install"), (res.as_str(), "write"), (SVC, "start")] {
        run.wait_for(&format!("the start-up CONVERGE of {resource}"), |e| {
            e.kind() == "CONVERGE" && e.resource() == resource && e.has_op(op)
        });
    }
    run.wait_for("minimgmt's WATCH of the file", |e| {
        e.kind() == "WATCH" && e.resource() == res && e.actor_pid() == Some(daemon_pid)
    });

    let mut changers = Vec::new();
    for action in ACTIONS {
        let resource = action.resource.unwrap_or(&res);
        let repaired = daemon.count(action.repaired);
        let restarted = daemon.count("restarted (refresh");
        let pid = outside(action.script, &file);
        changers.push(pid);
        daemon.wait_lines(action.repaired, repaired + 1);
        let drift = run.wait_for(&format!("the DRIFT of {}", action.what), |e| {
            e.kind() == "DRIFT" && e.resource() == resource && e.actor_pid() == Some(pid)
        });
        let drift_id = drift.id().expect("a DRIFT has an id");
        let repair = run.wait_for(&format!("the CONVERGE after {}", action.what), |e| {
            e.kind() == "CONVERGE" && e.cause_id() == Some(drift_id)
        });
        if action.refresh {
            daemon.wait_lines("restarted (refresh", restarted + 1);
            let repair_id = repair.id();
            run.wait_for(
                &format!("the service's refresh after {}", action.what),
                |e| {
                    e.kind() == "CONVERGE"
                        && e.resource() == SVC
                        && e.cause_str("kind") == Some("refresh")
                        && e.cause_id() == repair_id
                },
            );
        }
    }
    let done = run.stop();
    drop(daemon);
    let all = done.describe();
    assert!(done.status.success(), "{all}");
    assert_well_formed(&done);

    // The editor's temporary file is no resource.
    assert_only_files_in(&done, dir.path(), &[&res]);

    // Exactly one DRIFT per change, by the changer, on the right resource,
    // with the op it did, attributed to minimgmt.
    let drifts = done.of("DRIFT");
    assert_eq!(
        drifts.len(),
        ACTIONS.len(),
        "one DRIFT per change; no self-echo\n{all}"
    );
    for (action, (drift, pid)) in ACTIONS.iter().zip(drifts.iter().zip(&changers)) {
        let resource = action.resource.unwrap_or(&res);
        assert_eq!(drift.resource(), resource, "{}: {drift}", action.what);
        assert_eq!(
            drift.actor_pid(),
            Some(*pid),
            "{}: the changer: {drift}",
            action.what
        );
        assert!(
            drift.has_op(action.drift_op),
            "{}: op {}: {drift}",
            action.what,
            action.drift_op
        );
        assert_eq!(
            drift.get("daemon").and_then(Value::as_str),
            Some("minimgmt"),
            "{drift}"
        );
    }
    assert!(
        drifts
            .iter()
            .all(|d| d.actor_pid() != Some(daemon_pid) && d.actor_comm() != "minimgmt"),
        "no DRIFT by minimgmt\n{all}"
    );

    // Exactly one CONVERGE per drift, caused by it, by minimgmt's tree.
    for (action, drift) in ACTIONS.iter().zip(&drifts) {
        let caused: Vec<&Value> = done
            .of("CONVERGE")
            .into_iter()
            .filter(|c| c.cause_id() == drift.id() && c.cause_str("kind") == Some("drift"))
            .collect();
        assert_eq!(
            caused.len(),
            1,
            "{}: one CONVERGE for {drift}\n{all}",
            action.what
        );
        let c = caused[0];
        assert_eq!(c.resource(), drift.resource(), "{}: {c}", action.what);
        assert!(
            c.has_op(action.converge_op),
            "{}: op {}: {c}",
            action.what,
            action.converge_op
        );
        assert_eq!(
            c.get("daemon").and_then(Value::as_str),
            Some("minimgmt"),
            "{c}"
        );
        assert_eq!(c.cause_str("resource"), Some(drift.resource()), "{c}");
        // The service's stop is told through its pidfile, which `rm`, a
        // child of the init script, removes: minimgmt may read the deletion
        // before the unlink is tied to the stop; then its `status` check's
        // look at the pidfile ties it (`via poll`), or, when that look came
        // first too, only time does (seen under load).
        let via = c.cause_str("via");
        if c.resource() == SVC {
            assert!(matches!(via, Some("inotify" | "poll" | "time")), "{c}");
        } else {
            assert_eq!(via, Some("inotify"), "{c}");
        }
        let ttc = c.get("ttc_ms").and_then(Value::as_f64);
        assert!(ttc.is_some_and(|t| t > 0.0), "{}: ttc_ms: {c}", action.what);
        assert!(
            c.get("ts_ns").and_then(Value::as_u64) > drift.get("ts_ns").and_then(Value::as_u64),
            "after its drift: {c}"
        );
    }

    // The refresh chain: each file repair restarted the service.
    let file_repairs: Vec<&Value> = on(&done, "CONVERGE", &res)
        .into_iter()
        .filter(|c| c.cause_str("kind") == Some("drift"))
        .collect();
    // (The start-up start may count as a refresh too, see below.)
    let refreshes: Vec<&Value> = on(&done, "CONVERGE", SVC)
        .into_iter()
        .filter(|c| c.cause_str("kind") == Some("refresh") && c.has_op("restart"))
        .collect();
    assert_eq!(
        refreshes.len(),
        file_repairs.len(),
        "a refresh per file repair\n{all}"
    );
    for r in &refreshes {
        assert_eq!(r.cause_str("resource"), Some(res.as_str()), "{r}");
        let cause = by_id(&done, r.cause_id().expect("a refresh names the repair"));
        assert_eq!(cause.kind(), "CONVERGE", "a refresh follows a repair: {r}");
    }

    // Start-up: one CONVERGE per resource, caused by start-up. The
    // service starts right after the file was written, which a tracer
    // cannot tell from a refresh: either cause is right for it.
    for resource in [PKG, res.as_str(), SVC] {
        let startup: Vec<&Value> = on(&done, "CONVERGE", resource)
            .into_iter()
            .filter(|c| c.cause_str("kind") == Some("startup"))
            .collect();
        let expected = usize::from(resource != SVC);
        assert!(
            startup.len() == expected || resource == SVC && startup.len() <= 1,
            "{expected} start-up CONVERGE of {resource}\n{all}"
        );
    }
    // Nothing minimgmt did is anything but its own.
    for e in done.of("CONVERGE").into_iter().chain(done.of("WATCH")) {
        assert_eq!(
            e.get("daemon").and_then(Value::as_str),
            Some("minimgmt"),
            "{e}"
        );
    }
    assert!(
        done.of("FLAP").is_empty(),
        "an outside change and its repair are no flap\n{all}"
    );

    // The totals.
    let file_sum = done.summary(&res);
    assert_eq!(count(file_sum, "drifts"), 3, "{file_sum}");
    assert_eq!(
        count(file_sum, "converges"),
        4,
        "start-up + 3 repairs: {file_sum}"
    );
    assert!(
        file_sum
            .get("ttc_p50_ms")
            .and_then(Value::as_f64)
            .is_some_and(|t| t > 0.0),
        "{file_sum}"
    );
    assert!(
        file_sum
            .get("ttc_max_ms")
            .and_then(Value::as_f64)
            .is_some_and(|t| t > 0.0),
        "{file_sum}"
    );
    assert_eq!(
        file_sum.get("flapping"),
        Some(&Value::Bool(false)),
        "{file_sum}"
    );
    assert_eq!(
        file_sum.get("daemon").and_then(Value::as_str),
        Some("minimgmt"),
        "{file_sum}"
    );
    let svc_sum = done.summary(SVC);
    assert_eq!(count(svc_sum, "drifts"), 1, "{svc_sum}");
    assert_eq!(
        count(svc_sum, "converges"),
        5,
        "start-up + 3 refreshes + 1 repair: {svc_sum}"
    );
    let pkg_sum = done.summary(PKG);
    assert_eq!(count(pkg_sum, "drifts"), 1, "{pkg_sum}");
    assert_eq!(
        count(pkg_sum, "converges"),
        2,
        "start-up + 1 repair: {pkg_sum}"
    );
    // `last_cause` describes the cause ("drift #12 via inotify",
    // "scheduled run"): its kind comes first.
    assert!(
        pkg_sum
            .get("last_cause")
            .and_then(Value::as_str)
            .is_some_and(|c| c.starts_with("drift")),
        "{pkg_sum}"
    );
});
