//! deploy/monitoring: the Prometheus alert rules pass `promtool check rules` and their
//! unit tests (`promtool test rules`), and the Grafana dashboard loads and queries only
//! metrics geoplan really exports.

use std::collections::BTreeSet;
use std::process::Command;

use crate::support::repo;

/// promtool: `GEOPLAN_PROMTOOL`, the copy localstack/setup.sh unpacks, or PATH.
fn promtool() -> std::path::PathBuf {
    if let Ok(p) = std::env::var("GEOPLAN_PROMTOOL") {
        return p.into();
    }
    let unpacked = repo().join("target/tools/usr/bin/promtool");
    if unpacked.exists() {
        return unpacked;
    }
    "promtool".into()
}

fn run_promtool(args: &[&str]) -> String {
    let tool = promtool();
    let out = Command::new(&tool)
        .args(args)
        .current_dir(repo().join("deploy/monitoring"))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e}\nrun localstack/setup.sh, which unpacks promtool from Debian's prometheus package",
                tool.display()
            )
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn alert_rules_pass_promtool_and_their_unit_tests() {
    let out = run_promtool(&["check", "rules", "alerts.yml"]);
    assert!(out.contains("SUCCESS: 6 rules found"), "{out}");
    let out = run_promtool(&["test", "rules", "alerts_test.yml"]);
    assert!(out.contains("SUCCESS"), "{out}");
}

/// The metric families geoplan exports, every one given a value so labelled families
/// appear too.
fn exported() -> BTreeSet<String> {
    use geoplan::control::metrics::{ControlMetrics, ProbeLabel, RegionLabel};
    use geoplan::cost::metrics::{CostMetrics, PairLabel};
    let mut registry = geoplan::telemetry::Registry::default();
    let m = ControlMetrics::new(&mut registry);
    let cost = CostMetrics::new(&mut registry);
    let region = RegionLabel {
        region: "eu-west-1".into(),
    };
    m.set_in_service("eu-west-1", true);
    m.set_verdict("eu-west-1", geoplan::control::verdict::Verdict::Up);
    m.count_action("eu-west-1", "take-out");
    cost.count_cost_poll(true);
    m.probe_latency.get_or_create(&region).observe(0.01);
    m.probes
        .get_or_create(&ProbeLabel {
            region: "eu-west-1".into(),
            outcome: "ok".into(),
        })
        .inc();
    m.vantage_disagreement.get_or_create(&region).set(0);
    let pair = PairLabel {
        from: "us-east-1".into(),
        to: "eu-west-1".into(),
    };
    cost.transfer_usd.get_or_create(&pair).set(1.0);
    cost.transfer_gb.get_or_create(&pair).set(1.0);
    registry
        .encode()
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Every `geoplan_*` name in `text`, reduced to its family (sample suffixes dropped).
fn referenced(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("geoplan_") {
        let name: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let family = ["_bucket", "_total", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(&name)
            .to_owned();
        out.insert(family);
    }
    out
}

#[test]
fn the_dashboard_loads_and_queries_only_exported_metrics() {
    let text =
        std::fs::read_to_string(repo().join("deploy/monitoring/grafana-dashboard.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(dash["uid"], "geoplan");
    let panels = dash["panels"].as_array().expect("panels");
    assert!(
        panels.len() >= 8,
        "region state, latency, flips, actor, budget, spend…"
    );
    let mut ids = BTreeSet::new();
    let mut queries = String::new();
    for p in panels {
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "panel ids are unique"
        );
        assert!(p["title"].as_str().is_some_and(|t| !t.is_empty()));
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{p}");
        for k in ["x", "y", "w", "h"] {
            assert!(p["gridPos"][k].is_u64(), "{p}");
        }
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty());
        for t in targets {
            let expr = t["expr"].as_str().unwrap();
            assert!(expr.contains("geoplan_"), "{expr}");
            queries.push_str(expr);
            queries.push('\n');
        }
    }
    let exported = exported();
    let rules = std::fs::read_to_string(repo().join("deploy/monitoring/alerts.yml")).unwrap();
    for (what, text) in [("dashboard", &queries), ("alert rules", &rules)] {
        let unknown: Vec<String> = referenced(text).difference(&exported).cloned().collect();
        assert!(
            unknown.is_empty(),
            "the {what} query metrics geoplan does not export: {unknown:?}"
        );
    }
    // The check itself can fail.
    assert!(!referenced("rate(geoplan_no_such_metric_total[1m])").is_subset(&exported));
}
