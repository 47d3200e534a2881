//! The SPI's message catalog as the simulator plays it: which types ICOM takes and delivers, the
//! version of each (its envelope namespace `https://www.bcb.gov.br/pi/<type>/<version>` and its
//! `AppHdr/MsgDefIdr` `<type>.spi.<version>`, DESIGN §6), the reading of a participant's message
//! into what the checks and the clearing need, and the envelope of every message BACEN writes.
//!
//! Versions change with BACEN's catalog (Informe SPI): they are configuration. The defaults are
//! catalog 5.13.1's for pacs.008 and pacs.002 (whose schemas the project has) and the samples'
//! for the others. With BACEN's schemas loaded ([`Catalog::enable`], `simulator serve
//! --schemas`), a type that has schemas is enabled in exactly their versions, the newest being
//! the one BACEN writes.

use std::collections::BTreeMap;

use pix_schemas::{MessageType, NAMESPACE_BASE};
use pix_xmldsig::xml::{Document, NodeId};

use crate::find::{all, child, first, source, text};
use crate::wire::{self, escape, utc_now};

/// BACEN's ISPB: the `To` of what participants send, the `Fr` of what it sends.
pub const BCB_ISPB: &str = "00038166";

/// Message types and their versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    versions: BTreeMap<String, String>,
    /// The versions each type with a schema is enabled in (its schemas'), oldest first.
    checked: BTreeMap<String, Vec<String>>,
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
        Catalog {
            versions,
            checked: BTreeMap::new(),
        }
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

    /// Enables every type and version `schemas` has: a type with schemas is enabled in exactly
    /// their versions (and BACEN writes the newest); the others keep their configured version,
    /// unchecked. Returns the types left unchecked.
    pub fn enable(&mut self, schemas: &pix_schemas::Catalog) -> Vec<String> {
        self.checked.clear();
        for t in schemas.types() {
            self.checked
                .entry(t.kind.clone())
                .or_default()
                .push(t.version.clone());
        }
        for (kind, versions) in &mut self.checked {
            versions.sort_by_key(|v| version_key(v));
            if let Some(newest) = versions.last() {
                self.versions.insert(kind.clone(), newest.clone());
            }
        }
        self.versions
            .keys()
            .filter(|k| !self.checked.contains_key(*k))
            .cloned()
            .collect()
    }

    /// Whether BACEN's schemas decide which versions of `kind` are enabled.
    pub fn is_checked(&self, kind: &str) -> bool {
        self.checked.contains_key(kind)
    }

    /// Every `MsgDefIdr` of `kind` the catalog enables (the catalog endpoints' list).
    pub fn msg_def_idrs(&self, kind: &str) -> Vec<String> {
        match self.checked.get(kind) {
            Some(versions) => versions.iter().map(|v| format!("{kind}.spi.{v}")).collect(),
            None => self
                .version(kind)
                .map(|v| vec![format!("{kind}.spi.{v}")])
                .unwrap_or_default(),
        }
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

/// `1.16` sorts after `1.9`.
fn version_key(version: &str) -> Vec<u32> {
    version.split('.').map(|n| n.parse().unwrap_or(0)).collect()
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
    /// The transactions of a pacs.008 (`CdtTrfTxInf`), pacs.004 (`TxInf`) or pacs.002
    /// (`TxInfAndSts`), in order: a message carries up to ten (BACEN's catalog examples do).
    pub transactions: Vec<Transaction>,
    /// Text of the Document's fields the clearing reads, by local name (the first of each).
    fields: BTreeMap<&'static str, String>,
}

/// One transaction of a message, as the clearing reads it.
#[derive(Debug, Clone, Default)]
pub struct Transaction {
    /// `EndToEndId` (pacs.008), `RtrId` (pacs.004), `OrgnlInstrId` (pacs.002): the key a
    /// pacs.002 answers by.
    pub key: String,
    /// The payment's `EndToEndId` (`OrgnlEndToEndId` in a pacs.004 or pacs.002).
    pub end_to_end: String,
    /// The ISPB of `CdtrAgt`: the PSP a pacs.008 or pacs.004 transaction is for.
    pub addressee: Option<String>,
    /// `TxSts` of a pacs.002.
    pub status: Option<String>,
    /// `IntrBkSttlmAmt` of a pacs.008 (`RtrdIntrBkSttlmAmt` of a pacs.004).
    pub amount: Option<String>,
    /// The element as written.
    pub source: String,
}

/// The Document fields the clearing reads outside transactions.
const FIELDS: &[&str] = &["Data"];

/// The transaction element of each type that has transactions.
fn transaction_element(kind: &str) -> Option<&'static str> {
    match kind {
        "pacs.008" => Some("CdtTrfTxInf"),
        "pacs.004" => Some("TxInf"),
        "pacs.002" => Some("TxInfAndSts"),
        _ => None,
    }
}

impl Inbound {
    /// Reads a parsed message; `Err` says what is missing from the envelope.
    pub fn read(doc: &Document<'_>) -> Result<Inbound, String> {
        let root = doc.root();
        let ns = doc.element(root).map_or("", |e| doc.namespace(e));
        let MessageType { kind, version } = MessageType::from_namespace(ns)
            .ok_or_else(|| format!("envelope namespace '{ns}' is not {NAMESPACE_BASE}<type>/<version>"))?;
        let kind = kind.as_str();
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
        let transactions = transaction_element(kind)
            .map(|element| {
                all(doc, element)
                    .filter(|&t| doc.is_within(t, document))
                    .map(|t| {
                        let field = |local: &str| inside(t, local).unwrap_or_default();
                        let key = ["EndToEndId", "RtrId", "OrgnlInstrId"]
                            .iter()
                            .map(|f| field(f))
                            .find(|k| !k.is_empty())
                            .unwrap_or_default();
                        let end_to_end = ["EndToEndId", "OrgnlEndToEndId"]
                            .iter()
                            .map(|f| field(f))
                            .find(|k| !k.is_empty())
                            .unwrap_or_default();
                        Transaction {
                            key,
                            end_to_end,
                            addressee: first(doc, Some(t), "CdtrAgt")
                                .and_then(|a| text(doc, Some(a), "MmbId")),
                            status: inside(t, "TxSts"),
                            amount: inside(t, "IntrBkSttlmAmt").or_else(|| inside(t, "RtrdIntrBkSttlmAmt")),
                            source: source(doc, t),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Inbound {
            kind: kind.to_string(),
            version,
            from: ispb("Fr")?,
            to: ispb("To")?,
            msg_def_idr: inside(header, "MsgDefIdr").unwrap_or_default(),
            msg_id: inside(document, "MsgId")
                .or_else(|| inside(header, "BizMsgIdr"))
                .unwrap_or_default(),
            document: source(doc, document),
            transactions,
            fields,
        })
    }

    /// A Document field read by [`Inbound::read`] outside transactions (`Data`).
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
