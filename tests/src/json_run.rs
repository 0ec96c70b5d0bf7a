//! One run of an sdtrace mode with `-j` (`follow`, `converge`): started,
//! awaited until it says it is attached, its stdout parsed into JSON values
//! and its stderr kept on reader threads, during the harness's turn; then
//! awaited until it exits on its own, or stopped with SIGINT.
use std::{
    io::{BufRead, BufReader, Read},
    process::{Child, ExitStatus},
    sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError},
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{
    session::{serial, signal, spawn_piped, wait_deadline, ATTACHED, ATTACH_TIMEOUT, EXIT_TIMEOUT},
    Tracer,
};

/// What the run has printed so far.
#[derive(Default)]
pub struct Output {
    pub values: Vec<Value>,
    pub non_json: Vec<String>,
    pub stderr: Vec<String>,
    attached: bool,
    pub stdout_done: bool,
    stderr_done: bool,
}

impl Output {
    /// Everything printed, for an assertion's message.
    pub fn describe(&self) -> String {
        let values: Vec<String> = self.values.iter().map(Value::to_string).collect();
        format!(
            "stdout:\n{}\nnon-JSON stdout: {:?}\nstderr:\n{}",
            values.join("\n"),
            self.non_json.iter().take(5).collect::<Vec<_>>(),
            self.stderr.join("\n")
        )
    }
}

#[derive(Default)]
struct Shared {
    output: Mutex<Output>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Output> {
        self.output.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, f: impl FnOnce(&mut Output)) {
        f(&mut self.lock());
        self.changed.notify_all();
    }
}

pub struct JsonRun {
    child: Child,
    shared: Arc<Shared>,
    readers: Vec<JoinHandle<()>>,
    args: Vec<String>,
    _serial: Option<MutexGuard<'static, ()>>,
}

/// What a finished run printed.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub values: Vec<Value>,
    pub stderr: Vec<String>,
}

impl JsonRun {
    /// Starts `sdtrace <mode> -j <args>` and waits until it has attached.
    pub fn start(tracer: &Tracer, mode: &str, args: &[&str]) -> Self {
        let turn = serial();
        let mut full = vec![mode.to_owned(), "-j".to_owned()];
        full.extend(args.iter().map(ToString::to_string));
        Self::launch(tracer, full, Some(turn))
    }

    /// Starts `sdtrace <args>` (which print JSON) and waits until it has
    /// attached, for a test that holds the harness's turn itself because it
    /// runs several sdtraces at once (agents and their client).
    pub fn start_in_turn(tracer: &Tracer, args: &[&str]) -> Self {
        Self::launch(tracer, args.iter().map(ToString::to_string).collect(), None)
    }

    fn launch(tracer: &Tracer, full: Vec<String>, turn: Option<MutexGuard<'static, ()>>) -> Self {
        let mode = full.first().cloned().unwrap_or_default();
        let (child, stdout, stderr) = spawn_piped(tracer, &full);
        let shared = Arc::new(Shared::default());
        let prefix = format!("[sdtrace {mode}]");
        let readers = vec![
            {
                let shared = Arc::clone(&shared);
                let prefix = prefix.clone();
                thread::spawn(move || read_values(stdout, &shared, &prefix))
            },
            {
                let shared = Arc::clone(&shared);
                thread::spawn(move || read_stderr(stderr, &shared, &prefix))
            },
        ];
        let run = Self {
            child,
            shared,
            readers,
            args: full,
            _serial: turn,
        };
        run.wait_attached();
        run
    }

    fn wait_attached(&self) {
        let deadline = Instant::now() + ATTACH_TIMEOUT;
        let mut out = self.shared.lock();
        while !out.attached {
            let now = Instant::now();
            assert!(
                !out.stderr_done && now < deadline,
                "sdtrace {:?} did not attach ({})\nstderr:\n{}",
                self.args,
                if out.stderr_done {
                    "it closed stderr"
                } else {
                    "timed out"
                },
                out.stderr.join("\n")
            );
            out = self
                .shared
                .changed
                .wait_timeout(out, deadline - now)
                .map_or_else(|e| e.into_inner().0, |r| r.0);
        }
    }

    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The values printed so far.
    #[must_use]
    pub fn values(&self) -> Vec<Value> {
        self.shared.lock().values.clone()
    }

    /// Waits up to `timeout` until `check` answers from what was printed;
    /// panics with `what` and the output when it does not (or stdout closed).
    pub fn wait_until<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Output) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        let mut out = self.shared.lock();
        loop {
            if let Some(answer) = check(&out) {
                return answer;
            }
            let now = Instant::now();
            if out.stdout_done || now >= deadline {
                let why = if out.stdout_done {
                    "sdtrace closed its stdout"
                } else {
                    "timed out"
                };
                panic!(
                    "waiting for {what}: {why} after {timeout:?}\n{}",
                    out.describe()
                );
            }
            out = self
                .shared
                .changed
                .wait_timeout(out, deadline - now)
                .map_or_else(|e| e.into_inner().0, |r| r.0);
        }
    }

    /// Waits up to `timeout` for sdtrace to exit by itself.
    pub fn wait_exit(mut self, timeout: Duration) -> Finished {
        let Some(status) = wait_deadline(&mut self.child, timeout) else {
            let _ = self.child.kill();
            let _ = self.child.wait();
            panic!(
                "sdtrace {:?} did not exit within {timeout:?}\n{}",
                self.args,
                self.shared.lock().describe()
            );
        };
        self.finished(status)
    }

    /// Sends SIGINT and waits for the exit (after what it prints at the end).
    pub fn interrupt(mut self) -> Finished {
        signal(self.child.id(), libc::SIGINT);
        let Some(status) = wait_deadline(&mut self.child, EXIT_TIMEOUT) else {
            let _ = self.child.kill();
            let _ = self.child.wait();
            panic!(
                "sdtrace {:?} did not exit within {EXIT_TIMEOUT:?} of SIGINT\n{}",
                self.args,
                self.shared.lock().describe()
            );
        };
        self.finished(status)
    }

    fn finished(mut self, status: ExitStatus) -> Finished {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        let mut out = self.shared.lock();
        assert!(
            out.non_json.is_empty(),
            "sdtrace {:?} printed lines that are not JSON: {:?}",
            self.args,
            out.non_json
        );
        Finished {
            status,
            values: std::mem::take(&mut out.values),
            stderr: std::mem::take(&mut out.stderr),
        }
    }
}

impl Drop for JsonRun {
    fn drop(&mut self) {
        // Only reached with sdtrace still running when a test panicked.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_values(stdout: impl Read, shared: &Shared, prefix: &str) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        eprintln!("{prefix} {line}");
        let parsed = serde_json::from_str::<Value>(&line);
        shared.update(|o| match parsed {
            Ok(v) => o.values.push(v),
            Err(_) => o.non_json.push(line),
        });
    }
    shared.update(|o| o.stdout_done = true);
}

fn read_stderr(stderr: impl Read, shared: &Shared, prefix: &str) {
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        eprintln!("{prefix} {line}");
        shared.update(|o| {
            o.attached |= line.trim_end() == ATTACHED;
            o.stderr.push(line);
        });
    }
    shared.update(|o| o.stderr_done = true);
}
