//! The SPI's message catalog as the simulator plays it: which types ICOM takes and delivers, the
//! version of each (its envelope namespace `https://www.bcb.gov.br/pi/<type>/<version>` and its
//! `AppHdr/MsgDefIdr` `<type>.spi.<version>`, DESIGN §6), the reading of a participant's message
//! into what the checks and the clearing need, and the envelope of every message BACEN writes.
//!
//! Versions change with BACEN's catalog (Informe SPI): they are configuration. The defaults are
//! those of the project's samples (1.x) until the current catalog's versions are confirmed.

use std::collections::BTreeMap;

use pix_xmldsig::xml::{Document, NodeId};

use crate::find::{child, first, source, text};
use crate::wire::{self, escape, utc_now};

/// BACEN's ISPB: the `To` of what participants send, the `Fr` of what it sends.
pub const BCB_ISPB: &str = "00038166";

/// The namespace prefix of every SPI envelope.
const NAMESPACE_BASE: &str = "https://www.bcb.gov.br/pi/";

/// Message types and their versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    versions: BTreeMap<String, String>,
}

impl Default for Catalog {
    /// pacs.008 1.16 and pacs.002 1.17 (BACEN's catalog 5.13.1, whose schemas the samples are
    /// valid against), pacs.004 1.3, admi.002 1.3, camt.060 1.0, pibr.001 and pibr.002 1.0: the
    /// versions of the project's samples.
    fn default() -> Self {
        let versions = [
            ("pacs.008", "1.16"),
            ("pacs.002", "1.17"),
            ("pacs.004", "1.3"),
            ("admi.002", "1.3"),
            ("camt.060", "1.0"),
            ("pibr.001", "1.0"),
            ("pibr.002", "1.0"),
        ]
        .into_iter()
        .map(|(t, v)| (t.to_string(), v.to_string()))
        .collect();
        Catalog { versions }
    }
}

impl Catalog {
    /// Sets the version of a type (adding the type when new), e.g. `set("pacs.008", "1.13")`.
    pub fn set(&mut self, kind: &str, version: &str) {
        self.versions.insert(kind.to_string(), version.to_string());
    }

    /// Reads `type=version[,type=version…]` (the simulator's `--versions`).
    pub fn apply(&mut self, spec: &str) -> Result<(), String> {
        for item in spec.split(',').filter(|s| !s.trim().is_empty()) {
            let (kind, version) = item
                .split_once('=')
                .ok_or_else(|| format!("'{item}': expected type=version, e.g. pacs.008=1.4"))?;
            let (kind, version) = (kind.trim(), version.trim());
            let valid = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.');
            if !valid(kind) || !valid(version) {
                return Err(format!("'{item}': type and version are letters, digits and dots"));
            }
            self.set(kind, version);
        }
        Ok(())
    }

    /// The version of a type, if the catalog has it.
    pub fn version(&self, kind: &str) -> Option<&str> {
        self.versions.get(kind).map(String::as_str)
    }

    /// The envelope namespace of a type at its version.
    pub fn namespace(&self, kind: &str) -> String {
        format!("{NAMESPACE_BASE}{kind}/{}", self.version(kind).unwrap_or("1.0"))
    }

    /// The `AppHdr/MsgDefIdr` of a type at its version.
    pub fn msg_def_idr(&self, kind: &str) -> String {
        format!("{kind}.spi.{}", self.version(kind).unwrap_or("1.0"))
    }

    /// A message BACEN sends to `to`: the envelope of `kind` with BACEN's header (`BizMsgIdr`
    /// `msg_id`, see [`new_msg_id`]) around `document` (the `<Document>` element, as text).
    pub fn from_bacen(&self, kind: &str, to: &str, msg_id: &str, document: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Envelope xmlns=\"{ns}\"><AppHdr>\
             <Fr><FIId><FinInstnId><Othr><Id>{BCB_ISPB}</Id></Othr></FinInstnId></FIId></Fr>\
             <To><FIId><FinInstnId><Othr><Id>{to}</Id></Othr></FinInstnId></FIId></To>\
             <BizMsgIdr>{msg_id}</BizMsgIdr><MsgDefIdr>{def}</MsgDefIdr><CreDt>{now}</CreDt><Sgntr/></AppHdr>\
             {document}</Envelope>",
            ns = self.namespace(kind),
            to = escape(to),
            def = self.msg_def_idr(kind),
            now = utc_now(),
        )
    }
}

/// A BACEN message id: `M`, BACEN's ISPB, 23 characters.
pub fn new_msg_id() -> String {
    let id = wire::new_id();
    format!("M{BCB_ISPB}{}", id.get(..23).unwrap_or(&id))
}

/// What the simulator reads of a participant's message.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// The type from the envelope namespace, e.g. `pacs.008`.
    pub kind: String,
    /// The version from the envelope namespace.
    pub version: String,
    /// `AppHdr/Fr`'s ISPB.
    pub from: String,
    /// `AppHdr/To`'s ISPB.
    pub to: String,
    /// `AppHdr/MsgDefIdr`.
    pub msg_def_idr: String,
    /// `Document//MsgId` (the group header's), else `AppHdr/BizMsgIdr`.
    pub msg_id: String,
    /// The `<Document>` element as it was written.
    pub document: String,
    /// The ISPB of the Document's `CdtrAgt`: the PSP a pacs.008 or pacs.004 is for.
    pub addressee: Option<String>,
    /// Text of the Document's fields the clearing reads, by local name (the first of each).
    fields: BTreeMap<&'static str, String>,
}

/// The Document fields the clearing reads.
const FIELDS: &[&str] = &[
    "EndToEndId",
    "RtrId",
    "OrgnlEndToEndId",
    "OrgnlInstrId",
    "TxSts",
    "Data",
];

impl Inbound {
    /// Reads a parsed message; `Err` says what is missing from the envelope.
    pub fn read(doc: &Document<'_>) -> Result<Inbound, String> {
        let root = doc.root();
        let ns = doc.element(root).map_or("", |e| doc.namespace(e));
        let (kind, version) = ns
            .strip_prefix(NAMESPACE_BASE)
            .and_then(|rest| rest.trim_end_matches('/').split_once('/'))
            .ok_or_else(|| format!("envelope namespace '{ns}' is not {NAMESPACE_BASE}<type>/<version>"))?;
        let header = child(doc, root, "AppHdr").ok_or("no AppHdr")?;
        let document = child(doc, root, "Document").ok_or("no Document")?;
        let ispb = |party: &str| {
            child(doc, header, party)
                .and_then(|p| text(doc, Some(p), "Id"))
                .ok_or_else(|| format!("no AppHdr/{party}//Id"))
        };
        let inside = |within: NodeId, local: &str| text(doc, Some(within), local);
        let fields = FIELDS
            .iter()
            .filter_map(|f| inside(document, f).map(|t| (*f, t)))
            .collect();
        Ok(Inbound {
            kind: kind.to_string(),
            version: version.to_string(),
            from: ispb("Fr")?,
            to: ispb("To")?,
            msg_def_idr: inside(header, "MsgDefIdr").unwrap_or_default(),
            msg_id: inside(document, "MsgId")
                .or_else(|| inside(header, "BizMsgIdr"))
                .unwrap_or_default(),
            document: source(doc, document),
            fields,
            addressee: first(doc, Some(document), "CdtrAgt").and_then(|a| text(doc, Some(a), "MmbId")),
        })
    }

    /// A Document field read by [`Inbound::read`] (`EndToEndId`, `RtrId`, `OrgnlEndToEndId`,
    /// `OrgnlInstrId`, `TxSts`, `Data`).
    pub fn field(&self, local: &str) -> Option<&str> {
        self.fields.get(local).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_set_from_a_spec_and_bad_specs_say_why() {
        let mut c = Catalog::default();
        c.apply("pacs.008=1.13, pacs.002=1.15").unwrap();
        assert_eq!(c.namespace("pacs.008"), "https://www.bcb.gov.br/pi/pacs.008/1.13");
        assert_eq!(c.msg_def_idr("pacs.002"), "pacs.002.spi.1.15");
        assert_eq!(c.version("pibr.001"), Some("1.0"));
        assert!(c.apply("pacs.008").unwrap_err().contains("type=version"));
        assert!(
            c.apply("pacs.008=1.4\"/>")
                .unwrap_err()
                .contains("letters, digits")
        );
    }
}
