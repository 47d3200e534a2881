//! Configuration by the seeds' names: the parameters a bank puts under `/pix/proxy/cloudhsm/`
//! (seed 001) or `/pix/proxy/kms/` (seed 002) in SSM Parameter Store, read here from any source
//! that yields name → value (a JSON file for development; SSM in the AWS flavours). A missing or
//! malformed parameter stops start-up with a message naming it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;

use crate::relay::{BacenTrust, RelayConfig};
use pix_xmldsig::dsig::Profile;
use pix_xmldsig::trust::{Certificate, TrustStore};

/// Why the configuration is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required parameter is absent.
    #[error("parameter {0} is missing")]
    Missing(String),
    /// A parameter's value is not what it should be.
    #[error("parameter {name} is malformed: {reason}")]
    Malformed {
        /// The parameter's full name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The source could not be read.
    #[error("cannot read the configuration {0}")]
    Source(String),
}

/// Why a service could not start: every start-up failure of either flavour, typed, each naming
/// what to fix (a parameter, a secret by name, the signer, the audit sink, a port). Never quotes a
/// secret.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A parameter or secret is missing or malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The relay could not be built from the parameters.
    #[error(transparent)]
    Relay(#[from] crate::relay::RelayError),
    /// The signer (KMS key, HSM token) cannot be used.
    #[error(transparent)]
    Signer(#[from] pix_xmldsig::signer::SignerError),
    /// The audit sink cannot be used.
    #[error("audit: {0}")]
    Audit(#[from] crate::audit::AuditError),
    /// A listener could not be bound, or the runtime could not start.
    #[error("{0}")]
    Io(String),
}

/// Parameters by full name (`/pix/proxy/cloudhsm/BcbSpiEndpoint` → `test.pi.rsfn.net.br:9191`).
#[derive(Debug, Clone, Default)]
pub struct Parameters {
    prefix: String,
    values: HashMap<String, String>,
}

impl Parameters {
    /// Parameters under `prefix` (e.g. `/pix/proxy/cloudhsm/`).
    pub fn new(prefix: &str, values: HashMap<String, String>) -> Self {
        Parameters {
            prefix: prefix.to_string(),
            values,
        }
    }

    /// Reads a JSON object of full parameter names to values (what
    /// `aws ssm get-parameters-by-path` gives, flattened).
    pub fn from_json_file(prefix: &str, path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Source(format!("{}: {e}", path.display())))?;
        let values: HashMap<String, String> = serde_json::from_str(&text)
            .map_err(|e| ConfigError::Source(format!("{}: {e}", path.display())))?;
        Ok(Self::new(prefix, values))
    }

    /// The full name of a parameter.
    pub fn name(&self, short: &str) -> String {
        format!("{}{short}", self.prefix)
    }

    /// A required parameter.
    pub fn get(&self, short: &str) -> Result<&str, ConfigError> {
        let name = self.name(short);
        match self.values.get(&name).map(|v| v.trim()) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ConfigError::Missing(name)),
        }
    }

    /// An optional parameter.
    pub fn optional(&self, short: &str) -> Option<&str> {
        self.values
            .get(&self.name(short))
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// A PEM certificate parameter.
    pub fn certificate(&self, short: &str) -> Result<Certificate, ConfigError> {
        let name = self.name(short);
        Certificate::from_pem(self.get(short)?.as_bytes(), &name).map_err(|e| ConfigError::Malformed {
            name,
            reason: e.to_string(),
        })
    }

    /// Every certificate of a PEM parameter that may hold several (a trust anchor: BACEN
    /// announces a change of its certificate and switches at a set hour, so both are trusted
    /// meanwhile).
    pub fn certificates(&self, short: &str) -> Result<Vec<Certificate>, ConfigError> {
        let name = self.name(short);
        Certificate::all_from_pem(self.get(short)?.as_bytes(), &name).map_err(|e| ConfigError::Malformed {
            name,
            reason: e.to_string(),
        })
    }

    /// Every certificate of a PEM parameter as TLS trust anchors.
    pub fn anchors(&self, short: &str) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
        Ok(self
            .certificates(short)?
            .iter()
            .map(|c| CertificateDer::from(c.der().to_vec()))
            .collect())
    }

    /// A trust store holding every certificate of a parameter.
    pub fn trust(&self, short: &str) -> Result<TrustStore, ConfigError> {
        let mut store = TrustStore::new();
        for certificate in self.certificates(short)? {
            store.add(certificate).map_err(|e| ConfigError::Malformed {
                name: self.name(short),
                reason: e.to_string(),
            })?;
        }
        Ok(store)
    }

    /// A `host:port` endpoint parameter.
    pub fn endpoint(&self, short: &str) -> Result<String, ConfigError> {
        let v = self.get(short)?;
        let ok = v
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
        if !ok {
            return Err(ConfigError::Malformed {
                name: self.name(short),
                reason: format!("'{v}' is not host:port"),
            });
        }
        Ok(v.to_string())
    }

    /// The Firehose delivery stream of `profile`'s audit trail (`SpiAuditStream`,
    /// `DictAuditStream`).
    pub fn audit_stream(&self, profile: Profile) -> Result<String, ConfigError> {
        let name = match profile {
            Profile::Spi => "SpiAuditStream",
            Profile::Dict => "DictAuditStream",
        };
        Ok(self.get(name)?.to_string())
    }

    /// The Firehose delivery streams of the audit trail of both families.
    pub fn audit_streams(&self) -> Result<HashMap<Profile, String>, ConfigError> {
        Ok(HashMap::from([
            (Profile::Spi, self.audit_stream(Profile::Spi)?),
            (Profile::Dict, self.audit_stream(Profile::Dict)?),
        ]))
    }

    /// The relay settings BACEN's parameters give for `profile` (either flavour's prefix):
    /// the endpoint (`BcbSpiEndpoint` or `BcbDictEndpoint`), the TLS anchor
    /// (`BcbMtlsCertificate`) and the TLS name (`BcbTlsServerName`, optional), with `network`'s
    /// local choices applied over them.
    pub fn relay_config(&self, profile: Profile, network: &Network) -> Result<RelayConfig, ConfigError> {
        let endpoint = match profile {
            Profile::Spi => "BcbSpiEndpoint",
            Profile::Dict => "BcbDictEndpoint",
        };
        let mut config = RelayConfig::new(
            profile,
            &self.endpoint(endpoint)?,
            self.anchors("BcbMtlsCertificate")?,
        );
        config.tls_server_name = network
            .tls_server_name
            .clone()
            .or_else(|| self.optional("BcbTlsServerName").map(str::to_string));
        config.resolve = network.resolve;
        if let Some(t) = network.timeout {
            config.timeout = t;
        }
        // BACEN's 6 simultaneous requests per participant and side are the participant's: a
        // fleet of N proxies sets its share here (docs/performance.md, "Sizing").
        let max_in_flight = match (network.max_in_flight, self.optional("BcbMaxInFlight")) {
            (Some(n), _) => n,
            (None, Some(v)) => v.parse::<usize>().map_err(|_| ConfigError::Malformed {
                name: self.name("BcbMaxInFlight"),
                reason: format!("'{v}' is not a number of requests"),
            })?,
            (None, None) => config.max_in_flight,
        };
        config.max_in_flight = max_in_flight;
        if let Some(t) = network.queue_timeout {
            config.queue_timeout = t;
        }
        if let Some(n) = network.batch_max {
            config.batch_max = n.clamp(1, 10);
        }
        Ok(config)
    }

    /// The trust store of BACEN's signatures (`BcbSignatureCertificate`).
    pub fn bacen_signatures(&self) -> Result<TrustStore, ConfigError> {
        self.trust("BcbSignatureCertificate")
    }

    /// Everything the proxy trusts of BACEN: its signature certificates
    /// (`BcbSignatureCertificate`) and its TLS anchors (`BcbMtlsCertificate`), each parameter
    /// holding one or several PEM certificates.
    pub fn bacen_trust(&self) -> Result<BacenTrust, ConfigError> {
        Ok(BacenTrust {
            signatures: Arc::new(self.bacen_signatures()?),
            anchors: self.anchors("BcbMtlsCertificate")?,
        })
    }
}

/// What a deployment chooses about reaching BACEN that the parameters do not say (flags of
/// either flavour; test networks).
#[derive(Debug, Clone, Default)]
pub struct Network {
    /// Connect to this address instead of resolving BACEN's host names.
    pub resolve: Option<IpAddr>,
    /// Check BACEN's TLS certificate against this name (else `BcbTlsServerName`, else the host).
    pub tls_server_name: Option<String>,
    /// Time allowed for BACEN's answers (default 10 s).
    pub timeout: Option<Duration>,
    /// Requests under way to BACEN per side (else the parameter `BcbMaxInFlight`, else 6).
    pub max_in_flight: Option<usize>,
    /// How long a request may wait for a place (default 2 s).
    pub queue_timeout: Option<Duration>,
    /// Single-message SPI sends per multipart request (default 10; 1: no batching).
    pub batch_max: Option<usize>,
}

/// SSM Parameter Store and Secrets Manager as configuration sources (feature `aws`).
#[cfg(feature = "aws")]
pub mod aws {
    use std::collections::HashMap;

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

    /// Every parameter under `prefix`, SecureStrings decrypted, in one paginated
    /// `GetParametersByPath`.
    pub async fn parameters(client: &aws_sdk_ssm::Client, prefix: &str) -> Result<Parameters, ConfigError> {
        let path = prefix.trim_end_matches('/');
        let mut values = HashMap::new();
        let mut pages = client
            .get_parameters_by_path()
            .path(path)
            .recursive(true)
            .with_decryption(true)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                ConfigError::Source(format!(
                    "SSM {path}: {}",
                    aws_sdk_ssm::error::DisplayErrorContext(&e)
                ))
            })?;
            for p in page.parameters() {
                if let (Some(name), Some(value)) = (p.name(), p.value()) {
                    values.insert(name.to_string(), value.to_string());
                }
            }
        }
        Ok(Parameters::new(prefix, values))
    }

    /// A secret's string value. Errors name the secret, never its value.
    pub async fn secret(client: &aws_sdk_secretsmanager::Client, name: &str) -> Result<String, ConfigError> {
        let out = client
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .map_err(|e| {
                ConfigError::Source(format!(
                    "secret {name}: {}",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                ))
            })?;
        out.secret_string()
            .map(str::to_string)
            .ok_or_else(|| ConfigError::Missing(format!("{name} (string value)")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Parameters {
        let values = pairs
            .iter()
            .map(|(k, v)| (format!("/pix/proxy/cloudhsm/{k}"), v.to_string()))
            .collect();
        Parameters::new("/pix/proxy/cloudhsm/", values)
    }

    #[test]
    fn missing_and_malformed_parameters_are_named() {
        let p = params(&[
            ("BcbSpiEndpoint", "test.pi.rsfn.net.br:9191"),
            ("BcbDictEndpoint", "nohost"),
            ("SignatureCertificate", "junk"),
        ]);
        assert_eq!(p.endpoint("BcbSpiEndpoint").unwrap(), "test.pi.rsfn.net.br:9191");
        assert_eq!(
            p.get("SpiAuditStream").unwrap_err(),
            ConfigError::Missing("/pix/proxy/cloudhsm/SpiAuditStream".into())
        );
        assert!(
            matches!(p.endpoint("BcbDictEndpoint"), Err(ConfigError::Malformed { name, .. }) if name.ends_with("BcbDictEndpoint"))
        );
        assert!(matches!(
            p.certificate("SignatureCertificate"),
            Err(ConfigError::Malformed { .. })
        ));
        assert_eq!(p.optional("TlsServerName"), None);
    }
}
