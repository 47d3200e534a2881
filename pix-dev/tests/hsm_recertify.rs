//! The bank's own certificate renewed for the same key (its CA's renewal before expiry) is
//! presented from the next message on, without a restart; one of another key is refused, naming
//! the parameter, and the renewed one stays. The `proxy-hsm` binary as a process, keys in
//! SoftHSM, the simulator on loopback. (A binary of its own: SoftHSM's slot list is read once per
//! process, so tokens made by tests running beside it would not be seen.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use simulator::{Config, Simulator};
use testkit::bank::{header, post_xml};
use testkit::samples::bytes as sample;

const MSGS: &str = "/api/v1/in/99999010/msgs";

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).expect("read")
}

/// Waits until the proxy's log holds `text`.
async fn logged(log: &Path, text: &str) {
    let started = Instant::now();
    while !read(log).contains(text) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no {text:?} in {}",
            read(log)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Writes the parameters with `signature` as the bank's `SignatureCertificate`.
fn write_signature(file: &Path, keys: &pix_dev::hsm_keys::BankKeys, sim: &Simulator, signature: &str) {
    let mut values = keys.parameters(sim, &read(&keys.pki.path("bacen-sig.cer")));
    values.insert(
        format!("{}SignatureCertificate", proxy_hsm::configured::FLAVOUR.prefix()),
        signature.to_string(),
    );
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_string(&values).expect("json")).expect("write");
    std::fs::rename(&tmp, file).expect("rename");
}

/// Sends a pacs.008; the `X509SerialNumber` its signature presented, from its audit record.
async fn signed_serial(spi: SocketAddr, audit: &Path) -> String {
    let (status, h, body) = post_xml(spi, MSGS, sample("pacs.008.xml")).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let id = header(&h, "pix-request-id");
    let records = testkit::tools::json_lines(&audit.join("log/spi"));
    let record = records
        .iter()
        .find(|r| r["request_id"] == id.as_str())
        .expect("the message's audit record");
    let sent = record["request_body"].as_str().expect("body");
    let serial = sent
        .split("X509SerialNumber>")
        .nth(1)
        .expect("a serial in KeyInfo");
    serial.trim_end_matches("</ds:").trim_end_matches('<').to_string()
}

fn serial_of(pem: &str) -> String {
    pix_xmldsig::trust::Certificate::from_pem(pem.as_bytes(), "test")
        .expect("certificate")
        .serial()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_banks_renewed_certificate_is_taken_without_a_restart() {
    let Some(keys) = pix_dev::hsm_keys::bank_keys() else {
        return;
    };
    let (pki, dir) = (&keys.pki, &keys.dir);
    // The bank's CA renews the signature key's certificate (the same key, a new serial).
    let (n, e) = keys.token.public_key("PIX_SIGNATURE").expect("public key");
    pki.issue("sig-hsm-renewed", "PIX_SIGNATURE", false, &n, &e)
        .expect("renewed");
    let (first, renewed) = (
        read(&pki.path("sig-hsm.cer")),
        read(&pki.path("sig-hsm-renewed.cer")),
    );
    let mut config = Config::ephemeral(pki);
    config.psp_signature_certs = vec![pki.path("sig-hsm.cer"), pki.path("sig-hsm-renewed.cer")];
    let sim = Simulator::start(config).await.expect("simulator");
    let parameters = dir.path().join("parameters.json");
    write_signature(&parameters, &keys, &sim, &first);
    let secret = dir.path().join("secret.json");
    std::fs::write(&secret, keys.secret_json()).expect("secret");
    let (log, audit) = (dir.path().join("proxy.log"), dir.path().join("audit"));
    let (proxy, spi) = keys.started(&parameters, &secret, &audit, &log).await;
    assert_eq!(signed_serial(spi, &audit).await, serial_of(&first));

    // The renewed certificate in the parameters, SIGHUP: the next message presents it.
    write_signature(&parameters, &keys, &sim, &renewed);
    proxy.hup();
    logged(&log, "the bank's own certificates changed").await;
    assert_eq!(signed_serial(spi, &audit).await, serial_of(&renewed));

    // A certificate of another key: refused, naming the parameter; the renewed one stays.
    write_signature(&parameters, &keys, &sim, &read(&pki.path("psp-sig.cer")));
    proxy.hup();
    logged(&log, "certifies another key").await;
    assert!(read(&log).contains("/pix/proxy/cloudhsm/SignatureCertificate"));
    assert_eq!(signed_serial(spi, &audit).await, serial_of(&renewed));
    drop(proxy);
    sim.shutdown().await;
}
