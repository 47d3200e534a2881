//! What the simulator is started with: its ports, participants, catalog, policies and faults;
//! and why it could not start.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::catalog::Catalog;
use crate::dict::limits as dict_limits;
use crate::dict::limits::Policy;
use crate::participants::Participant;
use crate::pki::DevPki;
use crate::tls;

/// Where the simulator listens and who it is.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address every port binds to.
    pub bind: IpAddr,
    /// SPI (ICOM) port, 9191 by default; 0 picks a free one.
    pub spi_port: u16,
    /// ICOM's secondary (contingency) channel, 9192 by default: the same ICOM behind its own
    /// port, with its own token buckets ([`proxy_core::bucket::SecondaryBuckets`]) and gzip
    /// mandatory (DESIGN §6, as participants quote BACEN's Manual das Interfaces de Comunicação).
    pub spi_secondary_port: u16,
    /// DICT port, 8181 by default.
    pub dict_port: u16,
    /// DICT's key-check server port (`POST /api-np/v2/keys/check`; 0: any free port).
    pub dict_key_check_port: u16,
    /// Control port (plain HTTP: `/check`, `/faults`), 7171 by default.
    pub check_port: u16,
    /// TLS server certificate (chain) and key, PEM.
    pub tls_cert: PathBuf,
    /// TLS server key, PEM.
    pub tls_key: PathBuf,
    /// Certificates (CAs or the PSPs' own) that client certificates must chain to.
    pub client_roots: Vec<PathBuf>,
    /// BACEN's signature certificate and key, PEM: every answer is signed with them.
    pub sig_cert: PathBuf,
    /// BACEN's signature key.
    pub sig_key: PathBuf,
    /// The signature certificates of senders the simulator does not host: their requests are
    /// verified against them.
    pub psp_signature_certs: Vec<PathBuf>,
    /// The participants the simulator hosts (payments between them go through their streams);
    /// empty: every participant is answered for by the simulator.
    pub participants: Vec<Participant>,
    /// Message types and versions (envelope namespaces, `MsgDefIdr`).
    pub catalog: Catalog,
    /// A directory of BACEN's schemas (one `.xsd` per type and version, as in its catalog
    /// package): messages of the types they cover are validated, like BACEN does.
    pub schemas: Option<PathBuf>,
    /// DICT's token buckets per operation.
    pub dict_policies: Vec<Policy>,
    /// The participants' category (A to H, DICT's OpenAPI's table; `--dict-category`), which
    /// `/policies` reports; `dict_policies` size `ENTRIES_READ_PARTICIPANT_ANTISCAN` for it
    /// (`dict_limits::policies_for`).
    pub dict_category: char,
    /// Simultaneous requests one participant may have on each side of ICOM (sends to `/msgs`;
    /// stream reads); the next gets `429` with `Retry-After: 1`. BACEN's answers in its public
    /// Q&A (bacen/pix-perguntas-e-respostas #236, #346, citing the Manual das Interfaces de
    /// Comunicação §2.2.2.10): 6. `0`: no limit.
    pub max_concurrent: usize,
    /// The signature identity BACEN changes to at a rollover (certificate, key), if any.
    pub sig_next: Option<(PathBuf, PathBuf)>,
    /// How long a stream GET waits for a message before `204`.
    pub stream_wait: Duration,
    /// A stream not read for this long is closed, and what it delivered without acknowledgement
    /// is delivered again to the next reader (a reader that died loses nothing).
    pub stream_idle: Duration,
    /// How long the SPI waits for a hosted payee's pacs.002 before rejecting the payment `AB03`
    /// ([`clearing`]; the control port's `POST /payee-timeout?ms=N` changes it).
    pub payee_timeout: Duration,
    /// ICOM token bucket: capacity and refill per second.
    pub rate_capacity: f64,
    /// Tokens added per second.
    pub rate_refill: f64,
    /// Seed of the fault generator.
    pub seed: u64,
}

impl Config {
    /// The defaults of DESIGN §4 with the files of a [`DevPki`].
    pub fn with_pki(pki: &DevPki) -> Self {
        Config {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            spi_port: 9191,
            spi_secondary_port: 9192,
            dict_port: 8181,
            dict_key_check_port: 8282,
            check_port: 7171,
            tls_cert: pki.path("bacen-tls.cer"),
            tls_key: pki.path("bacen-tls.key"),
            client_roots: vec![pki.path("psp-ca.cer")],
            sig_cert: pki.path("bacen-sig.cer"),
            sig_key: pki.path("bacen-sig.key"),
            psp_signature_certs: vec![pki.path("psp-sig.cer")],
            participants: Vec::new(),
            catalog: Catalog::default(),
            schemas: None,
            dict_policies: dict_limits::default_policies(),
            dict_category: 'A',
            // PKIs made before the rollover identity existed have none.
            sig_next: Some((pki.path("bacen-sig-next.cer"), pki.path("bacen-sig-next.key")))
                .filter(|(c, k)| c.exists() && k.exists()),
            stream_wait: Duration::from_secs(5),
            stream_idle: Duration::from_secs(60),
            payee_timeout: Duration::from_secs(40),
            rate_capacity: 3750.0,
            rate_refill: 750.0,
            seed: 1,
            max_concurrent: 6,
        }
    }

    /// The same, every port 0 (free ports, for tests).
    pub fn ephemeral(pki: &DevPki) -> Self {
        Config {
            spi_port: 0,
            spi_secondary_port: 0,
            dict_port: 0,
            dict_key_check_port: 0,
            check_port: 0,
            stream_wait: Duration::from_millis(500),
            ..Config::with_pki(pki)
        }
    }
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// TLS files missing or inconsistent.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The signature key or certificates could not be loaded.
    #[error("signature identity: {0}")]
    Signature(String),
    /// BACEN's schemas (`--schemas`) could not be loaded.
    #[error("--schemas: {0}")]
    Schemas(String),
    /// A port could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The operating system's reason (e.g. address in use).
        reason: String,
    },
}

/// Which interface a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// SPI / ICOM.
    Spi,
    /// DICT.
    Dict,
}
