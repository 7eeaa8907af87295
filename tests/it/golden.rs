//! The rendered Terraform of every example and fixture, pinned byte for byte in
//! tests/golden/<case>/. A template change shows up as a reviewable diff; run with
//! `UPDATE_GOLDEN=1` to accept it (that run still fails while anything changed). The golden modules must also pass
//! `terraform fmt -check` and `terraform validate`.

use std::path::{Path, PathBuf};

use crate::support::*;

/// Every example and fixture: the configs a user could start from.
pub const CASES: &[&str] = &[
    "examples/active-active.toml",
    "examples/active-passive.toml",
    "examples/read-local-write-global.toml",
    "examples/partitioned.toml",
    "tests/fixtures/existing-zone-aliases.toml",
    "tests/fixtures/hostnames-emulator.toml",
    "tests/fixtures/eu-resident-tables.toml",
    "tests/fixtures/indexed-tables.toml",
    "tests/fixtures/arc-switch.toml",
    "tests/fixtures/arc-and-route53.toml",
];

fn case_name(case: &str) -> &str {
    Path::new(case).file_stem().unwrap().to_str().unwrap()
}

fn golden_dir(case: &str) -> PathBuf {
    repo().join("tests/golden").join(case_name(case))
}

fn render_case(case: &str) -> Vec<geoplan::deploy::render::RenderedFile> {
    let path = repo().join(case);
    let loaded = geoplan::config::load(&path).unwrap_or_else(|e| panic!("{case}: {e}"));
    let c = &loaded.config;
    let source = path.file_name().unwrap().to_str().unwrap();
    let module = geoplan::deploy::model::build(c, source, c.aws.endpoint_url.as_deref());
    geoplan::deploy::render::render(&module).expect("renders")
}

/// Compares every rendered file with its golden copy, and flags golden folders and
/// files that no case renders any more. With `UPDATE_GOLDEN` set it rewrites (and
/// removes) them but still fails when anything changed, so a run that updates can
/// never pass unreviewed; run again without it to go green.
#[test]
fn rendered_modules_match_golden_files() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut problems = Vec::new();
    let root = repo().join("tests/golden");
    let cases: Vec<&str> = CASES.iter().map(|c| case_name(c)).collect();
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if !cases.contains(&name.as_str()) {
            problems.push(format!("{}: no case renders this folder", path.display()));
            if update {
                std::fs::remove_dir_all(&path).unwrap();
            }
        }
    }
    for case in CASES {
        let dir = golden_dir(case);
        let files = render_case(case);
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_str().unwrap().to_owned();
                if !files.iter().any(|f| f.name == name) {
                    problems.push(format!("{}: no longer rendered", path.display()));
                    if update {
                        std::fs::remove_file(&path).unwrap();
                    }
                }
            }
        }
        for file in files {
            let path = dir.join(file.name);
            let want = std::fs::read_to_string(&path).unwrap_or_default();
            if want != file.contents {
                problems.push(format!("{}: differs", path.display()));
                if update {
                    std::fs::create_dir_all(&dir).unwrap();
                    std::fs::write(&path, &file.contents).unwrap();
                }
            }
        }
    }
    let advice = if update {
        "golden files rewritten; review the diff, then run again without UPDATE_GOLDEN"
    } else {
        "rendering differs from the golden files (UPDATE_GOLDEN=1 to accept, then review the diff)"
    };
    assert!(problems.is_empty(), "{advice}:\n{}", problems.join("\n"));
}

#[test]
fn rendering_is_deterministic() {
    for case in CASES {
        assert_eq!(render_case(case), render_case(case), "{case}");
    }
}

#[test]
fn emulator_settings_appear_only_with_an_endpoint() {
    for case in CASES {
        let providers = render_case(case)
            .into_iter()
            .find(|f| f.name == "providers.tf")
            .unwrap()
            .contents;
        let wants_emulator = case.contains("emulator");
        assert_eq!(
            providers.contains("skip_credentials_validation"),
            wants_emulator,
            "{case}"
        );
        assert_eq!(providers.contains("127.0.0.1"), wants_emulator, "{case}");
    }
}

fn terraform(dir: &Path, args: &[&str]) -> (bool, String) {
    run_terraform(dir, args, &[])
}

#[test]
fn golden_modules_are_fmt_clean_and_valid() {
    for case in CASES {
        let tmp = tempfile::tempdir().unwrap();
        for file in render_case(case) {
            std::fs::write(tmp.path().join(file.name), file.contents).unwrap();
        }
        let (ok, out) = terraform(tmp.path(), &["fmt", "-check", "-diff", "-no-color"]);
        assert!(ok, "{case}: terraform fmt -check failed:\n{out}");
        let (ok, out) = terraform(
            tmp.path(),
            &["init", "-backend=false", "-input=false", "-no-color"],
        );
        assert!(ok, "{case}: terraform init failed:\n{out}");
        let (ok, out) = terraform(tmp.path(), &["validate", "-no-color"]);
        assert!(ok, "{case}: terraform validate failed:\n{out}");
    }
}

/// Regression: JSON escapes (`\b`, `\f`) are not HCL escapes, and terraform refused
/// the rendered file. Any string geoplan renders must survive `terraform fmt`.
#[test]
fn control_characters_in_strings_render_as_valid_hcl() {
    let path = repo().join("tests/fixtures/existing-zone-aliases.toml");
    let loaded = geoplan::config::load(&path).unwrap();
    let mut module = geoplan::deploy::model::build(&loaded.config, "x.toml", None);
    let backend = module
        .backend
        .as_mut()
        .expect("the fixture has an S3 backend");
    backend.key = "state/\u{8}back\u{c}feed\ttab\"quote\\${x}.tfstate".into();
    let tmp = tempfile::tempdir().unwrap();
    for file in geoplan::deploy::render::render(&module).unwrap() {
        std::fs::write(tmp.path().join(file.name), file.contents).unwrap();
    }
    let (ok, out) = terraform(tmp.path(), &["fmt", "-check", "-diff", "-no-color"]);
    assert!(ok, "terraform fmt rejects the rendered strings:\n{out}");
    let versions = std::fs::read_to_string(tmp.path().join("versions.tf")).unwrap();
    assert!(
        versions.contains(
            r#"key            = "state/\u0008back\u000Cfeed\ttab\"quote\\$${x}.tfstate""#
        ),
        "{versions}"
    );
}
