//! `proxy-hsm`: the Fargate flavour. `demo` runs the whole pipeline once on loopback (dev PKI,
//! simulator, proxy, sample messages); `serve --dev` keeps that set-up running for curl.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use proxy_hsm::Listen;
use proxy_hsm::demo::{self, DevSetup};

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

#[derive(Subcommand)]
enum Command {
    /// Run the whole pipeline once on loopback and print each step.
    Demo {
        /// Where the PKI and the audit files go.
        #[arg(long, default_value = "target/pix-demo")]
        dir: PathBuf,
    },
    /// Serve on 8080 (DICT), 9090 (SPI) and 7070 (/check).
    Serve {
        /// Development set-up: dev PKI and an in-process simulator as BACEN.
        #[arg(long, required = true)]
        dev: bool,
        /// Where the PKI and the audit files go.
        #[arg(long, default_value = "target/pix-dev")]
        dir: PathBuf,
        /// Address to bind.
        #[arg(long, default_value = "127.0.0.1")]
        bind: IpAddr,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("proxy-hsm: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match Cli::parse().command {
            Command::Demo { dir } => demo::run(&dir, &repo_root()).await,
            Command::Serve { dev: _, dir, bind } => {
                let setup = DevSetup::start(&dir, Listen::standard(bind)).await?;
                println!(
                    "proxy: DICT http://{} SPI http://{} check http://{}; BACEN simulator SPI {} DICT {}; signer: {}",
                    setup.proxy.dict, setup.proxy.spi, setup.proxy.check, setup.simulator.spi, setup.simulator.dict, setup.signer
                );
                let _ = tokio::signal::ctrl_c().await;
                setup.shutdown().await;
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("proxy-hsm: {e}");
            ExitCode::from(1)
        }
    }
}

/// The repository root (where `samples/` is): the working directory when it has `samples/`,
/// else the source tree this binary was built from.
fn repo_root() -> PathBuf {
    if Path::new("samples").is_dir() {
        return PathBuf::from(".");
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}
