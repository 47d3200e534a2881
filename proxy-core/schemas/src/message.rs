//! What a message declares (its type and version) and why it is refused.

use std::fmt;

use pix_xmldsig::xml::{self, Limits};

/// The namespace prefix of every SPI envelope: `https://www.bcb.gov.br/pi/<type>/<version>`
/// (BACEN's catalog; DESIGN §6).
pub const NAMESPACE_BASE: &str = "https://www.bcb.gov.br/pi/";

/// A message type at a catalog version, e.g. pacs.008 1.16.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageType {
    /// The type, e.g. `pacs.008`.
    pub kind: String,
    /// The catalog version, e.g. `1.16`.
    pub version: String,
}

impl MessageType {
    /// The type and version an SPI envelope namespace names; `None` for any other namespace.
    pub fn from_namespace(namespace: &str) -> Option<MessageType> {
        let (kind, version) = namespace
            .strip_prefix(NAMESPACE_BASE)?
            .trim_end_matches('/')
            .split_once('/')?;
        let valid = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.');
        (valid(kind) && valid(version)).then(|| MessageType {
            kind: kind.to_string(),
            version: version.to_string(),
        })
    }

    /// The envelope namespace, `https://www.bcb.gov.br/pi/<type>/<version>`.
    pub fn namespace(&self) -> String {
        format!("{NAMESPACE_BASE}{}/{}", self.kind, self.version)
    }

    /// The `AppHdr/MsgDefIdr`, `<type>.spi.<version>`.
    pub fn msg_def_idr(&self) -> String {
        format!("{}.spi.{}", self.kind, self.version)
    }

    /// The type and version `message` declares by its envelope's namespace (parsed by
    /// `pix-xmldsig`'s bounded parser: no DTD, no entity, within its limits).
    pub fn declared_by(message: &[u8]) -> Result<MessageType, Invalid> {
        let doc = xml::parse(message, &Limits::default()).map_err(|e| Invalid::NotXml(e.to_string()))?;
        let namespace = doc.element(doc.root()).map_or("", |e| doc.namespace(e));
        MessageType::from_namespace(namespace).ok_or_else(|| Invalid::NotSpi {
            namespace: namespace.to_string(),
        })
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.version)
    }
}

/// Where the signature stands when a message is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// A bank's message before the proxy signs it: an empty `AppHdr/Sgntr` (or none) is where
    /// the signature will go, and counts as holding one.
    BeforeSigning,
    /// A message as it travels: `AppHdr/Sgntr` must hold the signature, as BACEN's schemas say.
    Signed,
}

/// One schema violation, as libxml2 reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The line of the message (1-based), when known.
    pub line: Option<u32>,
    /// The element the rule is about (local name), when libxml2 names one.
    pub element: Option<String>,
    /// The rule broken, e.g. `Missing child element(s). Expected is ( SvcLvl ).`
    pub rule: String,
}

impl Violation {
    /// Reads libxml2's message (`Element '{ns}Name': rule`), namespaces dropped for brevity.
    pub fn from_libxml2(line: Option<u32>, message: &str) -> Violation {
        let text = strip_namespaces(message.trim());
        let (element, rule) = match text
            .strip_prefix("Element '")
            .and_then(|rest| rest.split_once("': "))
        {
            Some((element, rule)) => (Some(element.to_string()), rule.to_string()),
            None => (None, text),
        };
        Violation { line, element, rule }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if let Some(element) = &self.element {
            write!(f, "element {element}: ")?;
        }
        f.write_str(&self.rule)
    }
}

/// `{namespace}Name` → `Name`, everywhere in a libxml2 message.
fn strip_namespaces(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => rest = &rest[open + close + 1..],
            None => {
                out.push_str(&rest[open..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Why a message is refused by the catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// Not XML the bounded parser accepts.
    #[error("not acceptable XML: {0}")]
    NotXml(String),
    /// The root element's namespace is not an SPI envelope's.
    #[error("envelope namespace '{namespace}' is not {NAMESPACE_BASE}<type>/<version>")]
    NotSpi {
        /// The namespace found.
        namespace: String,
    },
    /// The catalog has no schema for this type and version (BACEN: "Schema desconhecido ou não
    /// habilitado para uso").
    #[error("{0} is not enabled: the catalog has no schema for it")]
    NotEnabled(MessageType),
    /// The catalog's schema for the type cannot be compiled on this thread (its file changed
    /// or vanished after the catalog was loaded).
    #[error("the schema of {message_type} is unavailable: {reason}")]
    SchemaUnavailable {
        /// The type and version.
        message_type: MessageType,
        /// libxml2's diagnostics.
        reason: String,
    },
    /// The message breaks its schema.
    #[error("{message_type} fails its schema: {}", summary(.violations))]
    Violations {
        /// The type and version the message declares.
        message_type: MessageType,
        /// Every violation found, in document order.
        violations: Vec<Violation>,
    },
}

impl Invalid {
    /// A short stable code for metrics and audit records.
    pub fn code(&self) -> &'static str {
        match self {
            Invalid::NotXml(_) => "not_xml",
            Invalid::NotSpi { .. } => "not_spi",
            Invalid::NotEnabled(_) => "schema_not_enabled",
            Invalid::SchemaUnavailable { .. } => "schema_unavailable",
            Invalid::Violations { .. } => "schema_violation",
        }
    }
}

fn summary(violations: &[Violation]) -> String {
    match violations {
        [] => "no diagnostic".into(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!("{first} (and {} more)", rest.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_name_a_type_and_version() {
        let t = MessageType::from_namespace("https://www.bcb.gov.br/pi/pacs.008/1.16").unwrap();
        assert_eq!((t.kind.as_str(), t.version.as_str()), ("pacs.008", "1.16"));
        assert_eq!(t.msg_def_idr(), "pacs.008.spi.1.16");
        assert_eq!(t.namespace(), "https://www.bcb.gov.br/pi/pacs.008/1.16");
        for other in [
            "urn:iso:std:iso:20022",
            "https://www.bcb.gov.br/pi/pacs.008",
            "https://www.bcb.gov.br/pi/a b/1",
        ] {
            assert_eq!(MessageType::from_namespace(other), None, "{other}");
        }
    }

    #[test]
    fn libxml2_messages_name_the_element_and_the_rule() {
        let v = Violation::from_libxml2(
            Some(14),
            "Element '{https://www.bcb.gov.br/pi/pacs.008/1.16}PmtTpInf': Missing child element(s). Expected is ( {https://www.bcb.gov.br/pi/pacs.008/1.16}SvcLvl ).\n",
        );
        assert_eq!(v.element.as_deref(), Some("PmtTpInf"));
        assert_eq!(v.rule, "Missing child element(s). Expected is ( SvcLvl ).");
        assert_eq!(
            v.to_string(),
            "line 14: element PmtTpInf: Missing child element(s). Expected is ( SvcLvl )."
        );
        let plain = Violation::from_libxml2(None, "something {unclosed");
        assert_eq!(
            (plain.element, plain.rule.as_str()),
            (None, "something {unclosed")
        );
    }

    #[test]
    fn the_declared_type_comes_from_the_envelope() {
        let msg = br#"<Envelope xmlns="https://www.bcb.gov.br/pi/pibr.001/1.0"><AppHdr/></Envelope>"#;
        assert_eq!(MessageType::declared_by(msg).unwrap().kind, "pibr.001");
        assert!(matches!(
            MessageType::declared_by(b"<a/>"),
            Err(Invalid::NotSpi { .. })
        ));
        assert!(matches!(
            MessageType::declared_by(b"<!DOCTYPE a><a/>"),
            Err(Invalid::NotXml(_))
        ));
    }
}
