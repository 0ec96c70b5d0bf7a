//! `sdtrace spy users`: every command run below an interactive shell, as
//! sysdig's spy_users chisel: `time user container pid cmdline`, the
//! command indented by how deep below the shell it runs.

use std::borrow::Cow;
use std::collections::HashSet;
use std::io::Write;

use tracer_common::syscall_names::nr;

use crate::cli::SpyCli;
use crate::decode::Body;
use crate::event::clock::Clock;
use crate::event::extract::EventView;
use crate::fields::{FieldId, FieldRef, Value};
use crate::filter::MAX_ANCESTORS;
use crate::session;
use crate::sink::Sink;
use crate::sink_mode;
use crate::state::{Process, ProcessTable};

/// The names (comm) of the shells people type into.
const SHELLS: [&str; 9] = [
    "bash", "sh", "zsh", "dash", "ash", "fish", "ksh", "tcsh", "csh",
];

/// `ioctl(fd, TIOCSCTTY)`: makes the terminal the caller's controlling one.
const TIOCSCTTY: u64 = 0x540e;

/// How many levels below the outermost interactive shell among its
/// ancestors `tgid` runs: 0 for the shell's own child; `None` when no such
/// shell is above it. `interactive` says whether a shell has a terminal.
pub fn depth_below_shell(
    procs: &ProcessTable,
    tgid: u32,
    interactive: impl Fn(&Process) -> bool,
) -> Option<usize> {
    let mut depth = None;
    for n in 1..=MAX_ANCESTORS as usize {
        let Some(a) = procs.ancestor(tgid, n) else {
            break;
        };
        if SHELLS.contains(&a.comm.as_str()) && interactive(a) {
            depth = Some(n - 1);
        }
    }
    depth
}

#[derive(Default)]
pub struct SpyUsers {
    pending: Vec<u8>,
    lines: u64,
    /// Processes seen taking a controlling terminal (a login's, sshd's or
    /// `docker exec -t`'s child does, after its fork and before it execs
    /// the shell): the process table knows only the terminals of what ran
    /// before sdtrace started (`proc.tty`).
    terminals: HashSet<u32>,
}

impl SpyUsers {
    /// Whether a shell has a terminal to read from.
    fn interactive(&self, p: &Process) -> bool {
        p.tty != 0
            || self.terminals.contains(&p.tgid)
            || p.fds.get(0).is_some_and(|fd| {
                fd.name.starts_with("/dev/pts/") || fd.name.starts_with("/dev/tty")
            })
    }

    /// Follows who takes a terminal, whether or not the filter shows it.
    fn track(&mut self, ev: &EventView<'_>) {
        let h = &ev.rec.hdr;
        match &ev.rec.body {
            Body::Syscall(s) if h.nr == nr::IOCTL && h.ret == 0 && s.args[1] == TIOCSCTTY => {
                self.terminals.insert(h.tgid);
            }
            Body::Exit(_) if h.tid == h.tgid => {
                self.terminals.remove(&h.tgid);
            }
            _ => {}
        }
    }
}

fn text<'a>(ev: &EventView<'a>, id: FieldId) -> Option<Cow<'a, str>> {
    match ev.get(&FieldRef::plain(id)) {
        Some(Value::Str(s)) => Some(s),
        _ => None,
    }
}

impl Sink for SpyUsers {
    fn observe(&mut self, ev: &EventView<'_>, shown: bool) {
        self.track(ev);
        let h = &ev.rec.hdr;
        // The exec's return: the process table holds the new image.
        if !shown
            || !matches!(ev.rec.body, Body::Syscall(_))
            || !matches!(h.nr, nr::EXECVE | nr::EXECVEAT)
            || h.ret != 0
        {
            return;
        }
        let Some(depth) = depth_below_shell(ev.procs, h.tgid, |p| self.interactive(p)) else {
            return;
        };
        let Some(p) = ev.process() else { return };
        let out = &mut self.pending;
        ev.clock.write_time(out, h.ts_ns);
        let user = text(ev, FieldId::UserName).unwrap_or_else(|| Cow::Owned(h.uid.to_string()));
        let container = text(ev, FieldId::ContainerName)
            .or_else(|| text(ev, FieldId::ContainerId))
            .unwrap_or(Cow::Borrowed("<NA>"));
        let _ = writeln!(
            out,
            " {user} {container} {} {:indent$}{}",
            h.tgid,
            "",
            p.cmdline,
            indent = depth * 2
        );
        self.lines += 1;
    }

    fn write_ready(&mut self, out: &mut Vec<u8>, _clock: &Clock) -> u64 {
        out.append(&mut self.pending);
        std::mem::take(&mut self.lines)
    }
}

/// `sdtrace spy users`.
pub fn main(cli: &SpyCli) -> anyhow::Result<std::process::ExitCode> {
    let filter = session::parse_filter(cli.common.filter.as_deref())?;
    let opts = sink_mode::options(&cli.common, false);
    let source = sink_mode::source(&cli.common, 0, false);
    sink_mode::run(source, filter, opts, Box::new(SpyUsers::default()))?;
    Ok(std::process::ExitCode::SUCCESS)
}
