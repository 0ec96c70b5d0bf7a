//! `-r`: reads back a capture sdtrace wrote, or one libscap wrote (sysdig,
//! Falco). Plain or gzip-compressed files are both accepted (sysdig's `-z`
//! output is gzip too).
//!
//! In sdtrace's own files the standard scap blocks are skipped: sdtrace's
//! blocks hold the exact records and state. A file without them is read
//! from its standard blocks ([`super::libscap`]). A file that stops making
//! sense is read up to its last good block; the error then says what is
//! wrong and at which offset.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use super::block::*;
use super::event;
use super::libscap::{self, tables::FileTables, Libscap};
use super::sidecar::{self, Items};
use super::writer::{CaptureInfo, StartState};
use crate::event::clock::Clock;
use crate::journal::{Answer, Journal};
use crate::state::Process;
use tracer_common::arch::Arch;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error("cannot open: {0}")]
    Open(#[source] io::Error),
    #[error("corrupt sdtrace block at offset {offset}: {source}")]
    Json {
        offset: u64,
        #[source]
        source: serde_json::Error,
    },
    #[error("corrupt capture: an sdtrace block at offset {0} without the header before it")]
    Orphan(u64),
    #[error("the capture ends before its first event")]
    Empty,
    #[error("corrupt {what} block at offset {offset}: {source}")]
    Table {
        offset: u64,
        what: &'static str,
        #[source]
        source: libscap::tables::TableError,
    },
    #[error("corrupt event block at offset {0}: {1}")]
    LibscapEvent(u64, #[source] libscap::event::EventError),
    #[error(
        "unsupported capture: section header version {major}.{minor} at offset {offset} \
         (libscap's format 1.x is read)"
    )]
    Version { offset: u64, major: u16, minor: u16 },
    #[error("unsupported capture: block type {ty:#x} at offset {offset} among the events")]
    UnknownBlock { offset: u64, ty: u32 },
    #[error("corrupt event block at offset {0}: its parameters overrun it")]
    Event(u64),
    #[error("unknown sdtrace item kind {1} in the event at offset {0}")]
    Item(u64, u8),
    #[error("the capture ends inside an sdtrace item ({0} bytes of it present)")]
    Unfinished(usize),
}

/// One record of the capture, as the kernel wrote it.
pub struct Item<'a> {
    pub bytes: &'a [u8],
    /// An event the capture shows; otherwise a record kept only so the
    /// state stays current (the capture was filtered).
    pub shown: bool,
    /// Internal events read since the previous record: sysdig numbers them.
    pub internal_events: u64,
    /// The number of the record's first event, where the file says it
    /// (libscap's captures interleave threads' enter and exit events).
    pub first_event: Option<u64>,
}

/// Who wrote the file, and what reading it needs.
enum Format {
    Sdtrace {
        items: Items,
        /// Offset of the event block the current items came from.
        item_offset: u64,
        /// Events read that only carry sdtrace's data, since last taken.
        internal_events: u64,
    },
    Libscap(Box<Libscap>),
}

pub struct ScapReader {
    blocks: BlockReader<Box<dyn Read>>,
    pub info: CaptureInfo,
    /// The process table the file starts from; taken once.
    pub start: Vec<Process>,
    /// Records read so far.
    pub records: u64,
    format: Format,
}

impl ScapReader {
    /// Opens `path` and reads its header blocks.
    ///
    /// # Errors
    /// When the file cannot be opened or its header is not sdtrace's.
    pub fn open(path: &Path) -> Result<Self, ReadError> {
        let file = File::open(path).map_err(ReadError::Open)?;
        Self::from_reader(BufReader::with_capacity(1 << 16, file))
    }

    /// Reads a capture from any byte stream (a file, or a fuzzer's input).
    ///
    /// # Errors
    /// When the stream's header is not sdtrace's.
    pub fn from_reader(mut input: impl io::BufRead + 'static) -> Result<Self, ReadError> {
        let gzip = input
            .fill_buf()
            .map_err(ReadError::Open)?
            .starts_with(&[0x1f, 0x8b]);
        let input: Box<dyn Read> = if gzip {
            Box::new(MultiGzDecoder::new(input))
        } else {
            Box::new(input)
        };
        let mut blocks = BlockReader::new(input);
        let mut info = None;
        // Read until an sdtrace header comes: libscap's files start from them.
        let mut tables = FileTables::default();
        let mut table_error = None;
        loop {
            let Some(b) = blocks.next_block()? else {
                return Err(ReadError::Empty);
            };
            let offset = b.offset;
            let parse_err = |source| ReadError::Json { offset, source };
            // Block padding follows the JSON.
            let json = trim_padding(b.body);
            match (b.ty, &info) {
                (SDTRACE_HEADER, _) => {
                    info = Some(serde_json::from_slice::<CaptureInfo>(json).map_err(parse_err)?);
                }
                (SDTRACE_STATE, Some(_)) => {
                    let state: StartState = serde_json::from_slice(json).map_err(parse_err)?;
                    return Ok(Self {
                        blocks,
                        info: info.expect("matched Some"),
                        start: state.processes,
                        records: 0,
                        format: Format::Sdtrace {
                            items: Items::default(),
                            item_offset: 0,
                            internal_events: 0,
                        },
                    });
                }
                (SDTRACE_STATE, None) => return Err(ReadError::Orphan(offset)),
                (ty, None) if libscap::event::is_event_block(ty) => {
                    if let Some(e) = table_error {
                        return Err(e);
                    }
                    let ev = libscap::event::parse(ty, b.body)
                        .map_err(|e| ReadError::LibscapEvent(offset, e))?;
                    let (mut reader, start) = Libscap::start(&tables);
                    reader.event(&ev);
                    let epoch_s = (ev.ts / 1_000_000_000) as i64;
                    // libscap's times are since the epoch: records keep them so.
                    let clock = Clock::fixed(0, crate::sys::host::utc_offset_s(epoch_s));
                    let info = CaptureInfo {
                        sdtrace: String::new(),
                        // libscap's files do not say; its event types
                        // are the same on every architecture.
                        arch: Arch::X86_64,
                        clock,
                        passwd: std::mem::take(&mut tables.passwd),
                        group: std::mem::take(&mut tables.group),
                    };
                    return Ok(Self {
                        blocks,
                        info,
                        start,
                        records: 0,
                        format: Format::Libscap(Box::new(reader)),
                    });
                }
                (EVENT_V2, Some(_)) => return Err(ReadError::Orphan(offset)),
                (SECTION_HEADER, _) => section_version(offset, b.body)?,
                // sdtrace's own state follows its header.
                (_, Some(_)) => {}
                (ty, None) => {
                    if let Err(source) = tables.add(ty, b.body) {
                        table_error.get_or_insert(ReadError::Table {
                            offset,
                            what: source.what,
                            source,
                        });
                    }
                }
            }
        }
    }

    /// Events of kinds sdtrace does not decode that the file held, by name.
    pub fn undecoded(&self) -> Vec<(&'static str, u64)> {
        match &self.format {
            Format::Libscap(l) => l.skipped().collect(),
            Format::Sdtrace { .. } => Vec::new(),
        }
    }

    /// The next record; the answers met on the way go to `journal`.
    ///
    /// # Errors
    /// At the first block that is truncated or corrupt.
    pub fn next_item(&mut self, journal: &Journal) -> Result<Option<Item<'_>>, ReadError> {
        if matches!(self.format, Format::Libscap(_)) {
            return self.next_libscap(journal);
        }
        let Format::Sdtrace {
            items,
            item_offset,
            internal_events,
        } = &mut self.format
        else {
            unreachable!("matched above");
        };
        let kind = loop {
            if let Some((kind, body)) = items.next_item() {
                match kind {
                    sidecar::ANSWERS => {
                        let answers: Vec<Answer> =
                            serde_json::from_slice(body).map_err(|source| ReadError::Json {
                                offset: *item_offset,
                                source,
                            })?;
                        journal.replay(answers);
                        continue;
                    }
                    sidecar::SHOWN | sidecar::CONTEXT => break kind,
                    other => return Err(ReadError::Item(*item_offset, other)),
                }
            }
            let Some(b) = self.blocks.next_block()? else {
                return match items.incomplete() {
                    0 => Ok(None),
                    n => Err(ReadError::Unfinished(n)),
                };
            };
            if b.ty == EVENT_V2 {
                *item_offset = b.offset;
                if event_code(b.body) == Some(event::CARRIER) {
                    *internal_events += 1;
                }
                let extra = extra_params(b.body).ok_or(ReadError::Event(b.offset))?;
                for chunk in extra {
                    items.feed(chunk);
                }
            }
        };
        self.records += 1;
        let internal_events = std::mem::take(internal_events);
        let (_, bytes) = items.last().expect("just read");
        Ok(Some(Item {
            bytes,
            shown: kind == sidecar::SHOWN,
            internal_events,
            first_event: None,
        }))
    }

    fn next_libscap(&mut self, journal: &Journal) -> Result<Option<Item<'_>>, ReadError> {
        let Format::Libscap(lib) = &mut self.format else {
            unreachable!("called for libscap files");
        };
        while !lib.has_ready() {
            let Some(b) = self.blocks.next_block()? else {
                return Ok(None);
            };
            match b.ty {
                ty if libscap::event::is_event_block(ty) => {
                    let ev = libscap::event::parse(ty, b.body)
                        .map_err(|e| ReadError::LibscapEvent(b.offset, e))?;
                    lib.event(&ev);
                }
                // Concatenated captures: a new section, whose state blocks
                // the tables already built from the events before it.
                SECTION_HEADER => section_version(b.offset, b.body)?,
                ty if FileTables::knows(ty) => {}
                ty => {
                    return Err(ReadError::UnknownBlock {
                        offset: b.offset,
                        ty,
                    })
                }
            }
        }
        let next = lib.next_record().expect("ready");
        journal.replay(next.answers);
        self.records += 1;
        Ok(Some(Item {
            bytes: next.bytes,
            shown: true,
            internal_events: 0,
            first_event: next.first_event,
        }))
    }
}

/// Refuses a section of a format newer than libscap's 1.x.
fn section_version(offset: u64, body: &[u8]) -> Result<(), ReadError> {
    let u16_at = |at: usize| {
        body.get(at..at + 2)
            .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]))
    };
    let (major, minor) = (u16_at(4), u16_at(6));
    if major > 1 {
        return Err(ReadError::Version {
            offset,
            major,
            minor,
        });
    }
    Ok(())
}

fn trim_padding(body: &[u8]) -> &[u8] {
    let end = body.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &body[..end]
}

// An event block body: cpu u16, ts u64, tid u64, len u32, type u16,
// nparams u32, then a u16 length per parameter, then the parameters.
fn event_code(body: &[u8]) -> Option<u16> {
    Some(u16::from_le_bytes(body.get(22..24)?.try_into().ok()?))
}

/// The parameters of an event block past its table layout.
fn extra_params(body: &[u8]) -> Option<Vec<&[u8]>> {
    let code = event_code(body)?;
    let nparams = u32::from_le_bytes(body.get(24..28)?.try_into().ok()?) as usize;
    let known = event::info(code)?.params.len();
    let lens = body.get(28..28 + 2 * nparams)?;
    let mut at = 28 + 2 * nparams;
    let mut extra = Vec::new();
    for (i, len) in lens.chunks_exact(2).enumerate() {
        let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
        let param = body.get(at..at + len)?;
        at += len;
        if i >= known {
            extra.push(param);
        }
    }
    Some(extra)
}
