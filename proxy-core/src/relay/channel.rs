//! ICOM's two channels: the primary one, and the secondary (contingency) one participants move to
//! when the primary fails — its own host and port, its own token buckets (08–24 h: 350 tokens
//! refilled 35/s; 0–8 h: 5,000 at 350/s) and gzip mandatory (DESIGN §6, the Manual das Interfaces
//! de Comunicação as participants quote it).
//!
//! The relay sends on the primary channel while it answers. When every request to it has failed
//! to reach it (refused or reset connections, no answer in time) for `failover_after`, the relay
//! moves to the secondary channel: sends gzip'd and within its buckets, reads asking for gzip.
//! While there, it asks the primary for its catalog (`GET /api/v1/in/catalog`, a plain ICOM
//! resource) every [`PROBE_EVERY`] — on the request path, so that a Lambda does it too — and moves
//! back at the first answer. Both moves are logged (`metric=ChannelFailover`,
//! `metric=ChannelRestored`) and counted; while it sends or reads on the secondary channel the
//! relay says so at its first request there and then once a minute
//! (`metric=SecondaryChannelInUse`, the alarm's source), and the gauge
//! `pix_bacen_secondary_in_use` is 1.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, StatusCode};

use super::forward::{Answer, Forwarder};
use super::link::Current;
use super::refusal::{Problem, Refusal};
use crate::bucket::{SecondaryBuckets, cost_of};
use crate::wire;

/// How often the primary is asked whether it answers again, while the secondary is in use.
pub(super) const PROBE_EVERY: Duration = Duration::from_secs(2);
/// How often the relay logs that the secondary channel is in use.
const REPORT_EVERY: Duration = Duration::from_secs(60);
/// The longest time a probe of the primary may take.
const PROBE_LIMIT: Duration = Duration::from_secs(3);

/// The channel a request went on (DICT's only one is its primary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Channel {
    /// BACEN's endpoint (`BcbSpiEndpoint`, `BcbDictEndpoint`).
    Primary,
    /// ICOM's secondary channel (`BcbSpiSecondaryEndpoint`).
    Secondary,
}

impl Channel {
    /// Its name in audit records.
    pub(super) fn name(self) -> &'static str {
        match self {
            Channel::Primary => "primary",
            Channel::Secondary => "secondary",
        }
    }
}

/// Which channel a relay uses, and why.
pub(super) struct Channels {
    failover_after: Duration,
    queue_timeout: Duration,
    on_secondary: AtomicBool,
    state: Mutex<State>,
}

/// What the channels remember, under one lock.
struct State {
    /// When the primary's current run of failures began (none: it answered last).
    failing_since: Option<Instant>,
    /// When the primary was last asked whether it answers (while on the secondary).
    probed: Option<Instant>,
    /// When the relay last said the secondary is in use.
    reported: Option<Instant>,
    /// The secondary's token buckets, kept by the relay itself.
    buckets: SecondaryBuckets,
}

impl Channels {
    /// On the primary channel; moving after `failover_after` of failures; a send waiting at most
    /// `queue_timeout` for the secondary's tokens.
    pub(super) fn new(failover_after: Duration, queue_timeout: Duration) -> Self {
        crate::metrics::secondary_in_use(false);
        Channels {
            failover_after,
            queue_timeout,
            on_secondary: AtomicBool::new(false),
            state: Mutex::new(State {
                failing_since: None,
                probed: None,
                reported: None,
                buckets: SecondaryBuckets::new(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the secondary channel is in use.
    pub(super) fn on_secondary(&self) -> bool {
        self.on_secondary.load(Ordering::Acquire)
    }

    /// What a request to the primary came to: a failure to reach it starts (or continues) a run
    /// that moves the relay to the secondary once it lasts `failover_after`; an answer ends it.
    pub(super) fn primary_outcome(&self, outcome: &Result<Answer, Refusal>) {
        match outcome {
            Err(r) if unreached(r) => {
                let now = Instant::now();
                let mut state = self.state();
                let failing = now.duration_since(*state.failing_since.get_or_insert(now));
                if failing >= self.failover_after && !self.on_secondary.swap(true, Ordering::AcqRel) {
                    state.probed = Some(now);
                    drop(state);
                    crate::metrics::channel_moved("secondary");
                    tracing::warn!(
                        metric = "ChannelFailover",
                        failing_ms = failing.as_millis() as u64,
                        reason = %r.detail,
                        "ICOM's primary channel has not been reached for {} s: sending and reading on the secondary channel",
                        failing.as_secs()
                    );
                }
            }
            Ok(_) => {
                self.state().failing_since = None;
            }
            Err(_) => {}
        }
    }

    /// The primary answered a probe: back to it.
    fn restored(&self) {
        {
            let mut state = self.state();
            state.failing_since = None;
            // A later move says so at once again.
            state.reported = None;
        }
        if self.on_secondary.swap(false, Ordering::AcqRel) {
            crate::metrics::channel_moved("primary");
            tracing::info!(
                metric = "ChannelRestored",
                "ICOM's primary channel answers again: sending and reading on it"
            );
        }
    }

    /// Whether it is time to ask the primary again (and the time is taken when it is).
    fn probe_due(&self) -> bool {
        let now = Instant::now();
        let mut state = self.state();
        if state.probed.is_some_and(|p| now.duration_since(p) < PROBE_EVERY) {
            return false;
        }
        state.probed = Some(now);
        true
    }

    /// Says that the secondary is in use (the alarm's source): at the first request there, then
    /// at most once a minute.
    fn report(&self) {
        let now = Instant::now();
        let mut state = self.state();
        if state
            .reported
            .is_none_or(|r| now.duration_since(r) >= REPORT_EVERY)
        {
            state.reported = Some(now);
            drop(state);
            tracing::warn!(
                metric = "SecondaryChannelInUse",
                "sending and reading on ICOM's secondary channel"
            );
        }
    }

    /// Takes `cost` tokens of the secondary's bucket, waiting for them at most the queue
    /// timeout: BACEN would refuse the send `429` otherwise.
    async fn take(&self, cost: f64) -> Result<(), Refusal> {
        let deadline = Instant::now() + self.queue_timeout;
        loop {
            let taken = self.state().buckets.take(cost, SystemTime::now());
            let wait = match taken {
                Ok(()) => return Ok(()),
                Err(seconds) => Duration::from_secs(seconds),
            };
            let now = Instant::now();
            if now + wait.min(Duration::from_millis(100)) > deadline {
                let detail = format!(
                    "the secondary channel's token bucket has no room for this send within {} ms",
                    self.queue_timeout.as_millis()
                );
                return Err(Refusal::new(Problem::BacenBusy, detail).retry_after(wait.as_secs().max(1)));
            }
            // The bucket refills continuously: look again soon rather than after whole seconds.
            tokio::time::sleep(wait.min(Duration::from_millis(100))).await;
        }
    }

    /// Asks the primary whether it answers, when due, without holding up the request: an
    /// answer of any status brings the relay back to it.
    pub(super) fn probe_primary(self: &std::sync::Arc<Self>, primary: &std::sync::Arc<Forwarder>) {
        self.report();
        if !self.probe_due() || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let (channels, primary) = (std::sync::Arc::clone(self), std::sync::Arc::clone(primary));
        let catalog = primary.url("/api/v1/in/catalog");
        tokio::spawn(async move {
            let headers = http::HeaderMap::new();
            let asked = primary.send(&Method::GET, &headers, catalog, Bytes::new());
            if let Ok(Ok(_)) = tokio::time::timeout(PROBE_LIMIT, asked).await {
                channels.restored();
            }
        });
    }

    /// Sends on the secondary channel with its rules: a send within its token bucket and gzip'd;
    /// a read asking for gzip (its answer decompressed again when the bank did not ask for gzip).
    pub(super) async fn over_secondary(
        &self,
        secondary: &Forwarder,
        method: &Method,
        headers: &http::HeaderMap,
        target: String,
        body: Bytes,
    ) -> Result<Answer, Refusal> {
        let mut headers = headers.clone();
        let mut body = body;
        if *method == Method::POST {
            let gzipped = wire::header_str(&headers, header::CONTENT_ENCODING).eq_ignore_ascii_case("gzip");
            self.take(message_cost(&headers, &body)).await?;
            if !gzipped {
                body = Bytes::from(wire::gzip(&body));
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
        }
        let asked_gzip = wire::header_str(&headers, header::ACCEPT_ENCODING).contains("gzip");
        if !asked_gzip {
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        }
        let (mut head, bytes) = secondary.send(method, &headers, target, body).await?;
        let gzipped = wire::header_str(&head.headers, header::CONTENT_ENCODING).eq_ignore_ascii_case("gzip");
        if asked_gzip || !gzipped || head.status == StatusCode::NO_CONTENT {
            return Ok((head, bytes));
        }
        // The bank did not ask for gzip: it gets the answer as the primary would have sent it.
        let plain = wire::gunzip(&bytes, secondary.max_body()).map_err(|e| {
            Refusal::new(
                Problem::BacenUnreachable,
                format!("the secondary channel's gzip'd answer is not readable: {e}"),
            )
        })?;
        head.headers.remove(header::CONTENT_ENCODING);
        head.headers.remove(header::CONTENT_LENGTH);
        Ok((head, Bytes::from(plain)))
    }
}

/// Sends on the channel in use: the primary (each outcome telling the channels whether it is
/// reached), or the secondary with its rules while the primary is asked now and then whether it
/// answers again. Without a secondary channel, the primary alone.
pub(super) async fn deliver(
    channels: Option<&Arc<Channels>>,
    current: &Current,
    method: &Method,
    headers: &http::HeaderMap,
    target: String,
    body: Bytes,
) -> Result<(Answer, Channel), Refusal> {
    let (Some(channels), Some(secondary)) = (channels, &current.secondary) else {
        let answer = current.forwarder.send(method, headers, target, body).await?;
        return Ok((answer, Channel::Primary));
    };
    if channels.on_secondary() {
        channels.probe_primary(&current.forwarder);
        let target = rebase(&current.forwarder, &target, secondary);
        let answer = channels
            .over_secondary(secondary, method, headers, target, body)
            .await?;
        return Ok((answer, Channel::Secondary));
    }
    let outcome = current.forwarder.send(method, headers, target, body).await;
    channels.primary_outcome(&outcome);
    Ok((outcome?, Channel::Primary))
}

/// `target` (a URL of `primary`'s server) on the `secondary` channel's server instead.
fn rebase(primary: &Forwarder, target: &str, secondary: &Forwarder) -> String {
    match primary.path_of(target) {
        Some(path) => secondary.url(path),
        None => target.to_string(),
    }
}

/// Whether a refusal says the channel was not reached (rather than answering something).
fn unreached(r: &Refusal) -> bool {
    matches!(r.problem, Problem::BacenUnreachable | Problem::Timeout)
}

/// What a send costs in ICOM's tokens (DESIGN §6: a pacs.002 0.2, any other message 1), by the
/// `AppHdr/MsgDefIdr` each message of the body (each part of a multipart one) declares, read by
/// the parser, never by a substring; a message that declares none, or a body that cannot be
/// read, costs one token each.
fn message_cost(headers: &http::HeaderMap, body: &[u8]) -> f64 {
    let messages = super::record::messages(headers, body);
    if messages.is_empty() {
        return cost_of("other");
    }
    messages
        .iter()
        .map(|m| cost_of(m.declared_type().unwrap_or("other")))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_costs_by_the_messages_it_carries() {
        let msg = |def: &str| format!("<Envelope><AppHdr><MsgDefIdr>{def}</MsgDefIdr></AppHdr></Envelope>");
        let xml = || {
            let mut h = http::HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
            h
        };
        let one = msg("pacs.008.spi.1.16");
        assert_eq!(message_cost(&xml(), one.as_bytes()), 1.0);
        assert_eq!(message_cost(&xml(), msg("pacs.002.spi.1.17").as_bytes()), 0.2);
        // A batch: each part by its own MsgDefIdr, gzip'd or not.
        let parts: Vec<wire::Part> = ["pacs.002.spi.1.17", "pacs.002.spi.1.17", "pacs.008.spi.1.16"]
            .iter()
            .map(|d| wire::Part {
                headers: vec![("content-type".into(), "application/xml".into())],
                body: msg(d).into_bytes(),
            })
            .collect();
        let batch = wire::build_multipart("b1", &parts);
        let mut multipart = http::HeaderMap::new();
        multipart.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("multipart/mixed; boundary=b1"),
        );
        assert!((message_cost(&multipart, &batch) - 1.4).abs() < 1e-9);
        multipart.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        assert!((message_cost(&multipart, &wire::gzip(&batch)) - 1.4).abs() < 1e-9);
        assert_eq!(message_cost(&xml(), b"not xml"), 1.0);
        // The text of a pacs.008 that mentions pacs.002's definition pays a pacs.008's token.
        let sly = "<Envelope><AppHdr><MsgDefIdr>pacs.008.spi.1.16</MsgDefIdr></AppHdr><Ustrd>&gt;pacs.002.spi.1.17&lt;</Ustrd></Envelope>";
        assert_eq!(message_cost(&xml(), sly.as_bytes()), 1.0);
    }

    #[tokio::test]
    async fn a_send_the_secondary_bucket_cannot_hold_is_refused_busy_after_the_queue_timeout() {
        let channels = Channels::new(Duration::from_secs(10), Duration::from_millis(200));
        assert!(channels.take(1.0).await.is_ok());
        // More than either period's bucket ever holds: waited for, then refused, never sent.
        let started = Instant::now();
        let refused = channels.take(6000.0).await.unwrap_err();
        assert_eq!(refused.problem, Problem::BacenBusy);
        assert!(refused.retry_after.is_some_and(|s| s >= 1));
        assert!(
            started.elapsed() >= Duration::from_millis(100),
            "it waited for tokens"
        );
        assert!(refused.detail.contains("secondary channel"), "{}", refused.detail);
    }

    #[test]
    fn the_relay_moves_after_failing_for_the_time_set_and_back_when_restored() {
        let channels = Channels::new(Duration::from_millis(50), Duration::from_secs(1));
        let unreachable = Err(Refusal::new(Problem::BacenUnreachable, "connection refused"));
        channels.primary_outcome(&unreachable);
        assert!(!channels.on_secondary(), "one failure is not yet a failover");
        std::thread::sleep(Duration::from_millis(60));
        // Something BACEN answered (its refusal of a bad request) is not a failure of the channel.
        channels.primary_outcome(&Err(Refusal::new(Problem::InvalidRequest, "bad")));
        assert!(!channels.on_secondary());
        channels.primary_outcome(&unreachable);
        assert!(channels.on_secondary(), "failing for longer than failover_after");
        channels.restored();
        assert!(!channels.on_secondary());
        // A run of failures starts again from the first after the primary answered.
        channels.primary_outcome(&unreachable);
        assert!(!channels.on_secondary());
    }
}
