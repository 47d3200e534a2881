//! Open-loop load at a fixed rate (what wrk2 does; it is not in Debian): latencies are measured
//! from each request's scheduled time, so a stall cannot hide queued requests. Used by
//! `scripts/latency.sh` to compare the path through the proxy with the same requests sent straight
//! to the simulator, which gives the proxy's added latency.
//!
//! `fixed_rate proxy HOST:PORT RATE SECONDS MESSAGE.xml`
//! `fixed_rate direct HOST:PORT RATE SECONDS MESSAGE.xml PKI_DIR` (mTLS + signed like the proxy)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use pix_xmldsig::dsig::{self, Profile};
use pix_xmldsig::signer::SoftwareSigner;

const PATH: &str = "/api/v1/in/99999010/msgs";
const CONNECTIONS: usize = 16;

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: &str, tls: Option<Arc<rustls::ClientConfig>>) -> Result<Sender, String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    match tls {
        None => {
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            Ok(sender)
        }
        Some(config) => {
            let name = rustls_pki_types::ServerName::try_from("localhost").map_err(|e| e.to_string())?;
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|e| e.to_string())?;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            Ok(sender)
        }
    }
}

fn client_tls(pki: &std::path::Path) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in simulator::tls::load_certs(&pki.join("bacen-ca.cer")).map_err(|e| e.to_string())? {
        roots.add(c).map_err(|e| e.to_string())?;
    }
    let certs = simulator::tls::load_certs(&pki.join("psp-mtls.cer")).map_err(|e| e.to_string())?;
    let key = simulator::tls::load_key(&pki.join("psp-mtls.key")).map_err(|e| e.to_string())?;
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS12])
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key)
            .map_err(|e| e.to_string())?;
    Ok(Arc::new(config))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 6 {
        return Err("usage: fixed_rate proxy|direct HOST:PORT RATE SECONDS MESSAGE.xml [PKI_DIR]".into());
    }
    let (mode, addr) = (args[1].clone(), args[2].clone());
    let rate: f64 = args[3].parse().map_err(|_| "RATE")?;
    let secs: u64 = args[4].parse().map_err(|_| "SECONDS")?;
    let message = std::fs::read(&args[5]).map_err(|e| e.to_string())?;
    let (body, tls) = if mode == "direct" {
        let pki = std::path::PathBuf::from(args.get(6).ok_or("PKI_DIR")?);
        let signer = SoftwareSigner::from_pem_files(&pki.join("psp-sig.key"), &pki.join("psp-sig.cer"))
            .map_err(|e| e.to_string())?;
        let signed = dsig::sign(&message, Profile::Spi, &signer)
            .await
            .map_err(|e| e.to_string())?;
        (Bytes::from(signed), Some(client_tls(&pki)?))
    } else {
        (Bytes::from(message), None)
    };
    let start = Instant::now() + Duration::from_millis(200);
    let total = (rate * secs as f64) as usize;
    let interval = Duration::from_secs_f64(CONNECTIONS as f64 / rate);
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let mut sender = connect(&addr, tls.clone()).await?;
        let body = body.clone();
        let first = start + Duration::from_secs_f64(c as f64 / rate);
        let n = total / CONNECTIONS;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(n);
            let mut errors = 0usize;
            for i in 0..n {
                let scheduled = first + interval * i as u32;
                tokio::time::sleep_until(scheduled.into()).await;
                let req = http::Request::post(PATH)
                    .header("host", "localhost")
                    .header("content-type", "application/xml; charset=utf-8")
                    .body(Full::new(body.clone()));
                let Ok(req) = req else { continue };
                match sender.send_request(req).await {
                    Ok(res) => {
                        let ok = res.status().is_success();
                        let _ = res.into_body().collect().await;
                        if ok {
                            latencies.push(scheduled.elapsed());
                        } else {
                            errors += 1;
                        }
                    }
                    Err(_) => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.map_err(|e| e.to_string())?;
        all.extend(l);
        errors += e;
    }
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{mode}: {} ok, {errors} errors at {rate}/s for {secs}s; p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms",
        all.len(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        pct(0.999).as_secs_f64() * 1e3
    );
    Ok(())
}
