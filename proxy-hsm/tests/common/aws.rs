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
    s3(endpoint)
        .create_bucket()
        .bucket(BUCKET)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::SaEast1)
                .build(),
        )
        .send()
        .await
        .expect("bucket");
    let fh = firehose(endpoint);
    for (stream, family) in [(SPI_STREAM, "spi"), (DICT_STREAM, "dict")] {
        let destination = aws_sdk_firehose::types::ExtendedS3DestinationConfiguration::builder()
            .role_arn("arn:aws:iam::123456789012:role/firehose")
            .bucket_arn(format!("arn:aws:s3:::{BUCKET}"))
            .prefix(format!("log/{family}/"))
            .build()
            .expect("destination");
        fh.create_delivery_stream()
            .delivery_stream_name(stream)
            .extended_s3_destination_configuration(destination)
            .send()
            .await
            .expect("delivery stream");
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
