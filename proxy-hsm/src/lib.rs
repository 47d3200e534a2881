//! The Fargate flavour of the PIX proxy: listeners for the bank's services behind the internal
//! Network Load Balancer (DICT on 8080, SPI on 9090: TLS with client certificates of the bank's
//! CA, passed through by the load balancer; health on 7070, plain), each handing requests to a
//! [`Relay`] of `proxy-core`, with graceful shutdown.
//!
//! Keys live in a PKCS#11 token ([`pkcs11::Pkcs11Signer`]: CloudHSM in production, SoftHSMv2 in
//! the demo and tests), the mTLS key included; [`configured`] builds the relays from the
//! CloudHSM flavour's parameters.

pub mod configured;
pub mod pkcs11;
pub mod sqs;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use proxy_core::relay::{self, Relay};
use proxy_core::service::Serving;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// Largest request body taken from a bank service.
pub const MAX_REQUEST: usize = 8 * 1024 * 1024;

/// Where the front end listens.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Listen {
    /// Address of every listener.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// DICT port.
    #[arg(long, default_value_t = 8080)]
    pub dict_port: u16,
    /// SPI port.
    #[arg(long, default_value_t = 9090)]
    pub spi_port: u16,
    /// Health port.
    #[arg(long, default_value_t = 7070)]
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
#[error("cannot listen on {addr}: {source}")]
pub struct BindError {
    /// The address.
    pub addr: SocketAddr,
    /// The operating system's error.
    #[source]
    pub source: std::io::Error,
}

impl From<BindError> for proxy_core::config::StartError {
    fn from(e: BindError) -> Self {
        proxy_core::config::StartError::Bind {
            address: e.addr.to_string(),
            source: e.source,
        }
    }
}

impl FrontEnd {
    /// Binds the three ports and serves: DICT requests go to `dict`, SPI requests to `spi`. With
    /// `callers` (the acceptor of [`proxy_core::callers::tls::CallerTls`]), the DICT and SPI ports
    /// speak TLS and take only callers with a client certificate of the bank's CA; the health
    /// port stays plain HTTP for the load balancer and ECS.
    pub async fn start(
        listen: Listen,
        dict: Arc<Relay>,
        spi: Arc<Relay>,
        callers: Option<TlsAcceptor>,
    ) -> Result<FrontEnd, BindError> {
        Self::start_with(listen, dict, spi, Serving::default(), callers).await
    }

    /// [`FrontEnd::start`] with other limits on the bank's side of the connections.
    pub async fn start_with(
        listen: Listen,
        dict: Arc<Relay>,
        spi: Arc<Relay>,
        serving: Serving,
        callers: Option<TlsAcceptor>,
    ) -> Result<FrontEnd, BindError> {
        let bind = |port| async move {
            let addr = SocketAddr::new(listen.bind, port);
            let l = TcpListener::bind(addr)
                .await
                .map_err(|e| BindError { addr, source: e })?;
            let local = l.local_addr().map_err(|e| BindError { addr, source: e })?;
            Ok::<_, BindError>((l, local))
        };
        let (dict_l, dict_addr) = bind(listen.dict_port).await?;
        let (spi_l, spi_addr) = bind(listen.spi_port).await?;
        let (check_l, check_addr) = bind(listen.check_port).await?;
        let (stop, rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let both = Arc::new(Checked {
            dict: Arc::clone(&dict),
            spi: Arc::clone(&spi),
        });
        tasks.spawn(serve(
            dict_l,
            Route::Relay(dict),
            rx.clone(),
            serving,
            callers.clone(),
        ));
        tasks.spawn(serve(spi_l, Route::Relay(spi), rx.clone(), serving, callers));
        tasks.spawn(probe_bacen(Arc::clone(&both), rx.clone()));
        tasks.spawn(serve(check_l, Route::Check(both), rx, serving, None));
        tracing::info!(dict = %dict_addr, spi = %spi_addr, check = %check_addr, "proxy listening");
        Ok(FrontEnd {
            dict: dict_addr,
            spi: spi_addr,
            check: check_addr,
            stop,
            tasks,
        })
    }

    /// The health port alone (`consume`): `/live`, `/ready` of both relays, `/bacen`, `/metrics`
    /// on `listen`'s check port.
    pub async fn health_only(
        listen: Listen,
        dict: Arc<Relay>,
        spi: Arc<Relay>,
    ) -> Result<FrontEnd, BindError> {
        let addr = SocketAddr::new(listen.bind, listen.check_port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| BindError { addr, source: e })?;
        let check = listener.local_addr().map_err(|e| BindError { addr, source: e })?;
        let (stop, rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let both = Arc::new(Checked { dict, spi });
        tasks.spawn(probe_bacen(Arc::clone(&both), rx.clone()));
        tasks.spawn(serve(listener, Route::Check(both), rx, Serving::default(), None));
        Ok(FrontEnd {
            dict: check,
            spi: check,
            check,
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

/// The relays the health port checks.
struct Checked {
    dict: Arc<Relay>,
    spi: Arc<Relay>,
}

/// What a listener serves.
#[derive(Clone)]
enum Route {
    Relay(Arc<Relay>),
    Check(Arc<Checked>),
}

async fn serve(
    listener: TcpListener,
    route: Route,
    mut stop: watch::Receiver<bool>,
    serving: Serving,
    tls: Option<TlsAcceptor>,
) {
    let service = service_fn(move |req| {
        let route = route.clone();
        async move { Ok::<_, std::convert::Infallible>(answer(&route, req).await) }
    });
    let stop = async move {
        let _ = stop.changed().await;
    };
    proxy_core::service::serve(listener, tls, service, stop, serving).await;
}

async fn answer(route: &Route, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let relay = match route {
        Route::Relay(r) => r,
        Route::Check(c) => return health(c, req.uri().path()).await,
    };
    // The caller the handshake verified is in the extensions (`proxy_core::service::serve`); none:
    // callers are not authenticated on this port, and the relay says `unauthenticated`.
    let (parts, body) = req.into_parts();
    let answer = match relay::collect_body(body, MAX_REQUEST).await {
        Ok(body) => relay.handle(Request::from_parts(parts, body)).await,
        Err(refusal) => relay.refuse(parts, refusal).await,
    };
    answer.map(Full::new)
}

/// How often BACEN's reachability is probed in the background.
pub const BACEN_PROBE_EVERY: Duration = Duration::from_secs(30);

/// Every [`BACEN_PROBE_EVERY`] until `stop`: whether each family's BACEN endpoint accepts a TCP
/// connection, as the gauge `pix_bacen_reachable` and, when it does not, a `BacenUnreachable`
/// log line (the stack's alarm). Never part of readiness: see [`Relay::check`].
async fn probe_bacen(c: Arc<Checked>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(BACEN_PROBE_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        for relay in [&c.dict, &c.spi] {
            let family = relay.profile().name();
            let reached = relay.reach_bacen(Duration::from_secs(2)).await;
            metrics::gauge!(proxy_core::metrics::BACEN_REACHABLE, "family" => family)
                .set(if reached.is_ok() { 1.0 } else { 0.0 });
            if let Err(e) = reached {
                tracing::warn!(metric = "BacenUnreachable", family, error = %e, "BACEN unreachable");
            }
        }
    }
}

/// The health port:
/// - `GET /live`: the process serves (the container's health check: a BACEN outage must never
///   restart tasks);
/// - `GET /ready` (and `/check`, its old name): both relays can sign and audit, else `503` with
///   the reasons (the load balancer's target health; BACEN's reachability is not part of it, so
///   an outage at BACEN never takes the fleet out of service);
/// - `GET /bacen`: both families' BACEN endpoints accept a TCP connection, else `503` naming
///   which (for operators; the background probe feeds the metric and the alarm);
/// - `GET /metrics`: Prometheus text, once [`install_metrics`] ran.
async fn health(c: &Checked, path: &str) -> Response<Full<Bytes>> {
    let text = |status: StatusCode, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        r
    };
    match path {
        "/live" => text(StatusCode::OK, "live\n".into()),
        "/ready" | "/check" => ready(c, Check::Task).await,
        "/bacen" => ready(c, Check::Bacen).await,
        "/metrics" => match METRICS.get() {
            Some(handle) => {
                let mut r = text(StatusCode::OK, handle.render());
                r.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("text/plain; version=0.0.4"),
                );
                r
            }
            None => text(StatusCode::NOT_FOUND, "metrics are not installed\n".into()),
        },
        _ => text(StatusCode::NOT_FOUND, String::new()),
    }
}

/// The process's Prometheus recorder (one per process: the `metrics` facade is global).
static METRICS: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
    std::sync::OnceLock::new();

/// Installs the Prometheus recorder whose text `GET /metrics` serves; latencies as histograms
/// with [`proxy_core::metrics::LATENCY_BUCKETS`]. Calling it again does nothing.
pub fn install_metrics() -> Result<(), proxy_core::config::StartError> {
    let failed = |e: String| proxy_core::config::StartError::Metrics(e);
    if METRICS.get().is_some() {
        return Ok(());
    }
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(proxy_core::metrics::LATENCY_BUCKETS)
        .map_err(|e| failed(e.to_string()))?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).map_err(|e| failed(e.to_string()))?;
    let _ = METRICS.set(handle);
    Ok(())
}

/// What a health answer checks.
#[derive(Clone, Copy)]
enum Check {
    /// The task: both relays sign and audit.
    Task,
    /// BACEN: both families' endpoints accept a TCP connection.
    Bacen,
}

/// `200 ok`, or `503` with what failed.
async fn ready(c: &Checked, what: Check) -> Response<Full<Bytes>> {
    let limit = Duration::from_secs(2);
    let (dict, spi) = match what {
        Check::Task => tokio::join!(c.dict.check(limit), c.spi.check(limit)),
        Check::Bacen => tokio::join!(c.dict.reach_bacen(limit), c.spi.reach_bacen(limit)),
    };
    let problems: Vec<String> = [("dict", dict), ("spi", spi)]
        .into_iter()
        .filter_map(|(family, r)| r.err().map(|e| format!("{family}: {e}")))
        .collect();
    let (status, body) = if problems.is_empty() {
        (StatusCode::OK, "ok\n".to_string())
    } else {
        tracing::warn!(problems = ?problems, "unhealthy");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unhealthy: {}\n", problems.join("; ")),
        )
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r
}
