//! `sdtrace agent` run by a test: started (optionally in a network
//! namespace, or with fewer capabilities), awaited until it attached and
//! says where it listens, scraped over HTTP/1.1 (in TLS when it serves
//! TLS, trusting the CA beside its `--tls-cert`), and stopped with SIGTERM
//! to read its last words.
use std::{
    io::{Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Command, ExitStatus},
    sync::Arc,
    time::Duration,
};

use rustls_pki_types::{pem::PemObject, CertificateDer, ServerName};

use crate::{
    daemon::Daemon,
    session::{ATTACHED, ATTACH_TIMEOUT, EXIT_TIMEOUT},
};

const LISTENING: &str = "listening on ";

pub struct Agent {
    daemon: Daemon,
    /// `host:port` it listens on.
    pub address: String,
    /// The CA its certificate chains to, when it serves TLS.
    pub ca: Option<PathBuf>,
}

/// The name every certificate `sdtrace cert` makes carries.
pub const AGENT_NAME: &str = "sdtrace-agent";

/// A CA and agent certificate in `dir` (`sdtrace cert --out`), made once:
/// the `--tls-cert` and `--tls-key` arguments of an agent serving it.
#[must_use]
pub fn tls_args(sdtrace: &Path, dir: &Path) -> [String; 4] {
    let certs = dir.join("tls");
    if !certs.join("tls.key").exists() {
        let status = Command::new(sdtrace)
            .args(["cert", "--out"])
            .arg(&certs)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run sdtrace cert");
        assert!(status.success(), "sdtrace cert --out {}", certs.display());
    }
    let path = |name: &str| certs.join(name).to_str().expect("UTF-8").to_owned();
    [
        "--tls-cert".into(),
        path("tls.crt"),
        "--tls-key".into(),
        path("tls.key"),
    ]
}

/// What a client of the agents whose certificates `tls_args(_, dir)` made
/// adds to trust them.
#[must_use]
pub fn trust_args(dir: &Path) -> [String; 4] {
    [
        "--agent-ca".into(),
        dir.join("tls/ca.crt").to_str().expect("UTF-8").to_owned(),
        "--agent-server-name".into(),
        AGENT_NAME.into(),
    ]
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
        let args: Vec<String> = command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let ca = args
            .iter()
            .position(|a| a == "--tls-cert")
            .and_then(|i| args.get(i + 1))
            .map(|cert| Path::new(cert).with_file_name("ca.crt"));
        let daemon = Daemon::spawn("sdtrace agent", command);
        let (address, tls) = daemon.wait_until("it to attach", ATTACH_TIMEOUT, |lines| {
            let attached = lines.iter().any(|l| l.trim_end() == ATTACHED);
            let address = lines.iter().find_map(|l| {
                let (_, rest) = l.split_once(LISTENING)?;
                let (address, how) = rest.trim().split_once(' ').unwrap_or((rest.trim(), ""));
                Some((address.to_owned(), how == "(TLS)"))
            });
            address.filter(|_| attached)
        });
        assert_eq!(tls, ca.is_some(), "TLS exactly when --tls-cert is given");
        Agent {
            daemon,
            address,
            ca,
        }
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
        match &self.ca {
            Some(ca) => https_get(&self.address, ca, path),
            None => http_get(&self.address, path),
        }
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

fn connect(address: &str) -> TcpStream {
    let stream =
        TcpStream::connect(address).unwrap_or_else(|e| panic!("connect to {address}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read timeout");
    stream
}

/// A plain HTTP/1.1 GET with `Connection: close`.
#[must_use]
pub fn http_get(address: &str, path: &str) -> (u16, String) {
    get_over(connect(address), address, path)
}

/// The same GET in TLS, trusting the CA in `ca` for [`AGENT_NAME`].
#[must_use]
pub fn https_get(address: &str, ca: &Path, path: &str) -> (u16, String) {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("the agents' CA") {
        roots.add(cert.expect("a PEM certificate")).expect("a CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(AGENT_NAME).expect("a DNS name");
    let tls = rustls::ClientConnection::new(Arc::new(config), name).expect("a TLS client");
    get_over(
        rustls::StreamOwned::new(tls, connect(address)),
        address,
        path,
    )
}

fn get_over(mut stream: impl Read + Write, address: &str, path: &str) -> (u16, String) {
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
