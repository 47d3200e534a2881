//! `proxy-hsm`: the Fargate flavour. `demo` runs the whole pipeline once on loopback (dev PKI,
//! simulator, proxy, sample messages); `serve --dev` keeps that set-up running for curl.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use std::sync::Arc;

use clap::{Parser, Subcommand};
use proxy_core::audit::FileSink;
use proxy_core::config::{Parameters, aws};
use proxy_hsm::configured::{self, Deployment, PinFormat};
use proxy_hsm::demo::{self, DevSetup, Keys};
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

// Parsed once at start-up: the size of the larger variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the whole pipeline once on loopback and print each step.
    Demo {
        /// Where the PKI and the audit files go.
        #[arg(long, default_value = "target/pix-demo")]
        dir: PathBuf,
    },
    /// Serve on 8080 (DICT), 9090 (SPI) and 7070 (/check) until SIGTERM.
    Serve {
        /// Development set-up: dev PKI, keys in SoftHSM (or software), an in-process simulator.
        #[arg(long, conflicts_with_all = ["parameters", "secret"])]
        dev: bool,
        /// Read the seed-001 parameters from SSM (`/pix/proxy/cloudhsm/*`) and the secret
        /// `/pix/proxy/cloudhsm/CloudHSMSecret` from Secrets Manager (the Fargate task's role).
        #[arg(long, conflicts_with_all = ["parameters", "secret"])]
        from_aws: bool,
        /// AWS endpoint override (a local emulator).
        #[arg(long, requires = "from_aws")]
        aws_endpoint: Option<String>,
        /// The seed-001 parameters (`/pix/proxy/cloudhsm/*`) as a JSON object of full names to values.
        #[arg(long, required_unless_present_any = ["dev", "from_aws"], requires = "secret")]
        parameters: Option<PathBuf>,
        /// The secret `/pix/proxy/cloudhsm/CloudHSMSecret` ({"HSM_USER":…,"HSM_PASSWORD":…}).
        #[arg(long, required_unless_present_any = ["dev", "from_aws"])]
        secret: Option<PathBuf>,
        /// PKCS#11 module.
        #[arg(long, default_value = "/opt/cloudhsm/lib/libcloudhsm_pkcs11.so")]
        module: PathBuf,
        /// Token label (default: the first token).
        #[arg(long)]
        token_label: Option<String>,
        /// PIN as CloudHSM wants it (user:password) or the password alone (other tokens).
        #[arg(long, value_parser = ["cloudhsm", "plain"], default_value = "cloudhsm")]
        pin_format: String,
        /// Connect to this address instead of resolving BACEN's host names (test networks).
        #[arg(long)]
        resolve: Option<IpAddr>,
        /// TLS name to verify BACEN's certificate against (else BcbTlsServerName, else the host).
        #[arg(long)]
        tls_server_name: Option<String>,
        /// Where audit records go (JSON lines, fsynced).
        #[arg(long, default_value = "audit")]
        audit_dir: PathBuf,
        /// Where the development PKI and audit files go (--dev).
        #[arg(long, default_value = "target/pix-dev")]
        dir: PathBuf,
        /// Keys of the development set-up (--dev): in SoftHSM, in files, or SoftHSM when available.
        #[arg(long, value_parser = ["softhsm", "software", "auto"], default_value = "auto")]
        keys: String,
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
            Command::Serve { dev: true, dir, bind, keys, .. } => {
                let keys = match keys.as_str() {
                    "softhsm" => Keys::SoftHsm,
                    "software" => Keys::Software,
                    _ => Keys::Auto,
                };
                let timeout = std::time::Duration::from_secs(10);
                let setup = DevSetup::start_with(&dir, Listen::standard(bind), timeout, keys).await?;
                println!(
                    "proxy: DICT http://{} SPI http://{} check http://{}; BACEN simulator SPI {} DICT {}; signer: {}",
                    setup.proxy.dict, setup.proxy.spi, setup.proxy.check, setup.simulator.spi, setup.simulator.dict, setup.signer
                );
                shutdown_signal().await;
                setup.shutdown().await;
                Ok(())
            }
            Command::Serve {
                from_aws,
                aws_endpoint,
                parameters,
                secret,
                module,
                token_label,
                pin_format,
                resolve,
                tls_server_name,
                audit_dir,
                bind,
                ..
            } => {
                let (params, secret) = if from_aws {
                    let sdk = aws::sdk_config(aws_endpoint.as_deref()).await;
                    let ssm = aws_sdk_ssm::Client::new(&sdk);
                    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
                    let params = aws::parameters(&ssm, configured::PREFIX).await.map_err(|e| e.to_string())?;
                    let secret = aws::secret(&secrets, configured::SECRET).await.map_err(|e| e.to_string())?;
                    (params, secret)
                } else {
                    let (Some(parameters), Some(secret)) = (parameters, secret) else {
                        return Err("--parameters and --secret (or --from-aws) are required without --dev".to_string());
                    };
                    let params = Parameters::from_json_file(configured::PREFIX, &parameters).map_err(|e| e.to_string())?;
                    let secret = std::fs::read_to_string(&secret).map_err(|e| format!("{}: {e}", secret.display()))?;
                    (params, secret)
                };
                let format = if pin_format == "plain" { PinFormat::Plain } else { PinFormat::CloudHsm };
                let pin = configured::pin_from_secret(&secret, format).map_err(|e| e.to_string())?;
                let deployment = Deployment {
                    module,
                    token_label,
                    pool: 16,
                    timeout: std::time::Duration::from_secs(10),
                    resolve,
                    tls_server_name,
                };
                let audit = Arc::new(FileSink::new(&audit_dir));
                let (dict, spi) = configured::relays(&params, &pin, &deployment, audit)?;
                let proxy = FrontEnd::start(Listen::standard(bind), dict, spi).await.map_err(|e| e.to_string())?;
                tracing::info!(dict = %proxy.dict, spi = %proxy.spi, check = %proxy.check, "serving");
                shutdown_signal().await;
                proxy.shutdown().await;
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

/// SIGTERM (ECS stopping the task) or ctrl-c.
async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
