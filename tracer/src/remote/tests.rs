//! The client against tiny agents made here: hyper HTTP/2 servers in the
//! test that speak the protocol from a script, over in-memory pipes (and
//! one over TCP), so no root, kernel or cluster is needed.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame as BodyFrame, Incoming};
use hyper::header::AUTHORIZATION;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::transport::Transport;
use tokio::sync::mpsc;

use super::connect::{attach_all, filter_text, Dial};
use super::stream::Io;
use super::*;
use crate::agent::protocol::{Frame, EVENTS_PATH};
use crate::filter::Filter;

const TOKEN: &str = "s3cret";

/// A response body fed chunk by chunk from the test.
struct Chunks(mpsc::UnboundedReceiver<Bytes>);

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<BodyFrame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(BodyFrame::data(b))))
    }
}

/// What a fake agent saw.
#[derive(Default, Debug)]
struct Seen {
    subscribe: Option<Subscribe>,
    authorization: Option<String>,
    path: String,
}

/// A fake agent: answers one subscription with `frames` (a body cut into
/// 7-byte chunks, so lines straddle DATA frames), then ends the body.
/// A bad token gets 401; a filter saying `nosuch` gets 400 with carets.
fn fake_agent(node: &str, frames: &[Frame<'_>]) -> (Dial, Arc<Mutex<Seen>>) {
    let mut body = Vec::new();
    Frame::Hello {
        node,
        version: "0.1.0",
    }
    .write(&mut body);
    for f in frames {
        f.write(&mut body);
    }
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (client, server) = tokio::io::duplex(1 << 16);
    let script = Arc::new(body);
    let record = Arc::clone(&seen);
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let script = Arc::clone(&script);
        let record = Arc::clone(&record);
        async move {
            let path = req.uri().path().to_owned();
            let authorization = req
                .headers()
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let json = req.into_body().collect().await.unwrap().to_bytes();
            let subscribe: Subscribe = serde_json::from_slice(&json).unwrap();
            let (tx, rx) = mpsc::unbounded_channel();
            let status = if authorization.as_deref() != Some(&format!("Bearer {TOKEN}")) {
                StatusCode::UNAUTHORIZED
            } else if subscribe
                .filter
                .as_deref()
                .is_some_and(|f| f.contains("nosuch"))
            {
                let caret = "sdtrace: filter: no field `nosuch`\n  nosuch=1\n  ^^^^^^\n";
                tx.send(Bytes::from_static(caret.as_bytes())).unwrap();
                StatusCode::BAD_REQUEST
            } else {
                for chunk in script.chunks(7) {
                    tx.send(Bytes::copy_from_slice(chunk)).unwrap();
                }
                StatusCode::OK
            };
            drop(tx);
            *record.lock().unwrap() = Seen {
                subscribe: Some(subscribe),
                authorization,
                path,
            };
            let mut response = Response::new(Chunks(rx));
            *response.status_mut() = status;
            Ok::<_, Infallible>(response)
        }
    });
    tokio::spawn(async move {
        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(server), service)
            .await;
    });
    let dial = Dial {
        agent: format!("fake-{node}"),
        origin: "http://localhost:7373".to_owned(),
        node: Some(node.to_owned()),
        connect: Box::pin(async move { Ok(Box::new(client) as Box<dyn Io>) }),
    };
    (dial, seen)
}

/// An agent's wall-clock time (ns since 1970), as it stamps events and marks.
const WALL: u64 = 1_795_657_925_000_000_000;

fn ev(ts: u64, line: &str) -> Frame<'_> {
    Frame::Event {
        ts: WALL + ts,
        line,
    }
}

fn mark(ts: u64, kernel_drops: u64, queue_drops: u64) -> Frame<'static> {
    Frame::Mark {
        ts: WALL + ts,
        kernel_drops,
        queue_drops,
    }
}

const BYE: Frame<'static> = Frame::Bye {
    reason: "the agent is stopping",
};

/// What the client printed, said, and how it ended.
struct Run {
    stdout: String,
    stderr: Vec<String>,
    code: ExitCode,
}

async fn run_client(
    dials: Vec<Dial>,
    subscribe: Subscribe,
    token: &str,
    limits: Limits,
) -> anyhow::Result<Run> {
    let said = Mutex::new(Vec::new());
    let say = |line: &str| said.lock().unwrap().push(line.to_owned());
    let label = Label::of(subscribe.print.is_some(), subscribe.json);
    let (attached, lost) = attach_all(dials, Some(token.to_owned()), subscribe, &say).await?;
    let mut out = Vec::new();
    let code = print::run(attached, label, limits, lost, &mut out, &say).await?;
    Ok(Run {
        stdout: String::from_utf8(out).unwrap(),
        stderr: said.into_inner().unwrap(),
        code,
    })
}

fn subscribe(filter: &str) -> Subscribe {
    Subscribe {
        filter: Some(filter.to_owned()),
        print: None,
        json: false,
        mode: None,
    }
}

#[tokio::test]
async fn two_agents_merge_in_time_order_with_their_node_names() {
    let (a, seen_a) = fake_agent(
        "node-a",
        &[
            mark(5, 7, 0),
            ev(10, "a10"),
            ev(30, "a30"),
            mark(40, 7, 0),
            BYE,
        ],
    );
    let (b, _) = fake_agent(
        "node-b",
        &[
            ev(20, "b20"),
            mark(25, 0, 0),
            ev(30, "b30"),
            mark(50, 2, 3),
            BYE,
        ],
    );
    let run = run_client(
        vec![a, b],
        subscribe("evt.type=openat"),
        TOKEN,
        Limits::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        run.stdout, "node-a a10\nnode-b b20\nnode-a a30\nnode-b b30\n",
        "{:?}",
        run.stderr
    );
    assert_eq!(run.code, ExitCode::SUCCESS);
    let seen = seen_a.lock().unwrap();
    assert_eq!(seen.path, EVENTS_PATH);
    assert_eq!(seen.authorization.as_deref(), Some("Bearer s3cret"));
    assert_eq!(seen.subscribe, Some(subscribe("evt.type=openat")));
    let has = |needle: &str| run.stderr.iter().any(|l| l.contains(needle));
    assert!(
        has("sdtrace: node-b: the agent dropped 3 of our events"),
        "{:?}",
        run.stderr
    );
    // node-b's kernel count began at 0 and grew; node-a's 7 came before us.
    assert!(
        has("sdtrace: node-b: the kernel dropped 2 events"),
        "{:?}",
        run.stderr
    );
    assert!(!has("sdtrace: node-a: the kernel"), "{:?}", run.stderr);
    assert!(has(
        "sdtrace: node-a: the agent ended the stream: the agent is stopping"
    ));
    assert!(has(
        "sdtrace: node-a: 2 events, 0 kernel drops, 0 queue drops"
    ));
    assert!(has(
        "sdtrace: node-b: 2 events, 2 kernel drops, 3 queue drops"
    ));
}

#[tokio::test]
async fn json_objects_get_the_node_as_their_first_key() {
    let (a, _) = fake_agent(
        "kind-worker",
        &[ev(1, r#"{"evt.num":1,"proc.name":"cat"}"#), BYE],
    );
    let mut sub = subscribe("proc.name=cat");
    sub.json = true;
    let run = run_client(vec![a], sub, TOKEN, Limits::default())
        .await
        .unwrap();
    assert_eq!(
        run.stdout,
        "{\"k8s.node.name\":\"kind-worker\",\"evt.num\":1,\"proc.name\":\"cat\"}\n"
    );
    // With -p the agent's own line is printed as it is.
    let (b, _) = fake_agent("kind-worker", &[ev(1, "cat /etc/hosts"), BYE]);
    let mut sub = subscribe("proc.name=cat");
    sub.print = Some("%proc.name %fd.name".to_owned());
    let run = run_client(vec![b], sub, TOKEN, Limits::default())
        .await
        .unwrap();
    assert_eq!(run.stdout, "cat /etc/hosts\n");
}

#[tokio::test]
async fn count_stops_after_n_lines() {
    let (a, _) = fake_agent(
        "n1",
        &[ev(1, "one"), ev(2, "two"), ev(3, "three"), mark(9, 0, 0)],
    );
    let limits = Limits {
        count: Some(2),
        duration: None,
    };
    // Three events are in the merge once the body ends: -n prints two.
    let run = run_client(vec![a], subscribe("evt.type=read"), TOKEN, limits)
        .await
        .unwrap();
    assert_eq!(run.stdout, "n1 one\nn1 two\n");
}

#[tokio::test]
async fn a_bad_token_is_refused_with_a_hint() {
    let (a, _) = fake_agent("n1", &[BYE]);
    let err = run_client(
        vec![a],
        subscribe("evt.type=read"),
        "wrong",
        Limits::default(),
    )
    .await
    .err()
    .expect("refused");
    assert_eq!(
        err.to_string(),
        "agent fake-n1 refused our token (--token-file, $SDTRACE_TOKEN)"
    );
}

#[tokio::test]
async fn a_refused_filter_is_the_agents_own_words() {
    let (a, _) = fake_agent("n1", &[BYE]);
    let err = run_client(vec![a], subscribe("nosuch=1"), TOKEN, Limits::default())
        .await
        .err()
        .expect("refused");
    assert_eq!(
        err.to_string(),
        "sdtrace: filter: no field `nosuch`\n  nosuch=1\n  ^^^^^^"
    );
}

#[tokio::test]
async fn an_unreachable_or_broken_agent_leaves_the_others_going() {
    let (a, _) = fake_agent("good", &[ev(1, "fine"), mark(5, 0, 0), BYE]);
    // No bye: its body just ends.
    let (b, _) = fake_agent("cut", &[ev(2, "early"), mark(3, 0, 0)]);
    let unreachable = Dial {
        agent: "10.9.9.9:7373".to_owned(),
        origin: "http://10.9.9.9:7373".to_owned(),
        node: None,
        connect: Box::pin(async {
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "connection refused",
            ))
        }),
    };
    let run = run_client(
        vec![a, unreachable, b],
        subscribe("evt.type=read"),
        TOKEN,
        Limits::default(),
    )
    .await
    .unwrap();
    assert_eq!(run.stdout, "good fine\ncut early\n", "{:?}", run.stderr);
    assert!(
        run.stderr
            .contains(&"sdtrace: agent 10.9.9.9:7373: connection refused".to_owned()),
        "{:?}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&"sdtrace: cut: the agent's stream closed without a bye".to_owned()),
        "{:?}",
        run.stderr
    );
    assert_eq!(run.code, ExitCode::FAILURE);
}

#[tokio::test]
async fn a_frame_that_does_not_parse_names_its_agent() {
    let (a, _) = fake_agent("n1", &[ev(1, "fine"), mark(2, 0, 0)]);
    // fake_agent writes only well-formed frames: this one's body is raw.
    let (client, server) = tokio::io::duplex(1 << 12);
    let service = hyper::service::service_fn(|_req: Request<Incoming>| async {
        let (tx, rx) = mpsc::unbounded_channel();
        tx.send(Bytes::from(format!(
            "hello n2 0.1.0\nev {} ok\nwhat 4\n",
            WALL + 3
        )))
        .unwrap();
        Ok::<_, Infallible>(Response::new(Chunks(rx)))
    });
    tokio::spawn(async move {
        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(TokioIo::new(server), service)
            .await;
    });
    let garbled = Dial {
        agent: "fake-n2".to_owned(),
        origin: "http://localhost:7373".to_owned(),
        node: None,
        connect: Box::pin(async move { Ok(Box::new(client) as Box<dyn Io>) }),
    };
    let run = run_client(
        vec![a, garbled],
        subscribe("evt.type=read"),
        TOKEN,
        Limits::default(),
    )
    .await
    .unwrap();
    assert!(
        run.stderr.iter().any(|l| l.starts_with(
            "sdtrace: n2: disconnected: agent fake-n2: not an sdtrace stream line: \"what 4\""
        )),
        "{:?}",
        run.stderr
    );
    assert!(run.stdout.contains("n2 ok\n"), "{}", run.stdout);
}

#[tokio::test]
async fn agents_over_tcp() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (fake, _) = fake_agent("tcp-node", &[ev(1, "over tcp"), BYE]);
    // Relay the TCP connection to the fake agent's in-memory pipe.
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut pipe = fake.connect.await.unwrap();
        let _ = tokio::io::copy_bidirectional(&mut socket, &mut pipe).await;
    });
    let dials = direct::dials(&[format!("127.0.0.1:{port}")], &Transport::cleartext()).unwrap();
    let run = run_client(dials, subscribe("evt.type=read"), TOKEN, Limits::default())
        .await
        .unwrap();
    assert_eq!(run.stdout, "tcp-node over tcp\n");
}

#[test]
fn the_namespace_narrows_the_filter() {
    assert_eq!(filter_text(None, None), None);
    assert_eq!(
        filter_text(Some("evt.type=open or proc.name=cat".into()), Some("shop")).as_deref(),
        Some("(evt.type=open or proc.name=cat) and k8s.ns.name=\"shop\"")
    );
    assert_eq!(
        filter_text(None, Some("kube-system")).as_deref(),
        Some("k8s.ns.name=\"kube-system\"")
    );
    for text in [
        filter_text(Some("evt.type=open or proc.name=cat".into()), Some("shop")),
        filter_text(None, Some("kube-system")),
    ] {
        Filter::parse(&text.unwrap()).unwrap();
    }
}

#[test]
fn options_for_the_local_capture_are_named() {
    use clap::Parser;
    let cli = |args: &[&str]| Cli::parse_from(["sdtrace", "--agent", "a"].iter().chain(args));
    assert!(local_only(&cli(&["-c", "evt.type=open", "-j", "-n", "3"])).is_empty());
    assert_eq!(
        local_only(&cli(&["-s", "200", "-A", "--buffer-size", "8M"])),
        ["-s", "--buffer-size", "-A/-x/-X"]
    );
}
