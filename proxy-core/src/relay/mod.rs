//! The relay: one pipeline from a bank service's request to BACEN and back (DESIGN §1), used by
//! both front ends. It signs the request body with the deployment's profile (each part of a
//! multipart batch; a gzip'd body is decompressed, signed and compressed again), drops headers
//! BACEN refuses, forwards the path unchanged to the configured endpoint over mutual TLS on pooled
//! keep-alive connections, verifies the signature of every 2xx answer (each part of a multipart
//! one), writes one audit record per exchange and answers with `pix-signature-valid`.
//!
//! Failures are answers, never panics: a bad request `400`, an unsigned-able body `400`/`415`, a
//! signer that is down `503`, BACEN unreachable `502`, too slow `504`, an answer whose signature
//! fails `502` naming the failed check. An audit write that fails does not fail the exchange: the
//! record goes to the error log instead, whole.

pub mod wire;

use std::future::Future;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{FixedServerNameResolver, HttpsConnector};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::{CertificateDer, ServerName};

use crate::audit::{AuditRecord, AuditSink, InFlight};
use crate::dsig::{self, Profile, SignError};
use crate::signer::{Signer, SignerError};
use crate::trust::TrustStore;
use crate::xml::{self, Limits};

/// The header that tells the bank service whether BACEN's answer was verified.
pub const SIGNATURE_VALID: &str = "pix-signature-valid";
/// Response header carrying the exchange's `request_id`, the key of its audit record.
pub const REQUEST_ID: &str = "pix-request-id";

/// How a relay reaches BACEN.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Signature profile of this deployment (SPI or DICT).
    pub profile: Profile,
    /// BACEN's `host:port` (e.g. `icom.pi.rsfn.net.br:9191`).
    pub endpoint: String,
    /// Name to verify BACEN's certificate against, when it differs from the endpoint's host (the
    /// seeds' simulator certificate holds only `localhost`).
    pub tls_server_name: Option<String>,
    /// BACEN's TLS certificate or CA: the only trust anchors.
    pub bacen_anchors: Vec<CertificateDer<'static>>,
    /// Time allowed for BACEN's whole answer.
    pub timeout: Duration,
    /// Largest request or answer body, bytes.
    pub max_body: usize,
    /// Connect to this address instead of resolving the endpoint's host (like curl's
    /// `--resolve`: RSFN names in a test network without their DNS).
    pub resolve: Option<IpAddr>,
}

impl RelayConfig {
    /// A configuration with the defaults: 10 s timeout, 8 MiB bodies.
    pub fn new(profile: Profile, endpoint: &str, bacen_anchors: Vec<CertificateDer<'static>>) -> Self {
        RelayConfig {
            profile,
            endpoint: endpoint.to_string(),
            tls_server_name: None,
            bacen_anchors,
            timeout: Duration::from_secs(10),
            max_body: 8 * 1024 * 1024,
            resolve: None,
        }
    }
}

/// Why a relay could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The endpoint is not `host:port`.
    #[error("BACEN endpoint '{0}' is not host:port")]
    Endpoint(String),
    /// The TLS server name is not a DNS name or IP address.
    #[error("TLS server name '{0}' is invalid")]
    ServerName(String),
    /// The TLS client could not be configured.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

/// The pipeline. Build once; share across requests (it holds the connection pool).
pub struct Relay {
    profile: Profile,
    family: &'static str,
    base: String,
    /// Where the health check connects (the pinned address when `resolve` is set).
    probe: String,
    host: HeaderValue,
    client: Client<HttpsConnector<HttpConnector<Resolver>>, Full<Bytes>>,
    signer: Arc<dyn Signer>,
    trust: Arc<TrustStore>,
    audit: Arc<dyn AuditSink>,
    timeout: Duration,
    max_body: usize,
}

impl Relay {
    /// A relay signing with `signer`, authenticating TLS with `mtls`, verifying answers with
    /// `bacen_signatures`, auditing to `audit`.
    pub fn new(
        config: RelayConfig,
        signer: Arc<dyn Signer>,
        mtls: Arc<dyn Signer>,
        bacen_signatures: Arc<TrustStore>,
        audit: Arc<dyn AuditSink>,
    ) -> Result<Relay, RelayError> {
        let authority: http::uri::Authority = config
            .endpoint
            .parse()
            .map_err(|_| RelayError::Endpoint(config.endpoint.clone()))?;
        if authority.port().is_none() {
            return Err(RelayError::Endpoint(config.endpoint.clone()));
        }
        // BACEN wants Host without the port.
        let host = HeaderValue::from_str(authority.host())
            .map_err(|_| RelayError::Endpoint(config.endpoint.clone()))?;
        let tls = crate::tls::client_config(&config.bacen_anchors, mtls)?;
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only();
        let builder = match &config.tls_server_name {
            Some(name) => {
                let name =
                    ServerName::try_from(name.clone()).map_err(|_| RelayError::ServerName(name.clone()))?;
                builder.with_server_name_resolver(FixedServerNameResolver::new(name))
            }
            None => builder,
        };
        let pinned = config.resolve.map(|ip| (authority.host().to_string(), ip));
        let mut http = HttpConnector::new_with_resolver(Resolver { pinned });
        http.enforce_http(false);
        http.set_nodelay(true);
        let connector = builder.enable_http1().wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .build(connector);
        Ok(Relay {
            profile: config.profile,
            family: match config.profile {
                Profile::Spi => "spi",
                Profile::Dict => "dict",
            },
            base: format!("https://{authority}"),
            probe: match config.resolve {
                Some(ip) => SocketAddr::new(ip, authority.port_u16().unwrap_or(443)).to_string(),
                None => authority.to_string(),
            },
            host,
            client,
            signer,
            trust: bacen_signatures,
            audit,
            timeout: config.timeout,
            max_body: config.max_body,
        })
    }

    /// Readiness: the audit sink takes records, the signer signs (the token is there and logged
    /// in) and BACEN accepts a TCP connection, each within `limit`.
    pub async fn check(&self, limit: Duration) -> Result<(), String> {
        self.audit.health()?;
        match tokio::time::timeout(limit, self.signer.sign(b"pix-proxy health check")).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("signer: {e}")),
            Err(_) => return Err("signer: no answer".into()),
        }
        let probe = &self.probe;
        match tokio::time::timeout(limit, tokio::net::TcpStream::connect(probe)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("BACEN {probe}: {e}")),
            Err(_) => Err(format!("BACEN {probe}: no answer")),
        }
    }

    /// Relays one request; always answers.
    pub async fn handle(&self, req: Request<Bytes>) -> Response<Bytes> {
        let started = Instant::now();
        let _counted = self.audit.in_flight().map(InFlight::enter);
        let (parts, body) = req.into_parts();
        let record = self.start_record(&parts, started);
        let (response, sent_body) = self.exchange(Request::from_parts(parts, body)).await;
        self.finish(record, response, &sent_body).await
    }

    /// Answers a request the front end refused before relaying it (e.g. a body over its memory
    /// bound, see [`collect_body`]) with `response`, audited like every exchange.
    pub async fn refuse(&self, parts: http::request::Parts, response: Response<Bytes>) -> Response<Bytes> {
        let record = self.start_record(&parts, Instant::now());
        self.finish(record, response, &Bytes::new()).await
    }

    /// The audit record of a request, as far as its head tells.
    fn start_record(&self, parts: &http::request::Parts, started: Instant) -> (AuditRecord, Instant) {
        let record = AuditRecord {
            request_id: wire::new_id(),
            request_date: wire::utc_now(),
            request_method: parts.method.to_string(),
            request_path: parts
                .uri
                .path_and_query()
                .map_or_else(|| parts.uri.to_string(), |p| p.to_string()),
            request_header: headers_json(&parts.headers),
            signature_key_id: self.signer.key_id().to_string(),
            ..Default::default()
        };
        (record, started)
    }

    /// Completes the record with what was sent and answered, writes it, and returns the answer.
    async fn finish(
        &self,
        (mut record, started): (AuditRecord, Instant),
        mut response: Response<Bytes>,
        sent_body: &Bytes,
    ) -> Response<Bytes> {
        if let Ok(id) = HeaderValue::from_str(&record.request_id) {
            response.headers_mut().insert(REQUEST_ID, id);
        }
        record.request_body = String::from_utf8_lossy(sent_body).into_owned();
        describe(&mut record, sent_body);
        record.response_status_code = i32::from(response.status().as_u16());
        record.response_signature_valid = response
            .headers()
            .get(SIGNATURE_VALID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("false")
            .to_string();
        record.response_header = headers_json(response.headers());
        record.response_body = String::from_utf8_lossy(response.body()).into_owned();
        record.latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        if let Err(e) = self.audit.write(self.family, &record).await {
            // The payment goes on; the record must not be lost: log it whole.
            let json = serde_json::to_string(&record).unwrap_or_default();
            tracing::error!(metric = "AuditWriteFailed", error = %e, record = %json, "audit write failed; record logged instead");
        }
        response
    }

    /// The exchange proper: the answer for the bank service, and the body sent to BACEN.
    async fn exchange(&self, req: Request<Bytes>) -> (Response<Bytes>, Bytes) {
        let (parts, body) = req.into_parts();
        // ICOM's catalogs are plain documents, not signed messages; everything else BACEN
        // answers with a body must verify.
        let signed_answer = !(self.profile == Profile::Spi && parts.uri.path().ends_with("/catalog"));
        let target = match self.target(&parts.uri) {
            Ok(t) => t,
            Err(reason) => return (problem(StatusCode::BAD_REQUEST, "invalidPath", &reason), body),
        };
        if body.len() > self.max_body {
            let reason = format!("request body over {} bytes", self.max_body);
            return (
                problem(StatusCode::PAYLOAD_TOO_LARGE, "bodyTooLarge", &reason),
                body,
            );
        }
        let body = if body.is_empty() || parts.method == Method::GET || parts.method == Method::DELETE {
            body
        } else {
            match self.sign_body(&parts.headers, &body).await {
                Ok(b) => Bytes::from(b),
                Err(r) => return (*r, body),
            }
        };
        let mut out = Request::builder().method(parts.method.clone()).uri(target);
        for (name, value) in &parts.headers {
            if forwarded(name, self.profile) {
                out = out.header(name, value);
            }
        }
        out = out.header(header::HOST, self.host.clone());
        let out = match out.body(Full::new(body.clone())) {
            Ok(r) => r,
            Err(e) => {
                return (
                    problem(StatusCode::BAD_REQUEST, "invalidRequest", &e.to_string()),
                    body,
                );
            }
        };
        let answer = tokio::time::timeout(self.timeout, async {
            let res = self
                .client
                .request(out)
                .await
                .map_err(|e| describe_client_error(&e))?;
            let (parts, incoming) = res.into_parts();
            let bytes = Limited::new(incoming, self.max_body)
                .collect()
                .await
                .map_err(|e| format!("reading BACEN's answer: {e}"))?
                .to_bytes();
            Ok::<_, String>((parts, bytes))
        })
        .await;
        let (parts, bytes) = match answer {
            Err(_) => {
                let reason = format!("BACEN did not answer within {} ms", self.timeout.as_millis());
                return (problem(StatusCode::GATEWAY_TIMEOUT, "timeout", &reason), body);
            }
            Ok(Err(reason)) => {
                return (
                    problem(StatusCode::BAD_GATEWAY, "bacenUnreachable", &reason),
                    body,
                );
            }
            Ok(Ok(a)) => a,
        };
        let verdict = if signed_answer {
            self.verify_answer(&parts.headers, &bytes)
        } else {
            Err("not a signed message".into())
        };
        if signed_answer
            && parts.status.is_success()
            && !bytes.is_empty()
            && let Err(reason) = &verdict
        {
            let mut r = problem(
                StatusCode::BAD_GATEWAY,
                "invalidResponseSignature",
                &format!("BACEN's answer failed verification: {reason}"),
            );
            r.headers_mut()
                .insert(SIGNATURE_VALID, HeaderValue::from_static("false"));
            return (r, body);
        }
        let mut r = Response::builder().status(parts.status);
        for (name, value) in &parts.headers {
            if !matches!(
                name.as_str(),
                "connection" | "keep-alive" | "transfer-encoding" | "content-length"
            ) {
                r = r.header(name, value);
            }
        }
        let valid = if verdict.is_ok() && !bytes.is_empty() {
            "true"
        } else {
            "false"
        };
        let r = r.header(SIGNATURE_VALID, valid).body(bytes).unwrap_or_else(|_| {
            problem(
                StatusCode::BAD_GATEWAY,
                "invalidResponse",
                "BACEN's answer headers are invalid",
            )
        });
        (r, body)
    }

    /// BACEN's URL for the request's path: only origin-form paths, never another host.
    fn target(&self, uri: &Uri) -> Result<String, String> {
        if uri.scheme().is_some() || uri.authority().is_some() {
            return Err("absolute URLs are not relayed; send a path".into());
        }
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        if !path.starts_with('/') || path.starts_with("//") || path.contains('\\') {
            return Err(format!("path '{path}' is not a plain absolute path"));
        }
        Ok(format!("{}{path}", self.base))
    }

    async fn sign_body(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<Vec<u8>, Box<Response<Bytes>>> {
        let encoding = header_str(headers, header::CONTENT_ENCODING);
        let gzip = encoding.eq_ignore_ascii_case("gzip");
        if !gzip && !encoding.is_empty() && !encoding.eq_ignore_ascii_case("identity") {
            let reason = format!("Content-Encoding '{encoding}' (only gzip)");
            return Err(Box::new(problem(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupportedEncoding",
                &reason,
            )));
        }
        let plain = if gzip {
            wire::gunzip(body, self.max_body)
                .map_err(|e| Box::new(problem(StatusCode::BAD_REQUEST, "invalidBody", &e)))?
        } else {
            body.to_vec()
        };
        let content_type = header_str(headers, header::CONTENT_TYPE);
        let signed = if let Some(boundary) = wire::boundary(content_type) {
            let parts = wire::parse_multipart(&plain, &boundary)
                .map_err(|e| Box::new(problem(StatusCode::BAD_REQUEST, "invalidBody", &e)))?;
            let mut signed_parts = Vec::with_capacity(parts.len());
            for (i, mut p) in parts.into_iter().enumerate() {
                p.body = self.sign_one(&p.body).await.map_err(|r| with_part(*r, i))?;
                signed_parts.push(p);
            }
            wire::build_multipart(&boundary, &signed_parts)
        } else if is_xml(content_type) {
            self.sign_one(&plain).await?
        } else {
            let reason = format!("Content-Type '{content_type}' is neither XML nor multipart/mixed");
            return Err(Box::new(problem(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupportedMediaType",
                &reason,
            )));
        };
        Ok(if gzip { wire::gzip(&signed) } else { signed })
    }

    async fn sign_one(&self, message: &[u8]) -> Result<Vec<u8>, Box<Response<Bytes>>> {
        dsig::sign(message, self.profile, self.signer.as_ref())
            .await
            .map_err(|e| {
                Box::new(match e {
                    SignError::Signer(SignerError::Unavailable { .. }) => problem(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "signerUnavailable",
                        &e.to_string(),
                    ),
                    SignError::Signer(_) => {
                        problem(StatusCode::INTERNAL_SERVER_ERROR, "signingFailed", &e.to_string())
                    }
                    _ => problem(StatusCode::BAD_REQUEST, "invalidMessage", &e.to_string()),
                })
            })
    }

    /// Verifies BACEN's answer: the whole body, or each part of a multipart one.
    fn verify_answer(&self, headers: &http::HeaderMap, body: &[u8]) -> Result<(), String> {
        let plain = if header_str(headers, header::CONTENT_ENCODING).eq_ignore_ascii_case("gzip") {
            wire::gunzip(body, self.max_body)?
        } else {
            body.to_vec()
        };
        let now = unix_now();
        match wire::boundary(header_str(headers, header::CONTENT_TYPE)) {
            Some(boundary) => {
                for (i, p) in wire::parse_multipart(&plain, &boundary)?.iter().enumerate() {
                    dsig::verify(&p.body, self.profile, &self.trust, now)
                        .map_err(|e| format!("part {}: {e}", i + 1))?;
                }
                Ok(())
            }
            None => dsig::verify(&plain, self.profile, &self.trust, now)
                .map(|_| ())
                .map_err(|e| e.to_string()),
        }
    }
}

fn with_part(mut r: Response<Bytes>, index: usize) -> Box<Response<Bytes>> {
    if let Ok(text) = std::str::from_utf8(r.body()) {
        let body = text.replacen("<detail>", &format!("<detail>part {}: ", index + 1), 1);
        *r.body_mut() = Bytes::from(body);
    }
    Box::new(r)
}

/// DICT lookups also carry these (DESIGN §6).
const DICT_HEADERS: &[&str] = &["pi-requestingparticipant", "pi-payerid", "pi-endtoendid"];

/// Request headers that go on to BACEN: ICOM's whitelist (and DICT's `PI-*` lookup headers), less
/// what the connection sets itself.
fn forwarded(name: &HeaderName, profile: Profile) -> bool {
    let allowed = wire::header_allowed(name.as_str())
        || (profile == Profile::Dict && DICT_HEADERS.contains(&name.as_str()));
    allowed
        && !matches!(
            name.as_str(),
            "host" | "content-length" | "transfer-encoding" | "connection"
        )
}

fn header_str(headers: &http::HeaderMap, name: HeaderName) -> &str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn is_xml(content_type: &str) -> bool {
    let kind = content_type.split(';').next().unwrap_or("").trim();
    kind.eq_ignore_ascii_case("application/xml") || kind.eq_ignore_ascii_case("text/xml")
}

/// Name resolution for the connector: the system's, except for an endpoint pinned to an address.
#[derive(Clone)]
struct Resolver {
    pinned: Option<(String, IpAddr)>,
}

type Resolving = Pin<Box<dyn Future<Output = std::io::Result<std::vec::IntoIter<SocketAddr>>> + Send>>;

impl tower_service::Service<Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Resolving;

    fn poll_ready(&mut self, _cx: &mut std::task::Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        if let Some((host, ip)) = &self.pinned
            && host.eq_ignore_ascii_case(name.as_str())
        {
            let addr = SocketAddr::new(*ip, 0);
            return Box::pin(std::future::ready(Ok(vec![addr].into_iter())));
        }
        let host = name.as_str().to_string();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                (host.as_str(), 0)
                    .to_socket_addrs()
                    .map(|a| a.collect::<Vec<_>>().into_iter())
            })
            .await
            .map_err(std::io::Error::other)?
        })
    }
}

/// Collects a request body of at most `limit` bytes (the front ends' memory bound); past it, the
/// `413` problem to answer with.
pub async fn collect_body<B>(body: B, limit: usize) -> Result<Bytes, Response<Bytes>>
where
    B: hyper::body::Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match Limited::new(body, limit).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e) => Err(problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "bodyTooLarge",
            &format!("request body: {e}"),
        )),
    }
}

/// A problem document (RFC 7807, XML) from the proxy itself.
pub fn problem(status: StatusCode, code: &str, detail: &str) -> Response<Bytes> {
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<problem xmlns=\"urn:ietf:rfc:7807\"><type>urn:pix-proxy:error:{code}</type><title>{code}</title><status>{}</status><detail>{}</detail></problem>",
        status.as_u16(),
        esc(detail)
    );
    let mut r = Response::new(Bytes::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+xml; charset=utf-8"),
    );
    r.headers_mut()
        .insert(SIGNATURE_VALID, HeaderValue::from_static("false"));
    r
}

fn describe_client_error(e: &hyper_util::client::legacy::Error) -> String {
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        reason.push_str(": ");
        reason.push_str(&s.to_string());
        source = s.source();
    }
    reason
}

/// Headers as a JSON object for the audit record; credentials are redacted.
fn headers_json(headers: &http::HeaderMap) -> String {
    let map: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(n, v)| {
            let value = if matches!(
                n.as_str(),
                "authorization" | "cookie" | "set-cookie" | "x-api-key" | "proxy-authorization"
            ) {
                "[redacted]".to_string()
            } else {
                String::from_utf8_lossy(v.as_bytes()).into_owned()
            };
            (n.to_string(), serde_json::Value::String(value))
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// Fills the fields an auditor searches by: message type, BizMsgIdr, EndToEndId.
fn describe(record: &mut AuditRecord, body: &[u8]) {
    let Ok(doc) = xml::parse(body, &Limits::default()) else {
        return;
    };
    let root = doc.root();
    let Some(el) = doc.element(root) else { return };
    let ns = doc.namespace(el);
    record.message_type = match ns.strip_prefix("https://www.bcb.gov.br/pi/") {
        Some(rest) => rest.split('/').next().unwrap_or(rest).to_string(),
        None => doc.local(el).to_string(),
    };
    let first = |local: &str| {
        doc.elements()
            .find(|&e| doc.element(e).is_some_and(|x| doc.local(x) == local))
            .map(|e| doc.text(e).trim().to_string())
    };
    record.biz_msg_idr = first("BizMsgIdr");
    record.end_to_end_id = first("EndToEndId");
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
