//! Two participants hosted by the simulator: a payment from one to the other through BACEN, the
//! payee's answer settling it, refunds, BACEN's echo, and who may act for whom.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use testkit::bank::text_of;

const E2E: &str = "E9999901020261125100000000000001";

fn msgs(ispb: &str) -> String {
    format!("/api/v1/in/{ispb}/msgs")
}

/// The payee's pacs.002 for the sample pacs.008, with this status.
fn payee_status(status: &str) -> String {
    sample("pacs.002.xml")
        .replace(
            "<Id>99999010</Id></Othr></FinInstnId></FIId></Fr>",
            "<Id>99999020</Id></Othr></FinInstnId></FIId></Fr>",
        )
        .replace("E9999902020261125100000000000001", E2E)
        .replace("<TxSts>ACSP</TxSts>", &format!("<TxSts>{status}</TxSts>"))
}

#[tokio::test]
async fn a_payment_goes_through_the_payees_stream_and_its_pacs002_settles_it() {
    let h = Harness::two_participants().await;
    let (mut payer, mut payee) = (Reader::new(PAYER), Reader::new(PAYEE));

    let pacs008 = h
        .signed(&sample("pacs.008.xml"), pix_xmldsig::dsig::Profile::Spi)
        .await;
    assert_eq!(h.spi("POST", &msgs(PAYER), &[XML], pacs008).await.status, 201);
    // The payee gets it from BACEN: BACEN's header and signature, the payer's Document.
    let delivered = payee.message(&h, &h.payee).await;
    assert!(
        delivered.contains("pacs.008/1.16") && delivered.contains(E2E),
        "{delivered}"
    );
    assert!(
        delivered.contains("<Fr><FIId><FinInstnId><Othr><Id>00038166</Id>"),
        "{delivered}"
    );
    assert!(
        delivered.contains("<To><FIId><FinInstnId><Othr><Id>99999020</Id>"),
        "{delivered}"
    );
    assert!(delivered.contains("Maria da Conceição"));
    // Nothing reaches the payer before the payee answers.
    assert_eq!(payer.read(&h, &h.client).await.status, 204);

    let answer = h.payee_signed(&payee_status("ACSP")).await;
    assert_eq!(
        h.spi_as(&h.payee, &msgs(PAYEE), answer).await.status,
        201,
        "payee's pacs.002"
    );
    for (reader, client, who) in [(&mut payer, &h.client, "payer"), (&mut payee, &h.payee, "payee")] {
        let result = reader.message(&h, client).await;
        assert!(result.contains("pacs.002/1.17"), "{who}: {result}");
        assert_eq!(text_of(&result, "OrgnlEndToEndId"), E2E, "{who}");
        assert_eq!(text_of(&result, "TxSts"), "ACSP", "{who}");
    }
    let (_, stats) = control(h.sim.check, "GET", "/stats").await;
    assert!(
        stats.contains("\"forwarded\":1") && stats.contains("\"rejected\":0"),
        "{stats}"
    );
    h.sim.shutdown().await;
}

#[tokio::test]
async fn a_rejection_reaches_the_payer_only_and_a_status_settles_once() {
    let h = Harness::two_participants().await;
    let (mut payer, mut payee) = (Reader::new(PAYER), Reader::new(PAYEE));
    let pacs008 = h
        .signed(&sample("pacs.008.xml"), pix_xmldsig::dsig::Profile::Spi)
        .await;
    h.spi("POST", &msgs(PAYER), &[XML], pacs008).await;
    payee.message(&h, &h.payee).await;

    // The payer cannot answer for the payee.
    let forged = h
        .signed(
            &payee_status("ACSP").replace(
                "<Id>99999020</Id></Othr></FinInstnId></FIId></Fr>",
                "<Id>99999010</Id></Othr></FinInstnId></FIId></Fr>",
            ),
            pix_xmldsig::dsig::Profile::Spi,
        )
        .await;
    h.spi("POST", &msgs(PAYER), &[XML], forged).await;
    let admi = payer.message(&h, &h.client).await;
    assert!(admi.contains("<RjctgPtyRsn>NotThePayee</RjctgPtyRsn>"), "{admi}");

    let rjct = h.payee_signed(&payee_status("RJCT")).await;
    h.spi_as(&h.payee, &msgs(PAYEE), rjct.clone()).await;
    let result = payer.message(&h, &h.client).await;
    assert_eq!(text_of(&result, "TxSts"), "RJCT");
    // A second status for the same payment finds none pending.
    h.spi_as(&h.payee, &msgs(PAYEE), rjct).await;
    let admi = payee.message(&h, &h.payee).await;
    assert!(
        admi.contains("<RjctgPtyRsn>UnknownPayment</RjctgPtyRsn>"),
        "{admi}"
    );
    assert_eq!(
        payee.read(&h, &h.payee).await.status,
        204,
        "the payee got no RJCT copy"
    );
    h.sim.shutdown().await;
}

#[tokio::test]
async fn a_refund_goes_back_to_the_payer_and_is_settled_by_its_pacs002() {
    let h = Harness::two_participants().await;
    let (mut payer, mut payee) = (Reader::new(PAYER), Reader::new(PAYEE));
    let pacs004 = h.payee_signed(&sample("pacs.004.xml")).await;
    assert_eq!(h.spi_as(&h.payee, &msgs(PAYEE), pacs004).await.status, 201);
    let refund = payer.message(&h, &h.client).await;
    assert!(
        refund.contains("pacs.004/1.3") && refund.contains("<RtrId>D9999902020261125110000000000001</RtrId>")
    );

    // The original payer accepts the refund, naming it by its RtrId.
    let status = sample("pacs.002.xml")
        .replace(
            "<OrgnlInstrId>E9999902020261125100000000000001</OrgnlInstrId>",
            "<OrgnlInstrId>D9999902020261125110000000000001</OrgnlInstrId>",
        )
        .replace(
            "<OrgnlEndToEndId>E9999902020261125100000000000001</OrgnlEndToEndId>",
            "<OrgnlEndToEndId>E9999901020261125100000000000001</OrgnlEndToEndId>",
        );
    let status = h.signed(&status, pix_xmldsig::dsig::Profile::Spi).await;
    assert_eq!(h.spi("POST", &msgs(PAYER), &[XML], status).await.status, 201);
    for (reader, client) in [(&mut payee, &h.payee), (&mut payer, &h.client)] {
        let result = reader.message(&h, client).await;
        assert_eq!(
            text_of(&result, "OrgnlInstrId"),
            "D9999902020261125110000000000001"
        );
        assert_eq!(text_of(&result, "TxSts"), "ACSP");
    }
    h.sim.shutdown().await;
}

#[tokio::test]
async fn bacens_echo_is_answered_with_pibr002() {
    let h = Harness::two_participants().await;
    let (status, id) = control(h.sim.check, "POST", "/echo?ispb=99999020").await;
    assert_eq!(status, 201);
    let id = id.trim().to_string();
    assert_eq!(
        control(h.sim.check, "GET", &format!("/echo?id={id}")).await.0,
        202
    );
    let mut payee = Reader::new(PAYEE);
    let echo = payee.message(&h, &h.payee).await;
    assert!(
        echo.contains("pibr.001/1.0") && echo.contains(&format!("<Data>{id}</Data>")),
        "{echo}"
    );

    let answer = testkit::samples::echo_answer(PAYEE, &id);
    let answer = h.payee_signed(&answer).await;
    assert_eq!(h.spi_as(&h.payee, &msgs(PAYEE), answer).await.status, 201);
    assert_eq!(
        control(h.sim.check, "GET", &format!("/echo?id={id}")).await,
        (200, "answered\n".to_string())
    );
    assert_eq!(control(h.sim.check, "GET", "/echo?id=nope").await.0, 404);
    h.sim.shutdown().await;
}

#[tokio::test]
async fn each_participant_acts_only_for_itself() {
    let h = Harness::two_participants().await;
    // The payer's client certificate on the payee's stream: refused at once.
    let r = h
        .spi("GET", "/api/v1/out/99999020/stream/start", &[], vec![])
        .await;
    assert_eq!(r.status, 403);
    assert!(
        r.text().contains("participant 99999010's, not 99999020's"),
        "{}",
        r.text()
    );
    // A message signed by the payer but sent by the payee: not the sender's signature.
    let mut payee = Reader::new(PAYEE);
    let wrong = h
        .signed(&payee_status("ACSP"), pix_xmldsig::dsig::Profile::Spi)
        .await;
    assert_eq!(h.spi_as(&h.payee, &msgs(PAYEE), wrong).await.status, 201);
    let admi = payee.message(&h, &h.payee).await;
    assert!(
        admi.contains("<RjctgPtyRsn>InvalidSignature</RjctgPtyRsn>"),
        "{admi}"
    );
    h.sim.shutdown().await;
}

#[tokio::test]
async fn a_payee_that_does_not_answer_in_time_loses_the_payment_ab03_to_both() {
    let h = Harness::two_participants().await;
    let (mut payer, mut payee) = (Reader::new(PAYER), Reader::new(PAYEE));
    let (status, _) = control(h.sim.check, "POST", "/payee-timeout?ms=300").await;
    assert_eq!(status, 204);
    let pacs008 = h
        .signed(&sample("pacs.008.xml"), pix_xmldsig::dsig::Profile::Spi)
        .await;
    assert_eq!(h.spi("POST", &msgs(PAYER), &[XML], pacs008).await.status, 201);
    payee.message(&h, &h.payee).await;
    // No answer from the payee: BACEN rejects it AB03 to both (Q&A #366, #426).
    for (reader, client, who) in [(&mut payer, &h.client, "payer"), (&mut payee, &h.payee, "payee")] {
        let result = reader.message(&h, client).await;
        assert_eq!(text_of(&result, "TxSts"), "RJCT", "{who}: {result}");
        assert_eq!(text_of(&result, "Cd"), "AB03", "{who}: {result}");
        assert_eq!(text_of(&result, "OrgnlEndToEndId"), E2E, "{who}");
    }
    // The payee's answer after the time finds no payment.
    let late = h.payee_signed(&payee_status("ACSP")).await;
    h.spi_as(&h.payee, &msgs(PAYEE), late).await;
    let admi = payee.message(&h, &h.payee).await;
    assert!(
        admi.contains("<RjctgPtyRsn>UnknownPayment</RjctgPtyRsn>"),
        "{admi}"
    );
    assert_eq!(
        payer.read(&h, &h.client).await.status,
        204,
        "nothing more for the payer"
    );
    let (_, stats) = control(h.sim.check, "GET", "/stats").await;
    assert!(stats.contains("\"timed_out\":1"), "{stats}");
    assert_eq!(control(h.sim.check, "POST", "/payee-timeout?ms=x").await.0, 400);
    h.sim.shutdown().await;
}

#[tokio::test]
async fn a_payment_from_another_bank_reaches_the_payees_stream_and_its_pacs002_settles_it() {
    let h = Harness::start().await;
    let mut reader = Reader::new(PAYER);
    let (status, e2e) = control(h.sim.check, "POST", &format!("/payment?ispb={PAYER}")).await;
    assert_eq!(status, 201);
    let e2e = e2e.trim().to_string();
    assert!(e2e.starts_with("E99999030") && e2e.len() == 32, "{e2e}");
    let delivered = reader.message(&h, &h.client).await;
    assert!(delivered.contains("pacs.008/1.16"), "{delivered}");
    assert_eq!(text_of(&delivered, "EndToEndId"), e2e);
    // The payee's ACSP settles it: BACEN's pacs.002 comes back, no admi.002.
    let answer = sample("pacs.002.xml").replace("E9999902020261125100000000000001", &e2e);
    let answer = h.signed(&answer, pix_xmldsig::dsig::Profile::Spi).await;
    assert_eq!(h.spi("POST", &msgs(PAYER), &[XML], answer).await.status, 201);
    let result = reader.message(&h, &h.client).await;
    assert!(result.contains("pacs.002/1.17"), "{result}");
    assert_eq!(text_of(&result, "OrgnlEndToEndId"), e2e);
    assert_eq!(text_of(&result, "TxSts"), "ACSP");
    assert_eq!(control(h.sim.check, "POST", "/payment?ispb=nope").await.0, 400);
    h.sim.shutdown().await;
}
