//! ICOM's paths (DESIGN §6; BACEN's Manual das Interfaces de Comunicação as participants quote
//! it): the base `/api/v1`, `{ispb}` the direct participant's eight-digit ISPB.
//!
//! | method | path | operation |
//! |---|---|---|
//! | `POST` | `/api/v1/in/{ispb}/msgs` | send |
//! | `GET` | `/api/v1/out/{ispb}/stream/start` | stream read (the first page) |
//! | `GET` | `/api/v1/out/{ispb}/stream/{id}` | stream read (a `PI-Pull-Next`) |
//! | `DELETE` | `/api/v1/out/{ispb}/stream/{id}` | end of the stream |
//! | `GET` | `/api/v1/in/catalog` | the messages ICOM takes |
//! | `GET` | `/api/v1/out/catalog` | the messages ICOM delivers |

use http::Method;

use super::{Operation, RouteError, is_ispb, shown};

/// The longest stream id taken from a `PI-Pull-Next` path.
const MAX_STREAM_ID: usize = 128;

/// The operation of `method path` on ICOM, and the ISPB its path names.
pub fn parse(method: &Method, path: &str) -> Result<(Operation, Option<String>), RouteError> {
    let refuse = || {
        RouteError::Path(format!(
            "{method} {} is none of ICOM's paths (POST /api/v1/in/{{ispb}}/msgs, GET|DELETE /api/v1/out/{{ispb}}/stream/…, GET /api/v1/in|out/catalog)",
            shown(path, 200)
        ))
    };
    let rest = path.strip_prefix("/api/v1/").ok_or_else(refuse)?;
    let segments: Vec<&str> = rest.split('/').collect();
    let operation = match (method, segments.as_slice()) {
        (&Method::POST, ["in", ispb, "msgs"]) if is_ispb(ispb) => (Operation::SpiSend, Some(*ispb)),
        (&Method::GET, ["out", ispb, "stream", "start"]) if is_ispb(ispb) => {
            (Operation::SpiStreamRead, Some(*ispb))
        }
        (&Method::GET, ["out", ispb, "stream", id]) if is_ispb(ispb) && is_stream_id(id) => {
            (Operation::SpiStreamRead, Some(*ispb))
        }
        (&Method::DELETE, ["out", ispb, "stream", id])
            if is_ispb(ispb) && is_stream_id(id) && *id != "start" =>
        {
            (Operation::SpiStreamEnd, Some(*ispb))
        }
        (&Method::GET, ["in", "catalog"]) => (Operation::SpiSendCatalog, None),
        (&Method::GET, ["out", "catalog"]) => (Operation::SpiStreamCatalog, None),
        _ => return Err(refuse()),
    };
    Ok((operation.0, operation.1.map(str::to_string)))
}

/// A stream id as ICOM hands it out in `PI-Pull-Next`: letters, digits, `-` and `_`.
fn is_stream_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_STREAM_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
