//! Event blocks as libscap wrote them over the years: with or without a
//! flags word, with or without a parameter count, with 16- or 32-bit
//! parameter lengths.

use super::super::event;

/// Event block types (`scap_savefile.h`).
pub const EV: u32 = 0x204;
pub const EV_INT: u32 = 0x8010_ABCD;
pub const EVF: u32 = 0x208;
pub const EV_V2: u32 = 0x216;
pub const EVF_V2: u32 = 0x217;
pub const EV_V2_LARGE: u32 = 0x221;
pub const EVF_V2_LARGE: u32 = 0x222;

/// Whether blocks of type `ty` hold one event.
pub fn is_event_block(ty: u32) -> bool {
    matches!(
        ty,
        EV | EV_INT | EVF | EV_V2 | EVF_V2 | EV_V2_LARGE | EVF_V2_LARGE
    )
}

/// One event of the file.
#[derive(Debug)]
pub struct Event<'a> {
    pub cpu: u16,
    /// Nanoseconds since the epoch.
    pub ts: u64,
    pub tid: u64,
    pub code: u16,
    pub params: Vec<&'a [u8]>,
}

impl<'a> Event<'a> {
    /// Parameter `i`, when the event has it.
    pub fn param(&self, i: usize) -> Option<&'a [u8]> {
        self.params.get(i).copied()
    }
}

/// What is wrong with an event block.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("its header is cut short")]
    Header,
    #[error("its parameters overrun it")]
    Params,
    #[error("event type {0} is beyond libscap's table")]
    Code(u16),
}

/// Reads the event in the body of a block of type `ty`.
///
/// # Errors
/// When the body is too short for what its header says.
pub fn parse(ty: u32, body: &[u8]) -> Result<Event<'_>, EventError> {
    let flags = matches!(ty, EVF | EVF_V2 | EVF_V2_LARGE);
    let counted = matches!(ty, EV_V2 | EVF_V2 | EV_V2_LARGE | EVF_V2_LARGE);
    let field = |at: usize, n: usize| body.get(at..at + n).ok_or(EventError::Header);
    let u16_at = |at| Ok::<_, EventError>(u16::from_le_bytes(field(at, 2)?.try_into().expect("2")));
    let u32_at = |at| Ok::<_, EventError>(u32::from_le_bytes(field(at, 4)?.try_into().expect("4")));
    let u64_at = |at| Ok::<_, EventError>(u64::from_le_bytes(field(at, 8)?.try_into().expect("8")));
    let cpu = u16_at(0)?;
    // The flags word sits between the cpu and the event.
    let at = if flags { 6 } else { 2 };
    let ts = u64_at(at)?;
    let tid = u64_at(at + 8)?;
    let len = u32_at(at + 16)? as usize;
    let code = u16_at(at + 20)?;
    let end = at.checked_add(len).ok_or(EventError::Params)?;
    let body = body.get(..end).ok_or(EventError::Params)?;
    let (nparams, lens_at) = if counted {
        (u32_at(at + 22)? as usize, at + 26)
    } else {
        let known = event::info(code)
            .ok_or(EventError::Code(code))?
            .params
            .len();
        // Old writers stored notification and infrastructure events 3 bytes long.
        let body = match code {
            280 | 286 => body
                .get(..end.saturating_sub(3))
                .ok_or(EventError::Params)?,
            _ => body,
        };
        (uncounted_params(body, at + 22, known)?, at + 22)
    };
    // Only events with large payloads (plugin events, container JSON,
    // async events) have 32-bit lengths; a large block lifts a size limit.
    let wide = matches!(code, 322 | 324 | 402);
    let width = if wide { 4 } else { 2 };
    let lens = body
        .get(lens_at..lens_at + width * nparams)
        .ok_or(EventError::Params)?;
    let mut at = lens_at + width * nparams;
    let mut params = Vec::with_capacity(nparams);
    for len in lens.chunks_exact(width) {
        let len = if wide {
            u32::from_le_bytes(len.try_into().expect("4")) as usize
        } else {
            usize::from(u16::from_le_bytes(len.try_into().expect("2")))
        };
        params.push(body.get(at..at + len).ok_or(EventError::Params)?);
        at += len;
    }
    Ok(Event {
        cpu,
        ts,
        tid,
        code,
        params,
    })
}

/// How many parameters an event without a count holds. Blocks of the first
/// layout carry none: the reader's table says, but parameters were added
/// to events since (open's enter once had none), so the count is the
/// largest, up to the table's, whose lengths add up to the event's size.
fn uncounted_params(body: &[u8], lens_at: usize, known: usize) -> Result<usize, EventError> {
    (0..=known)
        .rev()
        .find(|&n| {
            let Some(lens) = body.get(lens_at..lens_at + 2 * n) else {
                return false;
            };
            let sum: usize = lens
                .chunks_exact(2)
                .map(|l| usize::from(u16::from_le_bytes([l[0], l[1]])))
                .sum();
            lens_at + 2 * n + sum == body.len()
        })
        .ok_or(EventError::Params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(flags: bool, counted: bool, code: u16, params: &[&[u8]]) -> Vec<u8> {
        let mut b = vec![3, 0];
        if flags {
            b.extend_from_slice(&7u32.to_le_bytes());
        }
        let start = b.len();
        b.extend_from_slice(&11u64.to_le_bytes());
        b.extend_from_slice(&42u64.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&code.to_le_bytes());
        if counted {
            b.extend_from_slice(&(params.len() as u32).to_le_bytes());
        }
        for p in params {
            b.extend_from_slice(&(p.len() as u16).to_le_bytes());
        }
        for p in params {
            b.extend_from_slice(p);
        }
        let len = (b.len() - start) as u32;
        b[start + 16..start + 20].copy_from_slice(&len.to_le_bytes());
        b
    }

    #[test]
    fn every_layout_reads_the_same_event() {
        // close exit: res.
        let res = 5i64.to_le_bytes();
        for (ty, flags, counted) in [
            (EV, false, false),
            (EVF, true, false),
            (EV_V2, false, true),
            (EVF_V2, true, true),
        ] {
            let b = block(flags, counted, 5, &[&res]);
            let e = parse(ty, &b).unwrap();
            assert_eq!((e.cpu, e.ts, e.tid, e.code), (3, 11, 42, 5), "{ty:#x}");
            assert_eq!(e.params, [&res[..]]);
        }
    }

    #[test]
    fn an_old_event_with_fewer_parameters_than_the_table_is_read() {
        // open's enter had no parameters before libscap added name, flags, mode.
        let b = block(false, false, 2, &[]);
        assert!(parse(EV, &b).unwrap().params.is_empty());
        let name = b"/etc/hosts\0";
        let b = block(false, false, 2, &[name, &[1, 0, 0, 0], &[0; 4]]);
        assert_eq!(parse(EV, &b).unwrap().params[0], name);
    }

    #[test]
    fn damage_is_an_error() {
        let b = block(false, true, 5, &[&5i64.to_le_bytes()]);
        for cut in 0..b.len() {
            assert!(parse(EV_V2, &b[..cut]).is_err(), "cut {cut}");
        }
        assert_eq!(
            parse(EV, &block(false, false, 999, &[])).unwrap_err(),
            EventError::Code(999)
        );
    }
}
