//! The parameters of one flavour, by their declared names ([`super::names`]), read from any
//! source that yields full name → value (a JSON file for development; SSM in the AWS flavours),
//! and what they say about BACEN. A missing or malformed parameter stops start-up with an error
//! naming it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;

use super::ConfigError;
use super::names::{self, Flavour, Parameter};
use crate::relay::{BacenTrust, RelayConfig};
use pix_xmldsig::dsig::Profile;
use pix_xmldsig::trust::{Certificate, TrustStore};

/// Parameters by full name (`/pix/proxy/cloudhsm/BcbSpiEndpoint` → `test.pi.rsfn.net.br:9191`).
#[derive(Debug, Clone)]
pub struct Parameters {
    flavour: Flavour,
    values: HashMap<String, String>,
}

impl Parameters {
    /// The parameters of `flavour`, by full name (under its prefix).
    pub fn new(flavour: Flavour, values: HashMap<String, String>) -> Self {
        Parameters { flavour, values }
    }

    /// Whose parameters these are.
    pub fn flavour(&self) -> Flavour {
        self.flavour
    }

    /// Reads a JSON object of full parameter names to values (what
    /// `aws ssm get-parameters-by-path` gives, flattened).
    pub fn from_json_file(flavour: Flavour, path: &Path) -> Result<Self, ConfigError> {
        let file = |reason: String| ConfigError::File {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| file(e.to_string()))?;
        let values: HashMap<String, String> = serde_json::from_str(&text).map_err(|e| file(e.to_string()))?;
        Ok(Self::new(flavour, values))
    }

    /// The full name of a parameter, e.g. `/pix/proxy/kms/BcbSpiEndpoint`.
    pub fn name(&self, p: &Parameter) -> String {
        format!("{}{}", self.flavour.prefix(), p.name)
    }

    /// A required parameter.
    pub fn get(&self, p: &Parameter) -> Result<&str, ConfigError> {
        self.optional(p).ok_or_else(|| ConfigError::Missing(self.name(p)))
    }

    /// An optional parameter (absent or blank: `None`).
    pub fn optional(&self, p: &Parameter) -> Option<&str> {
        self.values
            .get(&self.name(p))
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// A PEM certificate parameter.
    pub fn certificate(&self, p: &Parameter) -> Result<Certificate, ConfigError> {
        let name = self.name(p);
        Certificate::from_pem(self.get(p)?.as_bytes(), &name).map_err(|e| ConfigError::Malformed {
            name,
            reason: e.to_string(),
        })
    }

    /// Every certificate of a PEM parameter that may hold several (a trust anchor: BACEN
    /// announces a change of its certificate and switches at a set hour, so both are trusted
    /// meanwhile).
    pub fn certificates(&self, p: &Parameter) -> Result<Vec<Certificate>, ConfigError> {
        let name = self.name(p);
        Certificate::all_from_pem(self.get(p)?.as_bytes(), &name).map_err(|e| ConfigError::Malformed {
            name,
            reason: e.to_string(),
        })
    }

    /// Every certificate of a PEM parameter as TLS trust anchors.
    pub fn anchors(&self, p: &Parameter) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
        Ok(self
            .certificates(p)?
            .iter()
            .map(|c| CertificateDer::from(c.der().to_vec()))
            .collect())
    }

    /// A trust store holding every certificate of a parameter.
    pub fn trust(&self, p: &Parameter) -> Result<TrustStore, ConfigError> {
        let mut store = TrustStore::new();
        for certificate in self.certificates(p)? {
            store.add(certificate).map_err(|e| ConfigError::Malformed {
                name: self.name(p),
                reason: e.to_string(),
            })?;
        }
        Ok(store)
    }

    /// A `host:port` endpoint parameter.
    pub fn endpoint(&self, p: &Parameter) -> Result<String, ConfigError> {
        let v = self.get(p)?;
        let ok = v
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
        if !ok {
            return Err(ConfigError::Malformed {
                name: self.name(p),
                reason: format!("'{v}' is not host:port"),
            });
        }
        Ok(v.to_string())
    }

    /// The callers policy of the parameter `Callers`, when set.
    pub fn callers(&self) -> Result<Option<crate::callers::Policy>, ConfigError> {
        let Some(text) = self.optional(&names::CALLERS) else {
            return Ok(None);
        };
        crate::callers::Policy::parse(text, &self.name(&names::CALLERS))
            .map(Some)
            .map_err(|e| ConfigError::Malformed {
                name: self.name(&names::CALLERS),
                reason: e.reason,
            })
    }

    /// The Firehose delivery stream of `profile`'s audit trail (`SpiAuditStream`,
    /// `DictAuditStream`).
    pub fn audit_stream(&self, profile: Profile) -> Result<String, ConfigError> {
        let p = match profile {
            Profile::Spi => &names::SPI_AUDIT_STREAM,
            Profile::Dict => &names::DICT_AUDIT_STREAM,
        };
        Ok(self.get(p)?.to_string())
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
            Profile::Spi => &names::BCB_SPI_ENDPOINT,
            Profile::Dict => &names::BCB_DICT_ENDPOINT,
        };
        let mut config = RelayConfig::new(
            profile,
            &self.endpoint(endpoint)?,
            self.anchors(&names::BCB_MTLS_CERTIFICATE)?,
        );
        config.tls_server_name = network
            .tls_server_name
            .clone()
            .or_else(|| self.optional(&names::BCB_TLS_SERVER_NAME).map(str::to_string));
        config.resolve = network.resolve;
        if let Some(t) = network.timeout {
            config.timeout = t;
        }
        // BACEN's 6 simultaneous requests per participant and side are the participant's: a
        // fleet of N proxies sets its share here (docs/performance.md, "Sizing").
        let max_in_flight = match (network.max_in_flight, self.optional(&names::BCB_MAX_IN_FLIGHT)) {
            (Some(n), _) => n,
            (None, Some(v)) => v.parse::<usize>().map_err(|_| ConfigError::Malformed {
                name: self.name(&names::BCB_MAX_IN_FLIGHT),
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
        match profile {
            Profile::Spi => {
                config.schemas = self.schemas(network)?;
                if self.optional(&names::BCB_SPI_SECONDARY_ENDPOINT).is_some() {
                    config.secondary_endpoint = Some(self.endpoint(&names::BCB_SPI_SECONDARY_ENDPOINT)?);
                }
                if let Some(v) = self.optional(&names::BCB_FAILOVER_SECONDS) {
                    let seconds = v.parse::<u64>().map_err(|_| ConfigError::Malformed {
                        name: self.name(&names::BCB_FAILOVER_SECONDS),
                        reason: format!("'{v}' is not a whole number of seconds"),
                    })?;
                    config.failover_after = Duration::from_secs(seconds);
                }
            }
            Profile::Dict => {
                if self.optional(&names::BCB_DICT_KEY_CHECK_ENDPOINT).is_some() {
                    config.key_check_endpoint = Some(self.endpoint(&names::BCB_DICT_KEY_CHECK_ENDPOINT)?);
                }
            }
        }
        Ok(config)
    }

    /// BACEN's schemas, from `--schemas` or else `SpiSchemasDir`; `None` (said in the log) when
    /// neither is set.
    fn schemas(&self, network: &Network) -> Result<Option<Arc<pix_schemas::Catalog>>, ConfigError> {
        let dir = match (&network.schemas, self.optional(&names::SPI_SCHEMAS_DIR)) {
            (Some(dir), _) => dir.clone(),
            (None, Some(dir)) => PathBuf::from(dir),
            (None, None) => {
                tracing::warn!(
                    "no schema directory (SpiSchemasDir, --schemas): SPI messages are signed without checking BACEN's schemas"
                );
                return Ok(None);
            }
        };
        let catalog = pix_schemas::Catalog::load(&dir).map_err(|e| ConfigError::Malformed {
            name: self.name(&names::SPI_SCHEMAS_DIR),
            reason: e.to_string(),
        })?;
        let enabled: Vec<String> = catalog.types().map(|t| t.msg_def_idr()).collect();
        tracing::info!(dir = %catalog.dir().display(), enabled = %enabled.join(","), "SPI messages are checked against BACEN's schemas before signing");
        Ok(Some(Arc::new(catalog)))
    }

    /// The trust store of BACEN's signatures (`BcbSignatureCertificate`).
    pub fn bacen_signatures(&self) -> Result<TrustStore, ConfigError> {
        self.trust(&names::BCB_SIGNATURE_CERTIFICATE)
    }

    /// Everything the proxy trusts of BACEN: its signature certificates
    /// (`BcbSignatureCertificate`) and its TLS anchors (`BcbMtlsCertificate`), each parameter
    /// holding one or several PEM certificates.
    pub fn bacen_trust(&self) -> Result<BacenTrust, ConfigError> {
        Ok(BacenTrust {
            signatures: Arc::new(self.bacen_signatures()?),
            anchors: self.anchors(&names::BCB_MTLS_CERTIFICATE)?,
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
    /// A directory of BACEN's schemas (over the parameter `SpiSchemasDir`).
    pub schemas: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::names::*;

    fn params(pairs: &[(&str, &str)]) -> Parameters {
        let values = pairs
            .iter()
            .map(|(k, v)| (format!("/pix/proxy/cloudhsm/{k}"), v.to_string()))
            .collect();
        Parameters::new(Flavour::CloudHsm, values)
    }

    #[test]
    fn missing_and_malformed_parameters_are_named() {
        let p = params(&[
            ("BcbSpiEndpoint", "test.pi.rsfn.net.br:9191"),
            ("BcbDictEndpoint", "nohost"),
            ("SignatureCertificate", "junk"),
        ]);
        assert_eq!(p.endpoint(&BCB_SPI_ENDPOINT).unwrap(), "test.pi.rsfn.net.br:9191");
        assert!(matches!(
            p.get(&SPI_AUDIT_STREAM).unwrap_err(),
            ConfigError::Missing(name) if name == "/pix/proxy/cloudhsm/SpiAuditStream"
        ));
        assert!(
            matches!(p.endpoint(&BCB_DICT_ENDPOINT), Err(ConfigError::Malformed { name, .. }) if name.ends_with("BcbDictEndpoint"))
        );
        assert!(matches!(
            p.certificate(&SIGNATURE_CERTIFICATE),
            Err(ConfigError::Malformed { .. })
        ));
        assert_eq!(p.optional(&BCB_TLS_SERVER_NAME), None);
    }

    #[test]
    fn a_schema_directory_is_read_from_the_flag_or_the_parameter_and_refused_with_its_reason() {
        let empty = tempfile::tempdir().unwrap();
        let dir = empty.path().display().to_string();
        assert!(params(&[]).schemas(&Network::default()).unwrap().is_none());
        let err = params(&[("SpiSchemasDir", &dir)])
            .schemas(&Network::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/pix/proxy/cloudhsm/SpiSchemasDir") && err.contains("no .xsd"),
            "{err}"
        );
        let flag = Network {
            schemas: Some(empty.path().join("missing")),
            ..Network::default()
        };
        let err = params(&[("SpiSchemasDir", &dir)])
            .schemas(&flag)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing"), "the flag wins: {err}");
    }

    #[test]
    fn the_secondary_channel_is_read_for_spi_and_a_malformed_one_is_named() {
        let pki = testkit::test_pki::Pki::new();
        let anchor = std::fs::read_to_string(&pki.cert).unwrap();
        let base = [
            ("BcbSpiEndpoint", "icom.pi.rsfn.net.br:16422"),
            ("BcbDictEndpoint", "dict.pi.rsfn.net.br:16422"),
            ("BcbMtlsCertificate", anchor.as_str()),
        ];
        let none = params(&base)
            .relay_config(Profile::Spi, &Network::default())
            .unwrap();
        assert_eq!(none.secondary_endpoint, None);
        let mut with = base.to_vec();
        with.push(("BcbSpiSecondaryEndpoint", "icom-sec.pi.rsfn.net.br:17422"));
        with.push(("BcbFailoverSeconds", "3"));
        let spi = params(&with)
            .relay_config(Profile::Spi, &Network::default())
            .unwrap();
        assert_eq!(
            spi.secondary_endpoint.as_deref(),
            Some("icom-sec.pi.rsfn.net.br:17422")
        );
        assert_eq!(spi.failover_after, Duration::from_secs(3));
        let dict = params(&with)
            .relay_config(Profile::Dict, &Network::default())
            .unwrap();
        assert_eq!(dict.secondary_endpoint, None, "ICOM's channel, not DICT's");
        for (name, bad) in [
            ("BcbSpiSecondaryEndpoint", "icom-sec"),
            ("BcbFailoverSeconds", "soon"),
        ] {
            let mut broken = with.clone();
            broken.retain(|(k, _)| *k != name);
            broken.push((name, bad));
            let err = params(&broken)
                .relay_config(Profile::Spi, &Network::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains(name) && err.contains(bad), "{err}");
        }
    }
}
