//! The mutual-TLS client to BACEN: BACEN's certificate or CA as the only trust anchor, and a
//! client-authentication key held by a [`Signer`] (KMS, PKCS#11, software), so that the mTLS key
//! never has to be extractable.
//!
//! The [`Signer`] trait signs RSASSA-PKCS1-v1_5 SHA-256, which TLS 1.2 client authentication uses
//! (`rsa_pkcs1_sha256`); TLS 1.3 requires RSA-PSS, so this client speaks TLS 1.2, which BACEN
//! requires (`ECDHE-RSA-AES128-GCM-SHA256`).

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use rustls::client::ResolvesClientCert;
use rustls::crypto::aws_lc_rs;
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, SignatureAlgorithm, SignatureScheme};
use rustls_pki_types::CertificateDer;

use pix_xmldsig::signer::Signer;

/// Why a TLS client configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A trust anchor was refused.
    #[error("BACEN trust anchor refused: {0}")]
    Anchor(String),
    /// rustls refused the configuration.
    #[error("TLS configuration refused: {0}")]
    Config(String),
}

/// A client configuration that trusts only `anchors` and authenticates with `signer`'s key and
/// certificate.
pub fn client_config(
    anchors: &[CertificateDer<'static>],
    signer: Arc<dyn Signer>,
) -> Result<ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    for a in anchors {
        roots
            .add(a.clone())
            .map_err(|e| TlsError::Anchor(e.to_string()))?;
    }
    let chain = vec![CertificateDer::from(signer.certificate().der().to_vec())];
    let key = Arc::new(SignerKey(signer));
    let resolver = Arc::new(ClientIdentity(Arc::new(CertifiedKey::new(chain, key))));
    let config = ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_client_cert_resolver(resolver);
    Ok(config)
}

#[derive(Debug)]
struct ClientIdentity(Arc<CertifiedKey>);

impl ResolvesClientCert for ClientIdentity {
    fn resolve(&self, _hints: &[&[u8]], schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        schemes
            .contains(&SignatureScheme::RSA_PKCS1_SHA256)
            .then(|| Arc::clone(&self.0))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// A rustls signing key whose operations go to a [`Signer`].
struct SignerKey(Arc<dyn Signer>);

impl std::fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SignerKey({})", self.0.key_id())
    }
}

impl rustls::sign::SigningKey for SignerKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn rustls::sign::Signer>> {
        offered
            .contains(&SignatureScheme::RSA_PKCS1_SHA256)
            .then(|| Box::new(HandshakeSigner(Arc::clone(&self.0))) as Box<dyn rustls::sign::Signer>)
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::RSA
    }
}

struct HandshakeSigner(Arc<dyn Signer>);

impl std::fmt::Debug for HandshakeSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HandshakeSigner({})", self.0.key_id())
    }
}

impl rustls::sign::Signer for HandshakeSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        // rustls signs synchronously; the Signer may be async (KMS), so wait for it here.
        block_on(self.0.sign(message)).map_err(|e| rustls::Error::General(e.to_string()))
    }

    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::RSA_PKCS1_SHA256
    }
}

/// Runs a future to completion from synchronous code: on a multi-threaded tokio runtime the
/// worker steps aside (`block_in_place`) so that the runtime keeps driving I/O; elsewhere the
/// thread parks until the future is ready.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    if let Ok(handle) = tokio::runtime::Handle::try_current()
        && handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
    {
        return tokio::task::block_in_place(|| handle.block_on(fut));
    }
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}
