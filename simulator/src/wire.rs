//! HTTP pieces shared by the SPI and DICT endpoints: bodies, problem documents (RFC 7807 in XML),
//! BACEN's request-header whitelist, gzip, multipart/mixed, and UTC timestamps.

use std::io::{Read, Write};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::Full;

/// Every response body of the simulator.
pub type Body = Full<Bytes>;

/// Largest request body accepted (ICOM accepts messages far smaller; this bounds memory).
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// The request headers ICOM accepts; anything else is `400 invalidHeader` (DESIGN §6).
pub const ALLOWED_HEADERS: &[&str] = &[
    "accept",
    "accept-encoding",
    "connection",
    "content-encoding",
    "content-length",
    "content-type",
    "cookie",
    "host",
    "max-forwards",
    "transfer-encoding",
    "user-agent",
    "via",
];

/// The first request header ICOM would refuse, with the reason.
pub fn refused_header(headers: &HeaderMap) -> Option<String> {
    for (name, value) in headers {
        if !ALLOWED_HEADERS.contains(&name.as_str()) {
            return Some(format!("header '{name}' is not allowed"));
        }
        if name == http::header::HOST && value.to_str().map_or(true, |h| h.contains(':')) {
            return Some("Host must not carry a port".into());
        }
    }
    None
}

/// A response with a body and content type.
pub fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}

/// An empty response.
pub fn empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}

/// An RFC 7807 problem document in XML.
pub fn problem_xml(type_uri: &str, status: StatusCode, title: &str, detail: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<problem xmlns=\"urn:ietf:rfc:7807\"><type>{}</type><title>{}</title><status>{}</status><detail>{}</detail></problem>",
        escape(type_uri),
        escape(title),
        status.as_u16(),
        escape(detail)
    )
}

/// XML text escaping for values the simulator writes.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Decompresses a gzip body, refusing to expand past [`MAX_BODY`].
pub fn gunzip(body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("body is not valid gzip: {e}"))?;
    if out.len() > MAX_BODY {
        return Err(format!("gzip body expands past {MAX_BODY} bytes"));
    }
    Ok(out)
}

/// Compresses a body with gzip.
pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(body);
    enc.finish().unwrap_or_default()
}

/// One part of a multipart/mixed body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The part's headers, lower-cased names.
    pub headers: Vec<(String, String)>,
    /// The part's content.
    pub body: Vec<u8>,
}

impl Part {
    /// The value of a header of this part.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The `boundary` parameter of a `multipart/mixed` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/mixed") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// Splits a multipart body (RFC 2046) into its parts.
pub fn parse_multipart(body: &[u8], boundary: &str) -> Result<Vec<Part>, String> {
    let delimiter = format!("--{boundary}");
    let text = body;
    let mut parts = Vec::new();
    let find = |hay: &[u8], from: usize, needle: &[u8]| {
        hay.get(from..)
            .and_then(|h| h.windows(needle.len()).position(|w| w == needle))
            .map(|i| i + from)
    };
    let mut at = find(text, 0, delimiter.as_bytes()).ok_or("no multipart boundary in the body")?;
    loop {
        let after = at + delimiter.len();
        if text.get(after..after + 2) == Some(b"--") {
            return Ok(parts);
        }
        let start = after
            + if text.get(after..after + 2) == Some(b"\r\n") {
                2
            } else {
                1
            };
        let next = find(text, start, format!("\r\n{delimiter}").as_bytes())
            .ok_or("multipart body has no closing boundary")?;
        let raw = &text[start.min(next)..next];
        let split = find(raw, 0, b"\r\n\r\n").ok_or("multipart part without a header block")?;
        let headers = std::str::from_utf8(&raw[..split])
            .map_err(|_| "multipart part headers are not UTF-8")?
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l.split_once(':').ok_or("malformed multipart part header")?;
                Ok((n.trim().to_ascii_lowercase(), v.trim().to_string()))
            })
            .collect::<Result<Vec<_>, &str>>()?;
        parts.push(Part {
            headers,
            body: raw[split + 4..].to_vec(),
        });
        at = next + 2;
    }
}

/// Builds a multipart/mixed body.
pub fn build_multipart(boundary: &str, parts: &[Part]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        for (n, v) in &p.headers {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&p.body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

/// A fresh random id: 32 hex digits (PI-ResourceId, stream and claim ids).
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    // The system RNG does not fail on supported platforms; ids only need to be unique.
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Now as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn utc_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_round_trips() {
        let parts = vec![
            Part {
                headers: vec![("content-type".into(), "application/xml".into())],
                body: b"<a/>".to_vec(),
            },
            Part {
                headers: vec![("content-type".into(), "application/xml".into())],
                body: b"<b>\r\n</b>".to_vec(),
            },
        ];
        let body = build_multipart("xyz", &parts);
        assert_eq!(parse_multipart(&body, "xyz").unwrap(), parts);
        assert_eq!(
            boundary("multipart/mixed; boundary=\"xyz\"").as_deref(),
            Some("xyz")
        );
        assert!(parse_multipart(b"--xyz\r\nno end", "xyz").is_err());
    }

    #[test]
    fn timestamps_look_right() {
        let t = utc_now();
        assert_eq!(t.len(), 24, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'));
    }

    #[test]
    fn gzip_round_trips() {
        assert_eq!(gunzip(&gzip(b"hello")).unwrap(), b"hello");
        assert!(gunzip(b"not gzip").is_err());
    }
}
