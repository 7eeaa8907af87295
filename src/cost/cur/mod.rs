//! Cost and Usage Report files (CSV, gzip CSV or Parquet; legacy or CUR 2.0 column
//! names; single files, folders, or a Data Exports export folder with its manifest),
//! streamed: rows are folded into per-usage-type totals as they are read, so memory
//! grows with the number of distinct usage types, never with file size.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

mod csv;
mod discovery;
pub mod guard;
mod io;
mod parallel;
pub mod parquet;

pub use parallel::read_parallel;

use discovery::{export_files, files};
use guard::guarded;

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
    #[error("{}:{line}: not valid CSV: {source}", path.display())]
    Csv {
        path: PathBuf,
        line: u64,
        #[source]
        source: ::csv::Error,
    },
    #[error("{}:1: missing column {wanted} (legacy) or {wanted2} (CUR 2.0)", path.display())]
    MissingColumn {
        path: PathBuf,
        wanted: &'static str,
        wanted2: &'static str,
    },
    #[error("{}:{line}: a CSV record longer than {} MiB; not a CUR file?", path.display(), MAX_RECORD >> 20)]
    TooLong { path: PathBuf, line: u64 },
    #[error("{}: byte {offset} of the compressed file: {source}", path.display())]
    Gzip {
        path: PathBuf,
        offset: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a regular file (a device, pipe or socket)", .0.display())]
    NotAFile(PathBuf),
    #[error("{}:{line}:{column}: {name} is not a number: {value:?}", path.display())]
    BadNumber {
        path: PathBuf,
        line: u64,
        column: usize,
        name: String,
        value: String,
    },
    #[error("no CUR files (*.csv, *.csv.gz, *.parquet) in {}", .0.display())]
    Empty(PathBuf),
    /// The parquet crate cannot read the file's footer.
    #[error("{}: not a readable Parquet file: {source}", path.display())]
    Parquet {
        path: PathBuf,
        #[source]
        source: ::parquet::errors::ParquetError,
    },
    /// The parquet crate cannot read a row group.
    #[error("{}: row group {row_group}: {source}", path.display())]
    ParquetRowGroup {
        path: PathBuf,
        row_group: usize,
        #[source]
        source: ::parquet::errors::ParquetError,
    },
    /// A decoder panicked on this row group (the crate's or geoplan's): damaged input.
    #[error("{}: row group {row_group}: the Parquet decoder failed on this row group ({message}): the file is damaged", path.display())]
    ParquetDamaged {
        path: PathBuf,
        row_group: usize,
        message: String,
    },
    /// A reader panicked on this file (damaged input the decoder did not catch).
    #[error("{}: the reader failed ({message}): the file is damaged", path.display())]
    Damaged { path: PathBuf, message: String },
    /// The file is Parquet, but not CUR as geoplan reads it: a column missing or of
    /// another type, a value that is not a number.
    #[error("{}: {message}", path.display())]
    ParquetContent { path: PathBuf, message: String },
    /// A Data Exports manifest that is not JSON.
    #[error("{}: line {}, column {}: {source}", path.display(), source.line(), source.column())]
    ManifestJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}: {message}", path.display())]
    Manifest { path: PathBuf, message: String },
}

/// The longest CSV record read. Real CUR rows are a few KB (tags included); the bound
/// keeps memory flat whatever the input holds.
pub const MAX_RECORD: usize = 1 << 20;

/// Both spellings of each column geoplan reads.
pub(super) const USAGE_TYPE: (&str, &str) = ("lineItem/UsageType", "line_item_usage_type");
pub(super) const COST: (&str, &str) = ("lineItem/UnblendedCost", "line_item_unblended_cost");
pub(super) const AMOUNT: (&str, &str) = ("lineItem/UsageAmount", "line_item_usage_amount");
pub(super) const RESOURCE: (&str, &str) = ("lineItem/ResourceId", "line_item_resource_id");
pub(super) const START: (&str, &str) = ("lineItem/UsageStartDate", "line_item_usage_start_date");
/// The `geoplan:name` cost-allocation tag as a column of its own: legacy CUR (CSV),
/// and legacy CUR in Athena/Parquet form.
pub(super) const TAG_COLUMNS: [&str; 2] = [
    "resourceTags/user:geoplan:name",
    "resource_tags_user_geoplan_name",
];
/// CUR 2.0's one column of all tags: a JSON object in CSV, a map in Parquet.
pub(super) const TAGS_V2: &str = "resource_tags";
/// The tag's key inside CUR 2.0's `resource_tags`.
pub(super) const TAG_KEY_V2: &str = "user_geoplan_name";

/// Quantity and USD per resource id.
type ByResource = HashMap<Box<[u8]>, (f64, f64)>;

#[derive(Default)]
struct Total {
    quantity: f64,
    usd: f64,
    /// Per resource, kept only for replicated writes (to attribute them to tables).
    by_resource: Option<ByResource>,
}

impl Total {
    /// Per resource for replicated writes (attributed to tables), in all for the rest.
    fn new(usage_type: &[u8]) -> Total {
        Total {
            by_resource: counted_per_resource(usage_type).then(HashMap::new),
            ..Total::default()
        }
    }
}

/// Whether rows of this usage type are counted per resource: replicated writes, which
/// are attributed to tables.
fn counted_per_resource(usage_type: &[u8]) -> bool {
    matches!(
        classify(&String::from_utf8_lossy(usage_type)),
        Usage::ReplicatedWrite { .. }
    )
}

/// Totals across files, by usage type.
#[derive(Default)]
pub struct Totals {
    by_type: HashMap<Box<[u8]>, Total>,
    /// Rows counted (in the month, and in scope).
    pub rows: u64,
    /// Rows in the month left out because they do not carry the deployment's tag.
    pub outside_scope: u64,
    /// Whether any file read had a column for the `geoplan:name` tag.
    pub tag_column: bool,
}

impl Totals {
    /// Adds what another reader counted (of other files, chunks or row groups).
    pub fn merge(&mut self, other: Totals) {
        self.rows += other.rows;
        self.outside_scope += other.outside_scope;
        self.tag_column |= other.tag_column;
        for (usage_type, t) in other.by_type {
            let mine = self.by_type.entry(usage_type).or_insert_with(|| Total {
                by_resource: t.by_resource.as_ref().map(|_| HashMap::new()),
                ..Total::default()
            });
            mine.quantity += t.quantity;
            mine.usd += t.usd;
            if let (Some(into), Some(from)) = (&mut mine.by_resource, t.by_resource) {
                for (resource, (q, usd)) in from {
                    let e = into.entry(resource).or_default();
                    e.0 += q;
                    e.1 += usd;
                }
            }
        }
    }

    /// Folds in one row.
    pub(super) fn add(&mut self, usage_type: &[u8], resource: &[u8], quantity: f64, usd: f64) {
        self.rows += 1;
        let total = match self.by_type.get_mut(usage_type) {
            Some(t) => t,
            None => self
                .by_type
                .entry(usage_type.into())
                .or_insert_with(|| Total::new(usage_type)),
        };
        total.quantity += quantity;
        total.usd += usd;
        if let Some(by_resource) = &mut total.by_resource {
            let e = match by_resource.get_mut(resource) {
                Some(e) => e,
                None => by_resource.entry(resource.into()).or_default(),
            };
            e.0 += quantity;
            e.1 += usd;
        }
    }

    /// Whether rows of this usage type are counted per resource (replicated writes,
    /// attributed to tables), so they cannot be summed before [`Self::add`].
    pub(super) fn per_resource(&mut self, usage_type: &[u8]) -> bool {
        self.total(usage_type).by_resource.is_some()
    }

    /// Folds in `rows` rows of a usage type not counted per resource, summed already.
    pub(super) fn add_sum(&mut self, usage_type: &[u8], rows: u64, quantity: f64, usd: f64) {
        self.rows += rows;
        let total = self.total(usage_type);
        total.quantity += quantity;
        total.usd += usd;
    }

    /// Folds in `rows` rows of one resource of a usage type counted per resource,
    /// summed already.
    pub(super) fn add_resource_sum(
        &mut self,
        usage_type: &[u8],
        resource: &[u8],
        rows: u64,
        quantity: f64,
        usd: f64,
    ) {
        self.add_sum(usage_type, rows, quantity, usd);
        if let Some(by_resource) = &mut self.total(usage_type).by_resource {
            let e = by_resource.entry(resource.into()).or_default();
            e.0 += quantity;
            e.1 += usd;
        }
    }

    /// The usage type's total, made on first sight (called once per batch, not per
    /// row: [`Self::add`] has the one-lookup path rows take).
    fn total(&mut self, usage_type: &[u8]) -> &mut Total {
        if !self.by_type.contains_key(usage_type) {
            self.by_type
                .insert(usage_type.into(), Total::new(usage_type));
        }
        self.by_type.get_mut(usage_type).expect("just made")
    }

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

/// Which rows count: those in `month` (`YYYY-MM`) when given, and those tagged
/// `geoplan:name = tag` when given.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter<'a> {
    pub month: Option<&'a str>,
    pub tag: Option<&'a str>,
}

/// Reads one file (CSV, gzip CSV or Parquet, by its name) into `totals`.
pub fn read_file(totals: &mut Totals, path: &Path, filter: Filter<'_>) -> Result<(), CurError> {
    // A reader that panics on damaged input fails this file, not the process.
    guarded(|| {
        if path.extension().is_some_and(|e| e == "parquet") {
            return parquet::read_into(totals, path, filter);
        }
        csv::read_into(totals, path, filter)
    })
    .unwrap_or_else(|message| {
        Err(CurError::Damaged {
            path: path.to_owned(),
            message,
        })
    })
}

/// Reads a file, a directory of CUR files, or a Data Exports export folder.
pub fn read(path: &Path, month: Option<&str>) -> Result<Totals, CurError> {
    read_filtered(path, Filter { month, tag: None })
}

/// [`read`], keeping only the rows `filter` lets through.
pub fn read_filtered(path: &Path, filter: Filter<'_>) -> Result<Totals, CurError> {
    let mut totals = Totals::default();
    let listed = match path.is_dir() {
        true => export_files(path, filter.month)?,
        false => None,
    };
    let all = match listed {
        Some(files) => files,
        None => files(path)?,
    };
    for f in all {
        read_file(&mut totals, &f, filter)?;
    }
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// Four CUR 2.0 rows: transfer in two months, and a replicated write of a table.
    pub(super) const CUR2_CSV: &str = "line_item_usage_type,line_item_usage_amount,line_item_unblended_cost,line_item_resource_id,line_item_usage_start_date\n\
        USE1-EU-AWS-Out-Bytes,100,2.0,,2026-11-02T00:00:00Z\n\
        USE1-EU-AWS-Out-Bytes,50.5,1.01,,2026-11-03T00:00:00Z\n\
        USE1-EU-AWS-Out-Bytes,999,99,,2026-10-30T00:00:00Z\n\
        EU-ReplWriteRequestUnits,1000000,0.6875,arn:aws:dynamodb:eu-west-1:1:table/shop-carts,2026-11-03T00:00:00Z\n";

    #[test]
    fn reads_legacy_and_cur2_plain_and_gzip_alike() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = "identity/LineItemId,lineItem/UsageStartDate,lineItem/UsageType,lineItem/ResourceId,lineItem/UsageAmount,lineItem/UnblendedCost\n\
            1,2026-11-02T00:00:00Z,USE1-EU-AWS-Out-Bytes,,100,2.0\n\
            2,2026-11-03T00:00:00Z,USE1-EU-AWS-Out-Bytes,,50.5,1.01\n\
            3,2026-10-30T00:00:00Z,USE1-EU-AWS-Out-Bytes,,999,99\n\
            4,2026-11-03T00:00:00Z,EU-ReplWriteRequestUnits,arn:aws:dynamodb:eu-west-1:1:table/shop-carts,1000000,0.6875\n";
        let v2 = CUR2_CSV;
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
}
