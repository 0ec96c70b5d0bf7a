//! One `sdtrace converge -j` run: started, awaited until it says it is
//! attached, its stdout parsed into derived events on a reader thread while
//! the test drives daemons, then stopped with SIGINT, after which it prints
//! one SUMMARY line per resource.
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

/// How long a derived event may take after the daemon said it acted.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Default)]
struct Output {
    events: Vec<Value>,
    non_json: Vec<String>,
    stderr: Vec<String>,
    attached: bool,
    stdout_done: bool,
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

/// Reading the fields of converge's JSON lines.
pub trait DerivedExt {
    /// `type`: WATCH, DRIFT, CONVERGE, CHECK, FLAP or SUMMARY.
    fn kind(&self) -> &str;
    fn resource(&self) -> &str;
    fn id(&self) -> Option<u64>;
    fn actor_pid(&self) -> Option<u64>;
    fn actor_comm(&self) -> &str;
    /// `cause.<key>` as a string (`kind`, `resource`, `via`).
    fn cause_str(&self, key: &str) -> Option<&str>;
    fn cause_id(&self) -> Option<u64>;
    fn has_op(&self, op: &str) -> bool;
}

impl DerivedExt for Value {
    fn kind(&self) -> &str {
        self.get("type").and_then(Value::as_str).unwrap_or("")
    }

    fn resource(&self) -> &str {
        self.get("resource").and_then(Value::as_str).unwrap_or("")
    }

    fn id(&self) -> Option<u64> {
        self.get("id").and_then(Value::as_u64)
    }

    fn actor_pid(&self) -> Option<u64> {
        self.pointer("/actor/pid").and_then(Value::as_u64)
    }

    fn actor_comm(&self) -> &str {
        self.pointer("/actor/comm")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    fn cause_str(&self, key: &str) -> Option<&str> {
        self.get("cause")?.get(key)?.as_str()
    }

    fn cause_id(&self) -> Option<u64> {
        self.get("cause")?.get("id")?.as_u64()
    }

    fn has_op(&self, op: &str) -> bool {
        self.get("ops")
            .and_then(Value::as_array)
            .is_some_and(|ops| ops.iter().any(|o| o.as_str() == Some(op)))
    }
}

pub struct Converge {
    child: Child,
    shared: Arc<Shared>,
    readers: Vec<JoinHandle<()>>,
    args: Vec<String>,
    _serial: MutexGuard<'static, ()>,
}

/// What a stopped run printed.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub events: Vec<Value>,
    pub stderr: Vec<String>,
}

impl Finished {
    /// Its lines of type `kind`.
    pub fn of(&self, kind: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e.kind() == kind).collect()
    }

    /// The SUMMARY line of `resource`.
    pub fn summary(&self, resource: &str) -> &Value {
        self.events
            .iter()
            .find(|e| e.kind() == "SUMMARY" && e.resource() == resource)
            .unwrap_or_else(|| panic!("no SUMMARY of {resource}\n{}", self.describe()))
    }

    /// Everything it printed, for an assertion's message.
    pub fn describe(&self) -> String {
        let events: Vec<String> = self.events.iter().map(Value::to_string).collect();
        format!(
            "exit: {:?}\nevents:\n{}\nstderr:\n{}",
            self.status,
            events.join("\n"),
            self.stderr.join("\n")
        )
    }
}

impl Converge {
    /// Starts `sdtrace converge -j <args>` and waits until it has attached.
    pub fn start(tracer: &Tracer, args: &[&str]) -> Self {
        let turn = serial();
        let mut full = vec!["converge".to_owned(), "-j".to_owned()];
        full.extend(args.iter().map(ToString::to_string));
        let (child, stdout, stderr) = spawn_piped(tracer, &full);
        let shared = Arc::new(Shared::default());
        let readers = vec![
            {
                let shared = Arc::clone(&shared);
                thread::spawn(move || read_events(stdout, &shared))
            },
            {
                let shared = Arc::clone(&shared);
                thread::spawn(move || read_stderr(stderr, &shared))
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

    /// The events printed so far.
    pub fn events(&self) -> Vec<Value> {
        self.shared.lock().events.clone()
    }

    /// Waits up to [`EVENT_TIMEOUT`] until `n` events match `pred`; returns them.
    pub fn wait_n(&self, what: &str, n: usize, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        let mut out = self.shared.lock();
        loop {
            let found: Vec<Value> = out.events.iter().filter(|e| pred(e)).cloned().collect();
            if found.len() >= n {
                return found;
            }
            let now = Instant::now();
            let why = if out.stdout_done {
                "sdtrace closed its stdout"
            } else if now >= deadline {
                "timed out"
            } else {
                out = self
                    .shared
                    .changed
                    .wait_timeout(out, deadline - now)
                    .map_or_else(|e| e.into_inner().0, |r| r.0);
                continue;
            };
            let events: Vec<String> = out.events.iter().map(Value::to_string).collect();
            panic!(
                "waiting for {n} × {what}: {why} after {EVENT_TIMEOUT:?} ({} found); events:\n{}\nnon-JSON stdout: {:?}\nstderr:\n{}",
                found.len(),
                events.join("\n"),
                out.non_json.iter().take(5).collect::<Vec<_>>(),
                out.stderr.join("\n")
            );
        }
    }

    /// Waits for the first event matching `pred`.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_n(what, 1, pred).swap_remove(0)
    }

    /// Sends SIGINT and waits for the exit (after the SUMMARY lines).
    pub fn stop(mut self) -> Finished {
        signal(self.child.id(), libc::SIGINT);
        let status = wait_deadline(&mut self.child, EXIT_TIMEOUT).unwrap_or_else(|| {
            let _ = self.child.kill();
            panic!(
                "sdtrace did not exit within {EXIT_TIMEOUT:?} of SIGINT\nstderr:\n{}",
                self.shared.lock().stderr.join("\n")
            )
        });
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        let mut out = self.shared.lock();
        assert!(
            out.non_json.is_empty(),
            "sdtrace converge -j printed lines that are not JSON: {:?}",
            out.non_json
        );
        Finished {
            status,
            events: std::mem::take(&mut out.events),
            stderr: std::mem::take(&mut out.stderr),
        }
    }
}

impl Drop for Converge {
    fn drop(&mut self) {
        // Only reached with sdtrace still running when a test panicked.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_events(stdout: impl Read, shared: &Shared) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        eprintln!("[converge] {line}");
        let parsed = serde_json::from_str::<Value>(&line);
        shared.update(|o| match parsed {
            Ok(v) => o.events.push(v),
            Err(_) => o.non_json.push(line),
        });
    }
    shared.update(|o| o.stdout_done = true);
}

fn read_stderr(stderr: impl Read, shared: &Shared) {
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        eprintln!("[sdtrace] {line}");
        shared.update(|o| {
            o.attached |= line.trim_end() == ATTACHED;
            o.stderr.push(line);
        });
    }
    shared.update(|o| o.stderr_done = true);
}
