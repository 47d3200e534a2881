//! Stage 4: one audit record per exchange, failures included — what arrived, what was sent,
//! what was answered — written before the answer leaves. A write that fails does not fail the
//! payment: the record goes to the error log instead, whole.

use std::time::Instant;

use bytes::Bytes;
use http::Response;
use http::header::HeaderValue;

use super::{REQUEST_ID, SIGNATURE_VALID, wire};
use crate::audit::{AuditRecord, AuditSink};
use crate::dsig::Profile;
use crate::xml::{self, Limits};

/// A record begun when the request arrived.
pub(super) struct Draft {
    record: AuditRecord,
    started: Instant,
}

/// The record of a request, as far as its head tells.
pub(super) fn start(parts: &http::request::Parts, signature_key_id: &str, started: Instant) -> Draft {
    let record = AuditRecord {
        request_id: wire::new_id(),
        request_date: wire::utc_now(),
        request_method: parts.method.to_string(),
        request_path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.to_string(), |p| p.to_string()),
        request_header: headers_json(&parts.headers),
        signature_key_id: signature_key_id.to_string(),
        ..Default::default()
    };
    Draft { record, started }
}

impl Draft {
    /// Completes the record with what was sent and answered, writes it to `audit`, and returns
    /// the answer with its `pix-request-id`.
    pub(super) async fn finish(
        self,
        profile: Profile,
        audit: &dyn AuditSink,
        mut response: Response<Bytes>,
        sent_body: &Bytes,
    ) -> Response<Bytes> {
        let Draft { mut record, started } = self;
        if let Ok(id) = HeaderValue::from_str(&record.request_id) {
            response.headers_mut().insert(REQUEST_ID, id);
        }
        record.request_body = String::from_utf8_lossy(sent_body).into_owned();
        describe(&mut record, sent_body);
        record.response_status_code = i32::from(response.status().as_u16());
        record.response_signature_valid = response
            .headers()
            .get(SIGNATURE_VALID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("false")
            .to_string();
        record.response_header = headers_json(response.headers());
        record.response_body = String::from_utf8_lossy(response.body()).into_owned();
        record.latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        if let Err(e) = audit.write(profile, &record).await {
            // The payment goes on; the record must not be lost: log it whole.
            let json = serde_json::to_string(&record).unwrap_or_default();
            tracing::error!(metric = "AuditWriteFailed", error = %e, record = %json, "audit write failed; record logged instead");
        }
        response
    }
}

/// Headers as a JSON object for the audit record; credentials are redacted.
fn headers_json(headers: &http::HeaderMap) -> String {
    let map: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(n, v)| {
            let value = if matches!(
                n.as_str(),
                "authorization" | "cookie" | "set-cookie" | "x-api-key" | "proxy-authorization"
            ) {
                "[redacted]".to_string()
            } else {
                String::from_utf8_lossy(v.as_bytes()).into_owned()
            };
            (n.to_string(), serde_json::Value::String(value))
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// Fills the fields an auditor searches by: message type, BizMsgIdr, EndToEndId.
fn describe(record: &mut AuditRecord, body: &[u8]) {
    let Ok(doc) = xml::parse(body, &Limits::default()) else {
        return;
    };
    let root = doc.root();
    let Some(el) = doc.element(root) else { return };
    let ns = doc.namespace(el);
    record.message_type = match ns.strip_prefix("https://www.bcb.gov.br/pi/") {
        Some(rest) => rest.split('/').next().unwrap_or(rest).to_string(),
        None => doc.local(el).to_string(),
    };
    let first = |local: &str| {
        doc.elements()
            .find(|&e| doc.element(e).is_some_and(|x| doc.local(x) == local))
            .map(|e| doc.text(e).trim().to_string())
    };
    record.biz_msg_idr = first("BizMsgIdr");
    record.end_to_end_id = first("EndToEndId");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted_and_the_message_is_described() {
        let mut h = http::HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer secret"));
        h.insert("content-type", HeaderValue::from_static("application/xml"));
        let json = headers_json(&h);
        assert!(json.contains("[redacted]") && !json.contains("secret"), "{json}");
        let mut record = AuditRecord::default();
        describe(
            &mut record,
            b"<Envelope xmlns=\"https://www.bcb.gov.br/pi/pacs.008/1.4\"><AppHdr><BizMsgIdr>M1</BizMsgIdr></AppHdr><Document><EndToEndId> E1 </EndToEndId></Document></Envelope>",
        );
        assert_eq!(record.message_type, "pacs.008");
        assert_eq!(record.biz_msg_idr.as_deref(), Some("M1"));
        assert_eq!(record.end_to_end_id.as_deref(), Some("E1"));
    }
}
