//! `simulator`: BACEN for tests. `simulator pki --out DIR` writes a development PKI;
//! `simulator serve` runs SPI (9191), DICT (8181) and the control port (7171) until SIGTERM/ctrl-c.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use proxy_core::service::Threads;
use simulator::pki::DevPki;
use simulator::{Config, Simulator};

mod cli;
use cli::{Cli, Command, Serve};

fn main() -> ExitCode {
    proxy_core::service::main("simulator", "info", Threads::PerCore, run(Cli::parse().command))
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Pki { out } => {
            DevPki::generate(&out).map_err(|e| e.to_string())?;
            println!("development PKI written to {}", out.display());
            Ok(())
        }
        Command::Serve(serve) => {
            let Serve {
                pki,
                tls_cert,
                tls_key,
                sig_cert,
                sig_key,
                bind,
                spi_port,
                spi_secondary_port,
                dict_port,
                dict_key_check_port,
                dict_category,
                check_port,
                stream_wait,
                payee_timeout,
                seed,
                faults,
                participant,
                versions,
                schemas,
            } = *serve;
            let (pki, _temp) = match pki {
                Some(dir) => (DevPki::at(&dir), None),
                None => {
                    let temp = std::env::temp_dir().join(format!("pix-simulator-pki-{}", std::process::id()));
                    (DevPki::generate(&temp).map_err(|e| e.to_string())?, Some(temp))
                }
            };
            let mut config = Config::with_pki(&pki);
            config.bind = bind;
            config.spi_port = spi_port;
            config.spi_secondary_port = spi_secondary_port;
            config.dict_port = dict_port;
            config.dict_key_check_port = dict_key_check_port;
            config.dict_category = dict_category;
            config.dict_policies = simulator::dict_limits::policies_for(dict_category);
            config.check_port = check_port;
            config.stream_wait = Duration::from_secs(stream_wait);
            config.payee_timeout = Duration::from_secs(payee_timeout);
            config.seed = seed;
            config.participants = participant;
            config.schemas = schemas;
            if let Some(v) = versions {
                config.catalog.apply(&v).map_err(|e| format!("--versions: {e}"))?;
            }
            if let (Some(c), Some(k)) = (tls_cert, tls_key) {
                config.tls_cert = c;
                config.tls_key = k;
            }
            if let (Some(c), Some(k)) = (sig_cert, sig_key) {
                config.sig_cert = c;
                config.sig_key = k;
            }
            let sim = Simulator::start(config).await.map_err(|e| e.to_string())?;
            for f in &faults {
                sim.set_faults(f).map_err(|e| format!("--faults {f}: {e}"))?;
            }
            println!(
                "SPI https://{}  SPI secondary https://{}  DICT https://{}  DICT key check https://{}  control http://{}",
                sim.spi, sim.spi_secondary, sim.dict, sim.dict_key_check, sim.check
            );
            proxy_core::service::shutdown_signal().await;
            tracing::info!("shutting down");
            sim.shutdown().await;
            Ok(())
        }
    }
}
