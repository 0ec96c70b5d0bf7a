//! Container identity from the kernel's cgroup ids: a process moved into a
//! cgroup laid out as Docker lays them out (created after sdtrace started)
//! is in that container from its first syscall there, and a filter on the
//! container selects nothing else.
use std::{
    fs,
    path::PathBuf,
    process::{Command, Stdio},
    time::{SystemTime, UNIX_EPOCH},
};

use serde_json::Value;
use tests::{require_tracer, EventExt, Session};

/// The hierarchy sdtrace reads container cgroups from: the v1 memory
/// controller where v1 is mounted, else the unified hierarchy.
fn cgroup_root() -> PathBuf {
    let v1 = PathBuf::from("/sys/fs/cgroup/memory");
    if v1.join("cgroup.procs").is_file() {
        v1
    } else {
        PathBuf::from("/sys/fs/cgroup")
    }
}

/// A cgroup `docker/<id>` that is removed when the test ends.
struct DockerCgroup {
    dir: PathBuf,
    id: String,
}

impl DockerCgroup {
    fn create() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let id = format!("{nanos:016x}").repeat(4);
        let dir = cgroup_root().join("docker").join(&id);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        Self { dir, id }
    }
}

impl Drop for DockerCgroup {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.dir);
    }
}

#[test]
fn a_process_in_a_docker_cgroup_is_in_that_container() {
    let Some(tracer) = require_tracer("a_process_in_a_docker_cgroup_is_in_that_container") else {
        return;
    };
    let cgroup = DockerCgroup::create();
    let short = &cgroup.id[..12];
    let session = Session::start(
        &tracer,
        &[
            "-c",
            &format!("container.id={short} and evt.type=openat"),
            "-p",
            "%container.id %container.full_id %container.type %proc.name %proc.pid %fd.name",
        ],
    );
    // The shell moves itself into the cgroup, then becomes cat.
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > {}/cgroup.procs && exec cat /etc/hostname",
            cgroup.dir.display()
        ))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let ev = session.wait_for("cat's open of /etc/hostname in the container", |e| {
        e.str_field("fd.name") == Some("/etc/hostname")
    });
    assert_eq!(
        ev.str_field("container.full_id"),
        Some(cgroup.id.as_str()),
        "{ev}"
    );
    assert_eq!(ev.str_field("container.type"), Some("docker"), "{ev}");
    assert_eq!(ev.str_field("proc.name"), Some("cat"), "{ev}");
    let done = session.stop();
    assert!(done.status.success());
    let others: Vec<&Value> = done
        .events
        .iter()
        .filter(|e| e.str_field("container.id") != Some(short))
        .collect();
    assert!(others.is_empty(), "only the container's events: {others:?}");
    // Its first open (the loader's) is already attributed.
    let first = done.events.first().expect("events");
    assert_eq!(first.str_field("proc.name"), Some("cat"), "{first}");
}

#[test]
fn host_processes_are_in_no_container() {
    let Some(tracer) = require_tracer("host_processes_are_in_no_container") else {
        return;
    };
    let session = Session::start(
        &tracer,
        &[
            "-c",
            "evt.type=openat and proc.name=cat",
            "-p",
            "%container.id %container.type %fd.name",
        ],
    );
    let status = Command::new("cat")
        .arg("/etc/hostname")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let ev = session.wait_for("cat's open", |e| {
        e.str_field("fd.name") == Some("/etc/hostname")
    });
    assert_eq!(ev.str_field("container.id"), Some("host"), "{ev}");
    assert_eq!(ev.str_field("container.type"), Some("host"), "{ev}");
    session.stop();
}
