//! What travels on the wire to and from BACEN: the request-header whitelist, whole-body gzip,
//! multipart/mixed (ICOM batches), ids and timestamps. Shared by the relay and the simulator.

use std::io::{Read, Write};

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

/// True when ICOM accepts a request header of this name.
pub fn header_allowed(name: &str) -> bool {
    ALLOWED_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// A header's value as text; empty when absent or not text.
pub fn header_str(headers: &http::HeaderMap, name: http::header::HeaderName) -> &str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// True for `application/xml` and `text/xml`, whatever the parameters.
pub fn is_xml(content_type: &str) -> bool {
    let kind = content_type.split(';').next().unwrap_or("").trim();
    kind.eq_ignore_ascii_case("application/xml") || kind.eq_ignore_ascii_case("text/xml")
}

/// Decompresses a gzip body, refusing to expand past `max` bytes.
pub fn gunzip(body: &[u8], max: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("body is not valid gzip: {e}"))?;
    if out.len() > max {
        return Err(format!("gzip body expands past {max} bytes"));
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
/// `YYYY-MM-DD` (UTC) of seconds since the epoch: the civil date from days since 1970-01-01
/// (H. Hinnant's algorithm).
pub fn date(secs: i64) -> String {
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Now as RFC 3339 UTC with milliseconds.
pub fn utc_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let rem = secs.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}.{:03}Z",
        date(secs),
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
        assert_eq!(gunzip(&gzip(b"hello"), 100).unwrap(), b"hello");
        assert!(gunzip(b"not gzip", 100).is_err());
        assert!(gunzip(&gzip(&[0u8; 1000]), 100).is_err());
    }
}
