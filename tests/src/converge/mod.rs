//! What the convergence tests drive: `sdtrace converge -j` ([`Converge`]),
//! a daemon whose stderr says what it did ([`Daemon`]: `minimgmt`, or a
//! container's log), and the system resources it manages — a local Debian
//! package and an init-style service with fixed names ([`fixtures`]) — and
//! Puppet runs ([`puppet`]); the agents run from loops ([`agents`]); daemons of other shapes ([`shapes`]) and the
//! scenario every daemon started before sdtrace is checked with
//! ([`scenario`]).
pub mod agents;
pub mod fixtures;
pub mod puppet;
pub mod run;
pub mod scenario;
pub mod shapes;

pub use crate::daemon::Daemon;
pub use run::{Converge, DerivedExt, Finished};
