//! Several control-plane instances, coordinated through the control tables (one plain
//! DynamoDB table per control region) and nothing else: the DynamoDB side of
//! `cluster::Cluster` (the lease items, every instance's heartbeat and verdicts) and
//! the switch records, which say why each switch is off so that a new actor knows.
//!
//! The driver decides nothing: it runs each effect the cluster returns as a call of its
//! own with the effect's deadline, and feeds the answer back with the moment it came.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::control::clock::Moment;
use crate::control::cluster::{Cluster, Effect, Heartbeat, Input, View};
use crate::control::core::SwitchRecord;
use crate::control::failover::{Cause, Switch};
use crate::control::lease::{Record, Write};
use crate::control::verdict::Verdict;

/// The control tables, one client per control region.
#[derive(Clone)]
pub struct Tables {
    pub name: String,
    pub clients: Vec<(String, Client)>,
}

impl Tables {
    /// Clients of every control table; `app` (this instance's id) goes into the user
    /// agent, so that a test emulator can cut one instance off one-sidedly.
    pub async fn connect(
        deployment: &str,
        regions: &[String],
        endpoint_url: Option<&str>,
        app: Option<&str>,
    ) -> Tables {
        let mut clients = Vec::new();
        for r in regions {
            let config = crate::aws::sdk_config_for(r, endpoint_url, app).await;
            clients.push((r.clone(), Client::new(&config)));
        }
        Tables {
            name: crate::config::ControlSettings::table(deployment),
            clients,
        }
    }

    /// Writes a switch record to every table; true once a majority took it. The write
    /// is conditional: a record of an older epoch, or of the same epoch and an older
    /// sequence, never overwrites a newer one (a deposed actor's late record is refused).
    pub async fn save_record(
        &self,
        region: &str,
        record: &SwitchRecord,
        deadline: Duration,
    ) -> bool {
        let switch = &record.switch;
        let mut item = HashMap::from([
            ("pk".to_owned(), s(&format!("switch#{region}"))),
            (
                "in_service".to_owned(),
                AttributeValue::Bool(switch.in_service),
            ),
            ("epoch".to_owned(), n(record.epoch)),
            ("seq".to_owned(), n(record.seq)),
            ("instance".to_owned(), s(&record.instance)),
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
                .condition_expression(
                    "attribute_not_exists(pk) OR epoch < :e OR (epoch = :e AND (attribute_not_exists(seq) OR seq <= :s))",
                )
                .expression_attribute_values(":e", n(record.epoch))
                .expression_attribute_values(":s", n(record.seq))
                .send();
            async move {
                match tokio::time::timeout(deadline, put).await {
                    Ok(Ok(_)) => true,
                    Ok(Err(e)) => {
                        tracing::warn!(table_region = %region_name, error = %e, "cannot record a switch in the control table");
                        false
                    }
                    Err(_) => {
                        tracing::warn!(table_region = %region_name, "recording a switch in the control table timed out");
                        false
                    }
                }
            }
        });
        let done = futures_util::future::join_all(writes).await;
        done.iter().filter(|ok| **ok).count() > self.clients.len() / 2
    }

    /// The newest record of every switch across the reachable tables, by (epoch,
    /// sequence), and whether a majority of the tables answered.
    pub async fn load_records(&self, deadline: Duration) -> (BTreeMap<String, SwitchRecord>, bool) {
        let mut out: BTreeMap<String, SwitchRecord> = BTreeMap::new();
        let answered = self.scan("switch#", deadline).await;
        let majority = answered.len() > self.clients.len() / 2;
        for items in answered {
            for item in items {
                let Some(region) =
                    get_s(&item, "pk").and_then(|p| p.strip_prefix("switch#").map(str::to_owned))
                else {
                    continue;
                };
                let record = SwitchRecord {
                    switch: Switch {
                        in_service: matches!(
                            item.get("in_service"),
                            Some(AttributeValue::Bool(true))
                        ),
                        cause: get_s(&item, "cause").and_then(|c| Cause::parse(&c)),
                        reason: get_s(&item, "reason"),
                        since: get_n(&item, "since_ms")
                            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
                    },
                    epoch: get_n(&item, "epoch").unwrap_or(0),
                    seq: get_n(&item, "seq").unwrap_or(0),
                    instance: get_s(&item, "instance").unwrap_or_default(),
                };
                if out
                    .get(&region)
                    .is_none_or(|o| (record.epoch, record.seq) > (o.epoch, o.seq))
                {
                    out.insert(region, record);
                }
            }
        }
        (out, majority)
    }

    /// Items of one table whose key starts with `prefix`; `None` when it cannot be read
    /// within `deadline`.
    pub async fn scan_one(
        &self,
        table: usize,
        prefix: &str,
        deadline: Duration,
    ) -> Option<Vec<HashMap<String, AttributeValue>>> {
        let call = self.clients[table]
            .1
            .scan()
            .table_name(&self.name)
            .consistent_read(true)
            .filter_expression("begins_with(pk, :p)")
            .expression_attribute_values(":p", s(prefix))
            .send();
        match tokio::time::timeout(deadline, call).await {
            Ok(Ok(out)) => Some(out.items().to_vec()),
            _ => None,
        }
    }

    /// Items whose key starts with `prefix`, per reachable table.
    async fn scan(
        &self,
        prefix: &str,
        deadline: Duration,
    ) -> Vec<Vec<HashMap<String, AttributeValue>>> {
        let scans = (0..self.clients.len()).map(|t| self.scan_one(t, prefix, deadline));
        futures_util::future::join_all(scans)
            .await
            .into_iter()
            .flatten()
            .collect()
    }
}

pub struct Coordinator {
    pub tables: Tables,
    pub cluster: Cluster,
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

/// How long a heartbeat item counts after it was written: an instance that stopped
/// without leaving (a crash) stays known to the quorum that long.
const HEARTBEAT_TTL: Duration = Duration::from_secs(86_400);

impl Coordinator {
    /// Runs the cluster until cancelled; then waits for `controller_done` (the
    /// controller's flips have ended, each by its deadline) and releases the lease and
    /// leaves, so that a successor need not wait for the lease to run out.
    pub async fn run(
        mut self,
        cancel: CancellationToken,
        controller_done: impl std::future::Future<Output = ()>,
    ) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Input>();
        let mut tasks = JoinSet::new();
        let mut verdicts = self.verdicts.clone();
        loop {
            let wake = self.cluster.poll_timeout();
            let input = tokio::select! {
                _ = cancel.cancelled() => break,
                Some(input) = rx.recv() => input,
                Ok(()) = verdicts.changed() => Input::VerdictsChanged,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
                _ = tokio::time::sleep(wake.since(Moment::now())) => Input::Tick,
            };
            let now = Moment::now();
            tracing::trace!(?input, "cluster input");
            let effects = self.cluster.handle(now, millis(SystemTime::now()), input);
            self.carry_out(effects, &mut tasks, &tx);
            let view = self.cluster.view(now);
            self.view.send_if_modified(|v| {
                let changed = *v != view;
                *v = view;
                changed
            });
        }
        controller_done.await;
        tasks.abort_all();
        let effects = self.cluster.release(Moment::now());
        let epoch = self.cluster.lease().epoch();
        self.carry_out(effects, &mut tasks, &tx);
        while tasks.join_next().await.is_some() {}
        self.view.send_replace(View::default());
        tracing::info!(instance = %self.cluster.lease().me(), ?epoch, "lease released");
    }

    fn carry_out(
        &self,
        effects: Vec<Effect>,
        tasks: &mut JoinSet<()>,
        tx: &mpsc::UnboundedSender<Input>,
    ) {
        for effect in effects {
            tracing::trace!(?effect, "cluster effect");
            let tx = tx.clone();
            let left = |deadline: Moment| deadline.since(Moment::now());
            match effect {
                Effect::ReadLease {
                    round,
                    table,
                    deadline,
                } => {
                    let call = self.tables.clients[table]
                        .1
                        .get_item()
                        .table_name(&self.tables.name)
                        .key("pk", s("lease"))
                        .consistent_read(true)
                        .send();
                    let wait = left(deadline);
                    tasks.spawn(async move {
                        let record = match tokio::time::timeout(wait, call).await {
                            Ok(Ok(out)) => Some(out.item().and_then(|item| {
                                Some(Record {
                                    holder: get_s(item, "holder")?,
                                    epoch: get_n(item, "epoch")?,
                                    version: get_n(item, "version")?,
                                    addr: get_s(item, "addr").unwrap_or_default(),
                                })
                            })),
                            _ => None,
                        };
                        let _ = tx.send(Input::LeaseRead {
                            round,
                            table,
                            record,
                        });
                    });
                }
                Effect::WriteLease {
                    round,
                    table,
                    write,
                    deadline,
                } => {
                    let call = self.write_lease(table, &write);
                    let wait = left(deadline);
                    let version = write.version_after();
                    tasks.spawn(async move {
                        let ok = matches!(tokio::time::timeout(wait, call).await, Ok(Ok(())));
                        let _ = tx.send(Input::LeaseWritten {
                            round,
                            table,
                            version: version.filter(|_| ok),
                        });
                    });
                }
                Effect::Publish {
                    incarnation,
                    beat,
                    deadline,
                } => {
                    let verdicts: HashMap<String, AttributeValue> = self
                        .verdicts
                        .borrow()
                        .iter()
                        .map(|(r, v)| (r.clone(), s(v.as_str())))
                        .collect();
                    let expires = millis(SystemTime::now() + HEARTBEAT_TTL);
                    for (_, c) in &self.tables.clients {
                        let call = c
                            .put_item()
                            .table_name(&self.tables.name)
                            .item("pk", s(&format!("vantage#{}", self.cluster.lease().me())))
                            .item("instance", s(self.cluster.lease().me()))
                            .item("addr", s(self.cluster.lease().addr()))
                            .item("incarnation", n(incarnation))
                            .item("beat", n(beat))
                            .item("verdicts", AttributeValue::M(verdicts.clone()))
                            // DynamoDB's TTL is in seconds; freshness never depends on it.
                            .item("expires_at", n(expires / 1000))
                            .item("expires_ms", n(expires))
                            .send();
                        let wait = left(deadline);
                        tasks.spawn(async move {
                            let _ = tokio::time::timeout(wait, call).await;
                        });
                    }
                }
                Effect::Scan { table, deadline } => {
                    let tables = self.tables.clone();
                    let wait = left(deadline);
                    tasks.spawn(async move {
                        let heartbeats = tables
                            .scan_one(table, "vantage#", wait)
                            .await
                            .map(|items| items.iter().filter_map(heartbeat).collect());
                        let _ = tx.send(Input::Scanned { table, heartbeats });
                    });
                }
                Effect::Leave { deadline } => {
                    for (_, c) in &self.tables.clients {
                        let call = c
                            .delete_item()
                            .table_name(&self.tables.name)
                            .key("pk", s(&format!("vantage#{}", self.cluster.lease().me())))
                            .send();
                        let wait = left(deadline);
                        tasks.spawn(async move {
                            let _ = tokio::time::timeout(wait, call).await;
                        });
                    }
                }
            }
        }
    }

    /// One conditional write of the lease item.
    fn write_lease(
        &self,
        table: usize,
        write: &Write,
    ) -> impl std::future::Future<Output = Result<(), String>> + Send + 'static {
        let c = &self.tables.clients[table].1;
        let me = self.cluster.lease().me();
        let addr = self.cluster.lease().addr();
        let put = |epoch: u64, version: u64, condition: &str| {
            c.put_item()
                .table_name(&self.tables.name)
                .item("pk", s("lease"))
                .item("holder", s(me))
                .item("epoch", n(epoch))
                .item("version", n(version))
                .item("addr", s(addr))
                .condition_expression(condition)
        };
        let call = match write {
            Write::Create { epoch } => put(*epoch, 1, "attribute_not_exists(pk)"),
            Write::Renew {
                from,
                epoch,
                expect,
            } => put(
                *epoch,
                expect + 1,
                "holder = :me AND epoch = :e AND version = :v",
            )
            .expression_attribute_values(":me", s(me))
            .expression_attribute_values(":e", n(*from))
            .expression_attribute_values(":v", n(*expect)),
            Write::TakeOver {
                expect_epoch,
                expect_version,
                epoch,
            } => put(*epoch, expect_version + 1, "epoch = :e AND version = :v")
                .expression_attribute_values(":e", n(*expect_epoch))
                .expression_attribute_values(":v", n(*expect_version)),
            Write::Release { epoch } => {
                // Released, not deleted: the epoch stays for the next holder to exceed.
                let update = c
                    .update_item()
                    .table_name(&self.tables.name)
                    .key("pk", s("lease"))
                    .update_expression("SET holder = :none, version = version + :one")
                    .condition_expression("holder = :me AND epoch = :e")
                    .expression_attribute_values(":none", s(""))
                    .expression_attribute_values(":one", n(1))
                    .expression_attribute_values(":me", s(me))
                    .expression_attribute_values(":e", n(*epoch))
                    .send();
                return futures_util::future::Either::Left(async move {
                    update.await.map(|_| ()).map_err(|e| e.to_string())
                });
            }
        }
        .send();
        futures_util::future::Either::Right(async move {
            call.await.map(|_| ()).map_err(|e| e.to_string())
        })
    }
}

/// A heartbeat item, if it is one.
fn heartbeat(item: &HashMap<String, AttributeValue>) -> Option<Heartbeat> {
    let verdicts = match item.get("verdicts") {
        Some(AttributeValue::M(m)) => m
            .iter()
            .filter_map(|(r, v)| Some((r.clone(), parse_verdict(v.as_s().ok()?)?)))
            .collect(),
        _ => BTreeMap::new(),
    };
    Some(Heartbeat {
        instance: get_s(item, "instance")?,
        addr: get_s(item, "addr").unwrap_or_default(),
        incarnation: get_n(item, "incarnation").unwrap_or(0),
        beat: get_n(item, "beat")?,
        verdicts,
        expires_ms: get_n(item, "expires_ms")
            .or_else(|| get_n(item, "expires_at").map(|s| s * 1000))
            .unwrap_or(u64::MAX),
    })
}
