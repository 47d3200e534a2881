//! The audit pipeline on moto's server, through the real aws-sdk clients: an S3 bucket and two
//! Firehose delivery streams writing to it (`log/spi/`, `log/dict/`), as seeds 001/002 set up;
//! clients of moto for every service the proxy uses. Shared by proxy-hsm's and proxy-kms's tests
//! (the latter include this file by path).
#![allow(dead_code, missing_docs)]

use std::collections::HashMap;

pub const SPI_STREAM: &str = "pix-proxy-spi-audit";
pub const DICT_STREAM: &str = "pix-proxy-dict-audit";
const BUCKET: &str = "pix-proxy-audit";
const REGION: &str = "sa-east-1";

/// A client of moto for any aws-sdk crate (moto takes any credentials).
macro_rules! moto_client {
    ($sdk:ident, $endpoint:expr) => {{
        let conf = $sdk::Config::builder()
            .behavior_version($sdk::config::BehaviorVersion::latest())
            .endpoint_url($endpoint)
            .region($sdk::config::Region::new(REGION))
            .credentials_provider($sdk::config::Credentials::new("test", "test", None, None, "test"))
            .build();
        $sdk::Client::from_conf(conf)
    }};
}

pub fn firehose(endpoint: &str) -> aws_sdk_firehose::Client {
    moto_client!(aws_sdk_firehose, endpoint)
}

pub fn kms(endpoint: &str) -> aws_sdk_kms::Client {
    moto_client!(aws_sdk_kms, endpoint)
}

pub fn ssm(endpoint: &str) -> aws_sdk_ssm::Client {
    moto_client!(aws_sdk_ssm, endpoint)
}

pub fn secrets(endpoint: &str) -> aws_sdk_secretsmanager::Client {
    moto_client!(aws_sdk_secretsmanager, endpoint)
}

pub fn s3(endpoint: &str) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_sdk_s3::config::Region::new(REGION))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Environment for a child process that talks to moto through the default chain.
pub const CHILD_ENV: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "test"),
    ("AWS_SECRET_ACCESS_KEY", "test"),
    ("AWS_REGION", REGION),
];

/// The streams by family, as the sinks take them.
pub fn streams() -> HashMap<String, String> {
    HashMap::from([
        ("spi".to_string(), SPI_STREAM.to_string()),
        ("dict".to_string(), DICT_STREAM.to_string()),
    ])
}

/// Creates the bucket and the two delivery streams.
pub async fn audit_pipeline(endpoint: &str) {
    simulator::aws::audit_pipeline(
        &s3(endpoint),
        &firehose(endpoint),
        BUCKET,
        &[(SPI_STREAM, "spi"), (DICT_STREAM, "dict")],
    )
    .await
    .expect("audit pipeline");
}

/// moto's server on a free loopback port (stopped on drop), or `None`, saying why, where it
/// cannot run (an error under `PIX_REQUIRE_TOOLS=1`, as in CI).
pub fn moto() -> Option<simulator::aws::Moto> {
    match simulator::aws::Moto::start() {
        Ok(m) => Some(m),
        Err(why) => {
            assert!(
                std::env::var("PIX_REQUIRE_TOOLS").as_deref() != Ok("1"),
                "moto_server (pip install 'moto[server]') is required: {why}"
            );
            eprintln!("SKIPPED: moto_server cannot be used here: {why} (bash .ci/run installs it)");
            None
        }
    }
}

/// Every audit record in S3 under `log/<family>/`, in no particular order.
pub async fn s3_records(endpoint: &str, family: &str) -> Vec<serde_json::Value> {
    let s3 = s3(endpoint);
    let mut out = Vec::new();
    let mut pages = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix(format!("log/{family}/"))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for object in page.expect("list").contents() {
            let key = object.key().expect("key");
            let body = s3.get_object().bucket(BUCKET).key(key).send().await.expect("get");
            let bytes = body.body.collect().await.expect("read").into_bytes();
            let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
            out.extend(
                text.lines()
                    .map(|l| serde_json::from_str(l).expect("one JSON record per line")),
            );
        }
    }
    out
}
