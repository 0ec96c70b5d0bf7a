//! The agent's side: its certificate chain and key from files, checked to
//! belong together at start, and read again when they change, so a
//! rotated Secret (Kubernetes swaps the mounted files in place) takes
//! effect for new connections without a restart.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

use super::{pem, provider, TlsError, H2, HTTP1};

/// How often a handshake may look at the files' times.
const RECHECK: Duration = Duration::from_secs(1);

/// The agent's TLS: what accepts a connection.
pub struct ServerTls {
    acceptor: TlsAcceptor,
}

impl ServerTls {
    /// From `--tls-cert` and `--tls-key`: an error now, not at the first
    /// client, when they cannot be read or do not belong together.
    pub fn from_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let files = CertFiles {
            cert: cert.to_owned(),
            key: key.to_owned(),
        };
        let loaded = files.load()?;
        let resolver = Reloading {
            files,
            current: Mutex::new(Current {
                loaded,
                checked: Instant::now(),
                failed: None,
            }),
        };
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(resolver));
        config.alpn_protocols = vec![H2.to_vec(), HTTP1.to_vec()];
        Ok(ServerTls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    #[must_use]
    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.clone()
    }
}

struct CertFiles {
    cert: PathBuf,
    key: PathBuf,
}

/// When a file last changed, as far as a reload needs to know.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

struct Loaded {
    key: Arc<CertifiedKey>,
    stamps: (Stamp, Stamp),
}

impl CertFiles {
    fn load(&self) -> Result<Loaded, TlsError> {
        let stamps = (stamp(&self.cert), stamp(&self.key));
        let chain = pem::certificates(&self.cert)?;
        let key = pem::private_key(&self.key)?;
        let key = CertifiedKey::from_der(chain, key, &provider()).map_err(|e| TlsError::Pair {
            cert: self.cert.display().to_string(),
            key: self.key.display().to_string(),
            why: match e {
                rustls::Error::InconsistentKeys(_) => "the key is not the certificate's".to_owned(),
                e => e.to_string(),
            },
        })?;
        Ok(Loaded {
            key: Arc::new(key),
            stamps,
        })
    }
}

struct Current {
    loaded: Loaded,
    checked: Instant,
    /// The stamps of files that failed to load, so a bad pair is said once.
    failed: Option<(Stamp, Stamp)>,
}

struct Reloading {
    files: CertFiles,
    current: Mutex<Current>,
}

impl fmt::Debug for Reloading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reloading")
            .field("cert", &self.files.cert)
            .field("key", &self.files.key)
            .finish()
    }
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.checked.elapsed() >= RECHECK {
            current.checked = Instant::now();
            let stamps = (stamp(&self.files.cert), stamp(&self.files.key));
            if stamps != current.loaded.stamps && current.failed != Some(stamps) {
                // A half-written pair (the cert changed, the key not yet)
                // fails to match: the old pair serves until both agree.
                match self.files.load() {
                    Ok(loaded) => {
                        eprintln!(
                            "sdtrace agent: TLS: new certificate from {}",
                            self.files.cert.display()
                        );
                        current.loaded = loaded;
                        current.failed = None;
                    }
                    Err(e) => {
                        eprintln!("sdtrace agent: TLS: keeping the certificate in use: {e}");
                        current.failed = Some(stamps);
                    }
                }
            }
        }
        Some(current.loaded.key.clone())
    }
}
