//! The bank's side as tests play it: an HTTP client for the proxy's and the simulator's ports,
//! and small readers of what comes back.
//!
//! A proxy whose ports authenticate callers is reached over TLS with the bank service's client
//! certificate: whoever starts it says so once ([`present`]: the port and the identity), and
//! every request to that port from then on ([`call`], [`closed_loop`]) makes a real rustls
//! handshake with it. Other ports are plain HTTP.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

/// The identities the bank's services present to proxy ports that authenticate callers.
static PRESENTED: Mutex<Option<HashMap<SocketAddr, Arc<rustls::ClientConfig>>>> = Mutex::new(None);

/// From now on, requests to `addr` go over TLS with `identity` (see [`caller_identity`]).
pub fn present(addr: SocketAddr, identity: Arc<rustls::ClientConfig>) {
    let mut map = PRESENTED.lock().unwrap_or_else(|p| p.into_inner());
    map.get_or_insert_with(HashMap::new).insert(addr, identity);
}

/// A bank service's TLS client: trusts `ca` (the bank's CA, which certifies the proxy) and
/// presents `certificate` with `key` (PEM files); `None` for either presents no certificate.
pub fn caller_identity(
    ca: &Path,
    client: Option<(&Path, &Path)>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).map_err(|e| format!("{}: {e}", ca.display()))? {
        roots
            .add(c.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .map_err(|e| format!("{}: {e}", cert.display()))?
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| e.to_string())?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// A connection to `addr`: TLS with the identity [`present`]ed for it, else plain TCP.
pub async fn connect(addr: SocketAddr) -> Result<Box<dyn Stream>, String> {
    let identity = PRESENTED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .and_then(|m| m.get(&addr).cloned());
    match identity {
        Some(config) => connect_tls(addr, config)
            .await
            .map(|s| Box::new(s) as Box<dyn Stream>),
        None => {
            let tcp = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| e.to_string())?;
            let _ = tcp.set_nodelay(true);
            Ok(Box::new(tcp))
        }
    }
}

/// A TLS connection to `addr` (checked against its IP address) with `config`; the error says
/// why the handshake failed.
pub async fn connect_tls(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    let name = rustls_pki_types::ServerName::IpAddress(addr.ip().into());
    // With TLS 1.3 the server's verdict on the client certificate comes after the client's
    // handshake is done: a refused certificate shows as a failed request, not here.
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake: {e}"))
}

/// What [`connect`] returns: a byte stream hyper can speak HTTP over.
pub trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// An HTTP request to the proxy (over TLS when an identity is [`present`]ed for `addr`):
/// (status, headers, body).
pub async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<(u16, http::HeaderMap, Bytes), String> {
    let stream = connect(addr).await?;
    let (status, headers, body) = request_over(stream, method, path, headers, body).await?;
    Ok((status.as_u16(), headers, body))
}

/// One HTTP/1.1 request over an established stream (plain TCP, or TLS in the simulator's
/// tests), `Host: localhost`: (status, headers, body).
pub async fn request_over<S>(
    stream: S,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<(http::StatusCode, http::HeaderMap, Bytes), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let res = sender
        .send_request(req)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let (parts, body) = res.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((parts.status, parts.headers, body))
}

/// The text of the first `<tag>` in `xml` (empty when absent).
pub fn text_of(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    xml.find(&open)
        .map(|i| &xml[i + open.len()..])
        .and_then(|rest| rest.find('<').map(|end| rest[..end].to_string()))
        .unwrap_or_default()
}

/// CPU seconds (user + system) process `pid` has used so far, from `/proc` (Linux, 100 ticks per
/// second); 0 where it cannot be read. The load examples divide it by the messages they sent.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// The stream of the demo's participant (ISPB 99999010), as a bank's poller starts it.
pub const STREAM_START: &str = "/api/v1/out/99999010/stream/start";

/// `GET path` on `addr` with no header (tests: panics when the proxy cannot be reached).
pub async fn get(addr: SocketAddr, path: &str) -> (u16, http::HeaderMap, Bytes) {
    call(addr, "GET", path, &[], vec![])
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// A header's value as text; empty when absent.
pub fn header(h: &http::HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// The content type of every XML message.
pub const XML: (&str, &str) = ("content-type", "application/xml; charset=utf-8");

/// `POST path` of an XML `body` on `addr` (tests: panics when the proxy cannot be reached).
pub async fn post_xml(addr: SocketAddr, path: &str, body: Vec<u8>) -> (u16, http::HeaderMap, Bytes) {
    call(addr, "POST", path, &[XML], body)
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

/// Messages per second through the proxy's SPI port with `connections` clients for `secs`.
pub async fn closed_loop(
    addr: SocketAddr,
    body: Bytes,
    connections: usize,
    secs: u64,
) -> Result<f64, String> {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let stream = connect(addr).await?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let (done, stop, body) = (Arc::clone(&done), Arc::clone(&stop), body.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let req = http::Request::post("/api/v1/in/99999010/msgs")
                    .header("host", "localhost")
                    .header("content-type", "application/xml; charset=utf-8")
                    .body(Full::new(body.clone()));
                let Ok(req) = req else { return };
                match sender.send_request(req).await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.into_body().collect().await;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => return,
                }
            }
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let n = done.load(Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    for t in tasks {
        let _ = t.await;
    }
    Ok(n as f64 / elapsed)
}
