//! `[[table]]`: keys, billing and capacity, the regions a table lives in.

use super::indexes::{IndexContext, KeyAt};
use super::*;

/// A table's name: unique among the tables.
const TABLE_NAME: NameRule = NameRule {
    what: "table",
    max: 200,
    duplicate: |name| format!("table \"{name}\" is declared twice"),
    duplicate_label: "duplicate table",
};

const TABLE_CLASSES: Choices<'static, TableClass> = Choices::new(
    "table class",
    &[
        ("standard", TableClass::Standard),
        ("infrequent-access", TableClass::InfrequentAccess),
    ],
);

/// Only eventual (asynchronous) replication can be rendered here; "strong" is refused
/// with its own reason before these are consulted.
const REPLICATIONS: Choices<'static, ()> = Choices::new("replication", &[("eventual", ())])
    .label("expected \"eventual\"")
    .help("global tables replicate asynchronously: \"eventual\"");

const STREAM_VIEWS: Choices<'static, StreamView> = Choices::new(
    "stream view",
    &[
        ("keys-only", StreamView::KeysOnly),
        ("new-image", StreamView::NewImage),
        ("old-image", StreamView::OldImage),
        ("new-and-old-images", StreamView::NewAndOldImages),
    ],
);

const BILLING_MODES: Choices<'static, &str> = Choices::new(
    "billing mode",
    &[("on-demand", "on-demand"), ("provisioned", "provisioned")],
);

/// What every `[[table]]` is checked against.
#[derive(Clone, Copy)]
pub(super) struct TablesContext<'a> {
    pub region_names: &'a [String],
    pub pattern: Option<Pattern>,
    pub jurisdictions: &'a HashMap<String, Vec<String>>,
}

impl Walker {
    pub(super) fn tables(&mut self, v: &Value<'_>, cx: &TablesContext<'_>) -> Option<Vec<Table>> {
        let items = self.array(v, "table")?;
        let mut out = Vec::new();
        let mut all_ok = true;
        let mut seen: HashMap<String, Range<usize>> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("table[{i}]");
            let Some(t) = self.table(item, &path) else {
                all_ok = false;
                continue;
            };
            match self.one_table(t, item.span(), &path, cx, &mut seen) {
                Some(table) => out.push(table),
                None => all_ok = false,
            }
        }
        all_ok.then_some(out)
    }

    /// One `[[table]]`: every key is read, so a bad one never hides its siblings'
    /// errors, and the table is returned only when all of them were good.
    pub(super) fn one_table(
        &mut self,
        t: &DeTable<'_>,
        span: Range<usize>,
        path: &str,
        cx: &TablesContext<'_>,
        seen: &mut HashMap<String, Range<usize>>,
    ) -> Option<Table> {
        self.check_keys(t, path, TABLE_KEYS);
        let name = self.unique_name(t, span.clone(), path, seen, &TABLE_NAME);
        // Every key used, table's and indexes', for the attribute definitions.
        let mut keys: Vec<KeyAt> = Vec::new();
        let key_schema = self.key_schema(t, span.clone(), path, &mut keys);
        let billing = self.billing(t, path);
        let regions = self.regions_holding_table(t, span.clone(), path, cx);
        let pitr = self
            .optional(t, path, "point_in_time_recovery", Self::boolean)
            .map(|b| b.unwrap_or(false));
        let deletion_protection = self
            .optional(t, path, "deletion_protection", Self::boolean)
            .map(|b| b.unwrap_or(false));
        let writes_per_second = self.optional(t, path, "writes_per_second", Self::positive);
        let avg_item_kb = self.optional(t, path, "avg_item_kb", Self::item_size_kb);
        let ttl_attribute = self.optional(t, path, "ttl_attribute", Self::ttl_attribute);
        let table_class = self
            .optional(t, path, "table_class", |w, v, field| {
                let s = w.string(v, field)?;
                w.one_of(&s, field, &TABLE_CLASSES)
            })
            .map(|class| class.unwrap_or(TableClass::Standard));
        let replication = self.optional(t, path, "replication", Self::replication);
        let residency = self.optional(t, path, "residency", |w, v, field| {
            w.residency(
                v,
                field,
                name.as_deref(),
                regions.as_deref(),
                cx.jurisdictions,
            )
        });
        let provisioned = provisioned_as_written(t);
        let indexes = self.indexes(
            t,
            &IndexContext {
                provisioned,
                autoscaling: get(t, "autoscaling").is_some(),
                has_sort_key: get(t, "sort_key").is_some(),
                table_span: span.clone(),
                path,
            },
            &mut keys,
        );
        let attributes = self.attributes(&keys);
        let replicated = cx.pattern.is_some_and(|p| p.replicates_tables())
            && regions.as_ref().is_some_and(|r| r.len() > 1);
        let stream = self.optional(t, path, "stream", |w, v, field| {
            w.stream(v, field, replicated)
        });
        let on_demand_limits = self.on_demand_limits(t, path, provisioned);
        let encryption = self
            .optional(t, path, "encryption", |w, v, field| {
                w.encryption(v, field, regions.as_deref())
            })
            .map(|e| e.unwrap_or(Encryption::AwsOwned));
        replication?;
        let (partition_key, sort_key) = key_schema?;
        let (global_indexes, local_indexes) = indexes?;
        Some(Table {
            global_indexes,
            local_indexes,
            attributes: attributes?,
            stream: stream?,
            on_demand_limits: on_demand_limits?,
            encryption: encryption?,
            ttl_attribute: ttl_attribute?,
            table_class: table_class?,
            residency: residency?,
            writes_per_second: writes_per_second?,
            avg_item_kb: avg_item_kb?,
            name: name?,
            partition_key,
            sort_key,
            billing: billing?,
            regions: regions?,
            point_in_time_recovery: pitr?,
            deletion_protection: deletion_protection?,
        })
    }

    /// `partition_key` and the optional `sort_key`, which must not share a name; both
    /// are recorded in `keys`.
    fn key_schema(
        &mut self,
        t: &DeTable<'_>,
        span: Range<usize>,
        path: &str,
        keys: &mut Vec<KeyAt>,
    ) -> Option<(Key, Option<Key>)> {
        let partition_key = self
            .required(t, span, path, "partition_key")
            .and_then(|v| self.key_at(v, join(path, "partition_key"), keys));
        let sort_key = self.optional(t, path, "sort_key", |w, v, field| {
            w.key_at(v, field.to_owned(), keys)
        });
        if let (Some(pk), Some(Some(sk)), Some(v)) = (&partition_key, &sort_key, get(t, "sort_key"))
            && pk.name == sk.name
        {
            self.error(
                &join(path, "sort_key"),
                v.span(),
                format!("sort key and partition key are both named {:?}", sk.name),
                "same name as the partition key",
            );
        }
        Some((partition_key?, sort_key?))
    }

    /// `regions`, or every declared region when it is left out. A table of a
    /// replicating pattern in one region only gets a warning: it has no replicas.
    fn regions_holding_table(
        &mut self,
        t: &DeTable<'_>,
        span: Range<usize>,
        path: &str,
        cx: &TablesContext<'_>,
    ) -> Option<Vec<String>> {
        let declared = cx.region_names;
        let regions = self
            .optional(t, path, "regions", |w, v, field| {
                w.table_regions(v, field, declared, cx.pattern)
            })
            .map(|regions| regions.unwrap_or_else(|| declared.to_vec()));
        if let (Some(regions), Some(p)) = (&regions, cx.pattern)
            && p.replicates_tables()
            && regions.len() == 1
            && declared.len() > 1
        {
            let at = get(t, "regions").map_or(span, |v| v.span());
            self.warn(
                &join(path, "regions"),
                at,
                format!(
                    "table is in one region only ({}): it gets no replicas",
                    regions[0]
                ),
                "no replicas",
            );
        }
        regions
    }

    /// `avg_item_kb`, for estimates: positive and at most DynamoDB's item size limit.
    fn item_size_kb(&mut self, v: &Value<'_>, field: &str) -> Option<f64> {
        let kb = self.positive(v, field)?;
        if kb > 400.0 {
            self.error(
                field,
                v.span(),
                "DynamoDB items are at most 400 KB",
                "too large",
            );
            return None;
        }
        Some(kb)
    }

    /// `ttl_attribute`: the name of the attribute whose time expires an item.
    fn ttl_attribute(&mut self, v: &Value<'_>, field: &str) -> Option<String> {
        let s = self.string(v, field)?;
        if s.value.is_empty() || s.value.len() > 255 {
            self.error(
                field,
                s.span,
                "the TTL attribute name must be 1 to 255 characters",
                "invalid name",
            );
            return None;
        }
        Some(s.value)
    }

    /// `replication`: "eventual" is the one mode geoplan can render; "strong" is
    /// refused with the reason.
    fn replication(&mut self, v: &Value<'_>, field: &str) -> Option<()> {
        let s = self.string(v, field)?;
        if s.value == "strong" {
            let issue = self.error(
                field,
                s.span,
                "multi-Region strong consistency is not available with the AWS provider geoplan renders for",
                "not supported",
            );
            issue.help = Some(
                "DynamoDB's synchronous mode needs the provider's `consistency_mode`, which hashicorp/aws 5.100 (pinned by geoplan) lacks; use \"eventual\" (the default)".into(),
            );
            return None;
        }
        self.one_of(&s, field, &REPLICATIONS)
    }

    /// `stream = "keys-only" | "new-image" | "old-image" | "new-and-old-images"`. A
    /// replicated table replicates through a NEW_AND_OLD_IMAGES stream, so only that
    /// view type is accepted there.
    fn stream(&mut self, v: &Value<'_>, path: &str, replicated: bool) -> Option<StreamView> {
        let s = self.string(v, path)?;
        let view = self.one_of(&s, path, &STREAM_VIEWS)?;
        if replicated && view != StreamView::NewAndOldImages {
            let issue = self.error(
                path,
                s.span,
                format!(
                    "a replicated table's stream is new-and-old-images, not {}",
                    s.value
                ),
                "replication needs new-and-old-images",
            );
            issue.help = Some("DynamoDB global tables replicate through the stream and need both images; geoplan turns it on for every replicated table, so `stream` can be left out".into());
            return None;
        }
        Some(view)
    }

    /// `max_read_request_units` / `max_write_request_units`: on-demand only.
    pub(super) fn on_demand_limits(
        &mut self,
        t: &DeTable<'_>,
        path: &str,
        provisioned: Option<bool>,
    ) -> Option<Option<OnDemandLimits>> {
        let one = |w: &mut Self, key: &str| {
            w.optional(t, path, key, |w, v, field| {
                if provisioned == Some(true) {
                    let issue = w.error(
                        field,
                        v.span(),
                        format!("`{key}` caps on-demand throughput, but the table is provisioned"),
                        "only for on-demand billing",
                    );
                    issue.help = Some("provisioned capacity is its own cap; remove it".into());
                    return None;
                }
                w.integer_in(v, field, 1..=40_000_000).map(|n| n as u32)
            })
        };
        let read = one(self, "max_read_request_units");
        let write = one(self, "max_write_request_units");
        let (read, write) = (read?, write?);
        Some(
            (read.is_some() || write.is_some()).then_some(OnDemandLimits {
                max_read_request_units: read,
                max_write_request_units: write,
            }),
        )
    }

    pub(super) fn key(&mut self, v: &Value<'_>, path: &str) -> Option<Key> {
        let t = self.table(v, path)?;
        self.check_keys(t, path, KEY_KEYS);
        let name = self
            .required(t, v.span(), path, "name")
            .and_then(|n| self.string(n, &join(path, "name")));
        let name = name.and_then(|n| {
            if n.value.is_empty() || n.value.len() > 255 {
                self.error(
                    &join(path, "name"),
                    n.span,
                    "key attribute name must be 1 to 255 characters",
                    "invalid name",
                );
                None
            } else {
                Some(n.value)
            }
        });
        let kind = self.required(t, v.span(), path, "type").and_then(|k| {
            let s = self.string(k, &join(path, "type"))?;
            match s.value.as_str() {
                "S" => Some(KeyType::S),
                "N" => Some(KeyType::N),
                "B" => Some(KeyType::B),
                other => {
                    let issue = self.error(
                        &join(path, "type"),
                        s.span,
                        format!("key type {other:?} is not S, N or B"),
                        "not S, N or B",
                    );
                    issue.help =
                        Some("DynamoDB keys are strings (S), numbers (N) or binary (B)".into());
                    None
                }
            }
        });
        Some(Key {
            name: name?,
            kind: kind?,
        })
    }

    pub(super) fn billing(&mut self, t: &DeTable<'_>, path: &str) -> Option<Billing> {
        // An unknown mode is reported, and the capacity keys are still checked as if
        // provisioned, so their own errors are not hidden behind it.
        let mode = self
            .optional(t, path, "billing", |w, v, field| {
                let s = w.string(v, field)?;
                w.one_of(&s, field, &BILLING_MODES)
            })
            .map(|mode| mode.unwrap_or("on-demand"));
        let capacity_keys = ["read_capacity", "write_capacity", "autoscaling"];
        if mode == Some("on-demand") {
            for key in capacity_keys {
                if let Some(v) = get(t, key) {
                    let issue = self.error(
                        &join(path, key),
                        v.span(),
                        format!("`{key}` needs `billing = \"provisioned\"`"),
                        "only for provisioned billing",
                    );
                    issue.help = Some("on-demand tables scale by themselves; remove it or set `billing = \"provisioned\"`".into());
                }
            }
            return Some(Billing::OnDemand);
        }
        let capacity = |w: &mut Self, key: &str| match get(t, key) {
            Some(v) => w
                .integer_in(v, &join(path, key), 1..=40_000)
                .map(|n| n as u32),
            // Missing capacity is an error of provisioned billing only.
            None if mode.is_none() => None,
            None => {
                let at = get(t, "billing").map_or(0..0, |v| v.span());
                let issue = w.error(
                    &join(path, key),
                    at,
                    format!("provisioned billing needs `{key}`"),
                    &format!("`{key}` is missing"),
                );
                issue.help =
                    Some("set `read_capacity` and `write_capacity` (units per second)".into());
                None
            }
        };
        let read = capacity(self, "read_capacity");
        let write = capacity(self, "write_capacity");
        let autoscaling = self.optional(t, path, "autoscaling", Self::autoscaling);
        mode?;
        Some(Billing::Provisioned {
            read_capacity: read?,
            write_capacity: write?,
            autoscaling: autoscaling?,
        })
    }

    pub(super) fn autoscaling(&mut self, v: &Value<'_>, path: &str) -> Option<Autoscaling> {
        let t = self.table(v, path)?;
        self.check_keys(t, path, AUTOSCALING_KEYS);
        let min = self
            .required(t, v.span(), path, "min_capacity")
            .and_then(|n| self.integer_in(n, &join(path, "min_capacity"), 1..=40_000));
        let max = self
            .required(t, v.span(), path, "max_capacity")
            .and_then(|n| self.integer_in(n, &join(path, "max_capacity"), 1..=40_000));
        let target = self
            .optional(t, path, "target_utilization", |w, n, field| {
                w.integer_in(n, field, 20..=90)
            })
            .map(|percent| percent.unwrap_or(70));
        if let (Some(lo), Some(hi)) = (min, max)
            && lo > hi
        {
            self.error(
                &join(path, "max_capacity"),
                get(t, "max_capacity").map_or(v.span(), |n| n.span()),
                format!("max_capacity {hi} is below min_capacity {lo}"),
                "below min_capacity",
            );
            return None;
        }
        Some(Autoscaling {
            min_capacity: min? as u32,
            max_capacity: max? as u32,
            target_utilization: target? as u32,
        })
    }

    pub(super) fn table_regions(
        &mut self,
        v: &Value<'_>,
        path: &str,
        declared: &[String],
        pattern: Option<Pattern>,
    ) -> Option<Vec<String>> {
        let items = self.array(v, path)?;
        let mut out: Vec<String> = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let field = format!("{path}[{i}]");
            let Some(s) = self.string(item, &field) else {
                ok = false;
                continue;
            };
            if out.contains(&s.value) {
                self.error(
                    &field,
                    s.span,
                    format!("region \"{}\" is listed twice", s.value),
                    "duplicate",
                );
                ok = false;
            } else if !declared.contains(&s.value) {
                let issue = self.error(
                    &field,
                    s.span.clone(),
                    format!("region \"{}\" is not declared as a `[[region]]`", s.value),
                    "not a declared region",
                );
                issue.help = Some(
                    match suggest::closest(&s.value, declared.iter().map(String::as_str)) {
                        Some(near) => format!("did you mean \"{near}\"?"),
                        None => format!("declared regions: {}", declared.join(", ")),
                    },
                );
                ok = false;
            } else {
                out.push(s.value);
            }
        }
        if items.is_empty() {
            let issue = self.error(path, v.span(), "a table needs at least one region", "empty");
            issue.help = Some("omit `regions` to use every region".into());
            ok = false;
        }
        if pattern == Some(Pattern::Partitioned) && items.len() > 1 {
            let issue = self.error(
                path,
                v.span(),
                "a partitioned table lives in one region, but this lists several",
                "more than one region",
            );
            issue.help = Some("list one owning region, or omit `regions` to give every region its own independent table".into());
            ok = false;
        }
        ok.then_some(out)
    }
}

/// The billing mode as written, for the options that depend on it: `None` when it is
/// itself wrong, so that they are not reported twice.
fn provisioned_as_written(t: &DeTable<'_>) -> Option<bool> {
    match get(t, "billing").map(|v| v.get_ref()) {
        None => Some(false),
        Some(DeValue::String(s)) if s.as_ref() == "on-demand" => Some(false),
        Some(DeValue::String(s)) if s.as_ref() == "provisioned" => Some(true),
        Some(_) => None,
    }
}
