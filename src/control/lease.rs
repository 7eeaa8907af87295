//! The actor's lease, decided without trusting clocks across hosts (pure; the caller
//! passes its own boot-time clock and does the DynamoDB IO).
//!
//! The lease is one item in each control table: holder, epoch, and a record version
//! that every renewal bumps. An instance is the actor while it holds the item in a
//! majority of the tables. It renews every round with a conditional write on the
//! version it last read; another instance takes an item over only after it has seen
//! the same (holder, epoch, version) unchanged for a whole lease period by its *own*
//! clock (the DynamoDB lock client's rule), the period counted from the moment the read
//! that first showed it *came back* (a read that was sent, then delayed, proves nothing
//! about the time before its answer). The holder stops acting a safety margin before a
//! lease period has passed since the start of its last successful round, so a takeover
//! can never overlap its actions:
//!
//! - a renewal written in a round that started at R lands at or after R, so no one can
//!   see it before R, nor take that item over before R + lease;
//! - the holder acts only until R + lease - margin, whatever happens to later rounds: a
//!   round that misses its majority does not depose it early, its lease simply runs out.
//!
//! Epochs never go backwards: a new holder writes one more than the highest epoch it
//! read, it claims items only in a round that read a majority of the tables (any two
//! majorities share a table, so it read its predecessor's epoch), it never takes over an
//! item with an epoch as high as its own, and releasing an item (on shutdown) keeps its
//! epoch in place, marking it free (`holder` empty) rather than deleting it. The one
//! claim without a majority of reads is the actor's own: holding a majority, it creates
//! the item of a table it read empty (no one else can hold a majority meanwhile, and a
//! create succeeds only where there is no item). So lease items must never be deleted by
//! hand: a table recreated empty would take the actor's epoch, perhaps a lower one.
//!
//! Items of its own an instance keeps renewing even after a round without a majority
//! (an SDK retry of a renewal that had landed fails its condition, and one round can
//! lose a table), unless someone else holds a majority: a lone survivor becomes the
//! actor again on its own items, and a minority it holds is left to expire only when
//! another instance has the lease.

use std::time::Duration;

use crate::control::clock::Moment;

/// The lease item of one control table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Empty when released: free to take at once.
    pub holder: String,
    pub epoch: u64,
    pub version: u64,
    /// The holder's API address, for forwarding drains and restores.
    pub addr: String,
}

impl Record {
    pub fn is_released(&self) -> bool {
        self.holder.is_empty()
    }
}

/// One table's lease item as a read returned it, and when the answer came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub record: Option<Record>,
    pub at: Moment,
}

/// A conditional write to one table's lease item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// The item does not exist: create it (`attribute_not_exists`).
    Create { epoch: u64 },
    /// Renew my own item: holder me, epoch `from` and version `expect` still; it
    /// becomes `epoch` (my current one: an item I claimed under an earlier epoch of mine
    /// joins the others) and `expect + 1`.
    Renew { from: u64, epoch: u64, expect: u64 },
    /// Take over an item left unchanged for a lease period, or released: `epoch` and
    /// `version` must still be `expect_*`.
    TakeOver {
        expect_epoch: u64,
        expect_version: u64,
        epoch: u64,
    },
    /// Give my item up (holder me and `epoch`): the holder becomes empty, the epoch
    /// stays, the version goes up by one.
    Release { epoch: u64 },
}

impl Write {
    /// The version the item holds after this write succeeds (`None` for a release,
    /// whose version the writer does not need).
    pub fn version_after(&self) -> Option<u64> {
        match self {
            Write::Create { .. } => Some(1),
            Write::Renew { expect, .. } => Some(expect + 1),
            Write::TakeOver { expect_version, .. } => Some(expect_version + 1),
            Write::Release { .. } => None,
        }
    }

    /// The epoch the item holds after this write succeeds.
    pub fn epoch(&self) -> u64 {
        match self {
            Write::Create { epoch }
            | Write::Renew { epoch, .. }
            | Write::TakeOver { epoch, .. }
            | Write::Release { epoch } => *epoch,
        }
    }
}

/// What one table's item looked like, and since when (by this instance's clock).
#[derive(Debug, Clone)]
struct Seen {
    record: Record,
    since: Moment,
}

#[derive(Debug)]
pub struct Lease {
    me: String,
    addr: String,
    duration: Duration,
    seen: Vec<Option<Seen>>,
    /// My epoch while I hold (or am claiming) the lease.
    epoch: Option<u64>,
    /// Since when each table has been seen without a lease item.
    empty_since: Vec<Option<Moment>>,
    /// Every epoch this process has claimed items under: an item of my name with
    /// another epoch is a previous process's, not mine to renew.
    claimed: Vec<u64>,
    /// The start of the last round in which I held a majority.
    held_from: Option<Moment>,
}

impl Lease {
    pub fn new(
        me: impl Into<String>,
        addr: impl Into<String>,
        tables: usize,
        duration: Duration,
    ) -> Lease {
        Lease {
            me: me.into(),
            addr: addr.into(),
            duration,
            seen: vec![None; tables],
            epoch: None,
            empty_since: vec![None; tables],
            claimed: Vec::new(),
            held_from: None,
        }
    }

    pub fn duration(&self) -> Duration {
        self.duration
    }

    pub fn me(&self) -> &str {
        &self.me
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn tables(&self) -> usize {
        self.seen.len()
    }

    /// How often to run a round: three renewals per lease period.
    pub fn round(&self) -> Duration {
        self.duration / 3
    }

    /// Acting ends this long before the lease could be taken over.
    pub fn margin(&self) -> Duration {
        self.duration / 3
    }

    pub fn majority(&self) -> usize {
        self.seen.len() / 2 + 1
    }

    /// Until when this instance may act (`None`: not the actor).
    pub fn actor_until(&self) -> Option<Moment> {
        self.held_from
            .map(|from| from + self.duration - self.margin())
    }

    /// Whether this instance may act at `now`.
    pub fn is_actor(&self, now: Moment) -> bool {
        self.actor_until().is_some_and(|until| now < until)
    }

    /// My epoch while I hold the lease (or held it, until it runs out).
    pub fn epoch(&self) -> Option<u64> {
        self.epoch.filter(|_| self.held_from.is_some())
    }

    /// An item this process claimed, at any of its epochs.
    fn is_ours(&self, r: &Record) -> bool {
        r.holder == self.me && self.claimed.contains(&r.epoch)
    }

    /// The highest-ranked live holder other than me: (epoch, name) of an item, not
    /// released and not mine, that changed within a lease period.
    fn live_rival(&self, now: Moment) -> Option<(u64, &str)> {
        self.seen
            .iter()
            .flatten()
            .filter(|s| {
                !s.record.is_released()
                    && !self.is_ours(&s.record)
                    && now.since(s.since) < self.duration
            })
            .map(|s| (s.record.epoch, s.record.holder.as_str()))
            .max()
    }

    fn held(&self) -> usize {
        self.seen
            .iter()
            .flatten()
            .filter(|s| self.is_ours(&s.record))
            .count()
    }

    /// Whether I should let my items go: another holder has a majority of them, or
    /// nobody has and a live rival outranks me (a higher epoch, or the same and a
    /// greater name). A majority of items of my own I never give up (its lease may have
    /// run out for a round or two, but no one else can have acted on it).
    fn yields(&self, now: Moment) -> bool {
        if self.held() >= self.majority() {
            return false;
        }
        let me = (self.epoch.unwrap_or(0), self.me.as_str());
        self.actor().is_some_and(|a| !self.is_ours(a))
            || self.live_rival(now).is_some_and(|rival| rival > me)
    }

    /// Whether I may claim more items (take over or create): only the highest-ranked
    /// live holder does, or anyone while nobody live holds an item. So a lapsed lease
    /// is taken over by one instance, not grabbed item by item by all of them (each
    /// with a new epoch, never a majority at one).
    fn may_claim(&self, now: Moment) -> bool {
        match self.live_rival(now) {
            None => true,
            Some(rival) => self.held() > 0 && rival < (self.epoch.unwrap_or(0), self.me.as_str()),
        }
    }

    /// Takes in one table's read (also one that came back too late for its round: what
    /// it saw, it saw then).
    pub fn observe(&mut self, table: usize, read: &Read) {
        let (Some(slot), Some(empty)) = (self.seen.get_mut(table), self.empty_since.get_mut(table))
        else {
            return;
        };
        match &read.record {
            None => {
                if slot.is_some() || empty.is_none() {
                    *empty = Some(read.at);
                }
                *slot = None;
            }
            Some(rec) => {
                *empty = None;
                // A read that crossed a renewal of mine shows the version before it.
                if slot.as_ref().is_some_and(|s| {
                    s.record.holder == rec.holder
                        && s.record.epoch == rec.epoch
                        && s.record.version > rec.version
                }) {
                    return;
                }
                if slot.as_ref().is_none_or(|s| {
                    s.record.holder != rec.holder
                        || s.record.epoch != rec.epoch
                        || s.record.version != rec.version
                }) {
                    *slot = Some(Seen {
                        record: rec.clone(),
                        since: read.at,
                    });
                }
            }
        }
    }

    /// The writes of a round planned at `now`, given what each table read returned
    /// (`None` for a table that could not be read).
    pub fn plan(&mut self, reads: &[Option<Read>], now: Moment) -> Vec<(usize, Write)> {
        for (i, r) in reads.iter().enumerate() {
            if let Some(r) = r {
                self.observe(i, r);
            }
        }
        if self.actor_until().is_some_and(|until| now >= until) {
            self.held_from = None; // ran out
        }
        let holding = self.held_from.is_some();
        let yields = self.yields(now);
        let may_claim = self.may_claim(now);
        let readable = reads.iter().filter(|r| r.is_some()).count();
        let informed = readable >= self.majority();
        let fresh = self.seen.iter().all(Option::is_none)
            && reads.iter().flatten().all(|r| r.record.is_none());
        let highest = self
            .seen
            .iter()
            .flatten()
            .map(|s| s.record.epoch)
            .chain(self.epoch)
            .max()
            .unwrap_or(0);
        let highest_other = self
            .seen
            .iter()
            .flatten()
            .filter(|s| !self.is_ours(&s.record))
            .map(|s| s.record.epoch)
            .max()
            .unwrap_or(0);
        // Renewing keeps my epoch; otherwise my epoch serves while it is above every
        // other one seen (items I claimed under earlier epochs are brought up to it),
        // else one more than the highest: an item is only ever taken over by a higher
        // epoch than its own.
        let epoch = match self.epoch {
            Some(e) if holding || e > highest_other => e,
            _ => highest + 1,
        };
        let mut writes = Vec::new();
        for (i, r) in reads.iter().enumerate() {
            let Some(Read { record, .. }) = r else {
                continue;
            };
            match record {
                // An empty table is claimed at once in a fresh deployment (every table
                // read is empty) or by the actor (holding a majority, no one else can:
                // claiming one more table only spares it the loss of one); else one
                // that lost its item (deleted and made again) only after a lease, when
                // its last holder has stopped acting.
                None if informed
                    && may_claim
                    && (fresh
                        || (holding && self.epoch == Some(epoch))
                        || self.empty_since[i]
                            .is_some_and(|since| now.since(since) >= self.duration)) =>
                {
                    writes.push((i, Write::Create { epoch }))
                }
                None => {}
                Some(rec) if self.is_ours(rec) && (holding || !yields) => {
                    writes.push((
                        i,
                        Write::Renew {
                            from: rec.epoch,
                            epoch,
                            expect: rec.version,
                        },
                    ));
                }
                Some(rec) if self.is_ours(rec) => {} // left to expire
                Some(rec) => {
                    let unchanged_for = self.seen[i]
                        .as_ref()
                        .map_or(Duration::ZERO, |s| now.since(s.since));
                    let free = rec.is_released() || unchanged_for >= self.duration;
                    if free && informed && may_claim && epoch > rec.epoch {
                        writes.push((
                            i,
                            Write::TakeOver {
                                expect_epoch: rec.epoch,
                                expect_version: rec.version,
                                epoch,
                            },
                        ));
                    }
                }
            }
        }
        if !writes.is_empty() {
            self.epoch = Some(epoch);
            if !self.claimed.contains(&epoch) {
                self.claimed.push(epoch);
            }
        }
        writes
    }

    /// The renewals the actor can write without reading first: its own items at the
    /// versions it last wrote, when they are a majority (and a claim of any table last
    /// read empty). Each is as conditional as any
    /// renewal (holder, epoch and version unchanged), so a stale one simply fails, and
    /// the next round reads. Half the round trips of a read-then-write round, which
    /// matters when the tables answer slowly.
    pub fn blind_renewals(&self, now: Moment) -> Option<Vec<(usize, Write)>> {
        if !self.is_actor(now) {
            return None;
        }
        let epoch = self.epoch?;
        let mut writes: Vec<(usize, Write)> = self
            .seen
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let s = s.as_ref()?;
                (s.record.holder == self.me && s.record.epoch == epoch).then_some((
                    i,
                    Write::Renew {
                        from: epoch,
                        epoch,
                        expect: s.record.version,
                    },
                ))
            })
            .collect();
        if writes.len() < self.majority() {
            return None;
        }
        // A table last read empty is claimed alongside (see `plan`): one table lost then
        // costs the actor nothing.
        writes.extend(
            (0..self.seen.len())
                .filter(|&i| self.seen[i].is_none() && self.empty_since[i].is_some())
                .map(|i| (i, Write::Create { epoch })),
        );
        Some(writes)
    }

    /// Records which writes of the round that started at `round_start` succeeded (with
    /// the version each left). A majority extends the lease from `round_start`; fewer
    /// leave it as it was, to run out at its time.
    pub fn settle(&mut self, round_start: Moment, done: &[(usize, u64)]) {
        let Some(epoch) = self.epoch else { return };
        for &(i, version) in done {
            // What I wrote is what the table holds now, as of the round's start.
            let mine = self.mine(epoch, version, round_start);
            if let Some(slot) = self.seen.get_mut(i) {
                *slot = Some(mine);
            }
        }
        if done.len() >= self.majority() {
            self.held_from = Some(round_start);
        }
    }

    /// A renewal or claim of mine that answered after its round settled: the table holds
    /// my item at `version` (unless a newer one of mine is already known).
    pub fn wrote_late(&mut self, table: usize, epoch: u64, version: u64, round_start: Moment) {
        let Some(slot) = self.seen.get_mut(table) else {
            return;
        };
        let newer = slot.as_ref().is_none_or(|s| {
            !(s.record.holder == self.me && s.record.epoch == epoch && s.record.version >= version)
        });
        if newer && self.claimed.contains(&epoch) {
            let mine = self.mine(epoch, version, round_start);
            if let Some(slot) = self.seen.get_mut(table) {
                *slot = Some(mine);
            }
        }
    }

    /// My item as a write of mine left it.
    fn mine(&self, epoch: u64, version: u64, since: Moment) -> Seen {
        Seen {
            record: Record {
                holder: self.me.clone(),
                epoch,
                version,
                addr: self.addr.clone(),
            },
            since,
        }
    }

    /// Gives the lease up (on shutdown): the writes that free my items. Acting stops at
    /// once.
    pub fn release(&mut self) -> Vec<(usize, Write)> {
        if self.epoch.take().is_none() {
            return Vec::new();
        }
        self.held_from = None;
        self.seen
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let s = s.as_ref().filter(|s| self.is_ours(&s.record))?;
                Some((
                    i,
                    Write::Release {
                        epoch: s.record.epoch,
                    },
                ))
            })
            .collect()
    }

    /// The earliest moment an item another instance holds could be taken over, as this
    /// instance has seen them: the next round should not start much later.
    pub fn next_takeover(&self) -> Option<Moment> {
        self.seen
            .iter()
            .flatten()
            .filter(|s| !self.is_ours(&s.record))
            .map(|s| {
                if s.record.is_released() {
                    s.since
                } else {
                    s.since + self.duration
                }
            })
            .min()
    }

    /// The actor as the tables tell it: the holder of a majority of the items, if any.
    pub fn actor(&self) -> Option<&Record> {
        let records: Vec<&Record> = self
            .seen
            .iter()
            .flatten()
            .map(|s| &s.record)
            .filter(|r| !r.is_released())
            .collect();
        records.iter().copied().find(|r| {
            records
                .iter()
                .filter(|o| o.holder == r.holder && o.epoch == r.epoch)
                .count()
                >= self.majority()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_secs(6);

    fn t(secs: f64) -> Moment {
        Moment::at(Duration::from_secs_f64(secs))
    }

    /// The control tables as DynamoDB keeps them, conditions checked.
    struct Tables(Vec<Option<Record>>);

    impl Tables {
        fn new(n: usize) -> Tables {
            Tables(vec![None; n])
        }

        fn apply(&mut self, i: usize, me: &str, w: &Write) -> Option<u64> {
            let t = &mut self.0[i];
            let (holder, epoch, version) = match (w, &t) {
                (Write::Create { epoch }, None) => (me.to_owned(), *epoch, 1),
                (
                    Write::Renew {
                        from,
                        epoch,
                        expect,
                    },
                    Some(r),
                ) if r.holder == me && r.version == *expect && r.epoch == *from => {
                    (me.to_owned(), *epoch, expect + 1)
                }
                (
                    Write::TakeOver {
                        expect_epoch,
                        expect_version,
                        epoch,
                    },
                    Some(r),
                ) if r.epoch == *expect_epoch && r.version == *expect_version => {
                    (me.to_owned(), *epoch, expect_version + 1)
                }
                (Write::Release { epoch }, Some(r)) if r.holder == me && r.epoch == *epoch => {
                    (String::new(), *epoch, r.version + 1)
                }
                _ => return None,
            };
            *t = Some(Record {
                holder,
                epoch,
                version,
                addr: format!("http://{me}"),
            });
            Some(version)
        }
    }

    /// One round of `lease` at `now`: reads of the tables that are `up`, answered at
    /// once; writes applied where `up`. Returns the planned writes.
    fn run(
        lease: &mut Lease,
        tables: &mut Tables,
        up: &[bool],
        now: Moment,
    ) -> Vec<(usize, Write)> {
        let reads: Vec<Option<Read>> = tables
            .0
            .iter()
            .zip(up)
            .map(|(t, u)| {
                u.then(|| Read {
                    record: t.clone(),
                    at: now,
                })
            })
            .collect();
        let writes = lease.plan(&reads, now);
        let me = lease.me().to_owned();
        let done: Vec<(usize, u64)> = writes
            .iter()
            .filter(|(i, _)| up[*i])
            .filter_map(|(i, w)| tables.apply(*i, &me, w).map(|v| (*i, v)))
            .collect();
        lease.settle(now, &done);
        writes
    }

    fn lease(me: &str) -> Lease {
        Lease::new(me, format!("http://{me}"), 3, LEASE)
    }

    #[test]
    fn the_first_instance_takes_empty_tables_and_keeps_renewing() {
        let mut tables = Tables::new(3);
        let mut a = lease("a");
        run(&mut a, &mut tables, &[true; 3], t(0.0));
        assert!(a.is_actor(t(0.0)));
        assert_eq!(a.epoch(), Some(1));
        for k in 1..10 {
            let now = t(0.0) + k * a.round();
            run(&mut a, &mut tables, &[true; 3], now);
            assert!(a.is_actor(now), "renewed round {k}");
        }
        assert_eq!(tables.0[0].as_ref().unwrap().version, 10);
        assert_eq!(a.epoch(), Some(1), "renewals keep the epoch");
    }

    /// A fresh start where one table answered too late to be claimed: the actor holds
    /// a bare majority, and losing one more table would cost it the lease. It claims
    /// the late table at once, in a read round or alongside its blind renewals.
    #[test]
    fn the_actor_claims_a_table_it_reads_empty_at_once() {
        for blind in [false, true] {
            let mut tables = Tables::new(3);
            let mut a = lease("a");
            run(&mut a, &mut tables, &[true, false, true], t(0.0));
            assert!(a.is_actor(t(0.0)));
            assert!(tables.0[1].is_none(), "table 1 was not read");
            // Table 1's read comes back (late, or in a later round): empty.
            let now = t(0.0) + a.round();
            if blind {
                a.observe(
                    1,
                    &Read {
                        record: None,
                        at: now,
                    },
                );
                let writes = a.blind_renewals(now).unwrap();
                assert!(
                    writes.contains(&(1, Write::Create { epoch: 1 })),
                    "{writes:?}"
                );
                let done: Vec<(usize, u64)> = writes
                    .iter()
                    .filter_map(|(i, w)| tables.apply(*i, "a", w).map(|v| (*i, v)))
                    .collect();
                a.settle(now, &done);
            } else {
                run(&mut a, &mut tables, &[true; 3], now);
            }
            assert_eq!(tables.0[1].as_ref().unwrap().holder, "a", "blind: {blind}");
            // Now table 0 is lost: the actor keeps its lease on the other two.
            let later = now + a.round();
            run(&mut a, &mut tables, &[false, true, true], later);
            // Renewed on tables 1 and 2 (a majority) at `later`: still acting a round on.
            assert!(a.is_actor(later + a.round()), "blind: {blind}");
        }
    }

    #[test]
    fn a_waiting_instance_takes_over_only_after_a_full_unchanged_lease() {
        let mut tables = Tables::new(3);
        let mut a = lease("a");
        let mut b = lease("b");
        run(&mut a, &mut tables, &[true; 3], t(0.0));
        // `a` dies right after its round at 0. `b` first looks at 1 s.
        let mut now = t(1.0);
        let mut took = None;
        while now < t(20.0) {
            run(&mut b, &mut tables, &[true; 3], now);
            if b.is_actor(now) {
                took = Some(now);
                break;
            }
            now = now + b.round();
        }
        let took = took.expect("b takes over");
        assert!(
            took >= t(1.0) + LEASE,
            "not before a whole unchanged lease: {took:?}"
        );
        assert!(took <= t(1.0) + LEASE + b.round());
        assert_eq!(b.epoch(), Some(2), "a higher epoch");
        assert!(
            !a.is_actor(t(0.0) + LEASE - a.margin()),
            "a stopped before b began"
        );
        assert_eq!(b.next_takeover(), None, "b holds every item");
    }

    #[test]
    fn a_live_holder_is_never_taken_over_and_never_overlaps() {
        // Both run rounds; `a` holds. Check at every instant that at most one acts.
        let mut tables = Tables::new(3);
        let mut a = lease("a");
        let mut b = lease("b");
        let step = Duration::from_millis(500);
        for k in 0..200u32 {
            let now = t(0.0) + k * step;
            // `a` pauses (a GC, SIGSTOP) between 30 s and 45 s, then resumes.
            let a_runs = !(60..90).contains(&k);
            if a_runs && k % 4 == 0 {
                run(&mut a, &mut tables, &[true; 3], now);
            }
            if k % 4 == 2 {
                run(&mut b, &mut tables, &[true; 3], now);
            }
            let a_acts = a_runs && a.is_actor(now);
            assert!(!(a_acts && b.is_actor(now)), "two actors at {now:?}");
        }
        assert!(
            b.is_actor(t(0.0) + 199 * step),
            "b took over during the pause and kept it"
        );
        assert!(b.epoch() > Some(1));
    }

    #[test]
    fn one_control_table_down_changes_nothing_two_let_the_lease_run_out() {
        let mut tables = Tables::new(3);
        let mut a = lease("a");
        run(&mut a, &mut tables, &[true; 3], t(0.0));
        let t1 = t(0.0) + a.round();
        run(&mut a, &mut tables, &[true, false, true], t1);
        assert!(a.is_actor(t1), "2 of 3 is a majority");
        let t2 = t1 + a.round();
        run(&mut a, &mut tables, &[true, false, false], t2);
        assert!(
            a.is_actor(t2),
            "a round without a majority does not depose at once"
        );
        assert!(
            !a.is_actor(t1 + LEASE - a.margin()),
            "the lease of t1 runs out"
        );
    }

    /// Interleaving 8: an SDK retry of a renewal that had landed fails its condition;
    /// the round misses its majority, and the instance used to stop renewing its own
    /// items for ever (a lone survivor never became the actor again).
    #[test]
    fn a_lone_instance_that_missed_a_round_renews_its_own_items_again() {
        let mut tables = Tables::new(3);
        let mut a = lease("a");
        run(&mut a, &mut tables, &[true; 3], t(0.0));
        // Round at 2 s: two renewals land, but their replies are lost (the SDK retries
        // and the retry fails its condition): `a` learns of one success only.
        let now = t(2.0);
        let reads: Vec<Option<Read>> = tables
            .0
            .iter()
            .map(|r| {
                Some(Read {
                    record: r.clone(),
                    at: now,
                })
            })
            .collect();
        let writes = a.plan(&reads, now);
        let mut done = Vec::new();
        for (i, w) in &writes {
            let v = tables.apply(*i, "a", w).unwrap();
            if *i == 0 {
                done.push((*i, v));
            }
        }
        a.settle(now, &done);
        // Its lease runs out; it must not stay locked out of its own items.
        let mut now = now;
        for _ in 0..10 {
            now = now + a.round();
            run(&mut a, &mut tables, &[true; 3], now);
        }
        assert!(a.is_actor(now), "the lone instance is the actor again");
        assert_eq!(a.epoch(), Some(1));
    }

    /// Interleaving 9: releasing used to delete the items, so the next holder started at
    /// epoch 1 again and its switch records were refused by `epoch <= :e`.
    #[test]
    fn a_release_keeps_the_epoch_and_frees_the_items_at_once() {
        let mut tables = Tables::new(3);
        let mut a = lease("a");
        let mut b = lease("b");
        let mut now = t(0.0);
        for _ in 0..3 {
            run(&mut a, &mut tables, &[true; 3], now);
            run(&mut b, &mut tables, &[true; 3], now);
            now = now + a.round();
        }
        assert_eq!(a.epoch(), Some(1));
        for (i, w) in a.release() {
            tables.apply(i, "a", &w).unwrap();
        }
        assert!(!a.is_actor(now));
        assert!(tables.0.iter().all(|r| r.as_ref().unwrap().is_released()));
        run(&mut b, &mut tables, &[true; 3], now);
        assert!(b.is_actor(now), "a released item is taken at once");
        assert_eq!(
            b.epoch(),
            Some(2),
            "the epoch goes on from the released one"
        );
    }

    /// Interleaving 11: the takeover clock used to start when the round began, before
    /// the read was even sent; a read delayed in flight proves nothing about that time.
    #[test]
    fn the_takeover_clock_starts_when_the_read_comes_back() {
        let mut tables = Tables::new(3);
        let mut a = lease("a");
        let mut b = lease("b");
        run(&mut a, &mut tables, &[true; 3], t(0.0));
        // b's round starts at 0.1 s, but its reads come back at 2.0 s (delayed), showing
        // a's renewal of 1.9 s.
        run(&mut a, &mut tables, &[true; 3], t(1.9));
        let reads: Vec<Option<Read>> = tables
            .0
            .iter()
            .map(|r| {
                Some(Read {
                    record: r.clone(),
                    at: t(2.0),
                })
            })
            .collect();
        assert!(b.plan(&reads, t(0.1)).is_empty());
        // a dies. At 0.1 s + lease b must not take over: the record was first seen at 2.0.
        let reads: Vec<Option<Read>> = tables
            .0
            .iter()
            .map(|r| {
                Some(Read {
                    record: r.clone(),
                    at: t(6.2),
                })
            })
            .collect();
        assert!(
            b.plan(&reads, t(6.2)).is_empty(),
            "a's lease from 1.9 s is still valid"
        );
        assert_eq!(b.next_takeover(), Some(t(2.0) + LEASE));
        assert!(a.is_actor(t(1.9) + LEASE - a.margin() - Duration::from_millis(1)));
    }

    #[test]
    fn a_restarted_instance_takes_its_old_items_over_after_a_lease() {
        let mut tables = Tables::new(3);
        let mut old = lease("a");
        run(&mut old, &mut tables, &[true; 3], t(0.0));
        let mut new = lease("a");
        let mut now = t(0.5);
        while !new.is_actor(now) {
            run(&mut new, &mut tables, &[true; 3], now);
            if new.is_actor(now) {
                break;
            }
            now = now + Duration::from_millis(250);
            assert!(now < t(10.0), "never took over");
        }
        assert!(
            now >= t(0.5) + LEASE && now <= t(0.5) + LEASE + Duration::from_millis(250),
            "{now:?}"
        );
        assert_eq!(new.epoch(), Some(2));
    }

    #[test]
    fn two_minorities_resolve_to_the_higher_epoch() {
        // a holds table 0, b holds table 1 (a higher epoch), table 2 is gone for good.
        let mut tables = Tables::new(3);
        tables.0[0] = Some(Record {
            holder: "a".into(),
            epoch: 3,
            version: 1,
            addr: String::new(),
        });
        tables.0[1] = Some(Record {
            holder: "b".into(),
            epoch: 4,
            version: 1,
            addr: String::new(),
        });
        let mut a = lease("a");
        let mut b = lease("b");
        a.epoch = Some(3);
        a.claimed.push(3);
        b.epoch = Some(4);
        b.claimed.push(4);
        let up = [true, true, false];
        let mut now = t(0.0);
        for _ in 0..30 {
            run(&mut a, &mut tables, &up, now);
            run(&mut b, &mut tables, &up, now);
            assert!(!(a.is_actor(now) && b.is_actor(now)));
            now = now + a.round();
        }
        assert!(b.is_actor(now), "the higher epoch ends up with both items");
        assert!(!a.is_actor(now));
    }

    #[test]
    fn the_actor_is_whoever_holds_a_majority() {
        let rec = |holder: &str, epoch, version| {
            Some(Read {
                record: Some(Record {
                    holder: holder.into(),
                    epoch,
                    version,
                    addr: String::new(),
                }),
                at: t(0.0),
            })
        };
        let mut l = lease("c");
        l.plan(&[rec("a", 4, 9), rec("a", 4, 7), rec("b", 3, 2)], t(0.0));
        assert_eq!(l.actor().map(|r| r.holder.as_str()), Some("a"));
        l.plan(&[rec("a", 4, 9), rec("b", 5, 1), rec("c", 6, 1)], t(0.0));
        assert_eq!(l.actor(), None);
        l.plan(&[rec("", 4, 9), rec("", 4, 8), rec("c", 6, 1)], t(0.0));
        assert_eq!(l.actor(), None, "released items hold no lease");
    }
}
