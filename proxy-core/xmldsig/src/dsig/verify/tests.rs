//! Unit tests of `verify`.

use super::*;
use crate::trust::TrustError;

#[test]
fn failed_checks_map_to_a_bounded_set_of_codes() {
    let untrusted = VerifyError::Trust(TrustError::Unknown {
        issuer: "CN=x".into(),
        serial: "1".into(),
    });
    assert_eq!(untrusted.code(), "trust");
    let expired = VerifyError::Trust(TrustError::Expired {
        subject: "CN=x".into(),
        serial: "1".into(),
        not_after: 0,
    });
    assert_eq!(expired.code(), "validity");
    let digest = VerifyError::DigestMismatch {
        index: 3,
        target: "Document",
    };
    assert_eq!(digest.code(), "digest");
    let value = VerifyError::BadSignatureValue {
        subject: "CN=x".into(),
    };
    assert_eq!(value.code(), "signature");
    assert_eq!(VerifyError::SignatureCount(2).code(), "placement");
    assert_eq!(VerifyError::Structure("two Document".into()).code(), "structure");
}
