//! One `sdtrace follow -j` run: started, awaited until it says it is
//! attached, then awaited until it exits on its own (`-- COMMAND` ends with
//! the command, `-n N` after N traces, `-M S` after S seconds); each stdout
//! line is one span.
use std::{process::ExitStatus, time::Duration};

use serde_json::Value;
use tests::{
    json_run::{self, JsonRun},
    Tracer,
};

pub(super) struct Follow(JsonRun);

/// What a finished run printed.
pub(super) struct Finished {
    pub status: ExitStatus,
    pub spans: Vec<Value>,
    pub stderr: Vec<String>,
}

impl Finished {
    /// What it printed, each stream cut to its ends, for an assertion's message.
    pub(super) fn describe(&self) -> String {
        json_run::describe(self.status, "spans", &self.spans, &self.stderr)
    }
}

impl Follow {
    /// Starts `sdtrace follow -j <args>` and waits until it has attached.
    pub(super) fn start(tracer: &Tracer, args: &[&str]) -> Self {
        Self(JsonRun::start(tracer, "follow", args))
    }

    /// Waits up to `timeout` for sdtrace to exit by itself.
    pub(super) fn wait(self, timeout: Duration) -> Finished {
        let done = self.0.wait_exit(timeout);
        Finished {
            status: done.status,
            spans: done.values,
            stderr: done.stderr,
        }
    }
}
