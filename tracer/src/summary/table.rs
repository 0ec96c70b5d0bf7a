//! The tables the live view and `sdtrace top` show: a view's columns and
//! rows, and how a row narrows the next view. Both the aggregation (which
//! fills them from events) and the UI (which draws, sorts and drills into
//! them) speak only this.

pub use crate::view::View;

impl View {
    /// Where Enter on a row goes, narrowed to that row.
    #[must_use]
    pub fn drill_down(self) -> View {
        match self {
            View::Nodes => View::Containers,
            View::Namespaces => View::Pods,
            View::Pods => View::Containers,
            View::Containers => View::Processes,
            View::Processes | View::Syscalls | View::Errors => View::Files,
            View::Threads | View::Files | View::Connections | View::Converge | View::Events => {
                View::Events
            }
        }
    }
}

/// How a column's values are shown and compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    Text,
    Count,
    /// Bytes, shown as 1.2K, 3.4M.
    Bytes,
    /// Per second over the sliding window.
    Rate,
    /// A duration in nanoseconds, shown as µs/ms/s.
    Nanos,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub title: &'static str,
    pub kind: ColumnKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Text(String),
    Count(u64),
    Bytes(u64),
    Rate(f64),
    Nanos(u64),
    /// No value (e.g. a host process's container).
    Empty,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub cells: Vec<Cell>,
    /// The filter clause (sdtrace's filter language) that narrows the next
    /// view to this row, as in `container.id="3f2a9c1b7d4e"` or
    /// `fd.name="/var/log/x"`; `None` when the row cannot be drilled into.
    pub narrow: Option<String>,
}

/// A view's table at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub view: View,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
}

/// The title of the column that says which node a row is on.
pub const NODE: &str = "NODE";

impl Table {
    /// The column rows are ranked by by default: the view's, past the
    /// node column when the events come from several nodes.
    #[must_use]
    pub fn main_column(&self) -> usize {
        let node_first =
            self.view != View::Nodes && self.columns.first().is_some_and(|c| c.title == NODE);
        self.view.main_column() + usize::from(node_first)
    }
}

/// What the header line shows besides the table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Totals {
    /// Events per second over the sliding window.
    pub event_rate: f64,
    /// Events the kernel side dropped since the start (highlighted when
    /// not zero).
    pub drops: u64,
    pub events: u64,
}

/// What the aggregation hands the UI at each refresh: the current view's
/// table (rows in no particular order: the UI sorts), the raw events of the
/// events view (newest last, bounded), and the totals.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub table: Table,
    pub events: Vec<String>,
    pub totals: Totals,
}
