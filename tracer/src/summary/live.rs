//! The live view's side of the capture loop: an [`Aggregator`] that takes
//! its orders from the UI over the [`link`](super::link) and publishes a
//! snapshot a few times a second, never waiting on the UI.

use crate::event::extract::EventView;
use crate::filter::Filter;
use crate::sink::{LoopStats, Sink};

use super::aggregate::Aggregator;
use super::link::{Command, LoopEnd};
use super::table::{Snapshot, View};

/// Kernel time between snapshots.
pub const PUBLISH_EVERY_NS: u64 = 250_000_000;

pub struct LiveAggregator {
    agg: Aggregator,
    link: LoopEnd,
    paused: bool,
    /// Kernel time of the last snapshot.
    published: u64,
    /// The UI has gone: the run is over.
    gone: bool,
    /// The kernel side's drops, as the capture loop last told them.
    drops: u64,
}

impl LiveAggregator {
    /// Starts on `view` of the events matching `filter` (the UI's first
    /// screen); the UI changes both with [`Command::Show`].
    #[must_use]
    pub fn new(link: LoopEnd, view: View, filter: Option<Filter>) -> Self {
        Self {
            agg: Aggregator::new(view, filter),
            link,
            paused: false,
            published: 0,
            gone: false,
            drops: 0,
        }
    }

    /// The aggregation behind it (for tests and statistics).
    #[must_use]
    pub fn aggregator(&self) -> &Aggregator {
        &self.agg
    }

    fn snapshot(&self) -> Snapshot {
        let mut s = self.agg.snapshot();
        s.totals.drops = self.drops;
        s
    }

    /// Applies what the UI asked since the last call.
    fn obey(&mut self) {
        loop {
            match self.link.poll() {
                Ok(Some(Command::Show { view, filter })) => {
                    // The UI checked the text; one that fails here anyway
                    // leaves the view as it was rather than show unfiltered numbers.
                    match filter.as_deref().map(Filter::parse).transpose() {
                        Ok(filter) => {
                            self.agg.show(view, filter);
                            // The new view is shown at once, empty.
                            self.published = 0;
                        }
                        Err(e) => log::warn!("ui: view {view} not shown: {e}"),
                    }
                }
                Ok(Some(Command::Pause(paused))) => self.paused = paused,
                Ok(None) => return,
                Err(()) => {
                    self.gone = true;
                    return;
                }
            }
        }
    }

    /// Publishes a snapshot when one is due at kernel time `now`.
    fn publish_due(&mut self, now: u64) {
        if self.paused || now < self.published.saturating_add(PUBLISH_EVERY_NS) {
            return;
        }
        self.published = now;
        self.link.publish(self.snapshot());
    }
}

impl Sink for LiveAggregator {
    fn observe(&mut self, view: &EventView<'_>, shown: bool) {
        self.agg.observe(view, shown);
        // A capture file has no ticks: its own time drives the snapshots.
        let ts = view.rec.hdr.ts_ns;
        if ts >= self.published.saturating_add(PUBLISH_EVERY_NS) {
            self.obey();
            self.publish_due(ts);
        }
    }

    fn tick(&mut self, now: u64) {
        self.agg.advance(now);
        self.obey();
        self.publish_due(now);
    }

    fn finish(&mut self) {
        self.obey();
        if !self.paused && !self.gone {
            self.link.publish(self.snapshot());
        }
    }

    fn done(&mut self) -> bool {
        self.gone
    }

    fn loop_stats(&mut self, stats: &LoopStats) {
        self.drops = stats.drops();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::link::link;

    #[test]
    fn the_kernels_drops_reach_the_snapshot() {
        let (ui, end) = link();
        let mut live = LiveAggregator::new(end, View::Files, None);
        live.loop_stats(&LoopStats {
            drops_per_cpu: vec![3, 4],
            ..LoopStats::default()
        });
        live.finish();
        let snapshot = ui.take().expect("a snapshot at the end");
        assert_eq!(snapshot.totals.drops, 7);
    }
}
