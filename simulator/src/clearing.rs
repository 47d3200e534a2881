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

use crate::catalog::{Inbound, new_msg_id};
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
    /// `MsgId` and `MsgDefIdr` of the payer's message.
    original_msg_id: String,
    original_def: String,
    /// The payer's `EndToEndId` (a pacs.004's original one).
    end_to_end: String,
    /// When the SPI stops waiting for the payee (AB03).
    deadline: Instant,
}

/// The SPI's reason code for a payment the payee did not answer in time (Q&A #146, #426).
pub const TIMEOUT_REASON: &str = "AB03";

/// Payments awaiting their status, settled payments, and BACEN's echoes awaiting their answer.
pub(crate) struct Clearing {
    /// By `EndToEndId` (pacs.008) or `RtrId` (pacs.004).
    pending: Mutex<HashMap<String, Pending>>,
    /// Settled payments by `EndToEndId`: (payer, payee). DICT's infraction reports and refunds
    /// name a transaction by it.
    settled: Mutex<HashMap<String, (String, String)>>,
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
        lock(&self.settled).get(end_to_end).cloned()
    }

    fn record_settled(&self, p: &Pending) {
        if p.original_def.starts_with("pacs.008") {
            lock(&self.settled).insert(p.end_to_end.clone(), (p.payer.clone(), p.payee.clone()));
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

/// BACEN's pacs.002 for a payment or refund, with the reason code of a rejection by the SPI.
fn status_report(msg_id: &str, p: &Pending, key: &str, status: &str, reason: Option<&str>) -> String {
    let reason = reason
        .map(|r| format!("<StsRsnInf><Rsn><Cd>{}</Cd></Rsn></StsRsnInf>", escape(r)))
        .unwrap_or_default();
    format!(
        "<Document><FIToFIPmtStsRpt><GrpHdr><MsgId>{msg_id}</MsgId><CreDtTm>{now}</CreDtTm></GrpHdr>\
         <OrgnlGrpInfAndSts><OrgnlMsgId>{orig}</OrgnlMsgId><OrgnlMsgNmId>{def}</OrgnlMsgNmId></OrgnlGrpInfAndSts>\
         <TxInfAndSts><OrgnlInstrId>{key}</OrgnlInstrId><OrgnlEndToEndId>{e2e}</OrgnlEndToEndId><TxSts>{status}</TxSts>{reason}</TxInfAndSts>\
         </FIToFIPmtStsRpt></Document>",
        now = utc_now(),
        orig = escape(&p.original_msg_id),
        def = escape(&p.original_def),
        key = escape(key),
        e2e = escape(&p.end_to_end),
        status = escape(status),
    )
}

/// Sends BACEN's pacs.002 (a fresh `MsgId`) to `to`.
async fn report(state: &State, to: &str, p: &Pending, key: &str, status: &str, reason: Option<&str>) {
    let msg_id = new_msg_id();
    let document = status_report(&msg_id, p, key, status, reason);
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

/// A pacs.008 or pacs.004: to the addressee's stream when hosted, else answered for it.
async fn transfer(state: &State, sender: &str, msg: &Inbound) {
    let key = if msg.kind == "pacs.004" {
        msg.field("RtrId")
    } else {
        msg.field("EndToEndId")
    }
    .unwrap_or_default()
    .to_string();
    let pending = Pending {
        payer: sender.to_string(),
        payee: msg.addressee.clone().unwrap_or_default(),
        original_msg_id: msg.msg_id.clone(),
        original_def: msg.msg_def_idr.clone(),
        end_to_end: msg
            .field("EndToEndId")
            .or(msg.field("OrgnlEndToEndId"))
            .unwrap_or_default()
            .to_string(),
        deadline: Instant::now() + state.clearing.timeout(),
    };
    if state.participants.hosts(&pending.payee) {
        let payee = pending.payee.clone();
        lock(&state.clearing.pending).insert(key, pending);
        state.count(|s| s.forwarded += 1);
        let msg_id = new_msg_id();
        logged(
            deliver(state, &msg.kind, &payee, &msg_id, &msg.document).await,
            "transfer",
        );
    } else {
        state.clearing.record_settled(&pending);
        report(state, sender, &pending, &key, "ACSP", None).await;
    }
}

/// The payee's pacs.002: the status to the payer, and to the payee when accepted.
async fn settle(state: &State, sender: &str, resource_id: &str, msg: &Inbound) {
    let keys = [msg.field("OrgnlInstrId"), msg.field("OrgnlEndToEndId")];
    let found = {
        let mut pending = lock(&state.clearing.pending);
        let key = keys
            .iter()
            .flatten()
            .find(|k| pending.contains_key(**k))
            .map(|k| k.to_string());
        match key.and_then(|k| pending.get(&k).map(|p| (k, p.payee == sender))) {
            Some((k, true)) => pending.remove(&k).map(|p| Ok((k, p))),
            Some((k, false)) => Some(Err(k)),
            None => None,
        }
    };
    match found {
        Some(Ok((key, p))) => {
            let status = msg.field("TxSts").unwrap_or("RJCT");
            report(state, &p.payer, &p, &key, status, None).await;
            if status == "ACSP" {
                state.clearing.record_settled(&p);
                report(state, &p.payee, &p, &key, status, None).await;
            }
        }
        Some(Err(key)) => {
            let why = format!("the status of {key} comes from {sender}, not from the credited participant");
            reject(state, sender, resource_id, Reason::NotThePayee, &why).await;
        }
        None => {
            let why = format!(
                "no payment awaits a status for {}",
                keys.iter().flatten().next().unwrap_or(&"-")
            );
            reject(state, sender, resource_id, Reason::UnknownPayment, &why).await;
        }
    }
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
        report(state, &p.payer, &p, &key, "RJCT", Some(TIMEOUT_REASON)).await;
        report(state, &p.payee, &p, &key, "RJCT", Some(TIMEOUT_REASON)).await;
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

/// Whether BACEN's echo `id` was answered; `None` for an echo it never sent.
pub(crate) fn echo_answered(state: &State, id: &str) -> Option<bool> {
    lock(&state.clearing.echoes).get(id).copied()
}
