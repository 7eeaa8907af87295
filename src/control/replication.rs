//! Reads what the failback gate (`control::failback`) and the recovery point need, off
//! the controller's loop: each replicated table's replica status in every region
//! (`DescribeTable` there), and from CloudWatch in every source region the table's
//! `ReplicationLatency` into each other region and its `ConsumedWriteCapacityUnits`
//! (`GetMetricData`, one call per source region for all its tables, each bounded). A round
//! runs every `[failback] poll`, only while this instance reads Route 53 (the actor,
//! or one about to be), and is sent to the controller as `Input::Replication`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, FailbackSettings};
use crate::control::core::Input;
use crate::control::failback::{Period, Reading, RegionReplication, Round, TableLag, TableReading};

/// The longest a single call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// The CloudWatch period for a settle time: about a quarter of it, one of the periods
/// GetMetricData accepts for recent data (1, 5, 10, 30 s or 60 s).
pub fn period_for(settle: Duration) -> Duration {
    let quarter = settle.as_secs() / 4;
    let secs = [60, 30, 10, 5]
        .into_iter()
        .find(|p| quarter >= *p)
        .unwrap_or(1);
    Duration::from_secs(secs)
}

/// How old a reading may be when the gate is asked: two polls, then it is unknown.
pub fn max_age(settings: &FailbackSettings) -> Duration {
    settings.poll * 2 + CALL_TIMEOUT
}

pub struct Watcher {
    /// Replicated tables: name in AWS, regions.
    tables: Vec<(String, Vec<String>)>,
    dynamodb: BTreeMap<String, aws_sdk_dynamodb::Client>,
    cloudwatch: BTreeMap<String, aws_sdk_cloudwatch::Client>,
    settings: FailbackSettings,
}

impl Watcher {
    /// `None` when no table is replicated: the gate has nothing to wait for.
    pub async fn new(
        config: &Config,
        endpoint_url: Option<&str>,
        app: Option<&str>,
    ) -> Option<Watcher> {
        let tables = crate::deploy::model::replicated_tables(config);
        if tables.is_empty() {
            return None;
        }
        let mut dynamodb = BTreeMap::new();
        let mut cloudwatch = BTreeMap::new();
        for region in tables.iter().flat_map(|(_, r)| r) {
            if dynamodb.contains_key(region) {
                continue;
            }
            let sdk = crate::aws::sdk_config_for(region, endpoint_url, app).await;
            dynamodb.insert(region.clone(), aws_sdk_dynamodb::Client::new(&sdk));
            cloudwatch.insert(region.clone(), aws_sdk_cloudwatch::Client::new(&sdk));
        }
        Some(Watcher {
            tables,
            dynamodb,
            cloudwatch,
            settings: config.failback,
        })
    }

    /// The regions some replicated table reaches: the ones the gate applies to.
    pub fn regions(&self) -> Vec<String> {
        self.dynamodb.keys().cloned().collect()
    }

    pub async fn run(
        self,
        reads: Arc<AtomicBool>,
        outcomes: mpsc::UnboundedSender<Input>,
        cancel: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(self.settings.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {}
            }
            if !reads.load(Ordering::Relaxed) {
                continue;
            }
            let round = tokio::select! {
                _ = cancel.cancelled() => break,
                r = self.read(SystemTime::now()) => r,
            };
            if outcomes.send(Input::Replication(round)).is_err() {
                break;
            }
        }
    }

    /// One round at `at`: every call at once, each bounded.
    pub async fn read(&self, at: SystemTime) -> Round {
        let period = period_for(self.settings.settle);
        // The gate judges the settle time before the reading: that, and a period more
        // to align to, as CloudWatch aligns its points.
        let back = self.settings.settle + period;
        let from = align_down(
            at.checked_sub(back).unwrap_or(SystemTime::UNIX_EPOCH),
            period,
        );
        // One GetMetricData per source region (a page per 500 queries), every region
        // at once: each region's CloudWatch gets one request a round.
        let per_source =
            futures_util::future::join_all(self.cloudwatch.keys().map(|source| async move {
                (
                    source.as_str(),
                    self.metrics(source, from, at, period).await,
                )
            }))
            .await;
        let mut metrics: Metrics<'_> = BTreeMap::new();
        for (source, got) in per_source {
            for (table, regions) in &self.tables {
                if !regions.iter().any(|r| r == source) {
                    continue;
                }
                let one = match &got {
                    Ok(all) => Ok(all.get(table).cloned().unwrap_or_default()),
                    Err(e) => Err(e.clone()),
                };
                metrics.insert((table.as_str(), source), one);
            }
        }
        let statuses =
            futures_util::future::join_all(self.tables.iter().flat_map(|(table, regions)| {
                regions.iter().map(move |region| async move {
                    (
                        (table.as_str(), region.as_str()),
                        self.replica(table, region).await,
                    )
                })
            }))
            .await
            .into_iter()
            .collect::<BTreeMap<_, _>>();
        let mut round = Round::new();
        for region in self.dynamodb.keys() {
            let mut inbound = Vec::new();
            let mut outbound = Vec::new();
            for (table, regions) in self.tables.iter().filter(|(_, r)| r.contains(region)) {
                let replica = statuses[&(table.as_str(), region.as_str())].clone();
                let (periods, unread) = inbound_periods(table, region, regions, &metrics);
                inbound.push(TableReading {
                    table: table.clone(),
                    replica,
                    periods,
                    unread,
                });
                outbound.push(outbound_lag(table, region, &metrics, at, period));
            }
            round.insert(
                region.clone(),
                RegionReplication {
                    inbound: Reading {
                        at,
                        from,
                        period,
                        tables: inbound,
                    },
                    outbound,
                },
            );
        }
        round
    }

    async fn replica(&self, table: &str, region: &str) -> Result<String, String> {
        let client = &self.dynamodb[region];
        let call = client.describe_table().table_name(table).send();
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Err(_) => Err("DescribeTable timed out".into()),
            Ok(Err(e)) => Err(crate::aws::explain("DynamoDB", "DescribeTable", &e).summary),
            Ok(Ok(out)) => Ok(out
                .table()
                .and_then(|t| t.table_status())
                .map_or("UNKNOWN", |s| s.as_str())
                .to_owned()),
        }
    }

    /// CloudWatch in `source`: the table's writes there and its latency into each
    /// receiver, per period.
    /// CloudWatch in `source`: each table's writes there and its latency into each
    /// other region of the table, per period, by table.
    async fn metrics(
        &self,
        source: &str,
        from: SystemTime,
        to: SystemTime,
        period: Duration,
    ) -> Result<BTreeMap<String, SourceMetrics>, String> {
        let query = |id: String, name: &str, stat: &str, dims: Vec<Dimension>| {
            MetricDataQuery::builder()
                .id(id)
                .metric_stat(
                    MetricStat::builder()
                        .metric(
                            Metric::builder()
                                .namespace("AWS/DynamoDB")
                                .metric_name(name)
                                .set_dimensions(Some(dims))
                                .build(),
                        )
                        .period(period.as_secs() as i32)
                        .stat(stat)
                        .build(),
                )
                .return_data(true)
                .build()
        };
        let dim = |name: &str, value: &str| Dimension::builder().name(name).value(value).build();
        // Query ids: `w{t}` for table t's writes, `l{t}x{r}` for its lag into region r
        // (indices into `self.tables` and the table's regions).
        let mut queries = Vec::new();
        for (t, (table, regions)) in self.tables.iter().enumerate() {
            if !regions.iter().any(|r| r == source) {
                continue;
            }
            queries.push(query(
                format!("w{t}"),
                "ConsumedWriteCapacityUnits",
                "Sum",
                vec![dim("TableName", table)],
            ));
            for (r, receiver) in regions.iter().enumerate().filter(|(_, r)| *r != source) {
                queries.push(query(
                    format!("l{t}x{r}"),
                    "ReplicationLatency",
                    "Maximum",
                    vec![dim("TableName", table), dim("ReceivingRegion", receiver)],
                ));
            }
        }
        let mut got: BTreeMap<String, SourceMetrics> = BTreeMap::new();
        // GetMetricData takes at most 500 queries a request.
        for chunk in queries.chunks(500) {
            let mut token: Option<String> = None;
            loop {
                let call = self.cloudwatch[source]
                    .get_metric_data()
                    .start_time(DateTime::from(from))
                    .end_time(DateTime::from(to))
                    .set_metric_data_queries(Some(chunk.to_vec()))
                    .set_next_token(token.clone());
                let out = match tokio::time::timeout(CALL_TIMEOUT, call.send()).await {
                    Err(_) => {
                        return Err(format!("CloudWatch GetMetricData in {source} timed out"));
                    }
                    Ok(Err(e)) => {
                        return Err(
                            crate::aws::explain("CloudWatch", "GetMetricData", &e).summary
                                + &format!(" (in {source})"),
                        );
                    }
                    Ok(Ok(out)) => out,
                };
                for result in out.metric_data_results() {
                    self.fold(result, &mut got);
                }
                token = out.next_token().map(str::to_owned);
                if token.is_none() {
                    break;
                }
            }
        }
        Ok(got)
    }

    /// One query's points into the table they are of.
    fn fold(
        &self,
        result: &aws_sdk_cloudwatch::types::MetricDataResult,
        got: &mut BTreeMap<String, SourceMetrics>,
    ) {
        let points = result
            .timestamps()
            .iter()
            .zip(result.values())
            .filter_map(|(t, v)| SystemTime::try_from(*t).ok().map(|t| (t, *v)));
        let id = result.id().unwrap_or_default();
        let (t, receiver) = match id.strip_prefix('w') {
            Some(t) => (t.parse::<usize>().ok(), None),
            None => match id.strip_prefix('l').and_then(|rest| rest.split_once('x')) {
                Some((t, r)) => (t.parse::<usize>().ok(), r.parse::<usize>().ok()),
                None => (None, None),
            },
        };
        let Some((table, regions)) = t.and_then(|t| self.tables.get(t)) else {
            return;
        };
        let entry = got.entry(table.clone()).or_default();
        match receiver.and_then(|r| regions.get(r)) {
            // Milliseconds, as DynamoDB publishes it.
            Some(r) => entry
                .lag
                .entry(r.clone())
                .or_default()
                .extend(points.map(|(t, ms)| (t, ms / 1000.0))),
            None if id.starts_with('w') => entry.writes.extend(points),
            None => {}
        }
    }
}

/// What CloudWatch in one source region said of one table.
#[derive(Debug, Clone, Default)]
struct SourceMetrics {
    writes: Vec<(SystemTime, f64)>,
    /// Seconds, by receiving region.
    lag: BTreeMap<String, Vec<(SystemTime, f64)>>,
}

type Metrics<'a> = BTreeMap<(&'a str, &'a str), Result<SourceMetrics, String>>;

/// The periods of `table` into `region`: per period, the highest lag over the
/// sources, the writes they took, and the first source that took writes without a
/// latency point (or with 0) of its own; and the sources CloudWatch could not read.
fn inbound_periods(
    table: &str,
    region: &str,
    regions: &[String],
    metrics: &Metrics<'_>,
) -> (Vec<Period>, Vec<(String, String)>) {
    let mut periods: BTreeMap<SystemTime, Period> = BTreeMap::new();
    let mut unread = Vec::new();
    for source in regions.iter().filter(|s| *s != region) {
        let got = match &metrics[&(table, source.as_str())] {
            Ok(got) => got,
            Err(e) => {
                unread.push((source.clone(), e.clone()));
                continue;
            }
        };
        let lags = got.lag.get(region).map(Vec::as_slice).unwrap_or_default();
        for (start, lag) in lags {
            let p = period_at(&mut periods, *start);
            p.lag = Some(p.lag.map_or(*lag, |l: f64| l.max(*lag)));
        }
        for (start, writes) in got.writes.iter().filter(|(_, w)| *w > 0.0) {
            let own = lags.iter().find(|(t, _)| t == start).map(|(_, l)| *l);
            let p = period_at(&mut periods, *start);
            p.writes += writes;
            if own.is_none_or(|l| l <= 0.0) && p.stalled.is_none() {
                p.stalled = Some(source.clone());
            }
        }
    }
    (periods.into_values().collect(), unread)
}

fn period_at(periods: &mut BTreeMap<SystemTime, Period>, start: SystemTime) -> &mut Period {
    periods.entry(start).or_insert(Period {
        start,
        lag: None,
        writes: 0.0,
        stalled: None,
    })
}

/// The newest lag of `table` out of `region` into any other region (the highest at
/// that moment), with its age at `at`.
fn outbound_lag(
    table: &str,
    region: &str,
    metrics: &Metrics<'_>,
    at: SystemTime,
    period: Duration,
) -> TableLag {
    let newest = metrics[&(table, region)]
        .as_ref()
        .ok()
        .into_iter()
        .flat_map(|m| m.lag.values().flatten())
        .fold(None::<(SystemTime, f64)>, |best, &(t, l)| match best {
            Some((bt, bl)) if bt > t || (bt == t && bl >= l) => Some((bt, bl)),
            _ => Some((t, l)),
        });
    TableLag {
        table: table.to_owned(),
        lag_seconds: newest.map(|(_, l)| l),
        age_seconds: newest.map(|(t, _)| {
            at.duration_since(t + period)
                .unwrap_or_default()
                .as_secs_f64()
        }),
    }
}

fn align_down(t: SystemTime, period: Duration) -> SystemTime {
    let since = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let p = period.as_secs().max(1);
    SystemTime::UNIX_EPOCH + Duration::from_secs(since - since % p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_a_quarter_of_the_settle_time_as_cloudwatch_allows() {
        let s = Duration::from_secs;
        assert_eq!(period_for(s(120)), s(30));
        assert_eq!(period_for(s(600)), s(60));
        assert_eq!(period_for(s(3600)), s(60));
        assert_eq!(period_for(s(40)), s(10));
        assert_eq!(period_for(s(4)), s(1));
    }

    #[test]
    fn inbound_takes_the_highest_lag_and_sums_the_writes_of_every_source() {
        let t = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let regions: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let mut metrics: Metrics<'_> = BTreeMap::new();
        metrics.insert(
            ("carts", "a"),
            Ok(SourceMetrics {
                writes: vec![(t(60), 2.0)],
                lag: [("b".to_owned(), vec![(t(60), 0.5)])].into(),
            }),
        );
        metrics.insert(
            ("carts", "c"),
            Ok(SourceMetrics {
                writes: vec![(t(60), 1.0), (t(120), 4.0)],
                lag: [
                    ("b".to_owned(), vec![(t(60), 1.5)]),
                    ("a".to_owned(), vec![(t(60), 9.0)]),
                ]
                .into(),
            }),
        );
        metrics.insert(("carts", "b"), Err("unreachable".into()));
        let (got, unread) = inbound_periods("carts", "b", &regions, &metrics);
        assert_eq!(
            got,
            vec![
                Period {
                    start: t(60),
                    lag: Some(1.5),
                    writes: 3.0,
                    stalled: None,
                },
                // c took writes at 120 with no point of its own into b.
                Period {
                    start: t(120),
                    lag: None,
                    writes: 4.0,
                    stalled: Some("c".into()),
                },
            ]
        );
        assert!(unread.is_empty());
        // Into a: b's CloudWatch could not be read; c's writes at 120 have no point
        // into a either.
        let (got, unread) = inbound_periods("carts", "a", &regions, &metrics);
        assert_eq!(unread, vec![("b".to_owned(), "unreachable".to_owned())]);
        assert_eq!(got[0].stalled, None);
        assert_eq!(got[1].stalled, Some("c".into()));
        // Out of c: its newest point, the highest at that moment.
        let out = outbound_lag("carts", "c", &metrics, t(200), Duration::from_secs(60));
        assert_eq!((out.lag_seconds, out.age_seconds), (Some(9.0), Some(80.0)));
        assert_eq!(
            outbound_lag("carts", "b", &metrics, t(200), Duration::from_secs(60)).lag_seconds,
            None
        );
    }
}
