//! DICT's infraction reports and refunds (the special return mechanism, MED): each names a
//! settled payment by its `TransactionId` (the `EndToEndId`; the SPI side of the simulator says
//! who paid whom) and lives through a life cycle, each step by the side entitled to it (DICT's
//! OpenAPI 2.x, `InfractionReport` and `Refund`):
//!
//! - **infraction report** (DICT's OpenAPI 2.12.1 shape), with a `Reason` — `REFUND_REQUEST`, by
//!   the payer's participant, or `REFUND_CANCELLED`, by the payee's (then `SituationType`
//!   `OTHER`) — and a `SituationType` (`SCAM`, `ACCOUNT_TAKEOVER`, `COERCION`,
//!   `FRAUDULENT_ACCESS`, `OTHER` with `ReportDetails`): `OPEN` → `ACKNOWLEDGED` (acknowledge,
//!   the counterparty) → `CLOSED` with `AnalysisResult` `AGREED` (with a `FraudType`; a fraud
//!   marker's id is answered) or `DISAGREED` (close, the counterparty, from `ACKNOWLEDGED` only);
//!   `CANCELLED` (cancel, the reporter) while not closed. Answers name `ReporterParticipant` and
//!   `CounterpartyParticipant`. (Creating one directly is deprecated in 2.12.1 in favour of the
//!   funds recoveries of MED 2.0, which the simulator does not serve.)
//! - **refund** (as DICT's OpenAPI 2.12.1 defines it), by the debited participant only, with a
//!   `RefundReason` (`FRAUD`, `OPERATIONAL_FLAW` — which needs `RefundDetails` —, `PIX_AUTOMATICO`)
//!   and a `RefundAmount`: `OPEN` → `CLOSED` with `RefundAnalysisResult` `TOTALLY_ACCEPTED`,
//!   `PARTIALLY_ACCEPTED` or `REJECTED` (close, the contested participant; a rejection names its
//!   `RefundRejectionReason`, `INVALID_REQUEST` only for an operational flaw and with
//!   `RefundAnalysisDetails`), answered as `AnalysisResult`/`AnalysisDetails`; `CANCELLED` (cancel,
//!   the requester) while open. Answers name `RequestingParticipant` and `ContestedParticipant`.
//!
//! Ids are UUIDs. Only the two participants of a case read it; `GET /{resource}/?Participant=…`
//! lists a participant's cases (refunds with `ParticipantRole` `REQUESTING` or `CONTESTED`,
//! infraction reports with `IsReporter`/`IsCounterparty`; `Status` filters; ascending by
//! `LastModified`; `HasMoreElements`), which is how the other side learns of a new one. A step
//! the life cycle does not allow is `403 Forbidden`; a missing or invalid field `400 BadRequest`.

use http::StatusCode;
use pix_xmldsig::xml::Document;

use super::{Refusal, bad_request, error, field, forbidden, query_params, uuid};
use crate::State;
use crate::find::{content, first};
use crate::wire::{escape, utc_now};

/// Which kind of case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// `infraction-reports`.
    InfractionReport,
    /// `refunds`.
    Refund,
}

impl Kind {
    /// The kind served at `/api/v2/{resource}`.
    pub(super) fn of(resource: &str) -> Option<Kind> {
        match resource {
            "infraction-reports" => Some(Kind::InfractionReport),
            "refunds" => Some(Kind::Refund),
            _ => None,
        }
    }

    /// The element of a case in requests and answers.
    fn element(self) -> &'static str {
        match self {
            Kind::InfractionReport => "InfractionReport",
            Kind::Refund => "Refund",
        }
    }

    /// DICT's error type for an invalid request of this kind, for a step its status does not
    /// allow, for a transaction DICT does not know, and for one that already has a case under
    /// way (the OpenAPI's table of errors).
    fn errors(self) -> [&'static str; 4] {
        match self {
            Kind::InfractionReport => [
                "InfractionReportInvalid",
                "InfractionReportOperationInvalid",
                "InfractionReportTransactionNotFound",
                "InfractionReportAlreadyBeingProcessedForTransaction",
            ],
            Kind::Refund => [
                "RefundInvalid",
                "RefundOperationInvalid",
                "RefundTransactionNotFound",
                "RefundAlreadyBeingProcessedForTransaction",
            ],
        }
    }

    /// The field saying why, and the values it may take.
    fn reason(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Kind::InfractionReport => ("Reason", &["REFUND_REQUEST", "REFUND_CANCELLED"]),
            Kind::Refund => ("RefundReason", &["FRAUD", "OPERATIONAL_FLAW", "PIX_AUTOMATICO"]),
        }
    }

    /// The answer's root element for an operation.
    fn root(self, operation: &str) -> &'static str {
        match (self, operation) {
            (Kind::InfractionReport, "create") => "CreateInfractionReportResponse",
            (Kind::InfractionReport, "acknowledge") => "AcknowledgeInfractionReportResponse",
            (Kind::InfractionReport, "close") => "CloseInfractionReportResponse",
            (Kind::InfractionReport, "cancel") => "CancelInfractionReportResponse",
            (Kind::InfractionReport, "list") => "ListInfractionReportsResponse",
            (Kind::InfractionReport, _) => "GetInfractionReportResponse",
            (Kind::Refund, "create") => "CreateRefundResponse",
            (Kind::Refund, "close") => "CloseRefundResponse",
            (Kind::Refund, "cancel") => "CancelRefundResponse",
            (Kind::Refund, "list") => "ListRefundsResponse",
            (Kind::Refund, _) => "GetRefundResponse",
        }
    }
}

/// Who may take a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// The participant that opened the case.
    Reporter,
    /// The other participant of the payment.
    Counterparty,
}

/// A step of a life cycle: who, from which states, to which, and the field (with its values)
/// the request must carry.
struct Step {
    by: Side,
    from: &'static [&'static str],
    to: &'static str,
    result: Option<(&'static str, &'static [&'static str])>,
    details: &'static str,
    /// The names the answer gives the result and its details (a refund's close answers
    /// `AnalysisResult` and `AnalysisDetails` for the request's `RefundAnalysis…`).
    answered_as: (&'static str, &'static str),
}

fn step(kind: Kind, action: &str) -> Option<Step> {
    const OPEN: &[&str] = &["OPEN"];
    const UNDECIDED: &[&str] = &["OPEN", "ACKNOWLEDGED"];
    Some(match (kind, action) {
        (Kind::InfractionReport, "acknowledge") => Step {
            by: Side::Counterparty,
            from: OPEN,
            to: "ACKNOWLEDGED",
            result: None,
            details: "",
            answered_as: ("", ""),
        },
        (Kind::InfractionReport, "close") => Step {
            by: Side::Counterparty,
            from: &["ACKNOWLEDGED"],
            to: "CLOSED",
            result: Some(("AnalysisResult", &["AGREED", "DISAGREED"])),
            details: "AnalysisDetails",
            answered_as: ("AnalysisResult", "AnalysisDetails"),
        },
        (Kind::InfractionReport, "cancel") => Step {
            by: Side::Reporter,
            from: UNDECIDED,
            to: "CANCELLED",
            result: None,
            details: "",
            answered_as: ("", ""),
        },
        (Kind::Refund, "close") => Step {
            by: Side::Counterparty,
            from: OPEN,
            to: "CLOSED",
            result: Some((
                "RefundAnalysisResult",
                &["TOTALLY_ACCEPTED", "PARTIALLY_ACCEPTED", "REJECTED"],
            )),
            details: "RefundAnalysisDetails",
            answered_as: ("AnalysisResult", "AnalysisDetails"),
        },
        (Kind::Refund, "cancel") => Step {
            by: Side::Reporter,
            from: OPEN,
            to: "CANCELLED",
            result: None,
            details: "",
            answered_as: ("", ""),
        },
        _ => return None,
    })
}

/// An infraction report or a refund.
pub(super) struct Case {
    kind: Kind,
    /// Order of creation (lists are in it).
    seq: usize,
    /// The request's fields as written (`TransactionId`, the reason, details, amount).
    fields: String,
    /// The payment's `EndToEndId` (`TransactionId`).
    transaction: String,
    reporter: String,
    counterparty: String,
    status: &'static str,
    /// The closing analysis as its fields, once closed.
    analysis: String,
    created: String,
    modified: String,
    /// The funds recovery (MED 2.0) that opened it, if one did.
    funds_recovery: Option<String>,
    /// A refund's infraction report, when a funds recovery asked for it.
    infraction_report: Option<String>,
}

impl Case {
    /// The links a funds recovery gives a case, as the answer writes them.
    fn links(&self) -> String {
        let link = |name: &str, v: &Option<String>| {
            v.as_ref()
                .map(|v| format!("<{name}>{v}</{name}>"))
                .unwrap_or_default()
        };
        link("InfractionReportId", &self.infraction_report) + &link("FundsRecoveryId", &self.funds_recovery)
    }

    fn involves(&self, participant: &str) -> bool {
        self.reporter == participant || self.counterparty == participant
    }

    fn xml(&self, id: &str) -> String {
        if self.kind == Kind::Refund {
            return format!(
                "<Refund>{fields}<Id>{id}</Id><Status>{status}</Status>\
                 <RequestingParticipant>{requesting}</RequestingParticipant><ContestedParticipant>{contested}</ContestedParticipant>\
                 <CreationTime>{created}</CreationTime><LastModified>{modified}</LastModified>{links}{analysis}</Refund>",
                links = self.links(),
                fields = self.fields,
                status = self.status,
                requesting = escape(&self.reporter),
                contested = escape(&self.counterparty),
                created = self.created,
                modified = self.modified,
                analysis = self.analysis,
            );
        }
        format!(
            "<InfractionReport>{fields}<Id>{id}</Id><Status>{status}</Status>\
             {links}<ReporterParticipant>{reporter}</ReporterParticipant><CounterpartyParticipant>{counterparty}</CounterpartyParticipant>\
             {analysis}<CreationTime>{created}</CreationTime><LastModified>{modified}</LastModified></InfractionReport>",
            links = self.links(),
            fields = self.fields,
            status = self.status,
            reporter = escape(&self.reporter),
            counterparty = escape(&self.counterparty),
            analysis = self.analysis,
            created = self.created,
            modified = self.modified,
        )
    }
}

type Answer = Result<(StatusCode, &'static str, String), Refusal>;

fn not_found(kind: Kind, id: &str) -> Refusal {
    (
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("no {} {id}", kind.element()),
    )
}

/// `POST /{resource}/`: a new case on a settled payment, by a participant entitled to open it.
pub(super) fn create(state: &State, kind: Kind, doc: &Document<'_>, actor: &str) -> Answer {
    let [invalid, _, unknown_transaction, under_way] = kind.errors();
    let e =
        first(doc, None, kind.element()).ok_or_else(|| error(invalid, format!("no {}", kind.element())))?;
    let transaction = field(doc, Some(e), "TransactionId")
        .ok_or_else(|| error(invalid, "the case needs a TransactionId"))?;
    let (reason_field, reasons) = kind.reason();
    let reason = field(doc, Some(e), reason_field).unwrap_or_default();
    if !reasons.contains(&reason.as_str()) {
        let why = format!("{reason_field} '{reason}' is not one of {}", reasons.join(", "));
        return Err(error(invalid, why));
    }
    if kind == Kind::InfractionReport {
        let situation = field(doc, Some(e), "SituationType").unwrap_or_default();
        let situations = [
            "SCAM",
            "ACCOUNT_TAKEOVER",
            "COERCION",
            "FRAUDULENT_ACCESS",
            "OTHER",
        ];
        if !situations.contains(&situation.as_str()) {
            return Err(error(
                invalid,
                format!(
                    "SituationType '{situation}' is not one of {}",
                    situations.join(", ")
                ),
            ));
        }
        if reason == "REFUND_CANCELLED" && situation != "OTHER" {
            return Err(error(
                invalid,
                "a REFUND_CANCELLED report has SituationType OTHER",
            ));
        }
        if situation == "OTHER" && field(doc, Some(e), "ReportDetails").is_none_or(|d| d.is_empty()) {
            return Err(error(
                invalid,
                "ReportDetails is required for SituationType OTHER",
            ));
        }
    }
    if kind == Kind::Refund {
        let amount = field(doc, Some(e), "RefundAmount").unwrap_or_default();
        let number = !amount.is_empty() && amount.parse::<f64>().is_ok_and(|a| a > 0.0);
        if !number {
            return Err(error(
                invalid,
                format!("RefundAmount '{amount}': a positive amount, required"),
            ));
        }
        if reason == "OPERATIONAL_FLAW" && field(doc, Some(e), "RefundDetails").is_none_or(|d| d.is_empty()) {
            return Err(error(invalid, "RefundDetails is required for OPERATIONAL_FLAW"));
        }
    }
    let (debited, credited) = state
        .clearing
        .settled(&transaction)
        .ok_or_else(|| error(unknown_transaction, format!("no settled payment {transaction}")))?;
    let counterparty = match kind {
        // A refund request is reported by the payer's participant, its cancellation by the
        // payee's (createInfractionReport).
        Kind::InfractionReport if reason == "REFUND_REQUEST" && actor == debited => credited.clone(),
        Kind::InfractionReport if reason == "REFUND_CANCELLED" && actor == credited => debited.clone(),
        Kind::Refund if actor == debited => credited.clone(),
        _ => {
            return Err(forbidden(format!(
                "{actor} may not open a {} on {transaction} (debited {debited}, credited {credited})",
                kind.element()
            )));
        }
    };
    let now = utc_now();
    let mut d = state.dict.lock();
    let busy = d.cases.values().any(|c| {
        c.kind == kind && c.transaction == transaction && matches!(c.status, "OPEN" | "ACKNOWLEDGED")
    });
    if busy {
        return Err(error(
            under_way,
            format!("a {} on {transaction} is under way", kind.element()),
        ));
    }
    let case = Case {
        transaction: transaction.clone(),
        kind,
        seq: d.cases.len(),
        fields: content(doc, e),
        reporter: actor.to_string(),
        counterparty,
        status: "OPEN",
        analysis: String::new(),
        created: now.clone(),
        modified: now,
        funds_recovery: None,
        infraction_report: None,
    };
    let id = uuid();
    let xml = case.xml(&id);
    d.cases.insert(id, case);
    Ok((StatusCode::CREATED, kind.root("create"), xml))
}

/// `POST /{resource}/{id}/{action}`: a step of the case's life cycle.
pub(super) fn act(
    state: &State,
    kind: Kind,
    id: &str,
    action: &str,
    doc: &Document<'_>,
    actor: &str,
) -> Answer {
    let step = step(kind, action).ok_or_else(|| {
        (
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no {} action {action}", kind.element()),
        )
    })?;
    let [invalid, operation_invalid, _, _] = kind.errors();
    let details = field(doc, None, step.details);
    let (result_name, details_name) = step.answered_as;
    let result = match step.result {
        Some((name, values)) => {
            let value = field(doc, None, name).unwrap_or_default();
            if !values.contains(&value.as_str()) {
                return Err(error(
                    invalid,
                    format!("{name} '{value}' is not one of {}", values.join(", ")),
                ));
            }
            let details = details
                .as_ref()
                .map(|d| format!("<{details_name}>{}</{details_name}>", escape(d)))
                .unwrap_or_default();
            format!("<{result_name}>{value}</{result_name}>{details}")
        }
        None => String::new(),
    };
    let rejection = if kind == Kind::Refund && action == "close" {
        rejection(doc, details.as_deref())?
    } else {
        None
    };
    let fraud = if kind == Kind::InfractionReport && action == "close" {
        fraud_type(doc, details.as_deref())?
    } else {
        String::new()
    };
    let mut d = state.dict.lock();
    let case = d
        .cases
        .get_mut(id)
        .filter(|c| c.kind == kind)
        .ok_or_else(|| not_found(kind, id))?;
    let entitled = match step.by {
        Side::Reporter => &case.reporter,
        Side::Counterparty => &case.counterparty,
    };
    if entitled != actor {
        return Err(forbidden(format!(
            "{actor} may not {action} {} {id}: that is {entitled}'s",
            kind.element()
        )));
    }
    if case.funds_recovery.is_some() && action == "cancel" {
        return Err(error(
            operation_invalid,
            format!(
                "{} {id} belongs to a funds recovery: cancel the recovery",
                kind.element()
            ),
        ));
    }
    if !step.from.contains(&case.status) {
        return Err(error(
            operation_invalid,
            format!("cannot {action} a {} that is {}", kind.element(), case.status),
        ));
    }
    if let Some(reason) = &rejection
        && reason == "INVALID_REQUEST"
        && !case
            .fields
            .contains("<RefundReason>OPERATIONAL_FLAW</RefundReason>")
    {
        return Err(error(
            invalid,
            "RefundRejectionReason INVALID_REQUEST is only for an OPERATIONAL_FLAW refund",
        ));
    }
    case.status = step.to;
    case.analysis = result
        + &fraud
        + &rejection
            .map(|r| format!("<RefundRejectionReason>{r}</RefundRejectionReason>"))
            .unwrap_or_default();
    case.modified = utc_now();
    Ok((StatusCode::OK, kind.root(action), case.xml(id)))
}

/// An infraction report's closing fraud type: required when `AnalysisResult` is `AGREED`
/// (`APPLICATION_FRAUD`, `MULE_ACCOUNT`, `SCAMMER_ACCOUNT`, `OTHER` — with `AnalysisDetails`;
/// `UNKNOWN` is not valid in v2), which also marks the fraud: the answer carries the marker's
/// id. Returns what the answer adds.
fn fraud_type(doc: &Document<'_>, details: Option<&str>) -> Result<String, Refusal> {
    let agreed = field(doc, None, "AnalysisResult").as_deref() == Some("AGREED");
    match (agreed, field(doc, None, "FraudType")) {
        (false, None) => Ok(String::new()),
        (false, Some(_)) => Err(error(
            "InfractionReportInvalid",
            "FraudType is only for an AGREED report",
        )),
        (true, None) => Err(error(
            "InfractionReportInvalid",
            "an AGREED report needs a FraudType",
        )),
        (true, Some(t))
            if !matches!(
                t.as_str(),
                "APPLICATION_FRAUD" | "MULE_ACCOUNT" | "SCAMMER_ACCOUNT" | "OTHER"
            ) =>
        {
            Err(error(
                "InfractionReportInvalid",
                format!("FraudType '{t}' is not valid in v2"),
            ))
        }
        (true, Some(t)) if t == "OTHER" && details.is_none_or(str::is_empty) => Err(error(
            "InfractionReportInvalid",
            "FraudType OTHER needs AnalysisDetails",
        )),
        (true, Some(_)) => Ok(format!("<FraudMarkerId>{}</FraudMarkerId>", uuid())),
    }
}

/// A refund's closing rejection reason: required when `RefundAnalysisResult` is `REJECTED`
/// (`NO_BALANCE`, `ACCOUNT_CLOSURE`, `INVALID_REQUEST` — with `RefundAnalysisDetails` —, `OTHER`;
/// `PARTICIPANT_EXCLUSION` is DICT's own), absent otherwise.
fn rejection(doc: &Document<'_>, details: Option<&str>) -> Result<Option<String>, Refusal> {
    let rejected = field(doc, None, "RefundAnalysisResult").as_deref() == Some("REJECTED");
    let reason = field(doc, None, "RefundRejectionReason");
    match (rejected, reason) {
        (false, None) => Ok(None),
        (false, Some(_)) => Err(error(
            "RefundInvalid",
            "RefundRejectionReason is only for a REJECTED refund",
        )),
        (true, None) => Err(error(
            "RefundInvalid",
            "a REJECTED refund needs a RefundRejectionReason",
        )),
        (true, Some(r))
            if !matches!(
                r.as_str(),
                "NO_BALANCE" | "ACCOUNT_CLOSURE" | "INVALID_REQUEST" | "OTHER"
            ) =>
        {
            Err(error(
                "RefundInvalid",
                format!("RefundRejectionReason '{r}' is not one a participant may give"),
            ))
        }
        (true, Some(r)) if r == "INVALID_REQUEST" && details.is_none_or(str::is_empty) => Err(error(
            "RefundInvalid",
            "INVALID_REQUEST needs RefundAnalysisDetails",
        )),
        (true, Some(r)) => Ok(Some(r)),
    }
}

/// `GET /{resource}/{id}`, by either participant of the case.
pub(super) fn get(state: &State, kind: Kind, id: &str, requester: &str) -> Answer {
    let d = state.dict.lock();
    let case = d
        .cases
        .get(id)
        .filter(|c| c.kind == kind)
        .ok_or_else(|| not_found(kind, id))?;
    if !case.involves(requester) {
        return Err(forbidden(format!(
            "{requester} is not a participant of {} {id}",
            kind.element()
        )));
    }
    Ok((StatusCode::OK, kind.root("get"), case.xml(id)))
}

/// `GET /{resource}/?Participant=…`: the participant's cases (refunds by `ParticipantRole`,
/// required; infraction reports by `IsReporter`/`IsCounterparty`), optionally by `Status`, in the
/// order they last changed, with `HasMoreElements` (the simulator answers every one: `false`).
pub(super) fn list(state: &State, kind: Kind, requester: &str, query: Option<&str>) -> Answer {
    let params = query_params(query);
    let one = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    let participant = match one("Participant") {
        Some(p) => p.to_string(),
        None if kind == Kind::Refund => return Err(bad_request("listRefunds needs Participant")),
        None => requester.to_string(),
    };
    if !requester.is_empty() && participant != requester {
        return Err(forbidden(format!(
            "{requester} cannot list the cases of {participant}"
        )));
    }
    let (as_reporter, as_counterparty) = match kind {
        Kind::Refund => match one("ParticipantRole") {
            Some("REQUESTING") => (true, false),
            Some("CONTESTED") => (false, true),
            other => {
                return Err(bad_request(format!(
                    "ParticipantRole '{}': REQUESTING or CONTESTED, required",
                    other.unwrap_or("")
                )));
            }
        },
        Kind::InfractionReport => match (one("IsReporter"), one("IsCounterparty")) {
            (Some("true"), Some("false")) | (Some("true"), None) => (true, false),
            (Some("false"), Some("true")) | (None, Some("true")) => (false, true),
            _ => (true, true),
        },
    };
    let statuses: Vec<&str> = params
        .iter()
        .filter(|(k, _)| *k == "Status")
        .flat_map(|(_, v)| v.split(','))
        .collect();
    let d = state.dict.lock();
    let mut mine: Vec<(&String, &Case)> = d
        .cases
        .iter()
        .filter(|(_, c)| c.kind == kind)
        .filter(|(_, c)| {
            (as_reporter && c.reporter == participant) || (as_counterparty && c.counterparty == participant)
        })
        .filter(|(_, c)| statuses.is_empty() || statuses.contains(&c.status))
        .collect();
    mine.sort_by(|(_, a), (_, b)| (a.modified.as_str(), a.seq).cmp(&(b.modified.as_str(), b.seq)));
    let items: String = mine.iter().map(|(id, c)| c.xml(id)).collect();
    let plural = format!("{}s", kind.element());
    Ok((
        StatusCode::OK,
        kind.root("list"),
        format!("<HasMoreElements>false</HasMoreElements><{plural}>{items}</{plural}>"),
    ))
}

/// A case a funds recovery (MED 2.0) opens: an infraction report to a participant of its
/// tracking graph, or a refund of an agreed report. Returns its id.
pub(super) fn open_for_recovery(
    d: &mut super::Inner,
    kind: Kind,
    (transaction, reporter, counterparty): (&str, &str, &str),
    fields: String,
    (recovery, report): (&str, Option<String>),
) -> String {
    let now = utc_now();
    let case = Case {
        kind,
        seq: d.cases.len(),
        fields,
        transaction: transaction.to_string(),
        reporter: reporter.to_string(),
        counterparty: counterparty.to_string(),
        status: "OPEN",
        analysis: String::new(),
        created: now.clone(),
        modified: now,
        funds_recovery: Some(recovery.to_string()),
        infraction_report: report,
    };
    let id = uuid();
    d.cases.insert(id.clone(), case);
    id
}

/// A case a funds recovery opened, as the recovery reads it.
pub(super) struct Linked {
    /// Its id.
    pub(super) id: String,
    /// Its answer XML.
    pub(super) xml: String,
    /// Its status.
    pub(super) status: &'static str,
    /// Whether it closed `AGREED` (a report) or accepted (a refund).
    pub(super) agreed: bool,
    /// Its counterparty.
    pub(super) counterparty: String,
}

/// A funds recovery's cases of `kind`, in the order they were opened.
pub(super) fn of_recovery(d: &super::Inner, recovery: &str, kind: Kind) -> Vec<Linked> {
    let mut found: Vec<(&String, &Case)> = d
        .cases
        .iter()
        .filter(|(_, c)| c.kind == kind && c.funds_recovery.as_deref() == Some(recovery))
        .collect();
    found.sort_by_key(|(_, c)| c.seq);
    found
        .into_iter()
        .map(|(id, c)| {
            let agreed = c.analysis.contains("<AnalysisResult>AGREED</AnalysisResult>")
                || c.analysis.contains("ACCEPTED</AnalysisResult>");
            Linked {
                id: id.clone(),
                xml: c.xml(id),
                status: c.status,
                agreed,
                counterparty: c.counterparty.clone(),
            }
        })
        .collect()
}

/// Cancels a funds recovery's cases that are not closed (its cancellation cancels them all).
pub(super) fn cancel_recovery_cases(d: &mut super::Inner, recovery: &str) {
    let now = utc_now();
    for c in d.cases.values_mut() {
        if c.funds_recovery.as_deref() == Some(recovery) && c.status != "CLOSED" && c.status != "CANCELLED" {
            c.status = "CANCELLED";
            c.modified = now.clone();
        }
    }
}
