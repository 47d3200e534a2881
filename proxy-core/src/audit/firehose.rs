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
    /// The spool's slot, held while the sink lives (see [`super::slots`]).
    _slot: Option<super::slots::Claimed>,
    settings: Settings,
    stats: Stats,
}

impl FirehoseSink {
    /// Spooled mode, with the spool in a slot of `spool_dir` (claimed by this process, see
    /// [`super::slots`]); records earlier runs left there, and in slots nobody holds, are sent
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
        let slot = super::slots::claim(spool_dir).map_err(|e| io(e.to_string()))?;
        let (spool, left) = Spool::open(&slot.dir, settings.spool_limit).map_err(|e| io(e.to_string()))?;
        tracing::info!(
            slot = %slot.dir.display(),
            adopted_segments = slot.adopted,
            undelivered = left.len(),
            "audit spool claimed"
        );
        if !left.is_empty() {
            tracing::info!(records = left.len(), "replaying undelivered audit records");
        }
        let inner = Arc::new(Inner {
            client: own_retries(client),
            streams,
            spool: Some(spool),
            _slot: Some(slot),
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
                _slot: None,
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

mod delivery;

use delivery::{deliver, deliver_forever};
#[cfg(test)]
mod tests;
