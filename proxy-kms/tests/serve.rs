//! `proxy-kms serve` as a process: configuration from moto's server through the default AWS
//! chain (environment credentials, endpoint override), the handler over plain HTTP; and a
//! deployment missing its parameters refuses to start, naming what is missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use testkit::aws;

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::{Command, Stdio};

use testkit::bank::call;
use testkit::kms as demo;

fn serve(endpoint: &str, port: u16) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_proxy-kms"));
    c.args([
        "serve",
        "--aws-endpoint",
        endpoint,
        "--listen",
        &format!("127.0.0.1:{port}"),
    ])
    .env("AWS_ACCESS_KEY_ID", "test")
    .env("AWS_SECRET_ACCESS_KEY", "test")
    .env("AWS_REGION", "sa-east-1")
    .env("PIX_SPI_PROXY", "true");
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_runs_the_handler_with_configuration_from_aws() {
    let Some(moto) = aws::moto() else { return };
    let dir = tempfile::tempdir().expect("dir");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();

    // Nothing provisioned yet: start-up stops, naming what it could not read.
    let out = serve(&moto.endpoint, port).output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("secret /pix/proxy/kms/MtlsPrivateKey")
            && stderr.contains("ResourceNotFoundException"),
        "{stderr}"
    );

    let (clients, s3) = demo::moto_clients(&moto.endpoint);
    let bank = demo::provision(&clients, &s3, dir.path())
        .await
        .expect("provision");
    let mut child = serve(&moto.endpoint, port)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let key = std::fs::read_to_string(bank.pki.path("psp-mtls.key")).expect("key");
    let key_body: Vec<String> = key
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 16)
        .map(str::to_string)
        .collect();
    assert!(!key_body.is_empty());
    let lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut ready = false;
    for line in lines.map_while(Result::ok) {
        // The mTLS key (generated for this run by the dev PKI) never reaches the logs.
        assert!(
            !key_body.iter().any(|b| line.contains(b.as_str())),
            "no key material in logs"
        );
        if line.contains("\"ready\"") {
            ready = true;
            break;
        }
    }
    assert!(ready, "serve reported ready");
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let pacs008 = testkit::samples::bytes("pacs.008.xml");
    let (status, h, body) = call(
        addr,
        "POST",
        "/api/v1/in/99999010/msgs",
        &[("content-type", "application/xml; charset=utf-8")],
        pacs008,
    )
    .await
    .expect("call");
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    assert!(h.contains_key("pix-request-id"));
    assert_eq!(
        aws::s3_records(&moto.endpoint, "spi").await.len(),
        1,
        "audited before answering"
    );
    let _ = child.kill();
    let _ = child.wait();
    bank.simulator.shutdown().await;
}
