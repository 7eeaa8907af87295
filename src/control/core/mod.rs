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
use crate::control::failback::{self, Gate, RegionReplication};
use crate::control::failover::{self, Action, Cause, Decision, Policy, RegionView, Switch};
use crate::control::store::{Intent, StoredSwitch};
use crate::control::switches::{FlipError, FlipOutcome};
use crate::control::verdict::{Probe, Thresholds, Tracker, Verdict};
use crate::deploy::outputs::CheckIds;

mod flips;
mod reads;

pub use reads::{Reconciled, reconcile};

/// How long a single instance's flip may take before its outcome counts as unknown.
pub const FLIP_TIMEOUT: Duration = Duration::from_secs(8);

/// A single instance's margin after a flip's deadline before a read may settle it.
const UNKNOWN_MARGIN: Duration = Duration::from_secs(2);

/// How soon a new actor reads again when its sync read missed something.
const SYNC_RETRY: Duration = Duration::from_secs(1);

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
    /// Unversioned switches (ARC): when this instance last confirmed a flip. A read
    /// started before it is stale (a version would have said so on Route 53).
    pub confirmed_at: Option<Moment>,
    /// The verdict decisions act on: this instance's own, or with several instances,
    /// the quorum of the known vantage points (`quorum::verdict`).
    pub decided: Verdict,
    /// Each other live instance's verdict on this region (several instances only).
    pub vantages: Vec<(String, Verdict)>,
    /// The newest switch record of the control tables applied here (epoch, sequence).
    pub record: Option<(u64, u64)>,
    /// Replicated tables reach this region: it returns to service only through the
    /// failback gate.
    pub gated: bool,
    /// The replication watcher's newest reading of this region.
    pub replication: Option<RegionReplication>,
    /// The gate's answer while this gated region is out of service.
    pub failback: Option<Gate>,
    /// When the gate first held this region's return; taken when a put-back starts.
    pub held_since: Option<SystemTime>,
    /// How long the gate held the put-back under way.
    pub held_for: Option<Duration>,
    /// The figures of this region's last confirmed flip.
    pub recovery: Option<failback::Recovery>,
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
    /// Replicated tables reach the region (see `RegionState::gated`).
    pub gated: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub thresholds: Thresholds,
    pub policy: Policy,
    /// Several instances (decisions wait for the lease, switch changes are recorded in
    /// the control tables).
    pub several: bool,
    /// What the switches are. Route 53 health checks have versions that every change
    /// bumps: a flip is fenced on one, and a later read tells an unknown flip's landing
    /// by it. ARC routing controls have none: a read showing the flip's target state is
    /// taken as its landing, and flips are fenced by their deadline alone.
    pub path: crate::config::SwitchPath,
    /// The failback gate's limits (for regions that replicated tables reach).
    pub failback: failback::Policy,
}

impl Settings {
    fn versioned(&self) -> bool {
        self.path == crate::config::SwitchPath::Route53
    }
}

/// What DNS answered after a take-out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsOutcome {
    /// The answers of every record name asked no longer held the region, at this time
    /// (when the answers came back).
    Left(SystemTime),
    /// They still held it when the watch gave up, this long after it began.
    Stayed(Duration),
    /// The region was in no answer before the take-out (a resolver far from it, or no
    /// answer yet): its leaving cannot be seen.
    Unobservable,
}

/// An operator's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Drain {
        region: String,
        reason: String,
    },
    /// `force`: the reason for overriding the failback gate.
    Restore {
        region: String,
        force: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("unknown region {0}")]
    UnknownRegion(String),
    #[error("{0}")]
    Refused(String),
    /// The flip did not land (refused, fenced, never sent, or a later read shows so).
    #[error("route 53 did not take the change: {0}")]
    Aws(#[source] FlipError),
    /// The flip was not confirmed (no answer, a server error, a read-back that did not
    /// show it): it may have landed; a later read will record which.
    #[error("not confirmed by Route 53 ({0}); whether it landed will be recorded")]
    Unconfirmed(#[source] FlipError),
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
    /// A majority of the control tables answered (always, with one instance): only
    /// then do the records hold the newest of every region.
    pub records_complete: bool,
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
        /// The path that confirmed it (`Both` when both did).
        via: crate::config::SwitchPath,
    },
    Observed(Observed),
    /// A switch record reached a majority of the control tables (or did not).
    Recorded {
        region: String,
        seq: u64,
        ok: bool,
    },
    /// A round of the replication watcher (replicas and CloudWatch), by region.
    Replication(failback::Round),
    /// What DNS answered after a take-out was confirmed (`Effect::WatchDns`).
    Dns {
        region: String,
        outcome: DnsOutcome,
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
    /// A flip was confirmed: its recovery figures (for the metrics).
    Recovered {
        region: String,
        recovery: failback::Recovery,
    },
    /// A take-out was confirmed: say when the DNS answer left the region, at or after
    /// `since` (the take-out's first evidence), watching it until it does
    /// (`Input::Dns`).
    WatchDns {
        region: String,
        since: SystemTime,
    },
    /// A take-out left the DNS answer this long after its first evidence.
    DnsRecovered {
        region: String,
        kind: &'static str,
        took: Duration,
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
    /// The kind of its recovery figures (`failback::Recovery::kind`).
    fn recovery_kind(self) -> &'static str {
        match self {
            Purpose::Automatic(Action::TakeOut) => "failover",
            Purpose::Automatic(_) => "failback",
            Purpose::Drain => "drain",
            Purpose::Restore => "restore",
        }
    }

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
    /// The actor's epoch it was decided in (several instances).
    epoch: Option<u64>,
    /// No answer came: it may have landed; a read started a margin after `deadline`
    /// decides (`Core::settled`).
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
    /// Stopping: outcomes are folded in, but nothing new is decided or sent.
    stopped: bool,
    /// Became the actor at this moment; acts once a read started after it has come back.
    awaiting_sync: Option<(Moment, Option<u64>)>,
    /// When to read again for a sync that missed something.
    sync_read_at: Option<Moment>,
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
    /// The core after start-up: each region's switch reconciled from Route 53 and the store.
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
            stopped: false,
            awaiting_sync: None,
            synced: None,
            sync_read_at: None,
            deferred: Vec::new(),
            in_flight: BTreeMap::new(),
            intents: BTreeMap::new(),
            pending: BTreeMap::new(),
            seq: 0,
            next_flip: 0,
            out: Vec::new(),
        };
        for r in init {
            let found = reconcile(
                &r.name,
                r.inverted,
                r.version,
                r.stored.as_ref(),
                r.intent.as_ref(),
                wall,
            );
            core.apply_reconciled(&r.name, &found);
            let tracker = if found.switch.in_service {
                Tracker::default()
            } else {
                Tracker::starting_down()
            };
            core.regions.push(RegionState {
                name: r.name.clone(),
                decided: tracker.verdict,
                tracker,
                switch: found.switch,
                last_action: found.last_action,
                route53_status: None,
                checks: r.checks,
                last_problem: None,
                switch_version: Some(r.version),
                read_after: None,
                confirmed_at: None,
                vantages: Vec::new(),
                record: None,
                gated: r.gated,
                replication: None,
                failback: None,
                held_since: None,
                held_for: None,
                recovery: None,
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
            .map(|f| self.settled(f.deadline));
        let lapse = self.view.actor_until.filter(|_| self.acting);
        let sync = self.sync_read_at.filter(|_| self.awaiting_sync.is_some());
        retries.chain(unknown).chain(lapse).chain(sync).min()
    }

    /// When a flip with this deadline can no longer land: Route 53 applies a request it
    /// received within a margin of it, or never (docs/ARCHITECTURE.md). Only a read
    /// started after this says whether a flip whose answer was lost landed.
    pub(crate) fn settled(&self, deadline: Moment) -> Moment {
        let margin = if self.settings.several {
            self.view.lease / 3
        } else {
            UNKNOWN_MARGIN
        };
        deadline + margin
    }

    /// The process is stopping: from now on the core folds in the outcomes of what it
    /// started (and records them), but decides and flips nothing more.
    pub fn stop(&mut self) {
        self.stopped = true;
    }

    /// Until when a stopping instance must not give its lease up: every flip it started
    /// may land until it is settled, and a successor must not act before.
    pub fn quiet_until(&self) -> Option<Moment> {
        self.in_flight
            .values()
            .map(|f| self.settled(f.deadline))
            .max()
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
                via,
            } => {
                self.flipped(now, wall, &region, flip, outcome, via);
                self.reconcile(now, wall);
            }
            Input::Observed(o) => {
                self.observed(now, wall, o);
                self.reconcile(now, wall);
            }
            Input::Recorded { region, seq, ok } => self.recorded(now, &region, seq, ok),
            Input::Dns { region, outcome } => self.dns_answered(&region, outcome),
            Input::Replication(round) => {
                for r in &mut self.regions {
                    if let Some(read) = round.get(&r.name) {
                        let mut read = read.clone();
                        if let Some(old) = &r.replication {
                            read.keep_last_outbound(old);
                        }
                        r.replication = Some(read);
                    }
                }
                self.reconcile(now, wall);
            }
            Input::Tick => {
                self.retry_records(now);
                let due: Vec<String> = self
                    .in_flight
                    .iter()
                    .filter(|(_, f)| f.unknown && !f.read_asked && now >= self.settled(f.deadline))
                    .map(|(r, _)| r.clone())
                    .collect();
                for region in due {
                    if let Some(f) = self.in_flight.get_mut(&region) {
                        f.read_asked = true;
                    }
                    self.out.push(Effect::ReadNow);
                }
                if self.awaiting_sync.is_some() && self.sync_read_at.is_some_and(|t| now >= t) {
                    self.sync_read_at = None;
                    self.out.push(Effect::ReadNow);
                }
                self.reconcile(now, wall);
            }
        }
        std::mem::take(&mut self.out)
    }

    /// The DNS answer after a take-out: the recovery time to it, or that it stayed.
    fn dns_answered(&mut self, region: &str, outcome: DnsOutcome) {
        let Some(r) = self.regions.iter_mut().find(|r| r.name == region) else {
            return;
        };
        let Some(rec) = r.recovery.as_mut().filter(|x| x.dns_outcome.is_none()) else {
            return;
        };
        let Some(switch) = rec.recovery_time else {
            return; // a put-back: not watched
        };
        let began = rec.at.checked_sub(switch).unwrap_or(rec.at);
        let kind = rec.kind;
        let from = failback::evidence(kind);
        match outcome {
            DnsOutcome::Left(at) => {
                let took = at.duration_since(began).unwrap_or_default();
                let after_switch = at.duration_since(rec.at).unwrap_or_default();
                rec.dns_time = Some(took);
                rec.dns_outcome = Some("left");
                self.out.push(Effect::DnsRecovered {
                    region: region.to_owned(),
                    kind,
                    took,
                });
                self.event_took(
                    Some(region),
                    "dns",
                    format!(
                        "{region} left the DNS answer {:.2} s after {from} ({:.2} s after the switch was confirmed)",
                        took.as_secs_f64(),
                        after_switch.as_secs_f64()
                    ),
                    Some(took),
                );
            }
            DnsOutcome::Stayed(after) => {
                rec.dns_outcome = Some("stayed");
                self.event(
                    Some(region),
                    "dns",
                    format!(
                        "{region} was still in the DNS answer {:.0} s after its switch was confirmed",
                        after.as_secs_f64()
                    ),
                )
            }
            DnsOutcome::Unobservable => rec.dns_outcome = Some("unobservable"),
        }
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
        // Until a majority of the tables has been scanned, the instances they know of are
        // not known: no "down" is a quorum yet.
        let known = if self.view.census {
            self.view.known()
        } else {
            usize::MAX
        };
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
        if self.stopped {
            return false;
        }
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
                self.sync_read_at = Some(now + SYNC_RETRY);
            } else if self.sync_read_at.is_none() {
                // Still waiting for a read that shows everything: ask again soon.
                self.sync_read_at = Some(now + SYNC_RETRY);
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

    /// The failback gate's answer for each gated region out of service, as of `wall`.
    fn update_gates(&mut self, wall: SystemTime) {
        let policy = self.settings.failback;
        let out: Vec<String> = self
            .regions
            .iter()
            .filter(|r| !r.switch.in_service)
            .map(|r| r.name.clone())
            .collect();
        let out: Vec<&str> = out.iter().map(String::as_str).collect();
        for r in &mut self.regions {
            r.failback = (r.gated && !r.switch.in_service).then(|| {
                let reading = r.replication.as_ref().map(|x| &x.inbound);
                failback::gate(&r.name, reading, &policy, wall, r.switch.since, &out)
            });
        }
    }

    /// Why the gate holds `region` now, if it does, and the message.
    fn gate_holds(&self, region: &str) -> Option<(failback::Why, String)> {
        self.regions
            .iter()
            .find(|r| r.name == region)
            .and_then(|r| match &r.failback {
                Some(Gate::Held { why, message }) => Some((*why, message.clone())),
                _ => None,
            })
    }

    /// The gate held `region`'s return: remember since when.
    fn note_held(&mut self, region: &str, wall: SystemTime) {
        if let Some(r) = self.region_mut(region) {
            r.held_since.get_or_insert(wall);
        }
    }

    fn reconcile(&mut self, now: Moment, wall: SystemTime) {
        self.update_gates(wall);
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
                    if action == Action::PutBack
                        && let Some((why, message)) = self.gate_holds(&region)
                    {
                        self.note_held(&region, wall);
                        troubled.push(region.clone());
                        // Once per reason: the message's figures change with each reading.
                        self.problem_as(
                            &region,
                            "failback-held",
                            format!("failback-held: {}", why.as_str()),
                            format!("{region} is up, but the failback gate holds it: {message}"),
                        );
                        continue;
                    }
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
        self.problem_as(region, kind, message.clone(), message);
    }

    /// `problem`, told apart from the last one by `key` rather than by the message.
    fn problem_as(&mut self, region: &str, kind: &'static str, key: String, message: String) {
        let Some(r) = self.region_mut(region) else {
            return;
        };
        if r.last_problem.as_deref() == Some(key.as_str()) {
            return;
        }
        r.last_problem = Some(key);
        self.event(Some(region), kind, message);
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
            Request::Drain { region, .. } | Request::Restore { region, .. } => region.clone(),
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
            Request::Restore { force, .. } => {
                // The gate as of now, whatever input came last.
                self.update_gates(wall);
                if let Some((kind, why)) = self.gate_holds(&region) {
                    match force.as_deref().map(str::trim) {
                        Some(reason) if !reason.is_empty() => self.event(
                            Some(&region),
                            "failback-forced",
                            format!(
                                "restore of {region} forced past the failback gate: {reason} (the gate held it: {why}){}",
                                self.by()
                            ),
                        ),
                        _ => {
                            self.note_held(&region, wall);
                            // Once per reason, however often it is asked (a drill retries).
                            self.problem_as(
                                &region,
                                "refused",
                                format!("restore-refused: {}", kind.as_str()),
                                format!("restore of {region} refused: the failback gate holds it: {why}"),
                            );
                            self.out.push(Effect::Reply {
                                id,
                                result: Err(CommandError::Refused(format!(
                                    "the failback gate holds {region}: {why}; restore with --force and a reason to override it"
                                ))),
                            });
                            return;
                        }
                    }
                }
                self.start_flip(
                    now,
                    wall,
                    &region,
                    back_in_service(wall),
                    Purpose::Restore,
                    Some(id),
                )
            }
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

#[cfg(test)]
mod tests;
