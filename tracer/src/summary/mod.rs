//! Summaries of the event stream: the tables behind the live view
//! (`sdtrace ui`) and `sdtrace top`, `spy users`, `echo fds`.

pub mod link;
pub mod table;
