//! One pass over the TOML tree: types, ranges, references and cross-field rules,
//! every problem recorded with its span; a `Config` only when there were no errors.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::types::*;
use crate::diagnostic::{Diagnostics, Issue, Severity, SourceFile};
use crate::regions;
use crate::suggest;

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
];
const COST_KEYS: &[&str] = &[
    "monthly_budget_usd",
    "alert_at",
    "webhook",
    "poll",
    "price_per_gb",
];
const MONITOR_KEYS: &[&str] = &[
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
];
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
        source: SourceFile {
            name: name.to_owned(),
            text: text.to_owned(),
        },
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
        let tables = match get(root, "table") {
            Some(v) => self.tables(v, &region_names, pattern),
            None => Some(Vec::new()),
        };

        let terraform = match get(root, "terraform") {
            Some(v) => self
                .table(v, "terraform")
                .and_then(|t| self.terraform(t, v.span(), base_dir)),
            None => Some(TerraformSettings {
                dir: base_dir.join(DEFAULT_TERRAFORM_DIR),
                binary: None,
                plugin_mirror: None,
                backend: Backend::Local,
            }),
        };

        let aws = match get(root, "aws") {
            Some(v) => self.table(v, "aws").and_then(|t| self.aws(t)),
            None => Some(AwsSettings::default()),
        };

        if let (Some(dns), Some(regions)) = (&dns, &regions) {
            self.apex_cname(dns, regions, get(root, "region"));
        }

        let cost = match get(root, "cost") {
            Some(v) => self
                .table(v, "cost")
                .and_then(|t| self.cost(t, v.span()))
                .map(Some),
            None => Some(None),
        };
        let monitor = match get(root, "monitor") {
            Some(v) => self
                .table(v, "monitor")
                .and_then(|t| self.monitor(t, base_dir, regions.as_ref().map_or(0, Vec::len))),
            None => Some(MonitorSettings::defaults(base_dir)),
        };

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

    fn cost(&mut self, t: &DeTable<'_>, span: Range<usize>) -> Option<CostSettings> {
        self.check_keys(t, "cost", COST_KEYS);
        let budget = self
            .required(t, span, "cost", "monthly_budget_usd")
            .and_then(|v| self.positive(v, "cost.monthly_budget_usd"));
        let alert_at = match get(t, "alert_at") {
            Some(v) => self.array(v, "cost.alert_at").and_then(|items| {
                let mut out = Vec::new();
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    let field = format!("cost.alert_at[{i}]");
                    match self.number(item, &field) {
                        Some(n) if n.value > 0.0 && n.value <= 10.0 => out.push(n.value),
                        Some(n) => {
                            let issue = self.error(
                                &field,
                                n.span,
                                format!(
                                    "alert threshold {} is not a fraction of the budget in (0, 10]",
                                    n.value
                                ),
                                "out of range",
                            );
                            issue.help = Some("write 0.8 for 80% of the budget".into());
                            ok = false;
                        }
                        None => ok = false,
                    }
                }
                out.sort_by(f64::total_cmp);
                out.dedup();
                ok.then_some(out)
            }),
            None => Some(vec![0.5, 0.8, 1.0]),
        };
        let webhook = match get(t, "webhook") {
            Some(v) => self.string(v, "cost.webhook").and_then(|s| {
                if s.value.starts_with("http://") || s.value.starts_with("https://") {
                    Some(Some(s.value))
                } else {
                    self.error(
                        "cost.webhook",
                        s.span,
                        format!("webhook {:?} must be an http:// or https:// URL", s.value),
                        "not a URL",
                    );
                    None
                }
            }),
            None => Some(None),
        };
        let poll = match get(t, "poll") {
            Some(v) => self.duration(v, "cost.poll").and_then(|d| {
                if d.value >= std::time::Duration::from_secs(1) {
                    Some(d.value)
                } else {
                    self.error(
                        "cost.poll",
                        d.span,
                        "`cost.poll` must be at least 1s (each Cost Explorer call costs $0.01)",
                        "too often",
                    );
                    None
                }
            }),
            None => Some(std::time::Duration::from_secs(6 * 3600)),
        };
        let prices = match get(t, "price_per_gb") {
            Some(v) => self.table(v, "cost.price_per_gb").and_then(|pt| {
                let mut out = std::collections::BTreeMap::new();
                let mut ok = true;
                for (k, val) in pt.iter() {
                    let key: &str = k.get_ref().as_ref();
                    let field = format!("cost.price_per_gb.\"{key}\"");
                    let pair = key.split_once('>').map(|(a, b)| (a.trim(), b.trim()));
                    match pair {
                        Some((a, b)) if regions::is_known(a) && regions::is_known(b) && a != b => {
                            match self.number(val, &field) {
                                Some(n) if n.value >= 0.0 => {
                                    out.insert((a.to_owned(), b.to_owned()), n.value);
                                }
                                Some(n) => {
                                    self.error(
                                        &field,
                                        n.span,
                                        "a price cannot be negative",
                                        "negative",
                                    );
                                    ok = false;
                                }
                                None => ok = false,
                            }
                        }
                        _ => {
                            let issue = self.error(
                                &field,
                                k.span(),
                                format!("price key {key:?} is not \"<from-region>><to-region>\""),
                                "not a region pair",
                            );
                            issue.help = Some("for example \"us-east-1>eu-west-1\" = 0.02".into());
                            ok = false;
                        }
                    }
                }
                ok.then_some(out)
            }),
            None => Some(std::collections::BTreeMap::new()),
        };
        Some(CostSettings {
            monthly_budget_usd: budget?,
            alert_at: alert_at?,
            webhook: webhook?,
            poll: poll?,
            price_per_gb: prices?,
        })
    }

    fn duration(&mut self, v: &Value<'_>, field: &str) -> Option<At<std::time::Duration>> {
        let s = self.string(v, field)?;
        match humantime::parse_duration(&s.value) {
            Ok(d) => Some(At {
                value: d,
                span: s.span,
            }),
            Err(e) => {
                let issue = self.error(
                    field,
                    s.span,
                    format!("`{field}` is not a duration: {e}"),
                    "not a duration",
                );
                issue.help = Some("write a duration such as \"800ms\", \"1s\" or \"5m\"".into());
                None
            }
        }
    }

    fn monitor(
        &mut self,
        t: &DeTable<'_>,
        base_dir: &Path,
        region_count: usize,
    ) -> Option<MonitorSettings> {
        self.check_keys(t, "monitor", MONITOR_KEYS);
        let mut m = MonitorSettings::defaults(base_dir);
        let mut ok = true;
        if let Some(v) = get(t, "listen") {
            match self.string(v, "monitor.listen") {
                Some(s) => match s.value.parse() {
                    Ok(addr) => m.listen = addr,
                    Err(_) => {
                        let issue = self.error(
                            "monitor.listen",
                            s.span,
                            format!(
                                "`monitor.listen` {:?} is not an address with a port",
                                s.value
                            ),
                            "not host:port",
                        );
                        issue.help = Some("for example \"127.0.0.1:7700\"".into());
                        ok = false;
                    }
                },
                None => ok = false,
            }
        }
        let mut dur =
            |w: &mut Self, key: &str, slot: &mut std::time::Duration, min: std::time::Duration| {
                if let Some(v) = get(t, key) {
                    let field = join("monitor", key);
                    match w.duration(v, &field) {
                        Some(d) if d.value >= min => *slot = d.value,
                        Some(d) => {
                            w.error(
                                &field,
                                d.span,
                                format!(
                                    "`{field}` must be at least {}",
                                    humantime::format_duration(min)
                                ),
                                "too short",
                            );
                            ok = false;
                        }
                        None => ok = false,
                    }
                }
            };
        let ms = std::time::Duration::from_millis;
        dur(self, "probe_interval", &mut m.probe_interval, ms(10));
        dur(self, "probe_timeout", &mut m.probe_timeout, ms(5));
        dur(self, "hold_down", &mut m.hold_down, ms(0));
        dur(self, "resync_interval", &mut m.resync_interval, ms(1000));
        if m.probe_timeout > m.probe_interval
            && let Some(v) = get(t, "probe_timeout")
        {
            let issue = self.error(
                "monitor.probe_timeout",
                v.span(),
                "`monitor.probe_timeout` is longer than `monitor.probe_interval`",
                "longer than the interval",
            );
            issue.help = Some("a probe must finish before the next one starts".into());
            ok = false;
        }
        let mut count =
            |w: &mut Self, key: &str, slot: &mut u32, range: std::ops::RangeInclusive<i64>| {
                if let Some(v) = get(t, key) {
                    match w.integer_in(v, &join("monitor", key), range) {
                        Some(n) => *slot = n as u32,
                        None => ok = false,
                    }
                }
            };
        count(self, "fail_after", &mut m.fail_after, 1..=100);
        count(self, "recover_after", &mut m.recover_after, 1..=100);
        count(self, "confirm_probes", &mut m.confirm_probes, 0..=10);
        count(self, "min_in_service", &mut m.min_in_service, 0..=64);
        if region_count > 0
            && m.min_in_service as usize > region_count
            && let Some(v) = get(t, "min_in_service")
        {
            self.error(
                "monitor.min_in_service",
                v.span(),
                format!(
                    "`monitor.min_in_service` is {} but only {region_count} regions are declared",
                    m.min_in_service
                ),
                "more than the regions",
            );
            ok = false;
        }
        let mut flag = |w: &mut Self, key: &str, slot: &mut bool| {
            if let Some(v) = get(t, key) {
                match w.boolean(v, &join("monitor", key)) {
                    Some(b) => *slot = b,
                    None => ok = false,
                }
            }
        };
        flag(self, "auto_failover", &mut m.auto_failover);
        flag(self, "partitioned_failover", &mut m.partitioned_failover);
        for (key, slot) in [("state_dir", &mut m.state_dir)] {
            if let Some(v) = get(t, key) {
                match self.string(v, &join("monitor", key)) {
                    Some(s) => *slot = base_dir.join(s.value),
                    None => ok = false,
                }
            }
        }
        if let Some(v) = get(t, "token_file") {
            match self.string(v, "monitor.token_file") {
                Some(s) => m.token_file = Some(base_dir.join(s.value)),
                None => ok = false,
            }
        }
        ok.then_some(m)
    }

    fn deployment_name(&mut self, v: &Value<'_>) -> Option<String> {
        let s = self.string(v, "name")?;
        let ok_chars = s
            .value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        let ok_edges = !s.value.starts_with('-') && !s.value.ends_with('-');
        if s.value.is_empty() || s.value.len() > 32 || !ok_chars || !ok_edges {
            let issue = self.error(
                "name",
                s.span,
                format!("invalid deployment name {:?}", s.value),
                "not a valid name",
            );
            issue.help = Some(
                "use 1 to 32 characters of a-z, 0-9 and `-`, not starting or ending with `-`"
                    .into(),
            );
            return None;
        }
        Some(s.value)
    }

    fn pattern(&mut self, v: &Value<'_>) -> Option<Pattern> {
        let s = self.string(v, "pattern")?;
        if let Some(p) = Pattern::ALL.into_iter().find(|p| p.as_str() == s.value) {
            return Some(p);
        }
        let names: Vec<&str> = Pattern::ALL.iter().map(|p| p.as_str()).collect();
        let issue = self.error(
            "pattern",
            s.span,
            format!("unknown deployment pattern {:?}", s.value),
            "unknown pattern",
        );
        issue.help = Some(match suggest::closest(&s.value, names.iter().copied()) {
            Some(near) => format!("did you mean \"{near}\"?"),
            None => format!("choose one of: {}", names.join(", ")),
        });
        None
    }

    fn domain(&mut self, v: &Value<'_>, field: &str) -> Option<At<String>> {
        let s = self.string(v, field)?;
        let name = s.value.trim_end_matches('.').to_ascii_lowercase();
        if let Err(why) = check_domain(&name) {
            self.error(
                field,
                s.span.clone(),
                format!("`{field}` is not a valid DNS name: {why}"),
                why,
            );
            return None;
        }
        Some(At {
            value: name,
            span: s.span,
        })
    }

    fn dns(
        &mut self,
        t: &DeTable<'_>,
        span: Range<usize>,
        pattern: Option<Pattern>,
    ) -> Option<Dns> {
        self.check_keys(t, "dns", DNS_KEYS);
        let zone = self
            .required(t, span.clone(), "dns", "zone")
            .and_then(|v| self.domain(v, "dns.zone"));
        let zone_id = match get(t, "zone_id") {
            Some(v) => self.string(v, "dns.zone_id").and_then(|s| {
                let id = s.value.trim_start_matches("/hostedzone/").to_owned();
                if !id.is_empty()
                    && id.len() <= 32
                    && id
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                {
                    Some(Some(id))
                } else {
                    let issue = self.error(
                        "dns.zone_id",
                        s.span,
                        format!("invalid hosted zone id {:?}", s.value),
                        "not a zone id",
                    );
                    issue.help =
                        Some("a hosted zone id looks like \"Z0123456789ABCDEFGHIJ\"".into());
                    None
                }
            }),
            None => Some(None),
        };
        let record = self
            .required(t, span.clone(), "dns", "record")
            .and_then(|v| self.domain(v, "dns.record"));
        if let (Some(zone), Some(record)) = (&zone, &record) {
            self.inside_zone(record, zone, "dns.record");
        }
        let write_record = match get(t, "write_record") {
            Some(v) => {
                let w = self.domain(v, "dns.write_record");
                if let Some(w) = &w {
                    if pattern.is_some_and(|p| p != Pattern::ReadLocalWriteGlobal) {
                        let issue = self.error(
                            "dns.write_record",
                            w.span.clone(),
                            "`dns.write_record` is only used by the read-local-write-global pattern",
                            "not used by this pattern",
                        );
                        issue.help = Some(
                            "remove it, or set `pattern = \"read-local-write-global\"`".into(),
                        );
                    }
                    if let Some(zone) = &zone {
                        self.inside_zone(w, zone, "dns.write_record");
                    }
                    if record.as_ref().is_some_and(|r| r.value == w.value) {
                        self.error(
                            "dns.write_record",
                            w.span.clone(),
                            "`dns.write_record` must differ from `dns.record`",
                            "same as `record`",
                        );
                    }
                }
                w.map(|w| Some(w.value))
            }
            None => Some(record.as_ref().map(|r| format!("write.{}", r.value))),
        };
        let ttl = match get(t, "ttl") {
            Some(v) => {
                let ttl = self.integer_in(v, "dns.ttl", 0..=86_400);
                if let Some(n) = ttl
                    && n > 300
                {
                    let issue = self.warn(
                        "dns.ttl",
                        v.span(),
                        format!("a TTL of {n} s keeps clients on a failed region for up to {n} s"),
                        "long TTL",
                    );
                    issue.help =
                        Some("AWS recommends 60 s for records behind health checks".into());
                }
                ttl
            }
            None => Some(60),
        };
        let write_record = if pattern == Some(Pattern::ReadLocalWriteGlobal) {
            write_record?
        } else {
            None
        };
        Some(Dns {
            zone: zone?.value,
            zone_id: zone_id?,
            record: record?.value,
            write_record,
            ttl: ttl? as u32,
        })
    }

    fn inside_zone(&mut self, name: &At<String>, zone: &At<String>, field: &str) {
        if name.value != zone.value && !name.value.ends_with(&format!(".{}", zone.value)) {
            let issue = self.error(
                field,
                name.span.clone(),
                format!(
                    "`{field}` \"{}\" is outside the zone \"{}\"",
                    name.value, zone.value
                ),
                "not inside `dns.zone`",
            );
            issue.help = Some(format!("use a name ending in \".{}\"", zone.value));
        }
    }

    fn regions(&mut self, v: &Value<'_>, pattern: Option<Pattern>) -> Option<Vec<Option<Region>>> {
        let items = self.array(v, "region")?;
        let mut out = Vec::new();
        let mut seen: HashMap<String, Range<usize>> = HashMap::new();
        let mut primaries = Vec::new();
        let mut record_kind: Option<(String, &'static str, &'static str)> = None;
        for (i, item) in items.iter().enumerate() {
            let path = format!("region[{i}]");
            let Some(t) = self.table(item, &path) else {
                out.push(None);
                continue;
            };
            self.check_keys(t, &path, REGION_KEYS);
            let name = self
                .required(t, item.span(), &path, "name")
                .and_then(|v| self.region_code(v, &join(&path, "name")));
            if let Some(name) = &name {
                if let Some(first) = seen.get(&name.value) {
                    let first = first.clone();
                    let issue = self.error(
                        &join(&path, "name"),
                        name.span.clone(),
                        format!("region \"{}\" is declared twice", name.value),
                        "duplicate region",
                    );
                    issue.related = Some(first);
                } else {
                    seen.insert(name.value.clone(), name.span.clone());
                }
            }
            let primary = match get(t, "primary") {
                Some(p) => {
                    let b = self.boolean(p, &join(&path, "primary"));
                    if b == Some(true) {
                        primaries.push(p.span());
                        if pattern.is_some_and(|p| !p.needs_primary()) {
                            let pat = pattern.map(Pattern::as_str).unwrap_or_default();
                            self.warn(
                                &join(&path, "primary"),
                                p.span(),
                                format!("`primary` has no effect with the {pat} pattern"),
                                "ignored",
                            );
                        }
                    }
                    b
                }
                None => Some(false),
            };
            let endpoint = self
                .required(t, item.span(), &path, "endpoint")
                .and_then(|v| self.endpoint(v, &join(&path, "endpoint")));
            if let (Some(e), Some(ev)) = (&endpoint, get(t, "endpoint")) {
                let kind = describe_endpoint(e);
                match &record_kind {
                    None => record_kind = Some((path.clone(), e.record_type(), kind)),
                    Some((first, rtype, first_kind)) if *rtype != e.record_type() => {
                        let issue = self.error(
                            &join(&path, "endpoint"),
                            ev.span(),
                            format!(
                                "endpoint is {kind} ({}) but {first}'s is {first_kind} ({rtype})",
                                e.record_type()
                            ),
                            "different record type",
                        );
                        issue.help = Some("every region answers for the same name, so all endpoints need one record type: all IPv4 or aliases (A), all IPv6 (AAAA), or all hostnames (CNAME)".into());
                    }
                    Some(_) => {}
                }
            }
            let health = match get(t, "health") {
                Some(h) => self
                    .table(h, &join(&path, "health"))
                    .and_then(|ht| self.health(ht, &join(&path, "health"))),
                None => Some(default_health(None)),
            };
            out.push((|| {
                Some(Region {
                    name: name?.value,
                    primary: primary?,
                    endpoint: endpoint?,
                    health: health?,
                })
            })());
        }
        if items.len() < 2 {
            let issue = self.error(
                "region",
                v.span(),
                format!(
                    "{} region declared: geoplan needs at least two",
                    items.len()
                ),
                "fewer than two regions",
            );
            issue.help = Some("add another `[[region]]` table".into());
        }
        if let Some(pattern) = pattern
            && pattern.needs_primary()
            && primaries.len() != 1
        {
            let p = pattern.as_str();
            if primaries.is_empty() {
                let issue = self.error(
                    "region",
                    v.span(),
                    format!(
                        "the {p} pattern needs exactly one region with `primary = true`, found none"
                    ),
                    "no primary region",
                );
                issue.help =
                    Some("set `primary = true` on the region that takes traffic first".into());
            } else {
                for span in primaries.iter().skip(1) {
                    let issue = self.error(
                        "region.primary",
                        span.clone(),
                        format!(
                            "the {p} pattern needs exactly one primary region, found {}",
                            primaries.len()
                        ),
                        "another primary",
                    );
                    issue.help = Some("keep `primary = true` on one region only".into());
                }
            }
        }
        Some(out)
    }

    fn region_code(&mut self, v: &Value<'_>, field: &str) -> Option<At<String>> {
        let s = self.string(v, field)?;
        if regions::is_known(&s.value) {
            return Some(s);
        }
        let issue = self.error(
            field,
            s.span.clone(),
            format!("unknown AWS region {:?}", s.value),
            "not an AWS region",
        );
        issue.help = Some(match regions::closest(&s.value) {
            Some(near) => format!("did you mean \"{near}\"?"),
            None => "use a region code such as \"us-east-1\" or \"eu-west-1\"".into(),
        });
        None
    }

    fn endpoint(&mut self, v: &Value<'_>, field: &str) -> Option<Endpoint> {
        if let DeValue::Table(t) = v.get_ref() {
            self.check_keys(t, field, ALIAS_KEYS);
            let alias = self
                .required(t, v.span(), field, "alias")
                .and_then(|a| self.domain(a, &join(field, "alias")));
            let zone_id = self
                .required(t, v.span(), field, "zone_id")
                .and_then(|z| self.string(z, &join(field, "zone_id")));
            return Some(Endpoint::Alias {
                name: alias?.value,
                zone_id: zone_id?.value,
            });
        }
        let s = self.string(v, field)?;
        if let Ok(ip) = s.value.parse::<Ipv4Addr>() {
            return Some(Endpoint::Ipv4(ip));
        }
        if let Ok(ip) = s.value.parse::<Ipv6Addr>() {
            return Some(Endpoint::Ipv6(ip));
        }
        let host = s.value.trim_end_matches('.').to_ascii_lowercase();
        let looks_numeric = host
            .split('.')
            .all(|l| l.chars().all(|c| c.is_ascii_digit()));
        match check_domain(&host) {
            Ok(()) if !looks_numeric && host.contains('.') => Some(Endpoint::Hostname(host)),
            _ => {
                let issue = self.error(
                    field,
                    s.span,
                    format!("invalid endpoint {:?}", s.value),
                    "not an IP address or hostname",
                );
                issue.help = Some("use an IPv4 or IPv6 address, a hostname, or { alias = \"…\", zone_id = \"…\" }".into());
                None
            }
        }
    }

    fn health(&mut self, t: &DeTable<'_>, path: &str) -> Option<HealthCheck> {
        self.check_keys(t, path, HEALTH_KEYS);
        let protocol = match get(t, "protocol") {
            Some(v) => {
                let s = self.string(v, &join(path, "protocol"))?;
                match s.value.to_ascii_uppercase().as_str() {
                    "HTTP" => Some(Protocol::Http),
                    "HTTPS" => Some(Protocol::Https),
                    "TCP" => Some(Protocol::Tcp),
                    _ => {
                        let issue = self.error(
                            &join(path, "protocol"),
                            s.span,
                            format!("unknown health-check protocol {:?}", s.value),
                            "unknown protocol",
                        );
                        issue.help = Some("choose HTTP, HTTPS or TCP".into());
                        None
                    }
                }
            }
            None => Some(Protocol::Https),
        };
        let mut health = default_health(protocol);
        let mut ok = protocol.is_some();
        if let Some(v) = get(t, "port") {
            match self.integer_in(v, &join(path, "port"), 1..=65_535) {
                Some(p) => health.port = p as u16,
                None => ok = false,
            }
        }
        if let Some(v) = get(t, "path") {
            match self.string(v, &join(path, "path")) {
                Some(p) if protocol == Some(Protocol::Tcp) => {
                    let issue = self.error(
                        &join(path, "path"),
                        p.span,
                        "a TCP health check has no path",
                        "not used by TCP",
                    );
                    issue.help = Some("remove `path`, or use protocol HTTP or HTTPS".into());
                    ok = false;
                }
                Some(p) if !p.value.starts_with('/') || p.value.len() > 255 => {
                    self.error(&join(path, "path"), p.span, format!("health-check path {:?} must start with `/` and be at most 255 characters", p.value), "invalid path");
                    ok = false;
                }
                Some(p) => health.path = Some(p.value),
                None => ok = false,
            }
        }
        if let Some(v) = get(t, "interval") {
            match self.integer(v, &join(path, "interval")) {
                Some(n) if n.value == 10 || n.value == 30 => health.interval = n.value as u32,
                Some(n) => {
                    let issue = self.error(
                        &join(path, "interval"),
                        n.span,
                        format!(
                            "health-check interval must be 10 or 30 seconds, found {}",
                            n.value
                        ),
                        "Route 53 allows 10 or 30",
                    );
                    issue.help = Some(
                        "Route 53 fixes the interval at 10 s (fast) or 30 s (standard)".into(),
                    );
                    ok = false;
                }
                None => ok = false,
            }
        }
        if let Some(v) = get(t, "failure_threshold") {
            match self.integer_in(v, &join(path, "failure_threshold"), 1..=10) {
                Some(n) => health.failure_threshold = n as u32,
                None => ok = false,
            }
        }
        ok.then_some(health)
    }

    fn tables(
        &mut self,
        v: &Value<'_>,
        region_names: &[String],
        pattern: Option<Pattern>,
    ) -> Option<Vec<Table>> {
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
            match self.one_table(t, item.span(), &path, region_names, pattern, &mut seen) {
                Some(table) => out.push(table),
                None => all_ok = false,
            }
        }
        all_ok.then_some(out)
    }

    fn one_table(
        &mut self,
        t: &DeTable<'_>,
        span: Range<usize>,
        path: &str,
        region_names: &[String],
        pattern: Option<Pattern>,
        seen: &mut HashMap<String, Range<usize>>,
    ) -> Option<Table> {
        self.check_keys(t, path, TABLE_KEYS);
        let name = self.required(t, span.clone(), path, "name").and_then(|v| {
            let s = self.string(v, &join(path, "name"))?;
            let valid = (3..=200).contains(&s.value.len())
                && s.value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
            if !valid {
                let issue = self.error(
                    &join(path, "name"),
                    s.span,
                    format!("invalid table name {:?}", s.value),
                    "not a valid table name",
                );
                issue.help =
                    Some("use 3 to 200 characters of a-z, A-Z, 0-9, `_`, `-` and `.`".into());
                return None;
            }
            if let Some(first) = seen.get(&s.value).cloned() {
                let issue = self.error(
                    &join(path, "name"),
                    s.span,
                    format!("table \"{}\" is declared twice", s.value),
                    "duplicate table",
                );
                issue.related = Some(first);
                return None;
            }
            seen.insert(s.value.clone(), s.span.clone());
            Some(s.value)
        });
        let partition_key = self
            .required(t, span.clone(), path, "partition_key")
            .and_then(|v| self.key(v, &join(path, "partition_key")));
        let sort_key = match get(t, "sort_key") {
            Some(v) => self.key(v, &join(path, "sort_key")).map(Some),
            None => Some(None),
        };
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
        let billing = self.billing(t, path);
        let regions = match get(t, "regions") {
            Some(v) => self.table_regions(v, &join(path, "regions"), region_names, pattern),
            None => Some(region_names.to_vec()),
        };
        if let (Some(regions), Some(p)) = (&regions, pattern)
            && p.replicates_tables()
            && regions.len() == 1
            && region_names.len() > 1
        {
            let at = get(t, "regions").map_or(span.clone(), |v| v.span());
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
        let pitr = match get(t, "point_in_time_recovery") {
            Some(v) => self.boolean(v, &join(path, "point_in_time_recovery")),
            None => Some(false),
        };
        let deletion_protection = match get(t, "deletion_protection") {
            Some(v) => self.boolean(v, &join(path, "deletion_protection")),
            None => Some(false),
        };
        let writes_per_second = match get(t, "writes_per_second") {
            Some(v) => self.positive(v, &join(path, "writes_per_second")).map(Some),
            None => Some(None),
        };
        let avg_item_kb = match get(t, "avg_item_kb") {
            Some(v) => self.positive(v, &join(path, "avg_item_kb")).and_then(|kb| {
                if kb > 400.0 {
                    self.error(
                        &join(path, "avg_item_kb"),
                        v.span(),
                        "DynamoDB items are at most 400 KB",
                        "too large",
                    );
                    None
                } else {
                    Some(Some(kb))
                }
            }),
            None => Some(None),
        };
        Some(Table {
            writes_per_second: writes_per_second?,
            avg_item_kb: avg_item_kb?,
            name: name?,
            partition_key: partition_key?,
            sort_key: sort_key?,
            billing: billing?,
            regions: regions?,
            point_in_time_recovery: pitr?,
            deletion_protection: deletion_protection?,
        })
    }

    fn key(&mut self, v: &Value<'_>, path: &str) -> Option<Key> {
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

    fn billing(&mut self, t: &DeTable<'_>, path: &str) -> Option<Billing> {
        let mode = match get(t, "billing") {
            Some(v) => {
                let s = self.string(v, &join(path, "billing"))?;
                match s.value.as_str() {
                    "on-demand" => Some("on-demand"),
                    "provisioned" => Some("provisioned"),
                    other => {
                        let issue = self.error(
                            &join(path, "billing"),
                            s.span,
                            format!("unknown billing mode {other:?}"),
                            "unknown billing mode",
                        );
                        issue.help = Some("choose \"on-demand\" or \"provisioned\"".into());
                        return None;
                    }
                }
            }
            None => Some("on-demand"),
        }?;
        let capacity_keys = ["read_capacity", "write_capacity", "autoscaling"];
        if mode == "on-demand" {
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
        let autoscaling = match get(t, "autoscaling") {
            Some(v) => self.autoscaling(v, &join(path, "autoscaling")).map(Some),
            None => Some(None),
        };
        Some(Billing::Provisioned {
            read_capacity: read?,
            write_capacity: write?,
            autoscaling: autoscaling?,
        })
    }

    fn autoscaling(&mut self, v: &Value<'_>, path: &str) -> Option<Autoscaling> {
        let t = self.table(v, path)?;
        self.check_keys(t, path, AUTOSCALING_KEYS);
        let min = self
            .required(t, v.span(), path, "min_capacity")
            .and_then(|n| self.integer_in(n, &join(path, "min_capacity"), 1..=40_000));
        let max = self
            .required(t, v.span(), path, "max_capacity")
            .and_then(|n| self.integer_in(n, &join(path, "max_capacity"), 1..=40_000));
        let target = match get(t, "target_utilization") {
            Some(n) => self.integer_in(n, &join(path, "target_utilization"), 20..=90),
            None => Some(70),
        };
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

    fn table_regions(
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

    fn terraform(
        &mut self,
        t: &DeTable<'_>,
        span: Range<usize>,
        base_dir: &Path,
    ) -> Option<TerraformSettings> {
        self.check_keys(t, "terraform", TERRAFORM_KEYS);
        let path_field = |w: &mut Self, key: &str| match get(t, key) {
            Some(v) => w.string(v, &join("terraform", key)).and_then(|s| {
                if s.value.is_empty() {
                    w.error(
                        &join("terraform", key),
                        s.span,
                        format!("`terraform.{key}` is empty"),
                        "empty path",
                    );
                    None
                } else {
                    Some(Some(base_dir.join(s.value)))
                }
            }),
            None => Some(None),
        };
        let dir = path_field(self, "dir");
        let binary = match get(t, "binary") {
            // A bare name is looked up on PATH, like a shell would.
            Some(v) => self.string(v, "terraform.binary").map(|s| {
                if s.value.contains('/') {
                    Some(base_dir.join(s.value))
                } else {
                    Some(s.value.into())
                }
            }),
            None => Some(None),
        };
        let plugin_mirror = path_field(self, "plugin_mirror");
        let backend = match get(t, "backend") {
            Some(v) => self
                .table(v, "terraform.backend")
                .and_then(|b| self.backend(b, v.span())),
            None => Some(Backend::Local),
        };
        let _ = span;
        Some(TerraformSettings {
            dir: dir?.unwrap_or_else(|| base_dir.join(DEFAULT_TERRAFORM_DIR)),
            binary: binary?,
            plugin_mirror: plugin_mirror?,
            backend: backend?,
        })
    }

    fn backend(&mut self, t: &DeTable<'_>, span: Range<usize>) -> Option<Backend> {
        self.check_keys(t, "terraform.backend", BACKEND_KEYS);
        let Some(v) = get(t, "s3") else {
            let issue = self.error(
                "terraform.backend",
                span,
                "`terraform.backend` names no backend",
                "empty",
            );
            issue.help = Some("add `[terraform.backend.s3]` with bucket, key and region, or remove the table for local state".into());
            return None;
        };
        let path = "terraform.backend.s3";
        let s3 = self.table(v, path)?;
        self.check_keys(s3, path, S3_KEYS);
        let bucket = self
            .required(s3, v.span(), path, "bucket")
            .and_then(|b| self.string(b, &join(path, "bucket")));
        let key = self
            .required(s3, v.span(), path, "key")
            .and_then(|b| self.string(b, &join(path, "key")));
        let region = self
            .required(s3, v.span(), path, "region")
            .and_then(|b| self.region_code(b, &join(path, "region")));
        let lock = match get(s3, "dynamodb_table") {
            Some(b) => self
                .string(b, &join(path, "dynamodb_table"))
                .map(|s| Some(s.value)),
            None => Some(None),
        };
        Some(Backend::S3(S3Backend {
            bucket: bucket?.value,
            key: key?.value,
            region: region?.value,
            dynamodb_table: lock?,
        }))
    }

    fn aws(&mut self, t: &DeTable<'_>) -> Option<AwsSettings> {
        self.check_keys(t, "aws", AWS_KEYS);
        let endpoint_url = match get(t, "endpoint_url") {
            Some(v) => {
                let s = self.string(v, "aws.endpoint_url")?;
                if !(s.value.starts_with("http://") || s.value.starts_with("https://")) {
                    let issue = self.error(
                        "aws.endpoint_url",
                        s.span,
                        format!(
                            "endpoint URL {:?} must start with http:// or https://",
                            s.value
                        ),
                        "not a URL",
                    );
                    issue.help = Some("for the local emulator: \"http://127.0.0.1:4566\"".into());
                    return None;
                }
                Some(s.value.trim_end_matches('/').to_owned())
            }
            None => None,
        };
        Some(AwsSettings { endpoint_url })
    }

    /// A CNAME cannot sit at a zone apex, so hostname endpoints need a record below it.
    fn apex_cname(
        &mut self,
        dns: &Dns,
        regions: &[Option<Region>],
        region_value: Option<&Value<'_>>,
    ) {
        let at_apex = dns.record == dns.zone;
        let uses_cname = regions
            .iter()
            .flatten()
            .any(|r| matches!(r.endpoint, Endpoint::Hostname(_)));
        if at_apex && uses_cname {
            let span = region_value.map_or(0..0, |v| v.span());
            let issue = self.error(
                "dns.record",
                span,
                "hostname endpoints need CNAME records, which cannot stand at the zone apex",
                "hostname endpoints",
            );
            issue.help =
                Some("use a record below the zone (e.g. \"api.<zone>\") or alias endpoints".into());
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

fn default_health(protocol: Option<Protocol>) -> HealthCheck {
    let protocol = protocol.unwrap_or(Protocol::Https);
    HealthCheck {
        protocol,
        port: if protocol == Protocol::Http { 80 } else { 443 },
        path: (protocol != Protocol::Tcp).then(|| "/healthz".to_owned()),
        interval: 10,
        failure_threshold: 3,
    }
}

fn describe_endpoint(e: &Endpoint) -> &'static str {
    match e {
        Endpoint::Ipv4(_) => "an IPv4 address",
        Endpoint::Ipv6(_) => "an IPv6 address",
        Endpoint::Hostname(_) => "a hostname",
        Endpoint::Alias { .. } => "an alias",
    }
}

/// DNS name syntax as Route 53 accepts it (lower case here).
fn check_domain(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty name");
    }
    if name.len() > 253 {
        return Err("longer than 253 characters");
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("empty label");
        }
        if label.len() > 63 {
            return Err("a label is longer than 63 characters");
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err("only letters, digits, `-` and `_` are allowed");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label starts or ends with `-`");
        }
    }
    Ok(())
}
