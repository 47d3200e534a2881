//! The relay: one pipeline from a bank service's request to BACEN and back (DESIGN §1), used by
//! both front ends. The stages as [`Relay::relay`] runs them, each in its file:
//!
//! 0. [`crate::route`] reads the request line once, then [`crate::callers`] decides whether the
//!    caller may do it for the participant the request names; a refusal is answered (`400`,
//!    `401`, `403`) and audited before anything is signed;
//! 1. [`sign`]: the request body signed with the deployment's profile (each part of a multipart
//!    batch; a gzip'd body decompressed, signed and, for ICOM, compressed again);
//! 2. the send, through the [`link`] (BACEN's trust and the bank's identities, replaced whole at
//!    a reload): within BACEN's limits of requests in flight ([`budget`]), single SPI sends
//!    [`batch`]ed, on ICOM's [`channel`] in use (the secondary one during a failover), by the
//!    [`forward`]er over mutual TLS on pooled keep-alive connections, with BACEN's header
//!    whitelist;
//! 3. [`verify`]: BACEN's answer verified (each part of a multipart one), upstream's `pix-*`
//!    headers dropped and the relay's own verdict added ([`headers`]); a stream message that fails
//!    is passed with its verdict, anything else that fails is `502`;
//! 4. [`record`]: one audit record per exchange, failures included.
//!
//! Failures are answers, never panics: every answer the proxy gives itself is a [`Refusal`]
//! with one of the [`Problem`] codes (a bad request `400`, an unsignable body `400`/`415`, a
//! signer that is down `503`, BACEN unreachable `502`, too slow `504`, an answer whose signature
//! fails `502` naming the failed check).

mod batch;
mod budget;
mod certified;
mod channel;
mod config;
mod errors;
mod forward;
mod headers;
mod link;
mod record;
mod refusal;
mod sign;
mod verify;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Limited};

pub use config::{BacenTrust, RelayConfig, RelayError};
pub use errors::{RecertifyError, Unhealthy};
pub use headers::{REQUEST_ID, SIGNATURE_ERROR, SIGNATURE_VALID};
pub use record::{Indexed, index as describe};
pub use refusal::{Problem, Refusal};
pub use verify::{Failure, Verdict};

use crate::audit::{AuditSink, InFlight};
use crate::callers::{Caller, Callers, Need, RefusedBecause, Unclear};
use crate::route::{Route, RouteError};
use link::Link;
use pix_xmldsig::dsig::Profile;
use pix_xmldsig::signer::Signer;
use pix_xmldsig::trust::{Certificate, TrustStore};
use record::Evidence;
use verify::Verifier;

/// The pipeline. Build once; share across requests (it holds the connection pool).
pub struct Relay {
    profile: Profile,
    max_body: usize,
    /// BACEN's schemas, checked before signing when configured.
    schemas: Option<Arc<pix_schemas::Catalog>>,
    /// The signature key's name in audit records (a renewed certificate keeps the key).
    key_id: String,
    /// Who may use the relay, for what.
    callers: Callers,
    audit: Arc<dyn AuditSink>,
    /// BACEN's trust and the bank's own identities (replaced whole by [`Relay::reload`] and
    /// [`Relay::recertify`]; each exchange holds what it started with), the mTLS client,
    /// BACEN's limits and the batcher.
    link: Arc<Link>,
}

impl Relay {
    /// A relay signing with `signer`, authenticating TLS with `mtls`, verifying answers with
    /// `bacen_signatures`, auditing to `audit`.
    pub fn new(
        config: RelayConfig,
        signer: Arc<dyn Signer>,
        mtls: Arc<dyn Signer>,
        bacen_signatures: Arc<TrustStore>,
        audit: Arc<dyn AuditSink>,
    ) -> Result<Relay, RelayError> {
        let trust = BacenTrust {
            signatures: bacen_signatures,
            anchors: config.bacen_anchors.clone(),
        };
        Ok(Relay {
            profile: config.profile,
            max_body: config.max_body,
            schemas: config.schemas.clone(),
            key_id: signer.key_id().to_string(),
            callers: config.callers.clone(),
            audit,
            link: Link::new(config, signer, mtls, trust)?,
        })
    }

    /// The certificates of the proxy's own keys now: (XML signature, mTLS).
    pub fn own_certificates(&self) -> (Certificate, Certificate) {
        let current = self.link.current();
        (
            current.signer.certificate().clone(),
            current.mtls.certificate().clone(),
        )
    }

    /// What BACEN is trusted with now.
    pub fn trusted(&self) -> BacenTrust {
        self.link.current().trust.clone()
    }

    /// Presents the bank's renewed certificates from the next exchange on (the signature's in
    /// `KeyInfo`, the mTLS one on new connections); exchanges under way keep theirs. Each must
    /// certify the key in use; otherwise nothing changes. Returns whether anything changed.
    pub fn recertify(&self, signature: &Certificate, mtls: &Certificate) -> Result<bool, RecertifyError> {
        self.link.recertify(signature, mtls)
    }

    /// Trusts `new` from the next exchange on: new signature certificates apply to the next
    /// answer verified; new TLS anchors to new connections (the pool of the old client goes with
    /// it once the exchanges under way finish). Exchanges under way keep what they started with.
    /// Returns whether anything changed.
    pub fn reload(&self, new: &BacenTrust) -> Result<bool, RelayError> {
        self.link.reload(new)
    }

    /// Whether the relay sends and reads on ICOM's secondary channel now (it moved there after
    /// failing to reach the primary, and moves back when the primary answers).
    pub fn on_secondary_channel(&self) -> bool {
        self.link.on_secondary()
    }

    /// The family this relay serves.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// Readiness: the audit sink takes records and the signer signs (the token is there and
    /// logged in), within `limit`. BACEN's reachability is not part of it: a load balancer that
    /// took tasks out (and ECS that replaced them) because BACEN is away would recycle the whole
    /// fleet and lose nothing but time; [`Relay::reach_bacen`] says it apart.
    pub async fn check(&self, limit: Duration) -> Result<(), Unhealthy> {
        self.audit.health()?;
        let signer = Arc::clone(&self.link.current().signer);
        match tokio::time::timeout(limit, signer.sign(b"pix-proxy health check")).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(Unhealthy::Signer(e)),
            Err(_) => Err(Unhealthy::SignerSilent),
        }
    }

    /// Whether BACEN accepts a TCP connection within `limit` (a metric and an alarm, never a
    /// reason to take the task out of service).
    pub async fn reach_bacen(&self, limit: Duration) -> Result<(), Unhealthy> {
        let forwarder = Arc::clone(&self.link.current().forwarder);
        match forwarder.probe(limit).await {
            // The operator sees at once that traffic still flows, elsewhere.
            Err(Unhealthy::Bacen { endpoint, reason }) if self.on_secondary_channel() => {
                Err(Unhealthy::Bacen {
                    endpoint,
                    reason: format!("{reason}; sending and reading on ICOM's secondary channel"),
                })
            }
            other => other,
        }
    }

    /// Relays one request; always answers, and always leaves an audit record. The caller is
    /// the [`Caller`] in the request's extensions (none: unauthenticated).
    pub async fn handle(&self, req: Request<Bytes>) -> Response<Bytes> {
        self.relay(req).await.response
    }

    /// [`Relay::handle`], with the relay's own verdict on each message of BACEN's answer: what
    /// the stream consumer hands off as verified, never a header of the answer.
    pub async fn relay(&self, req: Request<Bytes>) -> Relayed {
        let _counted = self.audit.in_flight().map(InFlight::enter);
        let (parts, body) = req.into_parts();
        let draft = record::start(&parts, &self.key_id, Instant::now());
        let (response, sent, evidence) = match self.prepare(&parts, &body) {
            Err(refusal) => (refusal.response(), body, None),
            Ok((route, decoded)) => self.exchange(&parts, &route, body, decoded).await,
        };
        let verdicts = evidence.as_ref().map(|e| e.verdicts.clone()).unwrap_or_default();
        let response = draft
            .finish(self.profile, self.audit.as_ref(), response, &sent, evidence)
            .await;
        Relayed { response, verdicts }
    }

    /// Answers a request the front end refused before relaying it (e.g. a body over its memory
    /// bound, see [`collect_body`]), audited like every exchange.
    pub async fn refuse(&self, parts: http::request::Parts, refusal: Refusal) -> Response<Bytes> {
        let draft = record::start(&parts, &self.key_id, Instant::now());
        draft
            .finish(
                self.profile,
                self.audit.as_ref(),
                refusal.response(),
                &Bytes::new(),
                None,
            )
            .await
    }

    /// Before anything is signed or sent: the request line read by the grammar, the body
    /// decoded as it will be signed, and stage 0, whether the caller may do it for the
    /// participant every source of the request names.
    fn prepare(
        &self,
        parts: &http::request::Parts,
        body: &Bytes,
    ) -> Result<(Route, Option<sign::Decoded>), Refusal> {
        let route = Route::parse(self.profile, &parts.method, &parts.uri).map_err(|e| match e {
            RouteError::Path(why) => Refusal::new(Problem::InvalidPath, why),
            RouteError::Query(why) => Refusal::new(Problem::InvalidRequest, why),
        })?;
        if body.len() > self.max_body {
            let reason = format!("request body over {} bytes", self.max_body);
            return Err(Refusal::new(Problem::BodyTooLarge, reason));
        }
        let decoded = if !route.takes_body() {
            if !body.is_empty() {
                let reason = format!("{} {} takes no body", parts.method, route.name());
                return Err(Refusal::new(Problem::InvalidRequest, reason));
            }
            None
        } else {
            Some(sign::decode(&route, &parts.headers, body, self.max_body)?)
        };
        self.admit(parts, &route, decoded.as_ref())?;
        Ok((route, decoded))
    }

    /// Stage 0: whether the request's caller may do what it asks (the policy logs and counts a
    /// refusal).
    fn admit(
        &self,
        parts: &http::request::Parts,
        route: &Route,
        decoded: Option<&sign::Decoded>,
    ) -> Result<(), Refusal> {
        let need =
            Need::of(route, &parts.headers, decoded.map(|d| d.plain.as_slice())).map_err(|unclear| {
                match unclear {
                    Unclear::Disagree(why) => Refusal::new(Problem::ParticipantMismatch, why),
                    Unclear::Malformed(why) => Refusal::new(Problem::InvalidRequest, why),
                }
            })?;
        if matches!(self.callers, Callers::Open) {
            return Ok(());
        }
        let caller = parts
            .extensions
            .get::<Caller>()
            .unwrap_or(&Caller::Unauthenticated);
        self.callers.decide(caller, &need).map_err(|denied| {
            let problem = match denied.because {
                RefusedBecause::Unauthenticated => Problem::CallerUnauthenticated,
                _ => Problem::CallerForbidden,
            };
            Refusal::new(problem, denied.detail)
        })
    }

    /// sign → forward → verify: the answer for the bank service, the body sent to BACEN (the
    /// bank's own body when the exchange stopped before sending), and BACEN's answer as evidence.
    async fn exchange(
        &self,
        parts: &http::request::Parts,
        route: &Route,
        body: Bytes,
        decoded: Option<sign::Decoded>,
    ) -> (Response<Bytes>, Bytes, Option<Evidence>) {
        let current = self.link.current();
        let (trust, forwarder) = (&current.trust, &current.forwarder);
        let target = match forwarder.target(route) {
            Ok(t) => t,
            Err(refusal) => return (refusal.response(), body, None),
        };
        let sent = match decoded {
            None => Bytes::new(),
            Some(decoded) if !route.signs_body() || decoded.plain.is_empty() => {
                decoded.outgoing(self.profile)
            }
            Some(decoded) => {
                let signing = sign::Signing {
                    profile: self.profile,
                    signer: current.signer.as_ref(),
                    schemas: self.schemas.as_deref(),
                };
                match sign::request_body(&signing, &decoded).await {
                    Ok(b) => Bytes::from(b),
                    Err(refusal) => return (refusal.response(), body, None),
                }
            }
        };
        let sent_as = match self
            .link
            .send(&current, route, &parts.headers, target, sent.clone())
            .await
        {
            Ok(a) => a,
            Err(refusal) => return (refusal.response(), sent, None),
        };
        let verifier = Verifier {
            profile: self.profile,
            trust: &trust.signatures,
            max_body: self.max_body,
        };
        let judged = verifier.judge(sent_as.answer, route.answer_kind());
        let evidence = Evidence {
            bacen_body: judged.bacen_body,
            verification_error: judged.verification_error,
            verdicts: judged.verdicts,
            batch_id: sent_as.batch_id,
            channel: sent_as.channel.name(),
        };
        (judged.response, sent, Some(evidence))
    }
}

/// A relayed exchange: the answer for the bank, and the relay's verdict on each message of
/// BACEN's answer (the whole body, or each part of a multipart one, in order; empty when nothing
/// was verified: an unsigned answer, or no answer from BACEN).
pub struct Relayed {
    /// The answer, as [`Relay::handle`] gives it.
    pub response: Response<Bytes>,
    /// The verdicts.
    pub verdicts: Vec<Verdict>,
}

/// Collects a request body of at most `limit` bytes (the front ends' memory bound); past it, the
/// `413` refusal to answer with.
pub async fn collect_body<B>(body: B, limit: usize) -> Result<Bytes, Refusal>
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match Limited::new(body, limit).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e) => Err(Refusal::new(Problem::BodyTooLarge, format!("request body: {e}"))),
    }
}
