//! PKCS#10 certificate signing requests for keys the proxy never sees: a key in KMS or in an HSM
//! signs its own request. The encoding is rcgen's (remote-key support); the signature is the
//! key holder's: the request's to-be-signed bytes are deterministic, so they are computed once,
//! signed asynchronously by the holder (KMS `Sign`, `CKM_SHA256_RSA_PKCS`), and placed.

use std::future::Future;
use std::sync::Mutex;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, PKCS_RSA_SHA256, PublicKeyData, SanType,
    SignatureAlgorithm, SigningKey,
};

/// Why a request could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CsrError {
    /// The subject is not `CN=…,OU=…,O=…,C=BR`-like.
    #[error("subject '{0}': {1}")]
    Subject(String, String),
    /// A subject alternative name is not a DNS name or IP address.
    #[error("subject alternative name '{0}' is not a DNS name or IP address")]
    San(String),
    /// The key holder did not sign.
    #[error("signing the request: {0}")]
    Sign(#[from] pix_xmldsig::signer::SignerError),
    /// The encoding failed.
    #[error("encoding the request: {0}")]
    Encode(String),
}

/// A PEM PKCS#10 request for the RSA key whose public part is `rsa_public_key` (DER
/// `RSAPublicKey`), naming `subject` (`CN=…,OU=…,O=…,C=BR`; `L`, `ST` too) and `sans` (DNS names
/// or IP addresses, for an mTLS certificate), signed by `sign` (RSASSA-PKCS1-v1_5 with SHA-256 of
/// the bytes it is given).
pub async fn request<F, Fut>(
    subject: &str,
    sans: &[String],
    rsa_public_key: Vec<u8>,
    sign: F,
) -> Result<String, CsrError>
where
    F: FnOnce(Vec<u8>) -> Fut,
    Fut: Future<Output = Result<Vec<u8>, pix_xmldsig::signer::SignerError>>,
{
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(subject)?;
    params.subject_alt_names = sans
        .iter()
        .map(|s| match s.parse::<std::net::IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => s
                .clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|_| CsrError::San(s.clone())),
        })
        .collect::<Result<_, _>>()?;
    // First pass: what the key must sign.
    let probe = Remote {
        public: rsa_public_key.clone(),
        signature: None,
        seen: Mutex::new(None),
    };
    params
        .serialize_request(&probe)
        .map_err(|e| CsrError::Encode(e.to_string()))?;
    let tbs = probe
        .seen
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .ok_or_else(|| CsrError::Encode("nothing to sign".into()))?;
    let signature = sign(tbs.clone()).await.map_err(CsrError::Sign)?;
    // Second pass: the same bytes, with the holder's signature.
    let signed = Remote {
        public: rsa_public_key,
        signature: Some((tbs, signature)),
        seen: Mutex::new(None),
    };
    let csr = params
        .serialize_request(&signed)
        .map_err(|e| CsrError::Encode(e.to_string()))?;
    csr.pem().map_err(|e| CsrError::Encode(e.to_string()))
}

/// `CN=…,OU=…,O=…,C=BR` (commas inside a value escaped as `\,`) as a distinguished name, in
/// the order given.
pub fn distinguished_name(subject: &str) -> Result<DistinguishedName, CsrError> {
    let bad = |why: &str| CsrError::Subject(subject.to_string(), why.to_string());
    let mut dn = DistinguishedName::new();
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = subject.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            ',' => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    for part in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| bad("each part is NAME=value"))?;
        let ty = match k.trim().to_ascii_uppercase().as_str() {
            "CN" => DnType::CommonName,
            "OU" => DnType::OrganizationalUnitName,
            "O" => DnType::OrganizationName,
            "C" => DnType::CountryName,
            "L" => DnType::LocalityName,
            "ST" => DnType::StateOrProvinceName,
            other => return Err(bad(&format!("unknown attribute {other} (CN, OU, O, C, L, ST)"))),
        };
        let v = v.trim();
        if v.is_empty() {
            return Err(bad("an empty value"));
        }
        if ty == DnType::CountryName && v.len() != 2 {
            return Err(bad("C is a two-letter country code"));
        }
        dn.push(ty, v);
    }
    if !dn.iter().any(|(t, _)| *t == DnType::CommonName) {
        return Err(bad("a CN is required"));
    }
    Ok(dn)
}

/// The PEM `PUBLIC KEY` (SubjectPublicKeyInfo) of a DER `RSAPublicKey`.
pub fn public_key_pem(rsa_public_key: &[u8]) -> String {
    use base64::Engine;
    let spki = Remote {
        public: rsa_public_key.to_vec(),
        signature: None,
        seen: Mutex::new(None),
    }
    .subject_public_key_info();
    let b64 = base64::engine::general_purpose::STANDARD.encode(spki);
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    pem
}

/// DER `RSAPublicKey` of a modulus and public exponent (big-endian, as PKCS#11 gives them).
pub fn rsa_public_key(modulus: &[u8], exponent: &[u8]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_bigint_bytes(modulus, true);
            w.next().write_bigint_bytes(exponent, true);
        })
    })
}

/// The RSA key as rcgen sees it: its public part, and either the signature already made for the
/// bytes it was asked about, or a note of those bytes (first pass).
struct Remote {
    public: Vec<u8>,
    signature: Option<(Vec<u8>, Vec<u8>)>,
    seen: Mutex<Option<Vec<u8>>>,
}

impl PublicKeyData for Remote {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &PKCS_RSA_SHA256
    }
}

impl SigningKey for Remote {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        match &self.signature {
            Some((tbs, signature)) if tbs == msg => Ok(signature.clone()),
            Some(_) => Err(rcgen::Error::RemoteKeyError),
            None => {
                *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(msg.to_vec());
                // Any bytes of the right length: this pass is thrown away.
                Ok(vec![0; 256])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_parse_in_order_and_bad_ones_say_why() {
        let dn = distinguished_name("CN=pix.banco.com.br, OU=TI\\, Pagamentos, O=Banco Exemplo S.A., C=BR")
            .unwrap();
        let kinds: Vec<_> = dn.iter().map(|(t, _)| t.clone()).collect();
        assert_eq!(
            kinds,
            [
                DnType::CommonName,
                DnType::OrganizationalUnitName,
                DnType::OrganizationName,
                DnType::CountryName
            ]
        );
        assert!(
            distinguished_name("O=Banco")
                .unwrap_err()
                .to_string()
                .contains("CN")
        );
        assert!(
            distinguished_name("CN=x,C=Brasil")
                .unwrap_err()
                .to_string()
                .contains("two-letter")
        );
        assert!(
            distinguished_name("CN=x,XX=y")
                .unwrap_err()
                .to_string()
                .contains("XX")
        );
    }

    #[tokio::test]
    async fn a_request_signed_by_the_key_holder_verifies() {
        let key = rcgen::KeyPair::generate_for(&PKCS_RSA_SHA256).unwrap();
        let der = key.serialize_der();
        let pair = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&der).unwrap();
        let public = key.der_bytes().to_vec();
        let csr = request(
            "CN=pix.banco.com.br,O=Banco,C=BR",
            &["pix.banco.com.br".into()],
            public,
            |tbs| async move {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                    &aws_lc_rs::rand::SystemRandom::new(),
                    &tbs,
                    &mut sig,
                )
                .map_err(|e| pix_xmldsig::signer::SignerError::Failed {
                    key_id: "test".into(),
                    reason: e.to_string(),
                })?;
                Ok(sig)
            },
        )
        .await
        .unwrap();
        let params =
            rcgen::CertificateSigningRequestParams::from_pem(&csr).expect("rcgen parses and verifies it");
        assert_eq!(params.public_key.der_bytes(), key.der_bytes());
        let bad = request("CN=x", &[], key.der_bytes().to_vec(), |_| async {
            Ok(vec![7; 256])
        })
        .await
        .unwrap();
        assert!(
            rcgen::CertificateSigningRequestParams::from_pem(&bad).is_err(),
            "a wrong signature is caught"
        );
    }
}
