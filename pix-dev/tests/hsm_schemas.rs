//! The proxy checks a bank's SPI message against BACEN's schema before signing it (`SpiSchemasDir`,
//! catalog 5.13.1 from `../shared/fixtures/xsd`): an invalid one, or one in a version the
//! catalog does not enable, is answered `422` at once naming the element and the rule, audited,
//! and never reaches BACEN; a valid one (ten transactions included) is signed, sent and settled,
//! every `EndToEndId` in its audit record. Without the parameter nothing changes: BACEN (the
//! simulator enforcing the same schemas) answers the invalid message seconds later with an
//! admi.002. The `proxy-hsm` binary as a process, keys in SoftHSM. Skips, saying so, without
//! `../shared` or SoftHSM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use proxy_hsm::configured::FLAVOUR;
use simulator::{Config, Simulator};
use testkit::bank::{STREAM_START, call, get, header, post_xml, text_of};
use testkit::samples;
use testkit::tools::free_port;

const MSGS: &str = "/api/v1/in/99999010/msgs";

/// Kills the proxy when the test ends, passed or not.
struct Proxy {
    child: Child,
    spi: SocketAddr,
    audit: PathBuf,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).expect("read")
}

/// `proxy-hsm serve` with the CloudHSM flavour's parameters in a file, `SpiSchemasDir` among
/// them when `schemas` is given.
async fn start_proxy(
    keys: &pix_dev::hsm_keys::BankKeys,
    sim: &Simulator,
    schemas: Option<&Path>,
    name: &str,
) -> Proxy {
    let dir = keys.dir.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let bacen = read(&keys.pki.path("bacen-sig.cer"));
    let mut values = keys.parameters(sim, &bacen);
    if let Some(schemas) = schemas {
        values.insert(
            format!("{}SpiSchemasDir", FLAVOUR.prefix()),
            schemas.display().to_string(),
        );
    }
    let parameters = dir.join("parameters.json");
    std::fs::write(&parameters, serde_json::to_string(&values).unwrap()).unwrap();
    let secret = dir.join("secret.json");
    std::fs::write(&secret, keys.secret_json()).unwrap();
    let (spi_port, dict_port, check_port) =
        (free_port().unwrap(), free_port().unwrap(), free_port().unwrap());
    let audit = dir.join("audit");
    let child = keys
        .serve(&parameters, &secret, &audit, (spi_port, dict_port, check_port))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("proxy.log")).unwrap())
        .spawn()
        .expect("proxy-hsm");
    let proxy = Proxy {
        child,
        spi: SocketAddr::from((Ipv4Addr::LOCALHOST, spi_port)),
        audit,
    };
    let check = SocketAddr::from((Ipv4Addr::LOCALHOST, check_port));
    let started = Instant::now();
    while !matches!(call(check, "GET", "/check", &[], vec![]).await, Ok((200, _, _))) {
        let log = read(&dir.join("proxy.log"));
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "proxy did not start: {log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    proxy
}

/// Every audit record the proxy wrote (JSON lines under its audit directory).
fn records(dir: &Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|e| e == "jsonl") {
                out.extend(read(&p).lines().map(|l| serde_json::from_str(l).unwrap()));
            }
        }
    }
    out
}

/// The next message on the payer's stream within `wait`, acknowledged.
async fn next_message(spi: SocketAddr, next: &mut String, wait: Duration) -> Option<String> {
    let started = Instant::now();
    while started.elapsed() < wait {
        let (status, h, body) = get(spi, next).await;
        *next = header(&h, "pi-pull-next");
        if status == 200 {
            return Some(String::from_utf8_lossy(&body).into_owned());
        }
    }
    None
}

async fn sends_seen(sim: &Simulator) -> String {
    let (_, _, body) = call(sim.check, "GET", "/stats", &[], vec![]).await.unwrap();
    String::from_utf8_lossy(&body).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_message_is_refused_before_signing_and_a_valid_one_goes_through() {
    let Some(xsd) = testkit::tools::shared("fixtures/xsd") else {
        return;
    };
    let Some(keys) = pix_dev::hsm_keys::bank_keys() else {
        return;
    };
    let mut config = Config::ephemeral(&keys.pki);
    config.psp_signature_certs = vec![keys.pki.path("sig-hsm.cer")];
    config.schemas = Some(xsd.clone());
    let sim = Simulator::start(config).await.expect("simulator");
    let proxy = start_proxy(&keys, &sim, Some(&xsd), "checked").await;
    let before = sends_seen(&sim).await;

    // No service level: 422 at once, naming the element and the rule; nothing sent.
    let invalid = samples::PACS_008.replace("<SvcLvl><Prtry>PAGPRI</Prtry></SvcLvl>", "");
    let (status, h, body) = post_xml(proxy.spi, MSGS, invalid.into_bytes()).await;
    let problem = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 422, "{problem}");
    assert!(problem.contains("urn:pix-proxy:error:schemaInvalid"), "{problem}");
    assert!(
        problem.contains("element PmtTpInf") && problem.contains("SvcLvl"),
        "{problem}"
    );
    let request_id = header(&h, "pix-request-id");
    // A version the catalog does not enable: 422 too.
    let old = samples::PACS_008.replace("1.16", "1.13");
    let (status, _, body) = post_xml(proxy.spi, MSGS, old.into_bytes()).await;
    let problem = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 422, "{problem}");
    assert!(problem.contains("pacs.008 1.13 is not enabled"), "{problem}");
    assert_eq!(sends_seen(&sim).await, before, "BACEN saw nothing");
    let audited = records(&proxy.audit);
    let refused = audited
        .iter()
        .find(|r| r["request_id"] == request_id.as_str())
        .expect("the refusal is audited");
    assert_eq!(refused["response_status_code"], 422);
    assert!(refused["response_body"].as_str().unwrap().contains("PmtTpInf"));

    // Ten transactions, valid: signed, sent, settled (the simulator answers for a payee it does
    // not host), every EndToEndId in the audit record.
    let batch = samples::pacs_008_batch(10);
    let (status, h, body) = post_xml(proxy.spi, MSGS, batch.into_bytes()).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let sent_id = header(&h, "pix-request-id");
    let mut next = STREAM_START.to_string();
    let answer = next_message(proxy.spi, &mut next, Duration::from_secs(10))
        .await
        .expect("BACEN's pacs.002");
    assert!(answer.contains("pacs.002/1.17"), "{answer}");
    assert_eq!(answer.matches("<TxSts>ACSP</TxSts>").count(), 10, "{answer}");
    let _ = call(proxy.spi, "DELETE", &next, &[], vec![]).await;
    let audited = records(&proxy.audit);
    let sent = audited
        .iter()
        .find(|r| r["request_id"] == sent_id.as_str())
        .expect("audited");
    let ids = sent["end_to_end_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 10, "{sent}");
    assert!(
        ids.iter().any(|i| i == "E9999901020261125100000000000010"),
        "{sent}"
    );
    drop(proxy);

    // Without the check: the same invalid message is taken (201) and rejected by BACEN later.
    let unchecked = start_proxy(&keys, &sim, None, "unchecked").await;
    let invalid = samples::PACS_008.replace("<SvcLvl><Prtry>PAGPRI</Prtry></SvcLvl>", "");
    let (status, _, _) = post_xml(unchecked.spi, MSGS, invalid.into_bytes()).await;
    assert_eq!(status, 201);
    let mut next = STREAM_START.to_string();
    let admi = next_message(unchecked.spi, &mut next, Duration::from_secs(10))
        .await
        .expect("BACEN's admi.002");
    assert_eq!(text_of(&admi, "RjctgPtyRsn"), "InvalidSchema", "{admi}");
    let _ = call(unchecked.spi, "DELETE", &next, &[], vec![]).await;
    drop(unchecked);
    sim.shutdown().await;
}
