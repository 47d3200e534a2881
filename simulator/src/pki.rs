//! A development PKI (`simulator pki --out DIR`): a BACEN CA with BACEN's TLS server and signature
//! certificates, and a PSP CA with the PSP's mTLS client and signature certificates. Test material
//! only: the keys are written in the clear (PKCS#8 PEM).
//!
//! | file | what |
//! |---|---|
//! | `bacen-ca.cer` | BACEN's CA (the proxy's trust anchor for the TLS server) |
//! | `bacen-tls.cer`, `bacen-tls.key` | BACEN's TLS server identity (SAN localhost, 127.0.0.1, test.pi.rsfn.net.br) |
//! | `bacen-sig.cer`, `bacen-sig.key` | BACEN's signature key (the proxy verifies responses with the certificate) |
//! | `psp-ca.cer` | the PSP's CA (the simulator's trust anchor for client certificates) |
//! | `psp-mtls.cer`, `psp-mtls.key` | the PSP's mTLS client identity |
//! | `psp-sig.cer`, `psp-sig.key` | the PSP's signature key (the simulator verifies requests with the certificate) |

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, PKCS_RSA_SHA256, SanType,
};

/// Why a PKI could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Certificate or key generation failed.
    #[error("cannot generate {what}: {reason}")]
    Generate {
        /// The certificate being made.
        what: String,
        /// rcgen's reason.
        reason: String,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {reason}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
}

/// The files of a development PKI in a directory.
#[derive(Debug, Clone)]
pub struct DevPki {
    dir: PathBuf,
}

impl DevPki {
    /// Uses the PKI already in `dir` (see the module docs for the file names).
    pub fn at(dir: &Path) -> Self {
        DevPki {
            dir: dir.to_path_buf(),
        }
    }

    /// A file of the PKI, e.g. `path("bacen-sig.cer")`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Generates a fresh PKI into `dir` (created if needed), RSA-2048, valid for ten years.
    pub fn generate(dir: &Path) -> Result<Self, PkiError> {
        std::fs::create_dir_all(dir).map_err(|e| PkiError::Write {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        let pki = DevPki::at(dir);
        let bacen = ca("BCB Simulador AC Teste")?;
        let psp = ca("PSP Exemplo AC Teste")?;
        pki.write("bacen-ca.cer", &bacen.pem())?;
        pki.write("psp-ca.cer", &psp.pem())?;
        let sans = ["localhost", "test.pi.rsfn.net.br", "127.0.0.1"];
        pki.leaf("bacen-tls", "*.pi.rsfn.net.br", &sans, Use::Server, &bacen)?;
        pki.leaf(
            "bacen-sig",
            "BCB Simulador Assinatura",
            &[],
            Use::Signature,
            &bacen,
        )?;
        pki.leaf("psp-mtls", "spi.psp-exemplo.com.br", &[], Use::Client, &psp)?;
        pki.leaf("psp-sig", "PSP Exemplo Assinatura", &[], Use::Signature, &psp)?;
        Ok(pki)
    }

    fn write(&self, name: &str, content: &str) -> Result<(), PkiError> {
        let path = self.path(name);
        std::fs::write(&path, content).map_err(|e| PkiError::Write {
            path,
            reason: e.to_string(),
        })
    }

    fn leaf(
        &self,
        name: &str,
        cn: &str,
        sans: &[&str],
        usage: Use,
        issuer: &CertifiedIssuer<'static, KeyPair>,
    ) -> Result<(), PkiError> {
        let fail = |e: rcgen::Error| PkiError::Generate {
            what: name.to_string(),
            reason: e.to_string(),
        };
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CountryName, "BR");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "PIX Simulador");
        params.distinguished_name.push(DnType::CommonName, cn);
        params.not_before = rcgen::date_time_ymd(2025, 1, 1);
        params.not_after = rcgen::date_time_ymd(2035, 1, 1);
        for san in sans {
            params.subject_alt_names.push(match san.parse() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName((*san).try_into().map_err(fail)?),
            });
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        match usage {
            Use::Server => params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth],
            Use::Client => params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth],
            Use::Signature => params.key_usages.push(KeyUsagePurpose::ContentCommitment),
        }
        let key = KeyPair::generate_for(&PKCS_RSA_SHA256).map_err(fail)?;
        let cert = params.signed_by(&key, issuer).map_err(fail)?;
        self.write(&format!("{name}.cer"), &cert.pem())?;
        self.write(&format!("{name}.key"), &key.serialize_pem())
    }
}

#[derive(Clone, Copy)]
enum Use {
    Server,
    Client,
    Signature,
}

fn ca(cn: &str) -> Result<CertifiedIssuer<'static, KeyPair>, PkiError> {
    let fail = |e: rcgen::Error| PkiError::Generate {
        what: cn.to_string(),
        reason: e.to_string(),
    };
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CountryName, "BR");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "PIX Simulador");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2035, 1, 1);
    let key = KeyPair::generate_for(&PKCS_RSA_SHA256).map_err(fail)?;
    CertifiedIssuer::self_signed(params, key).map_err(fail)
}
