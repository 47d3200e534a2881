//! The [`Signer`] trait, through which every private-key operation goes, and the software signer.
//!
//! A signer receives the exact bytes to sign (the canonical `SignedInfo`, or a TLS handshake
//! transcript) and returns an RSASSA-PKCS1-v1_5 SHA-256 signature, hashing as its backend needs:
//! the software signer hashes locally, KMS and PKCS#11 backends do it in the key's home. The trait
//! is object-safe and async so that a network-bound backend (KMS) does not block a runtime thread.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

use crate::trust::{Certificate, TrustError};

/// The future a [`Signer`] returns.
pub type SignFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<u8>, SignerError>> + Send + 'a>>;

/// A private key that signs with RSASSA-PKCS1-v1_5 over SHA-256, and the certificate that goes
/// with it.
pub trait Signer: Send + Sync {
    /// Signs `message` (not a digest: the backend hashes it).
    fn sign<'a>(&'a self, message: &'a [u8]) -> SignFuture<'a>;
    /// The certificate of the key; `X509IssuerSerial` is taken from it.
    fn certificate(&self) -> &Certificate;
    /// A name for the key that is safe to log and audit (a KMS key id, a PKCS#11 label, a path).
    fn key_id(&self) -> &str;
}

/// Why a signature could not be made. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignerError {
    /// The key or its certificate could not be loaded.
    #[error("cannot load signing key {key_id}: {reason}")]
    Load {
        /// The key's name.
        key_id: String,
        /// What went wrong.
        reason: String,
    },
    /// The backend is unavailable or throttled; the caller may try again later.
    #[error("signing backend for {key_id} is unavailable: {reason}")]
    Unavailable {
        /// The key's name.
        key_id: String,
        /// What went wrong.
        reason: String,
    },
    /// The backend refused or failed the operation.
    #[error("signing with {key_id} failed: {reason}")]
    Failed {
        /// The key's name.
        key_id: String,
        /// What went wrong.
        reason: String,
    },
}

/// A signer whose RSA key lives in process memory (aws-lc-rs). For development, tests and the
/// `pixsig` tool; production keys stay in KMS or an HSM.
pub struct SoftwareSigner {
    key: RsaKeyPair,
    certificate: Certificate,
    key_id: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for SoftwareSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key itself is never printed.
        f.debug_struct("SoftwareSigner")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl SoftwareSigner {
    /// Builds a signer from a PEM private key (PKCS#8 or PKCS#1) and its PEM certificate, and
    /// checks that they belong together. `key_id` names the key in errors and audit records.
    pub fn from_pem(key_pem: &[u8], cert_pem: &[u8], key_id: &str) -> Result<Self, SignerError> {
        let load = |reason: String| SignerError::Load {
            key_id: key_id.to_string(),
            reason,
        };
        // The parse error of a PEM key may quote the input: report only that it failed.
        let der = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|_| load("no PKCS#8 or PKCS#1 RSA private key in PEM form".into()))?;
        let key = match &der {
            PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
            _ => return Err(load("the private key is not an RSA key".into())),
        }
        .map_err(|e| load(format!("RSA private key rejected: {e}")))?;
        let certificate =
            Certificate::from_pem(cert_pem, key_id).map_err(|e: TrustError| load(e.to_string()))?;
        if key.public_key().as_ref() != certificate.rsa_public_key() {
            return Err(load(format!(
                "the private key does not match the certificate {}",
                certificate.subject()
            )));
        }
        Ok(SoftwareSigner {
            key,
            certificate,
            key_id: key_id.to_string(),
            rng: SystemRandom::new(),
        })
    }

    /// Reads the key and certificate from PEM files; the key's path becomes its id.
    pub fn from_pem_files(key: &Path, cert: &Path) -> Result<Self, SignerError> {
        let key_id = key.display().to_string();
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| SignerError::Load {
                key_id: key_id.clone(),
                reason: format!("cannot read {}: {e}", p.display()),
            })
        };
        Self::from_pem(&read(key)?, &read(cert)?, &key_id)
    }

    /// Signs synchronously (the software key needs no I/O).
    pub fn sign_now(&self, message: &[u8]) -> Result<Vec<u8>, SignerError> {
        let mut sig = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
            .map_err(|_| SignerError::Failed {
                key_id: self.key_id.clone(),
                reason: "RSA signing failed".into(),
            })?;
        Ok(sig)
    }
}

impl Signer for SoftwareSigner {
    fn sign<'a>(&'a self, message: &'a [u8]) -> SignFuture<'a> {
        Box::pin(std::future::ready(self.sign_now(message)))
    }

    fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    fn key_id(&self) -> &str {
        &self.key_id
    }
}
