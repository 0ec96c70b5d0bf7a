//! `--agent`, `--cluster` and their company: which sdtrace agents a run
//! reads, as every mode that can read them takes it on its command line.

use std::path::PathBuf;

/// Where events come from instead of this machine's kernel: sdtrace
/// agents, found through Kubernetes or named.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Reach {
    /// Trace every node of a Kubernetes cluster: find the sdtrace agents
    /// (deploy/) through the API server and read each through its
    /// port-forward; events merged in time order, with k8s.node.name.
    #[arg(long = "cluster", conflicts_with = "agents")]
    pub cluster: bool,

    /// Read from these sdtrace agents (HOST:PORT, comma-separated) instead
    /// of this machine's kernel, merged in time order.
    #[arg(long = "agent", value_name = "HOST:PORT", value_delimiter = ',')]
    pub agents: Vec<String>,

    /// With --cluster: only the agents on these nodes (comma-separated).
    #[arg(
        long = "node",
        value_name = "NODE",
        value_delimiter = ',',
        requires = "cluster"
    )]
    pub nodes: Vec<String>,

    /// With --cluster or --agent: only events of pods in this namespace.
    #[arg(long = "namespace", value_name = "NS")]
    pub namespace: Option<String>,

    /// With --cluster: the namespace the agents run in.
    #[arg(long = "agent-namespace", default_value = "sdtrace", value_name = "NS")]
    pub agent_namespace: String,

    /// The agents' bearer token, from this file; default: $SDTRACE_TOKEN,
    /// else (--cluster) the agents' Secret read through the API server.
    #[arg(long = "token-file", value_name = "PATH")]
    pub token_file: Option<PathBuf>,

    /// Trust agents whose certificate this CA signed (PEM); default: for
    /// --cluster, the agents' Secret's ca.crt (read through the API
    /// server), else the system's CAs.
    #[arg(long = "agent-ca", value_name = "PATH", conflicts_with = "insecure")]
    pub agent_ca: Option<PathBuf>,

    /// The name the agents' certificates must carry, instead of the host
    /// each is reached by (--cluster: sdtrace-agent).
    #[arg(
        long = "agent-server-name",
        value_name = "NAME",
        conflicts_with = "insecure"
    )]
    pub agent_server_name: Option<String>,

    /// Speak cleartext to agents run with --insecure: the token and every
    /// event cross the network unencrypted.
    #[arg(long = "insecure")]
    pub insecure: bool,
}

impl Reach {
    /// Whether events come from agents.
    #[must_use]
    pub fn is_remote(&self) -> bool {
        self.cluster || !self.agents.is_empty()
    }
}
