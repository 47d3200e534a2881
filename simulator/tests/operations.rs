//! Running the simulator: the PKI command, the seeds' own test identity, independent verification
//! of its signatures by the JDK, start-up errors, graceful shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::*;
use pix_xmldsig::dsig::{self, Profile};
use pix_xmldsig::trust::TrustStore;
use rustls_pki_types::pem::PemObject;
use simulator::pki::DevPki;
use simulator::{Config, Simulator, StartError};

#[test]
fn the_pki_command_writes_the_documented_files() {
    let dir = tempfile::tempdir().expect("dir");
    let out = Command::new(env!("CARGO_BIN_EXE_simulator"))
        .args(["pki", "--out"])
        .arg(dir.path())
        .output()
        .expect("run simulator");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for name in ["bacen-ca", "psp-ca"] {
        assert!(dir.path().join(format!("{name}.cer")).exists(), "{name}");
    }
    for name in ["bacen-tls", "bacen-sig", "psp-mtls", "psp-sig"] {
        let key = rustls_pki_types::PrivateKeyDer::from_pem_file(dir.path().join(format!("{name}.key")))
            .expect("key");
        assert!(
            matches!(key, rustls_pki_types::PrivateKeyDer::Pkcs8(_)),
            "{name} is PKCS#8"
        );
        let cert = pix_xmldsig::trust::Certificate::from_pem_file(&dir.path().join(format!("{name}.cer")))
            .expect("cert");
        assert!(
            cert.issuer().contains("AC Teste"),
            "{name} is issued by a CA: {}",
            cert.issuer()
        );
    }
}

use testkit::tools::seed_pki;

#[tokio::test]
async fn the_seeds_test_identity_runs_unchanged() {
    let Some(seed) = seed_pki() else { return };
    let dir = tempfile::tempdir().expect("dir");
    let pki = DevPki::generate(dir.path()).expect("pki");
    let mut config = Config::ephemeral(&pki);
    config.tls_cert = seed.join("mtls.cer");
    config.tls_key = seed.join("mtls.key");
    config.sig_cert = seed.join("sig.cer");
    config.sig_key = seed.join("sig.key");
    let sim = Simulator::start(config)
        .await
        .expect("starts with the seeds' identity");

    // The seeds' certificate is self-signed for localhost: it is its own trust anchor.
    let identity = (&pki.path("psp-mtls.cer"), &pki.path("psp-mtls.key"));
    let client = Client::new(&seed.join("mtls.cer"), Some(identity), "localhost");
    let signer = pix_xmldsig::signer::SoftwareSigner::from_pem_files(
        &pki.path("psp-sig.key"),
        &pki.path("psp-sig.cer"),
    )
    .expect("signer");
    let message = dsig::sign(sample("pacs.008.xml").as_bytes(), Profile::Spi, &signer)
        .await
        .expect("sign");
    let sent = client
        .request(sim.spi, "POST", "/api/v1/in/99999010/msgs", &[XML], message)
        .await
        .expect("send");
    assert_eq!(sent.status, 201);
    let got = client
        .request(sim.spi, "GET", "/api/v1/out/99999010/stream/start", &[], vec![])
        .await
        .expect("pull");
    let trust = TrustStore::from_pem_files(&[seed.join("sig.cer")]).expect("trust");
    dsig::verify(&got.body, Profile::Spi, &trust, now()).expect("signed with the seeds' sig.key");

    // Under the RSFN name the seeds' certificate does not hold: proxies need the TLS name override.
    let by_name = Client::new(&seed.join("mtls.cer"), Some(identity), "test.pi.rsfn.net.br");
    assert!(
        by_name
            .request(sim.spi, "GET", "/api/v1/in/catalog", &[], vec![])
            .await
            .is_err()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_jdk_verifies_what_the_simulator_signs() {
    if !testkit::tools::have_java() {
        return;
    }
    let h = Harness::start().await;
    let message = h.signed(&sample("pacs.008.xml"), Profile::Spi).await;
    assert_eq!(
        h.spi("POST", "/api/v1/in/99999010/msgs", &[XML], message)
            .await
            .status,
        201
    );
    let spi = h
        .spi("GET", "/api/v1/out/99999010/stream/start", &[], vec![])
        .await;
    let dict = h.lookup("none").await;
    for (profile, body) in [("spi", &spi.body), ("dict", &dict.body)] {
        let file = h.dir.path().join(format!("{profile}.xml"));
        std::fs::write(&file, body).expect("write");
        let out = testkit::tools::jdk(&[
            "verify".as_ref(),
            profile.as_ref(),
            h.pki.path("bacen-sig.cer").as_os_str(),
            file.as_os_str(),
        ]);
        assert!(
            out.status.success(),
            "{profile}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    h.sim.shutdown().await;
}

#[tokio::test]
async fn start_up_errors_are_clear() {
    let dir = tempfile::tempdir().expect("dir");
    let pki = DevPki::generate(dir.path()).expect("pki");
    let running = Simulator::start(Config::ephemeral(&pki)).await.expect("first");
    let mut busy = Config::ephemeral(&pki);
    busy.spi_port = running.spi.port();
    match Simulator::start(busy).await {
        Err(StartError::Bind { addr, .. }) => assert_eq!(addr.port(), running.spi.port()),
        other => panic!("expected a bind error, got {:?}", other.err()),
    }
    let mut mismatched = Config::ephemeral(&pki);
    mismatched.sig_key = pki.path("psp-sig.key");
    let err = Simulator::start(mismatched)
        .await
        .err()
        .expect("mismatched key refused");
    assert!(
        err.to_string().contains("does not match the certificate"),
        "{err}"
    );
    let mut missing = Config::ephemeral(&pki);
    missing.tls_cert = dir.path().join("nope.cer");
    let err = Simulator::start(missing)
        .await
        .err()
        .expect("missing file refused");
    assert!(err.to_string().contains("nope.cer"), "{err}");
    running.shutdown().await;
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish() {
    let h = Harness::start().await;
    let client = h.client.clone();
    let addr = h.sim.spi;
    // A long poll (500 ms) is in flight when shutdown starts.
    let poll = tokio::spawn(async move {
        client
            .request(addr, "GET", "/api/v1/out/99999010/stream/start", &[], vec![])
            .await
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    h.sim.shutdown().await;
    let reply = poll.await.expect("join").expect("answered");
    assert_eq!(reply.status, 204);
    assert!(
        h.client
            .request(addr, "GET", "/api/v1/in/catalog", &[], vec![])
            .await
            .is_err(),
        "no longer accepting"
    );
}
