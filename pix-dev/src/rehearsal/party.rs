//! A participant's bank in the rehearsal: sends through its own proxy, takes its stream's
//! messages from what its stream consumer handed off (each with the proxy's verdict on BACEN's
//! signature), calls DICT.

use std::net::SocketAddr;
use std::time::Duration;

use proxy_core::relay::SIGNATURE_VALID;

use crate::inbox::Inbox;
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
    /// What its stream consumer handed off.
    pub handed: Inbox,
    /// Messages read while waiting for another, kept for the steps that want them.
    inbox: Vec<Received>,
}

impl Party {
    /// The bank of `ispb` behind the proxy at `spi` / `dict`, taking its stream's messages from
    /// its consumer's `handed` directory.
    pub fn new(ispb: &str, spi: SocketAddr, dict: SocketAddr, handed: Inbox) -> Party {
        Party {
            ispb: ispb.to_string(),
            spi,
            dict,
            handed,
            inbox: Vec::new(),
        }
    }

    /// `POST`s one message to ICOM through the proxy.
    pub async fn send(&self, xml: &str) -> Result<Sent, String> {
        send(self.spi, &self.ispb, xml).await
    }

    /// What the consumer handed off since the last read (see [`take`]).
    pub async fn read(&mut self) -> Result<Vec<Received>, String> {
        take(&self.handed).await
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

/// What a stream consumer handed off to `inbox` since the last look, oldest first (after a
/// short pause when nothing was, so that a loop of looks does not spin).
pub async fn take(inbox: &Inbox) -> Result<Vec<Received>, String> {
    let got = inbox.take()?;
    if got.is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(got
        .into_iter()
        .map(|m| Received {
            text: m.body,
            valid: m.valid,
        })
        .collect())
}
