//! Routing as DNS answers it: Route 53's `TestDNSAnswer` for each record name, mapped
//! back to regions by the records' values, shown beside geoplan's own view
//! (`control::routing`) with any difference flagged. `answer` is the IO; the rest is
//! pure.

use std::time::SystemTime;

use crate::control::routing::{DnsDoc, RecordRouting};
use crate::control::switches::SwitchError;
use crate::deploy::model::Record;

/// What `TestDNSAnswer` said for one name, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub response_code: String,
    pub values: Vec<String>,
    pub at: SystemTime,
}

/// Asks Route 53 what it answers for `name` (`rtype`) in `zone_id`, as a resolver
/// with no client subnet would be answered.
pub async fn answer(
    client: &aws_sdk_route53::Client,
    zone_id: &str,
    name: &str,
    rtype: &str,
) -> Result<Answer, SwitchError> {
    let out = client
        .test_dns_answer()
        .hosted_zone_id(zone_id)
        .record_name(name)
        .record_type(aws_sdk_route53::types::RrType::from(rtype))
        .send()
        .await
        .map_err(|e| SwitchError::Api(crate::aws::explain("Route 53", "TestDNSAnswer", &e)))?;
    Ok(Answer {
        response_code: out.response_code().to_owned(),
        values: out.record_data().to_vec(),
        at: SystemTime::now(),
    })
}

/// The hosted zone's id: the configured one, or found by name.
pub async fn zone_id(
    client: &aws_sdk_route53::Client,
    config: &crate::config::Config,
) -> Result<String, SwitchError> {
    match &config.dns.zone_id {
        Some(id) => Ok(id.clone()),
        None => zone_id_by_name(client, &config.dns.zone).await,
    }
}

/// The id of the hosted zone named `zone`.
pub async fn zone_id_by_name(
    client: &aws_sdk_route53::Client,
    zone: &str,
) -> Result<String, SwitchError> {
    let zone = zone.trim_end_matches('.');
    let out = client
        .list_hosted_zones_by_name()
        .dns_name(zone)
        .max_items(1)
        .send()
        .await
        .map_err(|e| {
            SwitchError::Api(crate::aws::explain("Route 53", "ListHostedZonesByName", &e))
        })?;
    out.hosted_zones()
        .iter()
        .find(|z| z.name().trim_end_matches('.') == zone)
        .map(|z| z.id().trim_start_matches("/hostedzone/").to_owned())
        .ok_or_else(|| SwitchError::NoZone(zone.to_owned()))
}

/// The names to ask about, with their record type: those geoplan's view routes.
pub fn names(records: &[Record]) -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = Vec::new();
    for r in records {
        if !out.iter().any(|(n, _)| n == &r.name) {
            out.push((r.name.clone(), r.kind));
        }
    }
    out
}

/// The regions whose records hold one of `values`, in the records' order.
pub fn regions_of(records: &[Record], values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in records {
        let Some(region) = &r.region else { continue };
        if r.values.iter().any(|v| values.contains(v)) && !out.contains(region) {
            out.push(region.clone());
        }
    }
    out
}

/// The answer beside `routing`: it differs when it holds a value that only regions
/// geoplan does not route to hold, or, while geoplan routes to some, none of theirs (a
/// value several regions' records share counts for each; an answer holding values of
/// no record, an alias target's, is not counted against either).
pub fn doc(records: &[Record], routing: &RecordRouting, answer: &Answer) -> DnsDoc {
    let regions = regions_of(records, &answer.values);
    let routed = |r: &str| routing.regions.iter().any(|x| x == r);
    let foreign = answer.values.iter().any(|v| {
        let holders = regions_of(records, std::slice::from_ref(v));
        !holders.is_empty() && !holders.iter().any(|h| routed(h))
    });
    let missing = !routing.regions.is_empty()
        && (answer.values.is_empty()
            || (!regions.is_empty() && !regions.iter().any(|r| routed(r))));
    DnsDoc {
        regions,
        values: answer.values.clone(),
        response_code: answer.response_code.clone(),
        checked_at: humantime::format_rfc3339_millis(answer.at).to_string(),
        differs: foreign || missing || answer.response_code != "NOERROR",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, region: &str, value: &str) -> Record {
        Record {
            resource: format!("r_{region}"),
            comment: String::new(),
            name: name.into(),
            kind: "A",
            ttl: Some(60),
            values: vec![value.into()],
            alias: None,
            set_identifier: Some(format!("api-{region}")),
            latency_region: Some(region.into()),
            failover: None,
            health_check: Some(region.into()),
            region: Some(region.into()),
            data_tables: Vec::new(),
        }
    }

    fn routing(regions: &[&str]) -> RecordRouting {
        RecordRouting {
            name: "api.x".into(),
            policy: "latency".into(),
            regions: regions.iter().map(|r| (*r).to_owned()).collect(),
            fail_open: false,
            dns: None,
        }
    }

    fn answer(values: &[&str]) -> Answer {
        Answer {
            response_code: "NOERROR".into(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
            at: std::time::UNIX_EPOCH,
        }
    }

    #[test]
    fn an_answer_agrees_when_it_names_only_regions_geoplan_routes_to() {
        let records = [
            record("api.x", "us-east-1", "192.0.2.1"),
            record("api.x", "eu-west-1", "192.0.2.2"),
        ];
        let both = routing(&["us-east-1", "eu-west-1"]);
        // Latency routing answers one region of the two to one resolver.
        let d = doc(&records, &both, &answer(&["192.0.2.2"]));
        assert_eq!(d.regions, ["eu-west-1"]);
        assert!(!d.differs);
        // geoplan took eu-west-1 out; DNS still answers it.
        let d = doc(&records, &routing(&["us-east-1"]), &answer(&["192.0.2.2"]));
        assert!(d.differs);
        // An empty answer while geoplan routes somewhere.
        let d = doc(&records, &both, &answer(&[]));
        assert!(d.differs);
        // A value of no record (an alias target's) is not a difference.
        let d = doc(&records, &both, &answer(&["198.51.100.7"]));
        assert!(d.regions.is_empty() && !d.differs, "{d:?}");
        // Two regions behind one address: the answer is geoplan's region's too.
        let shared = [
            record("api.x", "us-east-1", "127.0.0.1"),
            record("api.x", "eu-west-1", "127.0.0.1"),
        ];
        let d = doc(&shared, &routing(&["us-east-1"]), &answer(&["127.0.0.1"]));
        assert!(!d.differs, "{d:?}");
        // NXDOMAIN or SERVFAIL is.
        let mut a = answer(&[]);
        a.response_code = "NXDOMAIN".into();
        assert!(doc(&records, &both, &a).differs);
    }
}
