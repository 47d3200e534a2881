//! The audit trail through Firehose, against moto's server (Firehose → S3) and the simulator:
//! N exchanges give exactly N records in S3, each the exchange's own; Firehose away for a while,
//! or failing part of a batch, loses and duplicates nothing; neither does a SIGKILL mid-traffic
//! followed by a restart (the spool is replayed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pix_dev::hsm::{DevOptions, DevSetup, Keys, call};
use pix_xmldsig::dsig::Profile;
use proxy_core::audit::firehose::{FirehoseSink, Settings};
use proxy_core::audit::{AuditRecord, AuditSink, FileSink, WriteFuture};
use proxy_core::retry::Backoff;
use proxy_hsm::Listen;
use testkit::aws::{self as moto_aws, CHILD_ENV, DICT_STREAM, SPI_STREAM, moto_with_audit};
use testkit::aws::{Fault, FaultProxy};
use testkit::samples::bytes as sample;

const XML: (&str, &str) = ("content-type", "application/xml; charset=utf-8");

/// Test-only sink: every record to Firehose and to local files, so the test can compare the two
/// copies field for field.
struct Tee(Arc<FirehoseSink>, FileSink);

impl AuditSink for Tee {
    fn write<'a>(&'a self, family: Profile, record: &'a AuditRecord) -> WriteFuture<'a> {
        Box::pin(async move {
            self.1.write(family, record).await?;
            self.0.write(family, record).await
        })
    }
}

/// moto with the audit pipeline, the fault proxy in front of it, and a working directory.
async fn behind_faults() -> Option<(testkit::aws::Moto, FaultProxy, tempfile::TempDir)> {
    let moto = moto_with_audit().await?;
    let faults = FaultProxy::start(&moto.endpoint).await.expect("fault proxy");
    Some((moto, faults, tempfile::tempdir().expect("dir")))
}

/// The spooled sink under test, sending to `endpoint`, its spool in `dir/spool`.
fn spooled(endpoint: &str, dir: &Path) -> Arc<FirehoseSink> {
    Arc::new(
        FirehoseSink::spooled(
            moto_aws::firehose(endpoint),
            moto_aws::streams(),
            &dir.join("spool"),
            quick(),
        )
        .expect("sink"),
    )
}

fn quick() -> Settings {
    Settings {
        flush_interval: Duration::from_millis(50),
        backoff: Backoff {
            base: Duration::from_millis(50),
            cap: Duration::from_millis(400),
        },
        ..Settings::default()
    }
}

async fn setup(dir: &Path, audit: Arc<dyn AuditSink>) -> DevSetup {
    let options = DevOptions {
        keys: Keys::Software,
        timeout: Duration::from_secs(5),
        audit: Some(audit),
        ..DevOptions::new(Listen::ephemeral(IpAddr::V4(Ipv4Addr::LOCALHOST)))
    };
    DevSetup::start_with(dir, options).await.expect("set-up")
}

/// One exchange as the bank service saw it.
#[derive(Debug)]
struct Seen {
    family: &'static str,
    path: &'static str,
    status: u16,
    valid: String,
    body: String,
}

/// Sends `n` exchanges (SPI messages, DICT entries, a bad path) and returns them by request id.
async fn traffic(setup: &DevSetup, n: usize) -> HashMap<String, Seen> {
    let pacs008 = sample("pacs.008.xml");
    let entry = sample("dict-create-entry.xml");
    let mut seen = HashMap::new();
    for i in 0..n {
        let (family, addr, method, path, body) = match i % 5 {
            0..=2 => (
                "spi",
                setup.proxy.spi,
                "POST",
                "/api/v1/in/99999010/msgs",
                pacs008.clone(),
            ),
            3 => (
                "dict",
                setup.proxy.dict,
                "POST",
                "/api/v2/entries/",
                entry.clone(),
            ),
            _ => ("spi", setup.proxy.spi, "GET", "//evil.example/x", vec![]),
        };
        let (status, h, body) = call(addr, method, path, &[XML], body).await.expect("call");
        let header = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let id = header("pix-request-id");
        assert_eq!(id.len(), 32, "every answer names its audit record");
        seen.insert(
            id,
            Seen {
                family,
                path,
                status,
                valid: header("pix-signature-valid"),
                body: String::from_utf8_lossy(&body).into_owned(),
            },
        );
    }
    seen
}

/// Waits until S3 holds `n` records in all, then returns them by request id (asserting that
/// none is there twice).
async fn wait_for_s3(endpoint: &str, n: usize, limit: Duration) -> HashMap<String, serde_json::Value> {
    let started = Instant::now();
    loop {
        let mut all = moto_aws::s3_records(endpoint, "spi").await;
        all.extend(moto_aws::s3_records(endpoint, "dict").await);
        if all.len() >= n || started.elapsed() > limit {
            let mut by_id = HashMap::new();
            for r in all {
                let id = r["request_id"].as_str().expect("request_id").to_string();
                assert!(
                    by_id.insert(id.clone(), r).is_none(),
                    "record {id} delivered twice"
                );
            }
            return by_id;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The records in S3 are exactly the answered exchanges, each matching what the bank service saw.
fn assert_match(s3: &HashMap<String, serde_json::Value>, seen: &HashMap<String, Seen>) {
    let s3_ids: HashSet<&String> = s3.keys().collect();
    let seen_ids: HashSet<&String> = seen.keys().collect();
    assert_eq!(s3_ids, seen_ids, "S3 holds exactly the answered exchanges");
    for (id, exchange) in seen {
        let r = &s3[id];
        assert_eq!(r["response_status_code"], exchange.status, "{id}");
        assert_eq!(r["response_signature_valid"], exchange.valid.as_str(), "{id}");
        assert_eq!(r["response_body"], exchange.body.as_str(), "{id}");
        assert_eq!(r["request_path"], exchange.path, "{id}");
        let partition = r["request_date"].as_str().expect("date");
        assert!(partition.starts_with("20"), "{id}: {partition}");
        let family_of_type = if exchange.family == "dict" { "Entry" } else { "" };
        assert!(r["message_type"].as_str().unwrap_or("").contains(family_of_type));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn n_exchanges_give_n_records_in_s3_each_its_own() {
    let Some(moto) = moto_with_audit().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let firehose = spooled(&moto.endpoint, dir.path());
    let files = FileSink::new(&dir.path().join("copy"));
    let setup = setup(dir.path(), Arc::new(Tee(Arc::clone(&firehose), files))).await;
    let seen = traffic(&setup, 40).await;
    assert!(firehose.flush(Duration::from_secs(20)).await, "delivered");
    let s3 = wait_for_s3(&moto.endpoint, 40, Duration::from_secs(5)).await;
    assert_match(&s3, &seen);

    // Field for field: what Firehose delivered is the record the relay wrote.
    let local = testkit::tools::json_lines(&dir.path().join("copy"));
    assert_eq!(local.len(), 40);
    for record in local {
        let id = record["request_id"].as_str().expect("id");
        assert_eq!(s3[id], record, "record {id}");
    }
    let spool_left: Vec<_> = std::fs::read_dir(dir.path().join("spool/slot-0"))
        .expect("spool")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
        .collect();
    assert!(
        spool_left.len() <= 1,
        "only the open segment stays: {spool_left:?}"
    );
    setup.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn firehose_away_or_failing_records_loses_and_duplicates_nothing() {
    let Some((moto, faults, dir)) = behind_faults().await else {
        return;
    };
    let firehose = spooled(&faults.endpoint, dir.path());
    let setup = setup(dir.path(), firehose.clone()).await;

    // Firehose unreachable: the payments go on, the records wait in the spool.
    faults.set(Fault::Unreachable);
    let mut seen = traffic(&setup, 15).await;
    assert!(
        seen.values().any(|s| s.status == 201),
        "payments are not held up by the audit"
    );
    let started = Instant::now();
    while firehose.counts().retries < 3 {
        assert!(started.elapsed() < Duration::from_secs(20), "the sink retries");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        !firehose.flush(Duration::from_millis(100)).await,
        "nothing can be delivered"
    );
    assert!(moto_aws::s3_records(&moto.endpoint, "spi").await.is_empty());

    // Back: everything arrives once.
    faults.set(Fault::None);
    assert!(
        firehose.flush(Duration::from_secs(20)).await,
        "delivered once Firehose is back"
    );

    // Every other record of each batch refused: retried until taken, none twice.
    faults.set(Fault::FailRecords(2));
    seen.extend(traffic(&setup, 15).await);
    assert!(
        firehose.flush(Duration::from_secs(20)).await,
        "failed records retried"
    );
    let s3 = wait_for_s3(&moto.endpoint, 30, Duration::from_secs(5)).await;
    assert_match(&s3, &seen);
    let counts = firehose.counts();
    assert_eq!((counts.spooled, counts.delivered, counts.refused), (30, 30, 0));
    setup.shutdown().await;
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

/// `pix-dev serve` (the Fargate flavour's development set-up) with the Firehose sink, as a child
/// process.
fn spawn_proxy(dir: &Path, endpoint: &str, spi: u16, dict: u16, check: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_pix-dev"))
        .args(["serve", "--keys", "software", "--audit", "firehose"])
        .args(["--aws-endpoint", endpoint, "--spi-audit-stream", SPI_STREAM])
        .args(["--dict-audit-stream", DICT_STREAM])
        .arg("--dir")
        .arg(dir.join("dev"))
        .arg("--spool-dir")
        .arg(dir.join("spool"))
        .args(["--spi-port", &spi.to_string(), "--dict-port", &dict.to_string()])
        .args(["--check-port", &check.to_string()])
        .envs(CHILD_ENV)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("proxy-hsm")
}

/// The bank's service of `pix-dev serve`'s dev PKI (made anew at each start) calls its SPI port.
fn present_caller(dir: &Path, spi: u16) {
    let pki = simulator::pki::DevPki::at(&dir.join("dev").join("pki"));
    let identity = testkit::bank::caller_identity(
        &pki.path("bank-ca.cer"),
        Some((&pki.path("caller.cer"), &pki.path("caller.key"))),
    )
    .expect("caller identity");
    testkit::bank::present(SocketAddr::from(([127, 0, 0, 1], spi)), identity);
}

async fn wait_ready(check: u16) {
    let started = Instant::now();
    let addr = SocketAddr::from(([127, 0, 0, 1], check));
    while !matches!(call(addr, "GET", "/check", &[], vec![]).await, Ok((200, _, _))) {
        assert!(started.elapsed() < Duration::from_secs(60), "proxy did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_traffic_then_restart_loses_nothing() {
    let Some((moto, faults, dir)) = behind_faults().await else {
        return;
    };
    let (spi, dict, check) = (free_port(), free_port(), free_port());
    let mut child = spawn_proxy(dir.path(), &faults.endpoint, spi, dict, check);
    wait_ready(check).await;
    present_caller(dir.path(), spi);

    // Four clients send payments; Firehose is away half the time, so at the kill some records
    // are delivered and some wait in the spool.
    let answered = Arc::new(std::sync::Mutex::new(HashSet::<String>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pacs008 = sample("pacs.008.xml");
    let clients = 4;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (answered, stop, body) = (Arc::clone(&answered), Arc::clone(&stop), pacs008.clone());
        tasks.push(tokio::spawn(async move {
            let addr = SocketAddr::from(([127, 0, 0, 1], spi));
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match call(addr, "POST", "/api/v1/in/99999010/msgs", &[XML], body.clone()).await {
                    Ok((_, h, _)) => {
                        let id = h
                            .get("pix-request-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("");
                        answered.lock().expect("lock").insert(id.to_string());
                    }
                    Err(_) => break, // the proxy is gone
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    faults.set(Fault::Unreachable);
    tokio::time::sleep(Duration::from_millis(700)).await;
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in tasks {
        t.await.expect("client");
    }
    let answered = answered.lock().expect("lock").clone();
    assert!(answered.len() > 10, "traffic before the kill: {}", answered.len());

    // Restarted with the same spool, Firehose back: the spool is replayed.
    faults.set(Fault::None);
    let mut child = spawn_proxy(dir.path(), &faults.endpoint, spi, dict, check);
    wait_ready(check).await;
    present_caller(dir.path(), spi);
    let s3 = wait_for_s3(&moto.endpoint, answered.len(), Duration::from_secs(30)).await;
    let _ = child.kill();
    let _ = child.wait();
    let delivered: HashSet<String> = s3.keys().cloned().collect();
    let lost: Vec<_> = answered.difference(&delivered).collect();
    assert!(lost.is_empty(), "answered but not in S3: {lost:?}");
    // Records of exchanges that reached BACEN but whose answer the kill cut off may be there
    // too: at most one per client in flight.
    let extra = delivered.difference(&answered).count();
    assert!(extra <= clients, "{extra} records beyond the answered exchanges");
    eprintln!(
        "SIGKILL test: {} exchanges answered, {} records in S3 ({extra} in flight at the kill), none twice",
        answered.len(),
        delivered.len()
    );
}
