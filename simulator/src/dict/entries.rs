//! DICT's entries (keys): create, get, update, delete, and `keys/check`.

use bytes::Bytes;
use http::{Request, StatusCode};
use pix_xmldsig::xml::Document;

use super::{Refusal, bad_request, field, forbidden, invalid, no_entry};
use crate::State;
use crate::find::{all, content, first};
use crate::wire::{escape, utc_now};

/// Keys one `keys/check` may ask about (the simulator's own bound: it keeps requests small).
const MAX_CHECKED_KEYS: usize = 200;

/// A key and its account.
pub(super) struct Entry {
    /// The participant holding the key.
    pub(super) participant: String,
    /// The `<Entry>` element's content as the owner last sent it.
    pub(super) fields: String,
    /// When it was created (kept across updates and claims).
    created: String,
    /// Since when its participant holds it (a completed claim moves it).
    owned_since: String,
}

impl Entry {
    /// The `<Entry>` DICT answers with: the owner's fields and the dates.
    fn xml(&self) -> String {
        format!(
            "<Entry>{}<CreationDate>{}</CreationDate><KeyOwnershipDate>{}</KeyOwnershipDate></Entry>",
            self.fields, self.created, self.owned_since
        )
    }
}

/// The `Key` and `Participant` of an `<Entry>`, and its content as written.
fn entry_fields(doc: &Document<'_>) -> Result<(String, String, String), Refusal> {
    let entry = first(doc, None, "Entry").ok_or_else(|| invalid("no Entry"))?;
    let key = field(doc, Some(entry), "Key").ok_or_else(|| invalid("Entry needs a Key"))?;
    let participant =
        field(doc, Some(entry), "Participant").ok_or_else(|| invalid("Entry needs Account/Participant"))?;
    Ok((key, participant, content(doc, entry)))
}

type Answer = Result<(StatusCode, &'static str, String), Refusal>;

/// `POST /entries/`: a new key for the participant its account names.
pub(super) fn create(state: &State, doc: &Document<'_>) -> Answer {
    let (key, participant, fields) = entry_fields(doc)?;
    let mut d = state.dict.lock();
    if d.entries.contains_key(&key) {
        return Err((
            StatusCode::BAD_REQUEST,
            "EntryAlreadyExists",
            format!("key {key} is already registered"),
        ));
    }
    let now = utc_now();
    let entry = Entry {
        participant,
        fields,
        created: now.clone(),
        owned_since: now,
    };
    let xml = entry.xml();
    d.entries.insert(key, entry);
    Ok((StatusCode::CREATED, "CreateEntryResponse", xml))
}

/// `PUT /entries/{Key}`: new account or owner data for a key, by the participant that holds it;
/// the key and its participant do not change here (that is a claim).
pub(super) fn update(state: &State, key: &str, doc: &Document<'_>, actor: &str) -> Answer {
    let (body_key, participant, fields) = entry_fields(doc)?;
    if body_key != key {
        return Err(invalid(format!(
            "the path's key is {key}, the Entry's {body_key}"
        )));
    }
    let mut d = state.dict.lock();
    let e = d.entries.get_mut(key).ok_or_else(|| no_entry(key))?;
    if e.participant != participant || e.participant != actor {
        return Err(forbidden(format!(
            "key {key} is held by {}, not {actor}",
            e.participant
        )));
    }
    e.fields = fields;
    Ok((StatusCode::OK, "UpdateEntryResponse", e.xml()))
}

/// `GET /entries/{Key}`, which must say who asks (`PI-RequestingParticipant`).
pub(super) fn get(state: &State, req: &Request<Bytes>, key: &str) -> Answer {
    // getEntry's required headers (DICT's OpenAPI 2.12.1): the requester (an ISPB, or a
    // payment initiator's CNPJ root), the payer (a CPF or CNPJ) and the payment's EndToEndId.
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let digits = |v: &str, lens: &[usize]| lens.contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit());
    let requester = header("pi-requestingparticipant");
    if !(requester.len() == 8 && requester.bytes().all(|b| b.is_ascii_alphanumeric())) {
        return Err(bad_request(format!(
            "PI-RequestingParticipant '{requester}': 8 letters or digits, required"
        )));
    }
    let payer = header("pi-payerid");
    if !digits(payer, &[11, 14]) {
        return Err(bad_request(format!(
            "PI-PayerId '{payer}': a CPF (11 digits) or CNPJ (14), required"
        )));
    }
    if header("pi-endtoendid").is_empty() {
        return Err(bad_request(
            "PI-EndToEndId (the payment's EndToEndId) is required",
        ));
    }
    let d = state.dict.lock();
    let entry = d.entries.get(key).ok_or_else(|| no_entry(key))?;
    Ok((StatusCode::OK, "GetEntryResponse", entry.xml()))
}

/// `POST /entries/{Key}/delete`, by the participant that holds the key.
pub(super) fn delete(state: &State, key: &str, actor: &str) -> Answer {
    let mut d = state.dict.lock();
    let holder = d
        .entries
        .get(key)
        .map(|e| e.participant.clone())
        .ok_or_else(|| no_entry(key))?;
    if holder != actor {
        return Err(forbidden(format!("key {key} is held by {holder}, not {actor}")));
    }
    d.entries.remove(key);
    Ok((
        StatusCode::OK,
        "DeleteEntryResponse",
        format!("<Key>{}</Key>", escape(key)),
    ))
}

/// `POST /keys/check`: for each key asked about, whether the directory holds it
/// (`<Key hasEntry="true|false">`).
pub(super) fn check_keys(state: &State, doc: &Document<'_>) -> Answer {
    let keys: Vec<String> = all(doc, "Key").map(|e| doc.text(e).trim().to_string()).collect();
    if keys.is_empty() || keys.len() > MAX_CHECKED_KEYS {
        return Err(invalid(format!(
            "keys/check takes 1 to {MAX_CHECKED_KEYS} keys, not {}",
            keys.len()
        )));
    }
    let d = state.dict.lock();
    let answers: String = keys
        .iter()
        .map(|k| {
            format!(
                "<Key hasEntry=\"{}\">{}</Key>",
                d.entries.contains_key(k),
                escape(k)
            )
        })
        .collect();
    Ok((
        StatusCode::OK,
        "CheckKeysResponse",
        format!("<Keys>{answers}</Keys>"),
    ))
}

/// Moves `key` to `participant` with the account `account` (a completed claim): the entry's
/// `EntryCreationDate` and new `KeyOwnershipDate`, as completeClaim answers them.
pub(super) fn move_key(
    entries: &mut std::collections::HashMap<String, Entry>,
    key: &str,
    participant: &str,
    account: &str,
) -> String {
    let Some(e) = entries.get_mut(key) else {
        return String::new();
    };
    e.participant = participant.to_string();
    e.owned_since = utc_now();
    {
        if let (Some(start), Some(end)) = (e.fields.find("<Account>"), e.fields.find("</Account>")) {
            let end = end + "</Account>".len();
            e.fields
                .replace_range(start..end, &format!("<Account>{account}</Account>"));
        }
    }
    format!(
        "<EntryCreationDate>{}</EntryCreationDate><KeyOwnershipDate>{}</KeyOwnershipDate>",
        e.created, e.owned_since
    )
}
