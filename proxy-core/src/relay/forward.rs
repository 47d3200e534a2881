//! Stage 2: the request forwarded to BACEN over mutual TLS on pooled keep-alive connections:
//! only origin-form paths, to the configured endpoint only, with BACEN's header whitelist and
//! `Host` without the port (DESIGN §6).

use std::future::Future;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{FixedServerNameResolver, HttpsConnector};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::ServerName;

use super::config::{RelayConfig, RelayError};
use super::errors::Unhealthy;
use super::refusal::{Problem, Refusal};
use crate::route::{self, Route};
use crate::wire;
use pix_xmldsig::dsig::Profile;
use pix_xmldsig::signer::Signer;

/// DICT lookups also carry these (DESIGN §6).
const DICT_HEADERS: &[&str] = &["pi-requestingparticipant", "pi-payerid", "pi-endtoendid"];

/// One of BACEN's servers a relay reaches: its URL base (`https://host:port`) and the `Host`
/// sent to it (without the port, as BACEN wants).
struct Server {
    base: String,
    host: HeaderValue,
}

impl Server {
    fn of(endpoint: &str) -> Result<(Server, http::uri::Authority), RelayError> {
        let bad = || RelayError::Endpoint(endpoint.to_string());
        let authority: http::uri::Authority = endpoint.parse().map_err(|_| bad())?;
        if authority.port().is_none() {
            return Err(bad());
        }
        let host = HeaderValue::from_str(authority.host()).map_err(|_| bad())?;
        let base = format!("https://{authority}");
        Ok((Server { base, host }, authority))
    }
}

/// BACEN's answer: its head and its whole body.
pub(super) type Answer = (http::response::Parts, Bytes);

/// The mTLS client of one BACEN endpoint.
pub(super) struct Forwarder {
    profile: Profile,
    /// BACEN's server of this family (ICOM, DICT).
    main: Server,
    /// DICT's key-check server, when configured.
    key_check: Option<Server>,
    /// Where the health check connects (the pinned address when `resolve` is set).
    probe: String,
    client: Client<HttpsConnector<HttpConnector<Resolver>>, Full<Bytes>>,
    timeout: Duration,
    max_body: usize,
}

impl Forwarder {
    /// The client of `config`'s endpoint, authenticating with `mtls`.
    pub(super) fn new(config: &RelayConfig, mtls: Arc<dyn Signer>) -> Result<Self, RelayError> {
        let (main, authority) = Server::of(&config.endpoint)?;
        let key_check = match &config.key_check_endpoint {
            Some(endpoint) if config.profile == Profile::Dict => Some(Server::of(endpoint)?.0),
            _ => None,
        };
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
        let pinned = config.resolve.map(|ip| {
            let mut hosts = vec![authority.host().to_string()];
            if let Some(k) = &key_check
                && let Ok(host) = k.host.to_str()
            {
                hosts.push(host.to_string());
            }
            (hosts, ip)
        });
        let mut http = HttpConnector::new_with_resolver(Resolver { pinned });
        http.enforce_http(false);
        http.set_nodelay(true);
        // A channel that does not take the connection is known as soon as possible (the
        // secondary channel waits on it), not only when the whole exchange times out.
        http.set_connect_timeout(Some(config.timeout.min(Duration::from_secs(5))));
        let connector = builder.enable_http1().wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .build(connector);
        Ok(Forwarder {
            profile: config.profile,
            main,
            key_check,
            probe: match config.resolve {
                Some(ip) => SocketAddr::new(ip, authority.port_u16().unwrap_or(443)).to_string(),
                None => authority.to_string(),
            },
            client,
            timeout: config.timeout,
            max_body: config.max_body,
        })
    }

    /// BACEN's URL for a request read by the grammar: the route's server (DICT's key-check
    /// server when configured) and the path it matched, never another host.
    pub(super) fn target(&self, route: &Route) -> Result<String, Refusal> {
        let server = match route.server() {
            route::Server::Main => &self.main,
            route::Server::KeyCheck => self.key_check.as_ref().ok_or_else(|| {
                Refusal::new(
                    Problem::InvalidPath,
                    format!(
                        "{} is DICT's key-check API, and no key-check server is configured (BcbDictKeyCheckEndpoint)",
                        route.name()
                    ),
                )
            })?,
        };
        Ok(format!("{}{}", server.base, route.path_and_query))
    }

    /// The URL of `path` (origin-form, already checked) on this forwarder's main server.
    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.main.base)
    }

    /// The path of `target`, when it is a URL of this forwarder's main server.
    pub(super) fn path_of<'t>(&self, target: &'t str) -> Option<&'t str> {
        target.strip_prefix(&self.main.base)
    }

    /// The largest answer body read.
    pub(super) fn max_body(&self) -> usize {
        self.max_body
    }

    /// The `Host` of the server `target` goes to.
    fn host_of(&self, target: &str) -> &HeaderValue {
        match &self.key_check {
            Some(k) if target.starts_with(&format!("{}/", k.base)) => &k.host,
            _ => &self.main.host,
        }
    }

    /// Sends `body` to `target` with the bank's headers that BACEN accepts; BACEN's whole answer.
    pub(super) async fn send(
        &self,
        method: &Method,
        headers: &http::HeaderMap,
        target: String,
        body: Bytes,
    ) -> Result<Answer, Refusal> {
        let host = self.host_of(&target).clone();
        let mut out = Request::builder().method(method.clone()).uri(target);
        for (name, value) in headers {
            if forwarded(name, self.profile) {
                out = out.header(name, value);
            }
        }
        out = out.header(header::HOST, host);
        let out = out
            .body(Full::new(body))
            .map_err(|e| Refusal::new(Problem::InvalidRequest, e.to_string()))?;
        let started = std::time::Instant::now();
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
        match answer {
            Err(_) => {
                let reason = format!("BACEN did not answer within {} ms", self.timeout.as_millis());
                Err(Refusal::new(Problem::Timeout, reason))
            }
            Ok(Err(reason)) => Err(Refusal::new(Problem::BacenUnreachable, reason)),
            Ok(Ok(a)) => {
                let status = a.0.status.as_u16();
                crate::metrics::bacen(self.profile, status, started.elapsed());
                if matches!(status, 429 | 503) {
                    tracing::warn!(
                        metric = "BacenRefused",
                        family = self.profile.name(),
                        status,
                        "BACEN refused the request"
                    );
                }
                Ok(a)
            }
        }
    }

    /// Whether BACEN accepts a TCP connection within `limit`.
    pub(super) async fn probe(&self, limit: Duration) -> Result<(), Unhealthy> {
        let probe = &self.probe;
        let unreachable = |reason: String| Unhealthy::Bacen {
            endpoint: probe.to_string(),
            reason,
        };
        match tokio::time::timeout(limit, tokio::net::TcpStream::connect(probe)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(unreachable(e.to_string())),
            Err(_) => Err(unreachable("no answer".into())),
        }
    }
}

/// Request headers that go on to BACEN: ICOM's whitelist (and DICT's `PI-*` lookup headers), less
/// what the connection sets itself, and less `Content-Encoding` for DICT (its bodies are sent
/// uncompressed: see `sign`).
fn forwarded(name: &HeaderName, profile: Profile) -> bool {
    let allowed = wire::header_allowed(name.as_str())
        || (profile == Profile::Dict && DICT_HEADERS.contains(&name.as_str()));
    let dict_encoding = profile == Profile::Dict && name == http::header::CONTENT_ENCODING;
    allowed
        && !dict_encoding
        && !matches!(
            name.as_str(),
            "host" | "content-length" | "transfer-encoding" | "connection"
        )
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

/// Name resolution for the connector: the system's, except for an endpoint pinned to an address.
#[derive(Clone)]
struct Resolver {
    /// BACEN's host names and the address they are pinned to.
    pinned: Option<(Vec<String>, IpAddr)>,
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
        if let Some((hosts, ip)) = &self.pinned
            && hosts.iter().any(|h| h.eq_ignore_ascii_case(name.as_str()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bacens_headers_go_on_and_dict_keeps_its_lookup_headers() {
        let name = |n: &'static str| HeaderName::from_static(n);
        assert!(forwarded(&name("content-type"), Profile::Spi));
        assert!(!forwarded(&name("x-bank-trace"), Profile::Spi));
        assert!(!forwarded(&name("host"), Profile::Spi));
        assert!(!forwarded(&name("pi-payerid"), Profile::Spi));
        assert!(forwarded(&name("pi-payerid"), Profile::Dict));
    }

    fn forwarder(profile: Profile, key_check: Option<&str>) -> Forwarder {
        let pki = testkit::test_pki::Pki::new();
        let mtls = pix_xmldsig::signer::SoftwareSigner::from_pem_files(&pki.key, &pki.cert).unwrap();
        let mut config = RelayConfig::new(profile, "dict-h.pi.rsfn.net.br:16522", vec![]);
        config.key_check_endpoint = key_check.map(str::to_string);
        Forwarder::new(&config, Arc::new(mtls)).unwrap()
    }

    fn route(profile: Profile, method: Method, path: &str) -> Route {
        Route::parse(profile, &method, &path.parse().unwrap()).unwrap()
    }

    #[test]
    fn keys_check_goes_to_its_own_server_and_nothing_else_does() {
        let dict = forwarder(Profile::Dict, Some("dict-np-h.pi.rsfn.net.br:16532"));
        let check = route(Profile::Dict, Method::POST, "/api-np/v2/keys/check");
        let target = dict.target(&check).unwrap();
        assert_eq!(
            target,
            "https://dict-np-h.pi.rsfn.net.br:16532/api-np/v2/keys/check"
        );
        assert_eq!(dict.host_of(&target), "dict-np-h.pi.rsfn.net.br");
        let entries = dict
            .target(&route(Profile::Dict, Method::POST, "/api/v2/entries/"))
            .unwrap();
        assert_eq!(dict.host_of(&entries), "dict-h.pi.rsfn.net.br");
        // Without the key-check server the path is refused, naming why.
        let refused = forwarder(Profile::Dict, None).target(&check).unwrap_err();
        assert!(
            refused.detail.contains("BcbDictKeyCheckEndpoint"),
            "{}",
            refused.detail
        );
    }
}
