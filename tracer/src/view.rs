//! The views of the events, by the names users type (`sdtrace top files`,
//! `sdtrace ui --view procs`) and see in the live view's header. Below the
//! modes, so that the command line parses into what the summaries and the
//! live view show.

use std::fmt;

/// One way of looking at the events, as csysdig's views.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum View {
    /// The nodes whose agents the events come from (`--agent`, `--cluster`).
    Nodes,
    Containers,
    Pods,
    Namespaces,
    Processes,
    Threads,
    Files,
    Connections,
    Syscalls,
    Errors,
    /// What configuration-management daemons did to their resources
    /// (`sdtrace converge`'s summary).
    Converge,
    /// The raw event stream (of whatever the breadcrumb narrowed to).
    Events,
}

impl View {
    pub const ALL: [View; 12] = [
        View::Nodes,
        View::Containers,
        View::Pods,
        View::Namespaces,
        View::Processes,
        View::Threads,
        View::Files,
        View::Connections,
        View::Syscalls,
        View::Errors,
        View::Converge,
        View::Events,
    ];

    /// The name users type (`sdtrace top files`) and see in the header.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            View::Nodes => "nodes",
            View::Containers => "containers",
            View::Pods => "pods",
            View::Namespaces => "namespaces",
            View::Processes => "procs",
            View::Threads => "threads",
            View::Files => "files",
            View::Connections => "conns",
            View::Syscalls => "syscalls",
            View::Errors => "errors",
            View::Converge => "converge",
            View::Events => "events",
        }
    }

    #[must_use]
    pub fn from_name(name: &str) -> Option<View> {
        View::ALL.into_iter().find(|v| v.name() == name)
    }
}

impl fmt::Display for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
