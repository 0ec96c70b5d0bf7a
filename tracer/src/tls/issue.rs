//! A CA and an agent certificate it signs, made where the manifests run
//! (`sdtrace cert`): clients trust the CA, so the agents' certificate can
//! be issued again without touching the clients' trust.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

use super::{TlsError, AGENT_NAME};

/// What `sdtrace cert` writes: PEM, as a `kubernetes.io/tls` Secret holds it.
pub struct Issued {
    /// `ca.crt`: what clients trust.
    pub ca: String,
    /// `tls.crt`: the agents' certificate.
    pub cert: String,
    /// `tls.key`: its private key.
    pub key: String,
}

/// A new CA (its key is not kept: a new pair means a new CA) and an agent
/// certificate it signs for [`AGENT_NAME`] and `names`, valid for `days`
/// from an hour ago (clocks of a cluster's nodes disagree a little).
pub fn issue(names: &[String], days: u32) -> Result<Issued, TlsError> {
    let failed = |e: rcgen::Error| TlsError::Config(format!("issuing the certificate: {e}"));
    let now = OffsetDateTime::now_utc();
    let (from, until) = (
        now - Duration::hours(1),
        now + Duration::days(i64::from(days)),
    );

    let mut ca = CertificateParams::default();
    ca.distinguished_name = rcgen::DistinguishedName::new();
    ca.distinguished_name
        .push(DnType::CommonName, "sdtrace agents' CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    (ca.not_before, ca.not_after) = (from, until);
    let ca_key = KeyPair::generate().map_err(failed)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(failed)?;
    let issuer = Issuer::new(ca, ca_key);

    let mut all = vec![AGENT_NAME.to_owned()];
    for name in names {
        if !all.contains(name) {
            all.push(name.clone());
        }
    }
    let mut agent =
        CertificateParams::new(all.clone()).map_err(|_| TlsError::Name(all.join(",")))?;
    agent.distinguished_name = rcgen::DistinguishedName::new();
    agent
        .distinguished_name
        .push(DnType::CommonName, AGENT_NAME);
    agent.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    agent.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    agent.use_authority_key_identifier_extension = true;
    (agent.not_before, agent.not_after) = (from, until);
    let key = KeyPair::generate().map_err(failed)?;
    let cert = agent.signed_by(&key, &issuer).map_err(failed)?;
    Ok(Issued {
        ca: ca_cert.pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}
