//! The command line of `proxy-hsm`: its subcommands and their flags.

pub mod callers;
pub mod cloudhsm;
pub mod consume;
pub mod keys;
pub mod serve;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};
use proxy_hsm::Listen;
use proxy_hsm::configured::PinFormat;

/// A file the command line names (a secret, a certificate, a policy), whole; the error names it.
pub fn read_file(path: &Path) -> Result<String, proxy_core::config::ConfigError> {
    std::fs::read_to_string(path).map_err(|e| proxy_core::config::ConfigError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

#[derive(Parser)]
#[command(
    name = "proxy-hsm",
    version,
    about = "PIX proxy, Fargate flavour: signs, forwards over mTLS, verifies, audits"
)]
pub struct Cli {
    #[command(subcommand)]
    /// What to do.
    pub command: Command,
}

/// Where audit records go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Audit {
    /// Firehose when configured from AWS, else files.
    Auto,
    /// Firehose (streams SpiAuditStream/DictAuditStream), through a write-ahead spool.
    Firehose,
    /// Local files (JSON lines, fsynced).
    Files,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve on 8080 (DICT), 9090 (SPI) and 7070 (/live, /ready, /metrics) until SIGTERM.
    Serve(Serve),
    /// Read the participant's SPI stream into the bank's destination (`--to dir:|https:|sqs:`),
    /// acknowledging each page only once every message of it is handed off; until SIGTERM.
    Consume {
        /// The configuration, token, audit and network (as `serve`; `--check-port` is the
        /// consumer's health and metrics port).
        #[command(flatten)]
        serve: Serve,
        /// The consumer's own flags.
        #[command(flatten)]
        consume: consume::ConsumeArgs,
    },
    /// Generate an RSA-2048 key pair on the token (private key non-extractable and sensitive)
    /// under a label no key has yet; print its public key.
    Keygen(KeyArgs),
    /// A PKCS#10 certificate request for a key on the token, signed by that key (PEM on stdout).
    Csr(CsrArgs),
    /// Configure the CloudHSM client for the cluster the parameters name (the container's first
    /// step, before `serve`): write the cluster's customer CA, run `configure-pkcs11`.
    ConfigureCloudhsm(ConfigureCloudHsm),
    /// Check every certificate the parameters name: validity, and that ours hold our keys.
    /// Exit 1 naming any that does not.
    Certificates(Serve),
}

/// Which token, and how to log in.
#[derive(clap::Args, Clone)]
pub struct TokenArgs {
    /// PKCS#11 module.
    #[arg(long, default_value = "/opt/cloudhsm/lib/libcloudhsm_pkcs11.so")]
    pub module: PathBuf,
    /// Token label (default: the first token).
    #[arg(long)]
    pub token_label: Option<String>,
    /// PIN as CloudHSM wants it (user:password) or the password alone (other tokens).
    #[arg(long, value_enum, default_value = "cloudhsm")]
    pub pin_format: PinFormat,
}

/// The token and the key on it.
#[derive(clap::Args)]
pub struct KeyArgs {
    /// The key's label (the parameters' SignatureKeyLabel or MtlsKeyLabel).
    #[arg(long)]
    pub label: String,
    /// The token.
    #[command(flatten)]
    pub token: TokenArgs,
    /// The secret `/pix/proxy/cloudhsm/CloudHSMSecret` as a file ({"HSM_USER":…,"HSM_PASSWORD":…}).
    #[arg(long, required_unless_present = "from_aws")]
    pub secret: Option<PathBuf>,
    /// Read that secret from Secrets Manager instead.
    #[arg(long, conflicts_with = "secret")]
    pub from_aws: bool,
    /// AWS endpoint override (a local emulator).
    #[arg(long)]
    pub aws_endpoint: Option<String>,
}

#[derive(clap::Args)]
pub struct ConfigureCloudHsm {
    /// AWS endpoint override (a local emulator).
    #[arg(long)]
    pub aws_endpoint: Option<String>,
    /// Where the cluster's customer CA is written (where the CloudHSM client reads it).
    #[arg(long, default_value = "/opt/cloudhsm/etc/customerCA.crt")]
    pub customer_ca: PathBuf,
    /// AWS's configuration tool of the CloudHSM PKCS#11 client.
    #[arg(long, default_value = "/opt/cloudhsm/bin/configure-pkcs11")]
    pub configure: PathBuf,
}

#[derive(clap::Args)]
pub struct CsrArgs {
    #[command(flatten)]
    pub key: KeyArgs,
    /// The certificate's subject, e.g. "CN=spi.banco.com.br,OU=PIX,O=Banco Exemplo S.A.,C=BR".
    #[arg(long)]
    pub subject: String,
    /// A subject alternative name (DNS name or IP address), for the mTLS certificate; repeatable.
    #[arg(long)]
    pub san: Vec<String>,
}

#[derive(clap::Args)]
pub struct Serve {
    /// Read the CloudHSM flavour's parameters from SSM (`/pix/proxy/cloudhsm/*`) and the secret
    /// `/pix/proxy/cloudhsm/CloudHSMSecret` from Secrets Manager (the Fargate task's role).
    #[arg(long, conflicts_with_all = ["parameters", "secret"])]
    pub from_aws: bool,
    /// AWS endpoint override (a local emulator), for configuration and Firehose.
    #[arg(long)]
    pub aws_endpoint: Option<String>,
    /// The parameters (`/pix/proxy/cloudhsm/*`) as a JSON object of full names to values.
    #[arg(long, required_unless_present = "from_aws", requires = "secret")]
    pub parameters: Option<PathBuf>,
    /// The secret `/pix/proxy/cloudhsm/CloudHSMSecret` ({"HSM_USER":…,"HSM_PASSWORD":…}).
    #[arg(long, required_unless_present = "from_aws")]
    pub secret: Option<PathBuf>,
    /// The token.
    #[command(flatten)]
    pub token: TokenArgs,
    /// Connect to this address instead of resolving BACEN's host names (test networks).
    #[arg(long)]
    pub resolve: Option<IpAddr>,
    /// TLS name to verify BACEN's certificate against (else BcbTlsServerName, else the host).
    #[arg(long)]
    pub tls_server_name: Option<String>,
    /// A directory of BACEN's SPI schemas (its catalog package's .xsd files; else the parameter
    /// SpiSchemasDir): every SPI message is checked against its schema before it is signed, and
    /// refused 422 when invalid. Unset: no check.
    #[arg(long)]
    pub schemas: Option<PathBuf>,
    /// Audit sink.
    #[arg(long, value_enum, default_value = "auto")]
    pub audit: Audit,
    /// Where audit records go with `--audit files` (JSON lines, fsynced).
    #[arg(long, default_value = "audit")]
    pub audit_dir: PathBuf,
    /// The write-ahead spool of the Firehose sink (records wait here until delivered).
    #[arg(long, default_value = "audit-spool")]
    pub spool_dir: PathBuf,
    /// Firehose stream of SPI records (instead of the parameter SpiAuditStream).
    #[arg(long)]
    pub spi_audit_stream: Option<String>,
    /// Firehose stream of DICT records (instead of the parameter DictAuditStream).
    #[arg(long)]
    pub dict_audit_stream: Option<String>,
    /// Where the front end listens.
    #[command(flatten)]
    pub listen: Listen,
    /// SPI sends, and separately stream reads, under way to BACEN at once from this task (BACEN
    /// admits 6 per participant on each side: a fleet of N tasks splits them); else the
    /// parameter BcbMaxInFlight, else 6.
    #[arg(long)]
    pub bacen_max_in_flight: Option<usize>,
    /// How long a request may wait for a place before it is answered 503 bacenBusy.
    #[arg(long, default_value_t = 2000)]
    pub queue_timeout_ms: u64,
    /// Single-message SPI sends sent together as one multipart request (1 turns batching off).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=10))]
    pub batch_max: u16,
    /// Seconds between re-reads of BACEN's certificates from the parameters (also on SIGHUP).
    #[arg(long, default_value_t = 300)]
    pub refresh_seconds: u64,
    /// Who may call the proxy, for what.
    #[command(flatten)]
    pub callers: callers::CallerArgs,
}
