//! `[control]`: the regions of the control tables and the lease of the actor.

use super::*;

impl Walker {
    pub(super) fn control(
        &mut self,
        t: &DeTable<'_>,
        span: Range<usize>,
        declared: &[String],
    ) -> Option<ControlSettings> {
        self.check_keys(t, "control", CONTROL_KEYS);
        let mut ok = true;
        // Default: one control table, in the first configured region.
        let mut regions: Vec<String> = declared.first().cloned().into_iter().collect();
        if let Some(v) = get(t, "regions") {
            match self.array(v, "control.regions") {
                Some(items) => {
                    regions.clear();
                    for (i, item) in items.iter().enumerate() {
                        let field = format!("control.regions[{i}]");
                        match self.region_code(item, &field) {
                            Some(r) if regions.contains(&r.value) => {
                                self.error(
                                    &field,
                                    r.span,
                                    format!("control region \"{}\" is listed twice", r.value),
                                    "duplicate",
                                );
                                ok = false;
                            }
                            Some(r) => regions.push(r.value),
                            None => ok = false,
                        }
                    }
                    if ok && regions.len().is_multiple_of(2) {
                        let issue = self.error(
                            "control.regions",
                            v.span(),
                            format!(
                                "`control.regions` lists {} regions; a majority needs an odd number",
                                regions.len()
                            ),
                            "even",
                        );
                        issue.help = Some(
                            "with an even number, losing half leaves no majority; use 1, 3 or 5 regions".into(),
                        );
                        ok = false;
                    }
                }
                None => ok = false,
            }
        }
        let mut lease = std::time::Duration::from_secs(6);
        if let Some(v) = get(t, "lease") {
            match self.duration(v, "control.lease") {
                Some(d) if d.value >= std::time::Duration::from_secs(1) => lease = d.value,
                Some(d) => {
                    self.error(
                        "control.lease",
                        d.span,
                        "`control.lease` must be at least 1s",
                        "too short",
                    );
                    ok = false;
                }
                None => ok = false,
            }
        }
        if regions.is_empty() {
            self.error(
                "control",
                span,
                "`[control]` needs at least one region",
                "empty",
            );
            ok = false;
        }
        ok.then_some(ControlSettings { regions, lease })
    }
}
