//! The Fargate flavour with its keys in a real PKCS#11 token (SoftHSMv2): both the XML signature
//! key and the mTLS key are generated on the token as non-extractable, and the whole pipeline runs
//! through them against the simulator. Needs Debian's `softhsm2` (bash .ci/run installs it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::Duration;

use pix_dev::hsm::{DevOptions, DevSetup, Keys, call};
use pix_xmldsig::signer::Signer;
use proxy_hsm::Listen;
use proxy_hsm::pkcs11::Token;
use testkit::softhsm::MODULE;

use testkit::bank::{STREAM_START, get};
use testkit::samples::bytes as sample;
use testkit::softhsm::softhsm;

#[tokio::test(flavor = "multi_thread")]
async fn keys_in_softhsm_sign_messages_and_tls_end_to_end() {
    let Some(first) = softhsm() else { return };
    // A wrong PIN is refused with its reason (first login of the process: nothing cached).
    let wrong = Token::open(Path::new(MODULE), Some(&first.label), "00000000").expect("token opens");
    let err = wrong.generate_rsa_key("x").expect_err("wrong PIN");
    assert!(err.to_string().contains("wrong PIN"), "{err}");
    assert!(
        !err.to_string().contains("00000000"),
        "the PIN never appears in errors"
    );
    let absent =
        Token::open(Path::new("/nonexistent/libcloudhsm_pkcs11.so"), None, "x").expect_err("absent module");
    assert!(absent.to_string().contains("does not exist"), "{absent}");
    drop(wrong);
    drop(first);

    let dir = tempfile::tempdir().expect("dir");
    let setup = DevSetup::start_with(
        dir.path(),
        DevOptions {
            timeout: Duration::from_secs(5),
            keys: Keys::SoftHsm,
            ..DevOptions::new(Listen::ephemeral(IpAddr::V4(Ipv4Addr::LOCALHOST)))
        },
    )
    .await
    .expect("set-up with SoftHSM keys");
    assert!(setup.signer.contains("SoftHSM"), "{}", setup.signer);
    let xml = ("content-type", "application/xml; charset=utf-8");

    let (status, _, body) = call(
        setup.proxy.spi,
        "POST",
        "/api/v1/in/99999010/msgs",
        &[xml],
        sample("pacs.008.xml"),
    )
    .await
    .expect("send");
    assert_eq!(
        status,
        201,
        "the simulator verified the HSM signature: {}",
        String::from_utf8_lossy(&body)
    );
    let (status, h, _) = get(setup.proxy.spi, STREAM_START).await;
    assert_eq!(status, 200);
    assert_eq!(
        h.get("pix-signature-valid").and_then(|v| v.to_str().ok()),
        Some("true")
    );
    let (status, _, _) = call(
        setup.proxy.dict,
        "POST",
        "/api/v2/entries/",
        &[xml],
        sample("dict-create-entry.xml"),
    )
    .await
    .expect("dict");
    assert_eq!(status, 201);

    let (_, token) = setup.token.as_ref().expect("keys are in a token");
    for label in ["pix-signature", "pix-mtls"] {
        assert!(
            !token.is_extractable(label).expect("attribute"),
            "{label} must not be extractable"
        );
    }
    let missing = refused(token, "no-such-key", &dir.path().join("pki/psp-sig-hsm.cer"));
    assert!(
        missing
            .to_string()
            .contains("no private key labelled 'no-such-key'"),
        "{missing}"
    );
    let mismatch = refused(token, "pix-signature", &dir.path().join("pki/psp-mtls-hsm.cer"));
    assert!(
        mismatch.to_string().contains("does not match the certificate"),
        "{mismatch}"
    );

    // Concurrent signatures share the session pool.
    let cert = pix_xmldsig::trust::Certificate::from_pem_file(&dir.path().join("pki/psp-sig-hsm.cer"))
        .expect("cert");
    let signer = std::sync::Arc::new(token.signer("pix-signature", cert.clone(), 4).expect("signer"));
    let mut tasks = Vec::new();
    for i in 0..16u8 {
        let s = std::sync::Arc::clone(&signer);
        tasks.push(tokio::spawn(async move { (i, s.sign(&[i; 32]).await) }));
    }
    for t in tasks {
        let (i, sig) = t.await.expect("join");
        assert!(cert.verifies(&[i; 32], &sig.expect("signature")), "signature {i}");
    }

    // The token forgets the login (reset, fail-over): signers log in again and carry on.
    token.logout().expect("logout");
    let sig = signer
        .sign(b"after reset")
        .await
        .expect("recovered after the sessions were lost");
    assert!(cert.verifies(b"after reset", &sig));
    let (status, _, _) = call(
        setup.proxy.spi,
        "POST",
        "/api/v1/in/99999010/msgs",
        &[xml],
        sample("pibr.001.xml"),
    )
    .await
    .expect("send");
    assert_eq!(status, 201, "the proxy's own signer recovered too");
    setup.shutdown().await;
}

/// Why the token refuses a signer for `label` with the certificate in `cert`.
fn refused(token: &Token, label: &str, cert: &std::path::Path) -> String {
    let cert = pix_xmldsig::trust::Certificate::from_pem_file(cert).expect("cert");
    token.signer(label, cert, 2).err().expect("refused").to_string()
}
