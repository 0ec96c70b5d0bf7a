//! A terminal for a test to drive as a person would: a detached tmux
//! session of a fixed size running one shell command, its screen read back
//! as text, keys sent to it, and waits — with a deadline, never a sleep —
//! until the screen shows what a step expects. Killed when dropped, passed
//! or not.
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

/// A terminal of a usual size, fixed so a table's columns are too.
pub const COLUMNS: u16 = 160;
pub const LINES: u16 = 45;

/// How long the screen has to show what a step waits for, by default.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// How often the screen is read while waiting.
const POLL: Duration = Duration::from_millis(100);

/// A detached tmux session, killed when dropped.
pub struct Pane {
    tmux: PathBuf,
    name: String,
}

impl Pane {
    /// `command` (run by tmux's shell) in a [`COLUMNS`]×[`LINES`] terminal.
    #[must_use]
    pub fn start(tmux: &Path, name: &str, command: &str) -> Pane {
        Self::start_sized(tmux, name, (COLUMNS, LINES), command)
    }

    /// `command` in a terminal of `(columns, lines)`.
    #[must_use]
    pub fn start_sized(
        tmux: &Path,
        name: &str,
        (columns, lines): (u16, u16),
        command: &str,
    ) -> Pane {
        let pane = Pane {
            tmux: tmux.to_owned(),
            name: name.to_owned(),
        };
        let status = Command::new(tmux)
            .args(["new-session", "-d", "-s", name, "-x"])
            .arg(columns.to_string())
            .arg("-y")
            .arg(lines.to_string())
            .arg(command)
            .status()
            .unwrap_or_else(|e| panic!("run {}: {e}", tmux.display()));
        assert!(status.success(), "tmux new-session {name}: {status}");
        pane
    }

    /// What the terminal shows now, a line of text per line.
    #[must_use]
    pub fn screen(&self) -> String {
        let out = Command::new(&self.tmux)
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .unwrap_or_else(|e| panic!("tmux capture-pane: {e}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// tmux key names (`Enter`, `Down`, `BSpace`) or, with `literal`, text.
    pub fn keys(&self, keys: &[&str], literal: bool) {
        let mut cmd = Command::new(&self.tmux);
        cmd.args(["send-keys", "-t", &self.name]);
        if literal {
            cmd.arg("-l");
        }
        let status = cmd
            .args(keys)
            .status()
            .unwrap_or_else(|e| panic!("tmux send-keys: {e}"));
        assert!(status.success(), "tmux send-keys {keys:?}: {status}");
    }

    /// The screen once it shows what `want` looks for, within [`DEADLINE`].
    pub fn wait_for(&self, what: &str, want: impl Fn(&str) -> bool) -> String {
        self.wait_for_within(what, DEADLINE, want)
    }

    /// The screen once it shows what `want` looks for; panics with the
    /// last screen when it does not within `deadline`.
    pub fn wait_for_within(
        &self,
        what: &str,
        deadline: Duration,
        want: impl Fn(&str) -> bool,
    ) -> String {
        self.try_wait_for(deadline, want)
            .unwrap_or_else(|screen| panic!("no {what} on screen within {deadline:?}:\n{screen}"))
    }

    /// The screen once it shows what `want` looks for, or the last screen
    /// when it does not within `deadline` (for a test whose failure says
    /// more than the screen).
    pub fn try_wait_for(
        &self,
        deadline: Duration,
        want: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        let until = Instant::now() + deadline;
        loop {
            let screen = self.screen();
            if want(&screen) {
                return Ok(screen);
            }
            if Instant::now() >= until {
                return Err(screen);
            }
            thread::sleep(POLL);
        }
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = Command::new(&self.tmux)
            .args(["kill-session", "-t", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// `text` as one word for the shell tmux runs a command with.
#[must_use]
pub fn shell_word(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}
