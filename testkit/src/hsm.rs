//! The Fargate flavour's development set-up: a development PKI, the BACEN simulator and the
//! proxy (`proxy-hsm`'s front end) on loopback, keys in a throwaway SoftHSM token when it can be
//! used here. `pix-dev demo` sends the project's sample messages through it, each step printed;
//! `pix-dev serve` keeps it running for curl; the tests build on it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use proxy_core::audit::{AuditSink, FileSink};
use proxy_core::dsig::Profile;
use proxy_core::relay::{Relay, RelayConfig};
use proxy_core::signer::{Signer, SoftwareSigner};
use proxy_core::trust::{Certificate, TrustStore};
use simulator::pki::DevPki;
use simulator::{Config, Simulator};

use proxy_hsm::pkcs11::Token;
use proxy_hsm::{FrontEnd, Listen};

use crate::softhsm::{self, DevToken};

/// Where the development set-up keeps its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Keys {
    /// In a throwaway SoftHSM token, not extractable (the CloudHSM code path).
    SoftHsm,
    /// In files (software keys).
    Software,
    /// SoftHSM when it can be used here, else software keys.
    Auto,
}

/// A change to settings of type `T`, applied last.
pub type Tune<T> = Arc<dyn Fn(&mut T) + Send + Sync>;

/// How to run the development set-up.
#[derive(Clone)]
pub struct DevOptions {
    /// Where the proxy listens.
    pub listen: Listen,
    /// Time allowed for BACEN's answers.
    pub timeout: std::time::Duration,
    /// Where the keys live.
    pub keys: Keys,
    /// Where audit records go (`None`: JSON lines under `<dir>/audit`).
    pub audit: Option<Arc<dyn AuditSink>>,
    /// Changes to the relays' settings (limits, batching), applied last.
    pub relay: Option<Tune<RelayConfig>>,
    /// Changes to the simulator's settings (BACEN's limits), applied last.
    pub simulator: Option<Tune<Config>>,
    /// How the proxy's listeners treat clients.
    pub serving: proxy_core::service::Serving,
}

impl DevOptions {
    /// Defaults on `listen`: 10 s for BACEN, SoftHSM when available, audit files.
    pub fn new(listen: Listen) -> Self {
        DevOptions {
            listen,
            timeout: std::time::Duration::from_secs(10),
            keys: Keys::Auto,
            audit: None,
            relay: None,
            simulator: None,
            serving: proxy_core::service::Serving::default(),
        }
    }
}

pub use crate::bank::call;

/// Simulator and proxy running together on loopback.
pub struct DevSetup {
    /// The simulator (BACEN).
    pub simulator: Simulator,
    /// The proxy's listeners.
    pub proxy: FrontEnd,
    /// Where audit records are written.
    pub audit_dir: PathBuf,
    /// Which signer the proxy uses, in words.
    pub signer: String,
    /// The SoftHSM token, when the keys are in one (deleted on drop).
    pub token: Option<(DevToken, Token)>,
}

/// The proxy's two keys and their story.
struct ProxyKeys {
    signer: Arc<dyn Signer>,
    mtls: Arc<dyn Signer>,
    description: String,
    token: Option<(DevToken, Token)>,
    signature_cert: PathBuf,
}

fn software_keys(pki: &DevPki, why: &str) -> Result<ProxyKeys, String> {
    let load = |key: &str, cert: &str| {
        SoftwareSigner::from_pem_files(&pki.path(key), &pki.path(cert)).map_err(|e| e.to_string())
    };
    Ok(ProxyKeys {
        signer: Arc::new(load("psp-sig.key", "psp-sig.cer")?),
        mtls: Arc::new(load("psp-mtls.key", "psp-mtls.cer")?),
        description: format!("software keys ({why})"),
        token: None,
        signature_cert: pki.path("psp-sig.cer"),
    })
}

/// Both keys made in a fresh SoftHSM token (never extractable) and certified by the PSP CA.
fn softhsm_keys(pki: &DevPki, dev: DevToken) -> Result<ProxyKeys, String> {
    let token =
        Token::open(Path::new(softhsm::MODULE), Some(&dev.label), &dev.pin).map_err(|e| e.to_string())?;
    let mut made: Vec<Arc<dyn Signer>> = Vec::new();
    for (label, name, client) in [
        ("pix-signature", "psp-sig-hsm", false),
        ("pix-mtls", "psp-mtls-hsm", true),
    ] {
        token.generate_rsa_key(label).map_err(|e| e.to_string())?;
        let (n, e) = token.public_key(label).map_err(|e| e.to_string())?;
        let path = pki
            .issue(name, &format!("PSP Exemplo {label} (HSM)"), client, &n, &e)
            .map_err(|e| e.to_string())?;
        let cert = Certificate::from_pem_file(&path).map_err(|e| e.to_string())?;
        made.push(Arc::new(token.signer(label, cert, 8).map_err(|e| e.to_string())?));
    }
    let mtls = made.pop().ok_or("no mTLS key")?;
    let signer = made.pop().ok_or("no signature key")?;
    Ok(ProxyKeys {
        signer,
        mtls,
        description: format!(
            "SoftHSM token {} (keys pix-signature and pix-mtls, not extractable)",
            dev.label
        ),
        token: Some((dev, token)),
        signature_cert: pki.path("psp-sig-hsm.cer"),
    })
}

impl DevSetup {
    /// Makes a PKI under `dir`, starts the simulator on free ports and the proxy on `listen`,
    /// with its keys in SoftHSM when it can be used here.
    pub async fn start(dir: &Path, listen: Listen) -> Result<DevSetup, String> {
        Self::start_with(dir, DevOptions::new(listen)).await
    }

    /// The same, with other [`DevOptions`].
    pub async fn start_with(dir: &Path, options: DevOptions) -> Result<DevSetup, String> {
        let DevOptions {
            listen,
            timeout,
            keys,
            audit,
            relay: relay_tune,
            simulator: simulator_tune,
            serving,
        } = options;
        let pki = DevPki::generate(&dir.join("pki")).map_err(|e| e.to_string())?;
        let keys = match keys {
            Keys::Software => software_keys(&pki, "asked for")?,
            Keys::SoftHsm => softhsm_keys(&pki, DevToken::create().map_err(|e| format!("SoftHSM: {e}"))?)?,
            Keys::Auto => match DevToken::create() {
                Ok(dev) => softhsm_keys(&pki, dev)?,
                Err(why) => software_keys(&pki, &format!("SoftHSM unavailable: {why}"))?,
            },
        };
        let mut config = Config::ephemeral(&pki);
        config.psp_signature_certs = vec![keys.signature_cert.clone()];
        // The development set-up does not throttle: load tests measure the proxy, not ICOM's bucket.
        config.rate_capacity = 1e9;
        config.rate_refill = 1e9;
        if let Some(tune) = &simulator_tune {
            tune(&mut config);
        }
        let simulator = Simulator::start(config).await.map_err(|e| e.to_string())?;
        let trust =
            Arc::new(TrustStore::from_pem_files(&[pki.path("bacen-sig.cer")]).map_err(|e| e.to_string())?);
        let anchors = simulator::tls::load_certs(&pki.path("bacen-ca.cer")).map_err(|e| e.to_string())?;
        let audit_dir = dir.join("audit");
        let audit = audit.unwrap_or_else(|| Arc::new(FileSink::new(&audit_dir)));
        let relay = |profile, endpoint: SocketAddr| {
            // By address, with the dev PKI's name for TLS: no resolver needed (minimal containers
            // and chroots have no `localhost` in /etc/hosts).
            let mut config = RelayConfig::new(profile, &endpoint.to_string(), anchors.clone());
            config.tls_server_name = Some(simulator::pki::TLS_NAME.to_string());
            config.timeout = timeout;
            if let Some(tune) = &relay_tune {
                tune(&mut config);
            }
            let signer = Arc::clone(&keys.signer);
            Relay::new(
                config,
                signer,
                Arc::clone(&keys.mtls),
                Arc::clone(&trust),
                audit.clone(),
            )
            .map(Arc::new)
            .map_err(|e| e.to_string())
        };
        let dict = relay(Profile::Dict, simulator.dict)?;
        let spi = relay(Profile::Spi, simulator.spi)?;
        let proxy = FrontEnd::start_with(listen, dict, spi, serving)
            .await
            .map_err(|e| e.to_string())?;
        Ok(DevSetup {
            simulator,
            proxy,
            audit_dir,
            signer: keys.description,
            token: keys.token,
        })
    }

    /// Stops the proxy, then the simulator (the SoftHSM token goes when the set-up is dropped).
    pub async fn shutdown(self) {
        self.proxy.shutdown().await;
        self.simulator.shutdown().await;
    }
}

/// Runs the demo with its working files under `dir`, printing each step.
pub async fn run(dir: &Path) -> Result<(), String> {
    // Records of earlier runs would be counted as this run's.
    let _ = std::fs::remove_dir_all(dir.join("audit"));
    let setup = DevSetup::start(dir, Listen::ephemeral(IpAddr::V4(Ipv4Addr::LOCALHOST))).await?;
    println!(
        "dev PKI, BACEN simulator (SPI {}, DICT {}) and proxy (SPI {}, DICT {}) on loopback",
        setup.simulator.spi, setup.simulator.dict, setup.proxy.spi, setup.proxy.dict
    );
    println!("signer: {}", setup.signer);
    println!("working files (dev PKI, audit records): {}", display_dir(dir));
    let mut failures = crate::bank::conversation(setup.proxy.spi, setup.proxy.dict).await?;
    let audit_dir = setup.audit_dir.clone();
    setup.shutdown().await;
    let mut records = 0;
    for family in ["spi", "dict"] {
        for file in files(&audit_dir.join("log").join(family)) {
            let n = std::fs::read_to_string(&file)
                .map(|t| t.lines().count())
                .unwrap_or(0);
            records += n;
            println!("\naudit: {n} records in {}", file.display());
        }
    }
    if records < 7 {
        failures += 1;
        println!("\naudit: {records} records, 7 expected");
    }
    if failures > 0 {
        return Err(format!("{failures} steps failed, {records} audit records"));
    }
    println!("\nall steps passed; {records} audit records written");
    Ok(())
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// `dir` as an absolute path, for the user to find the files.
pub fn display_dir(dir: &Path) -> String {
    std::path::absolute(dir)
        .unwrap_or_else(|_| dir.to_path_buf())
        .display()
        .to_string()
}
