//! `geoplan cost` against the emulator's Cost Explorer (seeded, two pages) and CUR
//! files in both column styles, plain and gzip: the same rows give the same matrix.

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

fn write_cur(dir: &std::path::Path) {
    let mut legacy = String::from(
        "identity/LineItemId,lineItem/UsageStartDate,lineItem/UsageType,lineItem/UsageAmount,lineItem/UnblendedCost\n",
    );
    let mut v2 = String::from(
        "line_item_usage_start_date,line_item_usage_type,line_item_usage_amount,line_item_unblended_cost\n",
    );
    for (i, (day, t, q, usd)) in ROWS.iter().enumerate() {
        legacy += &format!("{i},{day}T00:00:00Z,{t},{q},{usd}\n");
        v2 += &format!("{day}T00:00:00Z,{t},{q},{usd}\n");
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
    std::fs::write(wd.path().join("cur/a.csv"), "lineItem/UsageType,lineItem/UsageAmount,lineItem/UnblendedCost\nUSE1-EU-AWS-Out-Bytes,1,n/a\n").unwrap();
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

#[tokio::test(flavor = "multi_thread")]
async fn serve_polls_cost_and_alerts_once_per_threshold() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    let emu = Emulator::moto(); // Cost Explorer: not in LocalStack community
    seed(&emu).await;
    let r53 = emu.route53().await;
    for region in ["us-east-1", "eu-west-1", "ap-northeast-1"] {
        create_region_checks(&r53, "shop", region, free_port()).await;
    }

    // A webhook receiver that fails its first two requests, then accepts.
    let calls = Arc::new(AtomicUsize::new(0));
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let (c, r) = (calls.clone(), received.clone());
    let hook = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let (c, r) = (c.clone(), r.clone());
            async move {
                if c.fetch_add(1, Ordering::SeqCst) < 2 {
                    return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                }
                r.lock().unwrap().push(body);
                axum::http::StatusCode::NO_CONTENT
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    let options = geoplan::serve::ServeOptions {
        instance: "test".into(),
        endpoint_url: Some(emu.url.clone()),
        token: None,
        webhook_backoff: vec![
            std::time::Duration::from_millis(100),
            std::time::Duration::from_millis(200),
            std::time::Duration::from_millis(400),
        ],
    };
    let s = stop.clone();
    let server = tokio::spawn(geoplan::serve::run(config, listener, options, async move {
        s.cancelled().await
    }));

    // Both alerts delivered, then two more polls: each threshold must alert once only.
    let polls = |metrics: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("geoplan_cost_polls_total{outcome=\"ok\"} "))
            .map_or(0, |n| n.trim().parse().unwrap())
    };
    let metrics_now = || async {
        reqwest::get(format!("{url}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while received.lock().unwrap().len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "alerts not delivered in 20 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let delivered_at = polls(&metrics_now().await);
    while polls(&metrics_now().await) < delivered_at + 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "no further polls in 20 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let cost: Value = reqwest::get(format!("{url}/v1/cost"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let metrics = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events: Value = reqwest::get(format!("{url}/v1/events?limit=1000"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    stop.cancel();
    server.await.unwrap().unwrap();

    let got = received.lock().unwrap().clone();
    let thresholds: Vec<f64> = got
        .iter()
        .map(|b| b["threshold"].as_f64().unwrap())
        .collect();
    assert_eq!(
        thresholds,
        [0.5, 0.8],
        "one delivered POST per crossed threshold"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        4,
        "two failures retried, then one POST each"
    );
    assert_eq!(got[0]["deployment"], "shop");
    assert_eq!(got[0]["spend_usd"], 24.5);
    let budget_events = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "budget")
        .count();
    assert_eq!(
        budget_events, 2,
        "one event per threshold, not one per poll"
    );

    let pairs = cost["matrix"]["pairs"].as_array().unwrap();
    let p = pairs
        .iter()
        .find(|p| p["from"] == "us-east-1" && p["to"] == "eu-west-1")
        .unwrap();
    assert_eq!(
        (p["gb"].clone(), p["usd"].clone()),
        (json!(768.0), json!(15.375)),
        "exactly the seeded amounts"
    );
    assert_eq!(cost["matrix"]["transfer_usd"], 22.5);
    assert!(
        metrics.contains("geoplan_transfer_usd{from=\"us-east-1\",to=\"eu-west-1\"} 15.375"),
        "{metrics}"
    );
    assert!(
        metrics.contains("geoplan_budget_fraction 0.8166"),
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
        .skip(1)
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
        "lineItem/UsageType,lineItem/UsageAmount,lineItem/UnblendedCost\nUSE1-EU-AWS-Out-Bytes,1,0.02\n",
    )
    .unwrap();
    let one = success(&geoplan(
        wd.path(),
        &["cost", "regions.toml", "--cur", "one.csv"],
        None,
    ));
    assert!(one.contains("(from CUR files, 1 row)"), "{one}");
}
