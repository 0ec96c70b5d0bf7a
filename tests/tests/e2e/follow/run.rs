//! One `sdtrace follow -j` run: started, awaited until it says it is
//! attached, then awaited until it exits on its own (`-- COMMAND` ends with
//! the command, `-n N` after N traces, `-M S` after S seconds). Its stdout is
//! parsed into spans and its stderr kept, on reader threads, during the
//! harness's turn.
use std::{
    io::{BufRead, BufReader, Read},
    process::{Child, ExitStatus},
    sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError},
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use serde_json::Value;
use tests::{
    session::{serial, spawn_piped, wait_deadline, ATTACHED, ATTACH_TIMEOUT},
    Tracer,
};

#[derive(Default)]
struct Output {
    spans: Vec<Value>,
    non_json: Vec<String>,
    stderr: Vec<String>,
    attached: bool,
    stderr_done: bool,
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

pub struct Follow {
    child: Child,
    shared: Arc<Shared>,
    readers: Vec<JoinHandle<()>>,
    args: Vec<String>,
    _serial: MutexGuard<'static, ()>,
}

/// What a finished run printed.
pub struct Finished {
    pub status: ExitStatus,
    pub spans: Vec<Value>,
    pub stderr: Vec<String>,
}

impl Finished {
    /// Everything it printed, for an assertion's message.
    pub fn describe(&self) -> String {
        let spans: Vec<String> = self.spans.iter().map(Value::to_string).collect();
        format!(
            "exit: {:?}\nspans:\n{}\nstderr:\n{}",
            self.status,
            spans.join("\n"),
            self.stderr.join("\n")
        )
    }
}

impl Follow {
    /// Starts `sdtrace follow -j <args>` and waits until it has attached.
    pub fn start(tracer: &Tracer, args: &[&str]) -> Self {
        let turn = serial();
        let mut full = vec!["follow".to_owned(), "-j".to_owned()];
        full.extend(args.iter().map(ToString::to_string));
        let (child, stdout, stderr) = spawn_piped(tracer, &full);
        let shared = Arc::new(Shared::default());
        let readers = vec![
            {
                let shared = Arc::clone(&shared);
                thread::spawn(move || read_spans(stdout, &shared))
            },
            {
                let shared = Arc::clone(&shared);
                thread::spawn(move || read_stderr(stderr, &shared))
            },
        ];
        let follow = Self {
            child,
            shared,
            readers,
            args: full,
            _serial: turn,
        };
        follow.wait_attached();
        follow
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

    /// Waits up to `timeout` for sdtrace to exit by itself.
    pub fn wait(mut self, timeout: Duration) -> Finished {
        let Some(status) = wait_deadline(&mut self.child, timeout) else {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let out = self.shared.lock();
            let spans: Vec<String> = out.spans.iter().map(Value::to_string).collect();
            panic!(
                "sdtrace {:?} did not exit within {timeout:?}\nspans:\n{}\nstderr:\n{}",
                self.args,
                spans.join("\n"),
                out.stderr.join("\n")
            );
        };
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        let mut out = self.shared.lock();
        assert!(
            out.non_json.is_empty(),
            "sdtrace follow -j printed lines that are not JSON: {:?}",
            out.non_json
        );
        Finished {
            status,
            spans: std::mem::take(&mut out.spans),
            stderr: std::mem::take(&mut out.stderr),
        }
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        // Only reached with sdtrace still running when a test panicked.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_spans(stdout: impl Read, shared: &Shared) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let parsed = serde_json::from_str::<Value>(&line);
        shared.update(|out| match parsed {
            Ok(span) => out.spans.push(span),
            Err(_) => out.non_json.push(line),
        });
    }
}

fn read_stderr(stderr: impl Read, shared: &Shared) {
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        eprintln!("[sdtrace follow] {line}");
        shared.update(|out| {
            out.attached |= line.trim_end() == ATTACHED;
            out.stderr.push(line);
        });
    }
    shared.update(|out| out.stderr_done = true);
}
