//! Why a relay refuses a renewed certificate, and why it is not ready.

/// Why the bank's renewed certificate was refused (the ones in use stay).
#[derive(Debug, thiserror::Error)]
#[error("the {role} certificate {reason}")]
pub struct RecertifyError {
    /// `signature` or `mtls`.
    pub role: &'static str,
    /// Why.
    pub reason: String,
}

/// Why a relay is not ready (the `/ready` check says it).
#[derive(Debug, thiserror::Error)]
pub enum Unhealthy {
    /// The audit sink does not take records.
    #[error("audit: {0}")]
    Audit(#[from] crate::audit::AuditError),
    /// The signer refused or failed a signature.
    #[error("signer: {0}")]
    Signer(pix_xmldsig::signer::SignerError),
    /// The signer did not answer in time.
    #[error("signer: no answer")]
    SignerSilent,
    /// BACEN does not accept a TCP connection.
    #[error("BACEN {endpoint}: {reason}")]
    Bacen {
        /// BACEN's `host:port`.
        endpoint: String,
        /// The operating system's reason, or `no answer`.
        reason: String,
    },
}
