//! What the service binaries share: JSON logs, and the signal that stops them.

/// Installs the log subscriber: one JSON object per event on standard error (CloudWatch Logs
/// reads the container's output; the metric filters in `infrastructure/` match fields such as
/// `metric`). The filter comes from `RUST_LOG`, else `default` (e.g. `"info"`).
pub fn init_json_logs(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into());
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .init();
}

/// Resolves on SIGTERM (ECS stopping the task, Lambda shutting the container down) or ctrl-c.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// How a server treats its clients: hardened against slow or greedy ones.
#[derive(Debug, Clone, Copy)]
pub struct Serving {
    /// A connection that has not sent a whole request head within this is closed (slowloris).
    pub header_read_timeout: std::time::Duration,
    /// Largest request head, bytes (hyper's read buffer; at least 8192).
    pub max_header_bytes: usize,
    /// Most header fields in one request.
    pub max_headers: usize,
    /// Connections open at once; more wait to be accepted.
    pub max_connections: usize,
    /// At shutdown, how long requests in flight may take to finish.
    pub drain: std::time::Duration,
}

impl Default for Serving {
    /// 30 s for a request head, 64 KiB and 100 fields at most, 1024 connections, 30 s of drain.
    fn default() -> Self {
        Serving {
            header_read_timeout: std::time::Duration::from_secs(30),
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            max_connections: 1024,
            drain: std::time::Duration::from_secs(30),
        }
    }
}

/// Serves HTTP/1.1 on `listener` (over TLS when `tls` is given) with `service` until `stop`
/// resolves; then stops accepting and drains: connections in flight finish their requests (for
/// at most `serving.drain`) before it returns. The one accept loop of every server of the
/// workspace.
pub async fn serve<S, B>(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    service: S,
    stop: impl std::future::Future<Output = ()>,
    serving: Serving,
) where
    S: hyper::service::Service<http::Request<hyper::body::Incoming>, Response = http::Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let open = std::sync::Arc::new(tokio::sync::Semaphore::new(serving.max_connections.max(1)));
    tokio::pin!(stop);
    loop {
        let place = tokio::select! {
            p = std::sync::Arc::clone(&open).acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            () = &mut stop => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => { tracing::warn!(error = %e, "accept failed"); continue; }
            },
            () = &mut stop => break,
        };
        let _ = tcp.set_nodelay(true);
        let (service, tls, watcher) = (service.clone(), tls.clone(), graceful.watcher());
        tokio::spawn(async move {
            let _place = place;
            connection(tcp, peer, tls, service, &serving, watcher).await;
        });
    }
    // Refuse new connections at once while the open ones drain.
    drop(listener);
    if tokio::time::timeout(serving.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            seconds = serving.drain.as_secs(),
            "connections still open after the drain at shutdown"
        );
    }
}

/// One connection of [`serve`]: the TLS handshake (within the head's deadline) when there is
/// one, then HTTP/1.1 with the limits of `serving`, watched for the drain.
async fn connection<S, B>(
    tcp: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    service: S,
    serving: &Serving,
    watcher: hyper_util::server::graceful::Watcher,
) where
    S: hyper::service::Service<http::Request<hyper::body::Incoming>, Response = http::Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(serving.header_read_timeout)
        .max_buf_size(serving.max_header_bytes.max(8192))
        .max_headers(serving.max_headers);
    let result = match tls {
        // The handshake counts against the same deadline as the request head.
        Some(acceptor) => match tokio::time::timeout(serving.header_read_timeout, acceptor.accept(tcp)).await
        {
            Ok(Ok(stream)) => {
                let service = with_peer(service, &stream);
                watcher
                    .watch(builder.serve_connection(TokioIo::new(stream), service))
                    .await
            }
            Ok(Err(e)) => {
                // A caller without a certificate of the trusted CA, or with an expired one:
                // counted and logged like every refusal.
                match crate::callers::tls::classify(&e) {
                    Some(because) => crate::callers::refused(because, &peer.to_string(), &e.to_string()),
                    None => tracing::debug!(%peer, "closed before the TLS handshake"),
                }
                return;
            }
            Err(_) => {
                tracing::info!(%peer, "TLS handshake not finished in time");
                return;
            }
        },
        None => {
            watcher
                .watch(builder.serve_connection(TokioIo::new(tcp), service))
                .await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended");
    }
}

/// `service` with the connection's client certificate and the caller it names (worked out once
/// per connection) in each request's extensions.
fn with_peer<S>(service: S, stream: &tokio_rustls::server::TlsStream<tokio::net::TcpStream>) -> WithPeer<S> {
    let peer_certificate = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| PeerCertificate(std::sync::Arc::new(c.to_vec())));
    let caller = peer_certificate
        .as_ref()
        .map(|c| crate::callers::Caller::from_certificate(&c.0));
    WithPeer {
        inner: service,
        peer_certificate,
        caller,
    }
}

/// The client certificate (DER) of a mutual-TLS connection, in the extensions of each request
/// [`serve`] hands to its service beside the [`crate::callers::Caller`] it names, so that a
/// server can tell who is calling (the relay audits and authorizes the caller; the simulator maps
/// the certificate to a participant, as ICOM does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate(pub std::sync::Arc<Vec<u8>>);

/// A service that adds the connection's [`PeerCertificate`], and the
/// [`crate::callers::Caller`] it names, to each request.
#[derive(Clone)]
struct WithPeer<S> {
    inner: S,
    peer_certificate: Option<PeerCertificate>,
    caller: Option<crate::callers::Caller>,
}

impl<S, B> hyper::service::Service<http::Request<B>> for WithPeer<S>
where
    S: hyper::service::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn call(&self, mut req: http::Request<B>) -> Self::Future {
        if let Some(p) = &self.peer_certificate {
            req.extensions_mut().insert(p.clone());
        }
        if let Some(c) = &self.caller {
            req.extensions_mut().insert(c.clone());
        }
        self.inner.call(req)
    }
}

/// How many threads a service's runtime has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// One per core (the Fargate front end, the simulator).
    PerCore,
    /// One (a Lambda container serves one invocation at a time).
    One,
}

/// How a binary's failure is told, once, on standard error before it exits non-zero.
pub trait Report {
    /// The failure and its causes on one line.
    fn report(&self) -> String;
}

impl Report for crate::config::StartError {
    fn report(&self) -> String {
        self.chain()
    }
}

impl Report for String {
    fn report(&self) -> String {
        self.clone()
    }
}

/// A binary's `main`: JSON logs at `log_level` (unless `RUST_LOG`), a tokio runtime, `work` run
/// on it; its error printed as `name: error` with exit status 1.
pub fn main<E: Report>(
    name: &str,
    log_level: &str,
    threads: Threads,
    work: impl std::future::Future<Output = Result<(), E>>,
) -> std::process::ExitCode {
    init_json_logs(log_level);
    let mut builder = match threads {
        Threads::PerCore => tokio::runtime::Builder::new_multi_thread(),
        Threads::One => tokio::runtime::Builder::new_current_thread(),
    };
    let result = match builder.enable_all().build() {
        Ok(runtime) => runtime.block_on(work).map_err(|e| e.report()),
        Err(e) => Err(format!("cannot start the runtime: {e}")),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
