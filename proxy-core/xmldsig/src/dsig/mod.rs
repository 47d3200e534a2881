//! The two XML-DSig profiles BACEN uses (DESIGN §3): [`Profile::Spi`] for ISO 20022 messages
//! (signature in `AppHdr/Sgntr`, references to `KeyInfo`, `AppHdr` and `Document`) and
//! [`Profile::Dict`] for DICT documents (enveloped signature, first child of the root).
//!
//! [`sign`] inserts a signature and leaves every other byte of the message as it was; [`verify`]
//! fails closed, naming the rule that failed.

mod sign;
mod verify;

pub use sign::{SignError, sign, sign_with_limits};
pub use verify::{Verified, VerifyError, verify, verify_with_limits};

use crate::xml::{Document, NodeId};

/// `CanonicalizationMethod` and the last transform of every reference: exclusive c14n.
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// The enveloped-signature transform.
pub const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
/// `SignatureMethod`: RSASSA-PKCS1-v1_5 with SHA-256.
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
/// `DigestMethod`: SHA-256.
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

/// Which signature profile a message follows: also the family of a deployment, an endpoint, an
/// audit stream (`spi`, `dict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Profile {
    /// SPI / ISO 20022: `Envelope` with `AppHdr` and `Document`, signature in `AppHdr/Sgntr`.
    Spi,
    /// DICT: enveloped signature as a direct child of the root element.
    Dict,
}

/// A profile name that is neither `spi` nor `dict`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown profile '{0}' (expected spi or dict)")]
pub struct UnknownProfile(pub String);

impl std::str::FromStr for Profile {
    type Err = UnknownProfile;
    fn from_str(s: &str) -> Result<Self, UnknownProfile> {
        match s.to_ascii_lowercase().as_str() {
            "spi" => Ok(Profile::Spi),
            "dict" => Ok(Profile::Dict),
            _ => Err(UnknownProfile(s.to_string())),
        }
    }
}

impl Profile {
    /// `spi` or `dict`: the family's name in flags, audit partitions and stream names.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Spi => "spi",
            Profile::Dict => "dict",
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a reference's `URI` attribute is in a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefTarget {
    /// `URI="#<KeyInfo Id>"`.
    KeyInfo,
    /// `URI=""`: the `AppHdr` element (SPI) or the whole document (DICT).
    Empty,
    /// No `URI` attribute: the `Document` element (SPI).
    Absent,
}

/// One reference of a profile: its target and its transforms, in order.
struct RefSpec {
    target: RefTarget,
    transforms: &'static [&'static str],
}

const KEY_INFO_REF: RefSpec = RefSpec {
    target: RefTarget::KeyInfo,
    transforms: &[EXC_C14N],
};
const ENVELOPED_REF: RefSpec = RefSpec {
    target: RefTarget::Empty,
    transforms: &[ENVELOPED, EXC_C14N],
};
const SPI_REFS: &[RefSpec] = &[
    KEY_INFO_REF,
    ENVELOPED_REF,
    RefSpec {
        target: RefTarget::Absent,
        transforms: &[EXC_C14N],
    },
];
const DICT_REFS: &[RefSpec] = &[KEY_INFO_REF, ENVELOPED_REF];

impl Profile {
    fn references(self) -> &'static [RefSpec] {
        match self {
            Profile::Spi => SPI_REFS,
            Profile::Dict => DICT_REFS,
        }
    }
}

/// The two halves of an ISO 20022 message.
#[derive(Debug, Clone, Copy)]
struct SpiParts {
    app_hdr: NodeId,
    document: NodeId,
}

/// Finds `AppHdr` and `Document`: exactly one of each in the whole message, both children of the
/// root. Anything else is refused, so that no second `Document` can hide behind the signed one.
fn spi_parts(doc: &Document<'_>) -> Result<SpiParts, String> {
    // One pass over the elements: (first found, how many) for each part.
    let (mut app_hdr, mut document) = ((None, 0), (None, 0));
    for id in doc.elements() {
        let slot = match doc.element(id).map(|e| doc.local(e)) {
            Some("AppHdr") => &mut app_hdr,
            Some("Document") => &mut document,
            _ => continue,
        };
        slot.0.get_or_insert(id);
        slot.1 += 1;
    }
    let only = |local: &str, (first, count): (Option<NodeId>, usize)| match first {
        Some(id) if count == 1 && doc.node(id).parent() == Some(doc.root()) => Ok(id),
        Some(_) if count == 1 => Err(format!("{local} is not a child of the root element")),
        _ => Err(format!("expected exactly one {local} element, found {count}")),
    };
    Ok(SpiParts {
        app_hdr: only("AppHdr", app_hdr)?,
        document: only("Document", document)?,
    })
}

/// The `Sgntr` children of `AppHdr`.
fn sgntr_elements(doc: &Document<'_>, app_hdr: NodeId) -> Vec<NodeId> {
    doc.child_elements(app_hdr)
        .filter(|&c| doc.element(c).is_some_and(|e| doc.local(e) == "Sgntr"))
        .collect()
}
