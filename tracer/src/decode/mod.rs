//! Raw ring-buffer bytes to typed records. Kernel bytes are copied into plain
//! integer structs with unaligned reads and every tag is converted with
//! `TryFrom`, so a malformed record is an error, never undefined behaviour.

pub mod args;
pub mod flags;
pub mod kpath;
pub mod redact;
pub mod sockaddr;

pub use kpath::kernel_path;

use std::mem::size_of;

use tracer_common::{
    CaptureKind, EventHeader, ExecPayload, ExitPayload, ForkPayload, ItemHeader, RecordKind,
    SyscallArgs,
};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("record of {len} bytes is shorter than its {need}-byte layout")]
    Short { len: usize, need: usize },
    #[error("unknown record kind {0}")]
    Kind(u16),
    #[error("unknown capture kind {0}")]
    Capture(u8),
}

/// One piece of argument memory the kernel copied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Item<'a> {
    /// Index of the capture in the syscall's definition.
    pub slot: u8,
    pub kind: CaptureKind,
    pub data: &'a [u8],
}

/// Items of one record; a syscall has at most 3 captures, and a msghdr
/// capture yields two items.
pub const MAX_ITEMS: usize = 4;

#[derive(Clone, Debug)]
pub struct SyscallEvent<'a> {
    pub args: [u64; 6],
    items: [Option<Item<'a>>; MAX_ITEMS],
}

impl<'a> SyscallEvent<'a> {
    pub fn items(&self) -> impl Iterator<Item = &Item<'a>> {
        self.items.iter().flatten()
    }

    /// The first item produced by capture `slot`.
    pub fn item(&self, slot: u8) -> Option<&Item<'a>> {
        self.items().find(|i| i.slot == slot)
    }

    /// The item of capture `slot` with the given kind.
    pub fn item_of(&self, slot: u8, kind: CaptureKind) -> Option<&Item<'a>> {
        self.items().find(|i| i.slot == slot && i.kind == kind)
    }
}

#[derive(Clone, Debug)]
pub enum Body<'a> {
    Syscall(SyscallEvent<'a>),
    Fork(ForkPayload),
    Exec {
        old_tid: u32,
        exe: &'a [u8],
        args: &'a [u8],
    },
    Exit(ExitPayload),
}

#[derive(Clone, Debug)]
pub struct Record<'a> {
    pub hdr: EventHeader,
    pub body: Body<'a>,
}

fn read<T: Copy>(bytes: &[u8], at: usize) -> Result<T, DecodeError> {
    let need = at + size_of::<T>();
    if bytes.len() < need {
        return Err(DecodeError::Short {
            len: bytes.len(),
            need,
        });
    }
    // SAFETY: bounds checked above; T is a repr(C) struct of integers, valid
    // for any bit pattern, and read_unaligned has no alignment requirement.
    Ok(unsafe { std::ptr::read_unaligned(bytes.as_ptr().add(at).cast::<T>()) })
}

fn slice(bytes: &[u8], at: usize, len: usize) -> Result<&[u8], DecodeError> {
    bytes.get(at..at + len).ok_or(DecodeError::Short {
        len: bytes.len(),
        need: at + len,
    })
}

/// The record starting at `off` in a ring-buffer item and the offset of the
/// next one. The kernel writes fixed-size records in per-CPU batches, each
/// record whole and 8-byte aligned, its length in its header.
pub fn record_at(item: &[u8], off: usize) -> Result<(&[u8], usize), DecodeError> {
    let rest = item.get(off..).unwrap_or_default();
    let hdr: EventHeader = read(rest, 0)?;
    let len = hdr.len as usize;
    if len < size_of::<EventHeader>() || len > rest.len() {
        return Err(DecodeError::Short {
            len: rest.len(),
            need: len.max(size_of::<EventHeader>()),
        });
    }
    Ok((&rest[..len], off + len.next_multiple_of(8)))
}

/// The records in one ring-buffer item (a record or a batch); a malformed
/// length ends the item with an error.
pub fn records(item: &[u8]) -> impl Iterator<Item = Result<&[u8], DecodeError>> {
    let mut off = 0usize;
    std::iter::from_fn(move || {
        if off >= item.len() {
            return None;
        }
        match record_at(item, off) {
            Ok((rec, next)) => {
                off = next;
                Some(Ok(rec))
            }
            Err(e) => {
                off = item.len();
                Some(Err(e))
            }
        }
    })
}

/// A record's header alone, for a look at whose it is.
pub fn header(bytes: &[u8]) -> Result<EventHeader, DecodeError> {
    read(bytes, 0)
}

/// Decodes one ring-buffer record.
pub fn decode(bytes: &[u8]) -> Result<Record<'_>, DecodeError> {
    let hdr = header(bytes)?;
    // The header's own length bounds the record (the ring pads to 8 bytes).
    let bytes = bytes.get(..hdr.len as usize).unwrap_or(bytes);
    let kind = RecordKind::try_from(hdr.kind).map_err(DecodeError::Kind)?;
    let at = size_of::<EventHeader>();
    let body = match kind {
        RecordKind::Syscall => {
            let args: SyscallArgs = read(bytes, at)?;
            let mut items = [None; MAX_ITEMS];
            let mut off = at + size_of::<SyscallArgs>();
            let mut n = 0;
            while off + size_of::<ItemHeader>() <= bytes.len() && n < MAX_ITEMS {
                let ih: ItemHeader = read(bytes, off)?;
                off += size_of::<ItemHeader>();
                let data = slice(bytes, off, ih.len as usize)?;
                off += ih.len as usize;
                let kind = CaptureKind::try_from(ih.kind).map_err(DecodeError::Capture)?;
                items[n] = Some(Item {
                    slot: ih.slot,
                    kind,
                    data,
                });
                n += 1;
            }
            Body::Syscall(SyscallEvent {
                args: args.args,
                items,
            })
        }
        RecordKind::ProcFork => Body::Fork(read(bytes, at)?),
        RecordKind::ProcExec => {
            let p: ExecPayload = read(bytes, at)?;
            let off = at + size_of::<ExecPayload>();
            let exe = slice(bytes, off, p.exe_len as usize)?;
            let args = slice(bytes, off + p.exe_len as usize, p.args_len as usize)?;
            Body::Exec {
                old_tid: p.old_tid,
                exe,
                args,
            }
        }
        RecordKind::ProcExit => Body::Exit(read(bytes, at)?),
    };
    Ok(Record { hdr, body })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use tracer_common::SyscallRecord;

    fn bytes_of<T>(v: &T) -> &[u8] {
        // SAFETY: test-only view of a repr(C) value as bytes.
        unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }
    }

    /// Builds a syscall record like the kernel does: header, args, items.
    pub(crate) fn syscall_record(
        nr: u16,
        ret: i64,
        args: [u64; 6],
        items: &[(u8, CaptureKind, &[u8])],
    ) -> Vec<u8> {
        let mut rec = SyscallRecord::default();
        rec.hdr.kind = RecordKind::Syscall as u16;
        rec.hdr.nr = nr;
        rec.hdr.ret = ret;
        rec.hdr.tgid = 42;
        rec.hdr.tid = 43;
        rec.hdr.comm[..3].copy_from_slice(b"cat");
        rec.args.args = args;
        let mut out = bytes_of(&rec).to_vec();
        for (slot, kind, data) in items {
            let ih = ItemHeader {
                len: data.len() as u16,
                slot: *slot,
                kind: *kind as u8,
            };
            out.extend_from_slice(bytes_of(&ih));
            out.extend_from_slice(data);
        }
        let len = out.len() as u32;
        out[68..72].copy_from_slice(&len.to_le_bytes());
        // The ring pads records to 8 bytes.
        while out.len() % 8 != 0 {
            out.push(0xee);
        }
        out
    }

    #[test]
    fn decodes_syscall_with_items() {
        let bytes = syscall_record(
            257,
            3,
            [0xffff_ff9c, 0x1000, 0, 0, 0, 0],
            &[(0, CaptureKind::UserStr, b"/etc/passwd")],
        );
        let rec = decode(&bytes).unwrap();
        assert_eq!(rec.hdr.nr, 257);
        assert_eq!(rec.hdr.tgid, 42);
        let Body::Syscall(ev) = rec.body else {
            panic!("not a syscall")
        };
        assert_eq!(ev.args[1], 0x1000);
        let item = ev.item(0).unwrap();
        assert_eq!(item.kind, CaptureKind::UserStr);
        assert_eq!(item.data, b"/etc/passwd");
        assert_eq!(ev.items().count(), 1, "padding is not an item");
    }

    #[test]
    fn rejects_bad_kinds_and_truncation() {
        let mut bytes = syscall_record(0, 0, [0; 6], &[]);
        bytes[72] = 99;
        assert_eq!(decode(&bytes).unwrap_err(), DecodeError::Kind(99));
        let bytes = syscall_record(0, 0, [0; 6], &[(0, CaptureKind::UserStr, b"abc")]);
        assert!(matches!(
            decode(&bytes[..100]),
            Err(DecodeError::Short { .. })
        ));
        let mut bytes = syscall_record(0, 0, [0; 6], &[(0, CaptureKind::UserStr, b"abc")]);
        bytes[144 + 3] = 200;
        assert_eq!(decode(&bytes).unwrap_err(), DecodeError::Capture(200));
    }

    #[test]
    fn splits_a_batch_into_its_records() {
        let mut item = syscall_record(39, 1, [0; 6], &[]);
        item.extend(syscall_record(
            257,
            3,
            [0; 6],
            &[(0, CaptureKind::UserStr, b"/x")],
        ));
        let nrs: Vec<u16> = records(&item)
            .map(|r| decode(r.unwrap()).unwrap().hdr.nr)
            .collect();
        assert_eq!(nrs, [39, 257]);
        let single = syscall_record(39, 1, [0; 6], &[]);
        assert_eq!(records(&single).count(), 1);
        let mut bad = single.clone();
        bad[68..72].copy_from_slice(&4000u32.to_le_bytes());
        assert!(records(&bad).next().unwrap().is_err());
    }

    #[test]
    fn never_panics_on_garbage() {
        let mut seed = 0x1234_5678u64;
        for len in 0..400 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            let _ = decode(&bytes);
            let _ = records(&bytes).count();
        }
    }
}
