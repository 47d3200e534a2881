//! `proxy-hsm`: the Fargate flavour's service. `serve` reads the CloudHSM flavour's parameters
//! (SSM and Secrets Manager, or files) and serves until SIGTERM. (The demo and the development
//! server are `pix-dev`'s, in the test kit: nothing of them ships here.)

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use pix_xmldsig::dsig::Profile;
use proxy_core::audit::firehose::{FirehoseSink, Settings};
use proxy_core::audit::{AuditSink, FileSink};
use proxy_core::certificates::InUse;
use proxy_core::config::{ConfigError, Network, Parameters, StartError, aws};
use proxy_core::relay::Relay;
use proxy_core::reload;
use proxy_core::service::Threads;
use proxy_hsm::configured::{self, Deployment, PinFormat};
use proxy_hsm::pkcs11::Token;
use proxy_hsm::{FrontEnd, Listen};

#[derive(Parser)]
#[command(
    name = "proxy-hsm",
    version,
    about = "PIX proxy, Fargate flavour: signs, forwards over mTLS, verifies, audits"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where audit records go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Audit {
    /// Firehose when configured from AWS, else files.
    Auto,
    /// Firehose (streams SpiAuditStream/DictAuditStream), through a write-ahead spool.
    Firehose,
    /// Local files (JSON lines, fsynced).
    Files,
}

#[derive(Subcommand)]
enum Command {
    /// Serve on 8080 (DICT), 9090 (SPI) and 7070 (/live, /ready, /metrics) until SIGTERM.
    Serve(Serve),
    /// Generate an RSA-2048 key pair on the token (private key non-extractable and sensitive)
    /// under a label no key has yet; print its public key.
    Keygen(KeyArgs),
    /// A PKCS#10 certificate request for a key on the token, signed by that key (PEM on stdout).
    Csr(CsrArgs),
    /// Check every certificate the parameters name: validity, and that ours hold our keys.
    /// Exit 1 naming any that does not.
    Certificates(Serve),
}

/// Which token, and how to log in.
#[derive(clap::Args, Clone)]
struct TokenArgs {
    /// PKCS#11 module.
    #[arg(long, default_value = "/opt/cloudhsm/lib/libcloudhsm_pkcs11.so")]
    module: PathBuf,
    /// Token label (default: the first token).
    #[arg(long)]
    token_label: Option<String>,
    /// PIN as CloudHSM wants it (user:password) or the password alone (other tokens).
    #[arg(long, value_enum, default_value = "cloudhsm")]
    pin_format: PinFormat,
}

/// The token and the key on it.
#[derive(clap::Args)]
struct KeyArgs {
    /// The key's label (the parameters' SignatureKeyLabel or MtlsKeyLabel).
    #[arg(long)]
    label: String,
    /// The token.
    #[command(flatten)]
    token: TokenArgs,
    /// The secret `/pix/proxy/cloudhsm/CloudHSMSecret` as a file ({"HSM_USER":…,"HSM_PASSWORD":…}).
    #[arg(long, required_unless_present = "from_aws")]
    secret: Option<PathBuf>,
    /// Read that secret from Secrets Manager instead.
    #[arg(long, conflicts_with = "secret")]
    from_aws: bool,
    /// AWS endpoint override (a local emulator).
    #[arg(long)]
    aws_endpoint: Option<String>,
}

#[derive(clap::Args)]
struct CsrArgs {
    #[command(flatten)]
    key: KeyArgs,
    /// The certificate's subject, e.g. "CN=spi.banco.com.br,OU=PIX,O=Banco Exemplo S.A.,C=BR".
    #[arg(long)]
    subject: String,
    /// A subject alternative name (DNS name or IP address), for the mTLS certificate; repeatable.
    #[arg(long)]
    san: Vec<String>,
}

#[derive(clap::Args)]
struct Serve {
    /// Read the CloudHSM flavour's parameters from SSM (`/pix/proxy/cloudhsm/*`) and the secret
    /// `/pix/proxy/cloudhsm/CloudHSMSecret` from Secrets Manager (the Fargate task's role).
    #[arg(long, conflicts_with_all = ["parameters", "secret"])]
    from_aws: bool,
    /// AWS endpoint override (a local emulator), for configuration and Firehose.
    #[arg(long)]
    aws_endpoint: Option<String>,
    /// The parameters (`/pix/proxy/cloudhsm/*`) as a JSON object of full names to values.
    #[arg(long, required_unless_present = "from_aws", requires = "secret")]
    parameters: Option<PathBuf>,
    /// The secret `/pix/proxy/cloudhsm/CloudHSMSecret` ({"HSM_USER":…,"HSM_PASSWORD":…}).
    #[arg(long, required_unless_present = "from_aws")]
    secret: Option<PathBuf>,
    /// The token.
    #[command(flatten)]
    token: TokenArgs,
    /// Connect to this address instead of resolving BACEN's host names (test networks).
    #[arg(long)]
    resolve: Option<IpAddr>,
    /// TLS name to verify BACEN's certificate against (else BcbTlsServerName, else the host).
    #[arg(long)]
    tls_server_name: Option<String>,
    /// Audit sink.
    #[arg(long, value_enum, default_value = "auto")]
    audit: Audit,
    /// Where audit records go with `--audit files` (JSON lines, fsynced).
    #[arg(long, default_value = "audit")]
    audit_dir: PathBuf,
    /// The write-ahead spool of the Firehose sink (records wait here until delivered).
    #[arg(long, default_value = "audit-spool")]
    spool_dir: PathBuf,
    /// Firehose stream of SPI records (instead of the parameter SpiAuditStream).
    #[arg(long)]
    spi_audit_stream: Option<String>,
    /// Firehose stream of DICT records (instead of the parameter DictAuditStream).
    #[arg(long)]
    dict_audit_stream: Option<String>,
    /// Where the front end listens.
    #[command(flatten)]
    listen: Listen,
    /// SPI sends, and separately stream reads, under way to BACEN at once from this task (BACEN
    /// admits 6 per participant on each side: a fleet of N tasks splits them); else the
    /// parameter BcbMaxInFlight, else 6.
    #[arg(long)]
    bacen_max_in_flight: Option<usize>,
    /// How long a request may wait for a place before it is answered 503 bacenBusy.
    #[arg(long, default_value_t = 2000)]
    queue_timeout_ms: u64,
    /// Single-message SPI sends sent together as one multipart request (1 turns batching off).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=10))]
    batch_max: u16,
    /// Seconds between re-reads of BACEN's certificates from the parameters (also on SIGHUP).
    #[arg(long, default_value_t = 300)]
    refresh_seconds: u64,
}

/// Where the parameters come from, again at each reload.
enum Source {
    /// SSM Parameter Store.
    Ssm(aws_sdk_ssm::Client),
    /// A JSON file.
    File(PathBuf),
}

impl Source {
    async fn read(&self) -> Result<Parameters, ConfigError> {
        match self {
            Source::Ssm(ssm) => aws::parameters(ssm, configured::PREFIX).await,
            Source::File(path) => Parameters::from_json_file(configured::PREFIX, path),
        }
    }
}

/// Re-reads BACEN's certificates every `every` and on SIGHUP, for as long as the process runs.
async fn reload_forever(source: Source, every: std::time::Duration, relays: [Arc<Relay>; 2]) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup()).ok();
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                tracing::info!("SIGHUP: re-reading BACEN's certificates");
            }
        }
        let [a, b] = &relays;
        reload::apply_or_log(source.read().await, &[a, b]);
    }
}

fn main() -> ExitCode {
    let work = async {
        match Cli::parse().command {
            Command::Serve(serve) => run(serve).await,
            Command::Keygen(k) => keygen(k).await,
            Command::Csr(c) => csr(c).await,
            Command::Certificates(s) => certificates(s).await,
        }
    };
    proxy_core::service::main("proxy-hsm", "warn", Threads::PerCore, work)
}

/// Opens the token the arguments name, with the PIN from the secret.
async fn open_token(k: &KeyArgs) -> Result<Token, StartError> {
    let secret = match &k.secret {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Source(format!("{}: {e}", path.display())))?,
        None => {
            let sdk = aws::sdk_config(k.aws_endpoint.as_deref()).await;
            aws::secret(&aws_sdk_secretsmanager::Client::new(&sdk), configured::SECRET).await?
        }
    };
    let pin = configured::pin_from_secret(&secret, k.token.pin_format)?;
    Ok(Token::open(
        &k.token.module,
        k.token.token_label.as_deref(),
        &pin,
    )?)
}

/// `keygen`: a new key pair under a label not yet used; its public key on stdout.
async fn keygen(k: KeyArgs) -> Result<(), StartError> {
    let token = open_token(&k).await?;
    if token.has_label(&k.label)? {
        return Err(StartError::Io(format!(
            "the token already holds a key labelled '{}': refusing to overwrite it",
            k.label
        )));
    }
    token.generate_rsa_key(&k.label)?;
    let (n, e) = token.public_key(&k.label)?;
    print!(
        "{}",
        proxy_core::csr::public_key_pem(&proxy_core::csr::rsa_public_key(&n, &e))
    );
    eprintln!(
        "proxy-hsm: RSA-2048 key '{}' generated (not extractable, sensitive)",
        k.label
    );
    Ok(())
}

/// `csr`: a PKCS#10 request for the key, signed by it on the token.
async fn csr(c: CsrArgs) -> Result<(), StartError> {
    let token = open_token(&c.key).await?;
    let (n, e) = token.public_key(&c.key.label)?;
    let label = c.key.label.clone();
    let pem = proxy_core::csr::request(
        &c.subject,
        &c.san,
        proxy_core::csr::rsa_public_key(&n, &e),
        |tbs| {
            let signed = token.sign_raw(&label, &tbs).map_err(|e| e.to_string());
            async move { signed }
        },
    )
    .await
    .map_err(|e| StartError::Io(e.to_string()))?;
    print!("{pem}");
    Ok(())
}

/// `certificates`: every certificate in use, checked; exit 1 when one is unusable.
async fn certificates(s: Serve) -> Result<(), StartError> {
    let source = if s.from_aws {
        let sdk = aws::sdk_config(s.aws_endpoint.as_deref()).await;
        Source::Ssm(aws_sdk_ssm::Client::new(&sdk))
    } else {
        Source::File(
            s.parameters
                .clone()
                .ok_or_else(|| StartError::Io("--parameters (or --from-aws) is required".into()))?,
        )
    };
    let params = source.read().await?;
    let key = KeyArgs {
        label: String::new(),
        token: s.token,
        secret: s.secret,
        from_aws: s.from_aws,
        aws_endpoint: s.aws_endpoint,
    };
    let token = open_token(&key).await?;
    let mut items = Vec::new();
    for (role, label, cert) in [
        ("signature", "SignatureKeyLabel", "SignatureCertificate"),
        ("mtls", "MtlsKeyLabel", "MtlsCertificate"),
    ] {
        let certificate = params.certificate(cert)?;
        let (n, e) = token.public_key(params.get(label)?)?;
        let matches = certificate.rsa_public_key() == proxy_core::csr::rsa_public_key(&n, &e).as_slice();
        items.push(InUse {
            role: role.into(),
            certificate,
            key_matches: Some(matches),
        });
    }
    proxy_core::certificates::check(items, &params)
}

/// Reads the configuration, serves until SIGTERM, drains.
async fn run(s: Serve) -> Result<(), StartError> {
    let (source, secret) = if s.from_aws {
        let sdk = aws::sdk_config(s.aws_endpoint.as_deref()).await;
        let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
        let secret = aws::secret(&secrets, configured::SECRET).await?;
        (Source::Ssm(aws_sdk_ssm::Client::new(&sdk)), secret)
    } else {
        let (Some(parameters), Some(secret)) = (s.parameters, s.secret) else {
            return Err(StartError::Io(
                "--parameters and --secret (or --from-aws) are required".into(),
            ));
        };
        let secret = std::fs::read_to_string(&secret)
            .map_err(|e| ConfigError::Source(format!("{}: {e}", secret.display())))?;
        (Source::File(parameters), secret)
    };
    let params = source.read().await?;
    let pin = configured::pin_from_secret(&secret, s.token.pin_format)?;
    proxy_hsm::install_metrics().map_err(StartError::Io)?;
    let deployment = Deployment {
        module: s.token.module,
        token_label: s.token.token_label,
        pool: 16,
        network: Network {
            resolve: s.resolve,
            tls_server_name: s.tls_server_name,
            timeout: None,
            max_in_flight: s.bacen_max_in_flight,
            queue_timeout: Some(std::time::Duration::from_millis(s.queue_timeout_ms)),
            batch_max: Some(usize::from(s.batch_max)),
        },
    };
    let firehose = if s.audit == Audit::Firehose || (s.audit == Audit::Auto && s.from_aws) {
        let mut streams = params.audit_streams()?;
        streams.extend(s.spi_audit_stream.map(|n| (Profile::Spi, n)));
        streams.extend(s.dict_audit_stream.map(|n| (Profile::Dict, n)));
        Some(firehose_sink(s.aws_endpoint.as_deref(), streams, &s.spool_dir).await?)
    } else {
        None
    };
    let audit: Arc<dyn AuditSink> = match &firehose {
        Some(f) => f.clone(),
        None => Arc::new(FileSink::new(&s.audit_dir)),
    };
    let (dict, spi) = configured::relays(&params, &pin, &deployment, audit)?;
    reload::log_in_use(&spi);
    let every = std::time::Duration::from_secs(s.refresh_seconds.max(1));
    let reloader = tokio::spawn(reload_forever(
        source,
        every,
        [Arc::clone(&dict), Arc::clone(&spi)],
    ));
    let proxy = FrontEnd::start(s.listen, dict, spi)
        .await
        .map_err(|e| StartError::Io(e.to_string()))?;
    tracing::info!(dict = %proxy.dict, spi = %proxy.spi, check = %proxy.check, "serving");
    proxy_core::service::shutdown_signal().await;
    proxy.shutdown().await;
    reloader.abort();
    if let Some(f) = firehose {
        flush(&f).await;
    }
    Ok(())
}

/// The Firehose sink of the service: spooled, so a record is on disk before its response leaves.
async fn firehose_sink(
    endpoint: Option<&str>,
    streams: HashMap<Profile, String>,
    spool: &Path,
) -> Result<Arc<FirehoseSink>, StartError> {
    let sdk = aws::sdk_config(endpoint).await;
    let client = aws_sdk_firehose::Client::new(&sdk);
    Ok(Arc::new(FirehoseSink::spooled(
        client,
        streams,
        spool,
        Settings::default(),
    )?))
}

/// At shutdown: gives Firehose a little time for what is spooled; the rest is replayed at the next start.
async fn flush(firehose: &FirehoseSink) {
    let done = firehose.flush(std::time::Duration::from_secs(10)).await;
    let c = firehose.counts();
    tracing::info!(
        delivered = c.delivered,
        retries = c.retries,
        all_delivered = done,
        "audit flushed"
    );
}
