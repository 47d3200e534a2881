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
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use pix_dev::hsm::{self, DevOptions, DevSetup};
use pix_xmldsig::dsig::Profile;
use proxy_core::audit::AuditSink;
use proxy_core::audit::firehose::{FirehoseSink, Settings};
use proxy_core::config::aws;
use proxy_core::service::Threads;

mod cli;
use cli::{Audit, Cli, Command, Flavour};

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
            callers_unauthenticated,
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
                callers: !callers_unauthenticated,
                ..DevOptions::new(listen)
            };
            proxy_hsm::install_metrics().map_err(|e| e.to_string())?;
            let setup = DevSetup::start_with(&dir, options).await?;
            let scheme = if callers_unauthenticated { "http" } else { "https" };
            println!(
                "proxy: DICT {scheme}://{} SPI {scheme}://{} check http://{}; BACEN simulator SPI {} DICT {}; signer: {}",
                setup.proxy.dict,
                setup.proxy.spi,
                setup.proxy.check,
                setup.simulator.spi,
                setup.simulator.dict,
                setup.signer
            );
            if callers_unauthenticated {
                println!("callers are NOT authenticated (--callers-unauthenticated)");
            } else {
                let pki = hsm::display_dir(&dir.join("pki"));
                println!(
                    "callers authenticated: curl --cacert {pki}/bank-ca.cer --cert {pki}/caller.cer --key {pki}/caller.key https://{}/api/v1/in/{}/msgs …",
                    setup.proxy.spi,
                    hsm::PAYER_ISPB
                );
            }
            proxy_core::service::shutdown_signal().await;
            setup.shutdown().await;
            if let Some(f) = firehose {
                f.flush(std::time::Duration::from_secs(10)).await;
            }
            Ok(())
        }
    }
}
