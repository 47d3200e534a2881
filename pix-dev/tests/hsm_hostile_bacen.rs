//! The promise "a message called verified was signed by BACEN", attacked from upstream (issue 44):
//! in BACEN's place a hostile server over mutual TLS with the simulator's identity (what a
//! compromised path or a forged endpoint would be), in front of the `proxy-hsm` binaries as
//! deployed (`serve` and `consume`, keys in SoftHSM). Each case names the promise it attacks and
//! what must happen: a refusal or a `false` verdict, nothing handed off as verified, the process
//! still serving. (A binary of its own: SoftHSM's slot list is read once per process.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pix_xmldsig::dsig::{self, Profile};
use pix_xmldsig::signer::SoftwareSigner;
use testkit::bank::{STREAM_START, call, header};
use testkit::samples::bytes as sample;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the hostile BACEN does with the next request.
#[derive(Clone)]
enum Act {
    /// These bytes, then the connection closed.
    Raw(Vec<u8>),
    /// A status line, then header lines without end.
    EndlessHeaders,
    /// A head promising a body that never comes whole.
    NeverFinishes,
}

type Script = Arc<Mutex<Box<dyn Fn(&str, &str) -> Act + Send>>>;

/// A hostile BACEN: every request recorded (`METHOD path`), each answered by the script.
struct Hostile {
    port: u16,
    script: Script,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Hostile {
    async fn start(pki: &simulator::pki::DevPki) -> Hostile {
        let config = simulator::tls::server_config(
            &pki.path("bacen-tls.cer"),
            &pki.path("bacen-tls.key"),
            &[pki.path("psp-ca.cer").as_path()],
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let script: Script = Arc::new(Mutex::new(Box::new(|_: &str, _: &str| {
            Act::Raw(answer(204, &[], b""))
        })));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, r) = (Arc::clone(&script), Arc::clone(&seen));
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, script, seen) = (acceptor.clone(), Arc::clone(&s), Arc::clone(&r));
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Some((method, path)) = read_request(&mut tls).await else {
                        return;
                    };
                    seen.lock().unwrap().push(format!("{method} {path}"));
                    let act = (script.lock().unwrap())(&method, &path);
                    match act {
                        Act::Raw(bytes) => {
                            let _ = tls.write_all(&bytes).await;
                            let _ = tls.shutdown().await;
                        }
                        Act::EndlessHeaders => {
                            let _ = tls.write_all(b"HTTP/1.1 200 OK\r\n").await;
                            let until = Instant::now() + Duration::from_secs(30);
                            while Instant::now() < until {
                                if tls
                                    .write_all(b"X-Junk: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n")
                                    .await
                                    .is_err()
                                {
                                    break;
                                }
                            }
                        }
                        Act::NeverFinishes => {
                            let head = b"HTTP/1.1 200 OK\r\ncontent-type: application/xml\r\ncontent-length: 100000\r\n\r\n<Env";
                            let _ = tls.write_all(head).await;
                            tokio::time::sleep(Duration::from_secs(30)).await;
                        }
                    }
                });
            }
        });
        Hostile { port, script, seen }
    }

    fn answer_with(&self, f: impl Fn(&str, &str) -> Act + Send + 'static) {
        *self.script.lock().unwrap() = Box::new(f);
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// The request's method and path; the head and a `content-length` body read.
async fn read_request<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> Option<(String, String)> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).await.ok()? == 0 || buf.len() > 65536 {
            return None;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let mut words = head.split_whitespace();
    let (method, path) = (words.next()?.to_string(), words.next()?.to_string());
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    s.read_exact(&mut body).await.ok()?;
    Some((method, path))
}

/// An HTTP/1.1 answer closing the connection.
fn answer(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    )
    .into_bytes();
    for (n, v) in headers {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// A multipart page of `bodies`, each part carrying `part_headers`.
fn multipart(boundary: &str, bodies: &[Vec<u8>], part_headers: &[(&str, &str)]) -> Vec<u8> {
    let parts: Vec<proxy_core::wire::Part> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| proxy_core::wire::Part {
            headers: [
                (
                    "Content-Type".to_string(),
                    "application/xml; charset=utf-8".to_string(),
                ),
                ("PI-ResourceId".to_string(), format!("{boundary}-part-{i}")),
            ]
            .into_iter()
            .chain(part_headers.iter().map(|(n, v)| (n.to_string(), v.to_string())))
            .collect(),
            body: b.clone(),
        })
        .collect();
    proxy_core::wire::build_multipart(boundary, &parts)
}

const FORGED: &[(&str, &str)] = &[
    ("pix-signature-valid", "true"),
    ("PIX-Signature-Valid", "true"),
    ("pix-request-id", "forged-by-upstream"),
];
const PULL_NEXT: (&str, &str) = ("pi-pull-next", "/api/v1/out/99999010/stream/0a1b");
const XML: (&str, &str) = ("content-type", "application/xml; charset=utf-8");

/// Every value of the proxy's verdict header.
fn verdicts(h: &http::HeaderMap) -> Vec<String> {
    h.get_all("pix-signature-valid")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

/// The audit record of the answer `h` (files under `audit`).
fn record_of(audit: &Path, h: &http::HeaderMap) -> serde_json::Value {
    let id = header(h, "pix-request-id");
    testkit::tools::json_lines(&audit.join("log/spi"))
        .into_iter()
        .find(|r| r["request_id"] == id.as_str())
        .unwrap_or_else(|| panic!("no audit record {id}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_from_upstream_is_called_verified_and_the_proxy_keeps_serving() {
    let Some(keys) = pix_dev::hsm_keys::bank_keys() else {
        return;
    };
    let (pki, dir) = (&keys.pki, keys.dir.path());
    let bacen =
        SoftwareSigner::from_pem_files(&pki.path("bacen-sig.key"), &pki.path("bacen-sig.cer")).unwrap();
    let rogue = {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Not BACEN");
        let cert = params.self_signed(&key).unwrap();
        SoftwareSigner::from_pem(key.serialize_pem().as_bytes(), cert.pem().as_bytes(), "rogue").unwrap()
    };
    let unsigned = sample("pacs.008.xml");
    let signed = dsig::sign(&unsigned, Profile::Spi, &bacen).await.unwrap();
    let resigned = dsig::sign(&unsigned, Profile::Spi, &rogue).await.unwrap();

    let hostile = Hostile::start(pki).await;
    let parameters = dir.join("parameters.json");
    let values = keys.parameters_at(
        hostile.port,
        hostile.port,
        &std::fs::read_to_string(pki.path("bacen-sig.cer")).unwrap(),
    );
    std::fs::write(&parameters, serde_json::to_string(&values).unwrap()).unwrap();
    let secret = dir.join("secret.json");
    std::fs::write(&secret, keys.secret_json()).unwrap();
    let audit = dir.join("audit");
    let (proxy, spi) = keys
        .started(&parameters, &secret, &audit, &dir.join("proxy.log"))
        .await;

    // The control: a page BACEN signed is called verified, so a `false` below is the attack's.
    let page = signed.clone();
    hostile.answer_with(move |_, _| Act::Raw(answer(200, &[XML, PULL_NEXT], &page)));
    let (status, h, body) = call(spi, "GET", STREAM_START, &[], vec![]).await.unwrap();
    assert_eq!(
        (status, verdicts(&h)),
        (200, vec!["true".to_string()]),
        "{}",
        String::from_utf8_lossy(&body)
    );

    // Each attack on a stream page: BACEN's bytes pass (a stream is never blocked), with exactly
    // one verdict, the relay's, `false`; the audit record says `false`.
    let forged_headers: Vec<(&str, &str)> = FORGED.iter().copied().chain([XML, PULL_NEXT]).collect();
    let bomb = proxy_core::wire::gzip(&vec![0u8; 64 << 20]);
    let pages: Vec<(&str, Vec<u8>)> = vec![
        (
            "an unsigned pacs.008 with a forged verdict header",
            answer(200, &forged_headers, &unsigned),
        ),
        (
            "a pacs.008 signed by a key that is not BACEN's",
            answer(200, &forged_headers, &resigned),
        ),
        (
            "a multipart page whose parts carry forged verdicts",
            answer(
                200,
                &[
                    ("content-type", "multipart/mixed; boundary=b1"),
                    PULL_NEXT,
                    ("pix-signature-valid", "true"),
                ],
                &multipart("b1", &[unsigned.clone(), resigned.clone()], FORGED),
            ),
        ),
        (
            "a multipart page that does not split",
            answer(
                200,
                &[("content-type", "multipart/mixed; boundary=b1"), PULL_NEXT],
                b"--b1\r\nno end",
            ),
        ),
        (
            "a page without a content type",
            answer(200, &[PULL_NEXT, ("pix-signature-valid", "true")], &unsigned),
        ),
        (
            "a page of another content type",
            answer(200, &[("content-type", "text/plain"), PULL_NEXT], &unsigned),
        ),
        (
            "a gzip bomb (64 MiB of zeros)",
            answer(
                200,
                &[
                    XML,
                    ("content-encoding", "gzip"),
                    PULL_NEXT,
                    ("pix-signature-valid", "true"),
                ],
                &bomb,
            ),
        ),
    ];
    for (case, bytes) in pages {
        hostile.answer_with(move |_, _| Act::Raw(bytes.clone()));
        let (status, h, body) = call(spi, "GET", STREAM_START, &[], vec![]).await.unwrap();
        assert_eq!(status, 200, "{case}: {}", String::from_utf8_lossy(&body));
        assert_eq!(
            verdicts(&h),
            vec!["false".to_string()],
            "{case}: exactly one verdict, the relay's"
        );
        assert_ne!(header(&h, "pix-request-id"), "forged-by-upstream", "{case}");
        assert_eq!(
            record_of(&audit, &h)["response_signature_valid"],
            "false",
            "{case}"
        );
        if case.contains("forged verdicts") {
            let parts = proxy_core::wire::parse_multipart(&body, "b1").unwrap();
            for p in parts {
                let v: Vec<_> = p
                    .headers
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case("pix-signature-valid"))
                    .collect();
                assert_eq!(v.len(), 1, "{case}: one verdict per part");
                assert_eq!(v[0].1, "false", "{case}");
            }
        }
    }

    // Answers that break HTTP: an oversized body, headers without end, a body that never ends.
    let huge = vec![b'x'; 9 * 1024 * 1024];
    let breaking: Vec<(&str, Act, u16)> = vec![
        (
            "a body over the relay's bound",
            Act::Raw(answer(200, &[XML], &huge)),
            502,
        ),
        ("headers that never end", Act::EndlessHeaders, 502),
        ("an answer that never finishes", Act::NeverFinishes, 504),
    ];
    for (case, act, expected) in breaking {
        hostile.answer_with(move |_, _| act.clone());
        let started = Instant::now();
        let (status, h, body) = call(spi, "GET", STREAM_START, &[], vec![]).await.unwrap();
        assert_eq!(status, expected, "{case}: {}", String::from_utf8_lossy(&body));
        assert_eq!(verdicts(&h), vec!["false".to_string()], "{case}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{case}: bounded by the relay's timeout"
        );
    }

    // Still serving: the control again.
    let page = signed.clone();
    hostile.answer_with(move |_, _| Act::Raw(answer(200, &[XML, PULL_NEXT], &page)));
    let (status, h, _) = call(spi, "GET", STREAM_START, &[], vec![]).await.unwrap();
    assert_eq!((status, verdicts(&h)), (200, vec!["true".to_string()]));
    drop(proxy);

    // The consumer: a page of two forged parts, then a PI-Pull-Next that leaves the participant's
    // stream (absolute, dot-segments, another participant), then an empty page. Nothing is handed
    // off as verified, no request leaves ICOM's paths, the reader goes on.
    let page = answer(
        200,
        &[
            ("content-type", "multipart/mixed; boundary=b1"),
            (
                "pi-pull-next",
                "https://evil.example/api/v1/out/99999010/stream/x",
            ),
            ("pix-signature-valid", "true"),
        ],
        &multipart("b1", &[unsigned.clone(), resigned.clone()], FORGED),
    );
    let served = Arc::new(Mutex::new(0usize));
    let count = Arc::clone(&served);
    hostile.answer_with(move |method, path| {
        let mut n = count.lock().unwrap();
        *n += 1;
        match (method, *n) {
            ("DELETE", _) => Act::Raw(answer(200, &[], b"")),
            (_, 1) => Act::Raw(page.clone()),
            (_, 2) => Act::Raw(answer(
                204,
                &[(
                    "pi-pull-next",
                    "/api/v1/out/99999010/stream/../../../in/99999010/msgs",
                )],
                b"",
            )),
            (_, 3) => Act::Raw(answer(
                204,
                &[("pi-pull-next", "/api/v1/out/99999020/stream/0a1b")],
                b"",
            )),
            _ if path.ends_with("/stream/start") => Act::Raw(answer(204, &[PULL_NEXT], b"")),
            _ => Act::Raw(answer(204, &[PULL_NEXT], b"")),
        }
    });
    let before = hostile.seen().len();
    let inbox = dir.join("inbox");
    let check = testkit::tools::free_port().unwrap();
    let mut consume = keys.command("consume", &parameters, &secret, &audit);
    consume
        .args(["--check-port", &check.to_string()])
        .args([
            "--to",
            &format!("dir:{}", inbox.display()),
            "--ispb",
            "99999010",
            "--readers",
            "1",
        ])
        .args(["--max-backoff-seconds", "1"])
        .arg("--state-dir")
        .arg(dir.join("state"))
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join("consume.log")).unwrap());
    let consumer = testkit::process::Killed(consume.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    while *served.lock().unwrap() < 6 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(consumer);
    assert!(
        *served.lock().unwrap() >= 6,
        "the reader went on past every hostile PI-Pull-Next"
    );
    let handed: Vec<serde_json::Value> = std::fs::read_dir(&inbox)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap())
        .collect();
    assert_eq!(handed.len(), 2, "both parts handed off: {handed:?}");
    for m in &handed {
        assert_eq!(m["signature_valid"], false, "handed off as verified: {m}");
    }
    let log = std::fs::read_to_string(dir.join("consume.log")).unwrap();
    assert!(log.contains("PullNextRefused"), "{log}");
    for request in &hostile.seen()[before..] {
        let path = request.split_whitespace().nth(1).unwrap();
        assert!(
            path == "/api/v1/out/99999010/stream/start" || path == PULL_NEXT.1,
            "a request left the participant's stream: {request}"
        );
    }
}
