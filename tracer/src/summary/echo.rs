//! `sdtrace echo fds`: the data processes read and write, as sysdig's
//! echo_fds chisel: `------ Read 78B from /etc/passwd (cat)`, then the
//! buffer's printable text.

use std::io::Write;

use crate::cli::EchoCli;
use crate::decode::Body;
use crate::event::clock::Clock;
use crate::event::extract::EventView;
use crate::event::info::{self, BufferMode};
use crate::fields::{FieldId, FieldRef, Value};
use crate::session;
use crate::sink::Sink;
use crate::sink_mode;

#[derive(Default)]
pub struct EchoFds {
    pending: Vec<u8>,
    echoed: u64,
}

fn flag(ev: &EventView<'_>, id: FieldId) -> bool {
    matches!(ev.get(&FieldRef::plain(id)), Some(Value::Bool(true)))
}

impl Sink for EchoFds {
    fn observe(&mut self, ev: &EventView<'_>, shown: bool) {
        let ret = ev.rec.hdr.ret;
        if !shown || !matches!(ev.rec.body, Body::Syscall(_)) || ret <= 0 {
            return;
        }
        let (verb, prep) = if flag(ev, FieldId::EvtIsIoRead) {
            ("Read", "from")
        } else if flag(ev, FieldId::EvtIsIoWrite) {
            ("Write", "to")
        } else {
            return;
        };
        let name = match ev.get(&FieldRef::plain(FieldId::FdName)) {
            Some(Value::Str(s)) => s.into_owned(),
            _ => ev
                .fd_num()
                .map_or_else(|| "<NA>".to_owned(), |fd| format!("fd {fd}")),
        };
        let comm = match ev.get(&FieldRef::plain(FieldId::ProcName)) {
            Some(Value::Str(s)) => s.into_owned(),
            _ => String::new(),
        };
        let out = &mut self.pending;
        let _ = writeln!(out, "------ {verb} {ret}B {prep} {name} ({comm})");
        if let Some(Value::Bytes(buf)) = ev.get(&FieldRef::plain(FieldId::EvtBuffer)) {
            let start = out.len();
            info::write_buffer(out, &buf, BufferMode::Ascii);
            if out.len() > start && out.last() != Some(&b'\n') {
                out.push(b'\n');
            }
        }
        self.echoed += 1;
    }

    fn write_ready(&mut self, out: &mut Vec<u8>, _clock: &Clock) -> u64 {
        out.append(&mut self.pending);
        std::mem::take(&mut self.echoed)
    }
}

/// `sdtrace echo fds`.
pub fn main(cli: &EchoCli) -> anyhow::Result<std::process::ExitCode> {
    let filter = session::parse_filter(cli.common.filter.as_deref())?;
    let opts = sink_mode::options(&cli.common, false);
    let source = sink_mode::source(&cli.common, cli.snaplen, false);
    sink_mode::run(source, filter, opts, Box::new(EchoFds::default()))?;
    Ok(std::process::ExitCode::SUCCESS)
}
