//! The control-plane instances as a cluster, sans-IO: lease rounds (`lease` decides)
//! and the exchange of every instance's verdicts, as a state machine that takes inputs
//! (a tick, each table's answer with the moment it came back) and returns effects (the
//! reads, conditional writes, heartbeats and scans to make, each with its deadline).
//! `coordinator` runs the effects against DynamoDB; the simulator runs them against its
//! own tables.
//!
//! No step waits on another table: every table's read, write, heartbeat and scan is an
//! effect of its own. A round plans its writes once every table has answered, or once a
//! majority has and a short grace has passed, or past the reads' deadline; it settles as
//! soon as a majority of its writes succeeded. So one hung table costs a round nothing
//! but that table, and the lease never waits behind the heartbeats or the scans.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::control::clock::Moment;
use crate::control::lease::{Lease, Read, Record, Write};
use crate::control::verdict::Verdict;

/// Another instance's heartbeat item as one table holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Heartbeat {
    pub instance: String,
    pub addr: String,
    /// The instance's start (its wall clock, ms): a restart is a new incarnation, whose
    /// beats start again from 1.
    pub incarnation: u64,
    pub beat: u64,
    pub verdicts: BTreeMap<String, Verdict>,
    /// The writer's wall clock (ms) after which the item no longer counts (DynamoDB's
    /// TTL deletes it some time later).
    pub expires_ms: u64,
}

/// Another instance as this one sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Vantage {
    pub instance: String,
    pub addr: String,
    pub verdicts: BTreeMap<String, Verdict>,
    /// When its heartbeat last moved forward, by this instance's clock (`None`: not
    /// since this instance started watching).
    pub heard_at: Option<Moment>,
    /// Its heartbeat moved within a lease period: its verdicts count.
    pub fresh: bool,
}

impl Vantage {
    /// How long it has been silent at `now` (a lease at least when never heard).
    pub fn silent_for(&self, now: Moment, lease: Duration) -> Duration {
        self.heard_at.map_or(lease, |h| now.since(h))
    }
}

/// The coordination state, as the controller reads it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct View {
    /// This instance may act until then.
    pub actor_until: Option<Moment>,
    pub epoch: Option<u64>,
    /// The actor as the tables tell it (possibly this instance).
    pub actor: Option<Record>,
    /// Every other known instance, fresh or silent.
    pub vantages: Vec<Vantage>,
    pub tables_reachable: usize,
    pub tables: usize,
    /// Leadership changes seen (this instance gaining or losing the lease).
    pub leadership_changes: u64,
    /// How long the last round's lease writes took to reach a majority.
    pub renew_latency: Option<Duration>,
    pub lease: Duration,
    /// A majority of the tables has been scanned within a lease period: otherwise the
    /// instances they know of are not known (not yet, or no longer), and no "down" is
    /// a quorum.
    pub census: bool,
}

impl View {
    pub fn is_actor(&self, now: Moment) -> bool {
        self.actor_until.is_some_and(|t| now < t)
    }

    /// The instances the tables know of, this one included: the quorum's base.
    pub fn known(&self) -> usize {
        self.vantages.len() + 1
    }
}

/// What the cluster is told.
#[derive(Debug, Clone)]
pub enum Input {
    /// Time passed (the driver calls at `poll_timeout`, or whenever it likes).
    Tick,
    /// A lease read of round `round` came back (`None`: it failed or timed out).
    LeaseRead {
        round: u64,
        table: usize,
        record: Option<Option<Record>>,
    },
    /// A lease write of round `round` came back: the version it left, or `None`.
    LeaseWritten {
        round: u64,
        table: usize,
        version: Option<u64>,
    },
    /// A scan of one table's heartbeats came back (`None`: it failed or timed out).
    Scanned {
        table: usize,
        heartbeats: Option<Vec<Heartbeat>>,
    },
    /// This instance's verdicts changed: publish them now.
    VerdictsChanged,
}

/// What the driver is to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    ReadLease {
        round: u64,
        table: usize,
        deadline: Moment,
    },
    WriteLease {
        round: u64,
        table: usize,
        write: Write,
        deadline: Moment,
    },
    /// Write this instance's heartbeat (with its current verdicts) to every table.
    Publish {
        incarnation: u64,
        beat: u64,
        deadline: Moment,
    },
    /// Read every heartbeat of one table.
    Scan { table: usize, deadline: Moment },
    /// Delete this instance's heartbeat from every table (a clean stop).
    Leave { deadline: Moment },
}

#[derive(Debug)]
enum Phase {
    Idle,
    Reading {
        reads: Vec<Option<Option<Read>>>,
        majority_at: Option<Moment>,
    },
    Writing {
        pending: usize,
        done: Vec<(usize, u64)>,
        wrote_at: Moment,
    },
}

/// Where a known instance's heartbeat stood when it last moved, by this clock.
#[derive(Debug, Clone, Copy)]
struct Heard {
    incarnation: u64,
    beat: u64,
    moved_at: Option<Moment>,
}

pub struct Cluster {
    lease: Lease,
    incarnation: u64,
    beat: u64,
    round: u64,
    round_start: Moment,
    phase: Phase,
    next_round: Moment,
    next_scan: Moment,
    /// Each table's heartbeats as last scanned (`None`: never scanned).
    scanned: Vec<Option<Vec<Heartbeat>>>,
    /// When each table was last scanned successfully.
    scanned_at: Vec<Option<Moment>>,
    /// A scan of the table is out.
    scanning: Vec<bool>,
    /// The table the next scan starts from: scans go round the tables.
    scan_cursor: usize,
    heard: BTreeMap<String, Heard>,
    reachable: Vec<bool>,
    was_actor: bool,
    /// The next round may renew without reading (the last one renewed a majority).
    blind_ok: bool,
    /// The reads made alongside this round's renewals, by table, until all answered:
    /// then the items the actor does not hold are claimed as a plan would.
    alongside: Vec<Option<Option<Read>>>,
    changes: u64,
    renew_latency: Option<Duration>,
}

impl Cluster {
    /// How often the other instances' heartbeats are read: their news must reach the
    /// actor within a fraction of a failover, not a lease round.
    pub const SCAN_PERIOD: Duration = Duration::from_millis(500);

    /// `incarnation` orders this process's heartbeats after its predecessors' (the
    /// start's wall-clock milliseconds serve).
    pub fn new(lease: Lease, incarnation: u64, now: Moment) -> Cluster {
        let tables = lease.tables();
        Cluster {
            lease,
            incarnation,
            beat: 0,
            round: 0,
            round_start: now,
            phase: Phase::Idle,
            next_round: now,
            next_scan: now,
            scanned: vec![None; tables],
            scanned_at: vec![None; tables],
            scanning: vec![false; tables],
            scan_cursor: 0,
            heard: BTreeMap::new(),
            reachable: vec![false; tables],
            was_actor: false,
            blind_ok: false,
            alongside: Vec::new(),
            changes: 0,
            renew_latency: None,
        }
    }

    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    fn scan_period(&self) -> Duration {
        Self::SCAN_PERIOD.min(self.lease.round())
    }

    /// The deadline of one call: a round. A loaded host or a slow table may answer
    /// late; a renewal that lands late still extends the lease from the round's start.
    fn call_deadline(&self, now: Moment) -> Moment {
        now + self.lease.round()
    }

    /// When the driver should next call with `Input::Tick`.
    pub fn poll_timeout(&self) -> Moment {
        let mut t = self.next_scan;
        match &self.phase {
            Phase::Idle => t = t.min(self.next_round),
            Phase::Reading { majority_at, .. } => {
                t = t.min(self.round_start + self.lease.round() + self.grace());
                if let Some(m) = majority_at {
                    t = t.min(*m + self.grace());
                }
            }
            Phase::Writing { wrote_at, .. } => t = t.min(*wrote_at + self.lease.round()),
        }
        // The view changes when the lease runs out, with no answer to say so.
        if let Some(until) = self.lease.actor_until().filter(|_| self.was_actor) {
            t = t.min(until);
        }
        t
    }

    /// How long a round waits for the last tables once a majority has answered.
    fn grace(&self) -> Duration {
        self.lease.round() / 10
    }

    pub fn handle(&mut self, now: Moment, wall_ms: u64, input: Input) -> Vec<Effect> {
        let mut out = Vec::new();
        match input {
            Input::Tick => {}
            Input::LeaseRead {
                round,
                table,
                record,
            } => {
                if let (true, Phase::Reading { reads, majority_at }) =
                    (round == self.round, &mut self.phase)
                    && let Some(slot) = reads.get_mut(table)
                    && slot.is_none()
                {
                    self.reachable[table] = record.is_some();
                    *slot = Some(record.map(|record| Read { record, at: now }));
                    let answered = reads.iter().filter(|r| matches!(r, Some(Some(_)))).count();
                    if majority_at.is_none() && answered >= self.lease.majority() {
                        *majority_at = Some(now);
                    }
                } else if round == self.round {
                    // Too late for its round's plan, or read alongside renewals: what it
                    // saw, it saw now.
                    self.reachable[table] = record.is_some();
                    let read = record.map(|record| Read { record, at: now });
                    if let Some(r) = &read {
                        self.lease.observe(table, r);
                    }
                    if let Some(slot) = self.alongside.get_mut(table)
                        && slot.is_none()
                    {
                        *slot = Some(read);
                        self.claim_alongside(&mut out);
                    }
                }
            }
            Input::LeaseWritten {
                round,
                table,
                version,
            } => {
                if let (true, Phase::Writing { pending, done, .. }) =
                    (round == self.round, &mut self.phase)
                {
                    *pending = pending.saturating_sub(1);
                    if let Some(v) = version {
                        done.push((table, v));
                    }
                } else if let (Some(v), Some(epoch)) = (version, self.lease.epoch()) {
                    // After its round settled: the table holds it all the same, and the
                    // next renewal must expect this version.
                    self.lease.wrote_late(table, epoch, v, self.round_start);
                }
            }
            Input::Scanned { table, heartbeats } => {
                self.scanning[table] = false;
                // Reachable: as the latest read or scan of the table went.
                self.reachable[table] = heartbeats.is_some();
                if let Some(h) = heartbeats {
                    self.scanned[table] = Some(h);
                    self.scanned_at[table] = Some(now);
                    self.fold_heartbeats(now, wall_ms);
                }
            }
            Input::VerdictsChanged => out.push(self.publish(now)),
        }
        self.advance(now, &mut out);
        if now >= self.next_scan {
            self.next_scan = now + self.scan_period();
            self.scan(now, &mut out);
        }
        out
    }

    /// Every instance publishes its heartbeat to every table, so one table's scan
    /// carries all the news that reached it: the scans go round the tables, as many per
    /// tick as cover every table once a round (one for three tables with a lease of
    /// 4.5 s or more: the default 6 s, the tests' 5 s; two with 3 s), plus any table
    /// never scanned yet. A table whose scan is still out is passed over: it has a
    /// round to answer, like every call, and is never asked twice at once.
    fn scan(&mut self, now: Moment, out: &mut Vec<Effect>) {
        let tables = self.lease.tables();
        let ticks_per_round =
            (self.lease.round().as_nanos() / self.scan_period().as_nanos()).max(1) as usize;
        let mut due = tables.div_ceil(ticks_per_round);
        let start = self.scan_cursor;
        for step in 0..tables {
            let table = (start + step) % tables;
            if self.scanning[table] {
                continue;
            }
            let never = self.scanned_at[table].is_none();
            if due == 0 && !never {
                continue;
            }
            if due > 0 {
                due -= 1;
                self.scan_cursor = (table + 1) % tables;
            }
            self.scanning[table] = true;
            out.push(Effect::Scan {
                table,
                deadline: self.call_deadline(now),
            });
        }
    }

    fn publish(&mut self, now: Moment) -> Effect {
        self.beat += 1;
        Effect::Publish {
            incarnation: self.incarnation,
            beat: self.beat,
            deadline: self.call_deadline(now),
        }
    }

    /// Moves the round on as far as its answers (and the time) allow.
    fn advance(&mut self, now: Moment, out: &mut Vec<Effect>) {
        loop {
            match &mut self.phase {
                Phase::Idle => {
                    if now < self.next_round {
                        return;
                    }
                    self.round += 1;
                    self.round_start = now;
                    // The next round a round later, or when an item can be taken over,
                    // but never more than four a round.
                    let earliest = now + self.lease.round() / 4;
                    self.next_round = (now + self.lease.round()).max(earliest);
                    let tables = self.lease.tables();
                    // The actor renews without reading while the last round renewed a
                    // majority; every third round also reads every table, alongside, to
                    // see the others (never in the way of the renewals).
                    if self.blind_ok
                        && let Some(writes) = self.lease.blind_renewals(now)
                    {
                        let deadline = self.call_deadline(now);
                        self.blind_ok = false;
                        self.phase = Phase::Writing {
                            pending: writes.len(),
                            done: Vec::new(),
                            wrote_at: now,
                        };
                        // A table claimed in this round is not read alongside: the read
                        // could be served before the claim lands and answer after it,
                        // and un-see it.
                        let creating: Vec<usize> = writes
                            .iter()
                            .filter(|(_, w)| matches!(w, Write::Create { .. }))
                            .map(|(table, _)| *table)
                            .collect();
                        out.extend(writes.into_iter().map(|(table, write)| Effect::WriteLease {
                            round: self.round,
                            table,
                            write,
                            deadline,
                        }));
                        if self.round.is_multiple_of(3) {
                            self.alongside = (0..tables)
                                .map(|t| creating.contains(&t).then_some(None))
                                .collect();
                            out.extend((0..tables).filter(|t| !creating.contains(t)).map(
                                |table| Effect::ReadLease {
                                    round: self.round,
                                    table,
                                    deadline,
                                },
                            ));
                        } else {
                            self.alongside.clear();
                        }
                        out.push(self.publish(now));
                        return;
                    }
                    self.phase = Phase::Reading {
                        reads: vec![None; tables],
                        majority_at: None,
                    };
                    let deadline = self.call_deadline(now);
                    out.extend((0..tables).map(|table| Effect::ReadLease {
                        round: self.round,
                        table,
                        deadline,
                    }));
                    // The heartbeat goes with every round, changed verdicts or not.
                    out.push(self.publish(now));
                    return;
                }
                Phase::Reading { reads, majority_at } => {
                    // Every table answered (each within a round), or a majority did and
                    // the others had a moment more: a hung table costs the round only
                    // that moment. Without a majority the round waits for the answers
                    // (slow tables make slow rounds, not rounds that never decide).
                    let all = reads.iter().all(|r| r.is_some());
                    let grace = self.lease.round() / 10;
                    let graced = majority_at.is_some_and(|m| now >= m + grace);
                    // Every call ends by its deadline (a round); past it, an answer that
                    // never came is no answer.
                    let overdue = now >= self.round_start + self.lease.round() + grace;
                    if !(all || graced || overdue) {
                        return;
                    }
                    let reads: Vec<Option<Read>> =
                        reads.iter().map(|r| r.clone().flatten()).collect();
                    // Planned as of now: an item unchanged since a read's answer counts
                    // to now (the round's writes are conditional on what it read).
                    let writes = self.lease.plan(&reads, now);
                    if let Some(t) = self.lease.next_takeover() {
                        let earliest = self.round_start + self.lease.round() / 4;
                        self.next_round = self.next_round.min(t.max(earliest));
                    }
                    if writes.is_empty() {
                        self.phase = Phase::Idle;
                        continue;
                    }
                    let deadline = self.call_deadline(now);
                    self.phase = Phase::Writing {
                        pending: writes.len(),
                        done: Vec::new(),
                        wrote_at: now,
                    };
                    out.extend(writes.into_iter().map(|(table, write)| Effect::WriteLease {
                        round: self.round,
                        table,
                        write,
                        deadline,
                    }));
                    return;
                }
                Phase::Writing {
                    pending,
                    done,
                    wrote_at,
                } => {
                    let finished = *pending == 0 || now >= *wrote_at + self.lease.round();
                    if done.len() >= self.lease.majority() || finished {
                        // A majority renewed: the next round may renew without reading
                        // (a table whose renewal is still out, or failed, fails its
                        // condition then, harmlessly); fewer, and it reads.
                        self.blind_ok = done.len() >= self.lease.majority();
                        // Settling early extends the lease the moment a majority holds;
                        // later successes of the same round change nothing it needs.
                        let start = self.round_start;
                        let took = now.since(*wrote_at);
                        let done = std::mem::take(done);
                        self.lease.settle(start, &done);
                        if done.len() >= self.lease.majority() {
                            self.renew_latency = Some(took);
                        }
                        self.phase = Phase::Idle;
                        continue;
                    }
                    return;
                }
            }
        }
    }

    /// Once every read made alongside the renewals has answered: the claims (creates,
    /// take-overs) a round that read would make; the renewals went out already.
    fn claim_alongside(&mut self, out: &mut Vec<Effect>) {
        if self.alongside.is_empty() || self.alongside.iter().any(Option::is_none) {
            return;
        }
        let reads: Vec<Option<Read>> = std::mem::take(&mut self.alongside)
            .into_iter()
            .map(Option::flatten)
            .collect();
        let claims: Vec<(usize, Write)> = self
            .lease
            .plan(&reads, self.round_start)
            .into_iter()
            .filter(|(_, w)| !matches!(w, Write::Renew { .. }))
            .collect();
        let deadline = self.round_start + self.lease.round();
        if let Phase::Writing { pending, .. } = &mut self.phase {
            *pending += claims.len();
        }
        out.extend(claims.into_iter().map(|(table, write)| Effect::WriteLease {
            round: self.round,
            table,
            write,
            deadline,
        }));
    }

    /// Folds every table's heartbeats: per instance the newest (incarnation, beat); an
    /// instance is heard from when that moves forward (never when it goes back, as a
    /// stale table can make it seem to).
    fn fold_heartbeats(&mut self, now: Moment, wall_ms: u64) {
        let mut newest: BTreeMap<&str, &Heartbeat> = BTreeMap::new();
        for h in self.scanned.iter().flatten().flatten() {
            if h.instance == self.lease.me() || h.expires_ms <= wall_ms {
                continue;
            }
            let e = newest.entry(&h.instance).or_insert(h);
            if (h.incarnation, h.beat) > (e.incarnation, e.beat) {
                *e = h;
            }
        }
        for (instance, h) in &newest {
            match self.heard.get_mut(*instance) {
                Some(heard) if (h.incarnation, h.beat) > (heard.incarnation, heard.beat) => {
                    heard.incarnation = h.incarnation;
                    heard.beat = h.beat;
                    heard.moved_at = Some(now);
                }
                Some(_) => {}
                // First seen: not yet known to be alive, so it counts only once its
                // heartbeat moves; known, though, for the quorum's base.
                None => {
                    self.heard.insert(
                        (*instance).to_owned(),
                        Heard {
                            incarnation: h.incarnation,
                            beat: h.beat,
                            moved_at: None,
                        },
                    );
                }
            }
        }
        self.heard.retain(|i, _| newest.contains_key(i.as_str()));
    }

    /// The coordination state at `now`.
    pub fn view(&mut self, now: Moment) -> View {
        let is_actor = self.lease.is_actor(now);
        if is_actor != self.was_actor {
            self.changes += 1;
            self.was_actor = is_actor;
        }
        // Each known instance's newest heartbeat as the tables have it now.
        let mut newest: BTreeMap<&str, &Heartbeat> = BTreeMap::new();
        for h in self.scanned.iter().flatten().flatten() {
            if !self.heard.contains_key(&h.instance) {
                continue;
            }
            let e = newest.entry(&h.instance).or_insert(h);
            if (h.incarnation, h.beat) > (e.incarnation, e.beat) {
                *e = h;
            }
        }
        let vantages = newest
            .into_iter()
            .map(|(instance, h)| {
                let moved = self.heard.get(instance).and_then(|x| x.moved_at);
                Vantage {
                    instance: instance.to_owned(),
                    addr: h.addr.clone(),
                    verdicts: h.verdicts.clone(),
                    heard_at: moved,
                    fresh: moved.is_some_and(|m| now.since(m) < self.lease.duration()),
                }
            })
            .collect();
        let actor = if is_actor {
            Some(Record {
                holder: self.lease.me().to_owned(),
                epoch: self.lease.epoch().unwrap_or(0),
                version: 0,
                addr: self.lease.addr().to_owned(),
            })
        } else {
            self.lease.actor().cloned()
        };
        View {
            actor_until: self.lease.actor_until().filter(|_| is_actor),
            epoch: self.lease.epoch(),
            actor,
            vantages,
            tables_reachable: self.reachable.iter().filter(|r| **r).count(),
            tables: self.lease.tables(),
            leadership_changes: self.changes,
            renew_latency: self.renew_latency,
            lease: self.lease.duration(),
            census: self
                .scanned_at
                .iter()
                .flatten()
                .filter(|at| now.since(**at) < self.lease.duration())
                .count()
                >= self.lease.majority(),
        }
    }

    /// A clean stop: the writes that free this instance's lease items, and leaving the
    /// heartbeat tables. Acting stops at once.
    pub fn release(&mut self, now: Moment) -> Vec<Effect> {
        self.round += 1;
        let deadline = now + Duration::from_secs(2);
        let mut out: Vec<Effect> = self
            .lease
            .release()
            .into_iter()
            .map(|(table, write)| Effect::WriteLease {
                round: self.round,
                table,
                write,
                deadline,
            })
            .collect();
        out.push(Effect::Leave { deadline });
        self.phase = Phase::Idle;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_secs(3);

    fn t(ms: u64) -> Moment {
        Moment::at(Duration::from_millis(ms))
    }

    /// Interleaving 6: one hung control table used to cost read, write, heartbeat and
    /// scan half a round each, in sequence, every round: the actor's window closed
    /// before its view reached the controller. Now the round goes on with the majority.
    #[test]
    fn one_hung_table_does_not_hold_the_round() {
        let mut c = Cluster::new(Lease::new("a", "http://a", 3, LEASE), 1, t(0));
        let effects = c.handle(t(0), 0, Input::Tick);
        let reads: Vec<_> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::ReadLease { round, table, .. } => Some((*round, *table)),
                _ => None,
            })
            .collect();
        assert_eq!(reads.len(), 3);
        // Tables 0 and 1 answer at once; table 2 hangs.
        for (round, table) in &reads[..2] {
            c.handle(
                t(10),
                0,
                Input::LeaseRead {
                    round: *round,
                    table: *table,
                    record: Some(None),
                },
            );
        }
        // After the grace, the round writes to the two it read.
        let at = t(10) + c.grace();
        assert_eq!(c.poll_timeout(), at);
        let writes: Vec<_> = c
            .handle(at, 0, Input::Tick)
            .into_iter()
            .filter_map(|e| match e {
                Effect::WriteLease {
                    round,
                    table,
                    write,
                    ..
                } => Some((round, table, write)),
                _ => None,
            })
            .collect();
        assert_eq!(writes.len(), 2, "{writes:?}");
        for (round, table, _) in &writes {
            c.handle(
                at,
                0,
                Input::LeaseWritten {
                    round: *round,
                    table: *table,
                    version: Some(1),
                },
            );
        }
        let view = c.view(at);
        assert!(view.is_actor(at), "a majority settles the round at once");
        assert_eq!(view.actor_until, Some(t(0) + LEASE - LEASE / 3));
        assert!(at < t(0) + LEASE / 6, "well inside the window: {at:?}");
    }

    /// Seen in the e2e takeover test: with every read answering in 0.9-1.7 s (more than
    /// half a round, less than a round), each round used to plan at half a round with
    /// no reads, so a takeover waited until the tables sped up. A round now waits for
    /// a majority (each call ends within a round anyway).
    #[test]
    fn slow_tables_make_slow_rounds_not_rounds_that_never_decide() {
        let mut c = Cluster::new(Lease::new("a", "http://a", 3, LEASE), 1, t(0));
        let effects = c.handle(t(0), 0, Input::Tick);
        let reads: Vec<_> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::ReadLease { round, table, .. } => Some((*round, *table)),
                _ => None,
            })
            .collect();
        assert_eq!(reads.len(), 3);
        let slow = t(0) + LEASE / 3 * 9 / 10;
        assert!(
            c.handle(t(0) + LEASE / 6 + Duration::from_millis(1), 0, Input::Tick)
                .iter()
                .all(|e| !matches!(e, Effect::WriteLease { .. }))
        );
        let mut writes = 0;
        for (round, table) in reads {
            writes += c
                .handle(
                    slow,
                    0,
                    Input::LeaseRead {
                        round,
                        table,
                        record: Some(None),
                    },
                )
                .iter()
                .filter(|e| matches!(e, Effect::WriteLease { .. }))
                .count();
        }
        assert_eq!(
            writes, 3,
            "the fresh deployment is claimed once the reads are in"
        );
    }

    #[test]
    fn heartbeats_count_when_they_move_forward_and_known_instances_stay_known() {
        let mut c = Cluster::new(Lease::new("a", "http://a", 1, LEASE), 1, t(0));
        let hb = |incarnation, beat| Heartbeat {
            instance: "b".into(),
            addr: "http://b".into(),
            incarnation,
            beat,
            verdicts: BTreeMap::new(),
            expires_ms: 10_000,
        };
        c.handle(
            t(0),
            0,
            Input::Scanned {
                table: 0,
                heartbeats: Some(vec![hb(1, 5)]),
            },
        );
        let v = c.view(t(0));
        assert_eq!(v.known(), 2, "known from its first heartbeat");
        assert!(!v.vantages[0].fresh, "alive only once it moves");
        c.handle(
            t(100),
            0,
            Input::Scanned {
                table: 0,
                heartbeats: Some(vec![hb(1, 6)]),
            },
        );
        assert!(c.view(t(100)).vantages[0].fresh);
        // A stale table shows an older beat: not news.
        c.handle(
            t(3200),
            0,
            Input::Scanned {
                table: 0,
                heartbeats: Some(vec![hb(1, 4)]),
            },
        );
        let v = c.view(t(3200));
        assert_eq!(v.known(), 2);
        assert!(
            !v.vantages[0].fresh,
            "a heartbeat going back is no sign of life: {v:?}"
        );
        // A restart (new incarnation) starts its beats again: that is news.
        c.handle(
            t(3300),
            0,
            Input::Scanned {
                table: 0,
                heartbeats: Some(vec![hb(2, 1)]),
            },
        );
        assert!(c.view(t(3300)).vantages[0].fresh);
        // Expired by the writer's clock, or gone from the tables: forgotten.
        c.handle(
            t(3400),
            20_000,
            Input::Scanned {
                table: 0,
                heartbeats: Some(vec![hb(2, 2)]),
            },
        );
        assert_eq!(c.view(t(3400)).known(), 1);
    }

    /// The scans go round the tables: after a first tick that scans every table, two
    /// a tick for three tables when a round is two ticks (a 3 s lease), one a tick when
    /// it is ten (15 s); one still out is passed over, not asked again.
    #[test]
    fn scans_go_round_the_tables_and_pass_over_one_still_out() {
        let mut c = Cluster::new(Lease::new("a", "http://a", 3, LEASE), 1, t(0));
        let scans = |effects: Vec<Effect>| -> Vec<usize> {
            effects
                .into_iter()
                .filter_map(|e| match e {
                    Effect::Scan { table, .. } => Some(table),
                    _ => None,
                })
                .collect()
        };
        let answer = |c: &mut Cluster, at: Moment, table: usize| {
            c.handle(
                at,
                0,
                Input::Scanned {
                    table,
                    heartbeats: Some(Vec::new()),
                },
            )
        };
        assert_eq!(scans(c.handle(t(0), 0, Input::Tick)), vec![0, 1, 2]);
        for table in 0..3 {
            answer(&mut c, t(10), table);
        }
        // A round of a second is two ticks: two tables a tick cover the three.
        let mut seen = Vec::new();
        for tick in 1..=3 {
            let got = scans(c.handle(t(500 * tick), 0, Input::Tick));
            assert_eq!(got.len(), 2, "tick {tick}: {got:?}");
            for table in got {
                // Table 2 never answers: it stays out and is passed over.
                if table != 2 {
                    answer(&mut c, t(500 * tick + 10), table);
                }
                seen.push(table);
            }
        }
        assert_eq!(seen.iter().filter(|t| **t == 2).count(), 1, "{seen:?}");
        assert!(seen.contains(&0) && seen.contains(&1), "{seen:?}");

        // With a lease of 15 s (a round of 5 s, ten ticks), one table a tick.
        let mut c = Cluster::new(
            Lease::new("a", "http://a", 3, Duration::from_secs(15)),
            1,
            t(0),
        );
        c.handle(t(0), 0, Input::Tick);
        for table in 0..3 {
            answer(&mut c, t(10), table);
        }
        let mut order = Vec::new();
        for tick in 1..=6 {
            let got = scans(c.handle(t(500 * tick), 0, Input::Tick));
            assert_eq!(got.len(), 1, "tick {tick}: {got:?}");
            answer(&mut c, t(500 * tick + 10), got[0]);
            order.extend(got);
        }
        assert_eq!(order, vec![1, 2, 0, 1, 2, 0]);
    }
}
