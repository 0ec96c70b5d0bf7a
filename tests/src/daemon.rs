//! A daemon a test runs (`minimgmt`, `sdtrace agent`, or a `docker logs
//! -f` of one), its stderr read into lines on a thread, so a test waits for
//! what the daemon says it did instead of sleeping. Stopped with a signal,
//! or killed when the test ends.
use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError},
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

/// How long a daemon may take for one action it is waited for (a `dpkg -i`
/// on a busy machine is the slowest).
pub const ACTION_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Lines {
    lines: Vec<String>,
    done: bool,
}

#[derive(Default)]
struct Shared {
    lines: Mutex<Lines>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Lines> {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub struct Daemon {
    name: String,
    child: Child,
    shared: Arc<Shared>,
    reader: Option<JoinHandle<()>>,
}

impl Daemon {
    /// Spawns `command` with stdin closed, stdout discarded and stderr read.
    pub fn spawn(name: &str, mut command: Command) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let stderr = child.stderr.take().expect("stderr is piped");
        let shared = Arc::new(Shared::default());
        let reader = {
            let shared = Arc::clone(&shared);
            let tag = name.to_owned();
            thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    eprintln!("[{tag}] {line}");
                    shared.lock().lines.push(line);
                    shared.changed.notify_all();
                }
                shared.lock().done = true;
                shared.changed.notify_all();
            })
        };
        Self {
            name: name.to_owned(),
            child,
            shared,
            reader: Some(reader),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it said so far.
    pub fn lines(&self) -> Vec<String> {
        self.shared.lock().lines.clone()
    }

    /// How many of its lines contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.shared
            .lock()
            .lines
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Waits up to [`ACTION_TIMEOUT`] until `n` of its lines contain `needle`.
    pub fn wait_lines(&self, needle: &str, n: usize) {
        let what = format!("{n} lines containing {needle:?}");
        self.wait_until(&what, ACTION_TIMEOUT, |lines| {
            (lines.iter().filter(|l| l.contains(needle)).count() >= n).then_some(())
        });
    }

    /// Waits up to `timeout` until `check` answers from its lines so far;
    /// panics with `what` and the lines when it does not (or stderr closed).
    pub fn wait_until<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&[String]) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if let Some(answer) = check(&state.lines) {
                return answer;
            }
            let now = Instant::now();
            assert!(
                !state.done && now < deadline,
                "waiting for {what} from {}: {}\nits lines:\n{}",
                self.name,
                if state.done {
                    "it closed stderr"
                } else {
                    "timed out"
                },
                state.lines.join("\n")
            );
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .map_or_else(|e| e.into_inner().0, |r| r.0);
        }
    }

    /// Sends `signal`, waits up to `timeout` for the exit and for the end of
    /// its stderr, and returns the status and everything it said.
    pub fn stop(mut self, signal: libc::c_int, timeout: Duration) -> (ExitStatus, Vec<String>) {
        crate::session::signal(self.child.id(), signal);
        let status = crate::session::wait_deadline(&mut self.child, timeout).unwrap_or_else(|| {
            panic!(
                "{} did not exit within {timeout:?} of signal {signal}",
                self.name
            )
        });
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let lines = std::mem::take(&mut self.shared.lock().lines);
        (status, lines)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            // A daemon's child (a service it started) may hold the pipe open;
            // the reader thread is then left behind rather than waited for.
            if reader.is_finished() {
                let _ = reader.join();
            }
        }
    }
}
