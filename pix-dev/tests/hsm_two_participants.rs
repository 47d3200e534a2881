//! Two participants, each behind its own proxy with its own keys, through the simulator playing
//! BACEN: a payment (the payee reads the pacs.008 from its stream and answers through its
//! proxy), a refund, and BACEN's echo answered by a participant. Software keys: SoftHSM's slot
//! list does not follow tokens created by parallel tests in one process (the demo's test runs
//! the same payment with keys in SoftHSM).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use pix_dev::hsm::{DevOptions, DevSetup, Keys};
use proxy_hsm::Listen;
use testkit::bank::{call, header, post_xml};

async fn setup(dir: &Path) -> DevSetup {
    DevSetup::start_with(
        dir,
        DevOptions {
            keys: Keys::Software,
            payee: true,
            ..DevOptions::new(Listen::ephemeral(IpAddr::V4(Ipv4Addr::LOCALHOST)))
        },
    )
    .await
    .expect("setup")
}

/// Reads `ispb`'s stream through the proxy at `spi` until a message containing `needle`
/// arrives: its verdict header and text.
async fn read_for(spi: std::net::SocketAddr, ispb: &str, needle: &str) -> (String, String) {
    let mut next = format!("/api/v1/out/{ispb}/stream/start");
    for _ in 0..10 {
        let (status, h, body) = call(spi, "GET", &next, &[], vec![]).await.expect("stream");
        next = header(&h, "pi-pull-next");
        let text = String::from_utf8_lossy(&body).into_owned();
        if status == 200 && text.contains(needle) {
            let _ = call(spi, "DELETE", &next, &[], vec![]).await;
            return (header(&h, "pix-signature-valid"), text);
        }
    }
    panic!("nothing with {needle} on {ispb}'s stream");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payment_completes_with_both_sides_reading_verified_pacs002() {
    let dir = tempfile::tempdir().expect("dir");
    let s = setup(dir.path()).await;
    let payee = s.payee.as_ref().expect("payee");
    let consumer = pix_dev::hsm::StreamConsumer::payee(payee, dir.path()).expect("consumer");
    let steps = pix_dev::demo::payment(s.proxy.spi, payee.proxy.spi, &consumer.inbox)
        .await
        .expect("payment");
    consumer.stop().await;
    assert_eq!(steps.failures, 0, "{steps:?}");
    // Each side's audit holds its own requests, signed with its own key.
    let payer_log = testkit::tools::json_lines(&dir.path().join("audit/log/spi"));
    let payee_log = testkit::tools::json_lines(&dir.path().join("audit-payee/log/spi"));
    let key = |log: &[serde_json::Value]| log[0]["signature_key_id"].as_str().expect("key id").to_string();
    assert_ne!(key(&payer_log), key(&payee_log));
    assert!(
        payee_log
            .iter()
            .any(|r| r["request_body"].as_str().is_some_and(|b| b.contains("pacs.002")))
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refund_reaches_the_original_payer_through_its_proxy() {
    let dir = tempfile::tempdir().expect("dir");
    let s = setup(dir.path()).await;
    let payee = s.payee.as_ref().expect("payee");
    let (status, _, body) = post_xml(
        payee.proxy.spi,
        "/api/v1/in/99999020/msgs",
        testkit::samples::bytes("pacs.004.xml"),
    )
    .await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let (valid, refund) = read_for(s.proxy.spi, "99999010", "pacs.004").await;
    assert_eq!(valid, "true");
    assert!(refund.contains("D9999902020261125110000000000001"));
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bacens_echo_is_answered_through_the_proxy() {
    let dir = tempfile::tempdir().expect("dir");
    let s = setup(dir.path()).await;
    let payee = s.payee.as_ref().expect("payee");
    let (status, _, id) = call(s.simulator.check, "POST", "/echo?ispb=99999020", &[], vec![])
        .await
        .expect("echo");
    assert_eq!(status, 201);
    let id = String::from_utf8_lossy(&id).trim().to_string();
    let (valid, echo) = read_for(payee.proxy.spi, "99999020", "pibr.001").await;
    assert_eq!(valid, "true");
    assert!(echo.contains(&id));
    let answer = testkit::samples::echo_answer("99999020", &id);
    let (status, _, _) = post_xml(payee.proxy.spi, "/api/v1/in/99999020/msgs", answer.into_bytes()).await;
    assert_eq!(status, 201);
    let (status, _, _) = call(s.simulator.check, "GET", &format!("/echo?id={id}"), &[], vec![])
        .await
        .expect("echo state");
    assert_eq!(status, 200, "BACEN saw its echo answered");
    s.shutdown().await;
}
