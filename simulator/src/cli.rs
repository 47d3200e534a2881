//! The `simulator` binary's command line (the binary's own module, not the library's).

use clap::{Parser, Subcommand};
use simulator::participants::Participant;
use std::net::IpAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "simulator",
    version,
    about = "A BACEN simulator (SPI/ICOM and DICT over mutual TLS) for PIX proxy tests"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Write a development PKI (BACEN and PSP CAs, TLS and signature keys) into a directory.
    Pki {
        /// Output directory (created if needed).
        #[arg(long)]
        out: PathBuf,
    },
    /// Serve SPI, DICT and the control port.
    Serve(Box<Serve>),
}

/// `simulator serve`'s options.
#[derive(clap::Args)]
pub struct Serve {
    /// Directory of a development PKI (`simulator pki`); generated in a temp dir when absent.
    #[arg(long)]
    pub pki: Option<PathBuf>,
    /// TLS server certificate, overriding the PKI's (e.g. the seeds' mtls.cer).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS server key, PEM.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Signature certificate, overriding the PKI's (e.g. the seeds' sig.cer).
    #[arg(long, requires = "sig_key")]
    pub sig_cert: Option<PathBuf>,
    /// Signature key, PEM.
    #[arg(long, requires = "sig_cert")]
    pub sig_key: Option<PathBuf>,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// SPI port (0: any free port).
    #[arg(long, default_value_t = 9191)]
    pub spi_port: u16,
    /// ICOM's secondary channel port (gzip mandatory, its own token buckets).
    #[arg(long, default_value_t = 9192)]
    pub spi_secondary_port: u16,
    /// DICT port.
    #[arg(long, default_value_t = 8181)]
    pub dict_port: u16,
    /// The participants' DICT category (A to H): the size of their lookup bucket,
    /// `ENTRIES_READ_PARTICIPANT_ANTISCAN`, by DICT's OpenAPI's table.
    #[arg(long, default_value = "A", value_parser = category)]
    pub dict_category: char,
    /// DICT's key-check server port (`POST /api-np/v2/keys/check`).
    #[arg(long, default_value_t = 8282)]
    pub dict_key_check_port: u16,
    /// Control port (`/check`, `/faults`).
    #[arg(long, default_value_t = 7171)]
    pub check_port: u16,
    /// Seconds a stream GET waits before 204.
    #[arg(long, default_value_t = 5)]
    pub stream_wait: u64,
    /// Seconds the SPI waits for a hosted payee's pacs.002 before rejecting the payment `AB03`
    /// (40: BACEN's maximum time of a Pix, Q&A #146).
    #[arg(long, default_value_t = 40)]
    pub payee_timeout: u64,
    /// Seed of the fault generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Faults from the start, as the control port takes them (repeatable), e.g.
    /// `family=spi&latency_ms=200&error_rate=0.1` (see `POST /faults` on the control port).
    #[arg(long)]
    pub faults: Vec<String>,
    /// A participant the simulator hosts, `ISPB:CLIENT_CERT:SIGNATURE_CERT` (repeatable):
    /// payments to it are delivered on its stream and settled by its pacs.002.
    #[arg(long, value_parser = participant)]
    pub participant: Vec<Participant>,
    /// Message versions, `type=version,…` (e.g. `pacs.008=1.13,pacs.002=1.15`); the others
    /// keep their defaults (pacs.008 1.16, pacs.002 1.17, pacs.004 1.3, …).
    #[arg(long)]
    pub versions: Option<String>,
    /// A directory of BACEN's schemas (its catalog package's `.xsd` files): messages of the
    /// types they cover are validated, an invalid one or a version without a schema answered
    /// with an admi.002, and those versions are the catalog's. Without it nothing is validated.
    #[arg(long)]
    pub schemas: Option<PathBuf>,
}

/// A DICT participant category, A to H.
fn category(spec: &str) -> Result<char, String> {
    match spec.chars().collect::<Vec<_>>()[..] {
        [c] if simulator::dict_limits::category_size(c.to_ascii_uppercase()).is_some() => {
            Ok(c.to_ascii_uppercase())
        }
        _ => Err(format!("'{spec}': a category from A to H")),
    }
}

/// `ISPB:CLIENT_CERT:SIGNATURE_CERT`.
fn participant(spec: &str) -> Result<Participant, String> {
    let mut parts = spec.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(ispb), Some(client), Some(signature)) if !client.is_empty() && !signature.is_empty() => {
            Ok(Participant {
                ispb: ispb.to_string(),
                client_certificate: Some(PathBuf::from(client)),
                signature_certificates: vec![PathBuf::from(signature)],
            })
        }
        _ => Err(format!("'{spec}': expected ISPB:CLIENT_CERT:SIGNATURE_CERT")),
    }
}
