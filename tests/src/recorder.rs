//! `sdtrace -w`: a capture written to a file while a test runs its workload.
//! Like a [`Session`] it holds the harness's lock, so no other test's
//! workload lands in the file; one started beside a test's own session
//! shares that session's turn.
use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::mpsc,
    thread,
    time::Duration,
};

use std::sync::MutexGuard;

use crate::session::{serial, signal, wait_deadline};
use crate::{Session, Tracer};

const ATTACH_TIMEOUT: Duration = Duration::from_secs(60);
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Recorder {
    child: Child,
    stderr: mpsc::Receiver<String>,
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
        let mut child = Command::new(&tracer.bin)
            .arg("-w")
            .arg(path)
            .args(["--stats-interval", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", tracer.bin.display()));
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().expect("piped");
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[sdtrace -w] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        loop {
            match rx.recv_timeout(ATTACH_TIMEOUT) {
                Ok(line) if line.trim_end() == "sdtrace: attached" => break,
                Ok(_) => {}
                Err(e) => {
                    let _ = child.kill();
                    panic!("sdtrace -w did not attach: {e}");
                }
            }
        }
        Self {
            child,
            stderr: rx,
            path: path.to_owned(),
            _serial: None,
        }
    }

    /// Stops the capture (SIGINT) and returns what it said on stderr.
    pub fn stop(mut self) -> Vec<String> {
        signal(self.child.id(), libc::SIGINT);
        let status = wait_deadline(&mut self.child, EXIT_TIMEOUT).unwrap_or_else(|| {
            let _ = self.child.kill();
            panic!("sdtrace -w did not exit within {EXIT_TIMEOUT:?} of SIGINT")
        });
        let said: Vec<String> = self.stderr.try_iter().collect();
        assert!(status.success(), "sdtrace -w failed: {status:?}\n{said:?}");
        said
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
