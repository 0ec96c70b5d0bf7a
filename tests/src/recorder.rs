//! `sdtrace -w`: a capture written to a file while a test runs its workload.
//! Like a [`Session`] it holds the harness's lock, so no other test's
//! workload lands in the file; one started beside a test's own session
//! shares that session's turn.
use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::MutexGuard,
    time::Duration,
};

use crate::{
    session::{serial, spawn_attached},
    watch::{excerpt, Stdout, Watch},
    Session, Tracer,
};

const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Recorder {
    watch: Watch,
    pub path: PathBuf,
    _serial: Option<MutexGuard<'static, ()>>,
}

impl Recorder {
    /// Starts `sdtrace -w <path> <args>` in its own turn and waits until it has attached.
    pub fn start(tracer: &Tracer, path: &Path, args: &[&str]) -> Self {
        let turn = serial();
        let mut r = Self::spawn(tracer, path, args);
        r._serial = Some(turn);
        r
    }

    /// Like [`Recorder::start`], during `session`'s turn.
    pub fn start_beside(_session: &Session, tracer: &Tracer, path: &Path, args: &[&str]) -> Self {
        Self::spawn(tracer, path, args)
    }

    fn spawn(tracer: &Tracer, path: &Path, args: &[&str]) -> Self {
        let watch = spawn_attached(
            "sdtrace -w",
            Command::new(&tracer.bin)
                .arg("-w")
                .arg(path)
                .args(["--stats-interval", "0"])
                .args(args),
            Stdout::Null,
        );
        Self {
            watch,
            path: path.to_owned(),
            _serial: None,
        }
    }

    /// Stops the capture (SIGINT) and returns what it said on stderr.
    pub fn stop(self) -> Vec<String> {
        let (status, out) = self.watch.stop(libc::SIGINT, EXIT_TIMEOUT);
        assert!(
            status.success(),
            "sdtrace -w failed: {status:?}\nstderr: {}",
            excerpt(&out.stderr)
        );
        out.stderr
    }
}

/// Runs `sdtrace -r <path> <args>` to completion.
pub fn read(tracer: &Tracer, path: &Path, args: &[&str]) -> Output {
    Command::new(&tracer.bin)
        .arg("-r")
        .arg(path)
        .args(["--stats-interval", "0"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", tracer.bin.display()))
}
