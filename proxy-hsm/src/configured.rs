//! The production set-up from the CloudHSM flavour's configuration: parameters under
//! `/pix/proxy/cloudhsm/` (key labels, certificates, BACEN endpoints and certificates, audit
//! streams) read once into [`Settings`], and the secret `/pix/proxy/cloudhsm/CloudHSMSecret`
//! (`{"HSM_USER":…,"HSM_PASSWORD":…}`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use pix_xmldsig::dsig::Profile;
use pix_xmldsig::signer::Signer;
use pix_xmldsig::trust::{Certificate, TrustStore};
use proxy_core::audit::AuditSink;
use proxy_core::config::names::{self, CLOUDHSM_SECRET, Flavour};
use proxy_core::config::{ConfigError, Network, Parameters, StartError};
use proxy_core::relay::{Relay, RelayConfig};

use crate::pkcs11::Token;

/// The CloudHSM flavour.
pub const FLAVOUR: Flavour = Flavour::CloudHsm;

/// Everything the CloudHSM flavour's parameters say, read and checked once.
#[derive(Debug)]
pub struct Settings {
    /// `SignatureKeyLabel`: the XML-signature key on the token.
    pub signature_key_label: String,
    /// `SignatureCertificate`.
    pub signature_certificate: Certificate,
    /// `MtlsKeyLabel`: the mTLS client key on the token.
    pub mtls_key_label: String,
    /// `MtlsCertificate`.
    pub mtls_certificate: Certificate,
    /// `BcbSignatureCertificate`: whose signatures BACEN's answers must carry.
    pub bacen_signatures: TrustStore,
    /// The DICT relay's settings (`BcbDictEndpoint`, `BcbMtlsCertificate`, …).
    pub dict: RelayConfig,
    /// The SPI relay's settings (`BcbSpiEndpoint`, `BcbMtlsCertificate`, …).
    pub spi: RelayConfig,
    /// `SpiAuditStream` and `DictAuditStream`.
    pub audit_streams: HashMap<Profile, String>,
}

impl Settings {
    /// Reads every parameter the flavour needs; the first missing or malformed one is the error.
    pub fn read(params: &Parameters, network: &Network) -> Result<Settings, ConfigError> {
        Ok(Settings {
            signature_key_label: params.get(&names::SIGNATURE_KEY_LABEL)?.to_string(),
            signature_certificate: params.certificate(&names::SIGNATURE_CERTIFICATE)?,
            mtls_key_label: params.get(&names::MTLS_KEY_LABEL)?.to_string(),
            mtls_certificate: params.certificate(&names::MTLS_CERTIFICATE)?,
            bacen_signatures: params.bacen_signatures()?,
            dict: params.relay_config(Profile::Dict, network)?,
            spi: params.relay_config(Profile::Spi, network)?,
            audit_streams: params.audit_streams()?,
        })
    }
}

/// How the HSM PIN is made from the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PinFormat {
    /// CloudHSM: `HSM_USER:HSM_PASSWORD`.
    #[value(name = "cloudhsm")]
    CloudHsm,
    /// Other tokens (SoftHSM): the password alone.
    Plain,
}

/// What the parameters do not say: where the PKCS#11 module is, and local choices.
#[derive(Debug, Clone)]
pub struct Deployment {
    /// PKCS#11 module.
    pub module: PathBuf,
    /// Token label (`None`: the first token).
    pub token_label: Option<String>,
    /// Sessions per key.
    pub pool: usize,
}

/// The HSM PIN from the secret's JSON. Errors never quote the secret.
pub fn pin_from_secret(json: &str, format: PinFormat) -> Result<String, ConfigError> {
    let secret = CLOUDHSM_SECRET.full_name();
    let value: serde_json::Value = serde_json::from_str(json).map_err(|_| ConfigError::Malformed {
        name: secret.clone(),
        reason: "not a JSON object".into(),
    })?;
    let field = |k: &str| {
        value
            .get(k)
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ConfigError::Missing(format!("{secret} field {k}")))
    };
    let password = field("HSM_PASSWORD")?;
    Ok(match format {
        PinFormat::CloudHsm => format!("{}:{password}", field("HSM_USER")?),
        PinFormat::Plain => password.to_string(),
    })
}

/// Opens the token the deployment names, logged in with `pin`.
pub fn open_token(deployment: &Deployment, pin: &str) -> Result<Token, StartError> {
    Ok(Token::open(
        &deployment.module,
        deployment.token_label.as_deref(),
        pin,
    )?)
}

/// Builds the DICT and SPI relays the settings describe, their keys on `token`.
pub fn relays(
    settings: Settings,
    token: &Token,
    deployment: &Deployment,
    audit: Arc<dyn AuditSink>,
) -> Result<(Arc<Relay>, Arc<Relay>), StartError> {
    let key = |label: &str, cert: Certificate| -> Result<Arc<dyn Signer>, StartError> {
        Ok(Arc::new(token.signer(label, cert, deployment.pool)?))
    };
    let signer = key(&settings.signature_key_label, settings.signature_certificate)?;
    let mtls = key(&settings.mtls_key_label, settings.mtls_certificate)?;
    let trust = Arc::new(settings.bacen_signatures);
    let relay = |config: RelayConfig| -> Result<Arc<Relay>, StartError> {
        let relay = Relay::new(
            config,
            Arc::clone(&signer),
            Arc::clone(&mtls),
            Arc::clone(&trust),
            Arc::clone(&audit),
        )?;
        Ok(Arc::new(relay))
    };
    Ok((relay(settings.dict)?, relay(settings.spi)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pin_comes_from_the_secret_and_errors_never_quote_it() {
        let json = r#"{"HSM_USER":"crypto_user","HSM_PASSWORD":"s3cret"}"#;
        assert_eq!(
            pin_from_secret(json, PinFormat::CloudHsm).unwrap(),
            "crypto_user:s3cret"
        );
        assert_eq!(pin_from_secret(json, PinFormat::Plain).unwrap(), "s3cret");
        let err = pin_from_secret(r#"{"HSM_USER":"u"}"#, PinFormat::CloudHsm).unwrap_err();
        assert!(err.to_string().contains("HSM_PASSWORD"));
        let err = pin_from_secret("s3cret not json", PinFormat::Plain).unwrap_err();
        assert!(!err.to_string().contains("s3cret"));
    }
}
