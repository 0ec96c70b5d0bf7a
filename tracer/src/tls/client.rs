//! The client's side: which CA an agent's certificate must chain to and
//! which name it must carry, and the handshake's failures in words that
//! say what to change.

use std::io;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{CertificateError, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::{pem, provider, TlsError, H2};

/// The CAs an agent's certificate may chain to.
pub enum Trust {
    /// The system's (`--agent` without `--agent-ca`).
    System,
    /// These, in PEM (`--agent-ca`, or the agents' Secret's `ca.crt`);
    /// `origin` says where they came from.
    Pem { bytes: Vec<u8>, origin: String },
}

/// How every connection to agents is secured.
#[derive(Clone)]
pub struct ClientTls {
    connector: TlsConnector,
    /// Where the trusted CAs came from, for errors.
    origin: Arc<str>,
}

impl ClientTls {
    pub fn new(trust: &Trust) -> Result<Self, TlsError> {
        let mut roots = RootCertStore::empty();
        let origin = match trust {
            Trust::System => {
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
                if roots.is_empty() {
                    return Err(TlsError::Config(
                        "no CA certificates found on this system: name the agents' CA with --agent-ca".to_owned(),
                    ));
                }
                "the system's CAs".to_owned()
            }
            Trust::Pem { bytes, origin } => {
                for cert in pem::certificates_in(bytes, origin)? {
                    roots.add(cert).map_err(|e| TlsError::Read {
                        origin: origin.clone(),
                        why: e.to_string(),
                    })?;
                }
                origin.clone()
            }
        };
        let mut config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![H2.to_vec()];
        Ok(ClientTls {
            connector: TlsConnector::from(Arc::new(config)),
            origin: origin.into(),
        })
    }

    /// The handshake over `io` with an agent whose certificate must name
    /// `name`.
    pub async fn connect<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        io: S,
        name: &ServerName<'static>,
    ) -> io::Result<TlsStream<S>> {
        self.connector
            .connect(name.clone(), io)
            .await
            .map_err(|e| explained(e, name, &self.origin))
    }
}

/// The name to check in an agent's certificate: a DNS name or an address.
pub fn server_name(text: &str) -> Result<ServerName<'static>, TlsError> {
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    ServerName::try_from(bare.to_owned()).map_err(|_| TlsError::Name(text.to_owned()))
}

/// A failed handshake, said as what the user can do about it.
fn explained(e: io::Error, name: &ServerName<'_>, origin: &str) -> io::Error {
    let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return e;
    };
    let name = name.to_str();
    let why = match tls {
        // Another CA of the same name signed it: BadSignature.
        rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature,
        ) => format!(
            "TLS: the agent's certificate is not signed by a CA in {origin} (--agent-ca names the agents' CA)"
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "TLS: the agent's certificate does not name {name} (--agent-server-name names the one it carries)"
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => "TLS: the agent's certificate has expired".to_owned(),
        rustls::Error::InvalidMessage(_) => {
            "TLS: the agent did not answer in TLS (an agent run with --insecure needs --insecure here too)"
                .to_owned()
        }
        other => format!("TLS: {other}"),
    };
    io::Error::new(e.kind(), why)
}
