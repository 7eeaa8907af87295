//! The flip bookkeeping of `Core`: a flip started with its write-ahead intent, fence
//! and deadline; its outcome (done, not landed, unknown) folded back; the switch record
//! that follows it into the control tables, and the drains waiting on that record.

use std::time::{Duration, SystemTime};

use crate::control::clock::Moment;
use crate::control::failover::{Action, Switch};
use crate::control::store::{Intent, StoredSwitch};
use crate::control::switches::{FlipError, FlipOutcome, SwitchError};

use super::{CommandError, Core, Effect, FLIP_TIMEOUT, InFlight, Pending, Purpose, SwitchRecord};
use crate::control::failback;

impl Core {
    /// Starts flipping a region's switch: the write-ahead intent is recorded now, the
    /// flip (fenced on the known version, with this actor's deadline) is an effect, and
    /// its outcome comes back as `Input::Flipped`.
    pub(super) fn start_flip(
        &mut self,
        now: Moment,
        wall: SystemTime,
        region: &str,
        switch: Switch,
        purpose: Purpose,
        reply: Option<u64>,
    ) {
        let Some(r) = self.regions.iter().find(|r| r.name == region) else {
            return;
        };
        let Some(base) = r.switch_version.filter(|_| r.read_after.is_none()) else {
            if let Some(id) = reply {
                self.out.push(Effect::Reply {
                    id,
                    result: Err(CommandError::Refused(format!(
                        "the state of {region}'s switch is being read again; try again in a moment"
                    ))),
                });
            }
            return;
        };
        let deadline = if self.settings.several {
            match self.view.actor_until {
                Some(until) if now < until => until,
                _ => return, // may_act said yes a moment ago; nothing to flip with
            }
        } else {
            now + FLIP_TIMEOUT
        };
        let began = match purpose {
            Purpose::Automatic(_) => r.tracker.streak_since.unwrap_or(wall).min(wall),
            Purpose::Drain | Purpose::Restore => wall,
        };
        let switch_id = r.checks.switch.clone();
        if switch.in_service
            && let Some(r) = self.regions.iter_mut().find(|r| r.name == region)
            && let Some(since) = r.held_since.take()
        {
            r.held_for = Some(wall.duration_since(since).unwrap_or_default());
        }
        // Write-ahead: if the call reaches Route 53 but its confirmation does not reach
        // us (a failed read-back, a crash), reconciliation finds this intent and knows the
        // change was geoplan's own, with its cause.
        let intent = Intent {
            switch: switch.clone(),
            at: wall,
            base_version: self.settings.versioned().then_some(base),
        };
        self.intents.insert(region.to_owned(), intent.clone());
        self.out.push(Effect::SaveIntent {
            region: region.to_owned(),
            intent,
        });
        self.next_flip += 1;
        let flip = self.next_flip;
        self.in_flight.insert(
            region.to_owned(),
            InFlight {
                flip,
                switch: switch.clone(),
                base,
                purpose,
                by: self.by(),
                began,
                reply,
                deadline,
                epoch: self.view.epoch,
                unknown: false,
                read_asked: false,
            },
        );
        self.out.push(Effect::Flip {
            region: region.to_owned(),
            flip,
            switch_id,
            out: !switch.in_service,
            version: base,
            deadline,
            epoch: self.settings.several.then_some(self.view.epoch).flatten(),
            automatic: matches!(purpose, Purpose::Automatic(_)),
        });
    }

    pub(super) fn clear_intent(&mut self, region: &str) {
        if self.intents.remove(region).is_some() {
            self.out.push(Effect::ClearIntent {
                region: region.to_owned(),
            });
        }
    }

    pub(super) fn flipped(
        &mut self,
        now: Moment,
        wall: SystemTime,
        region: &str,
        flip: u64,
        outcome: FlipOutcome,
        via: crate::config::SwitchPath,
    ) {
        let Some(f) = self
            .in_flight
            .get(region)
            .filter(|f| f.flip == flip)
            .cloned()
        else {
            return;
        };
        // Unversioned switches: whatever a path said, there is no version to keep
        // (a `both` flip's Route 53 half has one; its reads do not).
        let outcome = match outcome {
            FlipOutcome::Done { .. } if !self.settings.versioned() => {
                FlipOutcome::Done { version: 0 }
            }
            other => other,
        };
        match outcome {
            FlipOutcome::Done { version } => {
                let how = confirmation(self.settings.path, via, f.switch.in_service);
                self.confirmed(now, wall, region, f, version, Some(how))
            }
            FlipOutcome::NotLanded { error, fenced } => {
                self.in_flight.remove(region);
                self.clear_intent(region);
                // Never sent (it waited past its deadline): nothing reached Route 53, so
                // the version holds and the flip may be decided again at once, instead
                // of after a whole read of every switch. Refused (fenced, throttled, any
                // other error of the caller's): read again before the next flip, which
                // paces a refusal that would repeat.
                let unsent = matches!(error.kind(), SwitchError::NotSent);
                if fenced || !unsent {
                    if let Some(r) = self.region_mut(region) {
                        r.read_after = Some(now);
                    }
                    self.out.push(Effect::ReadNow);
                }
                self.failed(region, f, error);
            }
            FlipOutcome::Unknown { error } => {
                // The driver may have let the call run past the deadline decided here (to
                // the end of a later window of the same epoch), and an answer lost to an
                // error comes before it: either way the request reached Route 53 before
                // now, so the flip is settled a margin after the later of the two.
                // A read is asked for once it is settled (`poll_timeout`, then a tick).
                if let Some(x) = self.in_flight.get_mut(region) {
                    x.deadline = f.deadline.max(now);
                    x.unknown = true;
                }
                let what = f.purpose.as_str();
                self.problem(
                    region,
                    "action-failed",
                    format!(
                        "{what} of {region}: not confirmed ({error}); a read will tell whether it landed"
                    ),
                );
                if let Some(id) = f.reply
                    && let Some(x) = self.in_flight.get_mut(region)
                {
                    x.reply = None;
                    self.out.push(Effect::Reply {
                        id,
                        result: Err(CommandError::Unconfirmed(error)),
                    });
                }
            }
        }
    }

    pub(super) fn failed(&mut self, region: &str, f: InFlight, error: FlipError) {
        let what = f.purpose.as_str();
        self.problem(
            region,
            "action-failed",
            format!("{what} of {region} failed: {error}"),
        );
        if let Some(id) = f.reply {
            // ARC's safety rule is a guard like geoplan's own, and answered as one.
            let result = match error.kind() {
                SwitchError::Refused(reason) => Err(CommandError::Refused(format!(
                    "ARC refused the {what} of {region} (a safety rule, or the rule's wait period after the last change): {reason}"
                ))),
                _ => Err(CommandError::Aws(error)),
            };
            self.out.push(Effect::Reply { id, result });
        }
    }

    /// A flip that Route 53 shows done: state, store, events, the record, the caller.
    pub(super) fn confirmed(
        &mut self,
        now: Moment,
        wall: SystemTime,
        region: &str,
        f: InFlight,
        version: i64,
        how: Option<&str>,
    ) {
        self.in_flight.remove(region);
        let switch = f.switch.clone();
        let versioned = self.settings.versioned();
        let took = wall.duration_since(f.began).unwrap_or_default();
        let recovery = self.recovery(region, &f, took, wall);
        if let Some(r) = self.region_mut(region) {
            r.recovery = recovery.clone();
            // Each episode counts its own hold: nothing carries into the next.
            r.held_since = None;
            r.held_for = None;
            r.switch = switch.clone();
            r.last_action = switch.since;
            r.switch_version = Some(version.max(r.switch_version.unwrap_or(0)));
            r.read_after = None;
            if !versioned {
                r.confirmed_at = Some(now);
            }
            r.last_problem = None;
        }
        let stored = StoredSwitch {
            switch: switch.clone(),
            last_action: switch.since,
        };
        self.out.push(Effect::SaveSwitch {
            region: region.to_owned(),
            stored,
        });
        self.clear_intent(region);
        let by = &f.by;
        let reason = switch.reason.as_deref().unwrap_or_default();
        let (kind, text) = match f.purpose {
            Purpose::Automatic(Action::TakeOut) => (
                "failover",
                format!("{region} taken out of service: {reason}{by}"),
            ),
            Purpose::Automatic(_) => ("failback", format!("{region} put back in service{by}")),
            Purpose::Drain => ("drain", format!("{region} drained: {reason}{by}")),
            Purpose::Restore => ("restore", format!("{region} restored to service{by}")),
        };
        self.out.push(Effect::Acted {
            region: region.to_owned(),
            action: f.purpose.as_str(),
        });
        let from = failback::evidence(f.purpose.recovery_kind());
        let how = how.unwrap_or("the switch's confirmation");
        let mut text = format!("{text} ({:.2} s from {from} to {how})", took.as_secs_f64());
        if let Some(recovery) = recovery {
            text += &recovery_text(region, &recovery);
            if recovery.recovery_time.is_some() {
                self.out.push(Effect::WatchDns {
                    region: region.to_owned(),
                    since: f.began,
                });
            }
            self.out.push(Effect::Recovered {
                region: region.to_owned(),
                recovery,
            });
        }
        self.event_took(Some(region), kind, text, Some(took));
        self.record(now, region, switch, f.reply);
    }

    /// The recovery figures of a flip being confirmed (before the region's state
    /// changes): for a take-out, the recovery time and, where tables replicate out of the
    /// region, the recovery point; for a put-back, how long the region was out and how
    /// long the failback gate held it.
    fn recovery(
        &self,
        region: &str,
        f: &InFlight,
        took: Duration,
        wall: SystemTime,
    ) -> Option<failback::Recovery> {
        let r = self.regions.iter().find(|r| r.name == region)?;
        let mut recovery = failback::Recovery {
            kind: f.purpose.recovery_kind(),
            at: wall,
            recovery_time: None,
            dns_time: None,
            dns_outcome: None,
            recovery_point: Vec::new(),
            replicated: r.gated,
            out_for: None,
            held_for: None,
        };
        if f.switch.in_service {
            if r.switch.in_service {
                return None; // nothing was out
            }
            recovery.out_for = r.switch.since.and_then(|s| wall.duration_since(s).ok());
            recovery.held_for = r.held_for;
        } else {
            if !r.switch.in_service {
                return None; // already out: no recovery to measure
            }
            recovery.recovery_time = Some(took);
            if let Some(read) = &r.replication {
                // Each lag's age as of this moment, not of the reading.
                let later = wall
                    .duration_since(read.inbound.at)
                    .unwrap_or_default()
                    .as_secs_f64();
                recovery.recovery_point = read.outbound.iter().map(|l| l.aged(later)).collect();
            }
        }
        Some(recovery)
    }

    /// Records a switch change in the control tables (several instances), then answers
    /// the drain or restore waiting on it; one instance answers at once.
    pub(super) fn record(&mut self, now: Moment, region: &str, switch: Switch, reply: Option<u64>) {
        if !self.settings.several {
            if let Some(id) = reply {
                self.out.push(Effect::Reply {
                    id,
                    result: Ok(switch),
                });
            }
            return;
        }
        self.seq += 1;
        let record = SwitchRecord {
            switch,
            epoch: self.view.epoch.unwrap_or(0),
            seq: self.seq,
            instance: self.instance.clone(),
        };
        if let Some(r) = self.region_mut(region) {
            r.record = Some((record.epoch, record.seq));
        }
        let replies = self
            .pending
            .remove(region)
            .map(|p| p.replies)
            .unwrap_or_default()
            .into_iter()
            .chain(reply)
            .collect();
        self.out.push(Effect::Record {
            region: region.to_owned(),
            record: record.clone(),
        });
        let _ = now;
        self.pending.insert(
            region.to_owned(),
            Pending {
                record,
                replies,
                retry_at: None,
            },
        );
    }

    pub(super) fn recorded(&mut self, now: Moment, region: &str, seq: u64, ok: bool) {
        let Some(p) = self.pending.get_mut(region).filter(|p| p.record.seq == seq) else {
            return;
        };
        if ok {
            let p = self.pending.remove(region).expect("just found");
            for id in p.replies {
                self.out.push(Effect::Reply {
                    id,
                    result: Ok(p.record.switch.clone()),
                });
            }
        } else {
            p.retry_at = Some(now + Duration::from_millis(500));
        }
    }

    pub(super) fn retry_records(&mut self, now: Moment) {
        for (region, p) in &mut self.pending {
            if p.retry_at.is_some_and(|t| now >= t) {
                p.retry_at = None;
                self.out.push(Effect::Record {
                    region: region.clone(),
                    record: p.record.clone(),
                });
            }
        }
    }
}

/// What confirmed a flip, for its event: the path that answered, or both (a `both`
/// put-back always needs both).
fn confirmation(
    path: crate::config::SwitchPath,
    via: crate::config::SwitchPath,
    in_service: bool,
) -> &'static str {
    use crate::config::SwitchPath;
    match (path, via) {
        (SwitchPath::Both, _) if in_service => "both confirmations (Route 53 and ARC)",
        (_, SwitchPath::Both) => "both confirmations (Route 53 and ARC)",
        (_, SwitchPath::Arc) => "ARC's confirmation",
        _ => "Route 53's confirmation",
    }
}

/// The recovery figures as the event says them.
fn recovery_text(region: &str, r: &failback::Recovery) -> String {
    let mut text = String::new();
    if let Some(out) = r.out_for {
        text += &format!("; out of service {:.1} s", out.as_secs_f64());
    }
    if let Some(held) = r.held_for {
        text += &format!(", held by the failback gate {:.1} s", held.as_secs_f64());
    }
    let points: Vec<String> = r
        .recovery_point
        .iter()
        .map(|l| match (l.lag_seconds, l.age_seconds) {
            (Some(lag), Some(age)) => format!("{} {lag:.1} s (read {age:.0} s before)", l.table),
            _ => format!(
                "{} unknown (no ReplicationLatency out of {region})",
                l.table
            ),
        })
        .collect();
    if !points.is_empty() {
        text += &format!("; recovery point: {}", points.join(", "));
    } else if r.replicated && r.recovery_time.is_some() {
        text += &format!("; recovery point unknown (replication out of {region} not read yet)");
    }
    text
}
