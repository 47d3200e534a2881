//! DICT's claims (portability and ownership) as DICT's OpenAPI 2.12.1 defines them:
//!
//! - `createClaim` (`POST /claims/`, the claimer): only the key types each kind admits (ownership:
//!   PHONE; portability: CPF, CNPJ, PHONE, EMAIL; never EVP), else `400 ClaimInvalid`; the claim's
//!   id is a UUID, its resolution and completion periods end 7 days later (the OpenAPI's example);
//! - `acknowledgeClaim` (the donor): `OPEN` → `WAITING_RESOLUTION`;
//! - `confirmClaim` (the donor, `Reason` required): from `WAITING_RESOLUTION`; ownership with
//!   `USER_REQUESTED` (which brings the completion period's end forward to now) or
//!   `DEFAULT_OPERATION` (once the resolution period ended); portability with `USER_REQUESTED`
//!   or `ACCOUNT_CLOSURE`;
//! - `completeClaim` (the claimer, `RequestId` required): from `CONFIRMED`, an ownership claim once
//!   its completion period ended; the key moves to the claimer's account;
//! - `cancelClaim` (`Reason` required): by the table of who may cancel for which reason
//!   ([`may_cancel`]); `DEFAULT_OPERATION` only once the resolution period ended;
//! - `listClaims` (`GET /claims/?Participant=…`, the participant's own, filtered by role, status,
//!   type and modification time, ascending by `LastModified`, at most `Limit`, with
//!   `HasMoreElements`) and `getClaim` (`GET /claims/{ClaimId}`), by the claim's parties.
//!
//! Errors are the OpenAPI's: a participant acting where the rules let only the other one act is
//! `403 Forbidden`; a step the claim's status does not allow `400 ClaimOperationInvalid`; a reason
//! the table does not admit `400 InvalidReason`; a period not ended `400
//! Claim{Resolution,Completion}PeriodNotEnded`; an unregistered key `404 ClaimKeyNotFound`; a
//! second open claim on a key `400 ClaimAlreadyExistsForKey`; an unknown claim `404 NotFound`; a
//! missing field `400 BadRequest`. Repeating a confirmation, cancellation or completion with the
//! same parameters answers as the first did (the OpenAPI's idempotence).

use http::StatusCode;
use pix_xmldsig::xml::Document;

use super::{Refusal, bad_request, entries, error, field, forbidden, query_params, uuid};
use crate::State;
use crate::find::{content, first, source};
use crate::wire::{escape, timestamp, unix_millis};

/// The resolution and completion periods (the OpenAPI's example: 7 days after creation).
const PERIOD_MS: i64 = 7 * 24 * 3600 * 1000;

/// A claim on a key.
pub(super) struct Claim {
    status: &'static str,
    /// `OWNERSHIP` or `PORTABILITY`.
    kind: String,
    /// The request's claim fields (`Type`, `Key`, `KeyType`, `ClaimerAccount`, `Claimer`).
    fields: String,
    key: String,
    donor: String,
    claimer: String,
    /// The content of `ClaimerAccount`: the key's account once the claim completes.
    claimer_account: String,
    resolution_end: i64,
    completion_end: i64,
    last_modified: i64,
    confirm_reason: Option<String>,
    cancel_reason: Option<String>,
    cancelled_by: Option<&'static str>,
    complete_request: Option<String>,
    /// completeClaim's `EntryCreationDate` and `KeyOwnershipDate`, once completed.
    ownership: String,
}

impl Claim {
    fn xml(&self, id: &str) -> String {
        let optional = |name: &str, v: &Option<String>| {
            v.as_ref()
                .map(|v| format!("<{name}>{}</{name}>", escape(v)))
                .unwrap_or_default()
        };
        format!(
            "<Claim>{}<DonorParticipant>{}</DonorParticipant><Id>{id}</Id><Status>{}</Status>\
             <ResolutionPeriodEnd>{}</ResolutionPeriodEnd><CompletionPeriodEnd>{}</CompletionPeriodEnd>\
             <LastModified>{}</LastModified>{}{}{}</Claim>",
            self.fields,
            escape(&self.donor),
            self.status,
            timestamp(self.resolution_end),
            timestamp(self.completion_end),
            timestamp(self.last_modified),
            optional("ConfirmReason", &self.confirm_reason),
            optional("CancelReason", &self.cancel_reason),
            optional("CancelledBy", &self.cancelled_by.map(str::to_string)),
        )
    }

    fn role(&self, participant: &str) -> Option<&'static str> {
        if self.donor == participant {
            Some("DONOR")
        } else if self.claimer == participant {
            Some("CLAIMER")
        } else {
            None
        }
    }
}

type Answer = Result<(StatusCode, &'static str, String), Refusal>;

/// `Claim{Resolution,Completion}PeriodNotEnded`: the claim's `period` ends at `end`.
fn period_not_ended(period: &str, id: &str, end: i64) -> Refusal {
    let kind = if period == "resolution" {
        "ClaimResolutionPeriodNotEnded"
    } else {
        "ClaimCompletionPeriodNotEnded"
    };
    error(
        kind,
        format!("the {period} period of claim {id} ends at {}", timestamp(end)),
    )
}

impl Claim {
    /// Whether this claim is on `key` and neither completed nor cancelled (it locks the key's
    /// entry).
    pub(super) fn is_open_on(&self, key: &str) -> bool {
        self.key == key && !matches!(self.status, "COMPLETED" | "CANCELLED")
    }
}

/// Whether a claim of `kind` may be made on a key of `key_type` (createClaim's table).
fn claimable(kind: &str, key_type: &str) -> bool {
    match kind {
        "OWNERSHIP" => key_type == "PHONE",
        "PORTABILITY" => matches!(key_type, "CPF" | "CNPJ" | "PHONE" | "EMAIL"),
        _ => false,
    }
}

/// `POST /claims/`: a claim by the participant of `ClaimerAccount` on a registered key.
pub(super) fn create(state: &State, doc: &Document<'_>, actor: &str) -> Answer {
    let claim_invalid = |why: String| error("ClaimInvalid", why);
    let claim = first(doc, None, "Claim").ok_or_else(|| claim_invalid("no Claim".into()))?;
    let key = field(doc, Some(claim), "Key").ok_or_else(|| claim_invalid("Claim needs a Key".into()))?;
    let kind = field(doc, Some(claim), "Type").unwrap_or_default();
    let key_type = field(doc, Some(claim), "KeyType").unwrap_or_default();
    if !claimable(&kind, &key_type) {
        return Err(claim_invalid(format!(
            "a {kind} claim cannot be made on a {key_type} key (ownership: PHONE; portability: CPF, CNPJ, PHONE, EMAIL)"
        )));
    }
    let account = first(doc, None, "ClaimerAccount")
        .ok_or_else(|| claim_invalid("Claim needs a ClaimerAccount".into()))?;
    let claimer = field(doc, Some(account), "Participant").unwrap_or_else(|| actor.to_string());
    if claimer != actor {
        return Err(forbidden(format!("{actor} cannot claim for {claimer}")));
    }
    let fields: String = doc.child_elements(claim).map(|c| source(doc, c)).collect();
    let mut d = state.dict.lock();
    let donor = d
        .entries
        .get(&key)
        .map(|e| e.participant.clone())
        .ok_or_else(|| error("ClaimKeyNotFound", format!("no entry for key {key}")))?;
    if d.claim_open_on(&key) {
        return Err(error(
            "ClaimAlreadyExistsForKey",
            format!("a claim on key {key} is neither completed nor cancelled"),
        ));
    }
    if donor == claimer {
        return Err(forbidden(format!("{claimer} already holds key {key}")));
    }
    let now = unix_millis();
    let c = Claim {
        status: "OPEN",
        kind,
        fields,
        key,
        donor,
        claimer,
        claimer_account: content(doc, account),
        resolution_end: now + PERIOD_MS,
        completion_end: now + PERIOD_MS,
        last_modified: now,
        confirm_reason: None,
        cancel_reason: None,
        cancelled_by: None,
        complete_request: None,
        ownership: String::new(),
    };
    let id = uuid();
    let xml = c.xml(&id);
    d.claims.insert(id, c);
    Ok((StatusCode::CREATED, "CreateClaimResponse", xml))
}

/// Whether `role` may cancel a claim of `kind` in `status` for `reason` (cancelClaim's tables).
/// `Err` carries DICT's error type: `ClaimOperationInvalid` for a status that does not allow it,
/// `Forbidden` for a participant the table does not let cancel for that reason.
fn may_cancel(kind: &str, status: &str, role: &str, reason: &str) -> Result<(), (&'static str, String)> {
    let claimer = role == "CLAIMER";
    if kind == "OWNERSHIP" {
        if !matches!(status, "OPEN" | "WAITING_RESOLUTION" | "CONFIRMED") {
            return Err((
                "ClaimOperationInvalid",
                format!("an ownership claim that is {status} cannot be cancelled"),
            ));
        }
        if reason == "PARTICIPANT_EXCLUSION" || (!claimer && reason != "FRAUD") {
            return Err((
                "Forbidden",
                format!(
                    "the {} cannot cancel an ownership claim for {reason} (the claimer cancels; the donor only for FRAUD)",
                    role.to_lowercase()
                ),
            ));
        }
        return Ok(());
    }
    let by_reason = match reason {
        "USER_REQUESTED" | "FRAUD" => true,
        "ACCOUNT_CLOSURE" | "RECONCILIATION" | "RFB_VALIDATION" => claimer,
        "DEFAULT_OPERATION" => !claimer,
        _ => false,
    };
    if !by_reason {
        return Err((
            "Forbidden",
            format!(
                "the {} cannot cancel a portability claim for {reason}",
                role.to_lowercase()
            ),
        ));
    }
    let confirmed_exception = claimer && matches!(reason, "FRAUD" | "RECONCILIATION" | "RFB_VALIDATION");
    match status {
        "OPEN" => Ok(()),
        "WAITING_RESOLUTION" if reason != "RECONCILIATION" => Ok(()),
        "CONFIRMED" if confirmed_exception => Ok(()),
        _ => Err((
            "ClaimOperationInvalid",
            format!("a portability claim that is {status} cannot be cancelled for {reason}"),
        )),
    }
}

/// A step of a claim by `actor`: acknowledge, confirm, complete or cancel, by the OpenAPI's rules
/// (module docs).
pub(super) fn act(state: &State, id: &str, action: &str, doc: &Document<'_>, actor: &str) -> Answer {
    let root = match action {
        "acknowledge" => "AcknowledgeClaimResponse",
        "confirm" => "ConfirmClaimResponse",
        "complete" => "CompleteClaimResponse",
        "cancel" => "CancelClaimResponse",
        _ => {
            return Err((
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("no claim action {action}"),
            ));
        }
    };
    let reason = field(doc, None, "Reason");
    let request_id = field(doc, None, "RequestId");
    match action {
        "confirm" | "cancel" if reason.is_none() => {
            return Err(bad_request(format!("{action} needs a Reason")));
        }
        "complete" if request_id.is_none() => return Err(bad_request("complete needs a RequestId")),
        _ => {}
    }
    let reason = reason.unwrap_or_default();
    let mut guard = state.dict.lock();
    let d = &mut *guard;
    let c = d
        .claims
        .get_mut(id)
        .ok_or_else(|| (StatusCode::NOT_FOUND, "NotFound", format!("no claim {id}")))?;
    let role = c.role(actor).ok_or_else(|| {
        forbidden(format!(
            "{actor} is neither the donor ({}) nor the claimer ({}) of claim {id}",
            c.donor, c.claimer
        ))
    })?;
    let now = unix_millis();
    let refuse = |why: String| Err(forbidden(why));
    // A step the claim's status does not allow, a reason the table does not, or a period not
    // ended: DICT's ClaimOperationInvalid, InvalidReason, Claim…PeriodNotEnded (400).
    let operation_invalid = |why: String| Err(error("ClaimOperationInvalid", why));
    match action {
        "acknowledge" => {
            if role != "DONOR" {
                return refuse(format!("only the donor acknowledges claim {id}"));
            }
            if c.status != "OPEN" {
                return operation_invalid(format!("cannot acknowledge a claim that is {}", c.status));
            }
            c.status = "WAITING_RESOLUTION";
        }
        "confirm" => {
            if c.status == "CONFIRMED" && c.confirm_reason.as_deref() == Some(reason.as_str()) {
                return Ok((StatusCode::OK, root, c.xml(id)));
            }
            if role != "DONOR" {
                return refuse(format!("only the donor confirms claim {id}"));
            }
            if c.status != "WAITING_RESOLUTION" {
                return operation_invalid(format!("cannot confirm a claim that is {}", c.status));
            }
            let allowed = matches!(
                (c.kind.as_str(), reason.as_str()),
                ("OWNERSHIP", "USER_REQUESTED" | "DEFAULT_OPERATION")
                    | ("PORTABILITY", "USER_REQUESTED" | "ACCOUNT_CLOSURE")
            );
            if !allowed {
                return Err(error(
                    "InvalidReason",
                    format!("a {} claim is not confirmed for {reason}", c.kind),
                ));
            }
            if reason == "DEFAULT_OPERATION" && now < c.resolution_end {
                return Err(period_not_ended("resolution", id, c.resolution_end));
            }
            if c.kind == "OWNERSHIP" && reason == "USER_REQUESTED" {
                // The OpenAPI: the completion period's end is brought forward so that the claimer
                // may complete at once.
                c.completion_end = now;
            }
            c.status = "CONFIRMED";
            c.confirm_reason = Some(reason);
        }
        "complete" => {
            if c.status == "COMPLETED" && c.complete_request == request_id {
                return Ok((StatusCode::OK, root, c.xml(id) + &c.ownership));
            }
            if role != "CLAIMER" {
                return refuse(format!("only the claimer completes claim {id}"));
            }
            if c.status != "CONFIRMED" {
                return operation_invalid(format!("cannot complete a claim that is {}", c.status));
            }
            if c.kind == "OWNERSHIP" && now < c.completion_end {
                return Err(period_not_ended("completion", id, c.completion_end));
            }
            c.status = "COMPLETED";
            c.complete_request = request_id;
            c.ownership = entries::move_key(
                (&mut d.entries, &mut d.cid_events),
                &c.key,
                &c.claimer,
                &c.claimer_account,
            );
        }
        _ => {
            if c.status == "CANCELLED" && c.cancel_reason.as_deref() == Some(reason.as_str()) {
                return Ok((StatusCode::OK, root, c.xml(id)));
            }
            if let Err((kind, why)) = may_cancel(&c.kind, c.status, role, &reason) {
                return Err(error(kind, why));
            }
            if reason == "DEFAULT_OPERATION" && now < c.resolution_end {
                return Err(period_not_ended("resolution", id, c.resolution_end));
            }
            c.status = "CANCELLED";
            c.cancel_reason = Some(reason);
            c.cancelled_by = Some(role);
        }
    }
    c.last_modified = now;
    let mut xml = c.xml(id);
    if action == "complete" {
        xml.push_str(&c.ownership);
    }
    Ok((StatusCode::OK, root, xml))
}

/// `GET /claims/{ClaimId}`: a claim, for its donor or claimer (or a caller the simulator cannot
/// name).
pub(super) fn get(state: &State, id: &str, requester: &str) -> Answer {
    let d = state.dict.lock();
    let c = d
        .claims
        .get(id)
        .ok_or_else(|| (StatusCode::NOT_FOUND, "NotFound", format!("no claim {id}")))?;
    if !requester.is_empty() && c.role(requester).is_none() {
        return Err(forbidden(format!("{requester} is not a party to claim {id}")));
    }
    Ok((StatusCode::OK, "GetClaimResponse", c.xml(id)))
}

/// `GET /claims/?Participant=…`: the participant's claims by the OpenAPI's filters, ascending by
/// `LastModified`, at most `Limit` (20 by default, 200 at most), `HasMoreElements` when more.
pub(super) fn list(state: &State, requester: &str, query: Option<&str>) -> Answer {
    let params = query_params(query);
    let one = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    let participant = one("Participant").ok_or_else(|| bad_request("listClaims needs Participant"))?;
    // A caller the simulator cannot name (no hosted participant's certificate) lists as the
    // participant it names, as in single-participant tests.
    if !requester.is_empty() && participant != requester {
        return Err(forbidden(format!(
            "{requester} cannot list the claims of {participant}"
        )));
    }
    let flag = |name: &str| one(name).map(|v| v == "true");
    let (donor, claimer) = match (flag("IsDonor"), flag("IsClaimer")) {
        // Equal values are disjunctive (the OpenAPI), and so is no filter.
        (Some(a), Some(b)) if a == b => (true, true),
        (Some(a), Some(_)) => (a, !a),
        (Some(a), None) => (a, !a),
        (None, Some(b)) => (!b, b),
        (None, None) => (true, true),
    };
    let statuses: Vec<&str> = params
        .iter()
        .filter(|(k, _)| *k == "Status")
        .flat_map(|(_, v)| v.split(','))
        .collect();
    let kind = one("Type");
    let after = one("ModifiedAfter").map(|v| v.replace("%3A", ":"));
    let before = one("ModifiedBefore").map(|v| v.replace("%3A", ":"));
    let limit = match one("Limit") {
        None => 20,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=200).contains(&n) => n,
            _ => return Err(bad_request(format!("Limit '{v}': 1 to 200"))),
        },
    };
    let d = state.dict.lock();
    let mut found: Vec<(&String, &Claim)> = d
        .claims
        .iter()
        .filter(|(_, c)| (donor && c.donor == participant) || (claimer && c.claimer == participant))
        .filter(|(_, c)| statuses.is_empty() || statuses.contains(&c.status))
        .filter(|(_, c)| kind.is_none_or(|k| c.kind == k))
        .filter(|(_, c)| {
            after
                .as_deref()
                .is_none_or(|a| timestamp(c.last_modified).as_str() > a)
        })
        .filter(|(_, c)| {
            before
                .as_deref()
                .is_none_or(|b| timestamp(c.last_modified).as_str() < b)
        })
        .collect();
    found.sort_by_key(|(id, c)| (c.last_modified, id.to_string()));
    let more = found.len() > limit;
    let items: String = found.iter().take(limit).map(|(id, c)| c.xml(id)).collect();
    Ok((
        StatusCode::OK,
        "ListClaimsResponse",
        format!("<HasMoreElements>{more}</HasMoreElements><Claims>{items}</Claims>"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_may_cancel_follows_the_openapis_tables() {
        // Ownership: the claimer; the donor only for FRAUD.
        assert!(may_cancel("OWNERSHIP", "OPEN", "CLAIMER", "USER_REQUESTED").is_ok());
        assert!(may_cancel("OWNERSHIP", "WAITING_RESOLUTION", "DONOR", "USER_REQUESTED").is_err());
        assert!(may_cancel("OWNERSHIP", "WAITING_RESOLUTION", "DONOR", "FRAUD").is_ok());
        // Portability: by reason; CONFIRMED only by the claimer for FRAUD, RECONCILIATION, RFB_VALIDATION.
        assert!(may_cancel("PORTABILITY", "WAITING_RESOLUTION", "DONOR", "USER_REQUESTED").is_ok());
        assert!(may_cancel("PORTABILITY", "OPEN", "DONOR", "ACCOUNT_CLOSURE").is_err());
        assert!(may_cancel("PORTABILITY", "OPEN", "CLAIMER", "DEFAULT_OPERATION").is_err());
        assert!(may_cancel("PORTABILITY", "WAITING_RESOLUTION", "CLAIMER", "RECONCILIATION").is_err());
        assert!(may_cancel("PORTABILITY", "CONFIRMED", "CLAIMER", "RFB_VALIDATION").is_ok());
        assert!(may_cancel("PORTABILITY", "CONFIRMED", "DONOR", "FRAUD").is_err());
        assert!(may_cancel("PORTABILITY", "OPEN", "CLAIMER", "PARTICIPANT_EXCLUSION").is_err());
    }

    #[test]
    fn only_the_key_types_each_kind_admits_are_claimable() {
        assert!(claimable("OWNERSHIP", "PHONE"));
        assert!(!claimable("OWNERSHIP", "EMAIL"));
        assert!(claimable("PORTABILITY", "CNPJ"));
        assert!(!claimable("PORTABILITY", "EVP"));
        assert!(!claimable("THEFT", "PHONE"));
    }
}
