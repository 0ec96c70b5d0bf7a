//! Socket events: both ends of a loopback TCP connection carry its addresses.
use std::net::{Ipv4Addr, TcpListener, TcpStream};

use tests::{e2e, EventExt, Session};

e2e!(connect_and_accept_carry_the_tuple, |tracer| {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let server_port = i64::from(listener.local_addr().unwrap().port());
    let pid = std::process::id();

    let filter =
        format!("(evt.type=connect or evt.type=accept or evt.type=accept4) and proc.pid={pid}");
    let session = Session::start(&tracer, &["-c", &filter]);
    let client =
        TcpStream::connect((Ipv4Addr::LOCALHOST, listener.local_addr().unwrap().port())).unwrap();
    let client_port = i64::from(client.local_addr().unwrap().port());
    let (_served, peer) = listener.accept().unwrap();
    assert_eq!(i64::from(peer.port()), client_port);

    let connect = session.wait_for(&format!("connect to 127.0.0.1:{server_port}"), |e| {
        e.evt_type() == Some("connect")
            && e.pid() == Some(pid)
            && e.int_field("fd.sport") == Some(server_port)
    });
    assert_eq!(connect.str_field("fd.sip"), Some("127.0.0.1"), "{connect}");
    assert_eq!(connect.str_field("fd.l4proto"), Some("tcp"), "{connect}");

    let accept = session.wait_for(
        &format!("accept on port {server_port} from port {client_port}"),
        |e| {
            matches!(e.evt_type(), Some("accept" | "accept4"))
                && e.pid() == Some(pid)
                && e.int_field("fd.cport") == Some(client_port)
        },
    );
    assert_eq!(accept.str_field("fd.sip"), Some("127.0.0.1"), "{accept}");
    assert_eq!(accept.int_field("fd.sport"), Some(server_port), "{accept}");
    assert!(session.stop().status.success());
});
