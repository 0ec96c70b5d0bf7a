//! The raw system calls sdtrace makes itself, each behind a safe function
//! (as aya keeps its own behind `sys/`): the clocks, the `bpf()` commands
//! aya does not wrap, a netfilter netlink socket, descriptors (pipes,
//! poll, stderr's redirection), files opened by handle and the host's configuration (sysconf).

pub mod bpf;
pub mod clock;
pub mod fd;
pub mod handle;
pub mod host;
pub mod netlink;
