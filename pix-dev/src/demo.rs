//! The bank's side of the demo: the project's sample messages sent through a proxy (either
//! flavour) the way a bank service would, each step printed.

use std::net::SocketAddr;

use proxy_core::wire::spi_id as new_id;
use testkit::bank::{STREAM_START, XML, call, header, text_of};

const SIGNATURE_VALID: &str = proxy_core::relay::SIGNATURE_VALID;

fn sample(name: &str) -> Result<Vec<u8>, String> {
    testkit::samples::sample(name)
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
    ) -> Result<(u16, http::HeaderMap, bytes::Bytes), String> {
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

/// The demo payer's pacs.008 (the sample's, with payment `e2e` and message `msg_id`).
pub fn payment_message(e2e: &str, msg_id: &str) -> String {
    testkit::samples::PACS_008
        .replace("E9999901020261125100000000000001", e2e)
        .replace("M9999901020261125100000000000001", msg_id)
}

/// The demo payee's pacs.002 `ACSP` of payment `e2e` (message `msg_id`).
pub fn status_message(msg_id: &str, e2e: &str) -> String {
    testkit::samples::PACS_002
        .replace(
            "<Id>99999010</Id></Othr></FinInstnId></FIId></Fr>",
            "<Id>99999020</Id></Othr></FinInstnId></FIId></Fr>",
        )
        .replace("M9999901020261125100000000000003", msg_id)
        .replace("E9999902020261125100000000000001", e2e)
}

/// A whole payment between two participants, each through its own proxy (`payer`, `payee`: their
/// SPI ports): the payer's pacs.008 to BACEN; the payee reads it from its stream (verified) and
/// answers pacs.002 `ACSP` through its proxy; both read BACEN's settlement pacs.002 (verified).
pub async fn payment(
    payer: SocketAddr,
    payee: SocketAddr,
    payee_inbox: &std::path::Path,
) -> Result<Steps, String> {
    let mut bank = Bank::default();
    let e2e = new_id('E', "99999010");
    let msg_id = new_id('M', "99999010");
    let pacs008 = payment_message(&e2e, &msg_id);
    let what = format!("\npayer 99999010: pacs.008 {e2e} signed by its proxy, sent to BACEN");
    bank.send(payer, "99999010", &what, pacs008.into_bytes()).await?;

    // The payee's side reads its stream through its stream consumer, which hands every message
    // to the bank (here a directory) before the stream moves on.
    let got = handed_off(payee_inbox, |t| t.contains("pacs.008") && t.contains(&e2e)).await;
    let Some((valid, delivered)) = got else {
        bank.check(false, || "the pacs.008 handed off by the payee's consumer".into());
        return Ok(bank.steps);
    };
    println!(
        "payee 99999020: its consumer handed off pacs.008 {e2e} from BACEN (Fr {}), signature valid: {valid}",
        text_of(&delivered, "Id"),
    );
    bank.check(valid, || "BACEN's signature verified".into());

    let answer_id = new_id('M', "99999020");
    let pacs002 = status_message(&answer_id, &e2e);
    let what = "payee 99999020: pacs.002 ACSP signed by its own proxy, sent to BACEN";
    bank.send(payee, "99999020", what, pacs002.into_bytes()).await?;

    let mut payer_next = STREAM_START.to_string();
    let got = bank
        .read_until(payer, &mut payer_next, 10, |t| {
            t.contains("pacs.002") && t.contains(&e2e)
        })
        .await?;
    match got {
        Some((h, result)) => {
            let status = text_of(&result, "TxSts");
            println!(
                "payer 99999010: stream -> BACEN's pacs.002 {status} for {e2e}, signature valid: {}",
                verdict(&h)
            );
            bank.check(status == "ACSP" && verdict(&h) == "true", || {
                "a verified ACSP".into()
            });
        }
        None => bank.check(false, || "payer 99999010: BACEN's pacs.002".into()),
    }
    bank.call(payer, "DELETE", &payer_next, &[], vec![]).await?;
    let got = handed_off(payee_inbox, |t| {
        t.contains("pacs.002") && t.contains(&e2e) && t.contains("ACSP")
    })
    .await;
    match got {
        Some((valid, _)) => {
            println!(
                "payee 99999020: its consumer handed off BACEN's pacs.002 ACSP for {e2e}, signature valid: {valid}"
            );
            bank.check(valid, || "a verified ACSP".into());
        }
        None => bank.check(false, || "payee 99999020: BACEN's pacs.002, handed off".into()),
    }
    Ok(bank.steps)
}

/// The first message a `dir:` consumer handed off to `inbox` whose XML satisfies `wanted`
/// (waiting up to 10 s): (its verdict, its XML).
async fn handed_off(inbox: &std::path::Path, wanted: impl Fn(&str) -> bool) -> Option<(bool, String)> {
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(10) {
        for e in std::fs::read_dir(inbox).into_iter().flatten().flatten() {
            if let Some(m) = crate::inbox::parse(&e.path())
                && wanted(&m.body)
            {
                return Some((m.valid, m.body));
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    None
}
