//! Distinguished names (RFC 4514) as signatures write them and certificates hold them. Different
//! implementations write the same name differently (`CN=a, O=b` vs `CN=a,O=b`, keywords vs OIDs,
//! case), so names are reduced to a [`NameKey`] and compared as names, not as strings.

use std::fmt::Write as _;

use x509_parser::prelude::X509Name;

use super::TrustError;

/// A distinguished name reduced for comparison: RDNs in certificate order (least specific first),
/// each a sorted list of (attribute OID, normalized value).
pub(super) type NameKey = Vec<Vec<(String, String)>>;

/// Attribute keywords of RFC 4514 (and the usual extras) with their OIDs; the first keyword of an
/// OID is the one we write.
const KEYWORDS: &[(&str, &str)] = &[
    ("CN", "2.5.4.3"),
    ("SN", "2.5.4.4"),
    ("SERIALNUMBER", "2.5.4.5"),
    ("C", "2.5.4.6"),
    ("L", "2.5.4.7"),
    ("ST", "2.5.4.8"),
    ("S", "2.5.4.8"),
    ("STREET", "2.5.4.9"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("T", "2.5.4.12"),
    ("TITLE", "2.5.4.12"),
    ("GIVENNAME", "2.5.4.42"),
    ("DC", "0.9.2342.19200300.100.1.25"),
    ("UID", "0.9.2342.19200300.100.1.1"),
    ("EMAILADDRESS", "1.2.840.113549.1.9.1"),
    ("E", "1.2.840.113549.1.9.1"),
];

fn keyword_oid(keyword: &str) -> Option<&'static str> {
    KEYWORDS
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(keyword))
        .map(|(_, o)| *o)
}

fn oid_keyword(oid: &str) -> Option<&'static str> {
    KEYWORDS.iter().find(|(_, o)| *o == oid).map(|(k, _)| *k)
}

/// Renders a certificate name as `X509IssuerName` is written: most specific RDN first, `, `
/// between RDNs, `+` between the values of a multi-valued RDN, RFC 4514 escaping.
pub(super) fn render_name(name: &X509Name<'_>) -> String {
    let mut rdns: Vec<String> = Vec::new();
    for rdn in name.iter_rdn() {
        let avas: Vec<String> = rdn
            .iter()
            .map(|ava| {
                let oid = ava.attr_type().to_id_string();
                match (oid_keyword(&oid), ava_string(ava)) {
                    (Some(k), Some(v)) => format!("{k}={}", escape_value(&v)),
                    _ => format!("{oid}=#{}", hex(&ava_tlv(ava))),
                }
            })
            .collect();
        rdns.push(avas.join("+"));
    }
    rdns.reverse();
    rdns.join(", ")
}

pub(super) fn name_key(name: &X509Name<'_>) -> NameKey {
    name.iter_rdn()
        .map(|rdn| {
            let mut avas: Vec<(String, String)> = rdn
                .iter()
                .map(|ava| {
                    let value = match ava_string(ava) {
                        Some(s) => fold(&s),
                        None => format!("#{}", hex(&ava_tlv(ava))),
                    };
                    (ava.attr_type().to_id_string(), value)
                })
                .collect();
            avas.sort();
            avas
        })
        .collect()
}

fn ava_string(ava: &x509_parser::x509::AttributeTypeAndValue<'_>) -> Option<String> {
    let any = ava.attr_value();
    der_string(any.tag().0, any.data)
}

fn ava_tlv(ava: &x509_parser::x509::AttributeTypeAndValue<'_>) -> Vec<u8> {
    let any = ava.attr_value();
    let mut tlv = vec![any.tag().0 as u8];
    let len = any.data.len();
    if len < 0x80 {
        tlv.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|&b| b == 0).collect();
        tlv.push(0x80 | bytes.len() as u8);
        tlv.extend_from_slice(&bytes);
    }
    tlv.extend_from_slice(any.data);
    tlv
}

/// The text of a DER string value (UTF8, Printable, IA5, Numeric, Teletex as Latin-1, BMP).
fn der_string(tag: u32, data: &[u8]) -> Option<String> {
    match tag {
        0x0c | 0x12 | 0x13 | 0x16 => std::str::from_utf8(data).ok().map(str::to_string),
        0x14 => Some(data.iter().map(|&b| b as char).collect()),
        0x1e if data.len().is_multiple_of(2) => {
            let units: Vec<u16> = data.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

/// Case- and white-space-insensitive form of a string value (LDAP caseIgnoreMatch, roughly).
fn fold(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

fn escape_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Parses an RFC 4514 (or RFC 2253 / 1779 style) distinguished name into a [`NameKey`]: attribute
/// after attribute (`type=value`), `+` joining those of one RDN, `,` or `;` ending it.
pub(super) fn parse_name(text: &str) -> Result<NameKey, TrustError> {
    if text.trim().is_empty() {
        return Err(bad_name(text, "empty name"));
    }
    let mut cursor = Cursor {
        text,
        chars: text.chars().collect(),
        i: 0,
    };
    let mut rdns: NameKey = Vec::new();
    let mut rdn: Vec<(String, String)> = Vec::new();
    loop {
        cursor.skip_spaces();
        let oid = cursor.attribute_type()?;
        cursor.skip_spaces();
        let value = cursor.attribute_value()?;
        rdn.push((oid, value));
        cursor.skip_spaces();
        match cursor.peek() {
            Some('+') => cursor.i += 1,
            Some(',' | ';') => {
                cursor.i += 1;
                rdn.sort();
                rdns.push(std::mem::take(&mut rdn));
            }
            None => {
                rdn.sort();
                rdns.push(rdn);
                break;
            }
            Some(c) => return Err(cursor.bad(&format!("unexpected '{c}'"))),
        }
    }
    rdns.reverse();
    Ok(rdns)
}

fn bad_name(text: &str, reason: &str) -> TrustError {
    TrustError::BadName {
        name: text.to_string(),
        reason: reason.to_string(),
    }
}

/// A position in a name being parsed.
struct Cursor<'t> {
    text: &'t str,
    chars: Vec<char>,
    i: usize,
}

impl Cursor<'_> {
    fn bad(&self, reason: &str) -> TrustError {
        bad_name(self.text, reason)
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(' ') {
            self.i += 1;
        }
    }

    /// The attribute type up to `=`, as an OID: a keyword's, or a dotted one (`OID.` allowed).
    fn attribute_type(&mut self) -> Result<String, TrustError> {
        let start = self.i;
        while self.peek().is_some_and(|c| c != '=') {
            self.i += 1;
        }
        if self.peek().is_none() {
            return Err(self.bad("attribute without '='"));
        }
        let ty: String = self.chars[start..self.i]
            .iter()
            .collect::<String>()
            .trim()
            .to_string();
        self.i += 1;
        if let Some(k) = keyword_oid(&ty) {
            return Ok(k.to_string());
        }
        let dotted = ty
            .strip_prefix("OID.")
            .or_else(|| ty.strip_prefix("oid."))
            .unwrap_or(&ty);
        if dotted.is_empty()
            || !dotted
                .split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(self.bad(&format!("unknown attribute type '{ty}'")));
        }
        Ok(dotted.to_string())
    }

    /// The attribute value, as compared: `#hex` (the DER value), `"quoted"`, or plain with `\`
    /// escapes (a character, or two hex digits of a byte).
    fn attribute_value(&mut self) -> Result<String, TrustError> {
        match self.peek() {
            Some('#') => {
                self.i += 1;
                let start = self.i;
                while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                    self.i += 1;
                }
                let hexs: String = self.chars[start..self.i].iter().collect();
                let bytes = unhex(&hexs).ok_or_else(|| self.bad("bad hex value"))?;
                Ok(hex_value_key(&bytes))
            }
            Some('"') => self.quoted(),
            _ => self.plain(),
        }
    }

    fn quoted(&mut self) -> Result<String, TrustError> {
        self.i += 1;
        let mut v = String::new();
        while self.peek().is_some_and(|c| c != '"') {
            if self.chars[self.i] == '\\' && self.i + 1 < self.chars.len() {
                self.i += 1;
            }
            v.push(self.chars[self.i]);
            self.i += 1;
        }
        if self.peek().is_none() {
            return Err(self.bad("unterminated quoted value"));
        }
        self.i += 1;
        Ok(fold(&v))
    }

    fn plain(&mut self) -> Result<String, TrustError> {
        let mut bytes: Vec<u8> = Vec::new();
        let mut buf = [0u8; 4];
        while let Some(c) = self.peek().filter(|c| !matches!(c, ',' | '+' | ';')) {
            if c == '\\' {
                self.i += 1;
                let Some(escaped) = self.peek() else {
                    return Err(self.bad("dangling '\\'"));
                };
                let pair: Option<String> = self.chars.get(self.i..self.i + 2).map(|p| p.iter().collect());
                if let Some(b) = pair.as_deref().and_then(|p| u8::from_str_radix(p, 16).ok()) {
                    bytes.push(b);
                    self.i += 2;
                    continue;
                }
                bytes.extend_from_slice(escaped.encode_utf8(&mut buf).as_bytes());
            } else {
                bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            self.i += 1;
        }
        let v = String::from_utf8(bytes).map_err(|_| self.bad("escaped bytes are not UTF-8"))?;
        Ok(fold(&v))
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() || !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// The comparison form of a `#hex` value: the string inside when it is a DER string, else the hex.
fn hex_value_key(tlv: &[u8]) -> String {
    let parsed = (|| {
        let (&tag, rest) = tlv.split_first()?;
        let (&len0, rest) = rest.split_first()?;
        let (len, rest) = if len0 < 0x80 {
            (len0 as usize, rest)
        } else {
            let n = (len0 & 0x7f) as usize;
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n].iter().fold(0usize, |a, &b| (a << 8) | b as usize);
            (len, &rest[n..])
        };
        if rest.len() != len {
            return None;
        }
        der_string(u32::from(tag), rest)
    })();
    match parsed {
        Some(s) => fold(&s),
        None => format!("#{}", hex(tlv)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_as_names() {
        let a = parse_name("CN=SERASA Autoridade Certificadora v5, OU=CSPB-4, O=ICP-Brasil, C=BR").unwrap();
        let b = parse_name("cn=serasa  autoridade certificadora v5,ou=CSPB-4,o=ICP-Brasil;C=BR").unwrap();
        let c = parse_name("2.5.4.3=#0c22534552415341204175746f72696461646520436572746966696361646f7261207635,OU=CSPB-4,O=ICP-Brasil,C=BR").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a[0], vec![("2.5.4.6".to_string(), "br".to_string())]);
        let d = parse_name("CN=Other, OU=CSPB-4, O=ICP-Brasil, C=BR").unwrap();
        assert_ne!(a, d);
    }

    #[test]
    fn escapes_and_multivalued_rdns() {
        let a = parse_name(r"CN=Silva\, João+UID=42, O=Banco \22X\22").unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[1].len(), 2);
        assert!(a[1].contains(&("2.5.4.3".to_string(), "silva, joão".to_string())));
        assert_eq!(a[0][0].1, "banco \"x\"");
        assert_eq!(escape_value("a,b "), "a\\,b\\ ");
    }

    #[test]
    fn bad_names_are_errors() {
        assert!(matches!(parse_name("CN"), Err(TrustError::BadName { .. })));
        assert!(matches!(parse_name("FOO=bar"), Err(TrustError::BadName { .. })));
        assert!(matches!(parse_name(""), Err(TrustError::BadName { .. })));
    }
}
