//! The agent's listener: HTTP/1.1 and HTTP/2 on one port, in TLS (or
//! cleartext with `--insecure`). Clients
//! subscribe to their event stream over HTTP/2; Prometheus and kubelet's
//! probes speak HTTP/1.1 to `/metrics` and `/healthz`. It runs on its own
//! thread, so no client, however slow, is ever waited for by capture; and
//! each connection is held to [`Limits`], so no client keeps what it does
//! not use.

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
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use super::auth::{Access, Gate};
use super::clients::Subscriber;
use super::limits::{Activity, Closed, Guarded, Limits, Streams};
use super::metrics::Metrics;
use super::protocol::{Frame, Subscribe, EVENTS_PATH, HEALTH_PATH, METRICS_PATH, STREAM_TYPE};
use super::queue::queue;
use crate::tls::server::ServerTls;

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// A subscription's JSON is small; anything larger is refused unread.
const SUBSCRIBE_MAX: usize = 64 * 1024;
/// Request heads are small too: HTTP/1's read buffer and HTTP/2's header
/// list stay far below hyper's defaults.
const HEAD_MAX: usize = 64 * 1024;
/// Pings on an idle HTTP/2 stream find a peer that vanished without a FIN.
const PING_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// What every request handler shares.
pub struct Shared {
    pub gate: Gate,
    pub metrics: Arc<Metrics>,
    /// Accepted subscriptions, to the capture loop.
    pub joining: Mutex<Sender<Subscriber>>,
    pub node: String,
    /// Each client's queue limit, in bytes.
    pub queue_bytes: usize,
    pub limits: Limits,
    /// `/metrics` asks for the token too.
    pub metrics_auth: bool,
    streams: Arc<Streams>,
    next_id: AtomicU64,
}

impl Shared {
    #[must_use]
    pub fn new(
        gate: Gate,
        metrics: Arc<Metrics>,
        joining: Sender<Subscriber>,
        node: String,
        queue_bytes: usize,
        limits: Limits,
        metrics_auth: bool,
    ) -> Self {
        Shared {
            gate,
            metrics,
            joining: Mutex::new(joining),
            node,
            queue_bytes,
            limits,
            metrics_auth,
            streams: Arc::default(),
            next_id: AtomicU64::new(1),
        }
    }
}

/// What the server does first on its runtime, before it accepts.
pub type Setup = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Serves `listener` (in TLS unless `tls` is `None`) on a thread of its
/// own until the process ends, after `setup`.
pub fn spawn(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<ServerTls>,
    setup: Option<Setup>,
) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("sdtrace-server".into())
        .spawn(move || {
            runtime.block_on(async move {
                if let Some(setup) = setup {
                    setup.await;
                }
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("sdtrace agent: the listener failed: {e}");
                        return;
                    }
                };
                let slots = Arc::new(Semaphore::new(shared.limits.connections));
                let acceptor = tls.as_ref().map(ServerTls::acceptor);
                loop {
                    match listener.accept().await {
                        Ok((stream, peer)) => {
                            let counts = shared.metrics.connections();
                            // Closed at once (the peer sees a reset or EOF)
                            // rather than queued: a flood cannot grow memory.
                            let Ok(slot) = slots.clone().try_acquire_owned() else {
                                counts.refused.fetch_add(1, Ordering::Relaxed);
                                drop(stream);
                                continue;
                            };
                            counts.open.fetch_add(1, Ordering::Relaxed);
                            let shared = shared.clone();
                            let acceptor = acceptor.clone();
                            tokio::spawn(async move {
                                let _ = stream.set_nodelay(true);
                                match acceptor {
                                    Some(tls) => secured(tls, stream, peer, &shared).await,
                                    None => serve(stream, peer, &shared).await,
                                }
                                shared
                                    .metrics
                                    .connections()
                                    .open
                                    .fetch_sub(1, Ordering::Relaxed);
                                drop(slot);
                            });
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

/// The TLS handshake, held to the first request's time limit (a client
/// that opens a connection and says nothing is the same threat with or
/// without TLS), then the connection served over it.
async fn secured(
    tls: TlsAcceptor,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    shared: &Arc<Shared>,
) {
    let counts = shared.metrics.connections();
    match tokio::time::timeout(shared.limits.first_request, tls.accept(stream)).await {
        Ok(Ok(stream)) => serve(stream, peer, shared).await,
        // Not a TLS client, or one that gave up: nothing to answer it in.
        Ok(Err(_)) => {
            counts.closed_handshake.fetch_add(1, Ordering::Relaxed);
        }
        Err(_) => {
            counts.closed_no_request.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn serve<S>(stream: S, peer: SocketAddr, shared: &Arc<Shared>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let activity = Activity::new();
    let service = {
        let (shared, activity) = (shared.clone(), activity.clone());
        hyper::service::service_fn(move |req| {
            activity.request();
            let (shared, activity) = (shared.clone(), activity.clone());
            async move { Ok::<_, Infallible>(route(req, peer, &shared, &activity).await) }
        })
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(shared.limits.first_request)
        .max_buf_size(HEAD_MAX);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(HEAD_MAX as u32)
        .keep_alive_interval(PING_EVERY)
        .keep_alive_timeout(PING_EVERY);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    let closed = tokio::select! {
        // A client that goes away mid-request is nothing to report; one
        // too slow with a request head, or idle in keep-alive, is closed by
        // hyper's head timeout.
        ended = connection => match ended {
            Err(e) if is_timeout(e.as_ref()) => Some(activity.silence()),
            _ => None,
        },
        why = activity.watch(shared.limits) => Some(why),
    };
    let counts = shared.metrics.connections();
    match closed {
        Some(Closed::NoRequest) => counts.closed_no_request.fetch_add(1, Ordering::Relaxed),
        Some(Closed::Idle) => counts.closed_idle.fetch_add(1, Ordering::Relaxed),
        None => 0,
    };
}

/// Whether a connection ended on one of hyper's timers.
fn is_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    e.downcast_ref::<hyper::Error>()
        .is_some_and(hyper::Error::is_timeout)
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

async fn route(
    req: Request<Incoming>,
    peer: SocketAddr,
    shared: &Shared,
    activity: &Arc<Activity>,
) -> Response<Body> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, HEALTH_PATH) => {
            if shared.metrics.ready() {
                text(StatusCode::OK, "ok\n")
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "not attached yet\n")
            }
        }
        (&Method::GET, METRICS_PATH) => {
            if shared.metrics_auth {
                if let Err(refused) = admitted(&req, peer, shared).await {
                    return refused;
                }
            }
            let mut response = text(StatusCode::OK, shared.metrics.render());
            response.headers_mut().insert(
                CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        (&Method::POST, EVENTS_PATH) => subscribe(req, peer, shared, activity).await,
        (_, HEALTH_PATH | METRICS_PATH | EVENTS_PATH) => {
            text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// What the request's token admits it to, or the refusal to answer.
async fn admitted(
    req: &Request<Incoming>,
    peer: SocketAddr,
    shared: &Shared,
) -> Result<Access, Response<Body>> {
    let authorization = req.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
    let refused = match shared.gate.admit(authorization).await {
        Ok(access) => return Ok(access),
        Err(refused) => refused,
    };
    shared.metrics.refused();
    let what = if req.uri().path() == METRICS_PATH {
        "a /metrics request"
    } else {
        "a subscription"
    };
    eprintln!("sdtrace agent: refused {what} from {peer}: {}", refused.why);
    let status = StatusCode::from_u16(refused.status).unwrap_or(StatusCode::UNAUTHORIZED);
    if status != StatusCode::UNAUTHORIZED {
        // RBAC's answer, or why there was none: the client says it as is.
        return Err(text(status, format!("{}\n", refused.why)));
    }
    let mut response = text(status, "a valid bearer token is needed\n");
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        hyper::header::HeaderValue::from_static("Bearer"),
    );
    Err(response)
}

async fn subscribe(
    req: Request<Incoming>,
    peer: SocketAddr,
    shared: &Shared,
    activity: &Arc<Activity>,
) -> Response<Body> {
    let access = match admitted(&req, peer, shared).await {
        Ok(access) => access,
        Err(refused) => return refused,
    };
    let max = shared.limits.streams_per_peer;
    let Some(guard) = shared.streams.admit(peer.ip(), max, activity) else {
        let counts = shared.metrics.connections();
        counts.streams_refused.fetch_add(1, Ordering::Relaxed);
        return text(
            StatusCode::TOO_MANY_REQUESTS,
            format!("{} holds {max} event streams already\n", peer.ip()),
        );
    };
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
    let subscriber =
        match Subscriber::new(id, peer.to_string(), &sub, &access, tx, Bytes::from(hello)) {
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
    let mut response = Response::new(Guarded::new(body, guard).boxed_unsync());
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(STREAM_TYPE),
    );
    response
}
