//! Containers: which one an event's process runs in, from the cgroup the
//! kernel reports for it.

pub mod classify;
