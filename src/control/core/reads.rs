//! What `Core` makes of reads: Route 53's switches and the control tables' switch
//! records, folded in only when newer than what it knows; the sync of a new actor; the
//! unknown flips a read resolves; and the reconciliation of a switch changed outside geoplan.

use std::time::SystemTime;

use crate::control::clock::Moment;
use crate::control::store::{Intent, StoredSwitch};
use crate::control::switches::SwitchError;

use super::{Core, Effect, Observed, SwitchRecord, back_in_service, out_of_service};
use crate::control::failover::{Cause, Switch};

impl Core {
    /// A read of Route 53 (the actor's) and of the control tables' records.
    pub(super) fn observed(&mut self, now: Moment, wall: SystemTime, o: Observed) {
        let Observed {
            started,
            regions,
            records,
            records_complete,
        } = o;
        let syncing = self
            .awaiting_sync
            .is_some_and(|(since, epoch)| started >= since && epoch == self.view.epoch);
        // A sync needs every switch and the records of a majority of the tables.
        let mut complete = records_complete;
        for read in regions {
            let name = read.region;
            if let Some(Ok(h)) = &read.route53
                && let Some(r) = self.region_mut(&name)
            {
                r.route53_status = *h;
            }
            let record = records.get(&name);
            match read.switch {
                Some(Ok((inverted, version))) => {
                    self.observed_switch(now, wall, &name, started, inverted, version, record)
                }
                Some(Err(_)) => complete = false,
                None => {
                    complete = false;
                    if let Some(rec) = record {
                        self.follow_record(&name, rec);
                    }
                }
            }
        }
        // A new actor acts once it has read every switch and its predecessor's records
        // (in the epoch it waits in: a lapse and return in the same epoch changes
        // nothing); a read that missed some asks for another soon.
        if syncing && complete {
            self.awaiting_sync = None;
            self.sync_read_at = None;
            self.synced = self.view.epoch;
            if self.may_act(now) {
                for (id, request) in std::mem::take(&mut self.deferred) {
                    self.request(now, wall, id, request);
                }
            }
        } else if syncing {
            self.sync_read_at = Some(now + super::SYNC_RETRY);
        }
    }

    /// Another actor's record, seen by an instance that does not read Route 53.
    pub(super) fn follow_record(&mut self, name: &str, rec: &SwitchRecord) {
        let Some(r) = self.region_mut(name) else {
            return;
        };
        if r.record.is_some_and(|seen| seen >= (rec.epoch, rec.seq)) {
            return;
        }
        r.record = Some((rec.epoch, rec.seq));
        if r.switch != rec.switch {
            self.take_record(name, rec);
        }
    }

    /// Takes a record's switch (and why) as this region's, and saves it.
    fn take_record(&mut self, name: &str, rec: &SwitchRecord) {
        if let Some(r) = self.region_mut(name) {
            r.switch = rec.switch.clone();
            r.last_action = rec.switch.since;
        }
        self.out.push(Effect::SaveSwitch {
            region: name.to_owned(),
            stored: StoredSwitch {
                switch: rec.switch.clone(),
                last_action: rec.switch.since,
            },
        });
    }

    #[allow(clippy::too_many_arguments)] // one switch's read, with its context
    pub(super) fn observed_switch(
        &mut self,
        now: Moment,
        wall: SystemTime,
        name: &str,
        started: Moment,
        inverted: bool,
        version: i64,
        record: Option<&SwitchRecord>,
    ) {
        if let Some(f) = self.in_flight.get(name).cloned() {
            if !(f.unknown && started >= self.settled(f.deadline)) {
                return; // our own flip is under way; its outcome will tell
            }
            // The flip got no answer and can no longer land: this read says whether it
            // did. Only in the epoch it was decided in is the change surely its own;
            // after a change of actor, the records say whose it is.
            let landed =
                (version > f.base || !self.settings.versioned()) && inverted != f.switch.in_service;
            if landed && f.epoch == self.view.epoch {
                self.confirmed(now, wall, name, f, version, Some("a later read"));
                return;
            }
            self.in_flight.remove(name);
            self.clear_intent(name);
            if !landed {
                self.failed(name, f, SwitchError::DidNotLand.into());
            }
        }
        let versioned = self.settings.versioned();
        let Some(r) = self.region_mut(name) else {
            return;
        };
        // A read older than what we know (started before a flip we confirmed, or before
        // a failure made the version suspect) says nothing new.
        if (versioned && r.switch_version.is_some_and(|known| version < known))
            || r.read_after.is_some_and(|after| started < after)
            || r.confirmed_at.is_some_and(|at| started < at)
        {
            return;
        }
        r.switch_version = Some(version);
        r.read_after = None;
        // Only a record newer than any this instance knows (its own included) says
        // anything: a table that missed the latest write still shows an older one.
        let record = record.filter(|rec| r.record.is_none_or(|known| (rec.epoch, rec.seq) > known));
        if let Some(rec) = record {
            r.record = Some((rec.epoch, rec.seq));
        }
        if inverted != r.switch.in_service {
            // As we know it; a newer record of the same state may still say why.
            if let Some(rec) = record.filter(|rec| rec.switch.in_service == r.switch.in_service)
                && rec.switch != r.switch
            {
                r.switch = rec.switch.clone();
                r.last_action = rec.switch.since;
            }
            return;
        }
        if let Some(rec) = record.filter(|rec| rec.switch.in_service != inverted) {
            // Another instance (the actor) flipped it and said why.
            self.take_record(name, rec);
            return;
        }
        let stored = StoredSwitch {
            switch: r.switch.clone(),
            last_action: r.last_action,
        };
        let intent = self.intents.get(name).cloned();
        let found = reconcile(
            name,
            inverted,
            version,
            Some(&stored),
            intent.as_ref(),
            wall,
        );
        self.apply_reconciled(name, &found);
        if let Some(r) = self.region_mut(name) {
            r.switch = found.switch;
            r.last_action = found.last_action;
        }
    }

    /// The store writes and the event a reconciliation calls for.
    pub(super) fn apply_reconciled(&mut self, name: &str, a: &Reconciled) {
        if a.cleared_intent {
            self.intents.remove(name);
            self.out.push(Effect::ClearIntent {
                region: name.to_owned(),
            });
        }
        if let Some(note) = &a.note {
            self.event(Some(name), "adopted", note.clone());
            self.out.push(Effect::SaveSwitch {
                region: name.to_owned(),
                stored: StoredSwitch {
                    switch: a.switch.clone(),
                    last_action: a.last_action,
                },
            });
        }
    }
}

/// What reconciling a switch found: the switch to keep, and what to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciled {
    pub switch: Switch,
    pub last_action: Option<SystemTime>,
    /// An event to record (and the switch to save) when Route 53 said something the
    /// store did not know.
    pub note: Option<String>,
    /// A write-ahead intent was resolved.
    pub cleared_intent: bool,
}

/// Reconciles Route 53's switch with the stored cause: Route 53 is the truth for
/// in/out; the store keeps why. A flip geoplan recorded as intended, and Route 53 shows
/// done at a newer version than the one it was fenced on, is geoplan's own (its
/// confirmation was lost to a crash or a failed read-back). A switch found out with no
/// record of why counts as a manual drain, so geoplan never undoes a change it did not
/// make. Pure.
pub fn reconcile(
    region: &str,
    inverted: bool,
    version: i64,
    stored: Option<&StoredSwitch>,
    intent: Option<&Intent>,
    now: SystemTime,
) -> Reconciled {
    if let Some(intent) = intent {
        let landed = intent.base_version.is_none_or(|base| version > base);
        if landed && intent.switch.in_service != inverted {
            let what = if intent.switch.in_service {
                "restore"
            } else {
                "take-out"
            };
            return Reconciled {
                switch: intent.switch.clone(),
                last_action: Some(intent.at),
                note: Some(format!(
                    "{region}: geoplan's own {what} reached its switch but was not confirmed before; recorded as done"
                )),
                cleared_intent: true,
            };
        }
        // The intended flip never took effect: what the store says still holds.
    }
    let cleared_intent = intent.is_some();
    let last_action = stored.and_then(|s| s.last_action);
    let stored_out = stored.filter(|s| !s.switch.in_service);
    let (switch, note) = match (inverted, stored_out) {
        (true, Some(s)) => (s.switch.clone(), None),
        (true, None) => (
            out_of_service(Cause::Manual, "found out of service at its switch", now),
            Some(format!(
                "{region} found out of service at its switch with no record of why; treating it as drained by hand"
            )),
        ),
        (false, Some(_)) => (
            back_in_service(now),
            Some(format!(
                "{region} found back in service at its switch (restored outside geoplan)"
            )),
        ),
        (false, None) => (
            stored
                .map(|s| s.switch.clone())
                .unwrap_or_else(Switch::in_service),
            None,
        ),
    };
    Reconciled {
        switch,
        last_action,
        note,
        cleared_intent,
    }
}
