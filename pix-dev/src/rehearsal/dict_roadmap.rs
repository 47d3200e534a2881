//! The DICT functional roadmap of BACEN's homologation, played through the two proxies: keys of
//! every type created, looked up, checked and deleted; a portability claim confirmed and an
//! ownership claim cancelled; infraction reports accepted, rejected and cancelled; refunds for
//! fraud and operational flaw closed or cancelled; the lookup rate limit. Every answer must come
//! signed by DICT and verified by the proxy.

use std::net::SocketAddr;

use testkit::bank::{call, text_of};

use super::party::Party;
use super::steps::{Log, Outcome, judge};

const PHASE: &str = "DICT";

/// The key types and one key of each; DICT generates the EVP key (DICT's OpenAPI 2.12.1).
const KEYS: [(&str, &str); 5] = [
    ("CPF", "12345678909"),
    ("CNPJ", "11222333000181"),
    ("PHONE", "+5561988881234"),
    ("EMAIL", "maria.conceicao@example.com"),
    ("EVP", ""),
];

/// How the roadmap drives one kind of DICT case.
#[derive(Clone, Copy)]
struct Case {
    /// Its resource under `/api/v2`.
    resource: &'static str,
    /// Its element and the stem of its requests' names.
    name: &'static str,
    /// The element naming it in action requests.
    id_field: &'static str,
    /// Whether the other side acknowledges it before closing.
    acknowledge: bool,
    /// The closing analysis' element in the request.
    result_field: &'static str,
    /// The closing analysis' element in the answer.
    answer_field: &'static str,
    /// The query by which the other side lists the cases open against it.
    open_against: &'static str,
}

const INFRACTION_REPORT: Case = Case {
    resource: "infraction-reports",
    name: "InfractionReport",
    id_field: "InfractionReportId",
    acknowledge: true,
    result_field: "AnalysisResult",
    answer_field: "AnalysisResult",
    open_against: "IsCounterparty=true&Status=OPEN",
};

const REFUND: Case = Case {
    resource: "refunds",
    name: "Refund",
    id_field: "RefundId",
    acknowledge: false,
    result_field: "RefundAnalysisResult",
    // DICT's OpenAPI 2.12.1: the request's RefundAnalysisResult is answered as AnalysisResult.
    answer_field: "AnalysisResult",
    open_against: "ParticipantRole=CONTESTED&Status=OPEN",
};

impl Case {
    /// A new case's fields on payment `e2e` with `reason` (an infraction report's `Reason` or a
    /// refund's `RefundReason`).
    fn fields(&self, e2e: &str, reason: &str) -> String {
        match self.acknowledge {
            // DICT's OpenAPI 2.12.1: a Reason and the SituationType behind it.
            true => format!(
                "<TransactionId>{e2e}</TransactionId><Reason>{reason}</Reason><SituationType>SCAM</SituationType>\
                 <ReportDetails>golpe do falso parente</ReportDetails>"
            ),
            false => format!(
                "<TransactionId>{e2e}</TransactionId><RefundReason>{reason}</RefundReason>\
                 <RefundAmount>10.00</RefundAmount><RefundDetails>ensaio</RefundDetails>"
            ),
        }
    }
}

/// A CreateEntryRequest; an EVP entry names no key (DICT generates it).
fn entry(key: &str, kind: &str, participant: &str) -> String {
    let key = if kind == "EVP" {
        String::new()
    } else {
        format!("<Key>{key}</Key>")
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CreateEntryRequest><Entry>{key}<KeyType>{kind}</KeyType>\
         <Account><Participant>{participant}</Participant><Branch>0001</Branch><AccountNumber>0007654321</AccountNumber>\
         <AccountType>CACC</AccountType><OpeningDate>2020-01-10T10:00:00Z</OpeningDate></Account>\
         <Owner><Type>NATURAL_PERSON</Type><TaxIdNumber>12345678909</TaxIdNumber><Name>Maria da Conceição</Name></Owner>\
         </Entry><Reason>USER_REQUESTED</Reason><RequestId>{}</RequestId></CreateEntryRequest>",
        request_id()
    )
}

fn request_id() -> String {
    let id = proxy_core::wire::new_id();
    format!(
        "{}-{}-{}-{}-{}",
        &id[0..8],
        &id[8..12],
        &id[12..16],
        &id[16..20],
        &id[20..32]
    )
}

/// A request `root` acting as `participant`, with `inner`.
fn acting(root: &str, participant: &str, inner: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root}><Participant>{participant}</Participant>{inner}</{root}>"
    )
}

fn lookup_path(key: &str) -> String {
    format!("/api/v2/entries/{key}")
}

/// `status` expected and the answer verified: the observation, or why not.
fn answered(what: &str, want: u16, (status, valid, body): &(u16, bool, String)) -> Result<String, String> {
    if *status == want && *valid {
        Ok(format!("{what} {status}"))
    } else {
        let detail = text_of(body, "detail");
        Err(format!("{what}: {status} (verified: {valid}) {detail}"))
    }
}

/// The DICT side of the rehearsal.
pub struct Roadmap<'a> {
    /// The participant under homologation.
    pub a: &'a Party,
    /// Its counterparty.
    pub b: &'a Party,
    /// The simulator's control port.
    pub control: SocketAddr,
    /// A payment A → B and one B → A, settled by the SPI roadmap.
    pub settled: (String, String),
}

impl Roadmap<'_> {
    /// Plays every DICT step into `log`.
    pub async fn play(&self, log: &mut Log) {
        let (a, b) = (self.a, self.b);
        let mut keys: Vec<(&str, String)> = KEYS.iter().map(|(k, v)| (*k, v.to_string())).collect();
        // A's side of reconciliation: each entry's RequestId and <Entry> content as sent.
        let mut sent: Vec<(String, String)> = Vec::new();
        for (kind, key) in keys.iter_mut() {
            let kind: &str = kind;
            let body = entry(key, kind, &a.ispb);
            let content = body
                .split_once("<Entry>")
                .and_then(|(_, rest)| rest.split_once("</Entry>"))
                .map(|(c, _)| c.to_string())
                .unwrap_or_default();
            let request_id = text_of(&body, "RequestId");
            log.play(
                PHASE,
                &format!("create a {kind} key"),
                if kind == "EVP" {
                    "201, signed answer verified, the key generated by DICT"
                } else {
                    "201, signed answer verified"
                },
                async {
                    let r = a.dict("POST", "/api/v2/entries/", Some(body)).await?;
                    if kind == "EVP" {
                        *key = text_of(&r.2, "Key");
                    }
                    Ok(answered("create", 201, &r).map(|o| format!("{o}, key {key}")))
                },
            )
            .await;
            let key: &str = key;
            // DICT generates an EVP key: A's copy of the entry names it from DICT's answer.
            let content = if kind == "EVP" {
                format!("<Key>{key}</Key>{content}")
            } else {
                content
            };
            sent.push((request_id, content));
            log.play(
                PHASE,
                &format!("look up the {kind} key (by B)"),
                "200 naming A's account, verified",
                async {
                    let r = b.dict("GET", &lookup_path(key), None).await?;
                    let owner = text_of(&r.2, "Participant");
                    Ok(answered("lookup", 200, &r)
                        .and_then(|o| judge(owner == a.ispb, format!("{o}, held by {owner}"))))
                },
            )
            .await;
        }
        log.play(
            PHASE,
            "keys/check: every key registered",
            "200, hasEntry=true for the five keys",
            self.check(true, &keys),
        )
        .await;
        log.play(
            PHASE,
            "reconciliation: A's VSync of each key type, an entry by its CID",
            "sync-verification OK for the five types (CIDs and VSync as DICT's OpenAPI computes them); the entry found by its CID; the PHONE set's events and CID file agree with A",
            self.reconcile(&sent),
        )
        .await;
        for (kind, key) in &keys {
            let (kind, key): (&str, &str) = (kind, key);
            log.play(
                PHASE,
                &format!("delete the {kind} key, then look it up"),
                "200, then a signed 404",
                async {
                    let del = acting(
                        "DeleteEntryRequest",
                        &a.ispb,
                        &format!("<Key>{key}</Key><Reason>USER_REQUESTED</Reason>"),
                    );
                    let deleted = a
                        .dict("POST", &format!("/api/v2/entries/{key}/delete"), Some(del))
                        .await?;
                    let gone = b.dict("GET", &lookup_path(key), None).await?;
                    Ok(answered("delete", 200, &deleted)
                        .and_then(|d| answered("lookup", 404, &gone).map(|g| format!("{d}, {g}"))))
                },
            )
            .await;
        }
        log.play(
            PHASE,
            "keys/check: no key left",
            "200, hasEntry=false for the five keys",
            self.check(false, &keys),
        )
        .await;
        // (case, expected, type, the donor confirms (else cancels), the key)
        // DICT's OpenAPI 2.12.1: ownership claims only on PHONE keys; the donor learns of a claim
        // by polling listClaims, confirms with a Reason, and cancels an ownership claim only for
        // FRAUD; the claimer completes with a RequestId.
        let claims = [
            (
                "portability claim by A, confirmed by B",
                "B finds it polling listClaims, acknowledges, confirms (USER_REQUESTED); A completes; the key is A's",
                "PORTABILITY",
                true,
                "+5561977770000",
            ),
            (
                "ownership claim by A, confirmed by B",
                "B finds it polling listClaims, acknowledges, confirms (USER_REQUESTED); A completes; the key is A's",
                "OWNERSHIP",
                true,
                "+5561966660000",
            ),
            (
                "portability claim by B, cancelled by A",
                "A finds it polling listClaims, acknowledges, cancels (USER_REQUESTED); the key stays A's",
                "PORTABILITY",
                false,
                "maria.silva@example.com",
            ),
            (
                "ownership claim by B, cancelled by A for fraud",
                "A finds it polling listClaims, acknowledges, cancels (FRAUD, the donor's only reason); the key stays A's",
                "OWNERSHIP",
                false,
                "+5561955550000",
            ),
        ];
        for (case, expected, kind, confirm, key) in claims {
            log.play(PHASE, case, expected, self.claim(kind, confirm, key))
                .await;
        }
        let (ab, ba) = self.settled.clone();
        // (case, expected, kind, opened by A, reason, the other side's analysis or a cancel)
        let cases = [
            (
                "infraction report by A, accepted by B",
                "OPEN → B lists, acknowledges → CLOSED AGREED",
                &INFRACTION_REPORT,
                true,
                "REFUND_REQUEST",
                Some("AGREED"),
            ),
            (
                "infraction report by A, rejected by B",
                "OPEN → CLOSED DISAGREED",
                &INFRACTION_REPORT,
                true,
                "REFUND_REQUEST",
                Some("DISAGREED"),
            ),
            (
                "infraction report by A, cancelled by A",
                "OPEN → CANCELLED",
                &INFRACTION_REPORT,
                true,
                "REFUND_REQUEST",
                None,
            ),
            (
                "infraction report on A, accepted by A",
                "B reports A's received payment; A closes AGREED",
                &INFRACTION_REPORT,
                false,
                "REFUND_REQUEST",
                Some("AGREED"),
            ),
            (
                "refund for fraud by A, accepted by B",
                "OPEN → CLOSED TOTALLY_ACCEPTED",
                &REFUND,
                true,
                "FRAUD",
                Some("TOTALLY_ACCEPTED"),
            ),
            (
                "refund for operational flaw by A, rejected by B",
                "OPEN → CLOSED REJECTED",
                &REFUND,
                true,
                "OPERATIONAL_FLAW",
                Some("REJECTED"),
            ),
            (
                "refund by A, cancelled by A",
                "OPEN → CANCELLED",
                &REFUND,
                true,
                "FRAUD",
                None,
            ),
            (
                "refund requested of A, closed by A",
                "B's request; A closes PARTIALLY_ACCEPTED",
                &REFUND,
                false,
                "OPERATIONAL_FLAW",
                Some("PARTIALLY_ACCEPTED"),
            ),
        ];
        for (case, expected, kind, by_a, reason, analysis) in cases {
            // A's cases concern A's payment to B; B's, B's payment to A.
            let (opener, other, e2e) = if by_a { (a, b, &ab) } else { (b, a, &ba) };
            let fields = kind.fields(e2e, reason);
            log.play(
                PHASE,
                case,
                expected,
                self.case(kind, opener, other, &fields, analysis),
            )
            .await;
        }
        log.play(
            PHASE,
            "funds recovery (MED 2.0) by A on its payment to B",
            "A creates it; B finds its report, acknowledges, closes AGREED; A asks the refund; B accepts it; COMPLETED",
            self.funds_recovery(&ab),
        )
        .await;
        log.play(
            PHASE,
            "lookup rate limit (bucket of 5)",
            "429 RateLimited once the bucket is empty, signed",
            self.rate_limit(),
        )
        .await;
    }

    /// A's reconciliation with DICT (DICT's OpenAPI 2.12.1, "Reconciliação"): A computes each
    /// entry's CID from the RequestId it created it with, the VSync of each key type, and asks
    /// DICT to verify them; then reads one entry back by its CID.
    async fn reconcile(&self, sent: &[(String, String)]) -> Result<Outcome, String> {
        use simulator::reconciliation::{cid, entry_attributes, vsync};
        let cids: Vec<(String, String)> = sent
            .iter()
            .filter_map(|(request_id, content)| {
                let attributes = entry_attributes(content);
                let kind = attributes.split('&').next().unwrap_or("").to_string();
                cid(request_id, &attributes).map(|c| (kind, c))
            })
            .collect();
        let mut results = Vec::new();
        for (kind, _) in KEYS {
            let mine = vsync(cids.iter().filter(|(k, _)| k == kind).map(|(_, c)| c.as_str()));
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CreateSyncVerificationRequest><SyncVerification>\
                 <Participant>{}</Participant><KeyType>{kind}</KeyType><ParticipantSyncVerifier>{mine}</ParticipantSyncVerifier>\
                 </SyncVerification></CreateSyncVerificationRequest>",
                self.a.ispb
            );
            let r = self
                .a
                .dict("POST", "/api/v2/sync-verifications/", Some(body))
                .await?;
            if let Err(e) = answered("sync-verification", 201, &r) {
                return Ok(Err(e));
            }
            results.push(format!("{kind} {}", text_of(&r.2, "Result")));
        }
        let Some((_, first)) = cids.first() else {
            return Ok(Err("no CID computed".into()));
        };
        let r = self
            .a
            .dict("GET", &format!("/api/v2/cids/entries/{first}"), None)
            .await?;
        let by_cid = answered("entry by CID", 200, &r);
        // The PHONE set's events end at A's VSync; its CID file holds A's CIDs.
        let phone: Vec<&str> = cids
            .iter()
            .filter(|(k, _)| k == "PHONE")
            .map(|(_, c)| c.as_str())
            .collect();
        let path = format!("/api/v2/cids/events?Participant={}&KeyType=PHONE", self.a.ispb);
        let events = self.a.dict("GET", &path, None).await?;
        let events_agree = text_of(&events.2, "SyncVerifierEnd") == vsync(phone.iter().copied());
        let request = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CreateCidSetFileRequest><Participant>{}</Participant>\
             <KeyType>PHONE</KeyType></CreateCidSetFileRequest>",
            self.a.ispb
        );
        let created = self.a.dict("POST", "/api/v2/cids/files/", Some(request)).await?;
        let file = self
            .a
            .dict(
                "GET",
                &format!("/api/v2/cids/files/{}", text_of(&created.2, "Id")),
                None,
            )
            .await?;
        let content: String = phone.iter().map(|c| format!("{c}\n")).collect();
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, content.as_bytes());
        let sha: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let file_agrees = text_of(&file.2, "Sha256") == sha;
        let all_ok = results.iter().all(|r| r.ends_with(" OK"));
        Ok(by_cid.and_then(|o| {
            judge(
                all_ok && events_agree && file_agrees,
                format!(
                    "{}; {o}; PHONE events end at A's VSync: {events_agree}; CID file's SHA-256 is A's: {file_agrees}",
                    results.join(", ")
                ),
            )
        }))
    }

    async fn check(&self, registered: bool, keys: &[(&str, String)]) -> Result<Outcome, String> {
        // DICT's key-check server (`/api-np/v2/`), through the proxy, unsigned as the OpenAPI
        // (2.12.1) defines CheckKeysRequest.
        let asked: String = keys.iter().map(|(_, k)| format!("<Key>{k}</Key>")).collect();
        let request = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CheckKeysRequest><Keys>{asked}</Keys></CheckKeysRequest>"
        );
        let r = self
            .a
            .dict("POST", "/api-np/v2/keys/check", Some(request))
            .await?;
        let want = format!("hasEntry=\"{registered}\"");
        let n = r.2.matches(&want).count();
        Ok(answered("keys/check", 200, &r)
            .and_then(|o| judge(n == keys.len(), format!("{o}, {n} of {} {want}", keys.len()))))
    }

    /// A claim by the participant that does not hold the key; `confirm`: the donor confirms and
    /// the claimer completes, else the donor cancels.
    async fn claim(&self, kind: &str, confirm: bool, key: &str) -> Result<Outcome, String> {
        let (donor, claimer) = if confirm {
            (self.b, self.a)
        } else {
            (self.a, self.b)
        };
        let key_type = if key.starts_with('+') { "PHONE" } else { "EMAIL" };
        let created = donor
            .dict(
                "POST",
                "/api/v2/entries/",
                Some(entry(key, key_type, &donor.ispb)),
            )
            .await?;
        if let Err(e) = answered("donor's key", 201, &created) {
            return Ok(Err(e));
        }
        let claim = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CreateClaimRequest><Claim><Type>{kind}</Type><Key>{key}</Key><KeyType>{key_type}</KeyType>\
             <ClaimerAccount><Participant>{}</Participant><Branch>0002</Branch><AccountNumber>0001234567</AccountNumber>\
             <AccountType>CACC</AccountType><OpeningDate>2021-03-01T10:00:00Z</OpeningDate></ClaimerAccount>\
             <Claimer><Type>NATURAL_PERSON</Type><TaxIdNumber>98765432100</TaxIdNumber><Name>José Souza</Name></Claimer>\
             </Claim></CreateClaimRequest>",
            claimer.ispb,
        );
        let r = claimer.dict("POST", "/api/v2/claims/", Some(claim)).await?;
        if let Err(e) = answered("claim", 201, &r) {
            return Ok(Err(e));
        }
        let claimed = text_of(&r.2, "Id");
        let mut seen = vec![text_of(&r.2, "Status")];
        // The donor learns of the claim from DICT, not from the claimer.
        let Some(id) = self.find_claim(donor, key).await? else {
            return Ok(Err(format!(
                "claim {claimed} never appeared in {}'s listClaims",
                donor.ispb
            )));
        };
        let cancel_reason = if kind == "OWNERSHIP" {
            "FRAUD"
        } else {
            "USER_REQUESTED"
        };
        let steps: &[(&Party, &str, &str, String)] = if confirm {
            &[
                (donor, "acknowledge", "AcknowledgeClaimRequest", String::new()),
                (
                    donor,
                    "confirm",
                    "ConfirmClaimRequest",
                    "<Reason>USER_REQUESTED</Reason>".into(),
                ),
                (
                    claimer,
                    "complete",
                    "CompleteClaimRequest",
                    format!("<RequestId>{}</RequestId>", request_id()),
                ),
            ]
        } else {
            &[
                (donor, "acknowledge", "AcknowledgeClaimRequest", String::new()),
                (
                    donor,
                    "cancel",
                    "CancelClaimRequest",
                    format!("<Reason>{cancel_reason}</Reason>"),
                ),
            ]
        };
        for (who, action, root, extra) in steps {
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root}><ClaimId>{id}</ClaimId><Participant>{}</Participant>{extra}</{root}>",
                who.ispb
            );
            let r = who
                .dict("POST", &format!("/api/v2/claims/{id}/{action}"), Some(body))
                .await?;
            if let Err(e) = answered(action, 200, &r) {
                return Ok(Err(e));
            }
            seen.push(text_of(&r.2, "Status"));
        }
        let holder = text_of(
            &self.a.dict("GET", &lookup_path(key), None).await?.2,
            "Participant",
        );
        let want_last = if confirm { "COMPLETED" } else { "CANCELLED" };
        Ok(judge(
            seen.last().map(String::as_str) == Some(want_last) && holder == self.a.ispb,
            format!("{}; key held by {holder}", seen.join(" → ")),
        ))
    }

    /// A funds recovery (DICT's OpenAPI 2.12.1, MED 2.0) by A on payment `e2e` to B, carried
    /// through: B finds the recovery's infraction report in its list, acknowledges it and closes it
    /// `AGREED`; A asks the refund; B finds it and accepts it. Observed: the recovery's statuses.
    async fn funds_recovery(&self, e2e: &str) -> Result<Outcome, String> {
        let (a, b) = (self.a, self.b);
        let create = acting(
            "CreateFundsRecoveryRequest",
            &a.ispb,
            &format!(
                "<FundsRecovery><RootTransactionId>{e2e}</RootTransactionId><SituationType>SCAM</SituationType>\
                 <ReportDetails>golpe do falso parente</ReportDetails>\
                 <ContactInformation><Email>med@banco-a.example</Email><Phone>+5561999990000</Phone></ContactInformation>\
                 </FundsRecovery>"
            ),
        );
        let r = a.dict("POST", "/api/v2/funds-recoveries/", Some(create)).await?;
        if let Err(e) = answered("create", 201, &r) {
            return Ok(Err(e));
        }
        let id = text_of(&r.2, "Id");
        let mut seen = vec![text_of(&r.2, "Status")];
        let status = |r: &(u16, bool, String)| text_of(&r.2, "Status");
        // B: the recovery's report, in its list of reports against it.
        let path = format!(
            "/api/v2/infraction-reports/?Participant={}&IsCounterparty=true&Status=OPEN",
            b.ispb
        );
        let listed = b.dict("GET", &path, None).await?;
        let Some(report) = listed
            .2
            .split("<InfractionReport>")
            .skip(1)
            .find(|r| r.contains(&format!("<FundsRecoveryId>{id}</FundsRecoveryId>")))
            .map(|r| text_of(r, "Id"))
        else {
            return Ok(Err(format!("no report of recovery {id} in {}'s list", b.ispb)));
        };
        let inner = format!("<InfractionReportId>{report}</InfractionReportId>");
        let ack = acting("AcknowledgeInfractionReportRequest", &b.ispb, &inner);
        let r = b
            .dict(
                "POST",
                &format!("/api/v2/infraction-reports/{report}/acknowledge"),
                Some(ack),
            )
            .await?;
        if let Err(e) = answered("acknowledge", 200, &r) {
            return Ok(Err(e));
        }
        let close = acting(
            "CloseInfractionReportRequest",
            &b.ispb,
            &format!(
                "{inner}<FraudType>SCAMMER_ACCOUNT</FraudType><AnalysisResult>AGREED</AnalysisResult><AnalysisDetails>conta de golpista</AnalysisDetails>"
            ),
        );
        let r = b
            .dict(
                "POST",
                &format!("/api/v2/infraction-reports/{report}/close"),
                Some(close),
            )
            .await?;
        if let Err(e) = answered("close", 200, &r) {
            return Ok(Err(e));
        }
        let got = a
            .dict("GET", &format!("/api/v2/funds-recoveries/{id}"), None)
            .await?;
        seen.push(status(&got));
        let refund = acting(
            "RefundFundsRecoveryRequest",
            &a.ispb,
            &format!("<FundsRecoveryId>{id}</FundsRecoveryId>"),
        );
        let r = a
            .dict(
                "POST",
                &format!("/api/v2/funds-recoveries/{id}/refund"),
                Some(refund),
            )
            .await?;
        if let Err(e) = answered("refund", 200, &r) {
            return Ok(Err(e));
        }
        seen.push(status(&r));
        let path = format!(
            "/api/v2/refunds/?Participant={}&ParticipantRole=CONTESTED&Status=OPEN",
            b.ispb
        );
        let listed = b.dict("GET", &path, None).await?;
        let Some(refund) = listed
            .2
            .split("<Refund>")
            .skip(1)
            .find(|r| r.contains(&format!("<FundsRecoveryId>{id}</FundsRecoveryId>")))
            .map(|r| text_of(r, "Id"))
        else {
            return Ok(Err(format!("no refund of recovery {id} in {}'s list", b.ispb)));
        };
        let close = acting(
            "CloseRefundRequest",
            &b.ispb,
            &format!(
                "<RefundId>{refund}</RefundId><RefundAnalysisResult>TOTALLY_ACCEPTED</RefundAnalysisResult>"
            ),
        );
        let r = b
            .dict("POST", &format!("/api/v2/refunds/{refund}/close"), Some(close))
            .await?;
        if let Err(e) = answered("close refund", 200, &r) {
            return Ok(Err(e));
        }
        let got = a
            .dict("GET", &format!("/api/v2/funds-recoveries/{id}"), None)
            .await?;
        seen.push(status(&got));
        Ok(judge(
            seen.last().map(String::as_str) == Some("COMPLETED"),
            seen.join(" → "),
        ))
    }

    /// The id of the open claim on `key` in `donor`'s listClaims (polled, as a participant must:
    /// DICT's OpenAPI, listClaims), or `None` when it does not appear within a few seconds.
    async fn find_claim(&self, donor: &Party, key: &str) -> Result<Option<String>, String> {
        let path = format!(
            "/api/v2/claims/?Participant={}&IsDonor=true&Status=OPEN",
            donor.ispb
        );
        for _ in 0..50 {
            let (status, valid, body) = donor.dict("GET", &path, None).await?;
            if status == 200 && valid {
                let found = body
                    .split("<Claim>")
                    .skip(1)
                    .find(|c| c.contains(&format!("<Key>{key}</Key>")))
                    .map(|c| text_of(c, "Id"));
                if found.is_some() {
                    return Ok(found);
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Ok(None)
    }

    /// A case opened by `opener` with `fields`; `analysis`: the other side finds it in its list
    /// of open cases, acknowledges it (reports) and closes it with that result, else the opener
    /// cancels it. Observed: the statuses it went through.
    async fn case(
        &self,
        kind: &Case,
        opener: &Party,
        other: &Party,
        fields: &str,
        analysis: Option<&str>,
    ) -> Result<Outcome, String> {
        let Case {
            resource,
            name,
            id_field,
            acknowledge,
            result_field,
            answer_field,
            open_against,
        } = *kind;
        let body = acting(
            &format!("Create{name}Request"),
            &opener.ispb,
            &format!("<{name}>{fields}</{name}>"),
        );
        let r = opener
            .dict("POST", &format!("/api/v2/{resource}/"), Some(body))
            .await?;
        if let Err(e) = answered("create", 201, &r) {
            return Ok(Err(e));
        }
        let id = text_of(&r.2, "Id");
        let mut seen = vec![text_of(&r.2, "Status")];
        let path = |action: &str| format!("/api/v2/{resource}/{id}/{action}");
        let inner = format!("<{id_field}>{id}</{id_field}>");
        let last = match analysis {
            Some(result) => {
                let listed = other
                    .dict(
                        "GET",
                        &format!("/api/v2/{resource}/?Participant={}&{open_against}", other.ispb),
                        None,
                    )
                    .await?;
                if !listed.2.contains(&id) {
                    return Ok(Err(format!(
                        "{id} is not in {}'s list of open {resource}",
                        other.ispb
                    )));
                }
                if acknowledge {
                    let ack = acting(&format!("Acknowledge{name}Request"), &other.ispb, &inner);
                    let r = other.dict("POST", &path("acknowledge"), Some(ack)).await?;
                    if let Err(e) = answered("acknowledge", 200, &r) {
                        return Ok(Err(e));
                    }
                    seen.push(text_of(&r.2, "Status"));
                }
                let details = result_field.replace("Result", "Details");
                // A rejected refund names why, an agreed report the fraud's type (DICT's
                // OpenAPI 2.12.1, closeRefund and closeInfractionReport).
                let rejection = match result {
                    "REJECTED" => "<RefundRejectionReason>OTHER</RefundRejectionReason>",
                    "AGREED" => "<FraudType>SCAMMER_ACCOUNT</FraudType>",
                    _ => "",
                };
                let close = acting(
                    &format!("Close{name}Request"),
                    &other.ispb,
                    &format!(
                        "{inner}<{result_field}>{result}</{result_field}><{details}>analisado</{details}>{rejection}"
                    ),
                );
                other.dict("POST", &path("close"), Some(close)).await?
            }
            None => {
                let cancel = acting(&format!("Cancel{name}Request"), &opener.ispb, &inner);
                opener.dict("POST", &path("cancel"), Some(cancel)).await?
            }
        };
        if let Err(e) = answered("last step", 200, &last) {
            return Ok(Err(e));
        }
        let end = format!(
            "{} {}",
            text_of(&last.2, "Status"),
            text_of(&last.2, answer_field)
        );
        seen.push(end.trim().to_string());
        let want = analysis.map_or("CANCELLED".to_string(), |r| format!("CLOSED {r}"));
        Ok(judge(seen.last() == Some(&want), seen.join(" → ")))
    }

    /// The lookup bucket shrunk to 5 tokens: lookups run out, DICT says `429` (signed), then
    /// the bucket is set back to DICT's published policy.
    async fn rate_limit(&self) -> Result<Outcome, String> {
        let policy = "ENTRIES_READ_PARTICIPANT_ANTISCAN";
        let set = |capacity: f64, refill: f64| {
            let path = format!("/dict-policy?name={policy}&capacity={capacity}&refill_per_minute={refill}");
            async move { call(self.control, "POST", &path, &[], vec![]).await }
        };
        set(5.0, 0.0).await?;
        let key = "+5561977770000";
        let mut statuses = Vec::new();
        let mut limited = None;
        for _ in 0..10 {
            let r = self.a.dict("GET", &lookup_path(key), None).await?;
            statuses.push(r.0);
            if r.0 == 429 {
                limited = Some(r);
                break;
            }
        }
        let default = simulator::dict_limits::default_policies()
            .into_iter()
            .find(|p| p.name == policy)
            .ok_or("no default lookup policy")?;
        set(default.capacity, default.refill_per_minute).await?;
        let observed = format!("{statuses:?}");
        Ok(match limited {
            Some(r) => judge(
                statuses.len() == 6 && r.1 && r.2.contains("/error/RateLimited"),
                format!("{observed}: the 6th refused RateLimited (verified: {})", r.1),
            ),
            None => Err(format!("{observed}: never limited")),
        })
    }
}
