//! Capture files in sysdig's scap format: what `-w` writes and `-r` reads.
//!
//! A file holds the blocks sysdig expects (section header, machine info,
//! users, processes and their fds, then one enter and one exit event per
//! syscall in libscap's layouts), so sysdig and Stratoshark open it. Beside
//! them sdtrace keeps its own data, which other readers skip: a header and
//! the starting process table in blocks of its own before the events, and
//! then, inside the events ([`sidecar`]), the records exactly as the kernel
//! wrote them and the `/proc` answers the live run used. So `sdtrace -r`
//! gives back every field exactly, including the ones scap's layouts have
//! no place for (cgroup ids, namespaces, raw arguments of syscalls scap only
//! knows generically).
//!
//! `-r` also reads what libscap wrote ([`libscap`]): sysdig's and Falco's
//! captures, from their state blocks and enter and exit events.

pub mod block;
pub mod encode;
pub mod event;
pub mod libscap;
pub mod ppm_flags;
pub mod reader;
pub mod sidecar;
pub mod sink;
mod table;
pub mod writer;
