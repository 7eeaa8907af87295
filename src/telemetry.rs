//! What the running service says about itself, for every part alike: the Prometheus
//! registry behind `GET /metrics`, in which each part registers its own metrics
//! (`control::metrics`, `cost::metrics`), and the log sink. Nothing here knows what
//! the parts measure.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Metric;

/// Log lines that could not be written (a closed stderr pipe, a full disk): counted
/// and dropped, since logging must never stop the control plane. Global because the
/// log writer is installed before any `Registry` exists.
pub static LOG_WRITE_ERRORS: std::sync::LazyLock<Counter> =
    std::sync::LazyLock::new(Counter::default);

/// Standard error for the logs, where a failed write is counted, not returned: the
/// tracing subscriber would report it with `eprintln!`, which panics on a closed pipe.
pub struct LogSink;

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if std::io::stderr().write_all(buf).is_err() {
            LOG_WRITE_ERRORS.inc();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// Every metric the service exports, each under the `geoplan_` prefix. Built once at
/// start (each part registers into it), then shared read-only: a metric keeps its own
/// value, so a part updates it without the registry.
pub struct Registry {
    inner: prometheus_client::registry::Registry,
}

impl Default for Registry {
    /// A registry holding the metrics that belong to no part: `log_write_errors`.
    fn default() -> Self {
        let mut registry = Registry {
            inner: prometheus_client::registry::Registry::with_prefix("geoplan"),
        };
        registry.register(
            "log_write_errors",
            "Log lines dropped because standard error could not be written",
            LOG_WRITE_ERRORS.clone(),
        );
        registry
    }
}

impl Registry {
    /// Registers `metric` as `geoplan_<name>`.
    pub fn register(&mut self, name: &str, help: &str, metric: impl Metric) {
        self.inner.register(name, help, metric);
    }

    /// The OpenMetrics text of every registered metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.inner)
            .expect("writing to a String cannot fail");
        out
    }
}
