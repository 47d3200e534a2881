//! `https://…`: the bank's own endpoint. Each message is `POST`ed there (BACEN's bytes, its
//! attributes as `pix-*` headers); a `2xx` answer means the bank has it. The endpoint is trusted
//! through the bank's CA (`--to-ca`), and the consumer presents a client certificate when given
//! one (`--to-cert`, `--to-key`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::Message;
use super::destination::{Destination, HandOff, HandOffError};

/// The bank's HTTPS endpoint.
pub struct HttpsDestination {
    url: http::Uri,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

/// What the HTTPS destination trusts and presents, as PEM text.
pub struct HttpsIdentity {
    /// The CA(s) the endpoint's certificate chains to.
    pub ca: String,
    /// A client certificate and its key, when the endpoint asks for one.
    pub client: Option<(String, String)>,
}

impl HttpsDestination {
    /// The destination `url` (`https://host[:port]/path`), trusting and presenting `identity`.
    pub fn new(url: &str, identity: &HttpsIdentity) -> Result<HttpsDestination, String> {
        let uri: http::Uri = url.parse().map_err(|e| format!("--to {url}: {e}"))?;
        if uri.scheme_str() != Some("https") || uri.host().is_none() {
            return Err(format!("--to {url}: not an https:// URL"));
        }
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(identity.ca.as_bytes()) {
            let c = c.map_err(|e| format!("--to-ca: {e}"))?;
            roots.add(c).map_err(|e| format!("--to-ca: {e}"))?;
        }
        if roots.is_empty() {
            return Err("--to-ca: no PEM certificate".into());
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots);
        let config = match &identity.client {
            Some((cert, key)) => {
                let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.as_bytes())
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("--to-cert: {e}"))?;
                let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
                    .map_err(|_| "--to-key: not a PEM private key".to_string())?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("--to-cert: {e}"))?
            }
            None => builder.with_no_client_auth(),
        };
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_only()
            .enable_http1()
            .build();
        Ok(HttpsDestination {
            url: uri,
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout: Duration::from_secs(10),
        })
    }

    async fn post(&self, m: &Message) -> Result<(), String> {
        let mut req = http::Request::post(self.url.clone())
            .header("content-type", "application/xml; charset=utf-8")
            .header("pi-resourceid", &m.resource_id)
            .header("pix-message-type", &m.message_type)
            .header("pix-signature-valid", m.signature_valid.to_string())
            .header("pix-duplicate", m.duplicate.to_string());
        if let Some(v) = &m.msg_id {
            req = req.header("pix-msg-id", v);
        }
        if let Some(v) = &m.end_to_end_id {
            req = req.header("pix-end-to-end-id", v);
        }
        if let Some(v) = &m.signature_error {
            req = req.header("pix-signature-error", v.replace(['\r', '\n'], " "));
        }
        let req = req.body(Full::new(m.body.clone())).map_err(|e| e.to_string())?;
        let answer = tokio::time::timeout(self.timeout, self.client.request(req))
            .await
            .map_err(|_| format!("no answer within {} s", self.timeout.as_secs()))?
            .map_err(|e| e.to_string())?;
        let status = answer.status();
        // Read the answer whole: the connection goes back to the pool.
        let _ = answer.into_body().collect().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("answered {status}"))
        }
    }
}

impl Destination for HttpsDestination {
    fn hand_off<'a>(&'a self, message: &'a Message) -> HandOff<'a> {
        Box::pin(async move {
            self.post(message).await.map_err(|reason| HandOffError {
                destination: self.name(),
                reason,
            })
        })
    }

    fn name(&self) -> String {
        self.url.to_string()
    }
}
