//! Stage 1: the request body signed with the deployment's profile — each part of a
//! `multipart/mixed` batch; a gzip'd body decompressed, signed and, for ICOM, compressed again.
//! DICT takes no compressed request (DESIGN §6, DICT's OpenAPI): its bodies go uncompressed, and
//! the forwarder drops the bank's `Content-Encoding`.

use http::header;

use super::refusal::{Problem, Refusal};
use crate::route::Route;
use crate::wire;
use pix_schemas::{Catalog, Invalid, Stage};
use pix_xmldsig::dsig::{self, Profile, SignError};
use pix_xmldsig::signer::{Signer, SignerError};

/// How a relay signs: its profile, its signer and, optionally, BACEN's schemas to check each
/// message against first.
pub(super) struct Signing<'a> {
    pub(super) profile: Profile,
    pub(super) signer: &'a dyn Signer,
    pub(super) schemas: Option<&'a Catalog>,
}

/// A request body as it will be signed: decompressed, with how it came.
pub(super) struct Decoded {
    /// The body, decompressed.
    pub(super) plain: Vec<u8>,
    /// Whether it came gzip'd.
    gzip: bool,
    /// Its `Content-Type`.
    content_type: String,
}

impl Decoded {
    /// The body as it goes to BACEN unsigned: gzip'd again for ICOM when it came so; DICT takes
    /// no compressed request.
    pub(super) fn outgoing(self, profile: Profile) -> bytes::Bytes {
        if self.gzip && profile == Profile::Spi {
            bytes::Bytes::from(wire::gzip(&self.plain))
        } else {
            bytes::Bytes::from(self.plain)
        }
    }
}

/// The bank's `body` with `headers`, decompressed: the bytes the callers stage reads the
/// participant from are the bytes that are signed. A `Content-Encoding` other than gzip is
/// `415`; a multipart body to DICT, whose operations each take one document, `415`.
pub(super) fn decode(
    route: &Route,
    headers: &http::HeaderMap,
    body: &[u8],
    max_body: usize,
) -> Result<Decoded, Refusal> {
    let encoding = wire::header_str(headers, header::CONTENT_ENCODING);
    let gzip = encoding.eq_ignore_ascii_case("gzip");
    if !gzip && !encoding.is_empty() && !encoding.eq_ignore_ascii_case("identity") {
        let reason = format!("Content-Encoding '{encoding}' (only gzip)");
        return Err(Refusal::new(Problem::UnsupportedEncoding, reason));
    }
    let content_type = wire::header_str(headers, header::CONTENT_TYPE).to_string();
    if route.profile == Profile::Dict && wire::boundary(&content_type).is_some() {
        let reason = format!(
            "{} takes one XML document; a multipart body is not relayed to DICT",
            route.name()
        );
        return Err(Refusal::new(Problem::UnsupportedMediaType, reason));
    }
    let plain = if gzip {
        wire::gunzip(body, max_body).map_err(|e| Refusal::new(Problem::InvalidBody, e.to_string()))?
    } else {
        body.to_vec()
    };
    Ok(Decoded {
        plain,
        gzip,
        content_type,
    })
}

/// The body to send to BACEN for a decoded one: signed, and for ICOM gzip'd again when it came
/// so.
pub(super) async fn request_body(signing: &Signing<'_>, decoded: &Decoded) -> Result<Vec<u8>, Refusal> {
    let profile = signing.profile;
    let started = std::time::Instant::now();
    let signed = sign_plain(signing, &decoded.content_type, &decoded.plain).await;
    let problem = match &signed {
        Err(r) if matches!(r.problem, Problem::SignerUnavailable | Problem::SigningFailed) => {
            Some(r.problem.code())
        }
        _ => None,
    };
    crate::metrics::signed(profile, started.elapsed(), problem);
    let signed = signed?;
    Ok(if decoded.gzip && profile == Profile::Spi {
        wire::gzip(&signed)
    } else {
        signed
    })
}

/// A decompressed body signed: each part of a multipart one, or the whole XML message.
async fn sign_plain(signing: &Signing<'_>, content_type: &str, plain: &[u8]) -> Result<Vec<u8>, Refusal> {
    let signed = if let Some(boundary) = wire::boundary(content_type) {
        let parts = wire::parse_multipart(plain, &boundary)
            .map_err(|e| Refusal::new(Problem::InvalidBody, e.to_string()))?;
        let mut signed_parts = Vec::with_capacity(parts.len());
        for (i, mut p) in parts.into_iter().enumerate() {
            p.body = message(signing, &p.body).await.map_err(|r| r.in_part(i))?;
            signed_parts.push(p);
        }
        wire::build_multipart(&boundary, &signed_parts)
    } else if wire::is_xml(content_type) {
        message(signing, plain).await?
    } else {
        let reason = format!("Content-Type '{content_type}' is neither XML nor multipart/mixed");
        return Err(Refusal::new(Problem::UnsupportedMediaType, reason));
    };
    Ok(signed)
}

/// One message checked against its schema (when the relay has BACEN's schemas: `422` naming
/// every violation) and signed; a signer that is down is `503`, a message the profile cannot
/// sign `400`.
async fn message(signing: &Signing<'_>, message: &[u8]) -> Result<Vec<u8>, Refusal> {
    if let Some(schemas) = signing.schemas
        && signing.profile == Profile::Spi
    {
        let started = std::time::Instant::now();
        let checked = schemas.validate(message, Stage::BeforeSigning);
        crate::metrics::schema_checked(started.elapsed(), checked.as_ref().err().map(Invalid::code));
        checked.map_err(schema_refusal)?;
    }
    dsig::sign(message, signing.profile, signing.signer)
        .await
        .map_err(|e| {
            let problem = match e {
                SignError::Signer(SignerError::Unavailable { .. }) => Problem::SignerUnavailable,
                SignError::Signer(_) => Problem::SigningFailed,
                _ => Problem::InvalidMessage,
            };
            Refusal::new(problem, e.to_string())
        })
}

/// The refusal of a message the catalog refuses: every violation in the detail (line, element,
/// rule), so that the bank's engineers fix them all at once.
fn schema_refusal(invalid: Invalid) -> Refusal {
    match invalid {
        Invalid::NotXml(reason) => {
            Refusal::new(Problem::InvalidMessage, format!("message refused: {reason}"))
        }
        Invalid::SchemaUnavailable { .. } => Refusal::new(Problem::SchemaUnavailable, invalid.to_string()),
        Invalid::Violations {
            message_type,
            violations,
        } => {
            let all: Vec<String> = violations.iter().map(ToString::to_string).collect();
            let detail = format!(
                "{message_type} ({}) fails BACEN's schema: {}",
                message_type.msg_def_idr(),
                all.join("; ")
            );
            Refusal::new(Problem::SchemaInvalid, detail)
        }
        other => Refusal::new(Problem::SchemaInvalid, other.to_string()),
    }
}
