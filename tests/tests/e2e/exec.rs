//! Process events: an `execve` carries the new image's command line.
use std::process::{Command, Stdio};

use tests::{e2e, which, EventExt, Session, TempDir};

e2e!(execve_carries_the_cmdline, |tracer| {
    let token = TempDir::new("argv").token();
    // The filter as positional words, the other form of the CLI.
    let session = Session::start(&tracer, &["evt.type=execve"]);
    let child = Command::new(which("echo"))
        .args([token.as_str(), "second-arg"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    assert!(child.wait_with_output().unwrap().status.success());

    let ev = session.wait_for(&format!("execve of echo {token} by pid {pid}"), |e| {
        e.evt_type() == Some("execve") && e.pid() == Some(pid)
    });
    let cmdline = ev.str_field("proc.cmdline").unwrap_or_default();
    assert!(
        cmdline.contains(&format!("{token} second-arg")),
        "proc.cmdline {cmdline:?} lacks the argv: {ev}"
    );
    assert_eq!(ev.str_field("proc.name"), Some("echo"), "{ev}");
    assert_eq!(ev.int_field("evt.rawres"), Some(0), "{ev}");
    assert!(session.stop().status.success());
});
