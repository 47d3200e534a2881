//! SPI / ICOM (base `/api/v1`): send (`POST /in/{ispb}/msgs`, one message or up to ten as
//! multipart/mixed, optionally gzip'd, each signature verified), receive (`GET
//! /out/{ispb}/stream/start`, long poll, `PI-Pull-Next` acknowledging the batch before it, `204`
//! when nothing comes, `DELETE` ending the stream, at most six streams), catalogs, BACEN's header
//! whitelist, content types and token bucket: the transport, answered at once. What the SPI does
//! with each message (and its asynchronous admi.002 rejections) is [`crate::clearing`]'s.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use pix_schemas::{Invalid, Stage};
use pix_xmldsig::dsig::{self, Profile};
use pix_xmldsig::xml::{self, Limits};
use proxy_core::service::PeerCertificate;
use tokio::sync::Notify;

use crate::State;
use crate::bucket::{SecondaryBuckets, TokenBucket};
use crate::catalog::Inbound;
use crate::clearing::{self, Reason};
use crate::wire::{self, Body, Part, empty, respond, unix_now};

mod stream;

use stream::{end_stream, pull, start_stream};

pub use crate::catalog::BCB_ISPB;
/// Streams one participant may hold open.
pub const MAX_STREAMS: usize = 6;
/// Messages in one send or one multipart delivery.
pub const MAX_BATCH: usize = 10;

/// Which of ICOM's channels a request came to. Both reach the same ICOM (its messages, outboxes and
/// streams); the secondary one has its own token buckets and takes only gzip'd sends and reads
/// (DESIGN §6: the contingency channel, as participants quote BACEN's Manual das Interfaces de
/// Comunicação).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// The primary channel.
    Primary,
    /// The secondary (contingency) channel.
    Secondary,
}

/// ICOM's state: received messages, per-participant outboxes, open streams, the token buckets.
pub struct Spi {
    inner: Mutex<Inner>,
    arrived: Notify,
}

struct Inner {
    received: HashMap<String, Bytes>,
    outbox: HashMap<String, VecDeque<Outbound>>,
    streams: HashMap<String, Stream>,
    bucket: TokenBucket,
    secondary: SecondaryBuckets,
}

#[derive(Clone)]
struct Outbound {
    resource_id: String,
    body: Vec<u8>,
}

struct Stream {
    ispb: String,
    in_flight: Vec<Outbound>,
    touched: Instant,
}

impl Spi {
    /// An empty ICOM with a token bucket of `capacity` tokens refilled at `refill` per second.
    pub fn new(capacity: f64, refill: f64) -> Self {
        Spi {
            inner: Mutex::new(Inner {
                received: HashMap::new(),
                outbox: HashMap::new(),
                streams: HashMap::new(),
                bucket: TokenBucket::new(capacity, refill),
                secondary: SecondaryBuckets::new(),
            }),
            arrived: Notify::new(),
        }
    }

    /// Puts a message on `ispb`'s stream.
    pub(crate) fn push(&self, ispb: &str, body: Vec<u8>) {
        let out = Outbound {
            resource_id: wire::new_id(),
            body,
        };
        self.lock()
            .outbox
            .entry(ispb.to_string())
            .or_default()
            .push_back(out);
        self.arrived.notify_waiters();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes `cost` tokens from `channel`'s bucket, or says how many seconds until there are
    /// enough.
    fn spend(&self, cost: f64, channel: Channel) -> Result<(), u64> {
        let mut inner = self.lock();
        match channel {
            Channel::Primary => inner.bucket.take(cost),
            Channel::Secondary => inner.secondary.take(cost, std::time::SystemTime::now()),
        }
    }
}

/// An ICOM error: `application/problem+xml`.
pub fn problem(status: StatusCode, code: &str, detail: &str) -> Response<Body> {
    let body = wire::problem_xml(
        &format!("https://icom.pi.rsfn.net.br/api/v1/error/{code}"),
        status,
        code,
        detail,
    );
    respond(status, "application/problem+xml; charset=utf-8", body)
}

/// Serves one SPI request that came to `channel`.
pub(crate) async fn handle(state: &State, req: Request<Bytes>, channel: Channel) -> Response<Body> {
    if let Some(reason) = wire::refused_header(req.headers()) {
        return problem(StatusCode::BAD_REQUEST, "invalidHeader", &reason);
    }
    if channel == Channel::Secondary {
        state.count(|s| s.secondary_requests += 1);
        if let Some(refused) = secondary_refuses(&req) {
            return refused;
        }
    }
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // The catalogs (`/api/v1/in/catalog`) belong to no participant.
    if let ["api", "v1", "in" | "out", ispb, ..] = segments.as_slice()
        && is_ispb(ispb)
    {
        let certificate = req.extensions().get::<PeerCertificate>().map(|c| c.0.as_slice());
        if let Some(why) = state.participants.refuse(certificate, ispb) {
            return problem(StatusCode::FORBIDDEN, "forbidden", &why);
        }
    }
    let response = match (req.method(), segments.as_slice()) {
        (&Method::POST, ["api", "v1", "in", ispb, "msgs"]) if is_ispb(ispb) => {
            send(state, ispb, &req, channel).await
        }
        (&Method::GET, ["api", "v1", "out", ispb, "stream", "start"]) if is_ispb(ispb) => {
            start_stream(state, ispb, &req).await
        }
        (&Method::GET, ["api", "v1", "out", ispb, "stream", id]) if is_ispb(ispb) => {
            pull(state, ispb, id, &req).await
        }
        (&Method::DELETE, ["api", "v1", "out", ispb, "stream", id]) if is_ispb(ispb) => {
            end_stream(state, ispb, id)
        }
        (&Method::GET, ["api", "v1", "in", "catalog"]) => catalog(
            state,
            &[
                "pacs.008", "pacs.002", "pacs.004", "camt.060", "pibr.001", "pibr.002", "admi.002",
            ],
        ),
        (&Method::GET, ["api", "v1", "out", "catalog"]) => catalog(
            state,
            &[
                "pacs.008", "pacs.002", "pacs.004", "admi.002", "pibr.001", "pibr.002",
            ],
        ),
        _ => problem(
            StatusCode::NOT_FOUND,
            "notFound",
            &format!("no ICOM resource {} {path}", req.method()),
        ),
    };
    tracing::info!(method = %req.method(), %path, ?channel, status = response.status().as_u16(), "spi");
    response
}

/// The secondary channel's own rule: gzip is mandatory there (DESIGN §6), so a send must come
/// gzip'd (`415` otherwise) and a stream read must accept gzip (`406` otherwise).
fn secondary_refuses(req: &Request<Bytes>) -> Option<Response<Body>> {
    let path = req.uri().path();
    if *req.method() == Method::POST
        && path.ends_with("/msgs")
        && !header(req, http::header::CONTENT_ENCODING).eq_ignore_ascii_case("gzip")
    {
        return Some(problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupportedEncoding",
            "the secondary channel takes only gzip'd sends (Content-Encoding: gzip)",
        ));
    }
    if *req.method() == Method::GET
        && path.contains("/stream/")
        && !header(req, http::header::ACCEPT_ENCODING).contains("gzip")
    {
        return Some(problem(
            StatusCode::NOT_ACCEPTABLE,
            "notAcceptable",
            "the secondary channel answers stream reads gzip'd only (Accept-Encoding: gzip)",
        ));
    }
    None
}

fn is_ispb(s: &str) -> bool {
    s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit())
}

fn header(req: &Request<Bytes>, name: http::header::HeaderName) -> &str {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// `application/xml; charset=utf-8` (charset optional, case and spaces free).
fn is_xml(content_type: &str) -> bool {
    let mut parts = content_type.split(';').map(|p| p.trim().to_ascii_lowercase());
    parts.next().as_deref() == Some("application/xml")
        && parts.all(|p| p == "charset=utf-8" || p == "charset=\"utf-8\"")
}

/// The messages of a send: one XML body, or the parts of a multipart/mixed one.
fn messages(req: &Request<Bytes>) -> Result<Vec<Vec<u8>>, Box<Response<Body>>> {
    let body = match header(req, http::header::CONTENT_ENCODING) {
        "" | "identity" => req.body().to_vec(),
        "gzip" => wire::gunzip(req.body())
            .map_err(|e| Box::new(problem(StatusCode::BAD_REQUEST, "invalidBody", &e.to_string())))?,
        other => {
            return Err(Box::new(problem(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupportedEncoding",
                &format!("Content-Encoding '{other}' (only gzip)"),
            )));
        }
    };
    let content_type = header(req, http::header::CONTENT_TYPE);
    if is_xml(content_type) {
        return Ok(vec![body]);
    }
    let Some(boundary) = wire::boundary(content_type) else {
        return Err(Box::new(problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupportedMediaType",
            &format!(
                "Content-Type '{content_type}' (expected application/xml; charset=utf-8 or multipart/mixed)"
            ),
        )));
    };
    let parts = wire::parse_multipart(&body, &boundary)
        .map_err(|e| Box::new(problem(StatusCode::BAD_REQUEST, "invalidBody", &e.to_string())))?;
    if parts.is_empty() || parts.len() > MAX_BATCH {
        return Err(Box::new(problem(
            StatusCode::BAD_REQUEST,
            "invalidBody",
            &format!(
                "a multipart send holds 1 to {MAX_BATCH} messages, not {}",
                parts.len()
            ),
        )));
    }
    parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            if p.header("content-encoding").is_some() {
                return Err(Box::new(problem(
                    StatusCode::BAD_REQUEST,
                    "invalidBody",
                    &format!("part {} is compressed on its own", i + 1),
                )));
            }
            if !is_xml(p.header("content-type").unwrap_or("")) {
                return Err(Box::new(problem(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupportedMediaType",
                    &format!("part {} is not application/xml; charset=utf-8", i + 1),
                )));
            }
            Ok(p.body)
        })
        .collect()
}

/// The checks the SPI makes on each message after ICOM accepted it; a failure is answered later
/// with an admi.002 (DESIGN §6), never with the send's status.
fn check(state: &State, sender: &str, message: &[u8], now: i64) -> Result<Inbound, (Reason, String)> {
    let doc = xml::parse(message, &Limits::default()).map_err(|e| (Reason::InvalidXml, e.to_string()))?;
    let msg = Inbound::read(&doc).map_err(|e| (Reason::InvalidEnvelope, e))?;
    check_version(state, &msg, message)?;
    if msg.from != sender {
        let why = format!("AppHdr/Fr is {}, the message came from {sender}", msg.from);
        return Err((Reason::WrongAddress, why));
    }
    if msg.to != BCB_ISPB {
        let why = format!("AppHdr/To is {}, not BACEN ({BCB_ISPB})", msg.to);
        return Err((Reason::WrongAddress, why));
    }
    dsig::verify(message, Profile::Spi, state.participants.trust_for(sender), now)
        .map_err(|e| (Reason::InvalidSignature, e.to_string()))?;
    Ok(msg)
}

/// The version check: against BACEN's schemas when the type has them (the message must be
/// valid against the schema of the version it declares, BACEN's "Schema desconhecido ou não
/// habilitado para uso" otherwise), else against the configured version.
fn check_version(state: &State, msg: &Inbound, message: &[u8]) -> Result<(), (Reason, String)> {
    let catalog = &state.config.catalog;
    let declared = format!("{}.spi.{}", msg.kind, msg.version);
    if let Some(schemas) = &state.schemas
        && catalog.is_checked(&msg.kind)
    {
        schemas.validate(message, Stage::Signed).map_err(|e| match e {
            Invalid::NotEnabled(t) => (
                Reason::SchemaNotEnabled,
                format!(
                    "Schema desconhecido ou não habilitado para uso: {}",
                    t.msg_def_idr()
                ),
            ),
            other => (Reason::InvalidSchema, other.to_string()),
        })?;
        if msg.msg_def_idr != declared {
            let why = format!("MsgDefIdr '{}' in a {declared} envelope", msg.msg_def_idr);
            return Err((Reason::WrongVersion, why));
        }
        return Ok(());
    }
    let Some(version) = catalog.version(&msg.kind) else {
        return Err((Reason::UnknownType, format!("{} is not in the catalog", msg.kind)));
    };
    let def = catalog.msg_def_idr(&msg.kind);
    if msg.version != version || msg.msg_def_idr != def {
        let why = format!(
            "{} {} with MsgDefIdr '{}': the catalog's is {version} ({def})",
            msg.kind, msg.version, msg.msg_def_idr
        );
        return Err((Reason::WrongVersion, why));
    }
    Ok(())
}

async fn send(state: &State, ispb: &str, req: &Request<Bytes>, channel: Channel) -> Response<Body> {
    let messages = match messages(req) {
        Ok(m) => m,
        Err(r) => return *r,
    };
    state.count_send(messages.len());
    let now = unix_now();
    let checked: Vec<Result<Inbound, (Reason, String)>> =
        messages.iter().map(|m| check(state, ispb, m, now)).collect();
    let cost: f64 = checked
        .iter()
        .map(|c| c.as_ref().map_or(1.0, |m| crate::bucket::cost_of(&m.kind)))
        .sum();
    if let Err(wait) = state.spi.spend(cost, channel) {
        let mut r = problem(
            StatusCode::TOO_MANY_REQUESTS,
            "tooManyRequests",
            "token bucket empty",
        );
        r.headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from(wait));
        return r;
    }
    let mut ids = Vec::with_capacity(messages.len());
    for (m, checked) in messages.iter().zip(checked) {
        let id = wire::new_id();
        state
            .spi
            .lock()
            .received
            .insert(id.clone(), Bytes::copy_from_slice(m));
        match checked {
            Ok(msg) => clearing::route(state, ispb, &id, &msg).await,
            Err((reason, why)) => clearing::reject(state, ispb, &id, reason, &why).await,
        }
        ids.push(id);
    }
    let mut r = empty(StatusCode::CREATED);
    if let Ok(v) = HeaderValue::from_str(&ids.join(",")) {
        r.headers_mut().insert("pi-resourceid", v);
    }
    r
}

fn catalog(state: &State, types: &[&str]) -> Response<Body> {
    let items: String = types
        .iter()
        .flat_map(|t| state.config.catalog.msg_def_idrs(t))
        .map(|def| format!("<MsgDefIdr>{def}</MsgDefIdr>"))
        .collect();
    respond(
        StatusCode::OK,
        "application/xml; charset=utf-8",
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Catalog>{items}</Catalog>"),
    )
}
