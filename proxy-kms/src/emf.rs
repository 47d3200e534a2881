//! CloudWatch Embedded Metric Format: the Lambda has no port to scrape, so its metrics (the same
//! names as the Fargate flavour's, `proxy_core::metrics`) are log lines CloudWatch turns into
//! metrics. A `metrics` recorder that buffers one EMF document per recorded value and writes them
//! to standard output after each invocation ([`EmfRecorder::flush`]).
//!
//! Format: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>
//! — an `_aws` block with `Timestamp` (ms) and `CloudWatchMetrics` (namespace, dimension sets,
//! metric names and units), and the dimensions' and metrics' values as top-level members.

use std::io::Write;
use std::sync::{Arc, Mutex};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "PixProxy";

/// The recorder; clones share the buffer.
#[derive(Debug, Clone, Default)]
pub struct EmfRecorder {
    lines: Arc<Mutex<Vec<String>>>,
}

impl EmfRecorder {
    /// Installs a recorder as the process's (once: later calls return the same buffer).
    pub fn install() -> EmfRecorder {
        static INSTALLED: std::sync::OnceLock<EmfRecorder> = std::sync::OnceLock::new();
        INSTALLED
            .get_or_init(|| {
                let r = EmfRecorder::default();
                if metrics::set_global_recorder(r.clone()).is_err() {
                    tracing::warn!("a metrics recorder was already installed; EMF lines will not be written");
                }
                r
            })
            .clone()
    }

    /// The EMF documents recorded since the last call, taken out of the buffer.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.lines.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Writes what was recorded to standard output, one document per line (CloudWatch Logs).
    pub fn flush(&self) {
        let lines = self.take();
        if lines.is_empty() {
            return;
        }
        let mut out = std::io::stdout().lock();
        for line in lines {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
    }

    fn metric(&self, key: &Key, unit: &'static str) -> Arc<Metric> {
        Arc::new(Metric {
            name: key.name().to_string(),
            labels: key
                .labels()
                .map(|l| (l.key().to_string(), l.value().to_string()))
                .collect(),
            unit,
            lines: Arc::clone(&self.lines),
        })
    }
}

/// One named, labelled metric; every value recorded becomes an EMF document.
struct Metric {
    name: String,
    labels: Vec<(String, String)>,
    unit: &'static str,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Metric {
    fn record(&self, value: f64) {
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let dimensions: Vec<&str> = self.labels.iter().map(|(k, _)| k.as_str()).collect();
        let mut doc = serde_json::json!({
            "_aws": {
                "Timestamp": timestamp,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [dimensions],
                    "Metrics": [{"Name": self.name, "Unit": self.unit}],
                }],
            },
        });
        if let Some(o) = doc.as_object_mut() {
            for (k, v) in &self.labels {
                o.insert(k.clone(), serde_json::Value::String(v.clone()));
            }
            o.insert(self.name.clone(), serde_json::json!(value));
        }
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(doc.to_string());
    }
}

impl CounterFn for Metric {
    fn increment(&self, value: u64) {
        self.record(value as f64);
    }
    fn absolute(&self, value: u64) {
        self.record(value as f64);
    }
}

impl GaugeFn for Metric {
    fn increment(&self, value: f64) {
        self.record(value);
    }
    fn decrement(&self, value: f64) {
        self.record(-value);
    }
    fn set(&self, value: f64) {
        self.record(value);
    }
}

impl HistogramFn for Metric {
    fn record(&self, value: f64) {
        Metric::record(self, value);
    }
}

impl Recorder for EmfRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.metric(key, "Count"))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.metric(key, "None"))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        // Every histogram of the proxy is a latency in seconds.
        Histogram::from_arc(self.metric(key, "Seconds"))
    }
}
