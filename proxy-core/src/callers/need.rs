//! What a request needs: the permission its [`Route`] asks for, and the one participant (ISPB) it
//! acts for, read from every source that names one.
//!
//! The ISPB checked must be the ISPB signed (DESIGN §6, "The edges"). The sources:
//! - the path's `{ispb}` (ICOM);
//! - the header `PI-RequestingParticipant` (DICT: once, as text, eight digits);
//! - the query's `Participant` (DICT's lists; the route has decoded it and refused a repeat);
//! - the body that will be signed, decompressed (DICT's writes): every `Participant` element.
//!
//! They must all agree. A request that names none is granted only to a caller allowed `*`,
//! unless its operation concerns no participant by definition (ICOM's catalogs, DICT's
//! `checkKeys`), which the permission for any ISPB covers.

use pix_xmldsig::xml::{self, Limits};

use super::Permission;
use crate::route::{Route, is_ispb, shown};

/// The header DICT's reads name their participant with (DICT's OpenAPI 2.12.1).
pub const REQUESTING_PARTICIPANT: &str = "pi-requestingparticipant";

/// The permission a request needs, and for which participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// The permission.
    pub permission: Permission,
    /// The ISPB the request acts for, when it names one.
    pub ispb: Option<String>,
    /// Whether the operation concerns no participant by its definition (ICOM's catalogs, DICT's
    /// `checkKeys`): naming none, it needs the permission for some ISPB. Any other request
    /// naming none needs the permission for `*`.
    pub participant_free: bool,
}

/// Why a request's participant cannot be told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unclear {
    /// Two sources name different participants (`400 participantMismatch`).
    #[error("{0}")]
    Disagree(String),
    /// A source is malformed: a repeated or non-text header, a value that is no ISPB, a body
    /// the proxy cannot read (`400 invalidRequest`).
    #[error("{0}")]
    Malformed(String),
}

impl Need {
    /// What `route` needs with `headers`, and `body`: the decompressed body that will be signed
    /// (`None` when the request carries none).
    pub fn of(route: &Route, headers: &http::HeaderMap, body: Option<&[u8]>) -> Result<Need, Unclear> {
        let mut named: Vec<(&'static str, String)> = Vec::new();
        if let Some(ispb) = &route.path_ispb {
            named.push(("the path", ispb.clone()));
        }
        if route.profile == pix_xmldsig::dsig::Profile::Dict {
            if let Some(ispb) = header_participant(headers)? {
                named.push(("the header PI-RequestingParticipant", ispb));
            }
            if let Some(v) = route.query.get("Participant") {
                named.push(("the query's Participant", ispb_of("the query's Participant", v)?));
            }
            if let Some(body) = body.filter(|b| !b.is_empty() && route.signs_body()) {
                for ispb in body_participants(body)? {
                    named.push(("the body's Participant", ispb));
                }
            }
        }
        let ispb = match named.split_first() {
            None => None,
            Some(((first_source, first), rest)) => {
                if let Some((source, other)) = rest.iter().find(|(_, i)| i != first) {
                    return Err(Unclear::Disagree(format!(
                        "the request names two participants: {first} ({first_source}) and {other} ({source})"
                    )));
                }
                Some(first.clone())
            }
        };
        Ok(Need {
            permission: route.permission(),
            ispb,
            participant_free: route.participant_free(),
        })
    }

    /// The request as a refusal names it.
    pub fn describe(&self) -> String {
        match &self.ispb {
            Some(ispb) => format!("a request for ISPB {ispb}"),
            None => "a request naming no ISPB".to_string(),
        }
    }
}

/// `PI-RequestingParticipant`, given at most once, as an ISPB.
fn header_participant(headers: &http::HeaderMap) -> Result<Option<String>, Unclear> {
    let mut values = headers.get_all(REQUESTING_PARTICIPANT).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Unclear::Malformed(
            "the header PI-RequestingParticipant is given more than once".into(),
        ));
    }
    let text = value
        .to_str()
        .map_err(|_| Unclear::Malformed("the header PI-RequestingParticipant is not text".into()))?;
    ispb_of("the header PI-RequestingParticipant", text).map(Some)
}

fn ispb_of(source: &str, value: &str) -> Result<String, Unclear> {
    let v = value.trim();
    if is_ispb(v) {
        Ok(v.to_string())
    } else {
        Err(Unclear::Malformed(format!(
            "{source} '{}' is not an ISPB (eight digits)",
            shown(value, 40)
        )))
    }
}

/// The text of every `Participant` element of the body, each an ISPB.
fn body_participants(body: &[u8]) -> Result<Vec<String>, Unclear> {
    let doc = xml::parse(body, &Limits::default())
        .map_err(|e| Unclear::Malformed(format!("the body is not XML the proxy can read: {e}")))?;
    let mut found = Vec::new();
    for e in doc.elements() {
        let Some(el) = doc.element(e) else { continue };
        if doc.local(el) == "Participant" {
            found.push(ispb_of("the body's Participant", &doc.text(e))?);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pix_xmldsig::dsig::Profile;

    fn need(
        profile: Profile,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<Need, Unclear> {
        let mut h = http::HeaderMap::new();
        for (k, v) in headers {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        let method = http::Method::from_bytes(method.as_bytes()).unwrap();
        let route = Route::parse(profile, &method, &uri.parse().unwrap()).unwrap();
        Need::of(&route, &h, Some(body.as_bytes()))
    }

    #[test]
    fn spi_paths_say_send_or_stream_and_the_ispb() {
        let n = need(Profile::Spi, "POST", "/api/v1/in/99999010/msgs", &[], "<x/>").unwrap();
        assert_eq!(
            (n.permission, n.ispb.as_deref()),
            (Permission::SpiSend, Some("99999010"))
        );
        let n = need(Profile::Spi, "GET", "/api/v1/out/99999010/stream/start", &[], "").unwrap();
        assert_eq!(
            (n.permission, n.ispb.as_deref()),
            (Permission::SpiStream, Some("99999010"))
        );
        let n = need(Profile::Spi, "GET", "/api/v1/out/catalog", &[], "").unwrap();
        assert_eq!(
            (n.permission, n.ispb, n.participant_free),
            (Permission::SpiStream, None, true)
        );
    }

    #[test]
    fn dict_reads_and_writes_name_their_participant() {
        let h = [("PI-RequestingParticipant", "99999010")];
        let n = need(Profile::Dict, "GET", "/api/v2/entries/k", &h, "").unwrap();
        assert_eq!(
            (n.permission, n.ispb.as_deref()),
            (Permission::DictRead, Some("99999010"))
        );
        let n = need(
            Profile::Dict,
            "GET",
            "/api/v2/claims/?Participant=99999020&Limit=5",
            &[],
            "",
        )
        .unwrap();
        assert_eq!(
            (n.permission, n.ispb.as_deref()),
            (Permission::DictRead, Some("99999020"))
        );
        let body = "<CreateEntryRequest><Entry><Key>k</Key><Account><Participant> 99999010 </Participant></Account></Entry></CreateEntryRequest>";
        let n = need(Profile::Dict, "POST", "/api/v2/entries/", &[], body).unwrap();
        assert_eq!(
            (n.permission, n.ispb.as_deref()),
            (Permission::DictWrite, Some("99999010"))
        );
        let n = need(
            Profile::Dict,
            "POST",
            "/api-np/v2/keys/check",
            &[],
            "<CheckKeysRequest/>",
        )
        .unwrap();
        assert_eq!(
            (n.permission, n.ispb, n.participant_free),
            (Permission::DictRead, None, true)
        );
        // A write whose body names no participant is not participant-free: it needs `*`.
        let n = need(
            Profile::Dict,
            "POST",
            "/api/v2/refunds/",
            &[],
            "<CreateRefundRequest/>",
        )
        .unwrap();
        assert_eq!((n.ispb, n.participant_free), (None, false));
    }

    #[test]
    fn every_source_must_agree_and_each_be_an_ispb() {
        let body = "<CreateEntryRequest><Entry><Account><Participant>99999020</Participant></Account></Entry></CreateEntryRequest>";
        let h = [("PI-RequestingParticipant", "99999010")];
        let e = need(Profile::Dict, "POST", "/api/v2/entries/", &h, body).unwrap_err();
        assert!(matches!(e, Unclear::Disagree(_)), "{e}");
        assert!(
            e.to_string().contains("99999010") && e.to_string().contains("99999020"),
            "{e}"
        );
        let e = need(
            Profile::Dict,
            "GET",
            "/api/v2/claims/?Participant=99999020",
            &h,
            "",
        )
        .unwrap_err();
        assert!(matches!(e, Unclear::Disagree(_)), "{e}");
        // Two Participant elements that disagree.
        let two = "<R><Participant>99999010</Participant><X><Participant>99999020</Participant></X></R>";
        let e = need(Profile::Dict, "POST", "/api/v2/refunds/", &[], two).unwrap_err();
        assert!(matches!(e, Unclear::Disagree(_)), "{e}");
        // The header twice; a value that is no ISPB; a write body that is no XML.
        let twice = [
            ("PI-RequestingParticipant", "99999010"),
            ("PI-RequestingParticipant", "99999010"),
        ];
        assert!(matches!(
            need(Profile::Dict, "GET", "/api/v2/entries/k", &twice, ""),
            Err(Unclear::Malformed(_))
        ));
        let bad = [("PI-RequestingParticipant", "9999901O")];
        assert!(matches!(
            need(Profile::Dict, "GET", "/api/v2/entries/k", &bad, ""),
            Err(Unclear::Malformed(_))
        ));
        assert!(matches!(
            need(Profile::Dict, "POST", "/api/v2/entries/", &[], "not xml"),
            Err(Unclear::Malformed(_))
        ));
    }
}
