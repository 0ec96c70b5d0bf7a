//! `struct sockaddr` and the kernel's socket tuple, decoded.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use tracer_common::SockTuple;

pub use tracer_common::abi::{AF_INET, AF_INET6, AF_UNIX};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SockAddr {
    Ip(IpAddr, u16),
    /// A unix socket path; abstract names start with `@`.
    Unix(String),
    Other(u16),
}

impl SockAddr {
    pub fn parse(b: &[u8]) -> Option<SockAddr> {
        let family = u16::from_le_bytes([*b.first()?, *b.get(1)?]);
        let port = || b.get(2..4).map(|p| u16::from_be_bytes([p[0], p[1]]));
        Some(match family {
            AF_INET => {
                let a: [u8; 4] = b.get(4..8)?.try_into().ok()?;
                SockAddr::Ip(IpAddr::V4(Ipv4Addr::from(a)), port()?)
            }
            AF_INET6 => {
                let a: [u8; 16] = b.get(8..24)?.try_into().ok()?;
                SockAddr::Ip(IpAddr::V6(Ipv6Addr::from(a)), port()?)
            }
            AF_UNIX => {
                let path = b.get(2..).unwrap_or_default();
                let (abstract_ns, path) = match path.first() {
                    Some(0) => (true, &path[1..]),
                    _ => (false, path),
                };
                let end = if abstract_ns {
                    path.len()
                } else {
                    path.iter().position(|&c| c == 0).unwrap_or(path.len())
                };
                let name = String::from_utf8_lossy(&path[..end]).into_owned();
                SockAddr::Unix(if abstract_ns {
                    format!("@{}", name.trim_end_matches('\0'))
                } else {
                    name
                })
            }
            other => SockAddr::Other(other),
        })
    }
}

impl fmt::Display for SockAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SockAddr::Ip(ip, port) => write!(f, "{}", Endpoint(*ip, *port)),
            SockAddr::Unix(p) => f.write_str(p),
            SockAddr::Other(fam) => write!(f, "family {fam}"),
        }
    }
}

/// An address and port printed as sysdig does: `1.2.3.4:80`, `::1:80`.
pub struct Endpoint(pub IpAddr, pub u16);

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0, self.1)
    }
}

/// A socket's local and remote ends as the kernel saw them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tuple {
    pub family: u16,
    pub protocol: u16,
    pub local: (IpAddr, u16),
    pub remote: (IpAddr, u16),
}

impl Tuple {
    pub fn parse(b: &[u8]) -> Option<Tuple> {
        if b.len() < std::mem::size_of::<SockTuple>() {
            return None;
        }
        // SAFETY: length checked; SockTuple is integers only.
        let t: SockTuple = unsafe { std::ptr::read_unaligned(b.as_ptr().cast()) };
        let ip = |a: [u8; 16]| match t.family {
            AF_INET => Some(IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))),
            AF_INET6 => {
                let v6 = Ipv6Addr::from(a);
                Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4))
            }
            _ => None,
        };
        Some(Tuple {
            family: t.family,
            protocol: t.protocol,
            local: (ip(t.laddr)?, t.lport),
            remote: (ip(t.raddr)?, t.rport),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_and_ipv6_and_unix() {
        let v4 = [2, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(SockAddr::parse(&v4).unwrap().to_string(), "127.0.0.1:8080");
        let mut v6 = vec![10, 0, 0, 80, 0, 0, 0, 0];
        v6.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        assert_eq!(SockAddr::parse(&v6).unwrap().to_string(), "::1:80");
        let mut un = vec![1, 0];
        un.extend_from_slice(b"/run/x.sock\0\0\0");
        assert_eq!(
            SockAddr::parse(&un).unwrap(),
            SockAddr::Unix("/run/x.sock".into())
        );
        let mut abs = vec![1, 0, 0];
        abs.extend_from_slice(b"name");
        assert_eq!(
            SockAddr::parse(&abs).unwrap(),
            SockAddr::Unix("@name".into())
        );
        assert_eq!(SockAddr::parse(&[2]), None);
    }

    #[test]
    fn tuple_maps_v4_in_v6() {
        let mut t = SockTuple {
            family: AF_INET6,
            lport: 8080,
            rport: 40000,
            protocol: 6,
            ..Default::default()
        };
        t.laddr = Ipv4Addr::LOCALHOST.to_ipv6_mapped().octets();
        t.raddr = Ipv4Addr::new(10, 0, 0, 2).to_ipv6_mapped().octets();
        // SAFETY: test-only byte view.
        let b = unsafe { std::slice::from_raw_parts((&t as *const SockTuple).cast::<u8>(), 40) };
        let tup = Tuple::parse(b).unwrap();
        assert_eq!(tup.local, (IpAddr::V4(Ipv4Addr::LOCALHOST), 8080));
        assert_eq!(tup.remote.1, 40000);
    }
}
