//! A caller's identity, as the front end authenticated it.

use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Nobody authenticated: callers are not authenticated on this port, or the Lambda's request
    /// context carries no IAM principal.
    Unauthenticated,
    /// A client certificate the TLS handshake verified against the bank's CA.
    Certificate {
        /// Its subject, RFC 4514 (most specific first).
        subject: String,
        /// Its subject alternative names: DNS names, URIs, e-mail addresses, IP addresses.
        names: Vec<String>,
    },
    /// An IAM principal API Gateway authenticated (SigV4): the request context's `userArn`.
    Principal {
        /// Its ARN, e.g. `arn:aws:sts::123456789012:assumed-role/payments/i-0abc`.
        arn: String,
    },
    /// The proxy itself: its stream consumer (never a caller of a policy).
    Service {
        /// Which part, e.g. `consumer`.
        name: String,
    },
}

impl Caller {
    /// The caller of a verified client certificate (DER); a certificate that does not parse
    /// (the handshake verified it, so it does) is `Unauthenticated`.
    pub fn from_certificate(der: &[u8]) -> Caller {
        let Ok(certificate) = pix_xmldsig::trust::Certificate::from_der(der) else {
            return Caller::Unauthenticated;
        };
        let mut names = Vec::new();
        if let Ok((_, x509)) = X509Certificate::from_der(der)
            && let Ok(Some(san)) = x509.subject_alternative_name()
        {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(n) | GeneralName::URI(n) | GeneralName::RFC822Name(n) => {
                        names.push((*n).to_string())
                    }
                    GeneralName::IPAddress(b) => names.extend(ip(b)),
                    _ => {}
                }
            }
        }
        Caller::Certificate {
            subject: certificate.subject().to_string(),
            names,
        }
    }

    /// The role ARN of an assumed-role session (`arn:aws:sts::A:assumed-role/R/S` →
    /// `arn:aws:iam::A:role/R`), the name a policy grants to: sessions change, the role does not.
    /// Another principal's ARN as it is.
    pub fn role_arn(&self) -> Option<String> {
        let Caller::Principal { arn } = self else {
            return None;
        };
        let rest = arn.strip_prefix("arn:aws:sts::")?;
        let (account, session) = rest.split_once(":assumed-role/")?;
        let role = session.split('/').next()?;
        Some(format!("arn:aws:iam::{account}:role/{role}"))
    }
}

/// An IP address SAN as text.
fn ip(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes)
            .ok()
            .map(|b| std::net::Ipv4Addr::from(b).to_string()),
        16 => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|b| std::net::Ipv6Addr::from(b).to_string()),
        _ => None,
    }
}

impl std::fmt::Display for Caller {
    /// The identity as the audit record and the logs write it: `unauthenticated`,
    /// `certificate:<subject>`, `iam:<arn>`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Caller::Unauthenticated => write!(f, "unauthenticated"),
            Caller::Certificate { subject, .. } => write!(f, "certificate:{subject}"),
            Caller::Principal { arn } => write!(f, "iam:{arn}"),
            Caller::Service { name } => write!(f, "service:{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_assumed_role_session_is_its_role() {
        let c = Caller::Principal {
            arn: "arn:aws:sts::123456789012:assumed-role/payments/i-0abc".into(),
        };
        assert_eq!(
            c.role_arn().as_deref(),
            Some("arn:aws:iam::123456789012:role/payments")
        );
        let user = Caller::Principal {
            arn: "arn:aws:iam::123456789012:user/alice".into(),
        };
        assert_eq!(user.role_arn(), None);
        assert_eq!(user.to_string(), "iam:arn:aws:iam::123456789012:user/alice");
    }

    #[test]
    fn a_certificate_gives_its_subject_and_names() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["pagamentos.banco.internal".into()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Banco");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "pagamentos");
        let cert = params.self_signed(&key).unwrap();
        let caller = Caller::from_certificate(cert.der());
        let Caller::Certificate { subject, names } = &caller else {
            panic!("{caller:?}")
        };
        assert!(
            subject.contains("CN=pagamentos") && subject.contains("O=Banco"),
            "{subject}"
        );
        assert_eq!(names, &["pagamentos.banco.internal"]);
        assert!(caller.to_string().starts_with("certificate:"));
        assert_eq!(Caller::from_certificate(b"junk"), Caller::Unauthenticated);
    }
}
