//! The README's first command, in process: the whole demo (two participants, each with its own
//! proxy and keys — in SoftHSM when installed —, a payment between them, an echo, a DICT entry)
//! passes and leaves an audit record per request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_passes_every_step() {
    let dir = tempfile::tempdir().expect("dir");
    pix_dev::hsm::run(dir.path()).await.expect("every step passes");
    let payee = testkit::tools::json_lines(&dir.path().join("audit-payee/log/spi"));
    assert!(
        payee
            .iter()
            .any(|r| r["request_body"].as_str().is_some_and(|b| b.contains("pacs.002"))),
        "the payee's pacs.002 went through its own proxy: {payee:?}"
    );
}
