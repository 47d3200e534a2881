//! ICOM's secondary channel (issue 36) as deployed: `proxy-hsm serve` sending and `proxy-hsm
//! consume` reading, keys in SoftHSM, both configured with `BcbSpiSecondaryEndpoint`; the
//! simulator serves the secondary channel (its own port and token buckets, gzip mandatory) and
//! takes the primary down (its port refuses connections). Sends and reads go on on the secondary,
//! and come back to the primary when it answers again. (A binary of its own: SoftHSM's slot list
//! is read once per process.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use simulator::pki::TLS_NAME;
use simulator::{Config, Simulator};
use testkit::process::Killed;

const MSGS: &str = "/api/v1/in/99999010/msgs";
const XML: (&str, &str) = ("content-type", "application/xml; charset=utf-8");

/// The participant's echo to BACEN carrying `data` (BACEN's pibr.002 carries it back).
fn echo(n: u32, data: &str) -> Vec<u8> {
    let id = format!("M99999010{n:023}");
    testkit::samples::PIBR_001
        .replace("M9999901020261125100000000000002", &id)
        .replace("<Data>ping</Data>", &format!("<Data>{data}</Data>"))
        .into_bytes()
}

/// Sends echoes through the proxy until one is accepted (`201`) or `limit` passes: the
/// `Data` of the one accepted, and the refusals before it.
async fn send_until_accepted(
    spi: SocketAddr,
    tag: &str,
    first: u32,
    limit: Duration,
) -> (String, Vec<String>) {
    let started = Instant::now();
    let mut refusals = Vec::new();
    for n in first.. {
        let data = format!("{tag}-{n}");
        let (status, _, body) = testkit::bank::call(spi, "POST", MSGS, &[XML], echo(n, &data))
            .await
            .expect("send");
        if status == 201 {
            return (data, refusals);
        }
        refusals.push(format!("{status} {}", String::from_utf8_lossy(&body)));
        assert!(started.elapsed() < limit, "never accepted: {refusals:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    unreachable!()
}

/// Waits until a message in the consumer's `inbox` carries `data`.
async fn until_read(inbox: &Path, data: &str, log: &Path) {
    let started = Instant::now();
    let needle = format!("<Data>{data}</Data>");
    loop {
        let found = std::fs::read_dir(inbox)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains(&needle)));
        if found {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{data} never read: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `log` has a line with `metric` (as the proxy logs it, JSON).
async fn until_logged(log: &Path, metric: &str) {
    let started = Instant::now();
    let needle = format!("\"metric\":\"{metric}\"");
    while !std::fs::read_to_string(log).unwrap_or_default().contains(&needle) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no {metric}: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The simulator's count of requests its secondary channel answered.
async fn secondary_requests(sim: &Simulator) -> u64 {
    let (_, _, body) = testkit::bank::get(sim.check, "/stats").await;
    let stats: serde_json::Value = serde_json::from_slice(&body).unwrap();
    stats["secondary_requests"].as_u64().unwrap()
}

async fn control(sim: &Simulator, path: &str) {
    let (status, _, _) = testkit::bank::call(sim.check, "POST", path, &[], vec![])
        .await
        .unwrap();
    assert_eq!(status, 204, "{path}");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_primary_channel_down_sends_and_reads_go_on_on_the_secondary_and_come_back() {
    let Some(keys) = pix_dev::hsm_keys::bank_keys() else {
        return;
    };
    let mut config = Config::ephemeral(&keys.pki);
    config.psp_signature_certs = vec![keys.pki.path("sig-hsm.cer")];
    let sim = Simulator::start(config).await.expect("simulator");
    let dir = keys.dir.path();
    let mut values = keys.parameters(
        &sim,
        &std::fs::read_to_string(keys.pki.path("bacen-sig.cer")).unwrap(),
    );
    let prefix = proxy_hsm::configured::FLAVOUR.prefix();
    values.insert(
        format!("{prefix}BcbSpiSecondaryEndpoint"),
        format!("{TLS_NAME}:{}", sim.spi_secondary.port()),
    );
    values.insert(format!("{prefix}BcbFailoverSeconds"), "1".into());
    let (parameters, secret) = (dir.join("parameters.json"), dir.join("secret.json"));
    std::fs::write(&parameters, serde_json::to_string(&values).unwrap()).unwrap();
    std::fs::write(&secret, keys.secret_json()).unwrap();

    // The sending proxy, and the consumer reading the participant's stream into `inbox`.
    let port = || testkit::tools::free_port().unwrap();
    let (spi_port, dict_port, serve_check) = (port(), port(), port());
    let serve_log = dir.join("serve.log");
    let _serve = Killed(
        keys.serve(
            &parameters,
            &secret,
            &dir.join("audit"),
            (spi_port, dict_port, serve_check),
        )
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&serve_log).unwrap())
        .spawn()
        .expect("proxy-hsm serve"),
    );
    let local = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
    testkit::process::wait_ready_or_show(local(serve_check), Some(&serve_log)).await;
    let (inbox, consume_log, consume_check) = (dir.join("inbox"), dir.join("consume.log"), port());
    let _consumer = Killed(
        keys.command("consume", &parameters, &secret, &dir.join("consumer-audit"))
            .args(["--check-port", &consume_check.to_string(), "--ispb", "99999010"])
            .args(["--readers", "2", "--max-backoff-seconds", "1"])
            .arg("--to")
            .arg(format!("dir:{}", inbox.display()))
            .arg("--state-dir")
            .arg(dir.join("state"))
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&consume_log).unwrap())
            .spawn()
            .expect("proxy-hsm consume"),
    );
    testkit::process::wait_ready_or_show(local(consume_check), Some(&consume_log)).await;
    let spi = local(spi_port);

    // On the primary: the echo accepted, BACEN's answer read; the secondary unused.
    let (data, refusals) = send_until_accepted(spi, "primary", 1, Duration::from_secs(5)).await;
    assert!(refusals.is_empty(), "{refusals:?}");
    until_read(&inbox, &data, &consume_log).await;
    assert_eq!(secondary_requests(&sim).await, 0);

    // The primary down: after BcbFailoverSeconds of failures both move to the secondary, where
    // only gzip'd sends and gzip-accepting reads are taken (the simulator refuses others).
    control(&sim, "/primary?up=false").await;
    let (data, refusals) = send_until_accepted(spi, "secondary", 100, Duration::from_secs(20)).await;
    let on_secondary_data = data.clone();
    assert!(
        refusals.iter().all(|r| r.starts_with("502")),
        "only 'BACEN unreachable' until the move: {refusals:?}"
    );
    until_logged(&serve_log, "ChannelFailover").await;
    // The alarm's source, at once.
    until_logged(&serve_log, "SecondaryChannelInUse").await;
    until_read(&inbox, &data, &consume_log).await;
    until_logged(&consume_log, "ChannelFailover").await;
    // BACEN's own echo to the participant reaches it on the secondary too.
    let (status, _, id) = testkit::bank::call(sim.check, "POST", "/echo?ispb=99999010", &[], vec![])
        .await
        .unwrap();
    assert_eq!(status, 201);
    // Its pibr.001 carries its id in `Data`.
    let id = String::from_utf8_lossy(&id).trim().to_string();
    until_read(&inbox, &id, &consume_log).await;
    let on_secondary = secondary_requests(&sim).await;
    assert!(on_secondary >= 2, "{on_secondary} requests on the secondary");
    let (status, _, bacen) = testkit::bank::get(local(serve_check), "/bacen").await;
    let bacen = String::from_utf8_lossy(&bacen);
    assert!(
        status == 503 && bacen.contains("secondary channel"),
        "{status} {bacen}"
    );
    let (_, _, metrics) = testkit::bank::get(local(serve_check), "/metrics").await;
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(metrics.contains("pix_bacen_secondary_in_use 1"), "{metrics}");
    assert!(
        metrics.contains("pix_bacen_channel_moves_total{to=\"secondary\"} 1"),
        "{metrics}"
    );

    // The primary back: both return at its first answer, and the secondary goes quiet.
    control(&sim, "/primary?up=true").await;
    until_logged(&consume_log, "ChannelRestored").await;
    // The sending proxy asks the primary on its requests' way (every 2 s): it keeps sending,
    // every send accepted, until it is back.
    let started = Instant::now();
    let restored = "\"metric\":\"ChannelRestored\"";
    let mut n = 200;
    while !std::fs::read_to_string(&serve_log).unwrap().contains(restored) {
        let (data, refusals) = send_until_accepted(spi, "back", n, Duration::from_secs(5)).await;
        assert!(refusals.is_empty(), "{refusals:?}");
        until_read(&inbox, &data, &consume_log).await;
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the sender never came back"
        );
        n += 1;
    }
    // What either started on the secondary before the move back has ended by now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let quiet = secondary_requests(&sim).await;
    let (data, _) = send_until_accepted(spi, "primary-again", 400, Duration::from_secs(5)).await;
    until_read(&inbox, &data, &consume_log).await;
    assert_eq!(
        secondary_requests(&sim).await,
        quiet,
        "back on the primary, nothing goes to the secondary"
    );
    // Each send's audit record names the channel it went on.
    let records = testkit::tools::json_lines(&dir.join("audit/log/spi"));
    let channel_of = |data: &str| {
        let needle = format!("<Data>{data}</Data>");
        records
            .iter()
            .find(|r| {
                r["response_status_code"] == 201 && r["request_body"].as_str().unwrap_or("").contains(&needle)
            })
            .map(|r| r["bacen_channel"].clone())
    };
    assert_eq!(channel_of(&on_secondary_data), Some("secondary".into()));
    assert_eq!(channel_of(&data), Some("primary".into()));
    // What did not reach BACEN names no channel.
    assert!(
        records
            .iter()
            .filter(|r| r["response_status_code"] == 502)
            .all(|r| r["bacen_channel"].is_null())
    );
    let (_, _, metrics) = testkit::bank::get(local(serve_check), "/metrics").await;
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(metrics.contains("pix_bacen_secondary_in_use 0"), "{metrics}");
    assert!(
        metrics.contains("pix_bacen_channel_moves_total{to=\"primary\"} 1"),
        "{metrics}"
    );
    sim.shutdown().await;
}
