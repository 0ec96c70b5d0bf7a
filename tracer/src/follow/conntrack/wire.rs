//! ctnetlink messages: netlink header, nfgenmsg, then attributes, parsed
//! without trusting a single length.

use super::*;

pub(super) const NLMSG_ERROR: u16 = libc::NLMSG_ERROR as u16;
pub(super) const NLMSG_DONE: u16 = libc::NLMSG_DONE as u16;

const NLMSG_HDRLEN: usize = 16;
/// struct nfgenmsg: family, version, resource id.
const NFGENMSG_LEN: usize = 4;
const NLA_HDRLEN: usize = 4;
/// Attribute type bits that are flags (NLA_F_NESTED, NLA_F_NET_BYTEORDER).
const NLA_TYPE_MASK: u16 = 0x3fff;
const NLA_F_NESTED: u16 = 0x8000;

const NFNL_SUBSYS_CTNETLINK: u16 = 1;
pub(super) const CT_NEW: u16 = NFNL_SUBSYS_CTNETLINK << 8;
pub(super) const CT_GET: u16 = (NFNL_SUBSYS_CTNETLINK << 8) | 1;
pub(super) const CT_DELETE: u16 = (NFNL_SUBSYS_CTNETLINK << 8) | 2;

pub(super) const CTA_TUPLE_ORIG: u16 = 1;
pub(super) const CTA_TUPLE_REPLY: u16 = 2;
pub(super) const CTA_STATUS: u16 = 3;
pub(super) const CTA_PROTOINFO: u16 = 4;
pub(super) const CTA_ID: u16 = 12;
pub(super) const CTA_TUPLE_IP: u16 = 1;
pub(super) const CTA_TUPLE_PROTO: u16 = 2;
pub(super) const CTA_IP_V4_SRC: u16 = 1;
pub(super) const CTA_IP_V4_DST: u16 = 2;
pub(super) const CTA_IP_V6_SRC: u16 = 3;
pub(super) const CTA_IP_V6_DST: u16 = 4;
pub(super) const CTA_PROTO_NUM: u16 = 1;
pub(super) const CTA_PROTO_SRC_PORT: u16 = 2;
pub(super) const CTA_PROTO_DST_PORT: u16 = 3;
pub(super) const CTA_PROTOINFO_TCP: u16 = 1;
pub(super) const CTA_PROTOINFO_TCP_STATE: u16 = 1;

pub(super) const IPS_SEEN_REPLY: u32 = 1 << 1;
pub(super) const IPS_ASSURED: u32 = 1 << 2;

const fn align4(len: usize) -> usize {
    (len + 3) & !3
}

fn u16_ne(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_ne(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u32_be(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?))
}

pub(super) struct Header {
    pub kind: u16,
    pub seq: u32,
}

impl Header {
    pub(super) fn parse(msg: &[u8]) -> Option<Header> {
        Some(Header {
            kind: u16_ne(msg, 4)?,
            seq: u32_ne(msg, 8)?,
        })
    }
}

/// The messages of one datagram, each cut to its own `nlmsg_len`.
pub(super) fn messages(buf: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        let len = u32_ne(rest, 0)? as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            return None;
        }
        let msg = &rest[..len];
        rest = rest.get(align4(len)..).unwrap_or(&[]);
        Some(msg)
    })
}

/// The errno of an NLMSG_ERROR message (0 is an acknowledgement).
pub(super) fn error_code(msg: &[u8]) -> Option<i32> {
    let code = u32_ne(msg, NLMSG_HDRLEN)? as i32;
    Some(-code)
}

/// The attributes in `buf` as (type without flag bits, payload).
fn attrs(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        let len = usize::from(u16_ne(rest, 0)?);
        let kind = u16_ne(rest, 2)? & NLA_TYPE_MASK;
        if len < NLA_HDRLEN || len > rest.len() {
            return None;
        }
        let payload = &rest[NLA_HDRLEN..len];
        rest = rest.get(align4(len)..).unwrap_or(&[]);
        Some((kind, payload))
    })
}

fn attr(buf: &[u8], kind: u16) -> Option<&[u8]> {
    attrs(buf)
        .find(|&(k, _)| k == kind)
        .map(|(_, payload)| payload)
}

/// A conntrack NEW (event, dump or get reply) or DELETE message, for a
/// TCP or UDP connection; anything else, or anything malformed, is None.
pub(super) fn parse_message(msg: &[u8]) -> Option<Parsed> {
    let kind = u16_ne(msg, 4)?;
    let destroyed = match kind {
        CT_NEW => false,
        CT_DELETE => true,
        _ => return None,
    };
    let body = msg.get(NLMSG_HDRLEN + NFGENMSG_LEN..)?;
    let original = tuple(attr(body, CTA_TUPLE_ORIG)?)?;
    let reply = tuple(attr(body, CTA_TUPLE_REPLY)?)?;
    if reply.proto != original.proto {
        return None;
    }
    let status = attr(body, CTA_STATUS).and_then(u32_be).unwrap_or(0);
    let tcp_state = if original.proto == TCP {
        attr(body, CTA_PROTOINFO)
            .and_then(|info| attr(info, CTA_PROTOINFO_TCP))
            .and_then(|tcp| attr(tcp, CTA_PROTOINFO_TCP_STATE))
            .and_then(|state| state.first())
            .and_then(|&state| TcpState::try_from(state).ok())
    } else {
        None
    };
    let was_established = original.proto == TCP
        && (tcp_state == Some(TcpState::Established) || status & IPS_ASSURED != 0);
    Some(Parsed {
        entry: Entry {
            original,
            reply,
            tcp_state,
            destroyed,
            seen_reply: status & IPS_SEEN_REPLY != 0,
            was_established,
        },
        id: attr(body, CTA_ID).and_then(u32_be),
    })
}

/// A CTA_TUPLE_* nest as a flow, when it is TCP or UDP over IP.
fn tuple(nest: &[u8]) -> Option<Flow> {
    let ip = attr(nest, CTA_TUPLE_IP)?;
    let proto = attr(nest, CTA_TUPLE_PROTO)?;
    let num = *attr(proto, CTA_PROTO_NUM)?.first()?;
    if num != TCP && num != UDP {
        return None;
    }
    let port = |kind| -> Option<u16> {
        Some(u16::from_be_bytes(
            attr(proto, kind)?.get(..2)?.try_into().ok()?,
        ))
    };
    let (src, dst) = addresses(ip)?;
    Some(Flow {
        proto: num,
        src: SocketAddr::new(src, port(CTA_PROTO_SRC_PORT)?),
        dst: SocketAddr::new(dst, port(CTA_PROTO_DST_PORT)?),
    })
}

fn addresses(ip: &[u8]) -> Option<(IpAddr, IpAddr)> {
    let v4 = |kind| -> Option<IpAddr> {
        let octets: [u8; 4] = attr(ip, kind)?.get(..4)?.try_into().ok()?;
        Some(Ipv4Addr::from(octets).into())
    };
    let v6 = |kind| -> Option<IpAddr> {
        let octets: [u8; 16] = attr(ip, kind)?.get(..16)?.try_into().ok()?;
        Some(Ipv6Addr::from(octets).into())
    };
    match (v4(CTA_IP_V4_SRC), v4(CTA_IP_V4_DST)) {
        (Some(src), Some(dst)) => Some((src, dst)),
        _ => Some((v6(CTA_IP_V6_SRC)?, v6(CTA_IP_V6_DST)?)),
    }
}

/// Builds a netlink request (and, in tests, kernel-like messages).
pub(super) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// A message of `kind` for address `family`, header and nfgenmsg
    /// written, its length filled in by [`Writer::finish`].
    pub(super) fn message(kind: u16, flags: u16, seq: u32, family: u8) -> Writer {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        // nfgenmsg: family, NFNETLINK_V0, resource id 0 (big endian).
        buf.extend_from_slice(&[family, 0, 0, 0]);
        Writer { buf }
    }

    pub(super) fn attr(&mut self, kind: u16, payload: &[u8]) {
        let len = (NLA_HDRLEN + payload.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.pad();
    }

    pub(super) fn nested(&mut self, kind: u16, fill: impl FnOnce(&mut Writer)) {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; NLA_HDRLEN]);
        fill(self);
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self.buf[start + 2..start + 4].copy_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
    }

    /// A CTA_TUPLE_ORIG or CTA_TUPLE_REPLY nest for `flow`.
    pub(super) fn tuple(&mut self, kind: u16, flow: &Flow) {
        self.nested(kind, |w| {
            w.nested(CTA_TUPLE_IP, |w| match (flow.src.ip(), flow.dst.ip()) {
                (IpAddr::V4(src), IpAddr::V4(dst)) => {
                    w.attr(CTA_IP_V4_SRC, &src.octets());
                    w.attr(CTA_IP_V4_DST, &dst.octets());
                }
                (src, dst) => {
                    w.attr(CTA_IP_V6_SRC, &v6(src).octets());
                    w.attr(CTA_IP_V6_DST, &v6(dst).octets());
                }
            });
            w.nested(CTA_TUPLE_PROTO, |w| {
                w.attr(CTA_PROTO_NUM, &[flow.proto]);
                w.attr(CTA_PROTO_SRC_PORT, &flow.src.port().to_be_bytes());
                w.attr(CTA_PROTO_DST_PORT, &flow.dst.port().to_be_bytes());
            });
        });
    }

    fn pad(&mut self) {
        self.buf.resize(align4(self.buf.len()), 0);
    }

    pub(super) fn finish(mut self) -> Vec<u8> {
        let len = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&len.to_ne_bytes());
        self.buf
    }
}

fn v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}
