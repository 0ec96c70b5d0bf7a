//! sdtrace's userspace, stage by stage in the order an event travels:
//! `capture` (load, attach, ring buffer, drops) -> `decode` (bytes to typed
//! events) -> `state` (process and fd tables) -> `filter` (the `-c` language and
//! its kernel push-down) -> `output` (text and JSON). `fields` is the registry
//! of every field name the filter and the output formats share; `container`
//! and `k8s` answer where a process runs, from the runtime and the API server.
//! `agent` streams a node's events to clients; `remote` is such a client.

pub mod agent;
pub mod capture;
pub mod check;
pub mod cli;
pub mod container;
pub mod converge;
pub mod decode;
pub mod error_line;
pub mod fields;
pub mod filter;
pub mod follow;
pub mod k8s;
pub mod logger;
pub mod output;
pub mod remote;
pub mod run;
pub mod scap;
pub mod session;
pub mod state;
pub mod summary;
pub mod sys;
pub mod ui;
