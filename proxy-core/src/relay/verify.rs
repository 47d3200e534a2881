//! Stage 3: BACEN's answer verified — the whole body, or each part of a multipart one — and the
//! answer for the bank built from it: BACEN's status, headers and bytes with
//! `pix-signature-valid`, or `502` when a signed answer fails verification (fail closed).

use bytes::Bytes;
use http::Response;
use http::header::{self, HeaderValue};

use super::forward::Answer;
use super::refusal::{Problem, Refusal};
use super::{SIGNATURE_VALID, wire};
use crate::dsig::{self, Profile};
use crate::trust::TrustStore;

/// What the relay checks BACEN's answers with.
pub(super) struct Verifier<'a> {
    pub profile: Profile,
    pub trust: &'a TrustStore,
    pub max_body: usize,
}

impl Verifier<'_> {
    /// The answer for the bank. `signed` is false for answers that are not signed messages
    /// (ICOM's catalogs).
    pub(super) fn answer(&self, (parts, bytes): Answer, signed: bool) -> Response<Bytes> {
        let verdict = if signed {
            self.verify(&parts.headers, &bytes)
        } else {
            Err("not a signed message".into())
        };
        if signed
            && parts.status.is_success()
            && !bytes.is_empty()
            && let Err(reason) = &verdict
        {
            let reason = format!("BACEN's answer failed verification: {reason}");
            return Refusal::new(Problem::InvalidResponseSignature, reason).response();
        }
        let mut r = Response::builder().status(parts.status);
        for (name, value) in &parts.headers {
            if !matches!(
                name.as_str(),
                "connection" | "keep-alive" | "transfer-encoding" | "content-length"
            ) {
                r = r.header(name, value);
            }
        }
        let valid = HeaderValue::from_static(if verdict.is_ok() && !bytes.is_empty() {
            "true"
        } else {
            "false"
        });
        r.header(SIGNATURE_VALID, valid).body(bytes).unwrap_or_else(|_| {
            Refusal::new(Problem::InvalidResponse, "BACEN's answer headers are invalid").response()
        })
    }

    /// Verifies a body: the whole message, or each part of a multipart one.
    fn verify(&self, headers: &http::HeaderMap, body: &[u8]) -> Result<(), String> {
        let plain = if wire::header_str(headers, header::CONTENT_ENCODING).eq_ignore_ascii_case("gzip") {
            wire::gunzip(body, self.max_body)?
        } else {
            body.to_vec()
        };
        let now = unix_now();
        match wire::boundary(wire::header_str(headers, header::CONTENT_TYPE)) {
            Some(boundary) => {
                for (i, p) in wire::parse_multipart(&plain, &boundary)?.iter().enumerate() {
                    dsig::verify(&p.body, self.profile, self.trust, now)
                        .map_err(|e| format!("part {}: {e}", i + 1))?;
                }
                Ok(())
            }
            None => dsig::verify(&plain, self.profile, self.trust, now)
                .map(|_| ())
                .map_err(|e| e.to_string()),
        }
    }
}

/// Whether an answer is a signed message: ICOM's catalogs are plain documents; everything else
/// BACEN answers with a body must verify.
pub(super) fn is_signed(profile: Profile, path: &str) -> bool {
    !(profile == Profile::Spi && path.ends_with("/catalog"))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn answer(status: StatusCode, body: &'static str) -> Answer {
        let (parts, ()) = Response::builder().status(status).body(()).unwrap().into_parts();
        (parts, Bytes::from_static(body.as_bytes()))
    }

    #[test]
    fn a_signed_answer_that_fails_is_502_and_an_error_answer_passes_unverified() {
        let trust = TrustStore::new();
        let v = Verifier {
            profile: Profile::Spi,
            trust: &trust,
            max_body: 1 << 20,
        };
        let r = v.answer(answer(StatusCode::OK, "<Envelope/>"), true);
        assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
        assert!(String::from_utf8_lossy(r.body()).contains("invalidResponseSignature"));
        let r = v.answer(answer(StatusCode::FORBIDDEN, "<problem/>"), true);
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(r.headers()[SIGNATURE_VALID], "false");
        let r = v.answer(answer(StatusCode::OK, "<catalog/>"), false);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[SIGNATURE_VALID], "false");
        assert!(!is_signed(Profile::Spi, "/api/v1/in/99999010/catalog"));
        assert!(is_signed(Profile::Dict, "/api/v2/catalog"));
    }
}
