//! `[monitor] switch = "arc"`: `geoplan serve` flips ARC routing controls on the
//! cluster's regional endpoints (the emulator's localstack/arc.py), so failover does
//! not need Route 53's control plane. Each test reads the result where clients see
//! it: in the DNS answer of the emulator's UDP server.

use std::time::{Duration, Instant};

use aws_sdk_route53::types::{HealthCheckConfig, HealthCheckType, ResourceRecordSetRegion};
use aws_sdk_route53recoverycluster::types::{RoutingControlState, UpdateRoutingControlStateEntry};
use aws_sdk_route53recoverycontrolconfig::types::{NewAssertionRule, RuleConfig, RuleType, Status};

use crate::dataplane::{a, dig, dns_server, on_both_emulators, put};
use crate::support::*;

/// An ARC cluster, panel and a routing control per region, the rule "at least
/// `at_least` On" (wait period `wait_ms`), every control turned On; then per region an
/// endpoint check, a RECOVERY_CONTROL switch and the CALCULATED check of both, tagged
/// as `geoplan apply` tags them, and a latency record per region (us 192.0.2.1, eu
/// 192.0.2.2). With `both`, the switch is Route 53's (a CALCULATED check with no
/// children) and the RECOVERY_CONTROL check is a third child (role `control`), as
/// `switch = "both"` renders them.
async fn arc_deployment(
    emu: &Emulator,
    deployment: &str,
    (us, eu): (u16, u16),
    at_least: i32,
    wait_ms: i32,
    both: bool,
) {
    let config = aws_sdk_route53recoverycontrolconfig::Client::new(
        &emu.sdk_config(geoplan::control::arc::CONTROL_CONFIG_REGION)
            .await,
    );
    let cluster = config
        .create_cluster()
        .cluster_name(deployment)
        .send()
        .await
        .unwrap()
        .cluster()
        .and_then(|c| c.cluster_arn())
        .unwrap()
        .to_owned();
    let described = config
        .describe_cluster()
        .cluster_arn(&cluster)
        .send()
        .await
        .unwrap();
    let c = described.cluster().unwrap();
    assert_eq!(c.status(), Some(&Status::Deployed));
    assert_eq!(
        c.cluster_endpoints().len(),
        5,
        "ARC clusters have five endpoints"
    );
    let endpoint = c.cluster_endpoints()[0].clone();
    let panel = config
        .create_control_panel()
        .cluster_arn(&cluster)
        .control_panel_name(deployment)
        .send()
        .await
        .unwrap()
        .control_panel()
        .and_then(|p| p.control_panel_arn())
        .unwrap()
        .to_owned();
    let mut controls = Vec::new();
    for region in ["us-east-1", "eu-west-1"] {
        let arn = config
            .create_routing_control()
            .cluster_arn(&cluster)
            .control_panel_arn(&panel)
            .routing_control_name(format!("{deployment}-{region}"))
            .send()
            .await
            .unwrap()
            .routing_control()
            .and_then(|r| r.routing_control_arn())
            .unwrap()
            .to_owned();
        controls.push(arn);
    }
    config
        .create_safety_rule()
        .assertion_rule(
            NewAssertionRule::builder()
                .name(format!("{deployment}-min-in-service"))
                .control_panel_arn(&panel)
                .set_asserted_controls(Some(controls.clone()))
                .wait_period_ms(wait_ms)
                .rule_config(
                    RuleConfig::builder()
                        .r#type(RuleType::Atleast)
                        .threshold(at_least)
                        .inverted(false)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    // New routing controls start Off (as `geoplan apply` knows): all On at once.
    let data = aws_sdk_route53recoverycluster::Client::new(
        &emu.sdk_config(endpoint.region().unwrap())
            .await
            .into_builder()
            .endpoint_url(endpoint.endpoint().unwrap())
            .build(),
    );
    data.update_routing_control_states()
        .set_update_routing_control_state_entries(Some(
            controls
                .iter()
                .map(|arn| {
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

    let r53 = emu.route53().await;
    let mut region_checks = Vec::new();
    for ((region, port), control) in [("us-east-1", us), ("eu-west-1", eu)]
        .into_iter()
        .zip(&controls)
    {
        let endpoint = HealthCheckConfig::builder()
            .r#type(HealthCheckType::Http)
            .ip_address("127.0.0.1")
            .port(port as i32)
            .resource_path("/")
            .build()
            .unwrap();
        let recovery = HealthCheckConfig::builder()
            .r#type(HealthCheckType::RecoveryControl)
            .routing_control_arn(control)
            .build()
            .unwrap();
        let mut children = vec![("endpoint", endpoint)];
        if both {
            let switch = HealthCheckConfig::builder()
                .r#type(HealthCheckType::Calculated)
                .health_threshold(0)
                .build()
                .unwrap();
            children.extend([("switch", switch), ("control", recovery)]);
        } else {
            children.push(("switch", recovery));
        }
        let mut ids = Vec::new();
        for (role, config) in children {
            ids.push(tagged_check(&r53, deployment, region, role, config).await);
        }
        let all = HealthCheckConfig::builder()
            .r#type(HealthCheckType::Calculated)
            .health_threshold(ids.len() as i32)
            .set_child_health_checks(Some(ids))
            .build()
            .unwrap();
        region_checks.push(tagged_check(&r53, deployment, region, "region", all).await);
    }
    let zone = hosted_zone(&r53, &format!("{deployment}.example.com")).await;
    let name = format!("api.{deployment}.example.com");
    put(
        &r53,
        &zone,
        vec![
            a(&name, "us-east-1", "192.0.2.1")
                .region(ResourceRecordSetRegion::UsEast1)
                .health_check_id(&region_checks[0])
                .build()
                .unwrap(),
            a(&name, "eu-west-1", "192.0.2.2")
                .region(ResourceRecordSetRegion::EuWest1)
                .health_check_id(&region_checks[1])
                .build()
                .unwrap(),
        ],
    )
    .await;
}

async fn tagged_check(
    r53: &aws_sdk_route53::Client,
    deployment: &str,
    region: &str,
    role: &str,
    config: HealthCheckConfig,
) -> String {
    let id = create_check(r53, &format!("{deployment}-{region}-{role}"), config).await;
    tag_check(r53, &id, deployment, region, role).await;
    id
}

/// serve::config with `switch` and `min_in_service` (the name set to `deployment`).
fn arc_config(deployment: &str, us: u16, eu: u16, switch: &str, min_in_service: u32) -> String {
    crate::serve::config(us, eu).replace("drill", deployment)
        + &format!("switch = \"{switch}\"\nmin_in_service = {min_in_service}\n")
}

/// Waits until the DNS server answers `want` to `client`; `within` bounds it.
async fn until_dig(
    server: &str,
    name: &str,
    client: &str,
    want: &[&str],
    within: Duration,
) -> Duration {
    let start = Instant::now();
    loop {
        let got = dig(server, name, client).await;
        if got == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "{name} to {client}: {got:?}, not {want:?} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The first test: with `switch = "arc"` and Route 53's control plane dark
/// (every `/2013-04-01/` call held, as in a us-east-1 event), a killed endpoint leaves
/// the DNS answer within the failover budget, comes back when it recovers, and a drain
/// works. The endpoint checks probe every 30 s with threshold 3 (Route 53's defaults,
/// 90 s): anything faster is the routing control's doing. On both emulators: on the
/// shared LocalStack the hang holds this test's account alone, and the endpoints it
/// kills are its own (ARC's cluster endpoints, shared by every account, stay lit).
async fn with_arc_a_dead_endpoint_leaves_dns_while_route53s_control_plane_is_dark(emu: &Emulator) {
    emu.hook("dataplane?subnet=10.2.0.0/16&regions=eu-west-1,us-east-1")
        .await;
    let us = FakeRegion::start_new().await;
    let mut eu = FakeRegion::start_new().await;
    arc_deployment(emu, "arcdark", (us.port, eu.port), 1, 0, false).await;
    let wd = Workdir::with_text(
        "regions.toml",
        &arc_config("arcdark", us.port, eu.port, "arc", 1),
    );
    let serve = crate::serve::Serve::start(wd.path(), emu).await;
    assert_eq!(serve.get("/v1/status").await["switch"], "arc");
    let server = dns_server(emu).await;
    let (name, near_eu) = ("api.arcdark.example.com", "10.2.3.4");
    assert_eq!(dig(&server, name, near_eu).await, ["192.0.2.2"]);

    emu.hang("route53", "", "", Duration::from_secs(600)).await;
    // Dark before the endpoint dies: the controller's reads are then slow, and one
    // started before the take-out comes back after it (a stale read must not undo it).
    let r53 = emu.route53().await;
    let held = tokio::time::timeout(Duration::from_secs(1), r53.list_hosted_zones().send()).await;
    assert!(held.is_err(), "Route 53 answered while dark: {held:?}");
    // The monitor's settings (serve::config): 200 ms probes, out after 2 failures and a
    // confirmation. The bound is generous for a loaded host and far below the
    // endpoint checks' 90 s.
    let within = Duration::from_secs(30);
    eu.stop().await;
    let took = until_dig(&server, name, near_eu, &["192.0.2.1"], within).await;
    eprintln!(
        "with Route 53's control plane dark, eu-west-1 left the DNS answer {took:?} after its endpoint died (ARC)"
    );

    eu.start().await;
    let back = until_dig(&server, name, near_eu, &["192.0.2.2"], within).await;
    eprintln!("and was back {back:?} after it recovered");
    // Route 53's own view cannot be read while it is dark, so the controller's view of
    // the put-back is what it confirmed with ARC.
    crate::serve::eventually(&serve, "eu-west-1 back in service", |st, _| {
        st["regions"][1]["switch"]["in_service"] == true
    })
    .await;

    let drained = serve
        .post(
            "/v1/regions/eu-west-1/drain",
            serde_json::json!({"reason": "maintenance"}),
        )
        .await;
    assert_eq!(drained["switch"]["in_service"], false, "{drained:#}");
    until_dig(&server, name, near_eu, &["192.0.2.1"], within).await;
    let events = serve.get("/v1/events").await;
    let text = events.to_string();
    assert!(text.contains("ARC's confirmation"), "{events:#}");
    // Dark all along: a Route 53 call of this test's account still gets no answer (it
    // is held until the hang is cleared, then answered to no one).
    let held = tokio::time::timeout(Duration::from_secs(1), r53.list_hosted_zones().send()).await;
    assert!(held.is_err(), "Route 53 answered while dark: {held:?}");
    emu.clear_hangs().await;
}
on_both_emulators!(with_arc_a_dead_endpoint_leaves_dns_while_route53s_control_plane_is_dark);

/// ARC's own guard, and two dark endpoints of five. The developer guide ("Safety
/// rules"): an update that would leave an assertion rule unsatisfied is refused, with
/// the rule named. Its ARC guide ("Get and update routing control states using the
/// API") says to try the endpoints in turn: with two dark, a drain still lands within
/// its deadline. geoplan's own `min_in_service` is 0 here, so it is ARC that refuses
/// the last region.
#[tokio::test(flavor = "multi_thread")]
async fn with_arc_two_dark_endpoints_still_flip_and_a_safety_rule_refuses_the_last_region() {
    let emu = Emulator::moto();
    let us = FakeRegion::start_new().await;
    let eu = FakeRegion::start_new().await;
    arc_deployment(&emu, "arcrule", (us.port, eu.port), 1, 0, false).await;
    let wd = Workdir::with_text(
        "regions.toml",
        &arc_config("arcrule", us.port, eu.port, "arc", 0),
    );
    let serve = crate::serve::Serve::start(wd.path(), &emu).await;

    // Calls received and answered, per endpoint.
    let counts = || async {
        let arc: serde_json::Value = reqwest::get(format!("{}/_geoplan/arc", emu.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let n = |k: &str| -> Vec<u64> {
            arc["endpoints"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e[k].as_u64().unwrap())
                .collect()
        };
        (n("calls"), n("answered"))
    };
    // Counted once the two are dark: a read the reader had in flight before is not
    // counted against them.
    emu.hook("arc?dark=0,1").await;
    let (calls0, answered0) = counts().await;
    let started = Instant::now();
    let drained = serve
        .post(
            "/v1/regions/us-east-1/drain",
            serde_json::json!({"reason": "maintenance"}),
        )
        .await;
    let took = started.elapsed();
    assert_eq!(drained["switch"]["in_service"], false, "{drained:#}");
    eprintln!("a drain with two of five ARC endpoints dark took {took:?}");
    let (calls1, answered1) = counts().await;
    let delta =
        |a: &[u64], b: &[u64]| -> Vec<u64> { a.iter().zip(b).map(|(x, y)| x - y).collect() };
    let (calls, answered) = (delta(&calls1, &calls0), delta(&answered1, &answered0));
    // The dark ones were asked (a read or the drain itself started there, as the
    // endpoint that last answered) and never answered; a live one answered.
    assert!(
        calls[..2].iter().sum::<u64>() >= 1,
        "the dark endpoints were never tried: {calls:?}"
    );
    assert_eq!(
        answered[..2],
        [0, 0],
        "dark endpoints answered: {answered:?}"
    );
    assert!(answered[2..].iter().sum::<u64>() >= 1, "{answered:?}");

    let refused = serve
        .post(
            "/v1/regions/eu-west-1/drain",
            serde_json::json!({"reason": "maintenance"}),
        )
        .await;
    let message = refused.to_string();
    assert!(
        refused["error"]["code"] == "refused"
            && message.contains("ARC refused the drain of eu-west-1")
            && message.contains("safetyrule"),
        "the refusal names ARC's rule: {refused:#}"
    );
    assert_eq!(
        serve.get("/v1/regions/eu-west-1").await["switch"]["in_service"],
        true
    );
    emu.hook("arc?clear=1").await;
}

/// `switch = "both"`: a take-out lands when either path is dark (here Route 53's
/// control plane: ARC takes the region out alone), and a put-back only when both
/// answer (here ARC's five endpoints are dark: the region stays out of the DNS answer,
/// though Route 53 took its half, until ARC answers again).
#[tokio::test(flavor = "multi_thread")]
async fn with_both_a_take_out_needs_either_path_and_a_put_back_needs_both() {
    let emu = Emulator::moto();
    emu.hook("dataplane?subnet=10.2.0.0/16&regions=eu-west-1,us-east-1")
        .await;
    let us = FakeRegion::start_new().await;
    let mut eu = FakeRegion::start_new().await;
    arc_deployment(&emu, "both", (us.port, eu.port), 1, 0, true).await;
    let wd = Workdir::with_text(
        "regions.toml",
        &arc_config("both", us.port, eu.port, "both", 1),
    );
    let serve = crate::serve::Serve::start(wd.path(), &emu).await;
    assert_eq!(serve.get("/v1/status").await["switch"], "both");
    let server = dns_server(&emu).await;
    let (name, near_eu) = ("api.both.example.com", "10.2.3.4");
    assert_eq!(dig(&server, name, near_eu).await, ["192.0.2.2"]);
    let within = Duration::from_secs(30);

    // Route 53's control plane dark: ARC alone takes eu-west-1 out.
    emu.hang("route53", "", "", Duration::from_secs(600)).await;
    eu.stop().await;
    let took = until_dig(&server, name, near_eu, &["192.0.2.1"], within).await;
    eprintln!(
        "both, Route 53 dark: eu-west-1 left the DNS answer {took:?} after its endpoint died"
    );
    // Both calls are waited for: the Route 53 one got no answer by the flip's deadline
    // (8 s for a lone instance), so the take-out is unknown until a read after that call
    // settles (2 s later) says out, though DNS changed at once. A read goes region by
    // region, each up to READ_TIMEOUT (2 s) while Route 53 is dark, every resync (2 s).
    let read = geoplan::control::switches::READ_TIMEOUT * 2 + Duration::from_secs(2);
    let recorded =
        Instant::now() + geoplan::control::core::FLIP_TIMEOUT + Duration::from_secs(2) + read * 2;
    while serve.get("/v1/regions/eu-west-1").await["switch"]["in_service"] != false {
        assert!(Instant::now() < recorded, "the take-out was never recorded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    emu.clear_hangs().await;
    // Once Route 53 answers again, the status shows what DNS answers (TestDNSAnswer,
    // asked each resync) beside geoplan's own view. (This test's records hold other
    // values than the config's, so the answer maps to no region here and is compared
    // by value; `control::dns` maps and compares a deployment's own.)
    crate::serve::eventually(&serve, "the DNS answer in the status", |st, _| {
        st["routing"][0]["dns"]["values"] == serde_json::json!(["192.0.2.1"])
    })
    .await;
    let st = serve.get("/v1/status").await;
    assert_eq!(
        st["routing"][0]["regions"],
        serde_json::json!(["us-east-1"]),
        "{st:#}"
    );
    assert_eq!(
        st["routing"][0]["dns"]["response_code"], "NOERROR",
        "{st:#}"
    );

    // ARC dark, Route 53 back: the endpoint recovers, but a put-back needs ARC too.
    emu.hook("arc?dark=0,1,2,3,4").await;
    eu.start().await;
    // Long enough for recover_after (3 × 200 ms), the hold-down (1 s) and a put-back
    // attempt that waits out its deadline on five dark endpoints.
    let dark_for = Instant::now() + Duration::from_secs(8);
    while Instant::now() < dark_for {
        assert_eq!(
            dig(&server, name, near_eu).await,
            ["192.0.2.1"],
            "eu-west-1 came back while ARC could not be asked"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let st = serve.get("/v1/regions/eu-west-1").await;
    assert_eq!(st["switch"]["in_service"], false, "{st:#}");
    assert_eq!(st["verdict"], "up", "{st:#}");

    emu.hook("arc?clear=1").await;
    let back = until_dig(&server, name, near_eu, &["192.0.2.2"], within).await;
    eprintln!("and came back {back:?} after ARC answered again");
    crate::serve::eventually(&serve, "the put-back confirmed", |st, _| {
        st["regions"][1]["switch"]["in_service"] == true
    })
    .await;
}

/// `geoplan apply` with `switch = "arc"`, through the real terraform and provider
/// 5.100.0 against the emulator: the cluster, panel, routing controls, rule and
/// RECOVERY_CONTROL switches are created, the new routing controls turned On (ARC
/// creates them Off), `status` reads them through ARC's data plane, the plan states
/// ARC's price, a second apply has nothing to do, and destroy removes it all.
#[tokio::test(flavor = "multi_thread")]
async fn apply_creates_the_arc_resources_and_turns_the_new_controls_on() {
    let emu = Emulator::moto();
    let wd = Workdir::with("tests/fixtures/arc-switch.toml");
    // `geoplan COMMAND arc-switch.toml --auto-approve --json --quiet`: its report, and
    // its standard error.
    let run = |command: &str| {
        let out = geoplan(
            wd.path(),
            &[
                command,
                "arc-switch.toml",
                "--auto-approve",
                "--json",
                "--quiet",
            ],
            Some(&emu),
        );
        let report: serde_json::Value = serde_json::from_str(&success(&out)).unwrap();
        (report, stderr(&out))
    };
    let (report, err) = run("apply");
    assert_eq!(report["applied"], true);
    assert_eq!(
        report["estimate"]["arc_usd_per_month"], 1825.0,
        "{report:#}"
    );
    let by_type = &report["plan"]["by_type"];
    assert_eq!(
        by_type["aws_route53recoverycontrolconfig_routing_control"]["add"], 3,
        "{report:#}"
    );
    assert_eq!(
        by_type["aws_route53recoverycontrolconfig_safety_rule"]["add"],
        1
    );
    assert!(
        err.contains(
            "turned on the new ARC routing control(s) of ap-northeast-1, eu-west-1, us-east-1"
        ),
        "{err}"
    );

    let status = geoplan(
        wd.path(),
        &["status", "arc-switch.toml", "--json"],
        Some(&emu),
    );
    let doc: serde_json::Value = serde_json::from_str(&success(&status)).unwrap();
    assert_eq!(doc["switch"], "arc");
    for r in doc["regions"].as_array().unwrap() {
        assert_eq!(r["switch"]["in_service"], true, "{r:#}");
    }

    let (again, _) = run("apply");
    assert_eq!(again["applied"], false, "{again:#}");

    let (gone, _) = run("destroy");
    assert_eq!(gone["applied"], true);
    let config = aws_sdk_route53recoverycontrolconfig::Client::new(
        &emu.sdk_config(geoplan::control::arc::CONTROL_CONFIG_REGION)
            .await,
    );
    let clusters = config.list_clusters().send().await.unwrap();
    assert!(clusters.clusters().is_empty(), "{clusters:?}");
}
