//! The summary modes: `sdtrace top files` over a capture counts what the
//! capture's own events say, file by file; `sdtrace echo fds` echoes what a
//! process wrote.
use std::{
    collections::BTreeMap,
    fs,
    os::unix::fs::PermissionsExt,
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::Value;
use tests::recorder::{self, Recorder};
use tests::{
    e2e,
    session::{spawn_attached, EXIT_TIMEOUT},
    watch::Stdout,
    TempDir,
};

const WORKLOAD: &str = "topwork";
/// How long a line may take to show up after what causes it.
const LINE_TIMEOUT: Duration = Duration::from_secs(10);

/// Writes files of known sizes, reads some back, and fails an open.
fn run_workload(dir: &Path) {
    let script = dir.join(WORKLOAD);
    fs::write(
        &script,
        r#"#!/bin/sh
head -c 3000 /dev/zero > "$1/three"
head -c 70000 /dev/zero > "$1/big"
head -c 1000 "$1/big" > /dev/null
cat "$1/three" "$1/missing"
exit 0
"#,
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let status = Command::new(&script)
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

fn lines(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

e2e!(top_files_counts_what_the_events_say, |tracer| {
    let dir = TempDir::new("top-files");
    let file = dir.path().join("top.scap");
    let filter = format!("proc.name={WORKLOAD} or proc.pname={WORKLOAD}");
    let recorder = Recorder::start(&tracer, &file, &["-c", &filter]);
    let work = dir.path().join("work");
    fs::create_dir(&work).unwrap();
    run_workload(&work);
    recorder.stop();

    // What the events say: each read's or write's result, per file (a
    // copy_file_range, both, moves its bytes twice, as top counts them).
    let out = recorder::read(
        &tracer,
        &file,
        &[
            "-j",
            "-p",
            "%fd.name %fd.typechar %evt.rawres %evt.is_io_read %evt.is_io_write",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut said: BTreeMap<String, i64> = BTreeMap::new();
    for ev in lines(&out.stdout) {
        let ways =
            i64::from(ev["evt.is_io_read"] == true) + i64::from(ev["evt.is_io_write"] == true);
        let res = ev["evt.rawres"].as_i64().unwrap_or(0);
        if ev["fd.typechar"] == "f" && res > 0 {
            *said
                .entry(ev["fd.name"].as_str().unwrap().to_owned())
                .or_default() += ways * res;
        }
    }
    said.retain(|_, bytes| *bytes > 0);
    let big = work.join("big").display().to_string();
    assert!(said.get(&big).is_some_and(|&b| b >= 71_000), "{said:?}");

    // What top says.
    let out = Command::new(&tracer.bin)
        .args(["top", "files", "-j", "-n", "1000", "-r"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut top: BTreeMap<String, i64> = BTreeMap::new();
    let mut errors = BTreeMap::new();
    for row in lines(&out.stdout) {
        let name = row["file"].as_str().unwrap().to_owned();
        errors.insert(name.clone(), row["errors"].as_i64().unwrap());
        let bytes = row["bytes"].as_i64().unwrap();
        assert_eq!(
            bytes,
            row["read"].as_i64().unwrap() + row["written"].as_i64().unwrap()
        );
        if bytes > 0 {
            *top.entry(name).or_default() += bytes;
        }
    }
    assert_eq!(top, said);
    let missing = work.join("missing").display().to_string();
    assert_eq!(errors.get(&missing), Some(&1), "{errors:?}");

    // The text table ranks the biggest first.
    let out = Command::new(&tracer.bin)
        .args(["top", "files", "-n", "1", "-r"])
        .arg(&file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut rows = text.lines();
    assert!(rows.next().unwrap().starts_with("FILE"), "{text}");
    let busiest = said.iter().max_by_key(|(_, b)| **b).unwrap().0;
    assert!(rows.next().unwrap().starts_with(busiest.as_str()), "{text}");
    assert_eq!(rows.next(), None, "{text}");
});

e2e!(echo_fds_echoes_what_is_written, |tracer, test| {
    let _turn = tests::session::serial();
    let dir = TempDir::new("echo-fds");
    let target = dir.path().join("said.txt");
    let echo = spawn_attached(
        "sdtrace echo",
        Command::new(&tracer.bin)
            .args(["echo", "fds", "-M", "60", "-c"])
            .arg(format!("fd.name={}", target.display())),
        Stdout::Lines,
    );
    fs::write(&target, "hello from the echo test\n").unwrap();
    let header = format!("------ Write 25B to {} (", target.display());
    let text = echo.wait_until("the header and the line after it", LINE_TIMEOUT, |o| {
        let at = o.stdout.iter().position(|l| l.starts_with(&header))?;
        o.stdout.get(at + 1).cloned()
    });
    assert_eq!(text, "hello from the echo test");
    let (status, _) = echo.stop(libc::SIGINT, EXIT_TIMEOUT);
    assert!(status.success());
});

// A command typed into a terminal's shell (`script` gives the shell a
// pseudo-terminal, as sshd would), indented below it.
e2e!(spy_users_sees_what_a_terminal_runs, |tracer, test| {
    if tests::require_program(test, "script").is_none() {
        return;
    }
    let _turn = tests::session::serial();
    let spy = spawn_attached(
        "sdtrace spy",
        Command::new(&tracer.bin).args(["spy", "users", "-M", "60"]),
        Stdout::Lines,
    );
    // `; true`: the shell forks for ls rather than becoming it.
    let status = Command::new("script")
        .args(["-qc", "sh -c 'ls / >/dev/null; true'", "/dev/null"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let line = spy.wait_until("the line of `ls /`", LINE_TIMEOUT, |o| {
        o.stdout.iter().find(|l| l.ends_with(" ls /")).cloned()
    });
    let pid = line.split_whitespace().nth(3).unwrap();
    assert!(
        pid.parse::<u32>().is_ok(),
        "time user container pid cmdline: {line}"
    );
    assert!(line.contains(" host "), "{line}");
    let (status, _) = spy.stop(libc::SIGINT, EXIT_TIMEOUT);
    assert!(status.success());
});
