//! `sdtrace follow`: one request followed from its client through NAT to
//! the server that handled it, and on through that server's own upstream
//! connections, as one trace.

pub mod cli;
pub mod conntrack;
pub mod flow;
pub mod kernel_nat;
pub mod nat_rules;
pub mod render;
pub mod seeds;
pub mod trace;

use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use crate::decode::Body;
use crate::event::clock::Clock;
use crate::event::extract::{event_fd, event_type, EventView};
use crate::fields::{FieldId, FieldRef, Value};
use crate::output::format::write_value;
use crate::sink::Sink;
use crate::state::FdKind;

use flow::{TCP, UDP};
use seeds::Seeds;
use trace::{Describe, Event, Line, Socket, Tracker, Translations, Who};

/// The follow mode's share of the pipeline: every event goes through it,
/// finished traces come out.
pub struct Follower {
    tracker: Tracker,
    pub seeds: Seeds,
    nat: Box<dyn Translations>,
    json: bool,
    /// `-- COMMAND`: the command followed, and when it exited.
    command: Option<(Child, Option<(Instant, ExitStatus)>)>,
}

/// After the command exits, how long its last records may take to come
/// through the ring buffer and the reorder window.
const COMMAND_DRAIN: Duration = Duration::from_millis(150);

impl Follower {
    #[must_use]
    pub fn new(seeds: Seeds, nat: Box<dyn Translations>, json: bool) -> Self {
        Self {
            tracker: Tracker::default(),
            seeds,
            nat,
            json,
            command: None,
        }
    }

    /// Follows `child` (already a seed) until it exits.
    pub fn set_command(&mut self, child: Child) {
        self.command = Some((child, None));
    }
}

impl Sink for Follower {
    fn observe(&mut self, view: &EventView<'_>, shown: bool) {
        let rec = view.rec;
        let h = &rec.hdr;
        let exit = matches!(rec.body, Body::Exit(_));
        if exit && h.tid != h.tgid {
            return;
        }
        let socket = view.fd().and_then(|fd| {
            if !matches!(fd.kind, FdKind::Ipv4 | FdKind::Ipv6) {
                return None;
            }
            let proto = match fd.l4proto {
                crate::state::L4Proto::Tcp => TCP,
                crate::state::L4Proto::Udp => UDP,
                _ => return None,
            };
            Some(Socket {
                proto,
                local: fd.local,
                remote: fd.remote,
            })
        });
        let ev = Event {
            ts: h.ts_ns,
            tgid: h.tgid,
            tid: h.tid,
            nr: h.nr,
            ret: h.ret,
            exit,
            fd: event_fd(rec).and_then(|fd| i32::try_from(fd).ok()),
            socket,
        };
        let d = Described {
            view,
            seeds: &self.seeds,
            shown,
        };
        self.tracker.observe(&ev, &d, self.nat.as_mut());
    }

    /// Lets traces whose root closed a while ago go without their last hops.
    fn tick(&mut self, now: u64) {
        self.tracker.tick(now);
    }

    /// Every trace is finished as it is.
    fn finish(&mut self) {
        self.tracker.finish_all();
    }

    fn write_ready(&mut self, out: &mut Vec<u8>, clock: &Clock) -> u64 {
        let done = self.tracker.take_done(self.nat.as_mut());
        for t in &done {
            if self.json {
                render::json(out, t, clock);
            } else {
                render::text(out, t, clock);
            }
        }
        done.len() as u64
    }

    /// The command exited and its traces are finished, or have been waited
    /// for as long as a trace waits for its last hops.
    fn done(&mut self) -> bool {
        let Some((child, exited)) = &mut self.command else {
            return false;
        };
        if exited.is_none() {
            if let Ok(Some(status)) = child.try_wait() {
                *exited = Some((Instant::now(), status));
            }
        }
        exited.is_some_and(|(at, _)| {
            let since = at.elapsed();
            since >= COMMAND_DRAIN
                && (self.tracker.open_traces() == 0
                    || since >= COMMAND_DRAIN + Duration::from_nanos(trace::LINGER_NS))
        })
    }

    /// The command's, once it exited (1 for one killed by a signal).
    fn exit_code(&self) -> Option<i32> {
        let (_, status) = self.command.as_ref()?.1?;
        Some(status.code().unwrap_or(1))
    }

    fn closing_words(&self) -> Option<String> {
        self.nat.summary()
    }
}

/// The tracker's questions, answered from the event's fields.
struct Described<'v, 'a> {
    view: &'v EventView<'a>,
    seeds: &'v Seeds,
    shown: bool,
}

impl Described<'_, '_> {
    fn text(&self, id: FieldId) -> Option<String> {
        let v = self.view.get(&FieldRef::plain(id))?;
        if let Value::Str(s) = &v {
            return Some(s.to_string());
        }
        let mut out = Vec::new();
        write_value(&mut out, &v);
        Some(String::from_utf8_lossy(&out).into_owned())
    }
}

impl Describe for Described<'_, '_> {
    fn who(&self) -> Who {
        let h = &self.view.rec.hdr;
        let pod = match (
            self.text(FieldId::K8sNsName),
            self.text(FieldId::K8sPodName),
        ) {
            (Some(ns), Some(pod)) => Some(format!("{ns}/{pod}")),
            _ => None,
        };
        Who {
            pid: h.tgid,
            tid: h.tid,
            name: self.text(FieldId::ProcName).unwrap_or_default(),
            container_id: self
                .text(FieldId::ContainerId)
                .filter(|id| id != "host" && !id.is_empty()),
            container_name: self
                .text(FieldId::ContainerName)
                .filter(|n| n != "host" && !n.is_empty()),
            pod,
        }
    }

    fn line(&self) -> Line {
        let mut info = Vec::new();
        self.view.write_info(&mut info);
        Line {
            ts: self.view.rec.hdr.ts_ns,
            tid: self.view.rec.hdr.tid,
            evt_type: event_type(self.view.rec).into_owned(),
            res: self.text(FieldId::EvtRes).unwrap_or_default(),
            fd_name: self.text(FieldId::FdName),
            info: String::from_utf8_lossy(&info).into_owned(),
        }
    }

    fn shown(&self) -> bool {
        self.shown
    }

    fn seeds(&self, remote: Option<std::net::SocketAddr>) -> bool {
        self.seeds.starts_trace(self.view, remote)
    }
}

/// Where NAT translations come from: the kernel's connection tracking
/// when it can be read (said once when not: hops are then matched by
/// their tuples as they are).
#[must_use]
pub fn translations() -> Box<dyn Translations> {
    match conntrack::Conntrack::start() {
        Ok(ct) => Box::new(kernel_nat::KernelNat::new(ct)),
        Err(e) => {
            eprintln!(
                "sdtrace: connection tracking cannot be read ({e}): NAT hops are not shown, \
                 and connections through NAT are not followed to their servers"
            );
            Box::new(trace::NoTranslations)
        }
    }
}
#[cfg(test)]
mod tests;
