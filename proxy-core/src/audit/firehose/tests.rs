//! Unit tests of `firehose`.

use super::*;

#[test]
fn oversized_records_are_cut_to_fit_and_say_so() {
    let record = AuditRecord {
        request_id: "r1".into(),
        request_body: "é".repeat(MAX_RECORD_BYTES),
        response_body: "<ok/>".into(),
        ..Default::default()
    };
    let fitted = fit(&record).unwrap();
    assert!(json_line(&fitted).unwrap().len() <= MAX_RECORD_BYTES);
    assert!(
        fitted
            .request_body
            .contains(&format!("{} bytes, sha256 ", 2 * MAX_RECORD_BYTES))
    );
    assert_eq!(
        (fitted.request_id.as_str(), fitted.response_body.as_str()),
        ("r1", "<ok/>")
    );
    assert!(fit(&AuditRecord::default()).is_none());
}
