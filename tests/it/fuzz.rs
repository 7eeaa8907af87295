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

/// The Parquet files the Parquet fuzzer mutates: CUR 2.0 rows in the layouts writers
/// produce (codecs, page formats, encodings, page sizes), row groups of 97 rows.
fn parquet_seeds(dir: &Path) -> Vec<(String, Vec<u8>)> {
    use geoplan::cost::cur::parquet::writer::{Row, write_with};
    use parquet::basic::{Compression, Encoding};
    use parquet::file::properties::{WriterProperties, WriterVersion};
    use parquet::schema::types::ColumnPath;
    const TYPES: [&str; 4] = [
        "USE1-EU-AWS-Out-Bytes",
        "EU-ReplWriteRequestUnits",
        "USE1-DataTransfer-Regional-Bytes",
        "APN1-USE1-AWS-Out-Bytes",
    ];
    let rows = || {
        (0..300).map(|i| Row {
            usage_type: TYPES[i % TYPES.len()],
            amount: (i % 17) as f64 * 0.5,
            cost: (i % 13) as f64 * 0.01,
            resource: (i % 3 == 0).then_some("arn:aws:dynamodb:eu-west-1:1:table/shop-carts"),
            start_ms: 1_793_577_600_000 + (i as i64 % 28) * 86_400_000,
            tag: [None, Some("shop"), Some("other")][i % 3],
        })
    };
    let base = || WriterProperties::builder().set_compression(Compression::SNAPPY);
    let doubles = |b: parquet::file::properties::WriterPropertiesBuilder| {
        b.set_dictionary_enabled(false)
            .set_column_encoding(
                ColumnPath::from("line_item_usage_amount"),
                Encoding::BYTE_STREAM_SPLIT,
            )
            .set_column_encoding(
                ColumnPath::from("line_item_unblended_cost"),
                Encoding::BYTE_STREAM_SPLIT,
            )
    };
    let layouts = [
        ("snappy, dictionaries, pages v1", base().build()),
        (
            "snappy, pages v2",
            base()
                .set_writer_version(WriterVersion::PARQUET_2_0)
                .build(),
        ),
        (
            "uncompressed, pages of 7 rows",
            base()
                .set_compression(Compression::UNCOMPRESSED)
                .set_data_page_row_count_limit(7)
                .set_write_batch_size(5)
                .build(),
        ),
        ("snappy, byte-stream-split doubles", doubles(base()).build()),
        (
            "zstd, byte-stream-split doubles",
            doubles(base().set_compression(Compression::ZSTD(Default::default()))).build(),
        ),
        (
            "gzip, no dictionaries",
            base()
                .set_compression(Compression::GZIP(Default::default()))
                .set_dictionary_enabled(false)
                .build(),
        ),
        (
            "lz4 raw",
            base().set_compression(Compression::LZ4_RAW).build(),
        ),
        (
            "brotli",
            base()
                .set_compression(Compression::BROTLI(Default::default()))
                .build(),
        ),
    ];
    layouts
        .into_iter()
        .map(|(label, props)| {
            let path = dir.join("seed.parquet");
            write_with(&path, rows(), 97, props).unwrap();
            (label.to_owned(), std::fs::read(&path).unwrap())
        })
        .collect()
}

fn mutate_parquet(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        if bytes.is_empty() {
            break;
        }
        let at = rng.below(bytes.len());
        match rng.below(5) {
            0 => bytes[at] ^= 1 << rng.below(8),
            1 => bytes[at] = rng.next() as u8,
            2 => {
                let end = (at + 1 + rng.below(16)).min(bytes.len());
                for b in &mut bytes[at..end] {
                    *b = rng.next() as u8;
                }
            }
            3 => bytes.truncate(at),
            _ => {
                let end = (at + 1 + rng.below(64)).min(bytes.len());
                let chunk = bytes[at..end].to_vec();
                let to = rng.below(bytes.len());
                bytes.splice(to..to, chunk);
            }
        }
    }
    bytes
}

/// What the parquet crate's row reader (the reference) reads from `path`, as rows the
/// writer can write again; `None` when it cannot read the file cleanly or a value the
/// writer cannot express (a null where a row always has a value) comes out.
type OwnedRow = (String, f64, f64, Option<String>, i64, Option<String>);

fn reference_rows(path: &Path) -> Option<Vec<OwnedRow>> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;
    let read = || -> Option<Vec<OwnedRow>> {
        let reader = SerializedFileReader::new(std::fs::File::open(path).ok()?).ok()?;
        let mut out = Vec::new();
        for row in reader.get_row_iter(None).ok()? {
            let row = row.ok()?;
            let (mut t, mut a, mut c, mut r, mut s, mut tag) = (None, None, None, None, None, None);
            let mut resource_null = false;
            for (name, field) in row.get_column_iter() {
                match (name.as_str(), field) {
                    ("line_item_usage_type", Field::Str(v)) => t = Some(v.clone()),
                    ("line_item_usage_amount", Field::Double(v)) => a = Some(*v),
                    ("line_item_unblended_cost", Field::Double(v)) => c = Some(*v),
                    ("line_item_resource_id", Field::Str(v)) => r = Some(v.clone()),
                    ("line_item_resource_id", Field::Null) => resource_null = true,
                    ("line_item_usage_start_date", Field::TimestampMillis(v)) => s = Some(*v),
                    ("resource_tags", Field::MapInternal(m)) => {
                        let entries = m.entries();
                        match entries {
                            [] => tag = Some(None),
                            [(Field::Str(k), Field::Str(v))] if k == "user_geoplan_name" => {
                                tag = Some(Some(v.clone()))
                            }
                            _ => return None,
                        }
                    }
                    ("resource_tags", Field::Null) => tag = Some(None),
                    _ => return None,
                }
            }
            if r.is_none() && !resource_null {
                return None;
            }
            out.push((t?, a?, c?, r, s?, tag?));
        }
        Some(out)
    };
    geoplan::cost::cur::guard::guarded(read).ok().flatten()
}

fn sorted_lines(totals: geoplan::cost::cur::Totals) -> Vec<(String, Option<String>, f64, f64)> {
    let mut lines: Vec<_> = totals
        .into_lines()
        .into_iter()
        .map(|l| (l.usage_type, l.resource, l.quantity, l.usd))
        .collect();
    lines.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
    lines
}

fn same(x: f64, y: f64) -> bool {
    (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
}

/// Damaged Parquet: every mutant ends in totals or a located error, never a panic or a
/// hang; and when the reference reader reads a mutant cleanly, geoplan's totals are
/// those of that content written anew (no silent misread).
#[test]
fn mutated_parquet_files_end_in_the_same_totals_or_located_errors() {
    use geoplan::cost::cur::parquet::writer::{Row, write};
    let (cases, seed) = settings();
    let cases = cases / 2;
    let dir = tempfile::tempdir().unwrap();
    let seeds = parquet_seeds(dir.path());
    let mut rng = Rng(seed ^ 0x9a2c_e7a7);
    let mut failures = Vec::new();
    let (mut errors, mut compared, mut caught) = (0, 0, 0);
    let path = dir.path().join("cur.parquet");
    let clean = dir.path().join("clean.parquet");
    for case in 0..cases {
        let (label, bytes) = rng.pick(&seeds);
        let mutant = mutate_parquet(&mut rng, bytes);
        std::fs::write(&path, &mutant).unwrap();
        let started = Instant::now();
        let read = catch_unwind(|| geoplan::cost::cur::read(&path, None));
        let took = started.elapsed();
        let failure = match read {
            Err(_) => Some("a panic escaped cur::read".to_owned()),
            Ok(_) if took > Duration::from_secs(5) => Some(format!("read took {took:?}")),
            Ok(Err(e)) => {
                errors += 1;
                let message = e.to_string();
                // A decoder's panic, caught and located (`cost::cur::guard`).
                caught += usize::from(message.contains("the file is damaged"));
                (!message.starts_with(&path.display().to_string()))
                    .then(|| format!("an error that names no file: {message}"))
            }
            Ok(Ok(totals)) => match reference_rows(&path) {
                None => None,
                Some(rows) => {
                    compared += 1;
                    write(
                        &clean,
                        rows.iter().map(|(t, a, c, r, s, tag)| Row {
                            usage_type: t,
                            amount: *a,
                            cost: *c,
                            resource: r.as_deref(),
                            start_ms: *s,
                            tag: tag.as_deref(),
                        }),
                        97,
                    )
                    .unwrap();
                    let want = sorted_lines(geoplan::cost::cur::read(&clean, None).unwrap());
                    let got = sorted_lines(totals);
                    let matches = got.len() == want.len()
                        && got.iter().zip(&want).all(|(g, w)| {
                            g.0 == w.0 && g.1 == w.1 && same(g.2, w.2) && same(g.3, w.3)
                        });
                    (!matches).then(|| format!("a silent misread: {got:?}\nwanted {want:?}"))
                }
            },
        };
        if let Some(why) = failure {
            let kept = dir.path().join(format!("failed-{case}.parquet"));
            let _ = std::fs::copy(&path, &kept);
            failures.push(format!("case {case} (seed {seed}, {label}): {why}"));
        }
    }
    eprintln!(
        "fuzz Parquet: {cases} cases, {errors} located errors ({caught} of them a decoder's panic, caught), {compared} read cleanly and compared, {} failures",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        errors > 0 && compared > 0,
        "the mutations reach both outcomes ({errors} errors, {compared} compared, of {cases})"
    );
}
