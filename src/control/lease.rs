//! The actor's lease, decided without trusting clocks across hosts (pure; the caller
//! passes its own monotonic time and does the DynamoDB IO).
//!
//! The lease is one item in each control table: holder, epoch, and a record version
//! that every renewal bumps. An instance is the actor while it holds the item in a
//! majority of the tables. It renews every round with a conditional write on the
//! version it last wrote; another instance takes an item over only after it has seen
//! the same (epoch, version) unchanged for a whole lease period by its *own* clock (the
//! DynamoDB lock client's rule). The holder stops acting a safety margin before a lease
//! period has passed since the start of its last successful round, so a takeover can
//! never overlap its actions:
//!
//! - a renewal written in a round that started at R is first seen at or after R, so no
//!   one can take that item over before R + lease;
//! - the holder acts only until R + lease - margin.
//!
//! Epochs strictly increase: a new holder writes one more than the highest epoch it
//! read, and any two majorities share a table, so it read its predecessor's.

use std::time::{Duration, Instant};

/// The lease item of one control table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub holder: String,
    pub epoch: u64,
    pub version: u64,
    /// The holder's API address, for forwarding drains and restores.
    pub addr: String,
}

/// A conditional write to one table's lease item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// The item does not exist: create it (`attribute_not_exists`).
    Create { epoch: u64 },
    /// Renew my own item: `version` must still be `expect`; it becomes `expect + 1`.
    Renew { epoch: u64, expect: u64 },
    /// Take over an item left unchanged for a lease period: `epoch` and `version` must
    /// still be `expect_*`.
    TakeOver {
        expect_epoch: u64,
        expect_version: u64,
        epoch: u64,
    },
}

/// What one table's item looked like, and since when (by this instance's clock).
#[derive(Debug, Clone)]
struct Seen {
    record: Record,
    since: Instant,
}

#[derive(Debug)]
pub struct Lease {
    me: String,
    duration: Duration,
    seen: Vec<Option<Seen>>,
    /// My epoch while I hold (or am taking) the lease.
    epoch: Option<u64>,
    /// The start of the last round in which I held a majority.
    held_from: Option<Instant>,
    /// The versions I hold, per table, after the last round.
    mine: Vec<Option<u64>>,
}

impl Lease {
    pub fn new(me: impl Into<String>, tables: usize, duration: Duration) -> Lease {
        Lease {
            me: me.into(),
            duration,
            seen: vec![None; tables],
            epoch: None,
            held_from: None,
            mine: vec![None; tables],
        }
    }

    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// How often to run a round: three renewals per lease period.
    pub fn round(&self) -> Duration {
        self.duration / 3
    }

    /// Acting ends this long before the lease could be taken over.
    pub fn margin(&self) -> Duration {
        self.duration / 3
    }

    fn majority(&self) -> usize {
        self.seen.len() / 2 + 1
    }

    /// Whether this instance may act at `now`.
    pub fn is_actor(&self, now: Instant) -> bool {
        self.held_from
            .is_some_and(|from| now < from + self.duration - self.margin())
    }

    /// My epoch while I am the actor.
    pub fn epoch(&self) -> Option<u64> {
        self.epoch.filter(|_| self.held_from.is_some())
    }

    /// The writes of a round that started at `now`, given what each table holds
    /// (`None` for a table that could not be read, `Some(None)` for no lease item).
    pub fn plan(&mut self, read: &[Option<Option<Record>>], now: Instant) -> Vec<(usize, Write)> {
        for (slot, r) in self.seen.iter_mut().zip(read) {
            match r {
                None => {} // unreadable: keep what was seen
                Some(None) => *slot = None,
                Some(Some(rec)) => {
                    let same = slot.as_ref().is_some_and(|s| {
                        s.record.epoch == rec.epoch
                            && s.record.version == rec.version
                            && s.record.holder == rec.holder
                    });
                    if !same {
                        *slot = Some(Seen {
                            record: rec.clone(),
                            since: now,
                        });
                    }
                }
            }
        }
        let held_last_round = self.held_from.is_some();
        let highest = self
            .seen
            .iter()
            .flatten()
            .map(|s| s.record.epoch)
            .chain(self.epoch)
            .max()
            .unwrap_or(0);
        // Renewing keeps my epoch; gaining the lease anew takes a higher one.
        let epoch = match self.epoch {
            Some(e) if held_last_round => e,
            _ => highest + 1,
        };
        let mut writes = Vec::new();
        for (i, r) in read.iter().enumerate() {
            let Some(r) = r else { continue };
            match r {
                None => writes.push((i, Write::Create { epoch })),
                Some(rec) if rec.holder == self.me && Some(rec.epoch) == self.epoch => {
                    // Mine: renewed only while I hold a majority; a minority I hold
                    // is left to expire, so the majority's holder can take it.
                    if held_last_round {
                        writes.push((
                            i,
                            Write::Renew {
                                epoch: rec.epoch,
                                expect: rec.version,
                            },
                        ));
                    }
                }
                Some(rec) => {
                    let unchanged_for = self.seen[i]
                        .as_ref()
                        .map_or(Duration::ZERO, |s| now.saturating_duration_since(s.since));
                    if unchanged_for >= self.duration {
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
        if !writes.is_empty() && self.epoch != Some(epoch) {
            self.epoch = Some(epoch);
        }
        writes
    }

    /// Records which writes of the round that started at `round_start` succeeded (with
    /// the version each left), and whether that makes a majority.
    pub fn settle(&mut self, round_start: Instant, done: &[(usize, u64)]) {
        self.mine = vec![None; self.seen.len()];
        for &(i, version) in done {
            if let Some(slot) = self.mine.get_mut(i) {
                *slot = Some(version);
            }
        }
        let held = self.mine.iter().flatten().count();
        if held >= self.majority() {
            self.held_from = Some(round_start);
        } else {
            self.held_from = None;
        }
    }

    /// Forgets the lease (after releasing it, or on losing it).
    pub fn drop_lease(&mut self) {
        self.held_from = None;
        self.mine = vec![None; self.seen.len()];
    }

    /// The actor as the tables tell it: the holder of a majority of the items, if any.
    pub fn actor(&self) -> Option<&Record> {
        let records: Vec<&Record> = self.seen.iter().flatten().map(|s| &s.record).collect();
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

    fn rec(holder: &str, epoch: u64, version: u64) -> Option<Option<Record>> {
        Some(Some(Record {
            holder: holder.into(),
            epoch,
            version,
            addr: format!("http://{holder}"),
        }))
    }

    /// Applies a round's writes to the tables as DynamoDB would (conditions checked).
    fn run(
        lease: &mut Lease,
        me: &str,
        tables: &mut [Option<Record>],
        up: &[bool],
        now: Instant,
    ) -> Vec<(usize, Write)> {
        let read: Vec<Option<Option<Record>>> = tables
            .iter()
            .zip(up)
            .map(|(t, u)| u.then(|| t.clone()))
            .collect();
        let writes = lease.plan(&read, now);
        let mut done = Vec::new();
        for (i, w) in &writes {
            if !up[*i] {
                continue;
            }
            let t = &mut tables[*i];
            let new = match (w, &t) {
                (Write::Create { epoch }, None) => Some((*epoch, 1)),
                (Write::Renew { epoch, expect }, Some(r))
                    if r.holder == me && r.version == *expect && r.epoch == *epoch =>
                {
                    Some((*epoch, expect + 1))
                }
                (
                    Write::TakeOver {
                        expect_epoch,
                        expect_version,
                        epoch,
                    },
                    Some(r),
                ) if r.epoch == *expect_epoch && r.version == *expect_version => {
                    Some((*epoch, expect_version + 1))
                }
                _ => None,
            };
            if let Some((epoch, version)) = new {
                *t = Some(Record {
                    holder: me.into(),
                    epoch,
                    version,
                    addr: format!("http://{me}"),
                });
                done.push((*i, version));
            }
        }
        lease.settle(now, &done);
        writes
    }

    #[test]
    fn the_first_instance_takes_empty_tables_and_keeps_renewing() {
        let t0 = Instant::now();
        let mut tables = vec![None, None, None];
        let mut a = Lease::new("a", 3, LEASE);
        run(&mut a, "a", &mut tables, &[true; 3], t0);
        assert!(a.is_actor(t0));
        assert_eq!(a.epoch(), Some(1));
        for k in 1..10 {
            let now = t0 + k * a.round();
            run(&mut a, "a", &mut tables, &[true; 3], now);
            assert!(a.is_actor(now), "renewed round {k}");
        }
        assert_eq!(tables[0].as_ref().unwrap().version, 10);
        assert_eq!(a.epoch(), Some(1), "renewals keep the epoch");
    }

    #[test]
    fn a_waiting_instance_takes_over_only_after_a_full_unchanged_lease() {
        let t0 = Instant::now();
        let mut tables = vec![None, None, None];
        let mut a = Lease::new("a", 3, LEASE);
        let mut b = Lease::new("b", 3, LEASE);
        run(&mut a, "a", &mut tables, &[true; 3], t0);
        // `a` dies right after its round at t0. `b` first looks at t0 + 1 s.
        let mut now = t0 + Duration::from_secs(1);
        let mut took = None;
        while now < t0 + Duration::from_secs(20) {
            run(&mut b, "b", &mut tables, &[true; 3], now);
            if b.is_actor(now) {
                took = Some(now);
                break;
            }
            now += b.round();
        }
        let took = took.expect("b takes over");
        assert!(
            took >= t0 + Duration::from_secs(1) + LEASE,
            "not before it saw the record unchanged for a lease: {:?}",
            took - t0
        );
        assert!(took <= t0 + Duration::from_secs(1) + LEASE + b.round());
        assert_eq!(b.epoch(), Some(2), "a higher epoch");
        assert!(
            !a.is_actor(t0 + LEASE - a.margin()),
            "a stopped before b began"
        );
    }

    #[test]
    fn a_live_holder_is_never_taken_over_and_never_overlaps() {
        // Both run rounds; `a` holds. Check at every instant that at most one acts.
        let t0 = Instant::now();
        let mut tables = vec![None, None, None];
        let mut a = Lease::new("a", 3, LEASE);
        let mut b = Lease::new("b", 3, LEASE);
        let step = Duration::from_millis(500);
        for k in 0..200u32 {
            let now = t0 + k * step;
            // `a` pauses (a GC, SIGSTOP) between 30 s and 45 s, then resumes.
            let a_runs = !(60..90).contains(&k);
            if a_runs && k % 4 == 0 {
                run(&mut a, "a", &mut tables, &[true; 3], now);
            }
            if k % 4 == 2 {
                run(&mut b, "b", &mut tables, &[true; 3], now);
            }
            let a_acts = a_runs && a.is_actor(now);
            assert!(!(a_acts && b.is_actor(now)), "two actors at {:?}", now - t0);
        }
        assert!(
            b.is_actor(t0 + 199 * step),
            "b took over during the pause and kept it"
        );
        assert!(b.epoch() > Some(1));
    }

    #[test]
    fn one_control_table_down_changes_nothing_two_stop_the_actor() {
        let t0 = Instant::now();
        let mut tables = vec![None, None, None];
        let mut a = Lease::new("a", 3, LEASE);
        run(&mut a, "a", &mut tables, &[true; 3], t0);
        let t1 = t0 + a.round();
        run(&mut a, "a", &mut tables, &[true, false, true], t1);
        assert!(a.is_actor(t1), "2 of 3 is a majority");
        let t2 = t1 + a.round();
        run(&mut a, "a", &mut tables, &[true, false, false], t2);
        assert!(!a.is_actor(t2), "1 of 3 is not");
    }

    #[test]
    fn the_actor_is_whoever_holds_a_majority() {
        let t0 = Instant::now();
        let mut l = Lease::new("c", 3, LEASE);
        l.plan(&[rec("a", 4, 9), rec("a", 4, 7), rec("b", 3, 2)], t0);
        assert_eq!(l.actor().map(|r| r.holder.as_str()), Some("a"));
        l.plan(&[rec("a", 4, 9), rec("b", 5, 1), rec("c", 6, 1)], t0);
        assert_eq!(l.actor(), None);
    }
}
