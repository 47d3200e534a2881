//! `serve` and `certificates`: the service as the task runs it, and the check of every
//! certificate it would use.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pix_xmldsig::dsig::Profile;
use proxy_core::audit::firehose::{FirehoseSink, Settings as FirehoseSettings};
use proxy_core::audit::{AuditSink, FileSink};
use proxy_core::certificates::InUse;
use proxy_core::config::names::CLOUDHSM_SECRET;
use proxy_core::config::{Network, Source, StartError, aws};
use proxy_core::relay::Relay;
use proxy_core::reload::{self, Reloader};
use proxy_hsm::FrontEnd;
use proxy_hsm::configured::{self, Deployment, FLAVOUR, Settings};

use super::keys::open_token;
use super::{Audit, KeyArgs, Serve};

/// Where the parameters come from (again at each reload), the secret's JSON, and Secrets
/// Manager when configured from AWS.
async fn sources(s: &Serve) -> Result<(Source, String, Option<aws_sdk_secretsmanager::Client>), StartError> {
    if s.from_aws {
        let sdk = aws::sdk_config(s.aws_endpoint.as_deref()).await;
        let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
        let secret = aws::secret(&secrets, CLOUDHSM_SECRET).await?;
        return Ok((
            Source::Ssm(aws_sdk_ssm::Client::new(&sdk), FLAVOUR),
            secret,
            Some(secrets),
        ));
    }
    let (Some(parameters), Some(secret)) = (&s.parameters, &s.secret) else {
        return Err(StartError::Usage(
            "--parameters and --secret (or --from-aws) are required".into(),
        ));
    };
    let secret = super::read_file(secret)?;
    Ok((Source::File(parameters.clone(), FLAVOUR), secret, None))
}

/// How BACEN is reached beyond what the parameters say: the flags.
fn network(s: &Serve) -> Network {
    Network {
        resolve: s.resolve,
        tls_server_name: s.tls_server_name.clone(),
        timeout: None,
        max_in_flight: s.bacen_max_in_flight,
        queue_timeout: Some(Duration::from_millis(s.queue_timeout_ms)),
        batch_max: Some(usize::from(s.batch_max)),
        schemas: s.schemas.clone(),
    }
}

/// `certificates`: every certificate in use, checked; exit 1 when one is unusable.
pub async fn certificates(s: Serve) -> Result<(), StartError> {
    let (source, _, _) = sources(&s).await?;
    // One read: the settings and the check of BACEN's certificates come from the same values.
    let params = source.read().await?;
    let settings = Settings::read(&params, &network(&s))?;
    let key = KeyArgs {
        label: String::new(),
        token: s.token,
        secret: s.secret,
        from_aws: s.from_aws,
        aws_endpoint: s.aws_endpoint,
    };
    let token = open_token(&key).await?;
    let mut items = Vec::new();
    for (role, label, certificate) in [
        (
            "signature",
            &settings.signature_key_label,
            settings.signature_certificate,
        ),
        ("mtls", &settings.mtls_key_label, settings.mtls_certificate),
    ] {
        let (n, e) = token.public_key(label)?;
        let matches = certificate.rsa_public_key() == proxy_core::csr::rsa_public_key(&n, &e).as_slice();
        items.push(InUse {
            role: role.into(),
            certificate,
            key_matches: Some(matches),
        });
    }
    proxy_core::certificates::check(items, &params)
}

/// What the task starts for: serving the bank's services, or consuming the stream with
/// `readers` parallel reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `serve`: the SPI and DICT ports for the bank's services.
    Serve,
    /// `consume`: the stream, read by this many readers.
    Consume {
        /// Parallel stream reads.
        readers: usize,
    },
}

/// What `serve` and `consume` start alike: the relays, their audit sink, the reloader, and (to
/// serve) the callers' TLS.
pub struct Started {
    /// The DICT relay.
    pub dict: Arc<Relay>,
    /// The SPI relay.
    pub spi: Arc<Relay>,
    /// The acceptor of the SPI and DICT ports, when callers are authenticated.
    pub callers_tls: Option<tokio_rustls::TlsAcceptor>,
    firehose: Option<Arc<FirehoseSink>>,
    reloader: tokio::task::JoinHandle<()>,
}

/// Reads the configuration, opens the token and builds the relays for `role`.
pub async fn start(s: &Serve, role: Role) -> Result<Started, StartError> {
    let (source, secret, secrets) = sources(s).await?;
    let pin = configured::pin_from_secret(&secret, s.token.pin_format)?;
    proxy_hsm::install_metrics()?;
    let deployment = Deployment {
        module: s.token.module.clone(),
        token_label: s.token.token_label.clone(),
        pool: 16,
    };
    // The token first: a task on a host without the HSM client says so before anything else.
    let token = configured::open_token(&deployment, &pin)?;
    let params = source.read().await?;
    let mut network = network(s);
    if let Role::Consume { readers } = role {
        // Each reader holds a read place for its long poll.
        network.max_in_flight = Some(network.max_in_flight.unwrap_or(readers).max(readers));
    }
    let mut settings = Settings::read(&params, &network)?;
    let callers_tls = match role {
        Role::Serve => {
            let (callers, tls) = super::callers::resolve(&s.callers, &params, secrets.as_ref()).await?;
            callers.log_at_start("spi, dict");
            settings.dict.callers = callers.clone();
            settings.spi.callers = callers;
            tls
        }
        // The consumer's relay takes no caller's request: only the consumer's own reads.
        Role::Consume { .. } => None,
    };
    let firehose = if s.audit == Audit::Firehose || (s.audit == Audit::Auto && s.from_aws) {
        let mut streams = settings.audit_streams.clone();
        streams.extend(s.spi_audit_stream.clone().map(|n| (Profile::Spi, n)));
        streams.extend(s.dict_audit_stream.clone().map(|n| (Profile::Dict, n)));
        Some(firehose_sink(s.aws_endpoint.as_deref(), streams, &s.spool_dir).await?)
    } else {
        None
    };
    let audit: Arc<dyn AuditSink> = match &firehose {
        Some(f) => f.clone(),
        None => Arc::new(FileSink::new(&s.audit_dir)),
    };
    let (dict, spi) = configured::relays(settings, &token, &deployment, audit)?;
    reload::log_in_use(&spi);
    let every = Duration::from_secs(s.refresh_seconds);
    let reloader = Arc::new(Reloader::new(
        source,
        vec![Arc::clone(&dict), Arc::clone(&spi)],
        every,
    ));
    Ok(Started {
        dict,
        spi,
        callers_tls,
        firehose,
        reloader: tokio::spawn(reloader.run()),
    })
}

impl Started {
    /// At shutdown: stops re-reading and gives Firehose a little time for what is spooled.
    pub async fn finish(self) {
        self.reloader.abort();
        if let Some(f) = self.firehose {
            flush(&f).await;
        }
    }
}

/// Reads the configuration, serves until SIGTERM, drains.
pub async fn run(s: Serve) -> Result<(), StartError> {
    let started = start(&s, Role::Serve).await?;
    let proxy = FrontEnd::start(
        s.listen,
        Arc::clone(&started.dict),
        Arc::clone(&started.spi),
        started.callers_tls.clone(),
    )
    .await?;
    tracing::info!(dict = %proxy.dict, spi = %proxy.spi, check = %proxy.check, "serving");
    proxy_core::service::shutdown_signal().await;
    proxy.shutdown().await;
    started.finish().await;
    Ok(())
}

/// The Firehose sink of the service: spooled, so a record is on disk before its response leaves.
async fn firehose_sink(
    endpoint: Option<&str>,
    streams: HashMap<Profile, String>,
    spool: &Path,
) -> Result<Arc<FirehoseSink>, StartError> {
    let sdk = aws::sdk_config(endpoint).await;
    let client = aws_sdk_firehose::Client::new(&sdk);
    Ok(Arc::new(FirehoseSink::spooled(
        client,
        streams,
        spool,
        FirehoseSettings::default(),
    )?))
}

/// At shutdown: gives Firehose a little time for what is spooled; the rest is replayed at the next start.
async fn flush(firehose: &FirehoseSink) {
    let done = firehose.flush(Duration::from_secs(10)).await;
    let c = firehose.counts();
    tracing::info!(
        delivered = c.delivered,
        retries = c.retries,
        all_delivered = done,
        "audit flushed"
    );
}
