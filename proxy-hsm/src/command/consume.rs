//! `consume`: the participant's SPI stream read into the bank's destination (`--to`), as the
//! task runs it; its own health and metrics port (`--check-port`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use proxy_core::config::{ConfigError, StartError};
use proxy_core::consumer::https::{HttpsDestination, HttpsIdentity};
use proxy_core::consumer::{Consumer, ConsumerConfig, Destination, DirDestination, Seen};

use super::serve::{self, Role, Started};
use super::{Serve, read_file};

/// `proxy-hsm consume`'s own flags (beside `serve`'s sources, token, audit and network flags).
#[derive(clap::Args)]
pub struct ConsumeArgs {
    /// Where messages go: `dir:PATH` (one file per message, synced), `https://…` (the bank's
    /// endpoint; 2xx means taken) or `sqs:QUEUE_URL` (FIFO queues deduplicate by `PI-ResourceId`).
    #[arg(long)]
    pub to: String,
    /// The participant whose stream is read (8 digits).
    #[arg(long)]
    pub ispb: String,
    /// Streams read in parallel: this consumer's share of BACEN's 6 reads per participant (the
    /// rest for stream reads through `serve`; never more than 6 in all: docs/operations.md).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=6))]
    pub readers: u8,
    /// Where the duplicate window is kept across restarts.
    #[arg(long, default_value = "consumer-state")]
    pub state_dir: PathBuf,
    /// The CA(s) of an `https://` destination's certificate (PEM).
    #[arg(long)]
    pub to_ca: Option<PathBuf>,
    /// A client certificate for an `https://` destination (PEM), with `--to-key`.
    #[arg(long, requires = "to_key")]
    pub to_cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long, requires = "to_cert")]
    pub to_key: Option<PathBuf>,
    /// The longest wait, in seconds, between attempts after a failure (BACEN or the destination).
    #[arg(long, default_value_t = 30)]
    pub max_backoff_seconds: u64,
}

/// The destination `--to` names.
async fn destination(
    args: &ConsumeArgs,
    aws_endpoint: Option<&str>,
) -> Result<Arc<dyn Destination>, StartError> {
    let to = args.to.as_str();
    if let Some(path) = to.strip_prefix("dir:") {
        let dir = DirDestination::new(PathBuf::from(path))
            .map_err(|e| StartError::Usage(format!("--to {to}: {e}")))?;
        return Ok(Arc::new(dir));
    }
    if let Some(url) = to.strip_prefix("sqs:") {
        return Ok(Arc::new(
            proxy_hsm::sqs::SqsDestination::new(url, aws_endpoint).await,
        ));
    }
    if to.starts_with("https://") {
        let Some(ca) = &args.to_ca else {
            return Err(StartError::Usage(
                "--to https://… needs --to-ca (the endpoint's CA)".into(),
            ));
        };
        let client = match (&args.to_cert, &args.to_key) {
            (Some(c), Some(k)) => Some((read_file(c)?, read_file(k)?)),
            _ => None,
        };
        let identity = HttpsIdentity {
            ca: read_file(ca)?,
            client,
        };
        return Ok(Arc::new(
            HttpsDestination::new(to, &identity).map_err(StartError::Usage)?,
        ));
    }
    Err(StartError::Usage(format!(
        "--to {to}: neither dir:PATH, https://… nor sqs:QUEUE_URL"
    )))
}

/// Reads the stream until SIGTERM; then ends each stream once its page is handed off, and drains.
pub async fn run(s: Serve, args: ConsumeArgs) -> Result<(), StartError> {
    if args.ispb.len() != 8 || !args.ispb.bytes().all(|b| b.is_ascii_digit()) {
        return Err(StartError::Usage(format!(
            "--ispb {}: not an 8-digit ISPB",
            args.ispb
        )));
    }
    let destination = destination(&args, s.aws_endpoint.as_deref()).await?;
    let seen = Seen::open(&args.state_dir).map_err(|e| ConfigError::File {
        path: args.state_dir.display().to_string(),
        reason: e.to_string(),
    })?;
    let started: Started = serve::start(
        &s,
        Role::Consume {
            readers: usize::from(args.readers),
        },
    )
    .await?;
    let health =
        proxy_hsm::FrontEnd::health_only(s.listen, Arc::clone(&started.dict), Arc::clone(&started.spi))
            .await?;
    tracing::info!(check = %health.check, "health and metrics");
    let consumer = Arc::new(Consumer::new(
        Arc::clone(&started.spi),
        destination,
        Arc::new(seen),
        ConsumerConfig {
            ispb: args.ispb.clone(),
            readers: usize::from(args.readers),
            max_backoff: Duration::from_secs(args.max_backoff_seconds.max(1)),
        },
    ));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let reading = tokio::spawn(consumer.run(stopped));
    proxy_core::service::shutdown_signal().await;
    let _ = stop.send(true);
    let _ = reading.await;
    health.shutdown().await;
    started.finish().await;
    Ok(())
}
