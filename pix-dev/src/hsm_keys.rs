//! The bank's keys of the CloudHSM flavour made on a throwaway SoftHSM token and certified by a
//! dev PKI: what the Fargate set-up and its tests sign with.

/// RSA keys made on the token under `keys` (label, certificate file name, for mTLS clients),
/// each certified by the PSP CA of `pki`: the bank's keys of the CloudHSM flavour, on SoftHSM.
pub fn keys_on_token(
    dev: &testkit::softhsm::DevToken,
    pki: &simulator::pki::DevPki,
    keys: &[(&str, &str, bool)],
) -> proxy_hsm::pkcs11::Token {
    let token = proxy_hsm::pkcs11::Token::open(
        std::path::Path::new(testkit::softhsm::MODULE),
        Some(&dev.label),
        &dev.pin,
    )
    .expect("token");
    for (label, name, client) in keys {
        token.generate_rsa_key(label).expect("key");
        let (n, e) = token.public_key(label).expect("public key");
        pki.issue(name, label, *client, &n, &e).expect("certificate");
    }
    token
}

/// A fresh token holding the bank's two keys of the CloudHSM flavour (`PIX_SIGNATURE`,
/// `PIX_MTLS`), certified by a fresh dev PKI as `sig-hsm.cer` and `mtls-hsm.cer`; `None` (saying
/// why) where SoftHSM cannot be used.
pub struct BankKeys {
    /// The token (deleted on drop).
    pub dev: testkit::softhsm::DevToken,
    /// The opened token.
    pub token: proxy_hsm::pkcs11::Token,
    /// The dev PKI, under `dir/pki`.
    pub pki: simulator::pki::DevPki,
    /// The working directory (deleted on drop).
    pub dir: tempfile::TempDir,
}

/// See [`BankKeys`].
pub fn bank_keys() -> Option<BankKeys> {
    let dev = testkit::softhsm::softhsm()?;
    let dir = tempfile::tempdir().expect("dir");
    let pki = simulator::pki::DevPki::generate(&dir.path().join("pki")).expect("pki");
    let token = keys_on_token(
        &dev,
        &pki,
        &[
            ("PIX_SIGNATURE", "sig-hsm", false),
            ("PIX_MTLS", "mtls-hsm", true),
        ],
    );
    Some(BankKeys { dev, token, pki, dir })
}
