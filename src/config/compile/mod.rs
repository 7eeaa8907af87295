//! One pass over the TOML tree: types, ranges, references and cross-field rules,
//! every problem recorded with its span; a `Config` only when there were no errors.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::types::*;
use crate::aws::regions;
use crate::config::diagnostic::{Diagnostics, Issue, Severity, SourceFile};
use crate::config::suggest;

mod control;
mod cost;
mod dns;
mod encryption;
mod failback;
mod indexes;
mod monitor;
mod region;
pub(crate) mod residency;
mod tables;
mod terraform;

type Value<'i> = Spanned<DeValue<'i>>;

const ROOT_KEYS: &[&str] = &[
    "name",
    "pattern",
    "dns",
    "region",
    "table",
    "terraform",
    "aws",
    "monitor",
    "cost",
    "control",
    "failback",
    "drill",
    "jurisdictions",
];
const DRILL_KEYS: &[&str] = &["rto", "hold", "outcome_url", "failback_within"];
const FAILBACK_KEYS: &[&str] = &["max_replication_lag", "settle", "poll"];
const CONTROL_KEYS: &[&str] = &["regions", "lease"];
const COST_KEYS: &[&str] = &[
    "monthly_budget_usd",
    "alert_at",
    "webhook",
    "webhook_secret_file",
    "scope",
    "poll",
    "price_per_gb",
];
const MONITOR_KEYS: &[&str] = &[
    "route53_rate",
    "event_retention",
    "max_events",
    "listen",
    "probe_interval",
    "probe_timeout",
    "fail_after",
    "recover_after",
    "confirm_probes",
    "hold_down",
    "min_in_service",
    "auto_failover",
    "partitioned_failover",
    "resync_interval",
    "state_dir",
    "token_file",
    "switch",
    "arc_wait_period",
];
const DNS_KEYS: &[&str] = &["zone", "zone_id", "record", "write_record", "ttl"];
const REGION_KEYS: &[&str] = &["name", "primary", "endpoint", "health"];
const ALIAS_KEYS: &[&str] = &["alias", "zone_id"];
const HEALTH_KEYS: &[&str] = &["protocol", "port", "path", "interval", "failure_threshold"];
const TABLE_KEYS: &[&str] = &[
    "name",
    "partition_key",
    "sort_key",
    "billing",
    "read_capacity",
    "write_capacity",
    "autoscaling",
    "regions",
    "point_in_time_recovery",
    "deletion_protection",
    "writes_per_second",
    "avg_item_kb",
    "ttl_attribute",
    "table_class",
    "residency",
    "replication",
    "global_index",
    "local_index",
    "stream",
    "max_read_request_units",
    "max_write_request_units",
    "encryption",
];
const GLOBAL_INDEX_KEYS: &[&str] = &[
    "name",
    "partition_key",
    "sort_key",
    "projection",
    "read_capacity",
    "write_capacity",
];
const LOCAL_INDEX_KEYS: &[&str] = &["name", "sort_key", "projection"];
const KEY_KEYS: &[&str] = &["name", "type"];
const AUTOSCALING_KEYS: &[&str] = &["min_capacity", "max_capacity", "target_utilization"];
const TERRAFORM_KEYS: &[&str] = &["dir", "binary", "plugin_mirror", "backend"];
const BACKEND_KEYS: &[&str] = &["s3"];
const S3_KEYS: &[&str] = &["bucket", "key", "region", "dynamodb_table"];
const AWS_KEYS: &[&str] = &["endpoint_url"];

pub const DEFAULT_TERRAFORM_DIR: &str = ".geoplan/terraform";

/// Compiles the text of a config file. `name` is how the file is named in messages;
/// `base_dir` resolves relative paths. Returns a config only when there are no errors.
pub fn compile(name: &str, text: &str, base_dir: &Path) -> (Option<Config>, Diagnostics) {
    let mut walker = Walker { issues: Vec::new() };
    let config = match DeTable::parse(text) {
        Ok(root) => walker.root(root.get_ref(), base_dir),
        Err(err) => {
            let span = err.span().unwrap_or(0..0);
            walker.error(
                "",
                span,
                format!("invalid TOML: {}", err.message().trim_end()),
                "here",
            );
            None
        }
    };
    walker.issues.sort_by_key(|i| (i.span.start, i.span.end));
    let diagnostics = Diagnostics {
        source: SourceFile::new(name, text),
        issues: walker.issues,
    };
    let config = if diagnostics.has_errors() {
        None
    } else {
        config
    };
    (config, diagnostics)
}

struct Walker {
    issues: Vec<Issue>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// A value and where it stands.
#[derive(Debug, Clone)]
struct At<T> {
    value: T,
    span: Range<usize>,
}

/// The spellings an enum-valued string may take, each with the value it stands for.
/// An unknown one is reported as "unknown {what} \"x\"", labelled "unknown {what}",
/// with help listing the spellings, unless `label` or `help` replace those.
struct Choices<'a, T> {
    what: &'a str,
    spellings: &'a [(&'a str, T)],
    label: Option<&'a str>,
    help: Option<&'a str>,
    any_case: bool,
}

impl<'a, T> Choices<'a, T> {
    const fn new(what: &'a str, spellings: &'a [(&'a str, T)]) -> Self {
        Choices {
            what,
            spellings,
            label: None,
            help: None,
            any_case: false,
        }
    }

    /// The label under an unknown value, instead of "unknown {what}".
    const fn label(mut self, label: &'a str) -> Self {
        self.label = Some(label);
        self
    }

    /// The help for an unknown value, instead of the list of spellings.
    const fn help(mut self, help: &'a str) -> Self {
        self.help = Some(help);
        self
    }

    /// Accepts the spellings in any ASCII letter case ("https" for "HTTPS").
    const fn any_case(mut self) -> Self {
        self.any_case = true;
        self
    }

    /// `choose "a", "b" or "c"`.
    fn listing(&self) -> String {
        let quoted: Vec<String> = self
            .spellings
            .iter()
            .map(|(s, _)| format!("{s:?}"))
            .collect();
        match quoted.split_last() {
            Some((last, [])) => format!("choose {last}"),
            Some((last, rest)) => format!("choose {} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}

/// How [`Walker::unique_name`] checks one kind of name.
struct NameRule {
    what: &'static str,
    max: usize,
    duplicate: fn(&str) -> String,
    duplicate_label: &'static str,
}

impl Walker {
    fn push(
        &mut self,
        severity: Severity,
        field: &str,
        span: Range<usize>,
        message: String,
        label: &str,
    ) -> &mut Issue {
        self.issues.push(Issue {
            severity,
            field: field.to_owned(),
            message,
            span,
            label: label.to_owned(),
            help: None,
            related: None,
        });
        self.issues.last_mut().expect("just pushed")
    }

    fn error(
        &mut self,
        field: &str,
        span: Range<usize>,
        message: impl Into<String>,
        label: &str,
    ) -> &mut Issue {
        self.push(Severity::Error, field, span, message.into(), label)
    }

    fn warn(
        &mut self,
        field: &str,
        span: Range<usize>,
        message: impl Into<String>,
        label: &str,
    ) -> &mut Issue {
        self.push(Severity::Warning, field, span, message.into(), label)
    }

    /// Reports keys the schema does not know, with a suggestion where one is close.
    fn check_keys(&mut self, table: &DeTable<'_>, path: &str, known: &[&str]) {
        for key in table.keys() {
            let name: &str = key.get_ref().as_ref();
            if known.contains(&name) {
                continue;
            }
            let field = join(path, name);
            let where_ = if path.is_empty() {
                "at the top level".to_owned()
            } else {
                format!("in `{path}`")
            };
            let issue = self.error(
                &field,
                key.span(),
                format!("unknown key `{name}` {where_}"),
                "unknown key",
            );
            issue.help = Some(match suggest::closest(name, known.iter().copied()) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("known keys here: {}", known.join(", ")),
            });
        }
    }

    fn string(&mut self, v: &Value<'_>, field: &str) -> Option<At<String>> {
        match v.get_ref() {
            DeValue::String(s) => Some(At {
                value: s.to_string(),
                span: v.span(),
            }),
            other => {
                let t = type_name(other);
                self.error(
                    field,
                    v.span(),
                    format!("`{field}` must be a string, found {t}"),
                    "expected a string",
                );
                None
            }
        }
    }

    fn integer(&mut self, v: &Value<'_>, field: &str) -> Option<At<i64>> {
        match v.get_ref() {
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Some(At {
                    value: n,
                    span: v.span(),
                }),
                Err(_) => {
                    self.error(
                        field,
                        v.span(),
                        format!("`{field}` is out of range"),
                        "too large",
                    );
                    None
                }
            },
            other => {
                let t = type_name(other);
                self.error(
                    field,
                    v.span(),
                    format!("`{field}` must be an integer, found {t}"),
                    "expected an integer",
                );
                None
            }
        }
    }

    /// An integer within `range`, else an error naming the range.
    fn integer_in(
        &mut self,
        v: &Value<'_>,
        field: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Option<i64> {
        let n = self.integer(v, field)?;
        if range.contains(&n.value) {
            Some(n.value)
        } else {
            self.error(
                field,
                n.span,
                format!(
                    "`{field}` must be between {} and {}, found {}",
                    range.start(),
                    range.end(),
                    n.value
                ),
                "out of range",
            );
            None
        }
    }

    fn boolean(&mut self, v: &Value<'_>, field: &str) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            other => {
                let t = type_name(other);
                self.error(
                    field,
                    v.span(),
                    format!("`{field}` must be true or false, found {t}"),
                    "expected a boolean",
                );
                None
            }
        }
    }

    /// The value `s` spells among `choices`; an unknown spelling is reported at `s`.
    fn one_of<T: Clone>(
        &mut self,
        s: &At<String>,
        field: &str,
        choices: &Choices<'_, T>,
    ) -> Option<T> {
        let known = choices.spellings.iter().find(|(spelling, _)| {
            if choices.any_case {
                spelling.eq_ignore_ascii_case(&s.value)
            } else {
                *spelling == s.value
            }
        });
        if let Some((_, value)) = known {
            return Some(value.clone());
        }
        let what = choices.what;
        let label = match choices.label {
            Some(label) => label.to_owned(),
            None => format!("unknown {what}"),
        };
        let issue = self.error(
            field,
            s.span.clone(),
            format!("unknown {what} {:?}", s.value),
            &label,
        );
        issue.help = Some(match choices.help {
            Some(help) => help.to_owned(),
            None => choices.listing(),
        });
        None
    }

    fn table<'a, 'i>(&mut self, v: &'a Value<'i>, field: &str) -> Option<&'a DeTable<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Some(t),
            other => {
                let t = type_name(other);
                self.error(
                    field,
                    v.span(),
                    format!("`{field}` must be a table, found {t}"),
                    "expected a table",
                );
                None
            }
        }
    }

    fn array<'a, 'i>(&mut self, v: &'a Value<'i>, field: &str) -> Option<&'a [Value<'i>]> {
        match v.get_ref() {
            DeValue::Array(a) => Some(a.as_ref()),
            other => {
                let t = type_name(other);
                self.error(
                    field,
                    v.span(),
                    format!("`{field}` must be an array, found {t}"),
                    "expected an array",
                );
                None
            }
        }
    }

    /// Keeps a string that `problem` finds nothing wrong with; otherwise records the
    /// problem at the value.
    fn checked(
        &mut self,
        s: At<String>,
        field: &str,
        problem: impl Fn(&str) -> Option<String>,
    ) -> Option<At<String>> {
        match problem(&s.value) {
            None => Some(s),
            Some(message) => {
                self.error(field, s.span, message, "invalid");
                None
            }
        }
    }

    /// A declared name (`name` in `t`): valid for DynamoDB (3 to `rule.max` characters
    /// of a-z, A-Z, 0-9, `_`, `-` and `.`) and not declared before (`seen`, which it
    /// joins).
    fn unique_name(
        &mut self,
        t: &DeTable<'_>,
        span: Range<usize>,
        path: &str,
        seen: &mut HashMap<String, Range<usize>>,
        rule: &NameRule,
    ) -> Option<String> {
        let v = self.required(t, span, path, "name")?;
        let field = join(path, "name");
        let s = self.string(v, &field)?;
        let valid = (3..=rule.max).contains(&s.value.len())
            && s.value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !valid {
            let what = rule.what;
            let issue = self.error(
                &field,
                s.span,
                format!("invalid {what} name {:?}", s.value),
                &format!("not a valid {what} name"),
            );
            issue.help = Some(format!(
                "use 3 to {} characters of a-z, A-Z, 0-9, `_`, `-` and `.`",
                rule.max
            ));
            return None;
        }
        if let Some(first) = seen.get(&s.value).cloned() {
            let issue = self.error(
                &field,
                s.span,
                (rule.duplicate)(&s.value),
                rule.duplicate_label,
            );
            issue.related = Some(first);
            return None;
        }
        seen.insert(s.value.clone(), s.span);
        Some(s.value)
    }

    /// A key that must be present; a missing one is reported at `at` (the table).
    fn required<'a, 'i>(
        &mut self,
        table: &'a DeTable<'i>,
        at: Range<usize>,
        path: &str,
        key: &str,
    ) -> Option<&'a Value<'i>> {
        let found = get(table, key);
        if found.is_none() {
            let field = join(path, key);
            let place = if path.is_empty() {
                "the file".to_owned()
            } else {
                format!("`{path}`")
            };
            self.error(
                &field,
                at,
                format!("missing required key `{key}` in {place}"),
                &format!("`{key}` is missing"),
            );
        }
        found
    }

    /// A key that may be left out: `Some(None)` when it is, `Some(Some(_))` when `read`
    /// accepts its value, `None` when `read` has reported why not. `read` gets the
    /// value and its dotted field name (`path.key`). A default goes on the result:
    /// `.map(|x| x.unwrap_or(default))`.
    fn optional<'a, 'i, T>(
        &mut self,
        table: &'a DeTable<'i>,
        path: &str,
        key: &str,
        read: impl FnOnce(&mut Self, &'a Value<'i>, &str) -> Option<T>,
    ) -> Option<Option<T>> {
        match get(table, key) {
            Some(v) => read(self, v, &join(path, key)).map(Some),
            None => Some(None),
        }
    }

    fn root(&mut self, root: &DeTable<'_>, base_dir: &Path) -> Option<Config> {
        self.check_keys(root, "", ROOT_KEYS);
        let top = 0..0;

        let name = self
            .required(root, top.clone(), "", "name")
            .and_then(|v| self.deployment_name(v));
        let pattern = self
            .required(root, top.clone(), "", "pattern")
            .and_then(|v| self.pattern(v));

        let dns = self
            .required(root, top.clone(), "", "dns")
            .and_then(|v| self.table(v, "dns").map(|t| (t, v.span())))
            .and_then(|(t, span)| self.dns(t, span, pattern));

        let regions = match get(root, "region") {
            Some(v) => self.regions(v, pattern),
            None => {
                let issue = self.error(
                    "region",
                    top.clone(),
                    "no regions declared: at least two `[[region]]` tables are needed",
                    "",
                );
                issue.help = Some("add `[[region]]` tables with `name` and `endpoint`".into());
                None
            }
        };

        let region_names: Vec<String> = regions
            .iter()
            .flatten()
            .flatten()
            .map(|r| r.name.clone())
            .collect();
        let (jurisdictions, jurisdictions_ok) = match get(root, "jurisdictions") {
            Some(v) => self.jurisdictions(v),
            None => (HashMap::new(), true),
        };
        let tables_context = tables::TablesContext {
            region_names: &region_names,
            pattern,
            jurisdictions: &jurisdictions,
        };
        let tables = self
            .optional(root, "", "table", |w, v, _| w.tables(v, &tables_context))
            .map(Option::unwrap_or_default);

        let terraform = self
            .optional(root, "", "terraform", |w, v, field| {
                w.table(v, field).and_then(|t| w.terraform(t, base_dir))
            })
            .map(|terraform| {
                terraform.unwrap_or_else(|| TerraformSettings {
                    dir: base_dir.join(DEFAULT_TERRAFORM_DIR),
                    binary: None,
                    plugin_mirror: None,
                    backend: Backend::Local,
                })
            });

        let aws = self
            .optional(root, "", "aws", |w, v, field| {
                w.table(v, field).and_then(|t| w.aws(t))
            })
            .map(Option::unwrap_or_default);

        if let (Some(dns), Some(regions)) = (&dns, &regions) {
            self.apex_cname(dns, regions, get(root, "region"));
        }

        let cost = self.optional(root, "", "cost", |w, v, field| {
            w.table(v, field)
                .and_then(|t| w.cost(t, v.span(), base_dir))
        });
        let region_count = regions.as_ref().map_or(0, Vec::len);
        let monitor = self
            .optional(root, "", "monitor", |w, v, field| {
                w.table(v, field)
                    .and_then(|t| w.monitor(t, base_dir, region_count))
            })
            .map(|monitor| monitor.unwrap_or_else(|| MonitorSettings::defaults(base_dir)));

        let control = self.optional(root, "", "control", |w, v, field| {
            w.table(v, field)
                .and_then(|t| w.control(t, v.span(), &region_names))
        });

        let failback = self
            .optional(root, "", "failback", |w, v, field| {
                w.table(v, field).and_then(|t| w.failback(t))
            })
            .map(Option::unwrap_or_default);

        let drill = self
            .optional(root, "", "drill", |w, v, field| {
                w.table(v, field).and_then(|t| w.drill(t))
            })
            .map(Option::unwrap_or_default);

        // A broken jurisdiction fails the config even when no table uses it.
        jurisdictions_ok.then_some(())?;
        Some(Config {
            name: name?,
            pattern: pattern?,
            dns: dns?,
            regions: regions?.into_iter().collect::<Option<Vec<_>>>()?,
            tables: tables?,
            terraform: terraform?,
            aws: aws?,
            monitor: monitor?,
            cost: cost?,
            control: control?,
            failback: failback?,
            drill: drill?,
        })
    }

    /// An integer or a float, as f64.
    fn number(&mut self, v: &Value<'_>, field: &str) -> Option<At<f64>> {
        match v.get_ref() {
            DeValue::Integer(_) => self.integer(v, field).map(|n| At {
                value: n.value as f64,
                span: n.span,
            }),
            DeValue::Float(f) => match f.as_str().replace('_', "").parse::<f64>() {
                Ok(x) if x.is_finite() => Some(At {
                    value: x,
                    span: v.span(),
                }),
                _ => {
                    self.error(
                        field,
                        v.span(),
                        format!("`{field}` must be a finite number"),
                        "not a finite number",
                    );
                    None
                }
            },
            other => {
                let t = type_name(other);
                self.error(
                    field,
                    v.span(),
                    format!("`{field}` must be a number, found {t}"),
                    "expected a number",
                );
                None
            }
        }
    }

    fn positive(&mut self, v: &Value<'_>, field: &str) -> Option<f64> {
        let n = self.number(v, field)?;
        if n.value > 0.0 {
            Some(n.value)
        } else {
            self.error(
                field,
                n.span,
                format!("`{field}` must be greater than 0"),
                "not positive",
            );
            None
        }
    }
}

fn get<'a, 'i>(table: &'a DeTable<'i>, key: &str) -> Option<&'a Value<'i>> {
    table
        .iter()
        .find(|(k, _)| {
            let name: &str = k.get_ref().as_ref();
            name == key
        })
        .map(|(_, v)| v)
}
