//! Cost and Usage Report files in Parquet (AWS Data Exports' default for CUR 2.0, and
//! legacy CUR's Athena format), read column by column: only the columns the totals
//! need are decoded, one row group at a time in batches, so memory is bounded by a
//! batch, not by the file. Each row group goes through the page-level fast path
//! (`pages`) first, and through the parquet crate's column API (`column_api`) when the
//! fast path gives up on it.

use std::path::Path;

use parquet::basic::{LogicalType, TimeUnit, Type as PhysicalType};
use parquet::errors::ParquetError;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::schema::types::SchemaDescriptor;

mod column_api;
mod hybrid;
mod pages;
#[cfg(any(test, feature = "cur-parquet-writer"))]
pub mod writer;

use super::guard::guarded;
use super::{
    AMOUNT, COST, CurError, Filter, RESOURCE, START, TAG_COLUMNS, TAGS_V2, Totals, USAGE_TYPE,
};

/// Records decoded per column at a time.
const BATCH: usize = 8192;

/// One needed column: its index, name, and how its values are read.
struct Wanted {
    index: usize,
    name: String,
    max_def: i16,
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    Bytes,
    Double,
    Float,
    Int64,
    Int32,
    /// Milliseconds, microseconds or nanoseconds since the epoch, per unit.
    Timestamp(i64),
    /// Legacy Impala/Hive timestamps.
    Int96,
}

/// The columns geoplan reads, as one file's schema has them.
struct Columns {
    /// The usage type, cost and amount, in that order, then the resource, the usage
    /// start and the tag's own column where the file has them (and rows need them).
    wanted: Vec<Wanted>,
    /// Where the resource is in `wanted`.
    resource: Option<usize>,
    /// Where the usage start is in `wanted`, when rows are kept by month.
    start: Option<usize>,
    /// Where the tag's own column (legacy, Athena form) is in `wanted`.
    flat_tag: Option<usize>,
    /// CUR 2.0's `resource_tags` map, without a flat tag column: its key and value
    /// leaves' indices in the schema.
    map_tag: Option<(usize, usize)>,
}

impl Columns {
    /// Finds the columns in a file's schema; an error names one that is missing, or
    /// that geoplan cannot read.
    fn find(schema: &SchemaDescriptor, path: &Path, filter: Filter<'_>) -> Result<Self, CurError> {
        let need = |col: (&'static str, &'static str)| {
            find_column(schema, path, col)?.ok_or_else(|| {
                bad(
                    path,
                    format!("missing column {} (legacy) or {} (CUR 2.0)", col.0, col.1),
                )
            })
        };
        let mut wanted = vec![need(USAGE_TYPE)?, need(COST)?, need(AMOUNT)?];
        let mut add = |column: Option<Wanted>| {
            column.map(|c| {
                wanted.push(c);
                wanted.len() - 1
            })
        };
        let resource = add(find_column(schema, path, RESOURCE)?);
        let start = match filter.month {
            Some(_) => add(find_column(schema, path, START)?),
            None => None,
        };
        // The tag: a flat column (legacy, Athena form), or CUR 2.0's map's two leaves.
        let flat_tag = TAG_COLUMNS
            .iter()
            .find_map(|t| find_column(schema, path, (t, t)).transpose())
            .transpose()?;
        let map_tag = (0..schema.num_columns())
            .filter(|&i| {
                schema.column(i).path().parts().first().map(String::as_str) == Some(TAGS_V2)
            })
            .collect::<Vec<usize>>();
        let map_tag = match map_tag.as_slice() {
            [k, v] if flat_tag.is_none() => Some((*k, *v)),
            _ => None,
        };
        let flat_tag = add(flat_tag);
        Ok(Columns {
            wanted,
            resource,
            start,
            flat_tag,
            map_tag,
        })
    }

    /// What the fast path reads, for the rows `filter` keeps.
    fn plan<'a>(&'a self, schema: &SchemaDescriptor, filter: Filter<'a>) -> pages::Plan<'a> {
        pages::Plan {
            usage_type: &self.wanted[0],
            cost: &self.wanted[1],
            amount: &self.wanted[2],
            resource: self.resource.map(|i| &self.wanted[i]),
            month: self
                .start
                .zip(filter.month)
                .map(|(i, m)| (&self.wanted[i], m.as_bytes())),
            tag: filter.tag.map(|name| {
                let at = match (self.flat_tag, self.map_tag) {
                    (Some(i), _) => pages::TagColumn::Flat(&self.wanted[i]),
                    (None, Some((k, v))) => pages::TagColumn::Map(
                        (k, schema.column(k).max_def_level()),
                        (v, schema.column(v).max_def_level()),
                    ),
                    (None, None) => pages::TagColumn::Absent,
                };
                (at, name.as_bytes())
            }),
        }
    }
}

/// The column spelled `legacy` or `v2` in `schema`, if there is one; an error when it
/// is repeated, or of a type geoplan cannot read as a CUR value.
fn find_column(
    schema: &SchemaDescriptor,
    path: &Path,
    (legacy, v2): (&'static str, &'static str),
) -> Result<Option<Wanted>, CurError> {
    let Some(index) = (0..schema.num_columns()).find(|&i| {
        let c = schema.column(i);
        let p = c.path().string();
        p == legacy || p == v2
    }) else {
        return Ok(None);
    };
    let c = schema.column(index);
    if c.max_rep_level() > 0 {
        return Err(bad(
            path,
            format!("column {} is repeated, not a value per row", c.path()),
        ));
    }
    let kind = match (c.physical_type(), c.logical_type_ref()) {
        (PhysicalType::BYTE_ARRAY, _) => Kind::Bytes,
        (PhysicalType::DOUBLE, _) => Kind::Double,
        (PhysicalType::FLOAT, _) => Kind::Float,
        (PhysicalType::INT32, _) => Kind::Int32,
        (PhysicalType::INT64, Some(LogicalType::Timestamp(t))) => Kind::Timestamp(match t.unit {
            TimeUnit::MILLIS => 86_400_000,
            TimeUnit::MICROS => 86_400_000_000,
            TimeUnit::NANOS => 86_400_000_000_000,
        }),
        (PhysicalType::INT64, _) => Kind::Int64,
        (PhysicalType::INT96, _) => Kind::Int96,
        (other, _) => {
            return Err(bad(
                path,
                format!(
                    "column {} is {other}, which geoplan cannot read as a CUR value",
                    c.path()
                ),
            ));
        }
    };
    Ok(Some(Wanted {
        index,
        name: c.path().string(),
        max_def: c.max_def_level(),
        kind,
    }))
}

/// What is wrong with a Parquet file as a CUR file.
fn bad(path: &Path, message: String) -> CurError {
    CurError::ParquetContent {
        path: path.to_owned(),
        message,
    }
}

/// The parquet crate's error reading row group `rg`.
fn row_group_error(path: &Path, rg: usize, source: ParquetError) -> CurError {
    CurError::ParquetRowGroup {
        path: path.to_owned(),
        row_group: rg,
        source,
    }
}

/// Opens a Parquet file and reads its footer.
fn open(path: &Path) -> Result<SerializedFileReader<std::fs::File>, CurError> {
    let file = std::fs::File::open(path).map_err(|source| CurError::Io {
        path: path.to_owned(),
        source,
    })?;
    SerializedFileReader::new(file).map_err(|source| CurError::Parquet {
        path: path.to_owned(),
        source,
    })
}

/// Reads one Parquet CUR file into `totals`, keeping the rows `filter` lets through.
pub fn read_into(totals: &mut Totals, path: &Path, filter: Filter<'_>) -> Result<(), CurError> {
    read_groups(totals, path, filter, None)
}

/// How many row groups a Parquet file has (units of parallel reading).
pub fn row_groups(path: &Path) -> Result<usize, CurError> {
    Ok(open(path)?.num_row_groups())
}

/// [`read_into`] for the row groups `groups` only (all when `None`).
pub fn read_groups(
    totals: &mut Totals,
    path: &Path,
    filter: Filter<'_>,
    groups: Option<std::ops::Range<usize>>,
) -> Result<(), CurError> {
    read_groups_with(totals, path, filter, groups, Decoders::PagesFirst).map(|_| ())
}

/// Which decoders read a file's row groups; the tests compare the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decoders {
    /// The page-level fast path, and the column API for a row group it gives up on.
    PagesFirst,
    /// The column API alone: only the tests read so, to compare the two.
    #[cfg(test)]
    ColumnApiOnly,
}

/// [`read_groups`] with the `decoders` given. Returns how many row groups the fast path
/// read.
fn read_groups_with(
    totals: &mut Totals,
    path: &Path,
    filter: Filter<'_>,
    groups: Option<std::ops::Range<usize>>,
    decoders: Decoders,
) -> Result<usize, CurError> {
    let reader = open(path)?;
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    let columns = Columns::find(&schema, path, filter)?;
    totals.tag_column |= columns.flat_tag.is_some() || columns.map_tag.is_some();
    let groups = groups.unwrap_or(0..reader.num_row_groups());
    // Errors number rows in the file: from the rows of the row groups before.
    let mut row_base: u64 = (0..groups.start.min(reader.num_row_groups()))
        .map(|i| reader.metadata().row_group(i).num_rows().max(0) as u64)
        .sum();
    let plan = columns.plan(&schema, filter);
    let mut column_api = column_api::ColumnApi::new(path, &columns, &schema, filter);
    let mut fast_groups = 0;
    for rg in groups {
        // A decoder that panics on a damaged row group fails this read, not the process.
        let read = guarded(|| -> Result<(u64, bool), CurError> {
            let group = reader
                .get_row_group(rg)
                .map_err(|e| row_group_error(path, rg, e))?;
            if decoders == Decoders::PagesFirst
                && let Some(counted) = pages::read_group(&*group, &plan)
            {
                totals.merge(counted);
                return Ok((group.metadata().num_rows().max(0) as u64, true));
            }
            Ok((column_api.read_group(totals, &*group, rg, row_base)?, false))
        })
        .map_err(|message| CurError::ParquetDamaged {
            path: path.to_owned(),
            row_group: rg,
            message,
        })?;
        let (rows, fast) = read?;
        row_base += rows;
        fast_groups += usize::from(fast);
    }
    Ok(fast_groups)
}

#[cfg(test)]
pub(super) mod tests {
    use parquet::data_type::{ByteArray, ByteArrayType};

    use super::column_api::year_month;
    use super::writer::{Row, write, write_with};
    use super::*;
    use crate::cost::cur::{CurError, read};

    const DAY_MS: i64 = 86_400_000;

    pub(crate) fn rows() -> Vec<Row<'static>> {
        let nov = 20_758 * DAY_MS; // 2026-11-01
        vec![
            Row {
                usage_type: "USE1-EU-AWS-Out-Bytes",
                amount: 100.0,
                cost: 2.0,
                resource: None,
                start_ms: nov + DAY_MS,
                tag: Some("shop"),
            },
            Row {
                usage_type: "USE1-EU-AWS-Out-Bytes",
                amount: 50.5,
                cost: 1.01,
                resource: None,
                start_ms: nov + 2 * DAY_MS,
                tag: None,
            },
            Row {
                usage_type: "USE1-EU-AWS-Out-Bytes",
                amount: 999.0,
                cost: 99.0,
                resource: None,
                start_ms: nov - 2 * DAY_MS,
                tag: Some("shop"),
            },
            Row {
                usage_type: "EU-ReplWriteRequestUnits",
                amount: 1e6,
                cost: 0.6875,
                resource: Some("arn:aws:dynamodb:eu-west-1:1:table/shop-carts"),
                start_ms: nov + 2 * DAY_MS,
                tag: Some("other"),
            },
        ]
    }

    #[test]
    fn parquet_gives_the_lines_csv_gives() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.csv"), crate::cost::cur::tests::CUR2_CSV).unwrap();
        // Two rows per row group: rows cross row-group boundaries.
        write(&dir.path().join("a.parquet"), rows(), 2).unwrap();
        for month in [Some("2026-11"), None] {
            let from_csv = read(&dir.path().join("a.csv"), month).unwrap();
            let from_parquet = read(&dir.path().join("a.parquet"), month).unwrap();
            assert_eq!(from_csv.rows, from_parquet.rows, "{month:?}");
            assert_eq!(
                from_csv.into_lines(),
                from_parquet.into_lines(),
                "{month:?}"
            );
        }
    }

    #[test]
    fn the_tag_in_resource_tags_scopes_rows() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tags.parquet");
        write(&p, rows(), 3).unwrap();
        let filter = |tag| crate::cost::cur::Filter {
            month: Some("2026-11"),
            tag,
        };
        let shop = crate::cost::cur::read_filtered(&p, filter(Some("shop"))).unwrap();
        assert_eq!(
            (shop.rows, shop.outside_scope, shop.tag_column),
            (1, 2, true)
        );
        let lines = shop.into_lines();
        assert_eq!((lines.len(), lines[0].quantity), (1, 100.0));
        let other = crate::cost::cur::read_filtered(&p, filter(Some("other"))).unwrap();
        assert_eq!(other.into_lines()[0].usage_type, "EU-ReplWriteRequestUnits");
        let all = crate::cost::cur::read_filtered(&p, filter(None)).unwrap();
        assert_eq!((all.rows, all.outside_scope), (3, 0));
    }

    #[test]
    fn truncated_or_foreign_parquet_is_a_located_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cut.parquet");
        write(&p, rows(), 2).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        let e = read(&p, None).err().unwrap();
        assert!(matches!(e, CurError::Parquet { .. }), "{e}");
        assert!(
            e.to_string()
                .starts_with(&format!("{}: not a readable Parquet file: ", p.display())),
            "{e}"
        );
        // The footer survives, a data page does not: the row group is named.
        let mut bytes = bytes.clone();
        for b in &mut bytes[4..60] {
            *b = 0xff;
        }
        std::fs::write(&p, &bytes).unwrap();
        let e = read(&p, None).err().unwrap().to_string();
        assert!(
            e.starts_with(&format!("{}: row group 0: ", p.display())),
            "{e}"
        );
        // A Parquet file without the CUR columns.
        let other = dir.path().join("other.parquet");
        let schema = std::sync::Arc::new(
            parquet::schema::parser::parse_message_type("message m { required int32 x; }").unwrap(),
        );
        let w = parquet::file::writer::SerializedFileWriter::new(
            std::fs::File::create(&other).unwrap(),
            schema,
            Default::default(),
        )
        .unwrap();
        w.close().unwrap();
        assert_eq!(
            read(&other, None).err().unwrap().to_string(),
            format!(
                "{}: missing column lineItem/UsageType (legacy) or line_item_usage_type (CUR 2.0)",
                other.display()
            )
        );
    }

    /// Reads `path` whole through the fast path or the column API only: the totals and
    /// how many row groups the fast path read.
    fn both(path: &Path, filter: Filter<'_>) -> [(Totals, usize); 2] {
        [Decoders::PagesFirst, Decoders::ColumnApiOnly].map(|decoders| {
            let mut totals = Totals::default();
            let n = read_groups_with(&mut totals, path, filter, None, decoders).unwrap();
            (totals, n)
        })
    }

    /// The same rows give the same totals by both paths: rows, rows out of scope, and
    /// every line. Values are multiples of 1/8, so sums are exact in any order.
    fn assert_same(path: &Path, groups: usize, fast_expected: Option<bool>, label: &str) {
        for month in [None, Some("2026-11")] {
            for tag in [None, Some("shop")] {
                let filter = Filter { month, tag };
                let [(fast, n), (api, zero)] = both(path, filter);
                let at = format!("{label}, {filter:?}");
                assert_eq!(zero, 0, "{at}");
                match fast_expected {
                    Some(true) => assert_eq!(n, groups, "every row group on the fast path: {at}"),
                    Some(false) => assert_eq!(n, 0, "no row group on the fast path: {at}"),
                    None => {}
                }
                assert!(api.rows > 0, "{at}");
                assert_eq!(
                    (fast.rows, fast.outside_scope, fast.tag_column),
                    (api.rows, api.outside_scope, api.tag_column),
                    "{at}"
                );
                assert_eq!(fast.into_lines(), api.into_lines(), "{at}");
            }
        }
    }

    /// A generated row: type, resource, amount, cost, start, tag (indices or values).
    type Mixed = (usize, usize, f64, f64, i64, usize);

    const TYPES: [&str; 7] = [
        "USE1-EU-AWS-Out-Bytes",
        "EU-USE1-AWS-Out-Bytes",
        "USE1-ReplWriteRequestUnits",
        "EU-ReplWriteRequestUnits",
        "USE1-TimedStorage-ByteHrs",
        "EU-DataTransfer-Regional-Bytes",
        "APN1-USE1-AWS-Out-Bytes",
    ];

    /// 3000 rows of every kind: types counted in all and per resource, 40 tables and
    /// no resource, three months, the tag for this deployment, another, or none.
    fn mixed() -> (Vec<String>, Vec<Mixed>) {
        let resources: Vec<String> = (0..40)
            .map(|i| format!("arn:aws:dynamodb:eu-west-1:1:table/t{i}"))
            .collect();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let rows = (0..3000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let day = (x >> 8) % 90; // 2026-10-01 .. 2026-12-29
                (
                    (x % 7) as usize,
                    ((x >> 16) % 41) as usize,
                    ((x >> 24) % 1000) as f64 * 0.25,
                    ((x >> 34) % 400) as f64 * 0.125,
                    (20_728 + day as i64) * DAY_MS,
                    ((x >> 44) % 3) as usize,
                )
            })
            .collect();
        (resources, rows)
    }

    #[test]
    fn the_fast_path_counts_what_the_column_api_counts_in_every_layout() {
        use parquet::basic::Compression;
        use parquet::file::properties::{WriterProperties, WriterVersion};
        use parquet::schema::types::ColumnPath;
        let (resources, mixed) = mixed();
        let rows = || {
            mixed
                .iter()
                .map(|&(t, r, amount, cost, start_ms, tag)| Row {
                    usage_type: TYPES[t],
                    amount,
                    cost,
                    resource: resources.get(r).map(String::as_str),
                    start_ms,
                    tag: [None, Some("shop"), Some("other")][tag],
                })
        };
        let base = || WriterProperties::builder().set_compression(Compression::SNAPPY);
        let amount = ColumnPath::from("line_item_usage_amount");
        let layouts = [
            ("dictionary, pages v1", base().build(), Some(true)),
            (
                "dictionary, pages v2",
                base()
                    .set_writer_version(WriterVersion::PARQUET_2_0)
                    .build(),
                Some(true),
            ),
            (
                "pages of 7 rows, uncompressed",
                base()
                    .set_compression(Compression::UNCOMPRESSED)
                    .set_data_page_row_count_limit(7)
                    .set_write_batch_size(5)
                    .build(),
                Some(true),
            ),
            (
                "plain numbers",
                base().set_column_dictionary_enabled(amount, false).build(),
                Some(true),
            ),
            (
                "no dictionaries",
                base().set_dictionary_enabled(false).build(),
                Some(false),
            ),
            // Every codec AWS's exports and common writers use (Snappy is the base).
            (
                "gzip",
                base()
                    .set_compression(Compression::GZIP(Default::default()))
                    .build(),
                Some(true),
            ),
            (
                "zstd",
                base()
                    .set_compression(Compression::ZSTD(Default::default()))
                    .build(),
                Some(true),
            ),
            (
                "lz4 raw",
                base().set_compression(Compression::LZ4_RAW).build(),
                Some(true),
            ),
            (
                "lz4 (Hadoop frames)",
                base().set_compression(Compression::LZ4).build(),
                Some(true),
            ),
            (
                "brotli",
                base()
                    .set_compression(Compression::BROTLI(Default::default()))
                    .build(),
                Some(true),
            ),
            (
                "dictionaries that overflow to plain",
                base()
                    .set_dictionary_page_size_limit(200)
                    .set_write_batch_size(16)
                    .set_data_page_row_count_limit(64)
                    .build(),
                None,
            ),
        ];
        let dir = tempfile::tempdir().unwrap();
        for (i, (label, props, fast)) in layouts.into_iter().enumerate() {
            let p = dir.path().join(format!("{i}.parquet"));
            write_with(&p, rows(), 700, props).unwrap();
            assert_same(&p, 3000usize.div_ceil(700), fast, label);
        }
    }

    #[test]
    fn pages_with_and_without_nulls_in_one_batch_keep_rows_aligned() {
        use parquet::file::properties::{WriterProperties, WriterVersion};
        // Resources are null in the first 100 rows only: in pages of 64 rows, the
        // first pages have nulls and the later ones say they have none, so one batch
        // crosses pages whose levels are decoded and pages whose are not.
        let (resources, mixed) = mixed();
        let rows = || {
            mixed
                .iter()
                .enumerate()
                .map(|(i, &(t, r, amount, cost, start_ms, tag))| Row {
                    usage_type: TYPES[t],
                    amount,
                    cost,
                    resource: (i >= 100).then(|| resources[r % resources.len()].as_str()),
                    start_ms,
                    tag: [None, Some("shop"), Some("other")][tag],
                })
        };
        let layouts = [
            (
                "pages v2 of 64 rows",
                WriterProperties::builder()
                    .set_writer_version(WriterVersion::PARQUET_2_0)
                    .set_data_page_row_count_limit(64)
                    .set_write_batch_size(32)
                    .build(),
            ),
            (
                "pages v1 of 64 rows with statistics",
                WriterProperties::builder()
                    .set_write_page_header_statistics(true)
                    .set_data_page_row_count_limit(64)
                    .set_write_batch_size(32)
                    .build(),
            ),
        ];
        let dir = tempfile::tempdir().unwrap();
        for (i, (label, props)) in layouts.into_iter().enumerate() {
            let p = dir.path().join(format!("{i}.parquet"));
            write_with(&p, rows(), 3000, props).unwrap();
            assert_same(&p, 1, Some(true), label);
        }
    }

    /// Writes a legacy-CUR-in-Athena file: string dates, the tag as a column of its own,
    /// and nulls in every column; `None` cells are nulls.
    fn write_athena(path: &Path, rows: &[[Option<&str>; 6]], per_group: usize) {
        use parquet::data_type::DoubleType;
        use parquet::file::writer::SerializedFileWriter;
        let schema = std::sync::Arc::new(
            parquet::schema::parser::parse_message_type(
                "message cur {
                    optional binary line_item_usage_type (STRING);
                    optional double line_item_usage_amount;
                    optional double line_item_unblended_cost;
                    optional binary line_item_resource_id (STRING);
                    optional binary line_item_usage_start_date (STRING);
                    optional binary resource_tags_user_geoplan_name (STRING);
                }",
            )
            .unwrap(),
        );
        let file = std::fs::File::create(path).unwrap();
        let mut w = SerializedFileWriter::new(file, schema, Default::default()).unwrap();
        for group in rows.chunks(per_group) {
            let mut g = w.next_row_group().unwrap();
            let mut i = 0;
            while let Some(mut c) = g.next_column().unwrap() {
                let cells = group.iter().map(|r| r[i]);
                let defs: Vec<i16> = cells.clone().map(|c| i16::from(c.is_some())).collect();
                if i == 1 || i == 2 {
                    let v: Vec<f64> = cells.flatten().map(|c| c.parse().unwrap()).collect();
                    c.typed::<DoubleType>()
                        .write_batch(&v, Some(&defs), None)
                        .unwrap();
                } else {
                    let v: Vec<ByteArray> = cells.flatten().map(ByteArray::from).collect();
                    c.typed::<ByteArrayType>()
                        .write_batch(&v, Some(&defs), None)
                        .unwrap();
                }
                c.close().unwrap();
                i += 1;
            }
            g.close().unwrap();
        }
        w.close().unwrap();
    }

    #[test]
    fn the_fast_path_reads_string_dates_a_tag_column_and_nulls() {
        let (resources, mixed) = mixed();
        let dates: Vec<String> = mixed
            .iter()
            .map(|m| {
                let days = m.4 / DAY_MS;
                format!(
                    "{}-{:02}T00:00:00Z",
                    std::str::from_utf8(&year_month(days)).unwrap(),
                    1 + days % 28
                )
            })
            .collect();
        let numbers: Vec<(String, String)> = mixed
            .iter()
            .map(|m| (m.2.to_string(), m.3.to_string()))
            .collect();
        let rows: Vec<[Option<&str>; 6]> = mixed
            .iter()
            .enumerate()
            .map(|(i, m)| {
                // Every ninth cell of a column is null, in a different row per column.
                let null = |c: usize| (i + c).is_multiple_of(9);
                [
                    Some(TYPES[m.0]),
                    Some(numbers[i].0.as_str()),
                    Some(numbers[i].1.as_str()),
                    resources.get(m.1).map(String::as_str),
                    Some(dates[i].as_str()),
                    [None, Some("shop"), Some("other")][m.5],
                ]
                .into_iter()
                .enumerate()
                .map(|(c, v)| v.filter(|_| !null(c)))
                .collect::<Vec<_>>()
                .try_into()
                .unwrap()
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("athena.parquet");
        write_athena(&p, &rows, 1000);
        assert_same(&p, 3, Some(true), "Athena form with nulls");
    }

    #[test]
    fn a_number_that_is_not_finite_is_left_to_the_column_api_which_names_its_row() {
        let rows = [
            [
                Some("USE1-EU-AWS-Out-Bytes"),
                Some("1"),
                Some("2"),
                None,
                Some("2026-11-02"),
                None,
            ],
            [
                Some("USE1-EU-AWS-Out-Bytes"),
                Some("inf"),
                Some("2"),
                None,
                Some("2026-11-02"),
                None,
            ],
        ];
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("inf.parquet");
        write_athena(&p, &rows, 2);
        let e = read(&p, None).err().unwrap().to_string();
        assert!(
            e.contains("row 2: line_item_usage_amount is not a finite number: inf"),
            "{e}"
        );
    }
}
