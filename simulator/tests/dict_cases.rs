//! DICT's keys/check, infraction reports and refunds against the simulator, between two hosted
//! participants: each step by the side entitled to it, every answer signed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use pix_xmldsig::dsig::{self, Profile};
use testkit::bank::text_of;

const E2E: &str = "E9999901020261125100000000000001";

/// A DICT write signed and sent by `who` (PAYER or PAYEE), each with its own certificates.
async fn post_as(h: &Harness, who: &str, path: &str, xml: &str) -> Reply {
    let (client, signer) = if who == PAYER {
        (&h.client, &h.signer)
    } else {
        (&h.payee, &h.payee_signer)
    };
    let body = dsig::sign(xml.as_bytes(), Profile::Dict, signer)
        .await
        .expect("sign");
    let r = client
        .request(h.sim.dict, "POST", path, &[XML], body)
        .await
        .expect("DICT request");
    h.verify(&r.body, Profile::Dict).expect("every answer is signed");
    r
}

async fn get_as(h: &Harness, who: &str, path: &str) -> Reply {
    let client = if who == PAYER { &h.client } else { &h.payee };
    let r = client
        .request(h.sim.dict, "GET", path, &[], vec![])
        .await
        .expect("DICT request");
    h.verify(&r.body, Profile::Dict).expect("every answer is signed");
    r
}

/// The sample payment from PAYER to PAYEE, settled (ACSP).
async fn settled_payment(h: &Harness) {
    let mut payee = Reader::new(PAYEE);
    let pacs008 = h.signed(&sample("pacs.008.xml"), Profile::Spi).await;
    assert_eq!(
        h.spi("POST", &format!("/api/v1/in/{PAYER}/msgs"), &[XML], pacs008)
            .await
            .status,
        201
    );
    payee.message(h, &h.payee).await;
    let acsp = sample("pacs.002.xml")
        .replace(
            "<Id>99999010</Id></Othr></FinInstnId></FIId></Fr>",
            "<Id>99999020</Id></Othr></FinInstnId></FIId></Fr>",
        )
        .replace("E9999902020261125100000000000001", E2E);
    let answer = h.payee_signed(&acsp).await;
    let path = format!("/api/v1/in/{PAYEE}/msgs");
    assert_eq!(h.spi_as(&h.payee, &path, answer).await.status, 201);
    let settled = payee.message(h, &h.payee).await;
    assert_eq!(text_of(&settled, "TxSts"), "ACSP");
}

/// A CreateInfractionReportRequest of DICT's OpenAPI 2.12.1: `Reason` and `SituationType`.
fn report(reporter: &str, reason: &str, situation: &str) -> String {
    format!(
        "<CreateInfractionReportRequest><Participant>{reporter}</Participant><InfractionReport>\
         <TransactionId>{E2E}</TransactionId><Reason>{reason}</Reason><SituationType>{situation}</SituationType>\
         <ReportDetails>golpe do falso parente</ReportDetails></InfractionReport></CreateInfractionReportRequest>"
    )
}

fn action(root: &str, who: &str, extra: &str) -> String {
    format!("<{root}><Participant>{who}</Participant>{extra}</{root}>")
}

#[tokio::test]
async fn keys_check_says_which_keys_exist_on_its_own_server_unsigned() {
    let h = Harness::start().await;
    h.dict_post("/api/v2/entries/", &sample("dict-create-entry.xml"))
        .await;
    // DICT's OpenAPI 2.12.1: checkKeys on its own server (/api-np/v2/), CheckKeysRequest unsigned.
    let check = |xml: &'static str| {
        h.client.request(
            h.sim.dict_key_check,
            "POST",
            "/api-np/v2/keys/check",
            &[XML],
            xml.as_bytes().to_vec(),
        )
    };
    let r = check(
        "<CheckKeysRequest><Keys><Key>+5561988880000</Key><Key>nobody@example.com</Key></Keys></CheckKeysRequest>",
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    h.verify(&r.body, Profile::Dict).expect("signed");
    assert!(
        r.text().contains("<Key hasEntry=\"true\">+5561988880000</Key>"),
        "{}",
        r.text()
    );
    assert!(
        r.text()
            .contains("<Key hasEntry=\"false\">nobody@example.com</Key>"),
        "{}",
        r.text()
    );
    let empty = check("<CheckKeysRequest><Keys/></CheckKeysRequest>")
        .await
        .unwrap();
    assert_eq!(empty.status, 400);
    // Not on DICT's main server, and nothing else on the key-check server.
    let ask = "<CheckKeysRequest><Participant>99999010</Participant><Keys><Key>x@example.com</Key></Keys></CheckKeysRequest>";
    assert_eq!(h.dict_post("/api/v2/keys/check", ask).await.status, 404);
    let other = h
        .client
        .request(
            h.sim.dict_key_check,
            "GET",
            "/api/v2/entries/x@example.com",
            &[],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(other.status, 404);
    h.sim.shutdown().await;
}

#[tokio::test]
async fn an_infraction_report_is_acknowledged_and_closed_by_the_other_side_or_cancelled_by_its_reporter() {
    let h = Harness::two_participants().await;
    let create = |who: &'static str, reason: &'static str, situation: &'static str| {
        let h = &h;
        async move {
            post_as(
                h,
                who,
                "/api/v2/infraction-reports/",
                &report(who, reason, situation),
            )
            .await
        }
    };
    // Only settled payments can be reported.
    let early = create(PAYER, "REFUND_REQUEST", "SCAM").await;
    assert_eq!(early.status, 400, "{}", early.text());
    assert!(
        early
            .text()
            .contains("/error/InfractionReportTransactionNotFound"),
        "{}",
        early.text()
    );
    settled_payment(&h).await;
    let bad = create(PAYER, "GOSSIP", "SCAM").await;
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("Reason 'GOSSIP'"), "{}", bad.text());
    assert_eq!(
        create(PAYER, "REFUND_REQUEST", "UNKNOWN").await.status,
        400,
        "UNKNOWN is v1's"
    );
    // A refund request is the payer's to report; its cancellation the payee's, with OTHER.
    assert_eq!(create(PAYEE, "REFUND_REQUEST", "SCAM").await.status, 403);
    assert_eq!(create(PAYEE, "REFUND_CANCELLED", "SCAM").await.status, 400);
    let by_payee = create(PAYEE, "REFUND_CANCELLED", "OTHER").await;
    assert_eq!(by_payee.status, 201, "{}", by_payee.text());
    assert_eq!(text_of(&by_payee.text(), "ReporterParticipant"), PAYEE);
    // One report at a time on a transaction.
    let busy = create(PAYER, "REFUND_REQUEST", "SCAM").await;
    assert!(
        busy.text()
            .contains("/error/InfractionReportAlreadyBeingProcessedForTransaction"),
        "{}",
        busy.text()
    );
    let first = text_of(&by_payee.text(), "Id");
    let withdrawn = post_as(
        &h,
        PAYEE,
        &format!("/api/v2/infraction-reports/{first}/cancel"),
        &action("CancelInfractionReportRequest", PAYEE, ""),
    )
    .await;
    assert_eq!(
        text_of(&withdrawn.text(), "Status"),
        "CANCELLED",
        "{}",
        withdrawn.text()
    );

    let created = create(PAYER, "REFUND_REQUEST", "SCAM").await;
    assert_eq!(created.status, 201, "{}", created.text());
    let id = text_of(&created.text(), "Id");
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(text_of(&created.text(), "Status"), "OPEN");
    assert_eq!(text_of(&created.text(), "ReporterParticipant"), PAYER);
    assert_eq!(text_of(&created.text(), "CounterpartyParticipant"), PAYEE);

    // The other side learns of it from its list.
    let listed = get_as(
        &h,
        PAYEE,
        "/api/v2/infraction-reports/?Participant=99999020&IsCounterparty=true&Status=OPEN",
    )
    .await;
    assert_eq!(listed.status, 200);
    assert_eq!(text_of(&listed.text(), "Id"), id);
    let path = |a: &str| format!("/api/v2/infraction-reports/{id}/{a}");
    // Closing before acknowledging is refused; the reporter cannot acknowledge its own report.
    let close = |extra: &str| action("CloseInfractionReportRequest", PAYEE, extra);
    let unacknowledged = post_as(
        &h,
        PAYEE,
        &path("close"),
        &close("<AnalysisResult>DISAGREED</AnalysisResult>"),
    )
    .await;
    assert_eq!(unacknowledged.status, 400, "{}", unacknowledged.text());
    assert!(
        unacknowledged
            .text()
            .contains("/error/InfractionReportOperationInvalid")
    );
    let own = post_as(
        &h,
        PAYER,
        &path("acknowledge"),
        &action("AcknowledgeInfractionReportRequest", PAYER, ""),
    )
    .await;
    assert_eq!(own.status, 403, "{}", own.text());
    let ack = post_as(
        &h,
        PAYEE,
        &path("acknowledge"),
        &action("AcknowledgeInfractionReportRequest", PAYEE, ""),
    )
    .await;
    assert_eq!(text_of(&ack.text(), "Status"), "ACKNOWLEDGED", "{}", ack.text());
    assert_eq!(
        post_as(&h, PAYEE, &path("close"), &close("")).await.status,
        400,
        "no result"
    );
    // AGREED needs a FraudType of v2, and marks the fraud.
    let agreed = "<AnalysisResult>AGREED</AnalysisResult><AnalysisDetails>conta bloqueada</AnalysisDetails>";
    assert_eq!(
        post_as(&h, PAYEE, &path("close"), &close(agreed)).await.status,
        400
    );
    let unknown = format!("{agreed}<FraudType>UNKNOWN</FraudType>");
    assert_eq!(
        post_as(&h, PAYEE, &path("close"), &close(&unknown)).await.status,
        400
    );
    let closed = post_as(
        &h,
        PAYEE,
        &path("close"),
        &close(&format!("{agreed}<FraudType>SCAMMER_ACCOUNT</FraudType>")),
    )
    .await;
    assert_eq!(closed.status, 200, "{}", closed.text());
    assert_eq!(text_of(&closed.text(), "Status"), "CLOSED");
    assert_eq!(text_of(&closed.text(), "AnalysisResult"), "AGREED");
    assert_eq!(
        text_of(&closed.text(), "FraudMarkerId").len(),
        36,
        "{}",
        closed.text()
    );
    let late = post_as(
        &h,
        PAYER,
        &path("cancel"),
        &action("CancelInfractionReportRequest", PAYER, ""),
    )
    .await;
    assert_eq!(late.status, 400, "a closed report is final");
    assert!(late.text().contains("/error/InfractionReportOperationInvalid"));
    let got = get_as(&h, PAYER, &format!("/api/v2/infraction-reports/{id}")).await;
    assert_eq!(text_of(&got.text(), "Status"), "CLOSED");

    // Another, cancelled by its reporter only.
    let third = create(PAYER, "REFUND_REQUEST", "ACCOUNT_TAKEOVER").await;
    let third = text_of(&third.text(), "Id");
    let by_other = post_as(
        &h,
        PAYEE,
        &format!("/api/v2/infraction-reports/{third}/cancel"),
        &action("CancelInfractionReportRequest", PAYEE, ""),
    )
    .await;
    assert_eq!(by_other.status, 403);
    let cancelled = post_as(
        &h,
        PAYER,
        &format!("/api/v2/infraction-reports/{third}/cancel"),
        &action("CancelInfractionReportRequest", PAYER, ""),
    )
    .await;
    assert_eq!(text_of(&cancelled.text(), "Status"), "CANCELLED");
    // Acting for another participant than one's certificate is refused.
    let forged = post_as(
        &h,
        PAYER,
        &path("acknowledge"),
        &action("AcknowledgeInfractionReportRequest", PAYEE, ""),
    )
    .await;
    assert_eq!(forged.status, 403);
    h.sim.shutdown().await;
}

fn refund(reason: &str) -> String {
    format!(
        "<CreateRefundRequest><Participant>{PAYER}</Participant><Refund><TransactionId>{E2E}</TransactionId>\
         <RefundReason>{reason}</RefundReason><RefundAmount>10.00</RefundAmount>\
         <RefundDetails>pagamento duplicado</RefundDetails></Refund></CreateRefundRequest>"
    )
}

#[tokio::test]
async fn a_refund_is_requested_by_the_payer_and_closed_by_the_payee_or_cancelled() {
    let h = Harness::two_participants().await;
    settled_payment(&h).await;
    // The credited participant does not request refunds of what it received.
    let by_payee = post_as(
        &h,
        PAYEE,
        "/api/v2/refunds/",
        &refund("FRAUD").replace(
            "<Participant>99999010</Participant>",
            "<Participant>99999020</Participant>",
        ),
    )
    .await;
    assert_eq!(by_payee.status, 403, "{}", by_payee.text());
    // DICT's OpenAPI 2.12.1: a rejection names its RefundRejectionReason; the answer says
    // AnalysisResult (the request's RefundAnalysisResult).
    for (reason, analysis, rejection) in [
        ("FRAUD", "TOTALLY_ACCEPTED", ""),
        (
            "OPERATIONAL_FLAW",
            "REJECTED",
            "<RefundRejectionReason>NO_BALANCE</RefundRejectionReason>",
        ),
    ] {
        let created = post_as(&h, PAYER, "/api/v2/refunds/", &refund(reason)).await;
        assert_eq!(created.status, 201, "{}", created.text());
        assert_eq!(text_of(&created.text(), "ContestedParticipant"), PAYEE);
        assert_eq!(text_of(&created.text(), "RequestingParticipant"), PAYER);
        let id = text_of(&created.text(), "Id");
        assert_eq!(id.len(), 36, "a UUID: {id}");
        let close = |extra: &str| {
            action(
                "CloseRefundRequest",
                PAYEE,
                &format!("<RefundAnalysisResult>{analysis}</RefundAnalysisResult>{extra}"),
            )
        };
        if !rejection.is_empty() {
            let bare = post_as(&h, PAYEE, &format!("/api/v2/refunds/{id}/close"), &close("")).await;
            assert_eq!(
                bare.status,
                400,
                "a rejection without its reason: {}",
                bare.text()
            );
        }
        let closed = post_as(
            &h,
            PAYEE,
            &format!("/api/v2/refunds/{id}/close"),
            &close(rejection),
        )
        .await;
        assert_eq!(closed.status, 200, "{}", closed.text());
        assert_eq!(text_of(&closed.text(), "Status"), "CLOSED");
        assert_eq!(text_of(&closed.text(), "AnalysisResult"), analysis);
    }
    let created = post_as(&h, PAYER, "/api/v2/refunds/", &refund("FRAUD")).await;
    let id = text_of(&created.text(), "Id");
    let cancelled = post_as(
        &h,
        PAYER,
        &format!("/api/v2/refunds/{id}/cancel"),
        &action("CancelRefundRequest", PAYER, ""),
    )
    .await;
    assert_eq!(text_of(&cancelled.text(), "Status"), "CANCELLED");
    let unknown = post_as(&h, PAYER, "/api/v2/refunds/", &refund("BECAUSE")).await;
    assert_eq!(unknown.status, 400);
    let no_amount = refund("FRAUD").replace("<RefundAmount>10.00</RefundAmount>", "");
    assert_eq!(
        post_as(&h, PAYER, "/api/v2/refunds/", &no_amount).await.status,
        400
    );
    let listed = get_as(
        &h,
        PAYEE,
        "/api/v2/refunds/?Participant=99999020&ParticipantRole=CONTESTED&Status=CLOSED",
    )
    .await;
    assert_eq!(listed.text().matches("<Refund>").count(), 2, "{}", listed.text());
    assert_eq!(text_of(&listed.text(), "HasMoreElements"), "false");
    let as_requester = get_as(
        &h,
        PAYEE,
        "/api/v2/refunds/?Participant=99999020&ParticipantRole=REQUESTING",
    )
    .await;
    assert_eq!(
        as_requester.text().matches("<Refund>").count(),
        0,
        "{}",
        as_requester.text()
    );
    let without_role = get_as(&h, PAYEE, "/api/v2/refunds/?Participant=99999020").await;
    assert_eq!(without_role.status, 400);
    h.sim.shutdown().await;
}

#[tokio::test]
async fn a_policy_replaced_on_the_control_port_limits_at_once() {
    let h = Harness::start().await;
    let path = "/dict-policy?name=ENTRIES_READ_PARTICIPANT_ANTISCAN&capacity=2&refill_per_minute=0";
    assert_eq!(control(h.sim.check, "POST", path).await.0, 204);
    let statuses: Vec<u16> = {
        let mut s = Vec::new();
        for _ in 0..3 {
            s.push(h.lookup("+5561988880000").await.status.as_u16());
        }
        s
    };
    // The first 404 costs the anti-scan rule's 3 too (kept from the replaced policy): 3 > 2.
    assert_eq!(statuses, [404, 429, 429]);
    assert_eq!(
        control(
            h.sim.check,
            "POST",
            "/dict-policy?name=X&capacity=0&refill_per_minute=1"
        )
        .await
        .0,
        400
    );
    h.sim.shutdown().await;
}

#[tokio::test]
async fn a_funds_recovery_is_carried_through_to_the_refund() {
    let h = Harness::two_participants().await;
    settled_payment(&h).await;
    let recovery = |who: &str| {
        format!(
            "<CreateFundsRecoveryRequest><Participant>{who}</Participant><FundsRecovery>\
             <RootTransactionId>{E2E}</RootTransactionId><SituationType>SCAM</SituationType>\
             <ContactInformation><Email>med@example.com</Email><Phone>+5561999990000</Phone></ContactInformation>\
             </FundsRecovery></CreateFundsRecoveryRequest>"
        )
    };
    // The payer's participant opens it, not the payee's.
    assert_eq!(
        post_as(&h, PAYEE, "/api/v2/funds-recoveries/", &recovery(PAYEE))
            .await
            .status,
        403
    );
    let created = post_as(&h, PAYER, "/api/v2/funds-recoveries/", &recovery(PAYER)).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let id = text_of(&created.text(), "Id");
    assert_eq!(text_of(&created.text(), "Status"), "AWAITING_ANALYSIS");
    assert_eq!(text_of(&created.text(), "RootTransactionId"), E2E);
    assert!(created.text().contains("<TrackingGraph>"), "{}", created.text());
    let again = post_as(&h, PAYER, "/api/v2/funds-recoveries/", &recovery(PAYER)).await;
    assert!(
        again
            .text()
            .contains("/error/FundsRecoveryForTransactionAlreadyExists"),
        "{}",
        again.text()
    );

    // Its infraction report is the payee's to analyse; not cancellable on its own.
    let reports = get_as(
        &h,
        PAYEE,
        &format!("/api/v2/funds-recoveries/{id}/infraction-reports"),
    )
    .await;
    assert_eq!(reports.status, 200, "{}", reports.text());
    let report = text_of(&reports.text(), "Id");
    assert_eq!(text_of(&reports.text(), "FundsRecoveryId"), id);
    let path = |a: &str| format!("/api/v2/infraction-reports/{report}/{a}");
    let cancel = post_as(
        &h,
        PAYER,
        &path("cancel"),
        &action("CancelInfractionReportRequest", PAYER, ""),
    )
    .await;
    assert!(
        cancel.text().contains("/error/InfractionReportOperationInvalid"),
        "{}",
        cancel.text()
    );
    let early = post_as(
        &h,
        PAYER,
        &format!("/api/v2/funds-recoveries/{id}/refund"),
        &action("RefundFundsRecoveryRequest", PAYER, ""),
    )
    .await;
    assert!(
        early.text().contains("/error/FundsRecoveryOperationInvalid"),
        "{}",
        early.text()
    );
    post_as(
        &h,
        PAYEE,
        &path("acknowledge"),
        &action("AcknowledgeInfractionReportRequest", PAYEE, ""),
    )
    .await;
    let closed = post_as(
        &h,
        PAYEE,
        &path("close"),
        &action(
            "CloseInfractionReportRequest",
            PAYEE,
            "<AnalysisResult>AGREED</AnalysisResult><FraudType>MULE_ACCOUNT</FraudType>",
        ),
    )
    .await;
    assert_eq!(closed.status, 200, "{}", closed.text());
    let got = get_as(&h, PAYER, &format!("/api/v2/funds-recoveries/{id}")).await;
    assert_eq!(text_of(&got.text(), "Status"), "ANALYSED");

    // The reporter asks the refund; the payee accepts it; the recovery completes.
    let by_payee = post_as(
        &h,
        PAYEE,
        &format!("/api/v2/funds-recoveries/{id}/refund"),
        &action("RefundFundsRecoveryRequest", PAYEE, ""),
    )
    .await;
    assert_eq!(by_payee.status, 403);
    let refunding = post_as(
        &h,
        PAYER,
        &format!("/api/v2/funds-recoveries/{id}/refund"),
        &action("RefundFundsRecoveryRequest", PAYER, ""),
    )
    .await;
    assert_eq!(
        text_of(&refunding.text(), "Status"),
        "REFUNDING",
        "{}",
        refunding.text()
    );
    let refunds = get_as(&h, PAYER, &format!("/api/v2/funds-recoveries/{id}/refunds")).await;
    let refund = text_of(&refunds.text(), "Id");
    assert_eq!(
        text_of(&refunds.text(), "RefundAmount"),
        "250.00",
        "the payment's amount"
    );
    assert_eq!(text_of(&refunds.text(), "InfractionReportId"), report);
    let accepted = post_as(
        &h,
        PAYEE,
        &format!("/api/v2/refunds/{refund}/close"),
        &action(
            "CloseRefundRequest",
            PAYEE,
            "<RefundAnalysisResult>TOTALLY_ACCEPTED</RefundAnalysisResult>",
        ),
    )
    .await;
    assert_eq!(accepted.status, 200, "{}", accepted.text());
    let got = get_as(&h, PAYER, &format!("/api/v2/funds-recoveries/{id}")).await;
    assert_eq!(text_of(&got.text(), "Status"), "COMPLETED");
    let late = post_as(
        &h,
        PAYER,
        &format!("/api/v2/funds-recoveries/{id}/cancel"),
        &action("CancelFundsRecoveryRequest", PAYER, ""),
    )
    .await;
    assert!(
        late.text().contains("/error/FundsRecoveryOperationInvalid"),
        "{}",
        late.text()
    );
    h.sim.shutdown().await;
}
