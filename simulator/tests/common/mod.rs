//! Test helpers: a simulator on free loopback ports with a fresh development PKI, an mTLS client
//! (rustls + hyper, real handshakes), and messages signed the way the proxy signs them.
#![allow(dead_code, missing_docs)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use pix_xmldsig::dsig::{self, Profile};
use pix_xmldsig::signer::SoftwareSigner;
use pix_xmldsig::trust::TrustStore;
use rustls::RootCertStore;
use rustls_pki_types::ServerName;
use simulator::pki::DevPki;
use simulator::tls::{load_certs, load_key};
use simulator::{Config, Simulator};
use tempfile::TempDir;

pub struct Harness {
    pub sim: Simulator,
    pub pki: DevPki,
    pub dir: TempDir,
    pub client: Client,
    pub signer: SoftwareSigner,
    /// The second participant's (99999020) client and signer.
    pub payee: Client,
    pub payee_signer: SoftwareSigner,
    /// BACEN's signature certificate, to verify answers.
    pub bacen: TrustStore,
}

/// The first participant's ISPB (the samples' payer) and the second's (their payee).
pub const PAYER: &str = "99999010";
pub const PAYEE: &str = "99999020";

impl Harness {
    pub async fn start() -> Harness {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = DevPki::generate(dir.path()).expect("pki");
        let mut config = Config::ephemeral(&pki);
        adjust(&mut config);
        let sim = Simulator::start(config).await.expect("simulator starts");
        let client = Client::new(
            &pki.path("bacen-ca.cer"),
            Some((&pki.path("psp-mtls.cer"), &pki.path("psp-mtls.key"))),
            "localhost",
        );
        let signer = SoftwareSigner::from_pem_files(&pki.path("psp-sig.key"), &pki.path("psp-sig.cer"))
            .expect("signer");
        let bacen = TrustStore::from_pem_files(&[pki.path("bacen-sig.cer")]).expect("trust");
        let payee = Client::new(
            &pki.path("bacen-ca.cer"),
            Some((&pki.path("payee-mtls.cer"), &pki.path("payee-mtls.key"))),
            "localhost",
        );
        let payee_signer =
            SoftwareSigner::from_pem_files(&pki.path("payee-sig.key"), &pki.path("payee-sig.cer"))
                .expect("signer");
        Harness {
            sim,
            pki,
            dir,
            client,
            signer,
            payee,
            payee_signer,
            bacen,
        }
    }

    /// A simulator hosting both participants, each with its own client and signature
    /// certificates.
    pub async fn two_participants() -> Harness {
        Self::two_participants_with(|_| {}).await
    }

    /// [`Harness::two_participants`] with more configuration.
    pub async fn two_participants_with(adjust: impl FnOnce(&mut Config)) -> Harness {
        Self::start_with(|c| {
            let dir = c.tls_cert.parent().expect("pki dir").to_path_buf();
            let participant = |ispb: &str, name: &str| simulator::participants::Participant {
                ispb: ispb.to_string(),
                client_certificate: Some(dir.join(format!("{name}-mtls.cer"))),
                signature_certificates: vec![dir.join(format!("{name}-sig.cer"))],
            };
            c.participants = vec![participant(PAYER, "psp"), participant(PAYEE, "payee")];
            adjust(c);
        })
        .await
    }

    /// `xml` signed by the payee.
    pub async fn payee_signed(&self, xml: &str) -> Vec<u8> {
        dsig::sign(xml.as_bytes(), Profile::Spi, &self.payee_signer)
            .await
            .expect("sign")
    }

    pub async fn signed(&self, xml: &str, profile: Profile) -> Vec<u8> {
        dsig::sign(xml.as_bytes(), profile, &self.signer)
            .await
            .expect("sign")
    }

    pub async fn spi(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Reply {
        self.client
            .request(self.sim.spi, method, path, headers, body)
            .await
            .expect("SPI request")
    }

    /// A `POST` of XML to SPI with another participant's client.
    pub async fn spi_as(&self, client: &Client, path: &str, body: Vec<u8>) -> Reply {
        client
            .request(self.sim.spi, "POST", path, &[XML], body)
            .await
            .expect("SPI request")
    }

    pub async fn dict(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Reply {
        self.client
            .request(self.sim.dict, method, path, headers, body)
            .await
            .expect("DICT request")
    }

    /// A DICT write: `xml` signed with the DICT profile, `POST`ed to `path`.
    pub async fn dict_post(&self, path: &str, xml: &str) -> Reply {
        let body = self.signed(xml, Profile::Dict).await;
        self.dict("POST", path, &[XML], body).await
    }

    /// `GET /api/v2/entries/{key}` as participant 99999010.
    pub async fn lookup(&self, key: &str) -> Reply {
        let path = format!("/api/v2/entries/{key}");
        let headers = [
            ("pi-requestingparticipant", "99999010"),
            ("pi-payerid", "12345678909"),
            ("pi-endtoendid", "E9999901020261125100000000000001"),
        ];
        self.dict("GET", &path, &headers, vec![]).await
    }

    /// Sets faults through the control port.
    pub async fn faults(&self, query: &str) {
        let status = plain_request(self.sim.check, "POST", &format!("/faults?{query}")).await;
        assert_eq!(status, 204, "faults {query}");
    }

    pub fn verify(&self, body: &[u8], profile: Profile) -> Result<dsig::Verified, dsig::VerifyError> {
        dsig::verify(body, profile, &self.bacen, now())
    }
}

pub use testkit::tools::unix_now as now;

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// An HTTP/1.1 client over rustls, one connection per request.
#[derive(Clone)]
pub struct Client {
    config: Arc<rustls::ClientConfig>,
    server_name: ServerName<'static>,
}

impl Client {
    pub fn new(root: &Path, identity: Option<(&PathBuf, &PathBuf)>, server_name: &str) -> Client {
        Self::with_provider(
            root,
            identity,
            server_name,
            rustls::crypto::aws_lc_rs::default_provider(),
            false,
        )
    }

    /// A client limited to `provider`'s suites, TLS 1.2 only when `tls12_only`.
    pub fn with_provider(
        root: &Path,
        identity: Option<(&PathBuf, &PathBuf)>,
        server_name: &str,
        provider: rustls::crypto::CryptoProvider,
        tls12_only: bool,
    ) -> Client {
        let mut roots = RootCertStore::empty();
        for c in load_certs(root).expect("root") {
            roots.add(c).expect("add root");
        }
        let versions: &[&rustls::SupportedProtocolVersion] = if tls12_only {
            &[&rustls::version::TLS12]
        } else {
            rustls::DEFAULT_VERSIONS
        };
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(versions)
            .expect("versions")
            .with_root_certificates(roots);
        let config = match identity {
            Some((cert, key)) => builder
                .with_client_auth_cert(load_certs(cert).expect("cert"), load_key(key).expect("key"))
                .expect("client auth"),
            None => builder.with_no_client_auth(),
        };
        Client {
            config: Arc::new(config),
            server_name: ServerName::try_from(server_name.to_string()).expect("server name"),
        }
    }

    pub async fn request(
        &self,
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Reply, String> {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let tls = tokio_rustls::TlsConnector::from(Arc::clone(&self.config))
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let (status, headers, body) = testkit::bank::request_over(tls, method, path, headers, body).await?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}

/// Reads a participant's stream message by message, following `PI-Pull-Next`.
pub struct Reader {
    next: String,
}

impl Reader {
    pub fn new(ispb: &str) -> Reader {
        Reader {
            next: format!("/api/v1/out/{ispb}/stream/start"),
        }
    }

    /// The next message (a `204` when none came in time).
    pub async fn read(&mut self, h: &Harness, client: &Client) -> Reply {
        let r = client
            .request(h.sim.spi, "GET", &self.next, &[], vec![])
            .await
            .expect("stream GET");
        if !r.header("pi-pull-next").is_empty() {
            self.next = r.header("pi-pull-next").to_string();
        }
        r
    }

    /// The next message, which must come and verify with BACEN's certificate.
    pub async fn message(&mut self, h: &Harness, client: &Client) -> String {
        let r = self.read(h, client).await;
        assert_eq!(r.status, 200, "a message on {}: {}", self.next, r.text());
        h.verify(&r.body, Profile::Spi)
            .expect("BACEN's signature verifies");
        r.text()
    }
}

/// A plain HTTP request to the control port: status and body.
pub async fn control(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (status, _, body) = testkit::bank::request_over(tcp, method, path, &[], vec![])
        .await
        .expect("control request");
    (status.as_u16(), String::from_utf8_lossy(&body).into_owned())
}

/// A plain HTTP request to the control port; returns the status.
pub async fn plain_request(addr: SocketAddr, method: &str, path: &str) -> u16 {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .expect("request");
    sender.send_request(req).await.expect("send").status().as_u16()
}

/// The project's sample messages.
pub fn sample(name: &str) -> String {
    testkit::samples::sample(name).expect("sample").to_string()
}

pub const XML: (&str, &str) = ("content-type", "application/xml; charset=utf-8");
