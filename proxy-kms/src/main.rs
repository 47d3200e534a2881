//! `proxy-kms`: the Lambda's `bootstrap` (no arguments, under the Lambda runtime), or
//! `serve` (the same handler over plain HTTP against any AWS endpoint).

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::{Parser, Subcommand};
use pix_xmldsig::dsig::Profile;
use proxy_core::config::{Network, StartError};
use proxy_core::service::Threads;
use proxy_kms::configured::{self, Clients, Deployment, Refresher};
use proxy_kms::{handler, local};

#[derive(Parser)]
#[command(
    name = "proxy-kms",
    version,
    about = "PIX proxy, Lambda flavour: signs with AWS KMS, forwards over mTLS, verifies, audits to Firehose"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// A PKCS#10 certificate request for the KMS key, signed by it (KMS `Sign`), PEM on stdout.
    Csr {
        /// The key's id, ARN or alias (the parameter SignatureKeyId).
        #[arg(long)]
        key_id: String,
        /// The certificate's subject, e.g. "CN=spi.banco.com.br,OU=PIX,O=Banco Exemplo S.A.,C=BR".
        #[arg(long)]
        subject: String,
        /// A subject alternative name (DNS name or IP address); repeatable.
        #[arg(long)]
        san: Vec<String>,
        /// AWS endpoint override (a local emulator).
        #[arg(long)]
        aws_endpoint: Option<String>,
    },
    /// Check every certificate the parameters name: validity, and that SignatureCertificate holds
    /// the KMS key's public key and MtlsCertificate the secret's. Exit 1 naming any that does not.
    Certificates {
        /// AWS endpoint override (a local emulator).
        #[arg(long)]
        aws_endpoint: Option<String>,
    },
    /// Run under the Lambda runtime (the default when AWS_LAMBDA_RUNTIME_API is set).
    Lambda,
    /// Serve the Lambda handler over plain HTTP (local runs against moto's server or AWS).
    Serve {
        /// AWS endpoint override (a local emulator).
        #[arg(long)]
        aws_endpoint: Option<String>,
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// The family served (default: PIX_SPI_PROXY=true → spi, false → dict).
        #[arg(long, value_enum)]
        family: Option<Profile>,
        /// Connect to this address instead of resolving BACEN's host name (test networks).
        #[arg(long)]
        resolve: Option<IpAddr>,
        /// TLS name to verify BACEN's certificate against (else BcbTlsServerName, else the host).
        #[arg(long)]
        tls_server_name: Option<String>,
    },
}

/// Checks what the Lambda runtime client reads from the environment, which it would otherwise
/// `expect` (a panic instead of a message naming the variable).
fn lambda_environment() -> Result<(), String> {
    let var = |name: &str| {
        std::env::var(name).map_err(|_| {
            format!(
                "{name} is not set: `proxy-kms lambda` runs under the Lambda runtime (use `serve` locally)"
            )
        })
    };
    let api = var("AWS_LAMBDA_RUNTIME_API")?;
    http::Uri::try_from(api.as_str())
        .map_err(|e| format!("AWS_LAMBDA_RUNTIME_API '{api}' is not host:port or a URL: {e}"))?;
    var("AWS_LAMBDA_FUNCTION_NAME")?;
    var("AWS_LAMBDA_FUNCTION_VERSION")?;
    let memory = var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")?;
    memory
        .parse::<i32>()
        .map_err(|_| format!("AWS_LAMBDA_FUNCTION_MEMORY_SIZE '{memory}' is not a number"))?;
    Ok(())
}

fn main() -> ExitCode {
    let started = Instant::now();
    let cli = Cli::parse();
    // One thread: a Lambda container handles one invocation at a time, and cross-thread wake-ups
    // cost more CPU per message than they save (measured: 2.5 → 2.2 ms, `examples/kms_costs.rs`).
    proxy_core::service::main("proxy-kms", "info", Threads::One, run(cli, started))
}

async fn run(cli: Cli, started: Instant) -> Result<(), StartError> {
    let command = match cli.command {
        Some(c) => c,
        None if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() => Command::Lambda,
        None => {
            return Err(StartError::Io(
                "no command: run `proxy-kms serve` locally (see --help)".into(),
            ));
        }
    };
    let env_family = std::env::var("PIX_SPI_PROXY").ok();
    match command {
        Command::Csr {
            key_id,
            subject,
            san,
            aws_endpoint,
        } => {
            let clients = Clients::load(aws_endpoint.as_deref()).await;
            let public = proxy_kms::kms::rsa_public_key(&clients.kms, &key_id)
                .await
                .map_err(StartError::Io)?;
            let kms = clients.kms.clone();
            let id = key_id.clone();
            let pem = proxy_core::csr::request(&subject, &san, public, |tbs| async move {
                proxy_kms::kms::sign_raw(&kms, &id, tbs).await
            })
            .await
            .map_err(|e| StartError::Io(e.to_string()))?;
            print!("{pem}");
            Ok(())
        }
        Command::Certificates { aws_endpoint } => {
            let clients = Clients::load(aws_endpoint.as_deref()).await;
            configured::check_certificates(&clients).await
        }
        Command::Lambda => {
            lambda_environment().map_err(StartError::Io)?;
            let profile = configured::profile_from_env(env_family.as_deref()).map_err(StartError::from)?;
            let clients = Clients::load(None).await;
            let relay = configured::relay(&clients, profile, &Deployment::default()).await?;
            let refresher = Arc::new(Refresher::from_env(clients.ssm.clone())?);
            let emf = proxy_kms::emf::EmfRecorder::install();
            proxy_core::reload::log_in_use(&relay);
            tracing::info!(
                family = profile.name(),
                ready_ms = started.elapsed().as_millis() as u64,
                "ready"
            );
            let service = lambda_http::service_fn(move |event| {
                let (relay, refresher, emf) = (Arc::clone(&relay), Arc::clone(&refresher), emf.clone());
                async move {
                    refresher.maybe(&relay).await;
                    let answer = handler::handle(relay, event).await;
                    // The invocation's metrics, before Lambda may freeze the container.
                    emf.flush();
                    Ok::<_, std::convert::Infallible>(answer)
                }
            });
            lambda_http::run(service)
                .await
                .map_err(|e| StartError::Io(e.to_string()))
        }
        Command::Serve {
            aws_endpoint,
            listen,
            family,
            resolve,
            tls_server_name,
        } => {
            let profile = match family {
                Some(p) => p,
                None => configured::profile_from_env(env_family.as_deref())?,
            };
            let listener = local::bind(listen).await.map_err(StartError::Io)?;
            let clients = Clients::load(aws_endpoint.as_deref()).await;
            let deployment = Deployment {
                network: Network {
                    resolve,
                    tls_server_name,
                    ..Network::default()
                },
                ..Deployment::default()
            };
            let relay = configured::relay(&clients, profile, &deployment).await?;
            let refresher = Arc::new(Refresher::from_env(clients.ssm.clone())?);
            proxy_core::reload::log_in_use(&relay);
            let addr = listener.local_addr().map_err(|e| StartError::Io(e.to_string()))?;
            tracing::info!(family = profile.name(), %addr, ready_ms = started.elapsed().as_millis() as u64, "ready");
            local::serve(
                listener,
                relay,
                Some(refresher),
                proxy_core::service::shutdown_signal(),
            )
            .await;
            Ok(())
        }
    }
}
