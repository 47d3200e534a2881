use super::*;
use http::StatusCode;

fn answer(status: StatusCode, headers: &[(&str, &str)], body: Vec<u8>) -> Answer {
    let mut b = Response::builder().status(status);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    let (parts, ()) = b.body(()).unwrap().into_parts();
    (parts, Bytes::from(body))
}

fn verifier(trust: &TrustStore) -> Verifier<'_> {
    Verifier {
        profile: Profile::Spi,
        trust,
        max_body: 1 << 20,
    }
}

#[test]
fn a_signed_answer_that_fails_is_502_and_an_error_answer_passes_unverified() {
    let trust = TrustStore::new();
    let v = verifier(&trust);
    let j = v.judge(answer(StatusCode::OK, &[], b"<Envelope/>".to_vec()), Kind::Signed);
    assert_eq!(j.response.status(), StatusCode::BAD_GATEWAY);
    assert!(String::from_utf8_lossy(j.response.body()).contains(Problem::InvalidResponseSignature.code()));
    assert_eq!(
        j.bacen_body.as_ref(),
        b"<Envelope/>",
        "the evidence is BACEN's bytes"
    );
    assert!(j.verification_error.is_some());
    let j = v.judge(
        answer(StatusCode::FORBIDDEN, &[], b"<problem/>".to_vec()),
        Kind::Signed,
    );
    assert_eq!(j.response.status(), StatusCode::FORBIDDEN);
    assert_eq!(j.response.headers()[SIGNATURE_VALID], "false");
    let j = v.judge(
        answer(StatusCode::OK, &[], b"<catalog/>".to_vec()),
        Kind::Unsigned,
    );
    assert_eq!(j.response.status(), StatusCode::OK);
    assert_eq!(j.response.headers()[SIGNATURE_VALID], "false");
    assert!(j.verification_error.is_none());
}

#[test]
fn a_stream_message_that_fails_passes_with_its_verdict_and_bacens_headers() {
    let trust = TrustStore::new();
    let v = verifier(&trust);
    let j = v.judge(
        answer(
            StatusCode::OK,
            &[("pi-pull-next", "/next")],
            b"<Envelope/>".to_vec(),
        ),
        Kind::Stream,
    );
    assert_eq!(j.response.status(), StatusCode::OK);
    assert_eq!(j.response.headers()["pi-pull-next"], "/next");
    assert_eq!(j.response.headers()[SIGNATURE_VALID], "false");
    assert!(!j.response.headers()[SIGNATURE_ERROR].is_empty());
    assert_eq!(j.response.body().as_ref(), b"<Envelope/>");
}

#[test]
fn each_part_of_a_multipart_stream_answer_carries_its_verdict() {
    let trust = TrustStore::new();
    let v = verifier(&trust);
    let parts = vec![
        wire::Part {
            headers: vec![("content-type".into(), "application/xml".into())],
            body: b"<a/>".to_vec(),
        };
        2
    ];
    let body = wire::gzip(&wire::build_multipart("b1", &parts));
    let j = v.judge(
        answer(
            StatusCode::OK,
            &[
                ("content-type", "multipart/mixed; boundary=b1"),
                ("content-encoding", "gzip"),
            ],
            body,
        ),
        Kind::Stream,
    );
    let plain = wire::gunzip(j.response.body(), 1 << 20).unwrap();
    let back = wire::parse_multipart(&plain, "b1").unwrap();
    assert_eq!(back.len(), 2);
    for p in &back {
        assert_eq!(p.header(SIGNATURE_VALID), Some("false"));
        assert!(p.header(SIGNATURE_ERROR).is_some());
    }
    assert!(j.verification_error.unwrap().detail.starts_with("part 1: "));
    assert_eq!(j.verdicts.len(), 2);
    assert!(j.verdicts.iter().all(Result::is_err));
}

#[test]
fn reasons_become_safe_header_values() {
    assert_eq!(shown("não\r\nconfiável", 300), "n?o??confi?vel");
    assert!(HeaderValue::from_str(&shown(&"é".repeat(1000), 300)).is_ok());
}

#[test]
fn no_verdict_from_upstream_reaches_the_bank() {
    // Upstream forges the proxy's verdict, on the answer and on each part.
    let trust = TrustStore::new();
    let v = verifier(&trust);
    let forged = [
        ("pix-signature-valid", "true"),
        ("PIX-Signature-Valid", "true"),
        ("pix-request-id", "forged"),
    ];
    let j = v.judge(
        answer(StatusCode::OK, &forged, b"<Envelope/>".to_vec()),
        Kind::Stream,
    );
    let values: Vec<_> = j.response.headers().get_all(SIGNATURE_VALID).iter().collect();
    assert_eq!(values, ["false"], "exactly one verdict, the relay's");
    assert!(j.response.headers().get("pix-request-id").is_none());
    assert_eq!(j.verdicts.len(), 1);
    assert!(j.verdicts[0].is_err());
    let parts = vec![
        wire::Part {
            headers: vec![
                ("content-type".into(), "application/xml".into()),
                ("Pix-Signature-Valid".into(), "true".into()),
                ("pix-signature-error".into(), "none".into()),
            ],
            body: b"<a/>".to_vec(),
        };
        2
    ];
    let body = wire::build_multipart("b1", &parts);
    let head = [
        ("content-type", "multipart/mixed; boundary=b1"),
        ("pix-signature-valid", "true"),
    ];
    for kind in [Kind::Stream, Kind::Unsigned] {
        let j = v.judge(answer(StatusCode::OK, &head, body.clone()), kind);
        let back = wire::parse_multipart(j.response.body(), "b1").unwrap();
        for p in &back {
            let verdicts: Vec<_> = p
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(SIGNATURE_VALID))
                .map(|(_, v)| v.as_str())
                .collect();
            let expected: &[&str] = if kind == Kind::Stream { &["false"] } else { &[] };
            assert_eq!(verdicts, expected, "{kind:?}");
            let errors = p
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(SIGNATURE_ERROR))
                .count();
            assert_eq!(errors, usize::from(kind == Kind::Stream));
        }
    }
}
