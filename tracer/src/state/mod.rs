//! The state tables: what sdtrace knows about the system between events.
//!
//! Processes (with their threads and fd tables) are bootstrapped from `/proc`
//! and then kept current by the decoder, which calls [`ProcessTable`]'s event
//! methods (`fork`, `exec`, `exit`, `open`, `close`, ...) in event order.
//! Per-event lookups ([`ProcessTable::process`], [`ProcessTable::fd`],
//! [`ProcessTable::ancestor`], [`Users::user_name`]) hand out references and
//! neither allocate nor make syscalls; the `*_or_load` variants add one lazy
//! `/proc` read on a miss, whose failure is remembered.
//!
//! Field meanings follow sysdig: `proc.exe` is argv[0], `proc.exepath` the
//! executable's path, `proc.cmdline` is `name args...`, `fd.name` the path or
//! `cip:cport->sip:sport`, and `fd.type`/`fd.typechar` the same words and
//! letters as libsinsp.

pub mod apply;
mod fd;
pub mod hidden;
mod net;
mod path;
mod process;
mod procfs;
mod users;

#[cfg(test)]
mod tests;

use std::hash::{BuildHasherDefault, Hasher};
use std::path::PathBuf;

pub use crate::journal::Snapshot;
pub use fd::{FdInfo, FdKind, FdTable};
pub use net::{L4Proto, SockTuple};
pub use path::{normalize, resolve};
pub use process::{Exec, Exit, Fork, Process, ProcessTable, AT_FDCWD, DEFAULT_GRACE_NS};
pub use procfs::ProcFs;
pub use users::{Group, User, Users};

/// Errors while reading the system's tables. Per-process read failures during
/// bootstrap are not errors (processes come and go); only an unreadable root is.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: malformed ({what})")]
    Parse { path: PathBuf, what: &'static str },
}

/// Hasher for the tables' integer keys (pids, fds, inodes). SipHash's DoS
/// resistance buys nothing here, and at ~2M lookups/s its cost shows; a
/// multiply spreads sequential ids over the buckets well enough.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_i32(&mut self, n: i32) {
        self.write_u64(u64::from(n.cast_unsigned()));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type IdMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<IdHasher>>;
pub(crate) type IdSet<K> = std::collections::HashSet<K, BuildHasherDefault<IdHasher>>;
