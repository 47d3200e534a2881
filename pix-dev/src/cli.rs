//! The `pix-dev` binary's command line (the binary's own module, not the library's).

use clap::{Parser, Subcommand, ValueEnum};
use pix_dev::hsm::Keys;
use proxy_hsm::Listen;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "pix-dev",
    version,
    about = "pix-proxy on loopback: the demo and the development server"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Which flavour the demo runs.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Flavour {
    /// Fargate: the proxy-hsm front end, keys in SoftHSM when installed.
    Hsm,
    /// Lambda: the proxy-kms handler, KMS and the rest of AWS played by moto's server.
    Kms,
}

/// Where the development server's audit records go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Audit {
    /// JSON lines under `<dir>/audit`.
    Files,
    /// Firehose (with `--aws-endpoint`, `--spi-audit-stream`, `--dict-audit-stream`).
    Firehose,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the whole pipeline once on loopback and print each step.
    Demo {
        /// Which flavour.
        #[arg(long, value_enum, default_value = "hsm")]
        flavour: Flavour,
        /// Where the PKI and the audit files go (under the current directory by default).
        #[arg(long, default_value = "target/pix-demo")]
        dir: PathBuf,
    },
    /// Rehearse BACEN's homologation: the SPI and DICT roadmaps through two proxies, the capacity
    /// tests, and a report (`report.md`, `report.html`); exits non-zero when a step fails.
    Rehearsal {
        /// Share of BACEN's capacity test (1: 20,000 payments each way in 10 minutes).
        #[arg(long, default_value_t = 1.0)]
        capacity_scale: f64,
        /// Where the reports, PKI and audit records go.
        #[arg(long, default_value = "target/rehearsal")]
        out: PathBuf,
        /// Where the proxies' keys live.
        #[arg(long, value_enum, default_value = "auto")]
        keys: Keys,
    },
    /// Keep the Fargate flavour's development set-up running (proxy DICT :8080, SPI :9090,
    /// health :7070; the simulator on free ports) until SIGTERM.
    Serve {
        /// Where the development PKI and audit files go.
        #[arg(long, default_value = "target/pix-dev")]
        dir: PathBuf,
        /// Where the keys live.
        #[arg(long, value_enum, default_value = "auto")]
        keys: Keys,
        /// Where audit records go.
        #[arg(long, value_enum, default_value = "files")]
        audit: Audit,
        /// AWS endpoint (a local emulator) for `--audit firehose`.
        #[arg(long)]
        aws_endpoint: Option<String>,
        /// The write-ahead spool of the Firehose sink.
        #[arg(long, default_value = "target/pix-dev/audit-spool")]
        spool_dir: PathBuf,
        /// Firehose stream of SPI records.
        #[arg(long, required_if_eq("audit", "firehose"))]
        spi_audit_stream: Option<String>,
        /// Firehose stream of DICT records.
        #[arg(long, required_if_eq("audit", "firehose"))]
        dict_audit_stream: Option<String>,
        /// Where the proxy listens.
        #[command(flatten)]
        listen: Listen,
        /// Serve the SPI and DICT ports as plain HTTP without authenticating callers (load
        /// generators that cannot present a client certificate, such as wrk); said at start.
        #[arg(long)]
        callers_unauthenticated: bool,
    },
}
