//! `proxy-kms serve` as a process: configuration from moto's server through the default AWS
//! chain (environment credentials, endpoint override), the handler over plain HTTP; and a
//! deployment missing its parameters refuses to start, naming what is missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use testkit::aws;

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::{Command, Stdio};

use pix_dev::kms as demo;
use testkit::bank::call;

fn serve(endpoint: &str, port: u16) -> Command {
    let mut c = Command::new(pix_dev::binaries::proxy_kms());
    c.args([
        "serve",
        "--aws-endpoint",
        endpoint,
        "--listen",
        &format!("127.0.0.1:{port}"),
    ])
    .env("AWS_ACCESS_KEY_ID", "test")
    .env("AWS_SECRET_ACCESS_KEY", "test")
    .env("AWS_REGION", "sa-east-1")
    .env("PIX_SPI_PROXY", "true");
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_runs_the_handler_with_configuration_from_aws() {
    let Some(moto) = aws::moto() else { return };
    let dir = tempfile::tempdir().expect("dir");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();

    // Nothing provisioned yet: start-up stops, naming what it could not read.
    let out = serve(&moto.endpoint, port).output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("secret /pix/proxy/kms/MtlsPrivateKey")
            && stderr.contains("ResourceNotFoundException"),
        "{stderr}"
    );

    let (clients, s3) = demo::moto_clients(&moto.endpoint);
    let bank = demo::provision(&clients, &s3, dir.path())
        .await
        .expect("provision");
    let mut child = serve(&moto.endpoint, port)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let key = std::fs::read_to_string(bank.pki.path("psp-mtls.key")).expect("key");
    let key_body: Vec<String> = key
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 16)
        .map(str::to_string)
        .collect();
    assert!(!key_body.is_empty());
    let lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut ready = false;
    for line in lines.map_while(Result::ok) {
        // The mTLS key (generated for this run by the dev PKI) never reaches the logs.
        assert!(
            !key_body.iter().any(|b| line.contains(b.as_str())),
            "no key material in logs"
        );
        if line.contains("\"ready\"") {
            ready = true;
            break;
        }
    }
    assert!(ready, "serve reported ready");
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let pacs008 = testkit::samples::bytes("pacs.008.xml");
    let (status, h, body) = call(
        addr,
        "POST",
        "/api/v1/in/99999010/msgs",
        &[("content-type", "application/xml; charset=utf-8")],
        pacs008,
    )
    .await
    .expect("call");
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    assert!(h.contains_key("pix-request-id"));
    assert_eq!(
        aws::s3_records(&moto.endpoint, "spi").await.len(),
        1,
        "audited before answering"
    );
    let _ = child.kill();
    let _ = child.wait();
    bank.simulator.shutdown().await;
}

/// BACEN changes its signing certificate; the bank puts both certificates in SSM; the function
/// trusts the new one at its next refresh (`PIX_REFRESH_SECONDS`, five minutes in production),
/// between invocations, without a new container.
#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_change_is_picked_up_from_ssm_without_a_restart() {
    let Some(moto) = aws::moto() else { return };
    let dir = tempfile::tempdir().expect("dir");
    let port = testkit::tools::free_port().expect("port");
    let (clients, s3) = demo::moto_clients(&moto.endpoint);
    let bank = demo::provision(&clients, &s3, dir.path())
        .await
        .expect("provision");
    let mut child = serve(&moto.endpoint, port)
        .env("PIX_REFRESH_SECONDS", "1")
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let started = std::time::Instant::now();
    while call(addr, "GET", "/api/v1/in/catalog", &[], vec![])
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "serve did not start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let payment = || async {
        let xml = [("content-type", "application/xml; charset=utf-8")];
        let (status, _, _) = call(
            addr,
            "POST",
            "/api/v1/in/99999010/msgs",
            &xml,
            testkit::samples::bytes("pacs.008.xml"),
        )
        .await
        .expect("send");
        assert_eq!(status, 201);
        let (status, h, _) = testkit::bank::get(addr, testkit::bank::STREAM_START).await;
        assert_eq!(status, 200);
        let next = testkit::bank::header(&h, "pi-pull-next");
        let _ = call(addr, "DELETE", &next, &[], vec![]).await;
        testkit::bank::header(&h, "pix-signature-valid")
    };
    assert_eq!(payment().await, "true");
    let status = call(bank.simulator.check, "POST", "/rollover?family=spi", &[], vec![])
        .await
        .expect("rollover")
        .0;
    assert_eq!(status, 204);
    assert_eq!(payment().await, "false", "the new identity is not trusted yet");
    let read = |n: &str| std::fs::read_to_string(bank.pki.path(n)).expect("cert");
    let both = read("bacen-sig.cer") + &read("bacen-sig-next.cer");
    demo::put_parameter(&clients.ssm, "BcbSignatureCertificate", &both)
        .await
        .expect("put");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(payment().await, "true", "trusted after the refresh, same process");
    let _ = child.kill();
    let _ = child.wait();
    bank.simulator.shutdown().await;
}

/// `proxy-kms csr` for a KMS key (signed by KMS `Sign`) and `proxy-kms certificates`: the request
/// holds the key's public key and verifies; the provisioned pairs check out, and a signature
/// certificate of another key is reported with exit 1.
#[tokio::test(flavor = "multi_thread")]
async fn csr_for_a_kms_key_and_the_certificates_check() {
    let Some(demo::Deployed {
        moto,
        clients,
        s3: _,
        bank,
        dir,
    }) = demo::deployed().await
    else {
        return;
    };
    let run = |args: &[&str]| {
        Command::new(pix_dev::binaries::proxy_kms())
            .args(args)
            .args(["--aws-endpoint", &moto.endpoint])
            .envs(aws::CHILD_ENV)
            .output()
            .expect("proxy-kms")
    };
    let out = run(&[
        "csr",
        "--key-id",
        &bank.key_id,
        "--subject",
        "CN=spi.banco-exemplo.com.br,O=Banco Exemplo S.A.,C=BR",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csr = String::from_utf8(out.stdout).unwrap();
    let parsed = rcgen::CertificateSigningRequestParams::from_pem(&csr).expect("the CSR verifies");
    let public = proxy_kms::kms::rsa_public_key(&clients.kms, &bank.key_id)
        .await
        .unwrap();
    assert_eq!(
        rcgen::PublicKeyData::der_bytes(&parsed.public_key),
        public.as_slice()
    );
    if testkit::tools::have("openssl", &["version"]) {
        let file = dir.path().join("kms.csr");
        std::fs::write(&file, &csr).unwrap();
        let v = Command::new("openssl")
            .args(["req", "-verify", "-noout", "-in"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    }

    let good = run(&["certificates"]);
    let text = String::from_utf8_lossy(&good.stdout).to_string();
    assert!(
        good.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&good.stderr)
    );
    assert!(
        text.contains("signature: ok") && text.contains("mtls: ok") && text.contains("bacen-signature: ok"),
        "{text}"
    );
    let other = std::fs::read_to_string(bank.pki.path("psp-sig.cer")).unwrap();
    demo::put_parameter(&clients.ssm, "SignatureCertificate", &other)
        .await
        .unwrap();
    let bad = run(&["certificates"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stdout).contains("does NOT hold its key's public key"));
    bank.simulator.shutdown().await;
}
