//! terraform/bootstrap: the hand-written remote-state module (S3 bucket + DynamoDB
//! lock table), applied against the emulator with the real terraform binary.

use std::path::Path;

use crate::support::*;

fn terraform(dir: &Path, emu: &Emulator, args: &[&str]) -> String {
    let (ok, text) = run_terraform(dir, args, &emu.env());
    assert!(
        ok,
        "terraform {args:?} failed:
{text}"
    );
    text
}

/// terraform/bootstrap in a temp dir, pointed at the emulator by the override file,
/// applied with a bucket and lock table of these names; returns the dir and its vars.
fn bootstrap(emu: &Emulator, bucket: &str, table: &str) -> (tempfile::TempDir, Vec<String>) {
    let tmp = tempfile::tempdir().unwrap();
    for f in ["main.tf", "variables.tf", "outputs.tf"] {
        std::fs::copy(
            repo().join("terraform/bootstrap").join(f),
            tmp.path().join(f),
        )
        .unwrap();
    }
    // A Terraform override file points the provider at the emulator without touching
    // the module a user applies to real AWS.
    std::fs::copy(
        repo().join("localstack/emulator_override.tf"),
        tmp.path().join("emulator_override.tf"),
    )
    .unwrap();
    let vars: Vec<String> = [
        "-var".into(),
        format!("state_bucket={bucket}"),
        "-var".into(),
        format!("lock_table={table}"),
        "-var".into(),
        "region=eu-west-1".into(),
    ]
    .into();
    terraform(tmp.path(), emu, &["init", "-input=false", "-no-color"]);
    let mut apply = vec!["apply", "-input=false", "-auto-approve", "-no-color"];
    apply.extend(vars.iter().map(String::as_str));
    terraform(tmp.path(), emu, &apply);
    (tmp, vars)
}

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_module_creates_state_bucket_and_lock_table() {
    let emu = Emulator::start();
    let (tmp, vars) = bootstrap(&emu, "geoplan-test-state", "geoplan-test-locks");
    let vars: Vec<&str> = vars.iter().map(String::as_str).collect();

    let ddb = emu.dynamodb("eu-west-1").await;
    let t = ddb
        .describe_table()
        .table_name("geoplan-test-locks")
        .send()
        .await
        .expect("lock table exists");
    let t = t.table().unwrap();
    assert_eq!(
        t.key_schema()[0].attribute_name(),
        "LockID",
        "the key Terraform's S3 backend locks on"
    );

    // The bucket's protections, read back through the S3 REST API (path style).
    let s3 = |query: &'static str| {
        let url = format!("{}/geoplan-test-state?{query}", emu.url);
        async move {
            let resp = reqwest::get(&url).await.unwrap();
            let status = resp.status();
            let body = resp.text().await.unwrap();
            assert!(status.is_success(), "GET ?{query}: HTTP {status}: {body}");
            body
        }
    };
    let versioning = s3("versioning").await;
    assert!(
        versioning.contains("<Status>Enabled</Status>"),
        "versioning is on: {versioning}"
    );
    let encryption = s3("encryption").await;
    assert!(
        encryption.contains("<SSEAlgorithm>AES256</SSEAlgorithm>"),
        "encrypted by default: {encryption}"
    );
    let block = s3("publicAccessBlock").await;
    for setting in [
        "BlockPublicAcls",
        "IgnorePublicAcls",
        "BlockPublicPolicy",
        "RestrictPublicBuckets",
    ] {
        assert!(
            block.contains(&format!("<{setting}>true</{setting}>")),
            "{setting} is on: {block}"
        );
    }

    let plan: Vec<&str> = ["plan", "-input=false", "-no-color", "-detailed-exitcode"]
        .into_iter()
        .chain(vars.iter().copied())
        .collect();
    let out = terraform(tmp.path(), &emu, &plan);
    assert!(
        out.contains("No changes."),
        "re-plan after apply is clean:\n{out}"
    );

    let destroy: Vec<&str> = ["destroy", "-input=false", "-auto-approve", "-no-color"]
        .into_iter()
        .chain(vars.iter().copied())
        .collect();
    terraform(tmp.path(), &emu, &destroy);
    assert!(
        ddb.describe_table()
            .table_name("geoplan-test-locks")
            .send()
            .await
            .is_err(),
        "lock table destroyed"
    );
}

/// Remote state end to end: two working copies of one deployment ("two machines")
/// share its state through the S3 backend made by terraform/bootstrap, locked by its
/// DynamoDB table. A second apply while the first holds the lock fails naming the
/// holder, or waits with --lock-timeout and then finds nothing to do; destroy from one
/// copy leaves the other with everything to create.
#[tokio::test(flavor = "multi_thread")]
async fn two_machines_share_state_in_s3_and_take_turns_on_the_lock() {
    let emu = Emulator::start();
    // Bucket names are global, also across the emulator's accounts.
    let bucket = format!("geoplan-e2e-{}", emu.account);
    let (_bootstrap, _) = bootstrap(&emu, &bucket, "geoplan-e2e-locks");
    let config = std::fs::read_to_string(repo().join("examples/active-active.toml")).unwrap()
        + &format!(
            "\n[terraform.backend.s3]\nbucket = \"{bucket}\"\nkey = \"geoplan/shop.tfstate\"\n\
             region = \"eu-west-1\"\ndynamodb_table = \"geoplan-e2e-locks\"\n"
        );
    let a = Workdir::with_text("active-active.toml", &config);
    let b = Workdir::with_text("active-active.toml", &config);

    // A applies; while it runs, B's apply meets the state lock.
    let (first, lines) = apply_in_progress(a.path(), "active-active.toml", &emu);
    let refused = geoplan(
        b.path(),
        &["apply", "active-active.toml", "--auto-approve", "--quiet"],
        Some(&emu),
    );
    let text = stderr(&refused);
    assert_eq!(
        refused.status.code(),
        Some(4),
        "exit 4: locked, nothing changed: {text}"
    );
    assert!(
        text.contains("another terraform run holds the state lock: apply by "),
        "names the holder: {text}"
    );
    assert!(!text.contains("part-way"), "nothing was applied: {text}");
    // With --lock-timeout B waits for A, then plans against the state A wrote.
    let output = keep_output(lines);
    let waited = geoplan(
        b.path(),
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
        success(&waited),
        "No changes: AWS matches the config (shop).\n"
    );
    // The state lives in S3, not in either working copy.
    for wd in [&a, &b] {
        assert!(
            !wd.path()
                .join(".geoplan/active-active/terraform.tfstate")
                .exists(),
            "no local state"
        );
    }

    // Destroy from A: B's next plan wants to create everything again.
    success(&geoplan(
        a.path(),
        &["destroy", "active-active.toml", "--auto-approve", "--quiet"],
        Some(&emu),
    ));
    let plan: serde_json::Value = serde_json::from_str(&success(&geoplan(
        b.path(),
        &["plan", "active-active.toml", "--json", "-q"],
        Some(&emu),
    )))
    .unwrap();
    let totals = &plan["plan"]["totals"];
    assert_eq!(
        (totals["change"].as_u64(), totals["destroy"].as_u64()),
        (Some(0), Some(0)),
        "{plan:#}"
    );
    assert_eq!(totals["add"].as_u64(), Some(10), "{plan:#}");
}
