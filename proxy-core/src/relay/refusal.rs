//! Every answer the proxy gives on its own (rather than BACEN's): one [`Problem`] code per reason,
//! with its HTTP status, and the RFC 7807 document that carries it. The codes are listed here
//! and in `docs/relay.md`, nowhere else.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use super::headers::SIGNATURE_VALID;

/// Why the proxy answered itself. The code is the problem document's `type` (after
/// `urn:pix-proxy:error:`) and `title`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// The path is not a plain absolute path under BACEN's endpoint (`400`).
    InvalidPath,
    /// The request could not be rebuilt for BACEN (`400`).
    InvalidRequest,
    /// A body over the memory bound (`413`).
    BodyTooLarge,
    /// A `Content-Encoding` other than gzip (`415`).
    UnsupportedEncoding,
    /// A `Content-Type` that is neither XML nor `multipart/mixed` (`415`).
    UnsupportedMediaType,
    /// A body that does not decompress or split into parts (`400`).
    InvalidBody,
    /// A message the profile cannot sign (`400`).
    InvalidMessage,
    /// A message that fails BACEN's schema of the version it declares, or declares a version
    /// the configured catalog does not enable (`422`; only with `--schemas`).
    SchemaInvalid,
    /// The catalog's schema could not be used (`500`).
    SchemaUnavailable,
    /// The signer (KMS, the HSM) cannot be reached or is throttling (`503`).
    SignerUnavailable,
    /// The signer refused to sign (`500`).
    SigningFailed,
    /// BACEN did not answer in time (`504`).
    Timeout,
    /// BACEN could not be reached (`502`).
    BacenUnreachable,
    /// BACEN's answer failed verification (`502`).
    InvalidResponseSignature,
    /// BACEN's answer could not be passed on (`502`).
    InvalidResponse,
    /// BACEN's limit of simultaneous requests was reached and no place freed in time (`503`,
    /// with `Retry-After`).
    BacenBusy,
    /// Callers are authenticated here and this one is not (`401`; the Lambda without an IAM
    /// principal in its request context).
    CallerUnauthenticated,
    /// The callers policy does not allow this caller what the request needs (`403`, naming the
    /// permission).
    CallerForbidden,
    /// The request names two different participants (path, `PI-RequestingParticipant`, the
    /// query's `Participant`, the body's): the ISPB checked must be the ISPB signed (`400`).
    ParticipantMismatch,
}

impl Problem {
    /// Every code, for the docs and the tests.
    pub const ALL: [Problem; 19] = [
        Problem::InvalidPath,
        Problem::InvalidRequest,
        Problem::BodyTooLarge,
        Problem::UnsupportedEncoding,
        Problem::UnsupportedMediaType,
        Problem::InvalidBody,
        Problem::InvalidMessage,
        Problem::SchemaInvalid,
        Problem::SchemaUnavailable,
        Problem::SignerUnavailable,
        Problem::SigningFailed,
        Problem::Timeout,
        Problem::BacenUnreachable,
        Problem::InvalidResponseSignature,
        Problem::InvalidResponse,
        Problem::BacenBusy,
        Problem::CallerUnauthenticated,
        Problem::CallerForbidden,
        Problem::ParticipantMismatch,
    ];

    /// The code, e.g. `signerUnavailable`.
    pub fn code(self) -> &'static str {
        match self {
            Problem::InvalidPath => "invalidPath",
            Problem::InvalidRequest => "invalidRequest",
            Problem::BodyTooLarge => "bodyTooLarge",
            Problem::UnsupportedEncoding => "unsupportedEncoding",
            Problem::UnsupportedMediaType => "unsupportedMediaType",
            Problem::InvalidBody => "invalidBody",
            Problem::InvalidMessage => "invalidMessage",
            Problem::SchemaInvalid => "schemaInvalid",
            Problem::SchemaUnavailable => "schemaUnavailable",
            Problem::SignerUnavailable => "signerUnavailable",
            Problem::SigningFailed => "signingFailed",
            Problem::Timeout => "timeout",
            Problem::BacenUnreachable => "bacenUnreachable",
            Problem::InvalidResponseSignature => "invalidResponseSignature",
            Problem::InvalidResponse => "invalidResponse",
            Problem::BacenBusy => "bacenBusy",
            Problem::CallerUnauthenticated => "callerUnauthenticated",
            Problem::CallerForbidden => "callerForbidden",
            Problem::ParticipantMismatch => "participantMismatch",
        }
    }

    /// The HTTP status answered.
    pub fn status(self) -> StatusCode {
        match self {
            Problem::InvalidPath
            | Problem::InvalidRequest
            | Problem::InvalidBody
            | Problem::InvalidMessage
            | Problem::ParticipantMismatch => StatusCode::BAD_REQUEST,
            Problem::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Problem::UnsupportedEncoding | Problem::UnsupportedMediaType => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            Problem::SignerUnavailable | Problem::BacenBusy => StatusCode::SERVICE_UNAVAILABLE,
            Problem::SchemaInvalid => StatusCode::UNPROCESSABLE_ENTITY,
            Problem::SigningFailed | Problem::SchemaUnavailable => StatusCode::INTERNAL_SERVER_ERROR,
            Problem::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Problem::CallerUnauthenticated => StatusCode::UNAUTHORIZED,
            Problem::CallerForbidden => StatusCode::FORBIDDEN,
            Problem::BacenUnreachable | Problem::InvalidResponseSignature | Problem::InvalidResponse => {
                StatusCode::BAD_GATEWAY
            }
        }
    }
}

/// A request the proxy answers itself: the problem and what exactly went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Why, as a code.
    pub problem: Problem,
    /// What exactly, for the bank's engineers (never a secret).
    pub detail: String,
    /// Seconds after which trying again makes sense (`Retry-After`).
    pub retry_after: Option<u64>,
}

impl Refusal {
    /// A refusal for `problem` with `detail`.
    pub fn new(problem: Problem, detail: impl Into<String>) -> Self {
        Refusal {
            problem,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// The same refusal, saying when to try again.
    pub fn retry_after(self, seconds: u64) -> Self {
        Refusal {
            retry_after: Some(seconds),
            ..self
        }
    }

    /// The same refusal, said of part `index` (from 0) of a multipart body.
    pub fn in_part(self, index: usize) -> Self {
        Refusal {
            detail: format!("part {}: {}", index + 1, self.detail),
            ..self
        }
    }

    /// The problem document (RFC 7807, XML), with `pix-signature-valid: false`.
    pub fn response(&self) -> Response<Bytes> {
        let code = self.problem.code();
        let status = self.problem.status();
        let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<problem xmlns=\"urn:ietf:rfc:7807\"><type>urn:pix-proxy:error:{code}</type><title>{code}</title><status>{}</status><detail>{}</detail></problem>",
            status.as_u16(),
            esc(&self.detail)
        );
        let mut r = Response::new(Bytes::from(body));
        *r.status_mut() = status;
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+xml; charset=utf-8"),
        );
        r.headers_mut()
            .insert(SIGNATURE_VALID, HeaderValue::from_static("false"));
        if let Some(seconds) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_distinct_and_answers_an_error_status() {
        let codes: std::collections::HashSet<_> = Problem::ALL.iter().map(|p| p.code()).collect();
        assert_eq!(codes.len(), Problem::ALL.len());
        for p in Problem::ALL {
            assert!(
                p.status().is_client_error() || p.status().is_server_error(),
                "{p:?}"
            );
        }
    }

    #[test]
    fn the_document_names_the_code_escapes_the_detail_and_says_not_verified() {
        let r = Refusal::new(Problem::InvalidBody, "bad <part> & more")
            .in_part(2)
            .response();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.headers()[SIGNATURE_VALID], "false");
        let body = String::from_utf8_lossy(r.body()).into_owned();
        assert!(
            body.contains("<type>urn:pix-proxy:error:invalidBody</type>"),
            "{body}"
        );
        assert!(
            body.contains("<detail>part 3: bad &lt;part&gt; &amp; more</detail>"),
            "{body}"
        );
    }
}
