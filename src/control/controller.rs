//! The control loop: the tokio driver of `core::Core`, the one writer of region state.
//! Probes, the cluster's view and operator commands go in; the effects `Core` returns
//! are carried out here: flips and reads in tracked tasks (each fenced and bounded by
//! its deadline), events and switch state in the store, switch records in the control
//! tables. It decides nothing itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_sdk_route53::Client;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Pattern};
use crate::control::clock::Moment;
use crate::control::cluster::View;
use crate::control::core::{
    CommandError, Core, Effect, Init, Input, Observed, RegionRead, RegionState, Request, Settings,
};
use crate::control::driver;
use crate::control::failover::{Policy, Switch};
use crate::control::metrics::{ControlMetrics, ProbeLabel, RegionLabel};
use crate::control::store::SwitchStore;
use crate::control::switches::{self, SwitchError};
use crate::control::verdict::{Probe, Thresholds, Verdict};
use crate::deploy::outputs::CheckIds;
use crate::store::Store;

/// What the API reads. Guarded by a std mutex: every critical section is a short
/// copy or update and none spans an await.
#[derive(Debug)]
pub struct Shared {
    pub regions: Vec<RegionState>,
    pub started: SystemTime,
    /// Several instances: who acts, who is alive (`None` for a single instance).
    pub control: Option<ControlState>,
    /// What DNS answers for each record name, as `DnsAsker` last asked (only while
    /// this instance reads Route 53).
    pub dns: std::collections::BTreeMap<String, crate::control::dns::Answer>,
}

/// This instance's view of the coordination, for the status document.
#[derive(Debug, Clone)]
pub struct ControlState {
    pub instance: String,
    pub is_actor: bool,
    pub view: View,
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
        /// The reason for overriding the failback gate.
        force: Option<String>,
        reply: oneshot::Sender<Result<Switch, CommandError>>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error(transparent)]
    Switch(#[from] SwitchError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(
        "region {0} is in the config but has no geoplan health checks in Route 53; run `geoplan apply`"
    )]
    MissingChecks(String),
}

/// The controller's link to the other instances.
pub struct Ha {
    pub instance: String,
    pub view: tokio::sync::watch::Receiver<View>,
    /// This instance's verdicts, published by the coordinator.
    pub verdicts: tokio::sync::watch::Sender<std::collections::BTreeMap<String, Verdict>>,
    pub tables: crate::control::coordinator::Tables,
}

/// What the work done off the loop sends back to it.
type Outcome = Input;

/// The drill hook for the fence test: `GEOPLAN_FAULT_FLIP_DELAY=2s` makes every flip
/// wait that long after it is decided and before it is sent, as a scheduling stall or
/// a paused process would.
pub const FAULT_FLIP_DELAY: &str = "GEOPLAN_FAULT_FLIP_DELAY";

pub struct Controller {
    core: Core,
    ha: Option<Ha>,
    shared: SharedState,
    store: Arc<Store>,
    route53: Client,
    /// What flips and reads the switches (Route 53, or ARC's cluster endpoints).
    driver: driver::Driver,
    /// Reads the replicas and CloudWatch for the failback gate (`None`: no table is
    /// replicated). Taken by `run`.
    watcher: Option<crate::control::replication::Watcher>,
    dns: Arc<DnsNames>,
    /// What the failback metrics last showed per region (why held, the reading's
    /// time): `publish` runs on every input and sets them only when this changes.
    failback_shown: HashMap<String, (Option<&'static str>, Option<SystemTime>)>,
    /// Asks the DnsAsker to watch a region leave the answer (set by `run`).
    dns_watch: Option<mpsc::UnboundedSender<(String, SystemTime)>>,
    metrics: Arc<ControlMetrics>,
    /// Paces every Route 53 call of the running control plane.
    gate: Arc<crate::control::gate::Gate>,
    resync: Duration,
    /// The first effects of `Core::new`, carried out when `run` starts.
    startup: Vec<Effect>,
    replies: HashMap<u64, oneshot::Sender<Result<Switch, CommandError>>>,
    next_id: u64,
    leadership_seen: u64,
    flip_delay: Duration,
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
    /// Discovers the switches, reconciles their state with the store, and returns a controller ready to run.
    /// With `switch = "arc"`, the ARC clients use `endpoint_url` (an emulator) and
    /// `app` in their user agent, as Route 53's client does.
    pub async fn start(
        config: &Config,
        route53: Client,
        endpoint_url: Option<&str>,
        app: Option<&str>,
        store: Arc<Store>,
        metrics: Arc<ControlMetrics>,
        ha: Option<Ha>,
    ) -> Result<Controller, ControllerError> {
        // Every Route 53 call of the running control plane, start-up included, waits
        // its turn here.
        let gate = Arc::new(crate::control::gate::Gate::new(
            config.monitor.route53_rate,
            metrics.route53_requests.clone(),
        ));
        // The Terraform outputs name the checks without listing every health check in
        // the account; tags find them where the outputs cannot be read.
        let found = match crate::deploy::outputs::health_checks(config).await {
            Some(found) if config.regions.iter().all(|r| found.contains_key(&r.name)) => {
                tracing::info!("health checks named by the Terraform outputs");
                found
            }
            _ => {
                tracing::info!("health checks found by their geoplan:* tags");
                switches::discover_paced(&route53, &config.name, Some(&gate)).await?
            }
        };
        let driver = driver::Driver::connect(config, &route53, &found, endpoint_url, app).await?;
        let watcher = crate::control::replication::Watcher::new(config, endpoint_url, app).await;
        let gated = watcher.as_ref().map(|w| w.regions()).unwrap_or_default();
        if let driver::Driver::Arc(arc) = &driver {
            tracing::info!(
                endpoints = ?arc.endpoints().iter().map(|e| e.region.as_str()).collect::<Vec<_>>(),
                "switches are ARC routing controls"
            );
        }
        let mut init = Vec::new();
        for r in &config.regions {
            let checks = found
                .get(&r.name)
                .cloned()
                .ok_or_else(|| ControllerError::MissingChecks(r.name.clone()))?;
            let (inverted, version) = driver.read(&route53, Some(&gate), &checks.switch).await?;
            init.push(Init {
                name: r.name.clone(),
                checks,
                inverted,
                version,
                stored: store.load_switch(&r.name)?,
                intent: store.load_intent(&r.name)?,
                gated: gated.contains(&r.name),
            });
        }
        let settings = Settings {
            thresholds: Thresholds {
                fail_after: config.monitor.fail_after,
                recover_after: config.monitor.recover_after,
            },
            policy: policy_of(config),
            several: ha.is_some(),
            path: config.monitor.switch,
            failback: crate::control::failback::Policy {
                max_lag: config.failback.max_replication_lag,
                settle: config.failback.settle,
                max_age: crate::control::replication::max_age(&config.failback),
            },
        };
        let instance = ha.as_ref().map_or("", |h| h.instance.as_str()).to_owned();
        let (core, startup) = Core::new(init, settings, &instance, SystemTime::now());
        if ha.is_none() {
            // One instance alone is the actor: it acts whenever it decides to.
            metrics.is_actor.set(1);
        }
        let control = ha.as_ref().map(|h| ControlState {
            instance: h.instance.clone(),
            is_actor: false,
            view: h.view.borrow().clone(),
        });
        let flip_delay = std::env::var(FAULT_FLIP_DELAY)
            .ok()
            .and_then(|v| humantime::parse_duration(&v).ok())
            .unwrap_or_default();
        if !flip_delay.is_zero() {
            tracing::warn!(delay = ?flip_delay, "{FAULT_FLIP_DELAY} set: every flip waits before it is sent");
        }
        let controller = Controller {
            shared: Arc::new(Mutex::new(Shared {
                regions: core.regions().to_vec(),
                started: SystemTime::now(),
                control,
                dns: Default::default(),
            })),
            core,
            ha,
            store,
            route53,
            driver,
            watcher,
            dns: {
                let records = crate::deploy::model::build(config, "", None).records;
                Arc::new(DnsNames {
                    zone: config.dns.zone_id.clone(),
                    zone_name: config.dns.zone.clone(),
                    names: crate::control::dns::names(&records),
                    records,
                })
            },
            dns_watch: None,
            failback_shown: HashMap::new(),
            metrics,
            gate,
            resync: config.monitor.resync_interval,
            startup,
            replies: HashMap::new(),
            next_id: 0,
            leadership_seen: 0,
            flip_delay,
        };
        for r in controller.core.regions() {
            controller
                .metrics
                .set_in_service(&r.name, r.switch.in_service);
            controller.metrics.set_verdict(&r.name, r.tracker.verdict);
        }
        Ok(controller)
    }

    pub fn shared(&self) -> SharedState {
        self.shared.clone()
    }

    pub fn policy(&self) -> Policy {
        self.core.policy()
    }

    /// Runs until cancelled; returns once every flip and record it started has ended
    /// (each is bounded by its deadline), so the lease is released only after them.
    pub async fn run(
        mut self,
        mut probes: mpsc::Receiver<(usize, Probe)>,
        mut commands: mpsc::Receiver<Command>,
        beat: crate::control::probe::Beat,
        cancel: CancellationToken,
    ) {
        let mut view = self.ha.as_ref().map(|h| h.view.clone());
        let (outcomes_tx, mut outcomes) = mpsc::unbounded_channel::<Outcome>();
        let read_now = Arc::new(tokio::sync::Notify::new());
        let reads_route53 = Arc::new(AtomicBool::new(self.core.reads_route53()));
        // What DNS answers, asked on its own (never in the way of the switches' reads).
        let (watch_tx, watch_rx) = mpsc::unbounded_channel();
        self.dns_watch = Some(watch_tx);
        let dns = DnsAsker {
            route53: self.route53.clone(),
            gate: self.gate.clone(),
            names: self.dns.clone(),
            shared: self.shared.clone(),
            interval: self.resync,
            reads_route53: reads_route53.clone(),
            watch: watch_rx,
            outcomes: outcomes_tx.clone(),
        };
        let dns = tokio::spawn(dns.run(cancel.clone()));
        let reader = Reader {
            route53: self.route53.clone(),
            driver: self.driver.clone(),
            gate: self.gate.clone(),
            regions: self
                .core
                .regions()
                .iter()
                .map(|r| (r.name.clone(), r.checks.clone()))
                .collect(),
            tables: self.ha.as_ref().map(|h| h.tables.clone()),
            interval: self.resync,
            now: read_now.clone(),
            reads_route53: reads_route53.clone(),
            outcomes: outcomes_tx.clone(),
        };
        let reader = tokio::spawn(reader.run(cancel.clone()));
        let watcher = self.watcher.take().map(|w| {
            tokio::spawn(w.run(reads_route53.clone(), outcomes_tx.clone(), cancel.clone()))
        });
        let mut tasks = JoinSet::new();
        let startup = std::mem::take(&mut self.startup);
        self.carry_out(startup, &mut tasks, &outcomes_tx, &read_now);
        // Nothing in this loop waits on AWS: reads, flips and records run in tasks and
        // report back here, so probes are folded in and decided on even while Route 53
        // or DynamoDB do not answer.
        loop {
            beat.beat(0);
            let wake = self.core.poll_timeout();
            let input = tokio::select! {
                _ = cancel.cancelled() => break,
                Some((region, probe)) = probes.recv() => {
                    self.count_probe(region, &probe);
                    Input::Probe { region, probe }
                }
                Ok(()) = async { match view.as_mut() { Some(v) => v.changed().await, None => std::future::pending().await } } => {
                    let v = view.as_ref().map(|v| v.borrow().clone()).unwrap_or_default();
                    Input::View(v)
                }
                Some(cmd) = commands.recv() => self.request(cmd),
                Some(outcome) = outcomes.recv() => outcome,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
                _ = sleep_until(wake) => Input::Tick,
            };
            let effects = self.core.handle(Moment::now(), SystemTime::now(), input);
            self.carry_out(effects, &mut tasks, &outcomes_tx, &read_now);
            reads_route53.store(self.core.reads_route53(), Ordering::Relaxed);
            self.publish();
        }
        // Flips end by their deadlines and records by theirs: wait for them, folding
        // their outcomes in (a flip that got no answer is settled a margin after it
        // ended; a confirmed one is recorded, in the tables too, and answered) while
        // deciding nothing new; then wait until every flip started is settled (it may
        // land until then), so that a released lease never has a flip of this instance
        // still on its way.
        self.core.stop();
        loop {
            while let Ok(outcome) = outcomes.try_recv() {
                let effects = self.core.handle(Moment::now(), SystemTime::now(), outcome);
                // The reader has stopped; a stopped core starts no flip.
                let effects = effects
                    .into_iter()
                    .filter(|e| !matches!(e, Effect::ReadNow | Effect::Flip { .. }))
                    .collect();
                self.carry_out(effects, &mut tasks, &outcomes_tx, &read_now);
            }
            if tasks.join_next().await.is_none() {
                break;
            }
        }
        if let Some(quiet) = self.core.quiet_until() {
            tokio::time::sleep(quiet.since(Moment::now())).await;
        }
        let _ = reader.await;
        let _ = dns.await;
        if let Some(w) = watcher {
            let _ = w.await;
        }
        let _ = self
            .store
            .record(SystemTime::now(), None, "stop", "control plane stopped");
    }

    fn request(&mut self, cmd: Command) -> Input {
        self.next_id += 1;
        let id = self.next_id;
        let (request, reply) = match cmd {
            Command::Drain {
                region,
                reason,
                reply,
            } => (Request::Drain { region, reason }, reply),
            Command::Restore {
                region,
                force,
                reply,
            } => (Request::Restore { region, force }, reply),
        };
        self.replies.insert(id, reply);
        Input::Request { id, request }
    }

    fn count_probe(&self, region: usize, probe: &Probe) {
        let Some(r) = self.core.regions().get(region) else {
            return;
        };
        self.metrics
            .probe_latency
            .get_or_create(&RegionLabel {
                region: r.name.clone(),
            })
            .observe(probe.latency.as_secs_f64());
        self.metrics
            .probes
            .get_or_create(&ProbeLabel {
                region: r.name.clone(),
                outcome: if probe.ok { "ok" } else { "failed" }.into(),
            })
            .inc();
    }

    fn carry_out(
        &mut self,
        effects: Vec<Effect>,
        tasks: &mut JoinSet<()>,
        outcomes: &mpsc::UnboundedSender<Outcome>,
        read_now: &tokio::sync::Notify,
    ) {
        for effect in effects {
            match effect {
                Effect::Flip {
                    region,
                    flip,
                    switch_id,
                    out,
                    version,
                    deadline,
                    epoch,
                    ..
                } => {
                    let (driver, gate, outcomes, metrics) = (
                        self.driver.clone(),
                        self.gate.clone(),
                        outcomes.clone(),
                        self.metrics.clone(),
                    );
                    let delay = self.flip_delay;
                    let view = self.ha.as_ref().map(|h| h.view.clone());
                    tasks.spawn(async move {
                        if !delay.is_zero() {
                            tokio::time::sleep(delay).await;
                        }
                        // Still the actor in the same epoch: no successor can have acted,
                        // so the flip may go on until the end of the current window.
                        let deadline = match view.map(|v| v.borrow().clone()) {
                            Some(v) if v.epoch == epoch && v.is_actor(Moment::now()) => {
                                deadline.max(v.actor_until.unwrap_or(deadline))
                            }
                            _ => deadline,
                        };
                        let flipped = driver.flip(&gate, &switch_id, out, version, deadline).await;
                        if matches!(flipped.outcome, switches::FlipOutcome::Done { .. }) {
                            metrics.count_confirmation(flipped.via.as_str());
                        }
                        let _ = outcomes.send(Input::Flipped {
                            region,
                            flip,
                            outcome: flipped.outcome,
                            via: flipped.via,
                        });
                    });
                }
                Effect::Record { region, record } => {
                    let Some(h) = &self.ha else { continue };
                    let (tables, outcomes) = (h.tables.clone(), outcomes.clone());
                    tasks.spawn(async move {
                        let seq = record.seq;
                        let ok = tables
                            .save_record(&region, &record, Duration::from_secs(2))
                            .await;
                        let _ = outcomes.send(Input::Recorded { region, seq, ok });
                    });
                }
                Effect::Reply { id, result } => {
                    if let Some(reply) = self.replies.remove(&id) {
                        let _ = reply.send(result);
                    }
                }
                Effect::Event {
                    region,
                    kind,
                    message,
                    took,
                } => {
                    if kind == "action-failed" {
                        self.metrics.count_if_throttled(&message);
                    }
                    tracing::info!(
                        region = region.as_deref().unwrap_or("-"),
                        kind,
                        message,
                        "event"
                    );
                    if let Err(e) = self.store.record_took(
                        SystemTime::now(),
                        region.as_deref(),
                        kind,
                        &message,
                        took,
                    ) {
                        tracing::error!(error = %e, "cannot record event");
                    }
                }
                Effect::SaveSwitch { region, stored } => {
                    if let Err(e) = self.store.save_switch(&region, &stored) {
                        tracing::error!(region, error = %e, "cannot persist switch state");
                    }
                }
                Effect::SaveIntent { region, intent } => {
                    if let Err(e) = self.store.save_intent(&region, &intent) {
                        tracing::error!(region, error = %e, "cannot record the intent of a flip");
                    }
                }
                Effect::ClearIntent { region } => {
                    if let Err(e) = self.store.clear_intent(&region) {
                        tracing::error!(region, error = %e, "cannot clear the intent of a flip");
                    }
                }
                Effect::ReadNow => read_now.notify_one(),
                Effect::Verdicts(v) => {
                    if let Some(h) = &self.ha {
                        h.verdicts.send_replace(v);
                    }
                }
                Effect::Acted { region, action } => self.metrics.count_action(&region, action),
                Effect::Recovered { region, recovery } => {
                    self.metrics.observe_recovery(&region, &recovery)
                }
                Effect::WatchDns { region, since } => {
                    if let Some(w) = &self.dns_watch {
                        let _ = w.send((region, since));
                    }
                }
                Effect::DnsRecovered { region, kind, took } => {
                    self.metrics.observe_dns_recovery(&region, kind, took)
                }
            }
        }
    }

    /// Copies the core's state to what the API reads, and to the metrics.
    fn publish(&mut self) {
        let m = &self.metrics;
        for r in self.core.regions() {
            m.set_in_service(&r.name, r.switch.in_service);
            m.set_verdict(&r.name, r.tracker.verdict);
            if r.gated {
                let held = match &r.failback {
                    Some(crate::control::failback::Gate::Held { why, .. }) => Some(why.as_str()),
                    _ => None,
                };
                let shown = (held, r.replication.as_ref().map(|x| x.inbound.at));
                if self.failback_shown.get(&r.name) != Some(&shown) {
                    let lags = r
                        .replication
                        .as_ref()
                        .map(|x| crate::control::failback::lags(&x.inbound))
                        .unwrap_or_default();
                    m.set_failback(&r.name, held, &lags);
                    self.failback_shown.insert(r.name.clone(), shown);
                }
            }
        }
        let control = self.ha.as_ref().map(|h| {
            let view = self.core.view().clone();
            let now = Moment::now();
            if view.leadership_changes > self.leadership_seen {
                m.leadership_changes
                    .inc_by(view.leadership_changes - self.leadership_seen);
                self.leadership_seen = view.leadership_changes;
            }
            m.is_actor.set(i64::from(view.is_actor(now)));
            if let Some(l) = view.renew_latency {
                m.lease_renew_seconds.set(l.as_secs_f64());
            }
            m.control_tables_reachable.set(view.tables_reachable as i64);
            for r in self.core.regions() {
                let votes: Vec<Verdict> = std::iter::once(r.tracker.verdict)
                    .chain(r.vantages.iter().map(|(_, v)| *v))
                    .collect();
                m.vantage_disagreement
                    .get_or_create(&RegionLabel {
                        region: r.name.clone(),
                    })
                    .set(i64::from(crate::control::quorum::disagree(&votes)));
            }
            ControlState {
                instance: h.instance.clone(),
                is_actor: view.is_actor(now),
                view,
            }
        });
        let mut shared = lock(&self.shared);
        shared.regions.clone_from_slice(self.core.regions());
        if control.is_some() {
            shared.control = control;
        }
    }
}

async fn sleep_until(at: Option<Moment>) {
    match at {
        Some(at) => tokio::time::sleep(at.since(Moment::now())).await,
        None => std::future::pending().await,
    }
}

/// The hosted zone (its id once known) and the names the Reader asks DNS about.
#[derive(Debug)]
struct DnsNames {
    zone: Option<String>,
    zone_name: String,
    names: Vec<(String, &'static str)>,
    /// The records, to map an answer's values back to regions.
    records: Vec<crate::deploy::model::Record>,
}

/// While a take-out is watched, DNS is asked this often (each call still paced by the
/// gate: with one record name, half of the default `route53_rate`, so a flip waits
/// behind at most one such call) …
const DNS_WATCH_PACE: Duration = Duration::from_millis(500);
/// … for at most this long after its switch was confirmed.
const DNS_WATCH_LIMIT: Duration = Duration::from_secs(60);

/// Every `interval` (or when asked): with several instances the control tables' switch
/// records, and every switch and Route 53's endpoint statuses, paced by the gate, when
/// this instance reads Route 53 (it is, or is becoming, the actor, or runs alone).
struct Reader {
    route53: Client,
    driver: driver::Driver,
    gate: Arc<crate::control::gate::Gate>,
    regions: Vec<(String, CheckIds)>,
    tables: Option<crate::control::coordinator::Tables>,
    interval: Duration,
    now: Arc<tokio::sync::Notify>,
    reads_route53: Arc<AtomicBool>,
    outcomes: mpsc::UnboundedSender<Outcome>,
}

impl Reader {
    async fn run(self, cancel: CancellationToken) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_route53: Option<tokio::time::Instant> = None;
        loop {
            let asked = tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => false,
                _ = self.now.notified() => true,
            };
            let started = Moment::now();
            let (records, records_complete) = match &self.tables {
                Some(t) => t.load_records(switches::READ_TIMEOUT).await,
                None => (Default::default(), true),
            };
            let due = asked || last_route53.is_none_or(|t| t.elapsed() >= self.interval);
            let regions: Vec<RegionRead>;
            if self.reads_route53.load(Ordering::Relaxed) && due {
                last_route53 = Some(tokio::time::Instant::now());
                // Region by region (so a flip waits behind at most this region's two
                // Route 53 calls at the gate), each call bounded once its turn has come
                // (a hung one must not keep a new actor from acting). The switch and
                // Route 53's status side by side: with ARC, the switch is read on ARC's
                // data plane, whatever Route 53 does.
                let timed_out = || "timed out".to_owned();
                let mut read = Vec::new();
                for (name, checks) in &self.regions {
                    let status = async {
                        self.gate.wait().await;
                        tokio::time::timeout(
                            switches::READ_TIMEOUT,
                            switches::route53_status(&self.route53, &checks.endpoint),
                        )
                        .await
                        .map_err(|_| timed_out())
                        .and_then(|r| r.map_err(|e| e.to_string()))
                    };
                    let switch = async {
                        self.driver
                            .read(&self.route53, Some(&self.gate), &checks.switch)
                            .await
                            .map_err(|e| e.to_string())
                    };
                    let (status, switch) = tokio::select! {
                        _ = cancel.cancelled() => return,
                        r = async { tokio::join!(status, switch) } => r,
                    };
                    read.push(RegionRead {
                        region: name.clone(),
                        route53: Some(status),
                        switch: Some(switch),
                    });
                }
                regions = read;
            } else if self.tables.is_some() {
                regions = self
                    .regions
                    .iter()
                    .map(|(name, _)| RegionRead {
                        region: name.clone(),
                        route53: None,
                        switch: None,
                    })
                    .collect();
            } else {
                continue;
            }
            let observed = Observed {
                started,
                regions,
                records,
                records_complete,
            };
            if self.outcomes.send(Input::Observed(observed)).is_err() {
                break;
            }
        }
    }
}

/// Every `interval`, while this instance reads Route 53: what DNS answers for each
/// record name (`TestDNSAnswer`), into `Shared::dns` for the status document. It
/// follows each region's presence in the answers, round by round; after a take-out
/// (`Effect::WatchDns`) it asks every `DNS_WATCH_PACE` until the answers no longer
/// hold the region, and tells the core when they stopped (`Input::Dns`).
struct DnsAsker {
    route53: Client,
    gate: Arc<crate::control::gate::Gate>,
    names: Arc<DnsNames>,
    shared: SharedState,
    interval: Duration,
    reads_route53: Arc<AtomicBool>,
    watch: mpsc::UnboundedReceiver<(String, SystemTime)>,
    outcomes: mpsc::UnboundedSender<Outcome>,
}

/// A region in the answers of the complete rounds (every name answered) so far.
#[derive(Debug, Default, Clone, Copy)]
struct Presence {
    /// The last round that held it.
    held: Option<SystemTime>,
    /// The first round that no longer held it after one that did.
    left: Option<SystemTime>,
}

impl DnsAsker {
    async fn run(mut self, cancel: CancellationToken) {
        use crate::control::core::DnsOutcome;
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut zone = self.names.zone.clone();
        let mut presence: std::collections::BTreeMap<String, Presence> = Default::default();
        // Regions watched: the take-out's first evidence, and when the watch began.
        let mut watching: Vec<(String, SystemTime, tokio::time::Instant)> = Vec::new();
        loop {
            let fast = !watching.is_empty();
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick(), if !fast => {}
                _ = tokio::time::sleep(DNS_WATCH_PACE), if fast => {}
                Some((region, since)) = self.watch.recv() => {
                    watching.retain(|(r, _, _)| *r != region);
                    watching.push((region, since, tokio::time::Instant::now()));
                }
            }
            let reads = self.reads_route53.load(Ordering::Relaxed);
            if reads {
                let asked = SystemTime::now();
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = self.ask_dns(&mut zone) => {}
                }
                self.follow(asked, &mut presence);
            }
            watching.retain(|(region, since, watched)| {
                let p = presence.get(region).copied().unwrap_or_default();
                let outcome = match p {
                    // No longer the instance that reads Route 53: not seen.
                    _ if !reads => DnsOutcome::Unobservable,
                    // It left at or after the take-out's first evidence.
                    Presence { left: Some(at), .. } if at >= *since => DnsOutcome::Left(at),
                    // Held by the last complete round: watch on, for a while.
                    Presence {
                        held: Some(_),
                        left: None,
                    } if watched.elapsed() < DNS_WATCH_LIMIT => return true,
                    Presence {
                        held: Some(_),
                        left: None,
                    } => DnsOutcome::Stayed(watched.elapsed()),
                    // Never held (a resolver far from it, or no complete round yet), or
                    // gone before the take-out began: its leaving cannot be seen.
                    _ => DnsOutcome::Unobservable,
                };
                let _ = self.outcomes.send(Input::Dns {
                    region: region.clone(),
                    outcome,
                });
                false
            });
        }
    }

    /// Folds a round into each region's presence, when every name was answered at or
    /// after `asked` (a round with a failed call says nothing).
    fn follow(
        &self,
        asked: SystemTime,
        presence: &mut std::collections::BTreeMap<String, Presence>,
    ) {
        let shared = lock(&self.shared);
        let Some(answers) = self
            .names
            .names
            .iter()
            .map(|(name, _)| shared.dns.get(name).filter(|a| a.at >= asked))
            .collect::<Option<Vec<_>>>()
        else {
            return;
        };
        let Some(at) = answers.iter().map(|a| a.at).max() else {
            return;
        };
        let held: Vec<String> = answers
            .iter()
            .flat_map(|a| crate::control::dns::regions_of(&self.names.records, &a.values))
            .collect();
        for region in self.names.records.iter().filter_map(|r| r.region.as_ref()) {
            let p = presence.entry(region.clone()).or_default();
            if held.contains(region) {
                *p = Presence {
                    held: Some(at),
                    left: None,
                };
            } else if p.held.is_some() && p.left.is_none() {
                p.left = Some(at);
            }
        }
    }

    /// Asks Route 53 what it answers for each name, each call paced and bounded; a
    /// failure leaves the last answer as it was, with its time.
    async fn ask_dns(&self, zone: &mut Option<String>) {
        if zone.is_none() {
            self.gate.wait().await;
            let found = tokio::time::timeout(
                switches::READ_TIMEOUT,
                crate::control::dns::zone_id_by_name(&self.route53, &self.names.zone_name),
            );
            match found.await {
                Ok(Ok(id)) => *zone = Some(id),
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "no zone to ask DNS about");
                    return;
                }
                Err(_) => return,
            }
        }
        let Some(zone) = zone.as_deref() else { return };
        for (name, rtype) in &self.names.names {
            self.gate.wait().await;
            // Only while this instance reads Route 53 (it may have just stopped).
            if !self.reads_route53.load(Ordering::Relaxed) {
                return;
            }
            let answer = tokio::time::timeout(
                switches::READ_TIMEOUT,
                crate::control::dns::answer(&self.route53, zone, name, rtype),
            );
            if let Ok(Ok(a)) = answer.await {
                lock(&self.shared).dns.insert(name.clone(), a);
            }
        }
    }
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
}
