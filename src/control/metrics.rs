//! Prometheus metrics of the control plane (`GET /metrics`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use crate::control::verdict::Verdict;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RegionLabel {
    pub region: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProbeLabel {
    pub region: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabel {
    pub region: String,
    pub verdict: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PairLabel {
    pub from: String,
    pub to: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabel {
    pub region: String,
    pub action: String,
}

/// Log lines that could not be written (a closed stderr pipe, a full disk): counted
/// and dropped, since logging must never stop the control plane. Global because the
/// log writer is installed before any `Metrics` exists.
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

fn latency_histogram() -> Histogram {
    // 1 ms .. ~8 s
    Histogram::new(exponential_buckets(0.001, 2.0, 14))
}

pub struct Metrics {
    registry: Registry,
    pub probe_latency: Family<RegionLabel, Histogram, fn() -> Histogram>,
    pub probes: Family<ProbeLabel, Counter>,
    pub verdict: Family<VerdictLabel, Gauge>,
    pub in_service: Family<RegionLabel, Gauge>,
    pub actions: Family<ActionLabel, Counter>,
    pub transfer_usd: Family<PairLabel, Gauge<f64, AtomicU64>>,
    pub transfer_gb: Family<PairLabel, Gauge<f64, AtomicU64>>,
    /// The pairs `set_pairs` last published.
    published_pairs: std::sync::Mutex<Vec<PairLabel>>,
    /// A family with no labels, so that it has no sample until a budget is known
    /// (a plain gauge would read 0 without `[cost]`).
    budget_fraction: Family<Vec<(String, String)>, Gauge<f64, AtomicU64>>,
    pub cost_polls: Family<OutcomeLabel, Counter>,
    /// Route 53 calls made by the running control plane (each paced by the gate).
    pub route53_requests: Counter,
    /// Route 53 calls that still failed on throttling after the SDK's retries.
    pub route53_throttled: Counter,
    /// Several instances: this one gaining or losing the lease.
    pub leadership_changes: Counter,
    pub is_actor: Gauge,
    pub lease_renew_seconds: Gauge<f64, AtomicU64>,
    pub control_tables_reachable: Gauge,
    /// 1 while the live vantage points disagree on a region (some down, some up).
    pub vantage_disagreement: Family<RegionLabel, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("geoplan");
        let probe_latency =
            Family::<RegionLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram as fn() -> Histogram,
            );
        let probes = Family::<ProbeLabel, Counter>::default();
        let verdict = Family::<VerdictLabel, Gauge>::default();
        let in_service = Family::<RegionLabel, Gauge>::default();
        let actions = Family::<ActionLabel, Counter>::default();
        registry.register(
            "probe_latency_seconds",
            "Latency of endpoint probes",
            probe_latency.clone(),
        );
        registry.register("probes", "Endpoint probes by outcome", probes.clone());
        registry.register(
            "region_verdict",
            "1 for the region's current verdict",
            verdict.clone(),
        );
        registry.register(
            "region_in_service",
            "1 while the region's switch is on",
            in_service.clone(),
        );
        registry.register(
            "actions",
            "Switch flips by action (take-out, put-back, drain, restore)",
            actions.clone(),
        );
        let transfer_usd = Family::<PairLabel, Gauge<f64, AtomicU64>>::default();
        let transfer_gb = Family::<PairLabel, Gauge<f64, AtomicU64>>::default();
        let budget_fraction = Family::<Vec<(String, String)>, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "transfer_usd",
            "Inter-region transfer USD this month, per pair",
            transfer_usd.clone(),
        );
        registry.register(
            "transfer_gb",
            "Inter-region transfer GB this month, per pair",
            transfer_gb.clone(),
        );
        registry.register(
            "budget_fraction",
            "Budgeted spend this month as a fraction of the budget",
            budget_fraction.clone(),
        );
        registry.register(
            "log_write_errors",
            "Log lines dropped because standard error could not be written",
            LOG_WRITE_ERRORS.clone(),
        );
        let cost_polls = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "cost_polls",
            "Cost source polls by outcome (ok, failed)",
            cost_polls.clone(),
        );
        let route53_requests = Counter::default();
        let route53_throttled = Counter::default();
        registry.register(
            "route53_throttled",
            "Route 53 calls that still failed on Throttling or PriorRequestNotComplete after the SDK's retries",
            route53_throttled.clone(),
        );
        registry.register(
            "route53_requests",
            "Route 53 calls made by the control plane, paced to monitor.route53_rate",
            route53_requests.clone(),
        );
        let leadership_changes = Counter::default();
        let is_actor = Gauge::default();
        let lease_renew_seconds = Gauge::<f64, AtomicU64>::default();
        let control_tables_reachable = Gauge::default();
        let vantage_disagreement = Family::<RegionLabel, Gauge>::default();
        registry.register(
            "leadership_changes",
            "Times this instance gained or lost the actor's lease",
            leadership_changes.clone(),
        );
        registry.register(
            "is_actor",
            "1 while this instance is the actor",
            is_actor.clone(),
        );
        registry.register(
            "lease_renew_seconds",
            "How long the last round's lease writes took",
            lease_renew_seconds.clone(),
        );
        registry.register(
            "control_tables_reachable",
            "Control tables this instance could read in its last round",
            control_tables_reachable.clone(),
        );
        registry.register(
            "vantage_disagreement",
            "1 while the live vantage points disagree on a region (some down, some up)",
            vantage_disagreement.clone(),
        );
        Metrics {
            registry,
            leadership_changes,
            is_actor,
            lease_renew_seconds,
            control_tables_reachable,
            vantage_disagreement,
            probe_latency,
            probes,
            verdict,
            in_service,
            actions,
            transfer_usd,
            transfer_gb,
            published_pairs: Default::default(),
            budget_fraction,
            cost_polls,
            route53_requests,
            route53_throttled,
        }
    }
}

impl Metrics {
    pub fn set_budget_fraction(&self, fraction: f64) {
        self.budget_fraction
            .get_or_create(&Vec::new())
            .set(fraction);
    }

    /// This month's spend per region pair: pairs with no usage this month lose their
    /// series instead of keeping last month's value.
    pub fn set_pairs(&self, pairs: &[(PairLabel, f64, f64)]) {
        let current: std::collections::HashSet<&PairLabel> = pairs.iter().map(|p| &p.0).collect();
        let mut known = self
            .published_pairs
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for stale in known.iter().filter(|l| !current.contains(l)) {
            self.transfer_usd.remove(stale);
            self.transfer_gb.remove(stale);
        }
        for (label, usd, gb) in pairs {
            self.transfer_usd.get_or_create(label).set(*usd);
            self.transfer_gb.get_or_create(label).set(*gb);
        }
        *known = pairs.iter().map(|p| p.0.clone()).collect();
    }

    pub fn set_verdict(&self, region: &str, current: Verdict) {
        for v in [
            Verdict::Up,
            Verdict::Suspect,
            Verdict::Down,
            Verdict::Recovering,
        ] {
            let label = VerdictLabel {
                region: region.into(),
                verdict: v.as_str().into(),
            };
            self.verdict
                .get_or_create(&label)
                .set(i64::from(v == current));
        }
    }

    pub fn set_in_service(&self, region: &str, on: bool) {
        self.in_service
            .get_or_create(&RegionLabel {
                region: region.into(),
            })
            .set(i64::from(on));
    }

    pub fn count_action(&self, region: &str, action: &str) {
        self.actions
            .get_or_create(&ActionLabel {
                region: region.into(),
                action: action.into(),
            })
            .inc();
    }

    pub fn count_cost_poll(&self, ok: bool) {
        let outcome = if ok { "ok" } else { "failed" };
        self.cost_polls
            .get_or_create(&OutcomeLabel {
                outcome: outcome.into(),
            })
            .inc();
    }

    /// Counts an error of a Route 53 call if it was throttling.
    pub fn count_if_throttled(&self, error: &str) {
        if error.contains("Throttling") || error.contains("PriorRequestNotComplete") {
            self.route53_throttled.inc();
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(m: &Metrics, family: &str) -> Vec<String> {
        m.encode()
            .lines()
            .filter(|l| l.starts_with(family) && !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn gauges_tell_the_truth_about_this_month_and_the_budget() {
        let m = Metrics::default();
        // No budget known: no sample, rather than a budget "0% used".
        assert!(samples(&m, "geoplan_budget_fraction").is_empty());
        m.set_budget_fraction(0.25);
        assert_eq!(
            samples(&m, "geoplan_budget_fraction"),
            ["geoplan_budget_fraction{} 0.25"]
        );
        let pair = |from: &str, to: &str| PairLabel {
            from: from.into(),
            to: to.into(),
        };
        m.set_pairs(&[
            (pair("us-east-1", "eu-west-1"), 8.0, 400.0),
            (pair("eu-west-1", "us-east-1"), 2.0, 100.0),
        ]);
        assert_eq!(samples(&m, "geoplan_transfer_usd").len(), 2);
        // A new month with usage on one pair only: the other pair's series goes.
        m.set_pairs(&[(pair("eu-west-1", "us-east-1"), 0.5, 25.0)]);
        assert_eq!(
            samples(&m, "geoplan_transfer_usd"),
            ["geoplan_transfer_usd{from=\"eu-west-1\",to=\"us-east-1\"} 0.5"]
        );
        assert_eq!(samples(&m, "geoplan_transfer_gb").len(), 1);
    }
}
