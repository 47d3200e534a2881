//! The stream consumer's throughput and delivery → hand-off latency (issue 36): the development
//! set-up (software keys, simulator in-process) with a 20 ms round trip at BACEN, 6 readers each
//! asking for pages of 10.
//!
//! 1. A backlog of N pibr.001 messages on the participant's stream, drained into `dir:`:
//!    messages per second, beside the link's ceiling (6 reads × 10 messages per 20 ms round trip
//!    = 3,000 msg/s) and this machine's rate of verifying the same message on one core.
//! 2. Messages arriving at a steady rate: the time from BACEN's delivery of a page to each
//!    message's hand-off (p50, p99), for `dir:` and, when moto's server is installed, SQS.
//! 3. The same backlog drained on ICOM's secondary channel (the primary down: reads gzip'd both
//!    ways), against the primary's rate of step 1.
//!
//! `cargo run --release -p pix-dev --example consume_rate [BACKLOG] [RATE] [SECONDS]`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pix_dev::hsm::{DevOptions, DevSetup, Keys, PAYER_ISPB};
use pix_xmldsig::dsig::Profile;
use pix_xmldsig::trust::TrustStore;
use proxy_core::consumer::destination::{Destination, HandOff};
use proxy_core::consumer::{Consumer, ConsumerConfig, DirDestination, Message, Seen};
use proxy_hsm::Listen;
use testkit::bank::call;

/// A destination that times each hand-off from the page's delivery.
struct Timed {
    inner: Arc<dyn Destination>,
    lags: Mutex<Vec<Duration>>,
    last: Mutex<Option<Instant>>,
}

impl Destination for Timed {
    fn hand_off<'a>(&'a self, m: &'a Message) -> HandOff<'a> {
        Box::pin(async move {
            self.inner.hand_off(m).await?;
            self.lags
                .lock()
                .unwrap()
                .push(m.delivered_at.elapsed().unwrap_or_default());
            *self.last.lock().unwrap() = Some(Instant::now());
            Ok(())
        })
    }

    fn name(&self) -> String {
        self.inner.name()
    }
}

impl Timed {
    fn new(inner: Arc<dyn Destination>) -> Arc<Timed> {
        Arc::new(Timed {
            inner,
            lags: Mutex::new(Vec::new()),
            last: Mutex::new(None),
        })
    }

    fn count(&self) -> usize {
        self.lags.lock().unwrap().len()
    }

    fn percentiles(&self) -> (Duration, Duration) {
        let mut l = self.lags.lock().unwrap().clone();
        l.sort();
        let at = |q: f64| l[((l.len() as f64 * q) as usize).min(l.len() - 1)];
        (at(0.5), at(0.99))
    }
}

/// BACEN puts `n` echoes on the participant's stream, `per_second` at most (0: as fast as it can).
async fn echoes(setup: &DevSetup, n: usize, per_second: f64) {
    let every = if per_second > 0.0 {
        Duration::from_secs_f64(1.0 / per_second)
    } else {
        Duration::ZERO
    };
    let mut next = Instant::now();
    for _ in 0..n {
        if every > Duration::ZERO {
            tokio::time::sleep_until(next.into()).await;
            next += every;
        }
        let path = format!("/echo?ispb={PAYER_ISPB}");
        let (status, _, _) = call(setup.simulator.check, "POST", &path, &[], vec![])
            .await
            .unwrap();
        assert_eq!(status, 201);
    }
}

/// Runs a consumer into `destination` until it has handed off `n` messages.
async fn consume(setup: &DevSetup, destination: Arc<Timed>, state: &std::path::Path, n: usize) -> Duration {
    let consumer = Arc::new(Consumer::new(
        Arc::clone(&setup.spi_relay),
        destination.clone(),
        Arc::new(Seen::open(state).unwrap()),
        ConsumerConfig {
            ispb: PAYER_ISPB.into(),
            readers: 6,
            max_backoff: Duration::from_secs(1),
        },
    ));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let task = tokio::spawn(consumer.run(stopped));
    while destination.count() < n {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the consumer stalled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = destination
        .last
        .lock()
        .unwrap()
        .map_or(started.elapsed(), |t| t - started);
    let _ = stop.send(true);
    let _ = task.await;
    took
}

/// `n` messages arriving at `rate` per second consumed into `destination`: prints the delivery →
/// hand-off p50 and p99.
async fn steady(
    setup: &DevSetup,
    what: &str,
    destination: Arc<dyn Destination>,
    state: &std::path::Path,
    n: usize,
    rate: f64,
) {
    let timed = Timed::new(destination);
    tokio::join!(
        echoes(setup, n, rate),
        consume(setup, Arc::clone(&timed), state, n)
    );
    let (p50, p99) = timed.percentiles();
    println!(
        "{what} at {rate:.0} msg/s: delivery → hand-off p50 {:.1} ms, p99 {:.1} ms",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
}

/// This machine's rate of verifying one echo as BACEN signs it, on one core.
fn verify_rate(setup_pki: &std::path::Path, sample: &[u8]) -> f64 {
    let trust = TrustStore::from_pem_files(&[setup_pki.join("bacen-sig.cer")]).unwrap();
    let now = proxy_core::wire::unix_millis() / 1000;
    let started = Instant::now();
    let mut n = 0u32;
    while started.elapsed() < Duration::from_secs(2) {
        pix_xmldsig::dsig::verify(sample, Profile::Spi, &trust, now).expect("verified");
        n += 1;
    }
    f64::from(n) / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let args: Vec<f64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let backlog = args.first().copied().unwrap_or(3000.0) as usize;
    let rate = args.get(1).copied().unwrap_or(100.0);
    let secs = args.get(2).copied().unwrap_or(10.0);
    let dir = tempfile::tempdir().unwrap();
    // ICOM's secondary channel on a port of its own, the relay moving there at the first failure.
    let secondary = testkit::tools::free_port().unwrap();
    let setup = DevSetup::start_with(
        dir.path(),
        DevOptions {
            keys: Keys::Software,
            // Reads wait for places like sends do: room for the 6 readers.
            relay: Some(Arc::new(move |c| {
                c.max_in_flight = 6;
                c.secondary_endpoint = Some(format!("127.0.0.1:{secondary}"));
                c.failover_after = Duration::ZERO;
            })),
            simulator: Some(Arc::new(move |c| c.spi_secondary_port = secondary)),
            ..DevOptions::new(Listen::ephemeral(IpAddr::V4(Ipv4Addr::LOCALHOST)))
        },
    )
    .await
    .expect("setup");
    let (status, _, _) = call(
        setup.simulator.check,
        "POST",
        "/faults?family=spi&latency_ms=20",
        &[],
        vec![],
    )
    .await
    .unwrap();
    assert_eq!(status, 204);

    // 1. The backlog, drained.
    echoes(&setup, backlog, 0.0).await;
    let inbox = Timed::new(Arc::new(DirDestination::new(dir.path().join("inbox")).unwrap()));
    let took = consume(&setup, Arc::clone(&inbox), &dir.path().join("state-1"), backlog).await;
    let consumed = backlog as f64 / took.as_secs_f64();
    let sample = std::fs::read_dir(dir.path().join("inbox"))
        .unwrap()
        .flatten()
        .find_map(|e| std::fs::read_to_string(e.path()).ok())
        .map(|t| {
            serde_json::from_str::<serde_json::Value>(&t).unwrap()["body"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .unwrap();
    let verified = verify_rate(&dir.path().join("pki"), sample.as_bytes());
    println!(
        "backlog of {backlog} drained into dir: in {:.2} s: {consumed:.0} msg/s; link ceiling 3000 msg/s (ratio {:.2}); one core verifies {verified:.0} msg/s (ratio {:.2})",
        took.as_secs_f64(),
        consumed / 3000.0,
        consumed / verified
    );

    // 2. A steady rate, delivery → hand-off.
    let n = (rate * secs) as usize;
    let inbox = Arc::new(DirDestination::new(dir.path().join("steady")).unwrap());
    steady(&setup, "dir:", inbox, &dir.path().join("state-2"), n, rate).await;
    if let Some(moto) = testkit::aws::moto() {
        let client = testkit::aws::sqs(&moto.endpoint);
        let queue_url = testkit::aws::sqs_queue(&client, "pix-inbox").await;
        let sqs = Arc::new(proxy_hsm::sqs::SqsDestination::with_client(client, &queue_url));
        steady(&setup, "SQS (moto)", sqs, &dir.path().join("state-3"), n, rate).await;
    } else {
        println!("SQS: skipped (moto's server is not installed)");
    }

    // 3. The primary down: one request finds it so and the relay moves; the backlog again.
    let (status, _, _) = call(setup.simulator.check, "POST", "/primary?up=false", &[], vec![])
        .await
        .unwrap();
    assert_eq!(status, 204);
    let catalog = http::Request::get("/api/v1/in/catalog")
        .body(bytes::Bytes::new())
        .unwrap();
    let started = Instant::now();
    while !setup.spi_relay.on_secondary_channel() {
        assert!(started.elapsed() < Duration::from_secs(30), "never moved");
        let mut req = catalog.clone();
        req.extensions_mut()
            .insert(proxy_core::callers::Caller::Service { name: "bench".into() });
        setup.spi_relay.handle(req).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    echoes(&setup, backlog, 0.0).await;
    let inbox = Timed::new(Arc::new(DirDestination::new(dir.path().join("inbox-2")).unwrap()));
    let took = consume(&setup, Arc::clone(&inbox), &dir.path().join("state-4"), backlog).await;
    let on_secondary = backlog as f64 / took.as_secs_f64();
    println!(
        "the same backlog on ICOM's secondary channel (gzip'd reads): {:.2} s: {on_secondary:.0} msg/s; ratio to the primary's {:.2}",
        took.as_secs_f64(),
        on_secondary / consumed
    );
    setup.shutdown().await;
}
