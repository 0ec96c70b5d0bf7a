//! `sdtrace ui` driven as a person would, in a tmux pane: a busybox
//! container writes a file, the view is switched by keys, a filter typed,
//! the file's row found under the container's name and drilled into its
//! events, `q` giving the terminal back with the statistics line.
use std::{fs, process};

use tests::{
    e2e, images, require_docker, require_program, session::serial, tmux::Pane, Container, TempDir,
};

/// The breadcrumb, the screen's second line: `containers > web > procs`.
pub(crate) fn breadcrumb(screen: &str) -> &str {
    let line = screen.lines().nth(1).unwrap_or("").trim();
    line.strip_prefix("view:").map_or(line, str::trim_start)
}

/// The table's column titles (its header, the third line), without the
/// arrow on the sorted one.
pub(crate) fn titles(screen: &str) -> Vec<&str> {
    screen
        .lines()
        .nth(2)
        .unwrap_or("")
        .split_whitespace()
        .map(|t| t.trim_end_matches(['▲', '▼']))
        .collect()
}

/// The column the table is sorted by, and whether from the smallest
/// (`▲`) or the largest (`▼`).
pub(crate) fn sorted_by(screen: &str) -> Option<(&str, bool)> {
    let header = screen.lines().nth(2)?;
    header.split_whitespace().find_map(|t| {
        t.strip_suffix('▲')
            .map(|t| (t, true))
            .or_else(|| t.strip_suffix('▼').map(|t| (t, false)))
    })
}

/// The table's rows as shown, a list of cells each (a cell holds no
/// space): the lines between its header and the keys.
pub(crate) fn rows(screen: &str) -> Vec<Vec<&str>> {
    screen
        .lines()
        .skip(3)
        .take_while(|l| !l.starts_with("F2/v"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|cells| !cells.is_empty() && cells != &["(no", "events", "yet)"])
        .collect()
}

/// The view the picker's cursor is on, while the picker is up.
fn picker_cursor(screen: &str) -> Option<&str> {
    screen.lines().find_map(|l| {
        let (_, item) = l.split_once("│> ")?;
        item.split(['│', ' ']).next().filter(|v| !v.is_empty())
    })
}

/// Picks `view` in the F2/`v` picker as a person would: down its list
/// until the cursor is on it, then Enter; returns once the breadcrumb ends
/// with it. Reads the list from the screen, so a view added to it moves
/// nothing here.
pub(crate) fn pick_view(pane: &Pane, view: &str) {
    pane.keys(&["v"], false);
    let mut screen = pane.wait_for("the view picker", |s| {
        s.contains(" Views ") && picker_cursor(s).is_some()
    });
    let mut passed: Vec<String> = Vec::new();
    loop {
        let at = picker_cursor(&screen).expect("the picker is up").to_owned();
        if at == view {
            break;
        }
        assert!(
            !passed.contains(&at),
            "no {view} in the view picker (went round {passed:?}):\n{screen}"
        );
        pane.keys(&["Down"], false);
        screen = pane.wait_for("the picker's cursor to move down", |s| {
            picker_cursor(s).is_some_and(|now| now != at)
        });
        passed.push(at);
    }
    pane.keys(&["Enter"], false);
    pane.wait_for(&format!("the {view} view"), |s| {
        picker_cursor(s).is_none()
            && (breadcrumb(s) == view || breadcrumb(s).ends_with(&format!(" > {view}")))
    });
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
        let container = format!("sdtrace-ui-{}", process::id());
        let file = format!("/tick-{}", process::id());
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

        // F2's picker, down to files.
        pick_view(&pane, "files");

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
