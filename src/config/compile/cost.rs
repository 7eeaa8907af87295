//! `[cost]`: the transfer budget, alert thresholds, webhook and price overrides.

use super::*;

impl Walker {
    pub(super) fn cost(
        &mut self,
        t: &DeTable<'_>,
        span: Range<usize>,
        base_dir: &Path,
    ) -> Option<CostSettings> {
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
        let webhook_secret_file = match get(t, "webhook_secret_file") {
            Some(v) => self
                .string(v, "cost.webhook_secret_file")
                .and_then(|s| {
                    self.checked(
                        s,
                        "cost.webhook_secret_file",
                        super::terraform::path_problem,
                    )
                })
                .map(|s| Some(base_dir.join(s.value))),
            None => Some(None),
        };
        let scope = match get(t, "scope") {
            Some(v) => self.string(v, "cost.scope").and_then(|s| match s.value.as_str() {
                "tag" => Some(CostScope::Tag),
                "account" => Some(CostScope::Account),
                other => {
                    let issue = self.error(
                        "cost.scope",
                        s.span,
                        format!("unknown cost scope {other:?}"),
                        "expected \"tag\" or \"account\"",
                    );
                    issue.help = Some(
                        "\"tag\" counts this deployment's usage (tag geoplan:name); \"account\" counts the whole account".into(),
                    );
                    None
                }
            }),
            None => Some(CostScope::Tag),
        };
        Some(CostSettings {
            monthly_budget_usd: budget?,
            scope: scope?,
            alert_at: alert_at?,
            webhook: webhook?,
            webhook_secret_file: webhook_secret_file?,
            poll: poll?,
            price_per_gb: prices?,
        })
    }
}
