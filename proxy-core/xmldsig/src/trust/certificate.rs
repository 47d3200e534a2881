//! One X.509 certificate with what the signature profiles need from it: names, serial, validity
//! and the RSA public key.

use std::path::Path;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::TrustError;
use super::names::{NameKey, name_key, render_name};

/// An X.509 certificate with what the signature profiles need from it, parsed once.
#[derive(Debug, Clone)]
pub struct Certificate {
    der: Vec<u8>,
    subject: String,
    issuer: String,
    pub(super) issuer_key: NameKey,
    serial: String,
    not_before: i64,
    not_after: i64,
    pub(super) rsa_public_key: Vec<u8>,
}

impl Certificate {
    /// Parses a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, TrustError> {
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|e| TrustError::BadCertificate(e.to_string()))?;
        let validity = cert.validity();
        Ok(Certificate {
            der: der.to_vec(),
            subject: render_name(cert.subject()),
            issuer: render_name(cert.issuer()),
            issuer_key: name_key(cert.issuer()),
            serial: cert.serial.to_string(),
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
            rsa_public_key: cert.public_key().subject_public_key.data.to_vec(),
        })
    }

    /// Parses every `CERTIFICATE` block of a PEM text (`what` names the source in errors).
    pub fn all_from_pem(pem: &[u8], what: &str) -> Result<Vec<Self>, TrustError> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .map(|c| c.map_err(|e| TrustError::BadCertificate(format!("{what}: {e}"))))
            .map(|c| c.and_then(|c| Certificate::from_der(&c)))
            .collect::<Result<Vec<_>, _>>()?;
        if certs.is_empty() {
            return Err(TrustError::NoPem(what.to_string()));
        }
        Ok(certs)
    }

    /// The start of its validity, seconds since the epoch.
    pub fn not_before(&self) -> i64 {
        self.not_before
    }

    /// The end of its validity, seconds since the epoch.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// Whole days from `now` (seconds since the epoch) to the end of its validity; negative once
    /// expired.
    pub fn days_left(&self, now: i64) -> i64 {
        (self.not_after - now).div_euclid(86_400)
    }

    /// Parses the first certificate of a PEM text (`what` names the source in errors).
    pub fn from_pem(pem: &[u8], what: &str) -> Result<Self, TrustError> {
        let mut all = Self::all_from_pem(pem, what)?;
        Ok(all.swap_remove(0))
    }

    /// Reads the first certificate of a PEM file.
    pub fn from_pem_file(path: &Path) -> Result<Self, TrustError> {
        Self::from_pem(&read(path)?, &path.display().to_string())
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The subject, most specific RDN first (`CN=…, O=…, C=BR`).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The issuer as `X509IssuerName` carries it: most specific RDN first, `, ` between RDNs.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The serial number in decimal, as `X509SerialNumber` carries it.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The subjectPublicKey bits: for RSA, the DER `RSAPublicKey`.
    pub fn rsa_public_key(&self) -> &[u8] {
        &self.rsa_public_key
    }

    /// True when `signature` is an RSASSA-PKCS1-v1_5 SHA-256 signature of `message` by this
    /// certificate's key (used to prove that a key held elsewhere matches its certificate).
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            &self.rsa_public_key,
        )
        .verify(message, signature)
        .is_ok()
    }

    /// Checks that `now` (seconds since the epoch) lies within the validity period.
    pub fn check_validity(&self, now: i64) -> Result<(), TrustError> {
        if now > self.not_after {
            return Err(TrustError::Expired {
                subject: self.subject.clone(),
                serial: self.serial.clone(),
                not_after: self.not_after,
            });
        }
        if now < self.not_before {
            return Err(TrustError::NotYetValid {
                subject: self.subject.clone(),
                serial: self.serial.clone(),
                not_before: self.not_before,
            });
        }
        Ok(())
    }
}

pub(super) fn read(path: &Path) -> Result<Vec<u8>, TrustError> {
    std::fs::read(path).map_err(|e| TrustError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}
