//! `sdtrace follow`: one request followed from its client through NAT to
//! the server that handled it, and on through that server's own upstream
//! connections, as one trace.

pub mod conntrack;
pub mod flow;
pub mod nat_rules;
