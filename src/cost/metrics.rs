//! Cost's metrics: this month's transfer spend per region pair, the share of the budget
//! spent, and the polls of the cost source. Registered in the shared
//! `telemetry::Registry`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use std::sync::atomic::AtomicU64;

use crate::telemetry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PairLabel {
    pub from: String,
    pub to: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
}

pub struct CostMetrics {
    pub transfer_usd: Family<PairLabel, Gauge<f64, AtomicU64>>,
    pub transfer_gb: Family<PairLabel, Gauge<f64, AtomicU64>>,
    /// The pairs `set_pairs` last published.
    published_pairs: std::sync::Mutex<Vec<PairLabel>>,
    /// A family with no labels, so that it has no sample until a budget is known
    /// (a plain gauge would read 0 without `[cost]`).
    budget_fraction: Family<Vec<(String, String)>, Gauge<f64, AtomicU64>>,
    pub cost_polls: Family<OutcomeLabel, Counter>,
}

impl CostMetrics {
    /// Cost's metrics, registered in `registry`.
    pub fn new(registry: &mut Registry) -> CostMetrics {
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
        let cost_polls = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "cost_polls",
            "Cost source polls by outcome (ok, failed)",
            cost_polls.clone(),
        );
        CostMetrics {
            transfer_usd,
            transfer_gb,
            published_pairs: Default::default(),
            budget_fraction,
            cost_polls,
        }
    }

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

    pub fn count_cost_poll(&self, ok: bool) {
        let outcome = if ok { "ok" } else { "failed" };
        self.cost_polls
            .get_or_create(&OutcomeLabel {
                outcome: outcome.into(),
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(registry: &Registry, family: &str) -> Vec<String> {
        registry
            .encode()
            .lines()
            .filter(|l| l.starts_with(family) && !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn gauges_tell_the_truth_about_this_month_and_the_budget() {
        let mut registry = Registry::default();
        let m = CostMetrics::new(&mut registry);
        // No budget known: no sample, rather than a budget "0% used".
        assert!(samples(&registry, "geoplan_budget_fraction").is_empty());
        m.set_budget_fraction(0.25);
        assert_eq!(
            samples(&registry, "geoplan_budget_fraction"),
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
        assert_eq!(samples(&registry, "geoplan_transfer_usd").len(), 2);
        // A new month with usage on one pair only: the other pair's series goes.
        m.set_pairs(&[(pair("eu-west-1", "us-east-1"), 0.5, 25.0)]);
        assert_eq!(
            samples(&registry, "geoplan_transfer_usd"),
            ["geoplan_transfer_usd{from=\"eu-west-1\",to=\"us-east-1\"} 0.5"]
        );
        assert_eq!(samples(&registry, "geoplan_transfer_gb").len(), 1);
    }
}
