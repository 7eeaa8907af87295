//! Failover benchmarks against the emulator, with the real control plane
//! (`serve::run`) in process and real HTTP endpoints on 127.0.0.1.
//!
//! 1. Failover time: an endpoint stops answering (its listener closes) → how long
//!    until its switch reads inverted in Route 53. probe_interval 1s, fail_after 2,
//!    DRILLS drills (default 20). Reports median, p95, max.
//! 2. False failovers: an endpoint that fails 10% of probes at random, probed every
//!    20 ms (50× compressed time) for the equivalent of MINUTES minutes (default 25),
//!    with and without confirmation probes. Counts failovers.
//!
//! 3. Failover with three instances ([control], lease 6 s, the real binary in three
//!    processes): the same drill, where the actor needs a quorum of vantage points.
//! 4. Takeover: SIGKILL the actor → how long until another instance acts. TAKEOVERS
//!    times (default 10).
//! 5. One vantage point partitioned from a healthy region (GEOPLAN_FAULT_DROP_PROBES)
//!    for the equivalent of 10 minutes at 50× (probes every 20 ms): flips counted.
//! 6. A 30-region flip storm (every endpoint down at once): the highest number of
//!    Route 53 requests in any one-second window, against monitor.route53_rate.
//!
//! 7. Failover with three instances on the ARC path (`switch = "arc"`) while Route
//!    53's control plane is dark: endpoint death → the DNS server's UDP answer no
//!    longer holds the region.
//! 8. The `route53` path with its control plane dark: geoplan cannot flip, so only the
//!    endpoint checks (the fast 10 s interval, threshold 3) take the region out of the
//!    UDP answer. DARK_DRILLS times (default 3).
//!
//! Run: `cargo bench --bench failover` (needs python3 with moto, see localstack/setup.sh).
//! `ONLY=ha` runs sections 3–8, `ONLY=arc` sections 7–8.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_route53::types::{HealthCheckConfig, HealthCheckType, Tag, TagResourceType};

struct Emulator(std::process::Child, String);

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

fn emulator() -> Emulator {
    let python = std::env::var("GEOPLAN_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/localstack/emulator.py");
    let mut child = Command::new(python)
        .args([script, "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("geoplan-emulator listening on ")
        .expect("emulator banner")
        .to_owned();
    Emulator(child, url)
}

/// Creates a region's three tagged checks, as the rendered Terraform would.
async fn create_checks(r53: &aws_sdk_route53::Client, deployment: &str, region: &str, port: u16) {
    let switch = HealthCheckConfig::builder()
        .r#type(HealthCheckType::Calculated)
        .health_threshold(0)
        .build()
        .unwrap();
    create_checks_with(r53, deployment, region, port, switch, (30, 3)).await;
}

/// `create_checks` with the switch's config (a RECOVERY_CONTROL check with ARC) and
/// the endpoint check's request interval and failure threshold.
async fn create_checks_with(
    r53: &aws_sdk_route53::Client,
    deployment: &str,
    region: &str,
    port: u16,
    switch: HealthCheckConfig,
    (interval, threshold): (i32, i32),
) {
    let mut n = 0;
    let mut create = async |config: HealthCheckConfig, role: &str| {
        n += 1;
        let id = r53
            .create_health_check()
            .caller_reference(format!("{deployment}-{region}-{role}-{n}"))
            .health_check_config(config)
            .send()
            .await
            .unwrap()
            .health_check()
            .unwrap()
            .id()
            .to_owned();
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        r53.change_tags_for_resource()
            .resource_type(TagResourceType::Healthcheck)
            .resource_id(&id)
            .add_tags(tag("geoplan:name", deployment))
            .add_tags(tag("geoplan:region", region))
            .add_tags(tag("geoplan:role", role))
            .send()
            .await
            .unwrap();
        id
    };
    let endpoint = create(
        HealthCheckConfig::builder()
            .r#type(HealthCheckType::Http)
            .ip_address("127.0.0.1")
            .port(port as i32)
            .resource_path("/")
            .request_interval(interval)
            .failure_threshold(threshold)
            .build()
            .unwrap(),
        "endpoint",
    )
    .await;
    let switch = create(switch, "switch").await;
    create(
        HealthCheckConfig::builder()
            .r#type(HealthCheckType::Calculated)
            .health_threshold(2)
            .child_health_checks(endpoint)
            .child_health_checks(switch)
            .build()
            .unwrap(),
        "region",
    )
    .await;
}

/// An endpoint that can be stopped (listener closed) and started on the same port,
/// failing a given fraction of requests with 503 at random.
struct Endpoint {
    port: u16,
    fail_per_mille: Arc<AtomicU64>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Endpoint {
    async fn new() -> Endpoint {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut e = Endpoint {
            port,
            fail_per_mille: Arc::new(AtomicU64::new(0)),
            task: None,
        };
        e.start();
        e
    }

    fn start(&mut self) {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(([127, 0, 0, 1], self.port).into()).unwrap();
        let listener = socket.listen(1024).unwrap();
        let fail = self.fail_per_mille.clone();
        let seed = Arc::new(AtomicU64::new(0x9E37_79B9_7F4A_7C15));
        let app = axum::Router::new().fallback(move || {
            let (fail, seed) = (fail.clone(), seed.clone());
            async move {
                // xorshift64: a fresh pseudo-random draw per request.
                let mut x = seed.load(Ordering::Relaxed);
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                seed.store(x, Ordering::Relaxed);
                if x % 1000 < fail.load(Ordering::Relaxed) {
                    axum::http::StatusCode::SERVICE_UNAVAILABLE
                } else {
                    axum::http::StatusCode::OK
                }
            }
        });
        self.task = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        }));
    }

    async fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }
}

fn config_text(name: &str, ports: [u16; 2], monitor: &str, state: &std::path::Path) -> String {
    format!(
        "name = \"{name}\"\npattern = \"active-active\"\n[dns]\nzone = \"b.example.com\"\nrecord = \"api.b.example.com\"\n\
         [[region]]\nname = \"us-east-1\"\nendpoint = \"127.0.0.1\"\n[region.health]\nprotocol = \"HTTP\"\nport = {}\n\
         [[region]]\nname = \"eu-west-1\"\nendpoint = \"127.0.0.1\"\n[region.health]\nprotocol = \"HTTP\"\nport = {}\n\
         [monitor]\nstate_dir = \"{}\"\n{monitor}\n",
        ports[0],
        ports[1],
        state.display()
    )
}

async fn start_serve(
    emu: &Emulator,
    text: &str,
) -> (
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    let (config, d) = geoplan::config::compile("bench.toml", text, std::path::Path::new("/"));
    let config = config.unwrap_or_else(|| panic!("{}", d.render(false)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let stop = cancel.clone();
    let options = geoplan::serve::ServeOptions {
        instance: "test".into(),
        endpoint_url: Some(emu.1.clone()),
        token: None,
        webhook_backoff: Vec::new(),
        webhook_secret: None,
    };
    let task = tokio::spawn(async move {
        geoplan::serve::run(
            config,
            listener,
            options,
            async move { stop.cancelled().await },
        )
        .await
        .unwrap();
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    (cancel, task)
}

const NEAR_EU: &str = "10.2.3.4";
/// How long a drill waits for a change before it gives up (a bug, not a slow host).
const GIVE_UP: Duration = Duration::from_secs(120);
const EU_ADDRESS: &str = "192.0.2.2";

/// A zone with geoplan's latency records, each guarded by its region's check, and the
/// emulator told that clients in 10.2.0.0/16 are nearest eu-west-1.
async fn latency_records(
    emu: &Emulator,
    r53: &aws_sdk_route53::Client,
    deployment: &str,
) -> String {
    use aws_sdk_route53::types::{
        Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet,
        ResourceRecordSetRegion, RrType,
    };
    let hook = format!(
        "{}/_geoplan/dataplane?subnet=10.2.0.0/16&regions=eu-west-1,us-east-1",
        emu.1
    );
    let resp = reqwest::Client::new().post(hook).send().await.unwrap();
    assert!(resp.status().is_success());
    let ids = geoplan::control::switches::discover(r53, deployment)
        .await
        .unwrap();
    let zone = r53
        .create_hosted_zone()
        .name(format!("{deployment}.example.com"))
        .caller_reference(deployment)
        .send()
        .await
        .unwrap()
        .hosted_zone()
        .unwrap()
        .id()
        .to_owned();
    let mut batch = ChangeBatch::builder();
    for (region, latency, address) in [
        ("us-east-1", ResourceRecordSetRegion::UsEast1, "192.0.2.1"),
        ("eu-west-1", ResourceRecordSetRegion::EuWest1, EU_ADDRESS),
    ] {
        let record = ResourceRecordSet::builder()
            .name(format!("api.{deployment}.example.com"))
            .r#type(RrType::A)
            .ttl(60)
            .set_identifier(region)
            .region(latency)
            .health_check_id(&ids[region].region)
            .resource_records(ResourceRecord::builder().value(address).build().unwrap())
            .build()
            .unwrap();
        batch = batch.changes(
            Change::builder()
                .action(ChangeAction::Upsert)
                .resource_record_set(record)
                .build()
                .unwrap(),
        );
    }
    r53.change_resource_record_sets()
        .hosted_zone_id(&zone)
        .change_batch(batch.build().unwrap())
        .send()
        .await
        .unwrap();
    zone
}

/// The first address Route 53 (the emulated data plane) answers to `client`.
async fn dns_answer(r53: &aws_sdk_route53::Client, zone: &str, client: &str) -> String {
    let name = r53
        .get_hosted_zone()
        .id(zone)
        .send()
        .await
        .unwrap()
        .hosted_zone()
        .unwrap()
        .name()
        .trim_end_matches('.')
        .to_owned();
    let out = r53
        .test_dns_answer()
        .hosted_zone_id(zone)
        .record_name(format!("api.{name}"))
        .record_type(aws_sdk_route53::types::RrType::A)
        .edns0_client_subnet_ip(client)
        .send()
        .await
        .unwrap();
    out.record_data().first().cloned().unwrap_or_default()
}

async fn inverted(r53: &aws_sdk_route53::Client, id: &str) -> bool {
    let hc = r53
        .get_health_check()
        .health_check_id(id)
        .send()
        .await
        .unwrap();
    hc.health_check()
        .unwrap()
        .health_check_config()
        .unwrap()
        .inverted()
        .unwrap_or(false)
}

async fn switch_id(r53: &aws_sdk_route53::Client, deployment: &str, region: &str) -> String {
    geoplan::control::switches::discover(r53, deployment)
        .await
        .unwrap()[region]
        .switch
        .clone()
}

fn pct(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

async fn failover_drills(emu: &Emulator, r53: &aws_sdk_route53::Client, drills: usize) {
    let state = tempfile::tempdir().unwrap();
    let mut us = Endpoint::new().await;
    let mut eu = Endpoint::new().await;
    create_checks(r53, "drill", "us-east-1", us.port).await;
    create_checks(r53, "drill", "eu-west-1", eu.port).await;
    let monitor = "probe_interval = \"1s\"\nprobe_timeout = \"800ms\"\nfail_after = 2\nrecover_after = 2\nhold_down = \"1s\"";
    let (cancel, task) = start_serve(
        emu,
        &config_text("drill", [us.port, eu.port], monitor, state.path()),
    )
    .await;
    let id = switch_id(r53, "drill", "eu-west-1").await;
    let zone = latency_records(emu, r53, "drill").await;
    let mut times = Vec::new();
    let mut at_dns = Vec::new();
    for i in 0..drills {
        let settle = Instant::now();
        while dns_answer(r53, &zone, NEAR_EU).await != EU_ADDRESS {
            assert!(
                settle.elapsed() < GIVE_UP,
                "eu-west-1 never came back to the DNS answer"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Stop at a random phase of the probe interval, as a real outage would.
        tokio::time::sleep(Duration::from_millis(1500 + (i as u64 * 379) % 1000)).await;
        eu.stop().await;
        let t0 = Instant::now();
        let (mut flipped, mut answered) = (None, None);
        while flipped.is_none() || answered.is_none() {
            assert!(
                t0.elapsed() < GIVE_UP,
                "no failover within {GIVE_UP:?}: flipped {flipped:?}, answered {answered:?}"
            );
            if flipped.is_none() && inverted(r53, &id).await {
                flipped = Some(t0.elapsed().as_secs_f64());
            }
            if answered.is_none() && dns_answer(r53, &zone, NEAR_EU).await != EU_ADDRESS {
                answered = Some(t0.elapsed().as_secs_f64());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        times.extend(flipped);
        at_dns.extend(answered);
        eu.start();
        while inverted(r53, &id).await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    cancel.cancel();
    task.await.unwrap();
    us.stop().await;
    times.sort_by(f64::total_cmp);
    at_dns.sort_by(f64::total_cmp);
    println!(
        "failover time over {drills} drills (probe_interval 1s, fail_after 2, confirm_probes 3): median {:.2} s  p95 {:.2} s  max {:.2} s  min {:.2} s",
        pct(&times, 0.5),
        pct(&times, 0.95),
        times.last().unwrap(),
        times[0]
    );
    println!(
        "  measured at the DNS answer (TestDNSAnswer to a client near eu-west-1, the emulated data plane): median {:.2} s  p95 {:.2} s  max {:.2} s",
        pct(&at_dns, 0.5),
        pct(&at_dns, 0.95),
        at_dns.last().unwrap(),
    );
    println!(
        "  (Route 53's own fastest checks: 10 s interval × 3 failures = 30 s to detect, before DNS propagation)"
    );
}

async fn false_failovers(
    emu: &Emulator,
    r53: &aws_sdk_route53::Client,
    minutes: u64,
    confirm: u32,
) {
    let state = tempfile::tempdir().unwrap();
    let name = format!("flaky{confirm}");
    let us = Endpoint::new().await;
    let eu = Endpoint::new().await;
    eu.fail_per_mille.store(100, Ordering::Relaxed);
    create_checks(r53, &name, "us-east-1", us.port).await;
    create_checks(r53, &name, "eu-west-1", eu.port).await;
    // 20 ms between probes stands for 1 s: 50× compressed.
    let monitor = format!(
        "probe_interval = \"20ms\"\nprobe_timeout = \"15ms\"\nfail_after = 2\nrecover_after = 5\nhold_down = \"0s\"\nconfirm_probes = {confirm}"
    );
    let (cancel, task) = start_serve(
        emu,
        &config_text(&name, [us.port, eu.port], &monitor, state.path()),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(minutes * 60 * 20)).await;
    cancel.cancel();
    task.await.unwrap();
    let store =
        geoplan::store::Store::open(&geoplan::store::dir_of(state.path(), &name), &name).unwrap();
    let events = store.events(0, 100_000).unwrap();
    let failovers = events.iter().filter(|e| e.kind == "failover").count();
    let probes_failed = events
        .iter()
        .filter(|e| e.kind == "probe" && e.message.contains("→ suspect"))
        .count();
    println!(
        "false failovers, 10% random probe failures, {minutes} min equivalent ({} probes), confirm_probes = {confirm}: {failovers} failovers ({probes_failed} suspect blips)",
        minutes * 60
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let only_ha = std::env::var("ONLY").is_ok_and(|o| o == "ha" || o == "storm" || o == "arc");
    let drills: usize = std::env::var("DRILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let minutes: u64 = std::env::var("MINUTES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(25);
    let takeovers: usize = std::env::var("TAKEOVERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let emu = emulator();
    let r53 = geoplan::aws::route53(Some(&emu.1)).await;
    if !only_ha {
        if drills > 0 {
            failover_drills(&emu, &r53, drills).await;
        }
        false_failovers(&emu, &r53, minutes, 3).await;
        false_failovers(&emu, &r53, minutes, 0).await;
    }
    if std::env::var("ONLY").is_ok_and(|o| o == "storm") {
        flip_storm(&emu, &r53).await;
        return;
    }
    let dark_drills: usize = std::env::var("DARK_DRILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    if !std::env::var("ONLY").is_ok_and(|o| o == "arc") {
        ha_drills(&emu, &r53, drills, takeovers).await;
        partitioned_vantage(&emu, &r53).await;
        flip_storm(&emu, &r53).await;
    }
    arc_drills(&emu, &r53, drills).await;
    endpoint_checks_alone(&emu, &r53, dark_drills).await;
}

/// One `geoplan serve` process of a group sharing a working directory.
struct Instance {
    id: String,
    url: String,
    child: std::process::Child,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_instance(
    dir: &std::path::Path,
    emu: &Emulator,
    id: &str,
    drop_probes: Option<&str>,
) -> Instance {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_geoplan"));
    cmd.args([
        "serve",
        "regions.toml",
        "--instance",
        id,
        "--listen",
        &format!("127.0.0.1:{port}"),
    ])
    .current_dir(dir)
    .env("AWS_ENDPOINT_URL", &emu.1)
    .env_remove("GEOPLAN_FAULT_DROP_PROBES")
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    if let Some(r) = drop_probes {
        cmd.env("GEOPLAN_FAULT_DROP_PROBES", r);
    }
    Instance {
        id: id.into(),
        url: format!("http://127.0.0.1:{port}"),
        child: cmd.spawn().unwrap(),
    }
}

async fn create_control_tables(emu: &Emulator, name: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    for region in ["us-east-1", "eu-west-1", "ap-northeast-1"] {
        geoplan::aws::dynamodb(region, Some(&emu.1))
            .await
            .create_table()
            .table_name(format!("{name}-geoplan-control"))
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
}

/// The instance that says it is the actor, if exactly one does.
async fn actor_of(instances: &[Instance]) -> Option<String> {
    let mut actors = Vec::new();
    for i in instances {
        let Ok(r) = reqwest::get(format!("{}/v1/status", i.url)).await else {
            continue;
        };
        let Ok(v) = r.json::<serde_json::Value>().await else {
            continue;
        };
        if v["control"]["is_actor"] == true {
            actors.push(i.id.clone());
        }
    }
    (actors.len() == 1).then(|| actors.remove(0))
}

async fn wait_actor(instances: &[Instance], within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        if let Some(a) = actor_of(instances).await {
            return a;
        }
        assert!(Instant::now() < deadline, "no actor within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn report(what: &str, mut times: Vec<f64>) {
    times.sort_by(f64::total_cmp);
    println!(
        "{what}: {} runs, median {:.2} s, p95 {:.2} s, max {:.2} s",
        times.len(),
        pct(&times, 0.5),
        pct(&times, 0.95),
        times[times.len() - 1]
    );
}

async fn ha_drills(emu: &Emulator, r53: &aws_sdk_route53::Client, drills: usize, takeovers: usize) {
    let name = "hadrill";
    let us = Endpoint::new().await;
    let mut eu = Endpoint::new().await;
    create_checks(r53, name, "us-east-1", us.port).await;
    create_checks(r53, name, "eu-west-1", eu.port).await;
    create_control_tables(emu, name).await;
    let dir = tempfile::tempdir().unwrap();
    let monitor = "probe_interval = \"1s\"\nprobe_timeout = \"800ms\"\nfail_after = 2\nrecover_after = 2\nhold_down = \"0s\"\nconfirm_probes = 3\n\n[control]\nregions = [\"us-east-1\", \"eu-west-1\", \"ap-northeast-1\"]\nlease = \"6s\"";
    std::fs::write(
        dir.path().join("regions.toml"),
        config_text(name, [us.port, eu.port], monitor, &dir.path().join("state")),
    )
    .unwrap();
    let mut instances: Vec<Instance> = ["a", "b", "c"]
        .iter()
        .map(|id| spawn_instance(dir.path(), emu, id, None))
        .collect();
    wait_actor(&instances, Duration::from_secs(60)).await;
    let eu_switch = switch_id(r53, name, "eu-west-1").await;
    let zone = latency_records(emu, r53, name).await;
    let mut times = Vec::new();
    let mut at_dns = Vec::new();
    for _ in 0..drills {
        // Settle: eu in service and every instance seeing it up.
        let settle = Instant::now();
        while inverted(r53, &eu_switch).await || dns_answer(r53, &zone, NEAR_EU).await != EU_ADDRESS
        {
            assert!(settle.elapsed() < GIVE_UP, "eu-west-1 never came back");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_secs(4)).await;
        eu.stop().await;
        let t0 = Instant::now();
        let (mut flipped, mut answered) = (None, None);
        while flipped.is_none() || answered.is_none() {
            assert!(
                t0.elapsed() < GIVE_UP,
                "no failover within {GIVE_UP:?}: flipped {flipped:?}, answered {answered:?}"
            );
            if flipped.is_none() && inverted(r53, &eu_switch).await {
                flipped = Some(t0.elapsed().as_secs_f64());
            }
            if answered.is_none() && dns_answer(r53, &zone, NEAR_EU).await != EU_ADDRESS {
                answered = Some(t0.elapsed().as_secs_f64());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        times.extend(flipped);
        at_dns.extend(answered);
        eu.start();
    }
    if !times.is_empty() {
        report("failover, 3 instances (quorum of vantage points)", times);
        report(
            "  the same, measured at the DNS answer (TestDNSAnswer, the emulated data plane)",
            at_dns,
        );
    }
    let mut takeover = Vec::new();
    for _ in 0..takeovers {
        let actor = wait_actor(&instances, Duration::from_secs(60)).await;
        let pos = instances.iter().position(|i| i.id == actor).unwrap();
        let killed = instances.remove(pos);
        let t0 = Instant::now();
        drop(killed); // SIGKILL
        wait_actor(&instances, Duration::from_secs(60)).await;
        takeover.push(t0.elapsed().as_secs_f64());
        instances.push(spawn_instance(dir.path(), emu, &actor, None));
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    if !takeover.is_empty() {
        report("takeover after SIGKILL of the actor (lease 6 s)", takeover);
    }
}

async fn update_calls(emu: &Emulator) -> serde_json::Value {
    reqwest::get(format!("{}/_geoplan/calls", emu.1))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn partitioned_vantage(emu: &Emulator, r53: &aws_sdk_route53::Client) {
    let name = "hapart";
    let us = Endpoint::new().await;
    let eu = Endpoint::new().await;
    create_checks(r53, name, "us-east-1", us.port).await;
    create_checks(r53, name, "eu-west-1", eu.port).await;
    create_control_tables(emu, name).await;
    let dir = tempfile::tempdir().unwrap();
    let monitor = "probe_interval = \"20ms\"\nprobe_timeout = \"15ms\"\nfail_after = 2\nrecover_after = 5\nhold_down = \"0s\"\nconfirm_probes = 3\n\n[control]\nregions = [\"us-east-1\", \"eu-west-1\", \"ap-northeast-1\"]\nlease = \"3s\"";
    std::fs::write(
        dir.path().join("regions.toml"),
        config_text(name, [us.port, eu.port], monitor, &dir.path().join("state")),
    )
    .unwrap();
    let instances = vec![
        spawn_instance(dir.path(), emu, "a", None),
        spawn_instance(dir.path(), emu, "b", None),
        spawn_instance(dir.path(), emu, "c", Some("eu-west-1")),
    ];
    wait_actor(&instances, Duration::from_secs(60)).await;
    let eu_switch = switch_id(r53, name, "eu-west-1").await;
    // 10 minutes of 1 s probes, 50× compressed.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let flips = update_calls(emu).await["UpdateHealthCheck"][&eu_switch]
        .as_u64()
        .unwrap_or(0);
    println!(
        "one vantage point partitioned from a healthy region, 10 min at 50× (30,000 probes by it): {flips} flips, switch {}",
        if inverted(r53, &eu_switch).await {
            "OUT (false failover)"
        } else {
            "in service"
        }
    );
}

async fn flip_storm(emu: &Emulator, r53: &aws_sdk_route53::Client) {
    let name = "storm";
    let regions: Vec<&str> = geoplan::aws::regions::REGIONS
        .iter()
        .copied()
        .take(30)
        .collect();
    // Every endpoint is a closed port: all 30 regions go down together.
    let ports: Vec<u16> = regions
        .iter()
        .map(|_| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        })
        .collect();
    for (r, p) in regions.iter().zip(&ports) {
        create_checks(r53, name, r, *p).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut text = format!(
        "name = \"{name}\"\npattern = \"active-active\"\n[dns]\nzone = \"s.example.com\"\nrecord = \"api.s.example.com\"\n"
    );
    for (r, p) in regions.iter().zip(&ports) {
        text.push_str(&format!("[[region]]\nname = \"{r}\"\nendpoint = \"127.0.0.1\"\n[region.health]\nprotocol = \"TCP\"\nport = {p}\n"));
    }
    text.push_str(&format!(
        "[monitor]\nstate_dir = \"{}\"\nprobe_interval = \"200ms\"\nprobe_timeout = \"100ms\"\nfail_after = 2\nhold_down = \"0s\"\nresync_interval = \"5s\"\nroute53_rate = 4\n",
        dir.path().join("state").display()
    ));
    let before = update_calls(emu).await["route53_times"]
        .as_array()
        .map_or(0, Vec::len);
    let (cancel, task) = start_serve(emu, &text).await;
    // min_in_service = 1: 29 take-outs, each an update and a read-back, plus resync
    // reads. Watched with one ListHealthChecks every 2 s, so that at most one request
    // in any second is this bench's own.
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let page = r53
            .list_health_checks()
            .max_items(1000)
            .send()
            .await
            .unwrap();
        let out = page
            .health_checks()
            .iter()
            .filter(|h| h.health_check_config().and_then(|c| c.inverted()) == Some(true))
            .count();
        if out >= 29 || started.elapsed() > Duration::from_secs(180) {
            println!(
                "flip storm: {out} of 30 regions taken out in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            break;
        }
    }
    cancel.cancel();
    task.await.unwrap();
    let times: Vec<f64> = update_calls(emu).await["route53_times"]
        .as_array()
        .unwrap()
        .iter()
        .skip(before)
        .filter_map(serde_json::Value::as_f64)
        .collect();
    let mut max_in_second = 0;
    let mut busiest = 0;
    for (i, t) in times.iter().enumerate() {
        let n = times[i..].iter().take_while(|u| **u < t + 1.0).count();
        if n > max_in_second {
            max_in_second = n;
            busiest = i;
        }
    }
    if std::env::var("STORM_LOG").is_ok() {
        let log = update_calls(emu).await["route53_log"].clone();
        let log: Vec<&str> = log
            .as_array()
            .unwrap()
            .iter()
            .skip(before)
            .filter_map(|v| v.as_str())
            .collect();
        for l in &log[busiest..(busiest + max_in_second).min(log.len())] {
            eprintln!("  {l}");
        }
    }
    println!(
        "flip storm: {} Route 53 requests; at most {max_in_second} in any one second (budget 4/s, plus at most 1 of the bench's own)",
        times.len()
    );
}

/// POSTs a moto test hook (`/_geoplan/PATH_AND_QUERY`).
async fn hook(emu: &Emulator, path_and_query: &str) {
    let resp = reqwest::Client::new()
        .post(format!("{}/_geoplan/{path_and_query}", emu.1))
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "{path_and_query}: {}",
        resp.status()
    );
}

/// An ARC cluster, panel, a routing control per region (turned On) and the rule "at
/// least 1 On"; returns each region's routing control.
async fn create_arc(emu: &Emulator, name: &str) -> Vec<(String, String)> {
    use aws_sdk_route53recoverycluster::types::{
        RoutingControlState, UpdateRoutingControlStateEntry,
    };
    use aws_sdk_route53recoverycontrolconfig::types::{NewAssertionRule, RuleConfig, RuleType};
    let sdk =
        geoplan::aws::sdk_config(geoplan::control::arc::CONTROL_CONFIG_REGION, Some(&emu.1)).await;
    let config = aws_sdk_route53recoverycontrolconfig::Client::new(&sdk);
    let cluster = config
        .create_cluster()
        .cluster_name(name)
        .send()
        .await
        .unwrap();
    let cluster = cluster.cluster().unwrap();
    let cluster_arn = cluster.cluster_arn().unwrap().to_owned();
    let endpoint = cluster.cluster_endpoints()[0].clone();
    let panel = config
        .create_control_panel()
        .cluster_arn(&cluster_arn)
        .control_panel_name(name)
        .send()
        .await
        .unwrap();
    let panel = panel
        .control_panel()
        .unwrap()
        .control_panel_arn()
        .unwrap()
        .to_owned();
    let mut controls = Vec::new();
    for region in ["us-east-1", "eu-west-1"] {
        let rc = config
            .create_routing_control()
            .cluster_arn(&cluster_arn)
            .control_panel_arn(&panel)
            .routing_control_name(format!("{name}-{region}"))
            .send()
            .await
            .unwrap();
        let arn = rc
            .routing_control()
            .unwrap()
            .routing_control_arn()
            .unwrap()
            .to_owned();
        controls.push((region.to_owned(), arn));
    }
    config
        .create_safety_rule()
        .assertion_rule(
            NewAssertionRule::builder()
                .name(format!("{name}-min"))
                .control_panel_arn(&panel)
                .set_asserted_controls(Some(controls.iter().map(|(_, a)| a.clone()).collect()))
                .wait_period_ms(0)
                .rule_config(
                    RuleConfig::builder()
                        .r#type(RuleType::Atleast)
                        .threshold(1)
                        .inverted(false)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let data = geoplan::aws::sdk_config(endpoint.region().unwrap(), endpoint.endpoint()).await;
    aws_sdk_route53recoverycluster::Client::new(&data)
        .update_routing_control_states()
        .set_update_routing_control_state_entries(Some(
            controls
                .iter()
                .map(|(_, arn)| {
                    UpdateRoutingControlStateEntry::builder()
                        .routing_control_arn(arn)
                        .routing_control_state(RoutingControlState::On)
                        .build()
                        .unwrap()
                })
                .collect(),
        ))
        .send()
        .await
        .unwrap();
    controls
}

/// Where the emulator's DNS server answers.
async fn dns_server(emu: &Emulator) -> String {
    let v: serde_json::Value = reqwest::get(format!("{}/_geoplan/dataplane", emu.1))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["dns"].as_str().unwrap().to_owned()
}

/// The first address the DNS server at `server` answers for `name` A to a client in
/// `client`'s /24 (EDNS client subnet, as `dig +subnet=` sends it).
async fn dig(server: &str, name: &str, client: &str) -> String {
    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
    use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
    use hickory_proto::rr::{Name, RData, RecordType};
    let mut query = Message::new(0x4750, MessageType::Query, OpCode::Query);
    query.add_query(Query::query(
        Name::from_ascii(format!("{name}.")).unwrap(),
        RecordType::A,
    ));
    let mut edns = Edns::new();
    edns.options_mut()
        .insert(EdnsOption::Subnet(ClientSubnet::new(
            client.parse().unwrap(),
            24,
            0,
        )));
    query.set_edns(edns);
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket
        .send_to(&query.to_vec().unwrap(), server)
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(10), socket.recv_from(&mut buf))
        .await
        .expect("the DNS server answers")
        .unwrap();
    let reply = Message::from_vec(&buf[..n]).unwrap();
    reply
        .answers
        .iter()
        .find_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            _ => None,
        })
        .unwrap_or_default()
}

/// Kills eu-west-1's endpoint `drills` times and times how long until the DNS server
/// stops answering it to a client near eu-west-1 (each drill starts with eu back in
/// the answer and `settle` for every instance to see it up).
async fn drills_at_dns(
    eu: &mut Endpoint,
    server: &str,
    name: &str,
    drills: usize,
    settle: Duration,
) -> Vec<f64> {
    let mut times = Vec::new();
    for _ in 0..drills {
        let t = Instant::now();
        while dig(server, name, NEAR_EU).await != EU_ADDRESS {
            assert!(t.elapsed() < GIVE_UP * 2, "eu-west-1 never came back");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(settle).await;
        eu.stop().await;
        let t0 = Instant::now();
        while dig(server, name, NEAR_EU).await == EU_ADDRESS {
            assert!(
                t0.elapsed() < GIVE_UP,
                "eu-west-1 still answered after {GIVE_UP:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        times.push(t0.elapsed().as_secs_f64());
        eu.start();
    }
    times
}

/// Section 7: three instances flipping ARC routing controls while every Route 53 API
/// call is held (its control plane dark).
async fn arc_drills(emu: &Emulator, r53: &aws_sdk_route53::Client, drills: usize) {
    let name = "arcdrill";
    let us = Endpoint::new().await;
    let mut eu = Endpoint::new().await;
    let controls = create_arc(emu, name).await;
    for ((region, arn), port) in controls.iter().zip([us.port, eu.port]) {
        let switch = HealthCheckConfig::builder()
            .r#type(HealthCheckType::RecoveryControl)
            .routing_control_arn(arn)
            .build()
            .unwrap();
        create_checks_with(r53, name, region, port, switch, (30, 3)).await;
    }
    create_control_tables(emu, name).await;
    let dir = tempfile::tempdir().unwrap();
    let monitor = "probe_interval = \"1s\"\nprobe_timeout = \"800ms\"\nfail_after = 2\nrecover_after = 2\nhold_down = \"0s\"\nconfirm_probes = 3\nswitch = \"arc\"\n\n[control]\nregions = [\"us-east-1\", \"eu-west-1\", \"ap-northeast-1\"]\nlease = \"6s\"";
    std::fs::write(
        dir.path().join("regions.toml"),
        config_text(name, [us.port, eu.port], monitor, &dir.path().join("state")),
    )
    .unwrap();
    let instances: Vec<Instance> = ["a", "b", "c"]
        .iter()
        .map(|id| spawn_instance(dir.path(), emu, id, None))
        .collect();
    wait_actor(&instances, Duration::from_secs(60)).await;
    latency_records(emu, r53, name).await;
    let server = dns_server(emu).await;
    hook(emu, "hang?service=route53&seconds=36000").await;
    let times = drills_at_dns(
        &mut eu,
        &server,
        &format!("api.{name}.example.com"),
        drills,
        Duration::from_secs(4),
    )
    .await;
    report(
        "failover, 3 instances, switch = \"arc\", Route 53's control plane dark, at the DNS answer (UDP)",
        times,
    );
    hook(emu, "hang?clear=1").await;
    drop(instances);
}

/// Section 8: the `route53` path with its control plane dark: no flip can be made,
/// so the endpoint checks alone (10 s, threshold 3) take the region out.
async fn endpoint_checks_alone(emu: &Emulator, r53: &aws_sdk_route53::Client, drills: usize) {
    if drills == 0 {
        return;
    }
    let name = "darkdrill";
    let us = Endpoint::new().await;
    let mut eu = Endpoint::new().await;
    for (region, port) in [("us-east-1", us.port), ("eu-west-1", eu.port)] {
        let switch = HealthCheckConfig::builder()
            .r#type(HealthCheckType::Calculated)
            .health_threshold(0)
            .build()
            .unwrap();
        create_checks_with(r53, name, region, port, switch, (10, 3)).await;
    }
    latency_records(emu, r53, name).await;
    // Each checker at its check's own RequestInterval (the fast 10 s).
    hook(emu, "dataplane?interval=0").await;
    let server = dns_server(emu).await;
    hook(emu, "hang?service=route53&seconds=36000").await;
    let times = drills_at_dns(
        &mut eu,
        &server,
        &format!("api.{name}.example.com"),
        drills,
        Duration::ZERO,
    )
    .await;
    report(
        "switch = \"route53\", its control plane dark: the endpoint checks alone (10 s × 3), at the DNS answer (UDP)",
        times,
    );
    hook(emu, "hang?clear=1").await;
}
