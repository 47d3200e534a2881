//! The Lambda flavour against moto's server (KMS with an RSA_2048 SIGN_VERIFY key, SSM, Secrets
//! Manager, Firehose → S3) and the simulator on loopback, driven by API Gateway REST proxy (v1)
//! event JSON through lambda_http's own types.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use testkit::aws;
use testkit::lambda as event;

use std::sync::Arc;
use std::time::Duration;

use pix_dev::kms as demo;
use pix_xmldsig::dsig::Profile;
use proxy_core::relay::Relay;
use proxy_kms::configured::{self, Clients, Deployment, FLAVOUR};
use proxy_kms::handler;
use simulator::Simulator;
use simulator::pki::DevPki;
use testkit::aws::{Fault, FaultProxy, Moto};

fn sample(name: &str) -> String {
    testkit::samples::sample(name).expect("sample").to_string()
}

/// Everything a deployment of seed 002 has, on loopback (provisioned as `proxy-kms demo` does).
struct Bank {
    moto: Moto,
    clients: Clients,
    simulator: Simulator,
    pki: DevPki,
    _dir: tempfile::TempDir,
}

async fn put(ssm: &aws_sdk_ssm::Client, name: &str, value: &str) {
    demo::put_parameter(ssm, name, value)
        .await
        .expect("put parameter");
}

async fn bank() -> Option<Bank> {
    let moto = aws::moto()?;
    let dir = tempfile::tempdir().expect("dir");
    let (clients, s3) = demo::moto_clients(&moto.endpoint);
    let made = demo::provision(&clients, &s3, dir.path())
        .await
        .expect("provision");
    Some(Bank {
        moto,
        clients,
        simulator: made.simulator,
        pki: made.pki,
        _dir: dir,
    })
}

async fn invoke(relay: &Arc<Relay>, json: &str) -> (u16, http::HeaderMap, String) {
    let request = lambda_http::request::from_str(json).expect("a REST v1 event");
    let response = handler::handle(Arc::clone(relay), request).await;
    let (parts, body) = response.into_parts();
    let body = match body {
        lambda_http::Body::Text(t) => t,
        lambda_http::Body::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
        _ => String::new(),
    };
    (parts.status.as_u16(), parts.headers, body)
}

fn header(h: &http::HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn spi_and_dict_through_the_handler_signed_by_kms_and_audited() {
    let Some(bank) = bank().await else { return };
    let clients = bank.clients.clone();
    let deployment = Deployment::default();
    let spi = configured::relay(&clients, Profile::Spi, &deployment)
        .await
        .expect("SPI relay");
    let dict = configured::relay(&clients, Profile::Dict, &deployment)
        .await
        .expect("DICT relay");

    // A text body: the simulator accepts the KMS signature (it checks every request's).
    let pacs008 = sample("pacs.008.xml");
    let event = event::rest_event("POST", "/api/v1/in/99999010/msgs", None, Some(&pacs008), false);
    let (status, h, body) = invoke(&spi, &event).await;
    assert_eq!(status, 201, "{body}");
    let mut ids = vec![header(&h, "pix-request-id")];
    // The pacs.002 BACEN answers with, read from the stream; its signature verified.
    let (status, h, body) = invoke(
        &spi,
        &event::rest_event("GET", "/api/v1/out/99999010/stream/start", None, None, false),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&h, "pix-signature-valid"), "true");
    assert!(body.contains("pacs.002"), "{body}");
    ids.push(header(&h, "pix-request-id"));
    // A base64 body (as API Gateway sends binary media types) to DICT.
    let entry = sample("dict-create-entry.xml");
    let event = event::rest_event("POST", "/api/v2/entries/", None, Some(&entry), true);
    let (status, h, body) = invoke(&dict, &event).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(header(&h, "pix-signature-valid"), "true");
    ids.push(header(&h, "pix-request-id"));
    // Path and query reach BACEN without the API Gateway stage.
    let (status, h, body) = invoke(
        &dict,
        &event::rest_event(
            "GET",
            "/api/v2/entries/+5561988880000",
            Some(("IncludeStatistics", "false")),
            None,
            false,
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&h, "pix-signature-valid"), "true");
    ids.push(header(&h, "pix-request-id"));
    // keys/check on DICT's key-check server (BcbDictKeyCheckEndpoint), unsigned as the OpenAPI
    // defines it; DICT's answer signed and verified.
    let check = "<CheckKeysRequest><Keys><Key>+5561988880000</Key><Key>nobody@example.com</Key></Keys></CheckKeysRequest>";
    let (status, h, body) = invoke(
        &dict,
        &event::rest_event("POST", "/api-np/v2/keys/check", None, Some(check), false),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&h, "pix-signature-valid"), "true");
    assert!(
        body.contains("<Key hasEntry=\"true\">+5561988880000</Key>"),
        "{body}"
    );
    assert!(
        body.contains("<Key hasEntry=\"false\">nobody@example.com</Key>"),
        "{body}"
    );
    ids.push(header(&h, "pix-request-id"));

    // Each invocation's record is in S3 before it returned (direct delivery).
    let mut in_s3 = aws::s3_records(&bank.moto.endpoint, "spi").await;
    in_s3.extend(aws::s3_records(&bank.moto.endpoint, "dict").await);
    let mut found: Vec<String> = in_s3
        .iter()
        .map(|r| r["request_id"].as_str().unwrap_or("").to_string())
        .collect();
    found.sort();
    ids.sort();
    assert_eq!(found, ids);
    let get = in_s3
        .iter()
        .find(|r| r["request_method"] == "GET" && r["request_path"].as_str().unwrap_or("").contains("+5561"))
        .expect("the DICT lookup's record");
    assert_eq!(
        get["request_path"],
        "/api/v2/entries/+5561988880000?IncludeStatistics=false"
    );
    assert!(
        in_s3
            .iter()
            .all(|r| r["signature_key_id"].as_str().is_some_and(|k| !k.is_empty())),
        "records name the KMS key"
    );
    bank.simulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_of_another_key_or_a_missing_parameter_stops_start_up() {
    let Some(bank) = bank().await else { return };
    let clients = bank.clients.clone();
    let ssm = &bank.clients.ssm;
    let other = std::fs::read_to_string(bank.pki.path("psp-sig.cer")).expect("cert");
    put(ssm, "SignatureCertificate", &other).await;
    let err = configured::relay(&clients, Profile::Spi, &Deployment::default())
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("does not hold this KMS key's public key"), "{err}");

    ssm.delete_parameter()
        .name(format!("{}BcbSpiEndpoint", FLAVOUR.prefix()))
        .send()
        .await
        .expect("delete");
    let err = configured::relay(&clients, Profile::Spi, &Deployment::default())
        .await
        .err()
        .expect("refused")
        .to_string();
    assert_eq!(err, "parameter /pix/proxy/kms/BcbSpiEndpoint is missing");

    put(ssm, "BcbSpiEndpoint", "no-port").await;
    let err = configured::relay(&clients, Profile::Spi, &Deployment::default())
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("/pix/proxy/kms/BcbSpiEndpoint is malformed"),
        "{err}"
    );
    bank.simulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_kms_gives_503_with_the_reason_then_recovers() {
    let Some(bank) = bank().await else { return };
    let faults = FaultProxy::start(&bank.moto.endpoint).await.expect("fault proxy");
    let clients = Clients {
        kms: demo::moto_clients(&faults.endpoint).0.kms,
        ..bank.clients.clone()
    };
    let mut deployment = Deployment::default();
    deployment.kms.deadline = Duration::from_millis(400);
    let spi = configured::relay(&clients, Profile::Spi, &deployment)
        .await
        .expect("relay");
    let send = event::rest_event(
        "POST",
        "/api/v1/in/99999010/msgs",
        None,
        Some(&sample("pacs.008.xml")),
        false,
    );

    faults.set(Fault::Throttle("Sign".into()));
    let (status, _, body) = invoke(&spi, &send).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("ThrottlingException"), "{body}");
    assert!(body.contains("attempts"), "retried before giving up: {body}");

    faults.set(Fault::None);
    let (status, _, body) = invoke(&spi, &send).await;
    assert_eq!(status, 201, "{body}");
    bank.simulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn callers_are_the_iam_principals_the_policy_names() {
    let Some(bank) = bank().await else { return };
    let clients = bank.clients.clone();
    let spi = configured::relay(&clients, Profile::Spi, &Deployment::default())
        .await
        .expect("SPI relay");
    let pacs008 = sample("pacs.008.xml");
    let send = |ispb: &str| {
        event::rest_event(
            "POST",
            &format!("/api/v1/in/{ispb}/msgs"),
            None,
            Some(&pacs008),
            false,
        )
    };

    // No IAM identity in the request context: refused before anything is signed.
    let (status, h, body) = invoke(&spi, &event::as_caller(&send("99999010"), None)).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("callerUnauthenticated"), "{body}");
    let unauthenticated = header(&h, "pix-request-id");
    // A principal the policy does not name, and the policy's own outside its ISPB: 403.
    let stranger = "arn:aws:sts::123456789012:assumed-role/batch-job/i-1";
    let (status, _, body) = invoke(&spi, &event::as_caller(&send("99999010"), Some(stranger))).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("not in the callers policy") && body.contains("spi-send"),
        "{body}"
    );
    let (status, h, body) = invoke(&spi, &send("99999020")).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("lacks permission spi-send for ISPB 99999020"),
        "{body}"
    );
    let forbidden = header(&h, "pix-request-id");
    // The policy's principal, for its ISPB: signed, sent, its identity in the audit record.
    let (status, h, body) = invoke(&spi, &send("99999010")).await;
    assert_eq!(status, 201, "{body}");
    let sent = header(&h, "pix-request-id");
    let records = aws::s3_records(&bank.moto.endpoint, "spi").await;
    let caller_of = |id: &str| {
        records
            .iter()
            .find(|r| r["request_id"] == id)
            .map(|r| r["caller"].as_str().unwrap_or("").to_string())
            .expect("audited")
    };
    assert_eq!(caller_of(&unauthenticated), "unauthenticated");
    assert_eq!(caller_of(&forbidden), format!("iam:{}", event::CALLER_SESSION));
    assert_eq!(caller_of(&sent), format!("iam:{}", event::CALLER_SESSION));

    // Without the parameter Callers, nothing is allowed.
    bank.clients
        .ssm
        .delete_parameter()
        .name(format!("{}Callers", FLAVOUR.prefix()))
        .send()
        .await
        .expect("delete");
    let closed = configured::relay(&clients, Profile::Spi, &Deployment::default())
        .await
        .expect("SPI relay");
    let (status, _, body) = invoke(&closed, &send("99999010")).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("no callers policy"), "{body}");
    bank.simulator.shutdown().await;
}
