//! The audit record: one JSON object per exchange, as the regulator's trail keeps it.
//!
//! Its fields are the Glue columns of the seeds (`request_date` … `response_body`) plus what an
//! auditor needs to find a payment. The Glue tables in `infrastructure/stacks/audit.yaml` list
//! exactly these fields with matching types; a test reads both. Records are written as JSON lines,
//! partitioned `log/spi|dict/year=YYYY/month=MM/day=DD/hour=HH/`.
//!
//! Sinks: [`FileSink`] (local JSON lines, fsynced) and, behind feature `aws`,
//! [`firehose::FirehoseSink`] (Kinesis Data Firehose with a write-ahead [`spool::Spool`] on local
//! disk, so that a record is durable before the response leaves and is never lost while Firehose
//! is away).

mod files;
#[cfg(feature = "aws")]
pub mod firehose;
pub mod slots;
pub mod spool;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub use files::FileSink;

use serde::{Deserialize, Serialize};

use pix_xmldsig::dsig::Profile;

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
    /// BACEN's response body as received (decompressed), whatever the bank was answered; the
    /// proxy's own problem document when BACEN was not reached.
    pub response_body: String,
    /// Message type of the request, e.g. `pacs.008` or `CreateEntryRequest`.
    pub message_type: String,
    /// `AppHdr/BizMsgIdr` of the request (the first, in a batch).
    pub biz_msg_idr: Option<String>,
    /// The request's first `EndToEndId`.
    pub end_to_end_id: Option<String>,
    /// Time spent in the proxy and at BACEN, milliseconds.
    pub latency_ms: f64,
    /// The signing key's id or label (never key material).
    pub signature_key_id: String,
    /// Why BACEN's answer failed verification, for people, when it did.
    #[serde(default)]
    pub verification_error: Option<String>,
    /// The check that failed, a stable code (`digest`, `trust`, `validity`, `signature`, …:
    /// `pix_xmldsig::dsig::VerifyError::code`, or `body`), when one did: what queries group by.
    #[serde(default)]
    pub verification_code: Option<String>,
    /// The type of every message of the exchange, both directions, every part.
    #[serde(default)]
    pub message_types: Vec<String>,
    /// Every `BizMsgIdr` of the exchange, both directions, every part.
    #[serde(default)]
    pub biz_msg_idrs: Vec<String>,
    /// Every `EndToEndId` and `OrgnlEndToEndId` of the exchange, both directions, every part: a
    /// payment is found by its end-to-end id whether it was sent or received.
    #[serde(default)]
    pub end_to_end_ids: Vec<String>,
    /// The batch the message was sent in, when the proxy sent it with others as one multipart
    /// request (the records of one batch share it).
    #[serde(default)]
    pub batch_id: Option<String>,
    /// Who asked: `certificate:<subject>` (a client certificate of the bank's CA), `iam:<arn>`
    /// (the Lambda's IAM principal) or `unauthenticated` (callers not authenticated there).
    #[serde(default)]
    pub caller: String,
    /// The channel of BACEN's the request went on: `primary`, or ICOM's `secondary` (after a
    /// failover); null when it did not reach BACEN.
    #[serde(default)]
    pub bacen_channel: Option<String>,
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
    ("verification_error", "string"),
    ("verification_code", "string"),
    ("message_types", "array<string>"),
    ("biz_msg_idrs", "array<string>"),
    ("end_to_end_ids", "array<string>"),
    ("batch_id", "string"),
    ("caller", "string"),
    ("bacen_channel", "string"),
];

/// The future an [`AuditSink`] returns.
pub type WriteFuture<'a> = Pin<Box<dyn Future<Output = Result<(), AuditError>> + Send + 'a>>;

/// Where audit records go: local files here, Firehose in the AWS flavours.
pub trait AuditSink: Send + Sync {
    /// Writes one record of the `family`'s exchange durably before returning.
    fn write<'a>(&'a self, family: Profile, record: &'a AuditRecord) -> WriteFuture<'a>;

    /// Whether the sink can take records; the reason when it cannot (the health check reports it).
    fn health(&self) -> Result<(), AuditError> {
        Ok(())
    }

    /// The gauge of exchanges under way, for a sink that commits records in groups: the relay
    /// counts each exchange on it from arrival to audit record, so that the sink knows how many
    /// records are coming (see [`InFlight`]). `None`: the sink does not need to know.
    fn in_flight(&self) -> Option<&InFlight> {
        None
    }
}

/// Exchanges under way whose records a sink will be asked to write.
///
/// A sink that fsyncs in groups waits a little (bounded) for more records when many exchanges
/// are under way, so that one fsync covers several records: what PostgreSQL calls
/// `commit_delay` with `commit_siblings`. At light load nobody waits.
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    /// Counts one exchange until the guard is dropped.
    pub fn enter(&self) -> InFlightGuard {
        self.0.fetch_add(1, Ordering::Relaxed);
        InFlightGuard(self.clone())
    }

    /// Exchanges under way now.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// One exchange counted by [`InFlight::enter`].
#[derive(Debug)]
pub struct InFlightGuard(InFlight);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a record could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The record could not be stored.
    #[error("cannot write the audit record to {path}: {reason}")]
    Io {
        /// Where it was going.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The spool holds as many undelivered records as it may: the destination has been away too
    /// long. The record is not stored.
    #[error("the audit spool is full ({bytes} bytes undelivered, limit {limit})")]
    SpoolFull {
        /// Bytes waiting for delivery.
        bytes: u64,
        /// The configured limit.
        limit: u64,
    },
    /// The spool is nearly full: the destination is not taking records (the health check's
    /// warning, before [`AuditError::SpoolFull`] refuses records).
    #[error("audit spool {pending} of {limit} bytes undelivered: the destination is not taking records")]
    Backlog {
        /// Bytes waiting for delivery.
        pending: u64,
        /// The configured limit.
        limit: u64,
    },
    /// The destination refused or did not take the record in time (direct delivery).
    #[error("audit delivery to {destination} failed: {reason}")]
    Delivery {
        /// The stream.
        destination: String,
        /// What went wrong.
        reason: String,
    },
}

impl AuditRecord {
    /// The partition of the record, `log/<family>/year=YYYY/month=MM/day=DD/hour=HH`, from
    /// `request_date` (RFC 3339 UTC).
    pub fn partition(&self, family: Profile) -> PathBuf {
        let d = &self.request_date;
        let part = |r: std::ops::Range<usize>| {
            d.get(r)
                .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
                .unwrap_or("00")
        };
        PathBuf::from(format!(
            "log/{family}/year={}/month={}/day={}/hour={}",
            part(0..4),
            part(5..7),
            part(8..10),
            part(11..13)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_partitioned_by_hour() {
        let r = AuditRecord {
            request_date: "2026-11-25T13:04:05.123Z".into(),
            ..Default::default()
        };
        assert_eq!(
            r.partition(Profile::Spi),
            PathBuf::from("log/spi/year=2026/month=11/day=25/hour=13")
        );
    }

    /// The JSON of a record has exactly the columns of [`GLUE_COLUMNS`], in order, with values of
    /// the declared types.
    #[test]
    fn the_record_is_what_glue_columns_say() {
        let record = AuditRecord {
            response_status_code: 201,
            latency_ms: 1.5,
            biz_msg_idr: Some("M1".into()),
            end_to_end_id: Some("E1".into()),
            verification_error: Some("digest of reference 3".into()),
            verification_code: Some("digest".into()),
            message_types: vec!["pacs.008".into()],
            biz_msg_idrs: vec!["M1".into()],
            end_to_end_ids: vec!["E1".into(), "E2".into()],
            batch_id: Some("b1".into()),
            bacen_channel: Some("secondary".into()),
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
                "array<string>" => v.as_array().is_some_and(|a| a.iter().all(|x| x.is_string())),
                _ => false,
            };
            assert!(ok, "{name} is not a {ty}: {v}");
        }
    }
}
