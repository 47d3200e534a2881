//! Stage 1: the request body signed with the deployment's profile — each part of a
//! `multipart/mixed` batch; a gzip'd body decompressed, signed and, for ICOM, compressed again.
//! DICT takes no compressed request (DESIGN §6, DICT's OpenAPI): its bodies go uncompressed, and
//! the forwarder drops the bank's `Content-Encoding`.

use http::header;

use super::refusal::{Problem, Refusal};
use crate::wire;
use pix_xmldsig::dsig::{self, Profile, SignError};
use pix_xmldsig::signer::{Signer, SignerError};

/// The body to send to BACEN for a bank's `body` with `headers`.
pub(super) async fn request_body(
    profile: Profile,
    signer: &dyn Signer,
    headers: &http::HeaderMap,
    body: &[u8],
    max_body: usize,
) -> Result<Vec<u8>, Refusal> {
    let encoding = wire::header_str(headers, header::CONTENT_ENCODING);
    let gzip = encoding.eq_ignore_ascii_case("gzip");
    if !gzip && !encoding.is_empty() && !encoding.eq_ignore_ascii_case("identity") {
        let reason = format!("Content-Encoding '{encoding}' (only gzip)");
        return Err(Refusal::new(Problem::UnsupportedEncoding, reason));
    }
    let plain = if gzip {
        wire::gunzip(body, max_body).map_err(|e| Refusal::new(Problem::InvalidBody, e.to_string()))?
    } else {
        body.to_vec()
    };
    let content_type = wire::header_str(headers, header::CONTENT_TYPE);
    let started = std::time::Instant::now();
    let signed = sign_plain(profile, signer, content_type, &plain).await;
    let problem = match &signed {
        Err(r) if matches!(r.problem, Problem::SignerUnavailable | Problem::SigningFailed) => {
            Some(r.problem.code())
        }
        _ => None,
    };
    crate::metrics::signed(profile, started.elapsed(), problem);
    let signed = signed?;
    Ok(if gzip && profile == Profile::Spi {
        wire::gzip(&signed)
    } else {
        signed
    })
}

/// A decompressed body signed: each part of a multipart one, or the whole XML message.
async fn sign_plain(
    profile: Profile,
    signer: &dyn Signer,
    content_type: &str,
    plain: &[u8],
) -> Result<Vec<u8>, Refusal> {
    let signed = if let Some(boundary) = wire::boundary(content_type) {
        let parts = wire::parse_multipart(plain, &boundary)
            .map_err(|e| Refusal::new(Problem::InvalidBody, e.to_string()))?;
        let mut signed_parts = Vec::with_capacity(parts.len());
        for (i, mut p) in parts.into_iter().enumerate() {
            p.body = message(profile, signer, &p.body)
                .await
                .map_err(|r| r.in_part(i))?;
            signed_parts.push(p);
        }
        wire::build_multipart(&boundary, &signed_parts)
    } else if wire::is_xml(content_type) {
        message(profile, signer, plain).await?
    } else {
        let reason = format!("Content-Type '{content_type}' is neither XML nor multipart/mixed");
        return Err(Refusal::new(Problem::UnsupportedMediaType, reason));
    };
    Ok(signed)
}

/// One message signed; a signer that is down is `503`, a message the profile cannot sign `400`.
async fn message(profile: Profile, signer: &dyn Signer, message: &[u8]) -> Result<Vec<u8>, Refusal> {
    dsig::sign(message, profile, signer).await.map_err(|e| {
        let problem = match e {
            SignError::Signer(SignerError::Unavailable { .. }) => Problem::SignerUnavailable,
            SignError::Signer(_) => Problem::SigningFailed,
            _ => Problem::InvalidMessage,
        };
        Refusal::new(problem, e.to_string())
    })
}
