//! Automatic batching of SPI sends. ICOM takes up to 10 messages in one `multipart/mixed` send
//! and says multipart is how throughput grows past the 6 requests in flight (DESIGN §6; BACEN's
//! public Q&A #446). When a place of the send budget frees, everything queued for it — up to
//! `batch_max` single-message sends, already signed by their own callers, concurrently — goes as
//! one request. Nothing waits for a batch to fill: at low load each message goes alone and at
//! once. Each caller gets its own answer: `201` with its own `PI-ResourceId` (ICOM returns them
//! comma-separated in part order), or BACEN's refusal of the whole batch.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, StatusCode};
use tokio::sync::{mpsc, oneshot};

use super::budget::{self, Budget};
use super::link::{Current, Link, Sent};
use super::refusal::Refusal;
use crate::wire;

/// Where single-message sends are queued for the batcher.
pub(super) type Queue = mpsc::UnboundedSender<Arc<Queued>>;

/// The batcher's end of the queue.
pub(super) type Taken = mpsc::UnboundedReceiver<Arc<Queued>>;

/// Queues a signed message for the next send; waits at most the send budget's queue timeout for
/// it to be taken.
pub(super) async fn queue(
    sends: &Budget,
    batches: &Queue,
    target: String,
    body: Bytes,
) -> Result<Sent, Refusal> {
    let (tx, mut rx) = oneshot::channel();
    let queued = Arc::new(Queued {
        target,
        body,
        state: AtomicU8::new(QUEUED),
        reply: Mutex::new(Some(tx)),
    });
    if batches.send(Arc::clone(&queued)).is_err() {
        return Err(sends.busy());
    }
    match tokio::time::timeout(sends.queue_timeout(), &mut rx).await {
        Ok(reply) => reply.unwrap_or_else(|_| Err(sends.busy())),
        Err(_) => {
            if queued
                .state
                .compare_exchange(QUEUED, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return Err(sends.busy());
            }
            // Taken just now: it is on its way to BACEN, so its caller waits for the answer.
            rx.await.unwrap_or_else(|_| Err(sends.busy()))
        }
    }
}

/// A single-message send, as batching takes it: plain XML, not compressed.
pub(super) fn is_single(headers: &http::HeaderMap) -> bool {
    wire::is_xml(wire::header_str(headers, header::CONTENT_TYPE))
        && wire::header_str(headers, header::CONTENT_ENCODING).is_empty()
}

const QUEUED: u8 = 0;
const TAKEN: u8 = 1;
const ABANDONED: u8 = 2;

/// A signed message waiting for a send.
pub(super) struct Queued {
    target: String,
    body: Bytes,
    state: AtomicU8,
    reply: Mutex<Option<oneshot::Sender<Result<Sent, Refusal>>>>,
}

impl Queued {
    fn answer(&self, outcome: Result<Sent, Refusal>) {
        if let Some(tx) = self.reply.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = tx.send(outcome);
        }
    }
}

/// The batcher: takes a place of the send budget, then everything queued for it.
pub(super) async fn dispatch(link: Weak<Link>, mut queue: Taken) {
    let mut carried: VecDeque<Arc<Queued>> = VecDeque::new();
    loop {
        // What another participant's path left for later goes first.
        let next = carried.pop_front();
        let Some(first) = (if next.is_some() { next } else { queue.recv().await }) else {
            return;
        };
        let Some(l) = link.upgrade() else { return };
        let Some(place) = l.sends.wait().await else { return };
        let max = l.config.batch_max;
        let mut batch: Vec<Arc<Queued>> = Vec::with_capacity(max);
        let mut candidate = Some(first);
        while let Some(q) = candidate {
            if batch.first().is_some_and(|b| b.target != q.target) {
                carried.push_back(q); // another participant's path: a request of its own
            } else if q
                .state
                .compare_exchange(QUEUED, TAKEN, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                batch.push(q);
            }
            candidate = if batch.len() < max {
                queue.try_recv().ok()
            } else {
                None
            };
        }
        if batch.is_empty() {
            continue;
        }
        let current = l.current();
        let gzip = l.config.gzip_batches;
        tokio::spawn(async move {
            let _place = place;
            let outcomes = send_batch(&l, &current, &batch, gzip).await;
            if let Some(Ok(sent)) = outcomes.first()
                && sent.answer.0.status == StatusCode::TOO_MANY_REQUESTS
            {
                l.sends.pause_for(budget::retry_after(&sent.answer.0.headers));
            }
            for (q, outcome) in batch.iter().zip(outcomes) {
                q.answer(outcome);
            }
        });
    }
}

/// Sends `batch` (one request; multipart when more than one) and splits BACEN's answer per caller.
async fn send_batch(
    link: &Link,
    current: &Current,
    batch: &[Arc<Queued>],
    gzip: bool,
) -> Vec<Result<Sent, Refusal>> {
    let mut headers = http::HeaderMap::new();
    let xml = HeaderValue::from_static("application/xml; charset=utf-8");
    let target = batch[0].target.clone();
    if batch.len() == 1 {
        headers.insert(header::CONTENT_TYPE, xml);
        let answer = link
            .deliver(current, &Method::POST, &headers, target, batch[0].body.clone())
            .await;
        return vec![answer.map(|(answer, channel)| Sent {
            answer,
            batch_id: None,
            channel,
        })];
    }
    let id = wire::new_id();
    let parts: Vec<wire::Part> = batch
        .iter()
        .map(|q| wire::Part {
            headers: vec![("content-type".into(), "application/xml; charset=utf-8".into())],
            body: q.body.to_vec(),
        })
        .collect();
    let mut body = wire::build_multipart(&id, &parts);
    if gzip {
        body = wire::gzip(&body);
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if let Ok(v) = HeaderValue::from_str(&format!("multipart/mixed; boundary={id}")) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    let answer = link
        .deliver(current, &Method::POST, &headers, target, Bytes::from(body))
        .await;
    let ((head, bytes), channel) = match answer {
        Ok(a) => a,
        Err(refusal) => return batch.iter().map(|_| Err(refusal.clone())).collect(),
    };
    let ids: Vec<String> = head
        .headers
        .get("pi-resourceid")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
        .unwrap_or_default();
    (0..batch.len())
        .map(|i| {
            let mut own = head.clone();
            if head.status.is_success()
                && let Some(v) = ids.get(i).and_then(|id| HeaderValue::from_str(id).ok())
            {
                own.headers.insert("pi-resourceid", v);
            }
            Ok(Sent {
                answer: (own, bytes.clone()),
                batch_id: Some(id.clone()),
                channel,
            })
        })
        .collect()
}
