//! The stream consumer (`proxy-hsm consume`, issue 36) as a process, keys in SoftHSM, BACEN's
//! simulator on loopback: every message reaches the destination at least once, duplicates
//! marked, none lost, whatever happens to the consumer or the destination; a message whose
//! signature fails is handed off flagged and the stream goes on. (A binary of its own: SoftHSM's
//! slot list is read once per process.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use simulator::{Config, Simulator};
use testkit::process::Killed;

struct Bank<'k> {
    keys: &'k pix_dev::hsm_keys::BankKeys,
    sim: Simulator,
    parameters: PathBuf,
    secret: PathBuf,
    /// This scenario's working directory.
    dir: PathBuf,
}

/// A simulator of its own for scenario `name`, and the parameters pointing at it.
async fn bank<'k>(keys: &'k pix_dev::hsm_keys::BankKeys, name: &str) -> Bank<'k> {
    let mut config = Config::ephemeral(&keys.pki);
    config.psp_signature_certs = vec![keys.pki.path("sig-hsm.cer")];
    // What a reader took and did not acknowledge is delivered again after 2 s without a read.
    config.stream_idle = Duration::from_secs(2);
    // The bank does not answer the payments here: no AB03 reports while a scenario runs.
    config.payee_timeout = Duration::from_secs(600);
    let sim = Simulator::start(config).await.expect("simulator");
    let dir = keys.dir.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let parameters = dir.join("parameters.json");
    let values = keys.parameters(
        &sim,
        &std::fs::read_to_string(keys.pki.path("bacen-sig.cer")).unwrap(),
    );
    std::fs::write(&parameters, serde_json::to_string(&values).unwrap()).unwrap();
    let secret = dir.join("secret.json");
    std::fs::write(&secret, keys.secret_json()).unwrap();
    Bank {
        keys,
        sim,
        parameters,
        secret,
        dir,
    }
}

impl Bank<'_> {
    /// `proxy-hsm consume --to <to>` with its state under `state`; its log in `log`.
    fn consume(&self, to: &str, state: &Path, log: &Path, extra: &[&str]) -> (Killed, SocketAddr) {
        self.consume_with_env(to, state, log, extra, &[])
    }

    /// [`Bank::consume`] with more environment variables.
    fn consume_with_env(
        &self,
        to: &str,
        state: &Path,
        log: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> (Killed, SocketAddr) {
        let check = testkit::tools::free_port().unwrap();
        let mut command =
            self.keys
                .command("consume", &self.parameters, &self.secret, &self.dir.join("audit"));
        command
            .args(["--check-port", &check.to_string()])
            .args(["--to", to, "--ispb", "99999010", "--max-backoff-seconds", "1"])
            .args(if extra.contains(&"--readers") {
                &[][..]
            } else {
                &["--readers", "3"][..]
            })
            .arg("--state-dir")
            .arg(state)
            .args(extra)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(log)
                    .unwrap(),
            );
        let child = Killed(command.spawn().expect("proxy-hsm consume"));
        (child, SocketAddr::from(([127, 0, 0, 1], check)))
    }

    /// BACEN delivers the participant `n` payments from another bank (pacs.008); their
    /// `EndToEndId`s.
    async fn payments(&self, n: usize) -> Vec<String> {
        self.control_each(n, "/payment?ispb=99999010").await
    }

    /// `n` `POST`s of `path` to the simulator's control port; what each answered.
    async fn control_each(&self, n: usize, path: &str) -> Vec<String> {
        let mut ids = Vec::new();
        for _ in 0..n {
            let (status, _, body) = testkit::bank::call(self.sim.check, "POST", path, &[], vec![])
                .await
                .unwrap();
            assert_eq!(status, 201);
            ids.push(String::from_utf8_lossy(&body).trim().to_string());
        }
        ids
    }

    /// BACEN sends the participant `n` echoes (pibr.001); their message ids.
    async fn echoes(&self, n: usize) -> Vec<String> {
        self.control_each(n, "/echo?ispb=99999010").await
    }
}

/// The messages in a `dir:` destination: each payment's `EndToEndId` (another message's id) →
/// how many files, how many were marked duplicate, and every file.
fn delivered(dir: &Path) -> (BTreeMap<String, usize>, usize, Vec<serde_json::Value>) {
    let mut count = BTreeMap::new();
    let mut duplicates = 0;
    let mut all = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "json") {
            let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            *count.entry(key(&v)).or_insert(0) += 1;
            if v["duplicate"] == true {
                duplicates += 1;
            }
            all.push(v);
        }
    }
    (count, duplicates, all)
}

/// What a handed-off message is matched by: a payment's `EndToEndId`, another message's id.
fn key(m: &serde_json::Value) -> String {
    let e2e = m["end_to_end_id"].as_str().filter(|s| !s.is_empty());
    e2e.or(m["msg_id"].as_str()).unwrap_or("").to_string()
}

/// Waits until every id of `ids` is in `dir`.
async fn until_all(dir: &Path, ids: &[String], seconds: u64) -> BTreeMap<String, usize> {
    let started = Instant::now();
    loop {
        let (count, _, _) = delivered(dir);
        if ids.iter().all(|id| count.contains_key(id)) {
            return count;
        }
        let missing: Vec<&String> = ids.iter().filter(|id| !count.contains_key(*id)).collect();
        assert!(
            started.elapsed() < Duration::from_secs(seconds),
            "{} of {} never arrived: {:?}",
            missing.len(),
            ids.len(),
            &missing[..missing.len().min(5)]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// SIGKILL mid-stream with messages flowing, then a restart.
async fn killed_mid_stream_a_restarted_consumer_loses_nothing_and_marks_duplicates(
    keys: &pix_dev::hsm_keys::BankKeys,
) {
    let bank = bank(keys, "killed").await;
    let dir = bank.dir.as_path();
    let (inbox, state, log) = (dir.join("inbox"), dir.join("state"), dir.join("consumer.log"));
    let to = format!("dir:{}", inbox.display());
    let (consumer, check) = bank.consume(&to, &state, &log, &[]);
    testkit::process::wait_ready_or_show(check, Some(&log)).await;

    // Payments keep coming while the consumer is killed (SIGKILL) and started again; each is
    // checked by its EndToEndId against what BACEN delivered.
    let mut sent = bank.payments(40).await;
    let started = Instant::now();
    while delivered(&inbox).0.len() < 10 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nothing consumed: {}",
            std::fs::read_to_string(&log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(consumer);
    sent.extend(bank.payments(40).await);
    let (consumer, check) = bank.consume(&to, &state, &log, &[]);
    testkit::process::wait_ready_or_show(check, Some(&log)).await;
    sent.extend(bank.payments(20).await);
    let count = until_all(&inbox, &sent, 60).await;
    let (_, duplicates, all) = delivered(&inbox);
    let extra: usize = count.values().map(|n| n - 1).sum();
    // Every message at least once (above); a copy is marked duplicate only when an earlier one
    // was handed off, and every later copy is, but for those whose first hand-off the kill cut
    // before it was recorded (at most one per reader).
    for m in &all {
        if count[&key(m)] == 1 {
            assert_eq!(
                m["duplicate"], false,
                "a message's only copy marked duplicate: {m}"
            );
        }
    }
    assert!(
        duplicates <= extra && duplicates + 3 >= extra,
        "{duplicates} marked of {extra} copies: {count:?}"
    );
    assert!(
        all.iter()
            .all(|m| m["signature_valid"] == true && m["message_type"] == "pacs.008")
    );
    assert_eq!(
        count.len(),
        sent.len(),
        "nothing but the payments BACEN delivered"
    );
    drop(consumer);
    bank.sim.shutdown().await;
}

/// A message whose signature fails in the middle of the stream.
async fn a_bad_signature_is_handed_off_flagged_and_the_stream_goes_on(keys: &pix_dev::hsm_keys::BankKeys) {
    let bank = bank(keys, "bad-signature").await;
    let dir = bank.dir.as_path();
    let (inbox, state, log) = (dir.join("inbox"), dir.join("state"), dir.join("consumer.log"));
    let (consumer, check) = bank.consume(&format!("dir:{}", inbox.display()), &state, &log, &[]);
    testkit::process::wait_ready_or_show(check, Some(&log)).await;
    let mut sent = bank.echoes(3).await;
    bank.sim.set_faults("family=spi&broken_signature=true").unwrap();
    let bad = bank.echoes(2).await;
    bank.sim.set_faults("family=spi&broken_signature=false").unwrap();
    sent.extend(bad.clone());
    sent.extend(bank.echoes(3).await);
    until_all(&inbox, &sent, 30).await;
    let (_, _, all) = delivered(&inbox);
    let flagged: BTreeSet<String> = all
        .iter()
        .filter(|m| m["signature_valid"] == false)
        .map(key)
        .collect();
    assert_eq!(flagged, bad.iter().cloned().collect::<BTreeSet<_>>());
    assert!(
        all.iter()
            .filter(|m| m["signature_valid"] == false)
            .all(|m| !m["signature_error"].is_null())
    );
    drop(consumer);
    bank.sim.shutdown().await;
}

/// The bank's HTTPS endpoint: answers `500` while `failing`, else `200`, keeping each message id.
struct Endpoint {
    addr: SocketAddr,
    failing: std::sync::Arc<std::sync::atomic::AtomicBool>,
    taken: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    refused: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

async fn endpoint(pki: &simulator::pki::DevPki) -> Endpoint {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let tls = proxy_core::callers::tls::CallerTls {
        client_ca: std::fs::read_to_string(pki.path("bank-ca.cer")).unwrap(),
        certificate: std::fs::read_to_string(pki.path("proxy-tls.cer")).unwrap(),
        key: std::fs::read_to_string(pki.path("proxy-tls.key")).unwrap(),
    };
    // The consumer presents the bank service's certificate (`--to-cert`): the endpoint checks it.
    let acceptor = tls.acceptor().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let failing = Arc::new(AtomicBool::new(true));
    let taken = Arc::new(std::sync::Mutex::new(Vec::new()));
    let refused = Arc::new(AtomicUsize::new(0));
    let (f, t, r) = (Arc::clone(&failing), Arc::clone(&taken), Arc::clone(&refused));
    let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let (f, t, r) = (Arc::clone(&f), Arc::clone(&t), Arc::clone(&r));
        async move {
            let id = testkit::bank::header(req.headers(), "pix-msg-id");
            let status = if f.load(Ordering::SeqCst) {
                r.fetch_add(1, Ordering::SeqCst);
                500
            } else {
                t.lock().unwrap().push(id);
                200
            };
            let mut answer = http::Response::new(http_body_util::Full::new(bytes::Bytes::new()));
            *answer.status_mut() = http::StatusCode::from_u16(status).unwrap();
            Ok::<_, std::convert::Infallible>(answer)
        }
    });
    tokio::spawn(proxy_core::service::serve(
        listener,
        Some(acceptor),
        service,
        std::future::pending(),
        proxy_core::service::Serving::default(),
    ));
    Endpoint {
        addr,
        failing,
        taken,
        refused,
    }
}

/// GETs of a `PI-Pull-Next` (each acknowledging the page before it) in the consumer's audit.
fn acknowledgements(audit: &Path) -> usize {
    testkit::tools::json_lines(&audit.join("log/spi"))
        .iter()
        .filter(|r| {
            let path = r["request_path"].as_str().unwrap_or("");
            r["request_method"] == "GET" && path.contains("/stream/") && !path.ends_with("/stream/start")
        })
        .count()
}

/// The bank's HTTPS endpoint answering 500, then back.
async fn a_destination_that_fails_holds_the_stream_and_loses_nothing(keys: &pix_dev::hsm_keys::BankKeys) {
    use std::sync::atomic::Ordering;
    let bank = bank(keys, "destination-down").await;
    let dir = bank.dir.as_path();
    let pki = &bank.keys.pki;
    let bank_endpoint = endpoint(pki).await;
    let (state, log, audit) = (dir.join("state"), dir.join("consumer.log"), dir.join("audit"));
    let to = format!("https://127.0.0.1:{}/pix/inbox", bank_endpoint.addr.port());
    let ca = pki.path("bank-ca.cer").display().to_string();
    let (cert, key) = (
        pki.path("caller.cer").display().to_string(),
        pki.path("caller.key").display().to_string(),
    );
    let extra = [
        "--readers",
        "1",
        "--to-ca",
        &ca,
        "--to-cert",
        &cert,
        "--to-key",
        &key,
    ];
    let (consumer, check) = bank.consume(&to, &state, &log, &extra);
    testkit::process::wait_ready_or_show(check, Some(&log)).await;
    let sent = bank.echoes(5).await;
    // The endpoint answers 500: the page is not acknowledged while it does.
    let started = Instant::now();
    while bank_endpoint.refused.load(Ordering::SeqCst) < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = acknowledgements(&audit);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        bank_endpoint.refused.load(Ordering::SeqCst) >= 3,
        "retried with back-off"
    );
    assert_eq!(
        acknowledgements(&audit),
        before,
        "the stream did not advance while the destination failed"
    );
    assert!(bank_endpoint.taken.lock().unwrap().is_empty());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("\"metric\":\"HandOffFailed\""), "{text}");

    // Back: every message delivered, none lost.
    bank_endpoint.failing.store(false, Ordering::SeqCst);
    let started = Instant::now();
    loop {
        let taken: BTreeSet<String> = bank_endpoint.taken.lock().unwrap().iter().cloned().collect();
        if sent.iter().all(|id| taken.contains(id)) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "missing after recovery: {taken:?} of {sent:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(acknowledgements(&audit) > before);
    drop(consumer);
    bank.sim.shutdown().await;
}

/// Receives (and deletes) what is in `queue`: message id → attributes.
async fn drain(
    client: &aws_sdk_sqs::Client,
    queue: &str,
    into: &mut BTreeMap<String, BTreeMap<String, String>>,
) {
    let got = client
        .receive_message()
        .queue_url(queue)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .send()
        .await
        .expect("receive");
    for m in got.messages() {
        let attributes: BTreeMap<String, String> = m
            .message_attributes()
            .map(|a| {
                a.iter()
                    .map(|(k, v)| (k.clone(), v.string_value().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        into.insert(
            attributes.get("pix-msg-id").cloned().unwrap_or_default(),
            attributes,
        );
        client
            .delete_message()
            .queue_url(queue)
            .receipt_handle(m.receipt_handle().unwrap_or(""))
            .send()
            .await
            .expect("delete");
    }
}

/// An SQS FIFO queue (moto), then SQS unreachable (a fault proxy in front of moto), then back.
async fn sqs_down_holds_the_stream_and_loses_nothing(keys: &pix_dev::hsm_keys::BankKeys) {
    use testkit::aws::{Fault, FaultProxy};
    let Some(moto) = testkit::aws::moto() else { return };
    let faults = FaultProxy::start(&moto.endpoint).await.expect("fault proxy");
    let client = testkit::aws::sqs(&moto.endpoint);
    let queue = testkit::aws::sqs_queue(&client, "pix-inbox.fifo").await;
    let bank = bank(keys, "sqs").await;
    let dir = bank.dir.as_path();
    let (state, log, audit) = (dir.join("state"), dir.join("consumer.log"), dir.join("audit"));
    let extra = ["--readers", "1", "--aws-endpoint", &faults.endpoint];
    let (consumer, check) = bank.consume_with_env(
        &format!("sqs:{queue}"),
        &state,
        &log,
        &extra,
        &testkit::aws::CHILD_ENV,
    );
    testkit::process::wait_ready_or_show(check, Some(&log)).await;
    let mut sent = bank.echoes(5).await;
    let mut received = BTreeMap::new();
    let started = Instant::now();
    while !sent.iter().all(|id| received.contains_key(id)) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{received:?}: {}",
            std::fs::read_to_string(&log).unwrap()
        );
        drain(&client, &queue, &mut received).await;
    }
    let one = &received[&sent[0]];
    assert_eq!(one["pix-message-type"], "pibr.001");
    assert_eq!(one["pix-signature-valid"], "true");
    assert!(!one["pi-resourceid"].is_empty());

    // SQS unreachable: hand-offs fail, the page is not acknowledged, nothing is lost.
    faults.set(Fault::Unreachable);
    let later = bank.echoes(3).await;
    sent.extend(later.clone());
    let started = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains("\"metric\":\"HandOffFailed\"")
    {
        assert!(started.elapsed() < Duration::from_secs(30), "no failed hand-off");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = acknowledgements(&audit);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        acknowledgements(&audit),
        before,
        "the stream did not advance while SQS was away"
    );
    faults.set(Fault::None);
    let started = Instant::now();
    while !later.iter().all(|id| received.contains_key(id)) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "missing after SQS came back: {received:?}"
        );
        drain(&client, &queue, &mut received).await;
    }
    drop(consumer);
    bank.sim.shutdown().await;
}

/// One token for every scenario (SoftHSM lists its tokens once per process), one simulator each.
#[tokio::test(flavor = "multi_thread")]
async fn every_message_reaches_the_bank_whatever_fails() {
    let Some(keys) = pix_dev::hsm_keys::bank_keys() else {
        return;
    };
    killed_mid_stream_a_restarted_consumer_loses_nothing_and_marks_duplicates(&keys).await;
    a_bad_signature_is_handed_off_flagged_and_the_stream_goes_on(&keys).await;
    a_destination_that_fails_holds_the_stream_and_loses_nothing(&keys).await;
    sqs_down_holds_the_stream_and_loses_nothing(&keys).await;
}
