//! One `sdtrace converge -j` run: started, awaited until it says it is
//! attached, its stdout parsed into derived events on a reader thread while
//! the test drives daemons, then stopped with SIGINT, after which it prints
//! one SUMMARY line per resource.
use std::{process::ExitStatus, time::Duration};

use serde_json::Value;

use crate::{
    json_run::{self, JsonRun},
    Tracer,
};

/// How long a derived event may take after the daemon said it acted.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(20);

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

pub struct Converge(JsonRun);

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

    /// What it printed, each stream cut to its ends, for an assertion's message.
    pub fn describe(&self) -> String {
        json_run::describe(self.status, "events", &self.events, &self.stderr)
    }
}

impl Converge {
    /// Starts `sdtrace converge -j <args>` and waits until it has attached.
    pub fn start(tracer: &Tracer, args: &[&str]) -> Self {
        Self(JsonRun::start(tracer, "converge", args))
    }

    /// Starts `sdtrace <args>` (a converge run against agents, `-j`) in a
    /// test that holds the harness's turn itself.
    pub fn start_in_turn(tracer: &Tracer, args: &[&str]) -> Self {
        Self(JsonRun::start_in_turn(tracer, args))
    }

    /// The events printed so far.
    pub fn events(&self) -> Vec<Value> {
        self.0.values()
    }

    /// Waits up to [`EVENT_TIMEOUT`] until `n` events match `pred`; returns them.
    pub fn wait_n(&self, what: &str, n: usize, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        let what = format!("{n} × {what}");
        self.0.wait_until(&what, EVENT_TIMEOUT, |out| {
            let found: Vec<Value> = out.values.iter().filter(|e| pred(e)).cloned().collect();
            (found.len() >= n).then_some(found)
        })
    }

    /// Waits for the first event matching `pred`.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait_n(what, 1, pred).swap_remove(0)
    }

    /// Sends SIGINT and waits for the exit (after the SUMMARY lines).
    pub fn stop(self) -> Finished {
        let done = self.0.interrupt();
        Finished {
            status: done.status,
            events: done.values,
            stderr: done.stderr,
        }
    }
}
