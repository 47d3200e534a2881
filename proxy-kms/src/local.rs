//! `proxy-kms serve`: the Lambda handler behind a plain HTTP listener, so the KMS flavour runs
//! on a laptop against any AWS endpoint (moto's server) with no Lambda runtime.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use lambda_http::Body;
use proxy_core::relay::{self, Relay};
use proxy_core::service::Serving;
use tokio::net::TcpListener;

use crate::handler;
use proxy_core::config::StartError;
use proxy_core::reload::Reloader;

/// Largest request body taken (API Gateway's own limit is 10 MB).
const MAX_REQUEST: usize = 10 * 1024 * 1024;

/// Serves `relay` on `listener` until `stop` resolves, then drains requests in flight; with a
/// `reloader`, BACEN's certificates are re-read between requests as the Lambda does.
pub async fn serve(
    listener: TcpListener,
    relay: Arc<Relay>,
    reloader: Option<Arc<Reloader>>,
    stop: impl std::future::Future<Output = ()>,
) {
    let service = service_fn(move |req| {
        let (relay, reloader) = (Arc::clone(&relay), reloader.clone());
        async move {
            if let Some(r) = reloader {
                r.if_due().await;
            }
            Ok::<_, std::convert::Infallible>(answer(relay, req).await)
        }
    });
    proxy_core::service::serve(listener, None, service, stop, Serving::default()).await;
}

/// Binds `addr` (port 0: a free one).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr).await.map_err(|source| StartError::Bind {
        address: addr.to_string(),
        source,
    })
}

/// The same request as API Gateway would hand it over, through the Lambda handler.
async fn answer(relay: Arc<Relay>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    // API Gateway refuses such a request before the function runs: no invocation, no record.
    let body = match relay::collect_body(body, MAX_REQUEST).await {
        Ok(b) => b,
        Err(refusal) => return refusal.response().map(Full::new),
    };
    let event = Request::from_parts(parts, Body::Binary(body.to_vec()));
    let (parts, body) = handler::handle(relay, event).await.into_parts();
    let bytes = match body {
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    Response::from_parts(parts, Full::new(bytes))
}
