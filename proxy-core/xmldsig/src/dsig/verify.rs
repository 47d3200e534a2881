//! Checking a signature, failing closed: structure and placement first (anti-wrapping), then the
//! algorithms, the key (trust store), the digests, and last the RSA signature.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

mod error;

pub use error::VerifyError;

use super::sign::signatures;
use super::{EXC_C14N, Profile, RSA_SHA256, RefTarget, SHA256, spi_parts};
use crate::trust::{TrustStore, TrustedKey};
use crate::xml::{self, C14nOptions, DSIG_NS, Document, Limits, NodeId, NodeKind};

/// A valid signature: who made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Subject of the signing certificate.
    pub subject: String,
    /// Issuer of the signing certificate (as the certificate has it).
    pub issuer: String,
    /// Serial number of the signing certificate, decimal.
    pub serial: String,
}

/// Verifies `message` with the default [`Limits`].
pub fn verify(
    message: &[u8],
    profile: Profile,
    trust: &TrustStore,
    now: i64,
) -> Result<Verified, VerifyError> {
    verify_with_limits(message, profile, trust, now, &Limits::default())
}

/// Verifies the signature of `message` under `profile`, with keys from `trust`, at time `now`
/// (seconds since the epoch): the six checks of the crate's documentation, in their order, each
/// a function of its own.
pub fn verify_with_limits(
    message: &[u8],
    profile: Profile,
    trust: &TrustStore,
    now: i64,
    limits: &Limits,
) -> Result<Verified, VerifyError> {
    // 1. The bytes parse under the limits.
    let doc = xml::parse(message, limits)?;
    // 2. The profile's shape: one signature, in its place.
    let placed = placement(&doc, profile)?;
    // 3. The algorithms are exactly the profile's.
    let signature = algorithms(&doc, profile, placed.sig)?;
    // 4. Every reference points where the profile says.
    let expected = references(&doc, profile, &placed, &signature)?;
    // 5. The key, from the trust store only.
    let trusted = trusted_key(&doc, signature.key_info, trust, now)?;
    // 6. Every digest, then the RSA signature over the canonical SignedInfo.
    digests(&doc, placed.sig, expected, message.len())?;
    signature_value(&doc, &signature, trusted)
}

/// Where the signature is, and what `URI=""` and no URI cover there.
struct Placed {
    sig: NodeId,
    /// What `URI=""` covers: SPI's `AppHdr` (`None`: the whole document).
    empty_target: Option<NodeId>,
    /// What a reference without URI covers: SPI's `Document` (`None`: the profile has none).
    absent_target: Option<NodeId>,
}

/// Check 2: exactly one `ds:Signature`, where the profile puts it (anti-wrapping).
fn placement(doc: &Document<'_>, profile: Profile) -> Result<Placed, VerifyError> {
    let found: Vec<NodeId> = signatures(doc).collect();
    let &[sig] = found.as_slice() else {
        return Err(VerifyError::SignatureCount(found.len()));
    };
    match profile {
        Profile::Spi => {
            let parts = spi_parts(doc).map_err(VerifyError::Structure)?;
            let parent = doc.node(sig).parent();
            let in_sgntr = parent.is_some_and(|p| {
                doc.element(p).is_some_and(|e| doc.local(e) == "Sgntr")
                    && doc.node(p).parent() == Some(parts.app_hdr)
            });
            if !in_sgntr {
                return Err(VerifyError::Placement(
                    "the SPI profile puts it in AppHdr/Sgntr".into(),
                ));
            }
            Ok(Placed {
                sig,
                empty_target: Some(parts.app_hdr),
                absent_target: Some(parts.document),
            })
        }
        Profile::Dict => {
            if doc.node(sig).parent() != Some(doc.root()) {
                return Err(VerifyError::Placement(
                    "the DICT profile puts it as a direct child of the root element".into(),
                ));
            }
            Ok(Placed {
                sig,
                empty_target: None,
                absent_target: None,
            })
        }
    }
}

/// The parts of a `ds:Signature` the later checks read.
struct SignatureParts {
    signed_info: NodeId,
    signature_value: NodeId,
    key_info: NodeId,
    references: Vec<NodeId>,
}

/// Check 3: the signature's elements, its canonicalization and signature algorithms the
/// profile's, and as many references as the profile has.
fn algorithms(doc: &Document<'_>, profile: Profile, sig: NodeId) -> Result<SignatureParts, VerifyError> {
    let [signed_info, signature_value, key_info] =
        ds_children(doc, sig, &["SignedInfo", "SignatureValue", "KeyInfo"])?;
    let parts = ds_children_prefix(doc, signed_info)?;
    let specs = profile.references();
    let (methods, references) = parts.split_at(2.min(parts.len()));
    if methods.len() != 2
        || !doc.is(methods[0], DSIG_NS, "CanonicalizationMethod")
        || !doc.is(methods[1], DSIG_NS, "SignatureMethod")
    {
        return Err(VerifyError::Malformed(
            "SignedInfo must start with CanonicalizationMethod and SignatureMethod".into(),
        ));
    }
    check_algorithm(doc, methods[0], EXC_C14N)?;
    check_algorithm(doc, methods[1], RSA_SHA256)?;
    if references.len() != specs.len() || !references.iter().all(|&r| doc.is(r, DSIG_NS, "Reference")) {
        return Err(VerifyError::Malformed(format!(
            "the {profile} profile has exactly {} ds:Reference elements in SignedInfo, found {} other elements",
            specs.len(),
            references.len()
        )));
    }
    Ok(SignatureParts {
        signed_info,
        signature_value,
        key_info,
        references: references.to_vec(),
    })
}

/// A reference's target and the digest it claims.
type Expected = (usize, Target, Vec<u8>);

/// Check 4: each reference points where the profile says (the `KeyInfo` by a unique `Id`), with
/// exactly the profile's transforms and digest algorithm; what each covers and claims.
fn references(
    doc: &Document<'_>,
    profile: Profile,
    placed: &Placed,
    signature: &SignatureParts,
) -> Result<Vec<Expected>, VerifyError> {
    let key_info = signature.key_info;
    let key_info_id = doc
        .attribute(key_info, "Id")
        .ok_or_else(|| VerifyError::Malformed("ds:KeyInfo has no Id attribute".into()))?;
    let specs = profile.references();
    let mut expected = Vec::with_capacity(specs.len());
    for (i, (&reference, spec)) in signature.references.iter().zip(specs).enumerate() {
        let index = i + 1;
        let uri = doc.attribute(reference, "URI");
        let fail = |reason: String| VerifyError::Reference {
            index,
            uri: uri.map_or_else(|| "(none)".to_string(), |u| format!("\"{u}\"")),
            reason,
        };
        let target = match (spec.target, uri) {
            (RefTarget::KeyInfo, Some(u)) if u.strip_prefix('#') == Some(key_info_id) => {
                let holders = doc.elements().filter(|&e| has_id(doc, e, key_info_id)).count();
                if holders != 1 {
                    return Err(fail(format!("Id '{key_info_id}' appears on {holders} elements")));
                }
                Target::Subtree(key_info, "KeyInfo")
            }
            (RefTarget::Empty, Some("")) => match placed.empty_target {
                Some(app_hdr) => Target::Subtree(app_hdr, "AppHdr"),
                None => Target::Document,
            },
            (RefTarget::Absent, None) => match placed.absent_target {
                Some(document) => Target::Subtree(document, "Document"),
                None => return Err(fail("the DICT profile has no reference without URI".into())),
            },
            _ => {
                let want = match spec.target {
                    RefTarget::KeyInfo => format!("URI=\"#{key_info_id}\" (the KeyInfo)"),
                    RefTarget::Empty => "URI=\"\"".to_string(),
                    RefTarget::Absent => "no URI attribute".to_string(),
                };
                return Err(fail(format!("the {profile} profile expects {want} here")));
            }
        };
        let digest = reference_digest(doc, reference, spec.transforms, &fail)?;
        expected.push((index, target, digest));
    }
    Ok(expected)
}

/// A reference's transforms (exactly `transforms`, without parameters), its digest algorithm
/// (SHA-256) and the digest it claims.
fn reference_digest(
    doc: &Document<'_>,
    reference: NodeId,
    transforms: &[&str],
    fail: &dyn Fn(String) -> VerifyError,
) -> Result<Vec<u8>, VerifyError> {
    let [transforms_node, digest_method, digest_value] =
        ds_children(doc, reference, &["Transforms", "DigestMethod", "DigestValue"])
            .map_err(|e| fail(e.to_string()))?;
    let list = ds_children_prefix(doc, transforms_node)?;
    let algorithms: Vec<&str> = list
        .iter()
        .map(|&t| {
            if doc.is(t, DSIG_NS, "Transform") {
                doc.attribute(t, "Algorithm").unwrap_or("")
            } else {
                ""
            }
        })
        .collect();
    if algorithms != transforms {
        return Err(fail(format!(
            "transforms must be [{}], found [{}]",
            transforms.join(", "),
            algorithms.join(", ")
        )));
    }
    if list.iter().any(|&t| doc.child_elements(t).next().is_some()) {
        return Err(fail(
            "transform parameters (e.g. InclusiveNamespaces) are not supported".into(),
        ));
    }
    check_algorithm(doc, digest_method, SHA256)?;
    decode_b64(&doc.text(digest_value)).map_err(|e| fail(format!("DigestValue: {e}")))
}

/// Check 5: the key, by issuer and serial, from the trust store only.
fn trusted_key<'t>(
    doc: &Document<'_>,
    key_info: NodeId,
    trust: &'t TrustStore,
    now: i64,
) -> Result<&'t TrustedKey, VerifyError> {
    let [x509_data] = ds_children(doc, key_info, &["X509Data"])?;
    let serial_node = doc
        .child_elements(x509_data)
        .find(|&c| doc.is(c, DSIG_NS, "X509IssuerSerial"))
        .ok_or_else(|| VerifyError::Malformed("ds:X509Data has no ds:X509IssuerSerial".into()))?;
    let [issuer, serial] = ds_children(doc, serial_node, &["X509IssuerName", "X509SerialNumber"])?;
    Ok(trust.lookup(&doc.text(issuer), &doc.text(serial), now)?)
}

/// Check 6, first half: every reference's digest over its canonical target (the signature
/// itself left out).
fn digests(doc: &Document<'_>, sig: NodeId, expected: Vec<Expected>, size: usize) -> Result<(), VerifyError> {
    let mut c14n = Vec::with_capacity(size);
    for (index, target, digest) in expected {
        c14n.clear();
        let what = match target {
            Target::Subtree(id, what) => {
                xml::canonicalize_subtree(doc, id, C14nOptions::default(), &[sig], &mut c14n);
                what
            }
            Target::Document => {
                xml::canonicalize_document(doc, C14nOptions::default(), &[sig], &mut c14n);
                "document"
            }
        };
        let actual = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &c14n);
        if actual.as_ref() != digest.as_slice() {
            return Err(VerifyError::DigestMismatch { index, target: what });
        }
    }
    Ok(())
}

/// Check 6, second half: the RSA signature over the canonical `SignedInfo`, with the trusted key.
fn signature_value(
    doc: &Document<'_>,
    signature: &SignatureParts,
    trusted: &TrustedKey,
) -> Result<Verified, VerifyError> {
    let value = decode_b64(&doc.text(signature.signature_value))
        .map_err(|e| VerifyError::Malformed(format!("SignatureValue: {e}")))?;
    let mut c14n = Vec::new();
    xml::canonicalize_subtree(doc, signature.signed_info, C14nOptions::default(), &[], &mut c14n);
    let subject = trusted.certificate.subject().to_string();
    trusted
        .key
        .verify_sig(&c14n, &value)
        .map_err(|_| VerifyError::BadSignatureValue {
            subject: subject.clone(),
        })?;
    Ok(Verified {
        subject,
        issuer: trusted.certificate.issuer().to_string(),
        serial: trusted.certificate.serial().to_string(),
    })
}

/// What a reference covers.
#[derive(Debug, Clone, Copy)]
enum Target {
    Subtree(NodeId, &'static str),
    Document,
}

/// The element children of `parent`, which must be exactly the `ds:` elements `names`, in order,
/// with nothing but white space between them.
fn ds_children<const N: usize>(
    doc: &Document<'_>,
    parent: NodeId,
    names: &[&str; N],
) -> Result<[NodeId; N], VerifyError> {
    let kids = ds_children_prefix(doc, parent)?;
    let parent_name = doc.element(parent).map_or("", |e| doc.qname(e));
    let ok = kids.len() == N && kids.iter().zip(names).all(|(&k, n)| doc.is(k, DSIG_NS, n));
    if !ok {
        let found: Vec<&str> = kids
            .iter()
            .filter_map(|&k| doc.element(k))
            .map(|e| doc.qname(e))
            .collect();
        return Err(VerifyError::Malformed(format!(
            "{parent_name} must hold exactly [{}], found [{}]",
            names.map(|n| format!("ds:{n}")).join(", "),
            found.join(", ")
        )));
    }
    let mut out = [0; N];
    out.copy_from_slice(&kids);
    Ok(out)
}

/// The element children of a signature element; any non-white-space text among them is refused.
fn ds_children_prefix(doc: &Document<'_>, parent: NodeId) -> Result<Vec<NodeId>, VerifyError> {
    let mut kids = Vec::new();
    for c in doc.children(parent) {
        match doc.node(c).kind {
            NodeKind::Element(_) => kids.push(c),
            NodeKind::Text(t) if !doc.chars(t).trim().is_empty() => {
                let name = doc.element(parent).map_or("", |e| doc.qname(e));
                return Err(VerifyError::Malformed(format!("unexpected text in {name}")));
            }
            _ => {}
        }
    }
    Ok(kids)
}

fn check_algorithm(doc: &Document<'_>, id: NodeId, want: &str) -> Result<(), VerifyError> {
    let found = doc.attribute(id, "Algorithm").unwrap_or("");
    if found != want || doc.child_elements(id).next().is_some() {
        return Err(VerifyError::UnsupportedAlgorithm {
            element: doc.element(id).map_or("", |e| doc.qname(e)).to_string(),
            algorithm: found.to_string(),
        });
    }
    Ok(())
}

/// True when element `id` carries an unqualified ID-like attribute (`Id`, `ID`, `id`) equal to `value`.
fn has_id(doc: &Document<'_>, id: NodeId, value: &str) -> bool {
    doc.element(id).is_some_and(|e| {
        doc.attributes(e)
            .iter()
            .any(|a| a.prefix.is_empty() && a.local.eq_ignore_ascii_case("id") && a.value == value)
    })
}

fn decode_b64(text: &str) -> Result<Vec<u8>, String> {
    let bytes = text.as_bytes();
    let decoded = if bytes.iter().any(u8::is_ascii_whitespace) {
        let compact: Vec<u8> = bytes
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        B64.decode(compact)
    } else {
        B64.decode(bytes)
    };
    decoded.map_err(|e| format!("not base64 ({e})"))
}

#[cfg(test)]
mod tests;
