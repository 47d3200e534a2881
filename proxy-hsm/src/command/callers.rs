//! The callers of `serve`: whether they are authenticated (a client certificate of the bank's
//! CA), with which server identity the proxy answers them, and the callers policy; each from its
//! flag, else (with `--from-aws`) from its parameter or secret.

use std::path::PathBuf;

use super::read_file;

use proxy_core::callers::tls::CallerTls;
use proxy_core::callers::{Callers, Policy};
use proxy_core::config::names::{CALLER_CA_CERTIFICATE, PROXY_TLS_CERTIFICATE, PROXY_TLS_PRIVATE_KEY};
use proxy_core::config::{ConfigError, Parameters, StartError, aws};

/// How `serve` authenticates and authorizes the bank's services.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct CallerArgs {
    /// The bank's CA(s) that issue its services' client certificates (PEM): the SPI and DICT
    /// ports then take TLS connections only with a client certificate of it (else the parameter
    /// CallerCaCertificate; neither: callers are not authenticated, said at start).
    #[arg(long)]
    pub client_ca: Option<PathBuf>,
    /// Refuse to start unless callers are authenticated (`--client-ca` or CallerCaCertificate):
    /// the Fargate task definition says it, so that a missing parameter stops the task instead
    /// of serving everyone.
    #[arg(long)]
    pub require_client_ca: bool,
    /// The proxy's server certificate for its callers (PEM; else the parameter ProxyTlsCertificate).
    #[arg(long)]
    pub tls_certificate: Option<PathBuf>,
    /// Its private key (PKCS#8 PEM; else the secret ProxyTlsPrivateKey).
    #[arg(long)]
    pub tls_key: Option<PathBuf>,
    /// The callers policy (JSON; else the parameter Callers). With callers authenticated and no
    /// policy, nothing is allowed.
    #[arg(long)]
    pub callers: Option<PathBuf>,
}

/// A flag's file, else the parameter's value.
fn file_or_parameter(
    flag: &Option<PathBuf>,
    params: &Parameters,
    p: &proxy_core::config::names::Parameter,
) -> Result<Option<String>, ConfigError> {
    match flag {
        Some(path) => read_file(path).map(Some),
        None => Ok(params.optional(p).map(str::to_string)),
    }
}

/// The callers' treatment and, when they are authenticated, the acceptor of the SPI and DICT
/// ports. `secrets`: where the server key comes from without `--tls-key` (`--from-aws`).
pub async fn resolve(
    args: &CallerArgs,
    params: &Parameters,
    secrets: Option<&aws_sdk_secretsmanager::Client>,
) -> Result<(Callers, Option<tokio_rustls::TlsAcceptor>), StartError> {
    let policy = match &args.callers {
        Some(path) => Some(Policy::from_file(path)?),
        None => params.callers()?,
    };
    let Some(client_ca) = file_or_parameter(&args.client_ca, params, &CALLER_CA_CERTIFICATE)? else {
        if args.require_client_ca {
            return Err(StartError::Usage(format!(
                "--require-client-ca: no client CA (--client-ca, or the parameter {})",
                params.name(&CALLER_CA_CERTIFICATE)
            )));
        }
        if policy.is_some() {
            return Err(StartError::Usage(
                "a callers policy (--callers, Callers) needs authenticated callers: --client-ca or CallerCaCertificate".into(),
            ));
        }
        return Ok((Callers::Open, None));
    };
    let certificate =
        file_or_parameter(&args.tls_certificate, params, &PROXY_TLS_CERTIFICATE)?.ok_or_else(|| {
            ConfigError::Missing(format!(
                "{} (or --tls-certificate)",
                params.name(&PROXY_TLS_CERTIFICATE)
            ))
        })?;
    let key = match (&args.tls_key, secrets) {
        (Some(path), _) => read_file(path)?,
        (None, Some(client)) => aws::secret(client, PROXY_TLS_PRIVATE_KEY).await?,
        (None, None) => {
            return Err(StartError::Usage(
                "--client-ca needs --tls-key (the proxy's server key)".into(),
            ));
        }
    };
    let acceptor = CallerTls {
        client_ca,
        certificate,
        key,
    }
    .acceptor()?;
    Ok((Callers::Checked(policy.map(std::sync::Arc::new)), Some(acceptor)))
}
