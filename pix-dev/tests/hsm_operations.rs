//! What an operator relies on: `/metrics` holds exactly the exchanges that happened, `/live`
//! stays up while BACEN is away and `/ready` follows BACEN, connections that never finish their
//! request head are closed while real requests are served, and paths leave neither BACEN's API
//! root nor it by dot-segments. In its own test binary: the metrics recorder is per process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use pix_dev::hsm::{DevOptions, DevSetup, Keys};
use proxy_core::service::Serving;
use proxy_hsm::Listen;
use simulator::pki::DevPki;
use simulator::{Config, Simulator};
use testkit::bank::{call, post_xml};
use testkit::samples::bytes as sample;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MSGS: &str = "/api/v1/in/99999010/msgs";

/// Each metric's series: (sorted labels, value).
type Series = HashMap<String, Vec<(BTreeMap<String, String>, f64)>>;

/// Prometheus text as `name` → (sorted labels → value); fails on a line that is not the format.
fn parse(text: &str) -> Series {
    let mut out: HashMap<String, Vec<_>> = HashMap::new();
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number: {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (
                n,
                rest.strip_suffix('}').unwrap_or_else(|| panic!("labels: {line}")),
            ),
            None => (series, ""),
        };
        let labels = labels
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or_else(|| panic!("label: {line}"));
                (k.to_string(), v.trim_matches('"').to_string())
            })
            .collect();
        out.entry(name.to_string()).or_default().push((labels, value));
    }
    out
}

/// The sum of a metric's series whose labels include every `(key, value)` of `with`.
fn sum(m: &Series, name: &str, with: &[(&str, &str)]) -> f64 {
    m.get(name)
        .into_iter()
        .flatten()
        .filter(|(labels, _)| {
            with.iter()
                .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, v)| v)
        .sum()
}

async fn status(addr: SocketAddr, path: &str) -> u16 {
    call(addr, "GET", path, &[], vec![]).await.expect("health").0
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_health_and_a_hardened_listener() {
    proxy_hsm::install_metrics().expect("recorder");
    let dir = tempfile::tempdir().expect("dir");
    let s = DevSetup::start_with(
        dir.path(),
        DevOptions {
            keys: Keys::Software,
            serving: Serving {
                header_read_timeout: Duration::from_secs(1),
                ..Serving::default()
            },
            ..DevOptions::new(Listen::ephemeral(IpAddr::V4(Ipv4Addr::LOCALHOST)))
        },
    )
    .await
    .expect("setup");
    let control = |path: &'static str| {
        let check = s.simulator.check;
        async move { assert_eq!(call(check, "POST", path, &[], vec![]).await.unwrap().0, 204) }
    };

    // Four exchanges: accepted, refused by the proxy, failed verification, BACEN's 429.
    assert_eq!(post_xml(s.proxy.spi, MSGS, sample("pacs.008.xml")).await.0, 201);
    assert_eq!(post_xml(s.proxy.spi, MSGS, b"<Envelope/>".to_vec()).await.0, 400);
    control("/faults?family=dict&broken_signature=true").await;
    let (st, _, _) = post_xml(s.proxy.dict, "/api/v2/entries/", sample("dict-create-entry.xml")).await;
    assert_eq!(st, 502);
    control("/throttle?nth=1&retry_after=1").await;
    assert_eq!(post_xml(s.proxy.spi, MSGS, sample("pacs.008.xml")).await.0, 429);

    let (st, h, body) = call(s.proxy.check, "GET", "/metrics", &[], vec![])
        .await
        .expect("metrics");
    assert_eq!(st, 200);
    assert!(h["content-type"].to_str().unwrap().starts_with("text/plain"));
    let m = parse(&String::from_utf8_lossy(&body));
    let requests = |family, status| {
        sum(
            &m,
            "pix_requests_total",
            &[("family", family), ("status", status)],
        )
    };
    assert_eq!(requests("spi", "201"), 1.0);
    assert_eq!(requests("spi", "400"), 1.0);
    assert_eq!(requests("dict", "502"), 1.0);
    assert_eq!(requests("spi", "429"), 1.0);
    assert_eq!(sum(&m, "pix_requests_total", &[]), 4.0, "exactly those exchanges");
    assert_eq!(
        sum(
            &m,
            "pix_requests_total",
            &[("message_type", "pacs.008"), ("status", "201")]
        ),
        1.0
    );
    let bacen = |family, status| {
        sum(
            &m,
            "pix_bacen_responses_total",
            &[("family", family), ("status", status)],
        )
    };
    assert_eq!(
        (bacen("spi", "201"), bacen("spi", "429"), bacen("dict", "201")),
        (1.0, 1.0, 1.0)
    );
    assert_eq!(
        sum(
            &m,
            "pix_signature_verdicts_total",
            &[("family", "dict"), ("valid", "false"), ("check", "signature")]
        ),
        1.0
    );
    assert_eq!(sum(&m, "pix_exchange_seconds_count", &[("family", "spi")]), 3.0);
    assert_eq!(sum(&m, "pix_exchange_seconds_count", &[("family", "dict")]), 1.0);
    assert_eq!(sum(&m, "pix_bacen_round_trip_seconds_count", &[]), 3.0);
    assert_eq!(sum(&m, "pix_audit_records_total", &[("outcome", "written")]), 4.0);
    assert!(sum(&m, "pix_signer_seconds_count", &[]) >= 3.0);

    // Connections that never finish their request head are closed by the timeout, while a real
    // request is served.
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut tcp = tokio::net::TcpStream::connect(s.proxy.spi)
            .await
            .expect("connect");
        tcp.write_all(b"POST /api/v1/in/99999010/msgs HTTP/1.1\r\nHost: proxy\r\n")
            .await
            .expect("half");
        slow.push(tcp);
    }
    control("/faults?family=dict&broken_signature=false").await;
    assert_eq!(
        post_xml(s.proxy.spi, MSGS, sample("pacs.008.xml")).await.0,
        201,
        "served meanwhile"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for tcp in &mut slow {
        let mut buf = [0u8; 512];
        let closed = tokio::time::timeout(Duration::from_secs(2), async {
            loop {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => return true,
                    Ok(_) => continue, // a 408 before the close is fine
                }
            }
        })
        .await
        .unwrap_or(false);
        assert!(closed, "a half-sent head is closed by the header timeout");
    }

    // Paths stay under BACEN's API root of the family, without dot-segments.
    for path in [
        "/api/v1/../../../etc/passwd",
        "/api/v1/in/%2e%2e/x",
        "/api/v2/entries/",
        "/metrics",
    ] {
        let (st, _, body) = call(s.proxy.spi, "GET", path, &[], vec![]).await.expect("path");
        assert_eq!(st, 400, "{path}: {}", String::from_utf8_lossy(&body));
    }

    // BACEN away: live and ready stay up (neither ECS nor the load balancer recycles the task),
    // `/bacen` turns 503; BACEN back: `/bacen` 200 again.
    assert_eq!(status(s.proxy.check, "/live").await, 200);
    assert_eq!(status(s.proxy.check, "/ready").await, 200);
    assert_eq!(status(s.proxy.check, "/bacen").await, 200);
    let (spi, dict) = (s.simulator.spi, s.simulator.dict);
    let DevSetup { simulator, proxy, .. } = s;
    simulator.shutdown().await;
    assert_eq!(status(proxy.check, "/live").await, 200);
    assert_eq!(
        status(proxy.check, "/ready").await,
        200,
        "BACEN away is no reason to leave"
    );
    assert_eq!(status(proxy.check, "/check").await, 200, "the old name");
    assert_eq!(status(proxy.check, "/bacen").await, 503);
    let pki = DevPki::at(&dir.path().join("pki"));
    let mut config = Config::ephemeral(&pki);
    config.spi_port = spi.port();
    config.dict_port = dict.port();
    let back = Simulator::start(config).await.expect("BACEN back");
    assert_eq!(status(proxy.check, "/bacen").await, 200);
    proxy.shutdown().await;
    back.shutdown().await;
}
