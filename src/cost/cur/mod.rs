//! Cost and Usage Report files (CSV, gzip CSV or Parquet; legacy or CUR 2.0 column
//! names; single files, folders, or a Data Exports export folder with its manifest),
//! streamed: rows are folded into per-usage-type totals as they are read, so memory
//! grows with the number of distinct usage types, never with file size.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

mod discovery;
mod io;
mod parallel;
pub mod parquet;

pub use parallel::read_parallel;

use discovery::{export_files, files};
use io::{Bounded, Counted, Inflated, Shared};

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
    #[error("{}:{line}: a CSV record longer than {} MiB; not a CUR file?", path.display(), MAX_RECORD >> 20)]
    TooLong { path: PathBuf, line: u64 },
    #[error("{}: byte {offset} of the compressed file: {message}", path.display())]
    Gzip {
        path: PathBuf,
        offset: u64,
        message: String,
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
    #[error("{}: {message}", path.display())]
    Parquet { path: PathBuf, message: String },
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

/// Whether a CUR 2.0 `resource_tags` JSON text says `geoplan:name` is `name`.
pub(super) fn json_tags_name(text: &[u8], name: &str) -> bool {
    // Most rows carry no such tag: skip them before parsing.
    let Some(at) = memchr::memmem::find(text, TAG_KEY_V2.as_bytes()) else {
        return false;
    };
    // The compact form AWS writes, `{…"user_geoplan_name":"value"…}` with a value
    // without escapes, is read in place (a quote inside a JSON string is escaped, so an
    // unescaped quote before the key opens a key); anything else is parsed.
    let object = text.trim_ascii();
    let value = &text[at + TAG_KEY_V2.len()..];
    if object.starts_with(b"{")
        && object.ends_with(b"}")
        && at >= 2
        && text[at - 1] == b'"'
        && text[at - 2] != b'\\'
        && let Some(value) = value.strip_prefix(b"\":\"")
        && let Some(end) = memchr::memchr2(b'"', b'\\', value)
        && value[end] == b'"'
    {
        return &value[..end] == name.as_bytes();
    }
    json_tags_name_parsed(text, name)
}

/// [`json_tags_name`] by parsing the JSON text.
fn json_tags_name_parsed(text: &[u8], name: &str) -> bool {
    serde_json::from_slice::<HashMap<String, serde_json::Value>>(text)
        .ok()
        .and_then(|m| {
            m.get(TAG_KEY_V2)
                .and_then(|v| v.as_str().map(|v| v == name))
        })
        .unwrap_or(false)
}

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
    if path.extension().is_some_and(|e| e == "parquet") {
        return parquet::read_into(totals, path, filter);
    }
    read_into(totals, path, filter)
}

/// Reads one CSV or gzip CSV file into `totals`.
pub fn read_into(totals: &mut Totals, path: &Path, filter: Filter<'_>) -> Result<(), CurError> {
    read_csv(totals, path, filter, None, false)
}

/// A byte range of a plain CSV file that starts at a record boundary, with what
/// reading it needs and the range does not hold: the header, and the lines before it.
#[derive(Debug, Clone)]
pub struct Chunk {
    start: u64,
    len: u64,
    lines_before: u64,
    headers: csv::ByteRecord,
}

/// Reads a CSV file, or one chunk of a plain one, into `totals`: with the SIMD
/// tokenizer, and when that finds anything wrong (a number, a record's length, the
/// data), again with the `csv` crate's reader, which says where. With `inflate_apart`,
/// gzip data is decompressed on a thread of its own while it is parsed.
fn read_csv(
    totals: &mut Totals,
    path: &Path,
    filter: Filter<'_>,
    chunk: Option<&Chunk>,
    inflate_apart: bool,
) -> Result<(), CurError> {
    let mut fast = Totals::default();
    if read_csv_fast(&mut fast, path, filter, chunk, inflate_apart).is_some() {
        totals.merge(fast);
        return Ok(());
    }
    read_csv_exact(totals, path, filter, chunk)
}

/// A CSV stream, decompressed if need be, with its record bound and counters.
struct CsvInput {
    reader: Bounded<Box<dyn Read>>,
    gzip: bool,
    /// Compressed bytes read, line breaks seen, and the line of a too-long record.
    compressed: Shared<u64>,
    lines: Shared<u64>,
    too_long: Shared<Option<u64>>,
    unusual: Shared<bool>,
}

fn open_csv(path: &Path, chunk: Option<&Chunk>, inflate_apart: bool) -> Result<CsvInput, CurError> {
    let io = |source| CurError::Io {
        path: path.to_owned(),
        source,
    };
    if !std::fs::metadata(path).map_err(io)?.is_file() {
        return Err(CurError::NotAFile(path.to_owned()));
    }
    let mut file = std::fs::File::open(path).map_err(io)?;
    let compressed = Shared::<u64>::default();
    let gzip = path.extension().is_some_and(|e| e == "gz");
    let decoded: Box<dyn Read> = if let Some(c) = chunk {
        use std::io::Seek;
        file.seek(std::io::SeekFrom::Start(c.start)).map_err(io)?;
        Box::new(file.take(c.len))
    } else if gzip && inflate_apart {
        Box::new(Inflated::start(file))
    } else if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(
            std::io::BufReader::with_capacity(
                1 << 16,
                Counted {
                    inner: file,
                    bytes: compressed.clone(),
                },
            ),
        ))
    } else {
        Box::new(file)
    };
    let reader = Bounded::new(decoded);
    Ok(CsvInput {
        lines: reader.lines.clone(),
        too_long: reader.too_long.clone(),
        unusual: reader.unusual.clone(),
        reader,
        gzip,
        compressed,
    })
}

/// Where the columns geoplan reads are in a CSV header.
struct CsvColumns {
    usage_type: usize,
    cost: usize,
    amount: usize,
    resource: Option<usize>,
    /// The usage start, when rows are kept by month.
    start: Option<usize>,
    /// The tag: a column of its own (legacy), or inside CUR 2.0's JSON (`true`).
    tag: Option<(usize, bool)>,
}

impl CsvColumns {
    fn find(path: &Path, headers: &[&[u8]], filter: Filter<'_>) -> Result<Self, CurError> {
        let find = |(legacy, v2): (&'static str, &'static str)| {
            headers
                .iter()
                .position(|h| *h == legacy.as_bytes() || *h == v2.as_bytes())
        };
        let need = |col: (&'static str, &'static str)| {
            find(col).ok_or(CurError::MissingColumn {
                path: path.to_owned(),
                wanted: col.0,
                wanted2: col.1,
            })
        };
        Ok(CsvColumns {
            usage_type: need(USAGE_TYPE)?,
            cost: need(COST)?,
            amount: need(AMOUNT)?,
            resource: find(RESOURCE),
            start: filter.month.and(find(START)),
            tag: headers
                .iter()
                .position(|h| TAG_COLUMNS.iter().any(|t| *h == t.as_bytes()))
                .map(|i| (i, false))
                .or_else(|| {
                    headers
                        .iter()
                        .position(|h| *h == TAGS_V2.as_bytes())
                        .map(|i| (i, true))
                }),
        })
    }

    /// Folds one record, given its fields, into `totals`; `Err` names a column whose
    /// value is not a finite number.
    fn fold<'r>(
        &self,
        totals: &mut Totals,
        filter: Filter<'_>,
        field: impl Fn(usize) -> std::borrow::Cow<'r, [u8]>,
    ) -> Result<(), usize> {
        if let (Some(i), Some(m)) = (self.start, filter.month)
            && !field(i).starts_with(m.as_bytes())
        {
            return Ok(());
        }
        if let Some(name) = filter.tag {
            let tagged = match self.tag {
                Some((i, false)) => *field(i) == *name.as_bytes(),
                Some((i, true)) => json_tags_name(&field(i), name),
                None => false,
            };
            if !tagged {
                totals.outside_scope += 1;
                return Ok(());
            }
        }
        let number = |i: usize| number(&field(i)).ok_or(i);
        let (usd, quantity) = (number(self.cost)?, number(self.amount)?);
        let resource = self.resource.map(&field).unwrap_or_default();
        totals.add(&field(self.usage_type), &resource, quantity, usd);
        Ok(())
    }
}

/// A CUR number: empty is zero; NaN and infinity parse as f64, but no bill holds them,
/// and they would poison every sum and comparison downstream.
fn number(raw: &[u8]) -> Option<f64> {
    if raw.is_empty() {
        return Some(0.0);
    }
    lexical_core::parse::<f64>(raw)
        .ok()
        .or_else(|| std::str::from_utf8(raw).ok()?.trim().parse::<f64>().ok())
        .filter(|n| n.is_finite())
}

/// [`read_csv`] with `simd_csv`'s zero-copy reader (about three times the `csv`
/// crate's speed); `None` when anything is wrong, without saying what.
fn read_csv_fast(
    totals: &mut Totals,
    path: &Path,
    filter: Filter<'_>,
    chunk: Option<&Chunk>,
    inflate_apart: bool,
) -> Option<()> {
    let input = open_csv(path, chunk, inflate_apart).ok()?;
    let unusual = input.unusual.clone();
    let mut csv = simd_csv::ZeroCopyReaderBuilder::new()
        .buffer_capacity(1 << 20)
        .has_headers(chunk.is_none())
        .from_reader(input.reader);
    let headers: Vec<&[u8]> = match chunk {
        Some(c) => c.headers.iter().collect(),
        None => csv.byte_headers().ok()?.iter().collect(),
    };
    let columns = CsvColumns::find(path, &headers, filter).ok()?;
    totals.tag_column |= columns.tag.is_some();
    while let Some(record) = csv.read_byte_record().ok()? {
        let field = |i: usize| record.unescape(i).unwrap_or_default();
        columns.fold(totals, filter, field).ok()?;
    }
    (!unusual.get()).then_some(())
}

/// [`read_csv`] with the `csv` crate's reader, which gives every error its line.
fn read_csv_exact(
    totals: &mut Totals,
    path: &Path,
    filter: Filter<'_>,
    chunk: Option<&Chunk>,
) -> Result<(), CurError> {
    let CsvInput {
        reader,
        gzip,
        compressed,
        lines,
        too_long,
        ..
    } = open_csv(path, chunk, false)?;
    let lines_before = chunk.map_or(0, |c| c.lines_before);
    let mut csv = csv::ReaderBuilder::new()
        .buffer_capacity(1 << 20)
        .has_headers(chunk.is_none())
        .from_reader(reader);
    let csv_err = |e: csv::Error| {
        if let Some(line) = too_long.get() {
            return CurError::TooLong {
                path: path.to_owned(),
                line: lines_before + line,
            };
        }
        match (e.position(), e.kind()) {
            (Some(p), _) => CurError::Csv {
                path: path.to_owned(),
                line: lines_before + p.line(),
                message: e.to_string(),
            },
            // Not a CSV error but a read error: in gzip data, or of the file itself.
            (None, csv::ErrorKind::Io(source)) if gzip => CurError::Gzip {
                path: path.to_owned(),
                offset: compressed.get(),
                message: source.to_string(),
            },
            (None, _) => CurError::Csv {
                path: path.to_owned(),
                line: lines_before + lines.get() + 1,
                message: e.to_string(),
            },
        }
    };
    let headers = match chunk {
        Some(c) => c.headers.clone(),
        None => csv.byte_headers().map_err(csv_err)?.clone(),
    };
    let columns = CsvColumns::find(path, &headers.iter().collect::<Vec<_>>(), filter)?;
    totals.tag_column |= columns.tag.is_some();
    let mut record = csv::ByteRecord::new();
    while csv.read_byte_record(&mut record).map_err(csv_err)? {
        let field = |i: usize| std::borrow::Cow::Borrowed(record.get(i).unwrap_or_default());
        if let Err(i) = columns.fold(totals, filter, field) {
            let raw = record.get(i).unwrap_or_default();
            return Err(CurError::BadNumber {
                path: path.to_owned(),
                line: lines_before + record.position().map_or(0, |p| p.line()),
                column: i + 1,
                name: String::from_utf8_lossy(&headers[i]).into_owned(),
                value: String::from_utf8_lossy(raw).into_owned(),
            });
        }
    }
    Ok(())
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

    /// Both CSV readers on one file: (fast, exact).
    fn both_csv(path: &Path, filter: Filter<'_>) -> (Option<Totals>, Result<Totals, CurError>) {
        let mut fast = Totals::default();
        let fast = read_csv_fast(&mut fast, path, filter, None, false).map(|()| fast);
        let mut exact = Totals::default();
        let exact = read_csv_exact(&mut exact, path, filter, None).map(|()| exact);
        (fast, exact)
    }

    #[test]
    fn the_simd_reader_reads_what_the_csv_crate_reads() {
        // Quoted fields with commas, doubled quotes and line breaks; CRLF and LF; a
        // blank line; CUR 2.0 tags as quoted JSON; a UTF-8 BOM; no final line break.
        let text = "\u{feff}lineItem/UsageType,lineItem/LineItemDescription,lineItem/ResourceId,lineItem/UsageAmount,lineItem/UnblendedCost,lineItem/UsageStartDate,resource_tags\r\n\
            USE1-EU-AWS-Out-Bytes,\"$0.02 per GB, \"\"out\"\"\",,100,2.0,2026-11-02T00:00:00Z,\"{\"\"user_geoplan_name\"\":\"\"shop\"\"}\"\r\n\
            \"USE1-EU-AWS-Out-Bytes\",\"two\nlines\",,\"50.5\",1.01,2026-11-03T00:00:00Z,\"{}\"\n\
            \n\
            EU-ReplWriteRequestUnits,,\"arn:aws:dynamodb:eu-west-1:1:table/shop-carts\",1000000,0.6875,2026-11-03T00:00:00Z,\"{\"\"user_geoplan_name\"\":\"\"shop\"\"}\"\n\
            USE1-EU-AWS-Out-Bytes,,,999,99,2026-10-30T00:00:00Z,\"{\"\"user_geoplan_name\"\":\"\"shop\"\"}\"";
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("quoted.csv");
        std::fs::write(&p, text).unwrap();
        for month in [None, Some("2026-11")] {
            for tag in [None, Some("shop")] {
                let filter = Filter { month, tag };
                let (fast, exact) = both_csv(&p, filter);
                let (fast, exact) = (fast.expect("the SIMD reader reads it"), exact.unwrap());
                assert_eq!(
                    (fast.rows, fast.outside_scope, fast.tag_column),
                    (exact.rows, exact.outside_scope, exact.tag_column),
                    "{filter:?}"
                );
                assert_eq!(fast.into_lines(), exact.into_lines(), "{filter:?}");
            }
        }
        let (_, exact) = both_csv(
            &p,
            Filter {
                month: None,
                tag: Some("shop"),
            },
        );
        let exact = exact.unwrap();
        assert_eq!((exact.rows, exact.outside_scope), (3, 1));
        assert_eq!(exact.into_lines()[1].quantity, 1099.0);
    }

    #[test]
    fn the_two_csv_readers_agree_on_mangled_quoting() {
        let seed = "lineItem/UsageType,lineItem/ResourceId,lineItem/UsageAmount,lineItem/UnblendedCost\n\
            USE1-EU-AWS-Out-Bytes,,100,2.0\n\
            \"EU-ReplWriteRequestUnits\",\"arn:aws:dynamodb:eu-west-1:1:table/a\",1000000,0.6875\n\
            USE1-DataTransfer-Regional-Bytes,\"x,y\",5,\"0.05\"\n";
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.csv");
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        let (mut both, mut refused) = (0, 0);
        for case in 0..3000 {
            let mut text = seed.as_bytes().to_vec();
            for _ in 0..1 + next(3) {
                let at = next(text.len());
                let what: &[u8] = [&b"\""[..], b"\"\"", b",", b"\n", b"\r", b"a"][next(6)];
                text.splice(at..at, what.iter().copied());
            }
            std::fs::write(&p, &text).unwrap();
            let (fast, exact) = both_csv(&p, Filter::default());
            match (fast, exact) {
                (Some(f), Ok(e)) => {
                    both += 1;
                    let text = String::from_utf8_lossy(&text);
                    assert_eq!(
                        (f.rows, f.into_lines()),
                        (e.rows, e.into_lines()),
                        "case {case}: {text:?}"
                    );
                }
                (Some(_), Err(e)) => panic!(
                    "case {case}: only the exact reader fails: {e}: {:?}",
                    String::from_utf8_lossy(&text)
                ),
                (None, _) => refused += 1,
            }
        }
        // Most mutations make the quoting unusual; the rest are read by both readers.
        assert!(
            both > 200 && refused > 0,
            "{both} read by both, {refused} refused"
        );
    }

    #[test]
    fn what_the_simd_reader_refuses_the_csv_crate_locates() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.csv");
        let head = "lineItem/UsageType,lineItem/UsageAmount,lineItem/UnblendedCost\n";
        for (body, error) in [
            (
                "x,1,2\n\"x\",\"two\nlines\",3\n",
                ":3:2: lineItem/UsageAmount is not a number",
            ),
            ("x,1,2\nx,1\n", ":3: not valid CSV: "),
        ] {
            std::fs::write(&p, format!("{head}{body}")).unwrap();
            let (fast, exact) = both_csv(&p, Filter::default());
            assert!(fast.is_none(), "{body:?}");
            let e = exact.err().unwrap().to_string();
            assert!(
                e.starts_with(&format!("{}{error}", p.display())),
                "{body:?}: {e}"
            );
            assert_eq!(read(&p, None).err().unwrap().to_string(), e);
        }
    }

    #[test]
    fn tags_in_compact_json_are_read_in_place_as_parsing_reads_them() {
        let cases = [
            r#"{"user_geoplan_name":"shop"}"#,
            r#"{"user_team":"a","user_geoplan_name":"shop","user_x":"y"}"#,
            r#"{"user_geoplan_name":"shopping"}"#,
            r#"{"user_geoplan_name":"sho"}"#,
            r#"{"user_geoplan_name": "shop"}"#,
            r#"{"user_geoplan_name":"sh\u006fp"}"#,
            r#"{"user_geoplan_name":"a\"b"}"#,
            r#"{"x_user_geoplan_name":"shop"}"#,
            r#"{"x":"user_geoplan_name","y":"shop"}"#,
            r#"{"x":"\"user_geoplan_name\":\"shop\"","user_geoplan_name":"other"}"#,
            r#"{"user_geoplan_name":"shop""#,
            r#"{"user_geoplan_name":5}"#,
            r#"{}"#,
            r#""#,
        ];
        for text in cases {
            for name in ["shop", "other", "a\"b"] {
                assert_eq!(
                    json_tags_name(text.as_bytes(), name),
                    json_tags_name_parsed(text.as_bytes(), name),
                    "{text} {name}"
                );
            }
        }
        assert!(json_tags_name(br#"{"user_geoplan_name":"shop"}"#, "shop"));
        assert!(json_tags_name(br#"{"user_geoplan_name": "shop"}"#, "shop"));
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

    #[test]
    fn non_finite_numbers_are_located_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("nan.csv");
        for (bad, column) in [("NaN,1", 2), ("1,inf", 3), ("1,-Infinity", 3)] {
            std::fs::write(
                &p,
                format!("lineItem/UsageType,lineItem/UsageAmount,lineItem/UnblendedCost\nUSE1-EU-AWS-Out-Bytes,{bad}\n"),
            )
            .unwrap();
            let e = read(&p, None).err().unwrap().to_string();
            assert!(
                e.starts_with(&format!("{}:2:{column}: ", p.display())),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn corrupt_gzip_names_the_byte() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.csv.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&b"lineItem/UsageType,lineItem/UsageAmount,lineItem/UnblendedCost\nUSE1-EU-AWS-Out-Bytes,1,1\n".repeat(200))
            .unwrap();
        let mut bytes = gz.finish().unwrap();
        // Cut short: the gzip stream ends mid-block.
        bytes.truncate(bytes.len() / 2);
        std::fs::write(&p, &bytes).unwrap();
        let e = read(&p, None).err().unwrap().to_string();
        assert!(
            e.starts_with(&format!("{}: byte ", p.display())),
            "names the byte: {e}"
        );
        assert!(!e.contains(":0:"), "{e}");
    }
}
