//! sdtrace's userspace, stage by stage in the order an event travels
//! (ARCHITECTURE.md at the repository's root walks it):
//!
//! - `capture`: load and attach the programs, read the ring buffer, count drops;
//! - `decode`: ring-buffer bytes to typed records;
//! - `journal`: every answer from outside the kernel, recorded or replayed;
//! - `state`: the process, thread and fd tables, from `/proc` and the records;
//! - `container`, `k8s`: where a process runs, from its runtime and the API server;
//! - `fields`: the registry of every field name; `filter`: the `-c` language and
//!   what the kernel may decide of it;
//! - `event`: one event as every consumer sees it, and each field's value;
//! - `sink`: what every output and mode is to the pipeline;
//! - `session`, `pipeline`, `run`: a run from its plan to its report, the
//!   per-record path, and the loops that feed it (from agents:
//!   `remote::records`, with the protocol in `agent::protocol`);
//! - `output`: text, `-p` and JSON, the `--containers` tally; `scap`: capture
//!   files (`-w`, `-r`);
//! - `view`: the views of the events, by name (`top WHAT`, `ui --view`).
//!
//! Each line uses only the lines above it (`tests/layers.rs` checks).
//!
//! The modes, each a sink of the same session: `follow`, `converge`, `summary`
//! (`top`, `spy`, `echo`), `ui`, `agent` (a node serving clients), `remote`
//! (their client), `cert` (their TLS certificate), `check`; `sink_mode`,
//! how the one-sink modes run. Beside
//! them: `cli` (every mode's command line), `logger`, `sys` (raw system calls
//! behind safe functions), `error_line`, `tls` (the agent port's TLS).

pub mod agent;
pub mod capture;
pub mod cert;
pub mod check;
pub mod cli;
pub mod container;
pub mod converge;
pub mod decode;
pub mod error_line;
pub mod event;
pub mod fields;
pub mod filter;
pub mod follow;
pub mod journal;
pub mod k8s;
pub mod logger;
pub mod output;
pub mod pipeline;
pub mod remote;
pub mod run;
pub mod scap;
pub mod session;
pub mod sink;
pub mod sink_mode;
pub mod state;
pub mod summary;
pub mod sys;
pub mod tls;
pub mod ui;
pub mod view;
