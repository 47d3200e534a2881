//! Only the bank's own services may have messages signed with the bank's key, each for what the
//! callers policy allows it (issue 35). The `proxy-hsm` binary as a process with the flags the
//! deployment gives (`--client-ca`, `--tls-certificate`, `--tls-key`, `--callers`), keys in
//! SoftHSM, the simulator on loopback; every connection a real rustls handshake. (A binary of its
//! own: SoftHSM's slot list is read once per process.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, PKCS_RSA_SHA256};
use simulator::pki::{CALLER_NAME, DevPki};
use simulator::{Config, Simulator};
use testkit::bank::{XML, caller_identity, connect_tls, header, request_over};
use testkit::samples::bytes as sample;

const MSGS: &str = "/api/v1/in/99999010/msgs";

/// A client certificate for `san` (PEM files `<name>.cer`, `<name>.key` under `dir`) issued by
/// the CA of `ca_cert`/`ca_key`, valid from `from` to `to` (years).
fn client_cert(dir: &Path, name: &str, san: &str, (ca_cert, ca_key): (&str, &str), (from, to): (i32, i32)) {
    let issuer = Issuer::from_ca_cert_pem(ca_cert, KeyPair::from_pem(ca_key).unwrap()).unwrap();
    let mut params = CertificateParams::new(vec![san.to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, san);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.not_before = rcgen::date_time_ymd(from, 1, 1);
    params.not_after = rcgen::date_time_ymd(to, 1, 1);
    let key = KeyPair::generate_for(&PKCS_RSA_SHA256).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join(format!("{name}.cer")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
}

/// Another organisation's CA (PEM certificate, PEM key).
fn other_ca() -> (String, String) {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, "Outra AC");
    params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = KeyPair::generate_for(&PKCS_RSA_SHA256).unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// A pacs.008 sent as the service holding `<name>.cer` under `dir` (none: no certificate).
async fn send_as(
    spi: SocketAddr,
    pki: &DevPki,
    dir: &Path,
    name: Option<&str>,
) -> Result<(u16, http::HeaderMap, String), String> {
    let (cert, key) = match name {
        Some(n) => (dir.join(format!("{n}.cer")), dir.join(format!("{n}.key"))),
        None => Default::default(),
    };
    let client = name.map(|_| (cert.as_path(), key.as_path()));
    let identity: Arc<rustls::ClientConfig> = caller_identity(&pki.path("bank-ca.cer"), client)?;
    let tls = connect_tls(spi, identity).await?;
    let (status, h, body) = request_over(tls, "POST", MSGS, &[XML], sample("pacs.008.xml")).await?;
    Ok((status.as_u16(), h, String::from_utf8_lossy(&body).into_owned()))
}

/// The audit record of the answer `h`.
fn record_of(audit: &Path, h: &http::HeaderMap) -> serde_json::Value {
    let id = header(h, "pix-request-id");
    testkit::tools::json_lines(&audit.join("log/spi"))
        .into_iter()
        .find(|r| r["request_id"] == id.as_str())
        .expect("the request's audit record")
}

#[tokio::test(flavor = "multi_thread")]
async fn only_authenticated_callers_in_the_policy_have_messages_signed() {
    let Some(keys) = pix_dev::hsm_keys::bank_keys() else {
        return;
    };
    let (pki, dir) = (&keys.pki, keys.dir.path());
    let read = |f: &str| std::fs::read_to_string(pki.path(f)).unwrap();
    let mut config = Config::ephemeral(pki);
    config.psp_signature_certs = vec![pki.path("sig-hsm.cer")];
    let sim = Simulator::start(config).await.expect("simulator");
    let parameters = dir.join("parameters.json");
    let values = keys.parameters(&sim, &read("bacen-sig.cer"));
    std::fs::write(&parameters, serde_json::to_string(&values).unwrap()).unwrap();
    let secret = dir.join("secret.json");
    std::fs::write(&secret, keys.secret_json()).unwrap();
    // The payments service may send for its ISPB; the reader may only read the stream.
    let policy = dir.join("callers.json");
    std::fs::write(
        &policy,
        format!(
            r#"{{"callers": [
                {{"name": "pagamentos", "san": "{CALLER_NAME}", "allow": {{"spi-send": ["99999010"]}}}},
                {{"name": "leitor", "san": "leitor.banco.internal", "allow": {{"spi-stream": ["99999010"]}}}}
            ]}}"#
        ),
    )
    .unwrap();
    let bank_ca = (read("bank-ca.cer"), read("bank-ca.key"));
    let bank_ca = (bank_ca.0.as_str(), bank_ca.1.as_str());
    client_cert(dir, "leitor", "leitor.banco.internal", bank_ca, (2025, 2035));
    client_cert(dir, "estranho", "estranho.banco.internal", bank_ca, (2025, 2035));
    client_cert(dir, "vencido", CALLER_NAME, bank_ca, (2020, 2021));
    let other = other_ca();
    client_cert(dir, "outra-ac", CALLER_NAME, (&other.0, &other.1), (2025, 2035));

    let port = || testkit::tools::free_port().expect("port");
    let (spi, dict, check) = (port(), port(), port());
    let audit = dir.join("audit");
    let log = dir.join("proxy.log");
    let proxy = keys.serve_authenticated((&parameters, &secret, &audit), (spi, dict, check), &policy, &log);
    let local = |p| SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, p));
    // The health port stays plain HTTP for the load balancer and ECS.
    testkit::process::wait_ready(local(check)).await;
    let spi = local(spi);

    // Refused in the handshake: no certificate, another CA's, an expired one of the bank's CA.
    for who in [None, Some("outra-ac"), Some("vencido")] {
        let answer = send_as(spi, pki, dir, who).await;
        assert!(answer.is_err(), "{who:?} got an answer: {answer:?}");
    }

    // Authenticated, but outside the policy for sending: 403 naming the permission, audited.
    let (status, h, body) = send_as(spi, pki, dir, Some("leitor")).await.unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("callerForbidden") && body.contains("spi-send for ISPB 99999010"),
        "{body}"
    );
    let record = record_of(&audit, &h);
    assert_eq!(record["response_status_code"], 403);
    assert!(
        record["caller"]
            .as_str()
            .unwrap()
            .contains("leitor.banco.internal"),
        "{record}"
    );
    let (_, _, stats) = testkit::bank::get(sim.check, "/stats").await;
    let stats: serde_json::Value = serde_json::from_slice(&stats).unwrap();
    assert_eq!(stats["messages"], 0, "nothing refused reached BACEN: {stats}");
    let (status, _, body) = send_as(spi, pki, dir, Some("estranho")).await.unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("not in the callers policy"), "{body}");

    // Authorized: signed, sent, its identity in the audit record.
    let ours = DevPki::at(&pki.path(""));
    let (status, h, body) = send_as(spi, &ours, &pki.path(""), Some("caller")).await.unwrap();
    assert_eq!(status, 201, "{body}");
    let record = record_of(&audit, &h);
    assert!(
        record["request_body"]
            .as_str()
            .unwrap()
            .contains("SignatureValue")
    );
    assert!(
        record["caller"].as_str().unwrap().starts_with("certificate:"),
        "{record}"
    );
    assert!(
        record["caller"].as_str().unwrap().contains(CALLER_NAME),
        "{record}"
    );

    // Every refusal counted by reason (the alarm's metric) and logged.
    let (_, _, metrics) = testkit::bank::get(local(check), "/metrics").await;
    let metrics = String::from_utf8_lossy(&metrics);
    for reason in [
        "no-certificate",
        "untrusted-certificate",
        "expired-certificate",
        "not-permitted",
        "unknown-caller",
    ] {
        assert!(
            metrics.contains(&format!("pix_callers_refused_total{{reason=\"{reason}\"}}")),
            "{reason} not counted: {metrics}"
        );
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("\"metric\":\"CallerRefused\""), "{text}");
    assert!(text.contains("callers authenticated and checked"), "{text}");
    drop(proxy);

    // Without --client-ca the proxy says so at start; with --require-client-ca it does not start.
    let plain_log = dir.join("plain.log");
    let (spi2, dict2, check2) = (port(), port(), port());
    let plain = testkit::process::Killed(
        keys.serve(&parameters, &secret, &audit, (spi2, dict2, check2))
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&plain_log).unwrap())
            .spawn()
            .expect("proxy-hsm"),
    );
    testkit::process::wait_ready(local(check2)).await;
    let text = std::fs::read_to_string(&plain_log).unwrap();
    assert!(text.contains("callers are not authenticated"), "{text}");
    drop(plain);
    let refused = keys
        .serve(&parameters, &secret, &audit, (port(), port(), port()))
        .arg("--require-client-ca")
        .output()
        .expect("proxy-hsm");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--require-client-ca") && stderr.contains("CallerCaCertificate"),
        "{stderr}"
    );
    sim.shutdown().await;
}
