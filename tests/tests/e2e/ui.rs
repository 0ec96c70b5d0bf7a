//! `sdtrace ui` driven as a person would, in a tmux pane: a busybox
//! container writes a file, the view is switched by keys, a filter typed,
//! the file's row found under the container's name and drilled into its
//! events, `q` giving the terminal back with the statistics line.
use std::{
    fs,
    path::Path,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use tests::{e2e, images, require_docker, require_program, session::serial, Container, TempDir};

/// The pane's size: a terminal of a usual size, fixed so the table's
/// columns are too.
const COLUMNS: &str = "160";
const LINES: &str = "45";

/// How long the screen has to show what a step waits for.
const DEADLINE: Duration = Duration::from_secs(20);

/// A detached tmux session, killed when the test ends, passed or not.
struct Pane {
    tmux: std::path::PathBuf,
    name: String,
}

impl Pane {
    fn start(tmux: &Path, name: &str, command: &str) -> Pane {
        let pane = Pane {
            tmux: tmux.to_owned(),
            name: name.to_owned(),
        };
        let status = Command::new(tmux)
            .args(["new-session", "-d", "-s", name, "-x", COLUMNS, "-y", LINES])
            .arg(command)
            .status()
            .unwrap();
        assert!(status.success(), "tmux new-session");
        pane
    }

    fn screen(&self) -> String {
        let out = Command::new(&self.tmux)
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// tmux key names (`Enter`, `Down`) or, with `literal`, text.
    fn keys(&self, keys: &[&str], literal: bool) {
        let mut cmd = Command::new(&self.tmux);
        cmd.args(["send-keys", "-t", &self.name]);
        if literal {
            cmd.arg("-l");
        }
        assert!(cmd.args(keys).status().unwrap().success(), "send-keys");
    }

    /// The screen once it shows what `want` looks for.
    fn wait_for(&self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let screen = self.screen();
            if want(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} on screen within {DEADLINE:?}:\n{screen}"
            );
            thread::sleep(Duration::from_millis(100));
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

e2e!(
    ui_finds_a_containers_file_and_drills_into_its_events,
    |tracer, test| {
        let Some(tmux) = require_program(test, "tmux") else {
            return;
        };
        let Some(docker) = require_docker(test) else {
            return;
        };
        let image = "sdtrace-e2e-busybox:1";
        images::busybox_image(&docker, image);
        let _serial = serial();
        let dir = TempDir::new("ui");
        // Names unique to this run: the container, and the file it rewrites
        // every 50 ms.
        let container = format!("sdtrace-ui-{}", std::process::id());
        let file = format!("/tick-{}", std::process::id());
        let log = dir.path().join("ui.log");
        let command = format!(
            "{} ui --log {}; echo sdtrace-exit=$?; sleep 60",
            tracer.bin.display(),
            log.display()
        );
        let pane = Pane::start(&tmux, &format!("sdtrace-e2e-{}", dir.token()), &command);
        let log_text = || fs::read_to_string(&log).unwrap_or_default();
        pane.wait_for("header", |s| {
            s.contains(" sdtrace ") && s.contains("view: containers")
        });
        let script = format!("while :; do echo tick > {file}; sleep 0.05; done");
        let _writer = Container::run(&docker, &container, &[image, "/bin/sh", "-c", &script]);

        // F2's picker: containers, pods, namespaces, procs, threads, files.
        pane.keys(&["v"], false);
        pane.wait_for("view picker", |s| s.contains("Views"));
        pane.keys(&["Down", "Down", "Down", "Down", "Down", "Enter"], false);
        pane.wait_for("files view", |s| s.contains("view: files"));

        // A typo first: refused where it was typed, with its caret.
        pane.keys(&["/"], false);
        pane.keys(&[&format!("fd.nme = {file}")], true);
        pane.keys(&["Enter"], false);
        pane.wait_for("filter error", |s| {
            s.contains("filter error at column 1") && s.contains("^^^^^^")
        });
        pane.keys(&["C-u"], false);
        let filter = format!("fd.name = {file}");
        pane.keys(&[&filter], true);
        pane.keys(&["Enter"], false);
        // Its row, the first (where the cursor is), under a header that shows
        // the filter: FILE, then CONTAINER with the container's name (its id
        // until Docker's metadata is in).
        let filtered = format!("filter: {filter}");
        let screen = pane.wait_for("the file's row under the container's name", |s| {
            s.contains(&filtered)
                && s.lines().nth(3).is_some_and(|l| {
                    let mut cells = l.split_whitespace();
                    cells.next() == Some(&file) && cells.next() == Some(&container)
                })
        });
        assert!(
            screen
                .lines()
                .nth(2)
                .is_some_and(|l| l.starts_with("FILE") && l.contains("CONTAINER")),
            "{screen}"
        );

        // Into its events: the breadcrumb names the file, the lines (between
        // it and the keys) are the container's opens and writes of it.
        pane.keys(&["Enter"], false);
        let event_lines = |s: &str| -> Vec<String> {
            let lines = s.lines().skip(2).take_while(|l| !l.starts_with("F2/v"));
            lines.filter(|l| !l.is_empty()).map(str::to_owned).collect()
        };
        let screen = pane.wait_for("the file's events", |s| {
            s.contains(&format!("view: files > {file} > events"))
                && event_lines(s).iter().any(|l| l.contains("< write "))
        });
        for line in event_lines(&screen) {
            assert!(
                line.contains(&file) && line.contains(&container),
                "{line}\n{screen}"
            );
        }
        pane.keys(&["BSpace"], false);
        pane.wait_for("back in files", |s| {
            s.lines()
                .nth(1)
                .is_some_and(|l| l.trim_end().ends_with("view: files"))
        });

        pane.keys(&["q"], false);
        let screen = pane.wait_for("exit", |s| s.contains("sdtrace-exit="));
        assert!(
            screen.contains("sdtrace-exit=0"),
            "exit status\n{screen}\nlog:\n{}",
            log_text()
        );
        assert!(
            screen
                .lines()
                .any(|l| l.starts_with("sdtrace: ") && l.contains(" events")),
            "the statistics line, after the terminal is back:\n{screen}"
        );
        assert!(
            log_text().contains("sdtrace: attached"),
            "diagnostics went to --log"
        );
    }
);
