//! The raw system calls sdtrace makes itself, each behind a safe function
//! (as aya keeps its own behind `sys/`): the clocks, and the `bpf()`
//! commands aya does not wrap.

pub mod bpf;
pub mod clock;
