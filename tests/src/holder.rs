//! `hold-fd` run by a test: it opens a file, says `ready`, and reads it
//! when told `go` — a process whose fd was opened before sdtrace started.
use std::{
    io::{BufRead, BufReader, Lines, Write},
    process::{Child, ChildStdout, Command, Stdio},
};

pub struct Holder {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Holder {
    /// Starts `command` (`hold-fd FILE`, perhaps behind `setpriv`) and
    /// waits until it holds the file open.
    pub fn start(mut command: Command) -> Self {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start hold-fd");
        let mut lines = BufReader::new(child.stdout.take().expect("its stdout")).lines();
        assert_eq!(
            lines.next().expect("a line").expect("UTF-8"),
            "ready",
            "hold-fd opened the file"
        );
        Holder { child, lines }
    }

    #[must_use]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Tells it to read the file, and waits until it has and exited.
    pub fn read(mut self) {
        writeln!(self.child.stdin.take().expect("its stdin"), "go").expect("say go");
        let said = self.lines.next().expect("a line").expect("UTF-8");
        assert!(said.starts_with("read "), "hold-fd said {said:?}");
        assert!(self.child.wait().expect("hold-fd exits").success());
    }
}
