//! The plain-HTTP control port (7171): `/check`, `/faults`, `/throttle`, `/payee-timeout`,
//! `/dict-policy`, `/echo`, … — how tests make BACEN misbehave or act.

use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;

use crate::clearing;
use crate::config::Family;
use crate::dict::limits::Policy;
use crate::faults::Faults;
use crate::state::State;
use crate::wire::{Body, empty, respond};

pub(crate) fn set_faults(state: &State, query: &str) -> Result<(), String> {
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

/// What BACEN does to the participant the query names (`ispb=NNNNNNNN`): `201` with the id
/// `act` answers, `400` without a participant.
async fn for_participant<'q, F, Fut>(query: &'q str, act: F) -> http::Response<Body>
where
    F: FnOnce(&'q str) -> Fut,
    Fut: std::future::Future<Output = Result<String, String>>,
{
    match param(query, "ispb") {
        Some(ispb) if ispb.len() == 8 && ispb.bytes().all(|b| b.is_ascii_digit()) => match act(ispb).await {
            Ok(id) => respond(http::StatusCode::CREATED, "text/plain", format!("{id}\n")),
            Err(e) => respond(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                format!("{e}\n"),
            ),
        },
        _ => respond(http::StatusCode::BAD_REQUEST, "text/plain", "ispb=NNNNNNNN\n"),
    }
}

/// The value of `key` in a control request's query.
pub(crate) fn param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|p| p.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// The family a control request names (`family=spi|dict`).
pub(crate) fn family_of(query: &str) -> Result<Family, String> {
    match query.split('&').find_map(|p| p.strip_prefix("family=")) {
        Some("spi") => Ok(Family::Spi),
        Some("dict") => Ok(Family::Dict),
        _ => Err("family=spi|dict is required".into()),
    }
}

/// The control port: `GET /check`, `POST /faults?family=spi|dict&…`, `DELETE /faults`,
/// `POST /rollover?family=…`, `POST /break?family=…&nth=N`, `POST /throttle?nth=N`,
/// `GET /stats`, `POST /echo?ispb=N` (BACEN's pibr.001 to a participant; answers its `MsgId`),
/// `GET /echo?id=M…` (`200` answered, `202` pending), `POST /payment?ispb=N` (a pacs.008 to N
/// from another bank, pending N's pacs.002; answers its `EndToEndId`), `POST /payee-timeout?ms=N` (the SPI's
/// wait for a payee's pacs.002), `POST /dict-policy?name=P&capacity=C&refill_per_minute=R`
/// (replaces a DICT rate-limit policy, its buckets full again), `POST /primary?up=false|true`
/// (ICOM's primary channel refuses connections, or takes them again).
pub(crate) async fn control(state: &State, req: http::Request<Incoming>) -> http::Response<Body> {
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
        ("POST", "/primary") => match param(&query, "up") {
            Some(v @ ("true" | "false")) => {
                state.primary_up.send_replace(v == "true");
                tracing::warn!(up = v, "ICOM's primary channel set by the control port");
                empty(http::StatusCode::NO_CONTENT)
            }
            _ => respond(http::StatusCode::BAD_REQUEST, "text/plain", "up=true|false\n"),
        },
        ("GET", "/stats") => {
            let s = state.stats.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let body = format!(
                "{}\n",
                serde_json::json!({
                    "received": s.received,
                    "requests": s.requests,
                    "messages": s.messages,
                    "multipart_requests": s.multipart_requests,
                    "refused_concurrency": s.refused_concurrency,
                    "max_concurrent_seen": s.max_concurrent_seen,
                    "rejected": s.rejected,
                    "timed_out": s.timed_out,
                    "forwarded": s.forwarded,
                    "participant_rejections": s.participant_rejections,
                    "secondary_requests": s.secondary_requests,
                })
            );
            respond(http::StatusCode::OK, "application/json", body)
        }
        ("POST", "/echo") => for_participant(&query, |ispb| clearing::echo(state, ispb)).await,
        ("POST", "/payment") => for_participant(&query, |ispb| clearing::incoming_payment(state, ispb)).await,
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
