//! The trust store: the certificates whose signatures are accepted, found by the `X509IssuerSerial`
//! a signature names.

use std::collections::HashMap;
use std::path::Path;

use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256};

use super::certificate::read;
use super::names::{NameKey, parse_name};
use super::{Certificate, TrustError};

/// A certificate the trust store holds, with its public key ready for verification.
#[derive(Debug)]
pub struct TrustedKey {
    /// The certificate.
    pub certificate: Certificate,
    /// Its RSA public key, parsed once.
    pub key: ParsedPublicKey,
}

/// Trusted signing certificates, found by issuer name and serial number.
#[derive(Debug, Default)]
pub struct TrustStore {
    keys: Vec<TrustedKey>,
    /// Index into `keys` by issuer name (parsed, compared as names) and serial.
    by_issuer_serial: HashMap<(NameKey, String), usize>,
    /// Issuer names as the certificates render them (what signers usually write), with each
    /// certificate's serial and index: found without parsing the name.
    by_issuer_text: HashMap<String, Vec<(String, usize)>>,
}

impl TrustStore {
    /// An empty store: it trusts nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding every certificate of these PEM files.
    pub fn from_pem_files<P: AsRef<Path>>(paths: &[P]) -> Result<Self, TrustError> {
        let mut store = Self::new();
        for p in paths {
            let p = p.as_ref();
            for cert in Certificate::all_from_pem(&read(p)?, &p.display().to_string())? {
                store.add(cert)?;
            }
        }
        Ok(store)
    }

    /// Trusts a certificate's key for signatures.
    pub fn add(&mut self, certificate: Certificate) -> Result<(), TrustError> {
        let key =
            ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &certificate.rsa_public_key).map_err(|_| {
                TrustError::NotRsa {
                    subject: certificate.subject().to_string(),
                }
            })?;
        let id = (certificate.issuer_key.clone(), certificate.serial().to_string());
        let index = match self.by_issuer_serial.get(&id) {
            // The same certificate again (or another with its issuer and serial): the last wins.
            Some(&i) => {
                self.keys[i] = TrustedKey { certificate, key };
                return Ok(());
            }
            None => self.keys.len(),
        };
        self.by_issuer_text
            .entry(certificate.issuer().to_string())
            .or_default()
            .push((certificate.serial().to_string(), index));
        self.keys.push(TrustedKey { certificate, key });
        self.by_issuer_serial.insert(id, index);
        Ok(())
    }

    /// The trusted certificates, in the order they were added.
    pub fn certificates(&self) -> impl Iterator<Item = &Certificate> {
        self.keys.iter().map(|k| &k.certificate)
    }

    /// Number of trusted certificates.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when the store trusts nothing.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Finds the trusted certificate named by `X509IssuerName` / `X509SerialNumber` and checks
    /// that it is valid at `now` (seconds since the epoch).
    pub fn lookup(&self, issuer: &str, serial: &str, now: i64) -> Result<&TrustedKey, TrustError> {
        let serial_norm = normalize_serial(serial)?;
        // The name exactly as a trusted certificate renders it needs no parsing.
        let known = self.by_issuer_text.get(issuer.trim()).and_then(|certs| {
            certs
                .iter()
                .find(|(s, _)| *s == serial_norm)
                .map(|&(_, index)| index)
        });
        let index = match known {
            Some(index) => Some(index),
            None => self
                .by_issuer_serial
                .get(&(parse_name(issuer)?, serial_norm))
                .copied(),
        };
        let found = index
            .and_then(|i| self.keys.get(i))
            .ok_or_else(|| TrustError::Unknown {
                issuer: issuer.to_string(),
                serial: serial.trim().to_string(),
            })?;
        found.certificate.check_validity(now)?;
        Ok(found)
    }
}

fn normalize_serial(serial: &str) -> Result<String, TrustError> {
    let s = serial.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TrustError::BadSerial(serial.to_string()));
    }
    let s = s.trim_start_matches('0');
    Ok(if s.is_empty() { "0".into() } else { s.into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_decimal_integers() {
        assert!(matches!(normalize_serial("12a"), Err(TrustError::BadSerial(_))));
        assert_eq!(normalize_serial(" 007 ").unwrap(), "7");
    }
}
