//! Socket addresses: the tuple a connect/accept reports, and the per-network-
//! namespace inode tables from `/proc/<pid>/net/{tcp,tcp6,udp,udp6,unix}` that
//! label sockets found at bootstrap.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::{Deserialize, Serialize};

use super::{IdMap, IdSet};

/// Layer-4 protocol of an IP socket (sysdig's `fd.l4proto`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum L4Proto {
    Tcp,
    Udp,
    Raw,
    Icmp,
    #[default]
    Unknown,
}

impl L4Proto {
    /// The word sysdig prints.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Raw => "raw",
            Self::Icmp => "icmp",
            Self::Unknown => "<NA>",
        }
    }

    /// From `socket(domain, type, protocol)`'s type and protocol. `type` may
    /// carry `SOCK_NONBLOCK`/`SOCK_CLOEXEC`, which are masked off.
    #[must_use]
    pub fn from_socket(ty: u32, proto: u32) -> Self {
        let (icmp, icmpv6) = (
            libc::IPPROTO_ICMP.cast_unsigned(),
            libc::IPPROTO_ICMPV6.cast_unsigned(),
        );
        match (ty & 0xf).cast_signed() {
            libc::SOCK_STREAM => Self::Tcp,
            libc::SOCK_DGRAM if proto == icmp || proto == icmpv6 => Self::Icmp,
            libc::SOCK_DGRAM => Self::Udp,
            libc::SOCK_RAW => Self::Raw,
            _ => Self::Unknown,
        }
    }
}

impl fmt::Display for L4Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The addresses of a connected IP socket as one side sees them: `local` is
/// this process's end. The decoder builds one from a connect or accept result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockTuple {
    pub proto: L4Proto,
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

/// Writes `ip:port` the way sysdig does: no brackets around IPv6 addresses.
pub(crate) fn write_addr(out: &mut String, addr: &SocketAddr) {
    use fmt::Write;
    let _ = write!(out, "{}:{}", addr.ip(), addr.port());
}

/// One socket as `/proc/net/*` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NetEntry {
    Ip {
        proto: L4Proto,
        local: SocketAddr,
        /// `None` for listening or merely bound sockets (remote `0:0`).
        remote: Option<SocketAddr>,
    },
    Unix {
        /// Bound path; `None` for unnamed sockets.
        path: Option<String>,
        /// Kernel address of the socket (0 when `kptr_restrict` hides it).
        kaddr: u64,
    },
}

/// The sockets of one network namespace, by inode.
#[derive(Debug, Default)]
pub(crate) struct NetTable {
    pub(crate) by_inode: IdMap<u64, NetEntry>,
    /// Local ports with a listening (TCP) or unconnected bound (UDP) socket,
    /// used to guess which end of a bootstrapped connection is the server.
    listening: IdSet<(L4Proto, u16)>,
}

impl NetTable {
    /// Adds the lines of a `tcp`, `tcp6`, `udp` or `udp6` file.
    pub(crate) fn add_inet(&mut self, text: &str, proto: L4Proto) {
        for line in text.lines().skip(1) {
            let Some((inode, local, remote)) = parse_inet_line(line) else {
                continue;
            };
            if inode == 0 {
                // TIME_WAIT and similar: no longer owned by any fd.
                continue;
            }
            let remote = (!(remote.ip().is_unspecified() && remote.port() == 0)).then_some(remote);
            if remote.is_none() {
                self.listening.insert((proto, local.port()));
            }
            self.by_inode.insert(
                inode,
                NetEntry::Ip {
                    proto,
                    local,
                    remote,
                },
            );
        }
    }

    /// Adds the lines of a `unix` file.
    pub(crate) fn add_unix(&mut self, text: &str) {
        for line in text.lines().skip(1) {
            let mut cols = line.split_whitespace();
            let Some(kaddr) = cols
                .next()
                .and_then(|c| u64::from_str_radix(c.trim_end_matches(':'), 16).ok())
            else {
                continue;
            };
            let Some(inode) = cols.nth(5).and_then(|c| c.parse::<u64>().ok()) else {
                continue;
            };
            let path = cols.next().map(str::to_owned);
            self.by_inode.insert(inode, NetEntry::Unix { path, kaddr });
        }
    }

    /// Whether a connection whose local end is `local` is the accepted
    /// (server) side: something listens on that port.
    pub(crate) fn is_server(&self, proto: L4Proto, local: &SocketAddr) -> bool {
        self.listening.contains(&(proto, local.port()))
    }
}

/// `sl: local remote st ... uid timeout inode ...` -> (inode, local, remote).
fn parse_inet_line(line: &str) -> Option<(u64, SocketAddr, SocketAddr)> {
    let mut cols = line.split_whitespace();
    cols.next()?; // "sl:"
    let local = parse_hex_addr(cols.next()?)?;
    let remote = parse_hex_addr(cols.next()?)?;
    // st, tx:rx, tr:when, retrnsmt, uid, timeout, then inode.
    let inode = cols.nth(6)?.parse().ok()?;
    Some((inode, local, remote))
}

/// `0100007F:1F90` or `00000000000000000000000001000000:20FB`. The kernel
/// prints each 32-bit word of the network-order address as a host-order
/// integer, so the word's native bytes are the address bytes.
fn parse_hex_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        Some(
            u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16)
                .ok()?
                .to_ne_bytes(),
        )
    };
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_addresses() {
        assert_eq!(
            parse_hex_addr("0100007F:1F90"),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            parse_hex_addr("00000000000000000000000001000000:20FB"),
            Some("[::1]:8443".parse().unwrap())
        );
        assert_eq!(
            parse_hex_addr("000000FD000000000000000002000000:0035"),
            Some("[fd00::2]:53".parse().unwrap())
        );
        assert_eq!(parse_hex_addr("0100007F"), None);
        assert_eq!(parse_hex_addr("01007F:1F90"), None);
    }

    #[test]
    fn l4proto_from_socket() {
        let t = |ty: i32, p: i32| L4Proto::from_socket(ty.cast_unsigned(), p.cast_unsigned());
        assert_eq!(t(libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0), L4Proto::Tcp);
        assert_eq!(t(libc::SOCK_DGRAM, 0), L4Proto::Udp);
        assert_eq!(t(libc::SOCK_DGRAM, libc::IPPROTO_ICMP), L4Proto::Icmp);
        assert_eq!(t(libc::SOCK_RAW, libc::IPPROTO_ICMP), L4Proto::Raw);
    }
}
