//! Failover decisions: given every region's verdict and switch, what to flip. Pure:
//! data in, decisions out, the time passed in, so every rule is unit-tested.
//!
//! Rules:
//! - a region that is down and in service is taken out (its switch inverted);
//! - a region taken out automatically is put back once it is up again;
//! - a region drained by hand stays out until restored by hand;
//! - never fewer than `min_in_service` regions in service: the action is refused;
//! - at most one automatic action per region per `hold_down`.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::control::verdict::Verdict;

/// Why a switch is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cause {
    /// The control plane took the region out because it was down.
    Automatic,
    /// Someone drained the region (`geoplan drain`, `POST …/drain`).
    Manual,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Automatic => "automatic",
            Cause::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<Cause> {
        match s {
            "automatic" => Some(Cause::Automatic),
            "manual" => Some(Cause::Manual),
            _ => None,
        }
    }
}

/// A region's switch: in service, or out with a cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Switch {
    pub in_service: bool,
    /// Why it is out; `None` when in service.
    pub cause: Option<Cause>,
    pub reason: Option<String>,
    pub since: Option<SystemTime>,
}

impl Switch {
    pub fn in_service() -> Switch {
        Switch {
            in_service: true,
            cause: None,
            reason: None,
            since: None,
        }
    }
}

/// What the decision logic needs to know of one region.
#[derive(Debug, Clone)]
pub struct RegionView<'a> {
    pub name: &'a str,
    pub verdict: Verdict,
    pub switch: &'a Switch,
    /// The last action (automatic or manual) on this region.
    pub last_action: Option<SystemTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub hold_down: Duration,
    pub min_in_service: u32,
    /// Off: decisions are reported as refused, nothing is flipped automatically.
    pub automatic: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    TakeOut,
    PutBack,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::TakeOut => "take-out",
            Action::PutBack => "put-back",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Flip the switch.
    Act {
        region: String,
        action: Action,
        reason: String,
    },
    /// Wanted but not allowed; report it.
    Refuse {
        region: String,
        action: Action,
        reason: String,
    },
    /// Wanted, allowed, but too soon after the last action on the region.
    Hold {
        region: String,
        action: Action,
        until: SystemTime,
    },
}

/// Automatic decisions for this moment. Regions are considered in config order, and
/// each take-out counts against `min_in_service` for the ones after it.
impl Decision {
    /// The region the decision is about.
    pub fn region(&self) -> &str {
        match self {
            Decision::Act { region, .. }
            | Decision::Refuse { region, .. }
            | Decision::Hold { region, .. } => region,
        }
    }
}

pub fn decide(regions: &[RegionView<'_>], policy: &Policy, now: SystemTime) -> Vec<Decision> {
    let mut in_service = regions.iter().filter(|r| r.switch.in_service).count();
    let mut out = Vec::new();
    for r in regions {
        let wanted = match (r.switch.in_service, r.verdict, r.switch.cause) {
            (true, Verdict::Down, _) => Action::TakeOut,
            (false, Verdict::Up, Some(Cause::Automatic)) => Action::PutBack,
            _ => continue,
        };
        let region = r.name.to_owned();
        if !policy.automatic {
            out.push(Decision::Refuse {
                region,
                action: wanted,
                reason: "auto_failover is off".into(),
            });
            continue;
        }
        if wanted == Action::TakeOut && in_service <= policy.min_in_service as usize {
            let reason = format!(
                "{} is down, but taking it out would leave {} region(s) in service, below min_in_service = {}",
                r.name,
                in_service.saturating_sub(1),
                policy.min_in_service
            );
            out.push(Decision::Refuse {
                region,
                action: wanted,
                reason,
            });
            continue;
        }
        if let Some(last) = r.last_action {
            let until = last + policy.hold_down;
            if now < until {
                out.push(Decision::Hold {
                    region,
                    action: wanted,
                    until,
                });
                continue;
            }
        }
        let reason = match wanted {
            Action::TakeOut => format!("{} is down", r.name),
            Action::PutBack => format!("{} is up again", r.name),
        };
        if wanted == Action::TakeOut {
            in_service -= 1;
        }
        out.push(Decision::Act {
            region,
            action: wanted,
            reason,
        });
    }
    out
}

/// Whether a manual drain of `region` is allowed now.
pub fn check_drain(
    regions: &[RegionView<'_>],
    region: &str,
    policy: &Policy,
) -> Result<(), String> {
    let target = regions
        .iter()
        .find(|r| r.name == region)
        .ok_or_else(|| format!("unknown region {region}"))?;
    if !target.switch.in_service {
        return Ok(()); // already out: draining records the manual cause
    }
    let in_service = regions.iter().filter(|r| r.switch.in_service).count();
    if in_service <= policy.min_in_service as usize {
        return Err(format!(
            "draining {region} would leave {} region(s) in service, below min_in_service = {}",
            in_service - 1,
            policy.min_in_service
        ));
    }
    Ok(())
}

/// The reason a manual drain records: the one given, else the reason a region already
/// drained by hand has (a second drain without a reason keeps the first one), else a
/// plain "drained by hand".
pub fn drain_reason(current: &Switch, given: &str) -> String {
    let given = given.trim();
    if !given.is_empty() {
        return given.to_owned();
    }
    match (&current.cause, &current.reason) {
        (Some(Cause::Manual), Some(r)) if !current.in_service => r.clone(),
        _ => "drained by hand".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drain_without_a_reason_keeps_the_earlier_one() {
        let drained = Switch {
            in_service: false,
            cause: Some(Cause::Manual),
            reason: Some("kernel upgrade".into()),
            since: None,
        };
        assert_eq!(drain_reason(&drained, "  "), "kernel upgrade");
        assert_eq!(drain_reason(&drained, "new window"), "new window");
        assert_eq!(drain_reason(&Switch::in_service(), ""), "drained by hand");
        let automatic = Switch {
            cause: Some(Cause::Automatic),
            reason: Some("3 failed probes".into()),
            ..drained
        };
        assert_eq!(drain_reason(&automatic, ""), "drained by hand");
    }

    const POLICY: Policy = Policy {
        hold_down: Duration::from_secs(30),
        min_in_service: 1,
        automatic: true,
    };

    fn t(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(s)
    }

    fn out(cause: Cause) -> Switch {
        Switch {
            in_service: false,
            cause: Some(cause),
            reason: Some("test".into()),
            since: Some(t(0)),
        }
    }

    fn view<'a>(
        name: &'a str,
        verdict: Verdict,
        switch: &'a Switch,
        last: Option<u64>,
    ) -> RegionView<'a> {
        RegionView {
            name,
            verdict,
            switch,
            last_action: last.map(t),
        }
    }

    fn act(region: &str, action: Action, reason: &str) -> Decision {
        Decision::Act {
            region: region.into(),
            action,
            reason: reason.into(),
        }
    }

    #[test]
    fn takes_a_down_region_out_and_puts_it_back_when_up() {
        let on = Switch::in_service();
        let regions = [
            view("a", Verdict::Down, &on, None),
            view("b", Verdict::Up, &on, None),
        ];
        assert_eq!(
            decide(&regions, &POLICY, t(100)),
            [act("a", Action::TakeOut, "a is down")]
        );

        let off = out(Cause::Automatic);
        let regions = [
            view("a", Verdict::Up, &off, Some(10)),
            view("b", Verdict::Up, &on, None),
        ];
        assert_eq!(
            decide(&regions, &POLICY, t(100)),
            [act("a", Action::PutBack, "a is up again")]
        );
    }

    #[test]
    fn suspect_and_recovering_regions_are_left_alone() {
        let on = Switch::in_service();
        let off = out(Cause::Automatic);
        let regions = [
            view("a", Verdict::Suspect, &on, None),
            view("b", Verdict::Recovering, &off, None),
            view("c", Verdict::Up, &on, None),
        ];
        assert!(decide(&regions, &POLICY, t(100)).is_empty());
    }

    #[test]
    fn never_takes_out_the_last_region() {
        let on = Switch::in_service();
        let regions = [
            view("a", Verdict::Down, &on, None),
            view("b", Verdict::Down, &on, None),
            view("c", Verdict::Down, &on, None),
        ];
        let d = decide(&regions, &POLICY, t(100));
        assert_eq!(d[0], act("a", Action::TakeOut, "a is down"));
        assert_eq!(d[1], act("b", Action::TakeOut, "b is down"));
        assert!(
            matches!(&d[2], Decision::Refuse { region, action: Action::TakeOut, reason } if region == "c" && reason.contains("below min_in_service = 1")),
            "{d:?}"
        );
    }

    #[test]
    fn min_in_service_counts_regions_already_out() {
        let on = Switch::in_service();
        let off = out(Cause::Manual);
        let policy = Policy {
            min_in_service: 2,
            ..POLICY
        };
        let regions = [
            view("a", Verdict::Up, &off, None),
            view("b", Verdict::Down, &on, None),
            view("c", Verdict::Up, &on, None),
        ];
        assert!(
            matches!(&decide(&regions, &policy, t(100))[..], [Decision::Refuse { region, .. }] if region == "b")
        );
    }

    #[test]
    fn hold_down_spaces_actions_on_one_region() {
        let on = Switch::in_service();
        let regions = [
            view("a", Verdict::Down, &on, Some(90)),
            view("b", Verdict::Up, &on, None),
        ];
        assert_eq!(
            decide(&regions, &POLICY, t(100)),
            [Decision::Hold {
                region: "a".into(),
                action: Action::TakeOut,
                until: t(120)
            }]
        );
        assert_eq!(
            decide(&regions, &POLICY, t(120)),
            [act("a", Action::TakeOut, "a is down")]
        );
    }

    #[test]
    fn manual_drains_are_never_undone_automatically() {
        let on = Switch::in_service();
        let drained = out(Cause::Manual);
        let regions = [
            view("a", Verdict::Up, &drained, None),
            view("b", Verdict::Up, &on, None),
        ];
        assert!(decide(&regions, &POLICY, t(100)).is_empty());
    }

    #[test]
    fn with_automatic_off_everything_is_reported_not_done() {
        let on = Switch::in_service();
        let policy = Policy {
            automatic: false,
            ..POLICY
        };
        let regions = [
            view("a", Verdict::Down, &on, None),
            view("b", Verdict::Up, &on, None),
        ];
        assert_eq!(
            decide(&regions, &policy, t(100)),
            [Decision::Refuse {
                region: "a".into(),
                action: Action::TakeOut,
                reason: "auto_failover is off".into()
            }]
        );
    }

    #[test]
    fn drains_respect_the_guard() {
        let on = Switch::in_service();
        let off = out(Cause::Automatic);
        let regions = [
            view("a", Verdict::Up, &on, None),
            view("b", Verdict::Up, &off, None),
        ];
        assert!(
            check_drain(&regions, "a", &POLICY)
                .unwrap_err()
                .contains("would leave 0 region(s)")
        );
        assert_eq!(
            check_drain(&regions, "b", &POLICY),
            Ok(()),
            "re-draining a region that is out is allowed"
        );
        assert!(check_drain(&regions, "zz", &POLICY).is_err());
        let policy = Policy {
            min_in_service: 0,
            ..POLICY
        };
        assert_eq!(check_drain(&regions, "a", &policy), Ok(()));
    }
}
