//! `certificates`, the check both flavours run before they serve: for each certificate in use —
//! the proxy's signature and mTLS certificates, BACEN's — subject, issuer, serial, validity,
//! days left, and whether it holds the public key of the key it is paired with (KMS
//! `GetPublicKey`, the token's public key). Fails when any does not match or is not valid now.

use crate::config::names::{BCB_MTLS_CERTIFICATE, BCB_SIGNATURE_CERTIFICATE};
use crate::config::{ConfigError, Parameters, StartError};
use crate::wire::date;
use pix_xmldsig::trust::Certificate;

/// A certificate in use and what was found about its key.
#[derive(Debug, Clone)]
pub struct InUse {
    /// What it is for (`signature`, `mtls`, `bacen-signature`, `bacen-tls-anchor`).
    pub role: String,
    /// The certificate.
    pub certificate: Certificate,
    /// Whether it holds its key's public key; `None` for certificates with no key of ours.
    pub key_matches: Option<bool>,
}

impl InUse {
    /// Why this certificate cannot be used now, if it cannot.
    pub fn problem(&self, now: i64) -> Option<String> {
        let c = &self.certificate;
        if self.key_matches == Some(false) {
            return Some("does not hold the public key of its key".into());
        }
        if now < c.not_before() {
            return Some("not valid yet".into());
        }
        if now > c.not_after() {
            return Some("expired".into());
        }
        None
    }
}

/// BACEN's certificates the parameters name (either flavour's prefix), with no key of ours.
pub fn bacen_in_use(params: &Parameters) -> Result<Vec<InUse>, ConfigError> {
    let mut items = Vec::new();
    for (role, name) in [
        ("bacen-signature", &BCB_SIGNATURE_CERTIFICATE),
        ("bacen-tls-anchor", &BCB_MTLS_CERTIFICATE),
    ] {
        for certificate in params.certificates(name)? {
            items.push(InUse {
                role: role.into(),
                certificate,
                key_matches: None,
            });
        }
    }
    Ok(items)
}

/// Prints the report of `items` (ours, then BACEN's from `params`) on stdout; an error when any
/// is not usable now.
pub fn check(mut items: Vec<InUse>, params: &Parameters) -> Result<(), StartError> {
    items.extend(bacen_in_use(params)?);
    let now = crate::wire::unix_now();
    let (text, ok) = report(&items, now);
    print!("{text}");
    if ok {
        Ok(())
    } else {
        Err(StartError::Certificates(
            "a certificate in use is not usable (see above)".into(),
        ))
    }
}

/// The report, one block per certificate, and whether every one is usable.
pub fn report(items: &[InUse], now: i64) -> (String, bool) {
    let mut out = String::new();
    let mut ok = true;
    for i in items {
        let c = &i.certificate;
        let verdict = match i.problem(now) {
            Some(p) => {
                ok = false;
                format!("PROBLEM: {p}")
            }
            None => "ok".to_string(),
        };
        let key = match i.key_matches {
            Some(true) => "holds its key's public key",
            Some(false) => "does NOT hold its key's public key",
            None => "-",
        };
        out.push_str(&format!(
            "{role}: {verdict}\n  subject   {}\n  issuer    {}\n  serial    {}\n  validity  {} .. {} ({} days left)\n  key       {key}\n",
            c.subject(),
            c.issuer(),
            c.serial(),
            date(c.not_before()),
            date(c.not_after()),
            c.days_left(now),
            role = i.role,
        ));
    }
    (out, ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(1_795_000_000), "2026-11-18");
        assert_eq!(date(951_782_400), "2000-02-29");
    }
}
