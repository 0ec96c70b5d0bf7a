//! A child process the harness watches: its stdout and stderr read on
//! threads into one [`Output`], so a test waits — with a deadline, never a
//! sleep — until what the child said answers a check; stopped with a signal
//! within a deadline, and killed if the test ends first.
//!
//! Everything is bounded for a failing test's report, whose tail is all CI
//! shows: each stream's first [`ECHO_LINES`] lines are echoed as they come,
//! then only counted; a description shows a stream's first and last
//! [`EXCERPT_LINES`] lines with the count between; and a failed wait says
//! what it waited for both first and last.
use std::{
    fmt::{Display, Write as _},
    io::{BufRead, BufReader, Read},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError},
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

use serde_json::Value;

/// How many lines of each stream are echoed to the test's output.
pub const ECHO_LINES: usize = 50;
/// How many lines from each end of a stream a description shows.
pub const EXCERPT_LINES: usize = 20;
/// How many non-JSON stdout lines are kept (they are a failure's evidence,
/// not data).
const NON_JSON_KEPT: usize = 100;
/// How long the streams may stay open after the child exited: a process it
/// left behind may hold them, and the test goes on with what was read.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// What is done with the child's stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stdout {
    /// Not read: `/dev/null`.
    Null,
    /// Kept as lines of text ([`Output::stdout`]).
    Lines,
    /// Each line parsed as JSON ([`Output::values`], else [`Output::non_json`]).
    Json,
    /// Only counted ([`Output::stdout_lines`]): for floods, where keeping
    /// millions of lines would measure the harness, not the child.
    Count,
}

/// What the child has printed so far.
#[derive(Debug)]
pub struct Output {
    pub mode: Stdout,
    /// Stdout's lines, with [`Stdout::Lines`].
    pub stdout: Vec<String>,
    /// Stdout's JSON values, with [`Stdout::Json`].
    pub values: Vec<Value>,
    /// Stdout's first lines that are not JSON, with [`Stdout::Json`].
    pub non_json: Vec<String>,
    /// How many lines stdout has had, in every mode that reads it.
    pub stdout_lines: u64,
    pub stderr: Vec<String>,
    pub stdout_done: bool,
    pub stderr_done: bool,
}

impl Output {
    fn new(mode: Stdout) -> Self {
        Self {
            mode,
            stdout: Vec::new(),
            values: Vec::new(),
            non_json: Vec::new(),
            stdout_lines: 0,
            stderr: Vec::new(),
            stdout_done: mode == Stdout::Null,
            stderr_done: false,
        }
    }

    /// Whether both streams have closed: the child can say nothing more.
    #[must_use]
    pub fn closed(&self) -> bool {
        self.stdout_done && self.stderr_done
    }

    /// Whether a stderr line is exactly `line` (trailing space aside).
    #[must_use]
    pub fn said(&self, line: &str) -> bool {
        self.stderr.iter().any(|l| l.trim_end() == line)
    }

    /// What it printed, each stream cut to its ends, for a failure's message.
    #[must_use]
    pub fn describe(&self) -> String {
        let mut text = match self.mode {
            Stdout::Null => String::new(),
            Stdout::Lines => format!("stdout: {}\n", excerpt(&self.stdout)),
            Stdout::Json => format!("stdout, as JSON: {}\n", excerpt(&self.values)),
            Stdout::Count => format!("stdout: {} lines, counted only\n", self.stdout_lines),
        };
        if !self.non_json.is_empty() {
            let _ = writeln!(text, "stdout, not JSON: {}", excerpt(&self.non_json));
        }
        let _ = write!(text, "stderr: {}", excerpt(&self.stderr));
        text
    }
}

/// `items` on lines of their own: all of them if few, else the first and
/// last [`EXCERPT_LINES`] with how many were left out between.
#[must_use]
pub fn excerpt<T: Display>(items: &[T]) -> String {
    let n = items.len();
    let mut text = format!("{n} lines");
    let line = |text: &mut String, item: &T| {
        let _ = write!(text, "\n  {item}");
    };
    if n <= 2 * EXCERPT_LINES + 1 {
        items.iter().for_each(|i| line(&mut text, i));
    } else {
        items[..EXCERPT_LINES]
            .iter()
            .for_each(|i| line(&mut text, i));
        let _ = write!(text, "\n  … {} more lines …", n - 2 * EXCERPT_LINES);
        items[n - EXCERPT_LINES..]
            .iter()
            .for_each(|i| line(&mut text, i));
    }
    text
}

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

/// A watched child. Killed on drop if it still runs.
pub struct Watch {
    name: String,
    child: Child,
    shared: Arc<Shared>,
    readers: Vec<JoinHandle<()>>,
}

impl Watch {
    /// Spawns `command` with stdin closed, stderr read, stdout as `stdout` says.
    pub fn spawn(name: &str, command: &mut Command, stdout: Stdout) -> Self {
        let child = command
            .stdin(Stdio::null())
            .stdout(if stdout == Stdout::Null {
                Stdio::null()
            } else {
                Stdio::piped()
            })
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name} ({command:?}): {e}"));
        Self::adopt(name, child, stdout)
    }

    /// Watches a child spawned elsewhere: the pipes it has are read (stdout
    /// as `stdout` says), the ones it lacks count as closed.
    pub fn adopt(name: &str, mut child: Child, stdout: Stdout) -> Self {
        let shared = Arc::new(Shared {
            output: Mutex::new(Output::new(stdout)),
            changed: Condvar::new(),
        });
        let mut readers = Vec::new();
        match child.stdout.take() {
            Some(pipe) if stdout != Stdout::Null => {
                let shared = Arc::clone(&shared);
                let tag = format!("[{name} stdout]");
                readers.push(thread::spawn(move || {
                    read_stdout(pipe, &shared, &tag, stdout)
                }));
            }
            _ => shared.update(|o| o.stdout_done = true),
        }
        if let Some(pipe) = child.stderr.take() {
            let shared = Arc::clone(&shared);
            let tag = format!("[{name}]");
            readers.push(thread::spawn(move || read_stderr(pipe, &shared, &tag)));
        } else {
            shared.update(|o| o.stderr_done = true);
        }
        Self {
            name: name.to_owned(),
            child,
            shared,
            readers,
        }
    }

    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it printed so far (hold the guard briefly: the readers wait on it).
    pub fn output(&self) -> MutexGuard<'_, Output> {
        self.shared.lock()
    }

    /// Waits up to `timeout` until `check` answers from what was printed;
    /// panics with `what`, why, and the output when it does not, or when
    /// both streams closed first.
    pub fn wait_until<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Output) -> Option<T>,
    ) -> T {
        let start = Instant::now();
        let deadline = start + timeout;
        let mut out = self.shared.lock();
        loop {
            if let Some(answer) = check(&out) {
                return answer;
            }
            let now = Instant::now();
            if out.closed() || now >= deadline {
                let why = if out.closed() {
                    format!("it closed its output after {:?}", now - start)
                } else {
                    format!("timed out after {timeout:?}")
                };
                let failure = format!("waiting for {what} from {}: {why}", self.name);
                let described = out.describe();
                drop(out);
                panic!("{failure}\n{described}\n(again: {failure})");
            }
            out = self
                .shared
                .changed
                .wait_timeout(out, deadline - now)
                .map_or_else(|e| e.into_inner().0, |r| r.0);
        }
    }

    /// Sends `sig` to the child.
    pub fn signal(&self, sig: libc::c_int) {
        crate::session::signal(self.child.id(), sig);
    }

    /// Sends `sig` and waits up to `timeout` for the exit and the end of its
    /// output; panics (after killing it) if it does not exit.
    pub fn stop(mut self, sig: libc::c_int, timeout: Duration) -> (ExitStatus, Output) {
        self.signal(sig);
        let status = self.exit_within(timeout, &format!("of signal {sig}"));
        (status, self.finish())
    }

    /// Waits up to `timeout` for the child to exit by itself, and for the
    /// end of its output; panics (after killing it) if it does not exit.
    pub fn wait(mut self, timeout: Duration) -> (ExitStatus, Output) {
        let status = self.exit_within(timeout, "");
        (status, self.finish())
    }

    fn exit_within(&mut self, timeout: Duration, after: &str) -> ExitStatus {
        if let Some(status) = crate::session::wait_deadline(&mut self.child, timeout) {
            return status;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let failure = format!("{} did not exit within {timeout:?} {after}", self.name);
        let described = self.shared.lock().describe();
        panic!("{failure}\n{described}\n(again: {failure})");
    }

    /// After the exit: waits a while for the streams to close, and takes
    /// what was printed.
    fn finish(mut self) -> Output {
        let deadline = Instant::now() + CLOSE_TIMEOUT;
        let mut out = self.shared.lock();
        while !out.closed() {
            let now = Instant::now();
            if now >= deadline {
                eprintln!(
                    "[{}] its output is still open {CLOSE_TIMEOUT:?} after it exited \
                     (a process it started holds it?); going on with what it said",
                    self.name
                );
                break;
            }
            out = self
                .shared
                .changed
                .wait_timeout(out, deadline - now)
                .map_or_else(|e| e.into_inner().0, |r| r.0);
        }
        let closed = out.closed();
        let mode = out.mode;
        let taken = std::mem::replace(&mut *out, Output::new(mode));
        drop(out);
        if closed {
            for reader in self.readers.drain(..) {
                let _ = reader.join();
            }
        }
        taken
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // Still running only when a test panicked (or never stopped it).
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // A process it started may hold a pipe open: a reader still blocked
        // is left behind rather than waited for.
        for reader in self.readers.drain(..) {
            if reader.is_finished() {
                let _ = reader.join();
            }
        }
    }
}

/// Echoes `text` as [`Watch`] echoes a stream, for a child run to
/// completion: its first [`ECHO_LINES`] lines with `tag`, then how many more.
pub fn echo(tag: &str, text: &str) {
    let mut echo = Echo { tag, lines: 0 };
    text.lines().for_each(|line| echo.line(line.as_bytes()));
    echo.end();
}

/// Echoes the first [`ECHO_LINES`] lines with `tag`, then counts.
struct Echo<'a> {
    tag: &'a str,
    lines: u64,
}

impl Echo<'_> {
    fn line(&mut self, line: &[u8]) {
        self.lines += 1;
        if self.lines <= ECHO_LINES as u64 {
            eprintln!("{} {}", self.tag, String::from_utf8_lossy(line));
        }
    }

    fn end(&self) {
        if self.lines > ECHO_LINES as u64 {
            eprintln!(
                "{} … {} more lines, not echoed ({} in all)",
                self.tag,
                self.lines - ECHO_LINES as u64,
                self.lines
            );
        }
    }
}

/// Lines read and not yet handed over: the output's lock is taken, and a
/// waiting test woken, once per batch rather than once per line.
const BATCH_LINES: usize = 4096;

/// What [`each_line`] reports.
enum Piece<'a> {
    /// A line, without its newline.
    Line(&'a [u8]),
    /// Nothing more is buffered (the next read may block), or
    /// [`BATCH_LINES`] came in a row, or the pipe closed: time to hand over.
    CaughtUp,
}

fn each_line(pipe: impl Read, mut f: impl FnMut(Piece<'_>)) {
    let mut reader = BufReader::with_capacity(1 << 16, pipe);
    let mut line = Vec::new();
    let mut batch = 0;
    loop {
        if reader.buffer().is_empty() || batch == BATCH_LINES {
            f(Piece::CaughtUp);
            batch = 0;
        }
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        // As `BufRead::lines`: without the `\n` or `\r\n`.
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        f(Piece::Line(&line));
        batch += 1;
    }
    f(Piece::CaughtUp);
}

fn read_stdout(pipe: impl Read, shared: &Shared, tag: &str, mode: Stdout) {
    let mut echo = Echo { tag, lines: 0 };
    let mut counted = 0;
    let mut lines = Vec::new();
    let mut values: Vec<Result<Value, String>> = Vec::new();
    each_line(pipe, |piece| match piece {
        Piece::Line(line) => {
            echo.line(line);
            counted += 1;
            match mode {
                Stdout::Null | Stdout::Count => {}
                Stdout::Lines => lines.push(String::from_utf8_lossy(line).into_owned()),
                Stdout::Json => values.push(
                    serde_json::from_slice(line)
                        .map_err(|_| String::from_utf8_lossy(line).into_owned()),
                ),
            }
        }
        Piece::CaughtUp if counted > 0 => {
            let mut out = shared.lock();
            out.stdout_lines += std::mem::take(&mut counted);
            out.stdout.append(&mut lines);
            for value in values.drain(..) {
                match value {
                    Ok(v) => out.values.push(v),
                    Err(line) if out.non_json.len() < NON_JSON_KEPT => out.non_json.push(line),
                    Err(_) => {}
                }
            }
            drop(out);
            shared.changed.notify_all();
        }
        Piece::CaughtUp => {}
    });
    echo.end();
    shared.update(|o| o.stdout_done = true);
}

fn read_stderr(pipe: impl Read, shared: &Shared, tag: &str) {
    let mut echo = Echo { tag, lines: 0 };
    let mut lines = Vec::new();
    each_line(pipe, |piece| match piece {
        Piece::Line(line) => {
            echo.line(line);
            lines.push(String::from_utf8_lossy(line).into_owned());
        }
        Piece::CaughtUp if !lines.is_empty() => {
            shared.update(|o| o.stderr.append(&mut lines));
        }
        Piece::CaughtUp => {}
    });
    echo.end();
    shared.update(|o| o.stderr_done = true);
}

#[cfg(test)]
mod tests {
    //! The watcher against shell scripts, without root.
    use std::{process::Command, time::Duration};

    use super::{excerpt, Stdout, Watch};

    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        cmd
    }

    #[test]
    fn a_long_stream_is_described_by_its_ends() {
        let lines: Vec<String> = (1..=1000).map(|i| format!("line {i}")).collect();
        let text = excerpt(&lines);
        assert!(text.starts_with("1000 lines\n  line 1\n"), "{text}");
        assert!(
            text.contains("\n  line 20\n  … 960 more lines …\n  line 981\n"),
            "{text}"
        );
        assert!(text.ends_with("\n  line 1000"), "{text}");
        assert_eq!(text.lines().count(), 42, "{text}");
        assert_eq!(excerpt(&lines[..41]).lines().count(), 42);
    }

    #[test]
    fn waits_for_json_and_stderr_then_stops() {
        let watch = Watch::spawn(
            "fake",
            &mut sh(
                r#"trap 'echo bye >&2; exit 3' TERM; echo '{"a":1}'; echo 'not json'; echo hello >&2; while :; do sleep 0.05; done"#,
            ),
            Stdout::Json,
        );
        watch.wait_until("hello", Duration::from_secs(10), |o| {
            o.said("hello").then_some(())
        });
        let a = watch.wait_until("a value", Duration::from_secs(10), |o| {
            o.values.first().cloned()
        });
        assert_eq!(a["a"], 1);
        let (status, out) = watch.stop(libc::SIGTERM, Duration::from_secs(10));
        assert_eq!(status.code(), Some(3));
        assert_eq!(out.non_json, ["not json"]);
        assert_eq!(out.stderr, ["hello", "bye"]);
        assert_eq!(out.stdout_lines, 2);
    }

    #[test]
    fn a_failed_wait_says_why_first_and_last() {
        let watch = Watch::spawn("counter", &mut sh("seq 1 5000"), Stdout::Lines);
        let failure = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            watch.wait_until("line 9999", Duration::from_secs(10), |o| {
                o.stdout.iter().any(|l| l == "9999").then_some(())
            });
        }))
        .expect_err("the wait fails");
        let message = failure
            .downcast_ref::<String>()
            .expect("a formatted message");
        let first = message.lines().next().unwrap();
        assert!(
            first.starts_with("waiting for line 9999 from counter: it closed its output"),
            "{first}"
        );
        assert!(message.lines().last().unwrap().contains(first), "{message}");
        assert!(message.contains("… 4960 more lines …"), "{message}");
        assert!(message.lines().count() < 60, "{message}");
    }
}
