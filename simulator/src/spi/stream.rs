//! ICOM's receive side: a participant's streams (`GET /out/{ispb}/stream/start`, long poll,
//! `PI-Pull-Next` acknowledging the page before it, `204` when nothing comes, `DELETE` ending
//! it), each page one message or up to ten as multipart/mixed.

use super::*;

fn pull_next(ispb: &str, stream: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("/api/v1/out/{ispb}/stream/{stream}"))
        .unwrap_or(HeaderValue::from_static("/"))
}

pub(super) async fn start_stream(state: &State, ispb: &str, req: &Request<Bytes>) -> Response<Body> {
    let id = {
        let mut s = state.spi.lock();
        let now = Instant::now();
        close_idle(&mut s, now, state.config.stream_idle);
        if s.streams.values().filter(|st| st.ispb == ispb).count() >= MAX_STREAMS {
            return problem(
                StatusCode::TOO_MANY_REQUESTS,
                "tooManyStreams",
                &format!("participant {ispb} already has {MAX_STREAMS} open streams"),
            );
        }
        let id = wire::new_id();
        s.streams.insert(
            id.clone(),
            Stream {
                ispb: ispb.to_string(),
                in_flight: Vec::new(),
                touched: now,
            },
        );
        id
    };
    deliver(state, ispb, &id, req).await
}

/// Closes the streams nobody read for `idle`: what they delivered without acknowledgement goes
/// back to the front of the participant's queue, for the next reader (a reader that died loses
/// nothing; the others need not start a stream for it).
fn close_idle(s: &mut Inner, now: Instant, idle: Duration) {
    let gone: Vec<String> = s
        .streams
        .iter()
        .filter(|(_, st)| now.duration_since(st.touched) > idle)
        .map(|(k, _)| k.clone())
        .collect();
    for k in gone {
        if let Some(st) = s.streams.remove(&k) {
            let queue = s.outbox.entry(st.ispb).or_default();
            for m in st.in_flight.into_iter().rev() {
                queue.push_front(m);
            }
        }
    }
}

pub(super) async fn pull(state: &State, ispb: &str, id: &str, req: &Request<Bytes>) -> Response<Body> {
    {
        let mut s = state.spi.lock();
        close_idle(&mut s, Instant::now(), state.config.stream_idle);
        match s.streams.get_mut(id) {
            Some(st) if st.ispb == ispb => {
                // Asking for the next batch acknowledges the one before.
                st.in_flight.clear();
                st.touched = Instant::now();
            }
            _ => {
                return problem(
                    StatusCode::NOT_FOUND,
                    "streamNotFound",
                    &format!("no open stream {id} for {ispb}"),
                );
            }
        }
    }
    deliver(state, ispb, id, req).await
}

pub(super) fn end_stream(state: &State, ispb: &str, id: &str) -> Response<Body> {
    let mut s = state.spi.lock();
    match s.streams.get(id) {
        Some(st) if st.ispb == ispb => {
            s.streams.remove(id);
            empty(StatusCode::OK)
        }
        _ => problem(
            StatusCode::NOT_FOUND,
            "streamNotFound",
            &format!("no open stream {id} for {ispb}"),
        ),
    }
}

/// Waits up to the configured time for messages for `ispb`, then answers 200 (one message, or
/// up to ten as multipart when asked) or 204; both carry `PI-Pull-Next`.
async fn deliver(state: &State, ispb: &str, id: &str, req: &Request<Bytes>) -> Response<Body> {
    let multipart = header(req, http::header::ACCEPT).contains("multipart/mixed");
    let gzip = header(req, http::header::ACCEPT_ENCODING).contains("gzip");
    let deadline = tokio::time::Instant::now() + state.config.stream_wait;
    let batch = loop {
        let notified = state.spi.arrived.notified();
        let taken: Vec<Outbound> = {
            let mut s = state.spi.lock();
            let n = if multipart { MAX_BATCH } else { 1 };
            let queue = s.outbox.entry(ispb.to_string()).or_default();
            let taken: Vec<Outbound> = (0..n).map_while(|_| queue.pop_front()).collect();
            if let Some(st) = s.streams.get_mut(id) {
                st.in_flight.extend(taken.iter().cloned());
            }
            taken
        };
        if !taken.is_empty() {
            break taken;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            let mut r = empty(StatusCode::NO_CONTENT);
            r.headers_mut().insert("pi-pull-next", pull_next(ispb, id));
            return r;
        }
    };
    let (content_type, body, ids) = if multipart {
        let boundary = format!("b{}", wire::new_id());
        let parts: Vec<Part> = batch
            .iter()
            .map(|m| Part {
                headers: vec![
                    ("Content-Type".into(), "application/xml; charset=utf-8".into()),
                    ("PI-ResourceId".into(), m.resource_id.clone()),
                ],
                body: m.body.clone(),
            })
            .collect();
        (
            format!("multipart/mixed; boundary={boundary}"),
            wire::build_multipart(&boundary, &parts),
            batch
                .iter()
                .map(|m| m.resource_id.as_str())
                .collect::<Vec<_>>()
                .join(","),
        )
    } else {
        (
            "application/xml; charset=utf-8".to_string(),
            batch[0].body.clone(),
            batch[0].resource_id.clone(),
        )
    };
    let body = if gzip { wire::gzip(&body) } else { body };
    let mut r = respond(StatusCode::OK, &content_type, body);
    let h = r.headers_mut();
    h.insert("pi-pull-next", pull_next(ispb, id));
    if let Ok(v) = HeaderValue::from_str(&ids) {
        h.insert("pi-resourceid", v);
    }
    if gzip {
        h.insert(http::header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    r
}
