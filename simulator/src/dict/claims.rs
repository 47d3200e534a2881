//! DICT's claims: portability and ownership. The donor (the key's participant) acknowledges and
//! confirms; the claimer completes, and the key moves to the claimer's account; either cancels
//! while the claim is not final.

use http::StatusCode;
use pix_xmldsig::xml::Document;

use super::{Refusal, entries, field, forbidden, invalid, no_entry};
use crate::State;
use crate::find::{content, first, source};
use crate::wire::{self, escape, utc_now};

/// A claim on a key.
pub(super) struct Claim {
    status: &'static str,
    /// The request's claim fields (`Type`, `Key`, `KeyType`, `ClaimerAccount`, `Claimer`).
    fields: String,
    key: String,
    donor: String,
    claimer: String,
    /// The content of `ClaimerAccount`: the key's account once the claim completes.
    claimer_account: String,
    created: String,
}

impl Claim {
    fn xml(&self, id: &str) -> String {
        format!(
            "<Claim>{}<DonorParticipant>{}</DonorParticipant><Id>{id}</Id><Status>{}</Status>\
             <ResolutionPeriodEnd>{}</ResolutionPeriodEnd><CompletionPeriodEnd>{}</CompletionPeriodEnd>\
             <LastModified>{}</LastModified></Claim>",
            self.fields,
            escape(&self.donor),
            self.status,
            self.created,
            self.created,
            utc_now()
        )
    }
}

type Answer = Result<(StatusCode, &'static str, String), Refusal>;

/// `POST /claims/`: a claim by the participant of `ClaimerAccount` on a registered key.
pub(super) fn create(state: &State, doc: &Document<'_>, actor: &str) -> Answer {
    let claim = first(doc, None, "Claim").ok_or_else(|| invalid("no Claim"))?;
    let key = field(doc, Some(claim), "Key").ok_or_else(|| invalid("Claim needs a Key"))?;
    let account =
        first(doc, None, "ClaimerAccount").ok_or_else(|| invalid("Claim needs a ClaimerAccount"))?;
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
        .ok_or_else(|| no_entry(&key))?;
    let c = Claim {
        status: "OPEN",
        fields,
        key,
        donor,
        claimer,
        claimer_account: content(doc, account),
        created: utc_now(),
    };
    let id = wire::new_id();
    let xml = c.xml(&id);
    d.claims.insert(id, c);
    Ok((StatusCode::CREATED, "CreateClaimResponse", xml))
}

/// Who may take a step of a claim.
#[derive(Clone, Copy)]
enum Who {
    Donor,
    Claimer,
    Either,
}

/// The claim life cycle: OPEN → WAITING_RESOLUTION (acknowledge, donor) → CONFIRMED (confirm,
/// donor) → COMPLETED (complete, claimer); cancel by either from any state that is not final.
pub(super) fn act(state: &State, id: &str, action: &str, actor: &str) -> Answer {
    let (root, who, from, to): (&str, Who, &[&str], &str) = match action {
        "acknowledge" => (
            "AcknowledgeClaimResponse",
            Who::Donor,
            &["OPEN"],
            "WAITING_RESOLUTION",
        ),
        "confirm" => (
            "ConfirmClaimResponse",
            Who::Donor,
            &["WAITING_RESOLUTION"],
            "CONFIRMED",
        ),
        "complete" => ("CompleteClaimResponse", Who::Claimer, &["CONFIRMED"], "COMPLETED"),
        "cancel" => (
            "CancelClaimResponse",
            Who::Either,
            &["OPEN", "WAITING_RESOLUTION", "CONFIRMED"],
            "CANCELLED",
        ),
        _ => {
            return Err((
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("no claim action {action}"),
            ));
        }
    };
    let mut guard = state.dict.lock();
    let d = &mut *guard;
    let c = d
        .claims
        .get_mut(id)
        .ok_or_else(|| (StatusCode::NOT_FOUND, "NotFound", format!("no claim {id}")))?;
    let allowed = match who {
        Who::Donor => c.donor == actor,
        Who::Claimer => c.claimer == actor,
        Who::Either => c.donor == actor || c.claimer == actor,
    };
    if !allowed {
        return Err(forbidden(format!(
            "{actor} may not {action} claim {id} (donor {}, claimer {})",
            c.donor, c.claimer
        )));
    }
    let Some(to) = from.contains(&c.status).then_some(to) else {
        return Err((
            StatusCode::BAD_REQUEST,
            "InvalidClaimStatus",
            format!("cannot {action} a claim that is {}", c.status),
        ));
    };
    c.status = to;
    if to == "COMPLETED" {
        entries::move_key(&mut d.entries, &c.key, &c.claimer, &c.claimer_account);
    }
    Ok((StatusCode::OK, root, c.xml(id)))
}
