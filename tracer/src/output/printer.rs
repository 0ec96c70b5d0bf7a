//! The default mode's sink: every event the filter lets through, printed as
//! sysdig's text line, a `-p` format, or JSON.

use crate::event::clock::Clock;
use crate::event::extract::EventView;
use crate::output::{write_event, Format};
use crate::sink::{Sink, Wants};

pub struct Printer {
    format: Format,
    /// Lines formatted since the pipeline last took them.
    lines: Vec<u8>,
    printed: u64,
}

impl Printer {
    pub fn new(format: Format) -> Self {
        Self {
            format,
            lines: Vec::with_capacity(4096),
            printed: 0,
        }
    }
}

impl Sink for Printer {
    fn observe(&mut self, view: &EventView<'_>, shown: bool) {
        // A -p format without `*` skips events missing one of its fields.
        if shown && write_event(&mut self.lines, &self.format, view) {
            self.printed += 1;
        }
    }

    fn write_ready(&mut self, out: &mut Vec<u8>, _clock: &Clock) -> u64 {
        out.append(&mut self.lines);
        std::mem::take(&mut self.printed)
    }

    /// What the format's fields need, the pipeline reads from the run's
    /// options (a capture file's reader needs it before the sink exists).
    fn wants(&self) -> Wants {
        Wants::NOTHING
    }
}
