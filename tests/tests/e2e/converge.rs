//! `sdtrace converge`: which resources a configuration daemon touched and
//! why. Real daemons do real things: `minimgmt` (tests/src/bin, an
//! mgmt-like inotify-driven daemon) repairs a file, a dpkg package and an
//! init-script service, on the host and in a Docker container; Debian's
//! Puppet 7 applies a local manifest from a loop, as cron would; and both
//! fight over one file. Changes from outside every daemon's process tree
//! are made by shells the test runs, one at a time, each awaited until the
//! daemon said it repaired it.
mod attach;
mod auto;
mod container;
mod fight;
mod mgmt;
mod puppet;

use std::path::PathBuf;

use serde_json::Value;
use tests::{
    converge::{DerivedExt, Finished},
    require_program,
};

/// The minimgmt binary cargo built for these tests.
fn minimgmt_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_minimgmt"))
}

/// Whether every program named is installed; `false` after saying why not.
fn require(test: &str, programs: &[&str]) -> bool {
    programs
        .iter()
        .all(|program| require_program(test, program).is_some())
}

/// `file:<path>`, the resource name of a file.
fn file_res(path: &std::path::Path) -> String {
    format!("file:{}", path.display())
}

/// The derived events (not FLAP or SUMMARY) of `kind` on `resource`.
fn on<'a>(done: &'a Finished, kind: &str, resource: &str) -> Vec<&'a Value> {
    done.events
        .iter()
        .filter(|e| e.kind() == kind && e.resource() == resource)
        .collect()
}

/// The derived event whose `id` is `id`.
fn by_id(done: &Finished, id: u64) -> &Value {
    done.events
        .iter()
        .find(|e| e.id() == Some(id) && e.kind() != "SUMMARY")
        .unwrap_or_else(|| panic!("no event with id {id}\n{}", done.describe()))
}

/// Checks the fields every derived event has, with their types.
fn assert_well_formed(done: &Finished) {
    for e in &done.events {
        match e.kind() {
            "WATCH" | "DRIFT" | "CONVERGE" | "CHECK" => {
                assert!(e.id().is_some(), "id: {e}");
                assert!(
                    e.get("ts_ns").and_then(Value::as_u64).is_some(),
                    "ts_ns: {e}"
                );
                assert!(e.get("time").and_then(Value::as_str).is_some(), "time: {e}");
                let r = e.resource();
                // A file in a container is `file:CONTAINER:/path`.
                let file_ok = r
                    .strip_prefix("file:")
                    .is_some_and(|p| p.starts_with('/') || p.contains(":/"));
                assert!(
                    file_ok
                        || ["pkg:", "svc:", "user:", "group:", "exec:/"]
                            .iter()
                            .any(|p| r.starts_with(p)),
                    "resource: {e}"
                );
                assert!(
                    e.get("daemon").and_then(Value::as_str).is_some(),
                    "daemon: {e}"
                );
                assert!(e.actor_pid().is_some(), "actor.pid: {e}");
                assert!(
                    e.pointer("/actor/comm").is_some_and(Value::is_string),
                    "actor.comm: {e}"
                );
                assert!(
                    e.pointer("/actor/exe").is_some_and(Value::is_string),
                    "actor.exe: {e}"
                );
                assert!(
                    e.pointer("/actor/container").is_some(),
                    "actor.container: {e}"
                );
                assert!(e.get("ops").is_some_and(Value::is_array), "ops: {e}");
                assert!(e.get("cause").is_some(), "cause: {e}");
                assert!(e.get("ttc_ms").is_some(), "ttc_ms: {e}");
            }
            "FLAP" => {
                assert!(
                    e.get("writers")
                        .and_then(Value::as_array)
                        .is_some_and(|w| w.len() == 2),
                    "writers: {e}"
                );
                assert!(
                    e.get("count").and_then(Value::as_u64).is_some(),
                    "count: {e}"
                );
                assert!(
                    e.get("period_ms").and_then(Value::as_f64).is_some(),
                    "period_ms: {e}"
                );
            }
            "SUMMARY" => {
                for key in ["checks", "drifts", "converges"] {
                    assert!(e.get(key).and_then(Value::as_u64).is_some(), "{key}: {e}");
                }
                assert!(
                    e.get("flapping").and_then(Value::as_bool).is_some(),
                    "flapping: {e}"
                );
            }
            other => panic!("unknown type {other:?}: {e}\n{}", done.describe()),
        }
    }
}

/// Checks that the only resources under `dir` are `allowed`: a daemon's
/// temporary files and lock directories, and an editor's, are no resources.
fn assert_only_files_in(done: &Finished, dir: &std::path::Path, allowed: &[&str]) {
    let prefix = format!("file:{}/", dir.display());
    let strays: Vec<String> = done
        .events
        .iter()
        .filter(|e| e.resource().starts_with(&prefix) && !allowed.contains(&e.resource()))
        .map(ToString::to_string)
        .collect();
    assert!(
        strays.is_empty(),
        "resources in {} besides {allowed:?}:\n{}",
        dir.display(),
        strays.join("\n")
    );
}

/// A SUMMARY's counter.
fn count(summary: &Value, key: &str) -> u64 {
    summary
        .get(key)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no {key} in {summary}"))
}
