//! A deterministic simulator of the HA control plane (FoundationDB's and TigerBeetle's
//! way): N instances, each the real sans-IO `Cluster` and `Core`, K control tables,
//! Route 53's switches with versions and the account's 5 requests/s, and the regions'
//! endpoints, all in one thread on virtual time. A seeded RNG injects the faults: link
//! delay, loss, hangs and one-sided partitions, lost replies (the SDK's retry of a write
//! that landed then fails its condition), paused, crashed and restarted processes with
//! their stores, clocks at different rates, operator drains and restores at random.
//!
//! After every step the properties are checked against Route 53's and the tables' own
//! history, not the instances' beliefs. Every run is a seed; a failing one prints the
//! command that replays it. `GEOPLAN_SIM_SEEDS` sets how many seeds the suite runs
//! (2,000 by default), `GEOPLAN_SIM_SEED` replays one.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use geoplan::control::clock::Moment;
use geoplan::control::cluster::{self, Cluster, Heartbeat};
use geoplan::control::core::{
    self, CommandError, Core, Init, Observed, RegionRead, Request, Settings, SwitchRecord,
};
use geoplan::control::failover::Policy;
use geoplan::control::lease::{Lease, Record, Write};
use geoplan::control::store::{Intent, StoredSwitch};
use geoplan::control::switches::{FlipOutcome, SwitchError};
use geoplan::control::verdict::{Probe, Thresholds, Verdict};
use geoplan::deploy::outputs::CheckIds;

pub const LEASE: Duration = Duration::from_secs(3);
const PROBE_EVERY: Duration = Duration::from_millis(500);
const READ_EVERY: Duration = Duration::from_secs(2);
const RESYNC: Duration = Duration::from_secs(2);
const GATE: Duration = Duration::from_millis(250);
const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-northeast-1"];

/// splitmix64: small, fast, and the same on every machine.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn ms(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo + 1))
    }
}

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    Table(usize),
    Route53,
}

/// A link's state from one instance to one destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Up,
    /// Requests are held until their deadline passes (the client gives up).
    Hung,
}

/// The faults of a run: how likely each is, and until when they may happen.
#[derive(Debug, Clone)]
pub struct Faults {
    pub loss: f64,
    pub lost_reply: f64,
    pub max_delay_ms: u64,
    /// Faults stop here; after it the world is calm.
    pub calm_at: Duration,
    pub end: Duration,
    pub events: usize,
}

impl Faults {
    pub fn random(rng: &mut Rng) -> Faults {
        Faults {
            loss: [0.0, 0.01, 0.05][rng.below(3) as usize],
            lost_reply: [0.0, 0.02, 0.05][rng.below(3) as usize],
            max_delay_ms: [20, 80, 300][rng.below(3) as usize],
            calm_at: Duration::from_secs(25),
            end: Duration::from_secs(40),
            events: 4 + rng.below(10) as usize,
        }
    }

    pub fn none(end: Duration) -> Faults {
        Faults {
            loss: 0.0,
            lost_reply: 0.0,
            max_delay_ms: 20,
            calm_at: Duration::ZERO,
            end,
            events: 0,
        }
    }
}

/// A scheduled fault or operator action.
#[derive(Debug, Clone)]
pub enum Act {
    Crash(usize),
    Restart(usize),
    Pause(usize, Duration),
    Link(usize, Dest, Link),
    Region(usize, bool),
    /// Instance can no longer reach the region's endpoint (its probes fail).
    Cut(usize, usize, bool),
    Drain(usize, usize),
    Restore(usize, usize),
    /// A clean stop (SIGTERM): no more decisions; the lease is released once every flip
    /// the instance started is settled, as `controller::run` and `Coordinator::run` do.
    Stop(usize),
    /// The instance's scans of the heartbeats fail (or work again).
    ScansFail(usize, bool),
    /// Heal everything: links up, processes running, cuts mended.
    Calm,
}

#[derive(Debug)]
enum Ev {
    Wake(usize, u64),
    /// Timers carry the boot of the process that set them: a restarted process has its own.
    ProbeTick(usize, u64),
    ReadTick(usize, u64),
    /// A request reaches its destination.
    Arrive(usize, u64, Req),
    /// The answer reaches the instance.
    Answer(usize, u64, Ans),
    Act(Act),
    /// Route 53 applies a flip it received earlier.
    Process(usize, u64, Req),
    /// A stopped instance gives its lease up, once its flips are settled.
    Release(usize, u64),
    /// Route 53 applies a request whose answer is already lost.
    Apply(usize, Req),
    /// A flip leaves the process (its turn at the gate came), unless its deadline passed.
    SendFlip(usize, u64, Req, Moment, Option<u64>),
}

#[derive(Debug, Clone)]
enum Req {
    LeaseRead {
        round: u64,
        table: usize,
    },
    LeaseWrite {
        round: u64,
        table: usize,
        write: Write,
    },
    Publish {
        table: usize,
        beat: Heartbeat,
    },
    Scan {
        table: usize,
    },
    Leave {
        table: usize,
    },
    RecordSave {
        table: usize,
        region: String,
        record: SwitchRecord,
    },
    RecordsLoad {
        table: usize,
    },
    Flip {
        region: String,
        flip: u64,
        out: bool,
        version: i64,
        epoch: u64,
        automatic: bool,
    },
    Read,
}

#[derive(Debug, Clone)]
enum Ans {
    LeaseRead {
        round: u64,
        table: usize,
        record: Option<Option<Record>>,
    },
    LeaseWritten {
        round: u64,
        table: usize,
        version: Option<u64>,
    },
    Scanned {
        table: usize,
        heartbeats: Option<Vec<Heartbeat>>,
    },
    Recorded {
        region: String,
        seq: u64,
        ok: bool,
    },
    Records {
        table: usize,
        records: Option<BTreeMap<String, SwitchRecord>>,
    },
    Flipped {
        region: String,
        flip: u64,
        outcome: FlipOutcome,
    },
    Read {
        switches: Option<Vec<(bool, i64)>>,
    },
    Nothing,
}

#[derive(Default, Clone)]
struct Table {
    lease: Option<Record>,
    heartbeats: BTreeMap<String, Heartbeat>,
    records: BTreeMap<String, SwitchRecord>,
}

#[derive(Default, Clone)]
struct SimStore {
    switches: BTreeMap<String, StoredSwitch>,
    intents: BTreeMap<String, Intent>,
}

struct Node {
    id: String,
    alive: bool,
    /// Stopped cleanly, and waiting (as `controller::run` does) for its flips to end
    /// and settle before it gives its lease up.
    stopping: bool,
    /// Flips decided but not yet sent (waiting at the gate).
    unsent: usize,
    paused_until: Option<Duration>,
    /// This host's clock: `rate` × real time, from its own origin.
    rate: f64,
    origin: Duration,
    cluster: Cluster,
    core: Core,
    store: SimStore,
    wake_gen: u64,
    /// When the scheduled timer fires.
    wake_at: Option<Duration>,
    next_req: u64,
    gate_free: Duration,
    /// Each outstanding record's answers: region → (seq, ok count, answered count).
    recording: BTreeMap<String, (u64, usize, usize)>,
    /// The reader's read in progress: when it started, the tables' answers.
    reading: Option<Reading>,
    /// A read was asked for while one was under way.
    read_asked: bool,
    last_route53: Option<Duration>,
    /// The deadline of each flip sent: an answer after it is no answer.
    flip_deadlines: BTreeMap<u64, Moment>,
    /// Its scans fail (a missing permission, a slow table) while its other calls work.
    scans_fail: bool,
    /// Operator requests awaiting their answer, with when they were asked.
    ops: BTreeMap<u64, (Request, Duration)>,
    /// How many times this instance has started before.
    boot: u64,
    /// When this process started.
    alive_since: Duration,
    /// The first request id of this process: answers to earlier ones are dropped.
    first_req: u64,
}

struct Reading {
    started: Moment,
    route53: Option<Option<Vec<(bool, i64)>>>,
    records: Vec<Option<Option<BTreeMap<String, SwitchRecord>>>>,
}

/// A flip that landed in Route 53.
#[derive(Debug, Clone)]
pub struct Landed {
    pub at: Duration,
    pub instance: usize,
    pub epoch: u64,
    pub region: usize,
    pub out: bool,
    pub automatic: bool,
}

pub struct Sim {
    pub seed: u64,
    rng: Rng,
    pub now: Duration,
    seq: u64,
    queue: BinaryHeap<Reverse<(Duration, u64)>>,
    events: BTreeMap<u64, Ev>,
    nodes: Vec<Node>,
    tables: Vec<Table>,
    /// Route 53's switches: inverted, version.
    switches: Vec<(bool, i64)>,
    /// What the switches are: Route 53 checks (fenced on versions), or ARC routing
    /// controls (no version, so no fence but the deadline: the model does not enforce
    /// ARC's safety rule either, so geoplan's own guard is what is checked).
    pub path: geoplan::config::SwitchPath,
    route53_calls: Vec<Duration>,
    region_up: Vec<bool>,
    cut: Vec<Vec<bool>>,
    links: BTreeMap<(usize, usize), Link>,
    faults: Faults,
    pub landed: Vec<Landed>,
    /// Per region: the operator's latest request (by when it was asked) that took
    /// effect or may have, whether it was acknowledged, and when it was asked.
    operator: Vec<Option<(Request, bool, Duration)>>,
    ever_cut: Vec<Vec<bool>>,
    ever_down: Vec<bool>,
    table_epochs: Vec<u64>,
    pub min_in_service: usize,
    pub violations: Vec<String>,
    pub faults_injected: usize,
    last_actor_at: Option<Duration>,
    calm_since: Option<Duration>,
    pub stats: Stats,
    /// `GEOPLAN_SIM_TRACE=1`: print every fault and, twice a second, every instance.
    trace: bool,
    /// Scenario hooks: flips of these instances wait this long in the process before
    /// they are sent; the first instance to flip is paused this long at once.
    /// (stall, pause) for the first flip of the run.
    pub stall_first_flip: Option<(Duration, Duration)>,
    /// Time with no actor after the first one, and Route 53 requests refused.
    pub actor_gaps: Duration,
    pub throttled: usize,
    last_step: Duration,
    traced_at: Duration,
}

#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub steps: u64,
    pub flips: usize,
    pub acked_drains: usize,
}

fn dest_key(d: Dest) -> usize {
    match d {
        Dest::Table(t) => t,
        Dest::Route53 => usize::MAX,
    }
}

fn wall(now: Duration) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000) + now
}

fn checks(region: usize) -> CheckIds {
    CheckIds {
        endpoint: format!("endpoint-{region}"),
        switch: format!("switch-{region}"),
        region: format!("calculated-{region}"),
        control: None,
    }
}

fn settings(min_in_service: usize, path: geoplan::config::SwitchPath) -> Settings {
    Settings {
        thresholds: Thresholds {
            fail_after: 3,
            recover_after: 3,
        },
        policy: Policy {
            hold_down: Duration::from_secs(2),
            min_in_service: min_in_service as u32,
            automatic: true,
        },
        several: true,
        path,
        failback: Default::default(),
    }
}

impl Sim {
    fn versioned(&self) -> bool {
        self.path == geoplan::config::SwitchPath::Route53
    }

    /// The switch's version as its reads give it (ARC's: none, so 0).
    fn version_of(&self, r: usize) -> i64 {
        if self.versioned() {
            self.switches[r].1
        } else {
            0
        }
    }

    pub fn new(
        seed: u64,
        instances: usize,
        tables: usize,
        min_in_service: usize,
        faults: Faults,
    ) -> Sim {
        Sim::new_on(
            geoplan::config::SwitchPath::Route53,
            seed,
            instances,
            tables,
            min_in_service,
            faults,
        )
    }

    /// `new`, with switches of `path`.
    pub fn new_on(
        path: geoplan::config::SwitchPath,
        seed: u64,
        instances: usize,
        tables: usize,
        min_in_service: usize,
        faults: Faults,
    ) -> Sim {
        let mut rng = Rng::new(seed);
        let mut sim = Sim {
            seed,
            now: Duration::ZERO,
            seq: 0,
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            nodes: Vec::new(),
            tables: vec![Table::default(); tables],
            switches: vec![(false, 1); REGIONS.len()],
            path,
            route53_calls: Vec::new(),
            region_up: vec![true; REGIONS.len()],
            cut: vec![vec![false; REGIONS.len()]; instances],
            links: BTreeMap::new(),
            landed: Vec::new(),
            operator: vec![None; REGIONS.len()],
            ever_cut: vec![vec![false; REGIONS.len()]; instances],
            ever_down: vec![false; REGIONS.len()],
            table_epochs: vec![0; tables],
            min_in_service,
            violations: Vec::new(),
            faults_injected: 0,
            last_actor_at: None,
            calm_since: None,
            stats: Stats::default(),
            trace: std::env::var_os("GEOPLAN_SIM_TRACE").is_some(),
            stall_first_flip: None,
            actor_gaps: Duration::ZERO,
            throttled: 0,
            last_step: Duration::ZERO,
            traced_at: Duration::ZERO,
            rng: Rng::new(rng.next()),
            faults,
        };
        for i in 0..instances {
            let rate = 1.0 + (rng.below(101) as f64 - 50.0) / 1000.0; // ±5 %
            let origin = Duration::from_millis(rng.below(100_000));
            let node = sim.boot(i, rate, origin, SimStore::default());
            sim.nodes.push(node);
        }
        for i in 0..instances {
            let start = sim.rng.ms(0, 500);
            sim.at(start, Ev::Wake(i, 0));
            let p = sim.rng.ms(0, 500);
            sim.at(p, Ev::ProbeTick(i, 0));
            let r = sim.rng.ms(0, 1000);
            sim.at(r, Ev::ReadTick(i, 0));
        }
        sim
    }

    fn boot(&mut self, i: usize, rate: f64, origin: Duration, store: SimStore) -> Node {
        let id = format!("n{i}");
        let now = Moment::at(origin + self.now.mul_f64(rate));
        let init = (0..REGIONS.len())
            .map(|r| Init {
                name: REGIONS[r].into(),
                checks: checks(r),
                inverted: self.switches[r].0,
                version: self.version_of(r),
                stored: store.switches.get(REGIONS[r]).cloned(),
                intent: store.intents.get(REGIONS[r]).cloned(),
                // The simulated world has no tables: the failback gate is unit-tested.
                gated: false,
            })
            .collect();
        let (core, effects) = Core::new(
            init,
            settings(self.min_in_service, self.path),
            &id,
            wall(self.now),
        );
        let lease = Lease::new(id.clone(), format!("http://{id}"), self.tables.len(), LEASE);
        let incarnation = self.now.as_millis() as u64 + 1;
        let mut node = Node {
            id,
            alive: true,
            stopping: false,
            unsent: 0,
            paused_until: None,
            rate,
            origin,
            cluster: Cluster::new(lease, incarnation, now),
            core,
            store,
            wake_gen: 0,
            wake_at: None,
            next_req: 0,
            gate_free: Duration::ZERO,
            recording: BTreeMap::new(),
            reading: None,
            read_asked: false,
            last_route53: None,
            ops: BTreeMap::new(),
            flip_deadlines: BTreeMap::new(),
            scans_fail: false,
            boot: 0,
            alive_since: self.now,
            first_req: 0,
        };
        for e in effects {
            apply_store(&mut node.store, &e);
        }
        node
    }

    fn at(&mut self, t: Duration, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse((t, self.seq)));
        self.events.insert(self.seq, ev);
    }

    fn local(&self, i: usize) -> Moment {
        let n = &self.nodes[i];
        Moment::at(n.origin + self.now.mul_f64(n.rate))
    }

    /// Real time when node `i`'s clock reads `m`.
    fn real(&self, i: usize, m: Moment) -> Duration {
        let n = &self.nodes[i];
        // Rounded up: at the real time returned, the node's clock has reached `m`.
        m.since(Moment::at(n.origin)).div_f64(n.rate) + Duration::from_micros(1)
    }

    pub fn schedule(&mut self, at: Duration, act: Act) {
        self.at(at, Ev::Act(act));
    }

    /// Random faults and operator actions, then calm.
    pub fn inject_random(&mut self) {
        let n = self.nodes.len();
        let calm = self.faults.calm_at;
        for _ in 0..self.faults.events {
            let t = self.rng.ms(500, calm.as_millis() as u64 - 1000);
            let i = self.rng.below(n as u64) as usize;
            let region = self.rng.below(REGIONS.len() as u64) as usize;
            let table = self.rng.below(self.tables.len() as u64) as usize;
            let act = match self.rng.below(13) {
                0 => Act::Crash(i),
                1 => Act::Pause(i, self.rng.ms(500, 6000)),
                2 => Act::Link(i, Dest::Table(table), Link::Hung),
                3 => Act::Link(i, Dest::Route53, Link::Hung),
                4 => Act::Region(region, self.rng.chance(0.4)),
                5 => Act::Cut(i, region, true),
                6 | 7 => Act::Drain(i, region),
                8 => Act::Restore(i, region),
                9 => Act::Stop(i),
                10 => Act::ScansFail(i, true),
                _ => Act::Link(i, Dest::Table(table), Link::Up),
            };
            if let Act::Crash(i) | Act::Stop(i) = act {
                let back = t + self.rng.ms(1000, 8000);
                self.schedule(back.min(calm), Act::Restart(i));
            }
            self.schedule(t, act);
        }
        self.schedule(calm, Act::Calm);
    }

    /// Runs to the end; returns the violations found.
    pub fn run(&mut self) -> &[String] {
        let end = self.faults.end;
        while let Some(Reverse((t, seq))) = self.queue.pop() {
            if t > end || !self.violations.is_empty() {
                break;
            }
            self.now = t;
            let ev = self.events.remove(&seq).expect("scheduled");
            if self.trace {
                self.trace_step(&ev);
            }
            self.step(ev);
            self.stats.steps += 1;
            self.check();
            if self.stats.steps > 2_000_000 {
                self.violations.push(format!(
                    "more than 2,000,000 steps by {:?}: a busy loop",
                    self.now
                ));
            }
        }
        &self.violations
    }

    fn step(&mut self, ev: Ev) {
        // A paused process does nothing until it resumes; its events wait.
        let node_of = |ev: &Ev| match ev {
            Ev::Wake(i, _)
            | Ev::ProbeTick(i, _)
            | Ev::ReadTick(i, _)
            | Ev::Answer(i, _, _)
            | Ev::SendFlip(i, _, _, _, _) => Some(*i),
            _ => None,
        };
        if let Some(i) = node_of(&ev)
            && let Some(until) = self.nodes[i].paused_until
        {
            if self.now < until {
                self.at(until, ev);
                return;
            }
            self.nodes[i].paused_until = None;
        }
        match ev {
            Ev::Wake(i, generation) => {
                if self.nodes[i].alive && generation == self.nodes[i].wake_gen {
                    self.nodes[i].wake_at = None;
                    self.cluster_input(i, cluster::Input::Tick);
                    self.core_input(i, core::Input::Tick);
                }
            }
            Ev::ProbeTick(i, boot) => {
                if !self.nodes[i].alive || boot != self.nodes[i].boot {
                    return;
                }
                for r in 0..REGIONS.len() {
                    let ok = self.region_up[r] && !self.cut[i][r];
                    let probe = Probe {
                        at: wall(self.now),
                        ok,
                        latency: Duration::from_millis(5),
                        error: (!ok).then(|| "timed out".into()),
                    };
                    self.core_input(i, core::Input::Probe { region: r, probe });
                }
                self.at(self.now + PROBE_EVERY, Ev::ProbeTick(i, boot));
            }
            Ev::ReadTick(i, boot) => {
                if !self.nodes[i].alive || boot != self.nodes[i].boot {
                    return;
                }
                self.start_read(i, false);
                self.at(self.now + READ_EVERY, Ev::ReadTick(i, boot));
            }
            Ev::Arrive(i, id, req) => self.arrive(i, id, req),
            Ev::Process(i, id, req) => self.process(i, id, req),
            Ev::Apply(i, req) => {
                let _ = self.serve(i, &req);
            }
            Ev::Release(i, boot) => {
                if boot != self.nodes[i].boot {
                    return;
                }
                let now = self.local(i);
                for e in self.nodes[i].cluster.release(now) {
                    self.cluster_effect(i, e);
                }
            }
            Ev::Answer(i, id, ans @ (Ans::Flipped { .. } | Ans::Recorded { .. }))
                if self.nodes[i].stopping && id >= self.nodes[i].first_req =>
            {
                self.answer(i, ans);
                self.release_when_settled(i);
            }
            Ev::Answer(i, id, ans) => {
                // Answers to a crashed process's requests reach no one.
                if self.nodes[i].alive && id >= self.nodes[i].first_req {
                    self.answer(i, ans);
                }
            }
            Ev::Act(act) => self.act(act),
            Ev::SendFlip(i, boot, req, deadline, decided_in) => {
                // A stopping process's flip tasks run on (the driver awaits them).
                let n = &mut self.nodes[i];
                if !(n.alive || n.stopping) || boot != n.boot {
                    return;
                }
                n.unsent -= 1;
                // As the driver does: still the actor in the same epoch, the flip may go
                // on to the end of the current window.
                let now = self.local(i);
                let view = self.nodes[i].cluster.view(now);
                let deadline = if view.epoch == decided_in && view.is_actor(now) {
                    deadline.max(view.actor_until.unwrap_or(deadline))
                } else {
                    deadline
                };
                if self.local(i) >= deadline {
                    let Req::Flip { region, flip, .. } = req else {
                        return;
                    };
                    let outcome = FlipOutcome::NotLanded {
                        error: SwitchError::NotSent.into(),
                        fenced: false,
                    };
                    self.core_input(
                        i,
                        core::Input::Flipped {
                            region,
                            flip,
                            outcome,
                            via: geoplan::config::SwitchPath::Route53,
                        },
                    );
                    self.release_when_settled(i);
                    return;
                }
                if let Req::Flip { region, flip, .. } = &req {
                    self.nodes[i].flip_deadlines.insert(*flip, deadline);
                    // The driver gives up at the deadline, whatever Route 53 does later.
                    let timeout = Ans::Flipped {
                        region: region.clone(),
                        flip: *flip,
                        outcome: FlipOutcome::Unknown {
                            error: SwitchError::NoAnswer.into(),
                        },
                    };
                    let id = self.nodes[i].next_req + 1;
                    let at = self.real(i, deadline).max(self.now);
                    self.at(at, Ev::Answer(i, id, timeout));
                }
                self.send(i, Dest::Route53, Some(deadline), req);
            }
        }
    }

    fn act(&mut self, act: Act) {
        if !matches!(act, Act::Calm | Act::Drain(..) | Act::Restore(..)) {
            self.faults_injected += 1;
        }
        match act {
            Act::Crash(i) => {
                self.nodes[i].alive = false;
                self.nodes[i].wake_gen += 1;
            }
            Act::Restart(i) => {
                if self.nodes[i].alive {
                    return;
                }
                if self.nodes[i].stopping {
                    // The state directory's lock keeps a new process out until the
                    // stopping one has exited.
                    self.at(
                        self.now + Duration::from_millis(200),
                        Ev::Act(Act::Restart(i)),
                    );
                    return;
                }
                let (rate, origin, store, boot, next_req, wake_gen) = {
                    let n = &self.nodes[i];
                    (
                        n.rate,
                        n.origin,
                        n.store.clone(),
                        n.boot + 1,
                        n.next_req,
                        n.wake_gen + 1,
                    )
                };
                let mut node = self.boot(i, rate, origin, store);
                node.boot = boot;
                node.next_req = next_req;
                node.first_req = next_req + 1;
                node.wake_gen = wake_gen;
                self.nodes[i] = node;
                self.at(self.now, Ev::Wake(i, wake_gen));
                self.at(self.now, Ev::ProbeTick(i, boot));
                self.at(self.now, Ev::ReadTick(i, boot));
            }
            Act::Pause(i, d) => self.nodes[i].paused_until = Some(self.now + d),
            Act::Stop(i) => {
                if !self.nodes[i].alive {
                    return;
                }
                self.nodes[i].alive = false;
                self.nodes[i].stopping = true;
                self.nodes[i].core.stop();
                self.nodes[i].wake_gen += 1;
                self.release_when_settled(i);
            }
            Act::ScansFail(i, fail) => self.nodes[i].scans_fail = fail,
            Act::Link(i, d, l) => {
                self.links.insert((i, dest_key(d)), l);
            }
            Act::Region(r, up) => {
                self.region_up[r] = up;
                self.ever_down[r] |= !up;
            }
            Act::Cut(i, r, cut) => {
                self.cut[i][r] = cut;
                self.ever_cut[i][r] |= cut;
            }
            Act::Drain(i, r) => self.operate(
                i,
                Request::Drain {
                    region: REGIONS[r].into(),
                    reason: "drill".into(),
                },
            ),
            Act::Restore(i, r) => self.operate(
                i,
                Request::Restore {
                    region: REGIONS[r].into(),
                    force: None,
                },
            ),
            Act::Calm => {
                self.links.clear();
                // A pause under way runs its course (its events wait for it): the world
                // is calm once the last one ends.
                let mut calm = self.now;
                for i in 0..self.nodes.len() {
                    if let Some(until) = self.nodes[i].paused_until {
                        calm = calm.max(until);
                    }
                    if !self.nodes[i].alive {
                        self.act(Act::Restart(i));
                    }
                    for r in 0..REGIONS.len() {
                        self.cut[i][r] = false;
                    }
                    self.nodes[i].scans_fail = false;
                }
                self.calm_since = Some(calm);
            }
        }
    }

    fn operate(&mut self, i: usize, request: Request) {
        if !self.nodes[i].alive || self.nodes[i].paused_until.is_some() {
            return;
        }
        self.nodes[i].next_req += 1;
        let id = self.nodes[i].next_req;
        self.nodes[i].ops.insert(id, (request.clone(), self.now));
        if let Request::Restore { region, .. } = &request {
            // From the moment an operator asks for a restore, the drain may go.
            let r = REGIONS.iter().position(|x| x == region).unwrap();
            self.operator[r] = Some((request.clone(), false, self.now));
        }
        self.core_input(i, core::Input::Request { id, request });
    }

    /// Schedules the node's next timer; one already set for no later stays (firing
    /// early only makes it look again).
    fn wake(&mut self, i: usize) {
        let mut t = self.nodes[i].cluster.poll_timeout();
        if let Some(c) = self.nodes[i].core.poll_timeout() {
            t = t.min(c);
        }
        let at = self.real(i, t).max(self.now);
        let n = &mut self.nodes[i];
        if n.wake_at.is_some_and(|w| w <= at && w >= self.now) {
            return;
        }
        n.wake_gen += 1;
        n.wake_at = Some(at);
        let generation = n.wake_gen;
        self.at(at, Ev::Wake(i, generation));
    }

    fn cluster_input(&mut self, i: usize, input: cluster::Input) {
        let now = self.local(i);
        let wall_ms = wall(self.now)
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let effects = self.nodes[i].cluster.handle(now, wall_ms, input);
        for e in effects {
            self.cluster_effect(i, e);
        }
        let view = self.nodes[i].cluster.view(now);
        if &view != self.nodes[i].core.view() {
            self.core_input(i, core::Input::View(view));
        }
        self.wake(i);
    }

    /// As `controller::run` does once stopped: after the last flip task ends (its
    /// outcome folded in), wait until every flip is settled, then give the lease up.
    fn release_when_settled(&mut self, i: usize) {
        let n = &self.nodes[i];
        if !n.stopping || n.unsent > 0 || !n.flip_deadlines.is_empty() {
            return;
        }
        self.nodes[i].stopping = false;
        let quiet = self.nodes[i].core.quiet_until().map(|q| self.real(i, q));
        let boot = self.nodes[i].boot;
        self.at(
            quiet.unwrap_or(self.now).max(self.now),
            Ev::Release(i, boot),
        );
    }

    fn core_input(&mut self, i: usize, input: core::Input) {
        let now = self.local(i);
        let effects = self.nodes[i].core.handle(now, wall(self.now), input);
        let effects = match self.nodes[i].alive {
            true => effects,
            // A stopping process folds its flips' outcomes in and records them; its
            // reader has stopped, and a stopped core starts no flip.
            false => effects
                .into_iter()
                .filter(|e| !matches!(e, core::Effect::ReadNow | core::Effect::Flip { .. }))
                .collect(),
        };
        for e in effects {
            self.core_effect(i, e);
        }
        self.wake(i);
    }

    /// Sends a request over node `i`'s link to `dest`; it arrives after a delay unless
    /// lost, or not before its `deadline` (node clock) if the link hangs.
    fn send(&mut self, i: usize, dest: Dest, deadline: Option<Moment>, req: Req) {
        let n = &mut self.nodes[i];
        n.next_req += 1;
        let id = n.next_req;
        let link = self
            .links
            .get(&(i, dest_key(dest)))
            .copied()
            .unwrap_or(Link::Up);
        let deadline_real = deadline.map(|d| self.real(i, d));
        let lost = self.rng.chance(self.faults.loss) && self.calm_since.is_none();
        let delay = self.rng.ms(1, self.max_delay_ms());
        let arrive = self.now + delay;
        let dropped = lost
            || link == Link::Hung
            // The client closed the connection at its deadline: a request still on its
            // way then is never served.
            || deadline_real.is_some_and(|d| arrive >= d);
        if dropped {
            // The client learns nothing before its deadline.
            let at = deadline_real.unwrap_or(self.now + Duration::from_secs(2));
            let ans = self.failure(&req);
            self.at(at.max(self.now), Ev::Answer(i, id, ans));
            return;
        }
        self.at(arrive, Ev::Arrive(i, id, req));
        let _ = deadline_real;
    }

    /// What a client that got no answer concludes.
    fn failure(&self, req: &Req) -> Ans {
        match req {
            Req::LeaseRead { round, table } => Ans::LeaseRead {
                round: *round,
                table: *table,
                record: None,
            },
            Req::LeaseWrite { round, table, .. } => Ans::LeaseWritten {
                round: *round,
                table: *table,
                version: None,
            },
            Req::Scan { table } => Ans::Scanned {
                table: *table,
                heartbeats: None,
            },
            Req::RecordSave { region, record, .. } => Ans::Recorded {
                region: region.clone(),
                seq: record.seq,
                ok: false,
            },
            Req::RecordsLoad { table } => Ans::Records {
                table: *table,
                records: None,
            },
            Req::Flip { region, flip, .. } => Ans::Flipped {
                region: region.clone(),
                flip: *flip,
                outcome: FlipOutcome::Unknown {
                    error: SwitchError::NoAnswer.into(),
                },
            },
            Req::Read => Ans::Read { switches: None },
            Req::Publish { .. } | Req::Leave { .. } => Ans::Nothing,
        }
    }

    /// A request reaches its destination. Route 53 may apply a flip it received some
    /// time later (up to lease/4: the margin the design assumes, docs/ARCHITECTURE.md).
    fn arrive(&mut self, i: usize, id: u64, req: Req) {
        if matches!(req, Req::Flip { .. }) && self.calm_since.is_none() && self.rng.chance(0.3) {
            let late = self.rng.ms(0, (LEASE / 4).as_millis() as u64);
            if self.rng.chance(self.faults.lost_reply) {
                // The connection breaks now (a reset, a 5xx); Route 53 applies the flip
                // later all the same.
                let back = self.rng.ms(1, self.max_delay_ms());
                let failure = self.failure(&req);
                self.at(self.now + back, Ev::Answer(i, id, failure));
                self.at(self.now + late, Ev::Apply(i, req));
            } else {
                self.at(self.now + late, Ev::Process(i, id, req));
            }
            return;
        }
        self.process(i, id, req);
    }

    /// The destination serves a request; the answer travels back (or is lost).
    fn process(&mut self, i: usize, id: u64, req: Req) {
        let served = self.serve(i, &req);
        let lost_reply = self.calm_since.is_none() && self.rng.chance(self.faults.lost_reply);
        let ans = if lost_reply {
            // The SDK retries the call; a conditional write that had landed now fails
            // its condition, a read or a flip's answer comes late as a failure.
            self.failure(&req)
        } else {
            served
        };
        let back = self.rng.ms(1, self.max_delay_ms());
        self.at(self.now + back, Ev::Answer(i, id, ans));
    }

    fn serve(&mut self, i: usize, req: &Req) -> Ans {
        let me = self.nodes[i].id.clone();
        match req.clone() {
            Req::LeaseRead { round, table } => Ans::LeaseRead {
                round,
                table,
                record: Some(self.tables[table].lease.clone()),
            },
            Req::LeaseWrite {
                round,
                table,
                write,
            } => {
                let t = &mut self.tables[table];
                let new = match (&write, &t.lease) {
                    (Write::Create { epoch }, None) => Some((me.clone(), *epoch, 1)),
                    (
                        Write::Renew {
                            from,
                            epoch,
                            expect,
                        },
                        Some(r),
                    ) if r.holder == me && r.epoch == *from && r.version == *expect => {
                        Some((me.clone(), *epoch, expect + 1))
                    }
                    (
                        Write::TakeOver {
                            expect_epoch,
                            expect_version,
                            epoch,
                        },
                        Some(r),
                    ) if r.epoch == *expect_epoch && r.version == *expect_version => {
                        Some((me.clone(), *epoch, expect_version + 1))
                    }
                    (Write::Release { epoch }, Some(r)) if r.holder == me && r.epoch == *epoch => {
                        Some((String::new(), *epoch, r.version + 1))
                    }
                    _ => None,
                };
                if self.trace {
                    eprintln!(
                        "{:>9.3} table {table} <- n{i} {write:?}: {new:?}",
                        self.now.as_secs_f64()
                    );
                }
                let version = new.map(|(holder, epoch, version)| {
                    if epoch < self.table_epochs[table] {
                        self.violations.push(format!(
                            "table {table}'s lease epoch went back from {} to {epoch} ({holder})",
                            self.table_epochs[table]
                        ));
                    }
                    self.table_epochs[table] = epoch;
                    t.lease = Some(Record {
                        holder,
                        epoch,
                        version,
                        addr: format!("http://{me}"),
                    });
                    version
                });
                Ans::LeaseWritten {
                    round,
                    table,
                    version: version.filter(|_| !matches!(write, Write::Release { .. })),
                }
            }
            Req::Publish { table, beat } => {
                self.tables[table].heartbeats.insert(me, beat);
                Ans::Nothing
            }
            Req::Leave { table } => {
                self.tables[table].heartbeats.remove(&me);
                Ans::Nothing
            }
            Req::Scan { table } => Ans::Scanned {
                table,
                heartbeats: Some(self.tables[table].heartbeats.values().cloned().collect()),
            },
            Req::RecordSave {
                table,
                region,
                record,
            } => {
                let t = &mut self.tables[table];
                let ok = t
                    .records
                    .get(&region)
                    .is_none_or(|o| (o.epoch, o.seq) <= (record.epoch, record.seq));
                if ok {
                    t.records.insert(region.clone(), record.clone());
                }
                Ans::Recorded {
                    region,
                    seq: record.seq,
                    ok,
                }
            }
            Req::RecordsLoad { table } => Ans::Records {
                table,
                records: Some(self.tables[table].records.clone()),
            },
            Req::Flip {
                region,
                flip,
                out,
                version,
                epoch,
                automatic,
            } => {
                let r = REGIONS.iter().position(|x| *x == region).unwrap();
                let outcome = if !self.route53_admits() {
                    FlipOutcome::NotLanded {
                        error: SwitchError::Api(geoplan::aws::CallError {
                            summary: "Route 53 UpdateHealthCheck failed: Throttling: Rate exceeded"
                                .into(),
                            detail: geoplan::aws::Detail("Throttling".into()),
                        })
                        .into(),
                        fenced: false,
                    }
                } else if self.versioned() && self.switches[r].1 != version {
                    FlipOutcome::NotLanded {
                        error: SwitchError::Fenced(checks(r).switch).into(),
                        fenced: true,
                    }
                } else {
                    self.switches[r] = (out, self.switches[r].1 + 1);
                    self.landed.push(Landed {
                        at: self.now,
                        instance: i,
                        epoch,
                        region: r,
                        out,
                        automatic,
                    });
                    if self.trace {
                        let l = self.landed.last().unwrap();
                        eprintln!("{:>9.3} landed {l:?}", self.now.as_secs_f64());
                    }
                    self.stats.flips += 1;
                    FlipOutcome::Done {
                        version: self.version_of(r),
                    }
                };
                Ans::Flipped {
                    region,
                    flip,
                    outcome,
                }
            }
            Req::Read => {
                if self.trace {
                    eprintln!(
                        "{:>9.3} route53 read by n{i}: {:?}",
                        self.now.as_secs_f64(),
                        self.switches
                    );
                }
                if self.route53_admits() {
                    Ans::Read {
                        switches: Some(self.switches.clone()),
                    }
                } else {
                    Ans::Read { switches: None }
                }
            }
        }
    }

    /// A link's one-way delay at most: the run's while faults happen, a healthy
    /// network's (50 ms) once the world is calm.
    fn max_delay_ms(&self) -> u64 {
        match self.calm_since {
            Some(calm) if self.now >= calm => self.faults.max_delay_ms.min(50),
            _ => self.faults.max_delay_ms,
        }
    }

    /// Route 53's account-wide limit: 5 requests in any second.
    fn route53_admits(&mut self) -> bool {
        let now = self.now;
        self.route53_calls
            .retain(|t| now.saturating_sub(*t) < Duration::from_secs(1));
        if self.route53_calls.len() >= 5 {
            self.throttled += 1;
            return false;
        }
        self.route53_calls.push(now);
        true
    }

    fn cluster_effect(&mut self, i: usize, e: cluster::Effect) {
        match e {
            cluster::Effect::ReadLease {
                round,
                table,
                deadline,
            } => {
                if self.trace && table == 0 {
                    eprintln!("{:>9.3} n{i} round {round}", self.now.as_secs_f64());
                }
                self.send(
                    i,
                    Dest::Table(table),
                    Some(deadline),
                    Req::LeaseRead { round, table },
                )
            }
            cluster::Effect::WriteLease {
                round,
                table,
                write,
                deadline,
            } => {
                if self.trace {
                    eprintln!(
                        "{:>9.3} n{i} round {round} writes {table}: {write:?}",
                        self.now.as_secs_f64()
                    );
                }
                self.send(
                    i,
                    Dest::Table(table),
                    Some(deadline),
                    Req::LeaseWrite {
                        round,
                        table,
                        write,
                    },
                )
            }
            cluster::Effect::Publish {
                incarnation,
                beat,
                deadline,
            } => {
                let verdicts: BTreeMap<String, Verdict> = self.nodes[i]
                    .core
                    .regions()
                    .iter()
                    .map(|r| (r.name.clone(), r.tracker.verdict))
                    .collect();
                let hb = Heartbeat {
                    instance: self.nodes[i].id.clone(),
                    addr: format!("http://{}", self.nodes[i].id),
                    incarnation,
                    beat,
                    verdicts,
                    expires_ms: u64::MAX,
                };
                for table in 0..self.tables.len() {
                    self.send(
                        i,
                        Dest::Table(table),
                        Some(deadline),
                        Req::Publish {
                            table,
                            beat: hb.clone(),
                        },
                    );
                }
            }
            cluster::Effect::Scan { table, deadline } if self.nodes[i].scans_fail => {
                let at = self.real(i, deadline).max(self.now);
                self.at(
                    at,
                    Ev::Answer(
                        i,
                        u64::MAX,
                        Ans::Scanned {
                            table,
                            heartbeats: None,
                        },
                    ),
                );
            }
            cluster::Effect::Scan { table, deadline } => {
                self.send(i, Dest::Table(table), Some(deadline), Req::Scan { table })
            }
            cluster::Effect::Leave { deadline } => {
                for table in 0..self.tables.len() {
                    self.send(i, Dest::Table(table), Some(deadline), Req::Leave { table });
                }
            }
        }
    }

    fn core_effect(&mut self, i: usize, e: core::Effect) {
        apply_store(&mut self.nodes[i].store, &e);
        match e {
            core::Effect::Flip {
                region,
                flip,
                out,
                version,
                deadline,
                automatic,
                epoch: decided_in,
                ..
            } => {
                // The gate paces this instance's Route 53 calls (and a stall, where a
                // scenario sets one, holds the flip in the process): it is sent when its
                // turn comes, by the process, so a paused process sends it only later.
                let (stall, pause) = self.stall_first_flip.take().unzip();
                let stall = stall.unwrap_or_default();
                let n = &mut self.nodes[i];
                let send_at = n.gate_free.max(self.now) + stall;
                n.gate_free = send_at + GATE;
                let epoch = n.cluster.lease().epoch().unwrap_or(0);
                let boot = n.boot;
                if let Some(pause) = pause {
                    self.nodes[i].paused_until = Some(self.now + pause);
                    if self.trace {
                        eprintln!(
                            "{:>9.3} n{i} paused for {pause:?} with a flip in flight",
                            self.now.as_secs_f64()
                        );
                    }
                }
                let req = Req::Flip {
                    region,
                    flip,
                    out,
                    version,
                    epoch,
                    automatic,
                };
                self.nodes[i].unsent += 1;
                self.at(send_at, Ev::SendFlip(i, boot, req, deadline, decided_in));
            }
            core::Effect::Record { region, record } => {
                self.nodes[i]
                    .recording
                    .insert(region.clone(), (record.seq, 0, 0));
                let deadline = self.local(i) + Duration::from_secs(2);
                for table in 0..self.tables.len() {
                    self.send(
                        i,
                        Dest::Table(table),
                        Some(deadline),
                        Req::RecordSave {
                            table,
                            region: region.clone(),
                            record: record.clone(),
                        },
                    );
                }
            }
            core::Effect::Reply { id, result } => {
                let Some((request, asked)) = self.nodes[i].ops.remove(&id) else {
                    return;
                };
                if self.trace {
                    eprintln!(
                        "{:>9.3} n{i} answers {request:?}: {result:?}",
                        self.now.as_secs_f64()
                    );
                }
                let region = match &request {
                    Request::Drain { region, .. } | Request::Restore { region, .. } => {
                        REGIONS.iter().position(|r| r == region).unwrap()
                    }
                };
                // An answer to an older request than the latest changes nothing.
                if self.operator[region]
                    .as_ref()
                    .is_some_and(|(_, _, t)| *t > asked)
                {
                    return;
                }
                match (&request, &result) {
                    (_, Ok(_)) => {
                        if matches!(request, Request::Drain { .. }) {
                            self.stats.acked_drains += 1;
                        }
                        self.operator[region] = Some((request, true, asked));
                    }
                    // May have landed: the operator cannot count on either state.
                    (_, Err(CommandError::Aws(_) | CommandError::Unconfirmed(_))) => {
                        self.operator[region] = Some((request, false, asked))
                    }
                    _ => {}
                }
            }
            core::Effect::ReadNow => self.start_read(i, true),
            core::Effect::Verdicts(_) => self.cluster_input(i, cluster::Input::VerdictsChanged),
            core::Effect::Event { kind, message, .. } => {
                if self.trace {
                    eprintln!(
                        "{:>9.3} n{i} event {kind}: {message}",
                        self.now.as_secs_f64()
                    );
                }
            }
            core::Effect::SaveSwitch { .. }
            | core::Effect::SaveIntent { .. }
            | core::Effect::ClearIntent { .. }
            | core::Effect::Acted { .. }
            | core::Effect::Recovered { .. }
            | core::Effect::WatchDns { .. }
            | core::Effect::DnsRecovered { .. } => {}
        }
    }

    /// The controller's reader: the control tables' records every tick; Route 53 (only
    /// for the actor) when asked or every `RESYNC`, as `controller::Reader` does.
    fn start_read(&mut self, i: usize, asked: bool) {
        if self.nodes[i].reading.is_some() {
            self.nodes[i].read_asked |= asked;
            return;
        }
        let started = self.local(i);
        let due = asked
            || self.nodes[i]
                .last_route53
                .is_none_or(|t| self.now >= t + RESYNC);
        let route53 = self.nodes[i].core.reads_route53() && due;
        if route53 {
            self.nodes[i].last_route53 = Some(self.now);
        }
        self.nodes[i].reading = Some(Reading {
            started,
            route53: if route53 { None } else { Some(None) },
            records: vec![None; self.tables.len()],
        });
        if self.trace {
            eprintln!(
                "{:>9.3} n{i} read starts ({started:?}, route53: {route53})",
                self.now.as_secs_f64()
            );
        }
        let deadline = started + Duration::from_secs(2);
        for table in 0..self.tables.len() {
            self.send(
                i,
                Dest::Table(table),
                Some(deadline),
                Req::RecordsLoad { table },
            );
        }
        if route53 {
            let n = &mut self.nodes[i];
            let send_at = n.gate_free.max(self.now);
            n.gate_free = send_at + GATE * (2 * REGIONS.len() as u32);
            let saved = self.now;
            self.now = send_at;
            self.send(
                i,
                Dest::Route53,
                Some(deadline + (send_at - saved)),
                Req::Read,
            );
            self.now = saved;
        }
    }

    fn answer(&mut self, i: usize, ans: Ans) {
        match ans {
            Ans::LeaseRead {
                round,
                table,
                record,
            } => self.cluster_input(
                i,
                cluster::Input::LeaseRead {
                    round,
                    table,
                    record,
                },
            ),
            Ans::LeaseWritten {
                round,
                table,
                version,
            } => self.cluster_input(
                i,
                cluster::Input::LeaseWritten {
                    round,
                    table,
                    version,
                },
            ),
            Ans::Scanned { table, heartbeats } => {
                self.cluster_input(i, cluster::Input::Scanned { table, heartbeats })
            }
            Ans::Recorded {
                region, seq, ok, ..
            } => {
                let majority = self.tables.len() / 2 + 1;
                let total = self.tables.len();
                let Some(r) = self.nodes[i]
                    .recording
                    .get_mut(&region)
                    .filter(|r| r.0 == seq)
                else {
                    return;
                };
                r.2 += 1;
                if ok {
                    r.1 += 1;
                }
                let (oks, answered) = (r.1, r.2);
                if oks >= majority || answered == total {
                    self.nodes[i].recording.remove(&region);
                    self.core_input(
                        i,
                        core::Input::Recorded {
                            region,
                            seq,
                            ok: oks >= majority,
                        },
                    );
                }
            }
            Ans::Records { table, records } => {
                if let Some(r) = &mut self.nodes[i].reading {
                    r.records[table] = Some(records);
                }
                self.finish_read(i);
            }
            Ans::Read { switches } => {
                if let Some(r) = &mut self.nodes[i].reading {
                    r.route53 = Some(Some(switches.unwrap_or_default()));
                }
                self.finish_read(i);
            }
            Ans::Flipped {
                region,
                flip,
                outcome,
            } => {
                // The first of the answer and the client's timeout (at the deadline)
                // counts; the other finds the call closed.
                let Some(deadline) = self.nodes[i].flip_deadlines.remove(&flip) else {
                    return;
                };
                let outcome = if self.local(i) >= deadline {
                    FlipOutcome::Unknown {
                        error: SwitchError::NoAnswer.into(),
                    }
                } else {
                    outcome
                };
                self.core_input(
                    i,
                    core::Input::Flipped {
                        region,
                        flip,
                        outcome,
                        via: geoplan::config::SwitchPath::Route53,
                    },
                )
            }
            Ans::Nothing => {}
        }
    }

    fn finish_read(&mut self, i: usize) {
        let done = self.nodes[i]
            .reading
            .as_ref()
            .is_some_and(|r| r.route53.is_some() && r.records.iter().all(|x| x.is_some()));
        if !done {
            return;
        }
        let r = self.nodes[i].reading.take().unwrap();
        if std::mem::take(&mut self.nodes[i].read_asked) {
            self.start_read(i, true);
        }
        let answered = r
            .records
            .iter()
            .filter(|x| matches!(x, Some(Some(_))))
            .count();
        let records_complete = answered > self.tables.len() / 2;
        let mut records: BTreeMap<String, SwitchRecord> = BTreeMap::new();
        for rec in r.records.into_iter().flatten().flatten() {
            for (region, x) in rec {
                if records
                    .get(&region)
                    .is_none_or(|o| (x.epoch, x.seq) > (o.epoch, o.seq))
                {
                    records.insert(region, x);
                }
            }
        }
        let switches = r.route53.unwrap();
        let versioned = self.versioned();
        let regions = (0..REGIONS.len())
            .map(|k| RegionRead {
                region: REGIONS[k].into(),
                route53: switches.as_ref().map(|_| Ok(Some(true))),
                switch: switches.as_ref().map(|s| {
                    s.get(k)
                        .map(|&(out, v)| (out, if versioned { v } else { 0 }))
                        .ok_or_else(|| "throttled".to_owned())
                }),
            })
            .collect();
        if self.trace {
            eprintln!(
                "{:>9.3} n{i} read (started {:?}): {:?}",
                self.now.as_secs_f64(),
                r.started,
                switches
            );
        }
        self.core_input(
            i,
            core::Input::Observed(Observed {
                records_complete,
                started: r.started,
                regions,
                records,
            }),
        );
    }

    /// The properties, against Route 53's and the tables' history.
    fn check(&mut self) {
        // Never fewer than min_in_service in service.
        let in_service = self.switches.iter().filter(|s| !s.0).count();
        if in_service < self.min_in_service {
            self.violations.push(format!(
                "{in_service} region(s) in service in Route 53, below min_in_service = {}",
                self.min_in_service
            ));
        }
        // One instance's flips per epoch; no deposed actor's flip after its successor's.
        if let Some(last) = self.landed.last() {
            for l in &self.landed[..self.landed.len() - 1] {
                if l.epoch == last.epoch && l.instance != last.instance {
                    self.violations.push(format!(
                        "two instances flipped in epoch {}: {l:?} and {last:?}",
                        last.epoch
                    ));
                }
                if l.epoch > last.epoch {
                    self.violations.push(format!(
                        "a deposed actor's flip landed at {:?} after its successor's: {last:?} after {l:?}",
                        last.at
                    ));
                }
            }
            // One partitioned vantage point never takes a healthy region out: not while
            // it is the only one ever cut off, and another instance that never was has
            // been running for two leases (its heartbeat is known; it does not say down).
            let cut = self.ever_cut.iter().filter(|c| c[last.region]).count();
            if last.automatic
                && last.out
                && !self.ever_down[last.region]
                && last.at == self.now
                && cut <= 1
            {
                let witness = (0..self.nodes.len()).any(|j| {
                    j != last.instance
                        && self.nodes[j].alive
                        && self.nodes[j].alive_since + 2 * LEASE <= self.now
                        && !self.ever_cut[j][last.region]
                });
                if witness {
                    self.violations.push(format!(
                        "{} was taken out automatically though it never failed and an instance never cut off from it was running: {last:?}",
                        REGIONS[last.region]
                    ));
                }
            }
        }
        // An acknowledged drain stays until an operator restores it.
        for (r, name) in REGIONS.iter().enumerate() {
            if let Some((Request::Drain { .. }, true, _)) = &self.operator[r]
                && !self.switches[r].0
            {
                self.violations.push(format!(
                    "{name}'s acknowledged drain was undone at {:?}",
                    self.now
                ));
            }
        }
        // Calm, with every instance and table up: an actor within 2 × lease.
        let actor = (0..self.nodes.len()).any(|i| {
            self.nodes[i].alive
                && self.nodes[i].core.is_acting()
                && self.nodes[i].core.view().is_actor(self.local(i))
        });
        if !actor && self.last_actor_at.is_some() {
            self.actor_gaps += self.now - self.last_step;
            if self.trace {
                eprintln!("{:>9.3} no actor", self.now.as_secs_f64());
            }
        }
        self.last_step = self.now;
        if actor {
            self.last_actor_at = Some(self.now);
        }
        if let Some(calm) = self.calm_since.filter(|c| self.now >= *c) {
            let since = self.last_actor_at.map_or(calm, |t| t.max(calm));
            if self.now > since + 2 * LEASE + Duration::from_millis(500) && !actor {
                self.violations.push(format!(
                    "no actor for {:?} since the world calmed at {calm:?}",
                    self.now - since
                ));
            }
        }
    }

    fn trace_step(&mut self, ev: &Ev) {
        if let Ev::Act(a) = ev {
            eprintln!("{:>9.3} act {a:?}", self.now.as_secs_f64());
        }
        if self.now < self.traced_at + Duration::from_millis(500) {
            return;
        }
        self.traced_at = self.now;
        let leases: Vec<String> = self
            .tables
            .iter()
            .map(|t| {
                t.lease.as_ref().map_or("-".into(), |r| {
                    format!("{}@{}v{}", r.holder, r.epoch, r.version)
                })
            })
            .collect();
        let nodes: Vec<String> = (0..self.nodes.len())
            .map(|i| {
                let n = &self.nodes[i];
                let v = n.core.view();
                format!(
                    "{}{}{} actor={} acting={} epoch={:?} until={:?} known={}",
                    n.id,
                    if n.alive { "" } else { "(dead)" },
                    if n.paused_until.is_some() {
                        "(paused)"
                    } else {
                        ""
                    },
                    n.cluster.lease().is_actor(self.local(i)),
                    n.core.is_acting(),
                    n.cluster.lease().epoch(),
                    v.actor_until.map(|u| u.since(self.local(i))),
                    v.known(),
                )
            })
            .collect();
        eprintln!(
            "{:>9.3} leases {leases:?} switches {:?} | {}",
            self.now.as_secs_f64(),
            self.switches,
            nodes.join(" | ")
        );
    }

    pub fn replay_hint(&self) -> String {
        let path = match self.path {
            geoplan::config::SwitchPath::Route53 => "",
            geoplan::config::SwitchPath::Arc => "GEOPLAN_SIM_PATH=arc ",
            geoplan::config::SwitchPath::Both => "GEOPLAN_SIM_PATH=both ",
        };
        format!(
            "{path}GEOPLAN_SIM_SEED={} cargo test --test it sim::random_seeds -- --nocapture",
            self.seed
        )
    }

    pub fn switch(&self, region: usize) -> (bool, i64) {
        self.switches[region]
    }

    pub fn acting(&self, i: usize) -> bool {
        self.nodes[i].alive
            && self.nodes[i].core.is_acting()
            && self.nodes[i].core.view().is_actor(self.local(i))
    }

    pub fn epoch_of(&self, i: usize) -> Option<u64> {
        self.nodes[i].cluster.lease().epoch()
    }

    /// Who holds each table's lease item now.
    pub fn holders(&self) -> Vec<Option<String>> {
        self.tables
            .iter()
            .map(|t| t.lease.as_ref().map(|r| r.holder.clone()))
            .collect()
    }

    pub fn run_until(&mut self, t: Duration) {
        let end = self.faults.end;
        self.faults.end = t;
        self.run();
        self.faults.end = end;
    }
}

fn apply_store(store: &mut SimStore, e: &core::Effect) {
    match e {
        core::Effect::SaveSwitch { region, stored } => {
            store.switches.insert(region.clone(), stored.clone());
        }
        core::Effect::SaveIntent { region, intent } => {
            store.intents.insert(region.clone(), intent.clone());
        }
        core::Effect::ClearIntent { region } => {
            store.intents.remove(region);
        }
        _ => {}
    }
}

fn seeds() -> u64 {
    std::env::var("GEOPLAN_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000)
}

/// A seed's run with switches of `path`.
fn one_on(seed: u64, path: geoplan::config::SwitchPath) -> Sim {
    let mut rng = Rng::new(seed ^ 0x5EED);
    let instances = [1, 2, 3, 3, 3, 5][rng.below(6) as usize];
    let tables = [1, 3, 3, 5][rng.below(4) as usize];
    let faults = Faults::random(&mut rng);
    let min_in_service = 1 + rng.below(2) as usize;
    let mut sim = Sim::new_on(path, seed, instances, tables, min_in_service, faults);
    sim.inject_random();
    sim.run();
    sim
}

#[test]
fn random_seeds() {
    // `GEOPLAN_SIM_PATH=arc|both` runs the seeds with unversioned switches.
    let path = match std::env::var("GEOPLAN_SIM_PATH").as_deref() {
        Ok("arc") => geoplan::config::SwitchPath::Arc,
        Ok("both") => geoplan::config::SwitchPath::Both,
        _ => geoplan::config::SwitchPath::Route53,
    };
    run_seeds(path, seeds());
}

/// The same faults on ARC's unversioned switches, fenced by the deadline alone:
/// `GEOPLAN_SIM_ARC_SEEDS` of them (300 by default).
#[test]
fn random_seeds_on_arc() {
    let count = std::env::var("GEOPLAN_SIM_ARC_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    run_seeds(geoplan::config::SwitchPath::Arc, count);
}

fn run_seeds(path: geoplan::config::SwitchPath, seeds: u64) {
    let (first, count) = match std::env::var("GEOPLAN_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(seed) => (seed, 1),
        // `GEOPLAN_SIM_FIRST` starts elsewhere, so that a long run can be split across
        // processes (one per core).
        None => (
            std::env::var("GEOPLAN_SIM_FIRST")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            seeds,
        ),
    };
    let started = std::time::Instant::now();
    let mut faults = 0;
    let mut steps = 0;
    let mut flips = 0;
    let mut drains = 0;
    for seed in first..first + count {
        let sim = one_on(seed, path);
        faults += sim.faults_injected;
        steps += sim.stats.steps;
        flips += sim.stats.flips;
        drains += sim.stats.acked_drains;
        assert!(
            sim.violations.is_empty(),
            "seed {seed}: {}\nreplay: {}",
            sim.violations.join("\n"),
            sim.replay_hint()
        );
    }
    let took = started.elapsed();
    eprintln!(
        "sim ({path:?}): {count} seeds in {:.1} s ({:.0} seeds/s), {:.1} faults and {:.0} steps per run, {flips} flips landed, {drains} drains acknowledged",
        took.as_secs_f64(),
        count as f64 / took.as_secs_f64(),
        faults as f64 / count as f64,
        steps as f64 / count as f64,
    );
    // Over many seeds, the runs must have flipped and drained (a replay is one run).
    assert!(
        count < 100 || (flips > 0 && drains > 0),
        "the runs exercised flips and drains"
    );
}

/// A scenario: `instances` and `tables`, no random faults, the world calm from the start
/// (the liveness check applies throughout), run for `secs`.
fn scenario(instances: usize, tables: usize, min_in_service: usize, secs: u64) -> Sim {
    Sim::new(
        7,
        instances,
        tables,
        min_in_service,
        Faults::none(Duration::from_secs(secs)),
    )
}

fn assert_clean(sim: &Sim) {
    assert!(sim.violations.is_empty(), "{}", sim.violations.join("\n"));
}

/// Interleaving 1: the first actor decides to take eu-west-1 out; its flip stalls in
/// the process and the process is paused. eu-west-1 recovers and ap-northeast-1 fails;
/// the successor takes ap-northeast-1 out. The stalled flip must never land after that
/// (both out would leave one region, below min_in_service = 2).
#[test]
fn scenario_1_a_deposed_actors_stalled_flip_never_lands() {
    let mut sim = scenario(3, 3, 2, 30);
    sim.stall_first_flip = Some((Duration::from_secs(2), Duration::from_secs(10)));
    sim.schedule(Duration::from_secs(4), Act::Region(1, false));
    sim.schedule(Duration::from_millis(6500), Act::Region(1, true));
    sim.schedule(Duration::from_millis(6500), Act::Region(2, false));
    sim.run();
    assert_clean(&sim);
    assert!(
        sim.stall_first_flip.is_none(),
        "an actor flipped and was paused"
    );
    assert!(sim.switch(2).0, "the successor took ap-northeast-1 out");
    assert!(
        !sim.landed.iter().any(|l| l.region == 1),
        "the deposed actor's take-out never landed: {:?}",
        sim.landed
    );
}

/// After an actor crash with a majority of tables and another instance healthy, a new
/// actor within 2 × lease; and a lone surviving instance becomes the actor.
#[test]
fn scenario_a_lone_survivor_becomes_the_actor() {
    let mut sim = scenario(3, 3, 1, 30);
    sim.run_until(Duration::from_secs(5));
    let actor = (0..3).find(|i| sim.acting(*i)).expect("an actor by 5 s");
    let other = (actor + 1) % 3;
    let survivor = (actor + 2) % 3;
    sim.schedule(Duration::from_secs(5), Act::Crash(actor));
    sim.schedule(Duration::from_secs(5), Act::Crash(other));
    // One table is out of the survivor's reach while it takes the others over: it
    // claims that one only later, while it already acts on the others.
    sim.schedule(
        Duration::from_secs(5),
        Act::Link(survivor, Dest::Table(0), Link::Hung),
    );
    sim.schedule(
        Duration::from_secs(14),
        Act::Link(survivor, Dest::Table(0), Link::Up),
    );
    sim.run_until(Duration::from_secs(5) + 2 * LEASE + Duration::from_millis(500));
    assert!(sim.acting(survivor), "the survivor acts within 2 × lease");
    assert!(sim.epoch_of(survivor) > Some(1), "with a higher epoch");
    sim.run();
    assert_clean(&sim);
    let me = format!("n{survivor}");
    assert!(
        sim.holders()
            .iter()
            .all(|h| h.as_deref() == Some(me.as_str())),
        "in time it holds every table, not only a majority: {:?}",
        sim.holders()
    );
}

/// Interleaving 6: one control table hangs for every instance; the actor keeps acting
/// without a gap.
#[test]
fn scenario_6_one_hung_table_leaves_the_actor_acting() {
    let mut sim = scenario(3, 3, 1, 30);
    for i in 0..3 {
        sim.schedule(
            Duration::from_secs(3),
            Act::Link(i, Dest::Table(2), Link::Hung),
        );
    }
    sim.schedule(Duration::from_secs(10), Act::Region(0, false));
    sim.run();
    assert_clean(&sim);
    assert!(sim.switch(0).0, "a failover still happened");
    assert_eq!(sim.actor_gaps, Duration::ZERO, "no moment without an actor");
}

/// Interleaving 11: several instances share the account's 5 Route 53 requests a
/// second; only the actor spends them, so none is throttled.
#[test]
fn scenario_11_only_the_actor_spends_the_route53_budget() {
    let mut sim = scenario(5, 3, 1, 40);
    sim.schedule(Duration::from_secs(5), Act::Region(1, false));
    sim.schedule(Duration::from_secs(12), Act::Region(1, true));
    sim.schedule(Duration::from_secs(20), Act::Drain(0, 2));
    sim.schedule(Duration::from_secs(30), Act::Restore(0, 2));
    sim.run();
    assert_clean(&sim);
    assert!(sim.landed.len() >= 2, "{:?}", sim.landed);
    assert_eq!(sim.throttled, 0, "no Route 53 request was throttled");
}

/// An acknowledged drain survives the actor's crash; the next actor keeps its cause.
#[test]
fn scenario_5_an_acknowledged_drain_survives_a_change_of_actor() {
    let mut sim = scenario(3, 3, 1, 30);
    sim.run_until(Duration::from_secs(4));
    let actor = (0..3).find(|i| sim.acting(*i)).expect("an actor");
    // eu-west-1 goes down and is taken out automatically; then drained by hand.
    sim.schedule(Duration::from_secs(4), Act::Region(1, false));
    sim.run_until(Duration::from_secs(9));
    assert!(sim.switch(1).0);
    sim.schedule(Duration::from_secs(9), Act::Drain(actor, 1));
    sim.schedule(Duration::from_secs(11), Act::Crash(actor));
    // It recovers: an automatic take-out would be put back; a drain stays.
    sim.schedule(Duration::from_secs(12), Act::Region(1, true));
    sim.run();
    assert_clean(&sim);
    assert!(sim.stats.acked_drains == 1, "the drain was acknowledged");
    assert!(
        sim.switch(1).0,
        "the drain stands after the change of actor"
    );
}

#[test]
fn scenario_6b_one_control_table_hung_for_the_actor_alone() {
    let mut sim = scenario(3, 3, 1, 40);
    sim.run_until(Duration::from_secs(5));
    let actor = (0..3).find(|i| sim.acting(*i)).expect("an actor");
    sim.schedule(
        Duration::from_secs(5),
        Act::Link(actor, Dest::Table(2), Link::Hung),
    );
    sim.schedule(Duration::from_secs(15), Act::Region(0, false));
    sim.run();
    assert_clean(&sim);
    assert!(sim.acting(actor), "the same actor");
    assert_eq!(sim.actor_gaps, Duration::ZERO, "no moment without an actor");
}
