//! Names and namespaces: the name scanner, qualified-name checks, namespace declarations and
//! their scope.

use super::scan::{not_alphanumeric, skip_unflagged};
use super::*;

impl<'a> Builder<'a> {
    /// Namespaces in XML 1.0 `[1] NSAttName` (`xmlns`, `xmlns:p`) and `[15] Attribute`
    /// resolution.
    ///
    /// The namespace declarations and attributes of the start tag just read (`pending`): the
    /// declarations come into scope, the attributes are resolved and recorded.
    #[inline]
    pub(super) fn attributes(&mut self, qname: &'a str) -> Result<(), XmlError> {
        let attrs_start = self.doc.attrs.len();
        let pending = std::mem::take(&mut self.pending);
        for (name, value) in &pending {
            if *name == "xmlns" || name.starts_with("xmlns:") {
                let p = name.strip_prefix("xmlns:").unwrap_or("");
                check_declaration(p, value)?;
                self.doc.ns_decls.push(NsDecl {
                    prefix: p,
                    uri: value.clone(),
                });
                let index = self.doc.ns_decls.len() - 1;
                self.scope.push(index);
                if p.is_empty() {
                    self.default_ns = (!value.is_empty()).then_some(index);
                }
            }
        }
        for (name, value) in pending
            .iter()
            .filter(|(n, _)| *n != "xmlns" && !n.starts_with("xmlns:"))
        {
            let (p, l) = split_qname(name);
            let ns_uri = if p.is_empty() {
                Cow::Borrowed("")
            } else {
                let idx = self
                    .resolve(p)?
                    .ok_or_else(|| XmlError::UnboundPrefix(p.to_string()))?;
                self.doc.ns_decls[idx].uri.clone()
            };
            if !p.is_empty()
                && self.doc.attrs[attrs_start..]
                    .iter()
                    .any(|a| a.local == l && a.ns_uri == ns_uri)
            {
                return Err(XmlError::DuplicateAttribute {
                    element: qname.to_string(),
                    attribute: name.to_string(),
                });
            }
            self.doc.attrs.push(Attribute {
                qname: name,
                prefix: p,
                local: l,
                ns_uri,
                value: value.clone(),
            });
        }
        self.pending = pending;
        Ok(())
    }

    /// Namespaces in XML 1.0 §6.1, namespace scoping.
    ///
    /// The declaration binding `prefix` in the current scope; `None` for an unbound default.
    #[inline]
    pub(super) fn resolve(&self, prefix: &str) -> Result<Option<usize>, XmlError> {
        if prefix.is_empty() {
            return Ok(self.default_ns);
        }
        for &i in self.scope.iter().rev() {
            let d = &self.doc.ns_decls[i];
            if crate::xml::c14n::same(d.prefix, prefix) {
                return Ok((!d.uri.is_empty()).then_some(i));
            }
        }
        Err(XmlError::UnboundPrefix(prefix.to_string()))
    }
}

/// The first eight bytes of the `len`-byte name at `at`, zero-padded when shorter, as a
/// little-endian word (0 when the input ends within eight bytes: the bytes are then compared).
#[inline(always)]
pub(super) fn name_head(bytes: &[u8], at: usize, len: usize) -> u64 {
    bytes
        .get(at..)
        .and_then(<[u8]>::first_chunk::<8>)
        .map_or(0, |w| u64::from_le_bytes(*w) & HEAD_MASKS[len.min(8)])
}

/// `HEAD_MASKS[n]` keeps the low `n` bytes of a word.
pub(super) const HEAD_MASKS: [u64; 9] = {
    let mut m = [u64::MAX; 9];
    let mut i = 0;
    while i < 8 {
        m[i] = (1 << (8 * i)) - 1;
        i += 1;
    }
    m
};

/// How a byte behaves inside a name.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum NameByte {
    Part,
    Colon,
    End,
    Invalid,
}

pub(super) const NAME_BYTES: [NameByte; 256] = {
    let mut t = [NameByte::Part; 256];
    let ends = b" \t\n\r>/=<\"'?";
    let mut i = 0;
    while i < ends.len() {
        t[ends[i] as usize] = NameByte::End;
        i += 1;
    }
    let invalid = b"&;![](){},`$%*+@^|~#\\";
    let mut i = 0;
    while i < invalid.len() {
        t[invalid[i] as usize] = NameByte::Invalid;
        i += 1;
    }
    t[b':' as usize] = NameByte::Colon;
    let mut c = 0;
    while c < 0x20 {
        if t[c].eq_part() {
            t[c] = NameByte::Invalid;
        }
        c += 1;
    }
    t
};

impl NameByte {
    const fn eq_part(self) -> bool {
        matches!(self, NameByte::Part)
    }
}

/// Where the colons of a name are, as [`scan_name`] saw them.
#[derive(Clone, Copy)]
pub(super) enum Colons {
    None,
    /// Exactly one, at this offset in the name.
    One(usize),
    Several,
}

/// `[5] Name ::= NameStartChar (NameChar)*`, as far as its bytes go (ASCII delimiters end it).
///
/// End of the name starting at `i` (the first delimiter) and its colons, or the offset of a byte
/// no name has.
#[inline]
pub(super) fn scan_name(bytes: &[u8], start: usize) -> Result<(usize, Colons), usize> {
    let mut i = start;
    let mut colons = Colons::None;
    loop {
        // ASCII letters and digits, nearly all of a name, eight at a time; then the byte that
        // stopped them, and any other name byte, one at a time.
        i = skip_unflagged(bytes, i, not_alphanumeric);
        while bytes
            .get(i)
            .is_some_and(|&b| NAME_BYTES[usize::from(b)] == NameByte::Part)
        {
            i += 1;
        }
        match bytes.get(i).map(|&b| NAME_BYTES[usize::from(b)]) {
            Some(NameByte::Colon) => {
                colons = match colons {
                    Colons::None => Colons::One(i - start),
                    _ => Colons::Several,
                };
                i += 1;
            }
            Some(NameByte::Invalid) => return Err(i),
            _ => return Ok((i, colons)),
        }
    }
}

/// `[4] NameStartChar` for the first byte (the rest `scan_name` checked).
///
/// A name (delimiters and invalid bytes were refused by `scan_name`): not empty, not starting
/// with a digit, `-` or `.`.
#[inline]
pub(super) fn check_name(name: &str) -> Result<(), String> {
    match name.as_bytes().first() {
        None => Err("empty name".into()),
        Some(b'-' | b'.' | b'0'..=b'9') => Err(format!("'{name}' is not a valid name")),
        Some(_) => Ok(()),
    }
}

/// Namespaces in XML 1.0 `[7] QName ::= PrefixedName | UnprefixedName`.
///
/// A qualified name (`colons` as [`scan_name`] found them): a name with at most one colon, and
/// a non-empty prefix and local part.
#[inline(always)]
pub(super) fn check_qname(name: &str, colons: Colons) -> Result<(), String> {
    // Nearly every name: no colon, starting with a letter.
    if matches!(colons, Colons::None) && name.as_bytes().first().is_some_and(u8::is_ascii_alphabetic) {
        return Ok(());
    }
    check_qname_fully(name, colons)
}

#[inline]
pub(super) fn check_qname_fully(name: &str, colons: Colons) -> Result<(), String> {
    check_name(name)?;
    match colons {
        Colons::None => Ok(()),
        Colons::One(i) if i + 1 < name.len() => check_name(&name[i + 1..]),
        _ => Err(format!("'{name}' is not a valid qualified name")),
    }
}

/// An attribute c14n writes as the source does, its value aside: unprefixed (so no namespace to
/// render), not a namespace declaration, and after `previous` in c14n's order (by local name for
/// attributes without a namespace).
#[inline]
pub(super) fn canonical_attribute(name: &str, colons: Colons, previous: Option<&str>) -> bool {
    matches!(colons, Colons::None) && name != "xmlns" && previous.is_none_or(|p| p < name)
}

pub(super) fn check_declaration(prefix: &str, uri: &str) -> Result<(), XmlError> {
    let bad = match prefix {
        "xmlns" => true,
        "xml" => uri != XML_NS,
        "" => uri == XML_NS || uri == XMLNS_NS,
        _ => uri.is_empty() || uri == XML_NS || uri == XMLNS_NS,
    };
    if bad {
        return Err(XmlError::Structure(format!(
            "illegal namespace declaration of prefix '{prefix}' as '{uri}'"
        )));
    }
    Ok(())
}
#[inline]
pub(super) fn split_qname(qname: &str) -> (&str, &str) {
    match qname.bytes().position(|b| b == b':') {
        Some(i) => (&qname[..i], &qname[i + 1..]),
        None => ("", qname),
    }
}
