//! Configuration, in one place: the declared names of every parameter and secret ([`names`]), the
//! parameters of one flavour and what they say about BACEN ([`Parameters`]), where they are read
//! from, again at each reload ([`Source`]: SSM or a file), and the typed errors of start-up.
//! Each flavour builds its one typed settings value from these (`proxy_hsm::configured`,
//! `proxy_kms::configured`).

#[cfg(feature = "aws")]
pub mod aws;
pub mod names;
mod parameters;
mod source;

pub use parameters::{Network, Parameters};
pub use source::Source;

use std::sync::Arc;

/// Why the configuration is not usable. Never quotes a secret's value.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    /// A required parameter is absent.
    #[error("parameter {0} is missing")]
    Missing(String),
    /// A parameter's value is not what it should be.
    #[error("parameter {name} is malformed: {reason}")]
    Malformed {
        /// The parameter's full name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A configuration file could not be read.
    #[error("cannot read the configuration file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// The operating system's or the parser's reason.
        reason: String,
    },
    /// An AWS call that reads the configuration failed (SSM, Secrets Manager).
    #[error("{call}: {source}")]
    Aws {
        /// What was read, e.g. `SSM /pix/proxy/kms` or `secret /pix/proxy/kms/MtlsPrivateKey`.
        call: String,
        /// The SDK's error, kept whole.
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
}

/// Why a service could not start: every start-up failure of either flavour, by kind, each naming
/// what to fix (a flag, a parameter, a secret by name, the signer, the audit sink, a port) with
/// its source kept. Never quotes a secret.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The command line or the environment asks for something impossible.
    #[error("usage: {0}")]
    Usage(String),
    /// A parameter or secret is missing or malformed, or could not be read.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The relay could not be built from the parameters.
    #[error(transparent)]
    Relay(#[from] crate::relay::RelayError),
    /// The signer cannot be used: the KMS key, or the PKCS#11 token and its keys.
    #[error(transparent)]
    Signer(#[from] pix_xmldsig::signer::SignerError),
    /// The audit sink cannot be used.
    #[error("audit: {0}")]
    Audit(#[from] crate::audit::AuditError),
    /// A listener could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address, or what it was for.
        address: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A certificate request could not be made.
    #[error("certificate request: {0}")]
    Csr(#[from] crate::csr::CsrError),
    /// The metrics recorder could not be installed.
    #[error("metrics: {0}")]
    Metrics(String),
    /// A certificate in use is not usable now (the report says which).
    #[error("{0}")]
    Certificates(String),
    /// The callers policy does not parse or check.
    #[error(transparent)]
    Policy(#[from] crate::callers::PolicyError),
    /// The callers' TLS (client CA, server certificate, key) cannot be used.
    #[error(transparent)]
    CallerTls(#[from] crate::callers::tls::CallerTlsError),
}

impl StartError {
    /// The whole chain of causes on one line, `outer: inner: …`, for the one report a binary
    /// prints before it exits non-zero.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            // thiserror's transparent and `{0}` messages already include their source.
            if !text.contains(&cause_text) {
                text.push_str(": ");
                text.push_str(&cause_text);
            }
            source = cause.source();
        }
        text
    }
}
