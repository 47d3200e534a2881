//! The bank's side of the demos: the project's sample messages sent through a proxy (either
//! flavour) the way a bank service would, each step printed; and a plain HTTP client for tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use crate::rehearsal::messages::new_id;

const SIGNATURE_VALID: &str = proxy_core::relay::SIGNATURE_VALID;

/// A plain HTTP request to the proxy: (status, headers, body).
pub async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<(u16, http::HeaderMap, Bytes), String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let (status, headers, body) = request_over(tcp, method, path, headers, body).await?;
    Ok((status.as_u16(), headers, body))
}

/// One HTTP/1.1 request over an established stream (plain TCP, or TLS in the simulator's
/// tests), `Host: localhost`: (status, headers, body).
pub async fn request_over<S>(
    stream: S,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<(http::StatusCode, http::HeaderMap, Bytes), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let res = sender
        .send_request(req)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let (parts, body) = res.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((parts.status, parts.headers, body))
}

fn sample(name: &str) -> Result<Vec<u8>, String> {
    crate::samples::sample(name)
        .map(|s| s.as_bytes().to_vec())
        .ok_or_else(|| format!("no sample {name}"))
}

/// What a run of the bank's steps came to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Steps {
    /// Steps that did not give what was expected.
    pub failures: usize,
    /// Requests made to the proxies (each leaves an audit record).
    pub requests: usize,
}

impl std::ops::AddAssign for Steps {
    fn add_assign(&mut self, other: Steps) {
        self.failures += other.failures;
        self.requests += other.requests;
    }
}

/// The bank's HTTP calls to the proxies, counted.
#[derive(Default)]
struct Bank {
    steps: Steps,
}

impl Bank {
    async fn call(
        &mut self,
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<(u16, http::HeaderMap, Bytes), String> {
        self.steps.requests += 1;
        call(addr, method, path, headers, body).await
    }

    /// `POST`s a message as participant `ispb` through its proxy at `spi`, printing `what` and
    /// BACEN's status; a status other than `201` is a failure.
    async fn send(&mut self, spi: SocketAddr, ispb: &str, what: &str, body: Vec<u8>) -> Result<(), String> {
        let path = format!("/api/v1/in/{ispb}/msgs");
        let (status, h, answer) = self.call(spi, "POST", &path, &[XML], body).await?;
        println!(
            "{what} -> {status}, PI-ResourceId {}",
            header(&h, "pi-resourceid")
        );
        self.check(status == 201, || {
            format!("BACEN said: {}", String::from_utf8_lossy(&answer))
        });
        Ok(())
    }

    fn check(&mut self, ok: bool, otherwise: impl FnOnce() -> String) {
        if !ok {
            self.steps.failures += 1;
            println!("  FAILED: {}", otherwise());
        }
    }

    /// The next message on a participant's stream through its proxy that satisfies `wanted`
    /// (up to `tries` reads; messages before it are acknowledged and skipped); `next` follows
    /// `PI-Pull-Next`.
    async fn read_until(
        &mut self,
        spi: SocketAddr,
        next: &mut String,
        tries: usize,
        wanted: impl Fn(&str) -> bool,
    ) -> Result<Option<(http::HeaderMap, String)>, String> {
        for _ in 0..tries {
            let (status, h, body) = self.call(spi, "GET", next, &[], vec![]).await?;
            if !header(&h, "pi-pull-next").is_empty() {
                *next = header(&h, "pi-pull-next");
            }
            let text = String::from_utf8_lossy(&body).into_owned();
            if status == 200 && wanted(&text) {
                return Ok(Some((h, text)));
            }
        }
        Ok(None)
    }
}

fn verdict(h: &http::HeaderMap) -> String {
    let v = header(h, SIGNATURE_VALID);
    if v.is_empty() { "-".into() } else { v }
}

/// The text of the first `<tag>` in `xml` (empty when absent).
pub fn text_of(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    xml.find(&open)
        .map(|i| &xml[i + open.len()..])
        .and_then(|rest| rest.find('<').map(|end| rest[..end].to_string()))
        .unwrap_or_default()
}

/// Sends a pacs.008 and a pibr.001 echo to `spi`, reads BACEN's answers from the stream, creates
/// and reads a DICT entry through `dict`, printing each step. The pacs.008's payee is not run
/// here: the simulator answers for it.
pub async fn conversation(spi: SocketAddr, dict: SocketAddr) -> Result<Steps, String> {
    let mut steps = echo_and_answers(spi, &["pacs.008.xml", "pibr.001.xml"]).await?;
    steps += dict_steps(dict).await?;
    Ok(steps)
}

/// Sends the samples `names` through `spi` as participant 99999010 and reads as many answers
/// from its stream.
pub async fn echo_and_answers(spi: SocketAddr, names: &[&str]) -> Result<Steps, String> {
    let mut bank = Bank::default();
    for name in names {
        let what = match *name {
            "pacs.008.xml" => "pacs.008 (credit transfer)",
            _ => "pibr.001 (echo)",
        };
        let what = format!("\n{what}: signed by the proxy, sent to BACEN");
        bank.send(spi, "99999010", &what, sample(name)?).await?;
    }
    let mut next = STREAM_START.to_string();
    for _ in names {
        let (status, h, body) = bank.call(spi, "GET", &next, &[], vec![]).await?;
        let text = String::from_utf8_lossy(&body);
        let kind = if text.contains("pacs.002") {
            "pacs.002 (payment accepted)"
        } else if text.contains("pibr.002") {
            "pibr.002 (echo answer)"
        } else {
            "no message"
        };
        println!(
            "\nstream: {status} {kind}, response signature valid: {}",
            verdict(&h)
        );
        bank.check(status == 200 && verdict(&h) == "true", || {
            "a verified answer".into()
        });
        next = header(&h, "pi-pull-next");
    }
    bank.call(spi, "DELETE", &next, &[], vec![]).await?;
    Ok(bank.steps)
}

/// A DICT entry created and read through `dict`.
pub async fn dict_steps(dict: SocketAddr) -> Result<Steps, String> {
    let mut bank = Bank::default();
    let (status, h, body) = bank
        .call(
            dict,
            "POST",
            "/api/v2/entries/",
            &[XML],
            sample("dict-create-entry.xml")?,
        )
        .await?;
    println!(
        "\nDICT CreateEntryRequest: signed, sent -> {status}, response signature valid: {}",
        verdict(&h)
    );
    bank.check(status == 201, || {
        format!("DICT said: {}", String::from_utf8_lossy(&body))
    });
    let lookup = [
        ("pi-requestingparticipant", "99999010"),
        ("pi-payerid", "12345678909"),
        ("pi-endtoendid", "E9999901020261125100000000000001"),
    ];
    let (status, h, _) = bank
        .call(dict, "GET", "/api/v2/entries/+5561988880000", &lookup, vec![])
        .await?;
    println!(
        "DICT GetEntry (PI-* headers): {status}, response signature valid: {}",
        verdict(&h)
    );
    bank.check(status == 200 && verdict(&h) == "true", || {
        "a verified entry".into()
    });
    Ok(bank.steps)
}

/// A whole payment between two participants, each through its own proxy (`payer`, `payee`: their
/// SPI ports): the payer's pacs.008 to BACEN; the payee reads it from its stream (verified) and
/// answers pacs.002 `ACSP` through its proxy; both read BACEN's settlement pacs.002 (verified).
pub async fn payment(payer: SocketAddr, payee: SocketAddr) -> Result<Steps, String> {
    let mut bank = Bank::default();
    let e2e = new_id('E', "99999010");
    let msg_id = new_id('M', "99999010");
    let pacs008 = crate::samples::PACS_008
        .replace("E9999901020261125100000000000001", &e2e)
        .replace("M9999901020261125100000000000001", &msg_id);
    let what = format!("\npayer 99999010: pacs.008 {e2e} signed by its proxy, sent to BACEN");
    bank.send(payer, "99999010", &what, pacs008.into_bytes()).await?;

    let mut payee_next = "/api/v1/out/99999020/stream/start".to_string();
    let got = bank
        .read_until(payee, &mut payee_next, 10, |t| {
            t.contains("pacs.008") && t.contains(&e2e)
        })
        .await?;
    let Some((h, delivered)) = got else {
        bank.check(false, || "the pacs.008 on the payee's stream".into());
        return Ok(bank.steps);
    };
    println!(
        "payee 99999020: stream -> pacs.008 {e2e} from BACEN (Fr {}), signature valid: {}",
        text_of(&delivered, "Id"),
        verdict(&h)
    );
    bank.check(verdict(&h) == "true", || "BACEN's signature verified".into());

    let answer_id = new_id('M', "99999020");
    let pacs002 = crate::samples::PACS_002
        .replace(
            "<Id>99999010</Id></Othr></FinInstnId></FIId></Fr>",
            "<Id>99999020</Id></Othr></FinInstnId></FIId></Fr>",
        )
        .replace("M9999901020261125100000000000003", &answer_id)
        .replace("M9999902020261125100000000000001", &text_of(&delivered, "MsgId"))
        .replace("E9999902020261125100000000000001", &e2e);
    let what = "payee 99999020: pacs.002 ACSP signed by its own proxy, sent to BACEN";
    bank.send(payee, "99999020", what, pacs002.into_bytes()).await?;

    let mut payer_next = STREAM_START.to_string();
    for (who, spi, next) in [
        ("payer 99999010", payer, &mut payer_next),
        ("payee 99999020", payee, &mut payee_next),
    ] {
        let got = bank
            .read_until(spi, next, 10, |t| t.contains("pacs.002") && t.contains(&e2e))
            .await?;
        match got {
            Some((h, result)) => {
                let status = text_of(&result, "TxSts");
                println!(
                    "{who}: stream -> BACEN's pacs.002 {status} for {e2e}, signature valid: {}",
                    verdict(&h)
                );
                bank.check(status == "ACSP" && verdict(&h) == "true", || {
                    "a verified ACSP".into()
                });
            }
            None => bank.check(false, || format!("{who}: BACEN's pacs.002")),
        }
        bank.call(spi, "DELETE", next, &[], vec![]).await?;
    }
    Ok(bank.steps)
}

/// CPU seconds (user + system) process `pid` has used so far, from `/proc` (Linux, 100 ticks per
/// second); 0 where it cannot be read. The load examples divide it by the messages they sent.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// The stream of the demo's participant (ISPB 99999010), as a bank's poller starts it.
pub const STREAM_START: &str = "/api/v1/out/99999010/stream/start";

/// `GET path` on `addr` with no header (tests: panics when the proxy cannot be reached).
pub async fn get(addr: SocketAddr, path: &str) -> (u16, http::HeaderMap, Bytes) {
    call(addr, "GET", path, &[], vec![])
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// A header's value as text; empty when absent.
pub fn header(h: &http::HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// The content type of every XML message.
pub const XML: (&str, &str) = ("content-type", "application/xml; charset=utf-8");

/// `POST path` of an XML `body` on `addr` (tests: panics when the proxy cannot be reached).
pub async fn post_xml(addr: SocketAddr, path: &str, body: Vec<u8>) -> (u16, http::HeaderMap, Bytes) {
    call(addr, "POST", path, &[XML], body)
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

/// Messages per second through the proxy's SPI port with `connections` clients for `secs`.
pub async fn closed_loop(
    addr: SocketAddr,
    body: Bytes,
    connections: usize,
    secs: u64,
) -> Result<f64, String> {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(tcp))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let (done, stop, body) = (Arc::clone(&done), Arc::clone(&stop), body.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let req = http::Request::post("/api/v1/in/99999010/msgs")
                    .header("host", "localhost")
                    .header("content-type", "application/xml; charset=utf-8")
                    .body(Full::new(body.clone()));
                let Ok(req) = req else { return };
                match sender.send_request(req).await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.into_body().collect().await;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => return,
                }
            }
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let n = done.load(Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    for t in tasks {
        let _ = t.await;
    }
    Ok(n as f64 / elapsed)
}
