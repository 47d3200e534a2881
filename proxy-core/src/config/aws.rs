//! SSM Parameter Store and Secrets Manager as configuration sources, and the SDK configuration
//! of every AWS client of the proxy (feature `aws`).

use std::collections::HashMap;
use std::sync::Arc;

use super::names::{Flavour, Secret};
use super::{ConfigError, Parameters};

/// The SDK configuration: the default chain (task role, Lambda role, environment), with an
/// endpoint override for local emulators.
///
/// Every call is bounded by one operation timeout, and the SDK's stalled-stream protection is
/// off: it watches large streaming bodies (S3 downloads), ours are small JSON calls, the
/// message path already bounds each of them (KMS signer, Firehose sink), and its per-call
/// body wrappers and timers cost 5-10 % of the Lambda flavour's CPU per message
/// (measured: `pix-dev/examples/kms_costs.rs`, README).
pub async fn sdk_config(endpoint: Option<&str>) -> aws_config::SdkConfig {
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .stalled_stream_protection(
            aws_config::stalled_stream_protection::StalledStreamProtectionConfig::disabled(),
        )
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        );
    match endpoint {
        Some(url) => loader.endpoint_url(url).load().await,
        None => loader.load().await,
    }
}

/// The longest any AWS call may take, retries included (start-up's SSM and Secrets Manager
/// calls too, which nothing else bounds).
pub const OPERATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Every parameter under `flavour`'s prefix, SecureStrings decrypted, in one paginated
/// `GetParametersByPath`.
pub async fn parameters(client: &aws_sdk_ssm::Client, flavour: Flavour) -> Result<Parameters, ConfigError> {
    let path = flavour.prefix().trim_end_matches('/');
    let mut values = HashMap::new();
    let mut pages = client
        .get_parameters_by_path()
        .path(path)
        .recursive(true)
        .with_decryption(true)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| ConfigError::Aws {
            call: format!("SSM {path}"),
            source: Arc::new(e),
        })?;
        for p in page.parameters() {
            if let (Some(name), Some(value)) = (p.name(), p.value()) {
                values.insert(name.to_string(), value.to_string());
            }
        }
    }
    Ok(Parameters::new(flavour, values))
}

/// A secret's string value. Errors name the secret, never its value.
pub async fn secret(client: &aws_sdk_secretsmanager::Client, secret: Secret) -> Result<String, ConfigError> {
    let name = secret.full_name();
    let out = client
        .get_secret_value()
        .secret_id(&name)
        .send()
        .await
        .map_err(|e| ConfigError::Aws {
            call: format!("secret {name}"),
            source: Arc::new(e),
        })?;
    out.secret_string()
        .map(str::to_string)
        .ok_or_else(|| ConfigError::Missing(format!("{name} (string value)")))
}
