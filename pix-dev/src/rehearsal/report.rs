//! The rehearsal's reports: `report.md` and `report.html` (self-contained: inline CSS and SVG
//! charts, no script or font from anywhere, so it opens offline). One row per step; for the
//! capacity run, the counts, the share within 10 s, percentiles, a latency histogram and
//! throughput over time.

use std::fmt::Write as _;

use simulator::wire::escape;

use super::capacity::{self, Lookups, Spi, percentile};
use super::steps::Step;

/// Everything a report says.
pub struct Report<'a> {
    /// When the rehearsal started (UTC).
    pub started: String,
    /// How the run was set up (scale, keys, build).
    pub setup: String,
    /// Every step, in order.
    pub steps: &'a [Step],
    /// The SPI capacity run, if it ran.
    pub spi: Option<&'a Spi>,
    /// The DICT capacity run, if it ran.
    pub lookups: Option<&'a Lookups>,
}

impl Report<'_> {
    fn passed(&self) -> bool {
        !self.steps.is_empty() && self.steps.iter().all(|s| s.passed)
    }

    fn verdict(&self) -> String {
        let failed = self.steps.iter().filter(|s| !s.passed).count();
        if self.passed() {
            format!("PASSED: all {} steps", self.steps.len())
        } else {
            format!("FAILED: {failed} of {} steps", self.steps.len())
        }
    }

    /// The capacity figures as (name, value) rows.
    fn figures(&self) -> Vec<(String, String)> {
        let mut rows = Vec::new();
        if let Some(s) = self.spi {
            let l = s.latencies_ms();
            let total = s.payments.len();
            let share = if total == 0 {
                0.0
            } else {
                100.0 * s.within_deadline() as f64 / total as f64
            };
            rows.extend([
                (
                    "payments scheduled (each way)".into(),
                    format!("{} in {:.0} s", s.per_direction, s.duration.as_secs_f64()),
                ),
                (
                    "arrival rate (both ways)".into(),
                    format!(
                        "{:.1} payments/s",
                        total as f64 / s.duration.as_secs_f64().max(f64::EPSILON)
                    ),
                ),
                ("sent (201)".into(), format!("{} of {total}", s.sent())),
                ("received by the payee".into(), s.delivered().to_string()),
                (
                    "answered by the payee (pacs.002 accepted)".into(),
                    s.answered().to_string(),
                ),
                ("settled ACSP at the payer".into(), s.settled().to_string()),
                (
                    format!("pacs.002 within {} s", capacity::DEADLINE.as_secs()),
                    format!("{share:.2} %"),
                ),
                (
                    "payer's end to end p50 / p95 / p99 / max".into(),
                    format!(
                        "{:.0} / {:.0} / {:.0} / {:.0} ms",
                        percentile(&l, 50.0),
                        percentile(&l, 95.0),
                        percentile(&l, 99.0),
                        l.last().copied().unwrap_or(0.0)
                    ),
                ),
                ("BACEN 429s".into(), s.throttled().to_string()),
                (
                    "messages not verified / stream read errors".into(),
                    format!("{} / {}", s.unverified, s.read_errors),
                ),
            ]);
        }
        if let Some(d) = self.lookups {
            rows.extend([
                ("DICT lookups".into(), format!("{} at {:.0}/s", d.count, d.rate)),
                (
                    "answered 200, verified / 429".into(),
                    format!("{} / {}", d.verified_ok, d.throttled),
                ),
                (
                    "lookup p50 / p99".into(),
                    format!(
                        "{:.1} / {:.1} ms",
                        percentile(&d.latencies_ms, 50.0),
                        percentile(&d.latencies_ms, 99.0)
                    ),
                ),
            ]);
        }
        rows
    }

    /// `report.md`.
    pub fn markdown(&self) -> String {
        let mut md = format!(
            "# Homologation rehearsal\n\n{}\n\nStarted {} — {}\n\n| phase | case | expected | observed | result | time (ms) |\n|---|---|---|---|---|---:|\n",
            self.verdict(),
            self.started,
            self.setup
        );
        for s in self.steps {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {:.0} |",
                cell(&s.phase),
                cell(&s.case),
                cell(&s.expected),
                cell(&s.observed),
                if s.passed { "pass" } else { "**FAIL**" },
                s.millis
            );
        }
        let figures = self.figures();
        if !figures.is_empty() {
            md.push_str("\n## Capacity\n\n| measure | value |\n|---|---|\n");
            for (k, v) in figures {
                let _ = writeln!(md, "| {k} | {v} |");
            }
        }
        if let Some(s) = self.spi {
            md.push_str("\n### Payer's end-to-end time (histogram)\n\n| from (ms) | to (ms) | payments |\n|---:|---:|---:|\n");
            for (lo, hi, n) in histogram(&s.latencies_ms(), 20) {
                let _ = writeln!(md, "| {lo:.0} | {hi:.0} | {n} |");
            }
        }
        md
    }

    /// `report.html`.
    pub fn html(&self) -> String {
        let mut h = String::from(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Homologation rehearsal</title><style>\
             body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}\
             td,th{border:1px solid #bbb;padding:.3em .6em;font-size:.9em;text-align:left;vertical-align:top}\
             tr.fail td{background:#fdd}tr.pass td.result{color:#070}.verdict{font-size:1.3em;font-weight:bold}\
             svg{border:1px solid #ddd;margin:.5em 0}</style></head><body>\n<h1>Homologation rehearsal</h1>\n",
        );
        let _ = writeln!(
            h,
            "<p class=\"verdict\" id=\"verdict\">{}</p><p>Started {} — {}</p>",
            escape(&self.verdict()),
            escape(&self.started),
            escape(&self.setup)
        );
        h.push_str("<table id=\"steps\"><tr><th>phase</th><th>case</th><th>expected</th><th>observed</th><th>result</th><th>time (ms)</th></tr>\n");
        for s in self.steps {
            let _ = writeln!(
                h,
                "<tr class=\"{0}\"><td>{1}</td><td>{2}</td><td>{3}</td><td>{4}</td><td class=\"result\">{0}</td><td>{5:.0}</td></tr>",
                if s.passed { "pass" } else { "fail" },
                escape(&s.phase),
                escape(&s.case),
                escape(&s.expected),
                escape(&s.observed),
                s.millis
            );
        }
        h.push_str("</table>\n");
        let figures = self.figures();
        if !figures.is_empty() {
            h.push_str("<h2>Capacity</h2><table id=\"figures\">");
            for (k, v) in figures {
                let _ = write!(h, "<tr><th>{}</th><td>{}</td></tr>", escape(&k), escape(&v));
            }
            h.push_str("</table>\n");
        }
        if let Some(s) = self.spi {
            h.push_str("<h2>Payer's end-to-end time</h2>\n");
            h.push_str(&histogram_svg(&histogram(&s.latencies_ms(), 20)));
            h.push_str("<h2>Throughput over time</h2>\n");
            h.push_str(&throughput_svg(&throughput(s)));
        }
        h.push_str("</body></html>\n");
        h
    }
}

/// A table cell's text in Markdown.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// `bins` equal bins from 0 to twice the 99th percentile (or the largest value, if smaller): the
/// body of the distribution gets the chart's width, and the last bin also holds every value above
/// it (its upper bound is then the largest value). (from, to, count).
pub fn histogram(sorted: &[f64], bins: usize) -> Vec<(f64, f64, usize)> {
    let Some(&max) = sorted.last() else {
        return Vec::new();
    };
    let upper = (2.0 * percentile(sorted, 99.0)).min(max).max(1.0);
    let width = upper / bins as f64;
    let mut counts = vec![0usize; bins];
    for v in sorted {
        let i = ((v / width) as usize).min(bins - 1);
        counts[i] += 1;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, n)| {
            let hi = if i + 1 == bins {
                max.max(upper)
            } else {
                (i + 1) as f64 * width
            };
            (i as f64 * width, hi, n)
        })
        .collect()
}

/// Per second of the run: payments scheduled and payments settled at their payer.
pub fn throughput(spi: &Spi) -> Vec<(usize, usize, usize)> {
    let seconds = spi.elapsed.as_secs() as usize + 1;
    let mut rows: Vec<(usize, usize, usize)> = (0..seconds).map(|s| (s, 0, 0)).collect();
    for p in &spi.payments {
        if let Some(r) = rows.get_mut(p.scheduled.as_secs() as usize) {
            r.1 += 1;
        }
        if let Some((t, _)) = &p.settled
            && let Some(r) = rows.get_mut(t.as_secs() as usize)
        {
            r.2 += 1;
        }
    }
    rows
}

const W: f64 = 720.0;
const H: f64 = 260.0;
const PAD: f64 = 40.0;

/// The latency histogram: one bar per bin.
fn histogram_svg(bins: &[(f64, f64, usize)]) -> String {
    let top = bins.iter().map(|b| b.2).max().unwrap_or(0).max(1) as f64;
    let bar = (W - 2.0 * PAD) / bins.len().max(1) as f64;
    let mut s = format!(
        "<svg id=\"latency-histogram\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"latency histogram\">"
    );
    for (i, (lo, hi, n)) in bins.iter().enumerate() {
        let h = (H - 2.0 * PAD) * *n as f64 / top;
        let _ = write!(
            s,
            "<rect class=\"bar\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#3a7bd5\"><title>{lo:.0}–{hi:.0} ms: {n}</title></rect>",
            PAD + i as f64 * bar + 1.0,
            H - PAD - h,
            (bar - 2.0).max(1.0),
        );
    }
    let last = bins.last().map_or(0.0, |b| b.0);
    let mid = bins.get(bins.len() / 2).map_or(0.0, |b| b.0);
    let _ = writeln!(
        s,
        "{}<text x=\"{PAD}\" y=\"{y}\" font-size=\"11\">0 ms</text>\
         <text x=\"{}\" y=\"{y}\" font-size=\"11\" text-anchor=\"middle\">{mid:.0} ms</text>\
         <text x=\"{}\" y=\"{y}\" font-size=\"11\" text-anchor=\"end\">last bar: {last:.0} ms and more</text>\
         <text x=\"{PAD}\" y=\"{}\" font-size=\"11\">{top:.0} payments</text></svg>",
        axes(),
        PAD + (bins.len() / 2) as f64 * bar,
        W - PAD,
        PAD - 8.0,
        y = H - PAD + 14.0,
    );
    s
}

/// Scheduled and settled payments per second, two lines.
fn throughput_svg(rows: &[(usize, usize, usize)]) -> String {
    let top = rows.iter().map(|r| r.1.max(r.2)).max().unwrap_or(0).max(1) as f64;
    let step = (W - 2.0 * PAD) / (rows.len().max(2) - 1) as f64;
    let line = |pick: fn(&(usize, usize, usize)) -> usize| -> String {
        rows.iter()
            .enumerate()
            .map(|(i, r)| {
                format!(
                    "{:.1},{:.1}",
                    PAD + i as f64 * step,
                    H - PAD - (H - 2.0 * PAD) * pick(r) as f64 / top
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        "<svg id=\"throughput\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"throughput over time\">\
         {}<polyline class=\"scheduled\" fill=\"none\" stroke=\"#999\" stroke-width=\"2\" points=\"{}\"/>\
         <polyline class=\"settled\" fill=\"none\" stroke=\"#2a9d3a\" stroke-width=\"2\" points=\"{}\"/>\
         <text x=\"{PAD}\" y=\"{}\" font-size=\"11\">{top:.0}/s</text><text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{} s</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#999\">scheduled</text><text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#2a9d3a\">settled at the payer</text></svg>\n",
        axes(),
        line(|r| r.1),
        line(|r| r.2),
        PAD - 8.0,
        W - PAD,
        H - PAD + 14.0,
        rows.len().saturating_sub(1),
        W - 2.0 * PAD - 150.0,
        PAD - 8.0,
        W - 2.0 * PAD - 70.0,
        PAD - 8.0,
    )
}

fn axes() -> String {
    format!(
        "<line x1=\"{PAD}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#444\"/><line x1=\"{PAD}\" y1=\"{PAD}\" x2=\"{PAD}\" y2=\"{0}\" stroke=\"#444\"/>",
        H - PAD,
        W - PAD
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_bins_cover_every_value() {
        let values = [1.0, 2.0, 50.0, 99.0, 100.0];
        let bins = histogram(&values, 10);
        assert_eq!(bins.len(), 10);
        assert_eq!(bins.iter().map(|b| b.2).sum::<usize>(), 5);
        assert_eq!(bins[0].2, 2);
        assert_eq!(bins[9].2, 2, "the largest value lands in the last bin");
        assert!(histogram(&[], 10).is_empty());
    }

    #[test]
    fn a_far_outlier_goes_to_the_last_bin_and_leaves_the_others_their_width() {
        let mut values: Vec<f64> = (1..=1000).map(f64::from).collect();
        values.push(100_000.0);
        let bins = histogram(&values, 10);
        // Twice the 99th percentile (991) is 1,982: bins of 198.2 ms.
        assert!((bins[0].1 - 198.2).abs() < 1e-9, "{bins:?}");
        assert_eq!(bins[9].1, 100_000.0);
        assert_eq!(bins[9].2, 1, "only the outlier is above 1,783.8 ms");
        assert_eq!(bins.iter().map(|b| b.2).sum::<usize>(), 1001);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
