//! The Lambda's metrics as CloudWatch Embedded Metric Format lines: after four exchanges
//! (accepted, refused by the proxy, failed verification, BACEN's 429), every line is a valid EMF
//! document (the `_aws` block, dimension sets naming members present as strings, metrics present
//! as numbers) and the request counts are exactly those exchanges. In its own test binary: the
//! metrics recorder is per process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use pix_dev::kms as demo;
use pix_xmldsig::dsig::Profile;
use proxy_core::relay::Relay;
use proxy_kms::configured::{self, Deployment};
use proxy_kms::emf::{EmfRecorder, NAMESPACE};
use proxy_kms::handler;
use testkit::lambda::rest_event;

async fn invoke(relay: &Arc<Relay>, json: &str) -> u16 {
    let request = lambda_http::request::from_str(json).expect("a REST v1 event");
    handler::handle(Arc::clone(relay), request)
        .await
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn emf_lines_are_valid_and_count_the_exchanges() {
    let emf = EmfRecorder::install();
    let Some(deployed) = demo::deployed().await else {
        return;
    };
    let (clients, bank) = (&deployed.clients, &deployed.bank);
    let spi = configured::relay(clients, Profile::Spi, &Deployment::default())
        .await
        .expect("spi");
    let dict = configured::relay(clients, Profile::Dict, &Deployment::default())
        .await
        .expect("dict");
    let control = |path: &'static str| {
        let check = bank.simulator.check;
        async move {
            let (status, _, _) = testkit::bank::call(check, "POST", path, &[], vec![])
                .await
                .unwrap();
            assert_eq!(status, 204);
        }
    };
    let pacs008 = testkit::samples::PACS_008;
    let msgs = "/api/v1/in/99999010/msgs";
    emf.take();

    assert_eq!(
        invoke(&spi, &rest_event("POST", msgs, None, Some(pacs008), false)).await,
        201
    );
    assert_eq!(
        invoke(&spi, &rest_event("POST", msgs, None, Some("<Envelope/>"), false)).await,
        400
    );
    control("/faults?family=dict&broken_signature=true").await;
    let entry = testkit::samples::DICT_CREATE_ENTRY;
    assert_eq!(
        invoke(
            &dict,
            &rest_event("POST", "/api/v2/entries/", None, Some(entry), false)
        )
        .await,
        502
    );
    control("/throttle?nth=1&retry_after=1").await;
    assert_eq!(
        invoke(&spi, &rest_event("POST", msgs, None, Some(pacs008), false)).await,
        429
    );

    let lines = emf.take();
    assert!(!lines.is_empty());
    let mut requests: Vec<(String, String)> = Vec::new();
    for line in &lines {
        let doc: serde_json::Value = serde_json::from_str(line).expect("one JSON document per line");
        let aws = &doc["_aws"];
        assert!(
            aws["Timestamp"].as_u64().is_some_and(|t| t > 1_700_000_000_000),
            "{line}"
        );
        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        for set in directive["Dimensions"].as_array().expect("dimension sets") {
            for d in set.as_array().expect("a dimension set") {
                assert!(
                    doc[d.as_str().unwrap()].is_string(),
                    "dimension {d} has a value: {line}"
                );
            }
        }
        for metric in directive["Metrics"].as_array().expect("metrics") {
            let name = metric["Name"].as_str().unwrap();
            // A value, or the values recorded since the last flush (EMF allows up to 100).
            let value = &doc[name];
            let is_values = value
                .as_array()
                .is_some_and(|a| !a.is_empty() && a.iter().all(|v| v.is_number()));
            assert!(
                value.is_number() || is_values,
                "metric {name} has a value: {line}"
            );
            // No unit is CloudWatch's `None` (the EMF specification's default).
            let unit = metric["Unit"].as_str().unwrap_or("None");
            assert!(["Count", "Seconds", "None"].contains(&unit), "{line}");
            if name == "pix_requests_total" {
                assert_eq!(doc[name], 1.0);
                requests.push((
                    doc["family"].as_str().unwrap().into(),
                    doc["status"].as_str().unwrap().into(),
                ));
            }
        }
    }
    requests.sort();
    let expected: Vec<(String, String)> = [("dict", "502"), ("spi", "201"), ("spi", "400"), ("spi", "429")]
        .iter()
        .map(|(f, s)| (f.to_string(), s.to_string()))
        .collect();
    assert_eq!(requests, expected, "exactly the four exchanges");
    let verdicts = lines
        .iter()
        .filter(|l| l.contains("pix_signature_verdicts_total") && l.contains("\"valid\":\"false\""))
        .count();
    assert_eq!(verdicts, 1, "the failed verification");
    deployed.bank.simulator.shutdown().await;
}
