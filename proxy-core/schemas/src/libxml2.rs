//! The validator: libxml2's XML Schema implementation through the `libxml` crate.
//!
//! libxml2's compiled schemas and validation contexts are not `Send`: each thread compiles the
//! schemas it uses once, on first use, and keeps them ([`COMPILED`]). The message is parsed into
//! libxml2's own tree for validation only; the caller's bytes are never re-serialized.

use std::cell::RefCell;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::Path;

use libxml::parser::{Parser, ParserOptions};
use libxml::schemas::{SchemaParserContext, SchemaValidationContext};
use libxml::tree::{Document, Namespace, Node};
use pix_xmldsig::xml::DSIG_NS;

use crate::message::{Invalid, MessageType, Stage, Violation};

thread_local! {
    /// This thread's compiled schemas, by catalog and type.
    static COMPILED: RefCell<HashMap<(u64, MessageType), SchemaValidationContext>> =
        RefCell::new(HashMap::new());
}

/// The schema libxml2 compiles for `message_type`: BACEN's file, imported, beside a declaration
/// of `ds:Signature` (any content: the SPI profile checks the signature's structure) for
/// `Sgntr`'s strict wildcard. It is the XML-Signature namespace's schema, so that one document
/// holds both.
fn wrapper(message_type: &MessageType, path: &Path) -> String {
    let location = escape(&path.to_string_lossy());
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="{DSIG_NS}" elementFormDefault="qualified">
  <xs:import namespace="{}" schemaLocation="{location}"/>
  <xs:element name="Signature">
    <xs:complexType>
      <xs:sequence><xs:any processContents="skip" minOccurs="0" maxOccurs="unbounded"/></xs:sequence>
      <xs:anyAttribute processContents="skip"/>
    </xs:complexType>
  </xs:element>
</xs:schema>
"#,
        message_type.namespace()
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
}

fn compile(message_type: &MessageType, path: &Path) -> Result<SchemaValidationContext, String> {
    // libxml2 keeps a pointer to the buffer until the schema is parsed: it must outlive both.
    let text = wrapper(message_type, path);
    let mut parser = SchemaParserContext::from_buffer(&text);
    SchemaValidationContext::from_parser(&mut parser).map_err(|errors| {
        let reasons: Vec<String> = errors
            .iter()
            .map(|e| e.message.as_deref().unwrap_or("").trim().to_string())
            .collect();
        if reasons.is_empty() {
            "libxml2 gave no diagnostic".into()
        } else {
            reasons.join("; ")
        }
    })
}

/// Compiles `message_type`'s schema on this thread (at load: a broken schema stops the start).
pub(crate) fn prepare(catalog: u64, message_type: &MessageType, path: &Path) -> Result<(), String> {
    let context = compile(message_type, path)?;
    COMPILED.with(|cell| {
        cell.borrow_mut().insert((catalog, message_type.clone()), context);
    });
    Ok(())
}

/// Validates `message` (which declares `message_type`) against its schema.
pub(crate) fn validate(
    catalog: u64,
    message_type: &MessageType,
    path: &Path,
    message: &[u8],
    stage: Stage,
) -> Result<(), Invalid> {
    // `MessageType::declared_by` already parsed the message with pix-xmldsig's bounded parser
    // (no DTD, no entities, within limits); libxml2 parses it again without network or recovery.
    let options = ParserOptions {
        recover: false,
        no_net: true,
        no_error: true,
        no_warning: true,
        compact: true,
        no_blanks: true,
        ..ParserOptions::default()
    };
    let doc = Parser::default()
        .parse_string_with_options(message, options)
        .map_err(|e| Invalid::NotXml(format!("libxml2 cannot parse it: {e:?}")))?;
    if stage == Stage::BeforeSigning {
        make_room_for_signature(&doc);
    }
    COMPILED.with(|cell| {
        let mut compiled = cell.borrow_mut();
        let context = match compiled.entry((catalog, message_type.clone())) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                e.insert(
                    compile(message_type, path).map_err(|reason| Invalid::SchemaUnavailable {
                        message_type: message_type.clone(),
                        reason,
                    })?,
                )
            }
        };
        context
            .validate_document(&doc)
            .map_err(|errors| Invalid::Violations {
                message_type: message_type.clone(),
                violations: errors
                    .iter()
                    .map(|e| {
                        Violation::from_libxml2(
                            e.line.and_then(|l| u32::try_from(l).ok()),
                            e.message.as_deref().unwrap_or(""),
                        )
                    })
                    .collect(),
            })
    })
}

/// Before signing, `AppHdr/Sgntr` is empty or absent: put an empty `ds:Signature` where the
/// signer will put the real one (an absent `Sgntr` is added where the signer adds it: before
/// `Rltd`, else last), in libxml2's copy of the message.
fn make_room_for_signature(doc: &Document) {
    let Some(root) = doc.get_root_element() else {
        return;
    };
    let Some(mut app_hdr) = element_child(&root, "AppHdr") else {
        return;
    };
    let mut sgntr = match element_child(&app_hdr, "Sgntr") {
        Some(s) if s.get_child_elements().is_empty() => s,
        Some(_) => return,
        None => {
            let Ok(mut added) = Node::new("Sgntr", app_hdr.get_namespace(), doc) else {
                return;
            };
            let placed = match element_child(&app_hdr, "Rltd") {
                Some(mut rltd) => rltd.add_prev_sibling(&mut added).is_ok(),
                None => app_hdr.add_child(&mut added).is_ok(),
            };
            if !placed {
                return;
            }
            added
        }
    };
    if let Ok(mut signature) = sgntr.new_child(None, "Signature")
        && let Ok(ns) = Namespace::new("ds", DSIG_NS, &mut signature)
    {
        let _ = signature.set_namespace(&ns);
    }
}

fn element_child(node: &Node, local: &str) -> Option<Node> {
    node.get_child_elements()
        .into_iter()
        .find(|c| c.get_name() == local)
}
