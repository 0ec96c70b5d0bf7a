//! `-w`'s sink: every record into the capture file — the events the filter
//! lets through as scap events, the rest as the context a reader needs to
//! rebuild the same state.

use std::io;
use std::path::PathBuf;

use super::writer::ScapWriter;
use crate::decode::Record;
use crate::event::extract::EventView;
use crate::sink::{Need, Sink, Wants};
use crate::state::ProcessTable;

pub struct CaptureSink {
    writer: ScapWriter,
    /// Events written since the pipeline last counted them.
    written: u64,
}

impl CaptureSink {
    pub fn new(writer: ScapWriter) -> Self {
        Self { writer, written: 0 }
    }

    /// The file being written (the last one, when rotating).
    pub fn current_path(&self) -> PathBuf {
        self.writer.current_path()
    }

    /// Writes what is buffered and closes the file.
    pub fn finish(self) -> io::Result<()> {
        self.writer.finish()
    }
}

impl Sink for CaptureSink {
    fn observe(&mut self, _view: &EventView<'_>, shown: bool) {
        self.written += u64::from(shown);
    }

    fn before_record(&mut self, rec: &Record<'_>, procs: &ProcessTable) -> io::Result<()> {
        self.writer.before_record(rec.hdr.ts_ns, procs)
    }

    fn record(
        &mut self,
        raw: &[u8],
        rec: &Record<'_>,
        procs: &ProcessTable,
        shown: bool,
    ) -> io::Result<()> {
        self.writer.record(raw, rec, procs, shown)
    }

    fn write_ready(&mut self, _out: &mut Vec<u8>, _clock: &crate::event::clock::Clock) -> u64 {
        std::mem::take(&mut self.written)
    }

    /// Every container and pod answer is asked for, so the file's reader
    /// can filter on them; none is waited for (the writing is not shown).
    fn wants(&self) -> Wants {
        Wants {
            place: true,
            meta: Need::Lookup,
            pod: Need::Lookup,
        }
    }
}
