//! The status document: one region's and the whole deployment's state as the API
//! serves it and the CLI prints it. Pure: built from the controller's shared state (or,
//! for `geoplan status CONFIG`, from what was read from AWS directly).

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::control::controller::Shared;
use crate::control::failback::{Gate, Recovery, TableLag};
use crate::control::failover::Switch;
use crate::control::routing::{self, RecordRouting};
use crate::deploy::model::Record;

/// Facts about the deployment that do not change while serving.
#[derive(Debug)]
pub struct Deployment {
    pub name: String,
    pub pattern: &'static str,
    pub automatic: bool,
    pub records: Vec<Record>,
    /// The path every flip takes (`route53`, `arc` or `both`).
    pub switch: &'static str,
}

fn time(t: Option<SystemTime>) -> Option<String> {
    t.map(|t| humantime::format_rfc3339_millis(t).to_string())
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct ProbeDoc {
    pub at: Option<String>,
    pub ok: bool,
    pub latency_ms: f64,
    pub error: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct SwitchDoc {
    pub in_service: bool,
    pub cause: Option<String>,
    pub reason: Option<String>,
    pub since: Option<String>,
}

impl From<&Switch> for SwitchDoc {
    fn from(s: &Switch) -> Self {
        SwitchDoc {
            in_service: s.in_service,
            cause: s.cause.map(|c| c.as_str().to_owned()),
            reason: s.reason.clone(),
            since: time(s.since),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct RegionDoc {
    pub name: String,
    pub verdict: String,
    pub verdict_since: Option<String>,
    pub consecutive_failures: u32,
    pub consecutive_successes: u32,
    pub last_probe: Option<ProbeDoc>,
    /// Route 53's own view of the endpoint check (always healthy in the emulator).
    pub route53_healthy: Option<bool>,
    pub switch: SwitchDoc,
    pub health_checks: crate::deploy::outputs::CheckIds,
    /// With several instances: the verdict decisions act on (the quorum of the live
    /// vantage points), and each other live instance's verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vantages: Vec<VantageDoc>,
    /// While a region that replicated tables reach is out of service: the failback
    /// gate it must pass to return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failback: Option<FailbackDoc>,
    /// The figures of the region's last confirmed flip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<RecoveryDoc>,
    /// Where the region is, for a map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationDoc>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct FailbackDoc {
    pub open: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_since: Option<String>,
    pub tables: Vec<LagDoc>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct LagDoc {
    pub table: String,
    pub lag_seconds: Option<f64>,
    pub age_seconds: Option<f64>,
}

impl From<&TableLag> for LagDoc {
    fn from(l: &TableLag) -> LagDoc {
        LagDoc {
            table: l.table.clone(),
            lag_seconds: l.lag_seconds,
            age_seconds: l.age_seconds,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct RecoveryDoc {
    pub kind: String,
    pub at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_time_seconds: Option<f64>,
    /// To the DNS answer without the region, where observable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_seconds: Option<f64>,
    /// Take-outs: the DNS watch (`watching`, `left`, `stayed`, `unobservable`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recovery_point: Vec<LagDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_for_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_for_seconds: Option<f64>,
}

impl From<&Recovery> for RecoveryDoc {
    fn from(r: &Recovery) -> RecoveryDoc {
        RecoveryDoc {
            kind: r.kind.to_owned(),
            at: time(Some(r.at)),
            recovery_time_seconds: r.recovery_time.map(|d| d.as_secs_f64()),
            dns_seconds: r.dns_time.map(|d| d.as_secs_f64()),
            dns: match (r.recovery_time, r.dns_outcome) {
                (_, Some(o)) => Some(o.to_owned()),
                (Some(_), None) => Some("watching".to_owned()),
                (None, None) => None,
            },
            recovery_point: r.recovery_point.iter().map(LagDoc::from).collect(),
            out_for_seconds: r.out_for.map(|d| d.as_secs_f64()),
            held_for_seconds: r.held_for.map(|d| d.as_secs_f64()),
        }
    }
}

/// The gate of a region out of service, with each table's newest lag into it.
fn failback_doc(r: &crate::control::core::RegionState) -> Option<FailbackDoc> {
    let gate = r.failback.as_ref()?;
    let tables = r
        .replication
        .as_ref()
        .map(|x| crate::control::failback::lags(&x.inbound))
        .unwrap_or_default();
    let (open, why, message) = match gate {
        Gate::Open => (true, None, None),
        Gate::Held { why, message } => {
            (false, Some(why.as_str().to_owned()), Some(message.clone()))
        }
    };
    Some(FailbackDoc {
        open,
        why,
        message,
        held_since: time(r.held_since),
        tables: tables.iter().map(LagDoc::from).collect(),
    })
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct LocationDoc {
    pub place: String,
    pub lat: f64,
    pub lon: f64,
}

impl LocationDoc {
    pub fn of(region: &str) -> Option<LocationDoc> {
        crate::aws::regions::location(region).map(|(place, lat, lon)| LocationDoc {
            place: place.to_owned(),
            lat,
            lon,
        })
    }
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct VantageDoc {
    pub instance: String,
    pub verdict: String,
}

/// Several instances: who acts and who is alive, as this instance sees it.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct ControlDoc {
    /// The instance answering.
    pub instance: String,
    pub is_actor: bool,
    pub actor: Option<ActorDoc>,
    pub instances: Vec<InstanceDoc>,
    pub tables_reachable: usize,
    pub tables: usize,
    pub leadership_changes: u64,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct ActorDoc {
    pub instance: String,
    pub epoch: u64,
    pub addr: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct InstanceDoc {
    pub instance: String,
    pub addr: String,
    /// Since its heartbeat last changed, by the answering instance's clock.
    pub silent_ms: u64,
    pub fresh: bool,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct StatusDoc {
    pub deployment: String,
    pub pattern: String,
    pub auto_failover: bool,
    /// The path every flip takes: `route53` (`UpdateHealthCheck`, Route 53's control
    /// plane), `arc` (a routing control on ARC's cluster endpoints), or `both`.
    pub switch: String,
    pub started_at: Option<String>,
    pub regions: Vec<RegionDoc>,
    pub routing: Vec<RecordRouting>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<ControlDoc>,
}

/// Effective routing as Route 53 decides it: by its own view of each endpoint check
/// (as last read) and the switch.
pub fn routing_of(records: &[Record], regions: &[RegionDoc]) -> Vec<RecordRouting> {
    let healthy = |name: &str| {
        regions
            .iter()
            .any(|r| r.name == name && r.switch.in_service && r.route53_healthy != Some(false))
    };
    routing::effective(records, &healthy)
}

/// Puts each name's DNS answer (as last asked) beside geoplan's routing of it.
pub fn with_dns(
    routing: &mut [RecordRouting],
    records: &[Record],
    answers: &std::collections::BTreeMap<String, crate::control::dns::Answer>,
) {
    for r in routing {
        if let Some(a) = answers.get(&r.name) {
            r.dns = Some(crate::control::dns::doc(records, r, a));
        }
    }
}

/// The status document of a running control plane.
pub fn document(shared: &Shared, deployment: &Deployment) -> StatusDoc {
    let regions: Vec<RegionDoc> = shared
        .regions
        .iter()
        .map(|r| RegionDoc {
            name: r.name.clone(),
            verdict: r.tracker.verdict.as_str().to_owned(),
            verdict_since: time(r.tracker.since),
            consecutive_failures: r.tracker.consecutive_failures,
            consecutive_successes: r.tracker.consecutive_successes,
            last_probe: r.tracker.last_probe.as_ref().map(|p| ProbeDoc {
                at: time(Some(p.at)),
                ok: p.ok,
                latency_ms: p.latency.as_secs_f64() * 1e3,
                error: p.error.clone(),
            }),
            route53_healthy: r.route53_status,
            switch: SwitchDoc::from(&r.switch),
            health_checks: r.checks.clone(),
            decided: shared
                .control
                .as_ref()
                .map(|_| r.decided.as_str().to_owned()),
            vantages: r
                .vantages
                .iter()
                .map(|(instance, v)| VantageDoc {
                    instance: instance.clone(),
                    verdict: v.as_str().to_owned(),
                })
                .collect(),
            failback: failback_doc(r),
            recovery: r.recovery.as_ref().map(RecoveryDoc::from),
            location: LocationDoc::of(&r.name),
        })
        .collect();
    let control = shared.control.as_ref().map(|c| ControlDoc {
        instance: c.instance.clone(),
        // Now, not when the snapshot was taken: a lease runs out between snapshots.
        is_actor: c.view.is_actor(crate::control::clock::Moment::now()),
        actor: c.view.actor.as_ref().map(|a| ActorDoc {
            instance: a.holder.clone(),
            epoch: a.epoch,
            addr: a.addr.clone(),
        }),
        instances: c
            .view
            .vantages
            .iter()
            .map(|v| InstanceDoc {
                instance: v.instance.clone(),
                addr: v.addr.clone(),
                silent_ms: v
                    .silent_for(crate::control::clock::Moment::now(), c.view.lease)
                    .as_millis() as u64,
                fresh: v.fresh,
            })
            .collect(),
        tables_reachable: c.view.tables_reachable,
        tables: c.view.tables,
        leadership_changes: c.view.leadership_changes,
    });
    let mut routing = routing_of(&deployment.records, &regions);
    with_dns(&mut routing, &deployment.records, &shared.dns);
    StatusDoc {
        deployment: deployment.name.clone(),
        pattern: deployment.pattern.to_owned(),
        auto_failover: deployment.automatic,
        switch: deployment.switch.to_owned(),
        started_at: time(Some(shared.started)),
        regions,
        routing,
        control,
    }
}
