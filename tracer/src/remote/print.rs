//! The printing client's end of the relay: each released line, labelled
//! with its node, to stdout; `-n` lines at most.

use std::io::{self, Write};
use std::time::Duration;

use super::label::Label;
use super::merge::Released;
use super::relay::{relay, Consumer, Halt};
use super::stream::Attached;
use super::tally::Tally;

/// When to stop on our own.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    /// `-n`: lines to print.
    pub count: Option<u64>,
    /// `-M`.
    pub duration: Option<Duration>,
}

/// stdout (or a test's buffer), counting lines.
struct Out<W: Write> {
    writer: W,
    line: Vec<u8>,
    label: Label,
    left: Option<u64>,
}

fn halt(e: io::Error) -> Halt {
    if e.kind() == io::ErrorKind::BrokenPipe {
        Halt::Closed
    } else {
        Halt::Failed(e)
    }
}

impl<W: Write> Out<W> {
    fn print(&mut self, node: &str, line: &str) -> Result<(), Halt> {
        if self.left == Some(0) {
            return Err(Halt::Enough);
        }
        self.line.clear();
        self.label.write(node, line, &mut self.line);
        self.writer.write_all(&self.line).map_err(halt)?;
        if let Some(left) = &mut self.left {
            *left -= 1;
            if *left == 0 {
                self.writer.flush().map_err(halt)?;
                return Err(Halt::Enough);
            }
        }
        Ok(())
    }
}

impl<W: Write> Consumer for Out<W> {
    fn take(&mut self, released: Vec<Released>, tallies: &[Tally]) -> Result<(), Halt> {
        for r in released {
            self.print(&tallies[r.stream].node, &r.line)?;
        }
        self.writer.flush().map_err(halt)
    }
}

/// Relays to `writer` until the end, saying what happens to the agents
/// through `say`; the exit code says whether an agent was lost on the way
/// (`lost_before`: one was already, at attach time).
pub async fn run(
    attached: Vec<Attached>,
    label: Label,
    limits: Limits,
    lost_before: bool,
    writer: impl Write,
    say: &dyn Fn(&str),
) -> anyhow::Result<std::process::ExitCode> {
    let mut out = Out {
        writer,
        line: Vec::new(),
        label,
        left: limits.count,
    };
    let relayed = relay(attached, limits.duration, lost_before, &mut out, say).await?;
    if let Some(Halt::Failed(e)) = relayed.halted {
        return Err(anyhow::anyhow!("writing to stdout: {e}"));
    }
    for line in &relayed.summaries {
        say(line);
    }
    Ok(if relayed.lost {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    })
}
