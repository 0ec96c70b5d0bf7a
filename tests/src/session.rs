//! One running sdtrace: spawned with `-j` and `--stats-json`, its stdout parsed
//! into events and its stderr collected ([`Watch`]), stopped with SIGINT the
//! way a user stops it.
//!
//! Sessions run one at a time (a process-wide lock): a test that floods the
//! ring buffer must not make another test's event look lost.
use std::{
    fs,
    path::PathBuf,
    process::{Child, Command, ExitStatus},
    sync::{Mutex, MutexGuard},
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{
    env::Tracer,
    tmp::TempDir,
    watch::{excerpt, Stdout, Watch},
};

/// How long loading and attaching may take (BTF parsing, verifier, /proc scan).
pub const ATTACH_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an event may take to show up after the action that causes it.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long sdtrace may take to exit after SIGINT.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(20);

/// The line sdtrace prints on stderr once it captures.
pub const ATTACHED: &str = "sdtrace: attached";

/// Spawns an sdtrace (`command`, known as `name`) and waits up to
/// [`ATTACH_TIMEOUT`] until it says it is attached.
pub fn spawn_attached(name: &str, command: &mut Command, stdout: Stdout) -> Watch {
    let watch = Watch::spawn(name, command, stdout);
    watch.wait_until(&format!("{name} to attach"), ATTACH_TIMEOUT, |out| {
        out.said(ATTACHED).then_some(())
    });
    watch
}

static SERIAL: Mutex<()> = Mutex::new(());

/// Holds off every other sdtrace the harness starts while the guard lives.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
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
                "no stats from sdtrace: {}\nstderr: {}",
                self.stats_error.as_deref().unwrap_or("?"),
                excerpt(&self.stderr)
            )
        })
    }
}

pub struct Session {
    watch: Watch,
    stats_path: PathBuf,
    _dir: TempDir,
    _serial: MutexGuard<'static, ()>,
}

impl Session {
    /// Starts `sdtrace -j --stats-json … <args>` and waits until it has attached.
    pub fn start(tracer: &Tracer, args: &[&str]) -> Self {
        Self::spawn(tracer, args, Stdout::Json)
    }

    /// Like [`Session::start`], but only counts stdout lines: for floods, where
    /// keeping millions of events would measure the harness, not sdtrace.
    pub fn start_discarding(tracer: &Tracer, args: &[&str]) -> Self {
        Self::spawn(tracer, args, Stdout::Count)
    }

    fn spawn(tracer: &Tracer, args: &[&str], stdout: Stdout) -> Self {
        let serial = serial();
        let dir = TempDir::new("session");
        let stats_path = dir.path().join("stats.json");
        let mut full: Vec<String> = vec![
            "-j".into(),
            "--stats-json".into(),
            stats_path.display().to_string(),
        ];
        full.extend(args.iter().map(ToString::to_string));
        let name = format!("sdtrace {full:?}");
        let watch = spawn_attached(&name, Command::new(&tracer.bin).args(&full), stdout);
        Self {
            watch,
            stats_path,
            _dir: dir,
            _serial: serial,
        }
    }

    pub fn pid(&self) -> u32 {
        self.watch.pid()
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
        // Each event is tested once, however many times the check runs.
        let mut seen = 0;
        self.watch.wait_until(what, timeout, |out| {
            let found = out.values[seen..].iter().find(|e| pred(e)).cloned();
            seen = out.values.len();
            found
        })
    }

    /// Waits up to [`EVENT_TIMEOUT`] for a line on stderr containing
    /// `needle`, and returns it.
    pub fn wait_said(&self, needle: &str) -> String {
        self.watch.wait_until(
            &format!("sdtrace to say {needle:?}"),
            EVENT_TIMEOUT,
            |out| out.stderr.iter().find(|l| l.contains(needle)).cloned(),
        )
    }

    /// Everything sdtrace has written to stderr so far.
    pub fn stderr(&self) -> Vec<String> {
        self.watch.output().stderr.clone()
    }

    /// Sends SIGINT, waits for the exit and the readers, and reads the stats.
    pub fn stop(self) -> Finished {
        let (status, out) = self.watch.stop(libc::SIGINT, EXIT_TIMEOUT);
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
        Finished {
            status,
            stats,
            stats_error,
            stderr: out.stderr,
            events: out.values,
            stdout_lines: out.stdout_lines,
        }
    }
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
