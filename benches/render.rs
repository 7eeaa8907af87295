//! validate + render of a large config: 30 regions, 200 tables.
//!
//! `cargo bench --bench render` prints the median, p90 and max of (a) the pure
//! in-process path (compile + model + render, no IO) and (b) the `geoplan render`
//! command end to end (process start, read, validate, render, write), over repeated runs.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn large_config() -> String {
    let regions: Vec<&str> = geoplan::aws::regions::REGIONS
        .iter()
        .copied()
        .filter(|r| *r != "us-east-1")
        .take(29)
        .collect();
    let mut s = String::from(
        "name = \"bench\"\npattern = \"active-active\"\n\n[dns]\nzone = \"bench.example.com\"\nrecord = \"api.bench.example.com\"\n\n",
    );
    for (i, r) in std::iter::once("us-east-1").chain(regions).enumerate() {
        s += &format!(
            "[[region]]\nname = \"{r}\"\nendpoint = \"198.51.{}.{}\"\n\n",
            i / 200,
            i % 200 + 1
        );
    }
    for t in 0..200 {
        s += &format!(
            "[[table]]\nname = \"table{t:03}\"\npartition_key = {{ name = \"pk\", type = \"S\" }}\nsort_key = {{ name = \"sk\", type = \"N\" }}\n\n"
        );
    }
    s
}

fn stats(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name:<44} n={:<4} median {:>8.2} ms  p90 {:>8.2} ms  max {:>8.2} ms",
        samples.len(),
        pick(0.5).as_secs_f64() * 1e3,
        pick(0.9).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3
    );
}

fn main() {
    let text = large_config();
    let (config, diagnostics) = geoplan::config::compile("bench.toml", &text, Path::new("/tmp"));
    assert!(!diagnostics.has_errors(), "{}", diagnostics.render(false));
    let config = config.unwrap();
    let module = geoplan::deploy::model::build(&config, "bench.toml", None);
    let files = geoplan::deploy::render::render(&module).unwrap();
    let bytes: usize = files.iter().map(|f| f.contents.len()).sum();
    println!(
        "config: {} bytes, 30 regions, 200 tables → {} bytes of Terraform",
        text.len(),
        bytes
    );

    let mut pure = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        let (config, _) = geoplan::config::compile("bench.toml", &text, Path::new("/tmp"));
        let module = geoplan::deploy::model::build(&config.unwrap(), "bench.toml", None);
        std::hint::black_box(geoplan::deploy::render::render(&module).unwrap());
        pure.push(t.elapsed());
    }
    stats("validate + render, in process", pure);

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bench.toml"), &text).unwrap();
    let exe = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/geoplan");
    if !exe.exists() {
        println!(
            "(skipping the CLI timing: build target/release/geoplan first with cargo build --release)"
        );
        return;
    }
    for (label, cmd) in [
        ("geoplan validate (release binary)", "validate"),
        ("geoplan render (release binary)", "render"),
    ] {
        let mut cli = Vec::new();
        for _ in 0..30 {
            let t = Instant::now();
            let out = Command::new(&exe)
                .args([cmd, "bench.toml"])
                .current_dir(dir.path())
                .output()
                .unwrap();
            cli.push(t.elapsed());
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        stats(label, cli);
    }
}
