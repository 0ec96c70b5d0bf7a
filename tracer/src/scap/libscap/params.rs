//! libscap's parameter encodings turned back into what the kernel gives
//! sdtrace: integers by their type's width, strings without their NUL,
//! `struct sockaddr` and the socket 4-tuple in the kernel's layouts.

use std::mem::size_of;

use tracer_common::SockTuple;

use super::super::event::{pt, Param};
use crate::decode::sockaddr::{AF_INET, AF_INET6, AF_UNIX};

/// An integer parameter, sign-extended for signed types.
pub fn int(p: &Param, b: &[u8]) -> Option<i64> {
    let size = p.fixed_size()?;
    let b = b.get(..size)?;
    let mut raw = [0u8; 8];
    raw[..size].copy_from_slice(b);
    let n = u64::from_le_bytes(raw);
    let signed = matches!(
        p.ty,
        pt::INT8 | pt::INT16 | pt::INT32 | pt::INT64 | pt::ERRNO | pt::FD | pt::PID
    );
    Some(if signed && size < 8 {
        let shift = 64 - 8 * size as u32;
        ((n << shift) as i64) >> shift
    } else {
        n as i64
    })
}

/// A string parameter without its terminating NUL.
pub fn text(b: &[u8]) -> &[u8] {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    &b[..end]
}

/// scap's socket address (family byte, address, port in host order; or a
/// unix path) as the kernel's `struct sockaddr`.
pub fn sockaddr(b: &[u8]) -> Option<Vec<u8>> {
    let family = u16::from(*b.first()?);
    let mut out = family.to_le_bytes().to_vec();
    match family {
        AF_INET => {
            let addr = b.get(1..5)?;
            let port = u16::from_le_bytes(b.get(5..7)?.try_into().ok()?);
            out.extend_from_slice(&port.to_be_bytes());
            out.extend_from_slice(addr);
            out.extend_from_slice(&[0; 8]);
        }
        AF_INET6 => {
            let addr = b.get(1..17)?;
            let port = u16::from_le_bytes(b.get(17..19)?.try_into().ok()?);
            out.extend_from_slice(&port.to_be_bytes());
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(addr);
            out.extend_from_slice(&[0; 4]);
        }
        AF_UNIX => {
            out.extend_from_slice(text(&b[1..]));
            out.push(0);
        }
        _ => {}
    }
    Some(out)
}

/// The unix socket path of a scap tuple (family, two kernel addresses, path).
pub fn unix_tuple_path(b: &[u8]) -> Option<&[u8]> {
    (u16::from(*b.first()?) == AF_UNIX).then(|| text(b.get(17..).unwrap_or_default()))
}

/// scap's IP tuple (family, source address and port, destination address
/// and port) as the kernel's [`SockTuple`] of this end; `inbound` when the
/// source is the peer (an accepted connection).
pub fn ip_tuple(b: &[u8], inbound: bool, protocol: u16) -> Option<Vec<u8>> {
    let family = u16::from(*b.first()?);
    let alen = match family {
        AF_INET => 4,
        AF_INET6 => 16,
        _ => return None,
    };
    let end = |at: usize| -> Option<([u8; 16], u16)> {
        let mut addr = [0u8; 16];
        addr[..alen].copy_from_slice(b.get(at..at + alen)?);
        let port = u16::from_le_bytes(b.get(at + alen..at + alen + 2)?.try_into().ok()?);
        Some((addr, port))
    };
    let src = end(1)?;
    let dst = end(1 + alen + 2)?;
    let (local, remote) = if inbound { (dst, src) } else { (src, dst) };
    let t = SockTuple {
        family,
        lport: local.1,
        rport: remote.1,
        protocol,
        laddr: local.0,
        raddr: remote.0,
    };
    let mut out = vec![0u8; size_of::<SockTuple>()];
    // SAFETY: SockTuple is plain integers; the buffer is its size.
    unsafe { std::ptr::write_unaligned(out.as_mut_ptr().cast(), t) };
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::sockaddr::{SockAddr, Tuple};

    #[test]
    fn integers_take_their_width_and_sign() {
        let fd = Param::new("fd", pt::FD);
        assert_eq!(int(&fd, &(-2i64).to_le_bytes()), Some(-2));
        let mode = Param::new("mode", pt::UINT32);
        assert_eq!(int(&mode, &0xffff_ffffu32.to_le_bytes()), Some(0xffff_ffff));
        let i32p = Param::new("x", pt::INT32);
        assert_eq!(int(&i32p, &(-5i32).to_le_bytes()), Some(-5));
        assert_eq!(int(&mode, &[1, 2]), None);
    }

    #[test]
    fn addresses_become_the_kernels() {
        let mut v6 = vec![10u8];
        v6.extend_from_slice(
            &"2001:db8::3"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        v6.extend_from_slice(&1234u16.to_le_bytes());
        let native = sockaddr(&v6).unwrap();
        assert_eq!(
            SockAddr::parse(&native).unwrap().to_string(),
            "2001:db8::3:1234"
        );
        let un = [&[1u8][..], b"/run/x.sock\0"].concat();
        assert_eq!(
            SockAddr::parse(&sockaddr(&un).unwrap()),
            Some(SockAddr::Unix("/run/x.sock".into()))
        );
        let mut t = vec![2u8, 10, 0, 0, 1];
        t.extend_from_slice(&5000u16.to_le_bytes());
        t.extend_from_slice(&[10, 0, 0, 2]);
        t.extend_from_slice(&80u16.to_le_bytes());
        let out = Tuple::parse(&ip_tuple(&t, false, 6).unwrap()).unwrap();
        assert_eq!((out.local.1, out.remote.1, out.protocol), (5000, 80, 6));
        let inbound = Tuple::parse(&ip_tuple(&t, true, 6).unwrap()).unwrap();
        assert_eq!((inbound.local.1, inbound.remote.1), (80, 5000));
    }
}
