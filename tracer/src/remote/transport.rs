//! How the bytes to an agent are secured: TLS checked against the CA the
//! user trusts (`--agent-ca`; for `--cluster` the agents' Secret's
//! `ca.crt`; otherwise the system's), or cleartext when the user says
//! `--insecure`, as the agent must have been told too.

use std::io;
use std::sync::Arc;

use rustls_pki_types::ServerName;

use super::reach::Reach;
use super::stream::Io;
use crate::tls::client::{server_name, ClientTls, Trust};
use crate::tls::TlsError;

/// Every dial's way to its agent; cheap to clone.
#[derive(Clone)]
pub struct Transport(Option<Secure>);

#[derive(Clone)]
struct Secure {
    tls: ClientTls,
    /// `--agent-server-name`: the name every agent's certificate must carry,
    /// instead of the one each is dialled by.
    name: Option<Arc<ServerName<'static>>>,
}

impl Transport {
    #[must_use]
    pub fn cleartext() -> Self {
        Transport(None)
    }

    /// TLS trusting `trust`, checking `--agent-server-name` if given.
    pub fn tls(trust: &Trust, name: Option<&str>) -> Result<Self, TlsError> {
        let name = name.map(server_name).transpose()?.map(Arc::new);
        Ok(Transport(Some(Secure {
            tls: ClientTls::new(trust)?,
            name,
        })))
    }

    /// `--insecure`'s cleartext, or TLS trusting `--agent-ca`; `None`
    /// when the CA is yet to be found (for `--cluster`, in the agents'
    /// Secret).
    pub fn given(reach: &Reach) -> Result<Option<Self>, TlsError> {
        if reach.insecure {
            return Ok(Some(Transport::cleartext()));
        }
        let Some(path) = &reach.agent_ca else {
            return Ok(None);
        };
        let origin = format!("--agent-ca {}", path.display());
        let bytes = std::fs::read(path).map_err(|e| TlsError::Read {
            origin: origin.clone(),
            why: e.to_string(),
        })?;
        Transport::tls(
            &Trust::Pem { bytes, origin },
            reach.agent_server_name.as_deref(),
        )
        .map(Some)
    }

    /// The URL scheme of requests over it.
    #[must_use]
    pub fn scheme(&self) -> &'static str {
        if self.0.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// `io`, secured for an agent dialled as `host` (a DNS name or an
    /// address, IPv6 in brackets or not).
    pub async fn over(&self, io: Box<dyn Io>, host: &str) -> io::Result<Box<dyn Io>> {
        let Some(secure) = &self.0 else {
            return Ok(io);
        };
        let dialled;
        let name = match &secure.name {
            Some(name) => name.as_ref(),
            None => {
                dialled = server_name(host).map_err(|e| io::Error::other(e.to_string()))?;
                &dialled
            }
        };
        Ok(Box::new(secure.tls.connect(io, name).await?))
    }
}
