//! `sdtrace agent`: a node's long-running tracer that streams to clients
//! what each of them asks for.

pub mod protocol;
