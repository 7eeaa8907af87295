//! `[monitor]`: the control plane's probing, thresholds and failover policy.

use super::*;

const SWITCH_PATHS: Choices<'static, SwitchPath> = Choices::new(
    "switch",
    &[
        ("route53", SwitchPath::Route53),
        ("arc", SwitchPath::Arc),
        ("both", SwitchPath::Both),
    ],
)
.label("expected \"route53\", \"arc\" or \"both\"")
.help(
    "\"route53\" flips a Route 53 health check (a control-plane call served from us-east-1); \"arc\" flips an ARC routing control on the cluster's five regional endpoints; \"both\" has both",
);

impl Walker {
    pub(super) fn duration(
        &mut self,
        v: &Value<'_>,
        field: &str,
    ) -> Option<At<std::time::Duration>> {
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

    /// `section.key` as a duration of at least `min`, when present: `Ok(None)` when
    /// absent, `Err(())` once the error is recorded.
    pub(super) fn duration_at_least(
        &mut self,
        t: &DeTable<'_>,
        section: &str,
        key: &str,
        min: std::time::Duration,
    ) -> Result<Option<std::time::Duration>, ()> {
        let Some(v) = get(t, key) else {
            return Ok(None);
        };
        let field = join(section, key);
        match self.duration(v, &field) {
            Some(d) if d.value >= min => Ok(Some(d.value)),
            Some(d) => {
                self.error(
                    &field,
                    d.span,
                    format!(
                        "`{field}` must be at least {}",
                        humantime::format_duration(min)
                    ),
                    "too short",
                );
                Err(())
            }
            None => Err(()),
        }
    }

    pub(super) fn monitor(
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
                match w.duration_at_least(t, "monitor", key, min) {
                    Ok(Some(d)) => *slot = d,
                    Ok(None) => {}
                    Err(()) => ok = false,
                }
            };
        let ms = std::time::Duration::from_millis;
        dur(self, "probe_interval", &mut m.probe_interval, ms(10));
        dur(self, "probe_timeout", &mut m.probe_timeout, ms(5));
        dur(self, "hold_down", &mut m.hold_down, ms(0));
        dur(self, "resync_interval", &mut m.resync_interval, ms(1000));
        dur(self, "arc_wait_period", &mut m.arc_wait_period, ms(0));
        dur(
            self,
            "event_retention",
            &mut m.retention.max_age,
            std::time::Duration::from_secs(86_400),
        );
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
        count(
            self,
            "max_events",
            &mut m.retention.max_events,
            1000..=1_000_000_000,
        );
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
        if let Some(v) = get(t, "route53_rate") {
            match self.number(v, "monitor.route53_rate") {
                Some(r) if r.value > 0.0 && r.value <= 5.0 => m.route53_rate = r.value,
                Some(r) => {
                    let issue = self.error(
                        "monitor.route53_rate",
                        r.span,
                        format!(
                            "`monitor.route53_rate` must be above 0 and at most 5, found {}",
                            r.value
                        ),
                        "out of range",
                    );
                    issue.help = Some(
                        "Route 53 allows 5 requests per second per account, shared by every tool"
                            .into(),
                    );
                    ok = false;
                }
                None => ok = false,
            }
        }
        if let Some(v) = get(t, "state_dir") {
            match self
                .string(v, "monitor.state_dir")
                .and_then(|s| self.checked(s, "monitor.state_dir", terraform::path_problem))
            {
                Some(s) => m.state_dir = base_dir.join(s.value),
                None => ok = false,
            }
        }
        if let Some(v) = get(t, "token_file") {
            match self
                .string(v, "monitor.token_file")
                .and_then(|s| self.checked(s, "monitor.token_file", terraform::path_problem))
            {
                Some(s) => m.token_file = Some(base_dir.join(s.value)),
                None => ok = false,
            }
        }
        if let Some(v) = get(t, "switch") {
            match self
                .string(v, "monitor.switch")
                .and_then(|s| self.one_of(&s, "monitor.switch", &SWITCH_PATHS))
            {
                Some(path) => m.switch = path,
                None => ok = false,
            }
        }
        ok.then_some(m)
    }
}
