//! What the SPI does with a message ICOM accepted (DESIGN §6):
//!
//! - a **pacs.008** (payment) or **pacs.004** (refund) for a hosted participant is delivered on
//!   that participant's stream, under BACEN's header and signature (as participants receive them:
//!   `Fr` 00038166, `To` the payee, bacen/pix-perguntas-e-respostas #104, #212); the payee's
//!   **pacs.002** settles it: BACEN's pacs.002 with the status goes to the payer and, when
//!   accepted, to the payee too. A pacs.002 from anyone but the payee is rejected ("O emissor da
//!   situacao pagamento eh diferente do participante creditado", #184). For a participant the
//!   simulator does not host, it answers as that participant would: pacs.002 `ACSP`.
//! - a payee that has not answered within the SPI's time ([`Clearing::set_timeout`]; 40 s by
//!   default, the maximum time of a Pix in BACEN's "Manual de Tempos do Pix", Q&A #146) loses the
//!   payment: BACEN's pacs.002 `RJCT` with reason `AB03` goes to the payer **and** the payee (Q&A
//!   #366, #426); a pacs.002 that comes later finds no payment (admi.002).
//! - a **pibr.001** (echo) is answered by a pibr.002; BACEN's own echo to a participant
//!   ([`echo`], the control port's `POST /echo`) waits for the participant's pibr.002.
//! - a message that fails a check is **rejected later** with an **admi.002** on the sender's
//!   stream whose `RltdRef/Ref` is the message's `PI-ResourceId` (DESIGN §6; Q&A #104).
//!
//! The `RjctgPtyRsn` codes are the simulator's own ([`Reason`]): BACEN's catalog of reason codes
//! is not among the public material the project has.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pix_xmldsig::dsig::Profile;

use crate::catalog::{Inbound, Transaction, new_msg_id};
use crate::wire::{escape, utc_now};
use crate::{Family, State};

/// Why the SPI rejects a message (the admi.002's `RjctgPtyRsn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The body is not well-formed XML within the limits.
    InvalidXml,
    /// The envelope lacks `AppHdr`, `Document` or their identifiers, or its namespace is not an SPI one.
    InvalidEnvelope,
    /// The type is not in the catalog.
    UnknownType,
    /// The namespace's version or `MsgDefIdr` is not the catalog's for the type.
    WrongVersion,
    /// BACEN's schemas have no schema for the declared version ("Schema desconhecido ou não
    /// habilitado para uso").
    SchemaNotEnabled,
    /// The message is not valid against its version's schema.
    InvalidSchema,
    /// `AppHdr/Fr` is not the sender, or `AppHdr/To` is not BACEN.
    WrongAddress,
    /// The signature fails, or is not the sender's (profile, certificate, digest, value).
    InvalidSignature,
    /// A pacs.002 for no payment awaiting one.
    UnknownPayment,
    /// A pacs.002 from a participant other than the payee.
    NotThePayee,
}

impl Reason {
    /// The code written in `RjctgPtyRsn`.
    pub fn code(self) -> &'static str {
        match self {
            Reason::InvalidXml => "InvalidXml",
            Reason::InvalidEnvelope => "InvalidEnvelope",
            Reason::UnknownType => "UnknownMessageType",
            Reason::WrongVersion => "WrongVersion",
            Reason::SchemaNotEnabled => "SchemaNotEnabled",
            Reason::InvalidSchema => "InvalidSchema",
            Reason::WrongAddress => "WrongAddress",
            Reason::InvalidSignature => "InvalidSignature",
            Reason::UnknownPayment => "UnknownPayment",
            Reason::NotThePayee => "NotThePayee",
        }
    }
}

/// A payment or refund delivered to a hosted participant, awaiting its pacs.002.
struct Pending {
    payer: String,
    payee: String,
    /// `MsgDefIdr` of the payer's message.
    original_def: String,
    /// The payer's `EndToEndId` (a pacs.004's original one).
    end_to_end: String,
    /// The transaction's amount (`IntrBkSttlmAmt`).
    amount: String,
    /// When the SPI stops waiting for the payee (AB03).
    deadline: Instant,
}

/// The SPI's reason code for a payment the payee did not answer in time (Q&A #146, #426).
pub const TIMEOUT_REASON: &str = "AB03";

/// A settled payment: who paid whom, how much. DICT's infraction reports, refunds and funds
/// recoveries name it by its `EndToEndId`.
struct Settlement {
    payer: String,
    payee: String,
    amount: String,
}

/// Payments awaiting their status, settled payments, and BACEN's echoes awaiting their answer.
pub(crate) struct Clearing {
    /// By `EndToEndId` (pacs.008) or `RtrId` (pacs.004).
    pending: Mutex<HashMap<String, Pending>>,
    /// Settled payments by `EndToEndId`: (payer, payee). DICT's infraction reports and refunds
    /// name a transaction by it.
    settled: Mutex<HashMap<String, Settlement>>,
    /// By the echo's `MsgId`: answered yet?
    echoes: Mutex<HashMap<String, bool>>,
    /// How long the SPI waits for the payee's pacs.002, in milliseconds.
    timeout_ms: AtomicU64,
}

impl Clearing {
    /// Nothing pending; payees get `timeout` to answer.
    pub(crate) fn new(timeout: Duration) -> Self {
        let clearing = Clearing {
            pending: Mutex::default(),
            settled: Mutex::default(),
            echoes: Mutex::default(),
            timeout_ms: AtomicU64::new(0),
        };
        clearing.set_timeout(timeout);
        clearing
    }

    /// From now on payees get `timeout` to answer (the control port's `POST /payee-timeout`).
    pub(crate) fn set_timeout(&self, timeout: Duration) {
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        self.timeout_ms.store(ms, Ordering::Relaxed);
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.load(Ordering::Relaxed))
    }

    /// The payer and payee of a settled payment.
    pub(crate) fn settled(&self, end_to_end: &str) -> Option<(String, String)> {
        lock(&self.settled)
            .get(end_to_end)
            .map(|s| (s.payer.clone(), s.payee.clone()))
    }

    /// The amount of a settled payment (`IntrBkSttlmAmt`).
    pub(crate) fn settled_amount(&self, end_to_end: &str) -> Option<String> {
        lock(&self.settled).get(end_to_end).map(|s| s.amount.clone())
    }

    fn record_settled(&self, p: &Pending) {
        if p.original_def.starts_with("pacs.008") {
            let settlement = Settlement {
                payer: p.payer.clone(),
                payee: p.payee.clone(),
                amount: p.amount.clone(),
            };
            lock(&self.settled).insert(p.end_to_end.clone(), settlement);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Signs a message from BACEN (`BizMsgIdr` `msg_id`) and puts it on `to`'s stream.
async fn deliver(state: &State, kind: &str, to: &str, msg_id: &str, document: &str) -> Result<(), String> {
    let xml = state.config.catalog.from_bacen(kind, to, msg_id, document);
    let signed = state.sign(xml.as_bytes(), Profile::Spi, Family::Spi).await?;
    state.spi.push(to, signed);
    Ok(())
}

fn logged(result: Result<(), String>, what: &str) {
    if let Err(e) = result {
        tracing::error!(error = %e, what, "cannot deliver");
    }
}

/// Answers the message `resource_id` of `sender` with an admi.002 on the sender's stream.
pub(crate) async fn reject(
    state: &State,
    sender: &str,
    resource_id: &str,
    reason: Reason,
    description: &str,
) {
    let document = format!(
        "<Document><admi.002.001.01><RltdRef><Ref>{}</Ref></RltdRef><Rsn><RjctgPtyRsn>{}</RjctgPtyRsn>\
         <RjctnDtTm>{}</RjctnDtTm><RsnDesc>{}</RsnDesc></Rsn></admi.002.001.01></Document>",
        escape(resource_id),
        reason.code(),
        utc_now(),
        escape(&description.chars().take(350).collect::<String>()),
    );
    tracing::info!(
        sender,
        resource_id,
        reason = reason.code(),
        description,
        "message rejected"
    );
    state.count(|s| s.rejected += 1);
    logged(
        deliver(state, "admi.002", sender, &new_msg_id(), &document).await,
        "admi.002",
    );
}

/// One transaction's status in BACEN's pacs.002: its key (`OrgnlInstrId`: the `EndToEndId` of a
/// pacs.008, the `RtrId` of a pacs.004), the payment's `EndToEndId`, `TxSts` and, for a
/// rejection by the SPI, its reason code.
struct Status<'a> {
    key: &'a str,
    end_to_end: &'a str,
    status: &'a str,
    reason: Option<&'a str>,
}

/// BACEN's pacs.002 (catalog 5.13.1, pacs.002 1.17: `GrpHdr` then one `TxInfAndSts` per
/// transaction, each with `OrgnlInstrId` and `OrgnlEndToEndId`; no `OrgnlGrpInfAndSts`).
fn status_report(msg_id: &str, statuses: &[Status<'_>]) -> String {
    let transactions: String = statuses
        .iter()
        .map(|s| {
            let reason = s
                .reason
                .map(|r| format!("<StsRsnInf><Rsn><Cd>{}</Cd></Rsn></StsRsnInf>", escape(r)))
                .unwrap_or_default();
            format!(
                "<TxInfAndSts><OrgnlInstrId>{}</OrgnlInstrId><OrgnlEndToEndId>{}</OrgnlEndToEndId><TxSts>{}</TxSts>{reason}</TxInfAndSts>",
                escape(s.key),
                escape(s.end_to_end),
                escape(s.status),
            )
        })
        .collect();
    format!(
        "<Document><FIToFIPmtStsRpt><GrpHdr><MsgId>{msg_id}</MsgId><CreDtTm>{now}</CreDtTm></GrpHdr>{transactions}</FIToFIPmtStsRpt></Document>",
        now = utc_now(),
    )
}

/// Sends BACEN's pacs.002 (a fresh `MsgId`) with `statuses` to `to`.
async fn report(state: &State, to: &str, statuses: &[Status<'_>]) {
    if statuses.is_empty() {
        return;
    }
    let msg_id = new_msg_id();
    let document = status_report(&msg_id, statuses);
    logged(
        deliver(state, "pacs.002", to, &msg_id, &document).await,
        "pacs.002",
    );
}

/// Acts on an accepted message of `sender` (checks passed).
pub(crate) async fn route(state: &State, sender: &str, resource_id: &str, msg: &Inbound) {
    match msg.kind.as_str() {
        "pacs.008" | "pacs.004" => transfer(state, sender, msg).await,
        "pacs.002" => settle(state, sender, resource_id, msg).await,
        "pibr.001" => {
            let msg_id = new_msg_id();
            let document = format!(
                "<Document><EchoRspn><GrpHdr><MsgId>{msg_id}</MsgId><CreDtTm>{}</CreDtTm></GrpHdr>\
                 <EchoTxInf><Data>{}</Data></EchoTxInf></EchoRspn></Document>",
                utc_now(),
                escape(msg.field("Data").unwrap_or_default())
            );
            logged(
                deliver(state, "pibr.002", sender, &msg_id, &document).await,
                "pibr.002",
            );
        }
        "pibr.002" => {
            let data = msg.field("Data").unwrap_or_default();
            if let Some(answered) = lock(&state.clearing.echoes).get_mut(data) {
                *answered = true;
            }
        }
        "admi.002" => state.count(|s| s.participant_rejections += 1),
        _ => {}
    }
}

/// A pacs.008 or pacs.004, transaction by transaction: each hosted payee gets its transactions
/// on its stream (the whole Document when they are all its, else the Document with only its
/// transactions and `NbOfTxs` counting them); the transactions of a payee the simulator does
/// not host are answered for it (`ACSP`) and settled.
async fn transfer(state: &State, sender: &str, msg: &Inbound) {
    let mut by_payee: Vec<(String, Vec<&Transaction>)> = Vec::new();
    for tx in &msg.transactions {
        let payee = tx.addressee.clone().unwrap_or_default();
        match by_payee.iter_mut().find(|(p, _)| *p == payee) {
            Some((_, txs)) => txs.push(tx),
            None => by_payee.push((payee, vec![tx])),
        }
    }
    let deadline = Instant::now() + state.clearing.timeout();
    for (payee, txs) in by_payee {
        let pending = |tx: &Transaction| Pending {
            payer: sender.to_string(),
            payee: payee.clone(),
            original_def: msg.msg_def_idr.clone(),
            end_to_end: tx.end_to_end.clone(),
            amount: tx.amount.clone().unwrap_or_default(),
            deadline,
        };
        if state.participants.hosts(&payee) {
            {
                let mut waiting = lock(&state.clearing.pending);
                for tx in &txs {
                    waiting.insert(tx.key.clone(), pending(tx));
                }
            }
            state.count(|s| s.forwarded += txs.len() as u64);
            let document = if txs.len() == msg.transactions.len() {
                msg.document.clone()
            } else {
                only(msg, &txs)
            };
            logged(
                deliver(state, &msg.kind, &payee, &new_msg_id(), &document).await,
                "transfer",
            );
        } else {
            for tx in &txs {
                state.clearing.record_settled(&pending(tx));
            }
            let statuses: Vec<Status<'_>> = txs
                .iter()
                .map(|tx| Status {
                    key: &tx.key,
                    end_to_end: &tx.end_to_end,
                    status: "ACSP",
                    reason: None,
                })
                .collect();
            report(state, sender, &statuses).await;
        }
    }
}

/// `msg`'s Document with only the transactions `keep`, `NbOfTxs` counting them.
fn only(msg: &Inbound, keep: &[&Transaction]) -> String {
    let mut document = msg.document.clone();
    for tx in &msg.transactions {
        if !keep.iter().any(|k| std::ptr::eq(*k, tx)) {
            document = document.replacen(&tx.source, "", 1);
        }
    }
    match (document.find("<NbOfTxs>"), document.find("</NbOfTxs>")) {
        (Some(a), Some(b)) if a < b => format!("{}<NbOfTxs>{}{}", &document[..a], keep.len(), &document[b..]),
        _ => document,
    }
}

/// A transaction a payee's pacs.002 answered: its key, the payment, the status.
type Settled = (String, Pending, String);

/// The payee's pacs.002, transaction by transaction: each status to its payer and, when
/// accepted, to the payee too. A pacs.002 naming a transaction that awaits no status, or one
/// whose payee is not the sender, is rejected whole (admi.002) and settles nothing.
async fn settle(state: &State, sender: &str, resource_id: &str, msg: &Inbound) {
    let found: Result<Vec<Settled>, (Reason, String)> = {
        let mut pending = lock(&state.clearing.pending);
        let mut problem = None;
        for tx in &msg.transactions {
            let key = [tx.key.as_str(), tx.end_to_end.as_str()]
                .into_iter()
                .find(|k| !k.is_empty() && pending.contains_key(*k));
            match key.and_then(|k| pending.get(k)) {
                Some(p) if p.payee != sender => {
                    let why = format!(
                        "the status of {} comes from {sender}, not from the credited participant",
                        tx.key
                    );
                    problem = Some((Reason::NotThePayee, why));
                }
                Some(_) => {}
                None => {
                    let why = format!("no payment awaits a status for {}", or_dash(&tx.key));
                    problem = Some((Reason::UnknownPayment, why));
                }
            }
            if problem.is_some() {
                break;
            }
        }
        if msg.transactions.is_empty() {
            problem = Some((Reason::UnknownPayment, "the pacs.002 has no TxInfAndSts".into()));
        }
        match problem {
            Some(p) => Err(p),
            None => Ok(msg
                .transactions
                .iter()
                .filter_map(|tx| {
                    let key = [tx.key.as_str(), tx.end_to_end.as_str()]
                        .into_iter()
                        .find(|k| pending.contains_key(*k))?
                        .to_string();
                    let p = pending.remove(&key)?;
                    Some((key, p, tx.status.clone().unwrap_or_else(|| "RJCT".into())))
                })
                .collect()),
        }
    };
    let settled = match found {
        Ok(settled) => settled,
        Err((reason, why)) => return reject(state, sender, resource_id, reason, &why).await,
    };
    let mut payers: Vec<&str> = settled.iter().map(|(_, p, _)| p.payer.as_str()).collect();
    payers.dedup();
    for payer in payers {
        let statuses: Vec<Status<'_>> = settled
            .iter()
            .filter(|(_, p, _)| p.payer == payer)
            .map(|(key, p, status)| Status {
                key,
                end_to_end: &p.end_to_end,
                status,
                reason: None,
            })
            .collect();
        report(state, payer, &statuses).await;
    }
    let accepted: Vec<Status<'_>> = settled
        .iter()
        .filter(|(_, _, status)| status == "ACSP")
        .map(|(key, p, status)| {
            state.clearing.record_settled(p);
            Status {
                key,
                end_to_end: &p.end_to_end,
                status,
                reason: None,
            }
        })
        .collect();
    report(state, sender, &accepted).await;
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

/// Rejects, `RJCT` `AB03` to payer and payee, every payment whose payee did not answer in time.
pub(crate) async fn expire(state: &State) {
    let now = Instant::now();
    let expired: Vec<(String, Pending)> = {
        let mut pending = lock(&state.clearing.pending);
        let keys: Vec<String> = pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(k, _)| k.clone())
            .collect();
        keys.into_iter()
            .filter_map(|k| pending.remove(&k).map(|p| (k, p)))
            .collect()
    };
    for (key, p) in expired {
        tracing::info!(%key, payer = %p.payer, payee = %p.payee, "payee did not answer in time: AB03");
        state.count(|s| s.timed_out += 1);
        let status = [Status {
            key: &key,
            end_to_end: &p.end_to_end,
            status: "RJCT",
            reason: Some(TIMEOUT_REASON),
        }];
        report(state, &p.payer, &status).await;
        report(state, &p.payee, &status).await;
    }
}

/// BACEN's echo to `ispb`: a pibr.001 on its stream; returns the echo's `MsgId`, which the
/// participant's pibr.002 carries back in `Data`.
pub(crate) async fn echo(state: &State, ispb: &str) -> Result<String, String> {
    let msg_id = new_msg_id();
    let document = format!(
        "<Document><EchoReq><GrpHdr><MsgId>{msg_id}</MsgId><CreDtTm>{}</CreDtTm></GrpHdr>\
         <EchoTxInf><Data>{msg_id}</Data></EchoTxInf></EchoReq></Document>",
        utc_now()
    );
    lock(&state.clearing.echoes).insert(msg_id.clone(), false);
    deliver(state, "pibr.001", ispb, &msg_id, &document).await?;
    Ok(msg_id)
}

/// The participant the simulator pays from in [`incoming_payment`]: another bank, which it
/// answers for.
pub const OTHER_PSP: &str = "99999030";

/// A payment to `payee` from another bank ([`OTHER_PSP`]), as BACEN delivers one: a pacs.008 on
/// the payee's stream, pending its pacs.002 like any payment (AB03 when it does not come in
/// time). Returns its `EndToEndId`.
pub(crate) async fn incoming_payment(state: &State, payee: &str) -> Result<String, String> {
    let end_to_end = proxy_core::wire::spi_id('E', OTHER_PSP);
    let msg_id = proxy_core::wire::spi_id('M', OTHER_PSP);
    let now = utc_now();
    let amount = "10.00";
    let document = format!(
        "<Document><FIToFICstmrCdtTrf><GrpHdr><MsgId>{msg_id}</MsgId><CreDtTm>{now}</CreDtTm>\
         <NbOfTxs>1</NbOfTxs><SttlmInf><SttlmMtd>CLRG</SttlmMtd></SttlmInf><PmtTpInf><InstrPrty>HIGH</InstrPrty>\
         <SvcLvl><Prtry>PAGPRI</Prtry></SvcLvl></PmtTpInf></GrpHdr><CdtTrfTxInf><PmtId><EndToEndId>{end_to_end}</EndToEndId>\
         </PmtId><IntrBkSttlmAmt Ccy=\"BRL\">{amount}</IntrBkSttlmAmt><AccptncDtTm>{now}</AccptncDtTm>\
         <ChrgBr>SLEV</ChrgBr><MndtRltdInf><Tp><LclInstrm><Prtry>MANU</Prtry></LclInstrm></Tp></MndtRltdInf>\
         <Dbtr><Nm>Pagador de outro banco</Nm><Id><PrvtId><Othr><Id>12345678909</Id></Othr></PrvtId></Id></Dbtr>\
         <DbtrAcct><Id><Othr><Id>123456</Id><Issr>0001</Issr></Othr></Id><Tp><Cd>CACC</Cd></Tp></DbtrAcct>\
         <DbtrAgt><FinInstnId><ClrSysMmbId><MmbId>{OTHER_PSP}</MmbId></ClrSysMmbId></FinInstnId></DbtrAgt>\
         <CdtrAgt><FinInstnId><ClrSysMmbId><MmbId>{payee}</MmbId></ClrSysMmbId></FinInstnId></CdtrAgt>\
         <Cdtr><Id><PrvtId><Othr><Id>98765432100</Id></Othr></PrvtId></Id></Cdtr>\
         <CdtrAcct><Id><Othr><Id>654321</Id><Issr>0002</Issr></Othr></Id><Tp><Cd>TRAN</Cd></Tp></CdtrAcct>\
         <Purp><Cd>IPAY</Cd></Purp></CdtTrfTxInf></FIToFICstmrCdtTrf></Document>"
    );
    let pending = Pending {
        payer: OTHER_PSP.to_string(),
        payee: payee.to_string(),
        original_def: state.config.catalog.msg_def_idr("pacs.008"),
        end_to_end: end_to_end.clone(),
        amount: amount.to_string(),
        deadline: Instant::now() + state.clearing.timeout(),
    };
    lock(&state.clearing.pending).insert(end_to_end.clone(), pending);
    state.count(|s| s.forwarded += 1);
    deliver(state, "pacs.008", payee, &new_msg_id(), &document).await?;
    Ok(end_to_end)
}

/// Whether BACEN's echo `id` was answered; `None` for an echo it never sent.
pub(crate) fn echo_answered(state: &State, id: &str) -> Option<bool> {
    lock(&state.clearing.echoes).get(id).copied()
}
