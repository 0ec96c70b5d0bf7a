//! Which connections start a trace: those of given processes (and their
//! descendants), of processes with a given name, or to given addresses.

use std::net::SocketAddr;

use crate::event::extract::EventView;
use crate::state::ProcessTable;

/// Deepest ancestry walked to find a seed process (a fork bomb's depth
/// is no reason to loop).
const MAX_ANCESTRY: usize = 64;

#[derive(Clone, Debug, Default)]
pub struct Seeds {
    /// Processes followed with their descendants.
    pub pids: Vec<u32>,
    /// Process names (comm), as `proc.name`.
    pub comms: Vec<String>,
    /// Destinations as clients connect to them (before NAT).
    pub conns: Vec<SocketAddr>,
}

impl Seeds {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.pids.is_empty() && self.comms.is_empty() && self.conns.is_empty()
    }

    /// Whether a connection this event's process makes to `remote` starts
    /// a trace.
    #[must_use]
    pub fn starts_trace(&self, view: &EventView<'_>, remote: Option<SocketAddr>) -> bool {
        if remote.is_some_and(|r| self.conns.contains(&r)) {
            return true;
        }
        let comm_matches =
            !self.comms.is_empty() && view.process().is_some_and(|p| self.comms.contains(&p.comm));
        comm_matches || self.descends_from_seed(view.procs, view.rec.hdr.tgid)
    }

    fn descends_from_seed(&self, procs: &ProcessTable, tgid: u32) -> bool {
        if self.pids.is_empty() {
            return false;
        }
        let mut pid = tgid;
        for _ in 0..MAX_ANCESTRY {
            if self.pids.contains(&pid) {
                return true;
            }
            match procs.process(pid) {
                Some(p) if p.ppid != 0 && p.ppid != pid => pid = p.ppid,
                _ => return false,
            }
        }
        false
    }
}
