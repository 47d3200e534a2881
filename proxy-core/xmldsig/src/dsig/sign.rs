//! Making a signature: digests of the profile's references, the canonical `SignedInfo` handed to
//! the [`Signer`], and the `ds:Signature` spliced into the original bytes.

use std::fmt::Write as _;
use std::ops::Range;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::{EXC_C14N, Profile, RSA_SHA256, RefTarget, SHA256, sgntr_elements, spi_parts};
use crate::signer::{Signer, SignerError};
use crate::xml::{self, C14nOptions, DSIG_NS, Document, Limits, NodeId, XmlError};

/// Why a message could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The message is not acceptable XML.
    #[error("message refused: {0}")]
    Xml(#[from] XmlError),
    /// The message does not have the shape the profile needs.
    #[error("message does not fit the {profile} profile: {reason}")]
    Shape {
        /// The profile asked for.
        profile: Profile,
        /// What is missing or extra.
        reason: String,
    },
    /// The signer failed.
    #[error(transparent)]
    Signer(#[from] SignerError),
}

/// Signs `message` with the default [`Limits`].
pub async fn sign(message: &[u8], profile: Profile, signer: &dyn Signer) -> Result<Vec<u8>, SignError> {
    sign_with_limits(message, profile, signer, &Limits::default()).await
}

/// Signs `message` under `profile`: returns the message with a `ds:Signature` inserted where the
/// profile puts it (an existing SPI `Sgntr` has its content replaced), every other byte unchanged.
/// The steps: where the signature goes, the digests of what it covers, the `KeyInfo` and
/// `SignedInfo` built, the signer's signature, the bytes spliced.
pub async fn sign_with_limits(
    message: &[u8],
    profile: Profile,
    signer: &dyn Signer,
    limits: &Limits,
) -> Result<Vec<u8>, SignError> {
    let doc = xml::parse(message, limits)?;
    let shape = |reason: String| SignError::Shape { profile, reason };
    let (slot, parts) = match profile {
        Profile::Spi => {
            let parts = spi_parts(&doc).map_err(shape)?;
            match sgntr_elements(&doc, parts.app_hdr)[..] {
                [s] => (s, Some(parts)),
                [] => {
                    // Add an empty Sgntr and sign that message instead.
                    let with_slot = add_sgntr(&doc, parts.app_hdr);
                    return Box::pin(sign_with_limits(&with_slot, profile, signer, limits)).await;
                }
                _ => return Err(shape("AppHdr has more than one Sgntr".into())),
            }
        }
        Profile::Dict => (doc.root(), None),
    };
    let digests = covered_digests(&doc, slot, parts, message.len()).map_err(shape)?;
    let certificate = signer.certificate();
    // A fresh NCName with 128 random bits: it cannot collide with an `Id` already in the message.
    let key_info_id = format!("KeyInfo-{}", crate::ids::random_id());
    let key_info = key_info_xml(&key_info_id, certificate.issuer(), certificate.serial());
    let key_info_digest = sha256_b64(&canonical_child(&key_info)?);
    let all_digests = std::iter::once(key_info_digest).chain(digests);
    let signed_info = signed_info_xml(profile, &key_info_id, all_digests);
    let value = signer.sign(&canonical_child(&signed_info)?).await?;
    let signature = format!(
        "<ds:Signature xmlns:ds=\"{DSIG_NS}\">{signed_info}<ds:SignatureValue>{}</ds:SignatureValue>{key_info}</ds:Signature>",
        B64.encode(value)
    );
    Ok(splice(&doc, message, slot, profile, &signature))
}

/// The digests of what the signature covers, in the profile's order after the `KeyInfo`'s: SPI's
/// `AppHdr` (without the `Sgntr`'s old content) and `Document`; DICT's whole document. A signature
/// already elsewhere is refused: the result would carry two and never verify.
fn covered_digests(
    doc: &Document<'_>,
    slot: NodeId,
    parts: Option<super::SpiParts>,
    size: usize,
) -> Result<Vec<String>, String> {
    let mut digests = Vec::with_capacity(2);
    let mut c14n = Vec::with_capacity(size);
    match parts {
        Some(parts) => {
            if let Some(other) = signatures(doc).find(|&s| doc.node(s).parent() != Some(slot)) {
                return Err(format!(
                    "a ds:Signature already stands in <{}>",
                    parent_name(doc, other)
                ));
            }
            let old: Vec<NodeId> = doc.children(slot).collect();
            xml::canonicalize_subtree(doc, parts.app_hdr, C14nOptions::default(), &old, &mut c14n);
            digests.push(sha256_b64(&c14n));
            c14n.clear();
            xml::canonicalize_subtree(doc, parts.document, C14nOptions::default(), &[], &mut c14n);
            digests.push(sha256_b64(&c14n));
        }
        None => {
            if signatures(doc).next().is_some() {
                return Err("the document is already signed".into());
            }
            xml::canonicalize_document(doc, C14nOptions::default(), &[], &mut c14n);
            digests.push(sha256_b64(&c14n));
        }
    }
    Ok(digests)
}

/// `ds:KeyInfo` naming the certificate by issuer and serial.
fn key_info_xml(id: &str, issuer: &str, serial: &str) -> String {
    let mut key_info =
        format!("<ds:KeyInfo Id=\"{id}\"><ds:X509Data><ds:X509IssuerSerial><ds:X509IssuerName>");
    escape_text(&mut key_info, issuer);
    let _ = write!(
        key_info,
        "</ds:X509IssuerName><ds:X509SerialNumber>{serial}</ds:X509SerialNumber></ds:X509IssuerSerial></ds:X509Data></ds:KeyInfo>"
    );
    key_info
}

/// `ds:SignedInfo` with the profile's references and `digests` in their order.
fn signed_info_xml(profile: Profile, key_info_id: &str, digests: impl Iterator<Item = String>) -> String {
    let mut signed_info = format!(
        "<ds:SignedInfo><ds:CanonicalizationMethod Algorithm=\"{EXC_C14N}\"/><ds:SignatureMethod Algorithm=\"{RSA_SHA256}\"/>"
    );
    for (spec, digest) in profile.references().iter().zip(digests) {
        match spec.target {
            RefTarget::KeyInfo => {
                let _ = write!(signed_info, "<ds:Reference URI=\"#{key_info_id}\">");
            }
            RefTarget::Empty => signed_info.push_str("<ds:Reference URI=\"\">"),
            RefTarget::Absent => signed_info.push_str("<ds:Reference>"),
        }
        signed_info.push_str("<ds:Transforms>");
        for t in spec.transforms {
            let _ = write!(signed_info, "<ds:Transform Algorithm=\"{t}\"/>");
        }
        let _ = write!(
            signed_info,
            "</ds:Transforms><ds:DigestMethod Algorithm=\"{SHA256}\"/><ds:DigestValue>{digest}</ds:DigestValue></ds:Reference>"
        );
    }
    signed_info.push_str("</ds:SignedInfo>");
    signed_info
}

/// The message with `signature` put in `slot`, every other byte as it was.
fn splice(doc: &Document<'_>, message: &[u8], slot: NodeId, profile: Profile, signature: &str) -> Vec<u8> {
    let (range, before, after) = fill(doc, slot, profile == Profile::Spi);
    let src = doc.source().as_bytes();
    let mut out = Vec::with_capacity(message.len() + signature.len() + 32);
    out.extend_from_slice(&message[..doc.bom_len()]);
    out.extend_from_slice(&src[..range.start]);
    out.extend_from_slice(before.as_bytes());
    out.extend_from_slice(signature.as_bytes());
    out.extend_from_slice(after.as_bytes());
    out.extend_from_slice(&src[range.end..]);
    out
}

/// Every `ds:Signature` element of the document.
pub(super) fn signatures<'d>(doc: &'d Document<'_>) -> impl Iterator<Item = NodeId> + 'd {
    doc.elements().filter(|&id| doc.is(id, DSIG_NS, "Signature"))
}

fn parent_name(doc: &Document<'_>, id: NodeId) -> String {
    doc.node(id)
        .parent()
        .and_then(|p| doc.element(p))
        .map_or_else(|| "(document)".into(), |e| doc.qname(e).to_string())
}

/// The byte range of `slot` to replace and what to write around the signature there. SPI replaces
/// the content of `Sgntr`; DICT inserts before the root's first child. A self-closing element is
/// opened up.
fn fill(doc: &Document<'_>, slot: NodeId, replace_content: bool) -> (Range<usize>, String, String) {
    let Some(el) = doc.element(slot) else {
        return (0..0, String::new(), String::new());
    };
    let src = doc.source();
    let self_closing = el.content().start == el.span().end;
    if self_closing {
        let open = src[el.span().start..el.span().end - 2].trim_end();
        return (el.span(), format!("{open}>"), format!("</{}>", doc.qname(el)));
    }
    let range = if replace_content {
        el.content()
    } else {
        el.content().start..el.content().start
    };
    (range, String::new(), String::new())
}

/// The message with an empty `Sgntr` added to `AppHdr`, before `Rltd` when present (head.001
/// order), else last.
fn add_sgntr(doc: &Document<'_>, app_hdr: NodeId) -> Vec<u8> {
    let src = doc.source();
    let Some(hdr) = doc.element(app_hdr) else {
        return src.as_bytes().to_vec();
    };
    let prefix = if doc.prefix(hdr).is_empty() {
        String::new()
    } else {
        format!("{}:", doc.prefix(hdr))
    };
    let rltd = doc
        .child_elements(app_hdr)
        .find(|&c| doc.element(c).is_some_and(|e| doc.local(e) == "Rltd"))
        .and_then(|c| doc.element(c));
    let mut out = String::with_capacity(src.len() + 32);
    let tag = format!("<{prefix}Sgntr></{prefix}Sgntr>");
    if hdr.content().start == hdr.span().end {
        // <AppHdr/>: open it up.
        out.push_str(src[..hdr.span().end - 2].trim_end());
        let _ = write!(out, ">{tag}</{}>", doc.qname(hdr));
        out.push_str(&src[hdr.span().end..]);
    } else {
        let at = rltd.map_or(hdr.content().end, |r| r.span().start);
        out.push_str(&src[..at]);
        out.push_str(&tag);
        out.push_str(&src[at..]);
    }
    let mut bytes = "\u{feff}".as_bytes()[..doc.bom_len()].to_vec();
    bytes.extend_from_slice(out.as_bytes());
    bytes
}

/// Exclusive c14n of `fragment` (an element in the `ds` prefix) as it will stand inside the
/// signature. Exclusive c14n renders only the namespaces an element uses, so its form inside the
/// message is the same as inside this wrapper.
fn canonical_child(fragment: &str) -> Result<Vec<u8>, XmlError> {
    let wrapped = format!("<ds:Signature xmlns:ds=\"{DSIG_NS}\">{fragment}</ds:Signature>");
    let doc = xml::parse(wrapped.as_bytes(), &Limits::default())?;
    let mut out = Vec::with_capacity(fragment.len() + 64);
    if let Some(child) = doc.child_elements(doc.root()).next() {
        xml::canonicalize_subtree(&doc, child, C14nOptions::default(), &[], &mut out);
    }
    Ok(out)
}

fn sha256_b64(data: &[u8]) -> String {
    B64.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data))
}

fn escape_text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
}
