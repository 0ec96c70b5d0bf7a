//! sdtrace's own data inside a scap file's events. sysdig's reader stops at
//! any block type it does not know once events have begun, but it ignores
//! parameters past an event's table layout; so the exact records, and the
//! `/proc` answers their handling used, travel as extra parameters: on the
//! record's own exit event, or on internal events sysdig never shows.
//!
//! The extra parameters of all events, in file order, form one stream of
//! items: `kind u8, length u32, bytes`.

/// JSON list of [`crate::journal::Answer`]s.
pub const ANSWERS: u8 = 1;
/// A record that only keeps the state current (the capture was filtered).
pub const CONTEXT: u8 = 2;
/// A record the capture shows.
pub const SHOWN: u8 = 3;

pub fn push(buf: &mut Vec<u8>, kind: u8, bytes: &[u8]) {
    buf.push(kind);
    buf.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    buf.extend_from_slice(bytes);
}

/// The whole items in `bytes`, in order (an incomplete last one is left).
pub fn split(mut bytes: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    std::iter::from_fn(move || {
        let (&kind, rest) = bytes.split_first()?;
        let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let body = rest.get(4..4 + len)?;
        bytes = &rest[4 + len..];
        Some((kind, body))
    })
}

/// Items reassembled from the extra parameters as they are read.
#[derive(Default)]
pub struct Items {
    buf: Vec<u8>,
    /// Start of the first unread item in `buf`.
    pos: usize,
    /// Kind, start and length of the item [`Items::next_item`] returned last.
    last: Option<(u8, usize, usize)>,
}

impl Items {
    /// Adds the extra parameters of the next event.
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            self.last = None;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete item, if any has arrived.
    pub fn next_item(&mut self) -> Option<(u8, &[u8])> {
        let rest = &self.buf[self.pos..];
        let (&kind, rest) = rest.split_first()?;
        let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let body = rest.get(4..4 + len)?;
        self.last = Some((kind, self.pos + 5, len));
        self.pos += 5 + len;
        Some((kind, body))
    }

    /// The item [`Items::next_item`] returned last, until the next feed.
    pub fn last(&self) -> Option<(u8, &[u8])> {
        let (kind, at, len) = self.last?;
        Some((kind, &self.buf[at..at + len]))
    }

    /// Bytes of an item still waiting for its remaining parts.
    pub fn incomplete(&self) -> usize {
        self.buf.len() - self.pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_split_anywhere_come_back_whole() {
        let mut stream = Vec::new();
        push(&mut stream, ANSWERS, b"[]");
        push(&mut stream, SHOWN, &[7; 300]);
        for cut in 0..stream.len() {
            let mut items = Items::default();
            let mut got = Vec::new();
            for part in [&stream[..cut], &stream[cut..]] {
                items.feed(part);
                while let Some((k, b)) = items.next_item() {
                    got.push((k, b.len()));
                }
            }
            assert_eq!(got, [(ANSWERS, 2), (SHOWN, 300)], "cut at {cut}");
            assert_eq!(items.incomplete(), 0);
        }
    }
}
