//! The desired state: what a validated config asks to exist, named and shaped for
//! rendering. Pure: a `Config` in, a `Module` out.
//!
//! Invariants kept here (and pinned by the golden files):
//! - set identifiers are `<label>-<region>`, unique across names, never reused;
//! - every record that routes by latency or failover carries its region's
//!   CALCULATED health check, which is healthy only while the endpoint check and the
//!   geoplan-owned switch check are both healthy;
//! - resource names depend only on the config, so output is byte-for-byte stable.

use serde::Serialize;

use crate::aws::regions::ROUTE53_CONTROL_REGION;
use crate::config::{
    Backend, Billing, Config, Encryption, Endpoint, Key, Pattern, Projection, Protocol, S3Backend,
    StreamView, SwitchPath,
};

/// One Terraform root module's worth of desired state.
#[derive(Debug, Clone, Serialize)]
pub struct Module {
    /// Where the config came from, for the generated-file header; safe inside a `#`
    /// comment (see `comment_text`).
    pub source: String,
    pub version: &'static str,
    pub name: String,
    pub pattern: &'static str,
    /// The default provider's region: Route 53 is a global service served from here.
    pub route53_region: &'static str,
    pub providers: Vec<Provider>,
    pub emulator: Option<Emulator>,
    pub backend: Option<S3Backend>,
    pub zone: Zone,
    pub health_checks: Vec<CheckResources>,
    pub records: Vec<Record>,
    pub tables: Vec<TableResource>,
    /// The control tables of several `geoplan serve` instances (`[control]`).
    pub control: Option<ControlTables>,
    /// The ARC cluster, panel, routing controls and safety rule (`switch = "arc"`).
    pub arc: Option<ArcResources>,
}

/// With `switch = "arc"`, each region's switch is a RECOVERY_CONTROL health check that
/// reads a routing control of one cluster and control panel, guarded by an assertion
/// rule: at least `min_in_service` controls on.
#[derive(Debug, Clone, Serialize)]
pub struct ArcResources {
    /// The cluster's, the panel's and (suffixed by the region) the controls' name.
    pub name: String,
    /// `switch = "both"`: the routing control is a check of its own (`control_*`)
    /// beside the Route 53 switch, not the switch.
    pub both: bool,
    /// The rule's threshold; no rule when 0.
    pub min_in_service: u32,
    pub wait_period_ms: u128,
}

/// One plain DynamoDB table per control region, all of one name.
#[derive(Debug, Clone, Serialize)]
pub struct ControlTables {
    pub name: String,
    pub tables: Vec<Provider>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Provider {
    pub alias: String,
    pub region: String,
}

/// Settings that point the provider at a local AWS emulator. Present only when the
/// user configured an endpoint, so they never reach Terraform run against real AWS.
#[derive(Debug, Clone, Serialize)]
pub struct Emulator {
    pub endpoint_url: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Zone {
    pub name: String,
    /// An existing zone's id; `None` means the module creates the zone.
    pub id: Option<String>,
}

/// The three health checks of one region.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResources {
    pub region: String,
    /// The region as a Terraform identifier (`us_east_1`).
    pub ident: String,
    pub endpoint: EndpointCheck,
    /// Each check's `reference_name`, which prefixes its caller reference so a check
    /// whose create was cut short can be found again (see `deploy::adopt`).
    pub references: CheckReferences,
    /// The tables holding data in this region (`aws_dynamodb_table.<name>`): the
    /// region's check and records wait for them, so a region added to a live
    /// deployment gets no traffic before its replicas are ACTIVE.
    pub data_tables: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReferences {
    pub endpoint: String,
    pub switch: String,
    pub region: String,
    /// The RECOVERY_CONTROL check of `switch = "both"`.
    pub control: String,
}

/// A check's reference name: at most 27 characters (Route 53's limit), so a hash of
/// the deployment name, the role's initial and the region's billing code
/// (`gp-1a2b3c4d-e-EUC1`).
pub fn check_reference(deployment: &str, role: &str, region: &str) -> String {
    // FNV-1a: stable across versions and platforms, unlike std's hasher.
    let hash = deployment.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let code = crate::aws::regions::BILLING_CODES
        .iter()
        .find(|(_, r)| *r == region)
        .map_or(region, |(c, _)| c);
    format!("gp-{hash:08x}-{}-{code}", &role[..1])
}

#[derive(Debug, Clone, Serialize)]
pub struct EndpointCheck {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub ip_address: Option<String>,
    pub fqdn: Option<String>,
    pub port: u16,
    pub resource_path: Option<String>,
    pub request_interval: u32,
    pub failure_threshold: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// Terraform resource name.
    pub resource: String,
    pub comment: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub ttl: Option<u32>,
    pub values: Vec<String>,
    pub alias: Option<AliasTarget>,
    pub set_identifier: Option<String>,
    pub latency_region: Option<String>,
    pub failover: Option<&'static str>,
    /// The region whose CALCULATED check guards this record.
    pub health_check: Option<String>,
    /// The region whose endpoint this record points at (none for the standby alias).
    pub region: Option<String>,
    /// The tables holding data in that region, which the record waits for.
    pub data_tables: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AliasTarget {
    pub name: String,
    /// An HCL expression: a quoted id or `local.zone_id`.
    pub zone_id: String,
    pub evaluate_target_health: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableResource {
    pub resource: String,
    pub name: String,
    pub provider: String,
    pub region: String,
    pub hash_key: String,
    pub range_key: Option<String>,
    pub attributes: Vec<Key>,
    pub billing_mode: &'static str,
    pub read_capacity: Option<u32>,
    pub write_capacity: Option<u32>,
    pub autoscaling: Option<crate::config::Autoscaling>,
    /// The stream's view type; `None` for no stream.
    pub stream_view_type: Option<&'static str>,
    pub on_demand_limits: Option<crate::config::OnDemandLimits>,
    pub global_indexes: Vec<GlobalIndexResource>,
    pub local_indexes: Vec<LocalIndexResource>,
    /// `None`: DynamoDB's own key (no `server_side_encryption` block).
    pub encryption: Option<Sse>,
    pub point_in_time_recovery: bool,
    pub deletion_protection: bool,
    pub ttl_attribute: Option<String>,
    /// Rendered only when not the default (STANDARD).
    pub table_class: Option<crate::config::TableClass>,
    pub replicas: Vec<Replica>,
    /// Every region holding the table (home first), with its provider alias.
    pub all_regions: Vec<Provider>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Replica {
    pub alias: String,
    pub region: String,
    /// The replica's customer-managed key, if the table has them.
    pub kms_key_arn: Option<String>,
}

/// `server_side_encryption`: enabled, with the home region's customer key or, without
/// one, the account's AWS-managed key.
#[derive(Debug, Clone, Serialize)]
pub struct Sse {
    pub kms_key_arn: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GlobalIndexResource {
    pub name: String,
    pub hash_key: String,
    pub range_key: Option<String>,
    pub projection_type: &'static str,
    pub non_key_attributes: Vec<String>,
    pub read_capacity: Option<u32>,
    pub write_capacity: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LocalIndexResource {
    pub name: String,
    pub range_key: String,
    pub projection_type: &'static str,
    pub non_key_attributes: Vec<String>,
}

/// `us-east-1` → `us_east_1`: a region or label as a Terraform identifier.
pub fn ident(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// A record name relative to its zone, for set identifiers: `api.example.com` in
/// `example.com` → `api`; `write.api.example.com` → `write-api`; the apex → `apex`.
pub fn label(name: &str, zone: &str) -> String {
    match name.strip_suffix(zone).and_then(|s| s.strip_suffix('.')) {
        Some(rel) if !rel.is_empty() => rel.replace('.', "-"),
        _ => "apex".to_owned(),
    }
}

/// Builds the desired state. `source` names the config in generated headers;
/// `endpoint_url` is the emulator endpoint in effect (config or environment).
pub fn build(config: &Config, source: &str, endpoint_url: Option<&str>) -> Module {
    let tables: Vec<TableResource> = config
        .tables
        .iter()
        .flat_map(|t| table_resources(config, t))
        .collect();
    let mut health_checks: Vec<CheckResources> = config
        .regions
        .iter()
        .map(|r| region_checks(config, r))
        .collect();
    let mut records = records(config);
    wait_for_data_tables(&mut health_checks, &mut records, &tables);
    let dns = &config.dns;
    Module {
        source: comment_text(source),
        version: env!("CARGO_PKG_VERSION"),
        name: config.name.clone(),
        pattern: config.pattern.as_str(),
        route53_region: ROUTE53_CONTROL_REGION,
        providers: providers(config),
        emulator: endpoint_url.map(|u| Emulator {
            endpoint_url: u.to_owned(),
        }),
        backend: match &config.terraform.backend {
            Backend::Local => None,
            Backend::S3(s3) => Some(s3.clone()),
        },
        zone: Zone {
            name: dns.zone.clone(),
            id: dns.zone_id.clone(),
        },
        health_checks,
        records,
        tables,
        control: control_tables(config),
        arc: config.monitor.switch.has_arc().then(|| ArcResources {
            name: format!("geoplan-{}", config.name),
            both: config.monitor.switch == SwitchPath::Both,
            min_in_service: config.monitor.min_in_service,
            wait_period_ms: config.monitor.arc_wait_period.as_millis(),
        }),
    }
}

/// A provider per deployment region, then one per control region that is not one.
fn providers(config: &Config) -> Vec<Provider> {
    let mut providers: Vec<Provider> = config.regions.iter().map(|r| provider(&r.name)).collect();
    for r in config.control.iter().flat_map(|c| &c.regions) {
        if !providers.iter().any(|p| &p.region == r) {
            providers.push(provider(r));
        }
    }
    providers
}

fn provider(region: &str) -> Provider {
    Provider {
        alias: ident(region),
        region: region.to_owned(),
    }
}

fn control_tables(config: &Config) -> Option<ControlTables> {
    config.control.as_ref().map(|c| ControlTables {
        name: crate::config::ControlSettings::table(&config.name),
        tables: c.regions.iter().map(|r| provider(r)).collect(),
    })
}

/// The three health checks of one region; `data_tables` is left to
/// [`wait_for_data_tables`].
fn region_checks(config: &Config, r: &crate::config::Region) -> CheckResources {
    let (ip_address, fqdn) = match &r.endpoint {
        Endpoint::Ipv4(ip) => (Some(ip.to_string()), None),
        Endpoint::Ipv6(ip) => (Some(ip.to_string()), None),
        Endpoint::Hostname(h) => (None, Some(h.clone())),
        Endpoint::Alias { name, .. } => (None, Some(name.clone())),
    };
    CheckResources {
        region: r.name.clone(),
        ident: ident(&r.name),
        references: CheckReferences {
            endpoint: check_reference(&config.name, "endpoint", &r.name),
            switch: check_reference(&config.name, "switch", &r.name),
            region: check_reference(&config.name, "region", &r.name),
            control: check_reference(&config.name, "control", &r.name),
        },
        endpoint: EndpointCheck {
            kind: r.health.protocol.as_str(),
            ip_address,
            fqdn,
            port: r.health.port,
            resource_path: if r.health.protocol == Protocol::Tcp {
                None
            } else {
                r.health.path.clone()
            },
            request_interval: r.health.interval,
            failure_threshold: r.health.failure_threshold,
        },
        data_tables: Vec::new(),
    }
}

/// The records the pattern routes by; `data_tables` is left to
/// [`wait_for_data_tables`].
fn records(config: &Config) -> Vec<Record> {
    // route53.tf defines `local.zone_id` for a created or an existing zone alike.
    let zone_expr = "local.zone_id";
    let mut records = Vec::new();
    let dns = &config.dns;
    match config.pattern {
        Pattern::ActiveActive => {
            latency_records(
                &mut records,
                config,
                &dns.record,
                "serves clients from the nearest healthy region",
            );
        }
        Pattern::ActivePassive => {
            failover_records(&mut records, config, &dns.record, zone_expr);
        }
        Pattern::ReadLocalWriteGlobal => {
            latency_records(
                &mut records,
                config,
                &dns.record,
                "reads: the nearest healthy region",
            );
            let write = dns
                .write_record
                .as_deref()
                .expect("validated: read-local-write-global has a write record");
            failover_records(&mut records, config, write, zone_expr);
        }
        Pattern::Partitioned => {
            latency_records(
                &mut records,
                config,
                &dns.record,
                "new clients: the nearest healthy region",
            );
            for r in &config.regions {
                let mut rec = endpoint_record(config, r, &format!("{}.{}", r.name, dns.record));
                rec.resource = format!("pinned_{}", ident(&r.name));
                rec.comment = format!("pins clients to their home region {}", r.name);
                records.push(rec);
            }
        }
    }
    records
}

/// A table's name in AWS: the deployment's name, then the table's.
pub fn table_name(config: &Config, t: &crate::config::Table) -> String {
    format!("{}-{}", config.name, t.name)
}

/// The tables DynamoDB replicates between regions (global tables with a replica in
/// more than one region): each one's name in AWS and its regions, home first.
pub fn replicated_tables(config: &Config) -> Vec<(String, Vec<String>)> {
    if !config.pattern.replicates_tables() {
        return Vec::new();
    }
    config
        .tables
        .iter()
        .filter(|t| t.regions.len() > 1)
        .map(|t| (table_name(config, t), t.regions.clone()))
        .collect()
}

/// One table of the config as DynamoDB resources: a global table with its replicas
/// when the pattern replicates tables, else an independent table in each region.
fn table_resources(config: &Config, t: &crate::config::Table) -> Vec<TableResource> {
    let home = home_table(config, t);
    if config.pattern.replicates_tables() {
        vec![global_table(home, t)]
    } else {
        t.regions
            .iter()
            .map(|r| TableResource {
                resource: format!("{}_{}", ident(&t.name), ident(r)),
                provider: ident(r),
                region: r.clone(),
                encryption: sse_in(t, r),
                all_regions: vec![provider(r)],
                ..home.clone()
            })
            .collect()
    }
}

/// The table in its first region, with no replicas yet.
fn home_table(config: &Config, t: &crate::config::Table) -> TableResource {
    let (billing_mode, read_capacity, write_capacity, autoscaling) = match &t.billing {
        Billing::OnDemand => ("PAY_PER_REQUEST", None, None, None),
        Billing::Provisioned {
            read_capacity,
            write_capacity,
            autoscaling,
        } => (
            "PROVISIONED",
            Some(*read_capacity),
            Some(*write_capacity),
            autoscaling.clone(),
        ),
    };
    TableResource {
        resource: ident(&t.name),
        name: table_name(config, t),
        provider: ident(&t.regions[0]),
        region: t.regions[0].clone(),
        hash_key: t.partition_key.name.clone(),
        range_key: t.sort_key.as_ref().map(|k| k.name.clone()),
        attributes: t.attributes.clone(),
        billing_mode,
        read_capacity,
        write_capacity,
        autoscaling,
        stream_view_type: t.stream.map(|v| v.as_str()),
        on_demand_limits: t.on_demand_limits,
        global_indexes: global_index_resources(t),
        local_indexes: local_index_resources(t),
        encryption: sse_in(t, &t.regions[0]),
        point_in_time_recovery: t.point_in_time_recovery,
        deletion_protection: t.deletion_protection,
        ttl_attribute: t.ttl_attribute.clone(),
        table_class: (t.table_class != crate::config::TableClass::Standard)
            .then_some(t.table_class),
        replicas: Vec::new(),
        all_regions: Vec::new(),
    }
}

/// The home table with a replica in each of the table's other regions.
fn global_table(home: TableResource, t: &crate::config::Table) -> TableResource {
    let replicas: Vec<Replica> = t.regions[1..]
        .iter()
        .map(|r| Replica {
            alias: ident(r),
            region: r.clone(),
            kms_key_arn: kms_key_in(t, r),
        })
        .collect();
    TableResource {
        // Replication runs on the stream, with both images.
        stream_view_type: if replicas.is_empty() {
            home.stream_view_type
        } else {
            Some(StreamView::NewAndOldImages.as_str())
        },
        replicas,
        all_regions: t.regions.iter().map(|r| provider(r)).collect(),
        ..home
    }
}

fn global_index_resources(t: &crate::config::Table) -> Vec<GlobalIndexResource> {
    t.global_indexes
        .iter()
        .map(|g| GlobalIndexResource {
            name: g.name.clone(),
            hash_key: g.partition_key.name.clone(),
            range_key: g.sort_key.as_ref().map(|k| k.name.clone()),
            projection_type: g.projection.as_str(),
            non_key_attributes: non_key_attributes(&g.projection),
            read_capacity: g.capacity.map(|c| c.0),
            write_capacity: g.capacity.map(|c| c.1),
        })
        .collect()
}

fn local_index_resources(t: &crate::config::Table) -> Vec<LocalIndexResource> {
    t.local_indexes
        .iter()
        .map(|l| LocalIndexResource {
            name: l.name.clone(),
            range_key: l.sort_key.name.clone(),
            projection_type: l.projection.as_str(),
            non_key_attributes: non_key_attributes(&l.projection),
        })
        .collect()
}

fn non_key_attributes(p: &Projection) -> Vec<String> {
    match p {
        Projection::Include(a) => a.clone(),
        _ => Vec::new(),
    }
}

/// The table's customer-managed key in `region`, if it has them.
fn kms_key_in(t: &crate::config::Table, region: &str) -> Option<String> {
    match &t.encryption {
        Encryption::Kms(keys) => keys.get(region).cloned(),
        _ => None,
    }
}

/// `server_side_encryption` in `region`; `None` for DynamoDB's own key.
fn sse_in(t: &crate::config::Table, region: &str) -> Option<Sse> {
    match &t.encryption {
        Encryption::AwsOwned => None,
        _ => Some(Sse {
            kms_key_arn: kms_key_in(t, region),
        }),
    }
}

/// Makes each region's check, and the records pointing at the region, wait for the
/// tables holding data there.
fn wait_for_data_tables(
    checks: &mut [CheckResources],
    records: &mut [Record],
    tables: &[TableResource],
) {
    for c in checks.iter_mut() {
        c.data_tables = tables
            .iter()
            .filter(|t| t.all_regions.iter().any(|r| r.region == c.region))
            .map(|t| format!("aws_dynamodb_table.{}", t.resource))
            .collect();
    }
    for r in records.iter_mut() {
        if let Some(region) = &r.region {
            r.data_tables = checks
                .iter()
                .find(|c| &c.region == region)
                .map(|c| c.data_tables.clone())
                .unwrap_or_default();
        }
    }
}

/// A record pointing at one region's endpoint, with no routing policy yet.
fn endpoint_record(config: &Config, region: &crate::config::Region, name: &str) -> Record {
    let (ttl, values, alias) = match &region.endpoint {
        Endpoint::Ipv4(ip) => (Some(config.dns.ttl), vec![ip.to_string()], None),
        Endpoint::Ipv6(ip) => (Some(config.dns.ttl), vec![ip.to_string()], None),
        Endpoint::Hostname(h) => (Some(config.dns.ttl), vec![h.clone()], None),
        Endpoint::Alias { name, zone_id } => (
            None,
            Vec::new(),
            Some(AliasTarget {
                name: name.clone(),
                zone_id: hcl_string(zone_id),
                evaluate_target_health: true,
            }),
        ),
    };
    Record {
        resource: String::new(),
        comment: String::new(),
        name: name.to_owned(),
        kind: region.endpoint.record_type(),
        ttl,
        values,
        alias,
        set_identifier: None,
        latency_region: None,
        failover: None,
        health_check: None,
        region: Some(region.name.clone()),
        data_tables: Vec::new(),
    }
}

fn latency_records(out: &mut Vec<Record>, config: &Config, name: &str, why: &str) {
    latency_records_for(out, config, name, config.regions.iter(), why);
}

fn latency_records_for<'a>(
    out: &mut Vec<Record>,
    config: &Config,
    name: &str,
    regions: impl Iterator<Item = &'a crate::config::Region>,
    why: &str,
) {
    let label = label(name, &config.dns.zone);
    for r in regions {
        let mut rec = endpoint_record(config, r, name);
        rec.resource = format!("latency_{}_{}", ident(&label), ident(&r.name));
        rec.comment = format!("{name} in {}: {why}", r.name);
        rec.set_identifier = Some(format!("{label}-{}", r.name));
        rec.latency_region = Some(r.name.clone());
        rec.health_check = Some(ident(&r.name));
        out.push(rec);
    }
}

fn failover_records(out: &mut Vec<Record>, config: &Config, name: &str, zone_expr: &str) {
    let label = label(name, &config.dns.zone);
    let primary = config
        .regions
        .iter()
        .find(|r| r.primary)
        .expect("validated: exactly one primary");
    let mut rec = endpoint_record(config, primary, name);
    rec.resource = format!("failover_{}_primary", ident(&label));
    rec.comment = format!(
        "{name}: the primary region {} while it is healthy",
        primary.name
    );
    rec.set_identifier = Some(format!("{label}-{}", primary.name));
    rec.failover = Some("PRIMARY");
    rec.health_check = Some(ident(&primary.name));
    out.push(rec);

    let others: Vec<_> = config.regions.iter().filter(|r| !r.primary).collect();
    if let [only] = others.as_slice() {
        let mut rec = endpoint_record(config, only, name);
        rec.resource = format!("failover_{}_secondary", ident(&label));
        rec.comment = format!("{name}: {} when the primary is unhealthy", only.name);
        rec.set_identifier = Some(format!("{label}-{}", only.name));
        rec.failover = Some("SECONDARY");
        rec.health_check = Some(ident(&only.name));
        out.push(rec);
        return;
    }
    // Several standbys: the SECONDARY aliases a latency-routed name across them.
    let standby = format!("standby.{name}");
    out.push(Record {
        resource: format!("failover_{}_secondary", ident(&label)),
        comment: format!("{name}: the nearest healthy standby when the primary is unhealthy"),
        name: name.to_owned(),
        kind: primary.endpoint.record_type(),
        ttl: None,
        values: Vec::new(),
        alias: Some(AliasTarget {
            name: standby.clone(),
            zone_id: zone_expr.to_owned(),
            evaluate_target_health: true,
        }),
        set_identifier: Some(format!("{label}-standby")),
        latency_region: None,
        failover: Some("SECONDARY"),
        health_check: None,
        region: None,
        data_tables: Vec::new(),
    });
    latency_records_for(
        out,
        config,
        &standby,
        others.into_iter(),
        "a standby for the failover record",
    );
}

/// A string as an HCL literal: JSON escaping plus HCL's template sequences.
/// A quoted HCL string literal. HCL's escapes are `\\ \" \n \r \t \uNNNN`
/// (not JSON's `\b` or `\f`), and `${` / `%{` start templates unless doubled.
pub fn hcl_string(s: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text from outside (a file name) made safe for a `#` comment: a comment ends at a
/// line break, so control characters are shown escaped rather than written.
pub fn comment_text(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_relative_to_the_zone() {
        assert_eq!(label("api.example.com", "example.com"), "api");
        assert_eq!(label("write.api.example.com", "example.com"), "write-api");
        assert_eq!(label("example.com", "example.com"), "apex");
        assert_eq!(ident("us-east-1"), "us_east_1");
    }

    #[test]
    fn hcl_strings_escape_templates() {
        assert_eq!(hcl_string("a\"b"), r#""a\"b""#);
        assert_eq!(hcl_string("${x} %{y}"), r#""$${x} %%{y}""#);
        assert_eq!(hcl_string("$x %y"), r#""$x %y""#);
    }

    #[test]
    fn hcl_strings_use_hcl_escapes_only() {
        // JSON would write \b and \f, which terraform rejects as invalid escapes.
        assert_eq!(hcl_string("/a\u{8}b\u{c}c"), r#""/a\u0008b\u000Cc""#);
        assert_eq!(hcl_string("tab\there\nline\\"), r#""tab\there\nline\\""#);
        assert_eq!(hcl_string("é ü"), "\"é ü\"");
    }

    #[test]
    fn comment_text_cannot_end_the_comment() {
        assert_eq!(
            comment_text("evil\nlocals { injected = \"pwned\" }\n#.toml"),
            "evil\\nlocals { injected = \"pwned\" }\\n#.toml"
        );
        assert_eq!(comment_text("regions.toml"), "regions.toml");
    }

    #[test]
    fn check_references_fit_route53_and_tell_checks_apart() {
        let r = check_reference(
            "a-deployment-name-of-32-chars-xx",
            "endpoint",
            "ap-southeast-5",
        );
        assert!(r.len() <= 27, "{r}");
        assert_eq!(
            check_reference("shop", "switch", "eu-west-1"),
            check_reference("shop", "switch", "eu-west-1")
        );
        assert_ne!(
            check_reference("shop", "switch", "eu-west-1"),
            check_reference("shop", "region", "eu-west-1")
        );
        assert_ne!(
            check_reference("shop", "switch", "eu-west-1"),
            check_reference("blog", "switch", "eu-west-1")
        );
        assert!(check_reference("shop", "endpoint", "eu-central-1").ends_with("-e-EUC1"));
    }
}
