//! The delivery side of the Firehose sink: spooled records sent in `PutRecordBatch` calls (at most
//! 500 records, 4 MiB), each failed record retried with backoff until Firehose takes it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use aws_sdk_firehose::Client;
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;
use tokio::sync::mpsc;

use super::{CALL_TIMEOUT, Inner, MAX_BATCH_BYTES, MAX_BATCH_RECORDS};
use crate::audit::spool::Spooled;
use pix_xmldsig::dsig::Profile;

/// The spooled mode's task: gathers batches and delivers each until Firehose takes it.
pub(super) async fn deliver_forever(inner: Arc<Inner>, mut pending: mpsc::UnboundedReceiver<Spooled>) {
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
pub(super) async fn deliver(
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
