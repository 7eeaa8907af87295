//! Mutation fuzzing of the two inputs geoplan reads from users: regions.toml and CUR
//! files. Every mutant must end in a result or a located error: no panic, no hang, no
//! error without a place, and a valid mutant must render to safe Terraform.
//!
//! Bounded to seconds by default (a fixed seed, so a failure reproduces);
//! `GEOPLAN_FUZZ_CASES=100000 GEOPLAN_FUZZ_SEED=7 cargo test --release fuzz -- --nocapture`
//! runs longer (README, "Fuzzing").

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::repo;

/// xorshift64*: small, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn settings() -> (usize, u64) {
    let cases = std::env::var("GEOPLAN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let seed = std::env::var("GEOPLAN_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed);
    (cases, seed.max(1))
}

/// Values that broke something once, or that a careless escape would let through.
const HOSTILE: &[&str] = &[
    "\"a\\bb\"",
    "\"a\\fb\"",
    "\"\\u0000\"",
    "\"x\\ny\"",
    "\"${var.x}\"",
    "\"%{ if true }x%{ endif }\"",
    "\"\\\"quoted\\\"\"",
    "\"\\u2028\"",
    "-1",
    "1e400",
    "nan",
    "inf",
    "9223372036854775807",
    "[]",
    "{}",
    "[[1], \"a\"]",
    "{ alias = 1 }",
    "true",
    "\"\"",
    "\"us-east-1\"",
    "\"HTTP\"",
    "\"provisioned\"",
];

const KEYS: &[&str] = &[
    "name",
    "pattern",
    "zone",
    "record",
    "ttl",
    "endpoint",
    "primary",
    "protocol",
    "port",
    "path",
    "interval",
    "billing",
    "read_capacity",
    "regions",
    "bucket",
    "key",
    "dir",
    "state_dir",
    "listen",
    "probe_interval",
    "monthly_budget_usd",
    "alert_at",
    "endpoint_url",
];

fn mutate_config(rng: &mut Rng, text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len());
        match rng.below(9) {
            // Replace a value with a hostile one.
            0 | 1 => {
                if let Some((k, _)) = out[at].split_once('=') {
                    out[at] = format!("{k}= {}", rng.pick(HOSTILE));
                }
            }
            // A known key with a random value, anywhere.
            2 => out.insert(at, format!("{} = {}", rng.pick(KEYS), rng.pick(HOSTILE))),
            3 => {
                out.remove(at);
            }
            4 => {
                let line = out[at].clone();
                out.insert(at, line);
            }
            // Repeat a region block many times.
            5 => {
                let n = 1 + rng.below(5000);
                let block = "[[region]]\nname = \"us-east-1\"\nendpoint = \"203.0.113.10\"";
                out.push(vec![block; n].join("\n"));
            }
            // Flip a byte (kept valid UTF-8 by mapping into ASCII).
            6 => {
                let mut bytes = out[at].clone().into_bytes();
                if !bytes.is_empty() {
                    let i = rng.below(bytes.len());
                    bytes[i] = (rng.below(95) + 32) as u8;
                }
                out[at] = String::from_utf8(bytes).unwrap();
            }
            // A long value.
            7 => out.insert(
                at,
                format!(
                    "{} = \"{}\"",
                    rng.pick(KEYS),
                    "x".repeat(rng.below(100_000))
                ),
            ),
            _ => out.truncate(at.max(1)),
        }
        if out.is_empty() {
            out.push(String::new());
        }
    }
    out.join("\n")
}

/// How a case went wrong, if it did.
fn check_config(text: &str) -> Result<(), String> {
    let started = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(|| {
        geoplan::config::compile("fuzz.toml", text, Path::new("/fuzz"))
    }));
    let (config, diagnostics) = result.map_err(|_| "panic in compile".to_owned())?;
    if started.elapsed() > Duration::from_secs(2) {
        return Err(format!("compile took {:?}", started.elapsed()));
    }
    for issue in &diagnostics.issues {
        if issue.span.start > text.len()
            || issue.span.end > text.len()
            || issue.field.is_empty() && issue.message.is_empty()
        {
            return Err(format!("unlocated issue: {issue:?}"));
        }
    }
    let report = diagnostics.render(false);
    let located = report
        .lines()
        .filter(|l| {
            l.starts_with("fuzz.toml:") && (l.contains(": error: ") || l.contains(": warning: "))
        })
        .count();
    let expected = diagnostics
        .issues
        .len()
        .min(geoplan::config::diagnostic::MAX_SHOWN);
    if located != expected {
        return Err(format!(
            "{located} located lines for {expected} issues:\n{report}"
        ));
    }
    let Some(config) = config else {
        return Ok(());
    };
    let rendered = catch_unwind(AssertUnwindSafe(|| {
        let module = geoplan::deploy::model::build(&config, "fuzz\n#.toml", None);
        geoplan::deploy::render::render(&module)
    }))
    .map_err(|_| "panic in render".to_owned())?
    .map_err(|e| format!("a valid config did not render: {e}"))?;
    for file in rendered {
        if let Some(c) = file.contents.chars().find(|c| c.is_control() && *c != '\n') {
            return Err(format!("{} holds a raw control character {c:?}", file.name));
        }
        if file.contents.lines().any(|l| l.starts_with("#.toml")) {
            return Err(format!("{}: the file name escaped its comment", file.name));
        }
        // HCL knows \\ \" \n \r \t \uNNNN \UNNNNNNNN; anything else fails `terraform fmt`.
        for line in file
            .contents
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
        {
            let mut chars = line.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    match chars.next() {
                        Some('\\' | '"' | 'n' | 'r' | 't' | 'u' | 'U') => {}
                        other => {
                            return Err(format!(
                                "{}: invalid HCL escape \\{other:?} in {line:?}",
                                file.name
                            ));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

#[test]
fn mutated_configs_end_in_a_config_or_located_errors() {
    let (cases, seed) = settings();
    let seeds: Vec<String> = crate::golden::CASES
        .iter()
        .map(|f| std::fs::read_to_string(repo().join(f)).unwrap())
        .collect();
    let mut rng = Rng(seed);
    let mut failures = Vec::new();
    let mut valid = 0;
    for case in 0..cases {
        let seed_text = rng.pick(&seeds).clone();
        let text = mutate_config(&mut rng, &seed_text);
        match check_config(&text) {
            Ok(()) => {
                let (c, _) = geoplan::config::compile("f", &text, Path::new("/"));
                valid += usize::from(c.is_some());
            }
            Err(why) => failures.push(format!(
                "case {case} (seed {seed}): {why}\n--- input\n{}",
                &text[..text.len().min(2000)]
            )),
        }
    }
    eprintln!(
        "fuzz configs: {cases} cases, {valid} valid, {} failures",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(
        valid > 0 && valid < cases,
        "the mutations reach both outcomes ({valid} of {cases} valid)"
    );
}

const CUR_SEED: &str = "identity/LineItemId,lineItem/UsageStartDate,lineItem/UsageType,lineItem/ResourceId,lineItem/UsageAmount,lineItem/UnblendedCost\n\
1,2026-11-02T00:00:00Z,USE1-EU-AWS-Out-Bytes,,100,2.0\n\
2,2026-11-03T00:00:00Z,EU-ReplWriteRequestUnits,arn:aws:dynamodb:eu-west-1:1:table/shop-carts,1000000,0.6875\n\
3,2026-11-03T00:00:00Z,\"USE1-DataTransfer-Regional-Bytes\",,5,0.05\n";

const CUR_HOSTILE: &[&str] = &[
    "NaN", "inf", "-inf", "1e999", "\"", "\"\"", ",", "\n", "\r\n", "\u{0}", "é", "0x10",
];

fn mutate_cur(rng: &mut Rng) -> Vec<u8> {
    let mut text = CUR_SEED.as_bytes().to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(text.len());
        match rng.below(6) {
            0 => {
                let s = rng.pick(CUR_HOSTILE);
                text.splice(at..at, s.bytes());
            }
            1 => text[at] = rng.next() as u8,
            2 => text.truncate(at),
            3 => {
                let long = vec![b'a'; rng.below(3 << 20)];
                text.splice(at..at, long);
            }
            4 => {
                let quote_run = vec![b'"'; 1 + rng.below(3)];
                text.splice(at..at, quote_run);
            }
            _ => {
                let row = b"4,2026-11-04T00:00:00Z,APN1-USE1-AWS-Out-Bytes,,1,0.09\n"
                    .repeat(rng.below(50));
                text.extend(row);
            }
        }
        if text.is_empty() {
            break;
        }
    }
    text
}

fn check_cur(path: &Path) -> Result<(), String> {
    let started = Instant::now();
    let result = catch_unwind(|| geoplan::cost::cur::read(path, None))
        .map_err(|_| "panic in cur::read".to_owned())?;
    if started.elapsed() > Duration::from_secs(5) {
        return Err(format!("read took {:?}", started.elapsed()));
    }
    match result {
        Ok(totals) => {
            for line in totals.into_lines() {
                if !(line.usd.is_finite() && line.quantity.is_finite()) {
                    return Err(format!("a non-finite total: {line:?}"));
                }
            }
            Ok(())
        }
        Err(e) => {
            let message = e.to_string();
            let shown = path.display().to_string();
            let rest = message.strip_prefix(&shown).unwrap_or("");
            let located = rest.starts_with(": byte ")
                || rest.strip_prefix(':').is_some_and(|r| {
                    r.starts_with(|c: char| c.is_ascii_digit())
                        && !r.starts_with("0:")
                        && !r.starts_with("0 ")
                });
            if located {
                Ok(())
            } else {
                Err(format!("unlocated error: {message}"))
            }
        }
    }
}

#[test]
fn mutated_cur_files_end_in_totals_or_located_errors() {
    use std::io::Write;
    let (cases, seed) = settings();
    let cases = cases / 2;
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(seed ^ 0xc0ffee);
    let mut failures = Vec::new();
    let mut errors = 0;
    for case in 0..cases {
        let bytes = mutate_cur(&mut rng);
        let gzip = rng.below(2) == 0;
        let path = dir.path().join(if gzip { "cur.csv.gz" } else { "cur.csv" });
        if gzip {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&bytes).unwrap();
            let mut z = gz.finish().unwrap();
            if rng.below(3) == 0 {
                z.truncate(rng.below(z.len()));
            }
            std::fs::write(&path, z).unwrap();
        } else {
            std::fs::write(&path, &bytes).unwrap();
        }
        if let Err(why) = check_cur(&path) {
            failures.push(format!("case {case} (seed {seed}): {why}"));
        } else if geoplan::cost::cur::read(&path, None).is_err() {
            errors += 1;
        }
        let _ = std::fs::remove_file(&path);
    }
    eprintln!(
        "fuzz CUR: {cases} cases, {errors} located errors, {} failures",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        errors > 0 && errors < cases,
        "the mutations reach both outcomes ({errors} of {cases} errors)"
    );
}
