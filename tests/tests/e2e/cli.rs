//! Command-line behaviour a user meets first: a bad filter is refused before
//! anything loads, and `sdtrace | head -1` ends quietly.
use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::mpsc,
    thread,
    time::Duration,
};

use tests::{
    e2e, require_binary,
    session::{serial, signal, wait_deadline, ATTACHED, ATTACH_TIMEOUT},
};

#[test]
fn bad_filter_fails_with_a_caret() {
    let Some(bin) = require_binary("bad_filter_fails_with_a_caret") else {
        return;
    };
    let out = Command::new(bin)
        .args(["-c", "proc.nam=cat"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a bad filter must fail; stderr:\n{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        !stderr.contains(ATTACHED),
        "refused before loading anything:\n{stderr}"
    );
    assert!(
        stderr.contains("proc.nam"),
        "the error names the bad field:\n{stderr}"
    );
    assert!(
        stderr.lines().any(|l| l.trim_start().starts_with('^')),
        "a line with a caret under the error:\n{stderr}"
    );
}

e2e!(broken_pipe_exits_quietly, |tracer, test| {
    let _serial = serial();
    let mut child = Command::new(&tracer.bin)
        .arg("-j")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // `head -1`: read one line, then close the pipe so the next write gets
    // EPIPE. On a thread, so a silent sdtrace cannot hang the test.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut first = String::new();
        let _ = BufReader::new(stdout).read_line(&mut first);
        let _ = tx.send(first);
    });
    let Ok(first) = rx.recv_timeout(ATTACH_TIMEOUT) else {
        signal(child.id(), libc::SIGKILL);
        panic!("no output from `sdtrace -j` within {ATTACH_TIMEOUT:?}");
    };
    assert!(
        first.starts_with('{'),
        "first line is a JSON event: {first:?}"
    );

    // Capturing everything, sdtrace sees more events at once (this very spawn).
    let _ = Command::new("true").status();
    let status = wait_deadline(&mut child, Duration::from_secs(20)).unwrap_or_else(|| {
        signal(child.id(), libc::SIGKILL);
        panic!("sdtrace kept running after its stdout closed");
    });
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let quiet = |l: &str| {
        let l = l.to_ascii_lowercase();
        !(l.contains("error") || l.contains("broken pipe") || l.contains("panick"))
    };
    assert!(
        stderr.lines().all(quiet),
        "no error message on a closed pipe:\n{stderr}"
    );
    let by_sigpipe = std::os::unix::process::ExitStatusExt::signal(&status) == Some(libc::SIGPIPE);
    assert!(
        status.success() || by_sigpipe,
        "exit 0 (or SIGPIPE, as `head` users expect): {status:?}\n{stderr}"
    );
});
