//! CUR aggregation, side by side with DuckDB on the same inputs: a generated CSV of
//! SIZE_MB (default 1024) in legacy CUR columns with a realistic mix of usage types,
//! the same file gzip-compressed, and the same rows as CUR 2.0 Parquet (Snappy, 1 Mi
//! rows per row group). Each is aggregated per usage type by the code `geoplan cost
//! --cur` runs, on one thread and on all cores (median of 3), each in a fresh process
//! so its peak RSS is its own; then by DuckDB (`GEOPLAN_PYTHON`, a Python with the
//! `duckdb` module) with 1 thread and its default.
//!
//! Run: `cargo bench --bench cur` (CUR_BENCH_DIR=dir keeps and reuses generated files).

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

/// The rows of [`generate`] again, as CUR 2.0 Parquet.
fn generate_parquet(csv: &Path, parquet: &Path) {
    let text = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(csv).unwrap());
    let mut reader = csv::ReaderBuilder::new().from_reader(text);
    let headers = reader.byte_headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name.as_bytes()).unwrap();
    let (t, r, a, c) = (
        col("lineItem/UsageType"),
        col("lineItem/ResourceId"),
        col("lineItem/UsageAmount"),
        col("lineItem/UnblendedCost"),
    );
    let records: Vec<csv::ByteRecord> = reader.byte_records().map(Result::unwrap).collect();
    let text = |rec: &csv::ByteRecord, i: usize| std::str::from_utf8(&rec[i]).unwrap().to_owned();
    let owned: Vec<(String, String, f64, f64)> = records
        .iter()
        .map(|rec| {
            (
                text(rec, t),
                text(rec, r),
                text(rec, a).parse().unwrap(),
                text(rec, c).parse().unwrap(),
            )
        })
        .collect();
    drop(records);
    let rows = owned
        .iter()
        .map(|(t, r, a, c)| geoplan::cost::cur::parquet::writer::Row {
            usage_type: t,
            amount: *a,
            cost: *c,
            resource: Some(r),
            start_ms: 20_758 * 86_400_000,
            tag: None,
        });
    geoplan::cost::cur::parquet::writer::write(parquet, rows, 1 << 20).unwrap();
}

fn gzip(from: &Path, to: &Path) {
    let mut input = std::fs::File::open(from).unwrap();
    let mut gz = flate2::write::GzEncoder::new(
        BufWriter::with_capacity(1 << 20, std::fs::File::create(to).unwrap()),
        flate2::Compression::default(),
    );
    std::io::copy(&mut input, &mut gz).unwrap();
    gz.finish().unwrap().flush().unwrap();
}

/// In a child process: read `path` on `threads` threads three times; print the median
/// seconds, the rows and the peak RSS in MB.
fn measure(path: &Path, threads: usize) {
    let mut runs = Vec::new();
    let mut rows = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let totals = geoplan::cost::cur::read_parallel(path, Default::default(), threads).unwrap();
        rows = totals.rows;
        let m = geoplan::cost::matrix::aggregate(
            totals.into_lines(),
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
    println!("{} {rows} {}", runs[1], peak_rss_mb());
}

fn geoplan_run(path: &Path, threads: usize) -> (f64, u64, f64) {
    let out = Command::new(std::env::current_exe().unwrap())
        .env(
            "CUR_BENCH_MEASURE",
            format!("{}\n{threads}", path.display()),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace();
    let mut next = || it.next().unwrap().to_owned();
    (
        next().parse().unwrap(),
        next().parse().unwrap(),
        next().parse().unwrap(),
    )
}

/// DuckDB's median seconds on `path` with 1 thread and with its default, or why not.
fn duckdb_run(path: &Path) -> Result<(f64, f64, String), String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/cur_duckdb.py");
    let python = std::env::var("GEOPLAN_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .arg(script)
        .arg(path)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .unwrap_or("")
            .to_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace();
    let mut next = || it.next().unwrap_or_default().to_owned();
    let (one, all, version) = (next(), next(), next());
    Ok((
        one.parse().map_err(|_| text.to_string())?,
        all.parse().map_err(|_| text.to_string())?,
        version,
    ))
}

fn main() {
    if let Ok(job) = std::env::var("CUR_BENCH_MEASURE") {
        let (path, threads) = job.split_once('\n').unwrap();
        measure(Path::new(path), threads.parse().unwrap());
        return;
    }
    let size_mb: u64 = std::env::var("SIZE_MB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1024);
    let temp = tempfile::tempdir().unwrap();
    let dir: PathBuf =
        std::env::var("CUR_BENCH_DIR").map_or_else(|_| temp.path().to_owned(), PathBuf::from);
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join(format!("cur-{size_mb}.csv"));
    let gz = dir.join(format!("cur-{size_mb}.csv.gz"));
    let parquet = dir.join(format!("cur-{size_mb}.parquet"));
    if !csv.exists() {
        generate(&csv, size_mb);
    }
    if !gz.exists() {
        gzip(&csv, &gz);
    }
    if !parquet.exists() {
        generate_parquet(&csv, &parquet);
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let csv_mb = std::fs::metadata(&csv).unwrap().len() as f64 / 1048576.0;
    println!("CUR aggregation per usage type, {csv_mb:.0} MB of CSV; median of 3; {cores} cores");
    println!(
        "{:<12} {:>8} {:>10} {:>10} {:>8} {:>10} {:>10} {:>8} {:>9}",
        "input",
        "MB",
        "geoplan×1",
        "DuckDB×1",
        "ratio",
        format!("geoplan×{cores}"),
        "DuckDB×all",
        "ratio",
        "peak RSS"
    );
    for (label, path) in [("CSV", &csv), ("CSV gzip", &gz), ("Parquet", &parquet)] {
        let mb = std::fs::metadata(path).unwrap().len() as f64 / 1048576.0;
        let (one, rows, rss_one) = geoplan_run(path, 1);
        let (all, rows_all, rss_all) = geoplan_run(path, cores);
        assert_eq!(rows, rows_all, "the same rows on any number of threads");
        let (duck_one, duck_all) = match duckdb_run(path) {
            Ok((a, b, _)) => (Some(a), Some(b)),
            Err(e) => {
                println!("(DuckDB skipped: {e})");
                (None, None)
            }
        };
        let cell = |x: Option<f64>| x.map_or("-".to_owned(), |x| format!("{x:.3} s"));
        let ratio = |g: f64, d: Option<f64>| d.map_or("-".to_owned(), |d| format!("{:.2}", g / d));
        println!(
            "{label:<12} {mb:>8.0} {:>10} {:>10} {:>8} {:>10} {:>10} {:>8} {:>6.1} MB",
            format!("{one:.3} s"),
            cell(duck_one),
            ratio(one, duck_one),
            format!("{all:.3} s"),
            cell(duck_all),
            ratio(all, duck_all),
            rss_one.max(rss_all)
        );
        let _ = rows;
    }
    println!(
        "ratio = geoplan time / DuckDB time (below 1: geoplan faster); peak RSS of the geoplan process"
    );
}
