//! minimgmt as a Docker container's main process, managing a file inside
//! it; `docker exec` changes the file from outside its tree. Every event
//! names the container, and so does the file's resource, as `docker cp`
//! names a path in a container: `file:CONTAINER:/data/app.conf`.
use serde_json::Value;
use tests::{
    converge::{Converge, Daemon, DerivedExt},
    e2e, images, require_docker, Container, TempDir,
};

use super::{assert_well_formed, minimgmt_bin, require};

const IMAGE: &str = "sdtrace-e2e-minimgmt:1";
const FILE: &str = "/data/app.conf";

/// Whether `c` names the container: its name, or its full or short id.
fn names(c: &str, name: &str, id: &str) -> bool {
    c == name || (c.len() >= 12 && id.starts_with(c))
}

/// Whether `e`'s actor is in the container.
fn in_container(e: &Value, name: &str, id: &str) -> bool {
    e.pointer("/actor/container")
        .and_then(Value::as_str)
        .is_some_and(|c| names(c, name, id))
}

/// Whether `e` is about the container's `FILE` (`file:CONTAINER:/data/app.conf`).
fn on_file(e: &Value, name: &str, id: &str) -> bool {
    e.resource()
        .strip_prefix("file:")
        .and_then(|r| r.strip_suffix(FILE))
        .and_then(|r| r.strip_suffix(':'))
        .is_some_and(|c| names(c, name, id))
}

e2e!(
    minimgmt_in_a_container_is_named_by_its_container,
    |tracer, test| {
        if !require(test, &["ldd"]) {
            return;
        }
        let Some(docker) = require_docker(test) else {
            return;
        };
        images::busybox_image_with_binary(&docker, IMAGE, &minimgmt_bin());
        let name = format!("sdtrace-converge-{}", TempDir::new("converge-ctr").token());
        let run = Converge::start(&tracer, &["--daemon", "minimgmt"]);
        let container = Container::run(
        &docker,
        &name,
        &[
            IMAGE,
            "/bin/sh",
            "-c",
            "mkdir -p /data && exec /bin/minimgmt --file /data/app.conf --content 'listen = 8080\n' --mode 644",
        ],
    );
        let id = container.full_id();
        let mut logs = std::process::Command::new(&docker);
        logs.args(["logs", "-f", &name]);
        let daemon = Daemon::spawn("minimgmt in a container", logs);
        daemon.wait_lines("minimgmt: converged", 1);
        run.wait_for("the start-up CONVERGE of the file", |e| {
            e.kind() == "CONVERGE" && on_file(e, &name, &id)
        });

        assert!(
            container.exec(&["sh", "-c", &format!("echo 'debug = 1' >> {FILE}")]),
            "docker exec"
        );
        daemon.wait_lines("repaired content", 2);
        let drift = run.wait_for("the DRIFT by docker exec's shell", |e| {
            e.kind() == "DRIFT" && on_file(e, &name, &id)
        });
        let repair = run.wait_for("the repair", |e| {
            e.kind() == "CONVERGE" && e.cause_id() == drift.id()
        });
        let done = run.stop();
        drop(daemon);
        let all = done.describe();
        assert_well_formed(&done);
        assert!(
            in_container(&drift, &name, &id),
            "the changer is in {name}: {drift}"
        );
        assert_eq!(drift.actor_comm(), "sh", "{drift}");
        assert!(
            in_container(&repair, &name, &id),
            "minimgmt is in {name}: {repair}"
        );
        assert_eq!(repair.actor_comm(), "minimgmt", "{repair}");
        assert_eq!(repair.cause_str("kind"), Some("drift"), "{repair}");
        assert!(on_file(&repair, &name, &id), "{repair}");
        for e in done
            .events
            .iter()
            .filter(|e| on_file(e, &name, &id) && e.kind() != "SUMMARY")
        {
            assert!(
                in_container(e, &name, &id),
                "every event of the file names {name}: {e}\n{all}"
            );
        }
        assert!(
            done.events
                .iter()
                .all(|e| e.resource() != format!("file:{FILE}")),
            "the container's file is not the host's {FILE}\n{all}"
        );
        assert_eq!(done.of("DRIFT").len(), 1, "one DRIFT\n{all}");
    }
);
