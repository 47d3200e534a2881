//! What the audit path costs the relay: closed-loop throughput of the development set-up
//! (software keys, simulator in-process, pacs.002 so BACEN signs nothing back) with the audit
//! records discarded (the baseline), written to local files, and sent to Firehose (moto's server)
//! through the write-ahead spool. Rounds alternate between the variants; medians are printed.
//!
//! `cargo run --release -p pix-dev --example audit_overhead [SECONDS] [ROUNDS] [CONNECTIONS]`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use pix_dev::hsm::{DevOptions, DevSetup, Keys};
use pix_xmldsig::dsig::Profile;
use proxy_core::audit::firehose::{FirehoseSink, Settings};
use proxy_core::audit::{AuditRecord, AuditSink, FileSink, WriteFuture};
use proxy_hsm::Listen;
use testkit::bank::cpu_seconds;

use testkit::aws;

/// The baseline only: drops every record (not a product sink; it measures the relay without
/// the audit path).
struct Discard;

impl AuditSink for Discard {
    fn write<'a>(&'a self, _: Profile, _: &'a AuditRecord) -> WriteFuture<'a> {
        Box::pin(async { Ok(()) })
    }
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (secs, rounds, connections) = (
        args.first().copied().unwrap_or(5),
        args.get(1).copied().unwrap_or(3),
        args.get(2).copied().unwrap_or(8) as usize,
    );
    let body = Bytes::from_static(testkit::samples::PACS_002.as_bytes());
    let moto = testkit::aws::Moto::start()?;
    aws::moto_audit_pipeline(&moto.endpoint).await?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let firehose = Arc::new(
        FirehoseSink::spooled(
            aws::firehose(&moto.endpoint),
            aws::streams(),
            &dir.path().join("spool"),
            Settings::default(),
        )
        .map_err(|e| e.to_string())?,
    );
    let files = Arc::new(FileSink::new(&dir.path().join("files")));
    let variants: Vec<(&str, Arc<dyn AuditSink>)> = vec![
        ("discarded (baseline)", Arc::new(Discard)),
        ("files (fsync)", files.clone()),
        ("firehose (spool + moto)", firehose.clone()),
    ];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    let mut cpu_costs: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for round in 0..rounds {
        for (i, (name, sink)) in variants.iter().enumerate() {
            if std::env::var("ONLY").is_ok_and(|only| !name.starts_with(&only)) {
                continue;
            }
            let options = DevOptions {
                keys: Keys::Software,
                audit: Some(Arc::clone(sink)),
                ..DevOptions::new(Listen::ephemeral(IpAddr::V4(Ipv4Addr::LOCALHOST)))
            };
            let setup = DevSetup::start_with(&dir.path().join(format!("dev{i}")), options).await?;
            let cpu = cpu_seconds(std::process::id());
            let rate = testkit::bank::closed_loop(setup.proxy.spi, body.clone(), connections, secs).await?;
            let cpu_per_msg = (cpu_seconds(std::process::id()) - cpu) / (rate * secs as f64) * 1e6;
            setup.shutdown().await;
            eprintln!("round {round}: {name}: {rate:.0} msg/s, {cpu_per_msg:.0} µs CPU/msg");
            rates[i].push(rate);
            cpu_costs[i].push(cpu_per_msg);
        }
    }
    let delivered = firehose.flush(Duration::from_secs(60)).await;
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let base = median(&mut rates[0].clone());
    let base_cpu = median(&mut cpu_costs[0].clone());
    println!(
        "audit path cost, {connections} connections, {rounds} rounds of {secs} s (medians; CPU of proxy + simulator + load):"
    );
    for (i, (name, _)) in variants.iter().enumerate() {
        let (m, c) = (median(&mut rates[i]), median(&mut cpu_costs[i]));
        println!(
            "  {name:<26} {m:>7.0} msg/s {:>+6.1}%   {c:>5.0} µs CPU/msg {:>+6.1}%",
            (m / base - 1.0) * 100.0,
            (c / base_cpu - 1.0) * 100.0
        );
    }
    let written: f64 = rates[1].iter().sum::<f64>() * secs as f64;
    if written > 0.0 {
        println!(
            "  files: {:.1} records per fsync (group commit)",
            written / files.commits().max(1) as f64
        );
    }
    let c = firehose.counts();
    println!(
        "  firehose: {} records spooled, {} delivered, {} retries, all delivered: {delivered}",
        c.spooled, c.delivered, c.retries
    );
    Ok(())
}
