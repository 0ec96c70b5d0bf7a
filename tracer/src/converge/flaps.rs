//! Who changed each resource last, and resources changing hands back and
//! forth between two writers (flaps).

use std::collections::HashMap;

use super::model::Flap;
use super::resource::Resource;

/// Changes of hands between the same two writers that make a flap.
pub const FLAP_SWITCHES: u64 = 3;

/// The last change of a resource.
pub(super) struct Change {
    pub(super) id: u64,
    pub(super) writer: String,
    /// When its last syscall that changed the resource entered the kernel.
    pub(super) at_ns: u64,
    pub(super) drift: bool,
}

#[derive(Default)]
struct FlapState {
    last_writer: Option<String>,
    /// By the two writers, in name order.
    pairs: HashMap<(String, String), PairState>,
}

#[derive(Default)]
struct PairState {
    switches: u64,
    first_ns: u64,
    last_ns: u64,
    reported: bool,
}

#[derive(Default)]
pub(super) struct Flaps {
    last_change: HashMap<Resource, Change>,
    flaps: HashMap<Resource, FlapState>,
}

impl Flaps {
    /// The last change of `r` by someone other than `writer`, made by
    /// `before_ns`.
    pub(super) fn last_change_by_other(
        &self,
        r: &Resource,
        writer: &str,
        before_ns: u64,
    ) -> Option<&Change> {
        self.last_change
            .get(r)
            .filter(|c| c.writer != writer && c.at_ns <= before_ns)
    }

    /// Records `change` of `r`, ending at `end_ns`; the flap it makes when
    /// it is the change of hands that first makes one.
    pub(super) fn record(&mut self, r: &Resource, change: Change, end_ns: u64) -> Option<Flap> {
        let writer = change.writer.clone();
        self.last_change.insert(r.clone(), change);
        let state = self.flaps.entry(r.clone()).or_default();
        let prev = state.last_writer.replace(writer.clone());
        let prev = prev.filter(|p| *p != writer)?;
        let key = if prev < writer {
            (prev, writer)
        } else {
            (writer, prev)
        };
        let pair = state.pairs.entry(key.clone()).or_default();
        if pair.switches == 0 {
            pair.first_ns = end_ns;
        }
        pair.switches += 1;
        pair.last_ns = end_ns;
        let switches = pair.switches;
        if switches < FLAP_SWITCHES {
            return None;
        }
        if std::mem::replace(&mut pair.reported, true) {
            return None;
        }
        let period_ns = 2 * (pair.last_ns - pair.first_ns) / (switches - 1);
        Some(Flap {
            writers: [key.0, key.1],
            count: switches,
            period_ns,
        })
    }

    /// Each flapping resource's most changes of hands between two writers.
    pub(super) fn counts(&self) -> HashMap<String, u64> {
        self.flaps
            .iter()
            .filter_map(|(r, f)| {
                let n = f.pairs.values().map(|p| p.switches).max()?;
                (n >= FLAP_SWITCHES).then(|| (r.to_string(), n))
            })
            .collect()
    }
}
