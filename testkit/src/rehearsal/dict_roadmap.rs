//! The DICT functional roadmap of BACEN's homologation, played through the two proxies: keys of
//! every type created, looked up, checked and deleted; a portability claim confirmed and an
//! ownership claim cancelled; infraction reports accepted, rejected and cancelled; refunds for
//! fraud and operational flaw closed or cancelled; the lookup rate limit. Every answer must come
//! signed by DICT and verified by the proxy.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Instant;

use crate::bank::{call, text_of};

use super::party::Party;
use super::steps::{Log, Outcome, judge};

const PHASE: &str = "DICT";

/// The key types and one key of each.
const KEYS: [(&str, &str); 5] = [
    ("CPF", "12345678909"),
    ("CNPJ", "11222333000181"),
    ("PHONE", "+5561988881234"),
    ("EMAIL", "maria.conceicao@example.com"),
    ("EVP", "6f1a2c3d-4b5e-4f60-8a7b-9c0d1e2f3a4b"),
];

/// Records the step `case` that `f` plays.
async fn step(log: &mut Log, case: &str, expected: &str, f: impl Future<Output = Result<Outcome, String>>) {
    let started = Instant::now();
    let outcome = f.await.unwrap_or_else(Err);
    log.record(PHASE, case, expected, started, outcome);
}

fn entry(key: &str, kind: &str, participant: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CreateEntryRequest><Entry><Key>{key}</Key><KeyType>{kind}</KeyType>\
         <Account><Participant>{participant}</Participant><Branch>0001</Branch><AccountNumber>0007654321</AccountNumber>\
         <AccountType>CACC</AccountType><OpeningDate>2020-01-10T10:00:00Z</OpeningDate></Account>\
         <Owner><Type>NATURAL_PERSON</Type><TaxIdNumber>12345678909</TaxIdNumber><Name>Maria da Conceição</Name></Owner>\
         </Entry><Reason>USER_REQUESTED</Reason><RequestId>{}</RequestId></CreateEntryRequest>",
        request_id()
    )
}

fn request_id() -> String {
    let id = proxy_core::relay::wire::new_id();
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
        for (kind, key) in KEYS {
            step(
                log,
                &format!("create a {kind} key"),
                "201, signed answer verified",
                async {
                    let r = a
                        .dict("POST", "/api/v2/entries/", Some(entry(key, kind, &a.ispb)))
                        .await?;
                    Ok(answered("create", 201, &r))
                },
            )
            .await;
            step(
                log,
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
        step(
            log,
            "keys/check: every key registered",
            "200, hasEntry=true for the five keys",
            self.check(true),
        )
        .await;
        for (kind, key) in KEYS {
            step(
                log,
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
        step(
            log,
            "keys/check: no key left",
            "200, hasEntry=false for the five keys",
            self.check(false),
        )
        .await;
        step(
            log,
            "portability claim by A, confirmed by B",
            "B acknowledges, confirms; A completes; the key is A's",
            self.claim("PORTABILITY", true),
        )
        .await;
        step(
            log,
            "ownership claim by B, cancelled by A",
            "A acknowledges, cancels; the key stays A's",
            self.claim("OWNERSHIP", false),
        )
        .await;
        let (ab, ba) = self.settled.clone();
        step(
            log,
            "infraction report by A, accepted by B",
            "OPEN → B lists, acknowledges → CLOSED AGREED",
            self.report(a, b, &ab, Some("AGREED")),
        )
        .await;
        step(
            log,
            "infraction report by A, rejected by B",
            "OPEN → CLOSED DISAGREED",
            self.report(a, b, &ab, Some("DISAGREED")),
        )
        .await;
        step(
            log,
            "infraction report by A, cancelled by A",
            "OPEN → CANCELLED",
            self.report(a, b, &ab, None),
        )
        .await;
        step(
            log,
            "infraction report on A, accepted by A",
            "B reports A's received payment; A closes AGREED",
            self.report(b, a, &ba, Some("AGREED")),
        )
        .await;
        step(
            log,
            "refund for fraud by A, accepted by B",
            "OPEN → CLOSED TOTALLY_ACCEPTED",
            self.refund(a, b, &ab, "FRAUD", Some("TOTALLY_ACCEPTED")),
        )
        .await;
        step(
            log,
            "refund for operational flaw by A, rejected by B",
            "OPEN → CLOSED REJECTED",
            self.refund(a, b, &ab, "OPERATIONAL_FLAW", Some("REJECTED")),
        )
        .await;
        step(
            log,
            "refund by A, cancelled by A",
            "OPEN → CANCELLED",
            self.refund(a, b, &ab, "FRAUD", None),
        )
        .await;
        step(
            log,
            "refund requested of A, closed by A",
            "B's request; A closes PARTIALLY_ACCEPTED",
            self.refund(b, a, &ba, "OPERATIONAL_FLAW", Some("PARTIALLY_ACCEPTED")),
        )
        .await;
        step(
            log,
            "lookup rate limit (bucket of 5)",
            "429 RateLimited once the bucket is empty, signed",
            self.rate_limit(),
        )
        .await;
    }

    async fn check(&self, registered: bool) -> Result<Outcome, String> {
        let keys: String = KEYS.iter().map(|(_, k)| format!("<Key>{k}</Key>")).collect();
        let r = self
            .a
            .dict(
                "POST",
                "/api/v2/keys/check",
                Some(acting(
                    "CheckKeysRequest",
                    &self.a.ispb,
                    &format!("<Keys>{keys}</Keys>"),
                )),
            )
            .await?;
        let want = format!("hasEntry=\"{registered}\"");
        let n = r.2.matches(&want).count();
        Ok(answered("keys/check", 200, &r)
            .and_then(|o| judge(n == KEYS.len(), format!("{o}, {n} of {} {want}", KEYS.len()))))
    }

    /// A claim by the participant that does not hold the key; `confirm`: the donor confirms and
    /// the claimer completes, else the donor cancels.
    async fn claim(&self, kind: &str, confirm: bool) -> Result<Outcome, String> {
        let (donor, claimer) = if confirm {
            (self.b, self.a)
        } else {
            (self.a, self.b)
        };
        let key = if confirm {
            "+5561977770000"
        } else {
            "jose.souza@example.com"
        };
        let key_type = if confirm { "PHONE" } else { "EMAIL" };
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
             </Claim><RequestId>{}</RequestId></CreateClaimRequest>",
            claimer.ispb,
            request_id()
        );
        let r = claimer.dict("POST", "/api/v2/claims/", Some(claim)).await?;
        if let Err(e) = answered("claim", 201, &r) {
            return Ok(Err(e));
        }
        let id = text_of(&r.2, "Id");
        let mut seen = vec![text_of(&r.2, "Status")];
        let steps: &[(&Party, &str, &str)] = if confirm {
            &[
                (donor, "acknowledge", "AcknowledgeClaimRequest"),
                (donor, "confirm", "ConfirmClaimRequest"),
                (claimer, "complete", "CompleteClaimRequest"),
            ]
        } else {
            &[
                (donor, "acknowledge", "AcknowledgeClaimRequest"),
                (donor, "cancel", "CancelClaimRequest"),
            ]
        };
        for (who, action, root) in steps {
            let body = acting(root, &who.ispb, &format!("<ClaimId>{id}</ClaimId>"));
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

    /// An infraction report by `reporter` on payment `e2e`; `analysis`: the other side
    /// acknowledges and closes with it, else the reporter cancels.
    async fn report(
        &self,
        reporter: &Party,
        other: &Party,
        e2e: &str,
        analysis: Option<&str>,
    ) -> Result<Outcome, String> {
        let body = acting(
            "CreateInfractionReportRequest",
            &reporter.ispb,
            &format!(
                "<InfractionReport><TransactionId>{e2e}</TransactionId><InfractionType>FRAUD</InfractionType>\
                 <ReportDetails>golpe do falso parente</ReportDetails></InfractionReport><RequestId>{}</RequestId>",
                request_id()
            ),
        );
        let r = reporter
            .dict("POST", "/api/v2/infraction-reports/", Some(body))
            .await?;
        if let Err(e) = answered("create", 201, &r) {
            return Ok(Err(e));
        }
        let id = text_of(&r.2, "Id");
        let mut seen = vec![text_of(&r.2, "Status")];
        let path = |action: &str| format!("/api/v2/infraction-reports/{id}/{action}");
        let inner = format!("<InfractionReportId>{id}</InfractionReportId>");
        let last = match analysis {
            Some(result) => {
                // The other side learns of the report from its list of open ones.
                let listed = other
                    .dict("GET", "/api/v2/infraction-reports/?Status=OPEN", None)
                    .await?;
                if !listed.2.contains(&id) {
                    return Ok(Err(format!(
                        "{id} is not in {}'s list of open reports",
                        other.ispb
                    )));
                }
                let ack = other
                    .dict(
                        "POST",
                        &path("acknowledge"),
                        Some(acting("AcknowledgeInfractionReportRequest", &other.ispb, &inner)),
                    )
                    .await?;
                if let Err(e) = answered("acknowledge", 200, &ack) {
                    return Ok(Err(e));
                }
                seen.push(text_of(&ack.2, "Status"));
                let close = acting(
                    "CloseInfractionReportRequest",
                    &other.ispb,
                    &format!(
                        "{inner}<AnalysisResult>{result}</AnalysisResult><AnalysisDetails>analisado</AnalysisDetails>"
                    ),
                );
                other.dict("POST", &path("close"), Some(close)).await?
            }
            None => {
                reporter
                    .dict(
                        "POST",
                        &path("cancel"),
                        Some(acting("CancelInfractionReportRequest", &reporter.ispb, &inner)),
                    )
                    .await?
            }
        };
        if let Err(e) = answered("last step", 200, &last) {
            return Ok(Err(e));
        }
        seen.push(
            format!(
                "{} {}",
                text_of(&last.2, "Status"),
                text_of(&last.2, "AnalysisResult")
            )
            .trim()
            .to_string(),
        );
        let want = analysis.map_or("CANCELLED".to_string(), |r| format!("CLOSED {r}"));
        Ok(judge(seen.last() == Some(&want), seen.join(" → ")))
    }

    /// A refund requested by `requester` (the payment's payer) of `e2e`; `analysis`: the
    /// contested side closes with it, else the requester cancels.
    async fn refund(
        &self,
        requester: &Party,
        contested: &Party,
        e2e: &str,
        reason: &str,
        analysis: Option<&str>,
    ) -> Result<Outcome, String> {
        let body = acting(
            "CreateRefundRequest",
            &requester.ispb,
            &format!(
                "<Refund><TransactionId>{e2e}</TransactionId><RefundReason>{reason}</RefundReason>\
                 <RefundAmount>10.00</RefundAmount><RefundDetails>ensaio</RefundDetails></Refund><RequestId>{}</RequestId>",
                request_id()
            ),
        );
        let r = requester.dict("POST", "/api/v2/refunds/", Some(body)).await?;
        if let Err(e) = answered("create", 201, &r) {
            return Ok(Err(e));
        }
        let id = text_of(&r.2, "Id");
        let first = text_of(&r.2, "Status");
        let inner = format!("<RefundId>{id}</RefundId>");
        let last = match analysis {
            Some(result) => {
                let listed = contested
                    .dict("GET", "/api/v2/refunds/?Status=OPEN", None)
                    .await?;
                if !listed.2.contains(&id) {
                    return Ok(Err(format!(
                        "{id} is not in {}'s list of open refunds",
                        contested.ispb
                    )));
                }
                let close = acting(
                    "CloseRefundRequest",
                    &contested.ispb,
                    &format!(
                        "{inner}<RefundAnalysisResult>{result}</RefundAnalysisResult><RefundAnalysisDetails>analisado</RefundAnalysisDetails>"
                    ),
                );
                contested
                    .dict("POST", &format!("/api/v2/refunds/{id}/close"), Some(close))
                    .await?
            }
            None => {
                requester
                    .dict(
                        "POST",
                        &format!("/api/v2/refunds/{id}/cancel"),
                        Some(acting("CancelRefundRequest", &requester.ispb, &inner)),
                    )
                    .await?
            }
        };
        if let Err(e) = answered("last step", 200, &last) {
            return Ok(Err(e));
        }
        let end = format!(
            "{} {}",
            text_of(&last.2, "Status"),
            text_of(&last.2, "RefundAnalysisResult")
        )
        .trim()
        .to_string();
        let want = analysis.map_or("CANCELLED".to_string(), |r| format!("CLOSED {r}"));
        Ok(judge(end == want, format!("{reason}: {first} → {end}")))
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
