//! The converge view's rows: `sdtrace converge`'s summary (per resource and
//! daemon) in the live view's cells.

use crate::converge::engine::SummaryRow;
use crate::converge::render::ttc_stats;
use crate::filter::clause;

use super::table::{Cell, Row};

/// A row per resource and daemon; a file's row narrows to its events.
pub(super) fn rows(summary: Vec<SummaryRow>) -> Vec<Row> {
    summary
        .into_iter()
        .map(|line| {
            let narrow = line.file().map(|path| clause::text_is("fd.name", path));
            let SummaryRow {
                resource,
                daemon,
                counts,
            } = line;
            let stats = ttc_stats(&counts);
            let nanos = |v: Option<u64>| v.map_or(Cell::Empty, Cell::Nanos);
            Row {
                cells: vec![
                    Cell::Text(resource),
                    Cell::Text(daemon),
                    Cell::Count(counts.checks),
                    Cell::Count(counts.drifts),
                    Cell::Count(counts.converges),
                    nanos(stats.map(|s| s.0)),
                    nanos(stats.map(|s| s.1)),
                    Cell::Count(counts.flaps),
                    counts.last_cause.map_or(Cell::Empty, Cell::Text),
                ],
                narrow,
            }
        })
        .collect()
}
