//! The status document: one region's and the whole deployment's state as the API
//! serves it and the CLI prints it. Pure: built from the controller's shared state (or,
//! for `geoplan status CONFIG`, from what was read from AWS directly).

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::control::controller::Shared;
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
    pub health_checks: crate::control::switches::CheckIds,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct StatusDoc {
    pub deployment: String,
    pub pattern: String,
    pub auto_failover: bool,
    pub started_at: Option<String>,
    pub regions: Vec<RegionDoc>,
    pub routing: Vec<RecordRouting>,
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
        })
        .collect();
    let routing = routing_of(&deployment.records, &regions);
    StatusDoc {
        deployment: deployment.name.clone(),
        pattern: deployment.pattern.to_owned(),
        auto_failover: deployment.automatic,
        started_at: time(Some(shared.started)),
        regions,
        routing,
    }
}
