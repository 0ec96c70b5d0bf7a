//! One run of an sdtrace mode with `-j` (`follow`, `converge`, a client of
//! agents): started, awaited until it says it is attached, its stdout parsed
//! into JSON values and its stderr kept ([`Watch`]), during the harness's
//! turn; then awaited until it exits on its own, or stopped with SIGINT.
use std::{
    process::{Command, ExitStatus},
    sync::MutexGuard,
    time::Duration,
};

use serde_json::Value;

use crate::{
    session::{serial, spawn_attached, EXIT_TIMEOUT},
    watch::{excerpt, Stdout, Watch},
    Tracer,
};

pub use crate::watch::Output;

pub struct JsonRun {
    watch: Watch,
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
        let name = format!("sdtrace {}", full.first().map_or("", String::as_str));
        let watch = spawn_attached(&name, Command::new(&tracer.bin).args(&full), Stdout::Json);
        Self {
            watch,
            args: full,
            _serial: turn,
        }
    }

    #[must_use]
    pub fn pid(&self) -> u32 {
        self.watch.pid()
    }

    /// The values printed so far.
    #[must_use]
    pub fn values(&self) -> Vec<Value> {
        self.watch.output().values.clone()
    }

    /// Waits up to `timeout` until `check` answers from what was printed;
    /// panics with `what` and the output when it does not (or sdtrace
    /// closed its output).
    pub fn wait_until<T>(
        &self,
        what: &str,
        timeout: Duration,
        check: impl FnMut(&Output) -> Option<T>,
    ) -> T {
        self.watch.wait_until(what, timeout, check)
    }

    /// Waits up to `timeout` for sdtrace to exit by itself.
    pub fn wait_exit(self, timeout: Duration) -> Finished {
        let args = self.args;
        let (status, out) = self.watch.wait(timeout);
        finished(&args, status, out)
    }

    /// Sends SIGINT and waits for the exit (after what it prints at the end).
    pub fn interrupt(self) -> Finished {
        let args = self.args;
        let (status, out) = self.watch.stop(libc::SIGINT, EXIT_TIMEOUT);
        finished(&args, status, out)
    }
}

fn finished(args: &[String], status: ExitStatus, out: Output) -> Finished {
    assert!(
        out.non_json.is_empty(),
        "sdtrace {args:?} printed lines that are not JSON: {}",
        excerpt(&out.non_json)
    );
    Finished {
        status,
        values: out.values,
        stderr: out.stderr,
    }
}

/// `exit`, `values` (named `label`) and `stderr`, each cut to its ends, for
/// an assertion's message about a finished run.
#[must_use]
pub fn describe(status: ExitStatus, label: &str, values: &[Value], stderr: &[String]) -> String {
    format!(
        "exit: {status:?}\n{label}: {}\nstderr: {}",
        excerpt(values),
        excerpt(stderr)
    )
}
