//! The Fargate flavour of the PIX proxy: plain-HTTP listeners for the bank's services behind the
//! internal ALB (DICT on 8080, SPI on 9090, `GET /check` on 7070), each handing requests to a
//! [`Relay`] of `proxy-core`, with graceful shutdown.
//!
//! Keys live in a PKCS#11 token ([`pkcs11::Pkcs11Signer`]: CloudHSM in production, SoftHSMv2 in
//! the demo and tests), the mTLS key included. Configuration from SSM and Secrets Manager is the
//! next step of this crate's issue; `serve --dev` and `demo` build everything locally.

pub mod demo;
pub mod pkcs11;
pub mod softhsm;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use proxy_core::relay::{self, Relay};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Largest request body taken from a bank service.
pub const MAX_REQUEST: usize = 8 * 1024 * 1024;

/// Where the front end listens.
#[derive(Debug, Clone, Copy)]
pub struct Listen {
    /// Address of every listener.
    pub bind: IpAddr,
    /// DICT port (8080).
    pub dict_port: u16,
    /// SPI port (9090).
    pub spi_port: u16,
    /// Health port (7070).
    pub check_port: u16,
}

impl Listen {
    /// DESIGN §4's ports on `bind`.
    pub fn standard(bind: IpAddr) -> Self {
        Listen {
            bind,
            dict_port: 8080,
            spi_port: 9090,
            check_port: 7070,
        }
    }

    /// Free ports on `bind` (tests).
    pub fn ephemeral(bind: IpAddr) -> Self {
        Listen {
            bind,
            dict_port: 0,
            spi_port: 0,
            check_port: 0,
        }
    }
}

/// A running front end.
pub struct FrontEnd {
    /// Bound DICT address.
    pub dict: SocketAddr,
    /// Bound SPI address.
    pub spi: SocketAddr,
    /// Bound health address.
    pub check: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

/// Why the front end could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {reason}")]
pub struct BindError {
    /// The address.
    pub addr: SocketAddr,
    /// The operating system's reason.
    pub reason: String,
}

impl FrontEnd {
    /// Binds the three ports and serves: DICT requests go to `dict`, SPI requests to `spi`.
    pub async fn start(listen: Listen, dict: Arc<Relay>, spi: Arc<Relay>) -> Result<FrontEnd, BindError> {
        let bind = |port| async move {
            let addr = SocketAddr::new(listen.bind, port);
            let l = TcpListener::bind(addr).await.map_err(|e| BindError {
                addr,
                reason: e.to_string(),
            })?;
            let local = l.local_addr().map_err(|e| BindError {
                addr,
                reason: e.to_string(),
            })?;
            Ok::<_, BindError>((l, local))
        };
        let (dict_l, dict_addr) = bind(listen.dict_port).await?;
        let (spi_l, spi_addr) = bind(listen.spi_port).await?;
        let (check_l, check_addr) = bind(listen.check_port).await?;
        let (stop, rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        tasks.spawn(serve(dict_l, Some(dict), rx.clone()));
        tasks.spawn(serve(spi_l, Some(spi), rx.clone()));
        tasks.spawn(serve(check_l, None, rx));
        tracing::info!(dict = %dict_addr, spi = %spi_addr, check = %check_addr, "proxy listening");
        Ok(FrontEnd {
            dict: dict_addr,
            spi: spi_addr,
            check: check_addr,
            stop,
            tasks,
        })
    }

    /// Stops accepting, lets requests in flight finish (their audit records included), returns.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

async fn serve(listener: TcpListener, relay: Option<Arc<Relay>>, mut stop: watch::Receiver<bool>) {
    let graceful = GracefulShutdown::new();
    loop {
        let (tcp, peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => { tracing::warn!(error = %e, "accept failed"); continue; }
            },
            _ = stop.changed() => break,
        };
        let relay = relay.clone();
        let conn = hyper::server::conn::http1::Builder::new().serve_connection(
            TokioIo::new(tcp),
            service_fn(move |req| {
                let relay = relay.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(relay.as_deref(), req).await) }
            }),
        );
        let watched = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = watched.await {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        });
    }
    if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after 30 s at shutdown");
    }
}

async fn answer(relay: Option<&Relay>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(relay) = relay else {
        let ok = req.uri().path() == "/check";
        let status = if ok { StatusCode::OK } else { StatusCode::NOT_FOUND };
        let mut r = Response::new(Full::new(Bytes::from_static(if ok { b"ok\n" } else { b"" })));
        *r.status_mut() = status;
        return r;
    };
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_REQUEST).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            let r = relay::problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "bodyTooLarge",
                &format!("request body: {e}"),
            );
            return r.map(Full::new);
        }
    };
    relay
        .handle(Request::from_parts(parts, body))
        .await
        .map(Full::new)
}
