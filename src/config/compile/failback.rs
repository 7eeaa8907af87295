//! `[failback]`: the replication gate a region passes before it takes traffic again;
//! `[drill]`: what a practice failover is held to.

use super::*;

impl Walker {
    pub(super) fn failback(&mut self, t: &DeTable<'_>) -> Option<FailbackSettings> {
        self.check_keys(t, "failback", FAILBACK_KEYS);
        let mut f = FailbackSettings::default();
        let mut ok = true;
        let ms = std::time::Duration::from_millis;
        for (key, slot, min) in [
            ("max_replication_lag", &mut f.max_replication_lag, ms(100)),
            ("settle", &mut f.settle, ms(1000)),
            ("poll", &mut f.poll, ms(1000)),
        ] {
            match self.duration_at_least(t, "failback", key, min) {
                Ok(Some(d)) => *slot = d,
                Ok(None) => {}
                Err(()) => ok = false,
            }
        }
        ok.then_some(f)
    }
}

impl Walker {
    pub(super) fn drill(&mut self, t: &DeTable<'_>) -> Option<DrillSettings> {
        self.check_keys(t, "drill", DRILL_KEYS);
        let mut d = DrillSettings::default();
        let mut ok = true;
        let ms = std::time::Duration::from_millis;
        for (key, min) in [
            ("rto", ms(1)),
            ("hold", ms(0)),
            ("failback_within", ms(1000)),
        ] {
            match self.duration_at_least(t, "drill", key, min) {
                Ok(Some(v)) if key == "rto" => d.rto = Some(v),
                Ok(Some(v)) if key == "hold" => d.hold = v,
                Ok(Some(v)) => d.failback_within = v,
                Ok(None) => {}
                Err(()) => ok = false,
            }
        }
        if let Some(v) = get(t, "outcome_url") {
            match self.string(v, "drill.outcome_url") {
                Some(s) if s.value.starts_with("http://") || s.value.starts_with("https://") => {
                    d.outcome_url = Some(s.value)
                }
                Some(s) => {
                    let issue = self.error(
                        "drill.outcome_url",
                        s.span,
                        "`drill.outcome_url` is not an http:// or https:// URL",
                        "not a URL",
                    );
                    issue.help = Some("a URL of the service that must stay healthy while the region is out, e.g. \"https://api.example.com/health\"".into());
                    ok = false;
                }
                None => ok = false,
            }
        }
        ok.then_some(d)
    }
}
