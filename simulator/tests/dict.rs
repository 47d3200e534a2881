//! DICT against the simulator: an entry created, read, claimed through the whole claim life
//! cycle and deleted, every answer signed; refusals signed too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use pix_xmldsig::dsig::{Profile, VerifyError};

const LOOKUP: &[(&str, &str)] = &[
    ("pi-requestingparticipant", "99999020"),
    ("pi-payerid", "12345678909"),
    ("pi-endtoendid", "E9999902020261125100000000000001"),
];

fn claim_request(key: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CreateClaimRequest><Claim><Type>OWNERSHIP</Type><Key>{key}</Key>\
         <KeyType>PHONE</KeyType><ClaimerAccount><Participant>99999020</Participant><Branch>0002</Branch>\
         <AccountNumber>0001234567</AccountNumber><AccountType>CACC</AccountType></ClaimerAccount>\
         <Claimer><Type>NATURAL_PERSON</Type><TaxIdNumber>98765432100</TaxIdNumber><Name>José Souza</Name></Claimer>\
         </Claim></CreateClaimRequest>"
    )
}

/// A claim step's request as DICT's OpenAPI 2.12.1 defines it: confirm and cancel carry a
/// `Reason`, complete a `RequestId`.
fn action_request(root: &str, id: &str, participant: &str) -> String {
    let extra = match root {
        "ConfirmClaimRequest" | "CancelClaimRequest" => "<Reason>USER_REQUESTED</Reason>",
        "CompleteClaimRequest" => "<RequestId>6f1d2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b</RequestId>",
        _ => "",
    };
    format!("<{root}><ClaimId>{id}</ClaimId><Participant>{participant}</Participant>{extra}</{root}>")
}

/// The text of `<tag>` in an answer.
fn value(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml
        .find(&open)
        .map(|i| i + open.len())
        .unwrap_or_else(|| panic!("no {tag} in {xml}"));
    xml[start..start + xml[start..].find('<').unwrap_or(0)].to_string()
}

#[tokio::test]
async fn an_entry_lives_and_is_claimed_to_completion() {
    let h = Harness::start().await;
    let key = "+5561988880000";

    let created = h
        .dict_post("/api/v2/entries/", &sample("dict-create-entry.xml"))
        .await;
    assert_eq!(created.status, 201, "{}", created.text());
    h.verify(&created.body, Profile::Dict).expect("signed answer");
    assert!(created.text().contains("<CreateEntryResponse>") && created.text().contains("<CreationDate>"));

    // The same request again answers as the first (createEntry is idempotent by RequestId)…
    let repeated = h
        .dict_post("/api/v2/entries/", &sample("dict-create-entry.xml"))
        .await;
    assert_eq!(repeated.status, 201, "{}", repeated.text());
    // …a new request for the same key and owner is EntryAlreadyExists…
    let again = h
        .dict_post(
            "/api/v2/entries/",
            &sample("dict-create-entry.xml").replace("a946d533-7f22", "b946d533-7f22"),
        )
        .await;
    assert_eq!(again.status, 400);
    assert!(
        again
            .text()
            .contains("https://dict.pi.rsfn.net.br/api/v2/error/EntryAlreadyExists")
    );
    h.verify(&again.body, Profile::Dict)
        .expect("errors are signed too");

    let got = h
        .dict("GET", &format!("/api/v2/entries/{key}"), LOOKUP, vec![])
        .await;
    assert_eq!(got.status, 200);
    h.verify(&got.body, Profile::Dict).expect("signed");
    assert_eq!(value(&got.text(), "Name"), "Maria da Conceição");
    let anonymous = h
        .dict("GET", &format!("/api/v2/entries/{key}"), &[], vec![])
        .await;
    assert_eq!(anonymous.status, 400);

    let claim = h
        .dict(
            "POST",
            "/api/v2/claims/",
            &[XML],
            h.signed(&claim_request(key), Profile::Dict).await,
        )
        .await;
    assert_eq!(claim.status, 201, "{}", claim.text());
    h.verify(&claim.body, Profile::Dict).expect("signed");
    let id = value(&claim.text(), "Id");
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(value(&claim.text(), "Status"), "OPEN");
    assert_eq!(value(&claim.text(), "DonorParticipant"), "99999010");

    // The donor learns of the claim by polling listClaims, and reads it with getClaim.
    let listed = h
        .dict(
            "GET",
            "/api/v2/claims/?Participant=99999010&IsDonor=true&Status=OPEN",
            &[],
            vec![],
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text());
    h.verify(&listed.body, Profile::Dict).expect("signed");
    assert_eq!(value(&listed.text(), "Id"), id);
    assert_eq!(value(&listed.text(), "HasMoreElements"), "false");
    let as_claimer = h
        .dict(
            "GET",
            "/api/v2/claims/?Participant=99999010&IsClaimer=true",
            &[],
            vec![],
        )
        .await;
    assert!(!as_claimer.text().contains(&id), "{}", as_claimer.text());
    let got = h.dict("GET", &format!("/api/v2/claims/{id}"), &[], vec![]).await;
    assert_eq!(got.status, 200, "{}", got.text());
    assert!(got.text().contains("<GetClaimResponse>"), "{}", got.text());

    // Confirming before acknowledging is refused.
    let early = h
        .dict_post(
            &format!("/api/v2/claims/{id}/confirm"),
            &action_request("ConfirmClaimRequest", &id, PAYER),
        )
        .await;
    assert_eq!(early.status, 400, "{}", early.text());
    assert!(
        early.text().contains("/error/ClaimOperationInvalid"),
        "{}",
        early.text()
    );

    // The claimer may not complete before the donor confirmed; the donor may not complete.
    let by_donor = h
        .dict_post(
            &format!("/api/v2/claims/{id}/complete"),
            &action_request("CompleteClaimRequest", &id, PAYER),
        )
        .await;
    assert_eq!(by_donor.status, 403, "{}", by_donor.text());
    // The donor (99999010) acknowledges and confirms, the claimer (99999020) completes.
    let mut completed = String::new();
    for (action, root, status, by) in [
        (
            "acknowledge",
            "AcknowledgeClaimRequest",
            "WAITING_RESOLUTION",
            PAYER,
        ),
        ("confirm", "ConfirmClaimRequest", "CONFIRMED", PAYER),
        ("complete", "CompleteClaimRequest", "COMPLETED", PAYEE),
    ] {
        let r = h
            .dict(
                "POST",
                &format!("/api/v2/claims/{id}/{action}"),
                &[XML],
                h.signed(&action_request(root, &id, by), Profile::Dict).await,
            )
            .await;
        assert_eq!(r.status, 200, "{action}: {}", r.text());
        h.verify(&r.body, Profile::Dict).expect("signed");
        assert_eq!(value(&r.text(), "Status"), status);
        completed = r.text();
    }
    // completeClaim answers the entry's creation date and the new owner's date too.
    assert!(!value(&completed, "EntryCreationDate").is_empty(), "{completed}");
    assert!(!value(&completed, "KeyOwnershipDate").is_empty(), "{completed}");
    let cancel = h
        .dict_post(
            &format!("/api/v2/claims/{id}/cancel"),
            &action_request("CancelClaimRequest", &id, PAYEE),
        )
        .await;
    assert_eq!(
        cancel.status,
        400,
        "a completed claim cannot be cancelled: {}",
        cancel.text()
    );
    assert!(
        cancel.text().contains("/error/ClaimOperationInvalid"),
        "{}",
        cancel.text()
    );

    // The key moved to the claimer's account.
    let moved = h
        .dict("GET", &format!("/api/v2/entries/{key}"), LOOKUP, vec![])
        .await;
    assert_eq!(value(&moved.text(), "Participant"), PAYEE);
    assert_eq!(value(&moved.text(), "AccountNumber"), "0001234567");

    let delete = |by: &str| {
        format!(
            "<DeleteEntryRequest><Key>{key}</Key><Participant>{by}</Participant><Reason>USER_REQUESTED</Reason></DeleteEntryRequest>"
        )
    };
    let by_donor = h
        .dict_post(&format!("/api/v2/entries/{key}/delete"), &delete(PAYER))
        .await;
    assert_eq!(by_donor.status, 403, "the donor no longer holds the key");
    let deleted = h
        .dict_post(&format!("/api/v2/entries/{key}/delete"), &delete(PAYEE))
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    let gone = h
        .dict("GET", &format!("/api/v2/entries/{key}"), LOOKUP, vec![])
        .await;
    assert_eq!(gone.status, 404);
    assert_eq!(
        gone.header("content-type"),
        "application/problem+xml; charset=utf-8"
    );
    h.verify(&gone.body, Profile::Dict).expect("signed problem");
    h.sim.shutdown().await;
}

#[tokio::test]
async fn unsigned_writes_and_unknown_resources_are_refused() {
    let h = Harness::start().await;
    let unsigned = h
        .dict(
            "POST",
            "/api/v2/entries/",
            &[XML],
            sample("dict-create-entry.xml").into_bytes(),
        )
        .await;
    // DICT's answer to a bad request signature: 400 RequestSignatureInvalid (DESIGN §6).
    assert_eq!(unsigned.status, 400);
    assert!(unsigned.text().contains("RequestSignatureInvalid") && unsigned.text().contains("found 0"));

    let spi_profile = h.signed(&sample("pacs.008.xml"), Profile::Spi).await;
    assert_eq!(
        h.dict("POST", "/api/v2/entries/", &[XML], spi_profile)
            .await
            .status,
        400
    );

    let tampered = String::from_utf8(h.signed(&sample("dict-create-entry.xml"), Profile::Dict).await)
        .expect("utf-8")
        .replacen("0007654321", "0007654322", 1);
    let r = h
        .dict("POST", "/api/v2/entries/", &[XML], tampered.into_bytes())
        .await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("RequestSignatureInvalid") && r.text().contains("digest of reference 2"));
    // Without the OpenAPI's slash there is no such resource.
    let signed = h.signed(&sample("dict-create-entry.xml"), Profile::Dict).await;
    let r = h.dict("POST", "/api/v2/entries", &[XML], signed.clone()).await;
    assert_eq!(r.status, 404);
    assert!(
        r.text().contains("/api/v2/entries/ (with the slash)"),
        "{}",
        r.text()
    );
    // DICT takes no compressed request.
    let r = h
        .dict(
            "POST",
            "/api/v2/entries/",
            &[XML, ("content-encoding", "gzip")],
            simulator::wire::gzip(&signed),
        )
        .await;
    assert_eq!(r.status, 415);
    assert!(r.text().contains("no compressed requests"), "{}", r.text());

    // What the simulator does not serve is an unknown path, as DICT answers one: a signed 404.
    let r = h.dict("GET", "/api/v2/sync-verifications/x", &[], vec![]).await;
    assert_eq!(r.status, 404);
    assert!(r.text().contains("/error/NotFound"), "{}", r.text());
    h.verify(&r.body, Profile::Dict).expect("signed 404");
    assert_eq!(h.dict("GET", "/nowhere", &[], vec![]).await.status, 404);

    h.faults("family=dict&unknown_key=true").await;
    let r = h.dict("GET", "/api/v2/entries/x", LOOKUP, vec![]).await;
    assert!(matches!(
        h.verify(&r.body, Profile::Dict),
        Err(VerifyError::Trust(_))
    ));
    h.faults("family=dict&broken_signature=true").await;
    let r = h.dict("GET", "/api/v2/entries/x", LOOKUP, vec![]).await;
    assert!(matches!(
        h.verify(&r.body, Profile::Dict),
        Err(VerifyError::BadSignatureValue { .. })
    ));
    h.sim.shutdown().await;
}

/// The sample entry with another account number.
fn update_request(account: &str, participant: &str) -> String {
    sample("dict-create-entry.xml")
        .replace("CreateEntryRequest", "UpdateEntryRequest")
        .replace("0007654321", account)
        .replace(
            "<Participant>99999010</Participant>",
            &format!("<Participant>{participant}</Participant>"),
        )
}

#[tokio::test]
async fn an_entry_is_updated_by_its_participant_only() {
    let h = Harness::start().await;
    let key = "+5561988880000";
    let path = format!("/api/v2/entries/{key}");
    let update = h
        .signed(&update_request("0009999999", "99999010"), Profile::Dict)
        .await;
    assert_eq!(
        h.dict("PUT", &path, &[XML], update.clone()).await.status,
        404,
        "nothing to update yet"
    );
    assert_eq!(
        h.dict_post("/api/v2/entries/", &sample("dict-create-entry.xml"))
            .await
            .status,
        201
    );
    let created = value(&h.lookup(key).await.text(), "CreationDate");

    let r = h.dict("PUT", &path, &[XML], update).await;
    assert_eq!(r.status, 200, "{}", r.text());
    h.verify(&r.body, Profile::Dict).expect("signed answer");
    assert!(r.text().contains("<UpdateEntryResponse>"));
    let now = h.lookup(key).await.text();
    assert_eq!(value(&now, "AccountNumber"), "0009999999");
    assert_eq!(value(&now, "CreationDate"), created, "the creation date stays");

    let theirs = h
        .signed(&update_request("0001111111", "99999020"), Profile::Dict)
        .await;
    let r = h.dict("PUT", &path, &[XML], theirs).await;
    assert_eq!(r.status, 403, "{}", r.text());
    let elsewhere = h
        .signed(&update_request("0001111111", "99999010"), Profile::Dict)
        .await;
    let r = h
        .dict("PUT", "/api/v2/entries/+5561900000000", &[XML], elsewhere)
        .await;
    assert_eq!(r.status, 400, "the path's key must be the Entry's");
    let unsigned = update_request("0001111111", "99999010").into_bytes();
    let r = h.dict("PUT", &path, &[XML], unsigned).await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("RequestSignatureInvalid"));
    h.sim.shutdown().await;
}

#[tokio::test]
async fn each_operation_has_its_token_bucket() {
    let h = Harness::start_with(|c| {
        c.dict_policies = vec![
            simulator::dict_limits::Policy::new("ENTRIES_WRITE", 2.0, 1.0),
            simulator::dict_limits::Policy {
                not_found_cost: 3.0,
                ..simulator::dict_limits::Policy::new("ENTRIES_READ_PARTICIPANT_ANTISCAN", 5.0, 1.0)
            },
        ];
    })
    .await;
    let entry = sample("dict-create-entry.xml");
    let another = entry.replace("a946d533-7f22", "b946d533-7f22");
    assert_eq!(h.dict_post("/api/v2/entries/", &entry).await.status, 201);
    assert_eq!(
        h.dict_post("/api/v2/entries/", &another).await.status,
        400,
        "exists"
    );
    let r = h.dict_post("/api/v2/entries/", &another).await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(
        r.text()
            .contains("https://dict.pi.rsfn.net.br/api/v2/error/RateLimited")
    );
    assert!(r.text().contains("ENTRIES_WRITE"));
    h.verify(&r.body, Profile::Dict).expect("signed 429");
    // Lookups have their own bucket of 5; a 200 costs 1 token, a 404 costs 3 (DICT's anti-scan
    // rule): 1 + 3 leaves one.
    assert_eq!(h.lookup("+5561988880000").await.status, 200);
    assert_eq!(h.lookup("+5561900000000").await.status, 404);
    assert_eq!(
        h.lookup("+5561988880000").await.status,
        200,
        "a 404 costs 3, not 4"
    );
    let r = h.lookup("+5561988880000").await;
    assert_eq!(r.status, 429, "{}", r.text());
    h.sim.shutdown().await;
}

#[tokio::test]
async fn claims_follow_the_openapis_rules() {
    let h = Harness::start().await;
    let created = h
        .dict_post("/api/v2/entries/", &sample("dict-create-entry.xml"))
        .await;
    assert_eq!(created.status, 201);
    let harness = &h;
    let post = |path: String, xml: String| async move { harness.dict_post(&path, &xml).await };
    // Ownership claims only on PHONE keys.
    let email =
        claim_request("+5561988880000").replace("<KeyType>PHONE</KeyType>", "<KeyType>EMAIL</KeyType>");
    let r = post("/api/v2/claims/".into(), email).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("/error/ClaimInvalid"), "{}", r.text());
    let r = post("/api/v2/claims/".into(), claim_request("+5561988880000")).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let id = value(&r.text(), "Id");
    let step = |action: &str| format!("/api/v2/claims/{id}/{action}");
    let ack = action_request("AcknowledgeClaimRequest", &id, PAYER);
    assert_eq!(post(step("acknowledge"), ack).await.status, 200);
    // Confirm and cancel need a Reason; complete a RequestId.
    let bare = |root: &str, by: &str| {
        format!("<{root}><ClaimId>{id}</ClaimId><Participant>{by}</Participant></{root}>")
    };
    let r = post(step("confirm"), bare("ConfirmClaimRequest", PAYER)).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("/error/BadRequest"), "{}", r.text());
    assert_eq!(
        post(step("cancel"), bare("CancelClaimRequest", PAYEE))
            .await
            .status,
        400
    );
    // The donor cancels an ownership claim only for FRAUD.
    let donor_cancel = action_request("CancelClaimRequest", &id, PAYER);
    let r = post(step("cancel"), donor_cancel.clone()).await;
    assert_eq!(r.status, 403, "{}", r.text());
    let fraud = donor_cancel.replace("USER_REQUESTED", "FRAUD");
    let r = post(step("cancel"), fraud.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(value(&r.text(), "CancelledBy"), "DONOR");
    // The same cancellation again answers as the first (idempotent).
    assert_eq!(post(step("cancel"), fraud).await.status, 200);
    // Complete without a RequestId.
    assert_eq!(
        post(step("complete"), bare("CompleteClaimRequest", PAYEE))
            .await
            .status,
        400
    );
    h.sim.shutdown().await;
}

#[tokio::test]
async fn a_participant_lists_only_its_own_claims() {
    let h = Harness::two_participants().await;
    // The client certificate names the caller (99999010): another participant's list is refused.
    let other = h
        .dict(
            "GET",
            "/api/v2/claims/?Participant=99999020&IsDonor=true",
            &[],
            vec![],
        )
        .await;
    assert_eq!(other.status, 403, "{}", other.text());
    let own = h
        .dict("GET", "/api/v2/claims/?Participant=99999010", &[], vec![])
        .await;
    assert_eq!(own.status, 200, "{}", own.text());
    let no_participant = h.dict("GET", "/api/v2/claims/", &[], vec![]).await;
    assert_eq!(no_participant.status, 400);
    let too_many = h
        .dict(
            "GET",
            "/api/v2/claims/?Participant=99999010&Limit=201",
            &[],
            vec![],
        )
        .await;
    assert_eq!(too_many.status, 400);
    h.sim.shutdown().await;
}

#[tokio::test]
async fn entries_follow_the_openapis_rules() {
    let h = Harness::start().await;
    let sample_entry = sample("dict-create-entry.xml");
    assert_eq!(h.dict_post("/api/v2/entries/", &sample_entry).await.status, 201);
    let with = |from: &str, to: &str, request: &str| {
        sample_entry
            .replace(from, to)
            .replace("a946d533-7f22-42a5-9a9b-e87cd55c0f4d", request)
    };
    // The same RequestId for another entry.
    let reused = h
        .dict_post(
            "/api/v2/entries/",
            &with(
                "+5561988880000",
                "+5561900001111",
                "a946d533-7f22-42a5-9a9b-e87cd55c0f4d",
            ),
        )
        .await;
    assert!(
        reused.text().contains("/error/RequestIdAlreadyUsed"),
        "{}",
        reused.text()
    );
    // The key of another person, and the same owner's key at another participant.
    let other_person = h
        .dict_post(
            "/api/v2/entries/",
            &with(
                "<TaxIdNumber>12345678909</TaxIdNumber>",
                "<TaxIdNumber>98765432100</TaxIdNumber>",
                "11111111-1111-4111-8111-111111111111",
            ),
        )
        .await;
    assert!(
        other_person
            .text()
            .contains("/error/EntryKeyOwnedByDifferentPerson"),
        "{}",
        other_person.text()
    );
    let other_participant = h
        .dict_post(
            "/api/v2/entries/",
            &with(
                "<Participant>99999010</Participant>",
                "<Participant>99999020</Participant>",
                "22222222-2222-4222-8222-222222222222",
            ),
        )
        .await;
    assert!(
        other_participant
            .text()
            .contains("/error/EntryKeyInCustodyOfDifferentParticipant"),
        "{}",
        other_participant.text()
    );
    // An EVP key is DICT's to generate.
    let evp = |key: &str| {
        sample_entry
            .replace("<Key>+5561988880000</Key>", key)
            .replace("<KeyType>PHONE</KeyType>", "<KeyType>EVP</KeyType>")
            .replace(
                "a946d533-7f22-42a5-9a9b-e87cd55c0f4d",
                "33333333-3333-4333-8333-333333333333",
            )
    };
    let named = h
        .dict_post(
            "/api/v2/entries/",
            &evp("<Key>6f1a2c3d-4b5e-4f60-8a7b-9c0d1e2f3a4b</Key>"),
        )
        .await;
    assert!(named.text().contains("/error/EntryInvalid"), "{}", named.text());
    let generated = h.dict_post("/api/v2/entries/", &evp("")).await;
    assert_eq!(generated.status, 201, "{}", generated.text());
    let key = value(&generated.text(), "Key");
    assert_eq!(key.len(), 36, "a UUID: {key}");
    assert_eq!(h.lookup(&key).await.status, 200);
    h.sim.shutdown().await;
}

#[tokio::test]
async fn a_natural_persons_lookups_run_out_of_their_own_bucket() {
    let h = Harness::start().await;
    assert_eq!(
        h.dict_post("/api/v2/entries/", &sample("dict-create-entry.xml"))
            .await
            .status,
        201
    );
    let lookup = |payer: &'static str, key: &'static str| {
        let headers = [
            ("pi-requestingparticipant", "99999010"),
            ("pi-payerid", payer),
            ("pi-endtoendid", "E9999901020261125100000000000001"),
        ];
        let h = &h;
        async move {
            h.dict("GET", &format!("/api/v2/entries/{key}"), &headers, vec![])
                .await
        }
    };
    // A natural person's bucket holds 100 tokens and a 404 costs 20: five misses empty it.
    for _ in 0..5 {
        assert_eq!(lookup("11122233344", "nobody@example.com").await.status, 404);
    }
    let r = lookup("11122233344", "+5561988880000").await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.text().contains("ENTRIES_READ_USER_ANTISCAN"), "{}", r.text());
    // Another payer, and a legal person (a CNPJ: 1,000 tokens), still look up.
    assert_eq!(lookup("55566677788", "+5561988880000").await.status, 200);
    for _ in 0..5 {
        assert_eq!(lookup("11222333000181", "nobody@example.com").await.status, 404);
    }
    assert_eq!(lookup("11222333000181", "+5561988880000").await.status, 200);
    h.sim.shutdown().await;
}

#[tokio::test]
async fn the_category_sizes_the_lookup_bucket_and_policies_report_it() {
    let h = Harness::start_with(|c| {
        c.dict_category = 'H';
        c.dict_policies = simulator::dict_limits::policies_for('H');
    })
    .await;
    let r = h
        .dict(
            "GET",
            "/api/v2/policies/ENTRIES_READ_PARTICIPANT_ANTISCAN",
            &[("pi-requestingparticipant", "99999010")],
            vec![],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    h.verify(&r.body, Profile::Dict).expect("signed");
    assert_eq!(value(&r.text(), "Category"), "H");
    assert_eq!(value(&r.text(), "Capacity"), "50");
    assert_eq!(value(&r.text(), "RefillTokens"), "2");
    let all = h.dict("GET", "/api/v2/policies/", &[], vec![]).await;
    assert_eq!(all.status, 200, "{}", all.text());
    for policy in [
        "CLAIMS_LIST_WITH_ROLE",
        "INFRACTION_REPORTS_WRITE",
        "REFUNDS_READ",
        "POLICIES_LIST",
        "KEYS_CHECK",
    ] {
        assert!(
            all.text().contains(&format!("<Name>{policy}</Name>")),
            "{policy}: {}",
            all.text()
        );
    }
    assert_eq!(
        h.dict("GET", "/api/v2/policies/NOPE", &[], vec![]).await.status,
        404
    );
    h.sim.shutdown().await;
}

#[tokio::test]
async fn reconciliation_finds_entries_by_cid_and_verifies_a_participants_vsync() {
    let h = Harness::start().await;
    let entry = sample("dict-create-entry.xml");
    assert_eq!(h.dict_post("/api/v2/entries/", &entry).await.status, 201);
    // The participant's side: the CID of its entry from the RequestId it created it with.
    let content = &entry[entry.find("<Entry>").unwrap() + 7..entry.find("</Entry>").unwrap()];
    let attributes = simulator::reconciliation::entry_attributes(content);
    assert_eq!(
        attributes,
        "PHONE&+5561988880000&12345678909&Maria da Conceição&&99999010&0001&0007654321&CACC"
    );
    let cid = simulator::reconciliation::cid("a946d533-7f22-42a5-9a9b-e87cd55c0f4d", &attributes).unwrap();
    let r = h
        .dict("GET", &format!("/api/v2/cids/entries/{cid}"), &[], vec![])
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    h.verify(&r.body, Profile::Dict).expect("signed");
    assert_eq!(value(&r.text(), "Key"), "+5561988880000");
    let verify = |vsync: &str, key_type: &str| {
        format!(
            "<CreateSyncVerificationRequest><SyncVerification><Participant>99999010</Participant>\
             <KeyType>{key_type}</KeyType><ParticipantSyncVerifier>{vsync}</ParticipantSyncVerifier>\
             </SyncVerification></CreateSyncVerificationRequest>"
        )
    };
    let vsync = simulator::reconciliation::vsync([cid.as_str()]);
    let ok = h
        .dict_post("/api/v2/sync-verifications/", &verify(&vsync, "PHONE"))
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text());
    assert_eq!(value(&ok.text(), "Result"), "OK");
    let nok = h
        .dict_post("/api/v2/sync-verifications/", &verify(&"0".repeat(64), "PHONE"))
        .await;
    assert_eq!(value(&nok.text(), "Result"), "NOK");
    // No EMAIL key: the empty set's VSync.
    let empty = h
        .dict_post("/api/v2/sync-verifications/", &verify(&"0".repeat(64), "EMAIL"))
        .await;
    assert_eq!(value(&empty.text(), "Result"), "OK");
    // The set's events: the entry ADDED, the VSync after it the participant's.
    let events = h
        .dict(
            "GET",
            "/api/v2/cids/events?Participant=99999010&KeyType=PHONE",
            &[],
            vec![],
        )
        .await;
    assert_eq!(events.status, 200, "{}", events.text());
    assert_eq!(value(&events.text(), "Type"), "ADDED");
    assert_eq!(value(&events.text(), "SyncVerifierEnd"), vsync);
    // A CID file: one CID per line, its SHA-256 answered.
    let file = "<CreateCidSetFileRequest><Participant>99999010</Participant><KeyType>PHONE</KeyType></CreateCidSetFileRequest>";
    let created = h.dict_post("/api/v2/cids/files/", file).await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(value(&created.text(), "Status"), "AVAILABLE");
    let got = h
        .dict(
            "GET",
            &format!("/api/v2/cids/files/{}", value(&created.text(), "Id")),
            &[],
            vec![],
        )
        .await;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, format!("{cid}\n").as_bytes());
    let sha: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(value(&got.text(), "Sha256"), sha);
    // Deleted: REMOVED, and the set is empty again.
    let delete = "<DeleteEntryRequest><Key>+5561988880000</Key><Participant>99999010</Participant><Reason>USER_REQUESTED</Reason></DeleteEntryRequest>";
    assert_eq!(
        h.dict_post("/api/v2/entries/+5561988880000/delete", delete)
            .await
            .status,
        200
    );
    let events = h
        .dict(
            "GET",
            "/api/v2/cids/events?Participant=99999010&KeyType=PHONE",
            &[],
            vec![],
        )
        .await;
    assert_eq!(
        events.text().matches("<Type>REMOVED</Type>").count(),
        1,
        "{}",
        events.text()
    );
    assert_eq!(value(&events.text(), "SyncVerifierEnd"), "0".repeat(64));
    h.sim.shutdown().await;
}
