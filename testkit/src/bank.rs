//! The bank's side as tests play it: a plain HTTP client for the proxy's and the simulator's
//! ports, and small readers of what comes back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

/// A plain HTTP request to the proxy: (status, headers, body).
pub async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<(u16, http::HeaderMap, Bytes), String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let (status, headers, body) = request_over(tcp, method, path, headers, body).await?;
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
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(tcp))
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
