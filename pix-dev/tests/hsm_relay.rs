//! The relay end to end: proxy front end → relay → mTLS → simulator, and back, on loopback with
//! real TLS handshakes. Software keys here: the relay does not depend on where keys live, and
//! SoftHSM's slot list does not follow tokens created by parallel tests in one process; the same
//! pipeline with keys in SoftHSM is `tests/softhsm.rs` and `tests/seed_config.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use pix_dev::hsm::{DevOptions, DevSetup, Keys, call};
use proxy_hsm::Listen;

use testkit::bank::{STREAM_START, get, header, post_xml};
use testkit::samples::bytes as sample;

const XML: (&str, &str) = ("content-type", "application/xml; charset=utf-8");
const MSGS: &str = "/api/v1/in/99999010/msgs";

async fn setup(dir: &Path) -> DevSetup {
    DevSetup::start_with(
        dir,
        DevOptions {
            timeout: Duration::from_millis(800),
            keys: Keys::Software,
            ..DevOptions::new(Listen::ephemeral(IpAddr::V4(Ipv4Addr::LOCALHOST)))
        },
    )
    .await
    .expect("setup")
}

/// Every audit record written under `dir`, parsed.
fn audit(dir: &Path, family: &str) -> Vec<serde_json::Value> {
    testkit::tools::json_lines(&dir.join("audit/log").join(family))
}

#[tokio::test(flavor = "multi_thread")]
async fn spi_messages_are_signed_sent_verified_and_audited() {
    let dir = tempfile::tempdir().expect("dir");
    let s = setup(dir.path()).await;
    let (status, h, body) = call(
        s.proxy.spi,
        "POST",
        MSGS,
        &[XML, ("x-api-key", "secret")],
        sample("pacs.008.xml"),
    )
    .await
    .expect("send");
    // The simulator refuses headers outside BACEN's whitelist: a 201 means the proxy dropped it.
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    assert_eq!(header(&h, "pi-resourceid").len(), 32);

    let (status, h, body) = get(s.proxy.spi, STREAM_START).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "pix-signature-valid"), "true");
    assert!(String::from_utf8_lossy(&body).contains("<TxSts>ACSP</TxSts>"));
    let next = header(&h, "pi-pull-next");
    let (status, h, _) = call(s.proxy.spi, "GET", &next, &[], vec![]).await.expect("next");
    assert_eq!(status, 204);
    assert_eq!(header(&h, "pix-signature-valid"), "false");

    // Multipart of two, gzip'd: each part signed by the proxy.
    let part = |b: Vec<u8>| simulator::wire::Part {
        headers: vec![("Content-Type".into(), "application/xml; charset=utf-8".into())],
        body: b,
    };
    let body = simulator::wire::gzip(&simulator::wire::build_multipart(
        "cut",
        &[part(sample("pacs.008.xml")), part(sample("pibr.001.xml"))],
    ));
    let (status, h, text) = call(
        s.proxy.spi,
        "POST",
        MSGS,
        &[
            ("content-type", "multipart/mixed; boundary=cut"),
            ("content-encoding", "gzip"),
        ],
        body,
    )
    .await
    .expect("multipart");
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&text));
    assert_eq!(header(&h, "pi-resourceid").split(',').count(), 2);

    // Both answers come back as one gzip'd multipart: every part verified by the proxy.
    let accept = [("accept", "multipart/mixed"), ("accept-encoding", "gzip")];
    let (status, h, body) = call(s.proxy.spi, "GET", STREAM_START, &accept, vec![])
        .await
        .expect("multipart pull");
    assert_eq!(status, 200);
    assert_eq!(header(&h, "pix-signature-valid"), "true");
    let boundary = simulator::wire::boundary(&header(&h, "content-type")).expect("multipart");
    let plain = simulator::wire::gunzip(&body).expect("gzip");
    assert_eq!(
        simulator::wire::parse_multipart(&plain, &boundary)
            .expect("parts")
            .len(),
        2
    );
    let dir_path = dir.path().to_path_buf();
    s.shutdown().await;

    let records = audit(&dir_path, "spi");
    assert_eq!(records.len(), 5, "one record per exchange");
    let first = &records
        .iter()
        .find(|r| r["request_method"] == "POST" && r["message_type"] == "pacs.008")
        .expect("pacs.008 record");
    assert_eq!(first["end_to_end_id"], "E9999901020261125100000000000001");
    assert_eq!(first["response_status_code"], 201);
    assert!(
        first["request_body"]
            .as_str()
            .expect("body")
            .contains("<ds:Signature")
    );
    assert!(
        first["request_header"]
            .as_str()
            .expect("headers")
            .contains("[redacted]")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dict_entries_go_through_with_their_lookup_headers() {
    let dir = tempfile::tempdir().expect("dir");
    let s = setup(dir.path()).await;
    let (status, h, _) = post_xml(s.proxy.dict, "/api/v2/entries/", sample("dict-create-entry.xml")).await;
    assert_eq!(status, 201);
    assert_eq!(header(&h, "pix-signature-valid"), "true");
    let lookup = [
        ("pi-requestingparticipant", "99999010"),
        ("pi-payerid", "12345678909"),
        ("pi-endtoendid", "E9999901020261125100000000000001"),
    ];
    let (status, h, body) = call(
        s.proxy.dict,
        "GET",
        "/api/v2/entries/+5561988880000",
        &lookup,
        vec![],
    )
    .await
    .expect("get");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(header(&h, "pix-signature-valid"), "true");

    // keys/check goes to DICT's key-check server (/api-np/v2/), unsigned as DICT's OpenAPI
    // defines CheckKeysRequest; the simulator there verifies no request signature, and DICT's
    // main server would not serve it.
    let check = b"<CheckKeysRequest><Keys><Key>+5561988880000</Key></Keys></CheckKeysRequest>".to_vec();
    let (status, h, body) = post_xml(s.proxy.dict, "/api-np/v2/keys/check", check.clone()).await;
    let text = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 200, "{text}");
    assert_eq!(header(&h, "pix-signature-valid"), "true");
    assert!(
        text.contains("<Key hasEntry=\"true\">+5561988880000</Key>"),
        "{text}"
    );
    // Not a path of DICT's main server: the proxy refuses it itself, BACEN never sees it.
    let (status, _, body) = post_xml(s.proxy.dict, "/api/v2/keys/check", check).await;
    assert_eq!(status, 400, "not on DICT's main server");
    assert!(String::from_utf8_lossy(&body).contains("invalidPath"));

    // A bank that gzips its DICT request: DICT takes no compressed request (it answers 415), so
    // the proxy sends it uncompressed, signed (else 400 RequestSignatureInvalid).
    let other = sample("dict-create-entry.xml");
    let other = String::from_utf8(other)
        .expect("utf-8")
        .replace("+5561988880000", "+5561977770000")
        .replace("a946d533-7f22", "c946d533-7f22");
    let (status, h, body) = call(
        s.proxy.dict,
        "POST",
        "/api/v2/entries/",
        &[XML, ("content-encoding", "gzip")],
        simulator::wire::gzip(other.as_bytes()),
    )
    .await
    .expect("gzip'd create");
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    assert_eq!(header(&h, "pix-signature-valid"), "true");
    assert!(String::from_utf8_lossy(&body).contains("+5561977770000"));
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_answers_slow_or_absent_bacen_and_bad_paths_fail_closed() {
    let dir = tempfile::tempdir().expect("dir");
    let s = setup(dir.path()).await;
    let faults = |q: &'static str| {
        let check = s.simulator.check;
        async move {
            let (status, _, _) = call(check, "POST", &format!("/faults?{q}"), &[], vec![])
                .await
                .expect("faults");
            assert_eq!(status, 204);
        }
    };

    faults("family=spi&broken_signature=true").await;
    let (status, h, body) = call(s.proxy.spi, "GET", "/api/v1/in/catalog", &[], vec![])
        .await
        .expect("catalog");
    assert_eq!(status, 200, "unsigned catalog answers pass");
    assert_eq!(header(&h, "pix-signature-valid"), "false");
    let _ = body;
    assert_eq!(post_xml(s.proxy.spi, MSGS, sample("pacs.008.xml")).await.0, 201);
    // A stream message that fails verification passes with its verdict (never blocks the
    // stream); any other signed answer that fails is 502.
    let (status, h, body) = get(s.proxy.spi, STREAM_START).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "pix-signature-valid"), "false");
    assert!(
        header(&h, "pix-signature-error").contains("SignatureValue does not verify"),
        "{h:?}"
    );
    assert!(!header(&h, "pi-pull-next").is_empty());
    assert!(
        String::from_utf8_lossy(&body).contains("pacs.002"),
        "BACEN's bytes"
    );
    faults("family=dict&broken_signature=true").await;
    let (status, h, body) = post_xml(s.proxy.dict, "/api/v2/entries/", sample("dict-create-entry.xml")).await;
    assert_eq!(status, 502);
    assert_eq!(header(&h, "pix-signature-valid"), "false");
    assert!(
        String::from_utf8_lossy(&body).contains("SignatureValue does not verify"),
        "{}",
        String::from_utf8_lossy(&body)
    );

    faults("family=spi&latency_ms=1500").await;
    let (status, _, body) = call(s.proxy.spi, "GET", "/api/v1/in/catalog", &[], vec![])
        .await
        .expect("slow");
    assert_eq!(status, 504, "{}", String::from_utf8_lossy(&body));

    // Paths never leave for another host.
    for path in ["//evil.example/x", "http://evil.example/x"] {
        let (status, _, body) = call(s.proxy.spi, "GET", path, &[], vec![]).await.expect("path");
        assert_eq!(status, 400, "{path}: {}", String::from_utf8_lossy(&body));
    }
    // A body over the front end's memory bound: 413 with the reason, and audited.
    let big = vec![b' '; proxy_hsm::MAX_REQUEST + 1];
    let (status, _, body) = call(s.proxy.spi, "POST", MSGS, &[XML], big).await.expect("big");
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains(proxy_core::relay::Problem::BodyTooLarge.code()));
    // A message the profile cannot sign: 400 with the reason.
    let (status, _, body) = call(s.proxy.spi, "POST", MSGS, &[XML], b"<Envelope/>".to_vec())
        .await
        .expect("bad");
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("AppHdr"));

    let (status, _, _) = call(s.proxy.check, "GET", "/check", &[], vec![])
        .await
        .expect("check");
    assert_eq!(status, 200);
    let DevSetup {
        simulator,
        proxy,
        audit_dir,
        ..
    } = s;
    simulator.shutdown().await;
    let (status, _, _) = call(proxy.check, "GET", "/ready", &[], vec![])
        .await
        .expect("ready");
    assert_eq!(status, 200, "BACEN unreachable leaves the task in service");
    let (status, _, body) = call(proxy.check, "GET", "/bacen", &[], vec![])
        .await
        .expect("bacen");
    assert_eq!(status, 503, "BACEN unreachable, said apart");
    assert!(
        String::from_utf8_lossy(&body).contains("BACEN"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let (status, _, body) = call(proxy.spi, "GET", "/api/v1/in/catalog", &[], vec![])
        .await
        .expect("down");
    assert_eq!(status, 502, "{}", String::from_utf8_lossy(&body));
    proxy.shutdown().await;
    let _ = audit_dir;
    assert_eq!(
        audit(dir.path(), "spi").len(),
        9,
        "every exchange, failed ones included, has one record"
    );
}
