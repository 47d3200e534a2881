//! The audit record: one JSON object per exchange, as the regulator's trail keeps it.
//!
//! Its fields are the Glue columns of the seeds (`request_date` … `response_body`) plus what an
//! auditor needs to find a payment. The Glue tables in `infrastructure/stacks/audit.yaml` list
//! exactly these fields with matching types; a test reads both. Records are written as JSON lines,
//! partitioned `log/spi|dict/year=YYYY/month=MM/day=DD/hour=HH/`.

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;

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

/// The future an [`AuditSink`] returns.
pub type WriteFuture<'a> = Pin<Box<dyn Future<Output = Result<(), AuditError>> + Send + 'a>>;

/// Where audit records go: local files here, Firehose in the AWS flavours.
pub trait AuditSink: Send + Sync {
    /// Writes one record of `family` (`spi` or `dict`) durably before returning.
    fn write<'a>(&'a self, family: &'a str, record: &'a AuditRecord) -> WriteFuture<'a>;
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
}

impl AuditRecord {
    /// The partition of the record, `log/<family>/year=YYYY/month=MM/day=DD/hour=HH`, from
    /// `request_date` (RFC 3339 UTC).
    pub fn partition(&self, family: &str) -> PathBuf {
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

/// JSON lines under `root/log/<family>/year=…/month=…/day=…/hour=…/records.jsonl`, each record
/// written and fsynced before [`AuditSink::write`] returns.
///
/// One writer thread does group commit: the records of every exchange waiting at that moment are
/// appended, then fsynced once, then all those exchanges go on. Under load that is one fsync per
/// batch instead of one per message, with the same guarantee for each.
#[derive(Debug, Clone)]
pub struct FileSink {
    queue: std::sync::mpsc::Sender<Pending>,
}

/// A record waiting for the writer: its file, its line, and who to tell.
type Pending = (PathBuf, String, tokio::sync::oneshot::Sender<Result<(), String>>);

impl FileSink {
    /// A sink writing under `root`.
    pub fn new(root: &Path) -> Self {
        let (queue, pending) = std::sync::mpsc::channel::<Pending>();
        let root = root.to_path_buf();
        std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || {
                // Ends when the last FileSink is dropped.
                while let Ok(first) = pending.recv() {
                    let mut batch = vec![first];
                    batch.extend(pending.try_iter());
                    let result = write_batch(&root, &batch).map_err(|e| e.to_string());
                    for (_, _, done) in batch {
                        let _ = done.send(result.clone());
                    }
                }
            })
            .ok();
        FileSink { queue }
    }
}

/// Appends a batch, then fsyncs each file it touched.
fn write_batch(root: &Path, batch: &[Pending]) -> std::io::Result<()> {
    let mut files: Vec<(PathBuf, std::fs::File)> = Vec::new();
    for (relative, line, _) in batch {
        let path = root.join(relative);
        let index = match files.iter().position(|(p, _)| *p == path) {
            Some(i) => i,
            None => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)?;
                files.push((path, f));
                files.len() - 1
            }
        };
        files[index].1.write_all(line.as_bytes())?;
    }
    for (_, f) in &files {
        f.sync_data()?;
    }
    Ok(())
}

impl AuditSink for FileSink {
    fn write<'a>(&'a self, family: &'a str, record: &'a AuditRecord) -> WriteFuture<'a> {
        let relative = record.partition(family).join("records.jsonl");
        let line = serde_json::to_string(record).map(|mut l| {
            l.push('\n');
            l
        });
        Box::pin(async move {
            let shown = relative.display().to_string();
            let fail = |reason: String| AuditError::Io {
                path: shown.clone(),
                reason,
            };
            let line = line.map_err(|e| fail(e.to_string()))?;
            let (done, wait) = tokio::sync::oneshot::channel();
            self.queue
                .send((relative.clone(), line, done))
                .map_err(|_| fail("the audit writer has stopped".into()))?;
            wait.await
                .map_err(|_| fail("the audit writer has stopped".into()))?
                .map_err(fail)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn concurrent_records_are_all_written_once() {
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink::new(dir.path());
        let mut tasks = Vec::new();
        for i in 0..200 {
            let sink = sink.clone();
            tasks.push(tokio::spawn(async move {
                let r = AuditRecord {
                    request_id: format!("r{i}"),
                    request_date: "2026-11-25T13:04:05.123Z".into(),
                    ..Default::default()
                };
                sink.write(if i % 2 == 0 { "spi" } else { "dict" }, &r).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let read = |family: &str| {
            let path = dir.path().join(format!(
                "log/{family}/year=2026/month=11/day=25/hour=13/records.jsonl"
            ));
            std::fs::read_to_string(path).unwrap().lines().count()
        };
        assert_eq!((read("spi"), read("dict")), (100, 100));
    }

    #[tokio::test]
    async fn a_write_that_cannot_happen_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the sink needs a directory.
        std::fs::write(dir.path().join("log"), b"").unwrap();
        let err = FileSink::new(dir.path())
            .write("spi", &AuditRecord::default())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("records.jsonl"), "{err}");
    }

    #[test]
    fn records_are_partitioned_by_hour() {
        let r = AuditRecord {
            request_date: "2026-11-25T13:04:05.123Z".into(),
            ..Default::default()
        };
        assert_eq!(
            r.partition("spi"),
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
