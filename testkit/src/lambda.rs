//! The Lambda side of the KMS flavour's tests:
//! - API Gateway REST proxy (v1) events as the private API hands them to the function;
//! - the Lambda runtime API on loopback: `cargo lambda watch --only-lambda-apis` (cargo-lambda
//!   from PyPI) emulates it and the Invoke endpoint, and the `bootstrap` binary is started as
//!   Lambda starts it.

use crate::tools::free_port;
use base64::Engine;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where events are sent: the Invoke API of the function the emulator names `_`.
pub const INVOKE_PATH: &str = "/2015-03-31/functions/_/invocations";

/// True when `cargo-lambda` can be run; else says SKIPPED (or fails under `PIX_REQUIRE_TOOLS=1`).
pub fn present() -> bool {
    crate::tools::have("cargo-lambda", &["lambda", "--version"])
}

/// A running emulator, killed when dropped.
pub struct Emulator {
    child: Child,
    /// Its port (runtime API under `/.rt`, Invoke at [`INVOKE_PATH`]).
    pub port: u16,
}

impl Emulator {
    /// Starts the emulator and waits (at most 30 s) until it listens.
    pub async fn start() -> Result<Self, String> {
        let port = free_port()?;
        let child = Command::new("cargo-lambda")
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "--invoke-address",
                "127.0.0.1",
            ])
            .args(["--invoke-port", &port.to_string()])
            // It reads the package's manifest (`cargo metadata`) though it builds nothing.
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cargo lambda watch (pip install cargo-lambda): {e}"))?;
        let emulator = Emulator { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err("the runtime API emulator did not start within 30 s".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(emulator)
    }

    /// `binary` set up as Lambda starts a function of the SPI deployment: the runtime API, the
    /// function's variables, AWS at `aws_endpoint`.
    pub fn function(&self, binary: &std::path::Path, aws_endpoint: &str) -> Command {
        let mut c = Command::new(binary);
        c.env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("http://127.0.0.1:{}/.rt", self.port),
        )
        .env("AWS_LAMBDA_FUNCTION_NAME", "_")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .env("AWS_ENDPOINT_URL", aws_endpoint)
        .env("PIX_SPI_PROXY", "true");
        c
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bank's role whose sessions call the function in the tests and the demo (the callers
/// policy they provision grants it every permission for ISPB 99999010).
pub const CALLER_ROLE: &str = "arn:aws:iam::123456789012:role/pix-bank-payments";
/// A session of [`CALLER_ROLE`], as API Gateway puts it in `requestContext.identity.userArn`.
pub const CALLER_SESSION: &str = "arn:aws:sts::123456789012:assumed-role/pix-bank-payments/i-0abc";

/// The callers policy granting [`CALLER_ROLE`] everything for ISPB 99999010 (the parameter
/// `Callers`).
pub fn callers_policy() -> String {
    serde_json::json!({"callers": [{
        "name": "payments",
        "principal": CALLER_ROLE,
        "allow": {"spi-send": ["99999010"], "spi-stream": ["99999010"], "dict-read": ["99999010"], "dict-write": ["99999010"]},
    }]})
    .to_string()
}

/// `event` with `requestContext.identity.userArn` set to `arn` (none: removed, an event without
/// an IAM identity).
pub fn as_caller(event: &str, arn: Option<&str>) -> String {
    let mut v: serde_json::Value = serde_json::from_str(event).unwrap_or_default();
    if let Some(identity) = v
        .pointer_mut("/requestContext/identity")
        .and_then(|i| i.as_object_mut())
    {
        match arn {
            Some(a) => identity.insert("userArn".into(), a.into()),
            None => identity.remove("userArn"),
        };
    }
    v.to_string()
}

/// The event for `method path` with an optional query parameter and body (base64-encoded when
/// `base64`, as API Gateway sends binary media types), as JSON text, from a session of
/// [`CALLER_ROLE`] (API Gateway's `AWS_IAM` authorization).
pub fn rest_event(
    method: &str,
    path: &str,
    query: Option<(&str, &str)>,
    body: Option<&str>,
    base64: bool,
) -> String {
    let body = body.map(|b| {
        if base64 {
            base64::engine::general_purpose::STANDARD.encode(b)
        } else {
            b.to_string()
        }
    });
    let (q, mq) = match query {
        Some((k, v)) => (serde_json::json!({ k: v }), serde_json::json!({ k: [v] })),
        None => (serde_json::Value::Null, serde_json::Value::Null),
    };
    serde_json::json!({
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/xml; charset=utf-8", "Host": "abc123.execute-api.sa-east-1.amazonaws.com"},
        "multiValueHeaders": {
            "Content-Type": ["application/xml; charset=utf-8"],
            "Host": ["abc123.execute-api.sa-east-1.amazonaws.com"],
            "Accept": ["application/xml", "application/json"],
            "PI-RequestingParticipant": ["99999010"],
            "PI-PayerId": ["12345678909"],
            "PI-EndToEndId": ["E9999901020261125100000000000001"]
        },
        "queryStringParameters": q,
        "multiValueQueryStringParameters": mq,
        "pathParameters": {"proxy": path.trim_start_matches('/')},
        "stageVariables": null,
        "requestContext": {
            "resourcePath": "/{proxy+}", "httpMethod": method, "path": format!("/prod{path}"),
            "accountId": "123456789012", "stage": "prod", "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {"sourceIp": "10.0.1.25", "userArn": CALLER_SESSION, "accountId": "123456789012"}, "apiId": "abc123",
            "domainName": "abc123.execute-api.sa-east-1.amazonaws.com"
        },
        "body": body,
        "isBase64Encoded": base64
    })
    .to_string()
}
