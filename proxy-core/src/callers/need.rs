//! What a request needs: the permission, and the participant (ISPB) it acts for.

use pix_xmldsig::dsig::Profile;
use pix_xmldsig::xml::{self, Limits};

use super::Permission;

/// The permission a request needs, and for which participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// The permission.
    pub permission: Permission,
    /// The ISPB the request acts for, when it names one.
    pub ispb: Option<String>,
}

impl Need {
    /// What a request of the `profile`'s port needs:
    ///
    /// - SPI (ICOM, DESIGN §6): paths under `/api/v1/out/` read the participant's stream
    ///   (`spi-stream`); everything else sends (`spi-send`). The ISPB is the path's `{ispb}`
    ///   (`/api/v1/in/{ispb}/msgs`, `/api/v1/out/{ispb}/stream/…`).
    /// - DICT (OpenAPI 2.12.1): `GET` and `keys/check` (a lookup sent as `POST`) read
    ///   (`dict-read`); everything else writes (`dict-write`). The ISPB is the header
    ///   `PI-RequestingParticipant` or the query's `Participant` (the OpenAPI's reads), else the
    ///   body's first `Participant` element (its writes: `CreateEntryRequest`, claims, refunds,
    ///   infraction reports).
    pub fn of(
        profile: Profile,
        method: &http::Method,
        uri: &http::Uri,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Need {
        let path = uri.path();
        match profile {
            Profile::Spi => {
                let (permission, rest) = match path.strip_prefix("/api/v1/out/") {
                    Some(rest) => (Permission::SpiStream, rest),
                    None => (
                        Permission::SpiSend,
                        path.strip_prefix("/api/v1/in/").unwrap_or(""),
                    ),
                };
                let ispb = rest.split('/').next().filter(|s| is_ispb(s)).map(str::to_string);
                Need { permission, ispb }
            }
            Profile::Dict => {
                let read = matches!(*method, http::Method::GET | http::Method::HEAD)
                    || path.ends_with("/keys/check");
                let permission = if read {
                    Permission::DictRead
                } else {
                    Permission::DictWrite
                };
                let ispb = headers
                    .get("pi-requestingparticipant")
                    .and_then(|v| v.to_str().ok())
                    .map(|v| v.trim().to_string())
                    .or_else(|| query_participant(uri))
                    .or_else(|| body_participant(body));
                Need { permission, ispb }
            }
        }
    }

    /// The request as a refusal names it.
    pub fn describe(&self) -> String {
        match &self.ispb {
            Some(ispb) => format!("a request for ISPB {ispb}"),
            None => "a request naming no ISPB".to_string(),
        }
    }
}

fn is_ispb(s: &str) -> bool {
    s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit())
}

fn query_participant(uri: &http::Uri) -> Option<String> {
    uri.query()?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "Participant")
        .map(|(_, v)| v.to_string())
}

/// The text of the body's first `Participant` element (document order).
fn body_participant(body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    let doc = xml::parse(body, &Limits::default()).ok()?;
    doc.elements().find_map(|e| {
        let el = doc.element(e)?;
        (doc.local(el) == "Participant").then(|| doc.text(e).trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need(profile: Profile, method: &str, uri: &str, headers: &[(&str, &str)], body: &str) -> Need {
        let mut h = http::HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        let method = http::Method::from_bytes(method.as_bytes()).unwrap();
        Need::of(profile, &method, &uri.parse().unwrap(), &h, body.as_bytes())
    }

    #[test]
    fn spi_paths_say_send_or_stream_and_the_ispb() {
        let n = need(Profile::Spi, "POST", "/api/v1/in/99999010/msgs", &[], "<x/>");
        assert_eq!(
            (n.permission, n.ispb.as_deref()),
            (Permission::SpiSend, Some("99999010"))
        );
        let n = need(Profile::Spi, "GET", "/api/v1/out/99999010/stream/start", &[], "");
        assert_eq!(
            (n.permission, n.ispb.as_deref()),
            (Permission::SpiStream, Some("99999010"))
        );
        let n = need(Profile::Spi, "GET", "/api/v1/out/catalog", &[], "");
        assert_eq!((n.permission, n.ispb), (Permission::SpiStream, None));
        let n = need(Profile::Spi, "GET", "/elsewhere", &[], "");
        assert_eq!((n.permission, n.ispb), (Permission::SpiSend, None));
    }

    #[test]
    fn dict_reads_and_writes_name_their_participant() {
        let n = need(
            Profile::Dict,
            "GET",
            "/api/v2/entries/k",
            &[("PI-RequestingParticipant", "99999010")],
            "",
        );
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
        );
        assert_eq!(
            (n.permission, n.ispb.as_deref()),
            (Permission::DictRead, Some("99999020"))
        );
        let body = "<CreateEntryRequest><Entry><Key>k</Key><Account><Participant> 99999010 </Participant></Account></Entry></CreateEntryRequest>";
        let n = need(Profile::Dict, "POST", "/api/v2/entries/", &[], body);
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
        );
        assert_eq!((n.permission, n.ispb), (Permission::DictRead, None));
        let n = need(Profile::Dict, "POST", "/api/v2/entries/", &[], "not xml");
        assert_eq!((n.permission, n.ispb), (Permission::DictWrite, None));
    }
}
