//! SPI / ICOM against the simulator over real mTLS handshakes on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use pix_xmldsig::dsig::{Profile, VerifyError};
use simulator::wire;

use common::Reader;

const MSGS: &str = "/api/v1/in/99999010/msgs";
const START: &str = "/api/v1/out/99999010/stream/start";

#[tokio::test]
async fn a_client_needs_a_trusted_certificate() {
    let h = Harness::start().await;
    let ok = h.spi("GET", "/api/v1/in/catalog", &[], vec![]).await;
    assert_eq!(ok.status, 200);
    assert!(ok.text().contains("pacs.008"));

    let root = h.pki.path("bacen-ca.cer");
    let anonymous = Client::new(&root, None, "localhost");
    assert!(
        anonymous
            .request(h.sim.spi, "GET", "/api/v1/in/catalog", &[], vec![])
            .await
            .is_err()
    );

    // A PSP certificate from another CA: the handshake fails.
    let other = tempfile::tempdir().expect("dir");
    let other_pki = simulator::pki::DevPki::generate(other.path()).expect("pki");
    let stranger = Client::new(
        &root,
        Some((&other_pki.path("psp-mtls.cer"), &other_pki.path("psp-mtls.key"))),
        "localhost",
    );
    assert!(
        stranger
            .request(h.sim.dict, "GET", "/api/v2/entries/x", &[], vec![])
            .await
            .is_err()
    );
    h.sim.shutdown().await;
}

#[tokio::test]
async fn tls12_with_ecdhe_rsa_aes128_gcm_sha256_is_offered() {
    let h = Harness::start().await;
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.cipher_suites =
        vec![rustls::crypto::aws_lc_rs::cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256];
    let identity = (&h.pki.path("psp-mtls.cer"), &h.pki.path("psp-mtls.key"));
    let client = Client::with_provider(
        &h.pki.path("bacen-ca.cer"),
        Some(identity),
        "localhost",
        provider,
        true,
    );
    let r = client
        .request(h.sim.spi, "GET", "/api/v1/in/catalog", &[], vec![])
        .await
        .expect("TLS 1.2 handshake");
    assert_eq!(r.status, 200);
    h.sim.shutdown().await;
}

#[tokio::test]
async fn a_pacs008_comes_back_as_a_signed_pacs002_exactly_once() {
    let h = Harness::start().await;
    let message = h.signed(&sample("pacs.008.xml"), Profile::Spi).await;
    let sent = h.spi("POST", MSGS, &[XML], message).await;
    assert_eq!(sent.status, 201, "{}", sent.text());
    assert_eq!(sent.header("pi-resourceid").len(), 32);

    let got = h.spi("GET", START, &[], vec![]).await;
    assert_eq!(got.status, 200);
    let next = got.header("pi-pull-next").to_string();
    assert!(next.starts_with("/api/v1/out/99999010/stream/"), "{next}");
    let verified = h
        .verify(&got.body, Profile::Spi)
        .expect("BACEN's answer verifies");
    assert!(verified.subject.contains("BCB Simulador Assinatura"));
    let text = got.text();
    assert!(text.contains("https://www.bcb.gov.br/pi/pacs.002/1.17"));
    assert!(text.contains("<OrgnlEndToEndId>E9999901020261125100000000000001</OrgnlEndToEndId>"));
    assert!(text.contains("<TxSts>ACSP</TxSts>"));

    // The next pull acknowledges it: nothing more comes.
    let again = h.spi("GET", &next, &[], vec![]).await;
    assert_eq!(again.status, 204);
    assert_eq!(again.header("pi-pull-next"), next);
    assert_eq!(h.spi("DELETE", &next, &[], vec![]).await.status, 200);
    assert_eq!(h.spi("GET", &next, &[], vec![]).await.status, 404);
    h.sim.shutdown().await;
}

#[tokio::test]
async fn an_echo_is_answered_with_pibr002() {
    let h = Harness::start().await;
    let message = h.signed(&sample("pibr.001.xml"), Profile::Spi).await;
    assert_eq!(h.spi("POST", MSGS, &[XML], message).await.status, 201);
    let got = h.spi("GET", START, &[], vec![]).await;
    h.verify(&got.body, Profile::Spi).expect("verifies");
    assert!(got.text().contains("pibr.002") && got.text().contains("<Data>ping</Data>"));
    h.sim.shutdown().await;
}

/// Sends `body` (accepted: `201`), then reads the admi.002 that rejects it from the stream:
/// its text, after checking that it names the message's `PI-ResourceId`.
async fn rejected(h: &Harness, reader: &mut Reader, body: Vec<u8>) -> String {
    let sent = h.spi("POST", MSGS, &[XML], body).await;
    assert_eq!(sent.status, 201, "ICOM accepts first: {}", sent.text());
    let id = sent.header("pi-resourceid").to_string();
    let admi = reader.message(h, &h.client).await;
    assert!(admi.contains("https://www.bcb.gov.br/pi/admi.002/1.3"), "{admi}");
    assert!(
        admi.contains(&format!("<RltdRef><Ref>{id}</Ref></RltdRef>")),
        "{admi}"
    );
    admi
}

#[tokio::test]
async fn bad_messages_are_accepted_then_rejected_with_an_admi002() {
    let h = Harness::start().await;
    let mut reader = Reader::new("99999010");
    let signed = String::from_utf8(h.signed(&sample("pacs.008.xml"), Profile::Spi).await).expect("utf-8");
    let pacs008 = sample("pacs.008.xml");
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (
            signed.replacen("250.00", "950.00", 1).into_bytes(),
            "InvalidSignature",
            "digest of reference 3 (Document) does not match",
        ),
        (
            pacs008.clone().into_bytes(),
            "InvalidSignature",
            "expected exactly one ds:Signature, found 0",
        ),
        (
            h.signed(&pacs008, Profile::Dict).await,
            "InvalidSignature",
            "misplaced",
        ),
        (
            signed
                .replacen("</Envelope>", "<Document/></Envelope>", 1)
                .into_bytes(),
            "InvalidSignature",
            "exactly one Document",
        ),
        (b"<Envelope><unclosed></Envelope>".to_vec(), "InvalidXml", ""),
        (
            h.signed(
                &pacs008.replace(
                    "<Id>99999010</Id></Othr></FinInstnId></FIId></Fr>",
                    "<Id>99999099</Id></Othr></FinInstnId></FIId></Fr>",
                ),
                Profile::Spi,
            )
            .await,
            "WrongAddress",
            "AppHdr/Fr is 99999099",
        ),
        (
            h.signed(
                &pacs008.replace("<Id>00038166</Id>", "<Id>99999020</Id>"),
                Profile::Spi,
            )
            .await,
            "WrongAddress",
            "not BACEN",
        ),
        (
            h.signed(&pacs008.replace("pacs.008/1.16", "pacs.999/1.0"), Profile::Spi)
                .await,
            "UnknownMessageType",
            "pacs.999",
        ),
        (
            h.signed(
                &pacs008.replace("pacs.008.spi.1.16", "pacs.008.spi.1.2"),
                Profile::Spi,
            )
            .await,
            "WrongVersion",
            "pacs.008.spi.1.2",
        ),
    ];
    for (body, code, reason) in cases {
        let admi = rejected(&h, &mut reader, body).await;
        assert!(
            admi.contains(&format!("<RjctgPtyRsn>{code}</RjctgPtyRsn>")),
            "{code}: {admi}"
        );
        assert!(admi.contains(reason), "{reason}: {admi}");
    }
    // A rejected message settles nothing: no pacs.002 follows.
    assert_eq!(reader.read(&h, &h.client).await.status, 204);
    h.sim.shutdown().await;
}

#[tokio::test]
async fn transport_problems_keep_their_status() {
    let h = Harness::start().await;
    let signed = String::from_utf8(h.signed(&sample("pacs.008.xml"), Profile::Spi).await).expect("utf-8");
    let r = h
        .spi(
            "POST",
            MSGS,
            &[("content-type", "text/plain")],
            signed.clone().into_bytes(),
        )
        .await;
    assert_eq!(r.status, 415);
    let r = h
        .spi(
            "POST",
            MSGS,
            &[XML, ("x-api-key", "secret")],
            signed.clone().into_bytes(),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("invalidHeader") && r.text().contains("x-api-key"));
    // ICOM's error types (Q&A #205, #223).
    assert!(
        r.text()
            .contains("<type>https://icom.pi.rsfn.net.br/api/v1/error/invalidHeader</type>"),
        "{}",
        r.text()
    );
    let r = h
        .client
        .request(
            h.sim.spi,
            "POST",
            MSGS,
            &[XML, ("host", "localhost:9191")],
            signed.into_bytes(),
        )
        .await;
    assert_eq!(r.expect("reply").status, 400);
    assert_eq!(
        h.spi("POST", "/api/v1/in/123/msgs", &[XML], vec![]).await.status,
        404
    );
    h.sim.shutdown().await;
}

#[tokio::test]
async fn multipart_and_gzip_work_both_ways() {
    let h = Harness::start().await;
    let one = h.signed(&sample("pacs.008.xml"), Profile::Spi).await;
    let two = h
        .signed(
            &sample("pacs.008.xml").replace(
                "E9999901020261125100000000000001",
                "E9999901020261125100000000000002",
            ),
            Profile::Spi,
        )
        .await;
    let part = |body: Vec<u8>| wire::Part {
        headers: vec![("Content-Type".into(), "application/xml; charset=utf-8".into())],
        body,
    };
    let body = wire::gzip(&wire::build_multipart("sep42", &[part(one), part(two)]));
    let sent = h
        .spi(
            "POST",
            MSGS,
            &[
                ("content-type", "multipart/mixed; boundary=sep42"),
                ("content-encoding", "gzip"),
            ],
            body,
        )
        .await;
    assert_eq!(sent.status, 201, "{}", sent.text());
    assert_eq!(sent.header("pi-resourceid").split(',').count(), 2);

    let got = h
        .spi(
            "GET",
            START,
            &[("accept", "multipart/mixed"), ("accept-encoding", "gzip")],
            vec![],
        )
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("content-encoding"), "gzip");
    let boundary = wire::boundary(got.header("content-type")).expect("multipart answer");
    let parts = wire::parse_multipart(&wire::gunzip(&got.body).expect("gzip"), &boundary).expect("parts");
    assert_eq!(parts.len(), 2);
    for (i, p) in parts.iter().enumerate() {
        h.verify(&p.body, Profile::Spi).expect("each part verifies");
        assert_eq!(p.header("pi-resourceid").map(str::len), Some(32));
        assert!(
            String::from_utf8_lossy(&p.body).contains(&format!("E999990102026112510000000000000{}", i + 1))
        );
    }
    h.sim.shutdown().await;
}

#[tokio::test]
async fn stream_and_rate_limits() {
    let h = Harness::start_with(|c| {
        c.rate_capacity = 2.0;
        c.rate_refill = 0.5;
        c.stream_wait = std::time::Duration::from_millis(50);
    })
    .await;
    for _ in 0..simulator::spi::MAX_STREAMS {
        assert_eq!(h.spi("GET", START, &[], vec![]).await.status, 204);
    }
    let r = h.spi("GET", START, &[], vec![]).await;
    assert_eq!(r.status, 429);
    assert!(r.text().contains("tooManyStreams"));

    let message = h.signed(&sample("pibr.001.xml"), Profile::Spi).await;
    assert_eq!(h.spi("POST", MSGS, &[XML], message.clone()).await.status, 201);
    assert_eq!(h.spi("POST", MSGS, &[XML], message.clone()).await.status, 201);
    let limited = h.spi("POST", MSGS, &[XML], message).await;
    assert_eq!(limited.status, 429);
    assert!(limited.header("retry-after").parse::<u64>().expect("Retry-After") >= 1);
    h.sim.shutdown().await;
}

#[tokio::test]
async fn faults_are_seen() {
    let h = Harness::start().await;
    let message = h.signed(&sample("pacs.008.xml"), Profile::Spi).await;

    h.faults("family=spi&latency_ms=300").await;
    let started = std::time::Instant::now();
    assert_eq!(h.spi("GET", "/api/v1/in/catalog", &[], vec![]).await.status, 200);
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));

    h.faults("family=spi&error_rate=1").await;
    let statuses = [
        h.spi("GET", "/api/v1/in/catalog", &[], vec![])
            .await
            .status
            .as_u16(),
        h.spi("GET", "/api/v1/in/catalog", &[], vec![])
            .await
            .status
            .as_u16(),
    ];
    assert!(statuses.contains(&500) && statuses.contains(&503), "{statuses:?}");

    h.faults("family=spi&drop_rate=1").await;
    let dropped = h
        .client
        .request(h.sim.spi, "GET", "/api/v1/in/catalog", &[], vec![])
        .await;
    assert!(dropped.is_err(), "{dropped:?}");

    h.faults("family=spi&broken_signature=true").await;
    assert_eq!(h.spi("POST", MSGS, &[XML], message.clone()).await.status, 201);
    let got = h.spi("GET", START, &[], vec![]).await;
    assert!(matches!(
        h.verify(&got.body, Profile::Spi),
        Err(VerifyError::BadSignatureValue { .. })
    ));

    h.faults("family=spi&unknown_key=true").await;
    assert_eq!(h.spi("POST", MSGS, &[XML], message).await.status, 201);
    let got = h.spi("GET", START, &[], vec![]).await;
    assert!(matches!(
        h.verify(&got.body, Profile::Spi),
        Err(VerifyError::Trust(_))
    ));

    // DICT is unaffected by SPI's faults.
    let r = h.lookup("none").await;
    assert_eq!(r.status, 404);
    h.verify(&r.body, Profile::Dict)
        .expect("DICT still signs with BACEN's key");
    assert_eq!(plain_request(h.sim.check, "GET", "/check").await, 200);
    assert_eq!(
        plain_request(h.sim.check, "POST", "/faults?family=spi&error_rate=7").await,
        400
    );
    h.sim.shutdown().await;
}

#[tokio::test]
async fn message_versions_follow_the_configured_catalog() {
    let h = Harness::start_with(|c| c.catalog.apply("pacs.008=1.13,pacs.002=1.15").expect("versions")).await;
    let catalog = h.spi("GET", "/api/v1/in/catalog", &[], vec![]).await.text();
    assert!(
        catalog.contains("<MsgDefIdr>pacs.008.spi.1.13</MsgDefIdr>"),
        "{catalog}"
    );
    let mut reader = Reader::new("99999010");
    // The samples' 1.16 is not this catalog's: the wrong version: accepted, then rejected.
    let old = h.signed(&sample("pacs.008.xml"), Profile::Spi).await;
    let admi = rejected(&h, &mut reader, old).await;
    assert!(
        admi.contains("<RjctgPtyRsn>WrongVersion</RjctgPtyRsn>") && admi.contains("1.13"),
        "{admi}"
    );
    // The same message at 1.13 is answered with a pacs.002 at 1.15.
    let current = sample("pacs.008.xml")
        .replace("pacs.008/1.16", "pacs.008/1.13")
        .replace("pacs.008.spi.1.16", "pacs.008.spi.1.13");
    let current = h.signed(&current, Profile::Spi).await;
    assert_eq!(h.spi("POST", MSGS, &[XML], current).await.status, 201);
    let answer = reader.message(&h, &h.client).await;
    assert!(
        answer.contains("https://www.bcb.gov.br/pi/pacs.002/1.15") && answer.contains("pacs.002.spi.1.15")
    );
    assert!(
        answer.contains("<OrgnlEndToEndId>E9999901020261125100000000000001</OrgnlEndToEndId>"),
        "{answer}"
    );
    h.sim.shutdown().await;
}

#[tokio::test]
async fn the_secondary_channel_takes_only_gzip_and_the_primary_can_go_down() {
    let h = Harness::start().await;
    let secondary = |method: &'static str,
                     path: &'static str,
                     headers: &'static [(&'static str, &'static str)],
                     body: Vec<u8>| {
        let (client, addr) = (&h.client, h.sim.spi_secondary);
        async move {
            client
                .request(addr, method, path, headers, body)
                .await
                .expect("secondary")
        }
    };
    let one = h.signed(&sample("pacs.008.xml"), Profile::Spi).await;
    // Plain sends and reads that do not accept gzip are refused there (gzip is mandatory).
    let plain = secondary("POST", MSGS, &[XML], one.clone()).await;
    assert_eq!(plain.status, 415, "{}", plain.text());
    assert!(plain.text().contains("gzip"), "{}", plain.text());
    let read = secondary("GET", START, &[], vec![]).await;
    assert_eq!(read.status, 406, "{}", read.text());
    // gzip'd, the same ICOM: the payment's answer is on the stream either channel reads.
    let sent = secondary(
        "POST",
        MSGS,
        &[XML, ("content-encoding", "gzip")],
        wire::gzip(&one),
    )
    .await;
    assert_eq!(sent.status, 201, "{}", sent.text());
    let got = secondary("GET", START, &[("accept-encoding", "gzip")], vec![]).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("content-encoding"), "gzip");
    let answer = wire::gunzip(&got.body).expect("gzip");
    assert!(String::from_utf8_lossy(&answer).contains("<TxSts>ACSP</TxSts>"));
    let (_, stats) = control(h.sim.check, "GET", "/stats").await;
    assert!(stats.contains("\"secondary_requests\":4"), "{stats}");

    // The primary down: its port refuses connections; up again, it answers.
    let (status, _) = control(h.sim.check, "POST", "/primary?up=false").await;
    assert_eq!(status, 204);
    let started = std::time::Instant::now();
    while tokio::net::TcpStream::connect(h.sim.spi).await.is_ok() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(15),
            "still taking connections"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (status, _) = control(h.sim.check, "POST", "/primary?up=true").await;
    assert_eq!(status, 204);
    let started = std::time::Instant::now();
    loop {
        if let Ok(r) = h
            .client
            .request(h.sim.spi, "GET", "/api/v1/in/catalog", &[], vec![])
            .await
        {
            assert_eq!(r.status, 200);
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(15),
            "never up again"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (status, _) = control(h.sim.check, "POST", "/primary?up=maybe").await;
    assert_eq!(status, 400);
    h.sim.shutdown().await;
}
