//! Each subcommand of `proxy-kms`, as it runs.

use std::sync::Arc;
use std::time::Instant;

use proxy_core::config::{Network, StartError};
use proxy_kms::configured::{self, Clients, Deployment};
use proxy_kms::{handler, local};

use super::Command;

/// Checks what the Lambda runtime client reads from the environment, which it would otherwise
/// `expect` (a panic instead of a message naming the variable).
fn lambda_environment() -> Result<(), StartError> {
    let var = |name: &str| {
        std::env::var(name).map_err(|_| {
            StartError::Usage(format!(
                "{name} is not set: `proxy-kms lambda` runs under the Lambda runtime (use `serve` locally)"
            ))
        })
    };
    let api = var("AWS_LAMBDA_RUNTIME_API")?;
    http::Uri::try_from(api.as_str()).map_err(|e| {
        StartError::Usage(format!(
            "AWS_LAMBDA_RUNTIME_API '{api}' is not host:port or a URL: {e}"
        ))
    })?;
    var("AWS_LAMBDA_FUNCTION_NAME")?;
    var("AWS_LAMBDA_FUNCTION_VERSION")?;
    let memory = var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")?;
    memory.parse::<i32>().map_err(|_| {
        StartError::Usage(format!(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE '{memory}' is not a number"
        ))
    })?;
    Ok(())
}

/// Runs `command` (none: `lambda` under the Lambda runtime, else a usage error).
pub async fn run(command: Option<Command>, started: Instant) -> Result<(), StartError> {
    let command = match command {
        Some(c) => c,
        None if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() => Command::Lambda,
        None => {
            return Err(StartError::Usage(
                "no command: run `proxy-kms serve` locally (see --help)".into(),
            ));
        }
    };
    match command {
        Command::Csr {
            key_id,
            subject,
            san,
            aws_endpoint,
        } => csr(&key_id, &subject, &san, aws_endpoint.as_deref()).await,
        Command::Certificates { aws_endpoint } => {
            let clients = Clients::load(aws_endpoint.as_deref()).await;
            configured::check_certificates(&clients).await
        }
        Command::Lambda => lambda(started).await,
        Command::Serve {
            aws_endpoint,
            listen,
            family,
            resolve,
            tls_server_name,
            schemas,
        } => {
            let network = Network {
                resolve,
                tls_server_name,
                schemas,
                ..Network::default()
            };
            serve(aws_endpoint.as_deref(), listen, family, network, started).await
        }
    }
}

/// The family of `PIX_SPI_PROXY` (as the stacks set it per function).
fn family_from_env() -> Result<pix_xmldsig::dsig::Profile, StartError> {
    let env_family = std::env::var("PIX_SPI_PROXY").ok();
    Ok(configured::profile_from_env(env_family.as_deref())?)
}

/// `proxy-kms csr`: a certificate request for the KMS key, signed by it, on stdout.
async fn csr(
    key_id: &str,
    subject: &str,
    san: &[String],
    aws_endpoint: Option<&str>,
) -> Result<(), StartError> {
    let clients = Clients::load(aws_endpoint).await;
    let public = proxy_kms::kms::rsa_public_key(&clients.kms, key_id).await?;
    let kms = clients.kms.clone();
    let id = key_id.to_string();
    let pem = proxy_core::csr::request(subject, san, public, |tbs| async move {
        proxy_kms::kms::sign_raw(&kms, &id, tbs).await
    })
    .await?;
    print!("{pem}");
    Ok(())
}

/// `proxy-kms lambda`: the handler under the Lambda runtime, with the relay of its family.
async fn lambda(started: Instant) -> Result<(), StartError> {
    lambda_environment()?;
    let profile = family_from_env()?;
    let clients = Clients::load(None).await;
    let relay = configured::relay(&clients, profile, &Deployment::default()).await?;
    let reloader = Arc::new(configured::reloader(&clients, &relay)?);
    let emf = proxy_kms::emf::EmfRecorder::install();
    proxy_core::reload::log_in_use(&relay);
    tracing::info!(
        family = profile.name(),
        ready_ms = started.elapsed().as_millis() as u64,
        "ready"
    );
    let service = lambda_http::service_fn(move |event| {
        let (relay, reloader) = (Arc::clone(&relay), Arc::clone(&reloader));
        async move {
            reloader.if_due().await;
            let answer = handler::handle(relay, event).await;
            // The invocation's metrics, before Lambda may freeze the container.
            emf.flush();
            Ok::<_, std::convert::Infallible>(answer)
        }
    });
    // The runtime client fails only when the Runtime API itself does: the environment was
    // checked above.
    lambda_http::run(service)
        .await
        .map_err(|e| StartError::Usage(format!("the Lambda runtime API failed: {e}")))
}

/// `proxy-kms serve`: the handler over plain HTTP on `listen` (local runs).
async fn serve(
    aws_endpoint: Option<&str>,
    listen: std::net::SocketAddr,
    family: Option<pix_xmldsig::dsig::Profile>,
    network: Network,
    started: Instant,
) -> Result<(), StartError> {
    let profile = match family {
        Some(p) => p,
        None => family_from_env()?,
    };
    let listener = local::bind(listen).await?;
    let clients = Clients::load(aws_endpoint).await;
    let deployment = Deployment {
        network,
        // A development server on loopback: no API Gateway authenticates its callers.
        callers: configured::CallerAuth::Unauthenticated,
        ..Deployment::default()
    };
    let relay = configured::relay(&clients, profile, &deployment).await?;
    let reloader = Arc::new(configured::reloader(&clients, &relay)?);
    proxy_core::reload::log_in_use(&relay);
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        address: listen.to_string(),
        source,
    })?;
    tracing::info!(family = profile.name(), %addr, ready_ms = started.elapsed().as_millis() as u64, "ready");
    local::serve(
        listener,
        relay,
        Some(reloader),
        proxy_core::service::shutdown_signal(),
    )
    .await;
    Ok(())
}
