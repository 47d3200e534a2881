//! The participants the simulator hosts: each an ISPB with its mTLS client certificate and its
//! signature certificates. ICOM knows who calls from the client certificate, and a message must
//! be signed with a certificate of the participant that sends it (BACEN rejects "O ISPB do
//! remetente não é o mesmo da Assinatura XML": bacen/pix-perguntas-e-respostas #221).
//!
//! A sender that is not hosted is checked against the default signature certificates
//! (`Config::psp_signature_certs`), so single-participant set-ups need no list.

use std::collections::HashMap;
use std::path::PathBuf;

use pix_xmldsig::trust::TrustStore;

/// A participant as configured.
#[derive(Debug, Clone)]
pub struct Participant {
    /// Its ISPB (8 digits).
    pub ispb: String,
    /// Its mTLS client certificate (PEM): requests with it may act only for this ISPB.
    pub client_certificate: Option<PathBuf>,
    /// Its signature certificates (PEM): its messages are verified against them.
    pub signature_certificates: Vec<PathBuf>,
}

struct Hosted {
    trust: TrustStore,
    client_certificate: Option<Vec<u8>>,
}

/// The hosted participants, loaded.
pub(crate) struct Registry {
    hosted: HashMap<String, Hosted>,
    default_trust: TrustStore,
}

impl Registry {
    /// Loads every participant's certificates; `default_trust` is for senders not hosted.
    pub(crate) fn load(participants: &[Participant], default_trust: TrustStore) -> Result<Registry, String> {
        let mut hosted = HashMap::new();
        for p in participants {
            if p.ispb.len() != 8 || !p.ispb.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("participant ISPB '{}' is not 8 digits", p.ispb));
            }
            let trust = TrustStore::from_pem_files(&p.signature_certificates)
                .map_err(|e| format!("participant {}: {e}", p.ispb))?;
            let client_certificate = match &p.client_certificate {
                Some(path) => Some(
                    crate::tls::load_certs(path)
                        .map_err(|e| format!("participant {}: {e}", p.ispb))?
                        .first()
                        .map(|c| c.to_vec())
                        .ok_or_else(|| {
                            format!("participant {}: {} holds no certificate", p.ispb, path.display())
                        })?,
                ),
                None => None,
            };
            hosted.insert(
                p.ispb.clone(),
                Hosted {
                    trust,
                    client_certificate,
                },
            );
        }
        Ok(Registry {
            hosted,
            default_trust,
        })
    }

    /// Whether the simulator hosts `ispb` (else it answers for it).
    pub(crate) fn hosts(&self, ispb: &str) -> bool {
        self.hosted.contains_key(ispb)
    }

    /// The signature certificates a message from `ispb` is verified against.
    pub(crate) fn trust_for(&self, ispb: &str) -> &TrustStore {
        self.hosted.get(ispb).map_or(&self.default_trust, |h| &h.trust)
    }

    /// The hosted participant whose client certificate this is.
    pub(crate) fn owner_of(&self, certificate: &[u8]) -> Option<&str> {
        self.hosted
            .iter()
            .find(|(_, h)| h.client_certificate.as_deref() == Some(certificate))
            .map(|(ispb, _)| ispb.as_str())
    }

    /// Why a caller with `certificate` may not act for `ispb`, if it may not: a client
    /// certificate registered to one participant is refused for another.
    pub(crate) fn refuse(&self, certificate: Option<&[u8]>, ispb: &str) -> Option<String> {
        let owner = certificate.and_then(|c| self.owner_of(c))?;
        (owner != ispb).then(|| format!("the client certificate is participant {owner}'s, not {ispb}'s"))
    }
}
