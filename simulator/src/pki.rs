//! A development PKI (`simulator pki --out DIR`): a BACEN CA with BACEN's TLS server and signature
//! certificates, and a PSP CA with the PSP's mTLS client and signature certificates. Test material
//! only: the keys are written in the clear (PKCS#8 PEM).
//!
//! | file | what |
//! |---|---|
//! | `bacen-ca.cer` | BACEN's CA (the proxy's trust anchor for the TLS server) |
//! | `bacen-tls.cer`, `bacen-tls.key` | BACEN's TLS server identity (SAN localhost, 127.0.0.1, test.pi.rsfn.net.br) |
//! | `bacen-sig.cer`, `bacen-sig.key` | BACEN's signature key (the proxy verifies responses with the certificate) |
//! | `bacen-sig-next.cer`, `bacen-sig-next.key` | the signature key BACEN changes to at a rollover (`POST /rollover` on the control port) |
//! | `psp-ca.cer` | the PSP's CA (the simulator's trust anchor for client certificates) |
//! | `psp-mtls.cer`, `psp-mtls.key` | the PSP's mTLS client identity |
//! | `psp-sig.cer`, `psp-sig.key` | the PSP's signature key (the simulator verifies requests with the certificate) |
//! | `payee-mtls.*`, `payee-sig.*` | a second PSP's mTLS and signature identities (the payee of a two-participant payment) |
//! | `bacen-ca.key`, `psp-ca.key` | the CAs' keys, so that [`DevPki::issue`] can certify keys held elsewhere (an HSM) |
//! | `bank-ca.cer`, `bank-ca.key` | the bank's internal CA, which certifies its services and the proxy's callers' side |
//! | `proxy-tls.cer`, `proxy-tls.key` | the proxy's server identity for the bank's services (SAN localhost, 127.0.0.1, pix-proxy.banco.internal) |
//! | `caller.cer`, `caller.key` | the payer bank's service (`pagamentos.banco.internal`), a client of the proxy |
//! | `payee-caller.cer`, `payee-caller.key` | the payee bank's service (`recebimentos.banco.internal`) |

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, PKCS_RSA_SHA256, PublicKeyData, SanType, SignatureAlgorithm,
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

/// The RSFN-like name in BACEN's TLS certificate of the dev PKI: clients reach the simulator by
/// address (no resolver needed) and check its certificate against this name.
pub const TLS_NAME: &str = "test.pi.rsfn.net.br";

/// The proxy's name for the bank's services in the dev PKI (its server certificate's SAN).
pub const PROXY_TLS_NAME: &str = "pix-proxy.banco.internal";
/// The payer bank's service, a caller of the proxy (its client certificate's CN and SAN).
pub const CALLER_NAME: &str = "pagamentos.banco.internal";
/// The payee bank's service, a caller of the payee's proxy.
pub const PAYEE_CALLER_NAME: &str = "recebimentos.banco.internal";

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
        pki.write("bacen-ca.key", &bacen.key().serialize_pem())?;
        pki.write("psp-ca.key", &psp.key().serialize_pem())?;
        let sans = ["localhost", TLS_NAME, "127.0.0.1"];
        pki.leaf("bacen-tls", "*.pi.rsfn.net.br", &sans, Use::Server, &bacen)?;
        pki.leaf(
            "bacen-sig",
            "BCB Simulador Assinatura",
            &[],
            Use::Signature,
            &bacen,
        )?;
        // The identity BACEN announces and switches to (the control port's `/rollover`).
        pki.leaf(
            "bacen-sig-next",
            "BCB Simulador Assinatura 2",
            &[],
            Use::Signature,
            &bacen,
        )?;
        pki.leaf("psp-mtls", "spi.psp-exemplo.com.br", &[], Use::Client, &psp)?;
        pki.leaf("psp-sig", "PSP Exemplo Assinatura", &[], Use::Signature, &psp)?;
        // A second participant (the payee of the two-participant payment).
        pki.leaf("payee-mtls", "spi.psp-recebedor.com.br", &[], Use::Client, &psp)?;
        pki.leaf("payee-sig", "PSP Recebedor Assinatura", &[], Use::Signature, &psp)?;
        // The bank's side of the proxy: its internal CA, the proxy's server identity, and the
        // services that call it (docs/operations.md, "Callers").
        let bank = ca("Banco Exemplo AC Interna")?;
        pki.write("bank-ca.cer", &bank.pem())?;
        pki.write("bank-ca.key", &bank.key().serialize_pem())?;
        let proxy_sans = ["localhost", "127.0.0.1", PROXY_TLS_NAME];
        pki.leaf("proxy-tls", PROXY_TLS_NAME, &proxy_sans, Use::Server, &bank)?;
        pki.leaf("caller", CALLER_NAME, &[CALLER_NAME], Use::Client, &bank)?;
        pki.leaf(
            "payee-caller",
            PAYEE_CALLER_NAME,
            &[PAYEE_CALLER_NAME],
            Use::Client,
            &bank,
        )?;
        Ok(pki)
    }

    /// Certifies, with the PSP CA, an RSA key held elsewhere (an HSM), given its modulus and public
    /// exponent: writes `<name>.cer` (for mTLS client use when `client`, else for signatures),
    /// with a random serial (so that certifying a key again is a renewal with a serial of its own).
    pub fn issue(
        &self,
        name: &str,
        cn: &str,
        client: bool,
        modulus: &[u8],
        exponent: &[u8],
    ) -> Result<PathBuf, PkiError> {
        let fail = |e: rcgen::Error| PkiError::Generate {
            what: name.to_string(),
            reason: e.to_string(),
        };
        let read = |f: &str| {
            std::fs::read_to_string(self.path(f)).map_err(|e| PkiError::Generate {
                what: name.to_string(),
                reason: format!("{f}: {e}"),
            })
        };
        let ca_key = KeyPair::from_pem(&read("psp-ca.key")?).map_err(fail)?;
        let issuer = Issuer::from_ca_cert_pem(&read("psp-ca.cer")?, ca_key).map_err(fail)?;
        let public = RsaPublicKey(proxy_core::csr::rsa_public_key(modulus, exponent));
        let usage = if client { Use::Client } else { Use::Signature };
        let mut params = leaf_params(cn, &[], usage).map_err(fail)?;
        // A serial of its own (rcgen's default follows from the key: a renewal for the same key
        // would repeat the serial the signatures name).
        let mut serial = [0u8; 16];
        aws_lc_rs::rand::fill(&mut serial).map_err(|_| PkiError::Generate {
            what: name.to_string(),
            reason: "no random serial".into(),
        })?;
        serial[0] &= 0x7f;
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        let cert = params.signed_by(&public, &issuer).map_err(fail)?;
        self.write(&format!("{name}.cer"), &cert.pem())?;
        Ok(self.path(&format!("{name}.cer")))
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
        let params = leaf_params(cn, sans, usage).map_err(fail)?;
        let key = KeyPair::generate_for(&PKCS_RSA_SHA256).map_err(fail)?;
        let cert = params.signed_by(&key, issuer).map_err(fail)?;
        self.write(&format!("{name}.cer"), &cert.pem())?;
        self.write(&format!("{name}.key"), &key.serialize_pem())
    }
}

/// Certificate parameters for `CN=<cn>, O=PIX Simulador, C=BR`.
fn named(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CountryName, "BR");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "PIX Simulador");
    params.distinguished_name.push(DnType::CommonName, cn);
    params
}

fn leaf_params(cn: &str, sans: &[&str], usage: Use) -> Result<CertificateParams, rcgen::Error> {
    let mut params = named(cn);
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2035, 1, 1);
    for san in sans {
        params.subject_alt_names.push(match san.parse() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName((*san).try_into()?),
        });
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    match usage {
        Use::Server => params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth],
        Use::Client => params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth],
        Use::Signature => params.key_usages.push(KeyUsagePurpose::ContentCommitment),
    }
    Ok(params)
}

/// An RSA public key known only by its numbers (the private half is in an HSM).
struct RsaPublicKey(Vec<u8>);

impl PublicKeyData for RsaPublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &PKCS_RSA_SHA256
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
    let mut params = named(cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2035, 1, 1);
    let key = KeyPair::generate_for(&PKCS_RSA_SHA256).map_err(fail)?;
    CertifiedIssuer::self_signed(params, key).map_err(fail)
}
