//! Audit records to Kinesis Data Firehose (one delivery stream per family: the seeds'
//! `SpiAuditStream` and `DictAuditStream`), batched with `PutRecordBatch`.
//!
//! Two modes. [`FirehoseSink::spooled`] (the Fargate service): `write` returns once the record is
//! in the local [`Spool`] (fsynced); one background task sends batches (at most 500 records and
//! 4 MiB, or what arrived within the flush interval), retries failed calls and failed records
//! with backoff until Firehose takes them, and only then drops them from the spool.
//! [`FirehoseSink::direct`] (Lambda, whose disk does not outlive the container): `write` returns
//! once Firehose took the record, retrying within a deadline; past it the relay gets the error
//! and logs the record whole, so CloudWatch Logs keeps it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_firehose::Client;
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;
use tokio::sync::mpsc;

use super::files::json_line;
use super::spool::{Spool, Spooled};
use super::{AuditError, AuditRecord, AuditSink, InFlight, WriteFuture};
use crate::retry::Backoff;
use pix_xmldsig::dsig::Profile;

/// Firehose's limits for one `PutRecordBatch` call.
const MAX_BATCH_RECORDS: usize = 500;
const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;
/// Firehose's limit for one record (1,000 KiB).
const MAX_RECORD_BYTES: usize = 1_024_000;
/// Time allowed for one call before it counts as failed and is retried.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Tuning of a [`FirehoseSink`].
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a batch waits for more records before it is sent.
    pub flush_interval: Duration,
    /// Delays between attempts.
    pub backoff: Backoff,
    /// Direct mode: how long `write` keeps trying.
    pub direct_deadline: Duration,
    /// Spooled mode: the bound on undelivered bytes on disk.
    pub spool_limit: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            flush_interval: Duration::from_millis(200),
            backoff: Backoff {
                base: Duration::from_millis(100),
                cap: Duration::from_secs(10),
            },
            direct_deadline: Duration::from_secs(5),
            spool_limit: 512 * 1024 * 1024,
        }
    }
}

/// Counts since start, for logs, the health check and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Records stored in the spool.
    pub spooled: u64,
    /// Records Firehose accepted.
    pub delivered: u64,
    /// Calls or records retried.
    pub retries: u64,
    /// Records refused because the spool was full.
    pub refused: u64,
}

#[derive(Debug, Default)]
struct Stats {
    spooled: AtomicU64,
    delivered: AtomicU64,
    retries: AtomicU64,
    refused: AtomicU64,
    /// Set while the spool refuses records, so the alarm is raised once per episode.
    full: AtomicBool,
}

/// An [`AuditSink`] delivering to Firehose.
#[derive(Debug, Clone)]
pub struct FirehoseSink {
    inner: Arc<Inner>,
    queue: Option<mpsc::UnboundedSender<Spooled>>,
}

#[derive(Debug)]
struct Inner {
    client: Client,
    /// Family → delivery stream.
    streams: HashMap<Profile, String>,
    spool: Option<Spool>,
    settings: Settings,
    stats: Stats,
}

impl FirehoseSink {
    /// Spooled mode, with the spool in `spool_dir`; records earlier runs left there are sent
    /// first. Call it within a tokio runtime (it starts the delivery task).
    pub fn spooled(
        client: Client,
        streams: HashMap<Profile, String>,
        spool_dir: &Path,
        settings: Settings,
    ) -> Result<FirehoseSink, AuditError> {
        let io = |reason: String| AuditError::Io {
            path: spool_dir.display().to_string(),
            reason,
        };
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| io(e.to_string()))?;
        let (spool, left) = Spool::open(spool_dir, settings.spool_limit).map_err(|e| io(e.to_string()))?;
        if !left.is_empty() {
            tracing::info!(records = left.len(), "replaying undelivered audit records");
        }
        let inner = Arc::new(Inner {
            client: own_retries(client),
            streams,
            spool: Some(spool),
            settings,
            stats: Stats::default(),
        });
        let (queue, pending) = mpsc::unbounded_channel();
        for record in left {
            let _ = queue.send(record);
        }
        runtime.spawn(deliver_forever(Arc::clone(&inner), pending));
        Ok(FirehoseSink {
            inner,
            queue: Some(queue),
        })
    }

    /// Direct mode: each `write` is delivered before it returns.
    pub fn direct(client: Client, streams: HashMap<Profile, String>, settings: Settings) -> FirehoseSink {
        FirehoseSink {
            inner: Arc::new(Inner {
                client: own_retries(client),
                streams,
                spool: None,
                settings,
                stats: Stats::default(),
            }),
            queue: None,
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        let s = &self.inner.stats;
        Counts {
            spooled: s.spooled.load(Ordering::Relaxed),
            delivered: s.delivered.load(Ordering::Relaxed),
            retries: s.retries.load(Ordering::Relaxed),
            refused: s.refused.load(Ordering::Relaxed),
        }
    }

    /// Waits up to `limit` for the spool to empty (at shutdown); whether it did. What is left
    /// stays in the spool for the next start.
    pub async fn flush(&self, limit: Duration) -> bool {
        let Some(spool) = &self.inner.spool else {
            return true;
        };
        let until = Instant::now() + limit;
        while spool.pending_bytes() > 0 {
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }
}

impl AuditSink for FirehoseSink {
    fn write<'a>(&'a self, family: Profile, record: &'a AuditRecord) -> WriteFuture<'a> {
        Box::pin(async move {
            let inner = &self.inner;
            let Some(stream) = inner.streams.get(&family) else {
                return Err(AuditError::Delivery {
                    destination: family.to_string(),
                    reason: "no audit stream is configured for it".into(),
                });
            };
            // Serialised once: the spool stores and Firehose receives this line.
            let data = record_line(record).map_err(|e| AuditError::Delivery {
                destination: stream.clone(),
                reason: e.to_string(),
            })?;
            match (&inner.spool, &self.queue) {
                (Some(spool), Some(queue)) => {
                    match spool.append_line(family.name(), &record.request_id, data).await {
                        Ok(spooled) => {
                            inner.stats.spooled.fetch_add(1, Ordering::Relaxed);
                            if inner.stats.full.swap(false, Ordering::Relaxed) {
                                tracing::warn!(
                                    metric = "AuditSpoolFull",
                                    value = 0,
                                    "the audit spool takes records again"
                                );
                            }
                            // The task only ends with the sink; the record is in the spool anyway.
                            let _ = queue.send(spooled);
                            Ok(())
                        }
                        Err(e) => {
                            if matches!(e, AuditError::SpoolFull { .. }) {
                                inner.stats.refused.fetch_add(1, Ordering::Relaxed);
                                if !inner.stats.full.swap(true, Ordering::Relaxed) {
                                    tracing::error!(metric = "AuditSpoolFull", value = 1, error = %e, "ALARM: the audit spool is full; Firehose is not taking records");
                                }
                            }
                            Err(e)
                        }
                    }
                }
                _ => {
                    let one = Spooled {
                        segment: 0,
                        family: family.name().to_string(),
                        request_id: record.request_id.clone(),
                        data,
                    };
                    let until = Instant::now() + inner.settings.direct_deadline;
                    deliver(inner, stream, vec![one], Some(until))
                        .await
                        .map_err(|reason| AuditError::Delivery {
                            destination: stream.clone(),
                            reason,
                        })
                }
            }
        })
    }

    fn health(&self) -> Result<(), AuditError> {
        let Some(spool) = &self.inner.spool else {
            return Ok(());
        };
        let (pending, limit) = (spool.pending_bytes(), spool.limit());
        if pending >= limit / 10 * 9 {
            return Err(AuditError::Backlog { pending, limit });
        }
        Ok(())
    }

    fn in_flight(&self) -> Option<&InFlight> {
        self.inner.spool.as_ref().map(Spool::in_flight)
    }
}

/// The client without the SDK's own retries: the sink retries with its backoff and counts the
/// attempts, and records that failed alone are sent again alone.
fn own_retries(client: Client) -> Client {
    let config = client
        .config()
        .to_builder()
        .retry_config(aws_sdk_firehose::config::retry::RetryConfig::disabled())
        .build();
    Client::from_conf(config)
}

/// The record as the JSON line Firehose receives: as it is, or with its bodies cut when it is
/// over Firehose's size limit (see [`fit`]).
fn record_line(record: &AuditRecord) -> Result<String, serde_json::Error> {
    let line = json_line(record)?;
    if line.len() <= MAX_RECORD_BYTES {
        return Ok(line);
    }
    match fit(record) {
        Some(fitted) => json_line(&fitted),
        None => Ok(line),
    }
}

/// A record over Firehose's size limit, with its bodies cut to fit (and marked with their
/// original size and SHA-256, so the exchange can still be matched); `None` when it fits.
fn fit(record: &AuditRecord) -> Option<AuditRecord> {
    let size = json_line(record).map(|l| l.len()).unwrap_or(0);
    if size <= MAX_RECORD_BYTES {
        return None;
    }
    tracing::warn!(request_id = %record.request_id, size, "audit record over Firehose's limit: bodies truncated");
    let cut = |body: &str| {
        if body.len() <= MAX_RECORD_BYTES / 4 {
            return body.to_string();
        }
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body.as_bytes());
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let mut end = body.len().min(MAX_RECORD_BYTES / 4);
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        format!(
            "{}[truncated by pix-proxy: {} bytes, sha256 {hex}]",
            &body[..end],
            body.len()
        )
    };
    let mut fitted = record.clone();
    fitted.request_body = cut(&record.request_body);
    fitted.response_body = cut(&record.response_body);
    Some(fitted)
}

/// The spooled mode's task: gathers batches and delivers each until Firehose takes it.
async fn deliver_forever(inner: Arc<Inner>, mut pending: mpsc::UnboundedReceiver<Spooled>) {
    let mut carry: Option<Spooled> = None;
    loop {
        let first = match carry.take() {
            Some(r) => r,
            None => match pending.recv().await {
                Some(r) => r,
                None => return,
            },
        };
        let until = tokio::time::Instant::now() + inner.settings.flush_interval;
        let mut bytes = first.data.len();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH_RECORDS {
            let next = match tokio::time::timeout_at(until, pending.recv()).await {
                Ok(Some(r)) => r,
                _ => break,
            };
            if bytes + next.data.len() > MAX_BATCH_BYTES {
                carry = Some(next);
                break;
            }
            bytes += next.data.len();
            batch.push(next);
        }
        let mut by_family: HashMap<String, Vec<Spooled>> = HashMap::new();
        for r in batch {
            by_family.entry(r.family.clone()).or_default().push(r);
        }
        for (family, records) in by_family {
            match family.parse::<Profile>().ok().and_then(|p| inner.streams.get(&p)) {
                Some(stream) => {
                    // Without a deadline it only returns once everything is delivered.
                    let _ = deliver(&inner, stream, records, None).await;
                }
                None => tracing::error!(
                    family,
                    records = records.len(),
                    "spooled audit records of a family with no stream configured stay in the spool"
                ),
            }
        }
    }
}

/// Sends `records` to `stream` until Firehose has taken every one of them or `deadline` passes.
async fn deliver(
    inner: &Inner,
    stream: &str,
    mut records: Vec<Spooled>,
    deadline: Option<Instant>,
) -> Result<(), String> {
    let mut attempt = 0u32;
    loop {
        let reason = match put(&inner.client, stream, &records).await {
            Ok(failed) if failed.iter().all(Option::is_none) => {
                accepted(inner, &records);
                return Ok(());
            }
            Ok(failed) => {
                let total = records.len();
                let (mut ok, mut again) = (Vec::new(), Vec::new());
                let first_error = failed.iter().find_map(|f| f.clone()).unwrap_or_default();
                for (record, error) in records.into_iter().zip(failed) {
                    if error.is_some() {
                        again.push(record)
                    } else {
                        ok.push(record)
                    }
                }
                accepted(inner, &ok);
                records = again;
                format!("{} of {total} records failed ({first_error})", records.len())
            }
            Err(reason) => reason,
        };
        let delay = inner.settings.backoff.delay(attempt);
        if deadline.is_some_and(|d| Instant::now() + delay > d) {
            return Err(reason);
        }
        inner.stats.retries.fetch_add(1, Ordering::Relaxed);
        if attempt.is_multiple_of(10) {
            tracing::warn!(stream, attempt, records = records.len(), reason = %reason, "audit delivery to Firehose failed; retrying");
        }
        tokio::time::sleep(delay).await;
        attempt = attempt.saturating_add(1);
    }
}

fn accepted(inner: &Inner, records: &[Spooled]) {
    if let Some(spool) = &inner.spool {
        spool.delivered(records);
    }
    inner
        .stats
        .delivered
        .fetch_add(records.len() as u64, Ordering::Relaxed);
}

/// One `PutRecordBatch`: per record, `None` when Firehose took it, else its error code.
async fn put(client: &Client, stream: &str, records: &[Spooled]) -> Result<Vec<Option<String>>, String> {
    let mut call = client.put_record_batch().delivery_stream_name(stream);
    for r in records {
        let record = Record::builder()
            .data(Blob::new(r.data.as_bytes()))
            .build()
            .map_err(|e| e.to_string())?;
        call = call.records(record);
    }
    let out = match tokio::time::timeout(CALL_TIMEOUT, call.send()).await {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => {
            return Err(format!(
                "PutRecordBatch {stream}: {}",
                aws_sdk_firehose::error::DisplayErrorContext(&e)
            ));
        }
        Err(_) => return Err(format!("PutRecordBatch {stream}: no answer in {CALL_TIMEOUT:?}")),
    };
    let responses = out.request_responses();
    if out.failed_put_count() == 0 {
        return Ok(vec![None; records.len()]);
    }
    if responses.len() != records.len() {
        // Which ones failed is unknown: send them all again (copies share their request_id).
        return Err(format!(
            "PutRecordBatch {stream}: {} failed, {} answers for {} records",
            out.failed_put_count(),
            responses.len(),
            records.len()
        ));
    }
    Ok(responses
        .iter()
        .map(|r| {
            r.error_code()
                .map(|code| format!("{code}: {}", r.error_message().unwrap_or("")))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_records_are_cut_to_fit_and_say_so() {
        let record = AuditRecord {
            request_id: "r1".into(),
            request_body: "é".repeat(MAX_RECORD_BYTES),
            response_body: "<ok/>".into(),
            ..Default::default()
        };
        let fitted = fit(&record).unwrap();
        assert!(json_line(&fitted).unwrap().len() <= MAX_RECORD_BYTES);
        assert!(
            fitted
                .request_body
                .contains(&format!("{} bytes, sha256 ", 2 * MAX_RECORD_BYTES))
        );
        assert_eq!(
            (fitted.request_id.as_str(), fitted.response_body.as_str()),
            ("r1", "<ok/>")
        );
        assert!(fit(&AuditRecord::default()).is_none());
    }
}
