//! The production set-up from the CloudHSM flavour's configuration: parameters under
//! `/pix/proxy/cloudhsm/` (key labels, certificates, BACEN endpoints and certificates, audit
//! streams) and the secret `/pix/proxy/cloudhsm/CloudHSMSecret` (`{"HSM_USER":…,"HSM_PASSWORD":…}`).

use std::path::PathBuf;
use std::sync::Arc;

use pix_xmldsig::dsig::Profile;
use pix_xmldsig::signer::Signer;
use proxy_core::audit::AuditSink;
use proxy_core::config::{ConfigError, Network, Parameters, StartError};
use proxy_core::relay::Relay;

use crate::pkcs11::Token;

/// The CloudHSM flavour's parameter prefix.
pub const PREFIX: &str = "/pix/proxy/cloudhsm/";
/// The CloudHSM flavour's secret holding the HSM crypto user.
pub const SECRET: &str = "/pix/proxy/cloudhsm/CloudHSMSecret";

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
    /// How BACEN is reached beyond what the parameters say.
    pub network: Network,
}

/// The HSM PIN from the secret's JSON. Errors never quote the secret.
pub fn pin_from_secret(json: &str, format: PinFormat) -> Result<String, ConfigError> {
    let secret = SECRET;
    let value: serde_json::Value = serde_json::from_str(json).map_err(|_| ConfigError::Malformed {
        name: secret.into(),
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

/// Opens the token and builds the DICT and SPI relays the parameters describe.
pub fn relays(
    params: &Parameters,
    pin: &str,
    deployment: &Deployment,
    audit: Arc<dyn AuditSink>,
) -> Result<(Arc<Relay>, Arc<Relay>), StartError> {
    let token = Token::open(&deployment.module, deployment.token_label.as_deref(), pin)?;
    let key = |label: &str, cert: &str| -> Result<Arc<dyn Signer>, StartError> {
        let label = params.get(label)?;
        let cert = params.certificate(cert)?;
        Ok(Arc::new(token.signer(label, cert, deployment.pool)?))
    };
    let signer = key("SignatureKeyLabel", "SignatureCertificate")?;
    let mtls = key("MtlsKeyLabel", "MtlsCertificate")?;
    let trust = Arc::new(params.bacen_signatures()?);
    // Read now so that a missing stream name stops start-up whichever sink is used.
    params.audit_streams()?;
    let relay = |profile| -> Result<Arc<Relay>, StartError> {
        let config = params.relay_config(profile, &deployment.network)?;
        let relay = Relay::new(
            config,
            Arc::clone(&signer),
            Arc::clone(&mtls),
            Arc::clone(&trust),
            Arc::clone(&audit),
        )?;
        Ok(Arc::new(relay))
    };
    Ok((relay(Profile::Dict)?, relay(Profile::Spi)?))
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
