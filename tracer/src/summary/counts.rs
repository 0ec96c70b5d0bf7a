//! What a row counts of each event: read once per event as [`Facts`],
//! added up in [`Counts`].

use tracer_common::syscall_names::nr;

use crate::decode::Body;
use crate::event::extract::EventView;
use crate::fields::{FieldId, FieldRef, Value};
use crate::state::FdKind;

use super::histogram::Histogram;
use super::window::Window;

/// What the tables need of one event, read from it once.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Facts {
    pub ts: u64,
    pub failed: bool,
    /// Bytes a read-family call returned; bytes a write-family call wrote.
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// The I/O was on an IP socket.
    pub net: bool,
    /// A successful open of a file.
    pub open: bool,
    /// The syscall's latency, when measured (its entry was seen).
    pub latency: Option<u64>,
}

fn flag(ev: &EventView<'_>, id: FieldId) -> bool {
    matches!(ev.get(&FieldRef::plain(id)), Some(Value::Bool(true)))
}

impl Facts {
    #[must_use]
    pub(super) fn of(ev: &EventView<'_>) -> Facts {
        let h = &ev.rec.hdr;
        let mut facts = Facts {
            ts: h.ts_ns,
            ..Facts::default()
        };
        if !matches!(ev.rec.body, Body::Syscall(_)) {
            return facts;
        }
        facts.failed = h.ret < 0;
        if let Ok(n) = u64::try_from(h.ret) {
            // copy_file_range reads and writes: both, as sysdig counts it.
            if n > 0 && flag(ev, FieldId::EvtIsIoRead) {
                facts.bytes_in = n;
            }
            if n > 0 && flag(ev, FieldId::EvtIsIoWrite) {
                facts.bytes_out = n;
            }
        }
        if facts.bytes_in + facts.bytes_out > 0 {
            facts.net = ev
                .fd()
                .is_some_and(|fd| matches!(fd.kind, FdKind::Ipv4 | FdKind::Ipv6));
        }
        facts.open = h.ret >= 0 && matches!(h.nr, nr::OPEN | nr::OPENAT | nr::OPENAT2 | nr::CREAT);
        if let Some(Value::U64(ns)) = ev
            .latency
            .then(|| ev.get(&FieldRef::plain(FieldId::EvtLatency)))
            .flatten()
        {
            // 0: the entry was not seen; no latency is known.
            facts.latency = (ns > 0).then_some(ns);
        }
        facts
    }
}

/// A row's numbers since its view was set.
#[derive(Clone, Debug, Default)]
pub(super) struct Counts {
    pub events: u64,
    pub errors: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub net_bytes: u64,
    pub opens: u64,
    pub window: Window,
    /// Kept only where a column shows it (the syscalls view).
    pub latency: Option<Histogram>,
}

impl Counts {
    pub(super) fn add(&mut self, f: &Facts) {
        self.events += 1;
        self.errors += u64::from(f.failed);
        self.bytes_in += f.bytes_in;
        self.bytes_out += f.bytes_out;
        if f.net {
            self.net_bytes += f.bytes_in + f.bytes_out;
        }
        self.opens += u64::from(f.open);
        self.window.add(f.ts);
        if let (Some(h), Some(ns)) = (&mut self.latency, f.latency) {
            h.add(ns);
        }
    }
}
