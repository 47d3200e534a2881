//! MED 2.0's funds recoveries (DICT's OpenAPI 2.12.1, `/funds-recoveries/`), in the automated
//! flow, as far as a participant carries one through:
//!
//! - `createFundsRecovery` (`POST /funds-recoveries/`), by the payer's participant of the root
//!   transaction (a settled payment; one recovery per root transaction, even a cancelled one),
//!   with a `SituationType` (`ReportDetails` for `OTHER`) and `ContactInformation` (`Email`,
//!   `Phone`). DICT tracks the funds: the simulator knows no onward transfer, so the tracking
//!   graph is the root transaction, and one infraction report (`REFUND_REQUEST`, the recovery's
//!   `FundsRecoveryId`) goes to the payee's participant. Status `AWAITING_ANALYSIS`.
//! - The counterparty acknowledges and closes that report through `/infraction-reports/`; once
//!   every report is closed the recovery is `ANALYSED`.
//! - `refundFundsRecovery` (the reporter, from `ANALYSED`) asks a refund of each agreed report's
//!   counterparty (`RefundReason` `FRAUD`, the payment's amount, the report's and the recovery's
//!   ids): `REFUNDING`, and `COMPLETED` once every refund is closed.
//! - `cancelFundsRecovery` (the reporter, while not completed or cancelled) cancels its reports
//!   and its refunds not closed.
//! - `getFundsRecovery`, `getTrackingGraph`, `listFundsRecoveryInfractionReports`,
//!   `listFundsRecoveryRefunds`: by the reporter or a counterparty of its reports.
//!
//! Not served: `updateFundsRecovery`, and `block` and `createTrackingGraph`, which belong to the
//! interactive flow (`FundsRecoveryOperationInvalid` for an automated recovery).

use http::StatusCode;
use pix_xmldsig::xml::Document;

use super::cases::{self, Kind};
use super::{Refusal, error, field, forbidden, uuid};
use crate::State;
use crate::find::{content, first};
use crate::wire::{escape, utc_now};

/// A funds recovery.
pub(super) struct Recovery {
    /// The request's `FundsRecovery` content as written.
    fields: String,
    root: String,
    reporter: String,
    refunding: bool,
    cancelled: bool,
    created: String,
    modified: String,
}

type Answer = Result<(StatusCode, &'static str, String), Refusal>;

/// The tracking graph's parameters DICT uses by default (the OpenAPI's defaults).
const PARAMETERS: &str = "<Parameters><MinTransactionAmount>200.00</MinTransactionAmount><MaxTransactions>5</MaxTransactions>\
     <HopWindow>PT2H</HopWindow><MaxHops>2</MaxHops></Parameters>";

impl Recovery {
    /// The status, from the recovery's own steps and its cases' (DICT's `FundsRecoveryStatus`).
    fn status(&self, d: &super::Inner, id: &str) -> &'static str {
        if self.cancelled {
            return "CANCELLED";
        }
        if self.refunding {
            let refunds = cases::of_recovery(d, id, Kind::Refund);
            return if refunds.iter().all(|c| matches!(c.status, "CLOSED" | "CANCELLED")) {
                "COMPLETED"
            } else {
                "REFUNDING"
            };
        }
        let reports = cases::of_recovery(d, id, Kind::InfractionReport);
        if !reports.is_empty() && reports.iter().all(|c| c.status == "CLOSED") {
            "ANALYSED"
        } else {
            "AWAITING_ANALYSIS"
        }
    }

    fn xml(&self, d: &super::Inner, id: &str) -> String {
        format!(
            "<FundsRecovery>{}<Id>{id}</Id><Status>{}</Status><ReporterParticipant>{}</ReporterParticipant>\
             <CreationTime>{}</CreationTime><LastModified>{}</LastModified></FundsRecovery>",
            self.fields,
            self.status(d, id),
            escape(&self.reporter),
            self.created,
            self.modified
        )
    }

    fn graph(&self, id: &str) -> String {
        format!(
            "<TrackingGraph><FundsRecoveryId>{id}</FundsRecoveryId><RootTransactionId>{}</RootTransactionId>\
             <CreationTime>{}</CreationTime>{PARAMETERS}</TrackingGraph>",
            escape(&self.root),
            self.created
        )
    }

    /// Whether `participant` may read it: its reporter or a counterparty of its reports.
    fn readable_by(&self, d: &super::Inner, id: &str, participant: &str) -> bool {
        participant.is_empty()
            || self.reporter == participant
            || cases::of_recovery(d, id, Kind::InfractionReport)
                .iter()
                .any(|c| c.counterparty == participant)
    }
}

fn invalid(why: impl Into<String>) -> Refusal {
    error("FundsRecoveryInvalid", why)
}

/// `POST /funds-recoveries/`.
pub(super) fn create(state: &State, doc: &Document<'_>, actor: &str) -> Answer {
    let e = first(doc, None, "FundsRecovery").ok_or_else(|| invalid("no FundsRecovery"))?;
    let root = field(doc, Some(e), "RootTransactionId")
        .ok_or_else(|| invalid("FundsRecovery needs a RootTransactionId"))?;
    let situation = field(doc, Some(e), "SituationType").unwrap_or_default();
    if ![
        "SCAM",
        "ACCOUNT_TAKEOVER",
        "COERCION",
        "FRAUDULENT_ACCESS",
        "OTHER",
    ]
    .contains(&situation.as_str())
    {
        return Err(invalid(format!("SituationType '{situation}' is not valid")));
    }
    if situation == "OTHER" && field(doc, Some(e), "ReportDetails").is_none_or(|d| d.is_empty()) {
        return Err(invalid("ReportDetails is required for SituationType OTHER"));
    }
    let contact = first(doc, Some(e), "ContactInformation");
    let has = |name: &str| {
        contact
            .and_then(|c| field(doc, Some(c), name))
            .is_some_and(|v| !v.is_empty())
    };
    if !(has("Email") && has("Phone")) {
        return Err(invalid("ContactInformation needs Email and Phone"));
    }
    let (payer, payee) = state.clearing.settled(&root).ok_or_else(|| {
        error(
            "FundsRecoveryTransactionNotIndexed",
            format!("no settled payment {root}"),
        )
    })?;
    if payer != actor {
        return Err(forbidden(format!(
            "{actor} is not the payer's participant of {root} ({payer}): the payer's opens the recovery"
        )));
    }
    let mut d = state.dict.lock();
    if d.recoveries.values().any(|r| r.root == root) {
        return Err(error(
            "FundsRecoveryForTransactionAlreadyExists",
            format!("a funds recovery on {root} exists"),
        ));
    }
    let now = utc_now();
    let recovery = Recovery {
        fields: content(doc, e),
        root: root.clone(),
        reporter: actor.to_string(),
        refunding: false,
        cancelled: false,
        created: now.clone(),
        modified: now,
    };
    let id = uuid();
    // The tracking graph is the root transaction: one report, to the payee's participant.
    let details = field(doc, Some(e), "ReportDetails")
        .map(|r| format!("<ReportDetails>{}</ReportDetails>", escape(&r)))
        .unwrap_or_default();
    let report = format!(
        "<TransactionId>{}</TransactionId><Reason>REFUND_REQUEST</Reason><SituationType>{situation}</SituationType>{details}",
        escape(&root)
    );
    cases::open_for_recovery(
        &mut d,
        Kind::InfractionReport,
        (&root, actor, &payee),
        report,
        (&id, None),
    );
    let xml = recovery.xml(&d, &id) + &recovery.graph(&id);
    d.recoveries.insert(id, recovery);
    Ok((StatusCode::CREATED, "CreateFundsRecoveryResponse", xml))
}

/// `GET /funds-recoveries/{id}[/tracking-graph|/infraction-reports|/refunds]`.
pub(super) fn read(state: &State, id: &str, what: Option<&str>, requester: &str) -> Answer {
    let d = state.dict.lock();
    let r = d
        .recoveries
        .get(id)
        .ok_or_else(|| error("NotFound", format!("no funds recovery {id}")))?;
    if !r.readable_by(&d, id, requester) {
        return Err(forbidden(format!(
            "{requester} is not a party to funds recovery {id}"
        )));
    }
    let list = |kind: Kind, plural: &str| {
        let items: String = cases::of_recovery(&d, id, kind)
            .into_iter()
            .map(|c| c.xml)
            .collect();
        format!("<{plural}>{items}</{plural}>")
    };
    Ok(match what {
        None => (StatusCode::OK, "GetFundsRecoveryResponse", r.xml(&d, id)),
        Some("tracking-graph") => (StatusCode::OK, "GetTrackingGraphResponse", r.graph(id)),
        Some("infraction-reports") => (
            StatusCode::OK,
            "ListFundsRecoveryInfractionReportsResponse",
            list(Kind::InfractionReport, "InfractionReports"),
        ),
        Some("refunds") => (
            StatusCode::OK,
            "ListFundsRecoveryRefundsResponse",
            list(Kind::Refund, "Refunds"),
        ),
        Some(other) => return Err(error("NotFound", format!("no funds recovery resource {other}"))),
    })
}

/// `POST /funds-recoveries/{id}/{refund|cancel|block|tracking-graph}`, by the reporter.
pub(super) fn act(state: &State, id: &str, action: &str, actor: &str) -> Answer {
    let mut guard = state.dict.lock();
    let d = &mut *guard;
    let (status, reporter, root) = {
        let r = d
            .recoveries
            .get(id)
            .ok_or_else(|| error("NotFound", format!("no funds recovery {id}")))?;
        (r.status(d, id), r.reporter.clone(), r.root.clone())
    };
    if reporter != actor {
        return Err(forbidden(format!(
            "only the recovery's reporter ({reporter}) may {action} it"
        )));
    }
    let operation_invalid = |why: String| Err(error("FundsRecoveryOperationInvalid", why));
    let root_response = match action {
        "refund" => {
            if status != "ANALYSED" {
                return operation_invalid(format!("a refund is asked of an ANALYSED recovery, not {status}"));
            }
            let amount = state.clearing.settled_amount(&root).unwrap_or_default();
            let agreed: Vec<(String, String)> = cases::of_recovery(d, id, Kind::InfractionReport)
                .into_iter()
                .filter(|c| c.agreed)
                .map(|c| (c.id, c.counterparty))
                .collect();
            for (report, counterparty) in agreed {
                let fields = format!(
                    "<TransactionId>{}</TransactionId><RefundReason>FRAUD</RefundReason><RefundAmount>{}</RefundAmount>\
                     <RefundDetails>recuperação de valores</RefundDetails>",
                    escape(&root),
                    escape(&amount)
                );
                cases::open_for_recovery(
                    d,
                    Kind::Refund,
                    (&root, actor, &counterparty),
                    fields,
                    (id, Some(report)),
                );
            }
            if let Some(r) = d.recoveries.get_mut(id) {
                r.refunding = true;
            }
            "RefundFundsRecoveryResponse"
        }
        "cancel" => {
            if matches!(status, "COMPLETED" | "CANCELLED") {
                return operation_invalid(format!("a {status} recovery cannot be cancelled"));
            }
            cases::cancel_recovery_cases(d, id);
            if let Some(r) = d.recoveries.get_mut(id) {
                r.cancelled = true;
            }
            "CancelFundsRecoveryResponse"
        }
        "block" | "tracking-graph" => {
            return operation_invalid(format!(
                "{action} belongs to the interactive flow; this recovery is automated"
            ));
        }
        _ => return Err(error("NotFound", format!("no funds recovery action {action}"))),
    };
    let now = utc_now();
    let r = d
        .recoveries
        .get_mut(id)
        .ok_or_else(|| error("NotFound", format!("no funds recovery {id}")))?;
    r.modified = now;
    let r = d
        .recoveries
        .get(id)
        .ok_or_else(|| error("NotFound", id.to_string()))?;
    Ok((StatusCode::OK, root_response, r.xml(d, id)))
}
