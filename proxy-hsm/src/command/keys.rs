//! `keygen` and `csr`: the bank's keys made on the token, and the certificate requests they sign.

use proxy_core::config::names::CLOUDHSM_SECRET;
use proxy_core::config::{StartError, aws};
use proxy_hsm::configured;
use proxy_hsm::pkcs11::Token;

use super::{CsrArgs, KeyArgs};

/// Opens the token the arguments name, with the PIN from the secret.
pub async fn open_token(k: &KeyArgs) -> Result<Token, StartError> {
    let secret = match &k.secret {
        Some(path) => super::read_file(path)?,
        None => {
            let sdk = aws::sdk_config(k.aws_endpoint.as_deref()).await;
            aws::secret(&aws_sdk_secretsmanager::Client::new(&sdk), CLOUDHSM_SECRET).await?
        }
    };
    let pin = configured::pin_from_secret(&secret, k.token.pin_format)?;
    Ok(Token::open(
        &k.token.module,
        k.token.token_label.as_deref(),
        &pin,
    )?)
}

/// `keygen`: a new key pair under a label not yet used; its public key on stdout.
pub async fn keygen(k: KeyArgs) -> Result<(), StartError> {
    let token = open_token(&k).await?;
    if token.has_label(&k.label)? {
        return Err(StartError::Usage(format!(
            "the token already holds a key labelled '{}': refusing to overwrite it",
            k.label
        )));
    }
    token.generate_rsa_key(&k.label)?;
    let (n, e) = token.public_key(&k.label)?;
    print!(
        "{}",
        proxy_core::csr::public_key_pem(&proxy_core::csr::rsa_public_key(&n, &e))
    );
    eprintln!(
        "proxy-hsm: RSA-2048 key '{}' generated (not extractable, sensitive)",
        k.label
    );
    Ok(())
}

/// `csr`: a PKCS#10 request for the key, signed by it on the token.
pub async fn csr(c: CsrArgs) -> Result<(), StartError> {
    let token = open_token(&c.key).await?;
    let (n, e) = token.public_key(&c.key.label)?;
    let label = c.key.label.clone();
    let pem = proxy_core::csr::request(
        &c.subject,
        &c.san,
        proxy_core::csr::rsa_public_key(&n, &e),
        |tbs| {
            let signed = token.sign_raw(&label, &tbs);
            async move { signed }
        },
    )
    .await?;
    print!("{pem}");
    Ok(())
}
