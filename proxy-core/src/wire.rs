//! What travels on the wire to and from BACEN: the request-header whitelist, whole-body gzip,
//! multipart/mixed (ICOM batches), ids and timestamps. Shared by the relay and the simulator.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};

pub use pix_xmldsig::clock::unix_now;
pub use pix_xmldsig::ids::random_id as new_id;

/// Why a body could not be read as gzip or as multipart/mixed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The body is not a gzip stream.
    #[error("body is not valid gzip: {0}")]
    NotGzip(String),
    /// The body decompresses past the size limit.
    #[error("gzip body expands past {0} bytes")]
    TooLarge(usize),
    /// A multipart body that breaks RFC 2046 (the reason names the rule).
    #[error("multipart body: {0}")]
    Multipart(&'static str),
}

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
pub fn gunzip(body: &[u8], max: usize) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| WireError::NotGzip(e.to_string()))?;
    if out.len() > max {
        return Err(WireError::TooLarge(max));
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
pub fn parse_multipart(body: &[u8], boundary: &str) -> Result<Vec<Part>, WireError> {
    let delimiter = format!("--{boundary}");
    let text = body;
    let mut parts = Vec::new();
    let find = |hay: &[u8], from: usize, needle: &[u8]| {
        hay.get(from..)
            .and_then(|h| h.windows(needle.len()).position(|w| w == needle))
            .map(|i| i + from)
    };
    let mut at =
        find(text, 0, delimiter.as_bytes()).ok_or(WireError::Multipart("no boundary in the body"))?;
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
            .ok_or(WireError::Multipart("no closing boundary"))?;
        let raw = &text[start.min(next)..next];
        let split = find(raw, 0, b"\r\n\r\n").ok_or(WireError::Multipart("a part without a header block"))?;
        let headers = std::str::from_utf8(&raw[..split])
            .map_err(|_| WireError::Multipart("part headers are not UTF-8"))?
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (n, v) = l
                    .split_once(':')
                    .ok_or(WireError::Multipart("a malformed part header"))?;
                Ok((n.trim().to_ascii_lowercase(), v.trim().to_string()))
            })
            .collect::<Result<Vec<_>, WireError>>()?;
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

/// A fresh 32-character SPI id in BACEN's format (`EndToEndId`, `MsgId`, `RtrId`): `prefix`
/// (`E` payment, `D` refund, `M` message), the ISPB, the date and time (`yyyyMMddHHmm`), then
/// 11 characters unique within the process (the `EndToEndId` composition of BACEN's Manual de Padrões para Iniciação do Pix).
pub fn spi_id(prefix: char, ispb: &str) -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    let stamp: String = utc_now().chars().filter(char::is_ascii_digit).take(12).collect();
    let secs = u64::try_from(unix_now()).unwrap_or(0);
    format!(
        "{prefix}{ispb}{stamp}{:011}",
        (secs % 100_000) * 1_000_000 + n % 1_000_000
    )
}

/// Now as RFC 3339 UTC with milliseconds.
pub fn utc_now() -> String {
    timestamp(unix_millis())
}

/// Now in milliseconds since the epoch.
pub fn unix_millis() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// Milliseconds since the epoch as RFC 3339 UTC with milliseconds (`2026-11-25T10:00:00.000Z`).
pub fn timestamp(millis: i64) -> String {
    let secs = millis.div_euclid(1000);
    let rem = secs.rem_euclid(86_400);
    format!(
        "{}T{:02}:{:02}:{:02}.{:03}Z",
        date(secs),
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        millis.rem_euclid(1000)
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
    fn ids_are_32_characters_and_unique() {
        let a = spi_id('E', "99999010");
        let b = spi_id('E', "99999010");
        assert_eq!(a.len(), 32, "{a}");
        assert_ne!(a, b);
        assert!(a.starts_with("E99999010"));
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
