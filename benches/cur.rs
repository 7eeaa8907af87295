//! CUR aggregation throughput: a generated CSV of SIZE_MB (default 1024) in legacy CUR
//! columns with a realistic mix of usage types, aggregated to the pair matrix by the
//! same code `geoplan cost --cur` runs, on one thread. Reports MB/s and peak RSS, then
//! runs the same aggregation in DuckDB (if `import duckdb` works) for comparison.
//!
//! Run: `cargo bench --bench cur` (CUR_BENCH_FILE=path reuses a generated file).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const USAGE_TYPES: &[&str] = &[
    "USE1-EU-AWS-Out-Bytes",
    "EU-USE1-AWS-Out-Bytes",
    "USE1-APN1-AWS-Out-Bytes",
    "APN1-USE1-AWS-Out-Bytes",
    "EU-APN1-AWS-Out-Bytes",
    "USE1-EU-AWS-In-Bytes",
    "EU-DataTransfer-Regional-Bytes",
    "USE1-ReplWriteRequestUnits",
    "EU-ReplWriteRequestUnits",
    "USE1-TimedStorage-ByteHrs",
    "EU-ReadRequestUnits",
    "USE1-BoxUsage:m7g.large",
    "APN1-DataTransfer-Out-Bytes",
    "USE1-Requests-Tier1",
];

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|k| k.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn generate(path: &Path, size_mb: u64) {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    writeln!(w, "identity/LineItemId,identity/TimeInterval,bill/PayerAccountId,lineItem/LineItemType,lineItem/UsageStartDate,lineItem/ProductCode,lineItem/UsageType,lineItem/Operation,lineItem/ResourceId,lineItem/UsageAmount,lineItem/UnblendedRate,lineItem/UnblendedCost,product/region").unwrap();
    let target = size_mb * 1024 * 1024;
    let mut written = 0u64;
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut i = 0u64;
    while written < target {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let t = USAGE_TYPES[(x % USAGE_TYPES.len() as u64) as usize];
        let amount = (x >> 20) % 100_000;
        let line = format!(
            "li{i:012x},2026-11-{d:02}T00:00:00Z/2026-11-{d:02}T01:00:00Z,123456789012,Usage,2026-11-{d:02}T00:00:00Z,AmazonDynamoDB,{t},ReplicateWrite,arn:aws:dynamodb:us-east-1:123456789012:table/shop-t{tb},{a}.{b:03},0.0200000000,{c}.{e:06},us-east-1\n",
            d = 1 + (x % 28),
            tb = x % 7,
            a = amount / 1000,
            b = amount % 1000,
            c = amount / 50_000,
            e = (amount * 37) % 1_000_000,
        );
        w.write_all(line.as_bytes()).unwrap();
        written += line.len() as u64;
        i += 1;
    }
    w.flush().unwrap();
}

fn main() {
    let size_mb: u64 = std::env::var("SIZE_MB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1024);
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = match std::env::var("CUR_BENCH_FILE") {
        Ok(p) if Path::new(&p).exists() => p.into(),
        Ok(p) => {
            generate(Path::new(&p), size_mb);
            p.into()
        }
        Err(_) => {
            let p = dir.path().join("cur.csv");
            generate(&p, size_mb);
            p
        }
    };
    let bytes = std::fs::metadata(&path).unwrap().len() as f64;
    let rss_before = peak_rss_mb();
    let mut runs = Vec::new();
    let mut rows = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let totals = geoplan::cost::cur::read(&path, None).unwrap();
        rows = totals.rows;
        let lines = totals.into_lines();
        let m = geoplan::cost::matrix::aggregate(
            lines,
            &[
                "us-east-1".to_owned(),
                "eu-west-1".to_owned(),
                "ap-northeast-1".to_owned(),
            ],
        );
        std::hint::black_box(m);
        runs.push(t.elapsed().as_secs_f64());
    }
    runs.sort_by(f64::total_cmp);
    let median = runs[1];
    println!(
        "CUR aggregation: {:.0} MB, {rows} rows, median of 3: {median:.2} s = {:.0} MB/s on one thread; peak RSS {:.1} MB (before reading: {rss_before:.1} MB)",
        bytes / 1e6 / 1.048576,
        bytes / 1048576.0 / median,
        peak_rss_mb()
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/cur_duckdb.py");
    let python = std::env::var("GEOPLAN_PYTHON").unwrap_or_else(|_| "python3".into());
    match Command::new(python).arg(script).arg(&path).output() {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            for line in text.lines() {
                println!("{line}");
                if let Some(secs) = line
                    .split("median ")
                    .nth(1)
                    .and_then(|s| s.split(' ').next())
                    .and_then(|s| s.parse::<f64>().ok())
                {
                    println!(
                        "  geoplan time / DuckDB time: {:.2} (below 1: geoplan faster)",
                        median / secs
                    );
                }
            }
        }
        Ok(out) => println!(
            "(DuckDB comparison skipped: {})",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ),
        Err(e) => println!("(DuckDB comparison skipped: {e})"),
    }
}
