//! The Lambda's set-up from the KMS flavour's configuration: the parameters under
//! `/pix/proxy/kms/` (one paginated `GetParametersByPath`), the mTLS key from the secret
//! `/pix/proxy/kms/MtlsPrivateKey` (PKCS#8 PEM), and `PIX_SPI_PROXY` choosing SPI or DICT.
//! Built once per container; every invocation reuses it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pix_xmldsig::dsig::Profile;
use pix_xmldsig::signer::SoftwareSigner;
use proxy_core::audit::AuditSink;
use proxy_core::audit::firehose::{self, FirehoseSink};
use proxy_core::config::{ConfigError, Network, Parameters, StartError, aws};
use proxy_core::relay::Relay;

use crate::kms::{self, KmsSigner};

/// The KMS flavour's parameter prefix.
pub const PREFIX: &str = "/pix/proxy/kms/";
/// The KMS flavour's secret holding the mTLS private key (PKCS#8 PEM).
pub const MTLS_SECRET: &str = "/pix/proxy/kms/MtlsPrivateKey";

/// The family a function serves, from `PIX_SPI_PROXY` (`true`: SPI, `false`: DICT).
pub fn profile_from_env(value: Option<&str>) -> Result<Profile, ConfigError> {
    match value.map(str::trim) {
        Some("true") => Ok(Profile::Spi),
        Some("false") => Ok(Profile::Dict),
        Some(other) => Err(ConfigError::Malformed {
            name: "PIX_SPI_PROXY".into(),
            reason: format!("'{other}' is neither true nor false"),
        }),
        None => Err(ConfigError::Missing("PIX_SPI_PROXY (environment)".into())),
    }
}

/// What the parameters do not say: local choices and test networks.
#[derive(Debug, Clone, Default)]
pub struct Deployment {
    /// How BACEN is reached beyond what the parameters say.
    pub network: Network,
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

/// Reads the configuration and builds the relay of `profile`: KMS signer (checked against its
/// certificate), mTLS key from the secret, BACEN's certificates, Firehose audit delivered before
/// each invocation returns. Errors name the parameter or secret, never a secret's value.
pub async fn relay(
    clients: &Clients,
    profile: Profile,
    deployment: &Deployment,
) -> Result<Arc<Relay>, StartError> {
    let params = aws::parameters(&clients.ssm, PREFIX).await?;
    let mtls_pem = aws::secret(&clients.secrets, MTLS_SECRET).await?;
    build(&params, &mtls_pem, clients, profile, deployment).await
}

/// [`relay`] from parameters and the mTLS key already read.
pub async fn build(
    params: &Parameters,
    mtls_pem: &str,
    clients: &Clients,
    profile: Profile,
    deployment: &Deployment,
) -> Result<Arc<Relay>, StartError> {
    // Everything is read (and so checked) before the first network call to KMS.
    let key_id = params.get("SignatureKeyId")?.to_string();
    let signature_cert = params.certificate("SignatureCertificate")?;
    let mtls_cert = params.get("MtlsCertificate")?;
    params.certificate("MtlsCertificate")?;
    let trust = Arc::new(params.bacen_signatures()?);
    let config = params.relay_config(profile, &deployment.network)?;
    let stream = params.audit_stream(profile)?;
    let mtls =
        SoftwareSigner::from_pem(mtls_pem.as_bytes(), mtls_cert.as_bytes(), MTLS_SECRET).map_err(|e| {
            // The reason never quotes the key; say which secret and parameter did not fit.
            ConfigError::Malformed {
                name: MTLS_SECRET.into(),
                reason: format!("with parameter {PREFIX}MtlsCertificate: {e}"),
            }
        })?;
    let signer = KmsSigner::connect(clients.kms.clone(), &key_id, signature_cert, deployment.kms).await?;
    let audit: Arc<dyn AuditSink> = Arc::new(FirehoseSink::direct(
        clients.firehose.clone(),
        HashMap::from([(profile, stream)]),
        firehose::Settings::default(),
    ));
    let relay = Relay::new(config, Arc::new(signer), Arc::new(mtls), trust, audit)?;
    Ok(Arc::new(relay))
}

/// `proxy-kms certificates`: every certificate the parameters name, checked and reported on
/// stdout; an error when one is unusable (expired, not yet valid, or not holding its key).
pub async fn check_certificates(clients: &Clients) -> Result<(), StartError> {
    use proxy_core::certificates::InUse;
    let params = aws::parameters(&clients.ssm, PREFIX).await?;
    let mut items = Vec::new();
    let signature = params.certificate("SignatureCertificate")?;
    let key_id = params.get("SignatureKeyId")?;
    let public = crate::kms::rsa_public_key(&clients.kms, key_id)
        .await
        .map_err(StartError::Io)?;
    let matches = signature.rsa_public_key() == public.as_slice();
    items.push(InUse {
        role: "signature".into(),
        certificate: signature,
        key_matches: Some(matches),
    });
    let mtls = params.certificate("MtlsCertificate")?;
    let mtls_pem = aws::secret(&clients.secrets, MTLS_SECRET).await?;
    let mtls_cert = params.get("MtlsCertificate")?;
    let matches = SoftwareSigner::from_pem(mtls_pem.as_bytes(), mtls_cert.as_bytes(), MTLS_SECRET).is_ok();
    items.push(InUse {
        role: "mtls".into(),
        certificate: mtls,
        key_matches: Some(matches),
    });
    proxy_core::certificates::check(items, &params)
}

/// Re-reads BACEN's certificates from SSM at most every `every` (default five minutes,
/// `PIX_REFRESH_SECONDS`), between invocations: the first invocation after that time does it before
/// its own work (one `GetParametersByPath`), so a certificate BACEN announced is trusted without a
/// new container. A value that does not parse is logged naming the parameter, and the certificates
/// in use stay (`proxy_core::reload`).
#[derive(Debug)]
pub struct Refresher {
    ssm: aws_sdk_ssm::Client,
    every: Duration,
    last: Mutex<Instant>,
}

impl Refresher {
    /// A refresher reading through `ssm`, every `PIX_REFRESH_SECONDS` (default 300) seconds.
    pub fn from_env(ssm: aws_sdk_ssm::Client) -> Result<Refresher, ConfigError> {
        let every = match std::env::var("PIX_REFRESH_SECONDS") {
            Ok(v) => v.trim().parse::<u64>().map_err(|_| ConfigError::Malformed {
                name: "PIX_REFRESH_SECONDS".into(),
                reason: format!("'{v}' is not a number of seconds"),
            })?,
            Err(_) => 300,
        };
        Ok(Refresher {
            ssm,
            every: Duration::from_secs(every),
            last: Mutex::new(Instant::now()),
        })
    }

    /// Re-reads and applies BACEN's certificates to `relay` when the last read is older than the
    /// period; otherwise does nothing.
    pub async fn maybe(&self, relay: &Relay) {
        {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            if last.elapsed() < self.every {
                return;
            }
            // Stamped before the read: a failing SSM is tried again after a period, not on every
            // invocation.
            *last = Instant::now();
        }
        proxy_core::reload::apply_or_log(aws::parameters(&self.ssm, PREFIX).await, &[relay]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pix_spi_proxy_picks_the_family() {
        assert_eq!(profile_from_env(Some("true")).unwrap(), Profile::Spi);
        assert_eq!(profile_from_env(Some("false")).unwrap(), Profile::Dict);
        let err = profile_from_env(Some("yes")).unwrap_err().to_string();
        assert!(err.contains("PIX_SPI_PROXY"), "{err}");
        assert!(profile_from_env(None).is_err());
    }
}
