//! DICT's CID events and CID set files (DICT's OpenAPI 2.12.1, reconciliation): every change of an
//! entry is an event on its participant's set of CIDs of its key type — createEntry adds,
//! deleteEntry removes, updateEntry removes and adds, a completed claim removes the donor's and
//! adds the claimer's —, listed by `GET /cids/events` with the VSync after the first and the last
//! event listed; `POST /cids/files/` makes a file of the participant's CIDs of a key type (one per
//! line), at once `AVAILABLE` here, `GET /cids/files/{Id}` describes it (its `Sha256` and
//! `Bytes`). The file itself is not served for download by the simulator.

use http::StatusCode;
use pix_xmldsig::xml::Document;

use super::entries;
use super::{Inner, Refusal, bad_request, error, field, forbidden, query_params};
use crate::State;
use crate::reconciliation::vsync;
use crate::wire::{escape, timestamp, unix_millis};

/// A CID set file.
pub(super) struct File {
    participant: String,
    key_type: String,
    requested: i64,
    content: String,
}

type Answer = Result<(StatusCode, &'static str, String), Refusal>;

fn key_type_of(doc_value: &str) -> Result<String, Refusal> {
    if matches!(doc_value, "CPF" | "CNPJ" | "PHONE" | "EMAIL" | "EVP") {
        Ok(doc_value.to_string())
    } else {
        Err(bad_request(format!(
            "KeyType '{doc_value}': CPF, CNPJ, PHONE, EMAIL or EVP"
        )))
    }
}

/// `GET /cids/events?Participant=…&KeyType=…`: the set's events in time order, at most `Limit`
/// (100 by default, 200 at most), between `StartTime` and `EndTime` when given.
pub(super) fn events(state: &State, requester: &str, query: Option<&str>) -> Answer {
    let params = query_params(query);
    let one = |name: &str| {
        params
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.replace("%3A", ":"))
    };
    let participant = one("Participant").ok_or_else(|| bad_request("listCidSetEvents needs Participant"))?;
    if !requester.is_empty() && participant != requester {
        return Err(forbidden(format!(
            "{requester} cannot list {participant}'s CID events"
        )));
    }
    let key_type = key_type_of(&one("KeyType").unwrap_or_default())?;
    let limit = match one("Limit") {
        None => 100,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=200).contains(&n) => n,
            _ => return Err(bad_request(format!("Limit '{v}': 1 to 200"))),
        },
    };
    let (start, end) = (one("StartTime"), one("EndTime"));
    let d = state.dict.lock();
    // The VSync after each event is the XOR of every CID added or removed so far.
    let mut running: Vec<String> = Vec::new();
    let mut listed = Vec::new();
    for ev in d
        .cid_events
        .iter()
        .filter(|e| e.participant == participant && e.key_type == key_type)
    {
        running.push(ev.cid.clone());
        let at = timestamp(ev.at);
        let inside = start.as_deref().is_none_or(|s| at.as_str() >= s)
            && end.as_deref().is_none_or(|e| at.as_str() <= e);
        if inside {
            listed.push((ev, at, vsync(running.iter().map(String::as_str))));
        }
    }
    let more = listed.len() > limit;
    listed.truncate(limit);
    let now = vsync(running.iter().map(String::as_str));
    let (first_at, first_vsync) = listed
        .first()
        .map_or((timestamp(unix_millis()), now.clone()), |(_, at, v)| {
            (at.clone(), v.clone())
        });
    let (last_at, last_vsync) = listed
        .last()
        .map_or((first_at.clone(), now.clone()), |(_, at, v)| {
            (at.clone(), v.clone())
        });
    let items: String = listed
        .iter()
        .map(|(ev, at, _)| {
            format!(
                "<CidSetEvent><Type>{}</Type><Cid>{}</Cid><Timestamp>{at}</Timestamp></CidSetEvent>",
                ev.kind, ev.cid
            )
        })
        .collect();
    Ok((
        StatusCode::OK,
        "ListCidSetEventsResponse",
        format!(
            "<HasMoreElements>{more}</HasMoreElements><Participant>{}</Participant><KeyType>{key_type}</KeyType>\
             <StartTime>{first_at}</StartTime><EndTime>{last_at}</EndTime><SyncVerifierStart>{first_vsync}</SyncVerifierStart>\
             <SyncVerifierEnd>{last_vsync}</SyncVerifierEnd><CidSetEvents>{items}</CidSetEvents>",
            escape(&participant)
        ),
    ))
}

fn file_xml(id: usize, f: &File) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, f.content.as_bytes());
    let sha: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "<CidSetFile><Id>{id}</Id><Status>AVAILABLE</Status><Participant>{}</Participant><KeyType>{}</KeyType>\
         <RequestTime>{requested}</RequestTime><CreationTime>{requested}</CreationTime>\
         <Url>https://dict.pi.rsfn.net.br/cids/files/{id}.txt</Url><Bytes>{}</Bytes><Sha256>{sha}</Sha256></CidSetFile>",
        escape(&f.participant),
        f.key_type,
        f.content.len(),
        requested = timestamp(f.requested),
    )
}

/// `POST /cids/files/`: a file of the participant's CIDs of a key type, one per line.
pub(super) fn create_file(state: &State, doc: &Document<'_>, actor: &str) -> Answer {
    let participant = field(doc, None, "Participant").unwrap_or_default();
    if participant != actor {
        return Err(forbidden(format!("{actor} cannot ask for {participant}'s CIDs")));
    }
    let key_type = key_type_of(&field(doc, None, "KeyType").unwrap_or_default())?;
    let mut d = state.dict.lock();
    let content: String = d
        .entries
        .values()
        .filter(|e| e.participant == participant)
        .filter_map(|e| match entries::cid_of(e) {
            (Some(cid), t) if t == key_type => Some(format!("{cid}\n")),
            _ => None,
        })
        .collect();
    let file = File {
        participant,
        key_type,
        requested: unix_millis(),
        content,
    };
    let xml = file_xml(d.cid_files.len() + 1, &file);
    d.cid_files.push(file);
    Ok((StatusCode::CREATED, "CreateCidSetFileResponse", xml))
}

/// `GET /cids/files/{Id}`, by the participant it is of.
pub(super) fn get_file(state: &State, id: &str, requester: &str) -> Answer {
    let d: &Inner = &state.dict.lock();
    let n: usize = id
        .parse()
        .map_err(|_| error("NotFound", format!("no CID file {id}")))?;
    let f = n
        .checked_sub(1)
        .and_then(|i| d.cid_files.get(i))
        .ok_or_else(|| error("NotFound", format!("no CID file {id}")))?;
    if !requester.is_empty() && f.participant != requester {
        return Err(forbidden(format!(
            "{requester} cannot read {}'s CID file",
            f.participant
        )));
    }
    Ok((StatusCode::OK, "GetCidSetFileResponse", file_xml(n, f)))
}
