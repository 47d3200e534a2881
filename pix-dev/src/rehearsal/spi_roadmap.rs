//! The SPI functional roadmap of BACEN's homologation, played through the two proxies:
//! connectivity (echo both ways), the catalog and version handling, payments sent and received
//! (accepted and rejected by the payee), refunds (customer request `MD06`, fraud `FR01`) and
//! payees that do not answer in time (`AB03`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use testkit::bank::{call, text_of};

use super::messages::{Status, Versions};
use super::party::{Party, Received};
use super::steps::{Log, Outcome, judge};
use proxy_core::wire::spi_id as new_id;

const PHASE: &str = "SPI";
/// How long a step waits for a message BACEN should send.
const WAIT: Duration = Duration::from_secs(15);
/// The payee's wait the SPI applies in the AB03 steps (the control port's `/payee-timeout`).
const SHORT_TIMEOUT_MS: u64 = 2_000;
/// BACEN's maximum time of a Pix (Q&A #146), restored after the AB03 steps.
const NORMAL_TIMEOUT_MS: u64 = 40_000;

/// What the payee does with a payment.
#[derive(Clone, Copy)]
enum Answer {
    Accept,
    Reject(&'static str),
    Silent,
}

/// The SPI side of the rehearsal: the two banks, the simulator's control port, the catalog's
/// versions, and the payments settled (for DICT's infraction reports and refunds).
pub struct Roadmap<'a> {
    /// The participant under homologation.
    pub a: &'a mut Party,
    /// Its counterparty.
    pub b: &'a mut Party,
    /// The simulator's control port.
    pub control: SocketAddr,
    /// The versions BACEN's catalog names.
    pub versions: Versions,
    /// A payment A → B and one B → A, settled.
    pub settled: (String, String),
}

impl Roadmap<'_> {
    /// Plays every SPI step into `log`.
    pub async fn play(&mut self, log: &mut Log) {
        let (a, b, v) = (&mut *self.a, &mut *self.b, &mut self.versions);
        log.play(
            PHASE,
            "connectivity: pibr.001 echo to BACEN",
            "201, then BACEN's pibr.002 on the stream, verified",
            echo_to_bacen(a),
        )
        .await;
        log.play(
            PHASE,
            "connectivity: BACEN's pibr.001 answered",
            "A reads pibr.001 verified, answers pibr.002; BACEN sees it",
            echo_from_bacen(a, self.control, v),
        )
        .await;
        log.play(
            PHASE,
            "catalog: the versions BACEN accepts",
            "200 listing each type's MsgDefIdr",
            catalog(a, v),
        )
        .await;
        log.play(
            PHASE,
            "version handling: pacs.008 in an old version",
            "201, then admi.002 naming its PI-ResourceId: SchemaNotEnabled with BACEN's schemas (\"Schema desconhecido ou não habilitado para uso\"), else WrongVersion",
            old_version(a, b, v),
        )
        .await;
        let (ab, ba) = (new_id('E', &a.ispb), new_id('E', &b.ispb));
        let payments: [(&str, &str, bool, Answer, &str); 4] = [
            (
                "send pacs.008 (A pays B), B accepts",
                "B reads it verified; A and B read ACSP",
                true,
                Answer::Accept,
                &ab,
            ),
            (
                "receive pacs.008 (B pays A), A accepts",
                "A reads it verified, answers ACSP; both read ACSP",
                false,
                Answer::Accept,
                &ba,
            ),
            (
                "send pacs.008, B rejects (RJCT AC03)",
                "A reads BACEN's pacs.002 RJCT, verified",
                true,
                Answer::Reject("AC03"),
                "",
            ),
            (
                "receive pacs.008, A rejects (RJCT AM18)",
                "B reads BACEN's pacs.002 RJCT, verified",
                false,
                Answer::Reject("AM18"),
                "",
            ),
        ];
        for (case, expected, a_pays, answer, e2e) in payments {
            let e2e = if e2e.is_empty() {
                new_id('E', if a_pays { &a.ispb } else { &b.ispb })
            } else {
                e2e.to_string()
            };
            let (payer, payee) = if a_pays {
                (&mut *a, &mut *b)
            } else {
                (&mut *b, &mut *a)
            };
            log.play(PHASE, case, expected, pay(payer, payee, v, answer, &e2e))
                .await;
        }
        self.settled = (ab.clone(), ba.clone());
        log.play(
            PHASE,
            "receive pacs.004 refund, customer request (MD06)",
            "A reads it verified, answers ACSP; B reads ACSP",
            refund(b, a, v, &ab, "MD06"),
        )
        .await;
        log.play(
            PHASE,
            "send pacs.004 refund, fraud (FR01)",
            "B reads it, answers ACSP; A reads ACSP",
            refund(a, b, v, &ba, "FR01"),
        )
        .await;
        self.timeouts(log).await;
    }

    /// The AB03 steps, with the SPI's wait for the payee shortened meanwhile.
    async fn timeouts(&mut self, log: &mut Log) {
        let control = self.control;
        let set = |ms: u64| async move {
            let (status, _, _) =
                call(control, "POST", &format!("/payee-timeout?ms={ms}"), &[], vec![]).await?;
            Ok(judge(
                status == 204,
                format!("{status}: payees get {} s", ms / 1000),
            ))
        };
        let (a, b, v) = (&mut *self.a, &mut *self.b, &self.versions);
        let expected = "the control port answers 204";
        log.play(
            PHASE,
            "AB03: the SPI's wait for payees shortened",
            expected,
            set(SHORT_TIMEOUT_MS),
        )
        .await;
        let silent = [
            (
                "send pacs.008, B never answers (AB03)",
                "A and B read BACEN's pacs.002 RJCT AB03, verified",
                true,
            ),
            (
                "receive pacs.008, A does not answer in time (AB03)",
                "both read RJCT AB03; A's late ACSP gets admi.002",
                false,
            ),
        ];
        for (case, expected, a_pays) in silent {
            let (payer, payee) = if a_pays {
                (&mut *a, &mut *b)
            } else {
                (&mut *b, &mut *a)
            };
            let e2e = new_id('E', &payer.ispb);
            log.play(PHASE, case, expected, pay(payer, payee, v, Answer::Silent, &e2e))
                .await;
        }
        log.play(
            PHASE,
            "AB03: the SPI's wait restored",
            expected,
            set(NORMAL_TIMEOUT_MS),
        )
        .await;
    }
}

/// The catalog read through the proxy; its versions are used from then on.
async fn catalog(a: &Party, versions: &mut Versions) -> Result<Outcome, String> {
    let (status, _, body) = call(a.spi, "GET", "/api/v1/in/catalog", &[], vec![]).await?;
    let body = String::from_utf8_lossy(&body);
    if status != 200 {
        return Ok(Err(format!("{status} {body}")));
    }
    *versions = Versions::from_catalog(&body);
    let n = body.matches("<MsgDefIdr>").count();
    Ok(judge(n > 0, format!("200, {n} message types listed")))
}

/// A pacs.008 in a version the catalog no longer lists: accepted by ICOM, then rejected.
async fn old_version(a: &mut Party, b: &Party, versions: &Versions) -> Result<Outcome, String> {
    let outdated = versions.with("pacs.008", "1.0");
    let msg = outdated.pacs008(
        &a.ispb,
        &b.ispb,
        &new_id('M', &a.ispb),
        &new_id('E', &a.ispb),
        "1.00",
    );
    let sent = a.send(&msg).await?;
    if sent.status != 201 {
        return Ok(Err(format!("{} {}", sent.status, sent.body)));
    }
    let id = sent.resource_id;
    Ok(
        match a
            .wait_for(WAIT, |m| m.kind() == "admi.002" && m.text.contains(&id))
            .await?
        {
            Some(m) => {
                let reason = text_of(&m.text, "RjctgPtyRsn");
                // The simulator enforces BACEN's schemas when they are beside the checkout.
                let expected = if crate::bacen_schemas().is_some() {
                    "SchemaNotEnabled"
                } else {
                    "WrongVersion"
                };
                judge(
                    m.valid && reason == expected,
                    format!("201 {id}, then admi.002 {reason} (verified: {})", m.valid),
                )
            }
            None => Err(format!("201 {id}, no admi.002 in {} s", WAIT.as_secs())),
        },
    )
}

/// Whether `m` is BACEN's pacs.002 about `e2e`.
fn status_of(m: &Received, e2e: &str) -> bool {
    m.kind() == "pacs.002" && text_of(&m.text, "OrgnlEndToEndId") == e2e
}

/// A payment `e2e` from `payer` to `payee`, answered as `answer` says.
async fn pay(
    payer: &mut Party,
    payee: &mut Party,
    versions: &Versions,
    answer: Answer,
    e2e: &str,
) -> Result<Outcome, String> {
    let started = Instant::now();
    let msg = versions.pacs008(&payer.ispb, &payee.ispb, &new_id('M', &payer.ispb), e2e, "10.00");
    let sent = payer.send(&msg).await?;
    if sent.status != 201 {
        return Ok(Err(format!("send: {} {}", sent.status, sent.body)));
    }
    let Some(delivered) = payee
        .wait_for(WAIT, |m| m.kind() == "pacs.008" && m.text.contains(e2e))
        .await?
    else {
        return Ok(Err("the pacs.008 never reached the payee".into()));
    };
    if !delivered.valid {
        return Ok(Err("the payee's proxy did not verify BACEN's signature".into()));
    }
    let (status, reason) = match answer {
        Answer::Accept => ("ACSP", None),
        Answer::Reject(code) => ("RJCT", Some(code)),
        Answer::Silent => ("", None),
    };
    if !status.is_empty() {
        let report = versions.pacs002(&Status {
            reason: reason.map(str::to_string),
            ..Status::of(&payee.ispb, e2e, status)
        });
        let sent = payee.send(&report).await?;
        if sent.status != 201 {
            return Ok(Err(format!("payee's pacs.002: {} {}", sent.status, sent.body)));
        }
    }
    let Some(result) = payer.wait_for(WAIT, |m| status_of(m, e2e)).await? else {
        return Ok(Err("no pacs.002 reached the payer".into()));
    };
    let got = text_of(&result.text, "TxSts");
    let code = text_of(&result.text, "Cd");
    let elapsed = started.elapsed().as_millis();
    match answer {
        Answer::Accept => {
            let copy = payee.wait_for(WAIT, |m| status_of(m, e2e)).await?;
            let payee_got = copy
                .as_ref()
                .map(|m| text_of(&m.text, "TxSts"))
                .unwrap_or_default();
            Ok(judge(
                got == "ACSP" && result.valid && payee_got == "ACSP" && copy.is_some_and(|m| m.valid),
                format!("payer {got}, payee {payee_got}, all verified; {elapsed} ms end to end"),
            ))
        }
        Answer::Reject(_) => Ok(judge(
            got == "RJCT" && result.valid,
            format!("payer read RJCT (verified: {}) in {elapsed} ms", result.valid),
        )),
        Answer::Silent => {
            let copy = payee.wait_for(WAIT, |m| status_of(m, e2e)).await?;
            let payee_code = copy.as_ref().map(|m| text_of(&m.text, "Cd")).unwrap_or_default();
            // The payee's answer after the time: the SPI knows no such payment any more.
            let late = versions.pacs002(&Status::of(&payee.ispb, e2e, "ACSP"));
            let late_sent = payee.send(&late).await?;
            let rid = late_sent.resource_id.clone();
            let admi = payee
                .wait_for(WAIT, |m| m.kind() == "admi.002" && m.text.contains(&rid))
                .await?
                .map(|m| text_of(&m.text, "RjctgPtyRsn"))
                .unwrap_or_default();
            Ok(judge(
                got == "RJCT" && code == "AB03" && payee_code == "AB03" && admi == "UnknownPayment",
                format!(
                    "payer {got} {code} after {elapsed} ms, payee RJCT {payee_code}; late ACSP: admi.002 {admi}"
                ),
            ))
        }
    }
}

/// A refund of payment `e2e` by `returner` (its payee) to `payer`, reason `reason`.
async fn refund(
    returner: &mut Party,
    payer: &mut Party,
    versions: &Versions,
    e2e: &str,
    reason: &str,
) -> Result<Outcome, String> {
    let rtr = new_id('D', &returner.ispb);
    let msg = versions.pacs004(
        &returner.ispb,
        &payer.ispb,
        &new_id('M', &returner.ispb),
        &rtr,
        e2e,
        reason,
    );
    let sent = returner.send(&msg).await?;
    if sent.status != 201 {
        return Ok(Err(format!("send: {} {}", sent.status, sent.body)));
    }
    let Some(delivered) = payer
        .wait_for(WAIT, |m| m.kind() == "pacs.004" && m.text.contains(&rtr))
        .await?
    else {
        return Ok(Err("the pacs.004 never reached the original payer".into()));
    };
    let code = text_of(&delivered.text, "Cd");
    let report = versions.pacs002(&Status {
        instruction: Some(rtr.clone()),
        ..Status::of(&payer.ispb, e2e, "ACSP")
    });
    let answered = payer.send(&report).await?;
    if answered.status != 201 {
        return Ok(Err(format!("pacs.002: {} {}", answered.status, answered.body)));
    }
    let Some(result) = returner
        .wait_for(WAIT, |m| status_of(m, e2e) && m.text.contains(&rtr))
        .await?
    else {
        return Ok(Err("no pacs.002 for the refund".into()));
    };
    let got = text_of(&result.text, "TxSts");
    Ok(judge(
        delivered.valid && code == reason && got == "ACSP" && result.valid,
        format!(
            "pacs.004 {rtr} delivered (reason {code}, verified: {}), settled {got}",
            delivered.valid
        ),
    ))
}

/// The participant's echo to BACEN.
async fn echo_to_bacen(a: &mut Party) -> Result<Outcome, String> {
    let id = new_id('M', &a.ispb);
    let msg = testkit::samples::PIBR_001
        .replace("M9999901020261125100000000000002", &id)
        .replace("<Id>99999010</Id>", &format!("<Id>{}</Id>", a.ispb));
    let sent = a.send(&msg).await?;
    if sent.status != 201 {
        return Ok(Err(format!("{} {}", sent.status, sent.body)));
    }
    match a.wait_for(WAIT, |m| m.kind() == "pibr.002").await? {
        Some(m) => Ok(judge(
            m.valid,
            format!("201, pibr.002 read (verified: {})", m.valid),
        )),
        None => Ok(Err("no pibr.002".into())),
    }
}

/// BACEN's echo to the participant, answered through its proxy.
async fn echo_from_bacen(a: &mut Party, control: SocketAddr, versions: &Versions) -> Result<Outcome, String> {
    let (status, _, body) = call(control, "POST", &format!("/echo?ispb={}", a.ispb), &[], vec![]).await?;
    let echo = String::from_utf8_lossy(&body).trim().to_string();
    if status != 201 {
        return Ok(Err(format!("control port: {status} {echo}")));
    }
    let Some(m) = a
        .wait_for(WAIT, |m| m.kind() == "pibr.001" && m.text.contains(&echo))
        .await?
    else {
        return Ok(Err("BACEN's pibr.001 never came".into()));
    };
    let answer = versions.pibr002(&a.ispb, &new_id('M', &a.ispb), &echo);
    let sent = a.send(&answer).await?;
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let (status, _, _) = call(control, "GET", &format!("/echo?id={echo}"), &[], vec![]).await?;
        if status == 200 {
            return Ok(judge(
                m.valid && sent.status == 201,
                format!(
                    "pibr.001 verified: {}, pibr.002 sent {}, BACEN saw it",
                    m.valid, sent.status
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(Err("BACEN never saw the pibr.002".into()))
}
