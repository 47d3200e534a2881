//! The callers policy: which caller may do what, for which participants. A JSON document (the
//! parameter `Callers` of either flavour, or `--callers FILE`):
//!
//! ```json
//! {"callers": [
//!   {"name": "payments", "subject": "CN=pagamentos.banco.internal, O=Banco Exemplo",
//!    "allow": {"spi-send": ["99999010"], "spi-stream": ["99999010"]}},
//!   {"name": "dict", "san": "dict.banco.internal", "allow": {"dict-read": ["*"]}},
//!   {"name": "lambda", "principal": "arn:aws:iam::123456789012:role/payments",
//!    "allow": {"spi-send": ["99999010"]}}
//! ]}
//! ```
//!
//! Each caller is named by exactly one of a certificate `subject` (compared as a distinguished
//! name), a certificate subject alternative name `san`, or an IAM `principal` ARN (a role's ARN
//! also admits its assumed-role sessions). `allow` maps permissions to ISPBs (8 digits, or `*`
//! for any). What the policy does not grant is refused; a caller named twice gets the union.

use std::collections::HashMap;

use serde::Deserialize;

use super::{Caller, Denied, Need, Permission, RefusedBecause};

/// Why a policy was refused (start-up stops, naming where).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("callers policy {source_name}: {reason}")]
pub struct PolicyError {
    /// The file or parameter it came from.
    pub source_name: String,
    /// What is wrong.
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    callers: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    san: Option<String>,
    #[serde(default)]
    principal: Option<String>,
    allow: HashMap<String, Vec<String>>,
}

/// How a policy entry recognises its caller.
#[derive(Debug, Clone)]
enum Match {
    Subject(String),
    San(String),
    Principal(String),
}

/// One caller of the policy.
#[derive(Debug, Clone)]
struct Grant {
    name: String,
    who: Match,
    allow: HashMap<Permission, Vec<String>>,
}

/// The callers policy, checked when read.
#[derive(Debug, Clone)]
pub struct Policy {
    grants: Vec<Grant>,
}

impl Policy {
    /// Parses and checks a policy; `source_name` names it in errors.
    pub fn parse(text: &str, source_name: &str) -> Result<Policy, PolicyError> {
        let fail = |reason: String| PolicyError {
            source_name: source_name.to_string(),
            reason,
        };
        let doc: Document = serde_json::from_str(text).map_err(|e| fail(e.to_string()))?;
        let mut grants = Vec::new();
        for entry in doc.callers {
            let name = entry.name.trim().to_string();
            if name.is_empty() {
                return Err(fail("a caller has an empty name".into()));
            }
            if grants.iter().any(|g: &Grant| g.name == name) {
                return Err(fail(format!("caller '{name}' is named twice")));
            }
            let who = match (entry.subject, entry.san, entry.principal) {
                (Some(s), None, None) => {
                    pix_xmldsig::trust::same_name(&s, &s)
                        .map_err(|e| fail(format!("caller '{name}': subject: {e}")))?;
                    Match::Subject(s)
                }
                (None, Some(s), None) if !s.trim().is_empty() => Match::San(s.trim().to_string()),
                (None, None, Some(p)) if p.starts_with("arn:") => Match::Principal(p.trim().to_string()),
                (None, None, Some(p)) => {
                    return Err(fail(format!("caller '{name}': principal '{p}' is not an ARN")));
                }
                _ => {
                    return Err(fail(format!(
                        "caller '{name}' needs exactly one of subject, san, principal"
                    )));
                }
            };
            let mut allow = HashMap::new();
            for (permission, ispbs) in entry.allow {
                let p = Permission::from_name(&permission).ok_or_else(|| {
                    let known: Vec<&str> = Permission::ALL.iter().map(|p| p.name()).collect();
                    fail(format!(
                        "caller '{name}': unknown permission '{permission}' (known: {})",
                        known.join(", ")
                    ))
                })?;
                for ispb in &ispbs {
                    let ok = ispb == "*" || (ispb.len() == 8 && ispb.bytes().all(|b| b.is_ascii_digit()));
                    if !ok {
                        return Err(fail(format!(
                            "caller '{name}': '{ispb}' of {permission} is neither an 8-digit ISPB nor *"
                        )));
                    }
                }
                allow.insert(p, ispbs);
            }
            grants.push(Grant { name, who, allow });
        }
        Ok(Policy { grants })
    }

    /// Reads a policy file.
    pub fn from_file(path: &std::path::Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
            source_name: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Policy::parse(&text, &path.display().to_string())
    }

    /// How many callers it names.
    pub fn len(&self) -> usize {
        self.grants.len()
    }

    /// Whether it names no caller (then nothing is allowed).
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }

    /// Whether `caller` may do what `need` says.
    pub fn decide(&self, caller: &Caller, need: &Need) -> Result<(), Denied> {
        let mine: Vec<&Grant> = self.grants.iter().filter(|g| g.who.admits(caller)).collect();
        if mine.is_empty() {
            return Err(Denied {
                because: RefusedBecause::UnknownCaller,
                detail: format!(
                    "caller {caller} is not in the callers policy; {} needs permission {}",
                    need.describe(),
                    need.permission.name()
                ),
            });
        }
        let granted = mine.iter().any(|g| {
            g.allow
                .get(&need.permission)
                .is_some_and(|ispbs| match &need.ispb {
                    Some(ispb) => ispbs.iter().any(|i| i == "*" || i == ispb),
                    // An operation about no participant (a catalog, a key check) is covered by
                    // the permission for any ISPB; any other request naming none could act for
                    // any, and only `*` covers it.
                    None if need.participant_free => !ispbs.is_empty(),
                    None => ispbs.iter().any(|i| i == "*"),
                })
        });
        if granted {
            return Ok(());
        }
        let names: Vec<&str> = mine.iter().map(|g| g.name.as_str()).collect();
        let scope = match &need.ispb {
            Some(ispb) => format!(" for ISPB {ispb}"),
            None => String::new(),
        };
        Err(Denied {
            because: RefusedBecause::NotPermitted,
            detail: format!(
                "caller {caller} (policy: {}) lacks permission {}{scope}, which {} needs",
                names.join(", "),
                need.permission.name(),
                need.describe()
            ),
        })
    }
}

impl Match {
    fn admits(&self, caller: &Caller) -> bool {
        match (self, caller) {
            (Match::Subject(s), Caller::Certificate { subject, .. }) => {
                pix_xmldsig::trust::same_name(s, subject).unwrap_or(false)
            }
            (Match::San(s), Caller::Certificate { names, .. }) => {
                names.iter().any(|n| n.eq_ignore_ascii_case(s))
            }
            (Match::Principal(p), Caller::Principal { arn }) => {
                p == arn || caller.role_arn().as_deref() == Some(p.as_str())
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"{"callers": [
        {"name": "payments", "subject": "CN=pagamentos, O=Banco", "allow": {"spi-send": ["99999010"], "spi-stream": ["99999010"]}},
        {"name": "dict", "san": "dict.banco.internal", "allow": {"dict-read": ["*"]}},
        {"name": "lambda", "principal": "arn:aws:iam::123456789012:role/payments", "allow": {"spi-send": ["*"]}}
    ]}"#;

    fn cert(subject: &str, names: &[&str]) -> Caller {
        Caller::Certificate {
            subject: subject.into(),
            names: names.iter().map(|n| n.to_string()).collect(),
        }
    }

    fn need(permission: Permission, ispb: Option<&str>) -> Need {
        Need {
            permission,
            ispb: ispb.map(str::to_string),
            participant_free: false,
        }
    }

    #[test]
    fn grants_what_it_says_and_nothing_else() {
        let p = Policy::parse(POLICY, "test").unwrap();
        let payments = cert("cn=PAGAMENTOS,o=banco", &[]);
        assert!(
            p.decide(&payments, &need(Permission::SpiSend, Some("99999010")))
                .is_ok()
        );
        let d = p
            .decide(&payments, &need(Permission::SpiSend, Some("99999020")))
            .unwrap_err();
        assert_eq!(d.because, RefusedBecause::NotPermitted);
        assert!(d.detail.contains("spi-send for ISPB 99999020"), "{}", d.detail);
        // A request naming no ISPB could act for any: only a grant of `*` covers it.
        let d = p.decide(&payments, &need(Permission::SpiSend, None)).unwrap_err();
        assert_eq!(d.because, RefusedBecause::NotPermitted);
        // A catalog concerns no participant: the permission for any ISPB covers it.
        let catalog = Need {
            participant_free: true,
            ..need(Permission::SpiSend, None)
        };
        assert!(p.decide(&payments, &catalog).is_ok());
        let d = p
            .decide(&payments, &need(Permission::DictWrite, None))
            .unwrap_err();
        assert!(d.detail.contains("dict-write"), "{}", d.detail);
        let dict = cert("CN=other", &["DICT.banco.internal"]);
        assert!(
            p.decide(&dict, &need(Permission::DictRead, Some("12345678")))
                .is_ok()
        );
        let stranger = cert("CN=intruso", &["x.banco.internal"]);
        let d = p
            .decide(&stranger, &need(Permission::DictRead, None))
            .unwrap_err();
        assert_eq!(d.because, RefusedBecause::UnknownCaller);
        let session = Caller::Principal {
            arn: "arn:aws:sts::123456789012:assumed-role/payments/i-1".into(),
        };
        assert!(
            p.decide(&session, &need(Permission::SpiSend, Some("99999010")))
                .is_ok()
        );
        assert!(p.decide(&session, &need(Permission::SpiSend, None)).is_ok());
        let other_account = Caller::Principal {
            arn: "arn:aws:sts::999999999999:assumed-role/payments/i-1".into(),
        };
        assert!(
            p.decide(&other_account, &need(Permission::SpiSend, None))
                .is_err()
        );
        // A certificate whose subject is the principal's ARN is not that principal.
        assert!(
            p.decide(
                &cert("CN=payments", &["arn:aws:iam::123456789012:role/payments"]),
                &need(Permission::SpiSend, None)
            )
            .is_err()
        );
    }

    #[test]
    fn a_bad_policy_is_refused_naming_what() {
        for (text, says) in [
            (r#"{"callers": [{"name": "a", "allow": {}}]}"#, "exactly one"),
            (
                r#"{"callers": [{"name": "a", "san": "x", "subject": "CN=x", "allow": {}}]}"#,
                "exactly one",
            ),
            (
                r#"{"callers": [{"name": "a", "san": "x", "allow": {"spi": ["*"]}}]}"#,
                "unknown permission 'spi'",
            ),
            (
                r#"{"callers": [{"name": "a", "san": "x", "allow": {"spi-send": ["123"]}}]}"#,
                "'123'",
            ),
            (
                r#"{"callers": [{"name": "a", "principal": "payments", "allow": {}}]}"#,
                "not an ARN",
            ),
            (
                r#"{"callers": [{"name": "a", "san": "x", "allow": {}}, {"name": "a", "san": "y", "allow": {}}]}"#,
                "twice",
            ),
            (
                r#"{"callers": [{"name": "a", "san": "x", "allow": {}, "deny": {}}]}"#,
                "deny",
            ),
            ("not json", "callers policy"),
        ] {
            let e = Policy::parse(text, "Callers").unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
        assert!(Policy::parse(r#"{"callers": []}"#, "x").unwrap().is_empty());
    }
}
