//! DICT (base `/api/v2`): a small in-memory directory that really works for `entries` (create at
//! `POST /entries/` — the OpenAPI's path, with the slash —, get by key with the `PI-*` headers,
//! update with `PUT /entries/{Key}`, delete) and `claims` (create at `POST /claims/`, acknowledge,
//! confirm, cancel, complete). Write requests must carry a valid DICT-profile signature of the
//! calling participant (else `400 RequestSignatureInvalid`); requests are rate-limited per
//! operation ([`crate::dict_limits`], `429 RateLimited`); compressed requests are refused (DICT
//! takes none); every answer, errors included, is signed. Other DICT resources answer a signed
//! `501` problem, not a fake success. (DESIGN §6, from DICT's OpenAPI 2.x.)

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use proxy_core::dsig::{self, Profile};
use proxy_core::service::PeerCertificate;
use proxy_core::xml::{self, Document, Limits, NodeId};

use crate::dict_limits;
use crate::spi::{field, unix_now};
use crate::wire::{self, Body, escape, respond, utc_now};
use crate::{Family, State};

/// The directory.
#[derive(Default)]
pub struct Dict {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    claims: HashMap<String, Claim>,
}

struct Entry {
    participant: String,
    /// The `<Entry>` element's content as the owner last sent it.
    fields: String,
    /// When it was created (kept across updates).
    created: String,
}

impl Entry {
    /// The `<Entry>` DICT answers with: the owner's fields and the dates.
    fn xml(&self) -> String {
        format!(
            "<Entry>{}<CreationDate>{}</CreationDate><KeyOwnershipDate>{}</KeyOwnershipDate></Entry>",
            self.fields, self.created, self.created
        )
    }
}

struct Claim {
    status: &'static str,
    /// The request's claim fields (`Type`, `Key`, `KeyType`, `ClaimerAccount`, `Claimer`).
    fields: String,
    donor: String,
    created: String,
}

impl Dict {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
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

async fn signed(state: &State, status: StatusCode, content_type: &str, xml: String) -> Response<Body> {
    match state.sign(xml.as_bytes(), Profile::Dict, Family::Dict).await {
        Ok(body) => respond(status, content_type, body),
        Err(e) => {
            tracing::error!(error = %e, "cannot sign a DICT answer");
            wire::empty(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

async fn ok(state: &State, status: StatusCode, root: &str, inner: &str) -> Response<Body> {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root}><ResponseTime>{}</ResponseTime><CorrelationId>{}</CorrelationId>{inner}</{root}>",
        utc_now(),
        wire::new_id()
    );
    signed(state, status, "application/xml; charset=utf-8", xml).await
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
    req.extensions()
        .get::<PeerCertificate>()
        .and_then(|c| state.participants.owner_of(&c.0))
        .map(str::to_string)
        .or_else(|| {
            req.headers()
                .get("pi-requestingparticipant")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default()
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
    let policy = dict_limits::policy_of(&method, rest);
    if let Some(policy) = policy
        && let Err(wait) = state.dict_limits.take(&requester, policy)
    {
        let detail = format!("{policy}: no token left for {requester}, one in {wait} s");
        return problem(state, StatusCode::TOO_MANY_REQUESTS, "RateLimited", &detail).await;
    }
    // Writes are signed by the caller: verify before anything else.
    let doc = if matches!(method, Method::POST | Method::PUT) {
        let trust = state.participants.trust_for(&requester);
        if let Err(e) = dsig::verify(req.body(), Profile::Dict, trust, unix_now()) {
            return problem(
                state,
                StatusCode::BAD_REQUEST,
                "RequestSignatureInvalid",
                &e.to_string(),
            )
            .await;
        }
        match xml::parse(req.body(), &Limits::default()) {
            Ok(d) => Some(d),
            Err(e) => return problem(state, StatusCode::BAD_REQUEST, "InvalidRequest", &e.to_string()).await,
        }
    } else {
        None
    };
    let response = match (method, rest, doc) {
        (Method::POST, ["entries", ""], Some(doc)) => create_entry(state, &doc).await,
        (Method::POST, ["entries"], _) => {
            let detail = "entries are created at POST /api/v2/entries/ (with the slash)";
            problem(state, StatusCode::NOT_FOUND, "NotFound", detail).await
        }
        (Method::GET, ["entries", key], None) => get_entry(state, req, key).await,
        (Method::PUT, ["entries", key], Some(doc)) => update_entry(state, key, &doc).await,
        (Method::POST, ["entries", key, "delete"], Some(_)) => delete_entry(state, key).await,
        (Method::POST, ["claims", ""], Some(doc)) => create_claim(state, &doc).await,
        (Method::POST, ["claims", id, action], Some(_)) => claim_action(state, id, action).await,
        (_, [resource, ..], _)
            if matches!(
                *resource,
                "keys"
                    | "sync-verifications"
                    | "cids"
                    | "infraction-reports"
                    | "refunds"
                    | "policies"
                    | "claims"
            ) =>
        {
            problem(
                state,
                StatusCode::NOT_IMPLEMENTED,
                "NotImplemented",
                "not simulated",
            )
            .await
        }
        _ => problem(state, StatusCode::NOT_FOUND, "NotFound", "no such DICT resource").await,
    };
    if response.status() == StatusCode::NOT_FOUND
        && let Some(policy) = policy
    {
        state.dict_limits.not_found(&requester, policy);
    }
    response
}

/// The first element with this local name.
fn element(doc: &Document<'_>, local: &str) -> Option<NodeId> {
    doc.elements()
        .find(|&e| doc.element(e).is_some_and(|el| doc.local(el) == local))
}

/// The source text of an element.
fn source(doc: &Document<'_>, id: NodeId) -> String {
    doc.element(id)
        .map(|e| doc.source()[e.span()].to_string())
        .unwrap_or_default()
}

/// The `Key` and `Participant` of an `<Entry>`, and its content as written.
fn entry_fields(doc: &Document<'_>) -> Result<(String, String, String), &'static str> {
    let entry = element(doc, "Entry").ok_or("no Entry")?;
    let key = field(doc, Some(entry), "Key").ok_or("Entry needs a Key")?;
    let participant = field(doc, Some(entry), "Participant").ok_or("Entry needs Account/Participant")?;
    let content = doc
        .element(entry)
        .map(|e| doc.source()[e.content()].to_string())
        .unwrap_or_default();
    Ok((key, participant, content))
}

async fn create_entry(state: &State, doc: &Document<'_>) -> Response<Body> {
    let (key, participant, fields) = match entry_fields(doc) {
        Ok(f) => f,
        Err(why) => return problem(state, StatusCode::BAD_REQUEST, "InvalidRequest", why).await,
    };
    let created = {
        let mut d = state.dict.lock();
        if d.entries.contains_key(&key) {
            None
        } else {
            let entry = Entry {
                participant,
                fields,
                created: utc_now(),
            };
            let xml = entry.xml();
            d.entries.insert(key.clone(), entry);
            Some(xml)
        }
    };
    match created {
        Some(xml) => ok(state, StatusCode::CREATED, "CreateEntryResponse", &xml).await,
        None => {
            let detail = format!("key {key} is already registered");
            problem(state, StatusCode::BAD_REQUEST, "EntryAlreadyExists", &detail).await
        }
    }
}

/// `PUT /entries/{Key}`: new account or owner data for a key, by the participant that holds it;
/// the key and its participant do not change here (that is a claim).
async fn update_entry(state: &State, key: &str, doc: &Document<'_>) -> Response<Body> {
    let (body_key, participant, fields) = match entry_fields(doc) {
        Ok(f) => f,
        Err(why) => return problem(state, StatusCode::BAD_REQUEST, "InvalidRequest", why).await,
    };
    if body_key != key {
        let detail = format!("the path's key is {key}, the Entry's {body_key}");
        return problem(state, StatusCode::BAD_REQUEST, "InvalidRequest", &detail).await;
    }
    let outcome = {
        let mut d = state.dict.lock();
        match d.entries.get_mut(key) {
            None => Err((
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("no entry for key {key}"),
            )),
            Some(e) if e.participant != participant => Err((
                StatusCode::FORBIDDEN,
                "Forbidden",
                format!("key {key} is held by {}, not {participant}", e.participant),
            )),
            Some(e) => {
                e.fields = fields;
                Ok(e.xml())
            }
        }
    };
    match outcome {
        Ok(xml) => ok(state, StatusCode::OK, "UpdateEntryResponse", &xml).await,
        Err((status, kind, detail)) => problem(state, status, kind, &detail).await,
    }
}

async fn get_entry(state: &State, req: &Request<Bytes>, key: &str) -> Response<Body> {
    if req.headers().get("pi-requestingparticipant").is_none() {
        return problem(
            state,
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "PI-RequestingParticipant header is required",
        )
        .await;
    }
    let found = state.dict.lock().entries.get(key).map(Entry::xml);
    match found {
        Some(xml) => ok(state, StatusCode::OK, "GetEntryResponse", &xml).await,
        None => no_entry(state, key).await,
    }
}

/// The signed 404 for a key the directory does not hold.
async fn no_entry(state: &State, key: &str) -> Response<Body> {
    problem(
        state,
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("no entry for key {key}"),
    )
    .await
}

async fn delete_entry(state: &State, key: &str) -> Response<Body> {
    let removed = state.dict.lock().entries.remove(key);
    match removed {
        Some(_) => {
            ok(
                state,
                StatusCode::OK,
                "DeleteEntryResponse",
                &format!("<Key>{}</Key>", escape(key)),
            )
            .await
        }
        None => no_entry(state, key).await,
    }
}

fn claim_xml(id: &str, c: &Claim) -> String {
    format!(
        "<Claim>{}<DonorParticipant>{}</DonorParticipant><Id>{id}</Id><Status>{}</Status>\
         <ResolutionPeriodEnd>{}</ResolutionPeriodEnd><CompletionPeriodEnd>{}</CompletionPeriodEnd>\
         <LastModified>{}</LastModified></Claim>",
        c.fields,
        escape(&c.donor),
        c.status,
        c.created,
        c.created,
        utc_now()
    )
}

async fn create_claim(state: &State, doc: &Document<'_>) -> Response<Body> {
    let Some(claim) = element(doc, "Claim") else {
        return problem(state, StatusCode::BAD_REQUEST, "InvalidRequest", "no Claim").await;
    };
    let Some(key) = field(doc, Some(claim), "Key") else {
        return problem(
            state,
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "Claim needs a Key",
        )
        .await;
    };
    let fields: String = doc.child_elements(claim).map(|c| source(doc, c)).collect();
    let id = wire::new_id();
    let xml = {
        let mut d = state.dict.lock();
        match d.entries.get(&key).map(|e| e.participant.clone()) {
            Some(donor) => {
                let c = Claim {
                    status: "OPEN",
                    fields,
                    donor,
                    created: utc_now(),
                };
                let xml = claim_xml(&id, &c);
                d.claims.insert(id, c);
                Some(xml)
            }
            None => None,
        }
    };
    match xml {
        Some(xml) => ok(state, StatusCode::CREATED, "CreateClaimResponse", &xml).await,
        None => no_entry(state, &key).await,
    }
}

/// The claim life cycle: OPEN → WAITING_RESOLUTION (acknowledge) → CONFIRMED (confirm) →
/// COMPLETED (complete); cancel from any state that is not final.
async fn claim_action(state: &State, id: &str, action: &str) -> Response<Body> {
    let (root, next): (&str, fn(&str) -> Option<&'static str>) = match action {
        "acknowledge" => ("AcknowledgeClaimResponse", |s| {
            (s == "OPEN").then_some("WAITING_RESOLUTION")
        }),
        "confirm" => ("ConfirmClaimResponse", |s| {
            (s == "WAITING_RESOLUTION").then_some("CONFIRMED")
        }),
        "complete" => ("CompleteClaimResponse", |s| {
            (s == "CONFIRMED").then_some("COMPLETED")
        }),
        "cancel" => ("CancelClaimResponse", |s| {
            (!matches!(s, "COMPLETED" | "CANCELLED")).then_some("CANCELLED")
        }),
        _ => {
            return problem(
                state,
                StatusCode::NOT_FOUND,
                "NotFound",
                &format!("no claim action {action}"),
            )
            .await;
        }
    };
    let outcome = {
        let mut d = state.dict.lock();
        match d.claims.get_mut(id) {
            None => Err((StatusCode::NOT_FOUND, "NotFound", format!("no claim {id}"))),
            Some(c) => match next(c.status) {
                Some(s) => {
                    c.status = s;
                    Ok(claim_xml(id, c))
                }
                None => Err((
                    StatusCode::BAD_REQUEST,
                    "InvalidClaimStatus",
                    format!("cannot {action} a claim that is {}", c.status),
                )),
            },
        }
    };
    match outcome {
        Ok(xml) => ok(state, StatusCode::OK, root, &xml).await,
        Err((status, kind, detail)) => problem(state, status, kind, &detail).await,
    }
}
