//! The Lambda's set-up from the seeds' configuration (seed 002): the parameters under
//! `/pix/proxy/kms/` (one paginated `GetParametersByPath`), the mTLS key from the secret
//! `/pix/proxy/kms/MtlsPrivateKey` (PKCS#8 PEM), and `PIX_SPI_PROXY` choosing SPI or DICT.
//! Built once per container; every invocation reuses it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use proxy_core::audit::AuditSink;
use proxy_core::audit::firehose::{self, FirehoseSink};
use proxy_core::config::{ConfigError, Parameters, aws};
use proxy_core::dsig::Profile;
use proxy_core::relay::{Relay, RelayConfig};
use proxy_core::signer::SoftwareSigner;

use crate::kms::{self, KmsSigner};

/// The seeds' prefix for the KMS flavour.
pub const PREFIX: &str = "/pix/proxy/kms/";
/// The seeds' secret holding the mTLS private key (PKCS#8 PEM).
pub const MTLS_SECRET: &str = "/pix/proxy/kms/MtlsPrivateKey";

/// Which message family a function serves (`PIX_SPI_PROXY=true|false`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// SPI (ICOM): ISO 20022 messages.
    Spi,
    /// DICT: the directory.
    Dict,
}

impl Family {
    /// From the value of `PIX_SPI_PROXY`.
    pub fn from_env_value(value: Option<&str>) -> Result<Family, ConfigError> {
        match value.map(str::trim) {
            Some("true") => Ok(Family::Spi),
            Some("false") => Ok(Family::Dict),
            Some(other) => Err(ConfigError::Malformed {
                name: "PIX_SPI_PROXY".into(),
                reason: format!("'{other}' is neither true nor false"),
            }),
            None => Err(ConfigError::Missing("PIX_SPI_PROXY (environment)".into())),
        }
    }

    /// `spi` or `dict`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Spi => "spi",
            Family::Dict => "dict",
        }
    }
}

/// What the parameters do not say: local choices and test networks.
#[derive(Debug, Clone, Default)]
pub struct Deployment {
    /// Time allowed for BACEN's answers (default 10 s).
    pub timeout: Option<Duration>,
    /// Connect to this address instead of resolving the BACEN endpoint (test networks).
    pub resolve: Option<IpAddr>,
    /// Override of the TLS server name (else the parameter `BcbTlsServerName`, else the host).
    pub tls_server_name: Option<String>,
    /// KMS signing deadline and retries.
    pub kms: kms::Settings,
}

/// The AWS clients, built once per container from one SDK configuration.
#[derive(Debug, Clone)]
pub struct Clients {
    /// SSM Parameter Store.
    pub ssm: aws_sdk_ssm::Client,
    /// Secrets Manager.
    pub secrets: aws_sdk_secretsmanager::Client,
    /// KMS.
    pub kms: aws_sdk_kms::Client,
    /// Firehose (the audit trail).
    pub firehose: aws_sdk_firehose::Client,
}

impl Clients {
    /// From the default chain (the function's role), with an endpoint override for emulators.
    pub async fn load(endpoint: Option<&str>) -> Clients {
        let sdk = aws::sdk_config(endpoint).await;
        Clients {
            ssm: aws_sdk_ssm::Client::new(&sdk),
            secrets: aws_sdk_secretsmanager::Client::new(&sdk),
            kms: aws_sdk_kms::Client::new(&sdk),
            firehose: aws_sdk_firehose::Client::new(&sdk),
        }
    }
}

/// Reads the configuration and builds the relay of `family`: KMS signer (checked against its
/// certificate), mTLS key from the secret, BACEN's certificates, Firehose audit delivered before
/// each invocation returns. Errors name the parameter or secret, never a secret's value.
pub async fn relay(clients: &Clients, family: Family, deployment: &Deployment) -> Result<Arc<Relay>, String> {
    let params = aws::parameters(&clients.ssm, PREFIX)
        .await
        .map_err(|e| e.to_string())?;
    let mtls_pem = aws::secret(&clients.secrets, MTLS_SECRET)
        .await
        .map_err(|e| e.to_string())?;
    build(&params, &mtls_pem, clients, family, deployment).await
}

/// [`relay`] from parameters and the mTLS key already read.
pub async fn build(
    params: &Parameters,
    mtls_pem: &str,
    clients: &Clients,
    family: Family,
    deployment: &Deployment,
) -> Result<Arc<Relay>, String> {
    let s = |e: ConfigError| e.to_string();
    let (profile, endpoint, stream) = match family {
        Family::Spi => (Profile::Spi, "BcbSpiEndpoint", "SpiAuditStream"),
        Family::Dict => (Profile::Dict, "BcbDictEndpoint", "DictAuditStream"),
    };
    // Everything is read (and so checked) before the first network call to KMS.
    let key_id = params.get("SignatureKeyId").map_err(s)?.to_string();
    let signature_cert = params.certificate("SignatureCertificate").map_err(s)?;
    let mtls_cert = params.get("MtlsCertificate").map_err(s)?;
    params.certificate("MtlsCertificate").map_err(s)?;
    let trust = Arc::new(params.trust("BcbSignatureCertificate").map_err(s)?);
    let anchor = params.anchor("BcbMtlsCertificate").map_err(s)?;
    let endpoint = params.endpoint(endpoint).map_err(s)?;
    let stream = params.get(stream).map_err(s)?.to_string();
    let mtls =
        SoftwareSigner::from_pem(mtls_pem.as_bytes(), mtls_cert.as_bytes(), MTLS_SECRET).map_err(|e| {
            // The reason never quotes the key; say which secret and parameter did not fit.
            format!(
                "secret {MTLS_SECRET} with parameter {}MtlsCertificate: {e}",
                PREFIX
            )
        })?;
    let signer = KmsSigner::connect(clients.kms.clone(), &key_id, signature_cert, deployment.kms)
        .await
        .map_err(|e| e.to_string())?;

    let audit: Arc<dyn AuditSink> = Arc::new(FirehoseSink::direct(
        clients.firehose.clone(),
        HashMap::from([(family.name().to_string(), stream)]),
        firehose::Settings::default(),
    ));
    let mut config = RelayConfig::new(profile, &endpoint, vec![anchor]);
    config.tls_server_name = deployment
        .tls_server_name
        .clone()
        .or_else(|| params.optional("BcbTlsServerName").map(str::to_string));
    config.resolve = deployment.resolve;
    if let Some(t) = deployment.timeout {
        config.timeout = t;
    }
    Relay::new(config, Arc::new(signer), Arc::new(mtls), trust, audit)
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pix_spi_proxy_picks_the_family() {
        assert_eq!(Family::from_env_value(Some("true")).unwrap(), Family::Spi);
        assert_eq!(Family::from_env_value(Some("false")).unwrap(), Family::Dict);
        let err = Family::from_env_value(Some("yes")).unwrap_err().to_string();
        assert!(err.contains("PIX_SPI_PROXY"), "{err}");
        assert!(Family::from_env_value(None).is_err());
    }
}
