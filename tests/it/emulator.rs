//! Every example, end to end against the emulator with the real terraform binary:
//! apply, read back through the AWS SDK, re-apply (no changes), destroy (nothing
//! left). The examples are independent, so the tests run in parallel, each with
//! its own emulator.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::support::*;

/// What one example must create.
struct Expect {
    example: &'static str,
    resources: usize,
    /// `name type set-id routing hc=<region> values|alias`, sorted.
    records: &'static [&'static str],
    /// Per region: `TYPE ip port path interval threshold`.
    endpoint_checks: &'static [(&'static str, &'static str)],
    tables: &'static [TableExpect],
}

struct TableExpect {
    region: &'static str,
    name: &'static str,
    keys: &'static str,
    replicas: &'static [&'static str],
    stream: bool,
    billing: &'static str,
}

/// The deployed state, read back through the SDK.
struct Deployed {
    zone_id: String,
    /// region → (endpoint, switch, region) health-check ids, from terraform outputs.
    checks: BTreeMap<String, [String; 3]>,
}

async fn read_deployed(module_dir: &std::path::Path) -> Deployed {
    let outputs = terraform_outputs(module_dir).await;
    let zone_id = outputs["zone_id"]["value"]
        .as_str()
        .expect("zone_id output")
        .to_owned();
    let mut checks = BTreeMap::new();
    for (region, ids) in outputs["health_checks"]["value"]
        .as_object()
        .expect("health_checks output")
    {
        let id = |k: &str| ids[k].as_str().expect("an id").to_owned();
        checks.insert(region.clone(), [id("endpoint"), id("switch"), id("region")]);
    }
    Deployed { zone_id, checks }
}

async fn describe_records(emu: &Emulator, d: &Deployed) -> Vec<String> {
    let r53 = emu.route53().await;
    let region_of: BTreeMap<&str, &str> = d
        .checks
        .iter()
        .map(|(r, ids)| (ids[2].as_str(), r.as_str()))
        .collect();
    let sets = r53
        .list_resource_record_sets()
        .hosted_zone_id(&d.zone_id)
        .send()
        .await
        .expect("list records");
    let mut out: Vec<String> = sets
        .resource_record_sets()
        .iter()
        .filter(|r| !matches!(r.r#type().as_str(), "NS" | "SOA"))
        .map(|r| {
            let mut s = format!("{} {}", r.name().trim_end_matches('.'), r.r#type().as_str());
            if let Some(id) = r.set_identifier() {
                s += &format!(" {id}");
            }
            if let Some(region) = r.region() {
                s += &format!(" latency={}", region.as_str());
            }
            if let Some(f) = r.failover() {
                s += &format!(" failover={}", f.as_str());
            }
            if let Some(hc) = r.health_check_id() {
                s += &format!(" hc={}", region_of.get(hc).copied().unwrap_or("UNKNOWN"));
            }
            // An alias has no TTL of its own (moto reports 0 where AWS reports none).
            if let (Some(ttl), None) = (r.ttl(), r.alias_target()) {
                s += &format!(" ttl={ttl}");
            }
            let values: Vec<&str> = r.resource_records().iter().map(|v| v.value()).collect();
            if !values.is_empty() {
                s += &format!(" {}", values.join(","));
            }
            if let Some(a) = r.alias_target() {
                s += &format!(
                    " alias={} eval={}",
                    a.dns_name().trim_end_matches('.'),
                    a.evaluate_target_health()
                );
            }
            s
        })
        .collect();
    out.sort();
    out
}

async fn check_health_checks(emu: &Emulator, d: &Deployed, expect: &Expect) {
    let r53 = emu.route53().await;
    assert_eq!(
        d.checks.len(),
        expect.endpoint_checks.len(),
        "one set of checks per region"
    );
    for (region, want) in expect.endpoint_checks {
        let [endpoint, switch, combined] = &d.checks[*region];
        let get = |id: &str| {
            let r53 = r53.clone();
            let id = id.to_owned();
            async move {
                r53.get_health_check()
                    .health_check_id(id)
                    .send()
                    .await
                    .expect("get health check")
            }
        };
        let e = get(endpoint).await;
        let c = e.health_check().unwrap().health_check_config().unwrap();
        let got = format!(
            "{} {} {} {} {} {}",
            c.r#type().as_str(),
            c.ip_address()
                .or(c.fully_qualified_domain_name())
                .unwrap_or("-"),
            c.port().unwrap_or(0),
            c.resource_path().unwrap_or("-"),
            c.request_interval().unwrap_or(0),
            c.failure_threshold().unwrap_or(0)
        );
        assert_eq!(&got, want, "endpoint check of {region}");

        let s = get(switch).await;
        let c = s.health_check().unwrap().health_check_config().unwrap();
        assert_eq!(c.r#type().as_str(), "CALCULATED", "switch of {region}");
        assert!(
            c.child_health_checks().is_empty(),
            "a switch has no children"
        );
        assert_eq!(
            c.inverted(),
            Some(false),
            "switches are created healthy (not inverted)"
        );

        let r = get(combined).await;
        let c = r.health_check().unwrap().health_check_config().unwrap();
        assert_eq!(c.r#type().as_str(), "CALCULATED");
        assert_eq!(
            c.health_threshold(),
            Some(2),
            "healthy only when endpoint and switch both are"
        );
        let mut children = c.child_health_checks().to_vec();
        children.sort();
        let mut want_children = vec![endpoint.clone(), switch.clone()];
        want_children.sort();
        assert_eq!(children, want_children, "region check of {region}");
    }
}

async fn check_tables(emu: &Emulator, expect: &Expect) {
    for t in expect.tables {
        let ddb = emu.dynamodb(t.region).await;
        let table = ddb
            .describe_table()
            .table_name(t.name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("table {} missing in {}: {e:?}", t.name, t.region));
        let table = table.table().expect("a table");
        let keys: Vec<String> = table
            .key_schema()
            .iter()
            .map(|k| {
                let ty = table
                    .attribute_definitions()
                    .iter()
                    .find(|a| a.attribute_name() == k.attribute_name())
                    .map(|a| a.attribute_type().as_str().to_owned())
                    .unwrap_or_default();
                format!("{}:{}:{}", k.attribute_name(), ty, k.key_type().as_str())
            })
            .collect();
        assert_eq!(keys.join(" "), t.keys, "keys of {} in {}", t.name, t.region);
        let mut replicas: Vec<&str> = table
            .replicas()
            .iter()
            .filter_map(|r| r.region_name())
            .collect();
        replicas.sort();
        let mut want: Vec<&str> = t.replicas.to_vec();
        want.sort();
        assert_eq!(
            replicas, want,
            "replicas of {} seen from {}",
            t.name, t.region
        );
        if !want.is_empty() {
            assert_eq!(table.global_table_version(), Some("2019.11.21"));
        }
        let stream = table
            .stream_specification()
            .and_then(|s| s.stream_view_type())
            .map(|v| v.as_str().to_owned());
        assert_eq!(
            stream.as_deref(),
            t.stream.then_some("NEW_AND_OLD_IMAGES"),
            "stream of {} in {}",
            t.name,
            t.region
        );
        let billing = table
            .billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .map(|b| b.as_str().to_owned());
        assert_eq!(
            billing.as_deref(),
            Some(t.billing),
            "billing of {} in {}",
            t.name,
            t.region
        );
    }
}

async fn check_gone(emu: &Emulator, d: &Deployed, expect: &Expect) {
    let r53 = emu.route53().await;
    assert!(
        r53.get_hosted_zone().id(&d.zone_id).send().await.is_err(),
        "the zone is deleted"
    );
    for ids in d.checks.values() {
        for id in ids {
            assert!(
                r53.get_health_check()
                    .health_check_id(id)
                    .send()
                    .await
                    .is_err(),
                "health check {id} is deleted"
            );
        }
    }
    for t in expect.tables {
        for region in std::iter::once(&t.region).chain(t.replicas) {
            let ddb = emu.dynamodb(region).await;
            assert!(
                ddb.describe_table()
                    .table_name(t.name)
                    .send()
                    .await
                    .is_err(),
                "table {} is gone from {region}",
                t.name
            );
        }
    }
}

fn apply_json(wd: &Workdir, emu: &Emulator, command: &str) -> Value {
    let file = wd.config.file_name().unwrap().to_str().unwrap().to_owned();
    let out = geoplan(
        wd.path(),
        &[command, &file, "--auto-approve", "--json", "--quiet"],
        Some(emu),
    );
    serde_json::from_str(&success(&out)).expect("--json prints JSON")
}

fn totals(report: &Value) -> Value {
    report["plan"]["totals"].clone()
}

async fn full_cycle(expect: Expect, between: impl AsyncFnOnce(&Emulator, &Workdir, &Deployed)) {
    let emu = Emulator::start();
    let wd = Workdir::with(&format!("examples/{}.toml", expect.example));
    let module_dir = wd.path().join(".geoplan").join(expect.example);

    let first = apply_json(&wd, &emu, "apply");
    assert_eq!(first["applied"], true);
    if expect.example == "active-active" {
        // The example declares writes_per_second: the plan carries its replication estimate.
        let t = &first["estimate"]["tables"][0];
        assert_eq!(t["table"], "carts");
        let pairs: Vec<(String, String)> = t["transfer"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["from"].as_str().unwrap().into(),
                    p["to"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            pairs,
            [
                ("us-east-1".into(), "eu-west-1".into()),
                ("eu-west-1".into(), "us-east-1".into())
            ]
        );
        assert!(first["estimate"]["usd_per_month"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(
        totals(&first),
        json!({"add": expect.resources, "change": 0, "destroy": 0})
    );

    let deployed = read_deployed(&module_dir).await;
    assert_eq!(describe_records(&emu, &deployed).await, expect.records);
    check_health_checks(&emu, &deployed, &expect).await;
    check_tables(&emu, &expect).await;

    between(&emu, &wd, &deployed).await;

    let second = apply_json(&wd, &emu, "apply");
    assert_eq!(second["applied"], false, "a second apply has nothing to do");
    assert_eq!(
        totals(&second),
        json!({"add": 0, "change": 0, "destroy": 0})
    );

    let gone = apply_json(&wd, &emu, "destroy");
    assert_eq!(gone["applied"], true);
    assert_eq!(
        totals(&gone),
        json!({"add": 0, "change": 0, "destroy": expect.resources})
    );
    check_gone(&emu, &deployed, &expect).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn active_active_example_end_to_end() {
    let expect = Expect {
        example: "active-active",
        resources: 10,
        records: &[
            "api.shop.example.com A api-eu-west-1 latency=eu-west-1 hc=eu-west-1 ttl=60 203.0.113.20",
            "api.shop.example.com A api-us-east-1 latency=us-east-1 hc=us-east-1 ttl=60 203.0.113.10",
        ],
        endpoint_checks: &[
            ("us-east-1", "HTTPS 203.0.113.10 443 /healthz 10 3"),
            ("eu-west-1", "HTTP 203.0.113.20 8080 /ready 10 2"),
        ],
        tables: &[
            TableExpect {
                region: "us-east-1",
                name: "shop-carts",
                keys: "cart_id:S:HASH",
                replicas: &["eu-west-1"],
                stream: true,
                billing: "PAY_PER_REQUEST",
            },
            TableExpect {
                region: "eu-west-1",
                name: "shop-carts",
                keys: "cart_id:S:HASH",
                replicas: &["us-east-1"],
                stream: true,
                billing: "PAY_PER_REQUEST",
            },
        ],
    };
    // Flipping a switch is how the control plane fails a region over; Terraform
    // must not see it as drift, or the next apply would undo the failover.
    full_cycle(
        expect,
        async |emu: &Emulator, wd: &Workdir, d: &Deployed| {
            let r53 = emu.route53().await;
            let switch = &d.checks["eu-west-1"][1];
            r53.update_health_check()
                .health_check_id(switch)
                .inverted(true)
                .send()
                .await
                .expect("invert the switch");
            let out = geoplan(
                wd.path(),
                &["plan", "active-active.toml", "--json", "-q"],
                Some(emu),
            );
            let plan: Value = serde_json::from_str(&success(&out)).unwrap();
            assert_eq!(
                totals(&plan),
                json!({"add": 0, "change": 0, "destroy": 0}),
                "a flipped switch is not drift"
            );
            let hc = r53
                .get_health_check()
                .health_check_id(switch)
                .send()
                .await
                .unwrap();
            assert_eq!(
                hc.health_check()
                    .unwrap()
                    .health_check_config()
                    .unwrap()
                    .inverted(),
                Some(true),
                "still flipped"
            );
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn active_passive_example_end_to_end() {
    let expect = Expect {
        example: "active-passive",
        resources: 15,
        records: &[
            "api.ledger.example.com A api-standby failover=SECONDARY alias=standby.api.ledger.example.com eval=true",
            "api.ledger.example.com A api-us-east-1 failover=PRIMARY hc=us-east-1 ttl=60 198.51.100.10",
            "standby.api.ledger.example.com A standby-api-eu-west-1 latency=eu-west-1 hc=eu-west-1 ttl=60 198.51.100.30",
            "standby.api.ledger.example.com A standby-api-us-west-2 latency=us-west-2 hc=us-west-2 ttl=60 198.51.100.20",
        ],
        endpoint_checks: &[
            ("us-east-1", "HTTPS 198.51.100.10 443 /healthz 10 3"),
            ("us-west-2", "HTTPS 198.51.100.20 443 /healthz 10 3"),
            ("eu-west-1", "HTTPS 198.51.100.30 443 /healthz 10 3"),
        ],
        tables: &[
            TableExpect {
                region: "us-east-1",
                name: "ledger-entries",
                keys: "account_id:S:HASH posted_at:N:RANGE",
                replicas: &["us-west-2", "eu-west-1"],
                stream: true,
                billing: "PAY_PER_REQUEST",
            },
            TableExpect {
                region: "eu-west-1",
                name: "ledger-entries",
                keys: "account_id:S:HASH posted_at:N:RANGE",
                replicas: &["us-east-1", "us-west-2"],
                stream: true,
                billing: "PAY_PER_REQUEST",
            },
        ],
    };
    full_cycle(expect, async |_: &Emulator, _: &Workdir, _: &Deployed| {}).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn read_local_write_global_example_end_to_end() {
    let expect = Expect {
        example: "read-local-write-global",
        resources: 12,
        records: &[
            "api.profiles.example.com A api-eu-central-1 latency=eu-central-1 hc=eu-central-1 ttl=60 192.0.2.20",
            "api.profiles.example.com A api-us-east-1 latency=us-east-1 hc=us-east-1 ttl=60 192.0.2.10",
            "write.api.profiles.example.com A write-api-eu-central-1 failover=SECONDARY hc=eu-central-1 ttl=60 192.0.2.20",
            "write.api.profiles.example.com A write-api-us-east-1 failover=PRIMARY hc=us-east-1 ttl=60 192.0.2.10",
        ],
        endpoint_checks: &[
            ("us-east-1", "HTTPS 192.0.2.10 443 /healthz 10 3"),
            ("eu-central-1", "TCP 192.0.2.20 443 - 10 3"),
        ],
        tables: &[TableExpect {
            region: "us-east-1",
            name: "profiles-users",
            keys: "user_id:S:HASH",
            replicas: &["eu-central-1"],
            stream: true,
            billing: "PAY_PER_REQUEST",
        }],
    };
    full_cycle(expect, async |_: &Emulator, _: &Workdir, _: &Deployed| {}).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn partitioned_example_end_to_end() {
    let expect = Expect {
        example: "partitioned",
        resources: 14,
        records: &[
            "ap-southeast-2.app.tenants.example.com A ttl=60 203.0.113.60",
            "app.tenants.example.com A app-ap-southeast-2 latency=ap-southeast-2 hc=ap-southeast-2 ttl=60 203.0.113.60",
            "app.tenants.example.com A app-eu-west-1 latency=eu-west-1 hc=eu-west-1 ttl=60 203.0.113.50",
            "eu-west-1.app.tenants.example.com A ttl=60 203.0.113.50",
        ],
        endpoint_checks: &[
            ("eu-west-1", "HTTPS 203.0.113.50 443 /healthz 10 3"),
            ("ap-southeast-2", "HTTPS 203.0.113.60 443 /healthz 10 3"),
        ],
        tables: &[
            TableExpect {
                region: "eu-west-1",
                name: "tenants-accounts",
                keys: "tenant_id:S:HASH account_id:S:RANGE",
                replicas: &[],
                stream: false,
                billing: "PAY_PER_REQUEST",
            },
            TableExpect {
                region: "ap-southeast-2",
                name: "tenants-accounts",
                keys: "tenant_id:S:HASH account_id:S:RANGE",
                replicas: &[],
                stream: false,
                billing: "PAY_PER_REQUEST",
            },
            TableExpect {
                region: "eu-west-1",
                name: "tenants-audit",
                keys: "event_id:S:HASH",
                replicas: &[],
                stream: false,
                billing: "PROVISIONED",
            },
        ],
    };
    full_cycle(expect, async |emu: &Emulator, _: &Workdir, _: &Deployed| {
        let ddb = emu.dynamodb("ap-southeast-2").await;
        assert!(
            ddb.describe_table()
                .table_name("tenants-audit")
                .send()
                .await
                .is_err(),
            "audit lives in eu-west-1 only"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_without_approval_changes_nothing() {
    let emu = Emulator::start();
    let wd = Workdir::with("examples/active-active.toml");
    // stdin is not a terminal here, so geoplan cannot ask and must refuse.
    let out = geoplan(
        wd.path(),
        &["apply", "active-active.toml", "--quiet"],
        Some(&emu),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("pass --auto-approve"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).starts_with("Plan: 10 to add, 0 to change, 0 to destroy.\n"),
        "the plan is shown first: {}",
        stdout(&out)
    );
    // Only this test's zone is looked for, so the check holds on a shared emulator.
    let zone = geoplan::config::load(&wd.path().join("active-active.toml"))
        .unwrap()
        .config
        .dns
        .zone;
    let zones = emu
        .route53()
        .await
        .list_hosted_zones_by_name()
        .dns_name(&zone)
        .max_items(1)
        .send()
        .await
        .unwrap();
    assert!(
        !zones
            .hosted_zones()
            .iter()
            .any(|z| z.name().trim_end_matches('.') == zone),
        "nothing was created: no zone {zone}"
    );
    assert!(
        !wd.path()
            .join(".geoplan/active-active")
            .join(geoplan::deploy::terraform::PLAN_FILE)
            .exists(),
        "the unapproved plan is discarded"
    );
}

/// Starts `geoplan apply`, sends `signal` to geoplan alone once its progress shows
/// `trigger`, and returns the exit code and everything it printed on stderr.
fn apply_interrupted(
    wd: &Workdir,
    emu: &Emulator,
    trigger: &str,
    signal: &str,
) -> (Option<i32>, String) {
    use std::io::BufRead;
    let mut child = geoplan_command(
        wd.path(),
        &["apply", "active-active.toml", "--auto-approve"],
        Some(emu),
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    let mut seen = String::new();
    let mut sent = false;
    for line in std::io::BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        if !sent && line.contains(trigger) {
            std::process::Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status()
                .unwrap();
            sent = true;
        }
        seen.push_str(&line);
        seen.push('\n');
    }
    assert!(sent, "never saw {trigger:?}:\n{seen}");
    (child.wait().unwrap().code(), seen)
}

/// Regression: SIGTERM to geoplan mid-apply killed terraform before it saved state;
/// the next applies then failed on `Table already exists` and left a second zone.
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_apply_converges_on_the_next_run() {
    let emu = Emulator::start();
    let wd = Workdir::with("examples/active-active.toml");
    let mut interrupted = 0;
    for (trigger, signal) in [
        ("aws_route53_zone.this: Creating...", "-TERM"),
        // Any create of the second run: the apply phase, not the plan's refresh.
        (": Creating...", "-INT"),
    ] {
        let (code, stderr) = apply_interrupted(&wd, &emu, trigger, signal);
        if code == Some(0) {
            // Everything was already created when the signal arrived: nothing to test
            // at this point, and nothing wrong.
            continue;
        }
        assert_eq!(code, Some(130), "{stderr}");
        assert!(
            stderr.contains("geoplan: interrupt passed to terraform")
                && stderr.contains(
                    "the apply was interrupted; terraform saved the state of what it did"
                ),
            "{stderr}"
        );
        assert!(!stderr.contains("stopped part-way"), "{stderr}");
        assert!(
            stderr
                .matches("aws_route53_zone.this: Plan to create")
                .count()
                <= 1,
            "the apply does not repeat the plan's lines: {stderr}"
        );
        interrupted += 1;
    }
    assert!(interrupted >= 1, "no apply was caught mid-way");
    let out = geoplan(
        wd.path(),
        &["apply", "active-active.toml", "--auto-approve", "--quiet"],
        Some(&emu),
    );
    success(&out);
    let zones = emu
        .route53()
        .await
        .list_hosted_zones_by_name()
        .dns_name("shop.example.com")
        .send()
        .await
        .unwrap();
    let named = zones
        .hosted_zones()
        .iter()
        .filter(|z| z.name().trim_end_matches('.') == "shop.example.com")
        .count();
    assert_eq!(named, 1, "no duplicate zone");
    assert_no_changes(&wd, &emu);
    assert!(
        !wd.path()
            .join(".geoplan/active-active")
            .join(geoplan::deploy::terraform::PLAN_FILE)
            .exists(),
        "`geoplan plan` leaves no plan file"
    );
}

/// Regression: a second apply while one runs said "apply stopped part-way" though it
/// changed nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_apply_waits_or_names_the_one_running() {
    let emu = Emulator::start();
    let wd = Workdir::with("examples/active-active.toml");
    let (first, lines) = apply_in_progress(wd.path(), "active-active.toml", &emu);
    let second = geoplan(
        wd.path(),
        &["apply", "active-active.toml", "--auto-approve", "--quiet"],
        Some(&emu),
    );
    assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));
    assert!(
        stderr(&second).starts_with(&format!(
            "error: another geoplan (pid {}) is running in ",
            first.id()
        )),
        "{}",
        stderr(&second)
    );
    assert!(!stderr(&second).contains("part-way"));
    // With --lock-timeout the second waits for the first, then finds nothing to do.
    let output = keep_output(lines);
    let waiting = geoplan(
        wd.path(),
        &[
            "apply",
            "active-active.toml",
            "--auto-approve",
            "--quiet",
            "--lock-timeout",
            "10m",
        ],
        Some(&emu),
    );
    assert_finished(first, output);
    assert_eq!(
        success(&waiting),
        "No changes: AWS matches the config (shop).\n"
    );
}

/// What an interrupted apply leaves (resources AWS has and the state lacks) is adopted,
/// not created twice: made deterministic by removing them from the state by hand.
#[tokio::test(flavor = "multi_thread")]
async fn resources_missing_from_the_state_are_adopted_not_duplicated() {
    let emu = Emulator::start();
    let wd = Workdir::with("examples/active-active.toml");
    success(&geoplan(
        wd.path(),
        &["apply", "active-active.toml", "--auto-approve", "--quiet"],
        Some(&emu),
    ));
    let module = wd.path().join(".geoplan/active-active");
    let dropped = [
        "aws_route53_zone.this",
        "aws_route53_health_check.switch_eu_west_1",
        "aws_route53_record.latency_api_us_east_1",
        "aws_dynamodb_table.carts",
    ];
    let mut args = vec!["state", "rm"];
    args.extend(dropped);
    let (ok, out) = run_terraform(&module, &args, &emu.env());
    assert!(ok, "{out}");
    let out = geoplan(
        wd.path(),
        &["apply", "active-active.toml", "--auto-approve", "--quiet"],
        Some(&emu),
    );
    success(&out);
    let err = stderr(&out);
    assert!(
        err.contains(
            "geoplan: adopting 4 resource(s) that exist in AWS but are missing from the state"
        ),
        "{err}"
    );
    for address in dropped {
        assert!(err.contains(address), "{address}: {err}");
    }
    assert!(
        !module.join(geoplan::deploy::adopt::IMPORTS_FILE).exists(),
        "imports go once applied"
    );
    let r53 = emu.route53().await;
    let zones = r53.list_hosted_zones().send().await.unwrap();
    assert_eq!(
        zones
            .hosted_zones()
            .iter()
            .filter(|z| z.name() == "shop.example.com.")
            .count(),
        1
    );
    let checks = r53.list_health_checks().send().await.unwrap();
    assert_eq!(checks.health_checks().len(), 6, "3 per region, none twice");
    assert_no_changes(&wd, &emu);
}

/// `geoplan plan` of the example finds nothing to do.
fn assert_no_changes(wd: &Workdir, emu: &Emulator) {
    assert_no_changes_of(wd, emu, "active-active.toml");
}

fn assert_no_changes_of(wd: &Workdir, emu: &Emulator, config: &str) {
    let plan: serde_json::Value = serde_json::from_str(&success(&geoplan(
        wd.path(),
        &["plan", config, "--json", "--quiet"],
        Some(emu),
    )))
    .unwrap();
    assert_eq!(
        plan["plan"]["totals"],
        serde_json::json!({"add": 0, "change": 0, "destroy": 0}),
        "converged"
    );
}

/// TTL and the table class reach every region holding the table's data: the fixture's
/// partitioned tables are applied and read back region by region; a second apply
/// finds nothing to change.
#[tokio::test(flavor = "multi_thread")]
async fn ttl_and_table_class_are_applied_in_every_region() {
    let emu = Emulator::start();
    let wd = Workdir::with("tests/fixtures/eu-resident-tables.toml");
    success(&geoplan(
        wd.path(),
        &[
            "apply",
            "eu-resident-tables.toml",
            "--auto-approve",
            "--quiet",
        ],
        Some(&emu),
    ));
    for (table, region) in [
        ("ledger-accounts", "eu-west-1"),
        ("ledger-accounts", "eu-central-1"),
        ("ledger-sessions", "eu-central-1"),
    ] {
        let ddb = emu.dynamodb(region).await;
        let ttl = ddb
            .describe_time_to_live()
            .table_name(table)
            .send()
            .await
            .unwrap();
        let ttl = ttl.time_to_live_description().unwrap();
        assert_eq!(
            (
                ttl.attribute_name(),
                ttl.time_to_live_status().map(|s| s.as_str())
            ),
            (Some("expires_at"), Some("ENABLED")),
            "{table} in {region}"
        );
        let t = ddb.describe_table().table_name(table).send().await.unwrap();
        let class = t
            .table()
            .unwrap()
            .table_class_summary()
            .and_then(|c| c.table_class())
            .map(|c| c.as_str().to_owned());
        let expected =
            (table == "ledger-accounts").then(|| "STANDARD_INFREQUENT_ACCESS".to_owned());
        assert_eq!(
            class.filter(|c| c != "STANDARD"),
            expected,
            "{table} in {region}"
        );
    }
    assert_no_changes_of(&wd, &emu, "eu-resident-tables.toml");
}
