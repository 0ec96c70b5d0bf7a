//! The agent's listener: HTTP/1.1 and HTTP/2 (h2c) on one port. Clients
//! subscribe to their event stream over HTTP/2; Prometheus and kubelet's
//! probes speak HTTP/1.1 to `/metrics` and `/healthz`. It runs on its own
//! thread, so no client, however slow, is ever waited for by capture.

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

use super::auth::Token;
use super::clients::Subscriber;
use super::metrics::Metrics;
use super::protocol::{Frame, Subscribe, EVENTS_PATH, HEALTH_PATH, METRICS_PATH, STREAM_TYPE};
use super::queue::queue;

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// A subscription's JSON is small; anything larger is refused unread.
const SUBSCRIBE_MAX: usize = 64 * 1024;

/// What every request handler shares.
pub struct Shared {
    pub token: Token,
    pub metrics: Arc<Metrics>,
    /// Accepted subscriptions, to the capture loop.
    pub joining: Mutex<Sender<Subscriber>>,
    pub node: String,
    /// Each client's queue limit, in bytes.
    pub queue_bytes: usize,
    next_id: AtomicU64,
}

impl Shared {
    #[must_use]
    pub fn new(
        token: Token,
        metrics: Arc<Metrics>,
        joining: Sender<Subscriber>,
        node: String,
        queue_bytes: usize,
    ) -> Self {
        Shared {
            token,
            metrics,
            joining: Mutex::new(joining),
            node,
            queue_bytes,
            next_id: AtomicU64::new(1),
        }
    }
}

/// Serves `listener` on a thread of its own until the process ends.
pub fn spawn(listener: TcpListener, shared: Arc<Shared>) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("sdtrace-server".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("sdtrace agent: the listener failed: {e}");
                        return;
                    }
                };
                loop {
                    match listener.accept().await {
                        Ok((stream, peer)) => {
                            tokio::spawn(serve(stream, peer, shared.clone()));
                        }
                        // Out of fds and the like: the next accept may work.
                        Err(e) => {
                            eprintln!("sdtrace agent: accept: {e}");
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        }
                    }
                }
            });
        })?;
    Ok(())
}

async fn serve(stream: tokio::net::TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(route(req, peer, &shared).await) }
    });
    // A client that goes away mid-request is nothing to report.
    let _ = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.into())).boxed_unsync());
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

async fn route(req: Request<Incoming>, peer: SocketAddr, shared: &Shared) -> Response<Body> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, HEALTH_PATH) => {
            if shared.metrics.ready() {
                text(StatusCode::OK, "ok\n")
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "not attached yet\n")
            }
        }
        (&Method::GET, METRICS_PATH) => {
            let mut response = text(StatusCode::OK, shared.metrics.render());
            response.headers_mut().insert(
                CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        (&Method::POST, EVENTS_PATH) => subscribe(req, peer, shared).await,
        (_, HEALTH_PATH | METRICS_PATH | EVENTS_PATH) => {
            text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

async fn subscribe(req: Request<Incoming>, peer: SocketAddr, shared: &Shared) -> Response<Body> {
    let authorization = req.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
    if let Some(why) = shared.token.refuses(authorization) {
        shared.metrics.refused();
        eprintln!("sdtrace agent: refused a subscription from {peer}: {why}");
        let mut response = text(StatusCode::UNAUTHORIZED, "a valid bearer token is needed\n");
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            hyper::header::HeaderValue::from_static("Bearer"),
        );
        return response;
    }
    let body = match Limited::new(req.into_body(), SUBSCRIBE_MAX).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("the subscription: {e}\n")),
    };
    let sub: Subscribe = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("the subscription: {e}\n")),
    };
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let (tx, body) = queue(shared.queue_bytes);
    let mut hello = Vec::new();
    Frame::Hello {
        node: &shared.node,
        version: env!("CARGO_PKG_VERSION"),
    }
    .write(&mut hello);
    let subscriber = match Subscriber::new(id, peer.to_string(), &sub, tx, Bytes::from(hello)) {
        Ok(s) => s,
        Err(e) => return text(StatusCode::BAD_REQUEST, format!("{e}\n")),
    };
    let joined = shared
        .joining
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send(subscriber);
    if joined.is_err() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "the agent is stopping\n");
    }
    let mut response = Response::new(body.boxed_unsync());
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(STREAM_TYPE),
    );
    response
}
