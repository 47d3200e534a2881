//! Configured exactly as seed 001 documents it — the parameter names under `/pix/proxy/cloudhsm/`,
//! the secret `CloudHSMSecret`, the seeds' simulator certificates as `BcbMtlsCertificate` and
//! `BcbSignatureCertificate`, endpoints `test.pi.rsfn.net.br:<port>` with the TLS name override —
//! against the simulator running the seeds' own test identity, keys in SoftHSM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pix_dev::hsm::call;
use proxy_core::audit::FileSink;
use proxy_core::config::Network;
use proxy_core::config::Parameters;
use proxy_hsm::configured::{self, Deployment, FLAVOUR, PinFormat, Settings};

const PREFIX: &str = "/pix/proxy/cloudhsm/";
use testkit::bank::{STREAM_START, get};
use testkit::softhsm::MODULE;

use proxy_hsm::{FrontEnd, Listen};
use simulator::{Config, Simulator};
use testkit::tools::seed_pki;

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).expect("read")
}

#[tokio::test(flavor = "multi_thread")]
async fn configured_as_seed_001_it_works_with_the_seeds_simulator() {
    let Some(seed) = seed_pki() else { return };
    // The bank's keys, made on a token and certified by its CA.
    let Some(keys) = pix_dev::hsm_keys::bank_keys() else {
        return;
    };
    let (dev, pki, dir) = (&keys.dev, &keys.pki, &keys.dir);

    // The simulator as seeds 001/002 ship it: their mtls.* and sig.*.
    let mut sim_config = Config::ephemeral(pki);
    sim_config.tls_cert = seed.join("mtls.cer");
    sim_config.tls_key = seed.join("mtls.key");
    sim_config.sig_cert = seed.join("sig.cer");
    sim_config.sig_key = seed.join("sig.key");
    sim_config.psp_signature_certs = vec![pki.path("sig-hsm.cer")];
    let sim = Simulator::start(sim_config).await.expect("simulator");

    let mut values: HashMap<String, String> = [
        ("CloudHSMClusterId", "cluster-test1234".to_string()),
        ("CloudHSMCustomerCA", read(&pki.path("psp-ca.cer"))),
        ("SignatureKeyLabel", "PIX_SIGNATURE".into()),
        ("SignatureCertificate", read(&pki.path("sig-hsm.cer"))),
        ("MtlsKeyLabel", "PIX_MTLS".into()),
        ("MtlsCertificate", read(&pki.path("mtls-hsm.cer"))),
        ("DictAuditStream", "pix-proxy-test-dict".into()),
        ("SpiAuditStream", "pix-proxy-test-spi".into()),
        (
            "BcbDictEndpoint",
            format!("test.pi.rsfn.net.br:{}", sim.dict.port()),
        ),
        (
            "BcbSpiEndpoint",
            format!("test.pi.rsfn.net.br:{}", sim.spi.port()),
        ),
        ("BcbSignatureCertificate", read(&seed.join("sig.cer"))),
        ("BcbMtlsCertificate", read(&seed.join("mtls.cer"))),
    ]
    .into_iter()
    .map(|(k, v)| (format!("{PREFIX}{k}"), v))
    .collect();
    let file = dir.path().join("parameters.json");
    std::fs::write(&file, serde_json::to_string(&values).expect("json")).expect("write");
    let params = Parameters::from_json_file(FLAVOUR, &file).expect("parameters");
    let secret = format!(r#"{{"HSM_USER":"crypto_user","HSM_PASSWORD":"{}"}}"#, dev.pin);
    let pin = configured::pin_from_secret(&secret, PinFormat::Plain).expect("pin");
    let deployment = Deployment {
        module: MODULE.into(),
        token_label: Some(dev.label.clone()),
        pool: 4,
    };
    let network = Network {
        timeout: Some(Duration::from_secs(5)),
        // No DNS for the RSFN here: connect to loopback, verify the certificate as localhost (its only SAN).
        resolve: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        tls_server_name: Some("localhost".into()),
        ..Network::default()
    };
    let audit = Arc::new(FileSink::new(&dir.path().join("audit")));
    let settings = Settings::read(&params, &network).expect("settings");
    let (dict, spi) = configured::relays(
        settings,
        &configured::open_token(&deployment, &pin).expect("token"),
        &deployment,
        audit.clone(),
    )
    .expect("relays");
    let proxy = FrontEnd::start(
        Listen::ephemeral(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        dict,
        spi,
        None,
    )
    .await
    .expect("proxy");

    let xml = ("content-type", "application/xml; charset=utf-8");
    let sample =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/pacs.008.xml")).expect("sample");
    let (status, _, body) = call(
        proxy.spi,
        "POST",
        "/api/v1/in/99999010/msgs",
        &[xml],
        sample.clone(),
    )
    .await
    .expect("send");
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let (status, h, _) = get(proxy.spi, STREAM_START).await;
    assert_eq!(status, 200);
    assert_eq!(
        h.get("pix-signature-valid").and_then(|v| v.to_str().ok()),
        Some("true"),
        "verified with the seeds' sig.cer"
    );
    assert_eq!(
        call(proxy.check, "GET", "/check", &[], vec![])
            .await
            .expect("check")
            .0,
        200
    );
    proxy.shutdown().await;

    // Without the name override the seeds' certificate does not hold for test.pi.rsfn.net.br.
    let strict = Network {
        tls_server_name: None,
        ..network.clone()
    };
    let settings = Settings::read(&params, &strict).expect("settings");
    let (_, spi) = configured::relays(
        settings,
        &configured::open_token(&deployment, &pin).expect("token"),
        &deployment,
        audit.clone(),
    )
    .expect("relays");
    let proxy = FrontEnd::start(
        Listen::ephemeral(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        Arc::clone(&spi),
        spi,
        None,
    )
    .await
    .expect("proxy");
    let (status, _, body) = call(proxy.spi, "POST", "/api/v1/in/99999010/msgs", &[xml], sample)
        .await
        .expect("send");
    assert_eq!(status, 502, "{}", String::from_utf8_lossy(&body));
    proxy.shutdown().await;

    // A missing parameter stops start-up, naming it.
    values.remove(&format!("{PREFIX}SpiAuditStream"));
    let partial = Parameters::new(FLAVOUR, values);
    let err = Settings::read(&partial, &network)
        .expect_err("refused")
        .to_string();
    assert!(err.contains("/pix/proxy/cloudhsm/SpiAuditStream"), "{err}");
    sim.shutdown().await;
}
