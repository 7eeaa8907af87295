//! The control plane's metrics: probes, verdicts, switches and flips, Route 53 calls,
//! and with `[control]` the lease and the vantage points. Registered in the shared
//! `telemetry::Registry`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use std::sync::atomic::AtomicU64;

use crate::control::verdict::Verdict;
use crate::telemetry::Registry;

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
pub struct PathLabel {
    pub path: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabel {
    pub region: String,
    pub action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TableLabel {
    pub region: String,
    pub table: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RecoveryLabel {
    pub region: String,
    /// `failover` or `drain`.
    pub kind: String,
    /// To what: `switch` (confirmed) or `dns` (the answer no longer holds the region).
    pub stage: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HeldLabel {
    pub region: String,
    /// `not-active`, `lagging` or `unknown`.
    pub why: String,
}

fn recovery_histogram() -> Histogram {
    // 0.25 s .. ~17 min
    Histogram::new(exponential_buckets(0.25, 2.0, 13))
}

fn latency_histogram() -> Histogram {
    // 1 ms .. ~8 s
    Histogram::new(exponential_buckets(0.001, 2.0, 14))
}

pub struct ControlMetrics {
    pub probe_latency: Family<RegionLabel, Histogram, fn() -> Histogram>,
    pub probes: Family<ProbeLabel, Counter>,
    pub verdict: Family<VerdictLabel, Gauge>,
    pub in_service: Family<RegionLabel, Gauge>,
    pub actions: Family<ActionLabel, Counter>,
    /// Flips confirmed, by the path that confirmed them (route53, arc; both: a
    /// put-back that needed both).
    pub confirmations: Family<PathLabel, Counter>,
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
    /// Take-outs: from the first failed probe (or the drain request) to the switch
    /// confirmed.
    pub recovery_time: Family<RecoveryLabel, Histogram, fn() -> Histogram>,
    /// Take-outs: each table's replication lag out of the region at that moment.
    pub recovery_point: Family<TableLabel, Histogram, fn() -> Histogram>,
    /// 1 while the failback gate holds the region, by why.
    pub failback_held: Family<HeldLabel, Gauge>,
    /// The newest ReplicationLatency into each region, by table.
    pub replication_lag: Family<TableLabel, Gauge<f64, AtomicU64>>,
}

impl ControlMetrics {
    /// The control plane's metrics, registered in `registry`.
    pub fn new(registry: &mut Registry) -> ControlMetrics {
        let probe_latency =
            Family::<RegionLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram as fn() -> Histogram,
            );
        let probes = Family::<ProbeLabel, Counter>::default();
        let verdict = Family::<VerdictLabel, Gauge>::default();
        let in_service = Family::<RegionLabel, Gauge>::default();
        let actions = Family::<ActionLabel, Counter>::default();
        let confirmations = Family::<PathLabel, Counter>::default();
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
        registry.register(
            "switch_confirmations",
            "Flips confirmed, by the path that confirmed them (route53, arc; both: a put-back that needed both)",
            confirmations.clone(),
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
        let recovery_time =
            Family::<RecoveryLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                recovery_histogram as fn() -> Histogram,
            );
        let recovery_point =
            Family::<TableLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                recovery_histogram as fn() -> Histogram,
            );
        let failback_held = Family::<HeldLabel, Gauge>::default();
        let replication_lag = Family::<TableLabel, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "recovery_time_seconds",
            "Take-outs: from the first failed probe (or the drain request) to the switch confirmed (stage=switch), or to the DNS answer without the region (stage=dns)",
            recovery_time.clone(),
        );
        registry.register(
            "recovery_point_seconds",
            "Take-outs: each table's replication lag out of the region at that moment (the writes it may not have passed on)",
            recovery_point.clone(),
        );
        registry.register(
            "failback_held",
            "1 while the failback gate holds a region out of service, by why (not-active, lagging, unknown)",
            failback_held.clone(),
        );
        registry.register(
            "replication_lag_seconds",
            "The newest ReplicationLatency into the region, by table (the highest over the source regions)",
            replication_lag.clone(),
        );
        ControlMetrics {
            probe_latency,
            probes,
            verdict,
            in_service,
            actions,
            confirmations,
            route53_requests,
            route53_throttled,
            leadership_changes,
            is_actor,
            lease_renew_seconds,
            control_tables_reachable,
            vantage_disagreement,
            recovery_time,
            recovery_point,
            failback_held,
            replication_lag,
        }
    }

    /// A confirmed flip's recovery figures.
    pub fn observe_recovery(&self, region: &str, r: &crate::control::failback::Recovery) {
        if let Some(t) = r.recovery_time {
            self.recovery_time
                .get_or_create(&RecoveryLabel {
                    region: region.into(),
                    kind: r.kind.into(),
                    stage: "switch".into(),
                })
                .observe(t.as_secs_f64());
        }
        for l in &r.recovery_point {
            if let Some(lag) = l.lag_seconds {
                self.recovery_point
                    .get_or_create(&TableLabel {
                        region: region.into(),
                        table: l.table.clone(),
                    })
                    .observe(lag);
            }
        }
    }

    /// A take-out's time to the DNS answer without the region.
    pub fn observe_dns_recovery(&self, region: &str, kind: &str, took: std::time::Duration) {
        self.recovery_time
            .get_or_create(&RecoveryLabel {
                region: region.into(),
                kind: kind.into(),
                stage: "dns".into(),
            })
            .observe(took.as_secs_f64());
    }

    /// The failback gate of a region (`None`: not held, or not gated) and each
    /// table's newest lag into it.
    pub fn set_failback(
        &self,
        region: &str,
        held: Option<&str>,
        lags: &[crate::control::failback::TableLag],
    ) {
        for why in ["not-active", "lagging", "unknown"] {
            let label = HeldLabel {
                region: region.into(),
                why: why.into(),
            };
            if held == Some(why) {
                self.failback_held.get_or_create(&label).set(1);
            } else if self.failback_held.get(&label).is_some() {
                self.failback_held.get_or_create(&label).set(0);
            }
        }
        for l in lags {
            let label = TableLabel {
                region: region.into(),
                table: l.table.clone(),
            };
            match l.lag_seconds {
                Some(lag) => {
                    self.replication_lag.get_or_create(&label).set(lag);
                }
                None => {
                    self.replication_lag.remove(&label);
                }
            }
        }
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

    pub fn count_confirmation(&self, path: &str) {
        self.confirmations
            .get_or_create(&PathLabel { path: path.into() })
            .inc();
    }

    pub fn count_action(&self, region: &str, action: &str) {
        self.actions
            .get_or_create(&ActionLabel {
                region: region.into(),
                action: action.into(),
            })
            .inc();
    }

    /// Counts an error of a Route 53 call if it was throttling.
    pub fn count_if_throttled(&self, error: &str) {
        if error.contains("Throttling") || error.contains("PriorRequestNotComplete") {
            self.route53_throttled.inc();
        }
    }
}
