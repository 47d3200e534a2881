//! Stage 4: one audit record per exchange, failures included — what arrived, what was sent,
//! what was answered — written before the answer leaves. A write that fails does not fail the
//! payment: the record goes to the error log instead, whole.

use std::time::Instant;

use bytes::Bytes;
use http::Response;
use http::header::{self, HeaderValue};

use super::headers::REQUEST_ID;
use super::verify::{Failure, Verdict};
use crate::audit::{AuditRecord, AuditSink};
use crate::wire;
use pix_xmldsig::dsig::Profile;
use pix_xmldsig::xml::{self, Limits};

/// What BACEN answered, kept whole for the auditor.
pub(super) struct Evidence {
    /// BACEN's body as received, decompressed.
    pub bacen_body: Bytes,
    /// Why its verification failed, when it did.
    pub verification_error: Option<Failure>,
    /// The relay's verdict on each of its messages: the record's `response_signature_valid`
    /// comes from these, never from a header.
    pub verdicts: Vec<Verdict>,
    /// The batch the message went in, when it shared its request with others.
    pub batch_id: Option<String>,
    /// The channel the request went on (`primary`, or ICOM's `secondary`).
    pub channel: &'static str,
}

/// A record begun when the request arrived.
pub(super) struct Draft {
    record: AuditRecord,
    started: Instant,
    /// The request's `Content-Type` and `Content-Encoding`: how to read its body for the index.
    body_headers: http::HeaderMap,
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
        caller: parts
            .extensions
            .get::<crate::callers::Caller>()
            .unwrap_or(&crate::callers::Caller::Unauthenticated)
            .to_string(),
        ..Default::default()
    };
    let mut body_headers = http::HeaderMap::new();
    for name in [header::CONTENT_TYPE, header::CONTENT_ENCODING] {
        if let Some(v) = parts.headers.get(&name) {
            body_headers.insert(name, v.clone());
        }
    }
    Draft {
        record,
        started,
        body_headers,
    }
}

impl Draft {
    /// Completes the record with what was sent and answered (`evidence`: BACEN's own answer,
    /// when it was reached), writes it to `audit`, and returns the answer with its
    /// `pix-request-id`.
    pub(super) async fn finish(
        self,
        profile: Profile,
        audit: &dyn AuditSink,
        mut response: Response<Bytes>,
        sent_body: &Bytes,
        evidence: Option<Evidence>,
    ) -> Response<Bytes> {
        let Draft {
            mut record,
            started,
            body_headers,
        } = self;
        if let Ok(id) = HeaderValue::from_str(&record.request_id) {
            response.headers_mut().insert(REQUEST_ID, id);
        }
        record.request_body = String::from_utf8_lossy(sent_body).into_owned();
        let request = messages(&body_headers, sent_body);
        if let Some(first) = request.first() {
            record.message_type = first.kind.clone();
            record.biz_msg_idr = first.biz_msg_idrs.first().cloned();
            record.end_to_end_id = first.end_to_end_ids.first().cloned();
        }
        let (bacen_body, answer) = match &evidence {
            Some(e) => (
                e.bacen_body.clone(),
                messages_of(response.headers(), &e.bacen_body),
            ),
            None => (response.body().clone(), Vec::new()),
        };
        for m in request.iter().chain(&answer) {
            record.message_types.push(m.kind.clone());
            add_new(&mut record.biz_msg_idrs, &m.biz_msg_idrs);
            add_new(&mut record.end_to_end_ids, &m.end_to_end_ids);
        }
        let verified = evidence
            .as_ref()
            .is_some_and(|e| !e.verdicts.is_empty() && e.verdicts.iter().all(Result::is_ok));
        record.response_signature_valid = verified.to_string();
        if let Some(e) = evidence {
            if let Some(failure) = e.verification_error {
                record.verification_code = Some(failure.code.to_string());
                record.verification_error = Some(failure.detail);
            }
            record.batch_id = e.batch_id;
            record.bacen_channel = Some(e.channel.to_string());
        }
        record.response_status_code = i32::from(response.status().as_u16());
        record.response_header = headers_json(response.headers());
        record.response_body = String::from_utf8_lossy(&bacen_body).into_owned();
        let took = started.elapsed();
        record.latency_ms = took.as_secs_f64() * 1000.0;
        crate::metrics::exchange(profile, &record.message_type, response.status().as_u16(), took);
        if response.status().is_server_error() {
            // The Fargate flavour's load balancer passes TLS through and sees no status: this
            // line is its 5xx metric (the stack's Target5xx alarm).
            tracing::warn!(
                metric = "Answered5xx",
                family = profile.name(),
                status = response.status().as_u16(),
                request_id = %record.request_id,
                "answered 5xx"
            );
        }
        let written = audit.write(profile, &record).await;
        crate::metrics::audit(written.is_ok());
        if let Err(e) = written {
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

/// Appends the ids of `more` not yet in `to`, in order.
fn add_new(to: &mut Vec<String>, more: &[String]) {
    for id in more {
        if !to.contains(id) {
            to.push(id.clone());
        }
    }
}

/// What an auditor (and the consumer's destination) finds one message by.
#[derive(Debug, Default, PartialEq)]
pub struct Indexed {
    /// `pacs.008`, `CreateEntryRequest`, …
    pub kind: String,
    /// Every `BizMsgIdr`, in document order.
    pub biz_msg_idrs: Vec<String>,
    /// `EndToEndId` and `OrgnlEndToEndId`, in document order.
    pub end_to_end_ids: Vec<String>,
    /// `AppHdr/MsgDefIdr` (`pacs.002.spi.1.17`), when the message declares one.
    pub msg_def_idr: Option<String>,
}

impl Indexed {
    /// The message type its `MsgDefIdr` declares (`pacs.002`), when it declares one.
    pub fn declared_type(&self) -> Option<&str> {
        let def = self.msg_def_idr.as_deref()?;
        def.split_once(".spi.").map(|(kind, _)| kind)
    }
}

/// Every message of a body sent with `headers`: a gzip'd body decompressed, each part of a
/// multipart one. The headers are the bank's: a body that arrived gzip'd went to DICT
/// uncompressed, hence the look at gzip's magic bytes.
pub(super) fn messages(headers: &http::HeaderMap, body: &[u8]) -> Vec<Indexed> {
    let gzip = wire::header_str(headers, header::CONTENT_ENCODING).eq_ignore_ascii_case("gzip");
    let plain = if gzip && body.starts_with(&[0x1f, 0x8b]) {
        match wire::gunzip(body, MAX_INDEXED) {
            Ok(p) => p,
            Err(_) => return Vec::new(),
        }
    } else {
        body.to_vec()
    };
    messages_of(headers, &plain)
}

/// Every message of a body already decompressed.
fn messages_of(headers: &http::HeaderMap, plain: &[u8]) -> Vec<Indexed> {
    match wire::boundary(wire::header_str(headers, header::CONTENT_TYPE)) {
        Some(b) => wire::parse_multipart(plain, &b)
            .map(|parts| parts.iter().filter_map(|p| index(&p.body)).collect())
            .unwrap_or_default(),
        None => index(plain).into_iter().collect(),
    }
}

/// The largest body decompressed for indexing (the relay's own bound applies before).
const MAX_INDEXED: usize = 64 * 1024 * 1024;

/// What one XML message is searched by; `None` when it is not XML.
pub fn index(body: &[u8]) -> Option<Indexed> {
    let doc = xml::parse(body, &Limits::default()).ok()?;
    let el = doc.element(doc.root())?;
    let ns = doc.namespace(el);
    let kind = match ns.strip_prefix("https://www.bcb.gov.br/pi/") {
        Some(rest) => rest.split('/').next().unwrap_or(rest).to_string(),
        None => doc.local(el).to_string(),
    };
    let mut out = Indexed {
        kind,
        ..Default::default()
    };
    for e in doc.elements() {
        let Some(x) = doc.element(e) else { continue };
        let field = match doc.local(x) {
            "MsgDefIdr" if out.msg_def_idr.is_none() => {
                out.msg_def_idr = Some(doc.text(e).trim().to_string());
                continue;
            }
            "BizMsgIdr" => &mut out.biz_msg_idrs,
            "EndToEndId" | "OrgnlEndToEndId" => &mut out.end_to_end_ids,
            _ => continue,
        };
        let text = doc.text(e);
        let text = text.trim();
        if !text.is_empty() && !field.iter().any(|f| f == text) {
            field.push(text.to_string());
        }
    }
    Some(out)
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
        let one = index(b"<Envelope xmlns=\"https://www.bcb.gov.br/pi/pacs.008/1.4\"><AppHdr><BizMsgIdr>M1</BizMsgIdr></AppHdr><Document><EndToEndId> E1 </EndToEndId><EndToEndId>E2</EndToEndId></Document></Envelope>").unwrap();
        assert_eq!(one.kind, "pacs.008");
        assert_eq!(one.biz_msg_idrs, ["M1"]);
        assert_eq!(one.end_to_end_ids, ["E1", "E2"]);
        assert!(index(b"not xml").is_none());
    }

    #[test]
    fn every_part_of_a_gzipd_batch_is_indexed_and_original_ids_count() {
        let part = |e2e: &str| {
            wire::Part {
            headers: vec![("content-type".into(), "application/xml".into())],
            body: format!("<Envelope xmlns=\"https://www.bcb.gov.br/pi/pacs.002/1.3\"><Document><OrgnlEndToEndId>{e2e}</OrgnlEndToEndId></Document></Envelope>").into_bytes(),
        }
        };
        let body = wire::gzip(&wire::build_multipart("zz", &[part("E1"), part("E2")]));
        let mut h = http::HeaderMap::new();
        h.insert(
            "content-type",
            HeaderValue::from_static("multipart/mixed; boundary=zz"),
        );
        h.insert("content-encoding", HeaderValue::from_static("gzip"));
        let all = messages(&h, &body);
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].kind, "pacs.002");
        assert_eq!(all[1].end_to_end_ids, ["E2"]);
    }
}
