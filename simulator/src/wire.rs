//! HTTP pieces of the simulator: bodies, problem documents (RFC 7807 in XML), and BACEN's header
//! rules; the wire formats shared with the relay (gzip, multipart, ids, time) come from
//! `proxy_core::wire`.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::Full;

pub use proxy_core::wire::{
    Part, WireError, boundary, build_multipart, gzip, new_id, parse_multipart, timestamp, unix_millis,
    unix_now, utc_now,
};

/// Every response body of the simulator.
pub type Body = Full<Bytes>;

/// Largest request body accepted (ICOM accepts messages far smaller; this bounds memory).
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// Decompresses a request body, up to [`MAX_BODY`].
pub fn gunzip(body: &[u8]) -> Result<Vec<u8>, WireError> {
    proxy_core::wire::gunzip(body, MAX_BODY)
}

/// The first request header ICOM would refuse, with the reason.
pub fn refused_header(headers: &HeaderMap) -> Option<String> {
    for (name, value) in headers {
        if !proxy_core::wire::header_allowed(name.as_str()) {
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
