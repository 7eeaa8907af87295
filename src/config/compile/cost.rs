//! `[cost]`: the transfer budget, alert thresholds, webhook and price overrides.

use super::*;

const COST_SCOPES: Choices<'static, CostScope> = Choices::new(
    "cost scope",
    &[("tag", CostScope::Tag), ("account", CostScope::Account)],
)
.label("expected \"tag\" or \"account\"")
.help(
    "\"tag\" counts this deployment's usage (tag geoplan:name); \"account\" counts the whole account",
);

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
        let alert_at = self
            .optional(t, "cost", "alert_at", |w, v, field| {
                let items = w.array(v, field)?;
                let mut out = Vec::new();
                let mut ok = true;
                for (i, item) in items.iter().enumerate() {
                    let field = format!("{field}[{i}]");
                    match w.number(item, &field) {
                        Some(n) if n.value > 0.0 && n.value <= 10.0 => out.push(n.value),
                        Some(n) => {
                            let issue = w.error(
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
            })
            .map(|alert_at| alert_at.unwrap_or_else(|| vec![0.5, 0.8, 1.0]));
        let webhook = self.optional(t, "cost", "webhook", |w, v, field| {
            let s = w.string(v, field)?;
            if s.value.starts_with("http://") || s.value.starts_with("https://") {
                Some(s.value)
            } else {
                w.error(
                    field,
                    s.span,
                    format!("webhook {:?} must be an http:// or https:// URL", s.value),
                    "not a URL",
                );
                None
            }
        });
        let poll = self
            .optional(t, "cost", "poll", |w, v, field| {
                let d = w.duration(v, field)?;
                if d.value >= std::time::Duration::from_secs(1) {
                    Some(d.value)
                } else {
                    w.error(
                        field,
                        d.span,
                        "`cost.poll` must be at least 1s (each Cost Explorer call costs $0.01)",
                        "too often",
                    );
                    None
                }
            })
            .map(|poll| poll.unwrap_or(std::time::Duration::from_secs(6 * 3600)));
        let prices = self
            .optional(t, "cost", "price_per_gb", |w, v, field| {
                let pt = w.table(v, field)?;
                let mut out = std::collections::BTreeMap::new();
                let mut ok = true;
                for (k, val) in pt.iter() {
                    let key: &str = k.get_ref().as_ref();
                    let field = format!("{field}.\"{key}\"");
                    let pair = key.split_once('>').map(|(a, b)| (a.trim(), b.trim()));
                    match pair {
                        Some((a, b)) if regions::is_known(a) && regions::is_known(b) && a != b => {
                            match w.number(val, &field) {
                                Some(n) if n.value >= 0.0 => {
                                    out.insert((a.to_owned(), b.to_owned()), n.value);
                                }
                                Some(n) => {
                                    w.error(
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
                            let issue = w.error(
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
            })
            .map(Option::unwrap_or_default);
        let webhook_secret_file = self.optional(t, "cost", "webhook_secret_file", |w, v, field| {
            let s = w.string(v, field)?;
            w.checked(s, field, super::terraform::path_problem)
                .map(|s| base_dir.join(s.value))
        });
        let scope = self
            .optional(t, "cost", "scope", |w, v, field| {
                let s = w.string(v, field)?;
                w.one_of(&s, field, &COST_SCOPES)
            })
            .map(|scope| scope.unwrap_or(CostScope::Tag));
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
