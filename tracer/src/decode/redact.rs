//! A record without the data processes read and wrote: what a client that
//! may not see I/O buffers gets (an agent's `buffers.sdtrace.io` refused).
//! The buffer items stay, empty, so the event still says a read happened
//! and how much it returned; addresses, paths and tuples stay whole.

use tracer_common::{CaptureKind, EventHeader, ItemHeader, RecordKind, SyscallArgs};

use super::{read, SyscallEvent};

/// Whether an item of `kind` holds bytes a process read or wrote.
#[must_use]
pub fn is_io_data(kind: CaptureKind) -> bool {
    matches!(
        kind,
        CaptureKind::BufferRet
            | CaptureKind::BufferArg
            | CaptureKind::IovecRet
            | CaptureKind::MsghdrRet
    )
}

impl SyscallEvent<'_> {
    /// The same event with its I/O data items emptied.
    #[must_use]
    pub fn without_io_data(&self) -> Self {
        let mut out = self.clone();
        for item in out.items.iter_mut().flatten() {
            if is_io_data(item.kind) {
                item.data = &[];
            }
        }
        out
    }
}

/// `raw` (one record as the kernel wrote it) with its I/O data items
/// emptied and its length fixed; `None` when it holds none, or is not a
/// record this can read (it is then sent as the decoder would find it:
/// not at all, see the caller).
#[must_use]
pub fn raw_without_io_data(raw: &[u8]) -> Option<Vec<u8>> {
    let hdr: EventHeader = read(raw, 0).ok()?;
    if RecordKind::try_from(hdr.kind) != Ok(RecordKind::Syscall) {
        return None;
    }
    let raw = raw.get(..hdr.len as usize)?;
    let mut off = size_of::<EventHeader>() + size_of::<SyscallArgs>();
    let mut out = raw.get(..off)?.to_vec();
    let mut emptied = false;
    while off + size_of::<ItemHeader>() <= raw.len() {
        let item: ItemHeader = read(raw, off).ok()?;
        let data = raw
            .get(off + size_of::<ItemHeader>()..)?
            .get(..item.len as usize)?;
        off += size_of::<ItemHeader>() + data.len();
        let kind = CaptureKind::try_from(item.kind).ok()?;
        let kept = if is_io_data(kind) {
            emptied |= !data.is_empty();
            &[][..]
        } else {
            data
        };
        out.extend_from_slice(&(kept.len() as u16).to_le_bytes());
        out.extend_from_slice(&[item.slot, item.kind]);
        out.extend_from_slice(kept);
    }
    if !emptied {
        return None;
    }
    let len = u32::try_from(out.len()).ok()?;
    let at = std::mem::offset_of!(EventHeader, len);
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::tests::syscall_record;
    use crate::decode::{decode, Body};

    fn items(bytes: &[u8]) -> Vec<(u8, CaptureKind, Vec<u8>)> {
        let Body::Syscall(ev) = decode(bytes).unwrap().body else {
            panic!("a syscall");
        };
        ev.items()
            .map(|i| (i.slot, i.kind, i.data.to_vec()))
            .collect()
    }

    #[test]
    fn io_data_is_emptied_and_the_rest_kept() {
        // recvmsg: an address and data under one slot, then a tuple.
        let raw = syscall_record(
            47,
            5,
            [3, 0x1000, 0, 0, 0, 0],
            &[
                (
                    0,
                    CaptureKind::Sockaddr,
                    b"\x02\x00\x00\x50\x7f\x00\x00\x01",
                ),
                (0, CaptureKind::IovecRet, b"hello"),
                (1, CaptureKind::SockTupleArgFd, b"tuple"),
            ],
        );
        let redacted = raw_without_io_data(&raw).unwrap();
        assert_eq!(
            items(&redacted),
            [
                (
                    0,
                    CaptureKind::Sockaddr,
                    b"\x02\x00\x00\x50\x7f\x00\x00\x01".to_vec()
                ),
                (0, CaptureKind::IovecRet, Vec::new()),
                (1, CaptureKind::SockTupleArgFd, b"tuple".to_vec()),
            ]
        );
        let (before, after) = (decode(&raw).unwrap(), decode(&redacted).unwrap());
        assert_eq!(after.hdr.len as usize, redacted.len());
        assert_eq!(
            (after.hdr.ret, after.hdr.tid),
            (before.hdr.ret, before.hdr.tid)
        );

        let Body::Syscall(ev) = before.body else {
            panic!("a syscall");
        };
        let emptied: Vec<_> = ev.without_io_data().items().map(|i| i.data.len()).collect();
        assert_eq!(emptied, [8, 0, 5]);
    }

    #[test]
    fn records_without_io_data_are_left_as_they_are() {
        let open = syscall_record(257, 3, [0; 6], &[(0, CaptureKind::UserStr, b"/etc/passwd")]);
        assert_eq!(raw_without_io_data(&open), None);
        let empty_read = syscall_record(0, 0, [0; 6], &[(0, CaptureKind::BufferRet, b"")]);
        assert_eq!(raw_without_io_data(&empty_read), None);
        assert_eq!(raw_without_io_data(&open[..10]), None, "too short to read");
    }
}
