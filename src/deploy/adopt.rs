//! Adoption of what exists in AWS but not in Terraform's state, through `import {}`
//! blocks (Terraform ≥ 1.5). To adopt, here and in `geoplan adopt`, is to have
//! Terraform import a resource instead of creating it. Two modes:
//!
//! - **Leftovers**, before every apply's plan. An interrupted apply leaves resources
//!   the state lacks: terraform's graceful stop cancels the provider's in-flight calls,
//!   and a create that reached AWS before its response was cancelled is never
//!   recorded, so the next apply would create a second one (a second hosted zone) or
//!   fail (`Table already exists`). Only geoplan's own resources are looked for.
//! - **Adopt** (`geoplan adopt`): what a team made by hand before geoplan. The zone
//!   by name whatever its comment, an endpoint health check by what it probes, and
//!   what cannot be imported without losing data or traffic is refused with the
//!   reason (a table with other keys, a simple record where routed ones go).
//!
//! Natural keys: the hosted zone by name (and geoplan's comment, for leftovers); a
//! health check by the `reference_name` that prefixes its caller reference; a record
//! by name, type and set identifier; a table by name in its home region.
//!
//! [`find`] only looks. Several checks of one reference are cut-short creates of one
//! check: `find` imports the newest and lists the others, which
//! [`delete_duplicate_checks`] deletes (both modes).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::deploy::model::{Module, hcl_string};

/// The generated file holding the import blocks; removed once they have been applied.
pub const IMPORTS_FILE: &str = "geoplan_imports.tf";

/// What the module wants, and how to find it in AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub address: String,
    /// The provider alias for resources outside the default provider's region.
    pub provider: Option<String>,
    pub key: Key,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Zone {
        name: String,
        comment: String,
    },
    HealthCheck {
        reference: String,
        /// What an endpoint check probes, to recognise one made by hand.
        probes: Option<Probe>,
    },
    Record {
        name: String,
        kind: String,
        set_identifier: Option<String>,
    },
    Table(TableKey),
}

/// A table by name in its home region, and what an existing one must already be to
/// be imported (adopt mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableKey {
    pub name: String,
    pub region: String,
    /// `name:TYPE` of the partition key, then of the sort key.
    pub keys: Vec<String>,
    pub local_indexes: Vec<String>,
    /// The other regions holding the table: replicas to add.
    pub replicas: Vec<String>,
}

/// What an endpoint health check probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub kind: String,
    pub ip_address: Option<String>,
    pub fqdn: Option<String>,
    pub port: u16,
    pub resource_path: Option<String>,
}

/// How widely to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// geoplan's own resources, left unrecorded by an interrupted apply.
    Leftovers,
    /// Anything the config describes, made by hand or by other tools.
    Adopt,
}

/// Something that exists but cannot be imported as the config wants it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refusal {
    pub address: String,
    pub reason: String,
    pub help: String,
}

/// One resource found, to import.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Import {
    pub address: String,
    #[serde(skip)]
    pub provider: Option<String>,
    pub id: String,
}

/// Every resource of the module that has a natural key (pure).
pub fn wanted(module: &Module) -> Vec<Wanted> {
    let mut out = Vec::new();
    if module.zone.id.is_none() {
        out.push(Wanted {
            address: "aws_route53_zone.this".into(),
            provider: None,
            key: Key::Zone {
                name: module.zone.name.clone(),
                comment: zone_comment(&module.name),
            },
        });
    }
    let both = module.arc.as_ref().is_some_and(|a| a.both);
    for c in &module.health_checks {
        let control = both.then_some(("control", &c.references.control));
        for (role, reference) in [
            ("endpoint", &c.references.endpoint),
            ("switch", &c.references.switch),
            ("region", &c.references.region),
        ]
        .into_iter()
        .chain(control)
        {
            out.push(Wanted {
                address: format!("aws_route53_health_check.{role}_{}", c.ident),
                provider: None,
                key: Key::HealthCheck {
                    reference: reference.clone(),
                    probes: (role == "endpoint").then(|| Probe {
                        kind: c.endpoint.kind.to_owned(),
                        ip_address: c.endpoint.ip_address.clone(),
                        fqdn: c.endpoint.fqdn.clone(),
                        port: c.endpoint.port,
                        resource_path: c.endpoint.resource_path.clone(),
                    }),
                },
            });
        }
    }
    for r in &module.records {
        out.push(Wanted {
            address: format!("aws_route53_record.{}", r.resource),
            provider: None,
            key: Key::Record {
                name: r.name.clone(),
                kind: r.kind.to_owned(),
                set_identifier: r.set_identifier.clone(),
            },
        });
    }
    for c in module
        .control
        .iter()
        .flat_map(|c| c.tables.iter().map(move |t| (c, t)))
    {
        out.push(Wanted {
            address: format!("aws_dynamodb_table.geoplan_control_{}", c.1.alias),
            provider: Some(c.1.alias.clone()),
            key: Key::Table(TableKey {
                name: c.0.name.clone(),
                region: c.1.region.clone(),
                keys: vec!["pk:S".into()],
                local_indexes: Vec::new(),
                replicas: Vec::new(),
            }),
        });
    }
    for t in &module.tables {
        out.push(Wanted {
            address: format!("aws_dynamodb_table.{}", t.resource),
            provider: Some(t.provider.clone()),
            key: Key::Table(TableKey {
                name: t.name.clone(),
                region: t.region.clone(),
                keys: std::iter::once(&t.hash_key)
                    .chain(&t.range_key)
                    .map(|k| {
                        let kind = t.attributes.iter().find(|a| &a.name == k).map(|a| a.kind);
                        format!("{k}:{}", kind.map_or("?".to_owned(), |k| format!("{k:?}")))
                    })
                    .collect(),
                local_indexes: t.local_indexes.iter().map(|l| l.name.clone()).collect(),
                replicas: t.replicas.iter().map(|r| r.region.clone()).collect(),
            }),
        });
    }
    out
}

/// The comment geoplan gives a zone it creates (the template renders the same).
pub fn zone_comment(deployment: &str) -> String {
    format!("Managed by geoplan ({deployment})")
}

/// The file `geoplan adopt` writes; kept by re-rendering (it does not start with the
/// generated-file marker) until an apply has imported what it names.
pub const ADOPT_FILE: &str = "geoplan_adopt.tf";

/// The import blocks, as a generated Terraform file (pure).
pub fn render(source: &str, imports: &[Import]) -> String {
    let header = format!(
        "# Generated by geoplan from {source}: resources found in AWS but missing from the state\n# (left by an interrupted apply), adopted by the next apply. Removed once applied.\n"
    );
    import_blocks(header, imports)
}

/// The import blocks `geoplan adopt` writes (pure).
pub fn render_adopted(source: &str, imports: &[Import]) -> String {
    let header = format!(
        "# Written by `geoplan adopt` from {source}: resources that exist in AWS and that the config\n# describes, imported by the next apply instead of created. Removed once applied.\n"
    );
    import_blocks(header, imports)
}

/// The addresses the module directory's adoption file imports.
pub fn adopted(module_dir: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(module_dir.join(ADOPT_FILE)).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("to = "))
        .map(str::to_owned)
        .collect()
}

fn import_blocks(mut out: String, imports: &[Import]) -> String {
    for i in imports {
        let _ = write!(
            out,
            "\nimport {{\n  to = {}\n  id = {}\n",
            i.address,
            hcl_string(&i.id)
        );
        if let Some(p) = &i.provider {
            let _ = writeln!(out, "  provider = aws.{p}");
        }
        out.push_str("}\n");
    }
    out
}

/// What the lookups found: imports, duplicates of geoplan's own health checks (several
/// cut-short creates of one check), and (adopt mode) what exists but cannot be
/// imported.
#[derive(Debug, Default)]
pub struct Found {
    pub imports: Vec<Import>,
    /// Older checks of a reference whose newest is imported: for
    /// [`delete_duplicate_checks`].
    pub duplicate_checks: Vec<String>,
    pub refusals: Vec<Refusal>,
}

/// Looks up in AWS each wanted resource the state lacks. Changes nothing in AWS.
pub async fn find(
    wanted: &[Wanted],
    in_state: &BTreeSet<String>,
    existing_zone: Option<&str>,
    endpoint_url: Option<&str>,
    mode: Mode,
) -> Result<Found, crate::aws::CallError> {
    let missing: Vec<&Wanted> = wanted
        .iter()
        .filter(|w| !in_state.contains(&w.address))
        .collect();
    if missing.is_empty() {
        return Ok(Found::default());
    }
    let mut lookup = Lookup {
        r53: crate::aws::route53(endpoint_url).await,
        endpoint_url,
        mode,
        checks: None,
        claimed: BTreeSet::new(),
        found: Found::default(),
    };
    let zone_id = match existing_zone {
        Some(id) => Some(id.to_owned()),
        None => lookup.zone_by_name(wanted).await?,
    };
    for w in missing {
        match &w.key {
            Key::Zone { .. } => {
                if let Some(id) = &zone_id {
                    lookup.found.imports.push(import(w, id.clone()));
                }
            }
            Key::HealthCheck { reference, probes } => {
                lookup.health_check(w, reference, probes.as_ref()).await?;
            }
            Key::Record {
                name,
                kind,
                set_identifier,
            } => {
                let Some(zone) = &zone_id else { continue };
                lookup
                    .record(w, zone, name, kind, set_identifier.as_deref())
                    .await?;
            }
            Key::Table(table) => lookup.table(w, table).await?,
        }
    }
    Ok(lookup.found)
}

/// Deletes the health checks `find` found to duplicate the one it imports: older
/// cut-short creates of one check, none of which the state records.
pub async fn delete_duplicate_checks(
    found: &Found,
    endpoint_url: Option<&str>,
) -> Result<(), crate::aws::CallError> {
    if found.duplicate_checks.is_empty() {
        return Ok(());
    }
    let r53 = crate::aws::route53(endpoint_url).await;
    for id in &found.duplicate_checks {
        r53.delete_health_check()
            .health_check_id(id)
            .send()
            .await
            .map_err(|e| crate::aws::explain("Route 53", "DeleteHealthCheck", &e))?;
    }
    Ok(())
}

/// One run of `find`: its clients and what it has found so far.
struct Lookup<'a> {
    r53: aws_sdk_route53::Client,
    endpoint_url: Option<&'a str>,
    mode: Mode,
    /// Every health check, listed when the first wanted one is looked for.
    checks: Option<Vec<ExistingCheck>>,
    /// Checks already imported for a wanted one, so none is imported twice.
    claimed: BTreeSet<String>,
    found: Found,
}

impl Lookup<'_> {
    /// The one public hosted zone named as the wanted zone (with geoplan's comment,
    /// for leftovers); several are refused.
    async fn zone_by_name(
        &mut self,
        wanted: &[Wanted],
    ) -> Result<Option<String>, crate::aws::CallError> {
        let Some((w, name, comment)) = wanted.iter().find_map(|w| match &w.key {
            Key::Zone { name, comment } => Some((w, name, comment)),
            _ => None,
        }) else {
            return Ok(None);
        };
        let wanted_comment = (self.mode == Mode::Leftovers).then_some(comment.as_str());
        Ok(
            match find_zone(&self.r53, name, wanted_comment).await?.as_slice() {
                [one] => Some(one.clone()),
                [] => None,
                several => {
                    self.found.refusals.push(Refusal {
                        address: w.address.clone(),
                        reason: format!(
                            "{} public hosted zones are named {name}: {}",
                            several.len(),
                            several.join(", ")
                        ),
                        help: "set `dns.zone_id` to the one to use".into(),
                    });
                    None
                }
            },
        )
    }

    /// A health check by its reference, the newest of several (the older ones are
    /// duplicates); in adopt mode, an endpoint check made by hand, by what it probes.
    async fn health_check(
        &mut self,
        w: &Wanted,
        reference: &str,
        probes: Option<&Probe>,
    ) -> Result<(), crate::aws::CallError> {
        if self.checks.is_none() {
            self.checks = Some(list_checks(&self.r53).await?);
        }
        let all = self.checks.as_deref().unwrap_or_default();
        if let Some((newest, older)) = made_for(all, reference).split_last() {
            self.found
                .duplicate_checks
                .extend(older.iter().map(|c| c.id.clone()));
            self.claimed.insert(newest.id.clone());
            self.found.imports.push(import(w, newest.id.clone()));
            return Ok(());
        }
        let Some(probe) = probes.filter(|_| self.mode == Mode::Adopt) else {
            return Ok(());
        };
        let same: Vec<&ExistingCheck> = all
            .iter()
            .filter(|c| c.probe.as_ref() == Some(probe) && !self.claimed.contains(&c.id))
            .collect();
        match same.as_slice() {
            [] => {}
            [one] => {
                self.claimed.insert(one.id.clone());
                self.found.imports.push(import(w, one.id.clone()));
            }
            several => self.found.refusals.push(Refusal {
                address: w.address.clone(),
                reason: format!(
                    "{} health checks probe {}: {}",
                    several.len(),
                    describe_probe(probe),
                    several
                        .iter()
                        .map(|c| c.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                help: "delete the duplicates, so one check can be adopted".into(),
            }),
        }
        Ok(())
    }

    /// A record by name, type and set identifier in `zone`; in adopt mode, a simple
    /// record where routed ones go is refused.
    async fn record(
        &mut self,
        w: &Wanted,
        zone: &str,
        name: &str,
        kind: &str,
        set_identifier: Option<&str>,
    ) -> Result<(), crate::aws::CallError> {
        let existing = records_named(&self.r53, zone, name, kind).await?;
        if existing.iter().any(|s| s.as_deref() == set_identifier) {
            let mut id = format!("{zone}_{name}_{kind}");
            if let Some(s) = set_identifier {
                id = format!("{id}_{s}");
            }
            self.found.imports.push(import(w, id));
        } else if self.mode == Mode::Adopt
            && set_identifier.is_some()
            && existing.iter().any(Option::is_none)
        {
            self.found.refusals.push(Refusal {
                address: w.address.clone(),
                reason: format!("{name} {kind} exists as a simple record, where geoplan puts routed records (set identifier {})", set_identifier.unwrap_or_default()),
                help: "Route 53 cannot hold a simple record beside routed ones of the same name and type, and one cannot be imported as the other: delete it when you apply (clients resolve nothing for it meanwhile), or move the service to a new record name".into(),
            });
        }
        Ok(())
    }

    /// A table by name in its home region; in adopt mode, one that could not become
    /// the wanted table without being recreated is refused.
    async fn table(&mut self, w: &Wanted, wanted: &TableKey) -> Result<(), crate::aws::CallError> {
        let ddb = crate::aws::dynamodb(&wanted.region, self.endpoint_url).await;
        let table = match ddb.describe_table().table_name(&wanted.name).send().await {
            Ok(t) => t.table,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return Ok(());
            }
            Err(e) => return Err(crate::aws::explain("DynamoDB", "DescribeTable", &e)),
        };
        if self.mode == Mode::Adopt
            && let Some(t) = &table
            && let Some(r) = table_refusal(w, t, wanted, self.endpoint_url).await?
        {
            self.found.refusals.push(r);
            return Ok(());
        }
        self.found.imports.push(import(w, wanted.name.clone()));
        Ok(())
    }
}

/// The checks created for `reference` (its prefix starts their caller references),
/// newest last: caller references end in a timestamp-ordered id.
fn made_for<'c>(all: &'c [ExistingCheck], reference: &str) -> Vec<&'c ExistingCheck> {
    let prefix = format!("{reference}-");
    let mut made: Vec<&ExistingCheck> = all
        .iter()
        .filter(|c| c.caller_reference.starts_with(&prefix))
        .collect();
    made.sort_by(|a, b| a.caller_reference.cmp(&b.caller_reference));
    made
}

/// Why an existing table cannot become the one the config describes without being
/// recreated (its data lost), if it cannot.
async fn table_refusal(
    w: &Wanted,
    t: &aws_sdk_dynamodb::types::TableDescription,
    wanted: &TableKey,
    endpoint_url: Option<&str>,
) -> Result<Option<Refusal>, crate::aws::CallError> {
    let TableKey {
        keys,
        local_indexes,
        replicas,
        ..
    } = wanted;
    let name = t.table_name().unwrap_or_default();
    let type_of = |attr: &str| {
        t.attribute_definitions()
            .iter()
            .find(|a| a.attribute_name() == attr)
            .map_or("?", |a| a.attribute_type().as_str())
    };
    let mut schema: Vec<&aws_sdk_dynamodb::types::KeySchemaElement> =
        t.key_schema().iter().collect();
    // HASH before RANGE.
    schema.sort_by_key(|k| k.key_type().as_str() != "HASH");
    let existing: Vec<String> = schema
        .iter()
        .map(|k| format!("{}:{}", k.attribute_name(), type_of(k.attribute_name())))
        .collect();
    if existing != *keys {
        return Ok(Some(Refusal {
            address: w.address.clone(),
            reason: format!(
                "table {name} exists with key ({}), the config says ({})",
                existing.join(", "),
                keys.join(", ")
            ),
            help: "DynamoDB cannot change a table's keys: importing it would make the next apply delete and recreate it, losing its items. Give the config the table's keys, or a different table name".into(),
        }));
    }
    let mut lsis: Vec<String> = t
        .local_secondary_indexes()
        .iter()
        .filter_map(|l| l.index_name().map(str::to_owned))
        .collect();
    lsis.sort();
    let mut wanted_lsis = local_indexes.to_vec();
    wanted_lsis.sort();
    if lsis != wanted_lsis {
        return Ok(Some(Refusal {
            address: w.address.clone(),
            reason: format!(
                "table {name} has local indexes [{}], the config says [{}]",
                lsis.join(", "),
                wanted_lsis.join(", ")
            ),
            help: "local indexes are fixed when a table is created: importing it would make the next apply recreate it, losing its items. Give the config the table's local indexes".into(),
        }));
    }
    // A replica region where a table of that name exists on its own.
    let listed: Vec<&str> = t
        .replicas()
        .iter()
        .filter_map(|r| r.region_name())
        .collect();
    for region in replicas.iter().filter(|r| !listed.contains(&r.as_str())) {
        let ddb = crate::aws::dynamodb(region, endpoint_url).await;
        match ddb.describe_table().table_name(name).send().await {
            Ok(_) => {
                return Ok(Some(Refusal {
                    address: w.address.clone(),
                    reason: format!(
                        "table {name} also exists in {region} as a table of its own, not a replica"
                    ),
                    help: format!(
                        "DynamoDB adds a replica only where no table of that name exists: move its items into the home table, delete it in {region}, then adopt"
                    ),
                }));
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) => {}
            Err(e) => return Err(crate::aws::explain("DynamoDB", "DescribeTable", &e)),
        }
    }
    Ok(None)
}

fn describe_probe(p: &Probe) -> String {
    let target = p.ip_address.as_deref().or(p.fqdn.as_deref()).unwrap_or("?");
    format!(
        "{} {target}:{}{}",
        p.kind,
        p.port,
        p.resource_path.as_deref().unwrap_or_default()
    )
}

fn import(w: &Wanted, id: String) -> Import {
    Import {
        address: w.address.clone(),
        provider: w.provider.clone(),
        id,
    }
}

/// The public zones of that name (carrying `comment`, when given).
async fn find_zone(
    r53: &aws_sdk_route53::Client,
    name: &str,
    comment: Option<&str>,
) -> Result<Vec<String>, crate::aws::CallError> {
    let page = r53
        .list_hosted_zones_by_name()
        .dns_name(name)
        .max_items(100)
        .send()
        .await
        .map_err(|e| crate::aws::explain("Route 53", "ListHostedZonesByName", &e))?;
    Ok(page
        .hosted_zones()
        .iter()
        .filter(|z| z.name().trim_end_matches('.') == name.trim_end_matches('.'))
        .filter(|z| !z.config().is_some_and(|c| c.private_zone()))
        .filter(|z| comment.is_none_or(|c| z.config().and_then(|zc| zc.comment()) == Some(c)))
        .map(|z| z.id().trim_start_matches("/hostedzone/").to_owned())
        .collect())
}

/// A health check as listed.
struct ExistingCheck {
    id: String,
    caller_reference: String,
    /// What it probes, when it probes an endpoint.
    probe: Option<Probe>,
}

/// Every health check.
async fn list_checks(
    r53: &aws_sdk_route53::Client,
) -> Result<Vec<ExistingCheck>, crate::aws::CallError> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = r53
            .list_health_checks()
            .set_marker(marker.clone())
            .max_items(1000)
            .send()
            .await
            .map_err(|e| crate::aws::explain("Route 53", "ListHealthChecks", &e))?;
        out.extend(page.health_checks().iter().map(|h| ExistingCheck {
            id: h.id().to_owned(),
            caller_reference: h.caller_reference().to_owned(),
            probe: h.health_check_config().and_then(|c| {
                let kind = c.r#type().as_str();
                matches!(kind, "HTTP" | "HTTPS" | "TCP").then(|| Probe {
                    kind: kind.to_owned(),
                    ip_address: c.ip_address().map(str::to_owned),
                    fqdn: c.fully_qualified_domain_name().map(str::to_owned),
                    port: c
                        .port()
                        .and_then(|p| u16::try_from(p).ok())
                        .unwrap_or_default(),
                    resource_path: c
                        .resource_path()
                        .map(str::to_owned)
                        .filter(|p| !p.is_empty()),
                })
            }),
        }));
        match page.next_marker() {
            Some(m) if page.is_truncated() => marker = Some(m.to_owned()),
            _ => break,
        }
    }
    Ok(out)
}

/// The set identifiers (`None` for a simple record) of the records of that name and type.
async fn records_named(
    r53: &aws_sdk_route53::Client,
    zone: &str,
    name: &str,
    kind: &str,
) -> Result<Vec<Option<String>>, crate::aws::CallError> {
    // Every record of that name and type (one per region at most, far under a page);
    // not StartRecordIdentifier, which some emulators ignore.
    let page = r53
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .start_record_name(name)
        .start_record_type(kind.into())
        .max_items(300)
        .send()
        .await
        .map_err(|e| crate::aws::explain("Route 53", "ListResourceRecordSets", &e))?;
    Ok(page
        .resource_record_sets()
        .iter()
        .filter(|r| {
            r.name().trim_end_matches('.') == name.trim_end_matches('.')
                && r.r#type().as_str() == kind
        })
        .map(|r| r.set_identifier().map(str::to_owned))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_resource_with_a_natural_key_is_wanted_and_imports_render_as_hcl() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/active-active.toml"),
        )
        .unwrap();
        let (c, d) = crate::config::compile("a.toml", &text, std::path::Path::new("/"));
        let c = c.unwrap_or_else(|| panic!("{}", d.render(false)));
        let module = crate::deploy::model::build(&c, "a.toml", None);
        let w = wanted(&module);
        let addresses: Vec<&str> = w.iter().map(|w| w.address.as_str()).collect();
        assert_eq!(addresses[0], "aws_route53_zone.this");
        assert_eq!(
            addresses
                .iter()
                .filter(|a| a.starts_with("aws_route53_health_check."))
                .count(),
            3 * c.regions.len()
        );
        assert!(addresses.contains(&"aws_dynamodb_table.carts"));
        let table = w
            .iter()
            .find(|w| w.address == "aws_dynamodb_table.carts")
            .unwrap();
        assert_eq!(table.provider.as_deref(), Some("us_east_1"));
        let text = render(
            "a.toml",
            &[
                Import {
                    address: "aws_route53_zone.this".into(),
                    provider: None,
                    id: "Z123".into(),
                },
                Import {
                    address: "aws_dynamodb_table.carts".into(),
                    provider: Some("us_east_1".into()),
                    id: "shop-carts".into(),
                },
            ],
        );
        assert!(text.ends_with(
            "\nimport {\n  to = aws_route53_zone.this\n  id = \"Z123\"\n}\n\nimport {\n  to = aws_dynamodb_table.carts\n  id = \"shop-carts\"\n  provider = aws.us_east_1\n}\n"
        ), "{text}");
    }
}
