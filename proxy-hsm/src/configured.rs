//! The production set-up from the seeds' configuration (seed 001): parameters under
//! `/pix/proxy/cloudhsm/` (key labels, certificates, BACEN endpoints and certificates, audit
//! streams) and the secret `/pix/proxy/cloudhsm/CloudHSMSecret` (`{"HSM_USER":…,"HSM_PASSWORD":…}`).

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use proxy_core::audit::AuditSink;
use proxy_core::config::{ConfigError, Parameters};
use proxy_core::dsig::Profile;
use proxy_core::relay::{Relay, RelayConfig};
use proxy_core::signer::Signer;

use crate::pkcs11::Token;

/// The seeds' prefix for the CloudHSM flavour.
pub const PREFIX: &str = "/pix/proxy/cloudhsm/";
/// The seeds' secret holding the HSM crypto user.
pub const SECRET: &str = "/pix/proxy/cloudhsm/CloudHSMSecret";

/// How the HSM PIN is made from the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinFormat {
    /// CloudHSM: `HSM_USER:HSM_PASSWORD`.
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
    /// Time allowed for BACEN's answers.
    pub timeout: Duration,
    /// Connect to this address instead of resolving the BACEN endpoints (test networks).
    pub resolve: Option<IpAddr>,
    /// Override of the TLS server name (else the parameter `BcbTlsServerName`, else the
    /// endpoint's host).
    pub tls_server_name: Option<String>,
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
) -> Result<(Arc<Relay>, Arc<Relay>), String> {
    let token =
        Token::open(&deployment.module, deployment.token_label.as_deref(), pin).map_err(|e| e.to_string())?;
    let key = |label: &str, cert: &str| -> Result<Arc<dyn Signer>, String> {
        let label = params.get(label).map_err(|e| e.to_string())?;
        let cert = params.certificate(cert).map_err(|e| e.to_string())?;
        Ok(Arc::new(
            token
                .signer(label, cert, deployment.pool)
                .map_err(|e| e.to_string())?,
        ))
    };
    let signer = key("SignatureKeyLabel", "SignatureCertificate")?;
    let mtls = key("MtlsKeyLabel", "MtlsCertificate")?;
    let trust = Arc::new(
        params
            .trust("BcbSignatureCertificate")
            .map_err(|e| e.to_string())?,
    );
    let anchor = params.anchor("BcbMtlsCertificate").map_err(|e| e.to_string())?;
    // Read now so that a missing stream name stops start-up whichever sink is used.
    params.audit_streams().map_err(|e| e.to_string())?;
    let server_name = deployment
        .tls_server_name
        .clone()
        .or_else(|| params.optional("BcbTlsServerName").map(str::to_string));
    let relay = |profile, endpoint: &str| -> Result<Arc<Relay>, String> {
        let mut config = RelayConfig::new(
            profile,
            &params.endpoint(endpoint).map_err(|e| e.to_string())?,
            vec![anchor.clone()],
        );
        config.tls_server_name = server_name.clone();
        config.timeout = deployment.timeout;
        config.resolve = deployment.resolve;
        Relay::new(
            config,
            Arc::clone(&signer),
            Arc::clone(&mtls),
            Arc::clone(&trust),
            Arc::clone(&audit),
        )
        .map(Arc::new)
        .map_err(|e| e.to_string())
    };
    Ok((
        relay(Profile::Dict, "BcbDictEndpoint")?,
        relay(Profile::Spi, "BcbSpiEndpoint")?,
    ))
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
