//! Certificates and the trust store.
//!
//! A signature names its key by `X509IssuerSerial`: the issuer's distinguished name as a string
//! and the certificate's serial number in decimal. Different implementations write the same name
//! differently (`CN=a, O=b` vs `CN=a,O=b`, keywords vs OIDs, case), so names are parsed (RFC 4514)
//! and compared as names, not as strings.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

/// Why a certificate could not be loaded or a key could not be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// The bytes are not a DER X.509 certificate.
    #[error("not an X.509 certificate: {0}")]
    BadCertificate(String),
    /// No `CERTIFICATE` block in a PEM input.
    #[error("no PEM certificate found in {0}")]
    NoPem(String),
    /// A file could not be read.
    #[error("cannot read {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The certificate's key is not an RSA key of 2048 bits or more.
    #[error("certificate {subject} does not hold an RSA key of 2048 to 8192 bits")]
    NotRsa {
        /// The certificate's subject.
        subject: String,
    },
    /// An `X509IssuerName` that is not a distinguished name.
    #[error("X509IssuerName '{name}' is not a distinguished name: {reason}")]
    BadName {
        /// The text as found.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An `X509SerialNumber` that is not a non-negative decimal integer.
    #[error("X509SerialNumber '{0}' is not a decimal integer")]
    BadSerial(String),
    /// No trusted certificate has this issuer and serial.
    #[error("no trusted certificate with issuer '{issuer}' and serial {serial}")]
    Unknown {
        /// The issuer as written in the signature.
        issuer: String,
        /// The serial as written in the signature.
        serial: String,
    },
    /// The certificate's validity period has ended.
    #[error("certificate {subject} (serial {serial}) expired at {not_after} (unix time)")]
    Expired {
        /// The certificate's subject.
        subject: String,
        /// Its serial, decimal.
        serial: String,
        /// End of validity, seconds since the epoch.
        not_after: i64,
    },
    /// The certificate's validity period has not begun.
    #[error("certificate {subject} (serial {serial}) is not valid before {not_before} (unix time)")]
    NotYetValid {
        /// The certificate's subject.
        subject: String,
        /// Its serial, decimal.
        serial: String,
        /// Start of validity, seconds since the epoch.
        not_before: i64,
    },
}

/// An X.509 certificate with what the signature profiles need from it, parsed once.
#[derive(Debug, Clone)]
pub struct Certificate {
    der: Vec<u8>,
    subject: String,
    issuer: String,
    issuer_key: NameKey,
    serial: String,
    not_before: i64,
    not_after: i64,
    rsa_public_key: Vec<u8>,
}

impl Certificate {
    /// Parses a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, TrustError> {
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|e| TrustError::BadCertificate(e.to_string()))?;
        let validity = cert.validity();
        Ok(Certificate {
            der: der.to_vec(),
            subject: render_name(cert.subject()),
            issuer: render_name(cert.issuer()),
            issuer_key: name_key(cert.issuer()),
            serial: cert.serial.to_string(),
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
            rsa_public_key: cert.public_key().subject_public_key.data.to_vec(),
        })
    }

    /// Parses every `CERTIFICATE` block of a PEM text (`what` names the source in errors).
    pub fn all_from_pem(pem: &[u8], what: &str) -> Result<Vec<Self>, TrustError> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .map(|c| c.map_err(|e| TrustError::BadCertificate(format!("{what}: {e}"))))
            .map(|c| c.and_then(|c| Certificate::from_der(&c)))
            .collect::<Result<Vec<_>, _>>()?;
        if certs.is_empty() {
            return Err(TrustError::NoPem(what.to_string()));
        }
        Ok(certs)
    }

    /// The start of its validity, seconds since the epoch.
    pub fn not_before(&self) -> i64 {
        self.not_before
    }

    /// The end of its validity, seconds since the epoch.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// Whole days from `now` (seconds since the epoch) to the end of its validity; negative once
    /// expired.
    pub fn days_left(&self, now: i64) -> i64 {
        (self.not_after - now).div_euclid(86_400)
    }

    /// Parses the first certificate of a PEM text (`what` names the source in errors).
    pub fn from_pem(pem: &[u8], what: &str) -> Result<Self, TrustError> {
        let mut all = Self::all_from_pem(pem, what)?;
        Ok(all.swap_remove(0))
    }

    /// Reads the first certificate of a PEM file.
    pub fn from_pem_file(path: &Path) -> Result<Self, TrustError> {
        Self::from_pem(&read(path)?, &path.display().to_string())
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The subject, most specific RDN first (`CN=…, O=…, C=BR`).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The issuer as `X509IssuerName` carries it: most specific RDN first, `, ` between RDNs.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The serial number in decimal, as `X509SerialNumber` carries it.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The subjectPublicKey bits: for RSA, the DER `RSAPublicKey`.
    pub fn rsa_public_key(&self) -> &[u8] {
        &self.rsa_public_key
    }

    /// True when `signature` is an RSASSA-PKCS1-v1_5 SHA-256 signature of `message` by this
    /// certificate's key (used to prove that a key held elsewhere matches its certificate).
    pub fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        aws_lc_rs::signature::UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &self.rsa_public_key)
            .verify(message, signature)
            .is_ok()
    }

    /// Checks that `now` (seconds since the epoch) lies within the validity period.
    pub fn check_validity(&self, now: i64) -> Result<(), TrustError> {
        if now > self.not_after {
            return Err(TrustError::Expired {
                subject: self.subject.clone(),
                serial: self.serial.clone(),
                not_after: self.not_after,
            });
        }
        if now < self.not_before {
            return Err(TrustError::NotYetValid {
                subject: self.subject.clone(),
                serial: self.serial.clone(),
                not_before: self.not_before,
            });
        }
        Ok(())
    }
}

/// A certificate the trust store holds, with its public key ready for verification.
#[derive(Debug)]
pub struct TrustedKey {
    /// The certificate.
    pub certificate: Certificate,
    /// Its RSA public key, parsed once.
    pub key: ParsedPublicKey,
}

/// Trusted signing certificates, found by issuer name and serial number.
#[derive(Debug, Default)]
pub struct TrustStore {
    keys: Vec<TrustedKey>,
    /// Index into `keys` by issuer name (parsed, compared as names) and serial.
    by_issuer_serial: HashMap<(NameKey, String), usize>,
    /// Issuer names as the certificates render them (what signers usually write), with each
    /// certificate's serial and index: found without parsing the name.
    by_issuer_text: HashMap<String, Vec<(String, usize)>>,
}

impl TrustStore {
    /// An empty store: it trusts nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding every certificate of these PEM files.
    pub fn from_pem_files<P: AsRef<Path>>(paths: &[P]) -> Result<Self, TrustError> {
        let mut store = Self::new();
        for p in paths {
            let p = p.as_ref();
            for cert in Certificate::all_from_pem(&read(p)?, &p.display().to_string())? {
                store.add(cert)?;
            }
        }
        Ok(store)
    }

    /// Trusts a certificate's key for signatures.
    pub fn add(&mut self, certificate: Certificate) -> Result<(), TrustError> {
        let key =
            ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &certificate.rsa_public_key).map_err(|_| {
                TrustError::NotRsa {
                    subject: certificate.subject.clone(),
                }
            })?;
        let id = (certificate.issuer_key.clone(), certificate.serial.clone());
        let index = match self.by_issuer_serial.get(&id) {
            // The same certificate again (or another with its issuer and serial): the last wins.
            Some(&i) => {
                self.keys[i] = TrustedKey { certificate, key };
                return Ok(());
            }
            None => self.keys.len(),
        };
        self.by_issuer_text
            .entry(certificate.issuer.clone())
            .or_default()
            .push((certificate.serial.clone(), index));
        self.keys.push(TrustedKey { certificate, key });
        self.by_issuer_serial.insert(id, index);
        Ok(())
    }

    /// The trusted certificates, in the order they were added.
    pub fn certificates(&self) -> impl Iterator<Item = &Certificate> {
        self.keys.iter().map(|k| &k.certificate)
    }

    /// Number of trusted certificates.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when the store trusts nothing.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Finds the trusted certificate named by `X509IssuerName` / `X509SerialNumber` and checks
    /// that it is valid at `now` (seconds since the epoch).
    pub fn lookup(&self, issuer: &str, serial: &str, now: i64) -> Result<&TrustedKey, TrustError> {
        let serial_norm = normalize_serial(serial)?;
        // The name exactly as a trusted certificate renders it needs no parsing.
        let known = self.by_issuer_text.get(issuer.trim()).and_then(|certs| {
            certs
                .iter()
                .find(|(s, _)| *s == serial_norm)
                .map(|&(_, index)| index)
        });
        let index = match known {
            Some(index) => Some(index),
            None => self
                .by_issuer_serial
                .get(&(parse_name(issuer)?, serial_norm))
                .copied(),
        };
        let found = index
            .and_then(|i| self.keys.get(i))
            .ok_or_else(|| TrustError::Unknown {
                issuer: issuer.to_string(),
                serial: serial.trim().to_string(),
            })?;
        found.certificate.check_validity(now)?;
        Ok(found)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TrustError> {
    std::fs::read(path).map_err(|e| TrustError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

fn normalize_serial(serial: &str) -> Result<String, TrustError> {
    let s = serial.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TrustError::BadSerial(serial.to_string()));
    }
    let s = s.trim_start_matches('0');
    Ok(if s.is_empty() { "0".into() } else { s.into() })
}

/// A distinguished name reduced for comparison: RDNs in certificate order (least specific first),
/// each a sorted list of (attribute OID, normalized value).
type NameKey = Vec<Vec<(String, String)>>;

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
fn render_name(name: &X509Name<'_>) -> String {
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

fn name_key(name: &X509Name<'_>) -> NameKey {
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

/// Parses an RFC 4514 (or RFC 2253 / 1779 style) distinguished name into a [`NameKey`].
fn parse_name(text: &str) -> Result<NameKey, TrustError> {
    let bad = |reason: &str| TrustError::BadName {
        name: text.to_string(),
        reason: reason.to_string(),
    };
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut rdns: NameKey = Vec::new();
    let mut rdn: Vec<(String, String)> = Vec::new();
    if text.trim().is_empty() {
        return Err(bad("empty name"));
    }
    loop {
        while i < chars.len() && chars[i] == ' ' {
            i += 1;
        }
        let start = i;
        while i < chars.len() && chars[i] != '=' {
            i += 1;
        }
        if i >= chars.len() {
            return Err(bad("attribute without '='"));
        }
        let ty: String = chars[start..i].iter().collect::<String>().trim().to_string();
        i += 1;
        let oid = if let Some(k) = keyword_oid(&ty) {
            k.to_string()
        } else {
            let dotted = ty
                .strip_prefix("OID.")
                .or_else(|| ty.strip_prefix("oid."))
                .unwrap_or(&ty);
            if dotted.is_empty()
                || !dotted
                    .split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(bad(&format!("unknown attribute type '{ty}'")));
            }
            dotted.to_string()
        };
        while i < chars.len() && chars[i] == ' ' {
            i += 1;
        }
        let value = if i < chars.len() && chars[i] == '#' {
            i += 1;
            let start = i;
            while i < chars.len() && chars[i].is_ascii_hexdigit() {
                i += 1;
            }
            let hexs: String = chars[start..i].iter().collect();
            let bytes = unhex(&hexs).ok_or_else(|| bad("bad hex value"))?;
            hex_value_key(&bytes)
        } else if i < chars.len() && chars[i] == '"' {
            i += 1;
            let mut v = String::new();
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                }
                v.push(chars[i]);
                i += 1;
            }
            if i >= chars.len() {
                return Err(bad("unterminated quoted value"));
            }
            i += 1;
            fold(&v)
        } else {
            let mut bytes: Vec<u8> = Vec::new();
            while i < chars.len() && !matches!(chars[i], ',' | '+' | ';') {
                if chars[i] == '\\' {
                    i += 1;
                    let Some(&c) = chars.get(i) else {
                        return Err(bad("dangling '\\'"));
                    };
                    let pair: Option<String> = chars.get(i..i + 2).map(|p| p.iter().collect());
                    if let Some(b) = pair.as_deref().and_then(|p| u8::from_str_radix(p, 16).ok()) {
                        bytes.push(b);
                        i += 2;
                        continue;
                    }
                    let mut buf = [0u8; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                } else {
                    let mut buf = [0u8; 4];
                    bytes.extend_from_slice(chars[i].encode_utf8(&mut buf).as_bytes());
                }
                i += 1;
            }
            let v = String::from_utf8(bytes).map_err(|_| bad("escaped bytes are not UTF-8"))?;
            fold(&v)
        };
        rdn.push((oid, value));
        while i < chars.len() && chars[i] == ' ' {
            i += 1;
        }
        match chars.get(i) {
            Some('+') => i += 1,
            Some(',') | Some(';') => {
                i += 1;
                rdn.sort();
                rdns.push(std::mem::take(&mut rdn));
            }
            None => {
                rdn.sort();
                rdns.push(rdn);
                break;
            }
            Some(c) => return Err(bad(&format!("unexpected '{c}'"))),
        }
    }
    rdns.reverse();
    Ok(rdns)
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
    fn bad_names_and_serials_are_errors() {
        assert!(matches!(parse_name("CN"), Err(TrustError::BadName { .. })));
        assert!(matches!(parse_name("FOO=bar"), Err(TrustError::BadName { .. })));
        assert!(matches!(parse_name(""), Err(TrustError::BadName { .. })));
        assert!(matches!(normalize_serial("12a"), Err(TrustError::BadSerial(_))));
        assert_eq!(normalize_serial(" 007 ").unwrap(), "7");
    }
}
