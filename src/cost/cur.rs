//! Cost and Usage Report files (CSV or gzip CSV, legacy or CUR 2.0 column names),
//! streamed: rows are folded into per-usage-type totals as they are read, so memory
//! grows with the number of distinct usage types, never with file size.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::matrix::Line;
use super::usage::{Usage, classify};

#[derive(Debug, thiserror::Error)]
pub enum CurError {
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: not valid CSV: {message}", path.display())]
    Csv {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{}:1: missing column {wanted} (legacy) or {wanted2} (CUR 2.0)", path.display())]
    MissingColumn {
        path: PathBuf,
        wanted: &'static str,
        wanted2: &'static str,
    },
    #[error("{}:{line}:{column}: {name} is not a number: {value:?}", path.display())]
    BadNumber {
        path: PathBuf,
        line: u64,
        column: usize,
        name: String,
        value: String,
    },
    #[error("no CUR files (*.csv, *.csv.gz) in {}", .0.display())]
    Empty(PathBuf),
}

/// Both spellings of each column geoplan reads.
const USAGE_TYPE: (&str, &str) = ("lineItem/UsageType", "line_item_usage_type");
const COST: (&str, &str) = ("lineItem/UnblendedCost", "line_item_unblended_cost");
const AMOUNT: (&str, &str) = ("lineItem/UsageAmount", "line_item_usage_amount");
const RESOURCE: (&str, &str) = ("lineItem/ResourceId", "line_item_resource_id");
const START: (&str, &str) = ("lineItem/UsageStartDate", "line_item_usage_start_date");

/// Quantity and USD per resource id.
type ByResource = HashMap<Box<[u8]>, (f64, f64)>;

#[derive(Default)]
struct Total {
    quantity: f64,
    usd: f64,
    /// Per resource, kept only for replicated writes (to attribute them to tables).
    by_resource: Option<ByResource>,
}

/// Totals across files, by usage type.
#[derive(Default)]
pub struct Totals {
    by_type: HashMap<Box<[u8]>, Total>,
    pub rows: u64,
}

impl Totals {
    pub fn into_lines(self) -> Vec<Line> {
        let mut out = Vec::new();
        for (usage_type, t) in self.by_type {
            let usage_type = String::from_utf8_lossy(&usage_type).into_owned();
            match t.by_resource {
                Some(by_resource) => {
                    for (resource, (quantity, usd)) in by_resource {
                        let resource = String::from_utf8_lossy(&resource).into_owned();
                        out.push(Line {
                            usage_type: usage_type.clone(),
                            quantity,
                            usd,
                            resource: (!resource.is_empty()).then_some(resource),
                        });
                    }
                }
                None => out.push(Line {
                    usage_type,
                    quantity: t.quantity,
                    usd: t.usd,
                    resource: None,
                }),
            }
        }
        out.sort_by(|a, b| (&a.usage_type, &a.resource).cmp(&(&b.usage_type, &b.resource)));
        out
    }
}

/// The CUR files under `path` (a file or a directory), sorted.
pub fn files(path: &Path) -> Result<Vec<PathBuf>, CurError> {
    if path.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let io = |source| CurError::Io {
        path: path.to_owned(),
        source,
    };
    let mut out: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            n.ends_with(".csv") || n.ends_with(".csv.gz")
        })
        .collect();
    out.sort();
    if out.is_empty() {
        return Err(CurError::Empty(path.to_owned()));
    }
    Ok(out)
}

/// Reads every file into `totals`, keeping rows whose usage start date falls in
/// `month` (`YYYY-MM`) when given.
pub fn read_into(totals: &mut Totals, path: &Path, month: Option<&str>) -> Result<(), CurError> {
    let io = |source| CurError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(
            std::io::BufReader::with_capacity(1 << 16, file),
        ))
    } else {
        Box::new(file)
    };
    let mut csv = csv::ReaderBuilder::new()
        .buffer_capacity(1 << 20)
        .from_reader(reader);
    let csv_err = |e: csv::Error| CurError::Csv {
        path: path.to_owned(),
        line: e.position().map_or(0, |p| p.line()),
        message: e.to_string(),
    };
    let headers = csv.byte_headers().map_err(csv_err)?.clone();
    let find = |(legacy, v2): (&'static str, &'static str)| {
        headers
            .iter()
            .position(|h| h == legacy.as_bytes() || h == v2.as_bytes())
    };
    let need = |col: (&'static str, &'static str)| {
        find(col).ok_or(CurError::MissingColumn {
            path: path.to_owned(),
            wanted: col.0,
            wanted2: col.1,
        })
    };
    let (i_type, i_cost, i_amount) = (need(USAGE_TYPE)?, need(COST)?, need(AMOUNT)?);
    let i_resource = find(RESOURCE);
    let i_start = month.and(find(START));
    let month = month.map(str::as_bytes);

    let mut record = csv::ByteRecord::new();
    while csv.read_byte_record(&mut record).map_err(csv_err)? {
        if let (Some(i), Some(m)) = (i_start, month)
            && !record.get(i).is_some_and(|d| d.starts_with(m))
        {
            continue;
        }
        let line = record.position().map_or(0, |p| p.line());
        let number = |i: usize| -> Result<f64, CurError> {
            let raw = record.get(i).unwrap_or_default();
            if raw.is_empty() {
                return Ok(0.0);
            }
            std::str::from_utf8(raw)
                .ok()
                .and_then(|s| s.trim().parse::<f64>().ok())
                .ok_or_else(|| CurError::BadNumber {
                    path: path.to_owned(),
                    line,
                    column: i + 1,
                    name: String::from_utf8_lossy(&headers[i]).into_owned(),
                    value: String::from_utf8_lossy(raw).into_owned(),
                })
        };
        let (usd, quantity) = (number(i_cost)?, number(i_amount)?);
        let usage_type = record.get(i_type).unwrap_or_default();
        totals.rows += 1;
        let total = match totals.by_type.get_mut(usage_type) {
            Some(t) => t,
            None => {
                let repl = matches!(
                    classify(&String::from_utf8_lossy(usage_type)),
                    Usage::ReplicatedWrite { .. }
                );
                let t = Total {
                    by_resource: repl.then(HashMap::new),
                    ..Total::default()
                };
                totals.by_type.entry(usage_type.into()).or_insert(t)
            }
        };
        total.quantity += quantity;
        total.usd += usd;
        if let Some(by_resource) = &mut total.by_resource {
            let resource = i_resource.and_then(|i| record.get(i)).unwrap_or_default();
            let e = match by_resource.get_mut(resource) {
                Some(e) => e,
                None => by_resource.entry(resource.into()).or_default(),
            };
            e.0 += quantity;
            e.1 += usd;
        }
    }
    Ok(())
}

/// Reads a file or a directory of CUR files.
pub fn read(path: &Path, month: Option<&str>) -> Result<Totals, CurError> {
    let mut totals = Totals::default();
    for f in files(path)? {
        read_into(&mut totals, &f, month)?;
    }
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn reads_legacy_and_cur2_plain_and_gzip_alike() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = "identity/LineItemId,lineItem/UsageStartDate,lineItem/UsageType,lineItem/ResourceId,lineItem/UsageAmount,lineItem/UnblendedCost\n\
            1,2026-11-02T00:00:00Z,USE1-EU-AWS-Out-Bytes,,100,2.0\n\
            2,2026-11-03T00:00:00Z,USE1-EU-AWS-Out-Bytes,,50.5,1.01\n\
            3,2026-10-30T00:00:00Z,USE1-EU-AWS-Out-Bytes,,999,99\n\
            4,2026-11-03T00:00:00Z,EU-ReplWriteRequestUnits,arn:aws:dynamodb:eu-west-1:1:table/shop-carts,1000000,0.6875\n";
        let v2 = "line_item_usage_type,line_item_usage_amount,line_item_unblended_cost,line_item_resource_id,line_item_usage_start_date\n\
            USE1-EU-AWS-Out-Bytes,100,2.0,,2026-11-02T00:00:00Z\n\
            USE1-EU-AWS-Out-Bytes,50.5,1.01,,2026-11-03T00:00:00Z\n\
            USE1-EU-AWS-Out-Bytes,999,99,,2026-10-30T00:00:00Z\n\
            EU-ReplWriteRequestUnits,1000000,0.6875,arn:aws:dynamodb:eu-west-1:1:table/shop-carts,2026-11-03T00:00:00Z\n";
        std::fs::write(dir.path().join("legacy.csv"), legacy).unwrap();
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(dir.path().join("v2.csv.gz")).unwrap(),
            flate2::Compression::default(),
        );
        gz.write_all(v2.as_bytes()).unwrap();
        gz.finish().unwrap();
        let a = read(&dir.path().join("legacy.csv"), Some("2026-11"))
            .unwrap()
            .into_lines();
        let b = read(&dir.path().join("v2.csv.gz"), Some("2026-11"))
            .unwrap()
            .into_lines();
        assert_eq!(a, b);
        assert_eq!(
            a[0].resource.as_deref(),
            Some("arn:aws:dynamodb:eu-west-1:1:table/shop-carts")
        );
        assert_eq!((a[1].quantity, a[1].usd), (150.5, 3.01));
        let all = read(dir.path(), None).unwrap();
        assert_eq!(all.rows, 8, "both files, every month");
    }

    #[test]
    fn bad_input_names_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.csv");
        std::fs::write(&p, "lineItem/UsageType,lineItem/UsageAmount,lineItem/UnblendedCost\nUSE1-EU-AWS-Out-Bytes,1,0.02\nUSE1-EU-AWS-Out-Bytes,2,two cents\n").unwrap();
        let e = read(&p, None).err().unwrap().to_string();
        assert_eq!(
            e,
            format!(
                "{}:3:3: lineItem/UnblendedCost is not a number: \"two cents\"",
                p.display()
            )
        );
        std::fs::write(&p, "lineItem/UsageType,lineItem/UsageAmount\nx,1\n").unwrap();
        let e = read(&p, None).err().unwrap().to_string();
        assert_eq!(
            e,
            format!(
                "{}:1: missing column lineItem/UnblendedCost (legacy) or line_item_unblended_cost (CUR 2.0)",
                p.display()
            )
        );
        assert!(matches!(
            read(&dir.path().join("none"), None),
            Err(CurError::Io { .. })
        ));
    }
}
