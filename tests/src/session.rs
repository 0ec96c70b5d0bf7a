//! One running sdtrace: spawned with `-j` and `--stats-json`, its stdout parsed
//! into events and its stderr collected on reader threads, stopped with SIGINT
//! the way a user stops it.
//!
//! Sessions run one at a time (a process-wide lock): a test that floods the
//! ring buffer must not make another test's event look lost.
use std::{
    fs,
    io::{BufRead, BufReader, Read},
    path::PathBuf,
    process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio},
    sync::{Arc, Condvar, Mutex, MutexGuard},
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{env::Tracer, tmp::TempDir};

/// How long loading and attaching may take (BTF parsing, verifier, /proc scan).
pub const ATTACH_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an event may take to show up after the action that causes it.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long sdtrace may take to exit after SIGINT.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(20);

/// The line sdtrace prints on stderr once it captures.
pub const ATTACHED: &str = "sdtrace: attached";

static SERIAL: Mutex<()> = Mutex::new(());

/// Holds off every other sdtrace the harness starts while the guard lives.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Default)]
struct State {
    events: Vec<Value>,
    stdout_lines: u64,
    non_json: Vec<String>,
    stderr: Vec<String>,
    attached: bool,
    stdout_done: bool,
    stderr_done: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn update(&self, f: impl FnOnce(&mut State)) {
        f(&mut self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner));
        self.changed.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The counters sdtrace writes to `--stats-json` at exit.
#[derive(Clone, Debug)]
pub struct Stats {
    pub events: u64,
    pub matched: u64,
    pub dropped: u64,
    pub dropped_per_cpu: Vec<u64>,
    pub seconds: f64,
    pub raw: Value,
}

impl Stats {
    fn from_json(raw: Value) -> Result<Self, String> {
        let int = |k: &str| {
            raw.get(k)
                .and_then(Value::as_u64)
                .ok_or_else(|| format!("stats JSON has no integer {k:?}: {raw}"))
        };
        Ok(Self {
            events: int("events")?,
            matched: int("matched")?,
            dropped: int("dropped")?,
            dropped_per_cpu: raw
                .get("dropped_per_cpu")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default(),
            seconds: raw.get("seconds").and_then(Value::as_f64).unwrap_or(0.0),
            raw,
        })
    }
}

/// What a stopped session left behind.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    /// `None` when sdtrace wrote no (or unreadable) stats file; see `stats_error`.
    pub stats: Option<Stats>,
    pub stats_error: Option<String>,
    pub stderr: Vec<String>,
    pub events: Vec<Value>,
    pub stdout_lines: u64,
}

impl Finished {
    pub fn stats(&self) -> &Stats {
        self.stats.as_ref().unwrap_or_else(|| {
            panic!(
                "no stats from sdtrace: {}\nstderr:\n{}",
                self.stats_error.as_deref().unwrap_or("?"),
                self.stderr.join("\n")
            )
        })
    }
}

pub struct Session {
    child: Child,
    shared: Arc<Shared>,
    readers: Vec<JoinHandle<()>>,
    stats_path: PathBuf,
    args: Vec<String>,
    _dir: TempDir,
    _serial: MutexGuard<'static, ()>,
}

/// Starts sdtrace with `args`, stdin closed, and hands back its stdout and
/// stderr for the caller's reader threads.
pub fn spawn_piped(tracer: &Tracer, args: &[String]) -> (Child, ChildStdout, ChildStderr) {
    let mut child = Command::new(&tracer.bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", tracer.bin.display()));
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    (child, stdout, stderr)
}

impl Session {
    /// Starts `sdtrace -j --stats-json … <args>` and waits until it has attached.
    pub fn start(tracer: &Tracer, args: &[&str]) -> Self {
        Self::spawn(tracer, args, true)
    }

    /// Like [`Session::start`], but only counts stdout lines: for floods, where
    /// keeping millions of events would measure the harness, not sdtrace.
    pub fn start_discarding(tracer: &Tracer, args: &[&str]) -> Self {
        Self::spawn(tracer, args, false)
    }

    fn spawn(tracer: &Tracer, args: &[&str], keep: bool) -> Self {
        let serial = serial();
        let dir = TempDir::new("session");
        let stats_path = dir.path().join("stats.json");
        let mut full: Vec<String> = vec![
            "-j".into(),
            "--stats-json".into(),
            stats_path.display().to_string(),
        ];
        full.extend(args.iter().map(ToString::to_string));
        let (child, stdout, stderr) = spawn_piped(tracer, &full);
        let shared = Arc::new(Shared::default());
        let readers = vec![
            {
                let shared = Arc::clone(&shared);
                thread::spawn(move || read_stdout(stdout, &shared, keep))
            },
            {
                let shared = Arc::clone(&shared);
                thread::spawn(move || read_stderr(stderr, &shared))
            },
        ];
        let session = Self {
            child,
            shared,
            readers,
            stats_path,
            args: full,
            _dir: dir,
            _serial: serial,
        };
        session.wait_attached()
    }

    fn wait_attached(mut self) -> Self {
        let deadline = Instant::now() + ATTACH_TIMEOUT;
        let mut state = self.shared.lock();
        loop {
            if state.attached {
                drop(state);
                return self;
            }
            if state.stderr_done {
                drop(state);
                let status = wait_deadline(&mut self.child, EXIT_TIMEOUT);
                panic!(
                    "sdtrace {:?} closed stderr before attaching (exit: {status:?})\nstderr:\n{}",
                    self.args,
                    self.stderr().join("\n")
                );
            }
            let now = Instant::now();
            if now >= deadline {
                drop(state);
                panic!(
                    "sdtrace {:?} did not attach within {ATTACH_TIMEOUT:?}\nstderr:\n{}",
                    self.args,
                    self.stderr().join("\n")
                );
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .map_or_else(|e| e.into_inner().0, |r| r.0);
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to [`EVENT_TIMEOUT`] for an event matching `pred`.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_for_within(what, EVENT_TIMEOUT, pred)
    }

    /// Waits up to `timeout` for an event matching `pred` and returns it; panics
    /// with what sdtrace printed when none arrives or sdtrace exits first.
    pub fn wait_for_within(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        let mut seen = 0;
        let mut state = self.shared.lock();
        loop {
            if let Some(ev) = state.events[seen..].iter().find(|e| pred(e)) {
                return ev.clone();
            }
            seen = state.events.len();
            let now = Instant::now();
            let why = if state.stdout_done {
                "sdtrace closed its stdout"
            } else if now >= deadline {
                "timed out"
            } else {
                state = self
                    .shared
                    .changed
                    .wait_timeout(state, deadline - now)
                    .map_or_else(|e| e.into_inner().0, |r| r.0);
                continue;
            };
            let tail: Vec<String> = state
                .events
                .iter()
                .rev()
                .take(10)
                .map(Value::to_string)
                .collect();
            panic!(
                "waiting for {what}: {why} after {:?}; {} events seen, the last ones (newest first):\n{}\nnon-JSON stdout: {:?}\nstderr:\n{}",
                timeout,
                state.events.len(),
                tail.join("\n"),
                state.non_json.iter().take(5).collect::<Vec<_>>(),
                state.stderr.join("\n")
            );
        }
    }

    /// Everything sdtrace has written to stderr so far.
    pub fn stderr(&self) -> Vec<String> {
        self.shared.lock().stderr.clone()
    }

    /// Sends SIGINT, waits for the exit and the readers, and reads the stats.
    pub fn stop(mut self) -> Finished {
        signal(self.child.id(), libc::SIGINT);
        let status = wait_deadline(&mut self.child, EXIT_TIMEOUT).unwrap_or_else(|| {
            let _ = self.child.kill();
            panic!(
                "sdtrace did not exit within {EXIT_TIMEOUT:?} of SIGINT\nstderr:\n{}",
                self.stderr().join("\n")
            )
        });
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        let (stats, stats_error) = match fs::read_to_string(&self.stats_path) {
            Ok(text) => match serde_json::from_str(&text)
                .map_err(|e| format!("{e}: {text:?}"))
                .and_then(Stats::from_json)
            {
                Ok(s) => (Some(s), None),
                Err(e) => (
                    None,
                    Some(format!("bad {}: {e}", self.stats_path.display())),
                ),
            },
            Err(e) => (
                None,
                Some(format!("read {}: {e}", self.stats_path.display())),
            ),
        };
        let mut state = self.shared.lock();
        Finished {
            status,
            stats,
            stats_error,
            stderr: std::mem::take(&mut state.stderr),
            events: std::mem::take(&mut state.events),
            stdout_lines: state.stdout_lines,
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Only reached with sdtrace still running when a test panicked.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_stdout(stdout: impl Read, shared: &Shared, keep: bool) {
    let mut reader = BufReader::with_capacity(1 << 16, stdout);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if !keep {
            shared.lock().stdout_lines += 1;
            continue;
        }
        let parsed = serde_json::from_slice::<Value>(&line);
        shared.update(|s| {
            s.stdout_lines += 1;
            match parsed {
                Ok(v) => s.events.push(v),
                Err(_) if s.non_json.len() < 100 => s
                    .non_json
                    .push(String::from_utf8_lossy(&line).trim_end().to_owned()),
                Err(_) => {}
            }
        });
    }
    shared.update(|s| s.stdout_done = true);
}

fn read_stderr(stderr: impl Read, shared: &Shared) {
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        eprintln!("[sdtrace] {line}");
        shared.update(|s| {
            s.attached |= line.trim_end() == ATTACHED;
            s.stderr.push(line);
        });
    }
    shared.update(|s| s.stderr_done = true);
}

/// Sends `sig` to `pid`.
pub fn signal(pid: u32, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("pids fit in pid_t");
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, sig) };
}

/// Waits for `child` to exit, polling its status until `timeout` passes.
pub fn wait_deadline(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait on our own child") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        // Polling a child's exit status, not synchronising with an event.
        thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    //! The harness itself, against a shell script that speaks sdtrace's
    //! protocol, so it is checked without root.
    use std::{fs, os::unix::fs::PermissionsExt};

    use super::Session;
    use crate::{env::Tracer, event::EventExt, tmp::TempDir};

    const FAKE: &str = r#"#!/bin/sh
stats="$3"
trap 'printf "{\"events\":3,\"matched\":2,\"dropped\":1,\"dropped_per_cpu\":[1,0],\"seconds\":0.5}" > "$stats"; exit 0' INT
echo "sdtrace: attached" >&2
echo 'not json'
echo '{"evt.type":"openat","proc.pid":"42","fd.name":"/x","fd.sport":8080}'
while :; do sleep 0.05; done
"#;

    #[test]
    fn session_against_a_fake_sdtrace() {
        let dir = TempDir::new("fake");
        let bin = dir.path().join("sdtrace");
        fs::write(&bin, FAKE).unwrap();
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        let session = Session::start(&Tracer { bin }, &["-c", "x"]);
        let ev = session.wait_for("the fake event", |e| e.pid() == Some(42));
        assert_eq!(ev.str_field("fd.name"), Some("/x"));
        assert_eq!(ev.int_field("fd.sport"), Some(8080));
        let done = session.stop();
        assert!(done.status.success());
        assert_eq!(done.stats().dropped, 1);
        assert_eq!(done.stats().dropped_per_cpu, [1, 0]);
        assert_eq!(done.stdout_lines, 2);
    }
}
