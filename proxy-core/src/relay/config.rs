//! How a relay reaches BACEN, and why one could not be built.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;

use pix_xmldsig::dsig::Profile;
use pix_xmldsig::trust::TrustStore;

/// How a relay reaches BACEN.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Signature profile of this deployment (SPI or DICT).
    pub profile: Profile,
    /// BACEN's `host:port` (e.g. `icom.pi.rsfn.net.br:9191`).
    pub endpoint: String,
    /// ICOM's secondary (contingency) channel `host:port`, when the participant has one (SPI
    /// only): the relay moves there after `failover_after` of failing to reach `endpoint`, and
    /// back when the primary answers again (see the relay's `channel` module).
    pub secondary_endpoint: Option<String>,
    /// How long the primary channel must fail before the relay moves to the secondary one.
    pub failover_after: Duration,
    /// DICT's key-check server `host:port` (`/api-np/v2/`, e.g. `dict-np.pi.rsfn.net.br:16432`),
    /// when the deployment relays `keys/check`; DICT only.
    pub key_check_endpoint: Option<String>,
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
    /// SPI sends, and separately stream reads, under way to BACEN at once from this proxy
    /// (BACEN admits 6 per participant on each side; a fleet splits them). `0`: no limit.
    pub max_in_flight: usize,
    /// How long a request may wait for a place before it is answered `503 bacenBusy`.
    pub queue_timeout: Duration,
    /// Single-message SPI sends that may go together as one multipart request (ICOM takes 10);
    /// `1` turns batching off.
    pub batch_max: usize,
    /// Whether batches are sent gzip'd (when BACEN's configuration asks for it).
    pub gzip_batches: bool,
    /// BACEN's schemas: when set, every SPI message is checked against the schema of the
    /// version it declares before it is signed, and refused `422` when invalid.
    pub schemas: Option<Arc<pix_schemas::Catalog>>,
    /// Who may use the relay, for what (`Open` unless the flavour authenticates callers).
    pub callers: crate::callers::Callers,
}

impl RelayConfig {
    /// A configuration with the defaults: 10 s timeout, 8 MiB bodies, 6 requests in flight per
    /// side, 2 s in the queue at most, batches of up to 10.
    pub fn new(profile: Profile, endpoint: &str, bacen_anchors: Vec<CertificateDer<'static>>) -> Self {
        RelayConfig {
            profile,
            endpoint: endpoint.to_string(),
            secondary_endpoint: None,
            failover_after: Duration::from_secs(10),
            key_check_endpoint: None,
            tls_server_name: None,
            bacen_anchors,
            timeout: Duration::from_secs(10),
            max_body: 8 * 1024 * 1024,
            resolve: None,
            max_in_flight: 6,
            queue_timeout: Duration::from_secs(2),
            batch_max: 10,
            gzip_batches: false,
            schemas: None,
            callers: crate::callers::Callers::Open,
        }
    }
}

/// Everything a relay trusts of BACEN, replaceable while it runs (BACEN announces a change of
/// its certificates and switches at a set hour: DESIGN §6, Informe SPI; public Q&A #465, #193).
#[derive(Debug, Clone)]
pub struct BacenTrust {
    /// The certificates BACEN signs its answers with (found by issuer and serial).
    pub signatures: Arc<TrustStore>,
    /// BACEN's TLS certificates or CAs: the only TLS trust anchors.
    pub anchors: Vec<CertificateDer<'static>>,
}

impl BacenTrust {
    /// True when both hold the same certificates, in any order.
    pub fn same_as(&self, other: &BacenTrust) -> bool {
        let ders = |t: &BacenTrust| {
            let mut s: Vec<Vec<u8>> = t.signatures.certificates().map(|c| c.der().to_vec()).collect();
            let mut a: Vec<Vec<u8>> = t.anchors.iter().map(|c| c.as_ref().to_vec()).collect();
            s.sort();
            a.sort();
            (s, a)
        };
        ders(self) == ders(other)
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
