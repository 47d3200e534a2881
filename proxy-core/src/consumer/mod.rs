//! The receive half of a payment: the participant's SPI stream read through the relay (each
//! page verified, audited, within the read side of BACEN's budget), every message handed to the
//! bank's [`Destination`], and the stream advanced only after the whole page is handed off.
//!
//! BACEN's rules (DESIGN §6; its public Q&A, bacen/pix-perguntas-e-respostas):
//! - each `GET` of `PI-Pull-Next` **acknowledges** the page the previous `GET` delivered (#50):
//!   the next page is asked for only once every message of this one is durably with the bank,
//!   so a reader that dies loses nothing — BACEN delivers again what was not acknowledged;
//! - a message may come **twice** with the same `PI-ResourceId`: recognised within a window that
//!   survives restarts ([`seen`]: each message's ids are written, synced, right after its
//!   hand-off) and handed off marked `duplicate`, never dropped;
//! - up to **6 parallel reads** per participant (#236, #346), each page up to 10 messages as
//!   `multipart/mixed` (#446): `readers` streams, each asking for multipart;
//! - a message whose signature fails is handed off flagged (the bank rejects it with an
//!   admi.002, #104) and never stops the stream.
//!
//! A destination that fails stops its reader from advancing (retried with back-off): the page
//! stays unacknowledged and nothing is dropped. At shutdown each reader ends its stream
//! (`DELETE` of its `PI-Pull-Next`) once its page is handed off.

pub mod destination;
pub mod https;
mod message;
pub mod seen;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use tokio::sync::watch;

pub use destination::{Destination, DirDestination, HandOffError};
pub use message::Message;
pub use seen::Seen;

use crate::callers::Caller;
use crate::relay::{self, Relay, Relayed};
use crate::retry::Attempts;
use crate::route::{Operation, Route, shown};
use crate::wire;
use pix_xmldsig::dsig::Profile;

/// How the consumer reads.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// The participant whose stream is read.
    pub ispb: String,
    /// Streams read in parallel: this consumer's share of BACEN's 6 reads per participant (the
    /// rest for stream reads through `serve`; never more than 6 in all).
    pub readers: usize,
    /// The longest wait between attempts after a failure (BACEN or the destination).
    pub max_backoff: Duration,
}

/// The stream consumer.
pub struct Consumer {
    relay: Arc<Relay>,
    destination: Arc<dyn Destination>,
    seen: Arc<Seen>,
    config: ConsumerConfig,
}

impl Consumer {
    /// A consumer reading through `relay` (the SPI relay) into `destination`, recognising
    /// duplicates with `seen`.
    pub fn new(
        relay: Arc<Relay>,
        destination: Arc<dyn Destination>,
        seen: Arc<Seen>,
        config: ConsumerConfig,
    ) -> Self {
        Consumer {
            relay,
            destination,
            seen,
            config,
        }
    }

    /// Reads until `stop` turns true, then ends each stream; returns when every reader has.
    pub async fn run(self: Arc<Self>, stop: watch::Receiver<bool>) {
        tracing::info!(
            ispb = %self.config.ispb,
            readers = self.config.readers,
            destination = %self.destination.name(),
            "consuming the participant's stream"
        );
        let mut readers = tokio::task::JoinSet::new();
        for n in 0..self.config.readers.max(1) {
            readers.spawn(Arc::clone(&self).read(n, stop.clone()));
        }
        while readers.join_next().await.is_some() {}
    }

    /// One reader: its own stream, page after page.
    async fn read(self: Arc<Self>, reader: usize, mut stop: watch::Receiver<bool>) {
        let start = format!("/api/v1/out/{}/stream/start", self.config.ispb);
        let mut next = start.clone();
        let mut backoff = Attempts::new(Duration::from_millis(200), self.config.max_backoff);
        loop {
            if *stop.borrow() {
                break;
            }
            let relayed = tokio::select! {
                a = self.exchange(Method::GET, &next) => a,
                _ = stop.changed() => break,
            };
            let delivered_at = SystemTime::now();
            let answer = &relayed.response;
            let pull_next = self.pull_next(reader, answer);
            match answer.status() {
                StatusCode::OK => {
                    let messages = self.messages(&relayed, delivered_at);
                    if !self.hand_off(reader, &messages, &mut stop).await {
                        // Stopped before the page was all handed off: neither acknowledged
                        // nor ended; BACEN delivers it again.
                        streams_open(reader, false);
                        return;
                    }
                    next = pull_next.unwrap_or_else(|| start.clone());
                    backoff.reset();
                }
                StatusCode::NO_CONTENT => {
                    next = pull_next.unwrap_or_else(|| start.clone());
                    backoff.reset();
                }
                StatusCode::NOT_FOUND => {
                    tracing::warn!(reader, path = %next, "the stream is gone: starting another");
                    next = start.clone();
                }
                status => {
                    let wait = backoff.next_delay();
                    tracing::warn!(reader, %status, path = %next, wait_ms = wait.as_millis() as u64, "stream read failed; trying again");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.changed() => break,
                    }
                }
            }
            streams_open(reader, next != start);
        }
        if next != start {
            // Every page this reader took is handed off: ending the stream loses nothing.
            let answer = self.exchange(Method::DELETE, &next).await.response;
            tracing::info!(reader, status = %answer.status(), "stream ended");
        }
        streams_open(reader, false);
    }

    /// BACEN's `PI-Pull-Next`, taken only when it is a path of this participant's stream
    /// (ICOM's grammar, origin-form, no query): anything else from upstream is logged and the
    /// reader starts a new stream, so that a hostile header neither sends the proxy elsewhere
    /// nor stalls the reader (what it delivered is handed off already, and a redelivery is
    /// marked duplicate).
    fn pull_next(&self, reader: usize, answer: &http::Response<Bytes>) -> Option<String> {
        let next = relay_header(answer, "pi-pull-next")?;
        let own = next.parse::<http::Uri>().ok().and_then(|uri| {
            let route = Route::parse(Profile::Spi, &Method::GET, &uri).ok()?;
            (route.operation == Operation::SpiStreamRead
                && route.path_ispb.as_deref() == Some(self.config.ispb.as_str())
                && route.query.is_empty())
            .then_some(route.path_and_query)
        });
        if own.is_none() {
            tracing::warn!(
                reader,
                metric = "PullNextRefused",
                pull_next = %shown(&next, 200),
                "BACEN's PI-Pull-Next is not a path of this participant's stream: starting another"
            );
        }
        own
    }

    /// A request to BACEN through the relay, as the consumer.
    async fn exchange(&self, method: Method, path: &str) -> Relayed {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::ACCEPT, "multipart/mixed")
            .body(Bytes::new())
            .unwrap_or_default();
        req.extensions_mut().insert(Caller::Service {
            name: "consumer".into(),
        });
        self.relay.relay(req).await
    }

    /// The page's messages: each part of a multipart page, else the page itself, each with the
    /// relay's own verdict on it (never a header: nothing from upstream speaks for the proxy).
    fn messages(&self, relayed: &Relayed, delivered_at: SystemTime) -> Vec<Message> {
        let answer = &relayed.response;
        let headers = answer.headers();
        let body = if wire::header_str(headers, http::header::CONTENT_ENCODING).eq_ignore_ascii_case("gzip") {
            match wire::gunzip(answer.body(), 64 * 1024 * 1024) {
                Ok(b) => Bytes::from(b),
                Err(_) => answer.body().clone(),
            }
        } else {
            answer.body().clone()
        };
        let verdict = |i: usize| match relayed.verdicts.get(i) {
            Some(Ok(())) => (true, None),
            Some(Err(e)) => (false, Some(e.clone())),
            None => (false, Some("not verified by the relay".to_string())),
        };
        let resource_ids = relay_header(answer, "pi-resourceid").unwrap_or_default();
        match wire::boundary(wire::header_str(headers, http::header::CONTENT_TYPE)) {
            Some(b) => match wire::parse_multipart(&body, &b) {
                Ok(parts) => parts
                    .into_iter()
                    .enumerate()
                    .map(|(i, p)| {
                        let id = p
                            .header("pi-resourceid")
                            .map(str::to_string)
                            .or_else(|| resource_ids.split(',').nth(i).map(|s| s.trim().to_string()))
                            .unwrap_or_default();
                        let (valid, error) = verdict(i);
                        self.message(id, Bytes::from(p.body), valid, error, delivered_at)
                    })
                    .collect(),
                // A page that does not split is still BACEN's: handed off whole, flagged.
                Err(e) => vec![self.message(
                    resource_ids,
                    body,
                    false,
                    Some(format!("multipart: {e}")),
                    delivered_at,
                )],
            },
            None => {
                let (valid, error) = verdict(0);
                vec![self.message(resource_ids, body, valid, error, delivered_at)]
            }
        }
    }

    fn message(
        &self,
        resource_id: String,
        body: Bytes,
        valid: bool,
        error: Option<String>,
        delivered_at: SystemTime,
    ) -> Message {
        let indexed = relay::describe(&body);
        let (message_type, msg_id, end_to_end_id) = match indexed {
            Some(i) => (
                i.kind,
                i.biz_msg_idrs.into_iter().next(),
                i.end_to_end_ids.into_iter().next(),
            ),
            None => (String::new(), None, None),
        };
        let mut ids = vec![resource_id.as_str()];
        if let Some(m) = &msg_id {
            ids.push(m);
        }
        let duplicate = self.seen.check(&ids);
        Message {
            resource_id,
            message_type,
            msg_id,
            end_to_end_id,
            signature_valid: valid,
            signature_error: error,
            duplicate,
            delivered_at,
            body,
        }
    }

    /// Hands every message of a page off, each retried until it is taken and then recorded in
    /// the duplicate window. False when `stop` came first.
    async fn hand_off(&self, reader: usize, messages: &[Message], stop: &mut watch::Receiver<bool>) -> bool {
        let mut backoff = Attempts::new(Duration::from_millis(200), self.config.max_backoff);
        for m in messages {
            loop {
                match self.destination.hand_off(m).await {
                    Ok(()) => {
                        backoff.reset();
                        break;
                    }
                    Err(e) => {
                        metrics::counter!(crate::metrics::CONSUMER_HANDOFF_FAILURES).increment(1);
                        let wait = backoff.next_delay();
                        tracing::warn!(metric = "HandOffFailed", reader, resource_id = %m.resource_id, error = %e, wait_ms = wait.as_millis() as u64, "hand-off failed; the stream waits");
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            _ = stop.changed() => {}
                        }
                        if *stop.borrow() {
                            return false;
                        }
                    }
                }
            }
            // Recorded as soon as it is handed off: a consumer killed later in the page marks
            // this message duplicate when BACEN delivers it again.
            let ids: Vec<String> = std::iter::once(m.resource_id.clone())
                .chain(m.msg_id.clone())
                .collect();
            if let Err(e) = self.seen.persist(&ids) {
                // The message is with the bank; only a later duplicate would go unmarked.
                tracing::warn!(error = %e, "the duplicate window could not be written");
            }
            let lag = m.delivered_at.elapsed().unwrap_or_default();
            metrics::histogram!(crate::metrics::CONSUMER_HANDOFF_SECONDS).record(lag.as_secs_f64());
            metrics::counter!(crate::metrics::CONSUMER_MESSAGES, "message_type" => m.message_type.clone(), "valid" => m.signature_valid.to_string()).increment(1);
            if m.duplicate {
                metrics::counter!(crate::metrics::CONSUMER_DUPLICATES).increment(1);
            }
        }
        if let Some(first) = messages.first() {
            let lag = first.delivered_at.elapsed().unwrap_or_default();
            tracing::info!(
                metric = "ConsumerHandOff",
                reader,
                messages = messages.len(),
                lag_ms = lag.as_millis() as u64,
                "page handed off"
            );
        }
        true
    }
}

/// A header of the relay's answer, as text.
fn relay_header(answer: &http::Response<Bytes>, name: &str) -> Option<String> {
    answer
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The gauge of this reader's stream.
fn streams_open(reader: usize, open: bool) {
    metrics::gauge!(crate::metrics::CONSUMER_STREAMS_OPEN, "reader" => reader.to_string()).set(if open {
        1.0
    } else {
        0.0
    });
}
