//! The emulated Route 53 data plane (localstack/dataplane.py): health checkers that
//! probe, the evaluation of inverted, disabled and calculated checks, and DNS answers
//! by routing policy, each against what the Route 53 developer guide says; and a
//! failover seen where clients see it, in the DNS answer.
//!
//! The data plane runs in both emulators (moto's `emulator.py`, and LocalStack through
//! `compat.py`), and so do the hooks these tests use (`dataplane`, and `hang` scoped to
//! the test's account on LocalStack), so each test runs on both:
//! `on_both_emulators!(name)` makes `name::on_moto` and `name::on_localstack` of the
//! function `name(&Emulator)`. On the shared LocalStack the data plane's hook is
//! scoped to the test's account (see `Emulator::hook_url`).

use std::time::{Duration, Instant};

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, HealthCheckConfig, HealthCheckType, ResourceRecord,
    ResourceRecordSet, ResourceRecordSetFailover, ResourceRecordSetRegion, RrType,
};

use crate::support::*;

/// Two tests of the body `$name(&Emulator)`: `$name::on_moto` (a moto of its own) and
/// `$name::on_localstack` (an account of its own on the shared LocalStack).
macro_rules! on_both_emulators {
    ($name:ident) => {
        mod $name {
            use crate::support::Emulator;

            #[tokio::test(flavor = "multi_thread")]
            async fn on_moto() {
                super::$name(&Emulator::moto()).await;
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn on_localstack() {
                super::$name(&Emulator::localstack(false)).await;
            }
        }
    };
}
pub(crate) use on_both_emulators;

/// Sets the data plane's test knobs (`interval=S`, `subnet=CIDR&regions=a,b`).
pub async fn dataplane(emu: &Emulator, query: &str) {
    emu.hook(&format!("dataplane?{query}")).await;
}

/// A calculated check with no children: healthy with threshold 0 (geoplan's switch);
/// `inverted`, unhealthy.
fn fixed(inverted: bool) -> HealthCheckConfig {
    HealthCheckConfig::builder()
        .r#type(HealthCheckType::Calculated)
        .health_threshold(0)
        .inverted(inverted)
        .build()
        .unwrap()
}

fn http(port: u16, failure_threshold: i32) -> HealthCheckConfig {
    HealthCheckConfig::builder()
        .r#type(HealthCheckType::Http)
        .ip_address("127.0.0.1")
        .port(port as i32)
        .resource_path("/")
        .request_interval(10)
        .failure_threshold(failure_threshold)
        .build()
        .unwrap()
}

pub async fn put(r53: &aws_sdk_route53::Client, zone: &str, records: Vec<ResourceRecordSet>) {
    let mut batch = ChangeBatch::builder();
    for r in records {
        batch = batch.changes(
            Change::builder()
                .action(ChangeAction::Upsert)
                .resource_record_set(r)
                .build()
                .unwrap(),
        );
    }
    r53.change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(batch.build().unwrap())
        .send()
        .await
        .unwrap();
}

pub fn a(
    name: &str,
    id: &str,
    value: &str,
) -> aws_sdk_route53::types::builders::ResourceRecordSetBuilder {
    ResourceRecordSet::builder()
        .name(name)
        .r#type(RrType::A)
        .ttl(60)
        .set_identifier(id)
        .resource_records(ResourceRecord::builder().value(value).build().unwrap())
}

/// geoplan's shape for `deployment`: each region's three checks (endpoint on its port,
/// switch, region), and a zone `DEPLOYMENT.example.com` whose `api` name has a latency
/// record per region (us-east-1 192.0.2.1, eu-west-1 192.0.2.2) guarded by the region
/// check. Returns the zone and the checks.
async fn geoplan_zone(
    r53: &aws_sdk_route53::Client,
    deployment: &str,
    us: u16,
    eu: u16,
) -> (
    String,
    std::collections::BTreeMap<String, geoplan::deploy::outputs::CheckIds>,
) {
    geoplan_zone_at(
        r53,
        deployment,
        ("127.0.0.1", us, "192.0.2.1"),
        ("127.0.0.1", eu, "192.0.2.2"),
    )
    .await
}

/// `geoplan_zone` with each region's endpoint check on (address, port) and its record's
/// value given.
pub async fn geoplan_zone_at(
    r53: &aws_sdk_route53::Client,
    deployment: &str,
    us: (&str, u16, &str),
    eu: (&str, u16, &str),
) -> (
    String,
    std::collections::BTreeMap<String, geoplan::deploy::outputs::CheckIds>,
) {
    create_region_checks_at(r53, deployment, "us-east-1", us.0, us.1).await;
    create_region_checks_at(r53, deployment, "eu-west-1", eu.0, eu.1).await;
    let ids = geoplan::control::switches::discover(r53, deployment)
        .await
        .unwrap();
    let z = hosted_zone(r53, &format!("{deployment}.example.com")).await;
    let name = format!("api.{deployment}.example.com");
    put(
        r53,
        &z,
        vec![
            a(&name, "us-east-1", us.2)
                .region(ResourceRecordSetRegion::UsEast1)
                .health_check_id(&ids["us-east-1"].region)
                .build()
                .unwrap(),
            a(&name, "eu-west-1", eu.2)
                .region(ResourceRecordSetRegion::EuWest1)
                .health_check_id(&ids["eu-west-1"].region)
                .build()
                .unwrap(),
        ],
    )
    .await;
    (z, ids)
}

/// What Route 53 answers for `name` A to a client in `client` (TestDNSAnswer).
async fn answer(
    r53: &aws_sdk_route53::Client,
    zone: &str,
    name: &str,
    client: &str,
) -> Vec<String> {
    let out = r53
        .test_dns_answer()
        .hosted_zone_id(zone)
        .record_name(name)
        .record_type(RrType::A)
        .edns0_client_subnet_ip(client)
        .edns0_client_subnet_mask("24")
        .send()
        .await
        .unwrap();
    assert_eq!(out.response_code(), "NOERROR");
    out.record_data().to_vec()
}

async fn set_inverted(r53: &aws_sdk_route53::Client, id: &str, inverted: bool) {
    r53.update_health_check()
        .health_check_id(id)
        .inverted(inverted)
        .send()
        .await
        .unwrap();
}

/// Waits until `name` answers `want` to `client`, within `within`; returns how long.
async fn until_answer(
    r53: &aws_sdk_route53::Client,
    zone: &str,
    name: &str,
    client: &str,
    want: &[&str],
    within: Duration,
) -> Duration {
    let start = Instant::now();
    loop {
        let got = answer(r53, zone, name, client).await;
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

/// Developer guide, "How Amazon Route 53 determines whether a health check is
/// healthy": an endpoint is unhealthy once `FailureThreshold` checks in a row failed,
/// and healthy again after as many good ones; until then the record stays. And
/// "Configuring DNS failover": the primary is answered while healthy, else the
/// secondary. GetHealthCheckStatus reports the checker's latest result.
async fn checkers_probe_endpoints_and_a_record_follows_after_the_threshold(emu: &Emulator) {
    let interval = Duration::from_millis(200);
    dataplane(emu, &format!("interval={}", interval.as_secs_f64())).await;
    let r53 = emu.route53().await;
    let mut site = FakeRegion::start_new().await;
    let endpoint = create_check(&r53, "endpoint", http(site.port, 3)).await;
    let z = hosted_zone(&r53, "probe.example.com").await;
    let name = "www.probe.example.com";
    put(
        &r53,
        &z,
        vec![
            a(name, "primary", "192.0.2.1")
                .failover(ResourceRecordSetFailover::Primary)
                .health_check_id(&endpoint)
                .build()
                .unwrap(),
            a(name, "secondary", "192.0.2.2")
                .failover(ResourceRecordSetFailover::Secondary)
                .build()
                .unwrap(),
        ],
    )
    .await;
    let status = async || {
        let out = r53
            .get_health_check_status()
            .health_check_id(&endpoint)
            .send()
            .await
            .unwrap();
        out.health_check_observations()
            .first()
            .and_then(|o| o.status_report())
            .and_then(|r| r.status())
            .unwrap_or("")
            .to_owned()
    };
    let within = interval * 50;
    let start = Instant::now();
    while !status().await.starts_with("Success") {
        assert!(
            start.elapsed() < within,
            "never probed: {:?}",
            status().await
        );
        tokio::time::sleep(interval / 4).await;
    }
    assert_eq!(answer(&r53, &z, name, "10.0.0.1").await, ["192.0.2.1"]);

    site.stop().await;
    let took = until_answer(&r53, &z, name, "10.0.0.1", &["192.0.2.2"], within).await;
    // Three failed probes, an interval apart: never fewer than two intervals (less the
    // few milliseconds a probe that began just before the stop may have run).
    let slack = Duration::from_millis(50);
    assert!(
        took >= interval * 2 - slack,
        "out after {took:?}, before three probes"
    );
    assert!(status().await.starts_with("Failure"), "{}", status().await);

    site.start().await;
    let took = until_answer(&r53, &z, name, "10.0.0.1", &["192.0.2.1"], within).await;
    assert!(
        took >= interval * 2 - slack,
        "back after {took:?}, before three probes"
    );
}
on_both_emulators!(checkers_probe_endpoints_and_a_record_follows_after_the_threshold);

/// Developer guide, "How health checks work in simple and complex Amazon Route 53
/// configurations" and "Calculated health checks": a calculated check is healthy when
/// at least `HealthThreshold` of its children are; `Disabled` counts as healthy, and
/// `Inverted` turns the result over (so disabled and inverted is unhealthy: "If you
/// want to stop routing traffic to a resource, change the value of Inverted"). Failover
/// with both records unhealthy answers the primary. GetHealthCheckStatus refuses a
/// calculated check (API reference: "You can't use GetHealthCheckStatus to get the
/// status of a calculated health check").
async fn calculated_inverted_and_disabled_checks_steer_failover_records(emu: &Emulator) {
    let r53 = emu.route53().await;
    let up = create_check(&r53, "up", fixed(false)).await;
    let down = create_check(&r53, "down", fixed(true)).await;
    let calculated = |threshold: i32| {
        HealthCheckConfig::builder()
            .r#type(HealthCheckType::Calculated)
            .health_threshold(threshold)
            .child_health_checks(&up)
            .child_health_checks(&down)
            .build()
            .unwrap()
    };
    let one_of_two = create_check(&r53, "one", calculated(1)).await;
    let two_of_two = create_check(&r53, "two", calculated(2)).await;
    let z = hosted_zone(&r53, "calc.example.com").await;
    let pair = async |name: &str, primary: &str, secondary: Option<&str>| {
        let mut s = a(name, "s", "192.0.2.2").failover(ResourceRecordSetFailover::Secondary);
        if let Some(id) = secondary {
            s = s.health_check_id(id);
        }
        put(
            &r53,
            &z,
            vec![
                a(name, "p", "192.0.2.1")
                    .failover(ResourceRecordSetFailover::Primary)
                    .health_check_id(primary)
                    .build()
                    .unwrap(),
                s.build().unwrap(),
            ],
        )
        .await;
        answer(&r53, &z, name, "10.0.0.1").await
    };
    assert_eq!(
        pair("one.calc.example.com", &one_of_two, None).await,
        ["192.0.2.1"]
    );
    assert_eq!(
        pair("two.calc.example.com", &two_of_two, None).await,
        ["192.0.2.2"]
    );
    assert_eq!(
        pair("both.calc.example.com", &down, Some(&down)).await,
        ["192.0.2.1"],
        "both unhealthy: the primary"
    );

    // Disabled: healthy, whatever it measures; disabled and inverted: unhealthy.
    r53.update_health_check()
        .health_check_id(&two_of_two)
        .disabled(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer(&r53, &z, "two.calc.example.com", "10.0.0.1").await,
        ["192.0.2.1"]
    );
    set_inverted(&r53, &two_of_two, true).await;
    assert_eq!(
        answer(&r53, &z, "two.calc.example.com", "10.0.0.1").await,
        ["192.0.2.2"]
    );
    // An update that does not name the children keeps them (moto clears them).
    set_inverted(&r53, &one_of_two, false).await;
    assert_eq!(
        answer(&r53, &z, "one.calc.example.com", "10.0.0.1").await,
        ["192.0.2.1"]
    );

    let refused = r53
        .get_health_check_status()
        .health_check_id(&one_of_two)
        .send()
        .await
        .expect_err("a calculated check has no checker status");
    assert_eq!(
        refused.as_service_error().and_then(|e| e.meta().code()),
        Some("InvalidInput"),
        "{refused:?}"
    );
}
on_both_emulators!(calculated_inverted_and_disabled_checks_steer_failover_records);

/// geoplan's shape: latency records guarded by a region check (CALCULATED, threshold
/// 2, over the endpoint check and the switch). Developer guide, "Latency-based
/// routing" and "How Amazon Route 53 chooses records when health checking is
/// configured": each client gets the nearest healthy region; a region whose switch is
/// inverted leaves the answer; when every record is unhealthy, Route 53 answers as if
/// all were healthy. Route 53's name servers (the emulator's DNS server, asked with
/// the EDNS client subnet) answer what TestDNSAnswer does.
async fn latency_answers_the_nearest_healthy_region_and_fails_open(emu: &Emulator) {
    dataplane(emu, "subnet=10.1.0.0/16&regions=us-east-1,eu-west-1").await;
    dataplane(emu, "subnet=10.2.0.0/16&regions=eu-west-1,us-east-1").await;
    let r53 = emu.route53().await;
    let us = FakeRegion::start_new().await;
    let eu = FakeRegion::start_new().await;
    let (z, ids) = geoplan_zone(&r53, "lat", us.port, eu.port).await;
    let name = "api.lat.example.com";
    let (near_us, near_eu) = ("10.1.2.3", "10.2.3.4");
    assert_eq!(answer(&r53, &z, name, near_us).await, ["192.0.2.1"]);
    assert_eq!(answer(&r53, &z, name, near_eu).await, ["192.0.2.2"]);
    let server = dns_server(emu).await;
    assert_eq!(dig(&server, name, near_us).await, ["192.0.2.1"]);
    assert_eq!(dig(&server, name, near_eu).await, ["192.0.2.2"]);

    set_inverted(&r53, &ids["eu-west-1"].switch, true).await;
    assert_eq!(
        answer(&r53, &z, name, near_eu).await,
        ["192.0.2.1"],
        "eu out"
    );
    assert_eq!(answer(&r53, &z, name, near_us).await, ["192.0.2.1"]);

    set_inverted(&r53, &ids["us-east-1"].switch, true).await;
    assert_eq!(
        answer(&r53, &z, name, near_eu).await,
        ["192.0.2.2"],
        "all unhealthy: as if all were healthy, so the nearest"
    );

    assert_eq!(
        dig(&server, name, near_eu).await,
        ["192.0.2.2"],
        "all unhealthy, over DNS"
    );

    set_inverted(&r53, &ids["eu-west-1"].switch, false).await;
    assert_eq!(
        answer(&r53, &z, name, near_us).await,
        ["192.0.2.2"],
        "us out"
    );
    assert_eq!(
        dig(&server, name, near_us).await,
        ["192.0.2.2"],
        "us out, over DNS"
    );

    // A name with no records: NXDOMAIN.
    let out = r53
        .test_dns_answer()
        .hosted_zone_id(&z)
        .record_name("nothing.lat.example.com")
        .record_type(RrType::A)
        .send()
        .await
        .unwrap();
    assert_eq!(out.response_code(), "NXDOMAIN");
}
on_both_emulators!(latency_answers_the_nearest_healthy_region_and_fails_open);

/// A failover seen where clients see it: `geoplan serve` takes a dead region out with
/// its switch, and the DNS answer to that region's clients moves to the other region
/// within seconds. Route 53's own checkers run at the endpoint checks' interval here
/// (30 s, three failures: 60 to 90 s), so only geoplan's flip can move the answer this
/// soon.
/// Then the region comes back, in the answer too.
async fn a_failover_reaches_the_dns_answer_within_seconds(emu: &Emulator) {
    dataplane(emu, "subnet=10.2.0.0/16&regions=eu-west-1,us-east-1").await;
    let r53 = emu.route53().await;
    let us = FakeRegion::start_new().await;
    let mut eu = FakeRegion::start_new().await;
    let (z, _) = geoplan_zone(&r53, "drill", us.port, eu.port).await;
    let name = "api.drill.example.com";
    let wd = Workdir::with_text("regions.toml", &crate::serve::config(us.port, eu.port));
    let serve = crate::serve::Serve::start(wd.path(), emu).await;
    let near_eu = "10.2.3.4";
    assert_eq!(answer(&r53, &z, name, near_eu).await, ["192.0.2.2"]);

    // The monitor's settings (serve::config): 200 ms probes, out after 2 failures and
    // a confirmation; back after 3 good probes and the 1 s hold-down. The bound is
    // generous for a loaded host and far below the checkers' 90 s.
    let within = Duration::from_secs(30);
    let died = Instant::now();
    eu.stop().await;
    until_answer(&r53, &z, name, near_eu, &["192.0.2.1"], within).await;
    let out = died.elapsed();
    // The flip has landed in Route 53; `serve` records it once its UpdateHealthCheck
    // call has answered, which on a busy host may be a moment after the answer moved.
    let recorded = Instant::now();
    loop {
        let s = serve.get("/v1/regions/eu-west-1").await;
        if s["switch"]["in_service"] == false {
            break;
        }
        assert!(
            recorded.elapsed() < Duration::from_secs(10),
            "the answer moved, but serve's switch is in service: {s:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("eu-west-1 left the DNS answer {out:?} after its endpoint died");

    let revived = Instant::now();
    eu.start().await;
    until_answer(&r53, &z, name, near_eu, &["192.0.2.2"], within).await;
    eprintln!(
        "eu-west-1 was back in the DNS answer {:?} after its endpoint came back",
        revived.elapsed()
    );
}
on_both_emulators!(a_failover_reaches_the_dns_answer_within_seconds);

/// Where the emulator's DNS server answers (a UDP port; on LocalStack, one answering
/// from this test's account's zones alone).
pub async fn dns_server(emu: &Emulator) -> String {
    let v: serde_json::Value = reqwest::get(emu.hook_url("dataplane"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["dns"].as_str().unwrap().to_owned()
}

/// Asks the DNS server at `server` for `name` A over UDP, as a client in `client`'s /24
/// (the EDNS client subnet option, RFC 7871, as `dig +subnet=` sends it).
pub async fn dig(server: &str, name: &str, client: &str) -> Vec<String> {
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
    assert_eq!(reply.metadata.id, 0x4750);
    reply
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect()
}

/// The README: `UpdateHealthCheck` is a control-plane call, and while that control
/// plane is impaired "the endpoint checks keep failing regions over by themselves, at
/// Route 53's own speed". With every Route 53 API call held (even TestDNSAnswer), DNS
/// still answers over UDP, and a dead endpoint leaves the answer once its check has
/// failed `FailureThreshold` (3) times.
async fn with_the_control_plane_dark_dns_answers_and_endpoint_checks_still_fail_over(
    emu: &Emulator,
) {
    let interval = Duration::from_millis(300);
    dataplane(emu, &format!("interval={}", interval.as_secs_f64())).await;
    dataplane(emu, "subnet=10.2.0.0/16&regions=eu-west-1,us-east-1").await;
    let r53 = emu.route53().await;
    let us = FakeRegion::start_new().await;
    let mut eu = FakeRegion::start_new().await;
    let (z, _) = geoplan_zone(&r53, "dark", us.port, eu.port).await;
    let name = "api.dark.example.com";
    let server = dns_server(emu).await;
    let near_eu = "10.2.3.4";
    assert_eq!(dig(&server, name, near_eu).await, ["192.0.2.2"]);
    assert_eq!(
        answer(&r53, &z, name, near_eu).await,
        dig(&server, name, near_eu).await,
        "TestDNSAnswer and the DNS server agree"
    );

    // The control plane goes dark.
    emu.hang("route53", "", "", Duration::from_secs(120)).await;
    let held = tokio::time::timeout(interval * 5, answer(&r53, &z, name, near_eu)).await;
    assert!(held.is_err(), "the Route 53 API still answers: {held:?}");

    eu.stop().await;
    let died = Instant::now();
    let within = interval * 3 * 20;
    loop {
        let got = dig(&server, name, near_eu).await;
        if got == ["192.0.2.1"] {
            break;
        }
        assert_eq!(got, ["192.0.2.2"]);
        assert!(
            died.elapsed() < within,
            "eu-west-1 still answered after {within:?}"
        );
        tokio::time::sleep(interval / 10).await;
    }
    let took = died.elapsed();
    assert!(
        took >= interval * 2 - Duration::from_millis(50),
        "out after {took:?}, before three failed checks"
    );
    eprintln!("with the control plane dark, eu-west-1 left the DNS answer after {took:?}");
    emu.clear_hangs().await;
}
on_both_emulators!(with_the_control_plane_dark_dns_answers_and_endpoint_checks_still_fail_over);

/// Developer guide, "Evaluate target health": an alias record that evaluates its
/// target's health is healthy while at least one of the target's records is (the
/// target's own fail-open does not make it healthy); geoplan's failover records with
/// several standbys are aliases of this kind. An alias to a resource outside the zone
/// (a load balancer) counts as healthy here: the emulator cannot know its targets.
async fn an_alias_is_as_healthy_as_its_targets(emu: &Emulator) {
    use aws_sdk_route53::types::AliasTarget;
    let r53 = emu.route53().await;
    let down = create_check(&r53, "down", fixed(true)).await;
    let z = hosted_zone(&r53, "alias.example.com").await;
    let alias = |name: &str, id: &str, target: &str, role: ResourceRecordSetFailover| {
        ResourceRecordSet::builder()
            .name(name)
            .r#type(RrType::A)
            .set_identifier(id)
            .failover(role)
            .alias_target(
                AliasTarget::builder()
                    .hosted_zone_id(&z)
                    .dns_name(target)
                    .evaluate_target_health(true)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    put(
        &r53,
        &z,
        vec![
            // Every record of the primary's target is unhealthy.
            a("east.alias.example.com", "e1", "192.0.2.1")
                .weight(1)
                .health_check_id(&down)
                .build()
                .unwrap(),
            a("east.alias.example.com", "e2", "192.0.2.3")
                .weight(1)
                .health_check_id(&down)
                .build()
                .unwrap(),
            a("west.alias.example.com", "w", "192.0.2.2")
                .weight(1)
                .build()
                .unwrap(),
            alias(
                "svc.alias.example.com",
                "p",
                "east.alias.example.com",
                ResourceRecordSetFailover::Primary,
            ),
            alias(
                "svc.alias.example.com",
                "s",
                "west.alias.example.com",
                ResourceRecordSetFailover::Secondary,
            ),
            alias(
                "lb.alias.example.com",
                "p",
                "my-lb-1.eu-west-1.elb.amazonaws.com",
                ResourceRecordSetFailover::Primary,
            ),
            alias(
                "lb.alias.example.com",
                "s",
                "west.alias.example.com",
                ResourceRecordSetFailover::Secondary,
            ),
        ],
    )
    .await;
    assert_eq!(
        answer(&r53, &z, "svc.alias.example.com", "10.0.0.1").await,
        ["192.0.2.2"],
        "the primary's targets are all unhealthy"
    );
    assert_eq!(
        answer(&r53, &z, "lb.alias.example.com", "10.0.0.1").await,
        ["my-lb-1.eu-west-1.elb.amazonaws.com"],
        "a load balancer outside the zone counts as healthy"
    );
}
on_both_emulators!(an_alias_is_as_healthy_as_its_targets);
