//! The disk filling up under `-C` rotation: the error names the file being
//! written, the files completed before it read back whole, and sdtrace
//! exits non-zero with one line.
use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::Duration,
};

use tests::{e2e, recorder, session, tmpfs::Tmpfs, watch::Stdout};

// `-C 1` (a file a megabyte) onto a 2.6 MB tmpfs: two files fit, the third
// does not.
e2e!(
    a_full_disk_under_rotation_names_the_file_and_keeps_the_earlier_ones,
    |tracer| {
        let disk = Tmpfs::mount("2600k");
        let base = disk.path().join("rot.scap");
        let turn = session::serial();
        let watch = session::spawn_attached(
            "sdtrace -w -C 1",
            Command::new(&tracer.bin).arg("-w").arg(&base).args([
                "-C",
                "1",
                "--stats-interval",
                "0",
                "-c",
                "proc.name=syscall-loop",
            ]),
            Stdout::Null,
        );
        // Some 60 000 one-byte reads: far more than 2.6 MB of capture.
        let status = Command::new(env!("CARGO_BIN_EXE_syscall-loop"))
            .args(["read", "60000"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        let (status, out) = watch.wait(Duration::from_secs(30));
        drop(turn);
        let files: Vec<PathBuf> = (0..3)
            .map(|i| disk.path().join(format!("rot.scap{i}")))
            .collect();
        let full = files[2].display().to_string();
        let stderr = out.stderr.join("\n");
        assert!(!status.success(), "a full disk is an error: {stderr}");
        let errors: Vec<&String> = out
            .stderr
            .iter()
            .filter(|l| l.contains("No space left on device"))
            .collect();
        assert_eq!(errors.len(), 1, "one line: {stderr}");
        assert!(
            errors[0].contains(&format!("{full}: No space left on device")),
            "the error names the file being written, {full}: {stderr}"
        );
        // Each file's events, and the loop's reads among them (a busy
        // machine's other processes fill some of the capture with their
        // state, so the reads are counted over all files).
        let count = |f: &PathBuf, filter: &str| {
            let read = recorder::read(&tracer, f, &["-c", filter, "-p", "%evt.num"]);
            (
                read.status.success(),
                String::from_utf8_lossy(&read.stdout).lines().count(),
                String::from_utf8_lossy(&read.stderr).into_owned(),
            )
        };
        let mut whole = Vec::new();
        for f in &files[..2] {
            let (ok, events, err) = count(f, "evt.num>0");
            assert!(ok, "{} reads back whole: {err}", f.display());
            assert!(events > 0, "{} holds events", f.display());
            whole.push(events);
        }
        // The file cut by the full disk still reads to its last whole block.
        let (_, cut, _) = count(&files[2], "evt.num>0");
        let reads: usize = files.iter().map(|f| count(f, "evt.type=read").1).sum();
        eprintln!(
            "-C 1 onto 2.6 MB: {whole:?} events in the completed files, {cut} in the cut one, \
             {reads} of the loop's reads in all; said: {}",
            errors[0]
        );
        assert!(reads > 1000, "the files hold the loop's reads: {reads}");
    }
);
