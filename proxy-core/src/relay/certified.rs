//! The bank's renewed certificates, taken without a restart: a certificate issued anew for the
//! key in use (a renewal before expiry) replaces the one the signer presents. A certificate of
//! another key is refused — a new key means a new label or KMS key id, which a restart reads.

use std::sync::Arc;

use pix_xmldsig::signer::{SignFuture, Signer};
use pix_xmldsig::trust::Certificate;

/// A signer presenting `certificate` for the key of `inner`.
struct Certified {
    inner: Arc<dyn Signer>,
    certificate: Certificate,
}

impl Signer for Certified {
    fn sign<'a>(&'a self, message: &'a [u8]) -> SignFuture<'a> {
        self.inner.sign(message)
    }

    fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    fn key_id(&self) -> &str {
        self.inner.key_id()
    }
}

/// `signer` presenting `certificate` instead: `Ok(None)` when it is the certificate in use, an
/// error when it certifies another key. (Each renewal wraps the signer once more: a handful in a
/// key's life.)
pub(super) fn recertified(
    signer: &Arc<dyn Signer>,
    certificate: &Certificate,
) -> Result<Option<Arc<dyn Signer>>, String> {
    if signer.certificate().der() == certificate.der() {
        return Ok(None);
    }
    if signer.certificate().rsa_public_key() != certificate.rsa_public_key() {
        return Err(format!(
            "certifies another key than {} (a new key takes a restart)",
            signer.key_id()
        ));
    }
    Ok(Some(Arc::new(Certified {
        inner: Arc::clone(signer),
        certificate: certificate.clone(),
    })))
}
