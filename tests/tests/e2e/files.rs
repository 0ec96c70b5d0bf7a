//! File events: an `openat` names the path it opened, and a `read` on a
//! descriptor opened before sdtrace started still names its file.
use std::{
    fs,
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
};

use tests::{require_tracer, which, EventExt, Session, TempDir};

#[test]
fn openat_by_cat_names_the_marker_file() {
    let Some(tracer) = require_tracer("openat_by_cat_names_the_marker_file") else {
        return;
    };
    let dir = TempDir::new("openat");
    let marker = dir.path().join(format!("marker-{}", dir.token()));
    fs::write(&marker, "marker\n").unwrap();
    let marker = marker.to_str().unwrap().to_owned();

    let session = Session::start(&tracer, &["-c", "evt.type=openat and proc.name=cat"]);
    let cat = Command::new(which("cat"))
        .arg(&marker)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = cat.id();
    let out = cat.wait_with_output().unwrap();
    assert!(out.status.success());

    let ev = session.wait_for(&format!("openat of {marker} by cat pid {pid}"), |e| {
        e.evt_type() == Some("openat")
            && e.pid() == Some(pid)
            && e.str_field("fd.name") == Some(marker.as_str())
    });
    assert_eq!(ev.str_field("proc.name"), Some("cat"), "{ev}");
    assert!(
        ev.int_field("fd.num").is_some_and(|fd| fd >= 0),
        "openat succeeded, so fd.num is its fd: {ev}"
    );
    let done = session.stop();
    assert!(
        done.status.success(),
        "sdtrace exits 0 on SIGINT: {:?}",
        done.status
    );
    assert!(done.stats().matched >= 1);
}

#[test]
fn read_on_fd_opened_before_start_names_the_file() {
    let Some(tracer) = require_tracer("read_on_fd_opened_before_start_names_the_file") else {
        return;
    };
    let dir = TempDir::new("preopened");
    let path = dir.path().join("preopened.txt");
    fs::write(&path, "opened before sdtrace started\n").unwrap();
    let path = path.to_str().unwrap().to_owned();

    let mut holder = Command::new(env!("CARGO_BIN_EXE_hold-fd"))
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = holder.id();
    let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    assert_eq!(
        lines.next().unwrap().unwrap(),
        "ready",
        "hold-fd opened the file"
    );

    let filter = format!("evt.type=read and proc.pid={pid}");
    let session = Session::start(&tracer, &["-c", &filter]);
    writeln!(holder.stdin.take().unwrap(), "go").unwrap();
    assert!(lines.next().unwrap().unwrap().starts_with("read "));
    assert!(holder.wait().unwrap().success());

    let ev = session.wait_for(&format!("read of {path} by pid {pid}"), |e| {
        e.evt_type() == Some("read")
            && e.pid() == Some(pid)
            && e.str_field("fd.name") == Some(path.as_str())
    });
    assert_eq!(ev.str_field("fd.type"), Some("file"), "{ev}");
    assert!(session.stop().status.success());
}
