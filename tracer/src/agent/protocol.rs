//! What `sdtrace agent` and its clients (`--agent`, `--cluster`) say to
//! each other over HTTP.
//!
//! A client subscribes with `POST /v1/events`, a JSON [`Subscribe`] body
//! and `Authorization: Bearer TOKEN`. A bad filter or format is refused
//! with 400 and the one-line error (its caret lines included) as the body;
//! a missing or wrong token with 401. Otherwise the answer is 200 and a
//! body that never ends on its own: one [`Frame`] per line, UTF-8,
//! starting with a [`Frame::Hello`]. The agent formats each event as the
//! client asked, so the client only merges and prints.
//!
//! Events come in time order, and a [`Frame::Mark`] promises that nothing
//! older than its time will follow: a client merging several agents
//! prints an event once every stream's mark has passed it.
//!
//! A client that runs its own pipeline (`sdtrace ui --agent`, `top
//! --agent`) asks for [`Mode::Records`] instead: after hello it gets the
//! node's state ([`Frame::State`]: processes, users, clock, the answers
//! about cgroups, containers and pods so far), then a [`Frame::Record`] per
//! record, exactly as the agent's kernel wrote it, with the `/proc` and
//! runtime answers its handling used: what a capture file (`-w`) holds.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::journal::Answer;
use crate::scap::writer::CaptureInfo;
use crate::state::Process;

/// Where a client subscribes.
pub const EVENTS_PATH: &str = "/v1/events";
/// Prometheus' scrape path.
pub const METRICS_PATH: &str = "/metrics";
/// The readiness probe's path.
pub const HEALTH_PATH: &str = "/healthz";
/// The port an agent listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 7373;
/// The stream's content type.
pub const STREAM_TYPE: &str = "application/x-sdtrace-stream";

/// What a client asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscribe {
    /// A filter in sdtrace's (sysdig's) language; none matches everything.
    #[serde(default)]
    pub filter: Option<String>,
    /// A `-p` format (or preset name); none is the default line.
    #[serde(default)]
    pub print: Option<String>,
    /// `-j`: each event a JSON object.
    #[serde(default)]
    pub json: bool,
    /// A mode instead of events: the agent runs it on its node's events
    /// (those the filter matches) and sends what it prints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
}

/// `sdtrace follow` or `sdtrace converge`, run by the agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Mode {
    /// Requests of these processes (pids on every node), names, or to
    /// these destinations.
    Follow {
        #[serde(default)]
        pids: Vec<u32>,
        #[serde(default)]
        comms: Vec<String>,
        #[serde(default)]
        conns: Vec<std::net::SocketAddr>,
    },
    /// What these daemons (none: the known agents and the heuristic) did.
    Converge {
        #[serde(default)]
        daemons: Vec<String>,
        #[serde(default)]
        pids: Vec<u32>,
    },
    /// The records the filter matches, those that keep the process and fd
    /// tables exact, and the state to read them from: the client runs
    /// every mode on them itself.
    Records,
}

/// What a records client starts from: [`Frame::State`]'s JSON.
#[derive(Debug, Serialize, Deserialize)]
pub struct Start {
    pub info: CaptureInfo,
    pub processes: Vec<Process>,
    /// The latest answer about every cgroup, container and pod so far.
    pub answers: Vec<Answer>,
}

/// One line of the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// First: which node this agent traces, and its sdtrace version.
    Hello { node: &'a str, version: &'a str },
    /// One matched event: its time (ns since 1970 on the node's clock,
    /// which NTP keeps in step with the other nodes') and its line as
    /// formatted for the client.
    Event { ts: u64, line: &'a str },
    /// No event older than `ts` will follow. `kernel_drops`: the node's
    /// kernel side has lost this many events since the agent started (for
    /// every client); `queue_drops`: this many of this client's matched
    /// events were dropped because it read too slowly.
    Mark {
        ts: u64,
        kernel_drops: u64,
        queue_drops: u64,
    },
    /// The agent ends the stream, and why.
    Bye { reason: &'a str },
    /// Records clients, after hello: a [`Start`] as JSON.
    State { json: &'a str },
    /// Records clients: one record at `ts` (as [`Frame::Event`]'s), base64
    /// of capture-file items (`scap::sidecar`): the answers its handling
    /// used, then the record, shown (the filter matched) or context.
    Record { ts: u64, data: &'a str },
}

/// A line that is not a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFrame(pub String);

impl fmt::Display for BadFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not an sdtrace stream line: {:?}", self.0)
    }
}

impl std::error::Error for BadFrame {}

/// A line's text with its newlines made visible, so it stays one frame.
fn one_line(text: &str, out: &mut Vec<u8>) {
    for part in text.split_inclusive('\n') {
        match part.strip_suffix('\n') {
            Some(body) => {
                out.extend_from_slice(body.as_bytes());
                out.extend_from_slice(b"\\n");
            }
            None => out.extend_from_slice(part.as_bytes()),
        }
    }
}

impl Frame<'_> {
    /// Appends the frame and its newline.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut num = itoa::Buffer::new();
        match self {
            Frame::Hello { node, version } => {
                out.extend_from_slice(b"hello ");
                one_line(node, out);
                out.push(b' ');
                one_line(version, out);
            }
            Frame::Event { ts, line } => {
                out.extend_from_slice(b"ev ");
                out.extend_from_slice(num.format(*ts).as_bytes());
                out.push(b' ');
                one_line(line, out);
            }
            Frame::Mark {
                ts,
                kernel_drops,
                queue_drops,
            } => {
                out.extend_from_slice(b"mark ");
                for (i, n) in [ts, kernel_drops, queue_drops].into_iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    out.extend_from_slice(num.format(*n).as_bytes());
                }
            }
            Frame::Bye { reason } => {
                out.extend_from_slice(b"bye ");
                one_line(reason, out);
            }
            Frame::State { json } => {
                out.extend_from_slice(b"state ");
                one_line(json, out);
            }
            Frame::Record { ts, data } => {
                out.extend_from_slice(b"rec ");
                out.extend_from_slice(num.format(*ts).as_bytes());
                out.push(b' ');
                out.extend_from_slice(data.as_bytes());
            }
        }
        out.push(b'\n');
    }

    /// Reads one line (without its newline).
    pub fn parse(line: &str) -> Result<Frame<'_>, BadFrame> {
        let bad = || BadFrame(line.chars().take(80).collect());
        let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
        let number = |s: &str| s.parse::<u64>().map_err(|_| bad());
        match kind {
            "hello" => {
                let (node, version) = rest.split_once(' ').ok_or_else(bad)?;
                Ok(Frame::Hello { node, version })
            }
            "ev" => {
                let (ts, line) = rest.split_once(' ').unwrap_or((rest, ""));
                Ok(Frame::Event {
                    ts: number(ts)?,
                    line,
                })
            }
            "mark" => {
                let mut parts = rest.split(' ');
                let mut next = || parts.next().ok_or_else(bad).and_then(number);
                let frame = Frame::Mark {
                    ts: next()?,
                    kernel_drops: next()?,
                    queue_drops: next()?,
                };
                if parts.next().is_some() {
                    return Err(bad());
                }
                Ok(frame)
            }
            "bye" => Ok(Frame::Bye { reason: rest }),
            "state" => Ok(Frame::State { json: rest }),
            "rec" => {
                let (ts, data) = rest.split_once(' ').ok_or_else(bad)?;
                Ok(Frame::Record {
                    ts: number(ts)?,
                    data,
                })
            }
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(frame: &Frame<'_>) {
        let mut out = Vec::new();
        frame.write(&mut out);
        let text = std::str::from_utf8(&out).unwrap();
        let line = text.strip_suffix('\n').expect("ends with a newline");
        assert!(!line.contains('\n'), "{text:?}");
        assert_eq!(&Frame::parse(line).unwrap(), frame);
    }

    #[test]
    fn frames_round_trip() {
        round_trip(&Frame::Hello {
            node: "kind-worker",
            version: "0.1.0",
        });
        round_trip(&Frame::Event {
            ts: 1_795_657_925_189_201_452,
            line: "12:00:00.1 0 cat (12) > openat fd=3(<f>/etc/hosts)",
        });
        round_trip(&Frame::Event { ts: 7, line: "" });
        round_trip(&Frame::Mark {
            ts: 9,
            kernel_drops: 3,
            queue_drops: 0,
        });
        round_trip(&Frame::Bye {
            reason: "the agent is stopping",
        });
        round_trip(&Frame::State {
            json: r#"{"processes":[]}"#,
        });
        round_trip(&Frame::Record {
            ts: 5,
            data: "AwAAAAA=",
        });
    }

    #[test]
    fn a_newline_in_a_line_stays_in_its_frame() {
        let mut out = Vec::new();
        Frame::Event {
            ts: 1,
            line: "a\nb",
        }
        .write(&mut out);
        assert_eq!(out, b"ev 1 a\\nb\n");
    }

    #[test]
    fn malformed_lines_are_refused() {
        for line in [
            "",
            "ev",
            "ev x line",
            "mark 1 2",
            "mark 1 2 3 4",
            "hello onlynode",
            "rec 5",
            "rec x AA==",
            "what 1",
        ] {
            assert!(Frame::parse(line).is_err(), "{line:?}");
        }
    }

    #[test]
    fn the_state_says_which_architecture_and_arm64_records_read_the_same() {
        use crate::event::clock::Clock;
        use tracer_common::{arch::Arch, CaptureKind};
        let start = Start {
            info: CaptureInfo {
                sdtrace: "0.1.0".into(),
                arch: Arch::Aarch64,
                clock: Clock::fixed(0, 0),
                passwd: String::new(),
                group: String::new(),
            },
            processes: Vec::new(),
            answers: Vec::new(),
        };
        let json = serde_json::to_string(&start).unwrap();
        assert!(json.contains(r#""arch":"aarch64""#), "{json}");
        let back: Start = serde_json::from_str(&json).unwrap();
        assert_eq!(back.info.arch, Arch::Aarch64);
        // An agent from before arm64 support ran on x86_64.
        let old = json.replace(r#""arch":"aarch64","#, "");
        let old: Start = serde_json::from_str(&old).unwrap();
        assert_eq!(old.info.arch, Arch::X86_64);
        // arm64's kernel side writes the canonical number of its native
        // openat (56), so a client on x86_64 decodes and names it alike.
        let nr = Arch::Aarch64.canonical(56).unwrap();
        let bytes = crate::decode::tests::syscall_record(
            nr,
            3,
            [u64::from((-100i32) as u32), 0x1000, 0, 0, 0, 0],
            &[(0, CaptureKind::UserStr, b"/etc/hosts\0")],
        );
        let rec = crate::decode::decode(&bytes).unwrap();
        assert_eq!(crate::fields::syscall_name(u32::from(rec.hdr.nr)), "openat");
    }

    #[test]
    fn a_subscription_with_an_unknown_field_is_refused() {
        let ok: Subscribe = serde_json::from_str(r#"{"filter":"evt.type=open"}"#).unwrap();
        assert_eq!(ok.filter.as_deref(), Some("evt.type=open"));
        assert!(!ok.json);
        assert!(serde_json::from_str::<Subscribe>(r#"{"filtr":"x"}"#).is_err());
    }
}
