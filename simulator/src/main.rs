//! `simulator`: BACEN for tests. `simulator pki --out DIR` writes a development PKI;
//! `simulator serve` runs SPI (9191), DICT (8181) and the control port (7171) until SIGTERM/ctrl-c.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use proxy_core::service::Threads;
use simulator::participants::Participant;
use simulator::pki::DevPki;
use simulator::{Config, Simulator};

#[derive(Parser)]
#[command(
    name = "simulator",
    version,
    about = "A BACEN simulator (SPI/ICOM and DICT over mutual TLS) for PIX proxy tests"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
struct Serve {
    /// Directory of a development PKI (`simulator pki`); generated in a temp dir when absent.
    #[arg(long)]
    pki: Option<PathBuf>,
    /// TLS server certificate, overriding the PKI's (e.g. the seeds' mtls.cer).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS server key, PEM.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Signature certificate, overriding the PKI's (e.g. the seeds' sig.cer).
    #[arg(long, requires = "sig_key")]
    sig_cert: Option<PathBuf>,
    /// Signature key, PEM.
    #[arg(long, requires = "sig_cert")]
    sig_key: Option<PathBuf>,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// SPI port (0: any free port).
    #[arg(long, default_value_t = 9191)]
    spi_port: u16,
    /// DICT port.
    #[arg(long, default_value_t = 8181)]
    dict_port: u16,
    /// Control port (`/check`, `/faults`).
    #[arg(long, default_value_t = 7171)]
    check_port: u16,
    /// Seconds a stream GET waits before 204.
    #[arg(long, default_value_t = 5)]
    stream_wait: u64,
    /// Seconds the SPI waits for a hosted payee's pacs.002 before rejecting the payment `AB03`
    /// (40: BACEN's maximum time of a Pix, Q&A #146).
    #[arg(long, default_value_t = 40)]
    payee_timeout: u64,
    /// Seed of the fault generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Faults from the start, as the control port takes them (repeatable), e.g.
    /// `family=spi&latency_ms=200&error_rate=0.1` (see `POST /faults` on the control port).
    #[arg(long)]
    faults: Vec<String>,
    /// A participant the simulator hosts, `ISPB:CLIENT_CERT:SIGNATURE_CERT` (repeatable):
    /// payments to it are delivered on its stream and settled by its pacs.002.
    #[arg(long, value_parser = participant)]
    participant: Vec<Participant>,
    /// Message versions, `type=version,…` (e.g. `pacs.008=1.13,pacs.002=1.15`); the others
    /// keep the samples' (pacs.008 1.4, pacs.002 1.3, …).
    #[arg(long)]
    versions: Option<String>,
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
                dict_port,
                check_port,
                stream_wait,
                payee_timeout,
                seed,
                faults,
                participant,
                versions,
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
            config.dict_port = dict_port;
            config.check_port = check_port;
            config.stream_wait = Duration::from_secs(stream_wait);
            config.payee_timeout = Duration::from_secs(payee_timeout);
            config.seed = seed;
            config.participants = participant;
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
                "SPI https://{}  DICT https://{}  control http://{}",
                sim.spi, sim.dict, sim.check
            );
            proxy_core::service::shutdown_signal().await;
            tracing::info!("shutting down");
            sim.shutdown().await;
            Ok(())
        }
    }
}
