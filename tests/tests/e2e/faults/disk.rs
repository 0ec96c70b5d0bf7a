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
        let mut whole = Vec::new();
        for f in &files[..2] {
            let read = recorder::read(&tracer, f, &["-c", "evt.type=read", "-p", "%evt.type"]);
            let err = String::from_utf8_lossy(&read.stderr);
            assert!(
                read.status.success(),
                "{} reads back whole: {err}",
                f.display()
            );
            whole.push(String::from_utf8_lossy(&read.stdout).lines().count());
        }
        // The file cut by the full disk still reads to its last whole block.
        let cut = recorder::read(
            &tracer,
            &files[2],
            &["-c", "evt.type=read", "-p", "%evt.type"],
        );
        let cut_lines = String::from_utf8_lossy(&cut.stdout).lines().count();
        eprintln!(
        "-C 1 onto 2.6 MB: {:?} reads in the completed files, {cut_lines} in the cut one; said: {}",
        whole, errors[0]
    );
        assert!(
            whole.iter().all(|&n| n > 1000),
            "the completed files hold the loop's reads: {whole:?}"
        );
    }
);
