//! geoplan's compatibility layer for LocalStack (localstack/compat.py): for each bug,
//! the same requests against a stock LocalStack (`launch.py --stock`) and against the
//! patched one, through the AWS SDK. The stock half shows the bug is real (so a
//! LocalStack release that fixes it shows up here); the patched half shows the fix.
//! Both instances are real LocalStack 2026.3.0 processes, shared by these tests.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateReplicationGroupMemberAction, KeySchemaElement,
    KeyType, ProvisionedThroughput, ReplicationGroupUpdate, ScalarAttributeType,
    StreamSpecification, StreamViewType,
};
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, HealthCheckConfig, HealthCheckType, ResourceRecord,
    ResourceRecordSet, RrType,
};

use crate::support::*;

/// Both LocalStacks, each with an account of this test's own.
fn pair() -> (Emulator, Emulator) {
    (Emulator::localstack(true), Emulator::localstack(false))
}

fn endpoint_check() -> HealthCheckConfig {
    HealthCheckConfig::builder()
        .r#type(HealthCheckType::Http)
        .ip_address("192.0.2.1")
        .port(8080)
        .resource_path("/health")
        .build()
        .unwrap()
}

async fn create(
    r53: &aws_sdk_route53::Client,
    reference: &str,
    config: HealthCheckConfig,
) -> Result<String, String> {
    r53.create_health_check()
        .caller_reference(reference)
        .health_check_config(config)
        .send()
        .await
        .map(|o| o.health_check().unwrap().id().to_owned())
        .map_err(|e| format!("{}", aws_sdk_route53::error::DisplayErrorContext(e)))
}

#[tokio::test(flavor = "multi_thread")]
async fn bug1_an_empty_child_list_is_accepted() {
    let (stock, fixed) = pair();
    // terraform sends `<ChildHealthChecks/>` for `child_healthchecks = []`.
    let config = || {
        HealthCheckConfig::builder()
            .r#type(HealthCheckType::Calculated)
            .health_threshold(1)
            .set_child_health_checks(Some(vec![]))
            .build()
            .unwrap()
    };
    let err = create(&stock.route53().await, "empty", config())
        .await
        .unwrap_err();
    assert!(
        err.contains("500") || err.contains("InternalError"),
        "stock: {err}"
    );
    let id = create(&fixed.route53().await, "empty", config())
        .await
        .unwrap();
    assert!(
        config_of(&fixed.route53().await, &id)
            .await
            .child_health_checks()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bug2_a_calculated_check_without_a_threshold_means_zero() {
    let (stock, fixed) = pair();
    // terraform omits `child_health_threshold = 0`.
    let config = || {
        HealthCheckConfig::builder()
            .r#type(HealthCheckType::Calculated)
            .build()
            .unwrap()
    };
    let err = create(&stock.route53().await, "no-threshold", config())
        .await
        .unwrap_err();
    assert!(
        err.contains("500") || err.contains("InternalError"),
        "stock: {err}"
    );
    let r53 = fixed.route53().await;
    let id = create(&r53, "no-threshold", config()).await.unwrap();
    assert_eq!(config_of(&r53, &id).await.health_threshold(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn bug3_get_health_check_returns_what_a_calculated_check_has() {
    let (stock, fixed) = pair();
    for (emu, patched) in [(&stock, false), (&fixed, true)] {
        let r53 = emu.route53().await;
        let a = create(&r53, "a", endpoint_check()).await.unwrap();
        let b = create(&r53, "b", endpoint_check()).await.unwrap();
        let parent = create(
            &r53,
            "parent",
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::Calculated)
                .health_threshold(1)
                .child_health_checks(&a)
                .child_health_checks(&b)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
        let config = config_of(&r53, &parent).await;
        let seen = (
            config.child_health_checks().to_vec(),
            config.port(),
            config.request_interval(),
        );
        if patched {
            assert_eq!(seen, (vec![a.clone(), b.clone()], None, None), "fixed");
        } else {
            // Children dropped, endpoint-only fields invented: terraform replaces it.
            assert_eq!(seen, (vec![], Some(80), Some(30)), "stock");
        }
    }
}

/// Bug 4: stock LocalStack has no Route 53 data plane. GetHealthCheckStatus reports
/// success for every check without probing anything: an endpoint nothing listens on, a
/// calculated check (which AWS refuses: "You can't use GetHealthCheckStatus to get the
/// status of a calculated health check", API reference, GetHealthCheckStatus), even an
/// inverted switch; and TestDNSAnswer is a 501 (moto has no route for it). The
/// compat layer serves the data plane the moto backend has (dataplane.py, whose rules
/// tests/it/dataplane.rs checks on both backends): the checker's result, AWS's refusal,
/// and answers that skip a record whose check is unhealthy.
#[tokio::test(flavor = "multi_thread")]
async fn bug4_health_check_status_and_dns_answers_follow_the_checks() {
    use crate::dataplane::{a, put};
    use aws_sdk_route53::types::ResourceRecordSetFailover;
    let (stock, fixed) = pair();
    for (emu, patched) in [(&stock, false), (&fixed, true)] {
        let r53 = emu.route53().await;
        // Nothing listens on this port: a probe's connection is refused.
        let endpoint = create(
            &r53,
            "endpoint",
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::Http)
                .ip_address("127.0.0.1")
                .port(free_port() as i32)
                .resource_path("/")
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
        // geoplan's switch: a calculated check with no children and threshold 0 is
        // healthy; inverted, it is unhealthy, and so is the record it guards.
        let switch = create(
            &r53,
            "switch",
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::Calculated)
                .health_threshold(0)
                .inverted(true)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
        let zone = hosted_zone(&r53, "status.example.com").await;
        let name = "api.status.example.com";
        put(
            &r53,
            &zone,
            vec![
                a(name, "p", "192.0.2.1")
                    .failover(ResourceRecordSetFailover::Primary)
                    .health_check_id(&switch)
                    .build()
                    .unwrap(),
                a(name, "s", "192.0.2.2")
                    .failover(ResourceRecordSetFailover::Secondary)
                    .build()
                    .unwrap(),
            ],
        )
        .await;
        let status = async |id: &str| {
            r53.get_health_check_status()
                .health_check_id(id)
                .send()
                .await
                .map(|out| {
                    out.health_check_observations()
                        .first()
                        .and_then(|o| o.status_report())
                        .and_then(|r| r.status())
                        .unwrap_or("")
                        .to_owned()
                })
        };
        let answer = r53
            .test_dns_answer()
            .hosted_zone_id(&zone)
            .record_name(name)
            .record_type(RrType::A)
            .send()
            .await;
        if patched {
            // A new check is probed at once (its first probe starts within 0.1 s).
            let start = std::time::Instant::now();
            let probed = loop {
                let s = status(&endpoint).await.unwrap();
                if !s.is_empty() || start.elapsed() > std::time::Duration::from_secs(20) {
                    break s;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            };
            assert!(
                probed.starts_with("Failure"),
                "fixed: the checker's result: {probed}"
            );
            let refused = status(&switch)
                .await
                .expect_err("fixed: a calculated check");
            assert_eq!(
                refused.as_service_error().and_then(|e| e.meta().code()),
                Some("InvalidInput"),
                "fixed: {refused:?}"
            );
            let answer = answer.expect("fixed: TestDNSAnswer is served");
            assert_eq!(
                answer.record_data(),
                ["192.0.2.2"],
                "fixed: the primary's switch is inverted"
            );
        } else {
            let (e, s) = (
                status(&endpoint).await.unwrap(),
                status(&switch).await.unwrap(),
            );
            assert!(
                e.starts_with("Success") && s.starts_with("Success"),
                "stock: {e} / {s}"
            );
            let e = answer.expect_err("stock: no TestDNSAnswer");
            assert_eq!(
                e.raw_response().map(|r| r.status().as_u16()),
                Some(501),
                "stock: {e:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bug5_health_check_version_bumps_and_fences() {
    let (stock, fixed) = pair();
    for (emu, patched) in [(&stock, false), (&fixed, true)] {
        let r53 = emu.route53().await;
        let id = create(&r53, "fenced", endpoint_check()).await.unwrap();
        let version = |o: &aws_sdk_route53::operation::get_health_check::GetHealthCheckOutput| {
            o.health_check().unwrap().health_check_version()
        };
        let v1 = version(
            &r53.get_health_check()
                .health_check_id(&id)
                .send()
                .await
                .unwrap(),
        );
        r53.update_health_check()
            .health_check_id(&id)
            .inverted(true)
            .health_check_version(v1)
            .send()
            .await
            .unwrap();
        let v2 = version(
            &r53.get_health_check()
                .health_check_id(&id)
                .send()
                .await
                .unwrap(),
        );
        // A second writer that read v1 before the first update.
        let late = r53
            .update_health_check()
            .health_check_id(&id)
            .inverted(false)
            .health_check_version(v1)
            .send()
            .await;
        if patched {
            assert_eq!(v2, v1 + 1, "fixed: every update bumps the version");
            let e = late.unwrap_err();
            assert!(
                e.as_service_error()
                    .is_some_and(|s| s.is_health_check_version_mismatch()),
                "{e:?}"
            );
            assert_eq!(config_of(&r53, &id).await.inverted(), Some(true));
        } else {
            assert_eq!(v2, v1, "stock: the version never moves");
            late.expect("stock: a stale version is accepted");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bug6_a_delete_by_set_identifier_deletes_one_record() {
    let (stock, fixed) = pair();
    for (emu, patched) in [(&stock, false), (&fixed, true)] {
        let r53 = emu.route53().await;
        let zone = hosted_zone(&r53, "compat.example.com").await;
        let record = |name: &str| {
            ResourceRecordSet::builder()
                .name(name)
                .r#type(RrType::A)
                .ttl(60)
                .set_identifier("us-east-1")
                .region(aws_sdk_route53::types::ResourceRecordSetRegion::UsEast1)
                .resource_records(
                    ResourceRecord::builder()
                        .value("192.0.2.1")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap()
        };
        let change = |action: ChangeAction, name: &str| {
            Change::builder()
                .action(action)
                .resource_record_set(record(name))
                .build()
                .unwrap()
        };
        r53.change_resource_record_sets()
            .hosted_zone_id(&zone)
            .change_batch(
                ChangeBatch::builder()
                    .changes(change(ChangeAction::Create, "api.compat.example.com"))
                    .changes(change(ChangeAction::Create, "www.compat.example.com"))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        r53.change_resource_record_sets()
            .hosted_zone_id(&zone)
            .change_batch(
                ChangeBatch::builder()
                    .changes(change(ChangeAction::Delete, "api.compat.example.com"))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let left: Vec<String> = r53
            .list_resource_record_sets()
            .hosted_zone_id(&zone)
            .send()
            .await
            .unwrap()
            .resource_record_sets()
            .iter()
            .filter(|r| r.r#type() == &RrType::A)
            .map(|r| r.name().to_owned())
            .collect();
        if patched {
            assert_eq!(left, ["www.compat.example.com."], "fixed");
        } else {
            assert!(left.is_empty(), "stock: both records went: {left:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bug7_describe_table_says_global_table_version_and_billing_mode() {
    let (stock, fixed) = pair();
    for (emu, patched) in [(&stock, false), (&fixed, true)] {
        let ddb = emu.dynamodb("us-east-1").await;
        create_table(&ddb, "provisioned", Kind::Provisioned).await;
        create_table(&ddb, "global", Kind::Streamed).await;
        add_replica(&ddb, "global", "eu-west-1").await;
        let t = ddb
            .describe_table()
            .table_name("provisioned")
            .send()
            .await
            .unwrap();
        let billing = t
            .table()
            .unwrap()
            .billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .cloned();
        let t = ddb
            .describe_table()
            .table_name("global")
            .send()
            .await
            .unwrap();
        let table = t.table().unwrap();
        let replicas: Vec<&str> = table
            .replicas()
            .iter()
            .filter_map(|r| r.region_name())
            .collect();
        assert_eq!(replicas, ["eu-west-1"], "replicas work in both");
        if patched {
            assert_eq!(billing, Some(BillingMode::Provisioned), "fixed");
            assert_eq!(table.global_table_version(), Some("2019.11.21"), "fixed");
        } else {
            assert_eq!(
                (billing, table.global_table_version()),
                (None, None),
                "stock"
            );
        }
    }
}

/// What LocalStack cannot show (its replicas share one copy of the data), the moto
/// backend can: a write reaches the replica only after the configured delay, so
/// geoplan's behaviour under a lagging replica stays testable.
#[tokio::test(flavor = "multi_thread")]
async fn the_moto_backend_can_make_a_replica_lag() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let emu = Emulator::moto_with(&["--replication-delay", "1.5"]);
    let us = emu.dynamodb("us-east-1").await;
    let eu = emu.dynamodb("eu-west-1").await;
    create_table(&us, "lagging", Kind::OnDemand).await;
    add_replica(&us, "lagging", "eu-west-1").await;
    let written = std::time::Instant::now();
    us.put_item()
        .table_name("lagging")
        .item("id", AttributeValue::S("order-1".into()))
        .send()
        .await
        .unwrap();
    let present = async || {
        eu.get_item()
            .table_name("lagging")
            .key("id", AttributeValue::S("order-1".into()))
            .send()
            .await
            .unwrap()
            .item()
            .is_some()
    };
    assert!(!present().await, "not in the replica yet");
    while !present().await {
        assert!(
            written.elapsed() < std::time::Duration::from_secs(10),
            "never replicated"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        written.elapsed() >= std::time::Duration::from_millis(1500),
        "{:?}",
        written.elapsed()
    );
}

/// Every socket LocalStack and its children listen on is a loopback one, DynamoDB
/// Local and the Kinesis mock included (they bind the wildcard address unless the
/// launcher's shim turns it into loopback). Read from /proc: the listening sockets
/// of every process in the launcher's tree.
#[tokio::test(flavor = "multi_thread")]
async fn localstack_and_its_children_listen_on_loopback_only() {
    let emu = Emulator::localstack(false);
    // Start DynamoDB Local and the Kinesis mock: a table with a stream.
    let ddb = emu.dynamodb("us-east-1").await;
    create_table(&ddb, "listeners", Kind::Streamed).await;
    let port: u16 = emu.url.rsplit(':').next().unwrap().parse().unwrap();
    let listeners = listening_sockets();
    // The process serving the gateway port, and everything below its launcher.
    let gateway = listeners
        .iter()
        .find(|l| l.port == port)
        .unwrap_or_else(|| panic!("nothing listens on {port}: {listeners:?}"));
    let launcher = parent_of(gateway.pid).expect("LocalStack has a launcher");
    let tree = descendants(launcher);
    let ours: Vec<&Listener> = listeners.iter().filter(|l| tree.contains(&l.pid)).collect();
    let programs: std::collections::BTreeSet<String> =
        ours.iter().map(|l| l.program.clone()).collect();
    assert!(
        programs.contains("java") && programs.contains("node"),
        "DynamoDB Local and the Kinesis mock are listening: {ours:?}"
    );
    for l in &ours {
        assert!(
            l.loopback,
            "{} (pid {}) listens on {}",
            l.program, l.pid, l.address
        );
    }
}

#[derive(Debug)]
struct Listener {
    pid: u32,
    program: String,
    address: String,
    port: u16,
    loopback: bool,
}

/// Listening TCP sockets with their owning processes, from /proc/net and /proc/*/fd.
fn listening_sockets() -> Vec<Listener> {
    let mut by_inode = std::collections::HashMap::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in std::fs::read_to_string(file).unwrap().lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.get(3) != Some(&"0A") {
                continue; // not LISTEN
            }
            let (addr, port) = f[1].split_once(':').unwrap();
            let port = u16::from_str_radix(port, 16).unwrap();
            // Kernel order: IPv4 as one little-endian word; IPv6 as four of them.
            let loopback = match addr.len() {
                8 => addr == "0100007F",
                _ => {
                    addr == "00000000000000000000000001000000"
                        || addr == "0000000000000000FFFF00000100007F"
                }
            };
            by_inode.insert(f[9].to_owned(), (addr.to_owned(), port, loopback));
        }
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let program = std::fs::read_to_string(entry.path().join("comm"))
            .unwrap_or_default()
            .trim()
            .to_owned();
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let target = target.to_string_lossy().into_owned();
            let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|t| t.strip_suffix(']'))
            else {
                continue;
            };
            if let Some((address, port, loopback)) = by_inode.get(inode) {
                out.push(Listener {
                    pid,
                    program: program.clone(),
                    address: address.clone(),
                    port: *port,
                    loopback: *loopback,
                });
            }
        }
    }
    out
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn descendants(root: u32) -> Vec<u32> {
    let all: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter_map(|pid| Some((pid, parent_of(pid)?)))
        .collect();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(all.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found
}

/// The kinds of test table: on demand, on demand with a stream (replicas need one),
/// or provisioned at 5 read and 5 write units.
enum Kind {
    OnDemand,
    Streamed,
    Provisioned,
}

/// A table keyed by `id` (a string).
async fn create_table(ddb: &aws_sdk_dynamodb::Client, name: &str, kind: Kind) {
    try_create_table(ddb, name, kind).await.unwrap();
}

async fn try_create_table(
    ddb: &aws_sdk_dynamodb::Client,
    name: &str,
    kind: Kind,
) -> Result<
    aws_sdk_dynamodb::operation::create_table::CreateTableOutput,
    aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::create_table::CreateTableError>,
> {
    table_request(ddb, name, kind).send().await
}

/// The CreateTable request of a test table, to send as is or with more settings.
fn table_request(
    ddb: &aws_sdk_dynamodb::Client,
    name: &str,
    kind: Kind,
) -> aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder {
    let create = ddb
        .create_table()
        .table_name(name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        );
    match kind {
        Kind::Provisioned => create
            .billing_mode(BillingMode::Provisioned)
            .provisioned_throughput(
                ProvisionedThroughput::builder()
                    .read_capacity_units(5)
                    .write_capacity_units(5)
                    .build()
                    .unwrap(),
            ),
        Kind::OnDemand => create.billing_mode(BillingMode::PayPerRequest),
        Kind::Streamed => create
            .billing_mode(BillingMode::PayPerRequest)
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()
                    .unwrap(),
            ),
    }
}

/// Makes `name` a global table with a replica in `region`.
async fn add_replica(ddb: &aws_sdk_dynamodb::Client, name: &str, region: &str) {
    ddb.update_table()
        .table_name(name)
        .replica_updates(
            ReplicationGroupUpdate::builder()
                .create(
                    CreateReplicationGroupMemberAction::builder()
                        .region_name(region)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// A health check's configuration as GetHealthCheck returns it.
async fn config_of(r53: &aws_sdk_route53::Client, id: &str) -> HealthCheckConfig {
    r53.get_health_check()
        .health_check_id(id)
        .send()
        .await
        .unwrap()
        .health_check()
        .unwrap()
        .health_check_config()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn bug8_a_table_with_a_stream_can_be_created_again_after_delete() {
    let (stock, fixed) = pair();
    for (emu, patched) in [(&stock, false), (&fixed, true)] {
        let ddb = emu.dynamodb("us-east-1").await;
        create_table(&ddb, "recreated", Kind::Streamed).await;
        add_replica(&ddb, "recreated", "eu-west-1").await;
        ddb.delete_table()
            .table_name("recreated")
            .send()
            .await
            .unwrap();
        // What terraform does when it replaces a table (one tainted by an interrupt).
        let again = try_create_table(&ddb, "recreated", Kind::Streamed).await;
        if patched {
            again.expect("fixed: the name is free again");
        } else {
            let e = again.unwrap_err();
            assert!(
                e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()),
                "stock: the old stream blocks the name: {e:?}"
            );
        }
    }
}

/// Makes `name` a global table with a replica in `region` encrypted by `kms_key`.
async fn add_encrypted_replica(
    ddb: &aws_sdk_dynamodb::Client,
    name: &str,
    region: &str,
    kms_key: &str,
) {
    ddb.update_table()
        .table_name(name)
        .replica_updates(
            ReplicationGroupUpdate::builder()
                .create(
                    CreateReplicationGroupMemberAction::builder()
                        .region_name(region)
                        .kms_master_key_id(kms_key)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn bug9_a_replica_describes_its_own_encryption_key() {
    let (stock, fixed) = pair();
    let home_key = "arn:aws:kms:us-east-1:111122223333:key/home";
    let replica_key = "arn:aws:kms:eu-west-1:111122223333:key/replica";
    for (emu, patched) in [(&stock, false), (&fixed, true)] {
        let us = emu.dynamodb("us-east-1").await;
        table_request(&us, "sealed", Kind::Streamed)
            .sse_specification(
                aws_sdk_dynamodb::types::SseSpecification::builder()
                    .enabled(true)
                    .sse_type(aws_sdk_dynamodb::types::SseType::Kms)
                    .kms_master_key_id(home_key)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        add_encrypted_replica(&us, "sealed", "eu-west-1", replica_key).await;
        let key_in = |region: &'static str| async move {
            let t = emu
                .dynamodb(region)
                .await
                .describe_table()
                .table_name("sealed")
                .send()
                .await
                .unwrap();
            t.table()
                .unwrap()
                .sse_description()
                .and_then(|s| s.kms_master_key_arn())
                .map(str::to_owned)
        };
        assert_eq!(
            key_in("us-east-1").await.as_deref(),
            Some(home_key),
            "home in both"
        );
        let replica = key_in("eu-west-1").await;
        if patched {
            assert_eq!(replica.as_deref(), Some(replica_key), "fixed");
        } else {
            assert_eq!(replica, None, "stock: the replica has no SSE description");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bug10_a_replica_reports_the_tables_ttl() {
    let (stock, fixed) = pair();
    for (emu, patched) in [(&stock, false), (&fixed, true)] {
        let us = emu.dynamodb("us-east-1").await;
        create_table(&us, "expiring", Kind::Streamed).await;
        add_replica(&us, "expiring", "eu-west-1").await;
        us.update_time_to_live()
            .table_name("expiring")
            .time_to_live_specification(
                aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                    .attribute_name("expires_at")
                    .enabled(true)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let ttl_in = |region: &'static str| async move {
            let d = emu
                .dynamodb(region)
                .await
                .describe_time_to_live()
                .table_name("expiring")
                .send()
                .await
                .unwrap();
            let d = d.time_to_live_description().unwrap();
            (
                d.time_to_live_status().map(|s| s.as_str().to_owned()),
                d.attribute_name().map(str::to_owned),
            )
        };
        let enabled = (Some("ENABLED".to_owned()), Some("expires_at".to_owned()));
        assert_eq!(ttl_in("us-east-1").await, enabled, "home in both");
        if patched {
            assert_eq!(ttl_in("eu-west-1").await, enabled, "fixed");
        } else {
            assert_eq!(
                ttl_in("eu-west-1").await,
                (Some("DISABLED".to_owned()), None),
                "stock"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bug11_12_a_new_index_keeps_the_tables_limits_and_has_none_of_its_own() {
    use aws_sdk_dynamodb::types::{
        CreateGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate, OnDemandThroughput,
        Projection, ProjectionType,
    };
    let (stock, fixed) = pair();
    for (emu, patched) in [(&stock, false), (&fixed, true)] {
        let ddb = emu.dynamodb("us-east-1").await;
        table_request(&ddb, "capped", Kind::OnDemand)
            .on_demand_throughput(
                OnDemandThroughput::builder()
                    .max_read_request_units(50)
                    .max_write_request_units(60)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        // What terraform sends to add a global index.
        ddb.update_table()
            .table_name("capped")
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("sku")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .global_secondary_index_updates(
                GlobalSecondaryIndexUpdate::builder()
                    .create(
                        CreateGlobalSecondaryIndexAction::builder()
                            .index_name("by-sku")
                            .key_schema(
                                KeySchemaElement::builder()
                                    .attribute_name("sku")
                                    .key_type(KeyType::Hash)
                                    .build()
                                    .unwrap(),
                            )
                            .projection(
                                Projection::builder()
                                    .projection_type(ProjectionType::All)
                                    .build(),
                            )
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let t = ddb
            .describe_table()
            .table_name("capped")
            .send()
            .await
            .unwrap();
        let t = t.table().unwrap();
        assert_eq!(t.global_secondary_indexes().len(), 1, "the index, in both");
        let index_limits = t.global_secondary_indexes()[0]
            .on_demand_throughput()
            .map(|o| (o.max_read_request_units(), o.max_write_request_units()));
        let limits = t
            .on_demand_throughput()
            .map(|o| (o.max_read_request_units(), o.max_write_request_units()));
        if patched {
            assert_eq!(limits, Some((Some(50), Some(60))), "fixed");
            assert_eq!(
                index_limits, None,
                "fixed: as for an index created with its table"
            );
        } else {
            assert_eq!(limits, None, "stock: the limits are gone");
            assert_eq!(index_limits, Some((Some(-1), Some(-1))), "stock");
        }
    }
}
