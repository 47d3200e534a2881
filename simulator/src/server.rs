//! The simulator's servers: SPI (ICOM) and DICT over mutual TLS, each request through BACEN's
//! wire checks, its limits and the fault modes, then to `spi` or `dict`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use pix_xmldsig::signer::SoftwareSigner;
use pix_xmldsig::trust::TrustStore;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::{Config, Family, StartError};
use crate::control::{control, set_faults};
use crate::dict::limits as dict_limits;
use crate::faults::{Decision, Faults, Rng};
use crate::participants::Registry;
use crate::state::{FaultState, State, Stats, rogue_signer};
use crate::wire::{Body, empty};
use crate::{clearing, dict, spi, tls, wire};

/// A running simulator.
pub struct Simulator {
    /// Bound SPI address (the primary ICOM channel).
    pub spi: SocketAddr,
    /// Bound address of ICOM's secondary channel.
    pub spi_secondary: SocketAddr,
    /// Bound DICT address.
    pub dict: SocketAddr,
    /// Bound address of DICT's key-check server (`/api-np/v2/keys/check`).
    pub dict_key_check: SocketAddr,
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
    pub async fn start(mut config: Config) -> Result<Simulator, StartError> {
        let schemas = load_schemas(&mut config)?;
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
        let secondary_listener = bind(config.spi_secondary_port).await?;
        let dict_listener = bind(config.dict_port).await?;
        let key_check_listener = bind(config.dict_key_check_port).await?;
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
        let key_check_addr = local(&key_check_listener)?;
        let secondary_addr = local(&secondary_listener)?;
        let (primary_up, up_rx) = watch::channel(true);
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
            primary_up,
            dict: dict::Dict::default(),
            dict_limits: dict_limits::Buckets::new(&config.dict_policies),
            clearing: clearing::Clearing::new(config.payee_timeout),
            participants,
            config,
            schemas,
            signer,
            next,
            rogue,
        });
        let (shutdown, watch_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        tasks.spawn(serve_primary(
            spi_listener,
            acceptor.clone(),
            Arc::clone(&state),
            watch_rx.clone(),
            up_rx,
        ));
        tasks.spawn(serve(
            secondary_listener,
            Some(acceptor.clone()),
            Arc::clone(&state),
            Endpoint::SpiSecondary,
            stopped(watch_rx.clone()),
        ));
        tasks.spawn(serve(
            dict_listener,
            Some(acceptor.clone()),
            Arc::clone(&state),
            Endpoint::Dict,
            stopped(watch_rx.clone()),
        ));
        tasks.spawn(serve(
            key_check_listener,
            Some(acceptor),
            Arc::clone(&state),
            Endpoint::DictKeyCheck,
            stopped(watch_rx.clone()),
        ));
        tasks.spawn(serve(
            check_listener,
            None,
            Arc::clone(&state),
            Endpoint::Control,
            stopped(watch_rx.clone()),
        ));
        tasks.spawn(expire_payments(Arc::clone(&state), watch_rx));
        tracing::info!(spi = %spi_addr, spi_secondary = %secondary_addr, dict = %dict_addr, dict_key_check = %key_check_addr, check = %check_addr, "simulator listening");
        Ok(Simulator {
            spi: spi_addr,
            spi_secondary: secondary_addr,
            dict: dict_addr,
            dict_key_check: key_check_addr,
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

/// Loads BACEN's schemas when configured and enables their versions; says at start what is not
/// validated.
fn load_schemas(config: &mut Config) -> Result<Option<pix_schemas::Catalog>, StartError> {
    let Some(dir) = &config.schemas else {
        tracing::warn!("no --schemas: the simulator validates no message against BACEN's schemas");
        return Ok(None);
    };
    let schemas = pix_schemas::Catalog::load(dir).map_err(|e| StartError::Schemas(e.to_string()))?;
    let unchecked = config.catalog.enable(&schemas);
    let enabled: Vec<String> = schemas.types().map(|t| t.msg_def_idr()).collect();
    tracing::info!(
        dir = %schemas.dir().display(),
        enabled = %enabled.join(","),
        unchecked = %unchecked.join(","),
        "BACEN's schemas loaded: messages of the unchecked types are not validated"
    );
    Ok(Some(schemas))
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

/// What a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// ICOM's primary channel.
    Spi,
    /// ICOM's secondary channel.
    SpiSecondary,
    /// DICT (`/api/v2/`).
    Dict,
    /// DICT's key-check server (`/api-np/v2/`, DICT's OpenAPI 2.12.1).
    DictKeyCheck,
    /// The control port.
    Control,
}

/// Resolves when the simulator stops.
async fn stopped(mut stop: watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// ICOM's primary channel, which the control port can take down (`POST /primary?up=false`): its
/// port then refuses connections, as an unreachable channel does, until it is up again.
async fn serve_primary(
    listener: TcpListener,
    tls: tokio_rustls::TlsAcceptor,
    state: Arc<State>,
    stop: watch::Receiver<bool>,
    mut up: watch::Receiver<bool>,
) {
    let addr = listener.local_addr().ok();
    let mut listener = Some(listener);
    loop {
        let Some(l) = listener.take() else { return };
        let mut down = up.clone();
        let down = async move {
            while *down.borrow_and_update() {
                if down.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        let stop_now = stopped(stop.clone());
        let ends = async move {
            tokio::select! {
                _ = stop_now => {}
                _ = down => {}
            }
        };
        serve(l, Some(tls.clone()), Arc::clone(&state), Endpoint::Spi, ends).await;
        if *stop.borrow() {
            return;
        }
        tracing::warn!("ICOM's primary channel is down: its port refuses connections");
        // Down until the control port brings it up (or the simulator stops).
        let mut stop_wait = stop.clone();
        loop {
            if *up.borrow_and_update() {
                break;
            }
            tokio::select! {
                changed = up.changed() => if changed.is_err() { return },
                _ = stop_wait.changed() => return,
            }
        }
        let Some(addr) = addr else { return };
        // The port was ours a moment ago: rebind it (SO_REUSEADDR), trying for a while.
        for _ in 0..50 {
            match TcpListener::bind(addr).await {
                Ok(l) => {
                    listener = Some(l);
                    break;
                }
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "rebinding the primary channel");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        tracing::info!(%addr, "ICOM's primary channel is up");
    }
}

async fn serve(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    state: Arc<State>,
    endpoint: Endpoint,
    stop: impl std::future::Future<Output = ()> + Send,
) {
    let service = service_fn(move |req| {
        let state = Arc::clone(&state);
        async move {
            match endpoint {
                Endpoint::Control => Ok::<_, Dropped>(control(&state, req).await),
                other => handle(state, other, req).await,
            }
        }
    });
    let serving = proxy_core::service::Serving {
        drain: Duration::from_secs(10),
        ..Default::default()
    };
    proxy_core::service::serve(listener, tls, service, stop, serving).await;
}

/// A request to SPI or DICT: faults first, then the endpoint.
async fn handle(
    state: Arc<State>,
    endpoint: Endpoint,
    req: http::Request<Incoming>,
) -> Result<http::Response<Body>, Dropped> {
    let family = if matches!(endpoint, Endpoint::Spi | Endpoint::SpiSecondary) {
        Family::Spi
    } else {
        Family::Dict
    };
    state.stats.lock().unwrap_or_else(|e| e.into_inner()).received += 1;
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
    Ok(match endpoint {
        Endpoint::Spi => spi::handle(&state, request, spi::Channel::Primary).await,
        Endpoint::SpiSecondary => spi::handle(&state, request, spi::Channel::Secondary).await,
        Endpoint::DictKeyCheck => dict::handle_key_check(&state, request).await,
        _ => dict::handle(&state, request).await,
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
