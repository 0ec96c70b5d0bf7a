//! Outside changes to resources no daemon was known to manage yet, kept a
//! while: a daemon attached to after it started makes its resources known
//! only when it acts on them, and the change it then puts back was a drift
//! all along.

use std::collections::{HashMap, VecDeque};

use super::operations::Op;
use super::resource::Resource;

/// How far back a daemon's change looks for the outside change it answers.
pub(super) const LOOK_BACK_NS: u64 = 15 * 60 * 1_000_000_000;
/// Resources whose last outside change is kept.
const KEPT: usize = 4096;

#[derive(Default)]
pub(super) struct Lookback {
    /// The last outside change of each resource, not yet a drift.
    last: HashMap<Resource, Op>,
    /// `last`'s resources, oldest change first (a resource changed again
    /// is in it twice; the older entry is stale).
    order: VecDeque<(Resource, u64)>,
}

impl Lookback {
    /// An outside change of a resource nobody manages, ended.
    pub(super) fn keep(&mut self, op: Op) {
        self.order.push_back((op.resource.clone(), op.id));
        self.last.insert(op.resource.clone(), op);
        while self.last.len() > KEPT || self.order.len() > 2 * KEPT {
            let Some((r, id)) = self.order.pop_front() else {
                break;
            };
            if self.last.get(&r).is_some_and(|o| o.id == id) {
                self.last.remove(&r);
            }
        }
    }

    /// The outside change of `r` a daemon changing it at `now` answers:
    /// the last one, if it is recent enough.
    pub(super) fn take(&mut self, r: &Resource, now: u64) -> Option<Op> {
        let op = self.last.remove(r)?;
        (op.last_ns + LOOK_BACK_NS >= now).then_some(op)
    }
}
