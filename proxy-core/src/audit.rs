//! The audit record: one JSON object per exchange, as the regulator's trail keeps it.
//!
//! Its fields are the Glue columns of the seeds (`request_date` … `response_body`) plus what an
//! auditor needs to find a payment. The Glue tables in `infrastructure/stacks/audit.yaml` list
//! exactly these fields with matching types; a test reads both. Records are written as JSON lines,
//! partitioned `log/spi|dict/year=YYYY/month=MM/day=DD/hour=HH/`.

use serde::{Deserialize, Serialize};

/// One exchange between a bank service and BACEN through the proxy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Unique id of the exchange (also the key that makes a replayed record detectable).
    pub request_id: String,
    /// When the request arrived, RFC 3339 UTC with milliseconds.
    pub request_date: String,
    /// HTTP method of the request.
    pub request_method: String,
    /// Path (and query) forwarded to BACEN.
    pub request_path: String,
    /// Request headers as a JSON object, sensitive ones redacted.
    pub request_header: String,
    /// The signed request body as sent.
    pub request_body: String,
    /// HTTP status answered to the bank service.
    pub response_status_code: i32,
    /// `"true"` or `"false"`: whether BACEN's response signature verified (a string, as the
    /// seeds' Glue tables have it).
    pub response_signature_valid: String,
    /// Response headers as a JSON object.
    pub response_header: String,
    /// The response body as received.
    pub response_body: String,
    /// ISO 20022 or DICT message type, e.g. `pacs.008` or `CreateEntryRequest`.
    pub message_type: String,
    /// `AppHdr/BizMsgIdr` of an SPI message.
    pub biz_msg_idr: Option<String>,
    /// `EndToEndId` of a payment, when the message has one.
    pub end_to_end_id: Option<String>,
    /// Time spent in the proxy and at BACEN, milliseconds.
    pub latency_ms: f64,
    /// The signing key's id or label (never key material).
    pub signature_key_id: String,
}

/// Glue (Hive) type of each field of [`AuditRecord`], in order. `infrastructure/` must match it.
pub const GLUE_COLUMNS: &[(&str, &str)] = &[
    ("request_id", "string"),
    ("request_date", "string"),
    ("request_method", "string"),
    ("request_path", "string"),
    ("request_header", "string"),
    ("request_body", "string"),
    ("response_status_code", "int"),
    ("response_signature_valid", "string"),
    ("response_header", "string"),
    ("response_body", "string"),
    ("message_type", "string"),
    ("biz_msg_idr", "string"),
    ("end_to_end_id", "string"),
    ("latency_ms", "double"),
    ("signature_key_id", "string"),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON of a record has exactly the columns of [`GLUE_COLUMNS`], in order, with values of
    /// the declared types.
    #[test]
    fn the_record_is_what_glue_columns_say() {
        let record = AuditRecord {
            response_status_code: 201,
            latency_ms: 1.5,
            biz_msg_idr: Some("M1".into()),
            end_to_end_id: Some("E1".into()),
            ..Default::default()
        };
        let json = serde_json::to_value(&record).unwrap();
        let object = json.as_object().unwrap();
        let keys: Vec<&str> = object.keys().map(String::as_str).collect();
        let columns: Vec<&str> = GLUE_COLUMNS.iter().map(|c| c.0).collect();
        let mut sorted = columns.clone();
        sorted.sort_unstable();
        assert_eq!(keys, sorted, "serde_json sorts keys; the sets must be equal");
        for (name, ty) in GLUE_COLUMNS {
            let v = &object[*name];
            let ok = match *ty {
                "string" => v.is_string(),
                "int" => v.is_i64(),
                "double" => v.is_f64(),
                _ => false,
            };
            assert!(ok, "{name} is not a {ty}: {v}");
        }
    }
}
