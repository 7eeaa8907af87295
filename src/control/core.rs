//! The controller's logic as a state machine, sans-IO (quinn-proto's shape): inputs in
//! (probes, the cluster's view, operator requests, the outcomes of flips, reads and
//! switch records, ticks), effects out (flips with their fence and deadline, switch
//! records, replies, events, store writes). The time is always passed in. `controller`
//! runs the effects against Route 53, DynamoDB and the store; the simulator runs them
//! against its own world.
//!
//! What it keeps, and why:
//! - a region's switch is flipped only from a known `HealthCheckVersion` (the fence),
//!   and reads older than that version, or started before a flip's outcome was known,
//!   are ignored: a stale read never undoes a confirmed flip;
//! - a flip carries a deadline (the end of this actor's window); after it the flip is
//!   not sent, and an answer lost to a timeout leaves the flip *unknown* (counted as
//!   landed by the guard) until a read started after the deadline says what happened;
//! - for the safety guard a take-out in flight counts as out, and so does a put-back
//!   until Route 53 confirms it;
//! - with several instances, every switch change is recorded in a majority of the
//!   control tables (ordered by epoch, then a sequence number) before a drain is
//!   acknowledged, so a later actor keeps its cause.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::control::clock::Moment;
use crate::control::cluster::View;
use crate::control::failover::{self, Action, Cause, Decision, Policy, RegionView, Switch};
use crate::control::store::{Intent, StoredSwitch};
use crate::control::switches::CheckIds;
use crate::control::switches::FlipOutcome;
use crate::control::verdict::{Probe, Thresholds, Tracker, Verdict};

/// How long a single instance's flip may take before its outcome counts as unknown.
pub const FLIP_TIMEOUT: Duration = Duration::from_secs(8);

/// One region as the control plane knows it.
#[derive(Debug, Clone)]
pub struct RegionState {
    pub name: String,
    pub tracker: Tracker,
    pub switch: Switch,
    pub last_action: Option<SystemTime>,
    /// Route 53's own verdict on the endpoint check; `None` until read.
    pub route53_status: Option<bool>,
    pub checks: CheckIds,
    /// The last refusal or failure reported for this region, to report each once.
    pub last_problem: Option<String>,
    /// The newest `HealthCheckVersion` of the switch read or written: flips are fenced
    /// on it, and reads of an older one are stale.
    pub switch_version: Option<i64>,
    /// A flip failed: the version may be stale, so no flip until a read started after
    /// this moment comes back.
    pub read_after: Option<Moment>,
    /// The verdict decisions act on: this instance's own, or with several instances,
    /// the quorum of the known vantage points (`quorum::verdict`).
    pub decided: Verdict,
    /// Each other live instance's verdict on this region (several instances only).
    pub vantages: Vec<(String, Verdict)>,
    /// The newest switch record of the control tables applied here (epoch, sequence).
    pub record: Option<(u64, u64)>,
}

/// A region at start-up: its checks, the switch as Route 53 has it, and what the store
/// remembers.
#[derive(Debug, Clone)]
pub struct Init {
    pub name: String,
    pub checks: CheckIds,
    pub inverted: bool,
    pub version: i64,
    pub stored: Option<StoredSwitch>,
    pub intent: Option<Intent>,
}

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub thresholds: Thresholds,
    pub policy: Policy,
    /// Several instances (decisions wait for the lease, switch changes are recorded in
    /// the control tables).
    pub several: bool,
}

/// An operator's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Drain { region: String, reason: String },
    Restore { region: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("unknown region {0}")]
    UnknownRegion(String),
    #[error("{0}")]
    Refused(String),
    #[error("route 53 did not take the change: {0}")]
    Aws(String),
    /// Another instance is the actor (its API address, when known): only it acts.
    #[error("this instance is not the actor")]
    NotActor(Option<String>),
}

/// A switch's state as recorded in the control tables by the actor that changed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchRecord {
    pub switch: Switch,
    pub epoch: u64,
    /// Orders one actor's records of a region (it keeps counting up).
    pub seq: u64,
    pub instance: String,
}

/// One region as a read returned it.
#[derive(Debug, Clone)]
pub struct RegionRead {
    pub region: String,
    /// Route 53's status of the endpoint check (`None` when not read).
    pub route53: Option<Result<Option<bool>, String>>,
    /// The switch and its version (`None` when not read: only the actor reads Route 53).
    pub switch: Option<Result<(bool, i64), String>>,
}

/// A read of Route 53 and, with several instances, the control tables' switch records.
#[derive(Debug, Clone)]
pub struct Observed {
    /// When the read started: results of reads started before a flip's outcome was
    /// known say nothing about it.
    pub started: Moment,
    pub regions: Vec<RegionRead>,
    pub records: BTreeMap<String, SwitchRecord>,
}

#[derive(Debug, Clone)]
pub enum Input {
    Probe {
        region: usize,
        probe: Probe,
    },
    /// The cluster's view changed.
    View(View),
    Request {
        id: u64,
        request: Request,
    },
    Flipped {
        region: String,
        flip: u64,
        outcome: FlipOutcome,
    },
    Observed(Observed),
    /// A switch record reached a majority of the control tables (or did not).
    Recorded {
        region: String,
        seq: u64,
        ok: bool,
    },
    Tick,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Set the switch (`out`: inverted) fenced on `version`; not sent at or after
    /// `deadline`, nor waited for past it.
    Flip {
        region: String,
        flip: u64,
        switch_id: String,
        out: bool,
        version: i64,
        deadline: Moment,
        /// The actor's epoch when decided: while this instance still acts in it, the
        /// driver may carry the flip on to the end of the current window.
        epoch: Option<u64>,
        /// Decided by the control loop, not asked for by an operator.
        automatic: bool,
    },
    /// Write the record to every control table; answer `Recorded` once a majority took
    /// it, or all answered.
    Record {
        region: String,
        record: SwitchRecord,
    },
    Reply {
        id: u64,
        result: Result<Switch, CommandError>,
    },
    Event {
        region: Option<String>,
        kind: &'static str,
        message: String,
        took: Option<Duration>,
    },
    SaveSwitch {
        region: String,
        stored: StoredSwitch,
    },
    SaveIntent {
        region: String,
        intent: Intent,
    },
    ClearIntent {
        region: String,
    },
    /// Read Route 53 (and the tables) now rather than at the next interval.
    ReadNow,
    /// This instance's verdicts changed (for the other instances).
    Verdicts(BTreeMap<String, Verdict>),
    /// A flip was counted: its action (take-out, put-back, drain, restore).
    Acted {
        region: String,
        action: &'static str,
    },
}

/// What a flip was for: it decides the event recorded when it lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Automatic(Action),
    Drain,
    Restore,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Automatic(a) => a.as_str(),
            Purpose::Drain => "drain",
            Purpose::Restore => "restore",
        }
    }
}

#[derive(Debug, Clone)]
struct InFlight {
    flip: u64,
    switch: Switch,
    base: i64,
    purpose: Purpose,
    /// " (by INSTANCE, epoch N)" as of when the flip was decided.
    by: String,
    /// The first evidence for the flip (the first probe of its streak, or the request).
    began: SystemTime,
    reply: Option<u64>,
    deadline: Moment,
    /// No answer came: it may have landed; a read started after `deadline` decides.
    unknown: bool,
    /// That read has been asked for.
    read_asked: bool,
}

/// A switch record on its way to the control tables, with the drains waiting on it.
#[derive(Debug, Clone)]
struct Pending {
    record: SwitchRecord,
    replies: Vec<u64>,
    retry_at: Option<Moment>,
}

pub struct Core {
    regions: Vec<RegionState>,
    settings: Settings,
    instance: String,
    view: View,
    /// The actor, and it has read the switches since it became one.
    acting: bool,
    /// Became the actor at this moment; acts once a read started after it has come back.
    awaiting_sync: Option<(Moment, Option<u64>)>,
    /// The epoch whose switches this instance has read since it became the actor in
    /// it: a lease that lapses for a round and comes back in the same epoch needs no
    /// new read (no one else can have acted in between).
    synced: Option<u64>,
    /// Requests that arrived while this new actor read the switches.
    deferred: Vec<(u64, Request)>,
    in_flight: BTreeMap<String, InFlight>,
    /// Write-ahead intents, as the store holds them.
    intents: BTreeMap<String, Intent>,
    pending: BTreeMap<String, Pending>,
    seq: u64,
    next_flip: u64,
    out: Vec<Effect>,
}

impl Core {
    /// The core after start-up: each region's switch adopted from Route 53 and the store.
    /// `instance` names this instance in events when several run.
    pub fn new(
        init: Vec<Init>,
        settings: Settings,
        instance: &str,
        wall: SystemTime,
    ) -> (Core, Vec<Effect>) {
        let mut core = Core {
            regions: Vec::new(),
            settings,
            instance: instance.to_owned(),
            view: View::default(),
            acting: !settings.several,
            awaiting_sync: None,
            synced: None,
            deferred: Vec::new(),
            in_flight: BTreeMap::new(),
            intents: BTreeMap::new(),
            pending: BTreeMap::new(),
            seq: 0,
            next_flip: 0,
            out: Vec::new(),
        };
        for r in init {
            let adopted = adopt(
                &r.name,
                r.inverted,
                r.version,
                r.stored.as_ref(),
                r.intent.as_ref(),
                wall,
            );
            core.apply_adoption(&r.name, &adopted);
            let tracker = if adopted.switch.in_service {
                Tracker::default()
            } else {
                Tracker::starting_down()
            };
            core.regions.push(RegionState {
                name: r.name.clone(),
                decided: tracker.verdict,
                tracker,
                switch: adopted.switch,
                last_action: adopted.last_action,
                route53_status: None,
                checks: r.checks,
                last_problem: None,
                switch_version: Some(r.version),
                read_after: None,
                vantages: Vec::new(),
                record: None,
            });
        }
        let in_service = core.regions.iter().filter(|r| r.switch.in_service).count();
        core.event(
            None,
            "start",
            format!(
                "control plane started: {} regions, {in_service} in service",
                core.regions.len()
            ),
        );
        core.publish_verdicts();
        let out = std::mem::take(&mut core.out);
        (core, out)
    }

    pub fn regions(&self) -> &[RegionState] {
        &self.regions
    }

    pub fn view(&self) -> &View {
        &self.view
    }

    pub fn policy(&self) -> Policy {
        self.settings.policy
    }

    /// Whether this instance acts now (one alone always does).
    pub fn is_acting(&self) -> bool {
        self.acting
    }

    /// Whether reads should include Route 53: only the actor (or an instance becoming
    /// it) spends the account's Route 53 request budget.
    pub fn reads_route53(&self) -> bool {
        self.acting || (self.awaiting_sync.is_some() && self.view.actor_until.is_some())
    }

    /// Flips under way (including unknown ones), by region.
    pub fn in_flight(&self) -> impl Iterator<Item = &str> {
        self.in_flight.keys().map(String::as_str)
    }

    /// When the driver should next call with `Input::Tick`, if anything waits on time.
    pub fn poll_timeout(&self) -> Option<Moment> {
        let retries = self.pending.values().filter_map(|p| p.retry_at);
        let unknown = self
            .in_flight
            .values()
            .filter(|f| f.unknown && !f.read_asked)
            .map(|f| f.deadline);
        let lapse = self.view.actor_until.filter(|_| self.acting);
        retries.chain(unknown).chain(lapse).min()
    }

    pub fn handle(&mut self, now: Moment, wall: SystemTime, input: Input) -> Vec<Effect> {
        match input {
            Input::Probe { region, probe } => {
                self.observe(region, probe);
                self.decide_verdicts();
                self.reconcile(now, wall);
            }
            Input::View(view) => {
                self.view = view;
                self.decide_verdicts();
                self.reconcile(now, wall);
            }
            Input::Request { id, request } => self.request(now, wall, id, request),
            Input::Flipped {
                region,
                flip,
                outcome,
            } => {
                self.flipped(now, wall, &region, flip, outcome);
                self.reconcile(now, wall);
            }
            Input::Observed(o) => {
                self.observed(now, wall, o);
                self.reconcile(now, wall);
            }
            Input::Recorded { region, seq, ok } => self.recorded(now, &region, seq, ok),
            Input::Tick => {
                self.retry_records(now);
                for f in self.in_flight.values_mut() {
                    if f.unknown && !f.read_asked && now >= f.deadline {
                        f.read_asked = true;
                        self.out.push(Effect::ReadNow);
                    }
                }
                self.reconcile(now, wall);
            }
        }
        std::mem::take(&mut self.out)
    }

    fn event(&mut self, region: Option<&str>, kind: &'static str, message: String) {
        self.event_took(region, kind, message, None);
    }

    fn event_took(
        &mut self,
        region: Option<&str>,
        kind: &'static str,
        message: String,
        took: Option<Duration>,
    ) {
        self.out.push(Effect::Event {
            region: region.map(str::to_owned),
            kind,
            message,
            took,
        });
    }

    fn region_mut(&mut self, name: &str) -> Option<&mut RegionState> {
        self.regions.iter_mut().find(|r| r.name == name)
    }

    fn publish_verdicts(&mut self) {
        if self.settings.several {
            let mine = self
                .regions
                .iter()
                .map(|r| (r.name.clone(), r.tracker.verdict))
                .collect();
            self.out.push(Effect::Verdicts(mine));
        }
    }

    fn observe(&mut self, i: usize, probe: Probe) {
        let thresholds = self.settings.thresholds;
        let Some(r) = self.regions.get_mut(i) else {
            return;
        };
        let error = probe.error.clone();
        let Some(t) = r.tracker.observe(probe, thresholds) else {
            return;
        };
        let name = r.name.clone();
        let why = match t.to {
            Verdict::Down => format!(
                "{} failed probes in a row, last: {}",
                r.tracker.consecutive_failures,
                error.unwrap_or_default()
            ),
            Verdict::Suspect => format!("probe failed: {}", error.unwrap_or_default()),
            Verdict::Recovering => "probe succeeded".into(),
            Verdict::Up if t.from == Verdict::Recovering => {
                format!("{} good probes in a row", r.tracker.consecutive_successes)
            }
            Verdict::Up => "probe succeeded".into(),
        };
        self.event(
            Some(&name),
            "probe",
            format!("{name}: {} → {} ({why})", t.from.as_str(), t.to.as_str()),
        );
        self.publish_verdicts();
    }

    /// Sets each region's decided verdict: its own, or the quorum of the known vantage
    /// points.
    fn decide_verdicts(&mut self) {
        if !self.settings.several {
            for r in &mut self.regions {
                r.decided = r.tracker.verdict;
            }
            return;
        }
        let known = self.view.known();
        for r in &mut self.regions {
            r.vantages = self
                .view
                .vantages
                .iter()
                .filter(|v| v.fresh)
                .filter_map(|v| v.verdicts.get(&r.name).map(|x| (v.instance.clone(), *x)))
                .collect();
            let votes: Vec<Verdict> = std::iter::once(r.tracker.verdict)
                .chain(r.vantages.iter().map(|(_, v)| *v))
                .collect();
            r.decided = crate::control::quorum::verdict(&votes, known);
        }
    }

    /// " (by INSTANCE, epoch N)" when several instances run.
    fn by(&self) -> String {
        if self.settings.several {
            format!(
                " (by {}, epoch {})",
                self.instance,
                self.view.epoch.unwrap_or(0)
            )
        } else {
            String::new()
        }
    }

    fn actor_addr(&self) -> Option<String> {
        self.view.actor.as_ref().map(|a| a.addr.clone())
    }

    /// Whether this instance may act now. On becoming the actor it first asks for a
    /// read of the switches and the previous actor's records, and acts once a read
    /// started after that moment has come back (`observed`).
    fn may_act(&mut self, now: Moment) -> bool {
        if !self.settings.several {
            return true;
        }
        if !self.view.is_actor(now) {
            if self.acting {
                let instance = self.instance.clone();
                self.event(None, "actor", format!("{instance} is no longer the actor"));
            }
            self.acting = false;
            let actor = self.actor_addr();
            for (id, _) in std::mem::take(&mut self.deferred) {
                self.out.push(Effect::Reply {
                    id,
                    result: Err(CommandError::NotActor(actor.clone())),
                });
            }
            // Records not yet in a majority are the next actor's to write: it reads
            // Route 53 and keeps what it finds; waiting drains learn it.
            for (_, p) in std::mem::take(&mut self.pending) {
                for id in p.replies {
                    self.out.push(Effect::Reply {
                        id,
                        result: Err(CommandError::NotActor(actor.clone())),
                    });
                }
            }
            return false;
        }
        if self.view.epoch != self.synced {
            // A new epoch: whatever was read before may have changed under another actor.
            self.synced = None;
            if self.awaiting_sync.is_none_or(|(_, e)| e != self.view.epoch) {
                self.awaiting_sync = Some((now, self.view.epoch));
                self.out.push(Effect::ReadNow);
            }
            return false;
        }
        if !self.acting {
            self.acting = true;
            let epoch = self.view.epoch.unwrap_or(0);
            let instance = self.instance.clone();
            self.event(
                None,
                "actor",
                format!("{instance} is the actor (epoch {epoch})"),
            );
        }
        true
    }

    /// What the guard and decisions see: a take-out in flight counts as done; a
    /// put-back counts only once confirmed.
    fn guard_views(&self) -> Vec<RegionView<'_>> {
        self.regions
            .iter()
            .map(|r| RegionView {
                name: &r.name,
                verdict: r.decided,
                switch: match self.in_flight.get(&r.name) {
                    Some(f) if !f.switch.in_service => &f.switch,
                    _ => &r.switch,
                },
                last_action: r.last_action,
            })
            .collect()
    }

    /// Whether a region may be flipped now: nothing in flight, and a version to fence on.
    fn flippable(&self, name: &str) -> bool {
        !self.in_flight.contains_key(name)
            && self
                .regions
                .iter()
                .any(|r| r.name == name && r.switch_version.is_some() && r.read_after.is_none())
    }

    fn reconcile(&mut self, now: Moment, wall: SystemTime) {
        if !self.may_act(now) {
            return;
        }
        let decisions: Vec<Decision> = {
            let views = self.guard_views();
            // A region whose flip is in flight is not decided again: repeated
            // decisions coalesce into the one call already made.
            failover::decide(&views, &self.settings.policy, wall)
                .into_iter()
                .filter(|d| self.flippable(d.region()))
                .collect()
        };
        let mut troubled = Vec::new();
        for d in decisions {
            match d {
                Decision::Act {
                    region,
                    action,
                    reason,
                } => {
                    let switch = match action {
                        Action::TakeOut => out_of_service(Cause::Automatic, &reason, wall),
                        Action::PutBack => back_in_service(wall),
                    };
                    self.start_flip(now, wall, &region, switch, Purpose::Automatic(action), None);
                }
                Decision::Refuse {
                    region,
                    action,
                    reason,
                } => {
                    troubled.push(region.clone());
                    self.problem(
                        &region,
                        "refused",
                        format!("{} of {region} refused: {reason}", action.as_str()),
                    );
                }
                Decision::Hold { region, .. } => troubled.push(region),
            }
        }
        // A region with no refusal or failure any more gets its next one reported anew.
        let in_flight = &self.in_flight;
        for r in self
            .regions
            .iter_mut()
            .filter(|r| !troubled.contains(&r.name) && !in_flight.contains_key(&r.name))
        {
            r.last_problem = None;
        }
    }

    /// Records a refusal or failure once, not on every probe.
    fn problem(&mut self, region: &str, kind: &'static str, message: String) {
        let Some(r) = self.region_mut(region) else {
            return;
        };
        if r.last_problem.as_deref() == Some(message.as_str()) {
            return;
        }
        r.last_problem = Some(message.clone());
        self.event(Some(region), kind, message);
    }

    /// Starts flipping a region's switch: the write-ahead intent is recorded now, the
    /// flip (fenced on the known version, with this actor's deadline) is an effect, and
    /// its outcome comes back as `Input::Flipped`.
    fn start_flip(
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
        // Write-ahead: if the call reaches Route 53 but its confirmation does not reach
        // us (a failed read-back, a crash), adoption finds this intent and knows the
        // change was geoplan's own, with its cause.
        let intent = Intent {
            switch: switch.clone(),
            at: wall,
            base_version: Some(base),
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

    fn clear_intent(&mut self, region: &str) {
        if self.intents.remove(region).is_some() {
            self.out.push(Effect::ClearIntent {
                region: region.to_owned(),
            });
        }
    }

    fn flipped(
        &mut self,
        now: Moment,
        wall: SystemTime,
        region: &str,
        flip: u64,
        outcome: FlipOutcome,
    ) {
        let Some(f) = self
            .in_flight
            .get(region)
            .filter(|f| f.flip == flip)
            .cloned()
        else {
            return;
        };
        match outcome {
            FlipOutcome::Done { version } => self.confirmed(now, wall, region, f, version, None),
            FlipOutcome::NotLanded { error, .. } => {
                self.in_flight.remove(region);
                self.clear_intent(region);
                // The version may be stale (fenced); read again before the next flip.
                if let Some(r) = self.region_mut(region) {
                    r.read_after = Some(now);
                }
                self.out.push(Effect::ReadNow);
                self.failed(region, f, error);
            }
            FlipOutcome::Unknown { error } => {
                if let Some(x) = self.in_flight.get_mut(region) {
                    x.unknown = true;
                    if now >= f.deadline {
                        x.read_asked = true;
                        self.out.push(Effect::ReadNow);
                    }
                }
                let what = f.purpose.as_str();
                self.problem(
                    region,
                    "action-failed",
                    format!(
                        "{what} of {region}: no answer from Route 53 ({error}); a read will tell whether it landed"
                    ),
                );
                if let Some(id) = f.reply
                    && let Some(x) = self.in_flight.get_mut(region)
                {
                    x.reply = None;
                    self.out.push(Effect::Reply {
                        id,
                        result: Err(CommandError::Aws(format!(
                            "no answer from Route 53 ({error}); whether it landed will be recorded"
                        ))),
                    });
                }
            }
        }
    }

    fn failed(&mut self, region: &str, f: InFlight, error: String) {
        let what = f.purpose.as_str();
        self.problem(
            region,
            "action-failed",
            format!("{what} of {region} failed: {error}"),
        );
        if let Some(id) = f.reply {
            self.out.push(Effect::Reply {
                id,
                result: Err(CommandError::Aws(error)),
            });
        }
    }

    /// A flip that Route 53 shows done: state, store, events, the record, the caller.
    fn confirmed(
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
        if let Some(r) = self.region_mut(region) {
            r.switch = switch.clone();
            r.last_action = switch.since;
            r.switch_version = Some(version.max(r.switch_version.unwrap_or(0)));
            r.read_after = None;
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
        let took = wall.duration_since(f.began).unwrap_or_default();
        let from = match f.purpose {
            Purpose::Automatic(Action::TakeOut) => "the first failed probe",
            Purpose::Automatic(_) => "the first good probe",
            Purpose::Drain | Purpose::Restore => "the request",
        };
        let how = how.unwrap_or("Route 53's confirmation");
        let text = format!("{text} ({:.2} s from {from} to {how})", took.as_secs_f64());
        self.event_took(Some(region), kind, text, Some(took));
        self.record(now, region, switch, f.reply);
    }

    /// Records a switch change in the control tables (several instances), then answers
    /// the drain or restore waiting on it; one instance answers at once.
    fn record(&mut self, now: Moment, region: &str, switch: Switch, reply: Option<u64>) {
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

    fn recorded(&mut self, now: Moment, region: &str, seq: u64, ok: bool) {
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

    fn retry_records(&mut self, now: Moment) {
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

    fn request(&mut self, now: Moment, wall: SystemTime, id: u64, request: Request) {
        if !self.may_act(now) {
            if self.awaiting_sync.is_some() && self.view.is_actor(now) {
                // The actor, about to act: the request waits for the switches' read.
                self.deferred.push((id, request));
            } else {
                let actor = self.actor_addr();
                self.out.push(Effect::Reply {
                    id,
                    result: Err(CommandError::NotActor(actor)),
                });
            }
            return;
        }
        let region = match &request {
            Request::Drain { region, .. } | Request::Restore { region } => region.clone(),
        };
        if !self.regions.iter().any(|r| r.name == region) {
            self.out.push(Effect::Reply {
                id,
                result: Err(CommandError::UnknownRegion(region)),
            });
            return;
        }
        if self.in_flight.contains_key(&region) {
            self.out.push(Effect::Reply {
                id,
                result: Err(CommandError::Refused(format!(
                    "a change of {region} is already in flight; try again in a moment"
                ))),
            });
            return;
        }
        match request {
            Request::Drain { reason, .. } => self.drain(now, wall, id, &region, &reason),
            Request::Restore { .. } => self.start_flip(
                now,
                wall,
                &region,
                back_in_service(wall),
                Purpose::Restore,
                Some(id),
            ),
        }
    }

    fn drain(&mut self, now: Moment, wall: SystemTime, id: u64, region: &str, reason: &str) {
        let (check, current) = {
            let views = self.guard_views();
            let current = views
                .iter()
                .find(|v| v.name == region)
                .map(|v| v.switch.clone())
                .unwrap_or_else(Switch::in_service);
            (
                failover::check_drain(&views, region, &self.settings.policy),
                current,
            )
        };
        if let Err(why) = check {
            self.event(
                Some(region),
                "refused",
                format!("drain of {region} refused: {why}"),
            );
            self.out.push(Effect::Reply {
                id,
                result: Err(CommandError::Refused(why)),
            });
            return;
        }
        let reason = failover::drain_reason(&current, reason);
        if current.in_service {
            let switch = out_of_service(Cause::Manual, &reason, wall);
            self.start_flip(now, wall, region, switch, Purpose::Drain, Some(id));
            return;
        }
        // Already out: no Route 53 call, only the cause and reason change, recorded
        // like a flip so that the next actor keeps them.
        let Some(r) = self.region_mut(region) else {
            return;
        };
        r.switch.cause = Some(Cause::Manual);
        r.switch.reason = Some(reason.clone());
        let stored = StoredSwitch {
            switch: r.switch.clone(),
            last_action: r.last_action,
        };
        let switch = r.switch.clone();
        self.out.push(Effect::SaveSwitch {
            region: region.to_owned(),
            stored,
        });
        self.out.push(Effect::Acted {
            region: region.to_owned(),
            action: "drain",
        });
        let by = self.by();
        self.event(
            Some(region),
            "drain",
            format!("{region} drained: {reason}{by}"),
        );
        self.record(now, region, switch, Some(id));
    }

    /// A read of Route 53 (the actor's) and of the control tables' records.
    fn observed(&mut self, now: Moment, wall: SystemTime, o: Observed) {
        let Observed {
            started,
            regions,
            records,
        } = o;
        let syncing = self
            .awaiting_sync
            .is_some_and(|(since, epoch)| started >= since && epoch == self.view.epoch);
        let mut complete = true;
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
        // A new actor acts once it has read every switch and its predecessor's records;
        // a read that missed some asks for another at once, not at the next interval.
        if syncing && !complete && self.view.is_actor(now) {
            self.out.push(Effect::ReadNow);
        }
        if syncing && complete && self.view.is_actor(now) {
            self.awaiting_sync = None;
            self.synced = self.view.epoch;
            if self.may_act(now) {
                for (id, request) in std::mem::take(&mut self.deferred) {
                    self.request(now, wall, id, request);
                }
            }
        }
    }

    /// Another actor's record, seen by an instance that does not read Route 53.
    fn follow_record(&mut self, name: &str, rec: &SwitchRecord) {
        let Some(r) = self.region_mut(name) else {
            return;
        };
        if r.record.is_some_and(|seen| seen >= (rec.epoch, rec.seq)) {
            return;
        }
        r.record = Some((rec.epoch, rec.seq));
        if r.switch != rec.switch {
            r.switch = rec.switch.clone();
            r.last_action = rec.switch.since;
            let stored = StoredSwitch {
                switch: rec.switch.clone(),
                last_action: rec.switch.since,
            };
            self.out.push(Effect::SaveSwitch {
                region: name.to_owned(),
                stored,
            });
        }
    }

    #[allow(clippy::too_many_arguments)] // one switch's read, with its context
    fn observed_switch(
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
            if !(f.unknown && started >= f.deadline) {
                return; // our own flip is under way; its outcome will tell
            }
            // The flip got no answer and can no longer land: this read says whether it did.
            if version > f.base && inverted != f.switch.in_service {
                self.confirmed(now, wall, name, f, version, Some("a later read"));
                return;
            }
            self.in_flight.remove(name);
            self.clear_intent(name);
            self.failed(name, f, "it did not land".into());
        }
        let Some(r) = self.region_mut(name) else {
            return;
        };
        // A read older than what we know (started before a flip we confirmed, or before
        // a failure made the version suspect) says nothing new.
        if r.switch_version.is_some_and(|known| version < known)
            || r.read_after.is_some_and(|after| started < after)
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
            r.switch = rec.switch.clone();
            r.last_action = rec.switch.since;
            let stored = StoredSwitch {
                switch: rec.switch.clone(),
                last_action: rec.switch.since,
            };
            self.out.push(Effect::SaveSwitch {
                region: name.to_owned(),
                stored,
            });
            return;
        }
        let stored = StoredSwitch {
            switch: r.switch.clone(),
            last_action: r.last_action,
        };
        let intent = self.intents.get(name).cloned();
        let adopted = adopt(
            name,
            inverted,
            version,
            Some(&stored),
            intent.as_ref(),
            wall,
        );
        self.apply_adoption(name, &adopted);
        if let Some(r) = self.region_mut(name) {
            r.switch = adopted.switch;
            r.last_action = adopted.last_action;
        }
    }

    /// The store writes and the event an adoption calls for.
    fn apply_adoption(&mut self, name: &str, a: &Adoption) {
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

fn out_of_service(cause: Cause, reason: &str, wall: SystemTime) -> Switch {
    Switch {
        in_service: false,
        cause: Some(cause),
        reason: Some(reason.to_owned()),
        since: Some(wall),
    }
}

fn back_in_service(wall: SystemTime) -> Switch {
    Switch {
        in_service: true,
        cause: None,
        reason: None,
        since: Some(wall),
    }
}

/// What adopting a switch found: the switch to keep, and what to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adoption {
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
pub fn adopt(
    region: &str,
    inverted: bool,
    version: i64,
    stored: Option<&StoredSwitch>,
    intent: Option<&Intent>,
    now: SystemTime,
) -> Adoption {
    if let Some(intent) = intent {
        let landed = intent.base_version.is_none_or(|base| version > base);
        if landed && intent.switch.in_service != inverted {
            let what = if intent.switch.in_service {
                "restore"
            } else {
                "take-out"
            };
            return Adoption {
                switch: intent.switch.clone(),
                last_action: Some(intent.at),
                note: Some(format!(
                    "{region}: geoplan's own {what} reached Route 53 but was not confirmed before; recorded as done"
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
            out_of_service(Cause::Manual, "found out of service in Route 53", now),
            Some(format!(
                "{region} found out of service in Route 53 with no record of why; treating it as drained by hand"
            )),
        ),
        (false, Some(_)) => (
            back_in_service(now),
            Some(format!(
                "{region} found back in service in Route 53 (restored outside geoplan)"
            )),
        ),
        (false, None) => (
            stored
                .map(|s| s.switch.clone())
                .unwrap_or_else(Switch::in_service),
            None,
        ),
    };
    Adoption {
        switch,
        last_action,
        note,
        cleared_intent,
    }
}

#[cfg(test)]
mod tests {
    //! The controller's interleavings as fixed schedules of inputs. Each names the
    //! interleaving of the HA issue it pins; each was seen to fail with its fix undone.
    use super::*;
    use crate::control::cluster::Vantage;
    use crate::control::lease::Record;

    const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-northeast-1"];

    fn t(ms: u64) -> Moment {
        Moment::at(Duration::from_millis(ms))
    }

    fn wall(ms: u64) -> SystemTime {
        std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000) + Duration::from_millis(ms)
    }

    fn core(min_in_service: u32, out: &[usize]) -> Core {
        let init = REGIONS
            .iter()
            .enumerate()
            .map(|(i, name)| Init {
                name: (*name).into(),
                checks: CheckIds {
                    endpoint: format!("e{i}"),
                    switch: format!("s{i}"),
                    region: format!("c{i}"),
                },
                inverted: out.contains(&i),
                version: 1,
                stored: out.contains(&i).then(|| StoredSwitch {
                    switch: out_of_service(Cause::Automatic, "down", wall(0)),
                    last_action: Some(wall(0)),
                }),
                intent: None,
            })
            .collect();
        let settings = Settings {
            thresholds: Thresholds {
                fail_after: 1,
                recover_after: 1,
            },
            policy: Policy {
                hold_down: Duration::ZERO,
                min_in_service,
                automatic: true,
            },
            several: true,
        };
        let (mut c, _) = Core::new(init, settings, "a", wall(0));
        // The actor, with two live peers that agree with whatever this one sees.
        c.handle(t(0), wall(0), Input::View(view(t(10_000))));
        let read = observed(t(1), &[(false, 1); 3].map(|s| s), out);
        c.handle(t(2), wall(2), Input::Observed(read));
        assert!(c.is_acting());
        c
    }

    fn view(until: Moment) -> View {
        View {
            actor_until: Some(until),
            epoch: Some(7),
            actor: Some(Record {
                holder: "a".into(),
                epoch: 7,
                version: 1,
                addr: "http://a".into(),
            }),
            vantages: Vec::new(),
            tables_reachable: 3,
            tables: 3,
            leadership_changes: 1,
            renew_latency: None,
            lease: Duration::from_secs(3),
        }
    }

    /// A read started at `started` showing each switch (inverted, version); `out`
    /// marks inverted ones when `switches` says not.
    fn observed(started: Moment, switches: &[(bool, i64); 3], out: &[usize]) -> Observed {
        Observed {
            started,
            regions: REGIONS
                .iter()
                .enumerate()
                .map(|(i, r)| RegionRead {
                    region: (*r).into(),
                    route53: Some(Ok(Some(true))),
                    switch: Some(Ok((switches[i].0 || out.contains(&i), switches[i].1))),
                })
                .collect(),
            records: BTreeMap::new(),
        }
    }

    fn probe(region: usize, ok: bool, ms: u64) -> Input {
        Input::Probe {
            region,
            probe: Probe {
                at: wall(ms),
                ok,
                latency: Duration::from_millis(1),
                error: (!ok).then(|| "refused".into()),
            },
        }
    }

    fn flips(effects: &[Effect]) -> Vec<(String, bool, i64, Moment)> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Flip {
                    region,
                    out,
                    version,
                    deadline,
                    ..
                } => Some((region.clone(), *out, *version, *deadline)),
                _ => None,
            })
            .collect()
    }

    fn flip_id(effects: &[Effect]) -> u64 {
        effects
            .iter()
            .find_map(|e| match e {
                Effect::Flip { flip, .. } => Some(*flip),
                _ => None,
            })
            .expect("a flip")
    }

    /// Interleaving 1: a flip carries the end of the actor's window as its deadline,
    /// after which its driver neither sends it nor waits for it.
    #[test]
    fn a_flip_is_bounded_by_the_actors_window() {
        let mut c = core(1, &[]);
        let e = c.handle(t(100), wall(100), probe(1, false, 100));
        assert_eq!(flips(&e), [("eu-west-1".into(), true, 1, t(10_000))]);
    }

    /// Interleaving 2: the retry after a fenced flip used to be sent without a version.
    /// Now no flip goes until a read started after the failure gives one.
    #[test]
    fn after_a_fenced_flip_nothing_is_sent_until_a_newer_read() {
        let mut c = core(1, &[]);
        let e = c.handle(t(100), wall(100), probe(1, false, 100));
        let id = flip_id(&e);
        let e = c.handle(
            t(200),
            wall(200),
            Input::Flipped {
                region: "eu-west-1".into(),
                flip: id,
                outcome: FlipOutcome::NotLanded {
                    error: "HealthCheckVersionMismatch".into(),
                    fenced: true,
                },
            },
        );
        assert!(e.contains(&Effect::ReadNow));
        assert!(
            e.contains(&Effect::ClearIntent {
                region: "eu-west-1".into()
            }),
            "interleaving 10: a flip that did not land leaves no intent behind"
        );
        let e = c.handle(t(300), wall(300), probe(1, false, 300));
        assert!(flips(&e).is_empty(), "no flip without a version: {e:?}");
        // A read that started before the failure says nothing.
        let e = c.handle(
            t(400),
            wall(400),
            Input::Observed(observed(t(150), &[(false, 1); 3], &[])),
        );
        assert!(flips(&e).is_empty());
        // One started after it shows someone's newer version; the flip is fenced on it.
        let e = c.handle(
            t(500),
            wall(500),
            Input::Observed(observed(t(250), &[(false, 1), (false, 5), (false, 1)], &[])),
        );
        assert_eq!(flips(&e), [("eu-west-1".into(), true, 5, t(10_000))]);
    }

    /// Interleaving 3: a read that started before a take-out and came back after it was
    /// confirmed used to be adopted as "restored outside geoplan".
    #[test]
    fn a_stale_read_never_undoes_a_confirmed_flip() {
        let mut c = core(1, &[]);
        let e = c.handle(t(100), wall(100), probe(1, false, 100));
        let id = flip_id(&e);
        c.handle(
            t(200),
            wall(200),
            Input::Flipped {
                region: "eu-west-1".into(),
                flip: id,
                outcome: FlipOutcome::Done { version: 2 },
            },
        );
        let e = c.handle(
            t(300),
            wall(300),
            Input::Observed(observed(t(50), &[(false, 1); 3], &[])),
        );
        assert!(!c.regions()[1].switch.in_service, "still out: {e:?}");
        assert!(
            !e.iter().any(|e| matches!(
                e,
                Effect::Event {
                    kind: "adopted",
                    ..
                }
            )),
            "{e:?}"
        );
    }

    /// Interleaving 4: a put-back in flight used to count as in service for the guard;
    /// if it then failed, fewer than `min_in_service` regions were left.
    #[test]
    fn a_put_back_counts_only_once_confirmed() {
        // us-east-1 is out (automatic) and recovers; eu-west-1 then goes down.
        let mut c = core(2, &[0]);
        let e = c.handle(t(100), wall(100), probe(0, true, 100));
        assert_eq!(flips(&e), [("us-east-1".into(), false, 1, t(10_000))]);
        let e = c.handle(t(200), wall(200), probe(1, false, 200));
        assert!(flips(&e).is_empty(), "only two count as in service: {e:?}");
        assert!(
            e.iter().any(|e| matches!(
                e,
                Effect::Event {
                    kind: "refused",
                    ..
                }
            )),
            "{e:?}"
        );
    }

    /// Interleaving 5: a drain of a region already out was recorded only in the local
    /// store; the next actor copied the tables' "automatic" over it.
    #[test]
    fn a_drain_of_a_region_already_out_is_acknowledged_once_the_tables_have_it() {
        let mut c = core(1, &[2]);
        let e = c.handle(
            t(100),
            wall(100),
            Input::Request {
                id: 9,
                request: Request::Drain {
                    region: "ap-northeast-1".into(),
                    reason: "maintenance".into(),
                },
            },
        );
        let record = e
            .iter()
            .find_map(|e| match e {
                Effect::Record { record, .. } => Some(record.clone()),
                _ => None,
            })
            .expect("recorded in the tables");
        assert_eq!(record.switch.cause, Some(Cause::Manual));
        assert_eq!(record.epoch, 7);
        assert!(
            !e.iter().any(|e| matches!(e, Effect::Reply { .. })),
            "not acknowledged yet"
        );
        let e = c.handle(
            t(200),
            wall(200),
            Input::Recorded {
                region: "ap-northeast-1".into(),
                seq: record.seq,
                ok: false,
            },
        );
        assert!(!e.iter().any(|e| matches!(e, Effect::Reply { .. })));
        let e = c.handle(t(800), wall(800), Input::Tick);
        assert!(
            e.iter().any(|e| matches!(e, Effect::Record { .. })),
            "retried: {e:?}"
        );
        let e = c.handle(
            t(900),
            wall(900),
            Input::Recorded {
                region: "ap-northeast-1".into(),
                seq: record.seq,
                ok: true,
            },
        );
        assert!(
            e.iter().any(|e| matches!(e, Effect::Reply { id: 9, result: Ok(s) } if s.cause == Some(Cause::Manual))),
            "{e:?}"
        );
    }

    /// Interleaving 7 at the controller: the peers are known but silent (every scan
    /// failed): this instance's own "down" is not a quorum.
    #[test]
    fn silent_peers_keep_a_lone_down_from_acting() {
        let mut c = core(1, &[]);
        let mut v = view(t(10_000));
        v.vantages = ["b", "c"]
            .map(|p| Vantage {
                instance: p.into(),
                addr: format!("http://{p}"),
                verdicts: BTreeMap::new(),
                heard_at: None,
                fresh: false,
            })
            .to_vec();
        c.handle(t(50), wall(50), Input::View(v));
        let e = c.handle(t(100), wall(100), probe(1, false, 100));
        assert!(flips(&e).is_empty(), "{e:?}");
        assert_eq!(c.regions()[1].decided, Verdict::Suspect);
    }

    /// A flip whose answer was lost may have landed: it counts as done for the guard
    /// until a read started after its deadline tells.
    #[test]
    fn an_unknown_flip_is_resolved_by_a_read_after_its_deadline() {
        let mut c = core(2, &[]);
        let e = c.handle(t(100), wall(100), probe(1, false, 100));
        let id = flip_id(&e);
        c.handle(
            t(200),
            wall(200),
            Input::Flipped {
                region: "eu-west-1".into(),
                flip: id,
                outcome: FlipOutcome::Unknown {
                    error: "no answer".into(),
                },
            },
        );
        // Meanwhile another region goes down: the unknown take-out counts.
        let e = c.handle(t(300), wall(300), probe(2, false, 300));
        assert!(flips(&e).is_empty(), "{e:?}");
        // A read before the deadline is not evidence.
        c.handle(
            t(400),
            wall(400),
            Input::Observed(observed(t(300), &[(false, 1), (true, 2), (false, 1)], &[])),
        );
        assert!(c.in_flight().any(|r| r == "eu-west-1"));
        let e = c.handle(t(10_001), wall(10_001), Input::Tick);
        assert!(e.contains(&Effect::ReadNow));
        let e = c.handle(
            t(10_100),
            wall(10_100),
            Input::Observed(observed(
                t(10_050),
                &[(false, 1), (true, 2), (false, 1)],
                &[],
            )),
        );
        assert!(!c.regions()[1].switch.in_service, "it landed: {e:?}");
        assert!(e.iter().any(|e| matches!(e, Effect::Event { kind: "failover", message, .. } if message.contains("a later read"))), "{e:?}");
    }

    #[test]
    fn adoption_keeps_known_causes_and_treats_unknown_ones_as_manual() {
        let now = wall(0);
        let auto = StoredSwitch {
            switch: out_of_service(Cause::Automatic, "down", now),
            last_action: Some(now),
        };
        let a = adopt("a", true, 3, Some(&auto), None, now);
        assert_eq!(
            (a.switch.cause, a.last_action, a.note),
            (Some(Cause::Automatic), Some(now), None)
        );
        let b = adopt("b", true, 3, None, None, now);
        assert_eq!(
            b.switch.cause,
            Some(Cause::Manual),
            "found off with no record: never undone automatically"
        );
        assert!(b.note.is_some());
        let c = adopt("a", false, 3, Some(&auto), None, now);
        assert!(c.switch.in_service, "Route 53 is the truth for in/out");
        assert!(c.note.is_some());
    }

    #[test]
    fn adoption_recognises_geoplans_own_unconfirmed_flips_by_their_version() {
        let now = wall(0);
        let intent = Intent {
            switch: out_of_service(Cause::Automatic, "eu-west-1 is down", now),
            at: now,
            base_version: Some(4),
        };
        let landed = adopt("a", true, 5, None, Some(&intent), now);
        assert_eq!(
            landed.switch.cause,
            Some(Cause::Automatic),
            "not mistaken for a manual drain"
        );
        assert!(landed.cleared_intent);
        assert_eq!(
            landed.note.as_deref(),
            Some(
                "a: geoplan's own take-out reached Route 53 but was not confirmed before; recorded as done"
            )
        );
        // Out at the version it was fenced on: not this flip's doing.
        let other = adopt("a", true, 4, None, Some(&intent), now);
        assert_eq!(other.switch.cause, Some(Cause::Manual));
        assert!(other.cleared_intent);
        // An intent that never took effect changes nothing.
        let none = adopt("c", false, 4, None, Some(&intent), now);
        assert!(none.switch.in_service && none.note.is_none() && none.cleared_intent);
    }
}
