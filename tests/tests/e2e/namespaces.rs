//! Identity: an event carries the pid namespace its process lives in, read
//! in the kernel, at any depth of nesting and on both hook types (the BTF
//! tracepoint reads it with typed loads at constant offsets, the raw one
//! with helpers and a per-thread cache).
use std::{fs, process::Command};

use tests::{e2e, which, EventExt, Session, TempDir, Tracer};

/// Nesting levels: deeper than the four the typed loads reach directly.
const DEPTH: usize = 5;

fn nested_pid_namespace_is_the_process_own(tracer: &Tracer, hook: &str) {
    let dir = TempDir::new("pidns");
    let marker = dir.path().join(format!("marker-{}", dir.token()));
    let ns_file = dir.path().join("ns");
    fs::write(&marker, "marker\n").unwrap();
    let marker = marker.to_str().unwrap().to_owned();

    let session = Session::start(
        tracer,
        &[
            "--syscall-hook",
            hook,
            "-c",
            &format!("evt.type=openat and fd.name={marker}"),
        ],
    );
    // unshare -pf, DEPTH times, then a shell that says which pid namespace
    // it is in and opens the marker.
    let mut cmd = Command::new(which("unshare"));
    cmd.arg("-pf");
    for _ in 1..DEPTH {
        cmd.args([which("unshare").to_str().unwrap(), "-pf"]);
    }
    cmd.args([
        "sh",
        "-c",
        &format!(
            "readlink /proc/self/ns/pid > {} && cat {marker} > /dev/null",
            ns_file.display()
        ),
    ]);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // "pid:[4026532841]"
    let link = fs::read_to_string(&ns_file).unwrap();
    let inum: i64 = link
        .trim()
        .trim_start_matches("pid:[")
        .trim_end_matches(']')
        .parse()
        .unwrap_or_else(|_| panic!("readlink gave {link:?}"));

    let ev = session.wait_for(&format!("cat's openat of {marker}"), |e| {
        e.evt_type() == Some("openat") && e.str_field("proc.name") == Some("cat")
    });
    assert_eq!(
        ev.int_field("ns.pid"),
        Some(inum),
        "ns.pid of a process {DEPTH} pid namespaces deep, on {hook}: {ev}"
    );
    assert!(session.stop().status.success());
}

e2e!(nested_pid_namespace_on_the_btf_tracepoint, |tracer| {
    nested_pid_namespace_is_the_process_own(&tracer, "btf");
});

e2e!(nested_pid_namespace_on_the_raw_tracepoint, |tracer| {
    nested_pid_namespace_is_the_process_own(&tracer, "raw");
});
