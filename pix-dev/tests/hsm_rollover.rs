//! BACEN's certificate change (announced in an Informe SPI, switched at a set hour): stream
//! messages signed with the new identity arrive with `pix-signature-valid: false` and the stream
//! goes on; the bank adds the new certificate to the parameters and the proxy trusts it on
//! `SIGHUP`, with no restart and no failed request; a malformed value is refused and the old set
//! stays. And a multipart stream answer with one broken part: nine `true`, one `false`.
//! The `proxy-hsm` binary as a process, keys in SoftHSM, the simulator on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use pix_dev::hsm::{DevOptions, DevSetup, Keys};
use proxy_hsm::Listen;
use simulator::{Config, Simulator};
use testkit::bank::{STREAM_START, call, get, header, post_xml};
use testkit::samples::bytes as sample;

const MSGS: &str = "/api/v1/in/99999010/msgs";

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).expect("read")
}

/// Writes the CloudHSM flavour's parameters with `bacen_signature` as `BcbSignatureCertificate`.
fn write_parameters(file: &Path, keys: &pix_dev::hsm_keys::BankKeys, sim: &Simulator, bacen_signature: &str) {
    let values = keys.parameters(sim, bacen_signature);
    // Written whole, then renamed: the proxy never reads half a file.
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_string(&values).expect("json")).expect("write");
    std::fs::rename(&tmp, file).expect("rename");
}

/// Sends a pacs.008 and reads BACEN's pacs.002 from a new stream: (verdict, error, status of the
/// read after it, which acknowledges it).
async fn payment(spi: SocketAddr) -> (String, String, u16) {
    let (status, _, body) = post_xml(spi, MSGS, sample("pacs.008.xml")).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let (status, h, body) = get(spi, STREAM_START).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(
        String::from_utf8_lossy(&body).contains("pacs.002"),
        "BACEN's bytes pass"
    );
    let next = header(&h, "pi-pull-next");
    assert!(!next.is_empty(), "PI-Pull-Next passes whatever the verdict");
    let (after, _, _) = get(spi, &next).await;
    let _ = call(spi, "DELETE", &next, &[], vec![]).await;
    (
        header(&h, "pix-signature-valid"),
        header(&h, "pix-signature-error"),
        after,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_change_is_survived_and_picked_up_on_sighup() {
    // The bank's keys, made on a token and certified by its CA.
    let Some(keys) = pix_dev::hsm_keys::bank_keys() else {
        return;
    };
    let (pki, dir) = (&keys.pki, &keys.dir);
    let mut config = Config::ephemeral(pki);
    config.psp_signature_certs = vec![pki.path("sig-hsm.cer")];
    let sim = Simulator::start(config).await.expect("simulator");
    let parameters = dir.path().join("parameters.json");
    write_parameters(&parameters, &keys, &sim, &read(&pki.path("bacen-sig.cer")));
    let secret = dir.path().join("secret.json");
    std::fs::write(&secret, keys.secret_json()).expect("secret");
    let log = dir.path().join("proxy.log");
    let (proxy, spi) = keys
        .started(&parameters, &secret, &dir.path().join("audit"), &log)
        .await;
    let started = read(&log);
    assert!(
        started.contains("certificate in use") && started.contains("days_left"),
        "{started}"
    );

    assert_eq!(payment(spi).await.0, "true", "before the change");

    // BACEN switches to its new identity: the message passes, judged false, the stream goes on.
    let status = call(sim.check, "POST", "/rollover?family=spi", &[], vec![])
        .await
        .unwrap()
        .0;
    assert_eq!(status, 204);
    let (valid, error, after) = payment(spi).await;
    assert_eq!(valid, "false");
    assert!(error.contains("not trusted"), "the check that failed: {error}");
    assert_eq!(after, 204, "acknowledged: not delivered again");

    // A malformed value at reload is refused, naming the parameter; the old set stays.
    write_parameters(
        &parameters,
        &keys,
        &sim,
        "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
    );
    proxy.hup();
    let refused = Instant::now();
    while !read(&log).contains("TrustReloadRefused") {
        assert!(refused.elapsed() < Duration::from_secs(10), "{}", read(&log));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(read(&log).contains("/pix/proxy/cloudhsm/BcbSignatureCertificate"));
    assert_eq!(
        payment(spi).await.0,
        "false",
        "still the old set, not an empty one"
    );

    // The bank adds the announced certificate beside the old one and sends SIGHUP, while
    // payments go on: none fails.
    let both = read(&pki.path("bacen-sig.cer")) + &read(&pki.path("bacen-sig-next.cer"));
    write_parameters(&parameters, &keys, &sim, &both);
    let traffic = tokio::spawn(async move {
        let mut statuses = Vec::new();
        for _ in 0..30 {
            statuses.push(post_xml(spi, MSGS, sample("pacs.008.xml")).await.0);
        }
        statuses
    });
    proxy.hup();
    let statuses = traffic.await.expect("traffic");
    assert!(
        statuses.iter().all(|s| *s == 201),
        "no failed request during the reload: {statuses:?}"
    );
    // Drain what the traffic queued, then the next message verifies with the new certificate.
    let mut next = STREAM_START.to_string();
    loop {
        let (status, h, _) = get(spi, &next).await;
        next = header(&h, "pi-pull-next");
        if status == 204 {
            break;
        }
    }
    let _ = call(spi, "DELETE", &next, &[], vec![]).await;
    let changed = Instant::now();
    loop {
        let (valid, error, _) = payment(spi).await;
        if valid == "true" {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(10),
            "not reloaded: {error}"
        );
    }
    assert!(read(&log).contains("BACEN's trusted certificates changed"));
    drop(proxy);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multipart_stream_answer_with_one_broken_part_passes_with_a_verdict_per_part() {
    let dir = tempfile::tempdir().expect("dir");
    let setup = DevSetup::start_with(
        dir.path(),
        DevOptions {
            keys: Keys::Software,
            ..DevOptions::new(Listen::ephemeral(IpAddr::V4(Ipv4Addr::LOCALHOST)))
        },
    )
    .await
    .expect("setup");
    let spi = setup.proxy.spi;
    let status = call(
        setup.simulator.check,
        "POST",
        "/break?family=spi&nth=4",
        &[],
        vec![],
    )
    .await
    .unwrap()
    .0;
    assert_eq!(status, 204);
    for _ in 0..10 {
        assert_eq!(post_xml(spi, MSGS, sample("pacs.008.xml")).await.0, 201);
    }
    let accept = [("accept", "multipart/mixed")];
    let (status, h, body) = call(spi, "GET", STREAM_START, &accept, vec![])
        .await
        .expect("pull");
    assert_eq!(status, 200);
    assert_eq!(header(&h, "pix-signature-valid"), "false", "one part failed");
    assert!(header(&h, "pix-signature-error").starts_with("part 4: "), "{h:?}");
    assert!(!header(&h, "pi-pull-next").is_empty(), "the stream can advance");
    let boundary = simulator::wire::boundary(&header(&h, "content-type")).expect("multipart");
    let plain = if header(&h, "content-encoding") == "gzip" {
        simulator::wire::gunzip(&body).expect("gzip")
    } else {
        body.to_vec()
    };
    let parts = simulator::wire::parse_multipart(&plain, &boundary).expect("parts");
    assert_eq!(parts.len(), 10);
    let verdicts: Vec<_> = parts
        .iter()
        .map(|p| p.header("pix-signature-valid").unwrap_or(""))
        .collect();
    assert_eq!(
        verdicts.iter().filter(|v| **v == "true").count(),
        9,
        "{verdicts:?}"
    );
    assert_eq!(verdicts[3], "false");
    assert!(
        parts[3]
            .header("pix-signature-error")
            .is_some_and(|e| !e.is_empty())
    );
    assert!(parts[0].header("pix-signature-error").is_none());

    // The audit record keeps BACEN's bytes (not the verdict headers the proxy added) and why.
    setup.shutdown().await;
    let records = testkit::tools::json_lines(&dir.path().join("audit/log/spi"));
    let read = records
        .iter()
        .find(|r| r["request_method"] == "GET")
        .expect("the stream read's record");
    let kept = read["response_body"].as_str().unwrap();
    assert!(!kept.contains("pix-signature-valid"), "BACEN's own bytes");
    assert!(kept.matches("pacs.002").count() >= 10, "every part kept");
    assert!(
        read["verification_error"]
            .as_str()
            .unwrap()
            .starts_with("part 4: ")
    );
    assert_eq!(
        read["message_types"].as_array().unwrap().len(),
        10,
        "every part indexed"
    );
    let e2e = read["end_to_end_ids"].as_array().unwrap();
    assert!(!e2e.is_empty(), "found by OrgnlEndToEndId: {read}");
}
