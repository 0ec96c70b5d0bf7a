//! Against the running kernel: needs root, and conntrack active in this
//! network namespace (any NAT rule, as Docker's, turns it on).

use super::*;
use std::net::{TcpListener, TcpStream};

/// Starts conntrack, or says loudly why not; under CI a skip fails.
fn start_or_skip() -> Option<Conntrack> {
    let why = match Conntrack::start() {
        Ok(ct) => return Some(ct),
        // SAFETY: geteuid has no preconditions.
        Err(e) if unsafe { libc::geteuid() } != 0 => format!("not root ({e})"),
        Err(e) => e.to_string(),
    };
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "conntrack kernel test cannot run under CI: {why}"
    );
    eprintln!("SKIPPED conntrack kernel test: {why}");
    None
}

fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "{what} within 2 s");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sees_a_loopback_connection() {
    let Some(ct) = start_or_skip() else { return };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let _server = listener.accept().unwrap();
    let orig = Flow {
        proto: TCP,
        src: client.local_addr().unwrap(),
        dst: listener.local_addr().unwrap(),
    };
    let entry = wait_for("the connection's entry", || {
        ct.by_original(&orig).filter(|e| e.was_established)
    });
    assert_eq!(entry.reply, orig.reversed());
    assert!(!entry.is_translated());
    assert_eq!(ct.by_reply(&orig.reversed()).unwrap().original, orig);
    assert_eq!(ct.query(&orig).unwrap().original, orig);
}

#[test]
fn sees_a_refused_connect() {
    let Some(ct) = start_or_skip() else { return };
    // A port just closed: nothing listens there now.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = TcpStream::connect(closed).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    let entry = wait_for("the refused connection's entry", || {
        let table = ct.shared.table();
        let found = table
            .entries()
            .find(|e| e.original.dst == closed && e.refused())
            .cloned();
        found
    });
    assert_eq!(entry.reply, entry.original.reversed());
}
