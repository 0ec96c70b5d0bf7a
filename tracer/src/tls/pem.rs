//! Certificates and keys in PEM, as files (the agent's, `--agent-ca`) or
//! as bytes (a Secret's `ca.crt`), with errors that name where they came
//! from.

use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsError;

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::Read {
        origin: path.display().to_string(),
        why: e.to_string(),
    })
}

/// Every certificate in `bytes`; `origin` names them in errors.
pub fn certificates_in(
    bytes: &[u8],
    origin: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Read {
            origin: origin.to_owned(),
            why: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            origin: origin.to_owned(),
        });
    }
    Ok(certs)
}

/// Every certificate in the file at `path`.
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    certificates_in(&read(path)?, &path.display().to_string())
}

/// The private key in the file at `path` (PKCS#8, PKCS#1 or SEC1).
pub fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let origin = path.display().to_string();
    PrivateKeyDer::from_pem_slice(&read(path)?).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::NoKey { origin },
        e => TlsError::Read {
            origin,
            why: e.to_string(),
        },
    })
}
