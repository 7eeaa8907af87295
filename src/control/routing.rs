//! Effective routing: which regions receive traffic for each record right now, by
//! Route 53's rules. Pure: the records from the model and a health predicate in.
//!
//! - latency: every healthy region; when none is healthy Route 53 fails open and
//!   answers as if all were healthy;
//! - failover: the primary while healthy, else the secondary (an alias with
//!   evaluate_target_health is healthy while any region behind it is); when both are
//!   unhealthy Route 53 fails open to the primary;
//! - simple records (partitioned pinning) carry no health check: always their region.

use serde::{Deserialize, Serialize};

use crate::deploy::model::Record;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordRouting {
    pub name: String,
    pub policy: String,
    /// Regions that receive traffic for this name.
    pub regions: Vec<String>,
    /// True when Route 53 is answering despite every candidate being unhealthy.
    pub fail_open: bool,
    /// What DNS answers for the name (`TestDNSAnswer`), when it has been asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsDoc>,
}

/// The DNS answer beside a record's routing, for the status document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsDoc {
    /// The regions whose records' values the answer holds.
    pub regions: Vec<String>,
    pub values: Vec<String>,
    pub response_code: String,
    pub checked_at: String,
    /// The answer names a region geoplan's view does not route to, or none of the
    /// regions it does.
    pub differs: bool,
}

/// Routing for every record name in the model, in model order.
pub fn effective(records: &[Record], healthy: &dyn Fn(&str) -> bool) -> Vec<RecordRouting> {
    let mut names: Vec<&str> = Vec::new();
    for r in records {
        if !names.contains(&r.name.as_str()) {
            names.push(&r.name);
        }
    }
    names
        .into_iter()
        .map(|n| route(records, n, healthy))
        .collect()
}

fn route(records: &[Record], name: &str, healthy: &dyn Fn(&str) -> bool) -> RecordRouting {
    let here: Vec<&Record> = records.iter().filter(|r| r.name == name).collect();
    // Records without a health check are always healthy to Route 53.
    let is_healthy =
        |r: &Record| r.health_check.is_none() || r.region.as_deref().is_some_and(healthy);
    if let Some(primary) = here.iter().find(|r| r.failover == Some("PRIMARY")) {
        let primary_region = primary.region.clone().unwrap_or_default();
        if is_healthy(primary) {
            return RecordRouting {
                name: name.into(),
                policy: "failover".into(),
                regions: vec![primary_region],
                fail_open: false,
                dns: None,
            };
        }
        if let Some(secondary) = here.iter().find(|r| r.failover == Some("SECONDARY")) {
            let (regions, ok) = match &secondary.alias {
                Some(alias) if secondary.region.is_none() => {
                    let behind = route(records, &alias.name, healthy);
                    (behind.regions, !behind.fail_open)
                }
                _ => (
                    secondary.region.iter().cloned().collect(),
                    is_healthy(secondary),
                ),
            };
            if ok {
                return RecordRouting {
                    name: name.into(),
                    policy: "failover".into(),
                    regions,
                    fail_open: false,
                    dns: None,
                };
            }
        }
        return RecordRouting {
            name: name.into(),
            policy: "failover".into(),
            regions: vec![primary_region],
            fail_open: true,
            dns: None,
        };
    }
    let latency: Vec<&&Record> = here.iter().filter(|r| r.latency_region.is_some()).collect();
    if !latency.is_empty() {
        let up: Vec<String> = latency
            .iter()
            .filter(|r| is_healthy(r))
            .filter_map(|r| r.region.clone())
            .collect();
        let fail_open = up.is_empty();
        let regions = if fail_open {
            latency.iter().filter_map(|r| r.region.clone()).collect()
        } else {
            up
        };
        return RecordRouting {
            name: name.into(),
            policy: "latency".into(),
            regions,
            fail_open,
            dns: None,
        };
    }
    RecordRouting {
        name: name.into(),
        policy: "simple".into(),
        regions: here.iter().filter_map(|r| r.region.clone()).collect(),
        fail_open: false,
        dns: None,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn module(pattern: &str, regions: &[(&str, bool)]) -> crate::deploy::model::Module {
        let mut text = format!(
            "name = \"t\"\npattern = \"{pattern}\"\n[dns]\nzone = \"example.com\"\nrecord = \"api.example.com\"\n"
        );
        for (i, (r, primary)) in regions.iter().enumerate() {
            text += &format!(
                "[[region]]\nname = \"{r}\"\nendpoint = \"192.0.2.{}\"\nprimary = {primary}\n",
                i + 1
            );
        }
        let (config, d) = crate::config::compile("t.toml", &text, Path::new("/"));
        assert!(!d.has_errors(), "{}", d.render(false));
        crate::deploy::model::build(&config.unwrap(), "t.toml", None)
    }

    fn regions_of(routing: &[RecordRouting], name: &str) -> (Vec<String>, bool) {
        let r = routing.iter().find(|r| r.name == name).unwrap();
        (r.regions.clone(), r.fail_open)
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn latency_routes_to_healthy_regions_and_fails_open() {
        let m = module(
            "active-active",
            &[("us-east-1", false), ("eu-west-1", false)],
        );
        let all = effective(&m.records, &|_| true);
        assert_eq!(
            regions_of(&all, "api.example.com"),
            (s(&["us-east-1", "eu-west-1"]), false)
        );
        let one = effective(&m.records, &|r| r == "eu-west-1");
        assert_eq!(
            regions_of(&one, "api.example.com"),
            (s(&["eu-west-1"]), false)
        );
        let none = effective(&m.records, &|_| false);
        assert_eq!(
            regions_of(&none, "api.example.com"),
            (s(&["us-east-1", "eu-west-1"]), true)
        );
    }

    #[test]
    fn failover_goes_to_the_nearest_healthy_standby_then_fails_open_to_the_primary() {
        let m = module(
            "active-passive",
            &[
                ("us-east-1", true),
                ("us-west-2", false),
                ("eu-west-1", false),
            ],
        );
        assert_eq!(
            regions_of(&effective(&m.records, &|_| true), "api.example.com"),
            (s(&["us-east-1"]), false)
        );
        let primary_down = effective(&m.records, &|r| r != "us-east-1");
        assert_eq!(
            regions_of(&primary_down, "api.example.com"),
            (s(&["us-west-2", "eu-west-1"]), false)
        );
        let one_standby = effective(&m.records, &|r| r == "eu-west-1");
        assert_eq!(
            regions_of(&one_standby, "api.example.com"),
            (s(&["eu-west-1"]), false)
        );
        let none = effective(&m.records, &|_| false);
        assert_eq!(
            regions_of(&none, "api.example.com"),
            (s(&["us-east-1"]), true)
        );
    }

    #[test]
    fn write_record_fails_over_to_the_single_secondary() {
        let m = module(
            "read-local-write-global",
            &[("us-east-1", true), ("eu-central-1", false)],
        );
        let routing = effective(&m.records, &|r| r != "us-east-1");
        assert_eq!(
            regions_of(&routing, "api.example.com"),
            (s(&["eu-central-1"]), false)
        );
        assert_eq!(
            regions_of(&routing, "write.api.example.com"),
            (s(&["eu-central-1"]), false)
        );
    }

    #[test]
    fn pinned_records_ignore_health() {
        let m = module(
            "partitioned",
            &[("eu-west-1", false), ("ap-southeast-2", false)],
        );
        let routing = effective(&m.records, &|_| false);
        assert_eq!(
            regions_of(&routing, "eu-west-1.api.example.com"),
            (s(&["eu-west-1"]), false)
        );
        assert_eq!(
            routing
                .iter()
                .find(|r| r.name == "eu-west-1.api.example.com")
                .unwrap()
                .policy,
            "simple"
        );
    }
}
