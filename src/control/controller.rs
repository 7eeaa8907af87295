//! The control loop: the one writer of region state. It folds probe results into
//! verdicts, decides (`failover::decide`), flips switches, and records every event.
//! Manual drains and restores arrive as commands on the same loop, so automatic and
//! manual actions never race. Restart-safe: on start it reads every switch from
//! Route 53 and adopts it, keeping the cause it finds in the store.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_sdk_route53::Client;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Pattern};
use crate::control::failover::{self, Action, Cause, Decision, Policy, RegionView, Switch};
use crate::control::metrics::{Metrics, ProbeLabel, RegionLabel};
use crate::control::store::{Intent, Store, StoredSwitch};
use crate::control::switches::{self, CheckIds, SwitchError};
use crate::control::verdict::{Probe, Thresholds, Tracker, Verdict};

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
    /// The switch's `HealthCheckVersion` as last read or written: flips are fenced on it.
    pub switch_version: Option<i64>,
    /// The verdict decisions act on: this instance's own, or with several instances,
    /// the quorum of the live vantage points (`quorum::verdict`).
    pub decided: Verdict,
    /// Each other live instance's verdict on this region (several instances only).
    pub vantages: Vec<(String, Verdict)>,
}

impl RegionState {
    /// The facts the failover logic decides on.
    pub fn view(&self) -> RegionView<'_> {
        self.view_with(None)
    }

    /// The same, with the switch a flip under way will leave.
    fn view_with<'a>(&'a self, pending: Option<&'a Switch>) -> RegionView<'a> {
        RegionView {
            name: &self.name,
            verdict: self.decided,
            switch: pending.unwrap_or(&self.switch),
            last_action: self.last_action,
        }
    }
}

/// What the API reads. Guarded by a std mutex: every critical section is a short
/// copy or update and none spans an await.
#[derive(Debug)]
pub struct Shared {
    pub regions: Vec<RegionState>,
    pub started: SystemTime,
    /// Several instances: who acts, who is alive (`None` for a single instance).
    pub control: Option<ControlState>,
}

/// This instance's view of the coordination, for the status document.
#[derive(Debug, Clone)]
pub struct ControlState {
    pub instance: String,
    pub is_actor: bool,
    pub view: crate::control::coordinator::View,
}

pub type SharedState = Arc<Mutex<Shared>>;

pub fn lock(shared: &SharedState) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Debug)]
pub enum Command {
    Drain {
        region: String,
        reason: String,
        reply: oneshot::Sender<Result<Switch, CommandError>>,
    },
    Restore {
        region: String,
        reply: oneshot::Sender<Result<Switch, CommandError>>,
    },
}

impl Command {
    /// Where the answer goes.
    fn into_reply(self) -> oneshot::Sender<Result<Switch, CommandError>> {
        match self {
            Command::Drain { reply, .. } | Command::Restore { reply, .. } => reply,
        }
    }
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

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error(transparent)]
    Switch(#[from] SwitchError),
    #[error(transparent)]
    Store(#[from] crate::control::store::StoreError),
    #[error(
        "region {0} is in the config but has no geoplan health checks in Route 53; run `geoplan apply`"
    )]
    MissingChecks(String),
}

/// What a flip was for: it decides the event recorded when it lands.
#[derive(Debug, Clone, Copy)]
enum Purpose {
    Automatic(Action),
    Drain,
    Restore,
}

impl Purpose {
    /// The action's name in metrics and messages.
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Automatic(a) => a.as_str(),
            Purpose::Drain => "drain",
            Purpose::Restore => "restore",
        }
    }
}

/// A flip's outcome, sent back to the loop by the task that made it.
struct Flipped {
    region: String,
    switch: Switch,
    purpose: Purpose,
    /// " (by INSTANCE, epoch N)" as of when the flip was decided.
    by: String,
    /// The first evidence for the flip: the first probe of the streak behind an
    /// automatic flip, the request for a drain or restore.
    began: SystemTime,
    result: Result<i64, SwitchError>,
    reply: Option<oneshot::Sender<Result<Switch, CommandError>>>,
}

/// One region as a resync read it.
struct Observation {
    region: String,
    route53: Result<Option<bool>, String>,
    switch: Result<(bool, i64), String>,
}

/// A resync's reads; with several instances, also the switch records in the control
/// tables.
struct Observed {
    regions: Vec<Observation>,
    recorded: std::collections::BTreeMap<String, (Switch, u64)>,
}

/// What the AWS work done off the loop sends back to it.
enum Outcome {
    Flipped(Box<Flipped>),
    Observed(Observed),
}

/// The controller's link to the other instances.
pub struct Ha {
    pub instance: String,
    pub view: tokio::sync::watch::Receiver<crate::control::coordinator::View>,
    /// This instance's verdicts, published by the coordinator.
    pub verdicts: tokio::sync::watch::Sender<std::collections::BTreeMap<String, Verdict>>,
    pub tables: crate::control::coordinator::Tables,
}

pub struct Controller {
    ha: Option<Ha>,
    /// Whether this instance acts (it is the actor and has read the switches since).
    acting: bool,
    /// Became the actor; acts once a full read of the switches has come back.
    awaiting_sync: bool,
    /// Leadership changes already counted in the metrics.
    leadership_seen: u64,
    /// Commands that arrived while this new actor read the switches: run once it has.
    deferred: Vec<Command>,
    /// Regions with a flip under way, and the switch each will have: decisions and the
    /// safety guard count it as done, so two concurrent take-outs cannot each see the
    /// other region still in service.
    in_flight: std::collections::BTreeMap<String, Switch>,
    /// Outcomes of the AWS work done off the loop come back on this channel.
    outcomes: mpsc::UnboundedSender<Outcome>,
    outcomes_rx: Option<mpsc::UnboundedReceiver<Outcome>>,
    /// Asks the resync task for a read now rather than at its next tick.
    resync_now: Arc<tokio::sync::Notify>,
    /// Paces every Route 53 call of the running control plane.
    gate: Arc<crate::control::gate::Gate>,
    shared: SharedState,
    store: Arc<Store>,
    route53: Client,
    metrics: Arc<Metrics>,
    thresholds: Thresholds,
    policy: Policy,
    resync: Duration,
}

fn policy_of(config: &Config) -> Policy {
    let m = &config.monitor;
    let pattern_allows = config.pattern != Pattern::Partitioned || m.partitioned_failover;
    Policy {
        hold_down: m.hold_down,
        min_in_service: m.min_in_service,
        automatic: m.auto_failover && pattern_allows,
    }
}

impl Controller {
    /// Discovers the switches, adopts their state, and returns a controller ready to run.
    pub async fn start(
        config: &Config,
        route53: Client,
        store: Arc<Store>,
        metrics: Arc<Metrics>,
        ha: Option<Ha>,
    ) -> Result<Controller, ControllerError> {
        // The Terraform outputs name the checks without listing every health check in
        // the account; tags find them where the outputs cannot be read.
        // Every Route 53 call of the running control plane, start-up included, waits
        // its turn here.
        let gate = Arc::new(crate::control::gate::Gate::new(
            config.monitor.route53_rate,
            metrics.route53_requests.clone(),
        ));
        let found = match switches::from_outputs(config).await {
            Some(found) if config.regions.iter().all(|r| found.contains_key(&r.name)) => {
                tracing::info!("health checks named by the Terraform outputs");
                found
            }
            _ => {
                tracing::info!("health checks found by their geoplan:* tags");
                switches::discover_paced(&route53, &config.name, Some(&gate)).await?
            }
        };
        let now = SystemTime::now();
        let mut regions = Vec::new();
        for r in &config.regions {
            let checks = found
                .get(&r.name)
                .cloned()
                .ok_or_else(|| ControllerError::MissingChecks(r.name.clone()))?;
            gate.wait().await;
            let (inverted, version) = switches::read(&route53, &checks.switch).await?;
            let stored = store.load_switch(&r.name)?;
            let (switch, last_action) = adopt(&store, &r.name, inverted, stored, now)?;
            metrics.set_in_service(&r.name, switch.in_service);
            let tracker = if switch.in_service {
                Tracker::default()
            } else {
                Tracker::starting_down()
            };
            metrics.set_verdict(&r.name, tracker.verdict);
            regions.push(RegionState {
                name: r.name.clone(),
                decided: tracker.verdict,
                vantages: Vec::new(),
                switch_version: Some(version),
                tracker,
                switch,
                last_action,
                route53_status: None,
                checks,
                last_problem: None,
            });
        }
        let in_service = regions.iter().filter(|r| r.switch.in_service).count();
        store.record(
            now,
            None,
            "start",
            &format!(
                "control plane started: {} regions, {in_service} in service",
                regions.len()
            ),
        )?;
        if ha.is_none() {
            // One instance alone is the actor: it acts whenever it decides to.
            metrics.is_actor.set(1);
        }
        if let Some(h) = &ha {
            // From the start, not only on the first change: a region that never
            // changes must still have this vantage point's vote.
            h.verdicts.send_replace(
                regions
                    .iter()
                    .map(|r| (r.name.clone(), r.tracker.verdict))
                    .collect(),
            );
        }
        let control = ha.as_ref().map(|h| ControlState {
            instance: h.instance.clone(),
            is_actor: false,
            view: h.view.borrow().clone(),
        });
        let (outcomes, outcomes_rx) = mpsc::unbounded_channel();
        Ok(Controller {
            ha,
            acting: false,
            awaiting_sync: false,
            leadership_seen: 0,
            deferred: Vec::new(),
            in_flight: Default::default(),
            outcomes,
            outcomes_rx: Some(outcomes_rx),
            resync_now: Arc::new(tokio::sync::Notify::new()),
            gate,
            shared: Arc::new(Mutex::new(Shared {
                regions,
                started: now,
                control,
            })),
            store,
            route53,
            metrics,
            thresholds: Thresholds {
                fail_after: config.monitor.fail_after,
                recover_after: config.monitor.recover_after,
            },
            policy: policy_of(config),
            resync: config.monitor.resync_interval,
        })
    }

    pub fn shared(&self) -> SharedState {
        self.shared.clone()
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Changes one region's state under the lock (nothing if there is no such region).
    fn with_region(&self, name: &str, change: impl FnOnce(&mut RegionState)) {
        if let Some(r) = lock(&self.shared)
            .regions
            .iter_mut()
            .find(|r| r.name == name)
        {
            change(r);
        }
    }

    /// Runs until cancelled.
    pub async fn run(
        mut self,
        mut probes: mpsc::Receiver<(usize, Probe)>,
        mut commands: mpsc::Receiver<Command>,
        beat: crate::control::probe::Beat,
        cancel: CancellationToken,
    ) {
        let mut view = self.ha.as_ref().map(|h| h.view.clone());
        let mut outcomes = self.outcomes_rx.take().expect("run is called once");
        let resync = tokio::spawn(resync_loop(
            self.route53.clone(),
            self.gate.clone(),
            lock(&self.shared)
                .regions
                .iter()
                .map(|r| (r.name.clone(), r.checks.clone()))
                .collect(),
            self.ha.as_ref().map(|h| h.tables.clone()),
            self.resync,
            self.resync_now.clone(),
            self.outcomes.clone(),
            cancel.clone(),
        ));
        // Nothing in this loop waits on AWS: reads and flips run in tasks and report
        // back here, so probes are folded in and decided on even while Route 53 or
        // DynamoDB do not answer.
        loop {
            beat.beat(0);
            tokio::select! {
                _ = cancel.cancelled() => break,
                Some((i, probe)) = probes.recv() => {
                    self.observe(i, probe);
                    self.decide_verdicts();
                    self.reconcile();
                }
                Ok(()) = async { match view.as_mut() { Some(v) => v.changed().await, None => std::future::pending().await } } => {
                    self.decide_verdicts();
                    self.reconcile();
                }
                Some(cmd) = commands.recv() => self.command(cmd),
                Some(outcome) = outcomes.recv() => {
                    match outcome {
                        Outcome::Flipped(f) => self.flipped(*f),
                        Outcome::Observed(o) => self.apply_observed(o),
                    }
                    self.reconcile();
                }
            }
        }
        let _ = resync.await;
        let _ = self
            .store
            .record(SystemTime::now(), None, "stop", "control plane stopped");
    }

    fn event(&self, region: Option<&str>, kind: &str, message: &str) {
        self.event_took(region, kind, message, None);
    }

    /// An event with the measured duration of what it reports.
    fn event_took(&self, region: Option<&str>, kind: &str, message: &str, took: Option<Duration>) {
        tracing::info!(region = region.unwrap_or("-"), kind, message, "event");
        if let Err(e) = self
            .store
            .record_took(SystemTime::now(), region, kind, message, took)
        {
            tracing::error!(error = %e, "cannot record event");
        }
    }

    fn observe(&mut self, i: usize, probe: Probe) {
        let (name, transition, failures, successes, error) = {
            let mut shared = lock(&self.shared);
            let Some(r) = shared.regions.get_mut(i) else {
                return;
            };
            let label = RegionLabel {
                region: r.name.clone(),
            };
            self.metrics
                .probe_latency
                .get_or_create(&label)
                .observe(probe.latency.as_secs_f64());
            let outcome = if probe.ok { "ok" } else { "failed" };
            self.metrics
                .probes
                .get_or_create(&ProbeLabel {
                    region: r.name.clone(),
                    outcome: outcome.into(),
                })
                .inc();
            let error = probe.error.clone();
            let t = r.tracker.observe(probe, self.thresholds);
            (
                r.name.clone(),
                t,
                r.tracker.consecutive_failures,
                r.tracker.consecutive_successes,
                error,
            )
        };
        if let (Some(ha), Some(_)) = (&self.ha, &transition) {
            let mine = lock(&self.shared)
                .regions
                .iter()
                .map(|r| (r.name.clone(), r.tracker.verdict))
                .collect();
            ha.verdicts.send_replace(mine);
        }
        if let Some(t) = transition {
            self.metrics.set_verdict(&name, t.to);
            let why = match t.to {
                Verdict::Down => format!(
                    "{failures} failed probes in a row, last: {}",
                    error.unwrap_or_default()
                ),
                Verdict::Suspect => format!("probe failed: {}", error.unwrap_or_default()),
                Verdict::Recovering => "probe succeeded".into(),
                Verdict::Up if t.from == Verdict::Recovering => {
                    format!("{successes} good probes in a row")
                }
                Verdict::Up => "probe succeeded".into(),
            };
            self.event(
                Some(&name),
                "probe",
                &format!("{name}: {} → {} ({why})", t.from.as_str(), t.to.as_str()),
            );
        }
    }

    /// Sets each region's decided verdict: its own, or the quorum of the live vantage
    /// points; and the coordination snapshot the status shows.
    fn decide_verdicts(&mut self) {
        let Some(ha) = &self.ha else {
            let mut shared = lock(&self.shared);
            for r in shared.regions.iter_mut() {
                r.decided = r.tracker.verdict;
            }
            return;
        };
        let view = ha.view.borrow().clone();
        let now = std::time::Instant::now();
        let m = &self.metrics;
        let seen = self.leadership_seen;
        if view.leadership_changes > seen {
            m.leadership_changes.inc_by(view.leadership_changes - seen);
        }
        self.leadership_seen = view.leadership_changes;
        m.is_actor.set(i64::from(view.is_actor(now)));
        if let Some(l) = view.renew_latency {
            m.lease_renew_seconds.set(l.as_secs_f64());
        }
        m.control_tables_reachable.set(view.tables_reachable as i64);
        let mut shared = lock(&self.shared);
        for r in shared.regions.iter_mut() {
            r.vantages = view
                .vantages
                .iter()
                .filter(|v| v.fresh)
                .filter_map(|v| v.verdicts.get(&r.name).map(|x| (v.instance.clone(), *x)))
                .collect();
            let votes: Vec<Verdict> = std::iter::once(r.tracker.verdict)
                .chain(r.vantages.iter().map(|(_, v)| *v))
                .collect();
            r.decided = crate::control::quorum::verdict(&votes);
            m.vantage_disagreement
                .get_or_create(&RegionLabel {
                    region: r.name.clone(),
                })
                .set(i64::from(crate::control::quorum::disagree(&votes)));
        }
        shared.control = Some(ControlState {
            instance: ha.instance.clone(),
            is_actor: view.is_actor(now),
            view,
        });
    }

    /// Whether this instance may act now. On becoming the actor it first asks for a
    /// full read of the switches (and of the previous actor's records) and acts only
    /// once that has arrived (`apply_observed`).
    fn may_act(&mut self) -> bool {
        let Some(ha) = &self.ha else {
            return true;
        };
        let now_actor = ha.view.borrow().is_actor(std::time::Instant::now());
        if !now_actor {
            if self.acting {
                let instance = ha.instance.clone();
                self.event(None, "actor", &format!("{instance} is no longer the actor"));
            }
            self.acting = false;
            self.awaiting_sync = false;
            let actor = ha.view.borrow().actor.as_ref().map(|a| a.addr.clone());
            for cmd in std::mem::take(&mut self.deferred) {
                let reply = cmd.into_reply();
                let _ = reply.send(Err(CommandError::NotActor(actor.clone())));
            }
            return false;
        }
        if !self.acting && !self.awaiting_sync {
            self.awaiting_sync = true;
            self.resync_now.notify_one();
        }
        self.acting
    }

    /// " (by INSTANCE, epoch N)" when several instances run.
    fn by(&self) -> String {
        match &self.ha {
            Some(h) => format!(
                " (by {}, epoch {})",
                h.instance,
                h.view.borrow().epoch.unwrap_or(0)
            ),
            None => String::new(),
        }
    }

    fn reconcile(&mut self) {
        if !self.may_act() {
            return;
        }
        let decisions = {
            let shared = lock(&self.shared);
            let views = pending_views(&shared.regions, &self.in_flight);
            // A region whose flip is in flight is not decided again: repeated
            // decisions coalesce into the one call already made.
            failover::decide(&views, &self.policy, SystemTime::now())
                .into_iter()
                .filter(|d| !self.in_flight.contains_key(d.region()))
                .collect::<Vec<_>>()
        };
        let mut troubled = Vec::new();
        for d in decisions {
            match d {
                Decision::Act {
                    region,
                    action,
                    reason,
                } => {
                    self.start_flip(
                        &region,
                        action == Action::TakeOut,
                        Some(Cause::Automatic),
                        &reason,
                        Purpose::Automatic(action),
                        None,
                    );
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
                Decision::Hold {
                    region,
                    action,
                    until,
                } => {
                    troubled.push(region.clone());
                    tracing::debug!(region, action = action.as_str(), until = %humantime::format_rfc3339_seconds(until), "held down");
                }
            }
        }
        // A region with no refusal or failure any more gets its next one reported anew.
        let in_flight = &self.in_flight;
        let mut shared = lock(&self.shared);
        for r in shared
            .regions
            .iter_mut()
            .filter(|r| !troubled.contains(&r.name) && !in_flight.contains_key(&r.name))
        {
            r.last_problem = None;
        }
    }

    /// Records a refusal or failure once, not on every probe.
    fn problem(&mut self, region: &str, kind: &str, message: String) {
        let fresh = {
            let mut shared = lock(&self.shared);
            let Some(r) = shared.regions.iter_mut().find(|r| r.name == region) else {
                return;
            };
            let fresh = r.last_problem.as_deref() != Some(message.as_str());
            r.last_problem = Some(message.clone());
            fresh
        };
        if fresh {
            tracing::warn!(region, kind, message, "not acting");
            self.event(Some(region), kind, &message);
        }
    }

    /// Starts flipping a region's switch, off the loop: the write-ahead intent is
    /// recorded now, the Route 53 calls (paced by the gate, fenced on the version) run
    /// in a task, and the outcome comes back to the loop (`flipped`).
    fn start_flip(
        &mut self,
        region: &str,
        take_out: bool,
        cause: Option<Cause>,
        reason: &str,
        purpose: Purpose,
        reply: Option<oneshot::Sender<Result<Switch, CommandError>>>,
    ) {
        let now = SystemTime::now();
        let found = lock(&self.shared)
            .regions
            .iter()
            .find(|r| r.name == region)
            .map(|r| {
                let began = match purpose {
                    Purpose::Automatic(_) => r.tracker.streak_since.unwrap_or(now).min(now),
                    Purpose::Drain | Purpose::Restore => now,
                };
                (r.checks.switch.clone(), r.switch_version, began)
            });
        let Some((id, version, began)) = found else {
            if let Some(reply) = reply {
                let _ = reply.send(Err(CommandError::UnknownRegion(region.to_owned())));
            }
            return;
        };
        let switch = if take_out {
            Switch {
                in_service: false,
                cause,
                reason: Some(reason.to_owned()),
                since: Some(now),
            }
        } else {
            Switch {
                in_service: true,
                cause: None,
                reason: None,
                since: Some(now),
            }
        };
        // Write-ahead: if the call reaches Route 53 but its confirmation does not reach
        // us (a failed read-back, a crash), adoption finds this intent and knows the
        // change was geoplan's own, with its cause.
        let intent = Intent {
            switch: switch.clone(),
            at: now,
        };
        if let Err(e) = self.store.save_intent(region, &intent) {
            tracing::error!(region, error = %e, "cannot record the intent of a flip");
        }
        self.in_flight.insert(region.to_owned(), switch.clone());
        let (route53, gate, outcomes) = (
            self.route53.clone(),
            self.gate.clone(),
            self.outcomes.clone(),
        );
        let shared_record = self.ha.as_ref().map(|h| {
            (
                h.tables.clone(),
                h.instance.clone(),
                h.view.borrow().epoch.unwrap_or(0),
            )
        });
        let region = region.to_owned();
        let by = self.by();
        tokio::spawn(async move {
            let result =
                switches::set_inverted(&route53, &id, take_out, version, Some(&gate)).await;
            if result.is_ok()
                && let Some((tables, instance, epoch)) = shared_record
            {
                tables
                    .save_switch(&region, &switch, epoch, &instance, Duration::from_secs(2))
                    .await;
            }
            let _ = outcomes.send(Outcome::Flipped(Box::new(Flipped {
                region,
                switch,
                purpose,
                by,
                began,
                result,
                reply,
            })));
        });
    }

    /// A flip's outcome, back on the loop: state, store, events, the waiting caller.
    fn flipped(&mut self, f: Flipped) {
        let Flipped {
            region,
            switch,
            purpose,
            by,
            began,
            result,
            reply,
        } = f;
        self.in_flight.remove(&region);
        match result {
            Ok(version) => {
                {
                    let mut shared = lock(&self.shared);
                    if let Some(r) = shared.regions.iter_mut().find(|r| r.name == region) {
                        r.switch = switch.clone();
                        r.last_action = switch.since;
                        r.switch_version = Some(version);
                        r.last_problem = None;
                    }
                }
                self.metrics.set_in_service(&region, switch.in_service);
                let saved = StoredSwitch {
                    switch: switch.clone(),
                    last_action: switch.since,
                };
                if let Err(e) = self
                    .store
                    .save_switch(&region, &saved)
                    .and_then(|()| self.store.clear_intent(&region))
                {
                    tracing::error!(region, error = %e, "cannot persist switch state");
                }
                let (kind, text) = match &purpose {
                    Purpose::Automatic(Action::TakeOut) => (
                        "failover",
                        format!(
                            "{region} taken out of service: {}{by}",
                            switch.reason.as_deref().unwrap_or_default()
                        ),
                    ),
                    Purpose::Automatic(_) => {
                        ("failback", format!("{region} put back in service{by}"))
                    }
                    Purpose::Drain => (
                        "drain",
                        format!(
                            "{region} drained: {}{by}",
                            switch.reason.as_deref().unwrap_or_default()
                        ),
                    ),
                    Purpose::Restore => ("restore", format!("{region} restored to service{by}")),
                };
                let action = purpose.as_str();
                self.metrics.count_action(&region, action);
                let took = SystemTime::now().duration_since(began).unwrap_or_default();
                let from = match purpose {
                    Purpose::Automatic(Action::TakeOut) => "the first failed probe",
                    Purpose::Automatic(_) => "the first good probe",
                    Purpose::Drain | Purpose::Restore => "the request",
                };
                let text = format!(
                    "{text} ({:.2} s from {from} to Route 53's confirmation)",
                    took.as_secs_f64()
                );
                self.event_took(Some(&region), kind, &text, Some(took));
                if let Some(reply) = reply {
                    let _ = reply.send(Ok(switch));
                }
            }
            Err(e) => {
                self.metrics.count_if_throttled(&e.to_string());
                // Fenced or failed: the version may be stale; read everything again.
                self.with_region(&region, |r| {
                    r.switch_version = None;
                });
                self.resync_now.notify_one();
                let what = purpose.as_str();
                self.problem(
                    &region,
                    "action-failed",
                    format!("{what} of {region} failed: {e}"),
                );
                if let Some(reply) = reply {
                    let _ = reply.send(Err(CommandError::Aws(e.to_string())));
                }
            }
        }
    }

    fn command(&mut self, cmd: Command) {
        if !self.may_act() && self.awaiting_sync {
            // The actor, about to act: the command waits for the switches' read.
            self.deferred.push(cmd);
            return;
        }
        if !self.may_act() {
            let actor = self
                .ha
                .as_ref()
                .and_then(|h| h.view.borrow().actor.as_ref().map(|a| a.addr.clone()));
            let reply = cmd.into_reply();
            let _ = reply.send(Err(CommandError::NotActor(actor)));
            return;
        }
        match cmd {
            Command::Drain {
                region,
                reason,
                reply,
            } => self.drain(&region, &reason, reply),
            Command::Restore { region, reply } => self.restore(&region, reply),
        }
    }

    fn drain(
        &mut self,
        region: &str,
        reason: &str,
        reply: oneshot::Sender<Result<Switch, CommandError>>,
    ) {
        let (check, current) = {
            let shared = lock(&self.shared);
            let views = pending_views(&shared.regions, &self.in_flight);
            let Some(current) = views.iter().find(|v| v.name == region) else {
                let _ = reply.send(Err(CommandError::UnknownRegion(region.to_owned())));
                return;
            };
            let current = current.switch.clone();
            (failover::check_drain(&views, region, &self.policy), current)
        };
        if let Err(why) = check {
            self.event(
                Some(region),
                "refused",
                &format!("drain of {region} refused: {why}"),
            );
            let _ = reply.send(Err(CommandError::Refused(why)));
            return;
        }
        if self.in_flight.contains_key(region) {
            let _ = reply.send(Err(CommandError::Refused(format!(
                "a change of {region} is already in flight; try again in a moment"
            ))));
            return;
        }
        let reason = failover::drain_reason(&current, reason);
        if current.in_service {
            self.start_flip(
                region,
                true,
                Some(Cause::Manual),
                &reason,
                Purpose::Drain,
                Some(reply),
            );
        } else {
            // Already out: no Route 53 call, only the cause and reason change.
            let switch = self.record_cause(region, Cause::Manual, &reason);
            self.metrics.count_action(region, "drain");
            let by = self.by();
            self.event(
                Some(region),
                "drain",
                &format!("{region} drained: {reason}{by}"),
            );
            let _ = reply.send(Ok(switch));
        }
    }

    /// Records a new cause and reason for a region that is already out.
    fn record_cause(&mut self, region: &str, cause: Cause, reason: &str) -> Switch {
        let mut shared = lock(&self.shared);
        let Some(r) = shared.regions.iter_mut().find(|r| r.name == region) else {
            return Switch::in_service();
        };
        r.switch.cause = Some(cause);
        r.switch.reason = Some(reason.to_owned());
        let saved = StoredSwitch {
            switch: r.switch.clone(),
            last_action: r.last_action,
        };
        if let Err(e) = self.store.save_switch(region, &saved) {
            tracing::error!(region, error = %e, "cannot persist switch state");
        }
        saved.switch
    }

    fn restore(&mut self, region: &str, reply: oneshot::Sender<Result<Switch, CommandError>>) {
        if !lock(&self.shared).regions.iter().any(|r| r.name == region) {
            let _ = reply.send(Err(CommandError::UnknownRegion(region.to_owned())));
            return;
        }
        if self.in_flight.contains_key(region) {
            let _ = reply.send(Err(CommandError::Refused(format!(
                "a change of {region} is already in flight; try again in a moment"
            ))));
            return;
        }
        self.start_flip(
            region,
            false,
            None,
            "restored",
            Purpose::Restore,
            Some(reply),
        );
    }

    /// Applies a resync's reads: Route 53's endpoint statuses, every switch and its
    /// version; adopts changes made outside geoplan, and with several instances, the
    /// actor's flips as it recorded them.
    fn apply_observed(&mut self, observed: Observed) {
        let Observed { regions, recorded } = observed;
        for o in regions {
            let name = o.region;
            if self.in_flight.contains_key(&name) {
                continue; // our own flip is under way; its outcome will tell
            }
            match o.route53 {
                Ok(h) => {
                    self.with_region(&name, |r| {
                        r.route53_status = h;
                    });
                }
                Err(e) => {
                    tracing::warn!(region = %name, error = %e, "cannot read Route 53 health-check status")
                }
            }
            let (inverted, version) = match o.switch {
                Ok(v) => v,
                Err(e) => {
                    self.metrics.count_if_throttled(&e);
                    tracing::warn!(region = %name, error = %e, "cannot read switch");
                    continue;
                }
            };
            let in_service = {
                let mut shared = lock(&self.shared);
                let Some(r) = shared.regions.iter_mut().find(|r| r.name == name) else {
                    continue;
                };
                r.switch_version = Some(version);
                r.switch.in_service
            };
            if inverted != in_service {
                continue; // as we know it
            }
            if let Some((shared, _)) = recorded
                .get(&name)
                .filter(|(s, _)| s.in_service != inverted)
            {
                // Another instance (the actor) flipped it and said why.
                self.metrics.set_in_service(&name, shared.in_service);
                self.with_region(&name, |r| {
                    r.switch = shared.clone();
                    r.last_action = shared.since;
                });
                let saved = StoredSwitch {
                    switch: shared.clone(),
                    last_action: shared.since,
                };
                if let Err(e) = self.store.save_switch(&name, &saved) {
                    tracing::error!(region = %name, error = %e, "cannot persist switch state");
                }
                continue;
            }
            let stored = self.store.load_switch(&name).ok().flatten();
            match adopt(&self.store, &name, inverted, stored, SystemTime::now()) {
                Ok((switch, last_action)) => {
                    self.metrics.set_in_service(&name, switch.in_service);
                    self.with_region(&name, |r| {
                        r.switch = switch;
                        r.last_action = last_action;
                    });
                }
                Err(e) => tracing::error!(region = %name, error = %e, "cannot adopt switch state"),
            }
        }
        // A new actor acts once it has read the switches and its predecessor's records.
        if self.awaiting_sync
            && let Some(ha) = &self.ha
            && ha.view.borrow().is_actor(std::time::Instant::now())
        {
            {
                let mut shared = lock(&self.shared);
                for r in shared.regions.iter_mut() {
                    if let Some((s, _)) = recorded.get(&r.name)
                        && s.in_service == r.switch.in_service
                    {
                        r.switch = s.clone();
                    }
                }
            }
            let (instance, epoch) = (ha.instance.clone(), ha.view.borrow().epoch.unwrap_or(0));
            self.awaiting_sync = false;
            self.acting = true;
            self.event(
                None,
                "actor",
                &format!("{instance} is the actor (epoch {epoch})"),
            );
            for cmd in std::mem::take(&mut self.deferred) {
                self.command(cmd);
            }
        }
    }
}

/// What decisions see: every region, with the switch a flip under way will leave.
fn pending_views<'a>(
    regions: &'a [RegionState],
    in_flight: &'a std::collections::BTreeMap<String, Switch>,
) -> Vec<RegionView<'a>> {
    regions
        .iter()
        .map(|r| r.view_with(in_flight.get(&r.name)))
        .collect()
}

/// Reads every switch and Route 53's endpoint statuses every `interval` (or when asked),
/// paced by the gate, and sends what it read to the loop.
#[allow(clippy::too_many_arguments)] // the task's whole context, passed once
async fn resync_loop(
    route53: Client,
    gate: Arc<crate::control::gate::Gate>,
    regions: Vec<(String, CheckIds)>,
    tables: Option<crate::control::coordinator::Tables>,
    interval: Duration,
    now: Arc<tokio::sync::Notify>,
    outcomes: mpsc::UnboundedSender<Outcome>,
    cancel: CancellationToken,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tick.tick() => {}
            _ = now.notified() => {}
        }
        let recorded = match &tables {
            Some(t) => t.load_switches(Duration::from_secs(2)).await,
            None => Default::default(),
        };
        let mut observed = Vec::new();
        for (name, checks) in &regions {
            let read = async {
                gate.wait().await;
                let status = switches::route53_status(&route53, &checks.endpoint)
                    .await
                    .map_err(|e| e.to_string());
                gate.wait().await;
                let switch = switches::read(&route53, &checks.switch)
                    .await
                    .map_err(|e| e.to_string());
                (status, switch)
            };
            let (route53_status, switch) = tokio::select! {
                _ = cancel.cancelled() => return,
                r = read => r,
            };
            observed.push(Observation {
                region: name.clone(),
                route53: route53_status,
                switch,
            });
        }
        if outcomes
            .send(Outcome::Observed(Observed {
                regions: observed,
                recorded: recorded.clone(),
            }))
            .is_err()
        {
            break;
        }
    }
}

/// Reconciles Route 53's switch with the stored cause: Route 53 is the truth for
/// in/out; the store keeps why. A flip geoplan recorded as intended and Route 53 shows
/// done is geoplan's own (its confirmation was lost to a crash or a failed read-back).
/// A switch found out with no record of why counts as a manual drain, so geoplan never
/// undoes a change it did not make.
fn adopt(
    store: &Store,
    region: &str,
    inverted: bool,
    stored: Option<StoredSwitch>,
    now: SystemTime,
) -> Result<(Switch, Option<SystemTime>), crate::control::store::StoreError> {
    if let Some(intent) = store.load_intent(region)? {
        store.clear_intent(region)?;
        if intent.switch.in_service != inverted {
            let what = if intent.switch.in_service {
                "restore"
            } else {
                "take-out"
            };
            store.record(
                now,
                Some(region),
                "adopted",
                &format!(
                    "{region}: geoplan's own {what} reached Route 53 but was not confirmed before; recorded as done"
                ),
            )?;
            let done = StoredSwitch {
                switch: intent.switch.clone(),
                last_action: Some(intent.at),
            };
            store.save_switch(region, &done)?;
            return Ok((intent.switch, Some(intent.at)));
        }
        // The intended flip never took effect: what the store says still holds.
    }
    let last_action = stored.as_ref().and_then(|s| s.last_action);
    let stored_out = stored.as_ref().filter(|s| !s.switch.in_service);
    let (switch, note) = match (inverted, stored_out) {
        (true, Some(s)) => (s.switch.clone(), None),
        (true, None) => (
            Switch {
                in_service: false,
                cause: Some(Cause::Manual),
                reason: Some("found out of service in Route 53".into()),
                since: Some(now),
            },
            Some(format!(
                "{region} found out of service in Route 53 with no record of why; treating it as drained by hand"
            )),
        ),
        (false, Some(_)) => (
            Switch {
                in_service: true,
                cause: None,
                reason: None,
                since: Some(now),
            },
            Some(format!(
                "{region} found back in service in Route 53 (restored outside geoplan)"
            )),
        ),
        (false, None) => (
            stored.map(|s| s.switch).unwrap_or_else(Switch::in_service),
            None,
        ),
    };
    if let Some(note) = note {
        store.record(now, Some(region), "adopted", &note)?;
        store.save_switch(
            region,
            &StoredSwitch {
                switch: switch.clone(),
                last_action,
            },
        )?;
    }
    Ok((switch, last_action))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pattern: &str, monitor: &str) -> Config {
        let text = format!(
            "name = \"t\"\npattern = \"{pattern}\"\n[dns]\nzone = \"example.com\"\nrecord = \"api.example.com\"\n\
             [[region]]\nname = \"us-east-1\"\nendpoint = \"192.0.2.1\"\n[[region]]\nname = \"eu-west-1\"\nendpoint = \"192.0.2.2\"\n[monitor]\n{monitor}\n"
        );
        let (c, d) = crate::config::compile("t.toml", &text, std::path::Path::new("/"));
        c.unwrap_or_else(|| panic!("{}", d.render(false)))
    }

    #[test]
    fn partitioned_deployments_fail_over_only_when_allowed() {
        assert!(policy_of(&config("active-active", "")).automatic);
        assert!(!policy_of(&config("partitioned", "")).automatic);
        assert!(policy_of(&config("partitioned", "partitioned_failover = true")).automatic);
        assert!(!policy_of(&config("active-active", "auto_failover = false")).automatic);
    }

    #[test]
    fn adoption_keeps_known_causes_and_treats_unknown_ones_as_manual() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), "t").unwrap();
        let now = SystemTime::now();
        let auto = StoredSwitch {
            switch: Switch {
                in_service: false,
                cause: Some(Cause::Automatic),
                reason: Some("down".into()),
                since: Some(now),
            },
            last_action: Some(now),
        };
        let (s, last) = adopt(&store, "a", true, Some(auto.clone()), now).unwrap();
        assert_eq!((s.cause, last), (Some(Cause::Automatic), Some(now)));
        let (s, _) = adopt(&store, "b", true, None, now).unwrap();
        assert_eq!(
            s.cause,
            Some(Cause::Manual),
            "found off with no record: never undone automatically"
        );
        let (s, _) = adopt(&store, "a", false, Some(auto), now).unwrap();
        assert!(s.in_service, "Route 53 is the truth for in/out");
        let kinds: Vec<String> = store
            .events(0, 10)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, ["adopted", "adopted"], "each surprise is recorded");
    }

    #[test]
    fn adoption_recognises_geoplans_own_unconfirmed_flips() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), "t").unwrap();
        // Whole milliseconds: the store keeps times to the millisecond.
        let t = std::time::UNIX_EPOCH + Duration::from_millis(1_795_000_000_000);
        let out = |cause| Switch {
            in_service: false,
            cause: Some(cause),
            reason: Some("eu-west-1 is down".into()),
            since: Some(t),
        };
        // A take-out whose read-back failed: Route 53 shows it done.
        store
            .save_intent(
                "a",
                &Intent {
                    switch: out(Cause::Automatic),
                    at: t,
                },
            )
            .unwrap();
        let (s, last) = adopt(&store, "a", true, None, t).unwrap();
        assert_eq!(
            (s.cause, last),
            (Some(Cause::Automatic), Some(t)),
            "not mistaken for a manual drain, so failback stays automatic"
        );
        assert_eq!(
            store.load_intent("a").unwrap(),
            None,
            "the intent is resolved"
        );
        // A restore killed after it reached Route 53: not "restored outside geoplan".
        store
            .save_switch(
                "b",
                &StoredSwitch {
                    switch: out(Cause::Manual),
                    last_action: Some(t),
                },
            )
            .unwrap();
        store
            .save_intent(
                "b",
                &Intent {
                    switch: Switch::in_service(),
                    at: t,
                },
            )
            .unwrap();
        let stored = store.load_switch("b").unwrap();
        let (s, _) = adopt(&store, "b", false, stored, t).unwrap();
        assert!(s.in_service);
        // An intent that never took effect changes nothing.
        store
            .save_intent(
                "c",
                &Intent {
                    switch: out(Cause::Automatic),
                    at: t,
                },
            )
            .unwrap();
        let (s, _) = adopt(&store, "c", false, None, t).unwrap();
        assert!(s.in_service);
        let messages: Vec<String> = store
            .events(0, 10)
            .unwrap()
            .into_iter()
            .map(|e| e.message)
            .collect();
        assert_eq!(
            messages,
            [
                "a: geoplan's own take-out reached Route 53 but was not confirmed before; recorded as done",
                "b: geoplan's own restore reached Route 53 but was not confirmed before; recorded as done",
            ]
        );
    }
}
