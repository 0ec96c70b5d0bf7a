//! A daemon a test runs (`minimgmt`, `sdtrace agent`, or a `docker logs
//! -f` of one), its stderr read into lines ([`Watch`]), so a test waits for
//! what the daemon says it did instead of sleeping. Stopped with a signal,
//! or killed when the test ends.
use std::{
    process::{Command, ExitStatus},
    time::Duration,
};

use crate::watch::{Stdout, Watch};

/// How long a daemon may take for one action it is waited for (a `dpkg -i`
/// on a busy machine is the slowest).
pub const ACTION_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Daemon(Watch);

impl Daemon {
    /// Spawns `command` with stdin closed, stdout discarded and stderr read.
    pub fn spawn(name: &str, mut command: Command) -> Self {
        Self(Watch::spawn(name, &mut command, Stdout::Null))
    }

    pub fn pid(&self) -> u32 {
        self.0.pid()
    }

    /// Everything it said so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.output().stderr.clone()
    }

    /// How many of its lines contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.0
            .output()
            .stderr
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
        self.0.wait_until(what, timeout, |out| check(&out.stderr))
    }

    /// Sends `signal`, waits up to `timeout` for the exit and for the end of
    /// its stderr, and returns the status and everything it said.
    pub fn stop(self, signal: libc::c_int, timeout: Duration) -> (ExitStatus, Vec<String>) {
        let (status, out) = self.0.stop(signal, timeout);
        (status, out.stderr)
    }
}
