//! DICT's infraction reports and refunds (the special return mechanism, MED): each names a
//! settled payment by its `TransactionId` (the `EndToEndId`; the SPI side of the simulator says
//! who paid whom) and lives through a life cycle, each step by the side entitled to it (DICT's
//! OpenAPI 2.x, `InfractionReport` and `Refund`):
//!
//! - **infraction report**, by either participant of the payment: `OPEN` → `ACKNOWLEDGED`
//!   (acknowledge, the other participant) → `CLOSED` with `AnalysisResult` `AGREED` or
//!   `DISAGREED` (close, the other participant); `CANCELLED` (cancel, the reporter) while open.
//! - **refund**, by the debited participant (the payer's), `RefundReason` `FRAUD` or
//!   `OPERATIONAL_FLAW`: `OPEN` → `CLOSED` with `RefundAnalysisResult` `TOTALLY_ACCEPTED`,
//!   `PARTIALLY_ACCEPTED` or `REJECTED` (close, the credited participant); `CANCELLED` (cancel,
//!   the requester) while open.
//!
//! Only the two participants of a case read it; `GET /{resource}/` lists a participant's cases
//! (optionally `?Status=…`), which is how the other side learns of a new one.

use http::StatusCode;
use pix_xmldsig::xml::Document;

use super::{Refusal, field, forbidden, invalid};
use crate::State;
use crate::find::{content, first};
use crate::wire::{self, escape, utc_now};

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

    /// The field saying why, and the values it may take.
    fn reason(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Kind::InfractionReport => ("InfractionType", &["FRAUD", "REFUND_REQUEST", "REFUND_CANCELLED"]),
            Kind::Refund => ("RefundReason", &["FRAUD", "OPERATIONAL_FLAW"]),
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
        },
        (Kind::InfractionReport, "close") => Step {
            by: Side::Counterparty,
            from: UNDECIDED,
            to: "CLOSED",
            result: Some(("AnalysisResult", &["AGREED", "DISAGREED"])),
            details: "AnalysisDetails",
        },
        (Kind::InfractionReport, "cancel") => Step {
            by: Side::Reporter,
            from: UNDECIDED,
            to: "CANCELLED",
            result: None,
            details: "",
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
        },
        (Kind::Refund, "cancel") => Step {
            by: Side::Reporter,
            from: OPEN,
            to: "CANCELLED",
            result: None,
            details: "",
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
    reporter: String,
    counterparty: String,
    debited: String,
    credited: String,
    status: &'static str,
    /// The closing analysis as its fields, once closed.
    analysis: String,
    created: String,
    modified: String,
}

impl Case {
    fn involves(&self, participant: &str) -> bool {
        self.reporter == participant || self.counterparty == participant
    }

    fn xml(&self, id: &str) -> String {
        let parties = match self.kind {
            Kind::InfractionReport => {
                let by = if self.reporter == self.debited {
                    "DEBITED_PARTICIPANT"
                } else {
                    "CREDITED_PARTICIPANT"
                };
                format!("<ReportedBy>{by}</ReportedBy>")
            }
            Kind::Refund => format!(
                "<RequestingParticipant>{}</RequestingParticipant><ContestedParticipant>{}</ContestedParticipant>",
                escape(&self.reporter),
                escape(&self.counterparty)
            ),
        };
        format!(
            "<{e}>{fields}<Id>{id}</Id><Status>{status}</Status>{parties}\
             <DebitedParticipant>{debited}</DebitedParticipant><CreditedParticipant>{credited}</CreditedParticipant>\
             {analysis}<CreationTime>{created}</CreationTime><LastModified>{modified}</LastModified></{e}>",
            e = self.kind.element(),
            fields = self.fields,
            status = self.status,
            debited = escape(&self.debited),
            credited = escape(&self.credited),
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
    let e = first(doc, None, kind.element()).ok_or_else(|| invalid(format!("no {}", kind.element())))?;
    let transaction =
        field(doc, Some(e), "TransactionId").ok_or_else(|| invalid("the case needs a TransactionId"))?;
    let (reason_field, reasons) = kind.reason();
    let reason = field(doc, Some(e), reason_field).unwrap_or_default();
    if !reasons.contains(&reason.as_str()) {
        return Err(invalid(format!(
            "{reason_field} '{reason}' is not one of {}",
            reasons.join(", ")
        )));
    }
    let (debited, credited) = state.clearing.settled(&transaction).ok_or_else(|| {
        (
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no settled payment {transaction}"),
        )
    })?;
    let counterparty = match kind {
        Kind::InfractionReport if actor == debited => credited.clone(),
        Kind::InfractionReport if actor == credited => debited.clone(),
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
    let case = Case {
        kind,
        seq: d.cases.len(),
        fields: content(doc, e),
        reporter: actor.to_string(),
        counterparty,
        debited,
        credited,
        status: "OPEN",
        analysis: String::new(),
        created: now.clone(),
        modified: now,
    };
    let id = wire::new_id();
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
    let result = match step.result {
        Some((name, values)) => {
            let value = field(doc, None, name).unwrap_or_default();
            if !values.contains(&value.as_str()) {
                return Err(invalid(format!(
                    "{name} '{value}' is not one of {}",
                    values.join(", ")
                )));
            }
            let details = field(doc, None, step.details)
                .map(|d| format!("<{0}>{1}</{0}>", step.details, escape(&d)))
                .unwrap_or_default();
            format!("<{name}>{value}</{name}>{details}")
        }
        None => String::new(),
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
    if !step.from.contains(&case.status) {
        return Err((
            StatusCode::BAD_REQUEST,
            "InvalidStatus",
            format!("cannot {action} a {} that is {}", kind.element(), case.status),
        ));
    }
    case.status = step.to;
    case.analysis = result;
    case.modified = utc_now();
    Ok((StatusCode::OK, kind.root(action), case.xml(id)))
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

/// `GET /{resource}/[?Status=S]`: the requester's cases, in the order they were opened.
pub(super) fn list(state: &State, kind: Kind, requester: &str, query: Option<&str>) -> Answer {
    let status = query
        .unwrap_or("")
        .split('&')
        .find_map(|p| p.strip_prefix("Status="))
        .map(str::to_string);
    let d = state.dict.lock();
    let mut mine: Vec<(&String, &Case)> = d
        .cases
        .iter()
        .filter(|(_, c)| c.kind == kind && c.involves(requester))
        .filter(|(_, c)| status.as_deref().is_none_or(|s| c.status == s))
        .collect();
    mine.sort_by_key(|(_, c)| c.seq);
    let items: String = mine.iter().map(|(id, c)| c.xml(id)).collect();
    let plural = format!("{}s", kind.element());
    Ok((
        StatusCode::OK,
        kind.root("list"),
        format!("<{plural}>{items}</{plural}>"),
    ))
}
