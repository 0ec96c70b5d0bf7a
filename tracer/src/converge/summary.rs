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

    /// (resource, daemon, row) in resource order, each row with its
    /// resource's flaps.
    pub(super) fn rows(&self, flaps: &HashMap<String, u64>) -> Vec<(String, String, Row)> {
        self.rows
            .iter()
            .map(|((r, d), row)| {
                let mut row = row.clone();
                row.flaps = flaps.get(r).copied().unwrap_or(0);
                (r.clone(), d.clone(), row)
            })
            .collect()
    }
}
