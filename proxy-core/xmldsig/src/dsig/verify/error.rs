//! Why a signature was rejected: a variant per rule, and its stable code.

use crate::trust::TrustError;
use crate::xml::XmlError;

/// Why a signature was rejected. Each variant names the rule that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The message is not acceptable XML.
    #[error("message refused: {0}")]
    Xml(#[from] XmlError),
    /// The message does not have the profile's shape (e.g. two `Document` elements).
    #[error("message structure: {0}")]
    Structure(String),
    /// Not exactly one `ds:Signature` in the message.
    #[error("expected exactly one ds:Signature, found {0}")]
    SignatureCount(usize),
    /// The signature is not where the profile puts it.
    #[error("ds:Signature is misplaced: {0}")]
    Placement(String),
    /// The `ds:Signature` / `ds:SignedInfo` / `ds:KeyInfo` elements are not as the profile says.
    #[error("malformed signature: {0}")]
    Malformed(String),
    /// An algorithm other than the profile's.
    #[error("unsupported {element} algorithm '{algorithm}'")]
    UnsupportedAlgorithm {
        /// The element naming the algorithm.
        element: String,
        /// The algorithm URI found.
        algorithm: String,
    },
    /// The references are not exactly the profile's.
    #[error("reference {index} (URI {uri}): {reason}")]
    Reference {
        /// 1-based position in `SignedInfo`.
        index: usize,
        /// The reference's URI as written (`(none)` when absent).
        uri: String,
        /// What is wrong.
        reason: String,
    },
    /// The signing key could not be trusted.
    #[error("signing certificate not trusted: {0}")]
    Trust(#[from] TrustError),
    /// A reference's digest does not match the message: it was changed after signing.
    #[error("digest of reference {index} ({target}) does not match: the {target} was altered after signing")]
    DigestMismatch {
        /// 1-based position in `SignedInfo`.
        index: usize,
        /// What the reference covers (`KeyInfo`, `AppHdr`, `Document`, `document`).
        target: &'static str,
    },
    /// The RSA signature over `SignedInfo` does not verify with the trusted key.
    #[error("SignatureValue does not verify with the key of {subject}")]
    BadSignatureValue {
        /// The signing certificate's subject.
        subject: String,
    },
}

impl VerifyError {
    /// The failed check as a stable, short name for audit records and metric labels (a bounded
    /// set that never carries message text): `xml`, `structure`, `placement`, `malformed`,
    /// `algorithm`, `reference`, `trust`, `validity`, `digest` or `signature`.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::Xml(_) => "xml",
            VerifyError::Structure(_) => "structure",
            VerifyError::SignatureCount(_) | VerifyError::Placement(_) => "placement",
            VerifyError::Malformed(_) => "malformed",
            VerifyError::UnsupportedAlgorithm { .. } => "algorithm",
            VerifyError::Reference { .. } => "reference",
            VerifyError::Trust(TrustError::Expired { .. } | TrustError::NotYetValid { .. }) => "validity",
            VerifyError::Trust(_) => "trust",
            VerifyError::DigestMismatch { .. } => "digest",
            VerifyError::BadSignatureValue { .. } => "signature",
        }
    }
}
