//! Several control-plane instances, coordinated through the control tables (one plain
//! DynamoDB table per control region) and nothing else: the actor's lease (`lease`
//! decides, this module reads and writes), every instance's verdicts from its own
//! vantage point, and why each switch is off, so that a new actor knows.
//!
//! One task runs a round every third of the lease: read the lease item of every table,
//! write what `Lease::plan` says (conditional writes), publish this instance's
//! verdicts, read everyone's. Every call has a deadline shorter than a round, so a
//! table that hangs costs one round, not the lease.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::control::failover::{Cause, Switch};
use crate::control::lease::{Lease, Record, Write};
use crate::control::verdict::Verdict;

/// The control tables, one client per control region.
#[derive(Clone)]
pub struct Tables {
    pub name: String,
    pub clients: Vec<(String, Client)>,
}

impl Tables {
    pub async fn connect(
        deployment: &str,
        regions: &[String],
        endpoint_url: Option<&str>,
    ) -> Tables {
        let mut clients = Vec::new();
        for r in regions {
            clients.push((r.clone(), crate::aws::dynamodb(r, endpoint_url).await));
        }
        Tables {
            name: crate::config::ControlSettings::table(deployment),
            clients,
        }
    }

    /// Writes a switch's state and cause to every table (best effort: a new actor reads
    /// the majority it can reach and keeps the newest by epoch).
    pub async fn save_switch(
        &self,
        region: &str,
        switch: &Switch,
        epoch: u64,
        instance: &str,
        deadline: Duration,
    ) {
        let mut item = HashMap::from([
            ("pk".to_owned(), s(&format!("switch#{region}"))),
            (
                "in_service".to_owned(),
                AttributeValue::Bool(switch.in_service),
            ),
            ("epoch".to_owned(), n(epoch)),
            ("instance".to_owned(), s(instance)),
            (
                "since_ms".to_owned(),
                n(millis(switch.since.unwrap_or_else(SystemTime::now))),
            ),
        ]);
        if let Some(c) = switch.cause {
            item.insert("cause".into(), s(c.as_str()));
        }
        if let Some(r) = &switch.reason {
            item.insert("reason".into(), s(r));
        }
        let writes = self.clients.iter().map(|(region_name, c)| {
            let put = c
                .put_item()
                .table_name(&self.name)
                .set_item(Some(item.clone()))
                // Never overwrite a newer actor's record with an older epoch's.
                .condition_expression("attribute_not_exists(pk) OR epoch <= :e")
                .expression_attribute_values(":e", n(epoch))
                .send();
            async move {
                if let Ok(Err(e)) | Err(e) = tokio::time::timeout(deadline, put)
                    .await
                    .map(|r| r.map(|_| ()).map_err(|e| e.to_string()))
                    .map_err(|_| "timed out".to_owned())
                {
                    tracing::warn!(table_region = %region_name, error = %e, "cannot record a switch in the control table");
                }
            }
        });
        futures_util::future::join_all(writes).await;
    }

    /// The newest recorded state of every switch across the reachable tables.
    pub async fn load_switches(&self, deadline: Duration) -> BTreeMap<String, (Switch, u64)> {
        let mut out: BTreeMap<String, (Switch, u64)> = BTreeMap::new();
        for items in self.scan("switch#", deadline).await {
            for item in items {
                let Some(region) =
                    get_s(&item, "pk").and_then(|p| p.strip_prefix("switch#").map(str::to_owned))
                else {
                    continue;
                };
                let epoch = get_n(&item, "epoch").unwrap_or(0);
                let switch = Switch {
                    in_service: matches!(item.get("in_service"), Some(AttributeValue::Bool(true))),
                    cause: get_s(&item, "cause").and_then(|c| Cause::parse(&c)),
                    reason: get_s(&item, "reason"),
                    since: get_n(&item, "since_ms")
                        .map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
                };
                if out.get(&region).is_none_or(|(_, e)| epoch > *e) {
                    out.insert(region, (switch, epoch));
                }
            }
        }
        out
    }

    /// Items whose key starts with `prefix`, per reachable table.
    async fn scan(
        &self,
        prefix: &str,
        deadline: Duration,
    ) -> Vec<Vec<HashMap<String, AttributeValue>>> {
        let scans = self.clients.iter().map(|(_, c)| {
            let call = c
                .scan()
                .table_name(&self.name)
                .consistent_read(true)
                .filter_expression("begins_with(pk, :p)")
                .expression_attribute_values(":p", s(prefix))
                .send();
            async move {
                match tokio::time::timeout(deadline, call).await {
                    Ok(Ok(out)) => Some(out.items().to_vec()),
                    _ => None,
                }
            }
        });
        futures_util::future::join_all(scans)
            .await
            .into_iter()
            .flatten()
            .collect()
    }
}

/// Another instance as this one sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Vantage {
    pub instance: String,
    pub addr: String,
    pub verdicts: BTreeMap<String, Verdict>,
    /// How long since its heartbeat last changed, by this instance's clock.
    pub silent_for: Duration,
    /// Heard from within a lease period: its verdicts count.
    pub fresh: bool,
}

/// The coordination state after the latest round.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// This instance may act until then.
    pub actor_until: Option<Instant>,
    pub epoch: Option<u64>,
    /// The actor as the tables tell it (possibly this instance).
    pub actor: Option<Record>,
    pub vantages: Vec<Vantage>,
    pub tables_reachable: usize,
    pub tables: usize,
    /// Leadership changes seen (this instance gaining or losing the lease).
    pub leadership_changes: u64,
    /// How long the last round's lease writes took.
    pub renew_latency: Option<Duration>,
}

impl View {
    pub fn is_actor(&self, now: Instant) -> bool {
        self.actor_until.is_some_and(|t| now < t)
    }
}

pub struct Coordinator {
    pub me: String,
    pub addr: String,
    pub tables: Tables,
    pub lease: Lease,
    /// This instance's verdicts, from the controller.
    pub verdicts: watch::Receiver<BTreeMap<String, Verdict>>,
    pub view: watch::Sender<View>,
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s(item: &HashMap<String, AttributeValue>, k: &str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}

fn get_n(item: &HashMap<String, AttributeValue>, k: &str) -> Option<u64> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

fn parse_verdict(s: &str) -> Option<Verdict> {
    [
        Verdict::Up,
        Verdict::Suspect,
        Verdict::Down,
        Verdict::Recovering,
    ]
    .into_iter()
    .find(|v| v.as_str() == s)
}

impl Coordinator {
    /// How often the other instances' verdicts are read: their news must reach the
    /// actor within a fraction of a failover, not a lease round.
    const VANTAGE_PERIOD: Duration = Duration::from_millis(500);

    /// Runs lease rounds (every third of the lease) and the exchange of verdicts (this
    /// instance's published the moment they change, the others' read every 500 ms)
    /// until cancelled, then releases the lease if held.
    pub async fn run(mut self, cancel: CancellationToken) {
        let mut lease_tick = tokio::time::interval(self.lease.round());
        lease_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut vantage_tick = tokio::time::interval(Self::VANTAGE_PERIOD.min(self.lease.round()));
        vantage_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut verdicts = self.verdicts.clone();
        let mut beat = 0u64;
        let mut heard: HashMap<String, (u64, Instant)> = HashMap::new();
        let mut was_actor = false;
        let mut changes = 0u64;
        let mut rounds = 0u32;
        let mut round_start: Option<Instant> = None;
        let mut reachable = 0;
        let mut renew_latency = None;
        loop {
            let deadline = self.lease.round() / 2;
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = lease_tick.tick() => {
                    let start = Instant::now();
                    rounds = rounds.saturating_add(1);
                    let read = self.read_leases(deadline).await;
                    reachable = read.iter().filter(|r| r.is_some()).count();
                    let writes = self.lease.plan(&read, start);
                    let wrote = Instant::now();
                    let done = self.write_leases(&writes, deadline).await;
                    renew_latency = (!writes.is_empty()).then(|| wrote.elapsed());
                    self.lease.settle(start, &done);
                    round_start = Some(start);
                    // The heartbeat goes with every round, changed verdicts or not.
                    beat += 1;
                    self.publish(beat, deadline).await;
                }
                Ok(()) = verdicts.changed() => {
                    beat += 1;
                    self.publish(beat, deadline).await;
                    continue;
                }
                _ = vantage_tick.tick() => {}
            }
            // Not before the other instances' heartbeats could be seen to move (two
            // rounds after the first read): until then this instance's own vantage
            // point would decide alone.
            let is_actor = self.lease.is_actor(Instant::now()) && rounds > 2;
            if is_actor != was_actor {
                changes += 1;
                tracing::info!(instance = %self.me, actor = is_actor, epoch = ?self.lease.epoch(), "leadership changed");
                was_actor = is_actor;
            }
            let vantages = self.read_vantages(&mut heard, deadline).await;
            let actor = if is_actor {
                Some(Record {
                    holder: self.me.clone(),
                    epoch: self.lease.epoch().unwrap_or(0),
                    version: 0,
                    addr: self.addr.clone(),
                })
            } else {
                self.lease.actor().cloned()
            };
            let until = round_start
                .filter(|_| is_actor)
                .map(|start| start + self.lease.duration() - self.lease.margin());
            self.view.send_replace(View {
                actor_until: until,
                epoch: self.lease.epoch(),
                actor,
                vantages,
                tables_reachable: reachable,
                tables: self.tables.clients.len(),
                leadership_changes: changes,
                renew_latency,
            });
        }
        self.release().await;
    }

    async fn read_leases(&self, deadline: Duration) -> Vec<Option<Option<Record>>> {
        let reads = self.tables.clients.iter().map(|(_, c)| {
            let call = c
                .get_item()
                .table_name(&self.tables.name)
                .key("pk", s("lease"))
                .consistent_read(true)
                .send();
            async move {
                match tokio::time::timeout(deadline, call).await {
                    Ok(Ok(out)) => Some(out.item().and_then(|item| {
                        Some(Record {
                            holder: get_s(item, "holder")?,
                            epoch: get_n(item, "epoch")?,
                            version: get_n(item, "version")?,
                            addr: get_s(item, "addr").unwrap_or_default(),
                        })
                    })),
                    _ => None,
                }
            }
        });
        futures_util::future::join_all(reads).await
    }

    /// Performs the round's conditional writes; returns the tables written, each with
    /// the version it now holds.
    async fn write_leases(
        &self,
        writes: &[(usize, Write)],
        deadline: Duration,
    ) -> Vec<(usize, u64)> {
        let calls = writes.iter().map(|(i, w)| {
            let (_, c) = &self.tables.clients[*i];
            let (epoch, version, condition, values): (u64, u64, &str, Vec<(&str, AttributeValue)>) =
                match w {
                    Write::Create { epoch } => (*epoch, 1, "attribute_not_exists(pk)", vec![]),
                    Write::Renew { epoch, expect } => (
                        *epoch,
                        expect + 1,
                        "holder = :me AND epoch = :e AND version = :v",
                        vec![(":me", s(&self.me)), (":e", n(*epoch)), (":v", n(*expect))],
                    ),
                    Write::TakeOver {
                        expect_epoch,
                        expect_version,
                        epoch,
                    } => (
                        *epoch,
                        expect_version + 1,
                        "epoch = :e AND version = :v",
                        vec![(":e", n(*expect_epoch)), (":v", n(*expect_version))],
                    ),
                };
            let mut put = c
                .put_item()
                .table_name(&self.tables.name)
                .item("pk", s("lease"))
                .item("holder", s(&self.me))
                .item("epoch", n(epoch))
                .item("version", n(version))
                .item("addr", s(&self.addr))
                .condition_expression(condition);
            for (k, v) in values {
                put = put.expression_attribute_values(k, v);
            }
            let i = *i;
            async move {
                match tokio::time::timeout(deadline, put.send()).await {
                    Ok(Ok(_)) => Some((i, version)),
                    _ => None,
                }
            }
        });
        futures_util::future::join_all(calls)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// Publishes this instance's heartbeat and verdicts to every table.
    async fn publish(&self, beat: u64, deadline: Duration) {
        let verdicts: HashMap<String, AttributeValue> = self
            .verdicts
            .borrow()
            .iter()
            .map(|(r, v)| (r.clone(), s(v.as_str())))
            .collect();
        // TTL: a stopped instance's item is deleted by DynamoDB eventually; freshness
        // never depends on it (see `read_vantages`).
        let expires = millis(SystemTime::now()) / 1000 + 86_400;
        let puts = self.tables.clients.iter().map(|(_, c)| {
            let call = c
                .put_item()
                .table_name(&self.tables.name)
                .item("pk", s(&format!("vantage#{}", self.me)))
                .item("instance", s(&self.me))
                .item("addr", s(&self.addr))
                .item("beat", n(beat))
                .item("verdicts", AttributeValue::M(verdicts.clone()))
                .item("expires_at", n(expires))
                .send();
            async move {
                let _ = tokio::time::timeout(deadline, call).await;
            }
        });
        futures_util::future::join_all(puts).await;
    }

    /// The other instances, merged across tables (the highest heartbeat wins). An
    /// instance is fresh while its heartbeat changed within a lease period, measured
    /// by this instance's own clock: no clock of another host is trusted.
    async fn read_vantages(
        &self,
        heard: &mut HashMap<String, (u64, Instant)>,
        deadline: Duration,
    ) -> Vec<Vantage> {
        let now = Instant::now();
        let mut latest: BTreeMap<String, (u64, String, BTreeMap<String, Verdict>)> =
            BTreeMap::new();
        for items in self.tables.scan("vantage#", deadline).await {
            for item in items {
                let (Some(instance), Some(beat)) = (get_s(&item, "instance"), get_n(&item, "beat"))
                else {
                    continue;
                };
                if instance == self.me {
                    continue;
                }
                if latest.get(&instance).is_some_and(|(b, _, _)| *b >= beat) {
                    continue;
                }
                let verdicts = match item.get("verdicts") {
                    Some(AttributeValue::M(m)) => m
                        .iter()
                        .filter_map(|(r, v)| Some((r.clone(), parse_verdict(v.as_s().ok()?)?)))
                        .collect(),
                    _ => BTreeMap::new(),
                };
                latest.insert(
                    instance,
                    (beat, get_s(&item, "addr").unwrap_or_default(), verdicts),
                );
            }
        }
        latest
            .into_iter()
            .map(|(instance, (beat, addr, verdicts))| {
                let changed = match heard.get(&instance) {
                    Some((b, at)) if *b == beat => *at,
                    // First seen: not yet known to be alive, so it counts only once
                    // its heartbeat moves.
                    None => now - self.lease.duration(),
                    Some(_) => now,
                };
                heard.insert(instance.clone(), (beat, changed));
                let silent_for = now.saturating_duration_since(changed);
                Vantage {
                    instance,
                    addr,
                    verdicts,
                    silent_for,
                    fresh: silent_for < self.lease.duration(),
                }
            })
            .collect()
    }

    /// Gives the lease up at once (on shutdown), so a successor need not wait for it to
    /// expire.
    async fn release(&mut self) {
        let Some(epoch) = self.lease.epoch() else {
            return;
        };
        self.lease.drop_lease();
        let deletes = self.tables.clients.iter().map(|(_, c)| {
            let call = c
                .delete_item()
                .table_name(&self.tables.name)
                .key("pk", s("lease"))
                .condition_expression("holder = :me AND epoch = :e")
                .expression_attribute_values(":me", s(&self.me))
                .expression_attribute_values(":e", n(epoch))
                .send();
            async move {
                let _ = tokio::time::timeout(Duration::from_secs(2), call).await;
            }
        });
        futures_util::future::join_all(deletes).await;
        tracing::info!(instance = %self.me, epoch, "lease released");
    }
}
