//! The `bootstrap` binary under the Lambda runtime API, as AWS runs it: `cargo lambda watch
//! --only-lambda-apis` emulates the runtime API and the Invoke endpoint, the binary (no
//! arguments, `AWS_LAMBDA_RUNTIME_API` set) polls it for API Gateway REST (v1) events, with its
//! configuration from moto's server and the simulator as BACEN. Needs `cargo-lambda` on the PATH
//! (`pip install cargo-lambda`, as `.ci/run` does); skips, saying so, without it or without moto.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use testkit::aws;
use testkit::lambda as event;
use testkit::lambda as runtime_api;
use testkit::process::Killed;

use std::process::{Command, Stdio};

use base64::Engine;
use pix_dev::kms as demo;

/// Sends `event` to the emulator's Invoke endpoint; the function's response document.
async fn invoke(port: u16, event: String) -> serde_json::Value {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let headers = [("content-type", "application/json")];
    let (status, _, body) = testkit::bank::call(
        addr,
        "POST",
        runtime_api::INVOKE_PATH,
        &headers,
        event.into_bytes(),
    )
    .await
    .expect("invoke");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).expect("a proxy response document")
}

/// A header of a REST (v1) proxy response (lambda_http writes them as `multiValueHeaders`).
fn header<'a>(answer: &'a serde_json::Value, name: &str) -> &'a str {
    answer["multiValueHeaders"][name][0].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bootstrap_binary_serves_rest_events_through_the_runtime_api() {
    if !runtime_api::present() {
        return;
    }
    let Some(deployed) = demo::deployed().await else {
        return;
    };
    let moto = &deployed.moto;

    // The runtime API emulator only; the function is the binary the tests built.
    let emulator = runtime_api::Emulator::start().await.expect("emulator");
    let port = emulator.port;
    let _function = Killed(
        emulator
            .function(&pix_dev::binaries::proxy_kms(), &moto.endpoint)
            .envs(aws::CHILD_ENV)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the bootstrap binary"),
    );

    // A text body: signed by the KMS key (the simulator checks it), answered 201.
    let pacs008 = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../samples/pacs.008.xml"))
        .expect("sample");
    let answer = invoke(
        port,
        event::rest_event("POST", "/api/v1/in/99999010/msgs", None, Some(&pacs008), false),
    )
    .await;
    assert_eq!(answer["statusCode"], 201, "{answer}");
    let first_id = header(&answer, "pix-request-id").to_string();
    assert!(!first_id.is_empty(), "{answer}");

    // A base64 body, as API Gateway hands binary media types.
    let answer = invoke(
        port,
        event::rest_event("POST", "/api/v1/in/99999010/msgs", None, Some(&pacs008), true),
    )
    .await;
    assert_eq!(answer["statusCode"], 201, "{answer}");

    // The pacs.002 BACEN answered with, from the stream, its signature verified.
    let answer = invoke(
        port,
        event::rest_event("GET", "/api/v1/out/99999010/stream/start", None, None, false),
    )
    .await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    assert_eq!(header(&answer, "pix-signature-valid"), "true", "{answer}");
    let body = answer["body"].as_str().unwrap_or("");
    let body = if answer["isBase64Encoded"] == true {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .expect("base64"),
        )
        .expect("UTF-8")
    } else {
        body.to_string()
    };
    assert!(body.contains("pacs.002"), "{body}");

    // Bad input through the same path: a clear error, not a crash of the function.
    let answer = invoke(
        port,
        event::rest_event("POST", "/api/v1/in/99999010/msgs", None, Some("<not-xml"), false),
    )
    .await;
    assert_eq!(answer["statusCode"], 400, "{answer}");

    // Each invocation's record reached S3 before the invocation returned.
    let records = aws::s3_records(&moto.endpoint, "spi").await;
    assert_eq!(records.len(), 4, "one record per invocation");
    assert!(records.iter().any(|r| r["request_id"] == first_id.as_str()));
    deployed.bank.simulator.shutdown().await;
}

#[test]
fn outside_the_lambda_runtime_the_bootstrap_binary_names_what_is_missing() {
    let run = |api: Option<&str>| {
        let mut c = Command::new(pix_dev::binaries::proxy_kms());
        c.arg("lambda")
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .env("AWS_LAMBDA_FUNCTION_NAME", "pix")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024");
        if let Some(api) = api {
            c.env("AWS_LAMBDA_RUNTIME_API", api);
        }
        let out = c.output().expect("run");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = run(None);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("AWS_LAMBDA_RUNTIME_API is not set"), "{stderr}");
    let (code, stderr) = run(Some("127.0.0.1:9001/.rt"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("AWS_LAMBDA_RUNTIME_API '127.0.0.1:9001/.rt' is not host:port or a URL"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
