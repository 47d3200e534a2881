//! Stand-ins for AWS, for tests and the KMS flavour's demo: moto's server (a real AWS-API
//! emulator, PyPI `moto[server]`) on a free loopback port, clients of it through the real aws-sdk
//! crates, the audit pipeline of both flavours on it (an S3 bucket and two Firehose delivery
//! streams writing to it, `log/spi/` and `log/dict/`), and a [`FaultProxy`] in front of it.
//!
//! moto never throttles, never goes away and never fails part of a Firehose batch, so the proxy
//! adds exactly those faults on top of it; everything else is moto's real answer. (The fault
//! layer is the one hand-made part: no real component produces these faults on demand.)

use std::net::{SocketAddr, TcpListener as StdListener};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::collections::HashMap;

use pix_xmldsig::dsig::Profile;

use tokio::net::TcpListener;

/// moto's server on a free loopback port; stopped when dropped.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

impl Moto {
    /// Starts `moto_server` and waits until it accepts connections.
    pub fn start() -> Result<Moto, String> {
        let port = StdListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| format!("no free port: {e}"))?;
        let mut child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("moto_server (pip install 'moto[server]'): {e}"))?;
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(30) || matches!(child.try_wait(), Ok(Some(_))) {
                let _ = child.kill();
                let _ = child.wait();
                return Err("moto_server did not start within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        })
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The audit pipeline of seeds 001/002 on moto: bucket `bucket` and one Firehose delivery
/// stream per `(stream, family)` writing to it under `log/<family>/`.
pub async fn audit_pipeline(
    s3: &aws_sdk_s3::Client,
    firehose: &aws_sdk_firehose::Client,
    bucket: &str,
    streams: &[(&str, &str)],
) -> Result<(), String> {
    let mut create = s3.create_bucket().bucket(bucket);
    if let Some(region) = s3
        .config()
        .region()
        .map(|r| r.to_string())
        .filter(|r| r != "us-east-1")
    {
        // Outside us-east-1, S3 (and moto) want the region named.
        create = create.create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(region.as_str()))
                .build(),
        );
    }
    create.send().await.map_err(|e| {
        format!(
            "S3 bucket {bucket}: {}",
            aws_sdk_s3::error::DisplayErrorContext(&e)
        )
    })?;
    for (stream, family) in streams {
        let destination = aws_sdk_firehose::types::ExtendedS3DestinationConfiguration::builder()
            .role_arn("arn:aws:iam::123456789012:role/pix-proxy-firehose")
            .bucket_arn(format!("arn:aws:s3:::{bucket}"))
            .prefix(format!("log/{family}/"))
            .build()
            .map_err(|e| format!("Firehose {stream}: {e}"))?;
        firehose
            .create_delivery_stream()
            .delivery_stream_name(*stream)
            .extended_s3_destination_configuration(destination)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "Firehose {stream}: {}",
                    aws_sdk_firehose::error::DisplayErrorContext(&e)
                )
            })?;
    }
    Ok(())
}

/// What the [`FaultProxy`] does to the calls it relays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Relay everything unchanged.
    None,
    /// Close every connection without an answer (the service is unreachable).
    Unreachable,
    /// Answer `400 ThrottlingException` to calls whose `X-Amz-Target` ends with this operation
    /// (e.g. `Sign`, `PutRecordBatch`).
    Throttle(String),
    /// Firehose `PutRecordBatch`: fail every n-th record the proxy sees (counted across calls, so
    /// a record sent again eventually passes); moto gets the others, and the answer carries
    /// `FailedPutCount` and per-record errors as Firehose's does.
    FailRecords(usize),
}

/// A plain-HTTP proxy in front of an AWS endpoint that injects [`Fault`]s.
#[derive(Debug)]
pub struct FaultProxy {
    /// `http://127.0.0.1:<port>`: give it to the SDK as the endpoint.
    pub endpoint: String,
    fault: Arc<Mutex<Fault>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts relaying to `upstream` (`http://host:port`) without faults.
    pub async fn start(upstream: &str) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let fault = Arc::new(Mutex::new(Fault::None));
        let state = Arc::new(Upstream {
            base: upstream.trim_end_matches('/').to_string(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            fault: Arc::clone(&fault),
            seen: AtomicUsize::new(0),
        });
        let service = service_fn(move |req| {
            let state = Arc::clone(&state);
            async move { state.relay(req).await }
        });
        // Serves until aborted (on drop); nothing to drain.
        let forever = std::future::pending();
        let task = tokio::spawn(proxy_core::service::serve(
            listener,
            None,
            service,
            forever,
            proxy_core::service::Serving {
                drain: Duration::ZERO,
                ..Default::default()
            },
        ));
        Ok(FaultProxy {
            endpoint,
            fault,
            task,
        })
    }

    /// Changes the fault for the calls that follow.
    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = fault;
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Upstream {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    fault: Arc<Mutex<Fault>>,
    /// Records seen by [`Fault::FailRecords`].
    seen: AtomicUsize,
}

use simulator::Dropped;

impl Upstream {
    async fn relay(&self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Dropped> {
        let fault = self.fault.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let target = req
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let (mut parts, body) = req.into_parts();
        let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
        match fault {
            Fault::Unreachable => return Err(Dropped),
            Fault::Throttle(op) if target.ends_with(&format!(".{op}")) => {
                return Ok(aws_json(
                    StatusCode::BAD_REQUEST,
                    serde_json::json!({"__type": "ThrottlingException", "message": "Rate exceeded (fault proxy)"}),
                ));
            }
            Fault::FailRecords(n) if n > 0 && target.ends_with(".PutRecordBatch") => {
                return Ok(self.fail_records(parts, body, n).await);
            }
            _ => {}
        }
        parts.headers.remove(http::header::CONTENT_LENGTH);
        Ok(self.forward(parts, body).await)
    }

    async fn forward(&self, mut parts: http::request::Parts, body: Bytes) -> Response<Full<Bytes>> {
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        parts.uri = match format!("{}{path}", self.base).parse() {
            Ok(u) => u,
            Err(_) => {
                return aws_json(
                    StatusCode::BAD_GATEWAY,
                    serde_json::json!({"message": "bad path"}),
                );
            }
        };
        match self
            .client
            .request(Request::from_parts(parts, Full::new(body)))
            .await
        {
            Ok(r) => {
                let (mut parts, body) = r.into_parts();
                // Hop-by-hop: moto's `Connection: close` is about its own connection, not the
                // caller's, which stays alive as it would with AWS.
                parts.headers.remove(http::header::CONNECTION);
                parts.headers.remove("keep-alive");
                match body.collect().await {
                    Ok(b) => Response::from_parts(parts, Full::new(b.to_bytes())),
                    Err(e) => aws_json(
                        StatusCode::BAD_GATEWAY,
                        serde_json::json!({"message": e.to_string()}),
                    ),
                }
            }
            Err(e) => aws_json(
                StatusCode::BAD_GATEWAY,
                serde_json::json!({"message": e.to_string()}),
            ),
        }
    }

    /// Sends moto the records that are not to fail, and answers for all of them.
    async fn fail_records(
        &self,
        mut parts: http::request::Parts,
        body: Bytes,
        n: usize,
    ) -> Response<Full<Bytes>> {
        let Ok(mut call) = serde_json::from_slice::<serde_json::Value>(&body) else {
            return aws_json(
                StatusCode::BAD_REQUEST,
                serde_json::json!({"__type": "SerializationException"}),
            );
        };
        let records = call["Records"].as_array().cloned().unwrap_or_default();
        let first = self.seen.fetch_add(records.len(), Ordering::Relaxed);
        let fails = |i: usize| (first + i).is_multiple_of(n);
        let kept: Vec<_> = records
            .iter()
            .enumerate()
            .filter(|(i, _)| !fails(*i))
            .map(|(_, r)| r.clone())
            .collect();
        if !kept.is_empty() {
            call["Records"] = serde_json::Value::Array(kept);
            parts.headers.remove(http::header::CONTENT_LENGTH);
            let relayed = self.forward(parts, Bytes::from(call.to_string())).await;
            if !relayed.status().is_success() {
                return relayed;
            }
        }
        let answers: Vec<_> = (0..records.len())
            .map(|i| {
                if fails(i) {
                    serde_json::json!({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "injected by the fault proxy"})
                } else {
                    serde_json::json!({"RecordId": format!("fault-proxy-{i}")})
                }
            })
            .collect();
        let failed = (0..records.len()).filter(|i| fails(*i)).count();
        aws_json(
            StatusCode::OK,
            serde_json::json!({"FailedPutCount": failed, "Encrypted": false, "RequestResponses": answers}),
        )
    }
}

fn aws_json(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    r
}

/// The SPI audit stream.
pub const SPI_STREAM: &str = "pix-proxy-spi-audit";
/// The DICT audit stream.
pub const DICT_STREAM: &str = "pix-proxy-dict-audit";
/// The audit bucket.
pub const BUCKET: &str = "pix-proxy-audit";
/// The region of every client.
pub const REGION: &str = "sa-east-1";

/// A client of moto for any aws-sdk crate (moto takes any credentials).
macro_rules! moto_client {
    ($sdk:ident, $endpoint:expr) => {{
        let conf = $sdk::Config::builder()
            .behavior_version($sdk::config::BehaviorVersion::latest())
            .endpoint_url($endpoint)
            .region($sdk::config::Region::new(REGION))
            .credentials_provider($sdk::config::Credentials::new("test", "test", None, None, "test"))
            .build();
        $sdk::Client::from_conf(conf)
    }};
}

/// A firehose client of moto at `endpoint`.
pub fn firehose(endpoint: &str) -> aws_sdk_firehose::Client {
    moto_client!(aws_sdk_firehose, endpoint)
}

/// A kms client of moto at `endpoint`.
pub fn kms(endpoint: &str) -> aws_sdk_kms::Client {
    moto_client!(aws_sdk_kms, endpoint)
}

/// A ssm client of moto at `endpoint`.
pub fn ssm(endpoint: &str) -> aws_sdk_ssm::Client {
    moto_client!(aws_sdk_ssm, endpoint)
}

/// An SQS client of moto at `endpoint`.
pub fn sqs(endpoint: &str) -> aws_sdk_sqs::Client {
    moto_client!(aws_sdk_sqs, endpoint)
}

/// Creates the SQS queue `name` (a FIFO queue when it ends with `.fifo`); its URL.
pub async fn sqs_queue(client: &aws_sdk_sqs::Client, name: &str) -> String {
    let mut create = client.create_queue().queue_name(name);
    if name.ends_with(".fifo") {
        create = create.attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true");
    }
    create
        .send()
        .await
        .expect("queue")
        .queue_url()
        .unwrap_or("")
        .to_string()
}

/// A secrets client of moto at `endpoint`.
pub fn secrets(endpoint: &str) -> aws_sdk_secretsmanager::Client {
    moto_client!(aws_sdk_secretsmanager, endpoint)
}

/// A s3 client of moto at `endpoint`.
pub fn s3(endpoint: &str) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_sdk_s3::config::Region::new(REGION))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Environment for a child process that talks to moto through the default chain.
pub const CHILD_ENV: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "test"),
    ("AWS_SECRET_ACCESS_KEY", "test"),
    ("AWS_REGION", REGION),
];

/// The streams by family, as the sinks take them.
pub fn streams() -> HashMap<Profile, String> {
    HashMap::from([
        (Profile::Spi, SPI_STREAM.to_string()),
        (Profile::Dict, DICT_STREAM.to_string()),
    ])
}

/// Creates the bucket and the two delivery streams on moto at `endpoint`.
pub async fn moto_audit_pipeline(endpoint: &str) -> Result<(), String> {
    audit_pipeline(
        &s3(endpoint),
        &firehose(endpoint),
        BUCKET,
        &[(SPI_STREAM, "spi"), (DICT_STREAM, "dict")],
    )
    .await
}

/// moto's server on a free loopback port (stopped on drop), or `None`, saying why, where it
/// cannot run (an error under `PIX_REQUIRE_TOOLS=1`, as in CI).
pub fn moto() -> Option<Moto> {
    Moto::start()
        .map_err(|why| crate::tools::unavailable("moto_server (pip install 'moto[server]')", &why))
        .ok()
}

/// moto's server with the audit pipeline on it (bucket, two delivery streams), or `None` as
/// [`moto`] says.
pub async fn moto_with_audit() -> Option<Moto> {
    let moto = moto()?;
    moto_audit_pipeline(&moto.endpoint)
        .await
        .expect("the audit pipeline on moto");
    Some(moto)
}

/// Every audit record in S3 under `log/<family>/`, in no particular order.
pub async fn s3_records(endpoint: &str, family: &str) -> Vec<serde_json::Value> {
    let s3 = s3(endpoint);
    let mut out = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix(format!("log/{family}/"))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for object in page.expect("list").contents() {
            let key = object.key().expect("key");
            let body = s3.get_object().bucket(BUCKET).key(key).send().await.expect("get");
            let bytes = body.body.collect().await.expect("read").into_bytes();
            let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
            out.extend(
                text.lines()
                    .map(|l| serde_json::from_str(l).expect("one JSON record per line")),
            );
        }
    }
    out
}
