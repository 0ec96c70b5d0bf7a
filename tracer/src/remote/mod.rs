//! `sdtrace --agent HOST:PORT,...` and `sdtrace --cluster`: events from
//! `sdtrace agent`s instead of this machine's kernel.

pub mod label;
pub mod merge;
pub mod stream;
pub mod tally;
