//! `pix-dev`: the development side of pix-proxy, never shipped.
//!
//! - `pix-dev demo`: the whole pipeline once on loopback (dev PKI, BACEN simulator, proxy, the
//!   sample messages), each step printed; `--flavour kms` runs the Lambda flavour's handler with
//!   moto's server as AWS.
//! - `pix-dev rehearsal`: BACEN's homologation roadmaps and capacity tests through two proxies,
//!   with a report.
//! - `pix-dev serve`: the Fargate flavour's development set-up kept running for curl.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use pix_dev::hsm::{self, DevOptions, DevSetup, Keys};
use pix_xmldsig::dsig::Profile;
use proxy_core::audit::AuditSink;
use proxy_core::audit::firehose::{FirehoseSink, Settings};
use proxy_core::config::aws;
use proxy_core::service::Threads;
use proxy_hsm::Listen;

#[derive(Parser)]
#[command(
    name = "pix-dev",
    version,
    about = "pix-proxy on loopback: the demo and the development server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Which flavour the demo runs.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Flavour {
    /// Fargate: the proxy-hsm front end, keys in SoftHSM when installed.
    Hsm,
    /// Lambda: the proxy-kms handler, KMS and the rest of AWS played by moto's server.
    Kms,
}

/// Where the development server's audit records go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Audit {
    /// JSON lines under `<dir>/audit`.
    Files,
    /// Firehose (with `--aws-endpoint`, `--spi-audit-stream`, `--dict-audit-stream`).
    Firehose,
}

#[derive(Subcommand)]
enum Command {
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
    },
}

fn main() -> ExitCode {
    proxy_core::service::main("pix-dev", "warn", Threads::PerCore, run(Cli::parse().command))
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Demo {
            flavour: Flavour::Hsm,
            dir,
        } => hsm::run(&dir).await,
        Command::Demo {
            flavour: Flavour::Kms,
            dir,
        } => pix_dev::kms::run(&dir).await,
        Command::Rehearsal {
            capacity_scale,
            out,
            keys,
        } => {
            let options = pix_dev::rehearsal::Options {
                capacity_scale,
                keys,
                ..pix_dev::rehearsal::Options::new(&out)
            };
            match pix_dev::rehearsal::run(&options).await? {
                true => Ok(()),
                false => Err("the rehearsal failed: see the report".into()),
            }
        }
        Command::Serve {
            dir,
            keys,
            audit,
            aws_endpoint,
            spool_dir,
            spi_audit_stream,
            dict_audit_stream,
            listen,
        } => {
            let firehose = match (audit, spi_audit_stream, dict_audit_stream) {
                (Audit::Firehose, Some(spi), Some(dict)) => {
                    let sdk = aws::sdk_config(aws_endpoint.as_deref()).await;
                    let streams = HashMap::from([(Profile::Spi, spi), (Profile::Dict, dict)]);
                    let client = aws_sdk_firehose::Client::new(&sdk);
                    let sink = FirehoseSink::spooled(client, streams, &spool_dir, Settings::default())
                        .map_err(|e| e.to_string())?;
                    Some(Arc::new(sink))
                }
                _ => None,
            };
            let options = DevOptions {
                keys,
                audit: firehose.clone().map(|f| f as Arc<dyn AuditSink>),
                ..DevOptions::new(listen)
            };
            proxy_hsm::install_metrics().map_err(|e| e.to_string())?;
            let setup = DevSetup::start_with(&dir, options).await?;
            println!(
                "proxy: DICT http://{} SPI http://{} check http://{}; BACEN simulator SPI {} DICT {}; signer: {}",
                setup.proxy.dict,
                setup.proxy.spi,
                setup.proxy.check,
                setup.simulator.spi,
                setup.simulator.dict,
                setup.signer
            );
            proxy_core::service::shutdown_signal().await;
            setup.shutdown().await;
            if let Some(f) = firehose {
                f.flush(std::time::Duration::from_secs(10)).await;
            }
            Ok(())
        }
    }
}
