//! `--containers`' sink: every event's container counted, whether the filter
//! lets it through or not; the pipeline renders the table at the end, once
//! the runtimes have named them.

use crate::container::{table::Tally, Place};
use crate::fields::extract::EventView;
use crate::sink::{Sink, Wants};

impl Sink for Tally {
    fn observe(&mut self, view: &EventView<'_>, _shown: bool) {
        if let Some(Place::Container(c)) = view.place {
            self.add(c, view.rec.hdr.ts_ns);
        }
    }

    fn wants(&self) -> Wants {
        Wants {
            place: true,
            ..Wants::NOTHING
        }
    }
}
