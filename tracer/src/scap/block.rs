//! The pcapng-style framing of a scap file: every block is
//! `type u32, total length u32, body, padding to 4, total length u32`.
//! Writing builds a block in memory and patches its length; reading checks
//! both lengths and says at which offset a file stops making sense.

use std::io::{self, Read};

/// Section header; its body starts with [`BYTE_ORDER_MAGIC`].
pub const SECTION_HEADER: u32 = 0x0A0D_0D0A;
pub const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
pub const MACHINE_INFO: u32 = 0x201;
pub const PROCESS_LIST_V9: u32 = 0x215;
pub const FD_LIST_V2: u32 = 0x218;
pub const USER_LIST_V2: u32 = 0x220;
pub const EVENT_V2: u32 = 0x216;

/// sdtrace's own blocks, which other readers skip before the first event:
/// the capture's clock and user database, and the process table a file
/// starts from.
pub const SDTRACE_HEADER: u32 = 0x5D7D_0001;
pub const SDTRACE_STATE: u32 = 0x5D7D_0005;

/// No block sdtrace writes comes near this; a larger length is corruption.
const MAX_BLOCK: u32 = 64 << 20;

/// Appends one block whose body `body` writes.
pub fn write(out: &mut Vec<u8>, ty: u32, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&ty.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    body(out);
    out.resize(out.len().next_multiple_of(4), 0);
    let total = u32::try_from(out.len() - start + 4).expect("blocks stay far below 4 GiB");
    out.extend_from_slice(&total.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&total.to_le_bytes());
}

/// What is wrong with a file, and where.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error("not a scap capture: it does not start with a section header block")]
    NotScap,
    #[error("byte order magic {0:#x} is not scap's (a big-endian or foreign file)")]
    ByteOrder(u32),
    #[error("truncated block at offset {offset}: it needs {need} bytes, {have} remain")]
    Truncated { offset: u64, need: u64, have: u64 },
    #[error("corrupt block at offset {offset}: length {len} is impossible")]
    Length { offset: u64, len: u32 },
    #[error("corrupt block at offset {offset}: trailing length {trailer} differs from {len}")]
    Trailer { offset: u64, len: u32, trailer: u32 },
    #[error("read error at offset {offset}: {source}")]
    Io {
        offset: u64,
        #[source]
        source: io::Error,
    },
}

/// One block as read: where it starts, its type, its body (no padding
/// removed: layouts carry their own lengths).
pub struct Block<'a> {
    pub offset: u64,
    pub ty: u32,
    pub body: &'a [u8],
}

/// Blocks of a stream, one at a time, into one reused buffer.
pub struct BlockReader<R> {
    input: R,
    offset: u64,
    buf: Vec<u8>,
    started: bool,
    /// Body length of the last block read.
    last_len: usize,
}

impl<R: Read> BlockReader<R> {
    pub fn new(input: R) -> Self {
        Self {
            input,
            offset: 0,
            buf: Vec::new(),
            started: false,
            last_len: 0,
        }
    }

    /// The next block; `Ok(None)` at a clean end of file.
    pub fn next_block(&mut self) -> Result<Option<Block<'_>>, BlockError> {
        let offset = self.offset;
        let mut head = [0u8; 8];
        let got = self.fill(&mut head)?;
        if got == 0 {
            return Ok(None);
        }
        if got < head.len() {
            return Err(BlockError::Truncated {
                offset,
                need: 8,
                have: got as u64,
            });
        }
        let ty = u32::from_le_bytes(head[..4].try_into().expect("4 bytes"));
        let len = u32::from_le_bytes(head[4..].try_into().expect("4 bytes"));
        if !self.started {
            if ty != SECTION_HEADER {
                return Err(BlockError::NotScap);
            }
            self.started = true;
        }
        if len < 12 || len % 4 != 0 || len > MAX_BLOCK {
            return Err(BlockError::Length { offset, len });
        }
        let rest = (len - 8) as usize;
        self.buf.resize(rest, 0);
        let mut buf = std::mem::take(&mut self.buf);
        let got = self.fill(&mut buf);
        self.buf = buf;
        let got = got?;
        if got < rest {
            return Err(BlockError::Truncated {
                offset,
                need: u64::from(len),
                have: 8 + got as u64,
            });
        }
        let trailer = u32::from_le_bytes(self.buf[rest - 4..].try_into().expect("4 bytes"));
        if trailer != len {
            return Err(BlockError::Trailer {
                offset,
                len,
                trailer,
            });
        }
        self.last_len = rest - 4;
        let body = &self.buf[..rest - 4];
        if ty == SECTION_HEADER {
            let magic = u32::from_le_bytes(
                body.get(..4)
                    .ok_or(BlockError::Length { offset, len })?
                    .try_into()
                    .expect("4 bytes"),
            );
            if magic != BYTE_ORDER_MAGIC {
                return Err(BlockError::ByteOrder(magic));
            }
        }
        Ok(Some(Block { offset, ty, body }))
    }

    /// The body of the last block [`BlockReader::next_block`] returned.
    pub fn last_body(&self) -> &[u8] {
        &self.buf[..self.last_len]
    }

    /// Reads until `buf` is full or the input ends; returns bytes read.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, BlockError> {
        let mut got = 0;
        while got < buf.len() {
            match self.input.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(BlockError::Io {
                        offset: self.offset + got as u64,
                        source,
                    })
                }
            }
        }
        self.offset += got as u64;
        Ok(got)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out, SECTION_HEADER, |b| {
            b.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
            b.extend_from_slice(&[1, 0, 2, 0]);
            b.extend_from_slice(&u64::MAX.to_le_bytes());
        });
        write(&mut out, EVENT_V2, |b| b.extend_from_slice(b"abcde"));
        out
    }

    #[test]
    fn blocks_are_padded_and_read_back() {
        let bytes = file();
        assert_eq!(bytes.len(), 28 + 8 + 8 + 4);
        let mut r = BlockReader::new(&bytes[..]);
        assert_eq!(r.next_block().unwrap().unwrap().ty, SECTION_HEADER);
        let b = r.next_block().unwrap().unwrap();
        assert_eq!(
            (b.offset, b.ty, &b.body[..5]),
            (28, EVENT_V2, &b"abcde"[..])
        );
        assert!(r.next_block().unwrap().is_none());
    }

    #[test]
    fn every_truncation_is_reported_with_its_offset() {
        let bytes = file();
        for cut in 29..bytes.len() {
            let mut r = BlockReader::new(&bytes[..cut]);
            r.next_block().unwrap().unwrap();
            match r.next_block() {
                Err(BlockError::Truncated { offset: 28, .. }) => {}
                other => panic!("cut at {cut}: {:?}", other.map(|b| b.map(|b| b.ty))),
            }
        }
    }

    #[test]
    fn corruption_is_named() {
        let mut bytes = file();
        let n = bytes.len();
        bytes[n - 1] = 9;
        let mut r = BlockReader::new(&bytes[..]);
        r.next_block().unwrap();
        assert!(matches!(
            r.next_block(),
            Err(BlockError::Trailer { offset: 28, .. })
        ));
        assert!(matches!(
            BlockReader::new(&b"hello world, this is text"[..]).next_block(),
            Err(BlockError::NotScap)
        ));
    }
}
