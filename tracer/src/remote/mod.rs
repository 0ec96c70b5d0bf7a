//! `sdtrace --agent HOST:PORT,...` and `sdtrace --cluster`: events from
//! `sdtrace agent`s instead of this machine's kernel. Each agent filters
//! and formats its node's events as asked; the client checks the request
//! first (a typo gets its caret here, before anything connects), opens a
//! stream to every agent (`stream`), merges them in time order (`merge`),
//! labels each line with its node (`label`) and prints it (`relay`).

#[cfg(feature = "k8s-api")]
pub mod cluster;
pub mod direct;
pub mod label;
pub mod merge;
pub mod stream;
pub mod tally;

use self::stream::Connect;

/// One agent to reach.
pub struct Dial {
    /// How the user knows it: HOST:PORT, or its pod and node.
    pub agent: String,
    /// The HTTP authority to ask it as.
    pub authority: String,
    /// The node it should say it traces, when known beforehand.
    pub node: Option<String>,
    pub connect: Connect,
}

/// An error and its causes on one line: hyper's and kube's own text
/// ("client error (Connect)") does not say the connection was refused.
pub fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}
