//! DynamoDB tables as applications need them, end to end against the emulator with the
//! real terraform binary: indexes, TTL, on-demand limits and per-region encryption read
//! back from every replica region through the SDK; an index added and one removed on a
//! live global table in one apply.

use std::collections::BTreeMap;

use crate::support::*;

const FIXTURE: &str = "tests/fixtures/indexed-tables.toml";
const CONFIG: &str = "indexed-tables.toml";
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];

/// One table as DynamoDB describes it in one region.
#[derive(Debug, PartialEq)]
struct Described {
    /// index → (projection type, non-key attributes sorted).
    global_indexes: BTreeMap<String, (String, Vec<String>)>,
    local_indexes: Vec<String>,
    /// (SSE type, key ARN) when encryption is described.
    sse: Option<(String, Option<String>)>,
    ttl: Option<String>,
    limits: Option<(Option<i64>, Option<i64>)>,
    stream: Option<String>,
}

async fn describe(emu: &Emulator, region: &str, table: &str) -> Described {
    let ddb = emu.dynamodb(region).await;
    let t = ddb.describe_table().table_name(table).send().await.unwrap();
    let t = t.table().unwrap();
    let ttl = ddb
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    Described {
        global_indexes: t
            .global_secondary_indexes()
            .iter()
            .map(|g| {
                let p = g.projection().unwrap();
                let mut attributes = p.non_key_attributes().to_vec();
                attributes.sort(); // a set to terraform
                (
                    g.index_name().unwrap().to_owned(),
                    (p.projection_type().unwrap().as_str().to_owned(), attributes),
                )
            })
            .collect(),
        local_indexes: t
            .local_secondary_indexes()
            .iter()
            .map(|l| l.index_name().unwrap().to_owned())
            .collect(),
        sse: t.sse_description().map(|s| {
            (
                s.sse_type().map_or("", |t| t.as_str()).to_owned(),
                s.kms_master_key_arn().map(str::to_owned),
            )
        }),
        ttl: (ttl.time_to_live_status().map(|s| s.as_str()) == Some("ENABLED"))
            .then(|| ttl.attribute_name().unwrap_or_default().to_owned()),
        limits: t
            .on_demand_throughput()
            .map(|o| (o.max_read_request_units(), o.max_write_request_units())),
        stream: t
            .stream_specification()
            .and_then(|s| s.stream_view_type())
            .map(|v| v.as_str().to_owned()),
    }
}

fn key_of(config: &str, region: &str) -> String {
    let c = geoplan::config::compile(CONFIG, config, std::path::Path::new("/"))
        .0
        .expect("the fixture compiles");
    match &c.tables[0].encryption {
        geoplan::config::Encryption::Kms(keys) => keys[region].clone(),
        other => panic!("orders has customer keys, not {other:?}"),
    }
}

fn indexes(list: &[(&str, &str, &[&str])]) -> BTreeMap<String, (String, Vec<String>)> {
    list.iter()
        .map(|(n, p, a)| {
            (
                n.to_string(),
                (p.to_string(), a.iter().map(|s| s.to_string()).collect()),
            )
        })
        .collect()
}

fn plan_totals(wd: &Workdir, emu: &Emulator) -> serde_json::Value {
    let plan: serde_json::Value = serde_json::from_str(&success(&geoplan(
        wd.path(),
        &["plan", CONFIG, "--json", "--quiet"],
        Some(emu),
    )))
    .unwrap();
    plan["plan"]["totals"].clone()
}

/// The fixture applies; every replica region describes the same indexes, the TTL, the
/// limits and its own region's key; a second plan is empty. Then `by-sku` is replaced
/// by `by-channel` on the live global table in one apply, read back the same way;
/// destroy leaves no table in any region.
#[tokio::test(flavor = "multi_thread")]
async fn indexes_ttl_limits_and_keys_reach_every_replica() {
    let emu = Emulator::start();
    let wd = Workdir::with(FIXTURE);
    let text = std::fs::read_to_string(wd.path().join(CONFIG)).unwrap();
    success(&geoplan(
        wd.path(),
        &["apply", CONFIG, "--auto-approve", "--quiet"],
        Some(&emu),
    ));
    let status_sku = |extra: (&'static str, &'static str, &'static [&'static str])| {
        indexes(&[("by-status", "INCLUDE", &["currency", "total"]), extra])
    };
    for region in REGIONS {
        assert_eq!(
            describe(&emu, region, "orders-orders").await,
            Described {
                global_indexes: status_sku(("by-sku", "KEYS_ONLY", &[])),
                local_indexes: vec!["by-total".into()],
                sse: Some(("KMS".into(), Some(key_of(&text, region)))),
                ttl: Some("expires_at".into()),
                limits: Some((Some(500), Some(200))),
                stream: Some("NEW_AND_OLD_IMAGES".into()),
            },
            "orders in {region}"
        );
        let stock = describe(&emu, region, "orders-stock").await;
        assert_eq!(
            stock.global_indexes,
            indexes(&[("by-warehouse", "ALL", &[])]),
            "stock in {region}"
        );
        // The AWS-managed key: KMS, with the account's key in that region.
        let (kind, key) = stock.sse.expect("stock is encrypted with the managed key");
        assert_eq!(kind, "KMS");
        let key = key.expect("a key ARN");
        assert!(
            key.starts_with(&format!("arn:aws:kms:{region}:")),
            "stock's key in {region} is that region's: {key}"
        );
    }
    let events = describe(&emu, "eu-west-1", "orders-events").await;
    assert_eq!(
        (events.stream, events.sse),
        (Some("NEW_IMAGE".to_owned()), None),
        "a single-region table with the stream it asked for and DynamoDB's own key"
    );
    assert_eq!(
        plan_totals(&wd, &emu),
        serde_json::json!({"add": 0, "change": 0, "destroy": 0}),
        "converged"
    );

    // One apply swaps a global index on the live global table.
    let swapped = text.replace(
        "name = \"by-sku\"\npartition_key = { name = \"sku\", type = \"S\" }\nprojection = \"keys-only\"",
        "name = \"by-channel\"\npartition_key = { name = \"channel\", type = \"S\" }\nsort_key = { name = \"placed_at\", type = \"N\" }",
    );
    assert_ne!(swapped, text, "the fixture has the by-sku index");
    std::fs::write(wd.path().join(CONFIG), &swapped).unwrap();
    let report: serde_json::Value = serde_json::from_str(&success(&geoplan(
        wd.path(),
        &["apply", CONFIG, "--auto-approve", "--json", "--quiet"],
        Some(&emu),
    )))
    .unwrap();
    assert_eq!(
        report["plan"]["totals"],
        serde_json::json!({"add": 0, "change": 1, "destroy": 0}),
        "the table is updated in place, not replaced: {report}"
    );
    for region in REGIONS {
        let orders = describe(&emu, region, "orders-orders").await;
        assert_eq!(
            orders.global_indexes,
            status_sku(("by-channel", "ALL", &[])),
            "orders in {region}"
        );
        assert_eq!(orders.limits, Some((Some(500), Some(200))), "{region}");
    }
    assert_eq!(
        plan_totals(&wd, &emu),
        serde_json::json!({"add": 0, "change": 0, "destroy": 0}),
        "converged after the index change"
    );

    success(&geoplan(
        wd.path(),
        &["destroy", CONFIG, "--auto-approve", "--quiet"],
        Some(&emu),
    ));
    for region in REGIONS {
        let tables = emu
            .dynamodb(region)
            .await
            .list_tables()
            .send()
            .await
            .unwrap();
        assert_eq!(
            tables.table_names(),
            &[] as &[String],
            "nothing left in {region}"
        );
    }
}

/// One table replicated to the regions listed, behind latency records.
fn shop_with(regions: &[(&str, &str)]) -> String {
    let mut text = String::from(
        "name = \"grow\"\npattern = \"active-active\"\n\n[dns]\nzone = \"grow.example.com\"\nrecord = \"api.grow.example.com\"\n",
    );
    for (name, ip) in regions {
        text.push_str(&format!(
            "\n[[region]]\nname = \"{name}\"\nendpoint = \"{ip}\"\n"
        ));
    }
    text.push_str(
        "\n[[table]]\nname = \"carts\"\npartition_key = { name = \"id\", type = \"S\" }\n",
    );
    text
}

/// A region added to a live deployment gets no record before its replica is ACTIVE.
/// The moto backend keeps a new replica CREATING for a few seconds, so the order is
/// observable: while the second apply runs, the new region's record and its replica's
/// status are polled every 100 ms.
#[tokio::test(flavor = "multi_thread")]
async fn an_added_region_gets_traffic_only_once_its_replica_is_active() {
    const NEW: &str = "ap-southeast-2";
    let emu = Emulator::moto_with(&["--replica-creation-delay", "6"]);
    let two = [("us-east-1", "192.0.2.10"), ("eu-west-1", "192.0.2.20")];
    let wd = Workdir::with_text("grow.toml", &shop_with(&two));
    success(&geoplan(
        wd.path(),
        &["apply", "grow.toml", "--auto-approve", "--quiet"],
        Some(&emu),
    ));
    let r53 = emu.route53().await;
    let zone = r53
        .list_hosted_zones_by_name()
        .dns_name("grow.example.com")
        .send()
        .await
        .unwrap()
        .hosted_zones()[0]
        .id()
        .to_owned();
    let ddb = emu.dynamodb(NEW).await;

    let mut three = two.to_vec();
    three.push((NEW, "192.0.2.30"));
    std::fs::write(wd.path().join("grow.toml"), shop_with(&three)).unwrap();
    let mut apply = geoplan_command(
        wd.path(),
        &["apply", "grow.toml", "--auto-approve", "--quiet"],
        Some(&emu),
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    // (record for the new region exists, its replica's status)
    let mut seen: Vec<(bool, Option<String>)> = Vec::new();
    let status = loop {
        let records = r53
            .list_resource_record_sets()
            .hosted_zone_id(&zone)
            .send()
            .await
            .unwrap();
        let record = records
            .resource_record_sets()
            .iter()
            .any(|r| r.set_identifier() == Some(&format!("api-{NEW}")));
        let replica = ddb
            .describe_table()
            .table_name("grow-carts")
            .send()
            .await
            .ok()
            .and_then(|t| t.table().and_then(|t| t.table_status()).cloned())
            .map(|s| s.as_str().to_owned());
        seen.push((record, replica));
        if let Some(status) = apply.try_wait().unwrap() {
            break status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(status.success(), "the second apply succeeded");
    let early: Vec<_> = seen
        .iter()
        .filter(|(record, replica)| *record && replica.as_deref() != Some("ACTIVE"))
        .collect();
    assert!(
        early.is_empty(),
        "the new region's record existed before its replica was ACTIVE: {early:?}"
    );
    assert!(
        seen.iter()
            .any(|(record, replica)| !record && replica.as_deref() == Some("CREATING")),
        "the replica was seen CREATING with no record yet (the order was observable): {seen:?}"
    );
    assert_eq!(
        seen.last(),
        Some(&(true, Some("ACTIVE".to_owned()))),
        "in the end the region has its record and its replica"
    );
}
