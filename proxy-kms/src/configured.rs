//! The Lambda's set-up from the KMS flavour's configuration: the parameters under
//! `/pix/proxy/kms/` (one paginated `GetParametersByPath`), the mTLS key from the secret
//! `/pix/proxy/kms/MtlsPrivateKey` (PKCS#8 PEM), and `PIX_SPI_PROXY` choosing SPI or DICT.
//! Built once per container; every invocation reuses it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use pix_xmldsig::dsig::Profile;
use pix_xmldsig::signer::SoftwareSigner;
use pix_xmldsig::trust::{Certificate, TrustStore};
use proxy_core::audit::AuditSink;
use proxy_core::audit::firehose::{self, FirehoseSink};
use proxy_core::callers::Callers;
use proxy_core::config::names::{self, Flavour, MTLS_PRIVATE_KEY};
use proxy_core::config::{ConfigError, Network, Parameters, Source, StartError, aws};
use proxy_core::relay::{Relay, RelayConfig};
use proxy_core::reload::Reloader;

use crate::kms::{self, KmsSigner};

/// The KMS flavour.
pub const FLAVOUR: Flavour = Flavour::Kms;

/// Everything the KMS flavour's parameters say for one function, read and checked once.
#[derive(Debug)]
pub struct Settings {
    /// `SignatureKeyId`: the KMS key id, ARN or alias.
    pub signature_key_id: String,
    /// `SignatureCertificate`.
    pub signature_certificate: Certificate,
    /// `MtlsCertificate`, as PEM (paired with the secret's key) and parsed.
    pub mtls_certificate_pem: String,
    /// `MtlsCertificate`, parsed.
    pub mtls_certificate: Certificate,
    /// `BcbSignatureCertificate`.
    pub bacen_signatures: TrustStore,
    /// The relay's settings for the function's family.
    pub relay: RelayConfig,
    /// `SpiAuditStream` or `DictAuditStream`, for the function's family.
    pub audit_stream: String,
}

impl Settings {
    /// Reads every parameter the function of `profile` needs; the first missing or malformed one
    /// is the error.
    pub fn read(params: &Parameters, profile: Profile, network: &Network) -> Result<Settings, ConfigError> {
        Ok(Settings {
            signature_key_id: params.get(&names::SIGNATURE_KEY_ID)?.to_string(),
            signature_certificate: params.certificate(&names::SIGNATURE_CERTIFICATE)?,
            mtls_certificate_pem: params.get(&names::MTLS_CERTIFICATE)?.to_string(),
            mtls_certificate: params.certificate(&names::MTLS_CERTIFICATE)?,
            bacen_signatures: params.bacen_signatures()?,
            relay: params.relay_config(profile, network)?,
            audit_stream: params.audit_stream(profile)?,
        })
    }
}

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
    /// How callers are known.
    pub callers: CallerAuth,
}

/// How the function's callers are known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CallerAuth {
    /// API Gateway authenticated them (`AWS_IAM`, SigV4): the parameter `Callers` says what
    /// each principal may do; without it nothing is allowed.
    #[default]
    Iam,
    /// Not at all (`proxy-kms serve`, the loopback development server): said at start.
    Unauthenticated,
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
    let params = aws::parameters(&clients.ssm, FLAVOUR).await?;
    let mtls_pem = aws::secret(&clients.secrets, MTLS_PRIVATE_KEY).await?;
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
    let mut settings = Settings::read(params, profile, &deployment.network)?;
    settings.relay.callers = match deployment.callers {
        CallerAuth::Iam => Callers::Checked(params.callers()?.map(Arc::new)),
        CallerAuth::Unauthenticated => Callers::Open,
    };
    settings.relay.callers.log_at_start(profile.name());
    let mtls = mtls_signer(params, mtls_pem, &settings.mtls_certificate_pem)?;
    let signer = KmsSigner::connect(
        clients.kms.clone(),
        &settings.signature_key_id,
        settings.signature_certificate,
        deployment.kms,
    )
    .await?;
    let audit: Arc<dyn AuditSink> = Arc::new(FirehoseSink::direct(
        clients.firehose.clone(),
        HashMap::from([(profile, settings.audit_stream)]),
        firehose::Settings::default(),
    ));
    let trust = Arc::new(settings.bacen_signatures);
    let relay = Relay::new(settings.relay, Arc::new(signer), Arc::new(mtls), trust, audit)?;
    Ok(Arc::new(relay))
}

/// The mTLS key of the secret, paired with `MtlsCertificate`. The reason of a refusal never quotes
/// the key: it says which secret and parameter did not fit.
fn mtls_signer(
    params: &Parameters,
    mtls_pem: &str,
    certificate_pem: &str,
) -> Result<SoftwareSigner, ConfigError> {
    let secret = MTLS_PRIVATE_KEY.full_name();
    SoftwareSigner::from_pem(mtls_pem.as_bytes(), certificate_pem.as_bytes(), &secret).map_err(|e| {
        ConfigError::Malformed {
            name: secret.clone(),
            reason: format!("with parameter {}: {e}", params.name(&names::MTLS_CERTIFICATE)),
        }
    })
}

/// `proxy-kms certificates`: every certificate the parameters name, checked and reported on
/// stdout; an error when one is unusable (expired, not yet valid, or not holding its key).
pub async fn check_certificates(clients: &Clients) -> Result<(), StartError> {
    use proxy_core::certificates::InUse;
    let params = aws::parameters(&clients.ssm, FLAVOUR).await?;
    let mut items = Vec::new();
    let signature = params.certificate(&names::SIGNATURE_CERTIFICATE)?;
    let key_id = params.get(&names::SIGNATURE_KEY_ID)?;
    let public = crate::kms::rsa_public_key(&clients.kms, key_id).await?;
    let matches = signature.rsa_public_key() == public.as_slice();
    items.push(InUse {
        role: "signature".into(),
        certificate: signature,
        key_matches: Some(matches),
    });
    let mtls = params.certificate(&names::MTLS_CERTIFICATE)?;
    let mtls_pem = aws::secret(&clients.secrets, MTLS_PRIVATE_KEY).await?;
    let matches = mtls_signer(&params, &mtls_pem, params.get(&names::MTLS_CERTIFICATE)?).is_ok();
    items.push(InUse {
        role: "mtls".into(),
        certificate: mtls,
        key_matches: Some(matches),
    });
    proxy_core::certificates::check(items, &params)
}

/// How often BACEN's certificates are re-read between invocations: `PIX_REFRESH_SECONDS`
/// (default five minutes). The first invocation after that time does it before its own work (one
/// `GetParametersByPath`), so a certificate BACEN announced is trusted without a new container
/// (`proxy_core::reload`).
pub fn refresh_period(value: Option<&str>) -> Result<Duration, ConfigError> {
    let seconds = match value {
        Some(v) => v.trim().parse::<u64>().map_err(|_| ConfigError::Malformed {
            name: "PIX_REFRESH_SECONDS".into(),
            reason: format!("'{v}' is not a number of seconds"),
        })?,
        None => 300,
    };
    Ok(Duration::from_secs(seconds))
}

/// The reloader of `relay`'s BACEN certificates, from SSM, at the period of `PIX_REFRESH_SECONDS`.
pub fn reloader(clients: &Clients, relay: &Arc<Relay>) -> Result<Reloader, ConfigError> {
    let every = refresh_period(std::env::var("PIX_REFRESH_SECONDS").ok().as_deref())?;
    Ok(Reloader::new(
        Source::Ssm(clients.ssm.clone(), FLAVOUR),
        vec![Arc::clone(relay)],
        every,
    ))
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
