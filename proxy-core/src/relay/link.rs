//! The link to BACEN: what BACEN is trusted with and the mTLS clients built on it (both replaced
//! whole at a reload, or when the bank's certificates are renewed), and the send stage's way
//! through it: within BACEN's limits on each side of ICOM ([`budget`](super::budget)), batched
//! ([`batch`](super::batch)), on the channel in use ([`channel`](super::channel)).

use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http::{Method, StatusCode};
use tokio::sync::mpsc;

use super::batch;
use super::budget::{self, Budget};
use super::config::{BacenTrust, RelayConfig, RelayError};
use super::errors::RecertifyError;
use super::forward::{Answer, Forwarder};
use super::refusal::Refusal;
use crate::route::{BudgetSide, Route};
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
    /// The relay's configuration (the batcher reads its `batch_max` and `gzip_batches`).
    pub(super) config: RelayConfig,
    current: RwLock<Arc<Current>>,
    /// BACEN's limit of sends in flight (the batcher takes its places).
    pub(super) sends: Budget,
    reads: Budget,
    batches: Option<batch::Queue>,
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
            tokio::spawn(batch::dispatch(Arc::downgrade(&link), rx));
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
    ) -> Result<bool, RecertifyError> {
        let refused = |role, reason| RecertifyError { role, reason };
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
            && batch::is_single(headers)
        {
            return batch::queue(&self.sends, batches, target, body).await;
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

    /// Sends on the channel in use ([`channel::deliver`](super::channel::deliver)).
    pub(super) async fn deliver(
        &self,
        current: &Current,
        method: &Method,
        headers: &http::HeaderMap,
        target: String,
        body: Bytes,
    ) -> Result<(Answer, Channel), Refusal> {
        super::channel::deliver(self.channels.as_ref(), current, method, headers, target, body).await
    }
}
