use super::wire::*;
use super::*;

pub(super) fn flow(proto: u8, src: &str, dst: &str) -> Flow {
    Flow {
        proto,
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
    }
}

/// A message as the kernel sends it for `entry`.
fn encode(entry: &Entry, status: u32, id: Option<u32>) -> Vec<u8> {
    let kind = if entry.destroyed { CT_DELETE } else { CT_NEW };
    let family = if entry.original.src.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    let mut w = Writer::message(kind, 0, 0, family as u8);
    w.tuple(CTA_TUPLE_ORIG, &entry.original);
    w.tuple(CTA_TUPLE_REPLY, &entry.reply);
    w.attr(CTA_STATUS, &status.to_be_bytes());
    if let Some(state) = entry.tcp_state {
        w.nested(CTA_PROTOINFO, |w| {
            w.nested(CTA_PROTOINFO_TCP, |w| {
                w.attr(CTA_PROTOINFO_TCP_STATE, &[state as u8]);
            });
        });
    }
    if let Some(id) = id {
        w.attr(CTA_ID, &id.to_be_bytes());
    }
    w.finish()
}

pub(super) fn entry(original: Flow, reply: Flow, tcp_state: Option<TcpState>) -> Entry {
    Entry {
        original,
        reply,
        tcp_state,
        destroyed: false,
        seen_reply: false,
        was_established: false,
    }
}

pub(super) fn parsed(entry: Entry, id: Option<u32>) -> Parsed {
    Parsed { entry, id }
}

#[test]
fn v4_new_round_trips() {
    let orig = flow(TCP, "10.0.0.1:40000", "10.0.0.2:80");
    let e = entry(orig, orig.reversed(), Some(TcpState::SynSent));
    let got = parse_message(&encode(&e, 0, Some(7))).unwrap();
    assert_eq!(got, parsed(e.clone(), Some(7)));
    assert!(!got.entry.is_translated());
}

#[test]
fn v6_udp_round_trips() {
    let orig = flow(UDP, "[fd00::1]:5353", "[fd00::2]:53");
    let e = entry(orig, orig.reversed(), None);
    assert_eq!(parse_message(&encode(&e, 0, None)).unwrap().entry, e);
}

#[test]
fn dnat_entry_is_translated() {
    // A client on the host reaching a published Docker port.
    let orig = flow(TCP, "192.0.2.2:51000", "192.0.2.2:18080");
    let reply = flow(TCP, "172.17.0.2:80", "192.0.2.2:51000");
    let e = entry(orig, reply, Some(TcpState::Established));
    let got = parse_message(&encode(&e, IPS_SEEN_REPLY | IPS_ASSURED, Some(1))).unwrap();
    assert!(got.entry.is_translated());
    assert!(got.entry.seen_reply);
    assert!(got.entry.was_established);
    assert_eq!(got.entry.reply, reply);
}

#[test]
fn delete_is_a_destroy() {
    let orig = flow(TCP, "10.0.0.1:40000", "10.0.0.2:80");
    let mut e = entry(orig, orig.reversed(), None);
    e.destroyed = true;
    let got = parse_message(&encode(&e, IPS_SEEN_REPLY, None)).unwrap();
    assert!(got.entry.destroyed);
    assert!(got.entry.seen_reply);
}

#[test]
fn other_protocols_and_messages_are_skipped() {
    let orig = flow(1, "10.0.0.1:0", "10.0.0.2:0");
    let icmp = entry(orig, orig.reversed(), None);
    assert_eq!(parse_message(&encode(&icmp, 0, None)), None);

    let tcp = flow(TCP, "10.0.0.1:1", "10.0.0.2:2");
    let mut msg = encode(&entry(tcp, tcp.reversed(), None), 0, None);
    // An expectation message (subsystem 2), same layout otherwise.
    msg[4..6].copy_from_slice(&(2u16 << 8).to_ne_bytes());
    assert_eq!(parse_message(&msg), None);
}

#[test]
fn truncated_messages_do_not_parse() {
    let orig = flow(TCP, "10.0.0.1:40000", "10.0.0.2:80");
    let msg = encode(
        &entry(orig, orig.reversed(), Some(TcpState::SynSent)),
        0,
        None,
    );
    for len in 0..msg.len() {
        // The message's own length still claims the whole: attributes
        // must be bounded by the slice, not by what they say.
        let _ = parse_message(&msg[..len]);
    }
    // Cutting the reply tuple loses the entry.
    assert_eq!(parse_message(&msg[..msg.len() / 2]), None);
}

#[test]
fn messages_split_a_datagram() {
    let a = flow(TCP, "10.0.0.1:1", "10.0.0.2:2");
    let b = flow(UDP, "10.0.0.3:3", "10.0.0.4:4");
    let mut datagram = encode(&entry(a, a.reversed(), None), 0, None);
    datagram.extend(encode(&entry(b, b.reversed(), None), 0, None));
    let got: Vec<Flow> = messages(&datagram)
        .filter_map(parse_message)
        .map(|p| p.entry.original)
        .collect();
    assert_eq!(got, [a, b]);
    // A length past the end stops the walk rather than reading on.
    datagram[0..4].copy_from_slice(&u32::MAX.to_ne_bytes());
    assert_eq!(messages(&datagram).count(), 0);
}

#[test]
fn refused_is_a_reset_before_the_handshake() {
    // As this kernel reports a connect to a closed port: NEW in
    // SYN_SENT, then DESTROY in CLOSE, no reply ever seen.
    let orig = flow(TCP, "127.0.0.1:40000", "127.0.0.1:1");
    let mut e = entry(orig, orig.reversed(), Some(TcpState::SynSent));
    assert!(!e.refused());
    e.destroyed = true;
    assert!(
        !e.refused(),
        "an unanswered SYN timed out, it was not refused"
    );
    e.tcp_state = Some(TcpState::Close);
    assert!(e.refused());
    // A connection closed by a reset after it was up was not refused.
    e.was_established = true;
    assert!(!e.refused());
    let udp = flow(UDP, "127.0.0.1:40000", "127.0.0.1:1");
    assert!(!entry(udp, udp.reversed(), Some(TcpState::Close)).refused());
}

proptest::proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
        for msg in messages(&bytes) {
            let _ = parse_message(msg);
        }
        let _ = parse_message(&bytes);
    }

    #[test]
    fn corrupted_messages_never_panic(flip in proptest::collection::vec((0usize..200, proptest::num::u8::ANY), 1..8)) {
        let orig = flow(TCP, "10.0.0.1:40000", "10.0.0.2:80");
        let mut msg = encode(&entry(orig, orig.reversed(), Some(TcpState::SynSent)), 3, Some(1));
        for (at, byte) in flip {
            let at = at % msg.len();
            msg[at] = byte;
        }
        let _ = parse_message(&msg);
    }
}
