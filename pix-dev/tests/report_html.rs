//! The rehearsal's HTML report rendered in a real browser (headless Chromium, Debian's
//! `chromium`): the step table and both charts are laid out with real sizes, and a screenshot
//! is drawn. The report itself carries no script; the test appends one that measures what the
//! browser laid out and writes it into the DOM, which `--dump-dom` prints.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::Duration;

use pix_dev::rehearsal::capacity::{Payment, Spi};
use pix_dev::rehearsal::report::Report;
use pix_dev::rehearsal::steps::Step;
use testkit::tools::have;

const CHROMIUM: &str = "chromium";

/// Appended to the report: the laid-out size of each chart and the number of bars and lines
/// with a real size, into `data-*` attributes of `<body>`.
const MEASURE: &str = "<script>\
  const r = {};\
  for (const svg of document.querySelectorAll('svg')) {\
    const box = svg.getBoundingClientRect();\
    const drawn = [...svg.querySelectorAll('rect.bar, polyline')].filter(e => { const b = e.getBBox(); return b.width > 0 || b.height > 0; }).length;\
    r[svg.id] = Math.round(box.width) + 'x' + Math.round(box.height) + ':' + drawn;\
  }\
  document.body.dataset.charts = JSON.stringify(r);\
  document.body.dataset.rows = document.querySelectorAll('#steps tr').length;\
</script>";

fn sample_report() -> String {
    let steps = vec![
        Step {
            phase: "SPI".into(),
            case: "send pacs.008 (A pays B), B accepts".into(),
            expected: "A and B read ACSP".into(),
            observed: "payer ACSP, payee ACSP, all verified".into(),
            passed: true,
            millis: 42.0,
        },
        Step {
            phase: "DICT".into(),
            case: "refund <by A> & cancelled".into(),
            expected: "OPEN → CANCELLED".into(),
            observed: "409 \"conflict\"".into(),
            passed: false,
            millis: 7.0,
        },
    ];
    let payments: Vec<Payment> = (0..300u64)
        .map(|i| Payment {
            from_a: i % 2 == 0,
            scheduled: Duration::from_millis(i * 20),
            send_status: 201,
            delivered: Some(Duration::from_millis(i * 20 + 30)),
            answered: Some(Duration::from_millis(i * 20 + 60)),
            settled: Some((
                Duration::from_millis(i * 20 + 100 + (i * 37) % 400),
                "ACSP".into(),
            )),
        })
        .collect();
    let spi = Spi {
        per_direction: 150,
        duration: Duration::from_secs(6),
        payments,
        elapsed: Duration::from_secs(7),
        ..Spi::default()
    };
    Report {
        started: "2026-12-02T00:00:00Z".into(),
        setup: "test".into(),
        steps: &steps,
        spi: Some(&spi),
        lookups: None,
    }
    .html()
}

#[test]
fn the_html_report_renders_in_a_headless_browser_with_its_charts() {
    let html = sample_report();
    // Escaped, not interpreted: the failing step's text arrives as text.
    assert!(html.contains("refund &lt;by A&gt; &amp; cancelled"), "{html}");
    assert!(!html.contains("<script"), "the report runs no script");
    if !have(CHROMIUM, &["--version"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    std::fs::write(&page, html.replace("</body>", &format!("{MEASURE}</body>"))).unwrap();
    let url = format!("file://{}", page.display());
    let chromium = |extra: &[&str]| {
        let profile = dir.path().join("profile");
        let out = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--virtual-time-budget=3000",
                "--window-size=1000,1400",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(&url)
            .output()
            .expect("chromium runs");
        assert!(
            out.status.success(),
            "chromium: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dom = chromium(&["--dump-dom"]);
    // Header row and the two steps.
    assert!(dom.contains("data-rows=\"3\""), "{dom}");
    let charts = dom
        .split("data-charts=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("the measuring script did not run: {dom}"))
        .replace("&quot;", "\"");
    // 722x262 each (their declared 720x260 and a 1px border), 20 histogram bars (some may be empty: a bar of no
    // height still has its width) and the throughput chart's two lines.
    assert!(
        charts.contains("\"latency-histogram\":\"722x262:20\""),
        "{charts}"
    );
    assert!(charts.contains("\"throughput\":\"722x262:2\""), "{charts}");

    let shot = dir.path().join("report.png");
    chromium(&[&format!("--screenshot={}", shot.display())]);
    let png = std::fs::read(&shot).expect("a screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        png.len() > 20_000,
        "a drawn page, not a blank one: {} bytes",
        png.len()
    );
}
