//! The failback gate end to end: `geoplan serve` (the real binary) against moto, whose
//! CloudWatch the test seeds with `AWS/DynamoDB ReplicationLatency` and
//! `ConsumedWriteCapacityUnits` points through the real SDK (rpc-v2-cbor, which the
//! moto launcher serves), and whose DynamoDB holds the replicated table in both regions.

use std::time::{Duration, Instant, SystemTime};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use serde_json::Value;

use crate::serve::Serve;
use crate::support::*;

const TABLE: &str = "gate-carts";
/// `[failback]` of these tests: the gate reads every second and settles in 3 s.
const MAX_LAG: Duration = Duration::from_secs(2);
const SETTLE: Duration = Duration::from_secs(3);
const POLL: Duration = Duration::from_secs(1);

fn config(us: u16, eu: u16) -> String {
    crate::serve::config(us, eu).replace("drill", "gate")
        + "\n[[table]]\nname = \"carts\"\npartition_key = { name = \"cart_id\", type = \"S\" }\n\
           regions = [\"us-east-1\", \"eu-west-1\"]\n\n[failback]\nmax_replication_lag = \"2s\"\n\
           settle = \"3s\"\npoll = \"1s\"\n"
}

/// How long the gate may take to see a change of CloudWatch's data: a poll to read it,
/// a settle time for old points to leave the window, and the host's slack.
fn gate_budget() -> Duration {
    POLL * 3 + SETTLE + Duration::from_secs(10)
}

/// How long a take-out may take: serve::config's detection (200 ms probes, two
/// failures) ten times over, and a flip's whole timeout.
fn failover_budget() -> Duration {
    Duration::from_millis(200) * 2 * 10 + geoplan::control::core::FLIP_TIMEOUT
}

/// The checks `geoplan apply` would create and the table in both regions.
async fn deploy(emu: &Emulator, us: u16, eu: u16) {
    let r53 = emu.route53().await;
    create_region_checks(&r53, "gate", "us-east-1", us).await;
    create_region_checks(&r53, "gate", "eu-west-1", eu).await;
    for region in ["us-east-1", "eu-west-1"] {
        create_table(emu, region, TABLE, "cart_id").await;
    }
}

/// CloudWatch (`cw`, in the source region): at `at`, the table's writes there and,
/// when `lag_ms` is given, its `ReplicationLatency` into `receiver`.
async fn seed(
    cw: &aws_sdk_cloudwatch::Client,
    receiver: &str,
    at: SystemTime,
    lag_ms: Option<f64>,
) {
    let dim = |n: &str, v: &str| Dimension::builder().name(n).value(v).build();
    let mut put = cw.put_metric_data().namespace("AWS/DynamoDB").metric_data(
        MetricDatum::builder()
            .metric_name("ConsumedWriteCapacityUnits")
            .dimensions(dim("TableName", TABLE))
            .timestamp(DateTime::from(at))
            .value(1.0)
            .unit(StandardUnit::Count)
            .build(),
    );
    if let Some(ms) = lag_ms {
        put = put.metric_data(
            MetricDatum::builder()
                .metric_name("ReplicationLatency")
                .dimensions(dim("TableName", TABLE))
                .dimensions(dim("ReceivingRegion", receiver))
                .timestamp(DateTime::from(at))
                .value(ms)
                .unit(StandardUnit::Milliseconds)
                .build(),
        );
    }
    put.send().await.expect("PutMetricData");
}

/// Seeds both directions every 250 ms (replication into eu-west-1 at `into_eu` ms, or
/// writes without a point when `None`; out of it at 700 ms) until dropped.
struct Seeder {
    task: tokio::task::JoinHandle<()>,
}

impl Seeder {
    async fn start(emu: &Emulator, into_eu: Option<f64>) -> Seeder {
        let cw =
            |region| async move { aws_sdk_cloudwatch::Client::new(&emu.sdk_config(region).await) };
        let (us, eu) = (cw("us-east-1").await, cw("eu-west-1").await);
        let task = tokio::spawn(async move {
            loop {
                let now = SystemTime::now();
                seed(&us, "eu-west-1", now, into_eu).await;
                seed(&eu, "us-east-1", now, Some(700.0)).await;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
        Seeder { task }
    }
}

impl Drop for Seeder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Polls the status and events until `check` holds, for at most `within`.
async fn wait_for(
    serve: &Serve,
    within: Duration,
    what: &str,
    check: impl Fn(&Value, &[Value]) -> bool,
) -> (Value, Vec<Value>) {
    let deadline = Instant::now() + within;
    loop {
        let status = serve.get("/v1/status").await;
        let events = serve.get("/v1/events?limit=1000").await["events"]
            .as_array()
            .unwrap()
            .clone();
        if check(&status, &events) {
            return (status, events);
        }
        assert!(
            Instant::now() < deadline,
            "not within {within:?}: {what}\nstatus: {status:#}\nevents: {events:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn metrics(serve: &Serve) -> String {
    reqwest::get(format!("{}/metrics", serve.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn event<'a>(events: &'a [Value], kind: &str) -> Option<&'a str> {
    events
        .iter()
        .rev()
        .find(|e| e["kind"] == kind)
        .and_then(|e| e["message"].as_str())
}

/// Probes fail until the region is taken out; the failover records its recovery point.
async fn fail_over(serve: &Serve, eu: &mut FakeRegion) -> Vec<Value> {
    // A probe round of 200 ms, two misses: seconds, whatever the host.
    eu.stop().await;
    let (_, events) = wait_for(serve, failover_budget(), "eu-west-1 taken out", |st, ev| {
        st["regions"][1]["switch"]["in_service"] == false && event(ev, "failover").is_some()
    })
    .await;
    events
}

/// Lag into the returning region holds it; once the lag settles below the limit it is
/// put back, and the put-back says how long the gate held it. The take-out before it
/// records the recovery point seeded at that moment.
#[tokio::test(flavor = "multi_thread")]
async fn a_lagging_region_is_held_then_put_back_once_the_lag_settles() {
    let emu = Emulator::moto();
    let us = FakeRegion::start_new().await;
    let mut eu = FakeRegion::start_new().await;
    deploy(&emu, us.port, eu.port).await;
    let wd = Workdir::with_text("regions.toml", &config(us.port, eu.port));
    let lagging = Seeder::start(&emu, Some(8_000.0)).await;
    let serve = Serve::start(wd.path(), &emu).await;
    // The watcher has read once (the lag into us-east-1 shows): the recovery point of
    // eu-west-1 will be known.
    let deadline = Instant::now() + gate_budget();
    while !metrics(&serve)
        .await
        .contains("geoplan_replication_lag_seconds{region=\"us-east-1\",table=\"gate-carts\"} 0.7")
    {
        assert!(
            Instant::now() < deadline,
            "no replication reading: {}",
            metrics(&serve).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let events = fail_over(&serve, &mut eu).await;
    let failover = event(&events, "failover").unwrap();
    assert!(
        failover.contains("recovery point: gate-carts 0.7 s"),
        "the lag out of eu-west-1 seeded at the take-out: {failover}"
    );

    eu.start().await;
    let (status, events) = wait_for(
        &serve,
        gate_budget(),
        "the gate holds eu-west-1",
        |st, ev| {
            st["regions"][1]["verdict"] == "up"
                && st["regions"][1]["failback"]["why"] == "lagging"
                && event(ev, "failback-held").is_some_and(|m| m.contains("lagged 8.0 s"))
        },
    )
    .await;
    assert_eq!(
        status["regions"][1]["switch"]["in_service"], false,
        "{status:#}"
    );
    let held = event(&events, "failback-held").unwrap();
    assert!(
        held.contains(&format!("(limit {} s)", MAX_LAG.as_secs())),
        "{held}"
    );
    let lag = &status["regions"][1]["failback"]["tables"][0];
    assert_eq!(
        (lag["table"].as_str(), lag["lag_seconds"].as_f64()),
        (Some(TABLE), Some(8.0))
    );
    assert!(
        event(&events, "failback").is_none(),
        "not put back while lagging"
    );
    let text = metrics(&serve).await;
    assert!(
        text.contains("geoplan_failback_held{region=\"eu-west-1\",why=\"lagging\"} 1"),
        "{text}"
    );
    assert!(
        text.contains(
            "geoplan_replication_lag_seconds{region=\"eu-west-1\",table=\"gate-carts\"} 8.0"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "geoplan_recovery_point_seconds_count{region=\"eu-west-1\",table=\"gate-carts\"} 1"
        ),
        "{text}"
    );

    // The lag falls to 300 ms: after the settle time the high points are out of the
    // window and the region returns.
    drop(lagging);
    let _settled = Seeder::start(&emu, Some(300.0)).await;
    let held_from = Instant::now();
    let (status, events) = wait_for(&serve, gate_budget(), "eu-west-1 put back", |st, ev| {
        st["regions"][1]["switch"]["in_service"] == true && event(ev, "failback").is_some()
    })
    .await;
    assert!(
        held_from.elapsed() >= SETTLE - POLL,
        "not before the high points left the settle window: {:?}",
        held_from.elapsed()
    );
    let failback = event(&events, "failback").unwrap();
    assert!(failback.contains("held by the failback gate"), "{failback}");
    let recovery = &status["regions"][1]["recovery"];
    assert_eq!(recovery["kind"], "failback");
    assert!(
        recovery["held_for_seconds"].as_f64().unwrap() > 0.0,
        "{recovery:#}"
    );
    assert!(
        status["regions"][1].get("failback").is_none(),
        "in service: no gate"
    );
    let text = metrics(&serve).await;
    assert!(
        text.contains("geoplan_failback_held{region=\"eu-west-1\",why=\"lagging\"} 0"),
        "{text}"
    );
    assert!(
        text.contains(
            "geoplan_recovery_time_seconds_count{region=\"eu-west-1\",kind=\"failover\",stage=\"switch\"} 1"
        ),
        "{text}"
    );
}

/// Writes replicated into the region with no `ReplicationLatency` point: unknown, held.
/// `restore` is refused while the gate holds; `--force` with a reason overrides it and
/// is recorded.
#[tokio::test(flavor = "multi_thread")]
async fn missing_data_holds_the_region_and_force_overrides_it_on_the_record() {
    let emu = Emulator::moto();
    let us = FakeRegion::start_new().await;
    let mut eu = FakeRegion::start_new().await;
    deploy(&emu, us.port, eu.port).await;
    let wd = Workdir::with_text("regions.toml", &config(us.port, eu.port));
    let _writes_only = Seeder::start(&emu, None).await;
    let serve = Serve::start(wd.path(), &emu).await;
    fail_over(&serve, &mut eu).await;
    eu.start().await;
    wait_for(
        &serve,
        gate_budget(),
        "missing data holds eu-west-1",
        |st, ev| {
            st["regions"][1]["verdict"] == "up"
                && st["regions"][1]["failback"]["why"] == "unknown"
                && st["regions"][1]["failback"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("shows none or 0"))
                && event(ev, "failback-held").is_some()
        },
    )
    .await;

    let remote = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--url", &serve.url]);
        geoplan_command(wd.path(), &all, None)
            .env("GEOPLAN_API_TOKEN", crate::serve::TOKEN)
            .output()
            .unwrap()
    };
    let refused = remote(&["restore", "eu-west-1"]);
    assert!(!refused.status.success());
    let text = stderr(&refused);
    assert!(text.contains("the failback gate holds eu-west-1"), "{text}");
    assert!(text.contains("--force"), "{text}");
    let no_reason = remote(&["restore", "eu-west-1", "--force"]);
    assert_eq!(
        no_reason.status.code(),
        Some(2),
        "clap: --force needs --reason"
    );
    let forced = remote(&[
        "restore",
        "eu-west-1",
        "--force",
        "--reason",
        "replicas compared by hand",
    ]);
    assert_eq!(success(&forced), "in service\n");
    let (_, events) = wait_for(
        &serve,
        geoplan::control::core::FLIP_TIMEOUT * 2,
        "the forced restore recorded",
        |_, ev| event(ev, "failback-forced").is_some() && event(ev, "restore").is_some(),
    )
    .await;
    let forced = event(&events, "failback-forced").unwrap();
    assert!(
        forced.contains(
            "forced past the failback gate: replicas compared by hand (the gate held it:"
        ),
        "{forced}"
    );
}
