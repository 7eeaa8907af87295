//! `geoplan cost` against the emulator's Cost Explorer (seeded, two pages) and CUR
//! files in both column styles, plain, gzip and a Parquet Data Exports folder: the same
//! rows give the same matrix.

use std::io::Write;

use serde_json::{Value, json};

use crate::support::*;

/// (day, usage type, quantity, USD): a realistic month for a 3-region deployment.
/// Amounts are binary fractions so sums are exact whatever the order.
const ROWS: &[(&str, &str, f64, f64)] = &[
    ("2026-10-01", "USE1-EU-AWS-Out-Bytes", 512.0, 10.25),
    ("2026-10-02", "USE1-EU-AWS-Out-Bytes", 256.0, 5.125),
    ("2026-10-01", "USE1-EU-AWS-In-Bytes", 768.0, 0.0),
    ("2026-10-01", "EU-USE1-AWS-Out-Bytes", 128.0, 2.5),
    ("2026-10-02", "USE1-APN1-AWS-Out-Bytes", 64.0, 1.25),
    ("2026-10-02", "APN1-EU-AWS-Out-Bytes", 32.0, 2.875),
    ("2026-10-01", "EU-APS3-AWS-Out-Bytes", 16.0, 0.5),
    ("2026-10-02", "EU-DataTransfer-Regional-Bytes", 1024.0, 10.0),
    (
        "2026-10-02",
        "USE1-ReplWriteRequestUnits",
        2_000_000.0,
        1.25,
    ),
    (
        "2026-10-02",
        "APN1-ReplWriteRequestUnits",
        1_000_000.0,
        0.75,
    ),
    ("2026-10-01", "ZZZ9-USE1-AWS-Out-Bytes", 8.0, 0.25),
    ("2026-10-01", "USE1-TimedStorage-ByteHrs", 100.0, 25.0),
];

const CONFIG: &str = r#"name = "shop"
pattern = "active-active"
[dns]
zone = "shop.example.com"
record = "api.shop.example.com"
[[region]]
name = "us-east-1"
endpoint = "192.0.2.1"
[[region]]
name = "eu-west-1"
endpoint = "192.0.2.2"
[[region]]
name = "ap-northeast-1"
endpoint = "192.0.2.3"
[cost]
monthly_budget_usd = 30
alert_at = [0.5, 0.8, 1.0]
"#;

/// One page of Cost Explorer results: rows of (day, usage type, quantity, USD).
pub fn page(rows: &[(&str, &str, f64, f64)], next: Option<&str>) -> Value {
    let mut days: Vec<&str> = rows.iter().map(|r| r.0).collect();
    days.sort_unstable();
    days.dedup();
    let by_time: Vec<Value> = days
        .iter()
        .map(|day| {
            let groups: Vec<Value> = rows
                .iter()
                .filter(|r| r.0 == *day)
                .map(|r| json!({"Keys": [r.1], "Metrics": {
                    "UnblendedCost": {"Amount": r.3.to_string(), "Unit": "USD"},
                    "UsageQuantity": {"Amount": r.2.to_string(), "Unit": "N/A"}}}))
                .collect();
            json!({"TimePeriod": {"Start": day, "End": day}, "Total": {}, "Groups": groups, "Estimated": false})
        })
        .collect();
    let mut p = json!({"ResultsByTime": by_time, "DimensionValueAttributes": []});
    if let Some(t) = next {
        p["NextPageToken"] = json!(t);
    }
    p
}

async fn seed(emu: &Emulator) {
    let (first, second) = ROWS.split_at(6);
    seed_pages(emu, vec![page(first, Some("page-2")), page(second, None)]).await;
}

/// Queues Cost Explorer result pages in the emulator, answered in order.
pub async fn seed_pages(emu: &Emulator, pages: Vec<Value>) {
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/moto-api/static/ce/cost-and-usage-results",
            emu.url
        ))
        .json(&json!({ "results": pages }))
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "seeding Cost Explorer: {}",
        resp.status()
    );
}

/// Another workload's transfer in the same account, in every CUR file: untagged in one
/// row, tagged for another deployment in the other. Not this deployment's spend.
const OTHERS: &[(&str, &str, f64, f64, Option<&str>)] = &[
    ("2026-10-01", "USE1-EU-AWS-Out-Bytes", 4096.0, 81.92, None),
    (
        "2026-10-02",
        "EU-USE1-AWS-Out-Bytes",
        2048.0,
        40.96,
        Some("billing"),
    ),
];

fn write_cur(dir: &std::path::Path) {
    let mut legacy = String::from(
        "identity/LineItemId,lineItem/UsageStartDate,lineItem/UsageType,lineItem/UsageAmount,lineItem/UnblendedCost,resourceTags/user:geoplan:name\n",
    );
    let mut v2 = String::from(
        "line_item_usage_start_date,line_item_usage_type,line_item_usage_amount,line_item_unblended_cost,resource_tags\n",
    );
    let json_tags = |tag: Option<&str>| match tag {
        Some(t) => {
            format!("\"{{\"\"user_team\"\":\"\"web\"\",\"\"user_geoplan_name\"\":\"\"{t}\"\"}}\"")
        }
        None => "{}".to_owned(),
    };
    let all = ROWS
        .iter()
        .map(|(d, t, q, u)| (d, t, q, u, Some("shop")))
        .chain(OTHERS.iter().map(|(d, t, q, u, g)| (d, t, q, u, *g)));
    for (i, (day, t, q, usd, tag)) in all.enumerate() {
        legacy += &format!("{i},{day}T00:00:00Z,{t},{q},{usd},{}\n", tag.unwrap_or(""));
        v2 += &format!("{day}T00:00:00Z,{t},{q},{usd},{}\n", json_tags(tag));
    }
    std::fs::create_dir_all(dir.join("legacy")).unwrap();
    std::fs::create_dir_all(dir.join("v2")).unwrap();
    std::fs::write(dir.join("legacy/2026-10.csv"), legacy).unwrap();
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(dir.join("v2/part-0.csv.gz")).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(v2.as_bytes()).unwrap();
    gz.finish().unwrap();
    // CUR 2.0 as AWS Data Exports delivers it by default: Parquet files in an export
    // folder, listed by the billing period's manifest (a file per half of the rows).
    let data = dir.join("export/data/BILLING_PERIOD=2026-10");
    let metadata = dir.join("export/metadata/BILLING_PERIOD=2026-10");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&metadata).unwrap();
    let rows: Vec<geoplan::cost::cur::parquet::writer::Row> = ROWS
        .iter()
        .map(|(d, t, q, u)| (d, t, q, u, Some("shop")))
        .chain(OTHERS.iter().map(|(d, t, q, u, g)| (d, t, q, u, *g)))
        .map(
            |(day, t, q, usd, tag)| geoplan::cost::cur::parquet::writer::Row {
                usage_type: t,
                amount: *q,
                cost: *usd,
                resource: None,
                start_ms: epoch_ms(day),
                tag,
            },
        )
        .collect();
    let (a, b) = rows.split_at(rows.len() / 2);
    let mut listed = Vec::new();
    for (i, half) in [a, b].into_iter().enumerate() {
        let name = format!("shop-0000{i}.snappy.parquet");
        let copy = half
            .iter()
            .map(|r| geoplan::cost::cur::parquet::writer::Row { ..*r });
        geoplan::cost::cur::parquet::writer::write(&data.join(&name), copy, 4).unwrap();
        listed.push(format!(
            "s3://billing/exports/shop/data/BILLING_PERIOD=2026-10/{name}"
        ));
    }
    std::fs::write(
        metadata.join("shop-Manifest.json"),
        json!({ "dataFiles": listed }).to_string(),
    )
    .unwrap();
}

/// `YYYY-MM-DD` at midnight UTC, in milliseconds since the epoch.
fn epoch_ms(day: &str) -> i64 {
    let mut parts = day.split('-').map(|p| p.parse::<i64>().unwrap());
    let (y, m, d) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) * 86_400_000
}

fn cost_json(wd: &Workdir, args: &[&str], emu: Option<&Emulator>) -> Value {
    let mut all = vec!["cost", "regions.toml", "--month", "2026-10", "--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&success(&geoplan(wd.path(), &all, emu))).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn cost_explorer_and_cur_files_give_the_same_matrix() {
    let emu = Emulator::moto(); // Cost Explorer: not in LocalStack community
    seed(&emu).await;
    let wd = Workdir::with_text("regions.toml", CONFIG);
    write_cur(wd.path());

    let ce = cost_json(&wd, &[], Some(&emu));
    assert_eq!(ce["calls"], 2, "both pages were followed, and counted");
    let m = &ce["matrix"];
    let pair = |from: &str, to: &str| {
        m["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["from"] == from && p["to"] == to)
            .cloned()
    };
    assert_eq!(
        pair("us-east-1", "eu-west-1").unwrap(),
        json!({"from": "us-east-1", "to": "eu-west-1", "gb": 768.0, "usd": 15.375})
    );
    assert_eq!(pair("eu-west-1", "us-east-1").unwrap()["usd"], 2.5);
    assert_eq!(pair("us-east-1", "ap-northeast-1").unwrap()["usd"], 1.25);
    assert_eq!(pair("ap-northeast-1", "eu-west-1").unwrap()["usd"], 2.875);
    assert_eq!(
        pair("eu-west-1", "other").unwrap()["gb"],
        16.0,
        "ap-south-1 is outside the deployment"
    );
    assert!(pair("eu-west-1", "us-east-2").is_none());
    assert_eq!(m["transfer_usd"], 22.5);
    assert_eq!(m["replication_usd"], 2.0);
    assert_eq!(m["replicated_writes"]["us-east-1"]["quantity"], 2_000_000.0);
    assert_eq!(m["cross_az"]["eu-west-1"]["usd"], 10.0);
    assert_eq!(
        m["unknown"],
        json!([{"usage_type": "ZZZ9-USE1-AWS-Out-Bytes", "usd": 0.25, "why": "unknown region code \"ZZZ9\""}])
    );
    assert_eq!(m["other_usd"], 25.0);
    let b = &ce["budget"];
    assert_eq!(
        (b["spend_usd"].clone(), b["complete"].clone()),
        (json!(24.5), json!(true))
    );
    assert_eq!(b["crossed"], json!([0.5, 0.8]), "24.5 of 30 is past 80%");

    let legacy = cost_json(&wd, &["--cur", "legacy"], None);
    let v2 = cost_json(&wd, &["--cur", "v2"], None);
    assert_eq!(legacy["rows"], ROWS.len());
    assert_eq!(
        legacy["matrix"], ce["matrix"],
        "CUR (legacy, plain) and Cost Explorer agree"
    );
    assert_eq!(
        v2["matrix"], ce["matrix"],
        "CUR 2.0 (gzip) and Cost Explorer agree"
    );
    let parquet = cost_json(&wd, &["--cur", "export"], None);
    assert_eq!(parquet["rows"], ROWS.len());
    assert_eq!(
        parquet["matrix"], ce["matrix"],
        "CUR 2.0 (Parquet export folder) and Cost Explorer agree"
    );
    for report in [&legacy, &v2, &parquet] {
        assert_eq!(report["scope"], "tag geoplan:name=shop");
        assert_eq!(report["scope_note"], Value::Null);
    }

    // Account scope: the other workload's rows count too, in every format alike.
    let account = CONFIG.replace("[cost]\n", "[cost]\nscope = \"account\"\n");
    std::fs::write(wd.path().join("account.toml"), account).unwrap();
    let whole = |dir: &str| -> Value {
        let out = geoplan(
            wd.path(),
            &[
                "cost",
                "account.toml",
                "--month",
                "2026-10",
                "--json",
                "--cur",
                dir,
            ],
            None,
        );
        assert_eq!(
            out.status.code(),
            Some(7),
            "over the $30 budget: {}",
            stderr(&out)
        );
        serde_json::from_str(&stdout(&out)).unwrap()
    };
    let (a, b, c) = (whole("legacy"), whole("v2"), whole("export"));
    assert_eq!(a["rows"], ROWS.len() + OTHERS.len());
    assert_eq!(a["scope"], "account");
    assert_eq!(a["matrix"]["transfer_usd"], 22.5 + 81.92 + 40.96);
    assert_eq!((&a["matrix"], &a["matrix"]), (&b["matrix"], &c["matrix"]));

    // Nothing of this deployment's: the report says why, in both cases.
    std::fs::create_dir_all(wd.path().join("untagged")).unwrap();
    std::fs::write(
        wd.path().join("untagged/a.csv"),
        "lineItem/UsageStartDate,lineItem/UsageType,lineItem/UsageAmount,lineItem/UnblendedCost\n2026-10-01T00:00:00Z,USE1-EU-AWS-Out-Bytes,1,0.02\n",
    )
    .unwrap();
    std::fs::create_dir_all(wd.path().join("others")).unwrap();
    std::fs::write(
        wd.path().join("others/a.csv"),
        "lineItem/UsageStartDate,lineItem/UsageType,lineItem/UsageAmount,lineItem/UnblendedCost,resourceTags/user:geoplan:name\n2026-10-01T00:00:00Z,USE1-EU-AWS-Out-Bytes,1,0.02,billing\n",
    )
    .unwrap();
    let no_column = cost_json(&wd, &["--cur", "untagged"], None);
    assert_eq!(no_column["rows"], 0);
    assert!(
        no_column["scope_note"]
            .as_str()
            .is_some_and(|n| n
                .starts_with("the CUR files have no column for the tag geoplan:name: activate it")),
        "{no_column:#}"
    );
    let not_ours = cost_json(&wd, &["--cur", "others"], None);
    assert!(
        not_ours["scope_note"].as_str().is_some_and(|n| n
            .starts_with("no row in 2026-10 carries the cost-allocation tag geoplan:name=shop (1 row(s) without it)")),
        "{not_ours:#}"
    );
    assert_eq!(epoch_ms("2026-11-01"), 20_758 * 86_400_000);
    assert_eq!(legacy["budget"], ce["budget"]);

    let text = success(&geoplan(
        wd.path(),
        &[
            "cost",
            "regions.toml",
            "--month",
            "2026-10",
            "--cur",
            "legacy",
        ],
        None,
    ));
    assert!(
        text.contains("unplaced: ZZZ9-USE1-AWS-Out-Bytes $0.25 (unknown region code \"ZZZ9\")"),
        "{text}"
    );
    assert!(text.contains("Budget $30.00: spent $24.50 (82%)"), "{text}");
}

#[test]
fn bad_cur_input_is_located() {
    let wd = Workdir::with_text("regions.toml", CONFIG);
    std::fs::create_dir_all(wd.path().join("cur")).unwrap();
    std::fs::write(wd.path().join("cur/a.csv"), "lineItem/UsageType,lineItem/UsageAmount,lineItem/UnblendedCost,resourceTags/user:geoplan:name\nUSE1-EU-AWS-Out-Bytes,1,n/a,shop\n").unwrap();
    let out = geoplan(wd.path(), &["cost", "regions.toml", "--cur", "cur"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cur/a.csv:2:3: lineItem/UnblendedCost is not a number: \"n/a\""),
        "{}",
        stderr(&out)
    );
    let out = geoplan(
        wd.path(),
        &["cost", "regions.toml", "--month", "2026-13", "--cur", "cur"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
}

/// A CUR error that quotes its cause (here the `csv` crate's error, which it keeps as
/// its source) says it once: not again as a "caused by" line.
#[test]
fn a_cur_error_says_its_cause_once() {
    let wd = Workdir::with_text("regions.toml", CONFIG);
    std::fs::create_dir_all(wd.path().join("cur")).unwrap();
    std::fs::write(
        wd.path().join("cur/a.csv"),
        "lineItem/UsageType,lineItem/UsageAmount,lineItem/UnblendedCost\nx,1,2\nx,1\n",
    )
    .unwrap();
    let out = geoplan(wd.path(), &["cost", "regions.toml", "--cur", "cur"], None);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("cur/a.csv:3: not valid CSV: "), "{err}");
    assert!(!err.contains("caused by"), "{err}");
}

/// Whose spend counts. By default only usage tagged `geoplan:name = shop` (the query
/// carries the tag filter; moto answers each distinct query from its seeded queue in
/// order, so the tagged and the account-wide answers are seeded separately).
#[tokio::test(flavor = "multi_thread")]
async fn cost_is_this_deployments_by_tag_unless_the_account_is_asked_for() {
    // The first three rows are the deployment's own (tagged); the rest are not.
    let tagged = &ROWS[..3];
    let report = |wd: &Workdir, emu: &Emulator| cost_json(wd, &[], Some(emu));

    // Tagged usage exists: only it counts, in one call.
    let emu = Emulator::moto(); // Cost Explorer: not in LocalStack community
    seed_pages(&emu, vec![page(tagged, None)]).await;
    let wd = Workdir::with_text("regions.toml", CONFIG);
    let r = report(&wd, &emu);
    assert_eq!(
        (
            r["scope"].clone(),
            r["scope_note"].clone(),
            r["calls"].clone()
        ),
        (json!("tag geoplan:name=shop"), Value::Null, json!(1))
    );
    let only_tagged = r["matrix"]["transfer_usd"].as_f64().unwrap();

    // Nothing tagged, but the account has usage: empty numbers and how to fix it.
    let emu = Emulator::moto();
    seed_pages(&emu, vec![page(&[], None), page(ROWS, None)]).await;
    let r = report(&wd, &emu);
    assert_eq!(
        r["calls"], 2,
        "the second call tells an inactive tag from no usage"
    );
    assert_eq!(r["matrix"]["transfer_usd"], 0.0);
    let note = r["scope_note"].as_str().unwrap();
    assert!(
        note.contains("activate the tag") && note.contains("scope = \"account\""),
        "{note}"
    );

    // Account scope: everything counts, and says so.
    let emu = Emulator::moto();
    seed_pages(&emu, vec![page(ROWS, None)]).await;
    let wd = Workdir::with_text("regions.toml", &format!("{CONFIG}scope = \"account\"\n"));
    let r = report(&wd, &emu);
    assert_eq!(r["scope"], "account");
    assert!(
        r["scope_note"]
            .as_str()
            .unwrap()
            .starts_with("account-wide")
    );
    let all = r["matrix"]["transfer_usd"].as_f64().unwrap();
    assert!(
        all > only_tagged,
        "the account has more than the deployment: {all} vs {only_tagged}"
    );
    let text = stdout(&geoplan(
        wd.path(),
        &["cost", "regions.toml", "--month", "2026-10"],
        Some(&emu),
    ));
    assert!(
        text.contains("\nScope: account\n  note: account-wide"),
        "{text}"
    );
}

/// Budget alerts are delivered at least once: the receiver is down for longer than a
/// poll, the control plane restarts meanwhile, and when the receiver comes back each
/// threshold is delivered exactly once, signed, every attempt with the same dedup key.
#[tokio::test(flavor = "multi_thread")]
async fn serve_polls_cost_and_delivers_each_alert_once_across_an_outage_and_a_restart() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let emu = Emulator::moto(); // Cost Explorer: not in LocalStack community
    seed(&emu).await;
    let r53 = emu.route53().await;
    for region in ["us-east-1", "eu-west-1", "ap-northeast-1"] {
        create_region_checks(&r53, "shop", region, free_port()).await;
    }

    // A webhook receiver that answers 503 until it is brought up; it keeps every
    // request it was sent (headers and body) and which it accepted.
    type Seen = (axum::http::HeaderMap, String, bool);
    let up = Arc::new(AtomicBool::new(false));
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let (u, r) = (up.clone(), seen.clone());
    let hook = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let (u, r) = (u.clone(), r.clone());
            async move {
                let accepted = u.load(Ordering::SeqCst);
                r.lock().unwrap().push((headers, body, accepted));
                if accepted {
                    axum::http::StatusCode::NO_CONTENT
                } else {
                    axum::http::StatusCode::SERVICE_UNAVAILABLE
                }
            }
        }),
    );
    let hook_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_port = hook_listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(hook_listener, hook).await.unwrap() });

    let state = tempfile::tempdir().unwrap();
    let text = format!(
        "{CONFIG}webhook = \"http://127.0.0.1:{hook_port}/hook\"\npoll = \"1s\"\n[monitor]\nauto_failover = false\nstate_dir = \"{}\"\n",
        state.path().display()
    );
    let (config, d) = geoplan::config::compile("regions.toml", &text, std::path::Path::new("/"));
    let config = config.unwrap_or_else(|| panic!("{}", d.render(false)));
    const SECRET: &str = "webhook-secret";
    let start = |config: geoplan::config::Config| {
        let emu_url = emu.url.clone();
        async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let stop = tokio_util::sync::CancellationToken::new();
            let options = geoplan::serve::ServeOptions {
                instance: "test".into(),
                endpoint_url: Some(emu_url),
                token: None,
                webhook_backoff: vec![
                    std::time::Duration::from_millis(100),
                    std::time::Duration::from_millis(200),
                ],
                webhook_secret: geoplan::config::secret::Secret::new(SECRET),
            };
            let s = stop.clone();
            let server = tokio::spawn(geoplan::serve::run(config, listener, options, async move {
                s.cancelled().await
            }));
            (url, stop, server)
        }
    };
    let get = async |url: &str| -> Value { reqwest::get(url).await.unwrap().json().await.unwrap() };
    let polls = async |url: &str| -> u64 {
        let metrics = reqwest::get(format!("{url}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("geoplan_cost_polls_total{outcome=\"ok\"} "))
            .map_or(0, |n| n.trim().parse().unwrap())
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let wait = async |what: &str, done: &dyn Fn() -> bool| {
        while !done() {
            assert!(
                std::time::Instant::now() < deadline,
                "not within 30 s: {what}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };

    // 1. The receiver is down across two polls: both alerts are pending, retried.
    let (url, stop, server) = start(config.clone()).await;
    wait("two refused deliveries of each alert", &|| {
        seen.lock().unwrap().len() >= 4
    })
    .await;
    while polls(&url).await < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "two polls within 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let cost = get(&format!("{url}/v1/cost")).await;
    let alerts = cost["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 2, "{cost:#}");
    for a in alerts {
        assert!(
            a["delivered_at"].is_null() && a["attempts"].as_u64().unwrap() >= 1,
            "pending: {a:#}"
        );
        assert_eq!(a["last_error"], "HTTP 503", "{a:#}");
    }
    let pair = cost["matrix"]["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["from"] == "us-east-1" && p["to"] == "eu-west-1")
        .unwrap()
        .clone();
    let metrics = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    // 2. A restart while the receiver is still down; then it comes back.
    stop.cancel();
    server.await.unwrap().unwrap();
    let refused_before_restart = seen.lock().unwrap().len();
    up.store(true, Ordering::SeqCst);
    let (url, stop, server) = start(config).await;
    wait("both alerts delivered after the restart", &|| {
        seen.lock().unwrap().iter().filter(|s| s.2).count() >= 2
    })
    .await;
    // Two more polls: nothing is raised or delivered again.
    let after = polls(&url).await;
    while polls(&url).await < after + 2 {
        assert!(std::time::Instant::now() < deadline, "no further polls");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let cost = get(&format!("{url}/v1/cost")).await;
    let events = get(&format!("{url}/v1/events?limit=1000")).await;
    stop.cancel();
    server.await.unwrap().unwrap();

    let seen = seen.lock().unwrap().clone();
    assert!(refused_before_restart >= 4, "{refused_before_restart}");
    let delivered: Vec<&Seen> = seen.iter().filter(|s| s.2).collect();
    let keys: Vec<&str> = delivered
        .iter()
        .map(|s| s.0["x-geoplan-dedup-key"].to_str().unwrap())
        .collect();
    let month = cost["month"]["year"].to_string()
        + "-"
        + &format!("{:02}", cost["month"]["month"].as_u64().unwrap());
    assert_eq!(
        keys,
        [format!("shop/{month}/0.5"), format!("shop/{month}/0.8")],
        "exactly one delivered POST per threshold"
    );
    for (headers, body, _) in &seen {
        let payload: Value = serde_json::from_str(body).unwrap();
        // Every attempt, refused or not, carries its alert's dedup key.
        assert_eq!(
            payload["dedup_key"],
            headers["x-geoplan-dedup-key"].to_str().unwrap()
        );
        assert!(
            keys.contains(&payload["dedup_key"].as_str().unwrap()),
            "{payload}"
        );
        // Signed: HMAC-SHA256 of the exact body with the configured secret.
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(body.as_bytes());
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(headers["x-geoplan-signature-256"], expected.as_str());
    }
    let first: Value = serde_json::from_str(&delivered[0].1).unwrap();
    assert_eq!(
        (first["deployment"].clone(), first["spend_usd"].clone()),
        (json!("shop"), json!(24.5))
    );
    for a in cost["alerts"].as_array().unwrap() {
        assert!(a["delivered_at"].is_string(), "delivered: {a:#}");
    }
    let kinds = |k: &str| {
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == k)
            .count()
    };
    assert_eq!(
        (
            kinds("budget"),
            kinds("webhook-failed"),
            kinds("alert-delivered")
        ),
        (2, 2, 2),
        "one raise, one first failure and one delivery per threshold, not one per poll or attempt"
    );

    assert_eq!(
        (pair["gb"].clone(), pair["usd"].clone()),
        (json!(768.0), json!(15.375)),
        "exactly the seeded amounts"
    );
    assert!(
        metrics.contains("geoplan_transfer_usd{from=\"us-east-1\",to=\"eu-west-1\"} 15.375"),
        "{metrics}"
    );
    // A family without labels: no sample until a budget is known; `{}` once there is.
    assert!(
        metrics.contains("geoplan_budget_fraction{} 0.8166"),
        "{metrics}"
    );
}

/// Regressions: an over-budget month exited 0; matrix columns did not line up; "1 rows".
#[test]
fn over_budget_exits_7_and_the_matrix_lines_up() {
    let wd = Workdir::with_text(
        "regions.toml",
        &CONFIG.replace("monthly_budget_usd = 30", "monthly_budget_usd = 20"),
    );
    write_cur(wd.path());
    let out = geoplan(
        wd.path(),
        &[
            "cost",
            "regions.toml",
            "--month",
            "2026-10",
            "--cur",
            "legacy",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("Budget $20.00: spent $24.50 (123%)"),
        "{text}"
    );
    let table: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("from \\ to"))
        .take_while(|l| !l.starts_with("  inter-region"))
        .collect();
    assert_eq!(
        table.len(),
        5,
        "a header and a row per region and other:\n{text}"
    );
    let width = table[0].chars().count();
    for row in &table {
        assert_eq!(row.chars().count(), width, "columns line up:\n{text}");
    }
    let json = geoplan(
        wd.path(),
        &[
            "cost",
            "regions.toml",
            "--month",
            "2026-10",
            "--cur",
            "legacy",
            "--json",
        ],
        None,
    );
    assert_eq!(json.status.code(), Some(7));
    std::fs::write(
        wd.path().join("one.csv"),
        "lineItem/UsageType,lineItem/UsageAmount,lineItem/UnblendedCost,resourceTags/user:geoplan:name\nUSE1-EU-AWS-Out-Bytes,1,0.02,shop\n",
    )
    .unwrap();
    let one = success(&geoplan(
        wd.path(),
        &["cost", "regions.toml", "--cur", "one.csv"],
        None,
    ));
    assert!(one.contains("(from CUR files, 1 row)"), "{one}");
}
