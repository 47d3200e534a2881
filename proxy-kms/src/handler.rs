//! The Lambda handler: an API Gateway REST proxy event (via lambda_http's own types) in, the
//! shared relay, a proxy response out. The relay (configuration, KMS client, TLS client and its
//! connection pool) is built once per container and reused by every invocation.

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use proxy_core::callers::Caller;
use proxy_core::relay::{Problem, Refusal, Relay};

/// Why an event could not be turned into a request for the relay.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The body is neither text nor binary.
    #[error("unsupported body encoding")]
    BodyEncoding,
    /// The path is not a URI path.
    #[error("path {path:?}: {reason}")]
    Path {
        /// The path as received.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The caller API Gateway authenticated (`AWS_IAM`: SigV4): the IAM principal of the REST
/// request context (`requestContext.identity.userArn`); none, `Unauthenticated` (the relay then
/// refuses it `401`).
pub fn caller(event: &lambda_http::Request) -> Caller {
    let arn = match event.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.identity.user_arn.clone(),
        _ => None,
    };
    match arn.filter(|a| a.starts_with("arn:")) {
        Some(arn) => Caller::Principal { arn },
        None => Caller::Unauthenticated,
    }
}

/// Turns the event's request into the relay's: the path as the client sent it (without the
/// API Gateway stage that lambda_http puts in front), the query string, the (multi-value)
/// headers, the body decoded from text or base64, and the [`caller`] in its extensions.
pub fn to_relay_request(event: lambda_http::Request) -> Result<Request<Bytes>, EventError> {
    let caller = caller(&event);
    let raw_path = event.raw_http_path().to_string();
    let (parts, body) = event.into_parts();
    let mut path = if raw_path.is_empty() {
        parts.uri.path().to_string()
    } else {
        raw_path
    };
    if let Some(q) = parts.uri.query() {
        path.push('?');
        path.push_str(q);
    }
    let body = match body {
        Body::Empty => Bytes::new(),
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        // lambda_http's Body is non-exhaustive: whatever else comes is refused, not guessed.
        #[allow(unreachable_patterns)]
        _ => return Err(EventError::BodyEncoding),
    };
    let mut req = Request::builder()
        .method(parts.method)
        .uri(&path)
        .body(body)
        .map_err(|e| EventError::Path {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    *req.headers_mut() = parts.headers;
    req.extensions_mut().insert(caller);
    Ok(req)
}

/// The relay's answer as a proxy response: text when it is UTF-8 (XML, JSON problems), else
/// binary (lambda_http base64-encodes it, e.g. gzip).
pub fn to_lambda_response(response: Response<Bytes>) -> Response<Body> {
    let (parts, body) = response.into_parts();
    let body = if body.is_empty() {
        Body::Empty
    } else {
        match String::from_utf8(body.to_vec()) {
            Ok(text) => Body::Text(text),
            Err(e) => Body::Binary(e.into_bytes()),
        }
    };
    Response::from_parts(parts, body)
}

/// One invocation. Never fails: bad input is answered with a problem (the relay's own, with its
/// audit record; a path that is not a URI at all, `400`, before the relay).
pub async fn handle(relay: Arc<Relay>, event: lambda_http::Request) -> Response<Body> {
    match to_relay_request(event) {
        Ok(req) => to_lambda_response(relay.handle(req).await),
        Err(reason) => {
            tracing::warn!(reason = %reason, "request refused before the relay");
            to_lambda_response(Refusal::new(Problem::InvalidRequest, reason.to_string()).response())
        }
    }
}
