//! A BACEN simulator for the PIX proxy's tests: SPI (ICOM) on 9191 and DICT on 8181 over mutual
//! TLS, a plain-HTTP control port on 7171 (`GET /check`, `POST /faults`), enforcing BACEN's rules
//! (DESIGN §6) rather than answering 200 to anything: every request signature is verified, only
//! whitelisted headers pass, ICOM's content types, stream and rate limits apply, and every answer
//! is signed.
//!
//! Start it in-process with [`Simulator::start`] (tests, `pix-dev demo`) or as the `simulator`
//! binary.

pub mod bucket;
pub mod catalog;
pub mod clearing;
pub mod dict;
pub mod dict_limits;
pub mod faults;
mod find;
pub mod participants;
pub mod pki;
pub mod spi;
pub mod tls;
pub mod wire;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use pix_xmldsig::dsig::{self, Profile};
use pix_xmldsig::signer::{Signer, SoftwareSigner};
use pix_xmldsig::trust::TrustStore;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::catalog::Catalog;
use crate::dict_limits::Policy;
use crate::faults::{Decision, Faults, Rng};
use crate::participants::{Participant, Registry};
use crate::pki::DevPki;
use crate::wire::{Body, empty, respond};

/// Where the simulator listens and who it is.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address every port binds to.
    pub bind: IpAddr,
    /// SPI (ICOM) port, 9191 by default; 0 picks a free one.
    pub spi_port: u16,
    /// DICT port, 8181 by default.
    pub dict_port: u16,
    /// Control port (plain HTTP: `/check`, `/faults`), 7171 by default.
    pub check_port: u16,
    /// TLS server certificate (chain) and key, PEM.
    pub tls_cert: PathBuf,
    /// TLS server key, PEM.
    pub tls_key: PathBuf,
    /// Certificates (CAs or the PSPs' own) that client certificates must chain to.
    pub client_roots: Vec<PathBuf>,
    /// BACEN's signature certificate and key, PEM: every answer is signed with them.
    pub sig_cert: PathBuf,
    /// BACEN's signature key.
    pub sig_key: PathBuf,
    /// The signature certificates of senders the simulator does not host: their requests are
    /// verified against them.
    pub psp_signature_certs: Vec<PathBuf>,
    /// The participants the simulator hosts (payments between them go through their streams);
    /// empty: every participant is answered for by the simulator.
    pub participants: Vec<Participant>,
    /// Message types and versions (envelope namespaces, `MsgDefIdr`).
    pub catalog: Catalog,
    /// DICT's token buckets per operation.
    pub dict_policies: Vec<Policy>,
    /// Simultaneous requests one participant may have on each side of ICOM (sends to `/msgs`;
    /// stream reads); the next gets `429` with `Retry-After: 1`. BACEN's answers in its public
    /// Q&A (bacen/pix-perguntas-e-respostas #236, #346, citing the Manual das Interfaces de
    /// Comunicação §2.2.2.10): 6. `0`: no limit.
    pub max_concurrent: usize,
    /// The signature identity BACEN changes to at a rollover (certificate, key), if any.
    pub sig_next: Option<(PathBuf, PathBuf)>,
    /// How long a stream GET waits for a message before `204`.
    pub stream_wait: Duration,
    /// How long the SPI waits for a hosted payee's pacs.002 before rejecting the payment `AB03`
    /// ([`clearing`]; the control port's `POST /payee-timeout?ms=N` changes it).
    pub payee_timeout: Duration,
    /// ICOM token bucket: capacity and refill per second.
    pub rate_capacity: f64,
    /// Tokens added per second.
    pub rate_refill: f64,
    /// Seed of the fault generator.
    pub seed: u64,
}

impl Config {
    /// The defaults of DESIGN §4 with the files of a [`DevPki`].
    pub fn with_pki(pki: &DevPki) -> Self {
        Config {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            spi_port: 9191,
            dict_port: 8181,
            check_port: 7171,
            tls_cert: pki.path("bacen-tls.cer"),
            tls_key: pki.path("bacen-tls.key"),
            client_roots: vec![pki.path("psp-ca.cer")],
            sig_cert: pki.path("bacen-sig.cer"),
            sig_key: pki.path("bacen-sig.key"),
            psp_signature_certs: vec![pki.path("psp-sig.cer")],
            participants: Vec::new(),
            catalog: Catalog::default(),
            dict_policies: dict_limits::default_policies(),
            // PKIs made before the rollover identity existed have none.
            sig_next: Some((pki.path("bacen-sig-next.cer"), pki.path("bacen-sig-next.key")))
                .filter(|(c, k)| c.exists() && k.exists()),
            stream_wait: Duration::from_secs(5),
            payee_timeout: Duration::from_secs(40),
            rate_capacity: 3750.0,
            rate_refill: 750.0,
            seed: 1,
            max_concurrent: 6,
        }
    }

    /// The same, every port 0 (free ports, for tests).
    pub fn ephemeral(pki: &DevPki) -> Self {
        Config {
            spi_port: 0,
            dict_port: 0,
            check_port: 0,
            stream_wait: Duration::from_millis(500),
            ..Config::with_pki(pki)
        }
    }
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// TLS files missing or inconsistent.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The signature key or certificates could not be loaded.
    #[error("signature identity: {0}")]
    Signature(String),
    /// A port could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The operating system's reason (e.g. address in use).
        reason: String,
    },
}

/// Which interface a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// SPI / ICOM.
    Spi,
    /// DICT.
    Dict,
}

/// State shared by every connection.
pub(crate) struct State {
    pub(crate) config: Config,
    pub(crate) participants: Registry,
    pub(crate) clearing: clearing::Clearing,
    pub(crate) dict_limits: dict_limits::Buckets,
    signer: SoftwareSigner,
    /// The identity of a rollover, when configured.
    next: Option<SoftwareSigner>,
    /// Signs answers when the `unknown_key` fault is on: nobody trusts it.
    rogue: SoftwareSigner,
    faults: Mutex<FaultState>,
    /// Requests under way per (participant, side: send or receive).
    in_flight: Mutex<HashMap<(String, bool), usize>>,
    /// What ICOM's send endpoint has seen.
    stats: Mutex<Stats>,
    pub(crate) spi: spi::Spi,
    pub(crate) dict: dict::Dict,
}

struct FaultState {
    spi: Faults,
    dict: Faults,
    rng: Rng,
    count: u64,
    /// Per family (SPI, DICT): signs with the rollover identity since `POST /rollover`.
    rolled: [bool; 2],
    /// Per family: the signature of the n-th answer signed from now is broken (`POST /break`).
    break_nth: [u64; 2],
    /// The n-th SPI send from now is answered `429` with this `Retry-After` (`POST /throttle`).
    throttle: Option<(u64, u64)>,
}

/// What ICOM's send endpoint has seen (`GET /stats` on the control port), so that tests can see
/// batching.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Requests to `/msgs`.
    pub requests: u64,
    /// Messages in them.
    pub messages: u64,
    /// Of the requests, those with more than one message.
    pub multipart_requests: u64,
    /// Requests refused for the concurrency limit.
    pub refused_concurrency: u64,
    /// The most simultaneous requests seen on one side of one participant.
    pub max_concurrent_seen: usize,
    /// Messages rejected with an admi.002.
    pub rejected: u64,
    /// Payments rejected `AB03` because the payee did not answer in time.
    pub timed_out: u64,
    /// Payments and refunds delivered to a hosted participant's stream.
    pub forwarded: u64,
    /// admi.002 received from participants (rejecting what they were sent).
    pub participant_rejections: u64,
}

/// Counts one request under way on a side of a participant until dropped.
struct Occupied<'a> {
    state: &'a State,
    key: (String, bool),
}

impl Drop for Occupied<'_> {
    fn drop(&mut self) {
        let mut m = self.state.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.key) {
            *n = n.saturating_sub(1);
        }
    }
}

impl State {
    fn faults(&self, family: Family) -> Faults {
        let f = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        match family {
            Family::Spi => f.spi.clone(),
            Family::Dict => f.dict.clone(),
        }
    }

    fn decide(&self, family: Family) -> (Decision, Faults) {
        let mut f = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        let faults = match family {
            Family::Spi => f.spi.clone(),
            Family::Dict => f.dict.clone(),
        };
        f.count += 1;
        let count = f.count;
        (f.rng.decide(&faults, count), faults)
    }

    /// Signs an answer with BACEN's key (the rollover identity once switched), or misbehaves as
    /// the faults of `family` say.
    pub(crate) async fn sign(&self, xml: &[u8], profile: Profile, family: Family) -> Result<Vec<u8>, String> {
        let faults = self.faults(family);
        let (rolled, break_this) = {
            let mut f = self.faults.lock().unwrap_or_else(|e| e.into_inner());
            let i = family as usize;
            let this = f.break_nth[i] == 1;
            f.break_nth[i] = f.break_nth[i].saturating_sub(1);
            (f.rolled[i], this)
        };
        let signer: &dyn Signer = match (&self.next, faults.unknown_key, rolled) {
            (_, true, _) => &self.rogue,
            (Some(next), false, true) => next,
            _ => &self.signer,
        };
        let mut signed = dsig::sign(xml, profile, signer)
            .await
            .map_err(|e| e.to_string())?;
        if faults.broken_signature || break_this {
            corrupt_signature_value(&mut signed);
        }
        Ok(signed)
    }

    /// Takes a place among the requests under way of `ispb` on one side, or `None` past the limit.
    fn occupy(&self, ispb: &str, send: bool) -> Option<Occupied<'_>> {
        let key = (ispb.to_string(), send);
        let mut m = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(key.clone()).or_default();
        let limit = self.config.max_concurrent;
        if limit > 0 && *n >= limit {
            drop(m);
            self.stats
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .refused_concurrency += 1;
            return None;
        }
        *n += 1;
        let now = *n;
        drop(m);
        let mut s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        s.max_concurrent_seen = s.max_concurrent_seen.max(now);
        Some(Occupied { state: self, key })
    }

    /// Changes the counters.
    pub(crate) fn count(&self, change: impl FnOnce(&mut Stats)) {
        change(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Counts a send of `messages` messages.
    pub(crate) fn count_send(&self, messages: usize) {
        let mut s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        s.requests += 1;
        s.messages += messages as u64;
        if messages > 1 {
            s.multipart_requests += 1;
        }
    }

    /// The `Retry-After` of a send the throttle control says to refuse now.
    fn throttled(&self) -> Option<u64> {
        let mut f = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        match f.throttle {
            Some((1, after)) => {
                f.throttle = None;
                Some(after)
            }
            Some((n, after)) => {
                f.throttle = Some((n - 1, after));
                None
            }
            None => None,
        }
    }

    /// `POST /rollover?family=spi|dict`: from now on that family's answers are signed with the
    /// rollover identity, as BACEN does at the hour it announced.
    fn rollover(&self, family: Family) -> Result<(), String> {
        if self.next.is_none() {
            return Err("no rollover identity is configured".into());
        }
        let mut f = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        f.rolled[family as usize] = true;
        tracing::info!(?family, "signature identity rolled over");
        Ok(())
    }

    /// `POST /break?family=spi|dict&nth=N`: the signature of the N-th answer of that family
    /// signed from now (1: the next) is broken, the others are not.
    fn break_nth(&self, family: Family, nth: u64) {
        let mut f = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        f.break_nth[family as usize] = nth;
    }
}

/// Changes one character of the `SignatureValue`: still base64, no longer the signature.
fn corrupt_signature_value(signed: &mut [u8]) {
    let marker = b"<ds:SignatureValue>";
    if let Some(i) = signed.windows(marker.len()).position(|w| w == marker) {
        let at = i + marker.len() + 10;
        if let Some(b) = signed.get_mut(at) {
            *b = if *b == b'A' { b'B' } else { b'A' };
        }
    }
}

/// A running simulator.
pub struct Simulator {
    /// Bound SPI address.
    pub spi: SocketAddr,
    /// Bound DICT address.
    pub dict: SocketAddr,
    /// Bound control address.
    pub check: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
    state: Arc<State>,
}

impl Simulator {
    /// Sets the faults of one endpoint, from a query such as
    /// `family=spi&latency_ms=200&error_rate=0.1&drop_rate=0.05&broken_signature=true&unknown_key=true`.
    pub fn set_faults(&self, query: &str) -> Result<(), String> {
        set_faults(&self.state, query)
    }

    /// Loads the identities, binds every port and starts serving.
    pub async fn start(config: Config) -> Result<Simulator, StartError> {
        let client_roots: Vec<&std::path::Path> = config.client_roots.iter().map(|p| p.as_path()).collect();
        let tls = tls::server_config(&config.tls_cert, &config.tls_key, &client_roots)?;
        let signer = SoftwareSigner::from_pem_files(&config.sig_key, &config.sig_cert)
            .map_err(|e| StartError::Signature(e.to_string()))?;
        let trust = TrustStore::from_pem_files(&config.psp_signature_certs)
            .map_err(|e| StartError::Signature(e.to_string()))?;
        let participants = Registry::load(&config.participants, trust).map_err(StartError::Signature)?;
        let rogue = rogue_signer().map_err(StartError::Signature)?;
        let next = match &config.sig_next {
            Some((cert, key)) => Some(
                SoftwareSigner::from_pem_files(key, cert)
                    .map_err(|e| StartError::Signature(e.to_string()))?,
            ),
            None => None,
        };
        let bind = |port| async move {
            let addr = SocketAddr::new(config.bind, port);
            TcpListener::bind(addr).await.map_err(|e| StartError::Bind {
                addr,
                reason: e.to_string(),
            })
        };
        let spi_listener = bind(config.spi_port).await?;
        let dict_listener = bind(config.dict_port).await?;
        let check_listener = bind(config.check_port).await?;
        let local = |l: &TcpListener| {
            l.local_addr().map_err(|e| StartError::Bind {
                addr: SocketAddr::new(config.bind, 0),
                reason: e.to_string(),
            })
        };
        let (spi_addr, dict_addr, check_addr) = (
            local(&spi_listener)?,
            local(&dict_listener)?,
            local(&check_listener)?,
        );
        let state = Arc::new(State {
            faults: Mutex::new(FaultState {
                spi: Faults::default(),
                dict: Faults::default(),
                rng: Rng::new(config.seed),
                count: 0,
                rolled: [false; 2],
                break_nth: [0; 2],
                throttle: None,
            }),
            in_flight: Mutex::new(HashMap::new()),
            stats: Mutex::new(Stats::default()),
            spi: spi::Spi::new(config.rate_capacity, config.rate_refill),
            dict: dict::Dict::default(),
            dict_limits: dict_limits::Buckets::new(&config.dict_policies),
            clearing: clearing::Clearing::new(config.payee_timeout),
            participants,
            config,
            signer,
            next,
            rogue,
        });
        let (shutdown, watch_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        tasks.spawn(serve(
            spi_listener,
            Some(acceptor.clone()),
            Arc::clone(&state),
            Some(Family::Spi),
            watch_rx.clone(),
        ));
        tasks.spawn(serve(
            dict_listener,
            Some(acceptor),
            Arc::clone(&state),
            Some(Family::Dict),
            watch_rx.clone(),
        ));
        tasks.spawn(serve(
            check_listener,
            None,
            Arc::clone(&state),
            None,
            watch_rx.clone(),
        ));
        tasks.spawn(expire_payments(Arc::clone(&state), watch_rx));
        tracing::info!(spi = %spi_addr, dict = %dict_addr, check = %check_addr, "simulator listening");
        Ok(Simulator {
            spi: spi_addr,
            dict: dict_addr,
            check: check_addr,
            shutdown,
            tasks,
            state,
        })
    }

    /// Stops accepting, lets in-flight requests finish (up to 10 s), and returns.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// The SPI's clock for payees that do not answer: every 100 ms, the late payments are rejected.
async fn expire_payments(state: Arc<State>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = tick.tick() => clearing::expire(&state).await,
            _ = stop.changed() => return,
        }
    }
}

fn rogue_signer() -> Result<SoftwareSigner, String> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(|e| e.to_string())?;
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Unknown signer");
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    SoftwareSigner::from_pem(key.serialize_pem().as_bytes(), cert.pem().as_bytes(), "rogue")
        .map_err(|e| e.to_string())
}

/// The error that makes hyper close a connection without an answer (the `drop` fault; the
/// test kit's fault proxy in front of AWS uses it too).
#[derive(Debug)]
pub struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for Dropped {}

async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    state: Arc<State>,
    family: Option<Family>,
    mut stop: watch::Receiver<bool>,
) {
    let service = service_fn(move |req| {
        let state = Arc::clone(&state);
        async move {
            match family {
                Some(f) => handle(state, f, req).await,
                None => Ok::<_, Dropped>(control(&state, req).await),
            }
        }
    });
    let stop = async move {
        let _ = stop.changed().await;
    };
    let serving = proxy_core::service::Serving {
        drain: Duration::from_secs(10),
        ..Default::default()
    };
    proxy_core::service::serve(listener, tls, service, stop, serving).await;
}

/// A request to SPI or DICT: faults first, then the endpoint.
async fn handle(
    state: Arc<State>,
    family: Family,
    req: http::Request<Incoming>,
) -> Result<http::Response<Body>, Dropped> {
    // ICOM's concurrency limit, counted from arrival (latency included, as a slow BACEN holds
    // the place), per participant and side.
    let side = (family == Family::Spi)
        .then(|| icom_side(req.method(), req.uri().path()))
        .flatten();
    let _place = match &side {
        Some((ispb, send)) => match state.occupy(ispb, *send) {
            Some(p) => Some(p),
            None => return Ok(too_many("simultaneous requests over the participant's limit", 1)),
        },
        None => None,
    };
    if matches!(side, Some((_, true)))
        && let Some(after) = state.throttled()
    {
        return Ok(too_many("throttled (control port)", after));
    }
    let (decision, faults) = state.decide(family);
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    match decision {
        Decision::Drop => return Err(Dropped),
        Decision::Fail(code) => {
            let status = http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
            return Ok(empty(status));
        }
        Decision::Serve => {}
    }
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, wire::MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            let detail = format!("cannot read the body: {e}");
            return Ok(match family {
                Family::Spi => spi::problem(http::StatusCode::PAYLOAD_TOO_LARGE, "bodyTooLarge", &detail),
                Family::Dict => {
                    dict::problem(
                        &state,
                        http::StatusCode::PAYLOAD_TOO_LARGE,
                        "BodyTooLarge",
                        &detail,
                    )
                    .await
                }
            });
        }
    };
    let request = http::Request::from_parts(parts, body);
    Ok(match family {
        Family::Spi => spi::handle(&state, request).await,
        Family::Dict => dict::handle(&state, request).await,
    })
}

/// The participant and side (true: send) of an ICOM request, if it is a send or a stream read.
fn icom_side(method: &http::Method, path: &str) -> Option<(String, bool)> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (&http::Method::POST, ["api", "v1", "in", ispb, "msgs"]) => Some((ispb.to_string(), true)),
        (_, ["api", "v1", "out", ispb, "stream", ..]) => Some((ispb.to_string(), false)),
        _ => None,
    }
}

/// `429` with `Retry-After` (ICOM's problem document).
fn too_many(detail: &str, retry_after: u64) -> http::Response<Body> {
    let mut r = spi::problem(http::StatusCode::TOO_MANY_REQUESTS, "tooManyRequests", detail);
    r.headers_mut()
        .insert(http::header::RETRY_AFTER, http::HeaderValue::from(retry_after));
    r
}

fn set_faults(state: &State, query: &str) -> Result<(), String> {
    let faults = Faults::from_query(query)?;
    let family = family_of(query)?;
    let mut f = state.faults.lock().unwrap_or_else(|e| e.into_inner());
    match family {
        Family::Spi => f.spi = faults,
        Family::Dict => f.dict = faults,
    }
    tracing::info!(%query, "faults set");
    Ok(())
}

/// The value of `key` in a control request's query.
fn param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|p| p.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// The family a control request names (`family=spi|dict`).
fn family_of(query: &str) -> Result<Family, String> {
    match query.split('&').find_map(|p| p.strip_prefix("family=")) {
        Some("spi") => Ok(Family::Spi),
        Some("dict") => Ok(Family::Dict),
        _ => Err("family=spi|dict is required".into()),
    }
}

/// The control port: `GET /check`, `POST /faults?family=spi|dict&…`, `DELETE /faults`,
/// `POST /rollover?family=…`, `POST /break?family=…&nth=N`, `POST /throttle?nth=N`,
/// `GET /stats`, `POST /echo?ispb=N` (BACEN's pibr.001 to a participant; answers its `MsgId`),
/// `GET /echo?id=M…` (`200` answered, `202` pending), `POST /payee-timeout?ms=N` (the SPI's
/// wait for a payee's pacs.002), `POST /dict-policy?name=P&capacity=C&refill_per_minute=R`
/// (replaces a DICT rate-limit policy, its buckets full again).
async fn control(state: &State, req: http::Request<Incoming>) -> http::Response<Body> {
    let query = req.uri().query().unwrap_or("").to_string();
    match (req.method().as_str(), req.uri().path()) {
        ("GET", "/check") => respond(http::StatusCode::OK, "text/plain", Bytes::from_static(b"ok\n")),
        ("POST", "/faults") => match set_faults(state, &query) {
            Ok(()) => empty(http::StatusCode::NO_CONTENT),
            Err(e) => respond(http::StatusCode::BAD_REQUEST, "text/plain", format!("{e}\n")),
        },
        ("POST", "/rollover") => match family_of(&query).and_then(|f| state.rollover(f)) {
            Ok(()) => empty(http::StatusCode::NO_CONTENT),
            Err(e) => respond(http::StatusCode::BAD_REQUEST, "text/plain", format!("{e}\n")),
        },
        ("POST", "/break") => {
            let nth = query
                .split('&')
                .find_map(|p| p.strip_prefix("nth="))
                .map_or(Ok(1), str::parse::<u64>);
            match (family_of(&query), nth) {
                (Ok(f), Ok(n)) if n > 0 => {
                    state.break_nth(f, n);
                    empty(http::StatusCode::NO_CONTENT)
                }
                (Err(e), _) => respond(http::StatusCode::BAD_REQUEST, "text/plain", format!("{e}\n")),
                _ => respond(http::StatusCode::BAD_REQUEST, "text/plain", "nth=N, N >= 1\n"),
            }
        }
        ("POST", "/throttle") => {
            let get = |k: &str| {
                query
                    .split('&')
                    .find_map(|p| p.strip_prefix(k))
                    .map(str::parse::<u64>)
            };
            match (get("nth="), get("retry_after=")) {
                (Some(Ok(n)), after) if n > 0 => {
                    let after = after.and_then(Result::ok).unwrap_or(1);
                    state.faults.lock().unwrap_or_else(|e| e.into_inner()).throttle = Some((n, after));
                    empty(http::StatusCode::NO_CONTENT)
                }
                _ => respond(
                    http::StatusCode::BAD_REQUEST,
                    "text/plain",
                    "nth=N (N >= 1)[&retry_after=S]\n",
                ),
            }
        }
        ("GET", "/stats") => {
            let s = state.stats.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let body = format!(
                "{{\"requests\":{},\"messages\":{},\"multipart_requests\":{},\"refused_concurrency\":{},\"max_concurrent_seen\":{},\"rejected\":{},\"timed_out\":{},\"forwarded\":{},\"participant_rejections\":{}}}\n",
                s.requests,
                s.messages,
                s.multipart_requests,
                s.refused_concurrency,
                s.max_concurrent_seen,
                s.rejected,
                s.timed_out,
                s.forwarded,
                s.participant_rejections
            );
            respond(http::StatusCode::OK, "application/json", body)
        }
        ("POST", "/echo") => match query.split('&').find_map(|p| p.strip_prefix("ispb=")) {
            Some(ispb) if ispb.len() == 8 && ispb.bytes().all(|b| b.is_ascii_digit()) => {
                match clearing::echo(state, ispb).await {
                    Ok(id) => respond(http::StatusCode::CREATED, "text/plain", format!("{id}\n")),
                    Err(e) => respond(
                        http::StatusCode::INTERNAL_SERVER_ERROR,
                        "text/plain",
                        format!("{e}\n"),
                    ),
                }
            }
            _ => respond(http::StatusCode::BAD_REQUEST, "text/plain", "ispb=NNNNNNNN\n"),
        },
        ("GET", "/echo") => {
            let id = query.split('&').find_map(|p| p.strip_prefix("id=")).unwrap_or("");
            match clearing::echo_answered(state, id) {
                Some(true) => respond(http::StatusCode::OK, "text/plain", "answered\n"),
                Some(false) => respond(http::StatusCode::ACCEPTED, "text/plain", "pending\n"),
                None => respond(http::StatusCode::NOT_FOUND, "text/plain", "no such echo\n"),
            }
        }
        ("POST", "/payee-timeout") => match param(&query, "ms").map(str::parse::<u64>) {
            Some(Ok(ms)) => {
                state.clearing.set_timeout(Duration::from_millis(ms));
                empty(http::StatusCode::NO_CONTENT)
            }
            _ => respond(http::StatusCode::BAD_REQUEST, "text/plain", "ms=N\n"),
        },
        ("POST", "/dict-policy") => {
            let number = |k| param(&query, k).and_then(|v| v.parse::<f64>().ok());
            match (
                param(&query, "name"),
                number("capacity"),
                number("refill_per_minute"),
            ) {
                (Some(name), Some(capacity), Some(refill)) if capacity >= 1.0 && refill >= 0.0 => {
                    state.dict_limits.replace(Policy::new(name, capacity, refill));
                    empty(http::StatusCode::NO_CONTENT)
                }
                _ => respond(
                    http::StatusCode::BAD_REQUEST,
                    "text/plain",
                    "name=P&capacity=C&refill_per_minute=R (C >= 1, R >= 0)\n",
                ),
            }
        }
        ("DELETE", "/faults") => {
            let mut f = state.faults.lock().unwrap_or_else(|e| e.into_inner());
            f.spi = Faults::default();
            f.dict = Faults::default();
            empty(http::StatusCode::NO_CONTENT)
        }
        _ => empty(http::StatusCode::NOT_FOUND),
    }
}
