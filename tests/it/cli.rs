//! The built binary on good and broken input: exit codes, messages, and that an
//! invalid config never reaches terraform.

use crate::support::*;

const BROKEN: &str = r#"name = "shop"
pattern = "active-active"

[dns]
zone = "example.com"
record = "api.example.org"

[[region]]
name = "us-east-1"
endpoint = "203.0.113.10"
[region.health]
interval = 15

[[region]]
name = "eu-wset-1"
endpoint = "203.0.113.20"
"#;

#[test]
fn validate_accepts_every_example() {
    for (example, summary) in [
        ("active-active", "shop (active-active), 2 regions, 1 table"),
        (
            "active-passive",
            "ledger (active-passive), 3 regions, 1 table",
        ),
        (
            "read-local-write-global",
            "profiles (read-local-write-global), 2 regions, 1 table",
        ),
        ("partitioned", "tenants (partitioned), 2 regions, 2 tables"),
    ] {
        let wd = Workdir::with(&format!("examples/{example}.toml"));
        let out = geoplan(wd.path(), &["validate", &format!("{example}.toml")], None);
        assert_eq!(
            success(&out),
            format!("{example}.toml: valid — {summary}\n")
        );
        assert_eq!(stderr(&out), "");
    }
}

#[test]
fn validate_reports_every_error_with_file_line_column() {
    let wd = Workdir::with_text("regions.toml", BROKEN);
    let out = geoplan(wd.path(), &["validate", "regions.toml"], None);
    assert_eq!(out.status.code(), Some(3), "invalid config exits 3");
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    let located: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("regions.toml:"))
        .collect();
    assert_eq!(
        located,
        [
            "regions.toml:6:10: error: `dns.record` \"api.example.org\" is outside the zone \"example.com\"",
            "regions.toml:12:12: error: health-check interval must be 10 or 30 seconds, found 15",
            "regions.toml:15:8: error: unknown AWS region \"eu-wset-1\"",
            "regions.toml: 3 errors, 0 warnings",
        ]
    );
    // The source line is quoted with a caret under the value, and hints follow.
    assert!(
        err.contains(" 15 │ name = \"eu-wset-1\"\n    ·        ─────┬─────\n"),
        "{err}"
    );
    assert!(err.contains("help: did you mean \"eu-west-1\"?"), "{err}");
    assert!(
        err.contains("help: use a name ending in \".example.com\""),
        "{err}"
    );
}

#[test]
fn validate_json_lists_issues() {
    let wd = Workdir::with_text("regions.toml", BROKEN);
    let out = geoplan(wd.path(), &["validate", "regions.toml", "--json"], None);
    assert_eq!(out.status.code(), Some(3));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON on stdout");
    assert_eq!(report["valid"], false);
    let issues = report["issues"].as_array().unwrap();
    assert_eq!(issues.len(), 3);
    assert_eq!(issues[2]["line"], 15);
    assert_eq!(issues[2]["column"], 8);
    assert_eq!(issues[2]["field"], "region[1].name");
    assert_eq!(issues[2]["help"], "did you mean \"eu-west-1\"?");
}

#[test]
fn invalid_config_never_reaches_terraform() {
    let wd = Workdir::with_text("regions.toml", BROKEN);
    for cmd in ["render", "plan", "apply", "destroy"] {
        // A terraform that cannot run would fail with exit 4; exit 3 shows it was never started.
        let out = geoplan(
            wd.path(),
            &[cmd, "regions.toml", "--terraform", "/nonexistent/terraform"],
            None,
        );
        assert_eq!(out.status.code(), Some(3), "{cmd}: {}", stderr(&out));
        assert!(
            !wd.path().join(".geoplan").exists(),
            "{cmd} wrote no module"
        );
    }
}

#[test]
fn syntax_errors_are_located() {
    let wd = Workdir::with_text(
        "regions.toml",
        "name = \"shop\"\npattern = \"active-active\n",
    );
    let out = geoplan(wd.path(), &["validate", "regions.toml"], None);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).starts_with("regions.toml:2:25: error: invalid TOML: invalid basic string"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn missing_file_and_bad_usage_have_their_own_exit_codes() {
    let wd = Workdir::with_text("regions.toml", "");
    let out = geoplan(wd.path(), &["validate", "nope.toml"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: cannot read nope.toml\n  caused by: No such file"),
        "{}",
        stderr(&out)
    );

    let out = geoplan(wd.path(), &["frobnicate"], None);
    assert_eq!(out.status.code(), Some(2));
    let out = geoplan(wd.path(), &["plan"], None);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a missing argument is a usage error"
    );
}

#[test]
fn render_prints_the_module_dir_and_writes_every_file() {
    let wd = Workdir::with("examples/active-active.toml");
    let out = geoplan(wd.path(), &["render", "active-active.toml"], None);
    let dir = wd.path().join(".geoplan/active-active");
    assert_eq!(success(&out), format!("{}\n", dir.display()));
    for f in geoplan::deploy::render::MODULE_FILES {
        assert!(dir.join(f).is_file(), "{f} written");
    }
    assert!(
        dir.join("geoplan.tfrc").is_file(),
        "the CLI config for the plugin mirror"
    );
}

#[test]
fn a_missing_terraform_binary_is_a_terraform_error() {
    let wd = Workdir::with("examples/active-active.toml");
    let out = geoplan(
        wd.path(),
        &[
            "plan",
            "active-active.toml",
            "--terraform",
            "/nonexistent/terraform",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stderr(&out).contains("error: cannot run terraform binary /nonexistent/terraform"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn terraform_errors_reach_the_user_verbatim() {
    let wd = Workdir::with("examples/active-active.toml");
    let out = geoplan(
        wd.path(),
        &[
            "plan",
            "active-active.toml",
            "--plugin-mirror",
            "/nonexistent/mirror",
            "-q",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("error: terraform init failed (exit status 1)"),
        "{err}"
    );
    assert!(
        err.contains("Failed to query available provider packages"),
        "terraform's own words: {err}"
    );
}

/// Regression: a config file's name reached the header of every rendered file as code.
#[test]
fn a_hostile_file_name_cannot_inject_terraform() {
    let name = "evil\nlocals { injected = \"pwned\" }\n#.toml";
    let text = std::fs::read_to_string(repo().join("examples/active-active.toml")).unwrap();
    let wd = Workdir::with_text(name, &text);
    let out = geoplan(wd.path(), &["render", name], None);
    let dir = success(&out);
    let mut checked = 0;
    for entry in std::fs::read_dir(dir.trim()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "tf") {
            continue;
        }
        let tf = std::fs::read_to_string(&path).unwrap();
        assert!(
            !tf.lines()
                .any(|l| l.trim_start().starts_with("locals { injected")),
            "{}:\n{tf}",
            path.display()
        );
        assert!(
            tf.starts_with(
                "# Generated by geoplan from evil\\nlocals { injected = \"pwned\" }\\n#.toml: "
            ),
            "{}:\n{tf}",
            path.display()
        );
        checked += 1;
    }
    assert_eq!(checked, 5, "every generated .tf file");
}

/// Regression: `/dev/zero` was read until memory ran out; other unreadable inputs got
/// errors that did not say what was wrong.
#[test]
fn unreadable_configs_get_an_error_naming_the_path() {
    let wd = Workdir::with_text("bad.toml", "");
    std::fs::write(wd.path().join("bad.toml"), b"name = \"sh\xffop\"\n").unwrap();
    std::fs::create_dir(wd.path().join("adir")).unwrap();
    let big = vec![b'#'; (4 << 20) + 1];
    std::fs::write(wd.path().join("big.toml"), big).unwrap();
    for (path, message) in [
        (
            "/dev/zero",
            "error: /dev/zero is a device, pipe or socket, not a regular file\n",
        ),
        ("adir", "error: adir is a directory, not a regular file\n"),
        (
            "missing.toml",
            "error: cannot read missing.toml\n  caused by: No such file or directory (os error 2)\n",
        ),
        (
            "bad.toml",
            "error: bad.toml:1:11: not UTF-8 text (byte 0xff)\n",
        ),
        (
            "big.toml",
            "error: big.toml is larger than 4 MiB; a geoplan config is a few KB\n",
        ),
    ] {
        let out = geoplan(wd.path(), &["validate", path], None);
        assert_eq!(out.status.code(), Some(1), "{path}");
        assert_eq!(stderr(&out), message, "{path}");
    }
}

/// Regression: reporting N errors was quadratic (20,000 duplicate regions took over
/// two minutes); the text report now shows 50 and counts the rest.
#[test]
fn thousands_of_errors_are_reported_in_one_bounded_report() {
    let mut text = String::from(
        "name = \"shop\"\npattern = \"active-active\"\n[dns]\nzone = \"example.com\"\nrecord = \"api.example.com\"\n",
    );
    for _ in 0..20_000 {
        text.push_str("[[region]]\nname = \"us-east-1\"\nendpoint = \"203.0.113.10\"\n");
    }
    let wd = Workdir::with_text("regions.toml", &text);
    let out = geoplan(wd.path(), &["validate", "regions.toml"], None);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert_eq!(err.matches(": error: ").count(), 50);
    assert!(
        err.ends_with("regions.toml: 19949 more issues not shown (`geoplan validate --json` lists them all)\nregions.toml: 19999 errors, 0 warnings\n"),
        "{}",
        &err[err.len().saturating_sub(400)..]
    );
    let out = geoplan(wd.path(), &["validate", "--json", "regions.toml"], None);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["issues"].as_array().unwrap().len(), 19_999);
}

/// Regression: without credentials the user got the SDK's debug dump.
#[test]
fn missing_aws_credentials_are_explained() {
    let wd = Workdir::with("examples/active-active.toml");
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        geoplan_command(wd.path(), args, None)
            .env("HOME", home.path())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_CONTAINER_CREDENTIALS_FULL_URI")
            .env_remove("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
            .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
            .output()
            .unwrap()
    };
    let help = "  help: provide them the usual way (AWS_PROFILE, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, ~/.aws/credentials, an instance or task role), or point --endpoint-url / [aws] endpoint_url at a local emulator\n";
    let out = run(&["status", "active-active.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "error: Route 53 ListHealthChecks failed: no AWS credentials found\n{help}  (run again with -v for the AWS SDK's details)\n"
        )
    );
    let out = run(&["cost", "active-active.toml", "-v"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with(&format!("error: Cost Explorer GetCostAndUsage failed: no AWS credentials found\n{help}  caused by: ")),
        "-v adds the SDK's account: {err}"
    );
}

/// Regression: a registry terraform could not reach gave its error twice and no hint;
/// with --json, stdout held nothing.
#[test]
fn an_unreachable_provider_registry_is_explained_once() {
    let wd = Workdir::with("examples/active-active.toml");
    // Registry discovery pointed at a closed local port: fails at once, offline or not.
    let tfrc = wd.path().join("unreachable.tfrc");
    std::fs::write(
        &tfrc,
        "host \"registry.terraform.io\" {\n  services = {\n    \"providers.v1\" = \"http://127.0.0.1:1/v1/providers/\"\n  }\n}\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        geoplan_command(wd.path(), args, None)
            .env_remove("GEOPLAN_PLUGIN_MIRROR")
            .env("TF_CLI_CONFIG_FILE", &tfrc)
            .output()
            .unwrap()
    };
    let out = run(&["plan", "active-active.toml"]);
    assert_eq!(out.status.code(), Some(4));
    let err = stderr(&out);
    assert_eq!(
        err.matches("Failed to query available provider packages")
            .count(),
        1,
        "{err}"
    );
    assert!(
        err.ends_with("error: terraform init failed (exit status 1)\n  help: terraform cannot reach its provider registry; point [terraform] plugin_mirror, --plugin-mirror or GEOPLAN_PLUGIN_MIRROR at a provider mirror (e.g. /opt/tf-plugins)\n"),
        "{err}"
    );
    let out = run(&["plan", "active-active.toml", "--json", "--quiet"]);
    assert_eq!(out.status.code(), Some(4));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"]["code"], "terraform_failed");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Failed to query available provider packages")
    );
}

/// Regression: output into a closed pipe (`| head -c 300`) panicked with a backtrace.
#[test]
fn a_closed_stdout_pipe_ends_quietly() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let mut text = String::from(
        "name = \"shop\"\npattern = \"active-active\"\n[dns]\nzone = \"example.com\"\nrecord = \"api.example.com\"\n",
    );
    for _ in 0..5000 {
        text.push_str("[[region]]\nname = \"us-east-1\"\nendpoint = \"203.0.113.10\"\n");
    }
    let wd = Workdir::with_text("regions.toml", &text);
    // Megabytes of JSON: far more than a pipe holds, so writing outlives the reader.
    let mut child = geoplan_command(wd.path(), &["validate", "--json", "regions.toml"], None)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 300];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut head)
        .unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(libc::SIGPIPE),
        "ended by SIGPIPE like other tools: {status:?}"
    );
    assert_eq!(err, "", "no panic, no backtrace");
}
