//! The line users type first: `sdtrace -c "container.name=web and
//! evt.type=openat"`, started before the container exists. nginx in a
//! Docker container is traced from its first open, every event carries the
//! container's name, id and image (zero `<NA>`), nothing else is printed,
//! and the kernel drops the other cgroups' syscalls.
//!
//! What the container did is known independently: a second sdtrace beside
//! the first records every open of every container, by cgroup alone (no
//! runtime metadata, nothing held), into a capture file.
use std::{
    collections::BTreeMap,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use tests::{
    e2e, images, recorder, require_docker, Container, EventExt, Recorder, Session, TempDir,
};

/// Each thread's opens, in order: (proc.name, fd.name). Two sdtrace
/// instances may interleave different threads' events differently (each
/// probe takes its own timestamps), never one thread's.
fn opens_by_thread(events: &[Value]) -> BTreeMap<i64, Vec<(String, String)>> {
    let mut by_tid: BTreeMap<i64, Vec<(String, String)>> = BTreeMap::new();
    for e in events {
        let field = |k| e.str_field(k).unwrap_or("<none>").to_owned();
        by_tid
            .entry(e.int_field("thread.tid").unwrap_or(-1))
            .or_default()
            .push((field("proc.name"), field("fd.name")));
    }
    by_tid
}

e2e!(
    nginx_in_docker_is_traced_from_its_first_open,
    |tracer, test| {
        let Some(docker) = require_docker(test) else {
            return;
        };
        let image = "sdtrace-e2e-nginx:1";
        if images::nginx_image(&docker, image).is_none() {
            tests::env::unavailable::<()>(
            test,
            "Debian's nginx package is not downloaded (`cargo xtask setup` fetches it into $SDTRACE_DEBS)",
        );
            return;
        }
        let name = "web";
        let session = Session::start(
        &tracer,
        &[
            "-c",
            &format!("container.name={name} and evt.type=openat"),
            "-p",
            "*%container.name %container.id %container.full_id %container.image %container.type \
             %proc.name %thread.tid %fd.name",
        ],
    );
        let dir = TempDir::new("nginx");
        let reference = dir.path().join("containers.scap");
        let recorder = Recorder::start_beside(
            &session,
            &tracer,
            &reference,
            &["-c", "evt.type=openat and container.id != host"],
        );
        let started = Instant::now();
        let web = Container::run(
            &docker,
            name,
            &[image, "/usr/sbin/nginx", "-g", "daemon off;"],
        );
        let full_id = web.full_id();
        // nginx answers once it listens; busybox's wget asks from inside.
        let page = [
            "wget",
            "-q",
            "-O",
            "/dev/null",
            "http://127.0.0.1/index.html",
        ];
        while !web.exec(&page) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "nginx in the container never answered"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        session.wait_for("nginx's open of the page it served", |e| {
            e.str_field("fd.name") == Some("/www/index.html")
        });
        // Busy on the host with the very syscall the filter asks for: the
        // kernel drops them once the host's cgroup is muted.
        let busy = Command::new(env!("CARGO_BIN_EXE_syscall-loop"))
            .args(["openat", "200000"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(busy.success());
        drop(web);
        recorder.stop();
        let done = session.stop();
        assert!(done.status.success());

        // Zero <NA>: every event names the container, its id and its image.
        assert!(!done.events.is_empty());
        for e in &done.events {
            assert_eq!(e.str_field("container.name"), Some(name), "{e}");
            assert_eq!(
                e.str_field("container.full_id"),
                Some(full_id.as_str()),
                "{e}"
            );
            assert_eq!(e.str_field("container.id"), Some(&full_id[..12]), "{e}");
            assert_eq!(e.str_field("container.image"), Some(image), "{e}");
            assert_eq!(e.str_field("container.type"), Some("docker"), "{e}");
        }

        // Every open the container made, from its first, is in the stream.
        let out = recorder::read(
            &tracer,
            &reference,
            &[
                "-j",
                "-c",
                &format!("container.full_id = {full_id}"),
                "-p",
                "*%proc.name %thread.tid %fd.name",
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let all: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let first_nginx = all
            .iter()
            .find(|e| e.str_field("proc.name") == Some("nginx"))
            .expect("the reference saw nginx open files");
        assert!(
            done.events
                .iter()
                .any(|e| e.str_field("proc.name") == Some("nginx")
                    && e.int_field("thread.tid") == first_nginx.int_field("thread.tid")
                    && e.str_field("fd.name") == first_nginx.str_field("fd.name")),
            "nginx's first open {first_nginx} is missing"
        );
        assert_eq!(
            opens_by_thread(&done.events),
            opens_by_thread(&all),
            "the filtered stream has exactly the container's opens"
        );

        // The host's 200 000 opens stayed in the kernel.
        let stats = done.stats();
        let muted = stats.raw.get("muted_cgroups").and_then(Value::as_u64);
        assert!(
            muted.is_some_and(|m| m >= 1),
            "no cgroup muted: {:?}",
            stats.raw
        );
        assert!(
            stats.events < 50_000,
            "the kernel dropped the host's syscalls, yet {} records reached userspace",
            stats.events
        );
    }
);

// A container that lives about 50 ms: its opens are named too.
e2e!(a_50_ms_container_is_named, |tracer, test| {
    let Some(docker) = require_docker(test) else {
        return;
    };
    let image = "sdtrace-e2e-busybox:1";
    images::busybox_image(&docker, image);
    let name = "sdtrace-blink";
    let session = Session::start(
        &tracer,
        &[
            "-c",
            &format!("container.name={name} and evt.type=openat"),
            "-p",
            "*%container.name %container.image %proc.name %fd.name",
        ],
    );
    // Also recorded by task name alone: the kernel drops everything else,
    // so cat's exec is the first record of the container's cgroup the file
    // holds (and the one a reader needing names looks it up at).
    let dir = TempDir::new("blink");
    let file = dir.path().join("cat.scap");
    let recorder = Recorder::start_beside(&session, &tracer, &file, &["-c", "proc.name=cat"]);
    let blink = Container::run(
        &docker,
        name,
        &[image, "/bin/sh", "-c", "cat /etc/motd; sleep 0.05"],
    );
    session.wait_for("cat's open of /etc/motd", |e| {
        e.str_field("fd.name") == Some("/etc/motd")
    });
    drop(blink);
    recorder.stop();
    let done = session.stop();
    assert!(done.status.success());
    for e in &done.events {
        assert_eq!(e.str_field("container.name"), Some(name), "{e}");
        assert_eq!(e.str_field("container.image"), Some(image), "{e}");
    }
    let out = recorder::read(
        &tracer,
        &file,
        &[
            "-j",
            "-c",
            "fd.name=/etc/motd",
            "-p",
            "*%container.name %container.image",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = String::from_utf8_lossy(&out.stdout);
    let ev: Value =
        serde_json::from_str(read.lines().next().expect("cat's open in the file")).unwrap();
    assert_eq!(
        ev.str_field("container.name"),
        Some(name),
        "read back: {ev}"
    );
    assert_eq!(
        ev.str_field("container.image"),
        Some(image),
        "read back: {ev}"
    );
});
