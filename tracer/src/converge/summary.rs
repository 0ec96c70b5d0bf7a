//! The summary table: per resource and daemon, how many checks, drifts and
//! converges, the times to converge, and the last cause.

use std::collections::{BTreeMap, HashMap};

use super::model::{Cause, Kind};

/// One row of the summary table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    pub checks: u64,
    pub drifts: u64,
    pub converges: u64,
    pub ttc_ns: Vec<u64>,
    pub last_cause: Option<String>,
    pub flaps: u64,
}

/// One line of the summary: a resource, the daemon it belongs to, and its
/// counts.
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryRow {
    pub resource: String,
    pub daemon: String,
    pub counts: Row,
}

impl SummaryRow {
    /// The path, when the resource is a file.
    #[must_use]
    pub fn file(&self) -> Option<&str> {
        self.resource.strip_prefix("file:")
    }
}

/// The rows by (resource, daemon).
#[derive(Default)]
pub(super) struct Summary {
    rows: BTreeMap<(String, String), Row>,
}

impl Summary {
    /// Counts one derived event of `kind` on `resource`, of `daemon`.
    pub(super) fn count(
        &mut self,
        resource: String,
        daemon: String,
        kind: Kind,
        cause: Option<&Cause>,
        ttc_ns: Option<u64>,
    ) {
        let row = self.rows.entry((resource, daemon)).or_default();
        match kind {
            Kind::Check => row.checks += 1,
            Kind::Drift => row.drifts += 1,
            Kind::Converge => row.converges += 1,
            _ => {}
        }
        if let Some(c) = cause {
            row.last_cause = Some(c.describe());
        }
        if let Some(t) = ttc_ns {
            row.ttc_ns.push(t);
        }
    }

    /// The rows in resource order, each with its resource's flaps.
    pub(super) fn rows(&self, flaps: &HashMap<String, u64>) -> Vec<SummaryRow> {
        self.rows
            .iter()
            .map(|((r, d), row)| {
                let mut counts = row.clone();
                counts.flaps = flaps.get(r).copied().unwrap_or(0);
                SummaryRow {
                    resource: r.clone(),
                    daemon: d.clone(),
                    counts,
                }
            })
            .collect()
    }
}
