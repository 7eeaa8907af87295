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

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_module_creates_state_bucket_and_lock_table() {
    let emu = Emulator::start();
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
    let vars = [
        "-var",
        "state_bucket=geoplan-test-state",
        "-var",
        "lock_table=geoplan-test-locks",
        "-var",
        "region=eu-west-1",
    ];
    terraform(tmp.path(), &emu, &["init", "-input=false", "-no-color"]);
    let apply: Vec<&str> = ["apply", "-input=false", "-auto-approve", "-no-color"]
        .into_iter()
        .chain(vars)
        .collect();
    terraform(tmp.path(), &emu, &apply);

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
        .chain(vars)
        .collect();
    let out = terraform(tmp.path(), &emu, &plan);
    assert!(
        out.contains("No changes."),
        "re-plan after apply is clean:\n{out}"
    );

    let destroy: Vec<&str> = ["destroy", "-input=false", "-auto-approve", "-no-color"]
        .into_iter()
        .chain(vars)
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
