//! TLS on the agent's port: the agent's side (its key and certificate,
//! read from files and read again when they change), the client's side
//! (which CA to trust and which name to check), and the issuing of both
//! (`sdtrace cert`). Events carry I/O buffers (passwords, tokens, keys in
//! `read`/`write` data) and clients carry a bearer token: neither may cross
//! a node network in cleartext unless the user says so (`--insecure`).

pub mod client;
pub mod issue;
pub mod pem;
pub mod server;

use std::sync::Arc;

/// The name every agent certificate carries (`sdtrace cert` always adds
/// it), which `--cluster` checks: it reaches agents by pod through the API
/// server, with no DNS name of their own.
pub const AGENT_NAME: &str = "sdtrace-agent";

/// The `kubernetes.io/tls` Secret the manifests mount into the agents
/// (`tls.crt`, `tls.key`) and `--cluster` reads the CA from (`ca.crt`).
pub const SECRET: &str = "sdtrace-agent-tls";
/// Its keys.
pub const CA_KEY: &str = "ca.crt";
pub const CERT_KEY: &str = "tls.crt";
pub const KEY_KEY: &str = "tls.key";

/// ALPN: HTTP/2 for event streams; HTTP/1.1 for kubelet's probes and
/// Prometheus.
const H2: &[u8] = b"h2";
const HTTP1: &[u8] = b"http/1.1";

/// rustls' ring provider, named rather than installed process-wide: kube
/// builds its own configurations, and neither may depend on the other's.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{origin}: {why}")]
    Read { origin: String, why: String },
    #[error("{origin}: no PEM certificate in it")]
    NoCertificate { origin: String },
    #[error("{origin}: no PEM private key in it")]
    NoKey { origin: String },
    #[error("{cert} and {key}: {why}")]
    Pair {
        cert: String,
        key: String,
        why: String,
    },
    #[error("{0:?} is not a name or address a certificate can carry")]
    Name(String),
    #[error("{0}")]
    Config(String),
}

#[cfg(test)]
mod tests;
