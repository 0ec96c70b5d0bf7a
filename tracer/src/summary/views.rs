//! Each view's rows: what events are counted by (the row's key), what a
//! row shows of its subject, its columns, and the clause that narrows the
//! next view to it.

use std::borrow::Cow;
use std::fmt::Write;

use tracer_common::syscall_names::nr;

use crate::event::extract::{event_type, EventView};
use crate::fields::{FieldId, FieldRef, Value};
use crate::filter::clause;
use crate::state::FdKind;

use super::counts::Counts;
use super::table::{Cell, Column, ColumnKind, View};

/// What a row shows of its subject (the cells before its numbers), and how
/// to narrow to it.
pub(super) struct Labels {
    pub cells: Vec<Cell>,
    pub narrow: Option<String>,
    /// Whether every cell is known: a container's name comes when its
    /// runtime answers, so an incomplete row is labelled again later.
    pub complete: bool,
}

fn text<'a>(ev: &EventView<'a>, id: FieldId) -> Option<Cow<'a, str>> {
    match ev.get(&FieldRef::plain(id)) {
        Some(Value::Str(s)) => Some(s),
        _ => None,
    }
}

fn cell(value: Option<Cow<'_, str>>) -> Cell {
    value.map_or(Cell::Empty, |s| Cell::Text(s.into_owned()))
}

/// The fd name of an event on a file (a failed open's too: the path it
/// tried, as sysdig shows it).
fn file_name<'a>(ev: &EventView<'a>) -> Option<Cow<'a, str>> {
    match ev.fd() {
        Some(fd) if fd.kind == FdKind::File => Some(Cow::Borrowed(fd.name.as_str())),
        Some(_) => None,
        None if ev.rec.hdr.ret < 0 => text(ev, FieldId::FdName),
        None => None,
    }
}

/// The fd name of an event on an IP socket (its tuple); none before the
/// socket is bound or connected.
fn socket_name<'a>(ev: &EventView<'a>) -> Option<&'a str> {
    ev.fd()
        .filter(|fd| matches!(fd.kind, FdKind::Ipv4 | FdKind::Ipv6) && !fd.name.is_empty())
        .map(|fd| fd.name.as_str())
}

/// The container as a row shows it: its name once known, else its id.
fn container(ev: &EventView<'_>) -> (Cell, bool) {
    match (
        text(ev, FieldId::ContainerName),
        text(ev, FieldId::ContainerId),
    ) {
        (Some(name), _) => (Cell::Text(name.into_owned()), true),
        (None, Some(id)) => (Cell::Text(id.into_owned()), false),
        (None, None) => (Cell::Empty, false),
    }
}

/// The process's name: its main thread's, else the event's thread's.
fn process_name(ev: &EventView<'_>) -> String {
    match ev.process() {
        Some(p) => p.comm.clone(),
        None => text(ev, FieldId::ProcName).map_or_else(String::new, Cow::into_owned),
    }
}

/// Whether the event changed the process's name (a successful exec), so
/// rows showing it are labelled again.
pub(super) fn renames(ev: &EventView<'_>) -> bool {
    matches!(ev.rec.hdr.nr, nr::EXECVE | nr::EXECVEAT) && ev.rec.hdr.ret == 0
}

/// Writes the key `ev` is counted by in `view` into `out`; `false` when the
/// view has no row for it (a pod view's host process, a files view's
/// socket read).
pub(super) fn key(view: View, ev: &EventView<'_>, out: &mut String) -> bool {
    out.clear();
    let h = &ev.rec.hdr;
    // The same pid (file, container) on two nodes is two rows.
    if let Some(node) = ev.node.filter(|_| has_node_column(view)) {
        out.push_str(node);
        out.push('\0');
    }
    match view {
        View::Nodes => match ev.node {
            Some(node) => out.push_str(node),
            None => return false,
        },
        View::Containers => match text(ev, FieldId::ContainerId) {
            Some(id) => out.push_str(&id),
            None => return false,
        },
        View::Pods => {
            let (Some(ns), Some(pod)) =
                (text(ev, FieldId::K8sNsName), text(ev, FieldId::K8sPodName))
            else {
                return false;
            };
            let _ = write!(out, "{ns}\0{pod}");
        }
        View::Namespaces => match text(ev, FieldId::K8sNsName) {
            Some(ns) => out.push_str(&ns),
            None => return false,
        },
        View::Processes => {
            let _ = write!(out, "{}", h.tgid);
        }
        View::Threads => {
            let _ = write!(out, "{}", h.tid);
        }
        View::Files => {
            let Some(name) = file_name(ev) else {
                return false;
            };
            let id = text(ev, FieldId::ContainerId).unwrap_or_default();
            let _ = write!(out, "{name}\0{id}");
        }
        View::Connections => {
            let Some(name) = socket_name(ev) else {
                return false;
            };
            let _ = write!(out, "{name}\0{}", h.tgid);
        }
        View::Syscalls => {
            if !matches!(ev.rec.body, crate::decode::Body::Syscall(_)) {
                return false;
            }
            out.push_str(&event_type(ev.rec));
        }
        View::Errors => {
            if !matches!(ev.rec.body, crate::decode::Body::Syscall(_)) || h.ret >= 0 {
                return false;
            }
            let _ = write!(out, "{}\0{}\0{}", event_type(ev.rec), h.ret, comm(ev));
        }
        // The convergence engine keys its own rows.
        View::Converge | View::Events => return false,
    }
    true
}

fn comm<'a>(ev: &EventView<'a>) -> Cow<'a, str> {
    text(ev, FieldId::ProcName).unwrap_or_default()
}

/// What a new row (or an incomplete one, again) shows of `ev`'s subject.
pub(super) fn labels(view: View, ev: &EventView<'_>) -> Labels {
    let h = &ev.rec.hdr;
    let (container, named) = container(ev);
    let id = text(ev, FieldId::ContainerId);
    let complete = |c| Labels {
        cells: c,
        narrow: None,
        complete: true,
    };
    let mut labels = match view {
        View::Nodes => {
            let node = ev.node.unwrap_or_default();
            Labels {
                narrow: Some(clause::text_is("k8s.node.name", node)),
                ..complete(vec![Cell::Text(node.to_owned())])
            }
        }
        View::Containers => {
            let id = id.unwrap_or_default();
            let host = id == "host";
            Labels {
                cells: vec![
                    Cell::Text(id.clone().into_owned()),
                    cell(text(ev, FieldId::ContainerName)),
                    cell(text(ev, FieldId::ContainerImage)),
                ],
                narrow: Some(clause::text_is("container.id", &id)),
                complete: host || named,
            }
        }
        View::Pods => {
            let ns = text(ev, FieldId::K8sNsName).unwrap_or_default();
            let pod = text(ev, FieldId::K8sPodName).unwrap_or_default();
            Labels {
                narrow: Some(clause::all(&[
                    clause::text_is("k8s.ns.name", &ns),
                    clause::text_is("k8s.pod.name", &pod),
                ])),
                ..complete(vec![
                    Cell::Text(ns.into_owned()),
                    Cell::Text(pod.into_owned()),
                ])
            }
        }
        View::Namespaces => {
            let ns = text(ev, FieldId::K8sNsName).unwrap_or_default();
            Labels {
                narrow: Some(clause::text_is("k8s.ns.name", &ns)),
                ..complete(vec![Cell::Text(ns.into_owned())])
            }
        }
        View::Processes => Labels {
            narrow: Some(clause::number_is("proc.pid", u64::from(h.tgid))),
            complete: named,
            cells: vec![
                Cell::Count(u64::from(h.tgid)),
                Cell::Text(process_name(ev)),
                container,
            ],
        },
        View::Threads => Labels {
            narrow: Some(clause::number_is("thread.tid", u64::from(h.tid))),
            complete: named,
            cells: vec![
                Cell::Count(u64::from(h.tid)),
                Cell::Count(u64::from(h.tgid)),
                Cell::Text(comm(ev).into_owned()),
                container,
            ],
        },
        View::Files => {
            let name = file_name(ev).unwrap_or_default();
            let mut clauses = vec![clause::text_is("fd.name", &name)];
            // The same path in two containers is two files.
            clauses.extend(id.map(|id| clause::text_is("container.id", &id)));
            Labels {
                narrow: Some(clause::all(&clauses)),
                complete: named,
                cells: vec![Cell::Text(name.into_owned()), container],
            }
        }
        View::Connections => {
            let name = socket_name(ev).unwrap_or_default();
            let proto = text(ev, FieldId::FdL4proto);
            Labels {
                narrow: Some(clause::all(&[
                    clause::text_is("fd.name", name),
                    clause::number_is("proc.pid", u64::from(h.tgid)),
                ])),
                complete: named,
                cells: vec![
                    Cell::Text(name.to_owned()),
                    cell(proto),
                    Cell::Text(format!("{} ({})", process_name(ev), h.tgid)),
                    container,
                ],
            }
        }
        View::Syscalls => {
            let name = event_type(ev.rec);
            Labels {
                narrow: Some(clause::text_is("evt.type", &name)),
                ..complete(vec![Cell::Text(name.into_owned())])
            }
        }
        View::Errors => {
            let name = event_type(ev.rec);
            let errno = text(ev, FieldId::EvtRes).unwrap_or_default();
            let comm = comm(ev);
            Labels {
                narrow: Some(clause::all(&[
                    clause::text_is("evt.type", &name),
                    clause::text_is("evt.res", &errno),
                    clause::text_is("proc.name", &comm),
                ])),
                ..complete(vec![
                    Cell::Text(name.into_owned()),
                    Cell::Text(errno.into_owned()),
                    Cell::Text(comm.into_owned()),
                ])
            }
        }
        View::Converge | View::Events => complete(Vec::new()),
    };
    if labels.cells.is_empty() {
        labels.narrow = None;
    }
    if let Some(node) = ev
        .node
        .filter(|_| has_node_column(view) && !labels.cells.is_empty())
    {
        labels.cells.insert(0, Cell::Text(node.to_owned()));
        let on_node = clause::text_is("k8s.node.name", node);
        labels.narrow = labels.narrow.map(|clause| clause::all(&[on_node, clause]));
    }
    labels
}

/// Whether rows of `view` say which node they are on, when events come
/// from agents.
pub(super) fn has_node_column(view: View) -> bool {
    !matches!(view, View::Nodes | View::Converge | View::Events)
}

fn col(title: &'static str, kind: ColumnKind) -> Column {
    Column { title, kind }
}

impl View {
    /// The view's columns, as its rows fill them.
    #[must_use]
    pub fn columns(self) -> Vec<Column> {
        use ColumnKind::{Bytes, Count, Nanos, Rate, Text};
        let io = || [col("IN", Bytes), col("OUT", Bytes)];
        let mut cols = match self {
            View::Containers => vec![
                col("ID", Text),
                col("NAME", Text),
                col("IMAGE", Text),
                col("SYSCALLS/S", Rate),
            ],
            View::Pods => vec![
                col("NAMESPACE", Text),
                col("POD", Text),
                col("SYSCALLS/S", Rate),
            ],
            View::Namespaces => vec![col("NAMESPACE", Text), col("SYSCALLS/S", Rate)],
            View::Nodes => vec![col(super::table::NODE, Text), col("SYSCALLS/S", Rate)],
            View::Processes => vec![
                col("PID", Count),
                col("NAME", Text),
                col("CONTAINER", Text),
                col("SYSCALLS/S", Rate),
            ],
            View::Threads => vec![
                col("TID", Count),
                col("PID", Count),
                col("NAME", Text),
                col("CONTAINER", Text),
                col("SYSCALLS/S", Rate),
            ],
            View::Files => vec![
                col("FILE", Text),
                col("CONTAINER", Text),
                col("BYTES", Bytes),
                col("READ", Bytes),
                col("WRITTEN", Bytes),
                col("OPENS", Count),
                col("ERRORS", Count),
            ],
            View::Connections => vec![
                col("CONNECTION", Text),
                col("PROTO", Text),
                col("PROCESS", Text),
                col("CONTAINER", Text),
                col("BYTES", Bytes),
            ],
            View::Syscalls => vec![
                col("SYSCALL", Text),
                col("COUNT", Count),
                col("CALLS/S", Rate),
                col("ERRORS", Count),
                col("P50", Nanos),
                col("P99", Nanos),
            ],
            View::Errors => vec![
                col("SYSCALL", Text),
                col("ERROR", Text),
                col("PROCESS", Text),
                col("COUNT", Count),
            ],
            View::Converge => vec![
                col("RESOURCE", Text),
                col("DAEMON", Text),
                col("CHECKS", Count),
                col("DRIFTS", Count),
                col("CONVERGES", Count),
                col("TTC P50", Nanos),
                col("TTC MAX", Nanos),
                col("FLAPS", Count),
                col("LAST CAUSE", Text),
            ],
            View::Events => vec![col("EVENT", Text)],
        };
        match self {
            View::Containers => {
                cols.extend(io());
                cols.extend([col("NET", Bytes), col("ERRORS", Count)]);
            }
            View::Nodes | View::Pods | View::Namespaces | View::Processes | View::Threads => {
                cols.extend(io());
                cols.push(col("ERRORS", Count));
            }
            View::Connections => cols.extend(io()),
            _ => {}
        }
        cols
    }

    /// The column rows are ranked by by default (`sdtrace top`'s order;
    /// the live view's until the user sorts by another).
    #[must_use]
    pub fn main_column(self) -> usize {
        match self {
            View::Containers | View::Processes => 3,
            View::Pods | View::Files => 2,
            View::Nodes | View::Namespaces | View::Syscalls => 1,
            View::Threads | View::Connections => 4,
            View::Errors => 3,
            View::Converge => 4,
            View::Events => 0,
        }
    }
}

/// A row's numbers, after its labels, in its view's column order; `rate`:
/// its syscalls per second.
pub(super) fn numbers(view: View, c: &Counts, rate: f64) -> Vec<Cell> {
    let io = [Cell::Bytes(c.bytes_in), Cell::Bytes(c.bytes_out)];
    let quantile = |q| {
        c.latency
            .as_ref()
            .and_then(|h| h.quantile(q))
            .map_or(Cell::Empty, Cell::Nanos)
    };
    match view {
        View::Containers => {
            let mut v = vec![Cell::Rate(rate)];
            v.extend(io);
            v.extend([Cell::Bytes(c.net_bytes), Cell::Count(c.errors)]);
            v
        }
        View::Nodes | View::Pods | View::Namespaces | View::Processes | View::Threads => {
            let mut v = vec![Cell::Rate(rate)];
            v.extend(io);
            v.push(Cell::Count(c.errors));
            v
        }
        View::Files => vec![
            Cell::Bytes(c.bytes_in + c.bytes_out),
            Cell::Bytes(c.bytes_in),
            Cell::Bytes(c.bytes_out),
            Cell::Count(c.opens),
            Cell::Count(c.errors),
        ],
        View::Connections => {
            let mut v = vec![Cell::Bytes(c.bytes_in + c.bytes_out)];
            v.extend(io);
            v
        }
        View::Syscalls => vec![
            Cell::Count(c.events),
            Cell::Rate(rate),
            Cell::Count(c.errors),
            quantile(0.5),
            quantile(0.99),
        ],
        View::Errors => vec![Cell::Count(c.events)],
        View::Converge | View::Events => Vec::new(),
    }
}
