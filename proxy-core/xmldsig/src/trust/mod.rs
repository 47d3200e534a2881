//! Certificates and the trust store.
//!
//! A signature names its key by `X509IssuerSerial`: the issuer's distinguished name as a string
//! and the certificate's serial number in decimal. Different implementations write the same name
//! differently (`CN=a, O=b` vs `CN=a,O=b`, keywords vs OIDs, case), so names are parsed (RFC 4514)
//! and compared as names, not as strings.
//!
//! - [`certificate`]: one X.509 certificate, parsed once;
//! - [`store`]: the trusted certificates, found by issuer and serial;
//! - [`names`]: RFC 4514 distinguished names, parsed and compared as names.

pub mod certificate;
mod names;
pub mod store;

pub use certificate::Certificate;
pub use store::{TrustStore, TrustedKey};

/// Whether two distinguished names written as RFC 4514 text name the same entity (compared as
/// names: `CN=a, O=b` and `cn=A,o=B` are the same), e.g. a policy's name for a certificate
/// subject; an error names the text that does not parse.
pub fn same_name(a: &str, b: &str) -> Result<bool, TrustError> {
    Ok(names::parse_name(a)? == names::parse_name(b)?)
}

/// Why a certificate could not be loaded or a key could not be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// The bytes are not a DER X.509 certificate.
    #[error("not an X.509 certificate: {0}")]
    BadCertificate(String),
    /// No `CERTIFICATE` block in a PEM input.
    #[error("no PEM certificate found in {0}")]
    NoPem(String),
    /// A file could not be read.
    #[error("cannot read {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The certificate's key is not an RSA key of 2048 bits or more.
    #[error("certificate {subject} does not hold an RSA key of 2048 to 8192 bits")]
    NotRsa {
        /// The certificate's subject.
        subject: String,
    },
    /// An `X509IssuerName` that is not a distinguished name.
    #[error("X509IssuerName '{name}' is not a distinguished name: {reason}")]
    BadName {
        /// The text as found.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An `X509SerialNumber` that is not a non-negative decimal integer.
    #[error("X509SerialNumber '{0}' is not a decimal integer")]
    BadSerial(String),
    /// No trusted certificate has this issuer and serial.
    #[error("no trusted certificate with issuer '{issuer}' and serial {serial}")]
    Unknown {
        /// The issuer as written in the signature.
        issuer: String,
        /// The serial as written in the signature.
        serial: String,
    },
    /// The certificate's validity period has ended.
    #[error("certificate {subject} (serial {serial}) expired at {not_after} (unix time)")]
    Expired {
        /// The certificate's subject.
        subject: String,
        /// Its serial, decimal.
        serial: String,
        /// End of validity, seconds since the epoch.
        not_after: i64,
    },
    /// The certificate's validity period has not begun.
    #[error("certificate {subject} (serial {serial}) is not valid before {not_before} (unix time)")]
    NotYetValid {
        /// The certificate's subject.
        subject: String,
        /// Its serial, decimal.
        serial: String,
        /// Start of validity, seconds since the epoch.
        not_before: i64,
    },
}
