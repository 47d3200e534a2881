//! The TLS side of the proxy's own ports: callers present a client certificate from the bank's
//! internal CA, verified in the handshake (chain, validity, client-authentication use); the
//! proxy presents its own server certificate from the same PKI. A caller without one, with one
//! of another CA or an expired one never gets to send a request.

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::aws_lc_rs;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::RefusedBecause;

/// What the callers' TLS needs, as PEM text (files, parameters, a secret).
pub struct CallerTls {
    /// The bank's CA(s) that issue callers' certificates: the only trust anchors for callers.
    pub client_ca: String,
    /// The proxy's server certificate (and chain) for the callers' side.
    pub certificate: String,
    /// Its private key (PKCS#8 PEM; never logged).
    pub key: String,
}

impl std::fmt::Debug for CallerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallerTls { key: [redacted] }")
    }
}

/// Why the callers' TLS could not be configured (names the part, never shows the key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("callers' TLS: {what}: {reason}")]
pub struct CallerTlsError {
    /// Which part: the client CA, the server certificate or its key.
    pub what: &'static str,
    /// Why.
    pub reason: String,
}

impl CallerTls {
    /// The acceptor of the SPI and DICT ports: TLS 1.2 or 1.3, a client certificate required
    /// and verified against [`CallerTls::client_ca`].
    pub fn acceptor(&self) -> Result<tokio_rustls::TlsAcceptor, CallerTlsError> {
        let fail = |what: &'static str| move |reason: String| CallerTlsError { what, reason };
        let certs = |pem: &str, what: &'static str| {
            let all: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| fail(what)(e.to_string()))?;
            if all.is_empty() {
                return Err(fail(what)("no PEM certificate".into()));
            }
            Ok(all)
        };
        let provider = Arc::new(aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for ca in certs(&self.client_ca, "client CA")? {
            roots.add(ca).map_err(|e| fail("client CA")(e.to_string()))?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
            .build()
            .map_err(|e| fail("client CA")(e.to_string()))?;
        let chain = certs(&self.certificate, "server certificate")?;
        // The key's parse error could quote it: say only that it is not a key.
        let key = PrivateKeyDer::from_pem_slice(self.key.as_bytes())
            .map_err(|_| fail("server key")("not a PEM private key".into()))?;
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| fail("configuration")(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(|e| fail("server certificate")(e.to_string()))?;
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }
}

/// Why a handshake failed, as a refusal reason: no certificate, one of another CA, an expired
/// one, or anything else. `None`: the peer closed before saying anything (a TCP probe, a port
/// check), which refuses nobody.
pub fn classify(error: &std::io::Error) -> Option<RefusedBecause> {
    use rustls::{CertificateError, Error};
    if error.kind() == std::io::ErrorKind::UnexpectedEof {
        return None;
    }
    Some(match error.get_ref().and_then(|e| e.downcast_ref::<Error>()) {
        Some(Error::NoCertificatesPresented) => RefusedBecause::NoCertificate,
        Some(Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ))
        | Some(Error::InvalidCertificate(
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
        )) => RefusedBecause::ExpiredCertificate,
        Some(Error::InvalidCertificate(_)) => RefusedBecause::UntrustedCertificate,
        _ => RefusedBecause::Handshake,
    })
}
