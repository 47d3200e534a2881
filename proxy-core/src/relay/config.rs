//! How a relay reaches BACEN, and why one could not be built.

use std::net::IpAddr;
use std::time::Duration;

use rustls_pki_types::CertificateDer;

use crate::dsig::Profile;

/// How a relay reaches BACEN.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Signature profile of this deployment (SPI or DICT).
    pub profile: Profile,
    /// BACEN's `host:port` (e.g. `icom.pi.rsfn.net.br:9191`).
    pub endpoint: String,
    /// Name to verify BACEN's certificate against, when it differs from the endpoint's host (an
    /// endpoint given by address; the seeds' simulator certificate holds only `localhost`).
    pub tls_server_name: Option<String>,
    /// BACEN's TLS certificate or CA: the only trust anchors.
    pub bacen_anchors: Vec<CertificateDer<'static>>,
    /// Time allowed for BACEN's whole answer.
    pub timeout: Duration,
    /// Largest request or answer body, bytes.
    pub max_body: usize,
    /// Connect to this address instead of resolving the endpoint's host (like curl's
    /// `--resolve`: RSFN names in a test network without their DNS).
    pub resolve: Option<IpAddr>,
}

impl RelayConfig {
    /// A configuration with the defaults: 10 s timeout, 8 MiB bodies.
    pub fn new(profile: Profile, endpoint: &str, bacen_anchors: Vec<CertificateDer<'static>>) -> Self {
        RelayConfig {
            profile,
            endpoint: endpoint.to_string(),
            tls_server_name: None,
            bacen_anchors,
            timeout: Duration::from_secs(10),
            max_body: 8 * 1024 * 1024,
            resolve: None,
        }
    }
}

/// Why a relay could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The endpoint is not `host:port`.
    #[error("BACEN endpoint '{0}' is not host:port")]
    Endpoint(String),
    /// The TLS server name is not a DNS name or IP address.
    #[error("TLS server name '{0}' is invalid")]
    ServerName(String),
    /// The TLS client could not be configured.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}
