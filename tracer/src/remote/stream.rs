//! One agent's event stream: HTTP/2 with prior knowledge over whatever
//! byte stream reaches the agent (TLS, or cleartext with `--insecure`, on a
//! TCP socket for `--agent` or a port-forward through the API server for
//! `--cluster`), the subscription, then the body read frame by frame.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use crate::agent::protocol::{BadFrame, Frame, Mode, Subscribe, EVENTS_PATH};

/// A byte stream to an agent.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// How a byte stream to one agent is opened.
pub type Connect = Pin<Box<dyn Future<Output = std::io::Result<Box<dyn Io>>> + Send>>;

/// The longest line a stream may send: a frame is one event's line, and
/// a stream that sends this much without a newline is not an agent's.
const MAX_LINE: usize = 1 << 20;

/// The longest state a records client takes (a node's processes with
/// their fds, as JSON: a few MiB on a busy node).
const MAX_STATE: usize = 256 << 20;

/// The most of an error answer's body kept (it is one line and its carets).
const MAX_ERROR_BODY: usize = 64 << 10;

/// HTTP/2 pings on a stream that has gone quiet, and how long a ping may
/// go unanswered: an agent whose node vanished sends no FIN, and without
/// them its stream would stay open, and counted, forever.
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("agent {agent}: {source}")]
    Connect {
        agent: String,
        #[source]
        source: std::io::Error,
    },
    #[error("agent {agent}: HTTP/2: {source}{hint}")]
    Http {
        agent: String,
        #[source]
        source: hyper::Error,
        /// What may be wrong, when the connection never got going.
        hint: &'static str,
    },
    #[error("agent {agent} refused our token (--token-file, $SDTRACE_TOKEN)")]
    Token { agent: String },
    #[error("agent {agent} wants a token (--token-file, $SDTRACE_TOKEN)")]
    NoToken { agent: String },
    /// The agent refused the filter or format: its own words, carets and all.
    #[error("{0}")]
    Refused(String),
    #[error("agent {agent} answered {status}: {body}")]
    Status {
        agent: String,
        status: StatusCode,
        body: String,
    },
    #[error("agent {agent}: {source}")]
    BadFrame {
        agent: String,
        #[source]
        source: BadFrame,
    },
    #[error("agent {agent} sent a line that is not UTF-8")]
    NotUtf8 { agent: String },
    #[error("agent {agent} sent a line longer than {MAX_LINE} bytes")]
    LineTooLong { agent: String },
    #[error("agent {agent}: the stream broke off in the middle of a line")]
    Truncated { agent: String },
    #[error("agent {agent} did not begin its stream with hello")]
    NoHello { agent: String },
    #[error("agent {agent} ended its stream before saying hello")]
    NoWord { agent: String },
    #[error("agent {agent} said hello twice")]
    Rehello { agent: String },
    #[error("agent {agent} did not send its state after hello (is it older than this sdtrace?)")]
    NoState { agent: String },
    #[error("agent {agent} sent its state twice")]
    Restate { agent: String },
}

impl StreamError {
    /// Whether the agent refused what we asked (the token, the filter):
    /// every agent would, so going on without it makes no sense.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            StreamError::Token { .. } | StreamError::NoToken { .. } | StreamError::Refused(_)
        )
    }
}

/// What a stream said after its hello, as the merge wants it.
#[derive(Debug)]
pub enum Said {
    Event {
        ts: u64,
        line: String,
    },
    Mark {
        ts: u64,
        kernel_drops: u64,
        queue_drops: u64,
    },
    /// The agent ended the stream, and why.
    Bye(String),
    /// The connection closed without a bye.
    Closed,
    Failed(StreamError),
}

impl Said {
    /// Whether nothing follows.
    pub fn is_last(&self) -> bool {
        matches!(self, Said::Bye(_) | Said::Closed | Said::Failed(_))
    }
}

/// A frame from stream number `stream`.
#[derive(Debug)]
pub struct Message {
    pub stream: usize,
    pub said: Said,
}

/// A stream subscribed to and past its hello.
pub struct Attached {
    /// The agent as the user named it (HOST:PORT, or its pod).
    pub agent: String,
    /// The node, as its agent said in hello.
    pub node: String,
    pub version: String,
    /// A records subscription's start (the agent's [`Frame::State`] JSON).
    pub state: Option<String>,
    lines: Lines,
}

/// Opens the stream: handshake, subscription, status, hello.
pub async fn attach(
    agent: &str,
    connect: Connect,
    origin: &str,
    token: Option<&str>,
    subscribe: &Subscribe,
) -> Result<Attached, StreamError> {
    let io = connect.await.map_err(|source| StreamError::Connect {
        agent: agent.to_owned(),
        source,
    })?;
    // A TLS agent hangs up on an HTTP/2 preface in cleartext.
    let hint = if origin.starts_with("http:") {
        " (an agent that serves TLS is reached without --insecure)"
    } else {
        ""
    };
    let http = |source| StreamError::Http {
        agent: agent.to_owned(),
        source,
        hint,
    };
    let (mut sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .keep_alive_interval(KEEP_ALIVE)
        .keep_alive_timeout(KEEP_ALIVE)
        .keep_alive_while_idle(true)
        .handshake(TokioIo::new(io))
        .await
        .map_err(http)?;
    // The connection's own task: it ends with the stream (its errors come
    // out of the body as well).
    tokio::spawn(connection);
    let json = serde_json::to_vec(subscribe).expect("a subscription serialises");
    let mut request =
        Request::post(format!("{origin}{EVENTS_PATH}")).header(CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request
        .body(Full::new(Bytes::from(json)))
        .expect("a well-formed request");
    let response = sender.send_request(request).await.map_err(http)?;
    let status = response.status();
    let body = response.into_body();
    match status {
        StatusCode::OK => {}
        StatusCode::UNAUTHORIZED if token.is_none() => {
            return Err(StreamError::NoToken {
                agent: agent.to_owned(),
            })
        }
        StatusCode::UNAUTHORIZED => {
            return Err(StreamError::Token {
                agent: agent.to_owned(),
            })
        }
        StatusCode::BAD_REQUEST => {
            let text = error_body(body).await;
            return Err(StreamError::Refused(text.trim_end().to_owned()));
        }
        status => {
            let text = error_body(body).await;
            return Err(StreamError::Status {
                agent: agent.to_owned(),
                status,
                body: text.trim_end().to_owned(),
            });
        }
    }
    let mut lines = Lines::new(agent, body);
    let first = lines.next().await?.ok_or_else(|| StreamError::NoWord {
        agent: agent.to_owned(),
    })?;
    let Frame::Hello { node, version } = parse(agent, &first)? else {
        return Err(StreamError::NoHello {
            agent: agent.to_owned(),
        });
    };
    let state = match subscribe.mode {
        Some(Mode::Records) => Some(lines.state().await?),
        _ => None,
    };
    Ok(Attached {
        agent: agent.to_owned(),
        node: node.to_owned(),
        version: version.to_owned(),
        state,
        lines,
    })
}

async fn error_body(body: Incoming) -> String {
    match Limited::new(body, MAX_ERROR_BODY).collect().await {
        Ok(all) => String::from_utf8_lossy(&all.to_bytes()).into_owned(),
        Err(e) => format!("(its body could not be read: {e})"),
    }
}

fn parse<'a>(agent: &str, line: &'a str) -> Result<Frame<'a>, StreamError> {
    Frame::parse(line).map_err(|source| StreamError::BadFrame {
        agent: agent.to_owned(),
        source,
    })
}

impl Attached {
    /// Reads the stream to its end, sending each frame on as stream
    /// number `stream`; returns when it ends or nobody listens.
    pub async fn pump(mut self, stream: usize, to: mpsc::Sender<Message>) {
        loop {
            let said = match self.lines.next().await {
                Ok(Some(line)) => match parse(&self.agent, &line) {
                    Ok(Frame::Event { ts, line }) => Said::Event {
                        ts,
                        line: line.to_owned(),
                    },
                    Ok(Frame::Mark {
                        ts,
                        kernel_drops,
                        queue_drops,
                    }) => Said::Mark {
                        ts,
                        kernel_drops,
                        queue_drops,
                    },
                    // A record merges like an event: its payload is what
                    // the records client decodes.
                    Ok(Frame::Record { ts, data }) => Said::Event {
                        ts,
                        line: data.to_owned(),
                    },
                    Ok(Frame::Bye { reason }) => Said::Bye(reason.to_owned()),
                    Ok(Frame::Hello { .. }) => Said::Failed(StreamError::Rehello {
                        agent: self.agent.clone(),
                    }),
                    Ok(Frame::State { .. }) => Said::Failed(StreamError::Restate {
                        agent: self.agent.clone(),
                    }),
                    Err(e) => Said::Failed(e),
                },
                Ok(None) => Said::Closed,
                Err(e) => Said::Failed(e),
            };
            let last = said.is_last();
            if to.send(Message { stream, said }).await.is_err() || last {
                return;
            }
        }
    }
}

/// A body cut into lines; a line may span DATA frames, and a frame may
/// hold many lines.
struct Lines {
    agent: String,
    body: Incoming,
    buf: Vec<u8>,
    /// The longest line taken.
    max: usize,
    /// Where the next line begins in `buf` (what is before was handed out).
    start: usize,
    /// Up to where `buf` is known to hold no newline.
    scanned: usize,
}

impl Lines {
    fn new(agent: &str, body: Incoming) -> Self {
        Lines {
            agent: agent.to_owned(),
            body,
            buf: Vec::new(),
            max: MAX_LINE,
            start: 0,
            scanned: 0,
        }
    }

    /// A records subscription's state: the line after hello, which may be
    /// longer than any other.
    async fn state(&mut self) -> Result<String, StreamError> {
        self.max = MAX_STATE;
        let line = self.next().await;
        self.max = MAX_LINE;
        let no_state = || StreamError::NoState {
            agent: self.agent.clone(),
        };
        let line = line?.ok_or_else(no_state)?;
        match Frame::parse(&line) {
            Ok(Frame::State { json }) => Ok(json.to_owned()),
            _ => Err(no_state()),
        }
    }

    /// The next line, without its newline; `None` at the body's end.
    async fn next(&mut self) -> Result<Option<String>, StreamError> {
        loop {
            if let Some(at) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
                let end = self.scanned + at;
                let line = self.buf[self.start..end].to_vec();
                self.start = end + 1;
                self.scanned = self.start;
                return String::from_utf8(line)
                    .map(Some)
                    .map_err(|_| StreamError::NotUtf8 {
                        agent: self.agent.clone(),
                    });
            }
            // Only now, with no whole line left, is the handed-out front
            // dropped: once per DATA frame rather than once per line.
            self.buf.drain(..self.start);
            self.start = 0;
            self.scanned = self.buf.len();
            if self.buf.len() > self.max {
                return Err(StreamError::LineTooLong {
                    agent: self.agent.clone(),
                });
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
                Some(Err(source)) => {
                    return Err(StreamError::Http {
                        agent: self.agent.clone(),
                        source,
                        hint: "",
                    })
                }
                None if self.buf.is_empty() => return Ok(None),
                None => {
                    return Err(StreamError::Truncated {
                        agent: self.agent.clone(),
                    })
                }
            }
        }
    }
}
