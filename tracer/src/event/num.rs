//! Integer formatting for the per-event path. `core::fmt` machinery was the
//! largest cost in a profile of sdtrace printing every syscall; these append
//! digits straight into the output buffer.

/// Appends `n` in decimal.
pub fn push_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Appends `n` in decimal, with a sign when negative.
pub fn push_i64(out: &mut Vec<u8>, n: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Appends `n` as `0x...` in lower-case hex.
pub fn push_hex(out: &mut Vec<u8>, n: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"0x");
    if n == 0 {
        out.push(b'0');
        return;
    }
    let mut buf = [0u8; 16];
    let mut i = buf.len();
    let mut v = n;
    while v > 0 {
        i -= 1;
        buf[i] = DIGITS[(v & 0xf) as usize];
        v >>= 4;
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends `n` zero-padded to `width` decimal digits (`n` must fit).
pub fn push_padded(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    let mut v = n;
    while v > 0 && i > 0 {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    let start = buf.len().saturating_sub(width).min(i);
    out.extend_from_slice(&buf[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formats_like_core_fmt() {
        assert_eq!(s(|o| push_u64(o, 0)), "0");
        assert_eq!(s(|o| push_i64(o, -115)), "-115");
        assert_eq!(s(|o| push_hex(o, 0)), "0x0");
        assert_eq!(s(|o| push_hex(o, 0x7ffd_5238_21ec)), "0x7ffd523821ec");
        assert_eq!(s(|o| push_hex(o, u64::MAX)), format!("{:#x}", u64::MAX));
        assert_eq!(s(|o| push_padded(o, 7, 2)), "07");
        assert_eq!(s(|o| push_padded(o, 121_421_318, 9)), "121421318");
        assert_eq!(s(|o| push_padded(o, 5, 9)), "000000005");
        assert_eq!(s(|o| push_padded(o, 0, 2)), "00");
    }
}
