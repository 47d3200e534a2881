//! The simulator with BACEN's schemas (`--schemas`, catalog 5.13.1 from `../shared/fixtures/xsd`):
//! like BACEN, it takes every send (`201`) and answers an invalid message, or one in a version
//! its catalog does not enable, with an admi.002 on the sender's stream, never settling it; what
//! it writes itself is valid; a pacs.008 of ten transactions settles transaction by transaction.
//! Skips, saying so, without `../shared`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;

use common::*;
use pix_schemas::{Catalog, Stage};
use pix_xmldsig::dsig::Profile;
use testkit::bank::text_of;
use testkit::samples;

fn msgs(ispb: &str) -> String {
    format!("/api/v1/in/{ispb}/msgs")
}

async fn with_schemas(dir: PathBuf) -> Harness {
    Harness::two_participants_with(move |c| c.schemas = Some(dir)).await
}

/// The payee's pacs.002 answering every transaction of `pacs008` with `status(i)`.
fn answer(pacs008: &str, status: impl Fn(usize) -> &'static str) -> String {
    let sample = sample("pacs.002.xml").replace(
        "<Id>99999010</Id></Othr></FinInstnId></FIId></Fr>",
        "<Id>99999020</Id></Othr></FinInstnId></FIId></Fr>",
    );
    let a = sample.find("      <TxInfAndSts>").unwrap();
    let b = sample.find("    </FIToFIPmtStsRpt>").unwrap();
    let statuses: String = pacs008
        .match_indices("<EndToEndId>")
        .enumerate()
        .map(|(i, (at, tag))| {
            let e2e = &pacs008[at + tag.len()..at + tag.len() + 32];
            format!(
                "      <TxInfAndSts><OrgnlInstrId>{e2e}</OrgnlInstrId><OrgnlEndToEndId>{e2e}</OrgnlEndToEndId><TxSts>{}</TxSts></TxInfAndSts>\n",
                status(i)
            )
        })
        .collect();
    format!("{}{statuses}{}", &sample[..a], &sample[b..])
}

#[tokio::test]
async fn the_catalog_endpoints_list_the_schemas_versions() {
    let Some(xsd) = testkit::tools::shared("fixtures/xsd") else {
        return;
    };
    // Two versions of pacs.008 enabled at once, as during one of BACEN's transitions.
    let dir = tempfile::tempdir().unwrap();
    for f in ["pacs.008.spi.1.16.xsd", "pacs.002.spi.1.17.xsd"] {
        std::fs::copy(xsd.join(f), dir.path().join(f)).unwrap();
    }
    let older = std::fs::read_to_string(xsd.join("pacs.008.spi.1.16.xsd"))
        .unwrap()
        .replace("pacs.008/1.16", "pacs.008/1.15");
    std::fs::write(dir.path().join("pacs.008.spi.1.15.xsd"), older).unwrap();
    let h = with_schemas(dir.path().to_path_buf()).await;
    for side in ["in", "out"] {
        let r = h
            .spi("GET", &format!("/api/v1/{side}/catalog"), &[], vec![])
            .await;
        let text = r.text();
        for def in [
            "pacs.008.spi.1.15",
            "pacs.008.spi.1.16",
            "pacs.002.spi.1.17",
            "pacs.004.spi.1.3",
        ] {
            assert!(
                text.contains(&format!("<MsgDefIdr>{def}</MsgDefIdr>")),
                "{side}: {def}: {text}"
            );
        }
        assert_eq!(text.matches("pacs.002.spi.").count(), 1, "{text}");
    }
    h.sim.shutdown().await;
}

#[tokio::test]
async fn an_invalid_payment_is_taken_then_rejected_and_never_settles() {
    let Some(xsd) = testkit::tools::shared("fixtures/xsd") else {
        return;
    };
    let h = with_schemas(xsd).await;
    let (mut payer, mut payee) = (Reader::new(PAYER), Reader::new(PAYEE));
    let invalid = sample("pacs.008.xml").replace("<SvcLvl><Prtry>PAGPRI</Prtry></SvcLvl>", "");
    let sent = h
        .spi(
            "POST",
            &msgs(PAYER),
            &[XML],
            h.signed(&invalid, Profile::Spi).await,
        )
        .await;
    assert_eq!(sent.status, 201, "ICOM takes it: {}", sent.text());
    let admi = payer.message(&h, &h.client).await;
    assert_eq!(text_of(&admi, "Ref"), sent.header("pi-resourceid"), "{admi}");
    assert_eq!(text_of(&admi, "RjctgPtyRsn"), "InvalidSchema", "{admi}");
    assert!(text_of(&admi, "RsnDesc").contains("PmtTpInf"), "{admi}");
    assert_eq!(payee.read(&h, &h.payee).await.status, 204, "nothing delivered");
    let (_, stats) = control(h.sim.check, "GET", "/stats").await;
    assert!(stats.contains("\"forwarded\":0"), "{stats}");
    h.sim.shutdown().await;
}

#[tokio::test]
async fn a_version_the_catalog_does_not_enable_is_rejected() {
    let Some(xsd) = testkit::tools::shared("fixtures/xsd") else {
        return;
    };
    let h = with_schemas(xsd).await;
    let mut payer = Reader::new(PAYER);
    let old = sample("pacs.008.xml").replace("1.16", "1.13");
    let sent = h
        .spi("POST", &msgs(PAYER), &[XML], h.signed(&old, Profile::Spi).await)
        .await;
    assert_eq!(sent.status, 201);
    let admi = payer.message(&h, &h.client).await;
    assert_eq!(text_of(&admi, "RjctgPtyRsn"), "SchemaNotEnabled", "{admi}");
    assert!(
        text_of(&admi, "RsnDesc")
            .contains("Schema desconhecido ou não habilitado para uso: pacs.008.spi.1.13"),
        "{admi}"
    );
    h.sim.shutdown().await;
}

#[tokio::test]
async fn ten_transactions_settle_one_by_one_and_every_message_is_valid() {
    let Some(xsd) = testkit::tools::shared("fixtures/xsd") else {
        return;
    };
    let catalog = Catalog::load(&xsd).unwrap();
    let h = with_schemas(xsd).await;
    let (mut payer, mut payee) = (Reader::new(PAYER), Reader::new(PAYEE));
    let batch = samples::pacs_008_batch(10);
    let sent = h
        .spi("POST", &msgs(PAYER), &[XML], h.signed(&batch, Profile::Spi).await)
        .await;
    assert_eq!(sent.status, 201);
    let delivered = payee.message(&h, &h.payee).await;
    catalog.validate(delivered.as_bytes(), Stage::Signed).unwrap();
    assert_eq!(delivered.matches("<CdtTrfTxInf>").count(), 10, "{delivered}");

    // The payee accepts nine and rejects the fifth.
    let status = answer(&batch, |i| if i == 4 { "RJCT" } else { "ACSP" });
    let signed = h.payee_signed(&status).await;
    assert_eq!(h.spi_as(&h.payee, &msgs(PAYEE), signed).await.status, 201);
    let to_payer = payer.message(&h, &h.client).await;
    catalog.validate(to_payer.as_bytes(), Stage::Signed).unwrap();
    assert_eq!(to_payer.matches("<TxSts>ACSP</TxSts>").count(), 9, "{to_payer}");
    assert_eq!(to_payer.matches("<TxSts>RJCT</TxSts>").count(), 1, "{to_payer}");
    let to_payee = payee.message(&h, &h.payee).await;
    catalog.validate(to_payee.as_bytes(), Stage::Signed).unwrap();
    assert_eq!(
        to_payee.matches("<TxInfAndSts>").count(),
        9,
        "the payee's copy: the accepted ones"
    );
    assert!(
        !to_payee.contains("E9999901020261125100000000000005"),
        "{to_payee}"
    );
    // Each settled transaction is known by its EndToEndId; the rejected one is not.
    let (_, stats) = control(h.sim.check, "GET", "/stats").await;
    assert!(stats.contains("\"forwarded\":10"), "{stats}");
    h.sim.shutdown().await;
}

#[tokio::test]
async fn transactions_for_two_payees_reach_each_its_own() {
    let h = Harness::two_participants().await;
    let mut payee = Reader::new(PAYEE);
    // The second transaction is for a participant the simulator does not host: answered ACSP
    // for it, while the payee gets a pacs.008 with only its own transaction.
    let batch = samples::pacs_008_batch(2);
    let second = batch
        .rfind("<MmbId>99999020</MmbId></ClrSysMmbId></FinInstnId></CdtrAgt>")
        .unwrap();
    let batch = format!(
        "{}<MmbId>12345678{}",
        &batch[..second],
        &batch[second + "<MmbId>99999020".len()..]
    );
    let sent = h
        .spi("POST", &msgs(PAYER), &[XML], h.signed(&batch, Profile::Spi).await)
        .await;
    assert_eq!(sent.status, 201);
    let delivered = payee.message(&h, &h.payee).await;
    assert_eq!(delivered.matches("<CdtTrfTxInf>").count(), 1, "{delivered}");
    assert!(delivered.contains("<NbOfTxs>1</NbOfTxs>"), "{delivered}");
    assert!(
        delivered.contains("E9999901020261125100000000000001"),
        "{delivered}"
    );
    let mut payer = Reader::new(PAYER);
    let acsp = payer.message(&h, &h.client).await;
    assert_eq!(
        text_of(&acsp, "OrgnlEndToEndId"),
        "E9999901020261125100000000000002",
        "{acsp}"
    );
    h.sim.shutdown().await;
}
