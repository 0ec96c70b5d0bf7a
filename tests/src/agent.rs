//! `sdtrace agent` run by a test: started (optionally in a network
//! namespace, or with fewer capabilities), awaited until it attached and
//! says where it listens, scraped over plain HTTP/1.1, and stopped with
//! SIGTERM to read its last words.
use std::{
    io::{Read, Write},
    net::TcpStream,
    process::{Command, ExitStatus},
    time::Duration,
};

use crate::{
    daemon::Daemon,
    session::{ATTACHED, ATTACH_TIMEOUT, EXIT_TIMEOUT},
};

const LISTENING: &str = "listening on ";

pub struct Agent {
    daemon: Daemon,
    /// `host:port` it listens on.
    pub address: String,
}

/// What a stopped agent said.
pub struct Stopped {
    pub status: ExitStatus,
    pub stderr: Vec<String>,
}

impl Agent {
    /// Starts `command` (an `sdtrace agent …` command line, perhaps behind
    /// `ip netns exec` or `setpriv`) and waits until it has attached.
    #[must_use]
    pub fn start(command: Command) -> Self {
        let daemon = Daemon::spawn("sdtrace agent", command);
        let address = daemon.wait_until("it to attach", ATTACH_TIMEOUT, |lines| {
            let attached = lines.iter().any(|l| l.trim_end() == ATTACHED);
            let address = lines
                .iter()
                .find_map(|l| l.split_once(LISTENING).map(|(_, a)| a.trim().to_owned()));
            address.filter(|_| attached)
        });
        Agent { daemon, address }
    }

    #[must_use]
    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// Waits until `check` answers from the stderr lines so far.
    pub fn wait_line<T>(&self, what: &str, check: impl FnMut(&[String]) -> Option<T>) -> T {
        self.daemon.wait_until(what, ATTACH_TIMEOUT, check)
    }

    /// `GET path` over HTTP/1.1: the status code and the body.
    #[must_use]
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(&self.address, path)
    }

    /// The value of every sample of `/metrics` whose name (labels included)
    /// starts with `prefix`.
    #[must_use]
    pub fn metric(&self, prefix: &str) -> Vec<(String, f64)> {
        let (status, body) = self.get("/metrics");
        assert_eq!(status, 200, "/metrics: {body}");
        body.lines()
            .filter(|l| !l.starts_with('#') && l.starts_with(prefix))
            .map(|l| {
                let (name, value) = l.rsplit_once(' ').expect("a sample is a name and a value");
                let value = value
                    .parse()
                    .unwrap_or_else(|_| panic!("a sample's value is a number: {l}"));
                (name.to_owned(), value)
            })
            .collect()
    }

    /// The sum of the samples whose name starts with `prefix`.
    #[must_use]
    pub fn metric_sum(&self, prefix: &str) -> f64 {
        self.metric(prefix).iter().map(|(_, v)| v).sum()
    }

    /// SIGTERM, and what it printed to the end.
    pub fn stop(self) -> Stopped {
        let (status, stderr) = self.daemon.stop(libc::SIGTERM, EXIT_TIMEOUT);
        Stopped { status, stderr }
    }
}

/// A plain HTTP/1.1 GET with `Connection: close`.
#[must_use]
pub fn http_get(address: &str, path: &str) -> (u16, String) {
    let mut stream =
        TcpStream::connect(address).unwrap_or_else(|e| panic!("connect to {address}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .unwrap_or_else(|e| panic!("read {path} from {address}: {e}"));
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("an HTTP response: {response:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {head:?}"));
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    (
        status,
        if chunked {
            unchunk(body)
        } else {
            body.to_owned()
        },
    )
}

/// The body of a chunked response.
fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}
