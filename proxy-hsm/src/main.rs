//! `proxy-hsm`: the Fargate flavour. `demo` runs the whole pipeline once on loopback (dev PKI,
//! simulator, proxy, sample messages); `serve --dev` keeps that set-up running for curl.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use std::sync::Arc;

use clap::{Parser, Subcommand};
use std::collections::HashMap;

use proxy_core::audit::firehose::{FirehoseSink, Settings};
use proxy_core::audit::{AuditSink, FileSink};
use proxy_core::config::{Parameters, aws};
use proxy_hsm::configured::{self, Deployment, PinFormat};
use proxy_hsm::demo::{self, DevOptions, DevSetup, Keys};
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
        /// AWS endpoint override (a local emulator), for configuration and Firehose.
        #[arg(long)]
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
        /// Audit sink: Firehose (streams SpiAuditStream/DictAuditStream, write-ahead spool) or
        /// local files; auto: Firehose when configured from AWS, else files.
        #[arg(long, value_parser = ["auto", "firehose", "files"], default_value = "auto")]
        audit: String,
        /// Where audit records go with `--audit files` (JSON lines, fsynced).
        #[arg(long, default_value = "audit")]
        audit_dir: PathBuf,
        /// The write-ahead spool of the Firehose sink (records wait here until delivered).
        #[arg(long, default_value = "audit-spool")]
        spool_dir: PathBuf,
        /// Firehose stream of SPI records (instead of the parameter SpiAuditStream).
        #[arg(long)]
        spi_audit_stream: Option<String>,
        /// Firehose stream of DICT records (instead of the parameter DictAuditStream).
        #[arg(long)]
        dict_audit_stream: Option<String>,
        /// Where the development PKI and audit files go (--dev).
        #[arg(long, default_value = "target/pix-dev")]
        dir: PathBuf,
        /// Keys of the development set-up (--dev): in SoftHSM, in files, or SoftHSM when available.
        #[arg(long, value_parser = ["softhsm", "software", "auto"], default_value = "auto")]
        keys: String,
        /// Address to bind.
        #[arg(long, default_value = "127.0.0.1")]
        bind: IpAddr,
        /// DICT port.
        #[arg(long, default_value_t = 8080)]
        dict_port: u16,
        /// SPI port.
        #[arg(long, default_value_t = 9090)]
        spi_port: u16,
        /// Health-check port.
        #[arg(long, default_value_t = 7070)]
        check_port: u16,
    },
}

fn main() -> ExitCode {
    proxy_core::service::init_json_logs("warn");
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("proxy-hsm: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match Cli::parse().command {
            Command::Demo { dir } => demo::run(&dir).await,
            Command::Serve {
                dev: true,
                dir,
                bind,
                dict_port,
                spi_port,
                check_port,
                keys,
                audit,
                aws_endpoint,
                spool_dir,
                spi_audit_stream,
                dict_audit_stream,
                ..
            } => {
                let keys = match keys.as_str() {
                    "softhsm" => Keys::SoftHsm,
                    "software" => Keys::Software,
                    _ => Keys::Auto,
                };
                let firehose = if audit == "firehose" {
                    let (Some(spi), Some(dict)) = (spi_audit_stream, dict_audit_stream) else {
                        return Err("--audit firehose with --dev needs --spi-audit-stream and --dict-audit-stream".into());
                    };
                    let streams = HashMap::from([("spi".to_string(), spi), ("dict".to_string(), dict)]);
                    Some(firehose_sink(aws_endpoint.as_deref(), streams, &spool_dir).await?)
                } else {
                    None
                };
                let options = DevOptions {
                    keys,
                    audit: firehose.clone().map(|f| f as Arc<dyn AuditSink>),
                    ..DevOptions::new(Listen {
                        bind,
                        dict_port,
                        spi_port,
                        check_port,
                    })
                };
                let setup = DevSetup::start_with(&dir, options).await?;
                println!(
                    "proxy: DICT http://{} SPI http://{} check http://{}; BACEN simulator SPI {} DICT {}; signer: {}",
                    setup.proxy.dict, setup.proxy.spi, setup.proxy.check, setup.simulator.spi, setup.simulator.dict, setup.signer
                );
                proxy_core::service::shutdown_signal().await;
                setup.shutdown().await;
                flush(firehose.as_deref()).await;
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
                audit,
                audit_dir,
                spool_dir,
                spi_audit_stream,
                dict_audit_stream,
                bind,
                dict_port,
                spi_port,
                check_port,
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
                let firehose = if audit == "firehose" || (audit == "auto" && from_aws) {
                    let mut streams = params.audit_streams().map_err(|e| e.to_string())?;
                    streams.extend(spi_audit_stream.map(|s| ("spi".to_string(), s)));
                    streams.extend(dict_audit_stream.map(|s| ("dict".to_string(), s)));
                    Some(firehose_sink(aws_endpoint.as_deref(), streams, &spool_dir).await?)
                } else {
                    None
                };
                let audit: Arc<dyn AuditSink> = match &firehose {
                    Some(f) => f.clone(),
                    None => Arc::new(FileSink::new(&audit_dir)),
                };
                let (dict, spi) = configured::relays(&params, &pin, &deployment, audit)?;
                let listen = Listen {
                    bind,
                    dict_port,
                    spi_port,
                    check_port,
                };
                let proxy = FrontEnd::start(listen, dict, spi).await.map_err(|e| e.to_string())?;
                tracing::info!(dict = %proxy.dict, spi = %proxy.spi, check = %proxy.check, "serving");
                proxy_core::service::shutdown_signal().await;
                proxy.shutdown().await;
                flush(firehose.as_deref()).await;
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

/// The Firehose sink of the service: spooled, so a record is on disk before its response leaves.
async fn firehose_sink(
    endpoint: Option<&str>,
    streams: HashMap<String, String>,
    spool: &Path,
) -> Result<Arc<FirehoseSink>, String> {
    let sdk = aws::sdk_config(endpoint).await;
    let client = aws_sdk_firehose::Client::new(&sdk);
    let sink =
        FirehoseSink::spooled(client, streams, spool, Settings::default()).map_err(|e| e.to_string())?;
    Ok(Arc::new(sink))
}

/// At shutdown: gives Firehose a little time for what is spooled; the rest is replayed at the next start.
async fn flush(firehose: Option<&FirehoseSink>) {
    if let Some(f) = firehose {
        let done = f.flush(std::time::Duration::from_secs(10)).await;
        let c = f.counts();
        tracing::info!(
            delivered = c.delivered,
            retries = c.retries,
            all_delivered = done,
            "audit flushed"
        );
    }
}
