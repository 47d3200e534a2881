//! The one command: a development PKI, the BACEN simulator and the proxy on loopback, and the
//! project's sample messages sent through the proxy, each step printed. `serve --dev` keeps the
//! same set-up running for curl.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use proxy_core::audit::FileSink;
use proxy_core::dsig::Profile;
use proxy_core::relay::{Relay, RelayConfig, SIGNATURE_VALID};
use proxy_core::signer::{Signer, SoftwareSigner};
use proxy_core::trust::TrustStore;
use simulator::pki::DevPki;
use simulator::{Config, Simulator};

use crate::{FrontEnd, Listen};

/// Simulator and proxy running together on loopback.
pub struct DevSetup {
    /// The simulator (BACEN).
    pub simulator: Simulator,
    /// The proxy's listeners.
    pub proxy: FrontEnd,
    /// Where audit records are written.
    pub audit_dir: PathBuf,
    /// Which signer the proxy uses, in words.
    pub signer: String,
}

impl DevSetup {
    /// Makes a PKI under `dir`, starts the simulator on free ports and the proxy on `listen`.
    pub async fn start(dir: &Path, listen: Listen) -> Result<DevSetup, String> {
        Self::start_with(dir, listen, std::time::Duration::from_secs(10)).await
    }

    /// The same, with the relay's timeout for BACEN's answers.
    pub async fn start_with(
        dir: &Path,
        listen: Listen,
        timeout: std::time::Duration,
    ) -> Result<DevSetup, String> {
        let pki = DevPki::generate(&dir.join("pki")).map_err(|e| e.to_string())?;
        let simulator = Simulator::start(Config::ephemeral(&pki))
            .await
            .map_err(|e| e.to_string())?;
        let load = |key: &str, cert: &str| {
            SoftwareSigner::from_pem_files(&pki.path(key), &pki.path(cert)).map_err(|e| e.to_string())
        };
        let signer: Arc<dyn Signer> = Arc::new(load("psp-sig.key", "psp-sig.cer")?);
        let mtls: Arc<dyn Signer> = Arc::new(load("psp-mtls.key", "psp-mtls.cer")?);
        let trust =
            Arc::new(TrustStore::from_pem_files(&[pki.path("bacen-sig.cer")]).map_err(|e| e.to_string())?);
        let anchors = simulator::tls::load_certs(&pki.path("bacen-ca.cer")).map_err(|e| e.to_string())?;
        let audit_dir = dir.join("audit");
        let audit = Arc::new(FileSink::new(&audit_dir));
        let relay = |profile, endpoint: SocketAddr| {
            let mut config = RelayConfig::new(
                profile,
                &format!("localhost:{}", endpoint.port()),
                anchors.clone(),
            );
            config.timeout = timeout;
            Relay::new(
                config,
                Arc::clone(&signer),
                Arc::clone(&mtls),
                Arc::clone(&trust),
                audit.clone(),
            )
            .map(Arc::new)
            .map_err(|e| e.to_string())
        };
        let dict = relay(Profile::Dict, simulator.dict)?;
        let spi = relay(Profile::Spi, simulator.spi)?;
        let proxy = FrontEnd::start(listen, dict, spi)
            .await
            .map_err(|e| e.to_string())?;
        Ok(DevSetup {
            simulator,
            proxy,
            audit_dir,
            signer: "software keys (the PKCS#11/SoftHSM signer is not built yet)".into(),
        })
    }

    /// Stops the proxy, then the simulator.
    pub async fn shutdown(self) {
        self.proxy.shutdown().await;
        self.simulator.shutdown().await;
    }
}

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
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
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
    let res = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let (parts, body) = res.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((parts.status.as_u16(), parts.headers, body))
}

fn sample(root: &Path, name: &str) -> Result<Vec<u8>, String> {
    std::fs::read(root.join("samples").join(name)).map_err(|e| format!("samples/{name}: {e}"))
}

/// Runs the demo under `dir`, printing each step; `samples` is the repository root.
pub async fn run(dir: &Path, repo: &Path) -> Result<(), String> {
    let setup = DevSetup::start(dir, Listen::ephemeral(IpAddr::V4(Ipv4Addr::LOCALHOST))).await?;
    println!(
        "dev PKI, BACEN simulator (SPI {}, DICT {}) and proxy (SPI {}, DICT {}) on loopback",
        setup.simulator.spi, setup.simulator.dict, setup.proxy.spi, setup.proxy.dict
    );
    println!("signer: {}", setup.signer);
    let xml = ("content-type", "application/xml; charset=utf-8");
    let valid = |h: &http::HeaderMap| {
        h.get(SIGNATURE_VALID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_string()
    };
    let header =
        |h: &http::HeaderMap, n: &str| h.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let mut failures = 0;

    for (name, what) in [
        ("pacs.008.xml", "pacs.008 (credit transfer)"),
        ("pibr.001.xml", "pibr.001 (echo)"),
    ] {
        let (status, h, body) = call(
            setup.proxy.spi,
            "POST",
            "/api/v1/in/99999010/msgs",
            &[xml],
            sample(repo, name)?,
        )
        .await?;
        println!(
            "\n{what}: signed by the proxy, sent to BACEN -> {status}, PI-ResourceId {}",
            header(&h, "pi-resourceid")
        );
        if status != 201 {
            failures += 1;
            println!("  BACEN said: {}", String::from_utf8_lossy(&body));
        }
    }
    let mut next = "/api/v1/out/99999010/stream/start".to_string();
    for _ in 0..2 {
        let (status, h, body) = call(setup.proxy.spi, "GET", &next, &[], vec![]).await?;
        let text = String::from_utf8_lossy(&body);
        let kind = if text.contains("pacs.002") {
            "pacs.002 (payment accepted)"
        } else if text.contains("pibr.002") {
            "pibr.002 (echo answer)"
        } else {
            "no message"
        };
        println!(
            "\nstream: {status} {kind}, response signature valid: {}",
            valid(&h)
        );
        if status != 200 || valid(&h) != "true" {
            failures += 1;
        }
        next = header(&h, "pi-pull-next");
    }
    let _ = call(setup.proxy.spi, "DELETE", &next, &[], vec![]).await;

    let (status, h, body) = call(
        setup.proxy.dict,
        "POST",
        "/api/v2/entries",
        &[xml],
        sample(repo, "dict-create-entry.xml")?,
    )
    .await?;
    println!(
        "\nDICT CreateEntryRequest: signed, sent -> {status}, response signature valid: {}",
        valid(&h)
    );
    if status != 201 {
        failures += 1;
        println!("  DICT said: {}", String::from_utf8_lossy(&body));
    }
    let lookup = [
        ("pi-requestingparticipant", "99999010"),
        ("pi-payerid", "12345678909"),
        ("pi-endtoendid", "E9999901020261125100000000000001"),
    ];
    let (status, h, _) = call(
        setup.proxy.dict,
        "GET",
        "/api/v2/entries/+5561988880000",
        &lookup,
        vec![],
    )
    .await?;
    println!(
        "DICT GetEntry (PI-* headers): {status}, response signature valid: {}",
        valid(&h)
    );
    if status != 200 || valid(&h) != "true" {
        failures += 1;
    }

    let audit_dir = setup.audit_dir.clone();
    setup.shutdown().await;
    let mut records = 0;
    for family in ["spi", "dict"] {
        for file in files(&audit_dir.join("log").join(family)) {
            let n = std::fs::read_to_string(&file)
                .map(|t| t.lines().count())
                .unwrap_or(0);
            records += n;
            println!("\naudit: {n} records in {}", file.display());
        }
    }
    if failures > 0 || records < 7 {
        return Err(format!("{failures} steps failed, {records} audit records"));
    }
    println!("\nall steps passed; {records} audit records written");
    Ok(())
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
