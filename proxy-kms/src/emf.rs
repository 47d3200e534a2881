//! CloudWatch Embedded Metric Format: the Lambda has no port to scrape, so its metrics (the same
//! names as the Fargate flavour's, `proxy_core::metrics`) are log lines CloudWatch turns into
//! metrics, in the namespace [`NAMESPACE`]. The recorder is the maintained one for the `metrics`
//! facade (`metrics_cloudwatch_embedded`): one document per label set at each flush, the label
//! names as the dimension set, counters as their increase since the last flush, gauges as their
//! value, histograms as every value recorded; [`EmfRecorder::flush`] writes them to standard
//! output after each invocation, before Lambda may freeze the container.
//!
//! Format: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>

use std::io::Write;
use std::sync::OnceLock;

use metrics_cloudwatch_embedded::{Builder, Collector};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "PixProxy";

/// The process's EMF recorder (the `metrics` facade has one global recorder).
#[derive(Clone, Copy)]
pub struct EmfRecorder {
    collector: Option<&'static Collector>,
}

impl std::fmt::Debug for EmfRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmfRecorder")
            .field("installed", &self.collector.is_some())
            .finish()
    }
}

impl EmfRecorder {
    /// Installs the recorder as the process's, once: later calls return the same one. When
    /// another recorder was installed first, it says so and records nothing.
    pub fn install() -> EmfRecorder {
        static INSTALLED: OnceLock<EmfRecorder> = OnceLock::new();
        *INSTALLED.get_or_init(|| {
            let collector = match Builder::new().cloudwatch_namespace(NAMESPACE).init() {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "a metrics recorder was already installed; EMF lines will not be written");
                    None
                }
            };
            proxy_core::metrics::describe();
            EmfRecorder { collector }
        })
    }

    /// The EMF documents recorded since the last call, one per line, taken out of the recorder.
    pub fn take(&self) -> Vec<String> {
        let mut buffer = Vec::new();
        if let Some(c) = self.collector
            && let Err(e) = c.flush(&mut buffer)
        {
            tracing::warn!(error = %e, "EMF documents could not be written");
        }
        String::from_utf8_lossy(&buffer)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Writes what was recorded to standard output, one document per line (CloudWatch Logs).
    pub fn flush(&self) {
        let Some(c) = self.collector else { return };
        let mut out = std::io::stdout().lock();
        if let Err(e) = c.flush(&mut out) {
            tracing::warn!(error = %e, "EMF documents could not be written");
        }
        let _ = out.flush();
    }
}
