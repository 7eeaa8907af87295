//! The failback gate: whether a region's DynamoDB replicas have caught up enough for
//! it to take traffic again (pure, the clock passed in).
//!
//! A region returns to service (automatically, or by `restore` without `--force`) only
//! when a reading taken after it went out, and at most `max_age` old, shows for every
//! table replicated into it:
//! - its replica there is `ACTIVE`;
//! - CloudWatch's `AWS/DynamoDB ReplicationLatency` into it (the highest over the
//!   source regions) below `max_lag` in every period of the `settle` before the
//!   reading;
//! - wherever a source region took writes in a period (`ConsumedWriteCapacityUnits`),
//!   that source's latency point for the period, and not 0: missing or zero data while
//!   writes are being replicated counts as unknown (AWS's checklist for global tables
//!   treats 0 as possibly stalled), and unknown holds the region.
//!
//! A period without writes needs no point: DynamoDB publishes `ReplicationLatency`
//! only while it replicates. A source whose CloudWatch could not be read holds the
//! region too, unless that source is itself out of service (it takes no writes, and
//! waiting for it would hold this region as long as it is dark).

use std::time::{Duration, SystemTime};

use serde::Serialize;

/// `[failback]`: the gate's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub max_lag: Duration,
    pub settle: Duration,
    /// How old a reading may be before it says nothing (`replication::max_age`).
    pub max_age: Duration,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            max_lag: Duration::from_secs(5),
            settle: Duration::from_secs(120),
            max_age: Duration::from_secs(125),
        }
    }
}

/// What a flip of `kind` (`Recovery::kind`) measures from: its first evidence.
pub fn evidence(kind: &str) -> &'static str {
    match kind {
        "failover" => "the first failed probe",
        "failback" => "the first good probe",
        _ => "the request",
    }
}

/// The recovery figures of one flip (`geoplan_recovery_*` metrics, events, status).
#[derive(Debug, Clone, PartialEq)]
pub struct Recovery {
    /// `failover`, `drain`, `failback` or `restore`.
    pub kind: &'static str,
    pub at: SystemTime,
    /// Take-outs: from the first failed probe (or the drain request) to the switch
    /// confirmed.
    pub recovery_time: Option<Duration>,
    /// Take-outs: from the first failed probe (or the drain request) to the moment
    /// Route 53's answer for the record names no longer held the region, when DNS
    /// answers are observable (the region was in the answer before).
    pub dns_time: Option<Duration>,
    /// Take-outs: how the DNS watch ended (`left`, `stayed`, `unobservable`); `None`
    /// while it runs.
    pub dns_outcome: Option<&'static str>,
    /// Take-outs: each table's newest replication lag out of the region at that
    /// moment, with its age: the writes it may not have passed on.
    pub recovery_point: Vec<TableLag>,
    /// Replicated tables reach the region: an empty recovery point is unknown (not read
    /// yet), not nothing.
    pub replicated: bool,
    /// Put-backs: how long the region was out of service.
    pub out_for: Option<Duration>,
    /// Put-backs: how long the failback gate held it.
    pub held_for: Option<Duration>,
}

/// One CloudWatch period of one table replicating into a region.
#[derive(Debug, Clone, PartialEq)]
pub struct Period {
    pub start: SystemTime,
    /// The highest `ReplicationLatency` into the region over the source regions, in
    /// seconds; `None` when no source published a point for the period.
    pub lag: Option<f64>,
    /// Write capacity consumed in the source regions during the period.
    pub writes: f64,
    /// A source region that took writes in the period without a latency point (or
    /// with 0) for it: unknown, whatever the other sources say.
    pub stalled: Option<String>,
}

/// One table as read for a region.
#[derive(Debug, Clone, PartialEq)]
pub struct TableReading {
    pub table: String,
    /// The replica's status in the region (`ACTIVE`, `UPDATING`, …), or why it could
    /// not be read.
    pub replica: Result<String, String>,
    /// The periods read, oldest first, from the sources that could be read.
    pub periods: Vec<Period>,
    /// The source regions whose CloudWatch could not be read, and why.
    pub unread: Vec<(String, String)>,
}

/// What the replication watcher read for one region.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// When the read started: it says nothing of later moments.
    pub at: SystemTime,
    /// The start of the oldest period asked for.
    pub from: SystemTime,
    pub period: Duration,
    pub tables: Vec<TableReading>,
}

/// What one round of the replication watcher read for a region: replication into it
/// (for the gate), and the newest lag of each table out of it (for the recovery point
/// of a take-out).
#[derive(Debug, Clone, PartialEq)]
pub struct RegionReplication {
    pub inbound: Reading,
    pub outbound: Vec<TableLag>,
}

/// A round, by region.
pub type Round = std::collections::BTreeMap<String, RegionReplication>;

/// Why the gate holds a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Why {
    /// A replica is not `ACTIVE`.
    NotActive,
    /// A table's lag reached `max_lag` within the settle time.
    Lagging,
    /// Not known: no reading, a failed or stale one, or writes without latency data.
    Unknown,
}

impl Why {
    pub fn as_str(self) -> &'static str {
        match self {
            Why::NotActive => "not-active",
            Why::Lagging => "lagging",
            Why::Unknown => "unknown",
        }
    }
}

/// The gate's answer for a region.
#[derive(Debug, Clone, PartialEq)]
pub enum Gate {
    Open,
    Held { why: Why, message: String },
}

impl Gate {
    pub fn is_open(&self) -> bool {
        matches!(self, Gate::Open)
    }
}

/// A table's newest lag, for status, events and metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableLag {
    pub table: String,
    /// Seconds; `None` when no point was read.
    pub lag_seconds: Option<f64>,
    /// How old the point is (from the end of its period to the reading).
    pub age_seconds: Option<f64>,
}

impl TableLag {
    /// The same point, `later` seconds older.
    pub fn aged(&self, later: f64) -> TableLag {
        TableLag {
            age_seconds: self.age_seconds.map(|a| a + later),
            ..self.clone()
        }
    }
}

impl RegionReplication {
    /// Keeps `old`'s lag out of the region for each table this round could not read
    /// it for (that region's CloudWatch failing with it), aged by the time between
    /// the two readings: the recovery point of a take-out wants the last good one.
    pub fn keep_last_outbound(&mut self, old: &RegionReplication) {
        let later = self
            .inbound
            .at
            .duration_since(old.inbound.at)
            .unwrap_or_default()
            .as_secs_f64();
        for lag in self.outbound.iter_mut().filter(|l| l.lag_seconds.is_none()) {
            if let Some(prev) = old.outbound.iter().find(|p| p.table == lag.table) {
                *lag = prev.aged(later);
            }
        }
    }
}

/// The gate for `region` at `now`: it went out at `out_since`, and `out` are the
/// regions out of service now.
pub fn gate(
    region: &str,
    reading: Option<&Reading>,
    policy: &Policy,
    now: SystemTime,
    out_since: Option<SystemTime>,
    out: &[&str],
) -> Gate {
    let unknown = |message: String| Gate::Held {
        why: Why::Unknown,
        message,
    };
    let Some(reading) = reading else {
        return unknown(format!("replication into {region} has not been read yet"));
    };
    if out_since.is_some_and(|since| reading.at < since) {
        return unknown(format!(
            "replication into {region} has not been read since it went out"
        ));
    }
    let age = now.duration_since(reading.at).unwrap_or_default();
    if age > policy.max_age {
        return unknown(format!(
            "the last reading of replication into {region} is {} s old",
            age.as_secs()
        ));
    }
    for t in &reading.tables {
        match &t.replica {
            Ok(status) if status == "ACTIVE" => {}
            Ok(status) => {
                return Gate::Held {
                    why: Why::NotActive,
                    message: format!("the replica of {} in {region} is {status}", t.table),
                };
            }
            Err(e) => {
                return unknown(format!(
                    "the replica of {} in {region} could not be read: {e}",
                    t.table
                ));
            }
        }
    }
    // The settle time before the reading: what it saw.
    let window = reading
        .at
        .checked_sub(policy.settle)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    if reading.from > window {
        return unknown(format!(
            "the reading of replication into {region} covers less than the settle time ({} s)",
            policy.settle.as_secs()
        ));
    }
    let max = policy.max_lag.as_secs_f64();
    let mut worst: Option<(f64, &str)> = None;
    for t in &reading.tables {
        if let Some((source, e)) = t.unread.iter().find(|(s, _)| !out.contains(&s.as_str())) {
            return unknown(format!(
                "ReplicationLatency of {} from {source} could not be read: {e}",
                t.table
            ));
        }
        // A period counts when any of it lies in the window.
        for p in t
            .periods
            .iter()
            .filter(|p| p.start + reading.period > window)
        {
            if let Some(source) = &p.stalled {
                return unknown(format!(
                    "{} took writes in {source} while its ReplicationLatency into {region} shows none or 0 (unknown: it may have stalled)",
                    t.table
                ));
            }
            if let Some(lag) = p.lag.filter(|l| *l >= max)
                && worst.is_none_or(|(w, _)| lag > w)
            {
                worst = Some((lag, &t.table));
            }
        }
    }
    match worst {
        Some((lag, table)) => Gate::Held {
            why: Why::Lagging,
            message: format!(
                "replication of {table} into {region} lagged {lag:.1} s within the last {} s (limit {} s)",
                policy.settle.as_secs(),
                fmt_secs(policy.max_lag)
            ),
        },
        None => Gate::Open,
    }
}

/// The newest lag of each table in a reading.
pub fn lags(reading: &Reading) -> Vec<TableLag> {
    reading
        .tables
        .iter()
        .map(|t| {
            let newest = t
                .periods
                .iter()
                .rev()
                .find_map(|p| p.lag.map(|l| (p.start, l)));
            TableLag {
                table: t.table.clone(),
                lag_seconds: newest.map(|(_, l)| l),
                age_seconds: newest.map(|(start, _)| {
                    reading
                        .at
                        .duration_since(start + reading.period)
                        .unwrap_or_default()
                        .as_secs_f64()
                }),
            }
        })
        .collect()
}

fn fmt_secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}", s as u64)
    } else {
        format!("{s}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + s)
    }

    const POLICY: Policy = Policy {
        max_lag: Duration::from_secs(5),
        settle: Duration::from_secs(120),
        max_age: Duration::from_secs(180),
    };

    /// A reading at `at` of one table with 60 s periods from `at - 300`, each given
    /// as (lag, writes).
    fn reading(at: u64, periods: &[(Option<f64>, f64)]) -> Reading {
        let from = at - 300;
        Reading {
            at: t(at),
            from: t(from),
            period: Duration::from_secs(60),
            tables: vec![TableReading {
                table: "carts".into(),
                replica: Ok("ACTIVE".into()),
                periods: periods
                    .iter()
                    .enumerate()
                    .map(|(i, (lag, writes))| Period {
                        start: t(from + 60 * i as u64),
                        lag: *lag,
                        writes: *writes,
                        // One source, us-east-1: writes without a point (or with 0).
                        stalled: (*writes > 0.0 && lag.is_none_or(|l| l == 0.0))
                            .then(|| "us-east-1".to_owned()),
                    })
                    .collect(),
                unread: Vec::new(),
            }],
        }
    }

    fn why(g: Gate) -> Option<Why> {
        match g {
            Gate::Open => None,
            Gate::Held { why, .. } => Some(why),
        }
    }

    #[test]
    fn settled_low_lag_opens_the_gate() {
        let r = reading(1000, &[(Some(0.4), 3.0); 5]);
        assert_eq!(
            gate("eu-west-1", Some(&r), &POLICY, t(1000), None, &[]),
            Gate::Open
        );
    }

    #[test]
    fn no_reading_or_a_stale_one_is_unknown() {
        assert_eq!(
            why(gate("eu-west-1", None, &POLICY, t(1000), None, &[])),
            Some(Why::Unknown)
        );
        let r = reading(1000, &[(Some(0.4), 3.0); 5]);
        assert_eq!(
            why(gate("eu-west-1", Some(&r), &POLICY, t(1181), None, &[])),
            Some(Why::Unknown)
        );
        assert_eq!(
            why(gate("eu-west-1", Some(&r), &POLICY, t(1180), None, &[])),
            None
        );
    }

    #[test]
    fn high_lag_within_the_settle_time_holds_and_names_the_worst() {
        // Periods start at 700, 760, 820, 880, 940; the window at 1000 starts at 880.
        let r = reading(
            1000,
            &[
                (Some(30.0), 1.0),
                (Some(0.5), 1.0),
                (Some(0.5), 1.0),
                (Some(7.5), 1.0),
                (Some(0.5), 1.0),
            ],
        );
        match gate("eu-west-1", Some(&r), &POLICY, t(1000), None, &[]) {
            Gate::Held { why, message } => {
                assert_eq!(why, Why::Lagging);
                assert!(message.contains("lagged 7.5 s"), "{message}");
                assert!(message.contains("limit 5 s"), "{message}");
            }
            Gate::Open => panic!("held"),
        }
        // 30 s is older than the settle time: it does not count. Once 7.5 is too, open.
        let mut later = r.clone();
        later.at = t(1070);
        assert_eq!(
            gate("eu-west-1", Some(&later), &POLICY, t(1070), None, &[]),
            Gate::Open
        );
        // A lag exactly at the limit is not below it.
        let at_limit = reading(1000, &[(Some(5.0), 1.0); 5]);
        assert_eq!(
            why(gate(
                "eu-west-1",
                Some(&at_limit),
                &POLICY,
                t(1000),
                None,
                &[]
            )),
            Some(Why::Lagging)
        );
    }

    #[test]
    fn zero_or_missing_lag_with_writes_is_unknown_without_writes_is_fine() {
        let zero = reading(
            1000,
            &[
                (Some(0.4), 1.0),
                (Some(0.4), 1.0),
                (Some(0.4), 1.0),
                (Some(0.0), 2.0),
                (Some(0.4), 1.0),
            ],
        );
        assert_eq!(
            why(gate("eu-west-1", Some(&zero), &POLICY, t(1000), None, &[])),
            Some(Why::Unknown)
        );
        let missing = reading(
            1000,
            &[
                (Some(0.4), 1.0),
                (Some(0.4), 1.0),
                (Some(0.4), 1.0),
                (Some(0.4), 1.0),
                (None, 2.0),
            ],
        );
        match gate("eu-west-1", Some(&missing), &POLICY, t(1000), None, &[]) {
            Gate::Held { why, message } => {
                assert_eq!(why, Why::Unknown);
                assert!(message.contains("none or 0"), "{message}");
            }
            Gate::Open => panic!("held"),
        }
        // No writes: nothing to replicate, so neither zero nor a missing point holds.
        let quiet = reading(
            1000,
            &[
                (None, 0.0),
                (None, 0.0),
                (Some(0.0), 0.0),
                (None, 0.0),
                (None, 0.0),
            ],
        );
        assert_eq!(
            gate("eu-west-1", Some(&quiet), &POLICY, t(1000), None, &[]),
            Gate::Open
        );
    }

    #[test]
    fn a_replica_not_active_or_unreadable_holds() {
        let mut r = reading(1000, &[(Some(0.4), 1.0); 5]);
        r.tables[0].replica = Ok("UPDATING".into());
        assert_eq!(
            why(gate("eu-west-1", Some(&r), &POLICY, t(1000), None, &[])),
            Some(Why::NotActive)
        );
        r.tables[0].replica = Err("timed out".into());
        assert_eq!(
            why(gate("eu-west-1", Some(&r), &POLICY, t(1000), None, &[])),
            Some(Why::Unknown)
        );
        let mut r = reading(1000, &[(Some(0.4), 1.0); 5]);
        r.tables[0].unread = vec![("ap-south-1".into(), "AccessDenied".into())];
        assert_eq!(
            why(gate("eu-west-1", Some(&r), &POLICY, t(1000), None, &[])),
            Some(Why::Unknown)
        );
        // A source out of service takes no writes: its dark CloudWatch holds nothing.
        assert_eq!(
            gate(
                "eu-west-1",
                Some(&r),
                &POLICY,
                t(1000),
                None,
                &["ap-south-1"]
            ),
            Gate::Open
        );
    }

    #[test]
    fn a_reading_shorter_than_the_settle_time_is_unknown() {
        let mut r = reading(1000, &[(Some(0.4), 1.0); 5]);
        r.from = t(1000 - 119);
        assert_eq!(
            why(gate("eu-west-1", Some(&r), &POLICY, t(1000), None, &[])),
            Some(Why::Unknown)
        );
    }

    #[test]
    fn lags_are_the_newest_point_with_its_age() {
        let r = reading(
            1000,
            &[
                (Some(1.0), 1.0),
                (Some(2.0), 1.0),
                (Some(3.0), 1.0),
                (Some(4.0), 1.0),
                (None, 0.0),
            ],
        );
        // The newest point is the period starting at 880, which ended at 940.
        assert_eq!(
            lags(&r),
            vec![TableLag {
                table: "carts".into(),
                lag_seconds: Some(4.0),
                age_seconds: Some(60.0),
            }]
        );
    }

    #[test]
    fn a_reading_from_before_the_region_went_out_says_nothing() {
        let r = reading(1000, &[(Some(0.4), 1.0); 5]);
        assert_eq!(
            why(gate(
                "eu-west-1",
                Some(&r),
                &POLICY,
                t(1010),
                Some(t(1001)),
                &[]
            )),
            Some(Why::Unknown)
        );
        assert_eq!(
            gate("eu-west-1", Some(&r), &POLICY, t(1010), Some(t(1000)), &[]),
            Gate::Open
        );
    }

    #[test]
    fn one_stalled_source_holds_whatever_the_others_say() {
        // Two sources: one shows 0.3 s, the other took writes and published nothing.
        let mut r = reading(1000, &[(Some(0.3), 2.0); 5]);
        r.tables[0].periods[4].stalled = Some("ap-south-1".into());
        match gate("eu-west-1", Some(&r), &POLICY, t(1000), None, &[]) {
            Gate::Held { why, message } => {
                assert_eq!(why, Why::Unknown);
                assert!(message.contains("took writes in ap-south-1"), "{message}");
            }
            Gate::Open => panic!("held"),
        }
    }

    #[test]
    fn the_settle_time_is_the_one_before_the_reading() {
        // Lag in the last period before the reading, judged 100 s later (within
        // max_age): still held, though `now - settle` would have passed it by.
        let r = reading(
            1000,
            &[
                (Some(0.4), 1.0),
                (Some(0.4), 1.0),
                (Some(0.4), 1.0),
                (Some(0.4), 1.0),
                (Some(9.0), 1.0),
            ],
        );
        assert_eq!(
            why(gate("eu-west-1", Some(&r), &POLICY, t(1100), None, &[])),
            Some(Why::Lagging)
        );
    }

    #[test]
    fn a_round_without_the_lag_out_keeps_the_last_one_aged() {
        let lag = |l: Option<f64>, age: Option<f64>| TableLag {
            table: "carts".into(),
            lag_seconds: l,
            age_seconds: age,
        };
        let round = |at: u64, out: TableLag| RegionReplication {
            inbound: reading(at, &[(Some(0.4), 1.0); 5]),
            outbound: vec![out],
        };
        let old = round(1000, lag(Some(1.5), Some(20.0)));
        let mut new = round(1060, lag(None, None));
        new.keep_last_outbound(&old);
        assert_eq!(new.outbound, vec![lag(Some(1.5), Some(80.0))]);
        // A new value wins over the old one.
        let mut fresh = round(1060, lag(Some(0.2), Some(5.0)));
        fresh.keep_last_outbound(&old);
        assert_eq!(fresh.outbound, vec![lag(Some(0.2), Some(5.0))]);
    }
}
