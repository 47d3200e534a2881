//! The promise "a service gets the bank's signature only for the ISPB it is allowed", attacked by
//! an authenticated caller (issue 44): a bank service holding a client certificate of the bank's
//! CA, allowed every permission for ISPB 99999010 only, tries to act for 99999020 through every
//! disagreement of the request's parts. The `proxy-hsm` binary as deployed (`--client-ca`,
//! `--callers`), keys in SoftHSM, the simulator counting every request that reaches it. Each case
//! names its attack and what must happen: refused by the proxy itself, nothing reaches BACEN,
//! the proxy still serving. (A binary of its own: SoftHSM's slot list is read once per process.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;

use simulator::pki::CALLER_NAME;
use simulator::{Config, Simulator};
use testkit::bank::{XML, call, caller_identity, connect_tls, present};
use testkit::samples::bytes as sample;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the simulator has received so far, on every SPI and DICT port.
async fn received(sim: &Simulator) -> u64 {
    let (_, _, stats) = testkit::bank::get(sim.check, "/stats").await;
    let stats: serde_json::Value = serde_json::from_slice(&stats).unwrap();
    stats["received"].as_u64().unwrap()
}

/// The sample entry acting for `ispb`.
fn entry_for(ispb: &str) -> Vec<u8> {
    String::from_utf8(sample("dict-create-entry.xml"))
        .unwrap()
        .replace(
            "<Participant>99999010</Participant>",
            &format!("<Participant>{ispb}</Participant>"),
        )
        .into_bytes()
}

/// A raw HTTP/1.1 request over TLS as `identity`: the status line's code, or the error.
async fn raw(
    addr: SocketAddr,
    identity: std::sync::Arc<rustls::ClientConfig>,
    bytes: &[u8],
) -> Result<String, String> {
    let mut tls = connect_tls(addr, identity).await?;
    tls.write_all(bytes).await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), tls.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    Ok(text.split_whitespace().nth(1).unwrap_or("closed").to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_caller_allowed_one_ispb_gets_no_signature_for_another() {
    let Some(keys) = pix_dev::hsm_keys::bank_keys() else {
        return;
    };
    let (pki, dir) = (&keys.pki, keys.dir.path());
    let read = |f: &str| std::fs::read_to_string(pki.path(f)).unwrap();
    let mut config = Config::ephemeral(pki);
    config.psp_signature_certs = vec![pki.path("sig-hsm.cer")];
    let sim = Simulator::start(config).await.expect("simulator");
    let parameters = dir.join("parameters.json");
    let mut values = keys.parameters(&sim, &read("bacen-sig.cer"));
    values.insert(
        format!(
            "{}BcbDictKeyCheckEndpoint",
            proxy_hsm::configured::FLAVOUR.prefix()
        ),
        format!("{}:{}", simulator::pki::TLS_NAME, sim.dict_key_check.port()),
    );
    std::fs::write(&parameters, serde_json::to_string(&values).unwrap()).unwrap();
    let secret = dir.join("secret.json");
    std::fs::write(&secret, keys.secret_json()).unwrap();
    let policy = dir.join("callers.json");
    std::fs::write(
        &policy,
        format!(
            r#"{{"callers": [{{"name": "pagamentos", "san": "{CALLER_NAME}",
                "allow": {{"spi-send": ["99999010"], "spi-stream": ["99999010"], "dict-read": ["99999010"], "dict-write": ["99999010"]}}}}]}}"#
        ),
    )
    .unwrap();
    let port = || testkit::tools::free_port().expect("port");
    let (spi, dict, check) = (port(), port(), port());
    let audit = dir.join("audit");
    let log = dir.join("proxy.log");
    let _proxy = keys.serve_authenticated((&parameters, &secret, &audit), (spi, dict, check), &policy, &log);
    let local = |p| SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, p));
    testkit::process::wait_ready(local(check)).await;
    let (spi, dict) = (local(spi), local(dict));
    let identity = caller_identity(
        &pki.path("bank-ca.cer"),
        Some((pki.path("caller.cer").as_path(), pki.path("caller.key").as_path())),
    )
    .unwrap();
    present(spi, identity.clone());
    present(dict, identity.clone());

    // The control: what the caller may do reaches BACEN, so a zero below is the proxy's refusal.
    let before = received(&sim).await;
    let (status, _, body) = call(dict, "POST", "/api/v2/entries/", &[XML], entry_for("99999010"))
        .await
        .unwrap();
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        received(&sim).await,
        before + 1,
        "the simulator counts what reaches it"
    );

    let gzipped = proxy_core::wire::gzip(&entry_for("99999020"));
    let multipart = proxy_core::wire::build_multipart(
        "b1",
        &[proxy_core::wire::Part {
            headers: vec![("content-type".into(), "application/xml".into())],
            body: entry_for("99999020"),
        }],
    );
    let as_010 = ("PI-RequestingParticipant", "99999010");
    let gzip = ("content-encoding", "gzip");
    let mp = ("content-type", "multipart/mixed; boundary=b1");
    type Case<'a> = (
        &'a str,
        SocketAddr,
        &'a str,
        &'a str,
        Vec<(&'a str, &'a str)>,
        Vec<u8>,
        u16,
    );
    let cases: Vec<Case> = vec![
        (
            "a header naming 99999010 over a body acting for 99999020",
            dict,
            "POST",
            "/api/v2/entries/",
            vec![XML, as_010],
            entry_for("99999020"),
            400,
        ),
        (
            "a body acting for 99999020, gzip'd, naming no header",
            dict,
            "POST",
            "/api/v2/entries/",
            vec![XML, gzip],
            gzipped.clone(),
            403,
        ),
        (
            "the same gzip'd body under a header naming 99999010",
            dict,
            "POST",
            "/api/v2/entries/",
            vec![XML, gzip, as_010],
            gzipped.clone(),
            400,
        ),
        (
            "a multipart DICT body acting for 99999020",
            dict,
            "POST",
            "/api/v2/entries/",
            vec![mp, as_010],
            multipart.clone(),
            415,
        ),
        (
            "a query naming 99999010 over a body acting for 99999020",
            dict,
            "POST",
            "/api/v2/entries/?Participant=99999010",
            vec![XML],
            entry_for("99999020"),
            400,
        ),
        (
            "the query's Participant twice",
            dict,
            "GET",
            "/api/v2/claims/?Participant=99999010&Participant=99999020",
            vec![],
            vec![],
            400,
        ),
        (
            "the query's Participant in another case",
            dict,
            "GET",
            "/api/v2/claims/?participant=99999020",
            vec![],
            vec![],
            400,
        ),
        (
            "the query's Participant percent-escaped",
            dict,
            "GET",
            "/api/v2/claims/?Particip%61nt=99999020",
            vec![],
            vec![],
            400,
        ),
        (
            "a percent-escaped value naming 99999020",
            dict,
            "GET",
            "/api/v2/claims/?Participant=%399999020",
            vec![],
            vec![],
            403,
        ),
        (
            "keys/check matched by suffix on the main server",
            dict,
            "POST",
            "/api/v2/anything/keys/check",
            vec![XML],
            b"<CheckKeysRequest/>".to_vec(),
            400,
        ),
        (
            "PI-RequestingParticipant twice",
            dict,
            "GET",
            "/api/v2/entries/+5561988880000",
            vec![as_010, ("PI-RequestingParticipant", "99999020")],
            vec![],
            400,
        ),
        (
            "a DICT write whose body names no participant (needs `*`)",
            dict,
            "POST",
            "/api/v2/refunds/",
            vec![XML],
            b"<CreateRefundRequest><RequestId>x</RequestId></CreateRefundRequest>".to_vec(),
            403,
        ),
        (
            "ICOM's path with an empty segment",
            spi,
            "GET",
            "/api/v1//out/99999020/stream/start",
            vec![],
            vec![],
            400,
        ),
        (
            "ICOM's path in another case",
            spi,
            "GET",
            "/api/v1/OUT/99999020/stream/start",
            vec![],
            vec![],
            400,
        ),
        (
            "a percent-escaped ISPB",
            spi,
            "POST",
            "/api/v1/in/%399999020/msgs",
            vec![XML],
            sample("pacs.008.xml"),
            400,
        ),
        (
            "a dot-segment out of the participant's path",
            spi,
            "POST",
            "/api/v1/in/99999010/../99999020/msgs",
            vec![XML],
            sample("pacs.008.xml"),
            400,
        ),
        (
            "a send for another ISPB",
            spi,
            "POST",
            "/api/v1/in/99999020/msgs",
            vec![XML],
            sample("pacs.008.xml"),
            403,
        ),
        (
            "a query on ICOM's path",
            spi,
            "POST",
            "/api/v1/in/99999010/msgs?ispb=99999020",
            vec![XML],
            sample("pacs.008.xml"),
            400,
        ),
        (
            "a body on a stream read",
            spi,
            "GET",
            "/api/v1/out/99999010/stream/start",
            vec![XML],
            sample("pacs.008.xml"),
            400,
        ),
        (
            "a body over the proxy's bound",
            spi,
            "POST",
            "/api/v1/in/99999010/msgs",
            vec![XML],
            vec![b' '; 9 << 20],
            413,
        ),
    ];
    let before = received(&sim).await;
    for (case, addr, method, path, headers, body, expected) in cases {
        let (status, h, answer) = call(addr, method, path, &headers, body)
            .await
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        let answer = String::from_utf8_lossy(&answer);
        assert_eq!(status, expected, "{case}: {answer}");
        assert!(
            !testkit::bank::header(&h, "pix-request-id").is_empty() || status == 413,
            "{case}: audited"
        );
        assert_eq!(received(&sim).await, before, "{case}: reached BACEN");
    }
    // Requests HTTP itself forbids: a folded header, two different Content-Lengths.
    for (case, bytes) in [
        (
            "a folded PI-RequestingParticipant",
            b"GET /api/v2/entries/k HTTP/1.1\r\nhost: x\r\nPI-RequestingParticipant: 99999010\r\n 99999020\r\n\r\n".to_vec(),
        ),
        (
            "two Content-Lengths",
            b"POST /api/v2/entries/ HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n<a/>xx".to_vec(),
        ),
    ] {
        let status = raw(dict, identity.clone(), &bytes).await.unwrap();
        assert!(status == "400" || status == "closed", "{case}: {status}");
        assert_eq!(received(&sim).await, before, "{case}: reached BACEN");
    }
    // Still serving, and still signing what the caller may sign.
    let (status, _, body) = call(
        spi,
        "POST",
        "/api/v1/in/99999010/msgs",
        &[XML],
        sample("pacs.008.xml"),
    )
    .await
    .unwrap();
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    assert_eq!(received(&sim).await, before + 1);
}
