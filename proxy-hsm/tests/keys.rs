//! Keys and certificates from the proxy itself, on a real PKCS#11 token (SoftHSMv2): `keygen`
//! makes non-extractable, sensitive keys and never overwrites a label; `csr` requests signed by
//! those keys pass `openssl req -verify` with the subject and key given; certificates a CA issues
//! from them run the whole pipeline against the simulator; `certificates` fails on a mismatched
//! pair and on an expired certificate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use proxy_core::audit::FileSink;
use proxy_core::config::{Network, Parameters};
use proxy_hsm::configured::{self, Deployment, FLAVOUR, PinFormat, Settings};

const PREFIX: &str = "/pix/proxy/cloudhsm/";
use proxy_hsm::pkcs11::Token;
use proxy_hsm::{FrontEnd, Listen};
use rcgen::{CertificateSigningRequestParams, ExtendedKeyUsagePurpose, Issuer, KeyPair};
use simulator::pki::{DevPki, TLS_NAME};
use simulator::{Config, Simulator};
use testkit::bank::{STREAM_START, get, header, post_xml};
use testkit::samples::bytes as sample;
use testkit::softhsm::{MODULE, softhsm};

fn proxy_hsm(args: &[&str], token: &str, secret: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_proxy-hsm"))
        .args(args)
        .args([
            "--module",
            MODULE,
            "--token-label",
            token,
            "--pin-format",
            "plain",
            "--secret",
        ])
        .arg(secret)
        .output()
        .expect("proxy-hsm")
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).expect("utf-8")
}

/// A certificate for `csr` from the PSP CA of `pki`, for mTLS clients when `client`.
fn issue(pki: &DevPki, csr: &str, client: bool, expired: bool) -> String {
    let mut req = CertificateSigningRequestParams::from_pem(csr).expect("a valid CSR");
    if client {
        req.params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    }
    if expired {
        req.params.not_before = rcgen::date_time_ymd(2019, 1, 1);
        req.params.not_after = rcgen::date_time_ymd(2020, 1, 1);
    }
    let ca_key = KeyPair::from_pem(&std::fs::read_to_string(pki.path("psp-ca.key")).unwrap()).unwrap();
    let issuer =
        Issuer::from_ca_cert_pem(&std::fs::read_to_string(pki.path("psp-ca.cer")).unwrap(), ca_key).unwrap();
    req.signed_by(&issuer).expect("issued").pem()
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_made_on_the_token_get_certificates_through_csrs_and_run_the_pipeline() {
    let Some(dev) = softhsm() else { return };
    let openssl = testkit::tools::have("openssl", &["version"]);
    let dir = tempfile::tempdir().expect("dir");
    let secret = dir.path().join("secret.json");
    std::fs::write(
        &secret,
        format!(r#"{{"HSM_USER":"crypto_user","HSM_PASSWORD":"{}"}}"#, dev.pin),
    )
    .unwrap();

    // keygen: a key under each label, never overwritten.
    for label in ["PIX_SIG", "PIX_MTLS"] {
        let public = ok(&proxy_hsm(&["keygen", "--label", label], &dev.label, &secret));
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"), "{public}");
    }
    let again = proxy_hsm(&["keygen", "--label", "PIX_SIG"], &dev.label, &secret);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));
    let token = Token::open(Path::new(MODULE), Some(&dev.label), &dev.pin).expect("token");
    for label in ["PIX_SIG", "PIX_MTLS"] {
        assert!(
            !token.is_extractable(label).unwrap(),
            "{label}: CKA_EXTRACTABLE false"
        );
        assert!(token.is_sensitive(label).unwrap(), "{label}: CKA_SENSITIVE true");
    }

    // csr: signed by the key on the token, with the subject and SANs given.
    let subject = "CN=spi.banco-exemplo.com.br,OU=PIX,O=Banco Exemplo S.A.,C=BR";
    let sig_csr = ok(&proxy_hsm(
        &["csr", "--label", "PIX_SIG", "--subject", subject],
        &dev.label,
        &secret,
    ));
    let mtls_csr = ok(&proxy_hsm(
        &[
            "csr",
            "--label",
            "PIX_MTLS",
            "--subject",
            subject,
            "--san",
            "spi.banco-exemplo.com.br",
        ],
        &dev.label,
        &secret,
    ));
    let (n, e) = token.public_key("PIX_SIG").unwrap();
    let parsed = CertificateSigningRequestParams::from_pem(&sig_csr).expect("rcgen verifies the CSR");
    assert_eq!(
        rcgen::PublicKeyData::der_bytes(&parsed.public_key),
        proxy_core::csr::rsa_public_key(&n, &e).as_slice(),
        "the CSR holds the token key's public key"
    );
    if openssl {
        let file = dir.path().join("sig.csr");
        std::fs::write(&file, &sig_csr).unwrap();
        let out = Command::new("openssl")
            .args(["req", "-verify", "-noout", "-subject", "-in"])
            .arg(&file)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && text.contains("verif") && text.contains("OK"),
            "{text}"
        );
        assert!(
            text.contains("spi.banco-exemplo.com.br") && text.contains("Banco Exemplo"),
            "{text}"
        );
    }

    // The CA's certificates for those requests run the pipeline end to end.
    let pki = DevPki::generate(&dir.path().join("pki")).expect("pki");
    let sig_cert = issue(&pki, &sig_csr, false, false);
    let mtls_cert = issue(&pki, &mtls_csr, true, false);
    let sig_file = dir.path().join("sig.cer");
    std::fs::write(&sig_file, &sig_cert).unwrap();
    let mut config = Config::ephemeral(&pki);
    config.psp_signature_certs = vec![sig_file];
    let sim = Simulator::start(config).await.expect("simulator");
    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    let values = |signature: &str, mtls: &str| -> HashMap<String, String> {
        [
            ("SignatureKeyLabel", "PIX_SIG".to_string()),
            ("SignatureCertificate", signature.to_string()),
            ("MtlsKeyLabel", "PIX_MTLS".into()),
            ("MtlsCertificate", mtls.to_string()),
            ("DictAuditStream", "d".into()),
            ("SpiAuditStream", "s".into()),
            ("BcbDictEndpoint", format!("{TLS_NAME}:{}", sim.dict.port())),
            ("BcbSpiEndpoint", format!("{TLS_NAME}:{}", sim.spi.port())),
            ("BcbSignatureCertificate", read(&pki.path("bacen-sig.cer"))),
            ("BcbMtlsCertificate", read(&pki.path("bacen-ca.cer"))),
        ]
        .into_iter()
        .map(|(k, v)| (format!("{PREFIX}{k}"), v))
        .collect()
    };
    let params = Parameters::new(FLAVOUR, values(&sig_cert, &mtls_cert));
    let network = Network {
        resolve: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ..Network::default()
    };
    let settings = Settings::read(&params, &network).expect("settings");
    let deployment = Deployment {
        module: MODULE.into(),
        token_label: Some(dev.label.clone()),
        pool: 2,
    };
    let pin = configured::pin_from_secret(&read(&secret), PinFormat::Plain).unwrap();
    let audit = Arc::new(FileSink::new(&dir.path().join("audit")));
    let (dict, spi) = configured::relays(
        settings,
        &configured::open_token(&deployment, &pin).expect("token"),
        &deployment,
        audit,
    )
    .expect("relays");
    let proxy = FrontEnd::start(
        Listen::ephemeral(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        dict,
        spi,
        None,
    )
    .await
    .expect("front end");
    let (status, _, body) = post_xml(proxy.spi, "/api/v1/in/99999010/msgs", sample("pacs.008.xml")).await;
    assert_eq!(
        status,
        201,
        "BACEN verified the token's signature: {}",
        String::from_utf8_lossy(&body)
    );
    let (status, h, _) = get(proxy.spi, STREAM_START).await;
    assert_eq!(
        (status, header(&h, "pix-signature-valid").as_str()),
        (200, "true")
    );
    proxy.shutdown().await;

    // certificates: the pairs hold; a swapped pair and an expired certificate do not.
    let check = |v: HashMap<String, String>| {
        let file = dir.path().join("parameters.json");
        std::fs::write(&file, serde_json::to_string(&v).unwrap()).unwrap();
        proxy_hsm(
            &["certificates", "--parameters", file.to_str().unwrap()],
            &dev.label,
            &secret,
        )
    };
    let good = check(values(&sig_cert, &mtls_cert));
    let text = ok(&good);
    assert!(
        text.contains("signature: ok") && text.contains("days left"),
        "{text}"
    );
    let swapped = check(values(&mtls_cert, &mtls_cert));
    assert_eq!(swapped.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&swapped.stdout).contains("does NOT hold its key's public key"));
    let expired = check(values(&issue(&pki, &sig_csr, false, true), &mtls_cert));
    assert_eq!(expired.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&expired.stdout).contains("PROBLEM: expired"));
    sim.shutdown().await;
}
