//! End-to-end tests: each does something real (opens a file, runs a child,
//! connects a socket) and waits for sdtrace's JSON event from that pid. They
//! need root, BTF and bpf(); without them they skip loudly, or fail under
//! `CI=true`. One binary, so sessions serialise on the harness's lock.
mod agent;
mod batching;
mod capture_file;
mod churn;
mod cli;
mod containers;
mod converge;
mod drops;
mod exec;
mod faults;
mod files;
mod follow;
mod k8s;
mod latency;
mod namespaces;
mod net;
mod nginx;
mod runtimes;
mod summary;
mod sysdig_captures;
mod ui;
