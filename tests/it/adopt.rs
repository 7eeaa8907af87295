//! `geoplan adopt` against the emulator: a zone, a health check, a record and a table
//! made by hand through the SDK are found and imported by the next apply, not created
//! again; the single-region table becomes a global table with its item kept; what
//! cannot be imported without losing data or traffic is refused, naming why.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, HealthCheckConfig, HealthCheckType, HostedZoneConfig,
    ResourceRecord, ResourceRecordSet, RrType,
};
use serde_json::{Value, json};

use crate::support::*;

const CONFIG: &str = "name = \"adopt\"
pattern = \"active-active\"

[dns]
zone = \"adopt.example.com\"
record = \"api.adopt.example.com\"

[[region]]
name = \"us-east-1\"
endpoint = \"192.0.2.10\"

[[region]]
name = \"eu-west-1\"
endpoint = \"192.0.2.20\"

[[table]]
name = \"carts\"
partition_key = { name = \"id\", type = \"S\" }
";

/// What a team made by hand before geoplan: a zone, the us-east-1 endpoint check, a
/// latency record for us-east-1 (with `record_set_id` as its set identifier, or a
/// simple record without one), and the table `adopt-carts` keyed by `key` with an item.
struct HandMade {
    zone: String,
    check: String,
}

async fn make_by_hand(emu: &Emulator, record_set_id: Option<&str>, key: &str) -> HandMade {
    let r53 = emu.route53().await;
    let zone = r53
        .create_hosted_zone()
        .name("adopt.example.com")
        .caller_reference(format!("by-hand-{}", std::process::id()))
        .hosted_zone_config(HostedZoneConfig::builder().comment("made by hand").build())
        .send()
        .await
        .unwrap();
    let zone = zone
        .hosted_zone()
        .unwrap()
        .id()
        .trim_start_matches("/hostedzone/")
        .to_owned();
    let check = r53
        .create_health_check()
        .caller_reference(format!("by-hand-check-{}", std::process::id()))
        .health_check_config(
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::Https)
                .ip_address("192.0.2.10")
                .port(443)
                .resource_path("/healthz")
                .request_interval(10)
                .failure_threshold(3)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let check = check.health_check().unwrap().id().to_owned();
    let mut record = ResourceRecordSet::builder()
        .name("api.adopt.example.com")
        .r#type(RrType::A)
        .ttl(60)
        .resource_records(
            ResourceRecord::builder()
                .value("192.0.2.10")
                .build()
                .unwrap(),
        );
    if let Some(id) = record_set_id {
        record = record
            .set_identifier(id)
            .region(aws_sdk_route53::types::ResourceRecordSetRegion::UsEast1);
    }
    r53.change_resource_record_sets()
        .hosted_zone_id(&zone)
        .change_batch(
            ChangeBatch::builder()
                .changes(
                    Change::builder()
                        .action(ChangeAction::Create)
                        .resource_record_set(record.build().unwrap())
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    create_table(emu, "us-east-1", "adopt-carts", key).await;
    let ddb = emu.dynamodb("us-east-1").await;
    ddb.put_item()
        .table_name("adopt-carts")
        .item(key, AttributeValue::S("cart-1".into()))
        .send()
        .await
        .unwrap();
    HandMade { zone, check }
}

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_str(&stdout(out))
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(out), stderr(out)))
}

#[tokio::test(flavor = "multi_thread")]
async fn hand_made_resources_are_imported_not_created_again() {
    let emu = Emulator::start();
    let made = make_by_hand(&emu, Some("api-us-east-1"), "id").await;
    let wd = Workdir::with_text("adopt.toml", CONFIG);

    let adopted = json_of(&geoplan(
        wd.path(),
        &["adopt", "adopt.toml", "--json"],
        Some(&emu),
    ));
    let imports: Vec<(String, String)> = adopted["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["address"].as_str().unwrap().to_owned(),
                i["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        imports,
        [
            ("aws_route53_zone.this".to_owned(), made.zone.clone()),
            (
                "aws_route53_health_check.endpoint_us_east_1".to_owned(),
                made.check.clone()
            ),
            (
                "aws_route53_record.latency_api_us_east_1".to_owned(),
                format!("{}_api.adopt.example.com_A_api-us-east-1", made.zone)
            ),
            (
                "aws_dynamodb_table.carts".to_owned(),
                "adopt-carts".to_owned()
            ),
        ],
        "{adopted:#}"
    );
    assert_eq!(adopted["refusals"], json!([]));
    assert!(adopted["written"].is_string(), "{adopted:#}");
    let to_create = adopted["create"].as_array().unwrap().len();
    assert_eq!(to_create, 6, "the rest of the module: {adopted:#}");

    // The plan imports the four and creates only the rest.
    let plan = json_of(&geoplan(
        wd.path(),
        &["plan", "adopt.toml", "--json", "--quiet"],
        Some(&emu),
    ));
    assert_eq!(plan["plan"]["imports"], json!(4), "{:#}", plan["plan"]);
    assert_eq!(plan["plan"]["totals"]["add"], json!(to_create));
    assert_eq!(plan["plan"]["totals"]["destroy"], json!(0));
    let imported: Vec<&str> = plan["plan"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["imported"] == json!(true))
        .map(|c| c["address"].as_str().unwrap())
        .collect();
    assert_eq!(imported.len(), 4, "{:#}", plan["plan"]["changes"]);

    let applied = json_of(&geoplan(
        wd.path(),
        &["apply", "adopt.toml", "--auto-approve", "--json", "--quiet"],
        Some(&emu),
    ));
    assert_eq!(applied["applied"], json!(true), "{applied:#}");
    let r53 = emu.route53().await;
    let zones = r53.list_hosted_zones().send().await.unwrap();
    let named: Vec<&str> = zones
        .hosted_zones()
        .iter()
        .filter(|z| z.name() == "adopt.example.com.")
        .map(|z| z.id().trim_start_matches("/hostedzone/"))
        .collect();
    assert_eq!(
        named,
        [made.zone.as_str()],
        "the hand-made zone, and no second one"
    );
    let checks = r53.list_health_checks().send().await.unwrap();
    assert_eq!(checks.health_checks().len(), 6, "3 per region, none twice");
    assert!(
        checks.health_checks().iter().any(|c| c.id() == made.check),
        "the hand-made check is kept"
    );
    // The single-region table became a global table, keeping its item.
    let ddb = emu.dynamodb("us-east-1").await;
    let t = ddb
        .describe_table()
        .table_name("adopt-carts")
        .send()
        .await
        .unwrap();
    let replicas: Vec<&str> = t
        .table()
        .unwrap()
        .replicas()
        .iter()
        .filter_map(|r| r.region_name())
        .collect();
    assert_eq!(replicas, ["eu-west-1"]);
    let item = emu
        .dynamodb("eu-west-1")
        .await
        .get_item()
        .table_name("adopt-carts")
        .key("id", AttributeValue::S("cart-1".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert!(
        item.item().is_some(),
        "the item survived and reached the replica"
    );
    assert!(
        !wd.path()
            .join(".geoplan/terraform")
            .join(geoplan::deploy::adopt::ADOPT_FILE)
            .exists(),
        "the import file goes once applied"
    );
    let again = json_of(&geoplan(
        wd.path(),
        &["plan", "adopt.toml", "--json", "--quiet"],
        Some(&emu),
    ));
    assert_eq!(
        again["plan"]["totals"],
        json!({"add": 0, "change": 0, "destroy": 0}),
        "converged"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn what_cannot_be_imported_is_refused_and_nothing_is_written() {
    let emu = Emulator::start();
    // A simple record where latency records go, and a table keyed by another attribute.
    make_by_hand(&emu, None, "sku").await;
    let wd = Workdir::with_text("adopt.toml", CONFIG);
    let out = geoplan(wd.path(), &["adopt", "adopt.toml", "--json"], Some(&emu));
    assert_eq!(out.status.code(), Some(6), "refused: {}", stderr(&out));
    let report = json_of(&out);
    let refused: Vec<(&str, &str)> = report["refusals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["address"].as_str().unwrap(),
                r["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        refused,
        [
            (
                "aws_route53_record.latency_api_us_east_1",
                "api.adopt.example.com A exists as a simple record, where geoplan puts routed records (set identifier api-us-east-1)"
            ),
            (
                "aws_route53_record.latency_api_eu_west_1",
                "api.adopt.example.com A exists as a simple record, where geoplan puts routed records (set identifier api-eu-west-1)"
            ),
            (
                "aws_dynamodb_table.carts",
                "table adopt-carts exists with key (sku:S), the config says (id:S)"
            ),
        ],
        "{report:#}"
    );
    assert_eq!(report["written"], Value::Null);
    assert!(
        !wd.path()
            .join(".geoplan/terraform")
            .join(geoplan::deploy::adopt::ADOPT_FILE)
            .exists()
    );
    // The same, for a person: each refusal with its reason and what to do.
    let out = geoplan(wd.path(), &["adopt", "adopt.toml"], Some(&emu));
    assert_eq!(out.status.code(), Some(6));
    let text = stderr(&out);
    assert!(
        text.contains("error: 3 resource(s) exist but cannot be adopted as adopt.toml describes them; nothing was written:")
            && text.contains("help: DynamoDB cannot change a table's keys"),
        "{text}"
    );
}
