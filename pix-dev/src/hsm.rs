//! The Fargate flavour's development set-up: a development PKI, the BACEN simulator and the
//! proxy (`proxy-hsm`'s front end) on loopback, keys in a throwaway SoftHSM token when it can be
//! used here. `pix-dev demo` sends the project's sample messages through it, each step printed;
//! `pix-dev serve` keeps it running for curl; the tests build on it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pix_xmldsig::dsig::Profile;
use pix_xmldsig::signer::{Signer, SoftwareSigner};
use pix_xmldsig::trust::{Certificate, TrustStore};
use proxy_core::audit::{AuditSink, FileSink};
use proxy_core::relay::{Relay, RelayConfig};
use simulator::pki::DevPki;
use simulator::{Config, Simulator};

use proxy_hsm::pkcs11::Token;
use proxy_hsm::{FrontEnd, Listen};

use testkit::softhsm::{self, DevToken};

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
    /// Whether a second participant (the payee, ISPB 99999020) runs too, with its own proxy and
    /// keys; the simulator then hosts both and payments between them go through their streams.
    pub payee: bool,
    /// Whether the proxies authenticate their callers (TLS with a client certificate of the dev
    /// PKI's bank CA, and a callers policy granting each bank's service its own ISPB); the
    /// set-up's bank side presents its certificate ([`testkit::bank::present`]).
    pub callers: bool,
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
            payee: false,
            callers: true,
        }
    }
}

/// The ISPB of the development set-up's participant (the samples' payer).
pub const PAYER_ISPB: &str = "99999010";
/// The ISPB of the second participant (the samples' payee).
pub const PAYEE_ISPB: &str = "99999020";

pub use testkit::bank::call;

/// Simulator and proxy running together on loopback.
pub struct DevSetup {
    /// The simulator (BACEN).
    pub simulator: Simulator,
    /// The proxy's listeners.
    pub proxy: FrontEnd,
    /// The proxy's SPI relay (what a stream consumer reads through).
    pub spi_relay: Arc<Relay>,
    /// Where audit records are written.
    pub audit_dir: PathBuf,
    /// Which signer the proxy uses, in words.
    pub signer: String,
    /// The SoftHSM token, when the keys are in one (deleted on drop).
    pub token: Option<(DevToken, Token)>,
    /// The payee's proxy, keys and their story, when [`DevOptions::payee`] asked for it.
    pub payee: Option<Payee>,
}

/// The second participant of a development set-up.
pub struct Payee {
    /// Its proxy's listeners.
    pub proxy: FrontEnd,
    /// Its SPI relay.
    pub spi_relay: Arc<Relay>,
    /// Which signer its proxy uses, in words.
    pub signer: String,
    /// Its SoftHSM token, when its keys are in one.
    pub token: Option<(DevToken, Token)>,
}

/// The bank's side of a proxy that authenticates its callers: the proxy's TLS acceptor, its
/// callers policy, and the identity the bank's service presents.
struct BankSide {
    acceptor: tokio_rustls::TlsAcceptor,
    callers: proxy_core::callers::Callers,
    identity: Arc<rustls::ClientConfig>,
}

impl BankSide {
    /// The side of the participant `ispb`, whose service holds the dev PKI's `<caller>.cer` (SAN
    /// `name`): the policy grants it every permission for its own ISPB, and is written to
    /// `<dir>/<caller>-policy.json` for curl users (`pix-dev serve` prints how).
    fn new(pki: &DevPki, dir: &Path, caller: &str, name: &str, ispb: &str) -> Result<BankSide, String> {
        let read = |f: &str| std::fs::read_to_string(pki.path(f)).map_err(|e| format!("{f}: {e}"));
        let policy = serde_json::json!({"callers": [{
            "name": caller,
            "san": name,
            "allow": {"spi-send": [ispb], "spi-stream": [ispb], "dict-read": [ispb], "dict-write": [ispb]},
        }]})
        .to_string();
        let _ = std::fs::write(dir.join(format!("{caller}-policy.json")), &policy);
        let policy = proxy_core::callers::Policy::parse(&policy, caller).map_err(|e| e.to_string())?;
        let acceptor = proxy_core::callers::tls::CallerTls {
            client_ca: read("bank-ca.cer")?,
            certificate: read("proxy-tls.cer")?,
            key: read("proxy-tls.key")?,
        }
        .acceptor()
        .map_err(|e| e.to_string())?;
        let identity = testkit::bank::caller_identity(
            &pki.path("bank-ca.cer"),
            Some((
                &pki.path(&format!("{caller}.cer")),
                &pki.path(&format!("{caller}.key")),
            )),
        )?;
        Ok(BankSide {
            acceptor,
            callers: proxy_core::callers::Callers::Checked(Some(Arc::new(policy))),
            identity,
        })
    }
}

/// The proxy's two keys and their story.
struct ProxyKeys {
    signer: Arc<dyn Signer>,
    mtls: Arc<dyn Signer>,
    description: String,
    token: Option<(DevToken, Token)>,
    signature_cert: PathBuf,
    client_cert: PathBuf,
}

/// The keys of the participant whose PKI files start with `who` (`psp`, `payee`).
fn software_keys(pki: &DevPki, who: &str, why: &str) -> Result<ProxyKeys, String> {
    let load = |kind: &str| {
        SoftwareSigner::from_pem_files(
            &pki.path(&format!("{who}-{kind}.key")),
            &pki.path(&format!("{who}-{kind}.cer")),
        )
        .map_err(|e| e.to_string())
    };
    Ok(ProxyKeys {
        signer: Arc::new(load("sig")?),
        mtls: Arc::new(load("mtls")?),
        description: format!("software keys ({why})"),
        token: None,
        signature_cert: pki.path(&format!("{who}-sig.cer")),
        client_cert: pki.path(&format!("{who}-mtls.cer")),
    })
}

/// Both keys of participant `who` made in a fresh SoftHSM token (never extractable) and
/// certified by the PSP CA.
fn softhsm_keys(pki: &DevPki, who: &str, dev: DevToken) -> Result<ProxyKeys, String> {
    let token =
        Token::open(Path::new(softhsm::MODULE), Some(&dev.label), &dev.pin).map_err(|e| e.to_string())?;
    let mut made: Vec<Arc<dyn Signer>> = Vec::new();
    for (label, kind, client) in [("pix-signature", "sig", false), ("pix-mtls", "mtls", true)] {
        token.generate_rsa_key(label).map_err(|e| e.to_string())?;
        let (n, e) = token.public_key(label).map_err(|e| e.to_string())?;
        let path = pki
            .issue(
                &format!("{who}-{kind}-hsm"),
                &format!("{who} {label} (HSM)"),
                client,
                &n,
                &e,
            )
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
        signature_cert: pki.path(&format!("{who}-sig-hsm.cer")),
        client_cert: pki.path(&format!("{who}-mtls-hsm.cer")),
    })
}

/// Where the payee's keys go: where the payer's went.
fn keys_kind(keys: &ProxyKeys) -> Keys {
    if keys.token.is_some() {
        Keys::SoftHsm
    } else {
        Keys::Software
    }
}

/// A token for keys kept where `keys` says (none for software keys). Every token of a set-up is
/// made before any is opened: SoftHSM lists its tokens when the module is initialized.
fn token_for(keys: Keys) -> Option<Result<DevToken, String>> {
    (keys != Keys::Software).then(DevToken::create)
}

/// The keys of participant `who`, where `keys` says, on `token` when in SoftHSM.
fn keys_of(
    pki: &DevPki,
    who: &str,
    keys: Keys,
    token: Option<Result<DevToken, String>>,
) -> Result<ProxyKeys, String> {
    match (keys, token) {
        (Keys::SoftHsm, Some(Ok(dev))) | (Keys::Auto, Some(Ok(dev))) => softhsm_keys(pki, who, dev),
        (Keys::SoftHsm, Some(Err(why))) => Err(format!("SoftHSM: {why}")),
        (Keys::Auto, Some(Err(why))) => software_keys(pki, who, &format!("SoftHSM unavailable: {why}")),
        _ => software_keys(pki, who, "asked for"),
    }
}

/// What the simulator knows of a participant run here.
fn participant(ispb: &str, keys: &ProxyKeys) -> simulator::participants::Participant {
    simulator::participants::Participant {
        ispb: ispb.to_string(),
        client_certificate: Some(keys.client_cert.clone()),
        signature_certificates: vec![keys.signature_cert.clone()],
    }
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
            payee,
            callers,
        } = options;
        let pki = DevPki::generate(&dir.join("pki")).map_err(|e| e.to_string())?;
        let payer_token = token_for(keys);
        let payee_token = if payee { token_for(keys) } else { None };
        let keys = keys_of(&pki, "psp", keys, payer_token)?;
        let payee_keys = if payee {
            Some(keys_of(&pki, "payee", keys_kind(&keys), payee_token)?)
        } else {
            None
        };
        let mut config = Config::ephemeral(&pki);
        config.schemas = crate::bacen_schemas();
        config.psp_signature_certs = vec![keys.signature_cert.clone()];
        if let Some(p) = &payee_keys {
            config.participants = vec![participant(PAYER_ISPB, &keys), participant(PAYEE_ISPB, p)];
        }
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
        let shared_audit = audit.is_some();
        let audit = audit.unwrap_or_else(|| Arc::new(FileSink::new(&audit_dir)));
        let start_proxy =
            |keys: &ProxyKeys, listen: Listen, audit: Arc<dyn AuditSink>, side: Option<BankSide>| {
                let relay = |profile, endpoint: SocketAddr| {
                    // By address, with the dev PKI's name for TLS: no resolver needed (minimal
                    // containers and chroots have no `localhost` in /etc/hosts).
                    let mut config = RelayConfig::new(profile, &endpoint.to_string(), anchors.clone());
                    config.tls_server_name = Some(simulator::pki::TLS_NAME.to_string());
                    config.timeout = timeout;
                    config.key_check_endpoint = Some(simulator.dict_key_check.to_string());
                    if let Some(side) = &side {
                        config.callers = side.callers.clone();
                    }
                    if let Some(tune) = &relay_tune {
                        tune(&mut config);
                    }
                    Relay::new(
                        config,
                        Arc::clone(&keys.signer),
                        Arc::clone(&keys.mtls),
                        Arc::clone(&trust),
                        audit.clone(),
                    )
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
                };
                let relays = relay(Profile::Dict, simulator.dict)
                    .and_then(|d| Ok((d, relay(Profile::Spi, simulator.spi)?)));
                async move {
                    let (dict, spi) = relays?;
                    let acceptor = side.as_ref().map(|s| s.acceptor.clone());
                    let proxy = FrontEnd::start_with(listen, dict, Arc::clone(&spi), serving, acceptor)
                        .await
                        .map_err(|e| e.to_string())?;
                    if let Some(side) = side {
                        for addr in [proxy.spi, proxy.dict] {
                            testkit::bank::present(addr, Arc::clone(&side.identity));
                        }
                    }
                    Ok::<_, String>((proxy, spi))
                }
            };
        let side = |caller: &str, name: &str, ispb: &str| {
            callers
                .then(|| BankSide::new(&pki, dir, caller, name, ispb))
                .transpose()
        };
        let payer_side = side("caller", simulator::pki::CALLER_NAME, PAYER_ISPB)?;
        let (proxy, spi_relay) = start_proxy(&keys, listen, audit.clone(), payer_side).await?;
        let payee = match payee_keys {
            Some(p) => {
                let sink: Arc<dyn AuditSink> = if shared_audit {
                    audit.clone()
                } else {
                    Arc::new(FileSink::new(&dir.join("audit-payee")))
                };
                let loopback = Listen::ephemeral(IpAddr::V4(Ipv4Addr::LOCALHOST));
                let payee_side = side("payee-caller", simulator::pki::PAYEE_CALLER_NAME, PAYEE_ISPB)?;
                let (proxy, spi_relay) = start_proxy(&p, loopback, sink, payee_side).await?;
                Some(Payee {
                    proxy,
                    spi_relay,
                    signer: p.description,
                    token: p.token,
                })
            }
            None => None,
        };
        Ok(DevSetup {
            simulator,
            proxy,
            spi_relay,
            audit_dir,
            signer: keys.description,
            token: keys.token,
            payee,
        })
    }

    /// Stops the proxies, then the simulator (the SoftHSM tokens go when the set-up is dropped).
    pub async fn shutdown(self) {
        self.proxy.shutdown().await;
        if let Some(p) = self.payee {
            p.proxy.shutdown().await;
        }
        self.simulator.shutdown().await;
    }
}

/// A participant's stream consumer (`proxy_core::consumer`, 2 readers through its SPI relay),
/// handing every message to `<dir>/<name>-inbox` (`dir:`), its duplicate window in
/// `<dir>/<name>-consumer`.
pub struct StreamConsumer {
    /// Where it hands messages off.
    pub inbox: PathBuf,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl StreamConsumer {
    /// Starts reading the payee's stream (`<dir>/payee-inbox`).
    pub fn payee(payee: &Payee, dir: &Path) -> Result<StreamConsumer, String> {
        Self::start(&payee.spi_relay, PAYEE_ISPB, dir, "payee")
    }

    /// Starts reading `ispb`'s stream through `relay`, handing off to `<dir>/<name>-inbox`.
    pub fn start(relay: &Arc<Relay>, ispb: &str, dir: &Path, name: &str) -> Result<StreamConsumer, String> {
        use proxy_core::consumer::{Consumer, ConsumerConfig, DirDestination, Seen};
        let inbox = dir.join(format!("{name}-inbox"));
        let consumer = Arc::new(Consumer::new(
            Arc::clone(relay),
            Arc::new(DirDestination::new(inbox.clone()).map_err(|e| e.to_string())?),
            Arc::new(Seen::open(&dir.join(format!("{name}-consumer"))).map_err(|e| e.to_string())?),
            ConsumerConfig {
                ispb: ispb.into(),
                readers: 2,
                max_backoff: std::time::Duration::from_secs(1),
            },
        ));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(consumer.run(stopped));
        Ok(StreamConsumer { inbox, stop, task })
    }

    /// Stops it: each reader ends its stream once its page is handed off.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Runs the demo with its working files under `dir`, printing each step: a payment between two
/// participants (each its own proxy and keys), an echo, a DICT entry.
pub async fn run(dir: &Path) -> Result<(), String> {
    // Records and messages of earlier runs would be counted as this run's.
    for old in ["audit", "audit-payee", "payee-inbox", "payee-consumer"] {
        let _ = std::fs::remove_dir_all(dir.join(old));
    }
    let loopback = Listen::ephemeral(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let setup = DevSetup::start_with(
        dir,
        DevOptions {
            payee: true,
            ..DevOptions::new(loopback)
        },
    )
    .await?;
    let payee = setup.payee.as_ref().ok_or("no payee")?;
    println!(
        "dev PKI and BACEN simulator (SPI {}, DICT {}) on loopback, hosting participants {PAYER_ISPB} and {PAYEE_ISPB}",
        setup.simulator.spi, setup.simulator.dict
    );
    println!(
        "payer's proxy (SPI {}, DICT {}), signer: {}",
        setup.proxy.spi, setup.proxy.dict, setup.signer
    );
    println!(
        "payee's proxy (SPI {}), signer: {}",
        payee.proxy.spi, payee.signer
    );
    println!("working files (dev PKI, audit records): {}", display_dir(dir));
    // The payee's receive half: its stream consumer, handing each message to a directory.
    let consumer = StreamConsumer::payee(payee, dir)?;
    println!(
        "payee's stream consumer: 2 readers, handing off to {}",
        display_dir(&consumer.inbox)
    );
    let payment = crate::demo::payment(setup.proxy.spi, payee.proxy.spi, &consumer.inbox).await;
    consumer.stop().await;
    let mut steps = payment?;
    steps += crate::demo::echo_and_answers(setup.proxy.spi, &["pibr.001.xml"]).await?;
    steps += crate::demo::dict_steps(setup.proxy.dict).await?;
    setup.shutdown().await;
    let mut records = 0;
    for audit in ["audit", "audit-payee"] {
        for family in ["spi", "dict"] {
            for file in files(&dir.join(audit).join("log").join(family)) {
                let n = std::fs::read_to_string(&file)
                    .map(|t| t.lines().count())
                    .unwrap_or(0);
                records += n;
                println!("\naudit: {n} records in {}", file.display());
            }
        }
    }
    if records < steps.requests {
        steps.failures += 1;
        println!("\naudit: {records} records for {} requests", steps.requests);
    }
    if steps.failures > 0 {
        return Err(format!(
            "{} steps failed, {records} audit records",
            steps.failures
        ));
    }
    println!(
        "\nall steps passed; {records} audit records written, one per exchange (the consumer's included)"
    );
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
