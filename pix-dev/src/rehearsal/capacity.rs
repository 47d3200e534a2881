//! The capacity tests of BACEN's homologation: SPI — 20,000 payments in 10 minutes with the
//! participant as payer and payee at once (here 20,000 each way, scaled by `--capacity-scale`),
//! sent open loop at a fixed rate, each pacs.002 to reach the payer within 10 s of its payment's
//! scheduled time; DICT — lookups at a steady rate. Latencies count from the scheduled time, so a
//! slow send cannot hide its own delay (no coordinated omission).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use testkit::bank::text_of;

use super::messages::{Status, Versions};
use super::party::{self, Party, Received};
use crate::inbox::Inbox;
use proxy_core::wire::spi_id as new_id;

/// BACEN's capacity test: payments each way at full scale.
pub const FULL_PAYMENTS: usize = 20_000;
/// …in this time.
pub const FULL_DURATION: Duration = Duration::from_secs(600);
/// Each payer must read its pacs.002 within this time.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// One payment of the capacity run, times from the run's start.
#[derive(Debug, Clone, Default)]
pub struct Payment {
    /// Whether the participant under test (A) pays.
    pub from_a: bool,
    /// When it was due to be sent.
    pub scheduled: Duration,
    /// The send's HTTP status (0: not sent).
    pub send_status: u16,
    /// When the payee read it.
    pub delivered: Option<Duration>,
    /// When the payee's pacs.002 was accepted by ICOM.
    pub answered: Option<Duration>,
    /// When the payer read BACEN's pacs.002, and its status.
    pub settled: Option<(Duration, String)>,
}

impl Payment {
    /// The payer's end-to-end time: from the scheduled send to BACEN's pacs.002 read.
    pub fn latency(&self) -> Option<Duration> {
        self.settled
            .as_ref()
            .map(|(t, _)| t.saturating_sub(self.scheduled))
    }
}

/// What the SPI capacity run measured.
#[derive(Debug, Clone, Default)]
pub struct Spi {
    /// Payments each way.
    pub per_direction: usize,
    /// The time they were spread over.
    pub duration: Duration,
    /// Every payment, by `EndToEndId`.
    pub payments: Vec<Payment>,
    /// Stream messages whose BACEN signature the proxy did not verify.
    pub unverified: u64,
    /// Stream reads that failed (transport, or BACEN's refusal).
    pub read_errors: u64,
    /// From the first scheduled send to the last pacs.002 read (or the wait's end).
    pub elapsed: Duration,
}

impl Spi {
    /// Sends refused `429` (BACEN's limits).
    pub fn throttled(&self) -> usize {
        self.payments.iter().filter(|p| p.send_status == 429).count()
    }

    /// Payments sent (`201`).
    pub fn sent(&self) -> usize {
        self.payments.iter().filter(|p| p.send_status == 201).count()
    }

    /// Payments the payee read.
    pub fn delivered(&self) -> usize {
        self.payments.iter().filter(|p| p.delivered.is_some()).count()
    }

    /// Payments the payee answered.
    pub fn answered(&self) -> usize {
        self.payments.iter().filter(|p| p.answered.is_some()).count()
    }

    /// Payments settled `ACSP` at the payer.
    pub fn settled(&self) -> usize {
        self.payments
            .iter()
            .filter(|p| p.settled.as_ref().is_some_and(|(_, s)| s == "ACSP"))
            .count()
    }

    /// Payments whose pacs.002 reached the payer within [`DEADLINE`].
    pub fn within_deadline(&self) -> usize {
        self.payments
            .iter()
            .filter(|p| p.latency().is_some_and(|l| l <= DEADLINE))
            .count()
    }

    /// The payers' end-to-end times in milliseconds, sorted.
    pub fn latencies_ms(&self) -> Vec<f64> {
        let mut l: Vec<f64> = self
            .payments
            .iter()
            .filter_map(Payment::latency)
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect();
        l.sort_by(f64::total_cmp);
        l
    }
}

/// The `p`-th percentile (nearest rank) of sorted `values`; 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The run's shared record.
struct Record {
    start: Instant,
    payments: Mutex<HashMap<String, Payment>>,
    unverified: AtomicU64,
    read_errors: AtomicU64,
    stop: AtomicBool,
}

impl Record {
    fn update(&self, e2e: &str, f: impl FnOnce(&mut Payment)) {
        if let Some(p) = self
            .payments
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(e2e)
        {
            f(p);
        }
    }

    fn outstanding(&self) -> usize {
        self.payments
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|p| p.settled.is_none() && matches!(p.send_status, 0 | 201))
            .count()
    }
}

/// Runs the SPI capacity test between `a` and `b`, `per_direction` payments each way spread
/// evenly over `duration`.
pub async fn spi(a: &Party, b: &Party, versions: &Versions, per_direction: usize, duration: Duration) -> Spi {
    let record = Arc::new(Record {
        start: Instant::now(),
        payments: Mutex::new(HashMap::new()),
        unverified: AtomicU64::new(0),
        read_errors: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let mut readers = Vec::new();
    // Each bank takes what its stream consumer handed off (its readers read the stream).
    for me in [a, b] {
        readers.push(tokio::spawn(read_and_answer(
            Arc::clone(&record),
            (me.spi, me.ispb.clone()),
            me.handed.clone(),
            versions.clone(),
        )));
    }
    let interval = duration.div_f64(per_direction.max(1) as f64);
    let directions = [(a, b, true), (b, a, false)].map(|(payer, payee, from_a)| {
        tokio::spawn(send_all(
            Arc::clone(&record),
            (payer.spi, payer.ispb.clone(), payee.ispb.clone(), from_a),
            versions.clone(),
            per_direction,
            interval,
        ))
    });
    for d in directions {
        let _ = d.await;
    }
    // Wait for the last answers: the deadline, and a margin to see late ones.
    let wait_until = Instant::now() + DEADLINE + Duration::from_secs(5);
    while record.outstanding() > 0 && Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = record.start.elapsed();
    record.stop.store(true, Ordering::Relaxed);
    for r in readers {
        let _ = r.await;
    }
    let payments = record
        .payments
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .cloned()
        .collect();
    Spi {
        per_direction,
        duration,
        payments,
        unverified: record.unverified.load(Ordering::Relaxed),
        read_errors: record.read_errors.load(Ordering::Relaxed),
        elapsed,
    }
}

/// Sends `n` payments from `payer` to `payee`, one each `interval` from the start, each in a
/// task of its own so that a slow send delays no other.
async fn send_all(
    record: Arc<Record>,
    (spi, payer, payee, from_a): (SocketAddr, String, String, bool),
    versions: Versions,
    n: usize,
    interval: Duration,
) {
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..n {
        let scheduled = interval.mul_f64(i as f64);
        tokio::time::sleep_until((record.start + scheduled).into()).await;
        let e2e = new_id('E', &payer);
        let msg = versions.pacs008(&payer, &payee, &new_id('M', &payer), &e2e, "1.00");
        record.payments.lock().unwrap_or_else(|e| e.into_inner()).insert(
            e2e.clone(),
            Payment {
                from_a,
                scheduled,
                ..Payment::default()
            },
        );
        let (record, payer) = (Arc::clone(&record), payer.clone());
        sends.spawn(async move {
            let status = party::send(spi, &payer, &msg).await.map_or(0, |s| s.status);
            record.update(&e2e, |p| p.send_status = status);
        });
    }
    while sends.join_next().await.is_some() {}
}

/// Participant `ispb` (its proxy at `spi`) taking its stream's messages from what its consumer
/// handed off to `handed`: pacs.008s answered `ACSP` through its proxy, BACEN's pacs.002s
/// recorded for the payments it made.
async fn read_and_answer(
    record: Arc<Record>,
    (spi, ispb): (SocketAddr, String),
    handed: Inbox,
    versions: Versions,
) {
    let mut answers = tokio::task::JoinSet::new();
    while !record.stop.load(Ordering::Relaxed) {
        let messages = match party::take(&handed).await {
            Ok(m) => m,
            Err(_) => {
                record.read_errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let now = record.start.elapsed();
        for m in messages {
            if !m.valid {
                record.unverified.fetch_add(1, Ordering::Relaxed);
            }
            match m.kind() {
                "pacs.008" => {
                    let e2e = text_of(&m.text, "EndToEndId");
                    record.update(&e2e, |p| p.delivered = Some(now));
                    answers.spawn(answer(
                        Arc::clone(&record),
                        spi,
                        ispb.clone(),
                        versions.clone(),
                        e2e,
                    ));
                }
                "pacs.002" => settle(&record, &ispb, &m, now),
                _ => {}
            }
        }
        while answers.try_join_next().is_some() {}
    }
    while answers.join_next().await.is_some() {}
}

/// The payee's `ACSP` for payment `e2e`.
async fn answer(record: Arc<Record>, spi: SocketAddr, ispb: String, versions: Versions, e2e: String) {
    let report = versions.pacs002(&Status::of(&ispb, &e2e, "ACSP"));
    if let Ok(sent) = party::send(spi, &ispb, &report).await
        && sent.status == 201
    {
        let now = record.start.elapsed();
        record.update(&e2e, |p| p.answered = Some(now));
    }
}

/// BACEN's pacs.002 read by `ispb`: the result of a payment it made (the payee's copy is not
/// the payer's answer).
fn settle(record: &Record, ispb: &str, m: &Received, now: Duration) {
    let e2e = text_of(&m.text, "OrgnlEndToEndId");
    // An EndToEndId starts with E and the payer's ISPB (BACEN's format: E, ISPB, date and time,
    // eleven characters), so the payer's copy is told from the payee's without a lookup.
    let paid_by_me = e2e.get(1..9) == Some(ispb);
    if paid_by_me {
        let status = text_of(&m.text, "TxSts");
        record.update(&e2e, |p| {
            if p.settled.is_none() {
                p.settled = Some((now, status));
            }
        });
    }
}

/// What the DICT capacity run measured.
#[derive(Debug, Clone, Default)]
pub struct Lookups {
    /// Lookups made.
    pub count: usize,
    /// At this rate per second.
    pub rate: f64,
    /// Answered `200` with DICT's signature verified.
    pub verified_ok: usize,
    /// Answered `429`.
    pub throttled: usize,
    /// Latencies in milliseconds from each lookup's scheduled time, sorted.
    pub latencies_ms: Vec<f64>,
}

/// `count` lookups of `key` by `who`, open loop at `rate` per second.
pub async fn lookups(who: &Party, key: &str, count: usize, rate: f64) -> Lookups {
    let start = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        let scheduled = interval.mul_f64(i as f64);
        tokio::time::sleep_until((start + scheduled).into()).await;
        let (dict, ispb, path) = (who.dict, who.ispb.clone(), format!("/api/v2/entries/{key}"));
        tasks.spawn(async move {
            let r = party::dict(dict, &ispb, "GET", &path, None).await;
            let latency = (start.elapsed().saturating_sub(scheduled)).as_secs_f64() * 1000.0;
            (
                r.map(|(status, valid, _)| (status, valid)).unwrap_or((0, false)),
                latency,
            )
        });
    }
    let mut out = Lookups {
        count,
        rate,
        ..Lookups::default()
    };
    while let Some(Ok(((status, valid), latency))) = tasks.join_next().await {
        if status == 200 && valid {
            out.verified_ok += 1;
        }
        if status == 429 {
            out.throttled += 1;
        }
        out.latencies_ms.push(latency);
    }
    out.latencies_ms.sort_by(f64::total_cmp);
    out
}
