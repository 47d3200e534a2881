//! What automatic batching buys against BACEN's limit of 6 requests in flight: the development
//! set-up (software keys, simulator in-process enforcing the limit) with a 20 ms round trip at
//! BACEN, closed-loop load of pacs.002 messages (BACEN signs nothing back, so the proxy's own RSA
//! work is what is measured), batching on (`batch_max` 10) against off (1), rounds alternating in
//! one run; then the median latency at low load (10 % of the unbatched maximum) of both; and the
//! machine's bare RSA-2048 sign rate beside them.
//!
//! `cargo run --release -p pix-dev --example batching [SECONDS] [CONNECTIONS] [ROUNDS]`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pix_dev::hsm::{DevOptions, DevSetup, Keys};
use pix_xmldsig::signer::{Signer, SoftwareSigner};
use proxy_hsm::Listen;
use testkit::bank::{call, closed_loop, post_xml};

const MSGS: &str = "/api/v1/in/99999010/msgs";

async fn setup(dir: &std::path::Path, batch_max: usize) -> DevSetup {
    let s = DevSetup::start_with(
        dir,
        DevOptions {
            keys: Keys::Software,
            relay: Some(Arc::new(move |c| c.batch_max = batch_max)),
            ..DevOptions::new(Listen::ephemeral(IpAddr::V4(Ipv4Addr::LOCALHOST)))
        },
    )
    .await
    .expect("setup");
    let (status, _, _) = call(
        s.simulator.check,
        "POST",
        "/faults?family=spi&latency_ms=20",
        &[],
        vec![],
    )
    .await
    .expect("faults");
    assert_eq!(status, 204);
    s
}

/// Median latency of requests sent one at a time at `rate` per second for `secs`.
async fn median_at(addr: SocketAddr, rate: f64, secs: u64) -> Duration {
    let every = Duration::from_secs_f64(1.0 / rate.max(1.0));
    let mut took = Vec::new();
    let until = Instant::now() + Duration::from_secs(secs);
    let mut next = Instant::now();
    while Instant::now() < until {
        tokio::time::sleep_until(next.into()).await;
        next += every;
        let started = Instant::now();
        let body = testkit::samples::PACS_002.as_bytes().to_vec();
        assert_eq!(post_xml(addr, MSGS, body).await.0, 201);
        took.push(started.elapsed());
    }
    took.sort();
    took[took.len() / 2]
}

/// The machine's bare RSA-2048 signatures per second on one core (the signer alone).
async fn rsa_rate() -> f64 {
    let pki = testkit::test_pki::Pki::new();
    let signer = SoftwareSigner::from_pem_files(&pki.key, &pki.cert).expect("signer");
    let started = Instant::now();
    let mut n = 0u32;
    while started.elapsed() < Duration::from_secs(2) {
        signer.sign(b"pix-proxy batching benchmark").await.expect("sign");
        n += 1;
    }
    f64::from(n) / started.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (secs, connections, rounds) = (
        args.first().copied().unwrap_or(5),
        args.get(1).copied().unwrap_or(64) as usize,
        args.get(2).copied().unwrap_or(2),
    );
    let dir = tempfile::tempdir().expect("dir");
    let batched = setup(&dir.path().join("batched"), 10).await;
    let single = setup(&dir.path().join("single"), 1).await;
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let body = bytes::Bytes::from_static(testkit::samples::PACS_002.as_bytes());
        let a = closed_loop(batched.proxy.spi, body.clone(), connections, secs)
            .await
            .expect("load");
        let b = closed_loop(single.proxy.spi, body, connections, secs)
            .await
            .expect("load");
        println!(
            "round {round}: batching on {a:.0} msg/s, off {b:.0} msg/s ({:.1}x)",
            a / b
        );
        on.push(a);
        off.push(b);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (on, off) = (median(&mut on), median(&mut off));
    let low = off * 0.1;
    let (m_on, m_off) = (
        median_at(batched.proxy.spi, low, secs).await,
        median_at(single.proxy.spi, low, secs).await,
    );
    let rsa = rsa_rate().await;
    println!(
        "\n{connections} connections, BACEN round trip 20 ms, limit 6 in flight, pacs.002, {secs} s x {rounds} rounds"
    );
    println!(
        "throughput: batching on {on:.0} msg/s, off {off:.0} msg/s: {:.1}x",
        on / off
    );
    println!(
        "low load ({low:.0} msg/s, 10 % of the unbatched maximum): median on {:.2} ms, off {:.2} ms (added {:+.2} ms)",
        m_on.as_secs_f64() * 1e3,
        m_off.as_secs_f64() * 1e3,
        (m_on.as_secs_f64() - m_off.as_secs_f64()) * 1e3
    );
    println!("bare RSA-2048 sign, one core: {rsa:.0} /s");
    batched.shutdown().await;
    single.shutdown().await;
}
