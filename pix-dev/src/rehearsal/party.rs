//! A participant's bank in the rehearsal: sends through its own proxy, reads its stream (each
//! message with the proxy's verdict on BACEN's signature), calls DICT.

use std::net::SocketAddr;
use std::time::Duration;

use proxy_core::relay::SIGNATURE_VALID;
use proxy_core::wire::{boundary, parse_multipart};

use testkit::bank::{XML, call, header};

/// A message read from the stream.
#[derive(Debug, Clone)]
pub struct Received {
    /// The XML as BACEN sent it.
    pub text: String,
    /// The proxy verified BACEN's signature (`pix-signature-valid: true`).
    pub valid: bool,
}

impl Received {
    /// The message type, from its namespace (`pacs.008` …).
    pub fn kind(&self) -> &str {
        self.text
            .split("https://www.bcb.gov.br/pi/")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or("")
    }
}

/// What an ICOM send came to.
#[derive(Debug, Clone)]
pub struct Sent {
    /// HTTP status (the proxy's, BACEN's passed through).
    pub status: u16,
    /// `PI-ResourceId`.
    pub resource_id: String,
    /// The answer's body, for the report when the status is not `201`.
    pub body: String,
}

/// One participant's bank.
pub struct Party {
    /// Its ISPB.
    pub ispb: String,
    /// Its proxy's SPI port.
    pub spi: SocketAddr,
    /// Its proxy's DICT port.
    pub dict: SocketAddr,
    /// The stream path to read next (`PI-Pull-Next`).
    next: String,
    /// Messages read while waiting for another, kept for the steps that want them.
    inbox: Vec<Received>,
}

impl Party {
    /// The bank of `ispb` behind the proxy at `spi` / `dict`.
    pub fn new(ispb: &str, spi: SocketAddr, dict: SocketAddr) -> Party {
        Party {
            ispb: ispb.to_string(),
            spi,
            dict,
            next: stream_start(ispb),
            inbox: Vec::new(),
        }
    }

    /// `POST`s one message to ICOM through the proxy.
    pub async fn send(&self, xml: &str) -> Result<Sent, String> {
        send(self.spi, &self.ispb, xml).await
    }

    /// Reads the stream once (up to ten messages, multipart); empty when nothing came in time.
    pub async fn read(&mut self) -> Result<Vec<Received>, String> {
        let (got, next) = read(self.spi, &self.next).await?;
        if let Some(n) = next {
            self.next = n;
        }
        Ok(got)
    }

    /// The first message satisfying `wanted` within `wait` (earlier reads included); others stay
    /// in the inbox.
    pub async fn wait_for(
        &mut self,
        wait: Duration,
        wanted: impl Fn(&Received) -> bool,
    ) -> Result<Option<Received>, String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(i) = self.inbox.iter().position(&wanted) {
                return Ok(Some(self.inbox.remove(i)));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            let got = self.read().await?;
            self.inbox.extend(got);
        }
    }

    /// Closes the stream (acknowledging what it delivered).
    pub async fn close(&mut self) -> Result<(), String> {
        call(self.spi, "DELETE", &self.next, &[], vec![]).await?;
        self.next = stream_start(&self.ispb);
        Ok(())
    }

    /// A DICT request as this participant through its proxy, see [`dict`].
    pub async fn dict(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> Result<(u16, bool, String), String> {
        dict(self.dict, &self.ispb, method, path, body).await
    }
}

/// A DICT request as participant `ispb` through the proxy at `addr` (a lookup's `PI-*` headers
/// on reads; XML when there is a body): (status, DICT's signature verified, body).
pub async fn dict(
    addr: SocketAddr,
    ispb: &str,
    method: &str,
    path: &str,
    body: Option<String>,
) -> Result<(u16, bool, String), String> {
    // A lookup carries the payer and the payment it is for (DICT's OpenAPI 2.12.1, getEntry:
    // PI-RequestingParticipant, PI-PayerId, PI-EndToEndId, all required).
    let e2e = proxy_core::wire::spi_id('E', ispb);
    // Each lookup is for another payer, as a participant's lookups are: one payer's anti-scan
    // bucket (DICT's ENTRIES_READ_USER_ANTISCAN, 100 tokens, a 404 costing 20) is not the
    // participant's.
    static PAYERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(10_000_000_000);
    let payer = format!(
        "{:011}",
        PAYERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let headers = [
        XML,
        ("pi-requestingparticipant", ispb),
        ("pi-payerid", payer.as_str()),
        ("pi-endtoendid", e2e.as_str()),
    ];
    let (status, h, body) = call(
        addr,
        method,
        path,
        if body.is_some() {
            &headers[..3]
        } else {
            &headers[1..]
        },
        body.map(String::into_bytes).unwrap_or_default(),
    )
    .await?;
    Ok((
        status,
        header(&h, SIGNATURE_VALID) == "true",
        String::from_utf8_lossy(&body).into_owned(),
    ))
}

/// The path that opens a participant's stream.
pub fn stream_start(ispb: &str) -> String {
    format!("/api/v1/out/{ispb}/stream/start")
}

/// `POST`s one message as `ispb` through the proxy at `spi`.
pub async fn send(spi: SocketAddr, ispb: &str, xml: &str) -> Result<Sent, String> {
    let path = format!("/api/v1/in/{ispb}/msgs");
    let (status, h, body) = call(spi, "POST", &path, &[XML], xml.as_bytes().to_vec()).await?;
    Ok(Sent {
        status,
        resource_id: header(&h, "pi-resourceid"),
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Reads the stream at `path` through the proxy at `spi`, asking for multipart: the messages
/// (each with its verdict) and the next path.
pub async fn read(spi: SocketAddr, path: &str) -> Result<(Vec<Received>, Option<String>), String> {
    let (status, h, body) = call(spi, "GET", path, &[("accept", "multipart/mixed")], vec![]).await?;
    let next = Some(header(&h, "pi-pull-next")).filter(|n| !n.is_empty());
    let messages = match status {
        204 => Vec::new(),
        200 => match boundary(&header(&h, "content-type")) {
            Some(b) => parse_multipart(&body, &b)
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|p| Received {
                    valid: p.header(SIGNATURE_VALID) == Some("true"),
                    text: String::from_utf8_lossy(&p.body).into_owned(),
                })
                .collect(),
            None => vec![Received {
                text: String::from_utf8_lossy(&body).into_owned(),
                valid: header(&h, SIGNATURE_VALID) == "true",
            }],
        },
        other => {
            return Err(format!(
                "stream read {path}: {other} {}",
                String::from_utf8_lossy(&body)
            ));
        }
    };
    Ok((messages, next))
}
