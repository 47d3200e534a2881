//! The link to BACEN: what BACEN is trusted with and the mTLS client built on it (both replaced
//! whole at a reload), BACEN's limits on each side of ICOM ([`Budget`]), and automatic batching of
//! SPI sends.
//!
//! **Batching.** ICOM takes up to 10 messages in one `multipart/mixed` send and says multipart is
//! how throughput grows past the 6 requests in flight (DESIGN §6; BACEN's public Q&A #446). When a
//! place of the send budget frees, everything queued for it — up to `batch_max` single-message
//! sends, already signed by their own callers, concurrently — goes as one request. Nothing waits
//! for a batch to fill: at low load each message goes alone and at once. Each caller gets its own
//! answer: `201` with its own `PI-ResourceId` (ICOM returns them comma-separated in part order), or
//! BACEN's refusal of the whole batch.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, StatusCode};
use tokio::sync::{mpsc, oneshot};

use super::budget::{self, Budget};
use super::forward::{Answer, Forwarder};
use super::refusal::Refusal;
use super::{BacenTrust, RelayConfig, RelayError};
use crate::route::{BudgetSide, Route};
use crate::wire;
use pix_xmldsig::dsig::Profile;
use pix_xmldsig::signer::Signer;
use pix_xmldsig::trust::Certificate;

use super::certified::recertified;
use super::channel::{Channel, Channels};

/// The mTLS clients of `config` (its endpoint's, and its secondary channel's when it has one)
/// trusting `trust`'s TLS anchors, authenticated with `mtls`.
fn forwarders(
    config: &RelayConfig,
    trust: &BacenTrust,
    mtls: &Arc<dyn Signer>,
) -> Result<Forwarders, RelayError> {
    let mut config = config.clone();
    config.bacen_anchors = trust.anchors.clone();
    let primary = Arc::new(Forwarder::new(&config, Arc::clone(mtls))?);
    let secondary = match config.secondary_endpoint.clone() {
        Some(endpoint) if config.profile == Profile::Spi => {
            config.endpoint = endpoint;
            Some(Arc::new(Forwarder::new(&config, Arc::clone(mtls))?))
        }
        _ => None,
    };
    Ok((primary, secondary))
}

/// The mTLS client of BACEN's endpoint, and of ICOM's secondary channel when configured.
type Forwarders = (Arc<Forwarder>, Option<Arc<Forwarder>>);

/// BACEN's answer to one caller: the id of the batch it went in (if it shared a request) and the
/// channel it went on.
pub(super) struct Sent {
    /// BACEN's answer.
    pub(super) answer: Answer,
    /// The batch, when the message shared its request with others.
    pub(super) batch_id: Option<String>,
    /// ICOM's channel (or DICT's one) the request went on.
    pub(super) channel: Channel,
}

/// What an exchange works with, replaced whole by a reload (each exchange keeps the one it
/// started with): BACEN's trust, the client built on it and on the bank's mTLS identity, and the
/// bank's two identities.
pub(super) struct Current {
    /// BACEN's certificates.
    pub(super) trust: BacenTrust,
    /// The mTLS client to BACEN.
    pub(super) forwarder: Arc<Forwarder>,
    /// The mTLS client to ICOM's secondary channel, when configured.
    pub(super) secondary: Option<Arc<Forwarder>>,
    /// The bank's XML signature key with its certificate.
    pub(super) signer: Arc<dyn Signer>,
    /// The bank's mTLS key with its certificate.
    pub(super) mtls: Arc<dyn Signer>,
}

/// The link to BACEN of one relay.
pub(super) struct Link {
    config: RelayConfig,
    current: RwLock<Arc<Current>>,
    sends: Budget,
    reads: Budget,
    batches: Option<mpsc::UnboundedSender<Arc<Queued>>>,
    /// Which of ICOM's channels is in use, when a secondary one is configured.
    channels: Option<Arc<Channels>>,
}

impl Link {
    /// The link of `config`, batching SPI sends when `config.batch_max > 1` and a runtime runs.
    pub(super) fn new(
        config: RelayConfig,
        signer: Arc<dyn Signer>,
        mtls: Arc<dyn Signer>,
        trust: BacenTrust,
    ) -> Result<Arc<Link>, RelayError> {
        let (forwarder, secondary) = forwarders(&config, &trust, &mtls)?;
        let channels = secondary
            .is_some()
            .then(|| Arc::new(Channels::new(config.failover_after, config.queue_timeout)));
        let batching = config.profile == Profile::Spi
            && config.batch_max > 1
            && tokio::runtime::Handle::try_current().is_ok();
        let (tx, rx) = if batching {
            let (tx, rx) = mpsc::unbounded_channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let link = Arc::new(Link {
            sends: Budget::new(config.profile, "send", config.max_in_flight, config.queue_timeout),
            reads: Budget::new(config.profile, "read", config.max_in_flight, config.queue_timeout),
            config,
            current: RwLock::new(Arc::new(Current {
                trust,
                forwarder,
                secondary,
                signer,
                mtls,
            })),
            batches: tx,
            channels,
        });
        if let Some(rx) = rx {
            tokio::spawn(dispatch(Arc::downgrade(&link), rx));
        }
        Ok(link)
    }

    /// What exchanges work with now.
    pub(super) fn current(&self) -> Arc<Current> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// See [`super::Relay::reload`].
    pub(super) fn reload(&self, new: &BacenTrust) -> Result<bool, RelayError> {
        self.update(|now| {
            if now.trust.same_as(new) {
                return Ok(None);
            }
            let (forwarder, secondary) = if now.trust.anchors == new.anchors {
                (Arc::clone(&now.forwarder), now.secondary.clone())
            } else {
                forwarders(&self.config, new, &now.mtls)?
            };
            Ok(Some(Current {
                trust: new.clone(),
                forwarder,
                secondary,
                signer: Arc::clone(&now.signer),
                mtls: Arc::clone(&now.mtls),
            }))
        })
    }

    /// See [`super::Relay::recertify`].
    pub(super) fn recertify(
        &self,
        signature: &Certificate,
        mtls: &Certificate,
    ) -> Result<bool, super::RecertifyError> {
        let refused = |role, reason| super::RecertifyError { role, reason };
        self.update(|now| {
            let signer = recertified(&now.signer, signature).map_err(|r| refused("signature", r))?;
            let client = recertified(&now.mtls, mtls).map_err(|r| refused("mtls", r))?;
            if signer.is_none() && client.is_none() {
                return Ok(None);
            }
            let (forwarder, secondary) = match &client {
                Some(m) => {
                    forwarders(&self.config, &now.trust, m).map_err(|e| refused("mtls", e.to_string()))?
                }
                None => (Arc::clone(&now.forwarder), now.secondary.clone()),
            };
            Ok(Some(Current {
                trust: now.trust.clone(),
                forwarder,
                secondary,
                signer: signer.unwrap_or_else(|| Arc::clone(&now.signer)),
                mtls: client.unwrap_or_else(|| Arc::clone(&now.mtls)),
            }))
        })
    }

    /// Replaces what exchanges work with by what `change` makes of it (nothing when it makes
    /// nothing), under the lock: two reloads at once never lose one another's change.
    fn update<E>(&self, change: impl FnOnce(&Current) -> Result<Option<Current>, E>) -> Result<bool, E> {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        match change(&current)? {
            Some(new) => {
                *current = Arc::new(new);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Whether ICOM's secondary channel is in use.
    pub(super) fn on_secondary(&self) -> bool {
        self.channels.as_ref().is_some_and(|c| c.on_secondary())
    }

    /// Sends a request within BACEN's limits: a single-message SPI send through the batcher, any
    /// other send or stream read within its side's budget, anything else at once.
    pub(super) async fn send(
        &self,
        current: &Current,
        route: &Route,
        headers: &http::HeaderMap,
        target: String,
        body: Bytes,
    ) -> Result<Sent, Refusal> {
        let method = &route.method;
        let Some(side) = route.budget() else {
            let (answer, channel) = self.deliver(current, method, headers, target, body).await?;
            return Ok(Sent {
                answer,
                batch_id: None,
                channel,
            });
        };
        if side == BudgetSide::Send
            && let Some(batches) = &self.batches
            && is_single(headers)
        {
            return self.batched(batches, target, body).await;
        }
        let budget = match side {
            BudgetSide::Send => &self.sends,
            BudgetSide::Read => &self.reads,
        };
        let _place = budget.enter().await?;
        let (answer, channel) = self.deliver(current, method, headers, target, body).await?;
        if answer.0.status == StatusCode::TOO_MANY_REQUESTS {
            budget.pause_for(budget::retry_after(&answer.0.headers));
        }
        Ok(Sent {
            answer,
            batch_id: None,
            channel,
        })
    }

    /// Sends on the channel in use: the primary (each outcome telling the channels whether it is
    /// reached), or the secondary with its rules while the primary is asked now and then whether
    /// it answers again.
    async fn deliver(
        &self,
        current: &Current,
        method: &Method,
        headers: &http::HeaderMap,
        target: String,
        body: Bytes,
    ) -> Result<(Answer, Channel), Refusal> {
        let (Some(channels), Some(secondary)) = (&self.channels, &current.secondary) else {
            let answer = current.forwarder.send(method, headers, target, body).await?;
            return Ok((answer, Channel::Primary));
        };
        if channels.on_secondary() {
            channels.probe_primary(&current.forwarder);
            let target = current.forwarder.rebase(&target, secondary);
            let answer = channels
                .over_secondary(secondary, method, headers, target, body)
                .await?;
            return Ok((answer, Channel::Secondary));
        }
        let outcome = current.forwarder.send(method, headers, target, body).await;
        channels.primary_outcome(&outcome);
        Ok((outcome?, Channel::Primary))
    }

    /// Queues a signed message for the next send; waits at most the queue timeout for it to be
    /// taken.
    async fn batched(
        &self,
        batches: &mpsc::UnboundedSender<Arc<Queued>>,
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
            return Err(self.sends.busy());
        }
        match tokio::time::timeout(self.sends.queue_timeout(), &mut rx).await {
            Ok(reply) => reply.unwrap_or_else(|_| Err(self.sends.busy())),
            Err(_) => {
                if queued
                    .state
                    .compare_exchange(QUEUED, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    return Err(self.sends.busy());
                }
                // Taken just now: it is on its way to BACEN, so its caller waits for the answer.
                rx.await.unwrap_or_else(|_| Err(self.sends.busy()))
            }
        }
    }
}

/// A single-message send, as batching takes it: plain XML, not compressed.
fn is_single(headers: &http::HeaderMap) -> bool {
    wire::is_xml(wire::header_str(headers, header::CONTENT_TYPE))
        && wire::header_str(headers, header::CONTENT_ENCODING).is_empty()
}

const QUEUED: u8 = 0;
const TAKEN: u8 = 1;
const ABANDONED: u8 = 2;

/// A signed message waiting for a send.
struct Queued {
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
async fn dispatch(link: Weak<Link>, mut queue: mpsc::UnboundedReceiver<Arc<Queued>>) {
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
