//! Several `geoplan serve` instances (real binaries) coordinating through the control
//! tables in the emulator: one actor at a time, takeover after SIGKILL within 2 × lease,
//! no flip lost or doubled, a quorum of vantage points deciding, a deposed actor
//! unable to overwrite its successor.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

const TOKEN: &str = "ha-token";
/// The lease of the tests' deployments: short, so takeovers are quick to test, but a
/// round (lease/3) long enough for the emulator to answer on a host running four of
/// these tests at once, each with three instances.
const LEASE: Duration = Duration::from_secs(5);
const CONTROL: [&str; 3] = ["us-east-1", "eu-west-1", "ap-northeast-1"];

fn config(name: &str, us: u16, eu: u16) -> String {
    // The serve tests' deployment, renamed, with three control regions. The probes
    // allow more than the serve tests' 150 ms (every 600 ms, 500 ms each, three misses): the fake endpoints live in this test
    // process, and a stall of the host that makes every instance's probes miss is a
    // region down for all vantage points, which the quorum rightly acts on. Seen once
    // in five runs of `ha:: serve::`: a take-out and put-back of a healthy region
    // while only one instance was cut off from it.
    let text = crate::serve::config(us, eu)
        .replace("drill", name)
        .replace("probe_interval = \"200ms\"", "probe_interval = \"600ms\"")
        .replace("probe_timeout = \"150ms\"", "probe_timeout = \"500ms\"")
        .replace("fail_after = 2", "fail_after = 3");
    assert!(text.contains("probe_interval = \"600ms\"") && text.contains("fail_after = 3"));
    text + "\n[control]\nregions = [\"us-east-1\", \"eu-west-1\", \"ap-northeast-1\"]\nlease = \"5s\"\n"
}

/// The checks and control tables `geoplan apply` would create, made through the SDK.
async fn deploy(emu: &Emulator, name: &str, us: u16, eu: u16) {
    let r53 = emu.route53().await;
    create_region_checks(&r53, name, "us-east-1", us).await;
    create_region_checks(&r53, name, "eu-west-1", eu).await;
    for region in CONTROL {
        create_table(emu, region, &format!("{name}-geoplan-control"), "pk").await;
    }
}

struct Instance {
    id: String,
    url: String,
    child: Child,
}

impl Instance {
    async fn start(wd: &Workdir, emu: &Emulator, id: &str, drop_probes: Option<&str>) -> Instance {
        Instance::start_with(wd, emu, id, drop_probes, &[]).await
    }

    /// `start`, with extra environment (fault hooks).
    async fn start_with(
        wd: &Workdir,
        emu: &Emulator,
        id: &str,
        drop_probes: Option<&str>,
        env: &[(&str, &str)],
    ) -> Instance {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_geoplan"));
        cmd.args([
            "serve",
            "regions.toml",
            "--instance",
            id,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .current_dir(wd.path())
        .envs(emu.env())
        .env("GEOPLAN_API_TOKEN", TOKEN)
        .env_remove("GEOPLAN_FAULT_DROP_PROBES")
        .env_remove("GEOPLAN_FAULT_FLIP_DELAY")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // GEOPLAN_TEST_LOGS=DIR keeps each instance's log (DIR/<port>-<id>.log).
        if let Some(dir) = std::env::var_os("GEOPLAN_TEST_LOGS") {
            let path = std::path::Path::new(&dir).join(format!("{port}-{id}.log"));
            cmd.stderr(std::fs::File::create(path).unwrap())
                .env("GEOPLAN_LOG", "geoplan=trace,info");
        }
        if let Some(r) = drop_probes {
            cmd.env("GEOPLAN_FAULT_DROP_PROBES", r);
        }
        // An orphaned instance would load the host and hold the lease of later runs.
        crate::support::die_with_parent(&mut cmd);
        let instance = Instance {
            id: id.into(),
            url: format!("http://127.0.0.1:{port}"),
            child: cmd.spawn().unwrap(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(format!("{}/readyz", instance.url))
            .await
            .map_or(true, |r| !r.status().is_success())
        {
            assert!(Instant::now() < deadline, "{id} did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        instance
    }

    fn signal(&self, sig: &str) {
        Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
    }

    fn stop(mut self) -> std::process::ExitStatus {
        self.signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "{} did not stop", self.id);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn status(url: &str) -> Option<Value> {
    reqwest::Client::new()
        .get(format!("{url}/v1/status"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// The instances that say they are the actor right now.
async fn actors(urls: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for u in urls {
        if let Some(s) = status(u).await
            && s["control"]["is_actor"] == true
        {
            out.push(s["control"]["instance"].as_str().unwrap().to_owned());
        }
    }
    out
}

async fn wait_for_actor(urls: &[String], within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let a = actors(urls).await;
        if a.len() == 1 {
            return a[0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no single actor within {within:?}: {a:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn switch_inverted(emu: &Emulator, id: &str) -> bool {
    emu.route53()
        .await
        .get_health_check()
        .health_check_id(id)
        .send()
        .await
        .unwrap()
        .health_check()
        .unwrap()
        .health_check_config()
        .unwrap()
        .inverted()
        .unwrap_or(false)
}

async fn update_calls(emu: &Emulator, id: &str) -> u64 {
    let v: Value = reqwest::get(format!("{}/_geoplan/calls", emu.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["UpdateHealthCheck"][id].as_u64().unwrap_or(0)
}

/// The lease item's version in the first control table: every renewal round bumps it.
async fn lease_version(emu: &Emulator, name: &str) -> u64 {
    let item = emu
        .dynamodb(CONTROL[0])
        .await
        .get_item()
        .table_name(format!("{name}-geoplan-control"))
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("lease".into()),
        )
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    item.item()
        .and_then(|i| i.get("version"))
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Waits for `n` more lease rounds of the actor (renewals seen in the table), so that
/// "nothing happened" is said over rounds, not over a guessed sleep. The time allowed
/// derives from the lease: a round is a third of it, and a loaded host may be slow.
async fn wait_rounds(emu: &Emulator, name: &str, n: u64) {
    let start = lease_version(emu, name).await;
    let deadline = Instant::now() + (n as u32 + 3) * LEASE;
    while lease_version(emu, name).await < start + n {
        assert!(
            Instant::now() < deadline,
            "the actor renewed fewer than {n} times"
        );
        tokio::time::sleep(LEASE / 10).await;
    }
}

/// Waits until every instance names `actor` as the actor (a non-actor learns it at its
/// next lease round).
async fn wait_all_agree(urls: &[String], actor: &str) {
    let deadline = Instant::now() + 2 * LEASE;
    for u in urls {
        loop {
            let s = status(u).await;
            if s.as_ref()
                .is_some_and(|s| s["control"]["actor"]["instance"] == actor)
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{u} never named {actor} the actor: {s:?}"
            );
            tokio::time::sleep(LEASE / 30).await;
        }
    }
}

/// Watches every instance every 100 ms and counts moments with two actors.
fn watch_for_two_actors(
    urls: Vec<String>,
) -> (
    Arc<AtomicBool>,
    Arc<AtomicUsize>,
    tokio::task::JoinHandle<Vec<String>>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let checks = Arc::new(AtomicUsize::new(0));
    let (s, c) = (stop.clone(), checks.clone());
    let task = tokio::spawn(async move {
        let mut overlaps = Vec::new();
        while !s.load(Ordering::Relaxed) {
            let a = actors(&urls).await;
            if a.len() > 1 {
                overlaps.push(format!("{a:?}"));
            }
            c.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        overlaps
    });
    (stop, checks, task)
}

#[tokio::test(flavor = "multi_thread")]
async fn one_actor_at_a_time_and_a_new_one_within_two_leases_after_a_kill() {
    let emu = Emulator::moto(); // counts UpdateHealthCheck calls (a moto hook)
    let us = FakeRegion::start_new().await;
    let mut eu = FakeRegion::start_new().await;
    deploy(&emu, "trio", us.port, eu.port).await;
    let wd = Workdir::with_text("regions.toml", &config("trio", us.port, eu.port));
    let mut instances = Vec::new();
    for id in ["a", "b", "c"] {
        instances.push(Instance::start(&wd, &emu, id, None).await);
    }
    let urls: Vec<String> = instances.iter().map(|i| i.url.clone()).collect();
    let (stop, checks, watcher) = watch_for_two_actors(urls.clone());

    let first = wait_for_actor(&urls, Duration::from_secs(20)).await;
    let st = status(&urls[0]).await.unwrap();
    let eu_switch = st["regions"][1]["health_checks"]["switch"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_all_agree(&urls, &first).await;

    // SIGKILL the actor: a successor within 2 × lease.
    let pos = instances.iter().position(|i| i.id == first).unwrap();
    let killed = instances.remove(pos);
    let killed_at = Instant::now();
    drop(killed); // SIGKILL
    let rest: Vec<String> = instances.iter().map(|i| i.url.clone()).collect();
    let second = wait_for_actor(&rest, 4 * LEASE).await;
    let takeover = killed_at.elapsed();
    assert_ne!(second, first);
    assert!(takeover <= 2 * LEASE, "takeover took {takeover:?}");
    // The new actor's own view (another instance's may be a round behind).
    let s = status(&urls_of_actor(&instances, &second)).await.unwrap();
    assert_eq!(s["control"]["actor"]["instance"], second.as_str());
    assert!(
        s["control"]["actor"]["epoch"].as_u64().unwrap() >= 2,
        "a higher epoch: {s:#}"
    );

    // A region failing right after is still taken out, once.
    eu.stop().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !switch_inverted(&emu, &eu_switch).await {
        assert!(
            Instant::now() < deadline,
            "eu-west-1 was not taken out by the new actor"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let any duplicate flip happen before counting: several rounds of the actor.
    wait_rounds(&emu, "trio", 6).await;
    assert_eq!(
        update_calls(&emu, &eu_switch).await,
        1,
        "one flip, not lost, not doubled"
    );
    let events: Value = reqwest::get(format!(
        "{}/v1/events?limit=1000",
        urls_of_actor(&instances, &second)
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let failover = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "failover")
        .unwrap_or_else(|| panic!("{events:#}"))
        .clone();
    assert!(
        failover["message"].as_str().unwrap().contains(&format!(
            "(by {second}, epoch {}) (",
            s["control"]["actor"]["epoch"]
        )),
        "the event names the instance and epoch: {failover:#}"
    );
    // With its duration, measured by the actor that flipped.
    assert!(failover["took_ms"].as_u64().is_some(), "{failover:#}");

    stop.store(true, Ordering::Relaxed);
    let overlaps = watcher.await.unwrap();
    assert!(checks.load(Ordering::Relaxed) > 50, "the watcher watched");
    assert!(overlaps.is_empty(), "two actors at once: {overlaps:?}");
    for i in instances {
        assert!(i.stop().success());
    }
}

fn urls_of_actor(instances: &[Instance], id: &str) -> String {
    instances.iter().find(|i| i.id == id).unwrap().url.clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_partitioned_vantage_point_cannot_drain_a_healthy_region_two_can() {
    let emu = Emulator::moto(); // counts UpdateHealthCheck calls (a moto hook)
    let us = FakeRegion::start_new().await;
    let eu = FakeRegion::start_new().await;
    deploy(&emu, "parts", us.port, eu.port).await;
    let wd = Workdir::with_text("regions.toml", &config("parts", us.port, eu.port));
    let a = Instance::start(&wd, &emu, "a", None).await;
    let b = Instance::start(&wd, &emu, "b", None).await;
    let c = Instance::start(&wd, &emu, "c", Some("eu-west-1")).await;
    let urls = vec![a.url.clone(), b.url.clone(), c.url.clone()];
    let actor = wait_for_actor(&urls, Duration::from_secs(20)).await;
    let actor_url = [&a, &b, &c]
        .iter()
        .find(|i| i.id == actor)
        .unwrap()
        .url
        .clone();
    let eu_switch = status(&actor_url).await.unwrap()["regions"][1]["health_checks"]["switch"]
        .as_str()
        .unwrap()
        .to_owned();

    // The actor sees c's "down" beside a's and b's "up"...
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let s = status(&actor_url).await.unwrap();
        let eu = &s["regions"][1];
        let c_says = if actor == "c" {
            eu["verdict"].clone()
        } else {
            eu["vantages"]
                .as_array()
                .and_then(|v| v.iter().find(|x| x["instance"] == "c"))
                .map_or(Value::Null, |x| x["verdict"].clone())
        };
        if c_says == "down" {
            assert_ne!(
                eu["decided"], "down",
                "one vantage point is no quorum: {s:#}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "c's verdict never reached the actor: {s:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // ... and over several more rounds does nothing.
    wait_rounds(&emu, "parts", 6).await;
    assert!(
        !switch_inverted(&emu, &eu_switch).await,
        "one vantage point is not a quorum"
    );
    assert_eq!(update_calls(&emu, &eu_switch).await, 0);

    // A second instance loses eu-west-1: two of three is a quorum.
    let (keep, restart) = if actor == "a" { (a, b) } else { (b, a) };
    let id = restart.id.clone();
    assert!(restart.stop().success());
    let restarted = Instance::start(&wd, &emu, &id, Some("eu-west-1")).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !switch_inverted(&emu, &eu_switch).await {
        assert!(
            Instant::now() < deadline,
            "two vantage points saying down did not take eu-west-1 out"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for i in [keep, restarted, c] {
        assert!(i.stop().success());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deposed_actor_cannot_overwrite_its_successor() {
    let emu = Emulator::moto(); // counts UpdateHealthCheck calls (a moto hook)
    let us = FakeRegion::start_new().await;
    let eu = FakeRegion::start_new().await;
    deploy(&emu, "fence", us.port, eu.port).await;
    let wd = Workdir::with_text("regions.toml", &config("fence", us.port, eu.port));
    let mut instances = Vec::new();
    for id in ["a", "b", "c"] {
        instances.push(Instance::start(&wd, &emu, id, None).await);
    }
    let urls: Vec<String> = instances.iter().map(|i| i.url.clone()).collect();
    let first = wait_for_actor(&urls, Duration::from_secs(20)).await;
    let eu_switch = status(&urls[0]).await.unwrap()["regions"][1]["health_checks"]["switch"]
        .as_str()
        .unwrap()
        .to_owned();
    let paused = instances.iter().find(|i| i.id == first).unwrap();
    paused.signal("-STOP");
    let others: Vec<String> = instances
        .iter()
        .filter(|i| i.id != first)
        .map(|i| i.url.clone())
        .collect();
    let second = wait_for_actor(&others, 4 * LEASE).await;
    // Once both live instances know the new actor, drain through the one that is not
    // it: it forwards.
    let deadline = Instant::now() + 2 * LEASE;
    for u in &others {
        while status(u).await.unwrap()["control"]["actor"]["instance"] != second.as_str() {
            assert!(Instant::now() < deadline, "{u} never learned the new actor");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let via = instances
        .iter()
        .find(|i| i.id != first && i.id != second)
        .unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{}/v1/regions/eu-west-1/drain", via.url))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"reason": "fence drill"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["x-geoplan-actor"].to_str().unwrap(),
        urls_of_actor(&instances, &second),
        "forwarded to the actor"
    );
    assert!(switch_inverted(&emu, &eu_switch).await);
    // The deposed actor wakes up: it must not act on its stale lease.
    paused.signal("-CONT");
    wait_all_agree(std::slice::from_ref(&paused.url), &second).await;
    wait_rounds(&emu, "fence", 6).await;
    let s = status(&paused.url).await.unwrap();
    assert_eq!(s["control"]["is_actor"], false, "{s:#}");
    assert_eq!(s["control"]["actor"]["instance"], second.as_str());
    assert!(
        switch_inverted(&emu, &eu_switch).await,
        "the successor's drain stands"
    );
    assert_eq!(
        update_calls(&emu, &eu_switch).await,
        1,
        "nothing flipped it since"
    );
    assert_eq!(
        s["regions"][1]["switch"]["cause"], "manual",
        "the woken instance adopted the successor's record, not a drain of unknown cause: {s:#}"
    );
    // `status CONFIG`, with no control plane asked, finds the cause where the
    // instances keep it: in the control tables.
    let direct =
        crate::support::geoplan(wd.path(), &["status", "regions.toml", "--json"], Some(&emu));
    assert!(
        direct.status.success(),
        "{}",
        String::from_utf8_lossy(&direct.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&direct.stdout).unwrap();
    assert_eq!(doc["regions"][1]["switch"]["cause"], "manual", "{doc:#}");
    assert_eq!(
        doc["regions"][1]["switch"]["reason"], "fence drill",
        "{doc:#}"
    );
    for i in instances {
        assert!(i.stop().success());
    }
}

/// The fence itself: a flip with a version read before someone else's flip is refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_flip_on_a_stale_version_is_refused() {
    let emu = Emulator::start();
    let r53 = emu.route53().await;
    create_region_checks(&r53, "stale", "eu-west-1", free_port()).await;
    let id = geoplan::control::switches::discover(&r53, "stale")
        .await
        .unwrap()["eu-west-1"]
        .switch
        .clone();
    let (_, read) = geoplan::control::switches::read(&r53, &id).await.unwrap();
    let newer = geoplan::control::switches::set_inverted(&r53, &id, true, Some(read), None)
        .await
        .unwrap();
    assert_eq!(newer, read + 1, "every change bumps the version");
    let late = geoplan::control::switches::set_inverted(&r53, &id, false, Some(read), None).await;
    assert!(
        matches!(
            late,
            Err(geoplan::control::switches::SwitchError::Fenced(_))
        ),
        "{late:?}"
    );
    assert!(
        switch_inverted(&emu, &id).await,
        "the newer decision stands"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn losing_one_control_table_changes_nothing() {
    let emu = Emulator::start();
    let us = FakeRegion::start_new().await;
    let mut eu = FakeRegion::start_new().await;
    deploy(&emu, "minus", us.port, eu.port).await;
    let wd = Workdir::with_text("regions.toml", &config("minus", us.port, eu.port));
    let mut instances = Vec::new();
    for id in ["a", "b", "c"] {
        instances.push(Instance::start(&wd, &emu, id, None).await);
    }
    let urls: Vec<String> = instances.iter().map(|i| i.url.clone()).collect();
    let actor = wait_for_actor(&urls, Duration::from_secs(20)).await;
    let actor_url = urls_of_actor(&instances, &actor);
    let eu_switch = status(&actor_url).await.unwrap()["regions"][1]["health_checks"]["switch"]
        .as_str()
        .unwrap()
        .to_owned();
    emu.dynamodb("ap-northeast-1")
        .await
        .delete_table()
        .table_name("minus-geoplan-control")
        .send()
        .await
        .unwrap();
    // The lost table shows, and 2 of 3 tables still make a majority. (LocalStack's
    // DynamoDB Local can stall every table for a second or more while it deletes one,
    // so a renewal may miss its window then: the actor is the actor again at once.)
    let deadline = Instant::now() + 2 * LEASE;
    loop {
        let s = status(&actor_url).await.unwrap();
        if s["control"]["tables_reachable"] == 2 && s["control"]["is_actor"] == true {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the lost table never showed, or the actor lost its majority: {s:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eu.stop().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !switch_inverted(&emu, &eu_switch).await {
        assert!(
            Instant::now() < deadline,
            "no failover with one control table gone"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        actors(&urls).await.as_slice(),
        std::slice::from_ref(&actor),
        "the same single actor throughout"
    );
    for i in instances {
        assert!(i.stop().success());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn while_aws_is_dark_probing_goes_on_and_the_actor_catches_up() {
    let emu = Emulator::moto(); // pauses AWS and counts calls (moto hooks)
    let us = FakeRegion::start_new().await;
    let mut eu = FakeRegion::start_new().await;
    deploy(&emu, "dark", us.port, eu.port).await;
    let wd = Workdir::with_text("regions.toml", &config("dark", us.port, eu.port));
    let mut instances = Vec::new();
    for id in ["a", "b", "c"] {
        instances.push(Instance::start(&wd, &emu, id, None).await);
    }
    let urls: Vec<String> = instances.iter().map(|i| i.url.clone()).collect();
    wait_for_actor(&urls, Duration::from_secs(20)).await;
    let eu_switch = status(&urls[0]).await.unwrap()["regions"][1]["health_checks"]["switch"]
        .as_str()
        .unwrap()
        .to_owned();
    // Route 53 and DynamoDB stop answering for 30 s; eu-west-1 fails meanwhile.
    let pause = Duration::from_secs(30);
    emu.pause(pause).await;
    let dark = Instant::now();
    eu.stop().await;
    let mut seen_down = [false; 3];
    while dark.elapsed() < pause - Duration::from_secs(2) {
        for (k, u) in urls.iter().enumerate() {
            let health = reqwest::get(format!("{u}/healthz")).await.unwrap();
            assert_eq!(
                health.status(),
                200,
                "instance {k} stalled while AWS is dark"
            );
            let s = status(u).await.unwrap();
            seen_down[k] |= s["regions"][1]["verdict"] == "down";
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        seen_down, [true; 3],
        "every instance kept probing and saw eu-west-1 fail"
    );
    // AWS is back: an actor holds the lease again and takes eu-west-1 out.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !switch_inverted(&emu, &eu_switch).await {
        assert!(
            Instant::now() < deadline,
            "no actor caught up after AWS came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Right after, held-back writes may cost the actor its majority for a round: never
    // two actors, and one again within a lease or two.
    assert!(actors(&urls).await.len() <= 1);
    wait_for_actor(&urls, 4 * LEASE).await;
    assert_eq!(update_calls(&emu, &eu_switch).await, 1, "one flip");
    for i in instances {
        assert!(i.stop().success());
    }
}

/// Interleaving 1, end to end: the actor decides a take-out, then its process stalls
/// with the flip in flight (every flip waits `GEOPLAN_FAULT_FLIP_DELAY` before it is
/// sent; the actor is then paused). Its successor takes the *other* region out. When
/// the stalled actor wakes, its flip is past its deadline: it must never be sent, or
/// both regions would be out, below `min_in_service`.
#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_actors_flip_in_flight_never_lands_after_its_window() {
    let emu = Emulator::moto(); // counts UpdateHealthCheck calls (a moto hook)
    let mut us = FakeRegion::start_new().await;
    let mut eu = FakeRegion::start_new().await;
    deploy(&emu, "stall", us.port, eu.port).await;
    let wd = Workdir::with_text("regions.toml", &config("stall", us.port, eu.port));
    // Longer than a lease: a flip the first actor decides waits past its window. Only
    // the first actor stalls so; it starts alone, so it is the one that acts.
    let delay = format!("{}ms", (2 * LEASE).as_millis());
    let env = [("GEOPLAN_FAULT_FLIP_DELAY", delay.as_str())];
    let mut instances = vec![Instance::start_with(&wd, &emu, "a", None, &env).await];
    let first = wait_for_actor(&[instances[0].url.clone()], Duration::from_secs(20)).await;
    for id in ["b", "c"] {
        instances.push(Instance::start(&wd, &emu, id, None).await);
    }
    let urls: Vec<String> = instances.iter().map(|i| i.url.clone()).collect();
    wait_all_agree(&urls, &first).await;
    let first_url = urls_of_actor(&instances, &first);
    let st = status(&first_url).await.unwrap();
    let switch = |i: usize| {
        st["regions"][i]["health_checks"]["switch"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (us_switch, eu_switch) = (switch(0), switch(1));

    // Once the first actor acts (it has read every switch), eu-west-1 fails: the actor
    // decides to take it out, in the same step starts the flip, and the flip waits.
    let deadline = Instant::now() + 4 * LEASE;
    loop {
        let events: Value = reqwest::get(format!("{first_url}/v1/events?limit=1000"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if events["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "actor")
        {
            break;
        }
        assert!(Instant::now() < deadline, "{first} never acted: {events:#}");
        tokio::time::sleep(LEASE / 30).await;
    }
    eu.stop().await;
    let deadline = Instant::now() + 5 * LEASE;
    loop {
        let s = status(&first_url).await.unwrap();
        if s["regions"][1]["decided"] == "down" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the actor never decided eu-west-1 down: {s:#}"
        );
        tokio::time::sleep(LEASE / 30).await;
    }
    let stalled = instances.iter().find(|i| i.id == first).unwrap();
    stalled.signal("-STOP");
    // eu-west-1 recovers and us-east-1 fails; the successor takes us-east-1 out.
    eu.start().await;
    us.stop().await;
    let others: Vec<String> = instances
        .iter()
        .filter(|i| i.id != first)
        .map(|i| i.url.clone())
        .collect();
    let second = wait_for_actor(&others, 4 * LEASE).await;
    let deadline = Instant::now() + 6 * LEASE;
    while !switch_inverted(&emu, &us_switch).await {
        assert!(
            Instant::now() < deadline,
            "{second} never took us-east-1 out"
        );
        tokio::time::sleep(LEASE / 30).await;
    }
    // The stalled actor wakes: its flip is long past its deadline.
    stalled.signal("-CONT");
    let deadline = Instant::now() + 6 * LEASE;
    loop {
        let events: Value = reqwest::get(format!("{}/v1/events?limit=1000", stalled.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let dropped = events["events"].as_array().unwrap().iter().any(|e| {
            e["kind"] == "action-failed" && e["message"].as_str().unwrap_or("").contains("deadline")
        });
        if dropped {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stalled flip's end was never recorded: {events:#}"
        );
        tokio::time::sleep(LEASE / 30).await;
    }
    assert!(
        !switch_inverted(&emu, &eu_switch).await,
        "the deposed actor's take-out of eu-west-1 landed after its successor's flip"
    );
    assert_eq!(update_calls(&emu, &eu_switch).await, 0, "it was never sent");
    assert_eq!(update_calls(&emu, &us_switch).await, 1);
    for i in instances {
        assert!(i.stop().success());
    }
}

/// Interleaving 6, end to end: one control region hangs for the actor alone (its calls
/// there are held, not refused). The actor keeps its lease on the other two, without a
/// change of actor, and a failover still happens.
#[tokio::test(flavor = "multi_thread")]
async fn one_hung_control_region_leaves_the_actor_acting() {
    let emu = Emulator::moto(); // hangs one instance's calls (a moto hook)
    let us = FakeRegion::start_new().await;
    let mut eu = FakeRegion::start_new().await;
    deploy(&emu, "hung", us.port, eu.port).await;
    let wd = Workdir::with_text("regions.toml", &config("hung", us.port, eu.port));
    let mut instances = Vec::new();
    for id in ["a", "b", "c"] {
        instances.push(Instance::start(&wd, &emu, id, None).await);
    }
    let urls: Vec<String> = instances.iter().map(|i| i.url.clone()).collect();
    let actor = wait_for_actor(&urls, Duration::from_secs(20)).await;
    wait_all_agree(&urls, &actor).await;
    let actor_url = urls_of_actor(&instances, &actor);
    let before = status(&actor_url).await.unwrap();
    let changes = before["control"]["leadership_changes"].as_u64().unwrap();
    let eu_switch = before["regions"][1]["health_checks"]["switch"]
        .as_str()
        .unwrap()
        .to_owned();
    emu.hang(
        "dynamodb",
        CONTROL[2],
        &format!("app/geoplan-{actor}"),
        20 * LEASE,
    )
    .await;
    let (stop, checks, watcher) = watch_for_two_actors(urls.clone());
    // Several rounds with the table hung: the actor stays the actor throughout.
    wait_rounds(&emu, "hung", 6).await;
    let s = status(&actor_url).await.unwrap();
    assert_eq!(s["control"]["is_actor"], true, "{s:#}");
    assert_eq!(s["control"]["tables_reachable"], 2, "{s:#}");
    assert_eq!(
        s["control"]["leadership_changes"].as_u64().unwrap(),
        changes,
        "no change of actor: {s:#}"
    );
    eu.stop().await;
    let deadline = Instant::now() + 6 * LEASE;
    while !switch_inverted(&emu, &eu_switch).await {
        assert!(
            Instant::now() < deadline,
            "no failover with one control region hung"
        );
        tokio::time::sleep(LEASE / 30).await;
    }
    stop.store(true, Ordering::Relaxed);
    assert!(watcher.await.unwrap().is_empty(), "two actors at once");
    assert!(checks.load(Ordering::Relaxed) > 10);
    let s = status(&actor_url).await.unwrap();
    assert_eq!(s["control"]["is_actor"], true, "the same actor: {s:#}");
    emu.clear_hangs().await;
    for i in instances {
        assert!(i.stop().success());
    }
}
