//! DICT (base `/api/v2`): a small in-memory directory that really works for what BACEN's DICT
//! homologation plays (DESIGN §6, from DICT's OpenAPI 2.x):
//!
//! - [`entries`]: create at `POST /entries/` (the OpenAPI's path, with the slash), get by key
//!   with the `PI-*` headers, update with `PUT /entries/{Key}`, delete with
//!   `POST /entries/{Key}/delete`, and `POST /keys/check` (which of a list of keys exist);
//! - [`claims`]: portability and ownership claims at `POST /claims/`, acknowledged and confirmed
//!   by the donor, completed by the claimer (the key moves), cancelled by either;
//! - [`cases`]: infraction reports and refunds of settled payments, each with its life cycle.
//!
//! Write requests must carry a valid DICT-profile signature of the calling participant (else `400
//! RequestSignatureInvalid`) and may act only for the caller's own participant (`403`); requests
//! are rate-limited per operation ([`limits`], `429 RateLimited`); compressed requests
//! are refused (DICT takes none); every answer, errors included, is signed. Other DICT resources
//! answer a signed `501` problem, not a fake success.

mod cases;
mod cids;
mod claims;
mod entries;
pub mod limits;
mod recoveries;

use std::sync::Mutex;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use pix_xmldsig::dsig::{self, Profile};
use pix_xmldsig::xml::{self, Document, Limits};
use proxy_core::service::PeerCertificate;

use crate::find::text as field;
use crate::wire::unix_now;
use crate::wire::{self, Body, respond, utc_now};
use crate::{Family, State};
use limits as dict_limits;

/// The directory.
#[derive(Default)]
pub struct Dict {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: std::collections::HashMap<String, entries::Entry>,
    claims: std::collections::HashMap<String, claims::Claim>,
    cases: std::collections::HashMap<String, cases::Case>,
    /// Every change of a participant's CID sets, in order.
    cid_events: Vec<entries::Event>,
    /// CID set files made, their ids their positions from 1.
    cid_files: Vec<cids::File>,
    /// Sync verifications made (their ids count them).
    sync_verifications: u64,
    /// Funds recoveries (MED 2.0) by id.
    recoveries: std::collections::HashMap<String, recoveries::Recovery>,
    /// `createEntry`'s `RequestId`s by participant: the key each created and the `<Entry>` it
    /// asked for (idempotence).
    entry_requests: std::collections::HashMap<(String, String), (String, String)>,
}

impl Inner {
    /// Whether an open claim locks `key`'s entry.
    fn claim_open_on(&self, key: &str) -> bool {
        self.claims.values().any(|c| c.is_open_on(key))
    }
}

impl Dict {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A refusal: status, DICT's error type, and why.
type Refusal = (StatusCode, &'static str, String);

/// The error types the simulator answers, with their statuses: DICT's OpenAPI 2.12.1's table of
/// errors (`info.description`, "Erros"); `scripts/dict_spec.py` checks every answer against it.
const ERRORS: &[(&str, u16)] = &[
    ("BadRequest", 400),
    ("Forbidden", 403),
    ("NotFound", 404),
    ("RequestIdAlreadyUsed", 400),
    ("InvalidReason", 400),
    ("EntryInvalid", 400),
    ("EntryAlreadyExists", 400),
    ("EntryKeyOwnedByDifferentPerson", 400),
    ("EntryKeyInCustodyOfDifferentParticipant", 400),
    ("EntryLockedByClaim", 400),
    ("ClaimInvalid", 400),
    ("ClaimKeyNotFound", 404),
    ("ClaimAlreadyExistsForKey", 400),
    ("ClaimOperationInvalid", 400),
    ("ClaimResolutionPeriodNotEnded", 400),
    ("ClaimCompletionPeriodNotEnded", 400),
    ("InfractionReportInvalid", 400),
    ("InfractionReportOperationInvalid", 400),
    ("InfractionReportTransactionNotFound", 400),
    ("InfractionReportAlreadyBeingProcessedForTransaction", 400),
    ("RefundInvalid", 400),
    ("RefundOperationInvalid", 400),
    ("RefundTransactionNotFound", 400),
    ("RefundAlreadyBeingProcessedForTransaction", 400),
    ("FundsRecoveryInvalid", 400),
    ("FundsRecoveryOperationInvalid", 400),
    ("FundsRecoveryTransactionNotIndexed", 400),
    ("FundsRecoveryForTransactionAlreadyExists", 400),
];

/// A refusal of DICT's error type `kind` (one of [`ERRORS`]) with its status.
fn error(kind: &'static str, why: impl Into<String>) -> Refusal {
    let status = ERRORS
        .iter()
        .find(|(k, _)| *k == kind)
        .and_then(|(_, s)| StatusCode::from_u16(*s).ok())
        .unwrap_or(StatusCode::BAD_REQUEST);
    (status, kind, why.into())
}

/// A DICT error document, signed like every DICT answer.
pub(crate) async fn problem(state: &State, status: StatusCode, kind: &str, detail: &str) -> Response<Body> {
    let body = wire::problem_xml(
        &format!("https://dict.pi.rsfn.net.br/api/v2/error/{kind}"),
        status,
        kind,
        detail,
    );
    signed(state, status, "application/problem+xml; charset=utf-8", body).await
}

async fn refused(state: &State, (status, kind, detail): Refusal) -> Response<Body> {
    problem(state, status, kind, &detail).await
}

async fn signed(state: &State, status: StatusCode, content_type: &str, xml: String) -> Response<Body> {
    match state.sign(xml.as_bytes(), Profile::Dict, Family::Dict).await {
        Ok(body) => respond(status, content_type, body),
        Err(e) => {
            tracing::error!(error = %e, "cannot sign a DICT answer");
            wire::empty(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// A signed DICT answer `<root>` with the response time, a correlation id and `inner`.
async fn ok(state: &State, status: StatusCode, root: &str, inner: &str) -> Response<Body> {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root}><ResponseTime>{}</ResponseTime><CorrelationId>{}</CorrelationId>{inner}</{root}>",
        utc_now(),
        wire::new_id()
    );
    signed(state, status, "application/xml; charset=utf-8", xml).await
}

/// The answer of an operation: `(status, root, inner)` signed, or a refusal.
async fn answer(state: &State, outcome: Result<(StatusCode, &str, String), Refusal>) -> Response<Body> {
    match outcome {
        Ok((status, root, inner)) => ok(state, status, root, &inner).await,
        Err(r) => refused(state, r).await,
    }
}

/// Serves one request to DICT's key-check server: `POST /api-np/v2/keys/check` (DICT's OpenAPI
/// 2.12.1 gives `checkKeys` its own server, `https://dict-np[-h].pi.rsfn.net.br:…/api-np/v2/`),
/// whose `CheckKeysRequest` carries no signature; the answer is signed like every DICT answer,
/// and the request draws on the `KEYS_CHECK` bucket.
pub(crate) async fn handle_key_check(state: &State, req: Request<Bytes>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let response = if req.method() == Method::POST && path == "/api-np/v2/keys/check" {
        let requester = requester(state, &req);
        match state.dict_limits.take(&requester, "KEYS_CHECK") {
            Err(wait) => {
                let detail = format!("KEYS_CHECK: no token left for {requester}, one in {wait} s");
                problem(state, StatusCode::TOO_MANY_REQUESTS, "RateLimited", &detail).await
            }
            Ok(()) => match xml::parse(req.body(), &Limits::default()) {
                Ok(doc) => answer(state, entries::check_keys(state, &doc)).await,
                Err(e) => problem(state, StatusCode::BAD_REQUEST, "BadRequest", &e.to_string()).await,
            },
        }
    } else {
        let detail = "the key-check server serves POST /api-np/v2/keys/check only";
        problem(state, StatusCode::NOT_FOUND, "NotFound", detail).await
    };
    tracing::info!(method = %req.method(), %path, status = response.status().as_u16(), "dict key check");
    response
}

/// Serves one DICT request.
pub(crate) async fn handle(state: &State, req: Request<Bytes>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let response = route(state, &req, &segments).await;
    tracing::info!(method = %req.method(), %path, status = response.status().as_u16(), "dict");
    response
}

/// Who calls: the hosted participant of the client certificate, else the lookup's
/// `PI-RequestingParticipant`, else nobody in particular (one shared rate-limit bucket).
fn requester(state: &State, req: &Request<Bytes>) -> String {
    caller(state, req)
        .or_else(|| {
            req.headers()
                .get("pi-requestingparticipant")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// The hosted participant whose client certificate the connection presented.
fn caller(state: &State, req: &Request<Bytes>) -> Option<String> {
    req.extensions()
        .get::<PeerCertificate>()
        .and_then(|c| state.participants.owner_of(&c.0))
        .map(str::to_string)
}

/// Who acts in a write: the participant the request names (its first `Participant`, as DICT's
/// write requests carry one), which must be the caller's own when its certificate is a hosted
/// participant's.
fn actor(state: &State, req: &Request<Bytes>, doc: &Document<'_>) -> Result<String, Refusal> {
    let named = field(doc, None, "Participant");
    match (caller(state, req), named) {
        (Some(c), Some(n)) if c != n => Err((
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!("the request acts for participant {n}, the caller is {c}"),
        )),
        (_, Some(n)) => Ok(n),
        (Some(c), None) => Ok(c),
        (None, None) => Err(bad_request("the request names no Participant")),
    }
}

async fn route(state: &State, req: &Request<Bytes>, segments: &[&str]) -> Response<Body> {
    let method = req.method().clone();
    let Some(rest) = segments.strip_prefix(&["api", "v2"]) else {
        return problem(
            state,
            StatusCode::NOT_FOUND,
            "NotFound",
            "DICT lives under /api/v2",
        )
        .await;
    };
    if rest == ["keys", "check"] {
        let detail = "keys/check is served by DICT's key-check server: POST /api-np/v2/keys/check";
        return problem(state, StatusCode::NOT_FOUND, "NotFound", detail).await;
    }
    let encoding = req
        .headers()
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !encoding.is_empty() && !encoding.eq_ignore_ascii_case("identity") {
        let detail = format!("Content-Encoding '{encoding}': DICT takes no compressed requests");
        return problem(
            state,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            &detail,
        )
        .await;
    }
    let requester = requester(state, req);
    let policy = dict_limits::policy_of(&method, rest, req.uri().query().unwrap_or(""));
    if let Some(policy) = policy
        && let Err(wait) = state.dict_limits.take(&requester, policy)
    {
        let detail = format!("{policy}: no token left for {requester}, one in {wait} s");
        return problem(state, StatusCode::TOO_MANY_REQUESTS, "RateLimited", &detail).await;
    }
    // A lookup also draws on its payer's anti-scan bucket (the end user: PI-PayerId).
    let user = match (&method, rest) {
        (&Method::GET, ["entries", key]) => req
            .headers()
            .get("pi-payerid")
            .and_then(|v| v.to_str().ok())
            .filter(|p| !p.is_empty())
            .map(|payer| (payer.to_string(), dict_limits::user_policy_of(key))),
        _ => None,
    };
    if let Some((payer, policy)) = &user
        && let Err(wait) = state.dict_limits.take(payer, policy)
    {
        let detail = format!("{policy}: no token left for payer {payer}, one in {wait} s");
        return problem(state, StatusCode::TOO_MANY_REQUESTS, "RateLimited", &detail).await;
    }
    let response = if matches!(method, Method::POST | Method::PUT) {
        write(state, req, &requester, rest).await
    } else {
        read(state, req, &requester, &method, rest).await
    };
    if response.status() == StatusCode::NOT_FOUND {
        if let Some(policy) = policy {
            state.dict_limits.not_found(&requester, policy);
        }
        if let Some((payer, policy)) = &user {
            state.dict_limits.not_found(payer, policy);
        }
    }
    response
}

/// A signed write: verified, parsed, its actor known, then served.
async fn write(state: &State, req: &Request<Bytes>, requester: &str, rest: &[&str]) -> Response<Body> {
    // Writes are signed by the caller: verify before anything else.
    let trust = state.participants.trust_for(requester);
    if let Err(e) = dsig::verify(req.body(), Profile::Dict, trust, unix_now()) {
        return problem(
            state,
            StatusCode::BAD_REQUEST,
            "RequestSignatureInvalid",
            &e.to_string(),
        )
        .await;
    }
    let doc = match xml::parse(req.body(), &Limits::default()) {
        Ok(d) => d,
        Err(e) => return problem(state, StatusCode::BAD_REQUEST, "BadRequest", &e.to_string()).await,
    };
    let actor = match actor(state, req, &doc) {
        Ok(a) => a,
        Err(r) => return refused(state, r).await,
    };
    let doc = &doc;
    if let Some(kind) = rest.first().and_then(|r| cases::Kind::of(r)) {
        let outcome = match rest {
            [_, ""] => cases::create(state, kind, doc, &actor),
            [_, id, action] => cases::act(state, kind, id, action, doc, &actor),
            _ => return unknown(state, rest[0]).await,
        };
        return answer(state, outcome).await;
    }
    let outcome = match (req.method(), rest) {
        (&Method::POST, ["entries", ""]) => entries::create(state, doc),
        (&Method::POST, ["entries"]) => Err((
            StatusCode::NOT_FOUND,
            "NotFound",
            "entries are created at POST /api/v2/entries/ (with the slash)".into(),
        )),
        (&Method::PUT, ["entries", key]) => entries::update(state, key, doc, &actor),
        (&Method::POST, ["entries", key, "delete"]) => entries::delete(state, key, &actor),
        (&Method::POST, ["claims", ""]) => claims::create(state, doc, &actor),
        (&Method::POST, ["funds-recoveries", ""]) => recoveries::create(state, doc, &actor),
        (&Method::POST, ["sync-verifications", ""]) => entries::verify_sync(state, doc, &actor),
        (&Method::POST, ["cids", "files", ""]) => cids::create_file(state, doc, &actor),
        (&Method::POST, ["funds-recoveries", id, action]) => recoveries::act(state, id, action, &actor),
        (&Method::POST, ["claims", id, action]) => claims::act(state, id, action, doc, &actor),
        (_, [resource, ..]) => return unknown(state, resource).await,
        _ => return unknown(state, "").await,
    };
    answer(state, outcome).await
}

/// A read: entries by key (with the `PI-*` headers), a claim, an infraction report or refund, or
/// the list of those a participant is part of.
async fn read(
    state: &State,
    req: &Request<Bytes>,
    requester: &str,
    method: &Method,
    rest: &[&str],
) -> Response<Body> {
    let outcome = match (method, rest) {
        (&Method::GET, ["entries", key]) => entries::get(state, req, key),
        (&Method::GET, ["cids", "entries", cid]) => entries::by_cid(state, cid, requester),
        (&Method::GET, ["cids", "events"]) => cids::events(state, requester, req.uri().query()),
        (&Method::GET, ["cids", "files", id]) => cids::get_file(state, id, requester),
        (&Method::GET, ["funds-recoveries", id]) => recoveries::read(state, id, None, requester),
        (&Method::GET, ["funds-recoveries", id, what]) => recoveries::read(state, id, Some(what), requester),
        (&Method::GET, ["policies", ""]) => policies(state, requester, None),
        (&Method::GET, ["policies", name]) => policies(state, requester, Some(name)),
        (&Method::GET, ["claims", ""]) => claims::list(state, requester, req.uri().query()),
        (&Method::GET, ["claims", id]) => claims::get(state, id, requester),
        (&Method::GET, [resource, id]) => match cases::Kind::of(resource) {
            Some(kind) if id.is_empty() => cases::list(state, kind, requester, req.uri().query()),
            Some(kind) => cases::get(state, kind, id, requester),
            None => return unknown(state, resource).await,
        },
        (_, [resource, ..]) => return unknown(state, resource).await,
        _ => return unknown(state, "").await,
    };
    answer(state, outcome).await
}

/// `GET /policies/` (bucketStates) and `GET /policies/{policy}` (getPolicy): the requester's
/// category and the state of its buckets, as DICT's OpenAPI 2.12.1 reports them.
fn policies(
    state: &State,
    requester: &str,
    name: Option<&str>,
) -> Result<(StatusCode, &'static str, String), Refusal> {
    let xml = |policy: &str| {
        state.dict_limits.state(requester, policy).map(|b| {
            format!(
                "<Policy><AvailableTokens>{}</AvailableTokens><Capacity>{}</Capacity><RefillTokens>{}</RefillTokens>\
                 <RefillPeriodSec>60</RefillPeriodSec><Name>{policy}</Name></Policy>",
                b.available.floor() as i64,
                b.capacity as i64,
                b.refill_per_minute as i64,
            )
        })
    };
    let category = format!("<Category>{}</Category>", state.config.dict_category);
    match name {
        None => {
            let all: String = state.dict_limits.names().iter().filter_map(|p| xml(p)).collect();
            Ok((
                StatusCode::OK,
                "ListPoliciesResponse",
                format!("{category}<Policies>{all}</Policies>"),
            ))
        }
        Some(name) => {
            let one = xml(name).ok_or_else(|| error("NotFound", format!("no policy {name}")))?;
            Ok((StatusCode::OK, "GetPolicyResponse", format!("{category}{one}")))
        }
    }
}

/// A path the simulator does not serve: `404 NotFound`, as DICT answers an unknown path (what is
/// not simulated is listed in docs/simulator.md).
async fn unknown(state: &State, resource: &str) -> Response<Body> {
    let detail = format!("no DICT resource '{resource}' here");
    problem(state, StatusCode::NOT_FOUND, "NotFound", &detail).await
}

/// A UUID (version 4): the ids of claims, infraction reports and refunds (DICT's OpenAPI 2.12.1:
/// `format: uuid`).
pub(super) fn uuid() -> String {
    let hex: Vec<char> = wire::new_id().chars().collect();
    let at = |i: usize| hex.get(i).copied().unwrap_or('0');
    let variant = match at(16) {
        '0' | '4' | '8' | 'c' => '8',
        '1' | '5' | '9' | 'd' => '9',
        '2' | '6' | 'a' | 'e' => 'a',
        _ => 'b',
    };
    let s: String = hex.iter().collect();
    format!(
        "{}-{}-4{}-{variant}{}-{}",
        &s[..8.min(s.len())],
        s.get(8..12).unwrap_or("0000"),
        s.get(13..16).unwrap_or("000"),
        s.get(17..20).unwrap_or("000"),
        s.get(20..32).unwrap_or("000000000000")
    )
}

/// A query's `name=value` pairs, in order (repeated names kept: `Status=OPEN&Status=CLOSED`).
fn query_params(query: Option<&str>) -> Vec<(&str, &str)> {
    query
        .unwrap_or("")
        .split('&')
        .filter_map(|p| p.split_once('='))
        .collect()
}

/// The `404` for a key the directory does not hold.
fn no_entry(key: &str) -> Refusal {
    (
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("no entry for key {key}"),
    )
}

/// A `400 BadRequest`, DICT's type for a request outside the OpenAPI's schema (a missing required
/// field or header).
fn bad_request(why: impl Into<String>) -> Refusal {
    (StatusCode::BAD_REQUEST, "BadRequest", why.into())
}

/// A `403 Forbidden`.
fn forbidden(why: impl Into<String>) -> Refusal {
    (StatusCode::FORBIDDEN, "Forbidden", why.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuids() {
        let id = uuid();
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12],
            "{id}"
        );
        assert!(
            parts[2].starts_with('4') && "89ab".contains(&parts[3][..1]),
            "{id}"
        );
    }
}
