//! A throwaway PKI for signature tests, made at test time (proxy-core's tests, bench and
//! examples).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, PKCS_RSA_SHA256,
    SerialNumber,
};
use tempfile::TempDir;

/// A test PKI in a temp dir: a CA, a signing certificate it issued, one that expired, and one
/// from another CA that nobody trusts. Keys are PKCS#8 PEM, generated fresh for every run.
pub struct Pki {
    /// Where the files are (deleted on drop).
    pub dir: TempDir,
    /// The signing key, PKCS#8 PEM.
    pub key: PathBuf,
    /// Its certificate, issued by `ca.cer`.
    pub cert: PathBuf,
    /// A key whose certificate expired in 2020.
    pub expired_key: PathBuf,
    /// That certificate.
    pub expired_cert: PathBuf,
    /// A key certified by a CA nobody trusts.
    pub rogue_key: PathBuf,
    /// That certificate.
    pub rogue_cert: PathBuf,
}

fn new_ca(cn: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CountryName, "BR");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "ICP-Brasil");
    params
        .distinguished_name
        .push(DnType::OrganizationalUnitName, "CSPB-4");
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate_for(&PKCS_RSA_SHA256).expect("RSA key generation");
    CertifiedIssuer::self_signed(params, key).expect("CA certificate")
}

fn leaf(
    dir: &Path,
    name: &str,
    cn: &str,
    issuer: &CertifiedIssuer<'static, KeyPair>,
    expired: bool,
) -> (PathBuf, PathBuf) {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CountryName, "BR");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Banco Exemplo S.A.");
    params.distinguished_name.push(DnType::CommonName, cn);
    // A large serial, as ICP-Brasil issues them: the decimal form is long.
    params.serial_number = Some(SerialNumber::from_slice(&[
        0x3a, 0x1f, 0x00, 0xbc, 0x42, 0x99, 0x10, 0x07, 0x55, 0xee, 0x01, 0x02, 0x03,
    ]));
    if expired {
        params.not_before = rcgen::date_time_ymd(2019, 1, 1);
        params.not_after = rcgen::date_time_ymd(2020, 1, 1);
    } else {
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2040, 1, 1);
    }
    let key = KeyPair::generate_for(&PKCS_RSA_SHA256).expect("RSA key generation");
    let cert = params.signed_by(&key, issuer).expect("leaf certificate");
    let key_path = dir.join(format!("{name}.key"));
    let cert_path = dir.join(format!("{name}.cer"));
    std::fs::write(&key_path, key.serialize_pem()).expect("write key");
    std::fs::write(&cert_path, cert.pem()).expect("write cert");
    (key_path, cert_path)
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

impl Pki {
    /// A fresh PKI in a temporary directory.
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = new_ca("AC Teste PIX, Autoridade v5");
        let rogue_ca = new_ca("AC Desconhecida");
        let (key, cert) = leaf(dir.path(), "sig", "spi.bancoexemplo.com.br", &ca, false);
        let (expired_key, expired_cert) = leaf(dir.path(), "expired", "old.bancoexemplo.com.br", &ca, true);
        let (rogue_key, rogue_cert) = leaf(dir.path(), "rogue", "spi.bancoexemplo.com.br", &rogue_ca, false);
        std::fs::write(dir.path().join("ca.cer"), ca.pem()).expect("write CA");
        Pki {
            dir,
            key,
            cert,
            expired_key,
            expired_cert,
            rogue_key,
            rogue_cert,
        }
    }

    /// A file of the PKI (`ca.cer`, …).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}
