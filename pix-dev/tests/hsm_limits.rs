//! BACEN's limits through the proxy (DESIGN §6: 6 simultaneous requests per participant on each
//! side of ICOM, `429` with `Retry-After` beyond; up to 10 messages per multipart send): the
//! simulator enforces them, the proxy keeps within them, batches single sends, pauses on `429`,
//! and answers `503 bacenBusy` to a request that waited too long. Software keys, loopback.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pix_dev::hsm::{DevOptions, DevSetup, Keys};
use proxy_core::relay::{Problem, RelayConfig};
use proxy_hsm::Listen;
use testkit::bank::{call, header, post_xml};
use testkit::samples::bytes as sample;

const MSGS: &str = "/api/v1/in/99999010/msgs";

async fn setup(dir: &std::path::Path, tune: impl Fn(&mut RelayConfig) + Send + Sync + 'static) -> DevSetup {
    DevSetup::start_with(
        dir,
        DevOptions {
            keys: Keys::Software,
            relay: Some(Arc::new(tune)),
            ..DevOptions::new(Listen::ephemeral(IpAddr::V4(Ipv4Addr::LOCALHOST)))
        },
    )
    .await
    .expect("setup")
}

async fn control(sim: SocketAddr, path: &str) -> (u16, String) {
    let (status, _, body) = call(sim, "POST", path, &[], vec![]).await.expect("control");
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn stats(sim: SocketAddr) -> serde_json::Value {
    let (_, _, body) = call(sim, "GET", "/stats", &[], vec![]).await.expect("stats");
    serde_json::from_slice(&body).expect("stats JSON")
}

/// `n` pacs.008 sent at once; their answers.
async fn burst(spi: SocketAddr, n: usize) -> Vec<(u16, http::HeaderMap, bytes::Bytes)> {
    let calls: Vec<_> = (0..n)
        .map(|_| tokio::spawn(async move { post_xml(spi, MSGS, sample("pacs.008.xml")).await }))
        .collect();
    let mut out = Vec::new();
    for c in calls {
        out.push(c.await.expect("task"));
    }
    out
}

fn records(dir: &std::path::Path) -> Vec<serde_json::Value> {
    testkit::tools::json_lines(&dir.join("audit/log/spi"))
}

#[tokio::test(flavor = "multi_thread")]
async fn sixty_four_concurrent_sends_keep_within_bacens_limit_in_batches() {
    let dir = tempfile::tempdir().expect("dir");
    let s = setup(dir.path(), |_| {}).await;
    assert_eq!(
        control(s.simulator.check, "/faults?family=spi&latency_ms=50")
            .await
            .0,
        204
    );
    let mut ids = HashSet::new();
    for (status, h, body) in burst(s.proxy.spi, 64).await {
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
        let id = header(&h, "pi-resourceid");
        assert_eq!(id.len(), 32, "its own PI-ResourceId, not the batch's list: {id}");
        ids.insert(id);
    }
    assert_eq!(ids.len(), 64, "every caller its own PI-ResourceId");
    let st = stats(s.simulator.check).await;
    assert_eq!(
        st["messages"], 64,
        "every message reached BACEN exactly once: {st}"
    );
    assert_eq!(st["refused_concurrency"], 0, "no 429: {st}");
    assert!(st["max_concurrent_seen"].as_u64().unwrap() <= 6, "{st}");
    assert!(st["multipart_requests"].as_u64().unwrap() > 0, "batched: {st}");
    assert!(
        st["requests"].as_u64().unwrap() < 64,
        "fewer requests than messages: {st}"
    );
    s.shutdown().await;
    let sent: Vec<_> = records(dir.path())
        .into_iter()
        .filter(|r| r["request_method"] == "POST")
        .collect();
    assert_eq!(sent.len(), 64, "one audit record per caller's message");
    let batched = sent.iter().filter(|r| r["batch_id"].is_string()).count();
    assert!(batched > 1, "records of batched messages carry their batch id");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_that_waits_past_the_queue_timeout_is_503_bacen_busy() {
    let dir = tempfile::tempdir().expect("dir");
    let s = setup(dir.path(), |c| {
        c.max_in_flight = 1;
        c.batch_max = 1;
        c.queue_timeout = Duration::from_millis(100);
    })
    .await;
    assert_eq!(
        control(s.simulator.check, "/faults?family=spi&latency_ms=500")
            .await
            .0,
        204
    );
    let mut busy = 0;
    for (status, h, body) in burst(s.proxy.spi, 3).await {
        if status == 503 {
            busy += 1;
            assert!(String::from_utf8_lossy(&body).contains(Problem::BacenBusy.code()));
            assert!(!header(&h, "retry-after").is_empty(), "Retry-After says when");
        } else {
            assert_eq!(status, 201);
        }
    }
    assert!(busy >= 1, "the queue timeout was exceeded");
    s.shutdown().await;
    let audited = records(dir.path())
        .iter()
        .filter(|r| r["response_status_code"] == 503)
        .count();
    assert_eq!(audited, busy, "each refusal audited");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_with_retry_after_pauses_sends_and_reaches_its_caller() {
    let dir = tempfile::tempdir().expect("dir");
    let s = setup(dir.path(), |c| c.batch_max = 1).await;
    assert_eq!(
        control(s.simulator.check, "/throttle?nth=1&retry_after=1")
            .await
            .0,
        204
    );
    let (status, h, body) = post_xml(s.proxy.spi, MSGS, sample("pacs.008.xml")).await;
    assert_eq!(status, 429, "BACEN's answer, as BACEN sent it");
    assert_eq!(header(&h, "retry-after"), "1");
    assert!(String::from_utf8_lossy(&body).contains("tooManyRequests"));
    let started = Instant::now();
    let (status, _, _) = post_xml(s.proxy.spi, MSGS, sample("pacs.008.xml")).await;
    assert_eq!(status, 201);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "held until BACEN's Retry-After passed: {:?}",
        started.elapsed()
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_bacen_refuses_is_refused_to_every_caller_in_it() {
    let dir = tempfile::tempdir().expect("dir");
    let s = setup(dir.path(), |c| c.max_in_flight = 1).await;
    let sim = s.simulator.check;
    assert_eq!(control(sim, "/faults?family=spi&latency_ms=400").await.0, 204);
    // The second request BACEN sees is refused: the batch queued behind the first.
    assert_eq!(control(sim, "/throttle?nth=2&retry_after=1").await.0, 204);
    let spi = s.proxy.spi;
    let first = tokio::spawn(async move { post_xml(spi, MSGS, sample("pacs.008.xml")).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let queued: Vec<_> = (0..5)
        .map(|_| tokio::spawn(async move { post_xml(spi, MSGS, sample("pacs.008.xml")).await }))
        .collect();
    assert_eq!(first.await.expect("first").0, 201);
    for q in queued {
        let (status, _, _) = q.await.expect("queued");
        assert_eq!(status, 429, "BACEN refused the batch: every caller of it is told");
    }
    s.shutdown().await;
    let refused: Vec<_> = records(dir.path())
        .into_iter()
        .filter(|r| r["response_status_code"] == 429)
        .collect();
    assert_eq!(refused.len(), 5, "one record per caller's message");
    let batch_ids: HashSet<_> = refused
        .iter()
        .map(|r| r["batch_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(batch_ids.len(), 1, "linked by one batch id");
}
