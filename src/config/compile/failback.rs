//! `[failback]`: the replication gate a region passes before it takes traffic again.

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
            let Some(v) = get(t, key) else { continue };
            let field = join("failback", key);
            match self.duration(v, &field) {
                Some(d) if d.value >= min => *slot = d.value,
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
                    ok = false;
                }
                None => ok = false,
            }
        }
        ok.then_some(f)
    }
}
