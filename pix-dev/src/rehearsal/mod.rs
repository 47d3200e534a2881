//! A homologation rehearsal (`pix-dev rehearsal`, `scripts/rehearsal.sh`): BACEN's SPI and DICT
//! homologation roadmaps played locally, with real signatures, through two proxies — the
//! participant under test (A, ISPB 99999010) and a counterparty (B, 99999020), each with its
//! own keys (SoftHSM when installed) — against the simulator hosting both, then the capacity
//! tests; a report of every step in `report.md` and `report.html`.
//!
//! The roadmaps follow what participants who went through homologation document (DESIGN §6):
//! connectivity, SPI functionality (pacs.008/002/004, versions, AB03), SPI capacity (20,000
//! payments in 10 minutes as payer and payee at once, every pacs.002 within 10 s), DICT
//! functionality (keys of every type, claims, infraction reports, refunds) and DICT capacity
//! (1,000+ lookups at a steady rate). BACEN's own tests are scheduled with BACEN; this is the
//! dress rehearsal.

pub mod capacity;
mod dict_roadmap;
pub mod messages;
pub mod party;
pub mod report;
mod spi_roadmap;
pub mod steps;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use proxy_hsm::Listen;

use crate::hsm::{DevOptions, DevSetup, Keys, PAYEE_ISPB, PAYER_ISPB, StreamConsumer};
use crate::inbox::Inbox;
use messages::Versions;
use party::Party;
use steps::{Log, judge};

/// How to run the rehearsal.
#[derive(Debug, Clone)]
pub struct Options {
    /// Share of BACEN's capacity test to run (1: 20,000 payments each way in 10 minutes; the
    /// rate stays BACEN's, the duration shrinks).
    pub capacity_scale: f64,
    /// Where the reports (and the run's PKI and audit records) go.
    pub out: PathBuf,
    /// Where the proxies' keys live.
    pub keys: Keys,
    /// DICT lookups in the DICT capacity test.
    pub lookups: usize,
    /// Their rate per second.
    pub lookup_rate: f64,
}

impl Options {
    /// BACEN's full scale, reports under `out`.
    pub fn new(out: &Path) -> Self {
        Options {
            capacity_scale: 1.0,
            out: out.to_path_buf(),
            keys: Keys::Auto,
            lookups: 1_000,
            lookup_rate: 50.0,
        }
    }
}

/// The simulator as the homologation environment: BACEN's token bucket on (DESIGN §6: 3,750
/// tokens refilled at 750/s), six requests per side, and BACEN's schemas enforced (catalog
/// 5.13.1, when `../shared/fixtures/xsd` is there; the set-up loads them), whose versions the
/// banks read from the catalog.
fn homologation(config: &mut simulator::Config) {
    config.rate_capacity = 3750.0;
    config.rate_refill = 750.0;
    config.max_concurrent = 6;
}

/// Plays the rehearsal and writes the reports; `Ok(true)` when every step passed.
pub async fn run(options: &Options) -> Result<bool, String> {
    if !(options.capacity_scale > 0.0 && options.capacity_scale <= 10.0) {
        return Err(format!(
            "--capacity-scale {}: must be above 0 and at most 10",
            options.capacity_scale
        ));
    }
    let out = &options.out;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    for old in [
        "audit",
        "audit-payee",
        "a-inbox",
        "a-consumer",
        "b-inbox",
        "b-consumer",
        "report.md",
        "report.html",
    ] {
        let p = out.join(old);
        let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
    }
    let started = proxy_core::wire::utc_now();
    let setup = DevSetup::start_with(
        out,
        DevOptions {
            keys: options.keys,
            payee: true,
            simulator: Some(Arc::new(homologation)),
            ..DevOptions::new(Listen::ephemeral(IpAddr::V4(Ipv4Addr::LOCALHOST)))
        },
    )
    .await?;
    let payee = setup
        .payee
        .as_ref()
        .ok_or("the set-up has no second participant")?;
    println!(
        "rehearsal: participant A {PAYER_ISPB} (proxy SPI {}, {}), counterparty B {PAYEE_ISPB} (proxy SPI {}, {})",
        setup.proxy.spi, setup.signer, payee.proxy.spi, payee.signer
    );
    let setup_line = format!(
        "capacity scale {}; A's keys: {}; B's keys: {}; {} build",
        options.capacity_scale,
        setup.signer,
        payee.signer,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    // Each bank's receive half is its stream consumer (`proxy_core::consumer` through its own SPI
    // relay, handing off to a directory), as deployed: the banks take their messages from there.
    let consumers = [
        StreamConsumer::start(&setup.spi_relay, PAYER_ISPB, out, "a")?,
        StreamConsumer::start(&payee.spi_relay, PAYEE_ISPB, out, "b")?,
    ];
    let mut a = Party::new(
        PAYER_ISPB,
        setup.proxy.spi,
        setup.proxy.dict,
        Inbox::new(&consumers[0].inbox)?,
    );
    let mut b = Party::new(
        PAYEE_ISPB,
        payee.proxy.spi,
        payee.proxy.dict,
        Inbox::new(&consumers[1].inbox)?,
    );
    let control = setup.simulator.check;
    let mut log = Log::default();

    let mut spi = spi_roadmap::Roadmap {
        a: &mut a,
        b: &mut b,
        control,
        versions: Versions::samples(),
        settled: (String::new(), String::new()),
    };
    spi.play(&mut log).await;
    let (settled, versions) = (spi.settled.clone(), spi.versions.clone());
    dict_roadmap::Roadmap {
        a: &a,
        b: &b,
        control,
        settled,
    }
    .play(&mut log)
    .await;

    let per_direction = ((capacity::FULL_PAYMENTS as f64 * options.capacity_scale).round() as usize).max(1);
    let duration = capacity::FULL_DURATION.mul_f64(options.capacity_scale);
    println!(
        "SPI capacity: {per_direction} payments each way over {:.0} s (open loop) …",
        duration.as_secs_f64()
    );
    let t = Instant::now();
    let spi_run = capacity::spi(&a, &b, &versions, per_direction, duration).await;
    record_spi(&mut log, &spi_run, t);
    println!(
        "DICT capacity: {} lookups at {}/s …",
        options.lookups, options.lookup_rate
    );
    let t = Instant::now();
    let lookups = capacity::lookups(&a, "+5561977770000", options.lookups, options.lookup_rate).await;
    log.record(
        "DICT capacity",
        &format!("{} lookups at {}/s (open loop)", lookups.count, lookups.rate),
        "every lookup 200 with DICT's signature verified, no 429",
        t,
        judge(
            lookups.verified_ok == lookups.count && lookups.throttled == 0,
            format!(
                "{} verified 200, {} 429; p50 {:.1} ms, p99 {:.1} ms",
                lookups.verified_ok,
                lookups.throttled,
                capacity::percentile(&lookups.latencies_ms, 50.0),
                capacity::percentile(&lookups.latencies_ms, 99.0)
            ),
        ),
    );

    let report = report::Report {
        started,
        setup: setup_line,
        steps: &log.steps,
        spi: Some(&spi_run),
        lookups: Some(&lookups),
    };
    for (name, text) in [("report.md", report.markdown()), ("report.html", report.html())] {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    for c in consumers {
        c.stop().await;
    }
    setup.shutdown().await;
    let failed = log.steps.iter().filter(|s| !s.passed).count();
    println!(
        "\n{} — {} steps, {failed} failed; reports: {} and {}",
        if log.all_passed() {
            "REHEARSAL PASSED"
        } else {
            "REHEARSAL FAILED"
        },
        log.steps.len(),
        out.join("report.md").display(),
        out.join("report.html").display()
    );
    Ok(log.all_passed())
}

/// The SPI capacity run's steps: everything sent and settled, every pacs.002 in time, no `429`,
/// every message verified.
fn record_spi(log: &mut Log, s: &capacity::Spi, started: Instant) {
    const PHASE: &str = "SPI capacity";
    let total = s.payments.len();
    let l = s.latencies_ms();
    log.record(
        PHASE,
        &format!(
            "{} payments each way in {:.0} s, as payer and payee at once",
            s.per_direction,
            s.duration.as_secs_f64()
        ),
        "every payment sent (201), received, answered and settled ACSP",
        started,
        judge(
            total == 2 * s.per_direction && s.settled() == total,
            format!(
                "sent {} of {total}, received {}, answered {}, settled {}",
                s.sent(),
                s.delivered(),
                s.answered(),
                s.settled()
            ),
        ),
    );
    let within = s.within_deadline();
    log.record(
        PHASE,
        &format!("pacs.002 within {} s", capacity::DEADLINE.as_secs()),
        "100 % of payers read BACEN's pacs.002 within 10 s of the scheduled send",
        started,
        judge(
            total > 0 && within == total,
            format!(
                "{within} of {total} ({:.2} %); p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms",
                100.0 * within as f64 / total.max(1) as f64,
                capacity::percentile(&l, 50.0),
                capacity::percentile(&l, 95.0),
                capacity::percentile(&l, 99.0)
            ),
        ),
    );
    log.record(
        PHASE,
        "BACEN's limits",
        "no 429 from BACEN",
        started,
        judge(s.throttled() == 0, format!("{} 429s", s.throttled())),
    );
    log.record(
        PHASE,
        "BACEN's signatures",
        "every stream message verified by the proxy; no failed read",
        started,
        judge(
            s.unverified == 0 && s.read_errors == 0,
            format!("{} not verified, {} failed reads", s.unverified, s.read_errors),
        ),
    );
}
