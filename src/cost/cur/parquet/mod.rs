//! Cost and Usage Report files in Parquet (AWS Data Exports' default for CUR 2.0, and
//! legacy CUR's Athena format), read column by column: only the columns the totals
//! need are decoded, one row group at a time in batches, so memory is bounded by a
//! batch, not by the file.

use std::path::Path;

use parquet::basic::{LogicalType, TimeUnit, Type as PhysicalType};
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::{
    ByteArray, ByteArrayType, DataType, DoubleType, FloatType, Int32Type, Int64Type, Int96Type,
};
use parquet::file::reader::{FileReader, SerializedFileReader};

mod hybrid;
mod pages;
#[cfg(any(test, feature = "cur-parquet-writer"))]
pub mod writer;

use super::{
    AMOUNT, COST, CurError, Filter, RESOURCE, START, TAG_COLUMNS, TAG_KEY_V2, TAGS_V2, Totals,
    USAGE_TYPE,
};

/// Records decoded per column at a time.
const BATCH: usize = 8192;
/// Usage types summed per batch before they reach the totals; beyond that (values
/// not from a dictionary, or very many types) rows go to the totals one by one.
const MAX_SUMS: usize = 32;

/// One usage type's rows in a batch.
struct Sum {
    /// The address and length of its bytes.
    key: (usize, usize),
    /// A row holding it, to read its bytes back.
    row: usize,
    per_resource: bool,
    rows: u64,
    quantity: f64,
    usd: f64,
}

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

/// One value of a batch.
#[derive(Clone)]
enum Cell {
    Null,
    Bytes(ByteArray),
    Number(f64),
    /// A timestamp's year and month, as `YYYY-MM`.
    Month([u8; 7]),
}

enum Reader {
    Bytes(ColumnReaderImpl<ByteArrayType>, Vec<ByteArray>),
    Double(ColumnReaderImpl<DoubleType>, Vec<f64>),
    Float(ColumnReaderImpl<FloatType>, Vec<f32>),
    Int64(ColumnReaderImpl<Int64Type>, Vec<i64>),
    Int32(ColumnReaderImpl<Int32Type>, Vec<i32>),
    Int96(ColumnReaderImpl<Int96Type>, Vec<parquet::data_type::Int96>),
}

fn typed<T: DataType>(r: ColumnReader) -> Option<ColumnReaderImpl<T>> {
    T::get_column_reader(r)
}

/// Civil year and month of days since 1970-01-01 (Howard Hinnant's algorithm).
fn year_month(days: i64) -> [u8; 7] {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut out = [b'0'; 7];
    let text = format!("{:04}-{:02}", year.clamp(0, 9999), month);
    out.copy_from_slice(&text.as_bytes()[..7]);
    out
}

impl Reader {
    /// Reads up to `n` records into `cells` (one per record, nulls included).
    fn batch(
        &mut self,
        n: usize,
        want: &Wanted,
        def: &mut Vec<i16>,
        cells: &mut Vec<Cell>,
    ) -> parquet::errors::Result<usize> {
        def.clear();
        cells.clear();
        macro_rules! read {
            ($r:expr, $vals:expr, $to:expr) => {{
                $vals.clear();
                let (records, _, _) = $r.read_records(n, Some(def), None, $vals)?;
                let mut next = $vals.drain(..);
                for i in 0..records {
                    let present = want.max_def == 0 || def.get(i) == Some(&want.max_def);
                    cells.push(match present {
                        true => next.next().map_or(Cell::Null, $to),
                        false => Cell::Null,
                    });
                }
                Ok(records)
            }};
        }
        match self {
            Reader::Bytes(r, v) => read!(r, v, Cell::Bytes),
            Reader::Double(r, v) => read!(r, v, Cell::Number),
            Reader::Float(r, v) => read!(r, v, |x: f32| Cell::Number(f64::from(x))),
            Reader::Int32(r, v) => read!(r, v, |x: i32| Cell::Number(f64::from(x))),
            Reader::Int64(r, v) => match want.kind {
                Kind::Timestamp(per_day) => {
                    read!(r, v, |x: i64| Cell::Month(year_month(
                        x.div_euclid(per_day)
                    )))
                }
                _ => read!(r, v, |x: i64| Cell::Number(x as f64)),
            },
            Reader::Int96(r, v) => read!(r, v, |x: parquet::data_type::Int96| {
                // The Julian day number sits in the last of the three words.
                let julian = i64::from(x.data()[2]);
                Cell::Month(year_month(julian - 2_440_588))
            }),
        }
    }
}

/// CUR 2.0's `resource_tags` map, read as its key and value leaf columns: per record,
/// the value of the `geoplan:name` key, if any.
struct TagMap {
    keys: ColumnReaderImpl<ByteArrayType>,
    values: ColumnReaderImpl<ByteArrayType>,
    max_def_key: i16,
    max_def_value: i16,
}

impl TagMap {
    /// Reads `n` records; `out[i]` says whether record `i` is tagged `name`.
    fn batch(
        &mut self,
        n: usize,
        name: &[u8],
        out: &mut Vec<bool>,
    ) -> parquet::errors::Result<usize> {
        let (mut kdef, mut krep, mut keys) = (Vec::new(), Vec::new(), Vec::new());
        let (mut vdef, mut vrep, mut values) = (Vec::new(), Vec::new(), Vec::new());
        let (records, _, _) =
            self.keys
                .read_records(n, Some(&mut kdef), Some(&mut krep), &mut keys)?;
        let (vrecords, _, _) =
            self.values
                .read_records(n, Some(&mut vdef), Some(&mut vrep), &mut values)?;
        if vrecords != records || vdef.len() != kdef.len() {
            return Err(parquet::errors::ParquetError::General(
                "resource_tags keys and values disagree".into(),
            ));
        }
        out.clear();
        let (mut k, mut v) = (keys.iter(), values.iter());
        for (j, &rep) in krep.iter().enumerate() {
            if rep == 0 {
                out.push(false);
            }
            let key = (kdef[j] == self.max_def_key).then(|| k.next()).flatten();
            let value = (vdef[j] == self.max_def_value).then(|| v.next()).flatten();
            if let (Some(key), Some(value), Some(last)) = (key, value, out.last_mut())
                && key.data() == TAG_KEY_V2.as_bytes()
                && value.data() == name
            {
                *last = true;
            }
        }
        Ok(records)
    }
}

/// Reads one Parquet CUR file into `totals`, keeping the rows `filter` lets through.
pub fn read_into(totals: &mut Totals, path: &Path, filter: Filter<'_>) -> Result<(), CurError> {
    read_groups(totals, path, filter, None)
}

/// How many row groups a Parquet file has (units of parallel reading).
pub fn row_groups(path: &Path) -> Result<usize, CurError> {
    let file = std::fs::File::open(path).map_err(|source| CurError::Io {
        path: path.to_owned(),
        source,
    })?;
    let reader = SerializedFileReader::new(file).map_err(|e| CurError::Parquet {
        path: path.to_owned(),
        message: format!("not a readable Parquet file: {e}"),
    })?;
    Ok(reader.num_row_groups())
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
    let month = filter.month;
    let bad = |message: String| CurError::Parquet {
        path: path.to_owned(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|source| CurError::Io {
        path: path.to_owned(),
        source,
    })?;
    let reader = SerializedFileReader::new(file)
        .map_err(|e| bad(format!("not a readable Parquet file: {e}")))?;
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    let find = |(legacy, v2): (&'static str, &'static str)| -> Result<Option<Wanted>, CurError> {
        let Some(index) = (0..schema.num_columns()).find(|&i| {
            let c = schema.column(i);
            let p = c.path().string();
            p == legacy || p == v2
        }) else {
            return Ok(None);
        };
        let c = schema.column(index);
        if c.max_rep_level() > 0 {
            return Err(bad(format!(
                "column {} is repeated, not a value per row",
                c.path()
            )));
        }
        let kind = match (c.physical_type(), c.logical_type_ref()) {
            (PhysicalType::BYTE_ARRAY, _) => Kind::Bytes,
            (PhysicalType::DOUBLE, _) => Kind::Double,
            (PhysicalType::FLOAT, _) => Kind::Float,
            (PhysicalType::INT32, _) => Kind::Int32,
            (PhysicalType::INT64, Some(LogicalType::Timestamp(t))) => {
                Kind::Timestamp(match t.unit {
                    TimeUnit::MILLIS => 86_400_000,
                    TimeUnit::MICROS => 86_400_000_000,
                    TimeUnit::NANOS => 86_400_000_000_000,
                })
            }
            (PhysicalType::INT64, _) => Kind::Int64,
            (PhysicalType::INT96, _) => Kind::Int96,
            (other, _) => {
                return Err(bad(format!(
                    "column {} is {other}, which geoplan cannot read as a CUR value",
                    c.path()
                )));
            }
        };
        Ok(Some(Wanted {
            index,
            name: c.path().string(),
            max_def: c.max_def_level(),
            kind,
        }))
    };
    let need = |col: (&'static str, &'static str)| {
        find(col)?.ok_or_else(|| {
            bad(format!(
                "missing column {} (legacy) or {} (CUR 2.0)",
                col.0, col.1
            ))
        })
    };
    let mut columns = vec![need(USAGE_TYPE)?, need(COST)?, need(AMOUNT)?];
    let resource = find(RESOURCE)?;
    let has_resource = resource.is_some();
    columns.extend(resource);
    let start = match month {
        Some(_) => find(START)?,
        None => None,
    };
    let has_start = start.is_some();
    let start_index = columns.len();
    columns.extend(start);
    let month = month.map(str::as_bytes);
    // The tag: a flat column (legacy, Athena form), or CUR 2.0's map's two leaves.
    let flat_tag = TAG_COLUMNS
        .iter()
        .find_map(|t| find((t, t)).transpose())
        .transpose()?;
    let map_tag = (0..schema.num_columns())
        .filter(|&i| schema.column(i).path().parts().first().map(String::as_str) == Some(TAGS_V2))
        .collect::<Vec<usize>>();
    let map_tag = match map_tag.as_slice() {
        [k, v] if flat_tag.is_none() => Some((*k, *v)),
        _ => None,
    };
    totals.tag_column |= flat_tag.is_some() || map_tag.is_some();
    let tag_index = columns.len();
    let has_flat_tag = flat_tag.is_some();
    columns.extend(flat_tag);
    let mut tagged: Vec<bool> = Vec::new();
    let mut sums: Vec<Sum> = Vec::with_capacity(MAX_SUMS);

    let mut defs: Vec<Vec<i16>> = columns.iter().map(|_| Vec::new()).collect();
    let mut cells: Vec<Vec<Cell>> = columns.iter().map(|_| Vec::new()).collect();
    let groups = groups.unwrap_or(0..reader.num_row_groups());
    let mut row_base: u64 = (0..groups.start.min(reader.num_row_groups()))
        .map(|i| reader.metadata().row_group(i).num_rows().max(0) as u64)
        .sum();
    let plan = pages::Plan {
        usage_type: &columns[0],
        cost: &columns[1],
        amount: &columns[2],
        resource: has_resource.then(|| &columns[3]),
        month: month
            .filter(|_| has_start)
            .map(|m| (&columns[start_index], m)),
        tag: filter.tag.map(|name| {
            let at = match map_tag {
                _ if has_flat_tag => pages::TagColumn::Flat(&columns[tag_index]),
                Some((k, v)) => pages::TagColumn::Map(
                    (k, schema.column(k).max_def_level()),
                    (v, schema.column(v).max_def_level()),
                ),
                None => pages::TagColumn::Absent,
            };
            (at, name.as_bytes())
        }),
    };
    let mut fast_groups = 0;
    for rg in groups {
        let located = |e: parquet::errors::ParquetError| bad(format!("row group {rg}: {e}"));
        let group = reader.get_row_group(rg).map_err(located)?;
        if decoders == Decoders::PagesFirst
            && let Some(counted) = pages::read_group(&*group, &plan)
        {
            totals.merge(counted);
            fast_groups += 1;
            row_base += group.metadata().num_rows().max(0) as u64;
            continue;
        }
        let mut readers = Vec::new();
        for c in &columns {
            let r = group.get_column_reader(c.index).map_err(located)?;
            readers.push(
                match c.kind {
                    Kind::Bytes => typed::<ByteArrayType>(r).map(|r| Reader::Bytes(r, Vec::new())),
                    Kind::Double => typed::<DoubleType>(r).map(|r| Reader::Double(r, Vec::new())),
                    Kind::Float => typed::<FloatType>(r).map(|r| Reader::Float(r, Vec::new())),
                    Kind::Int32 => typed::<Int32Type>(r).map(|r| Reader::Int32(r, Vec::new())),
                    Kind::Int64 | Kind::Timestamp(_) => {
                        typed::<Int64Type>(r).map(|r| Reader::Int64(r, Vec::new()))
                    }
                    Kind::Int96 => typed::<Int96Type>(r).map(|r| Reader::Int96(r, Vec::new())),
                }
                .ok_or_else(|| bad(format!("column {} changes type in row group {rg}", c.name)))?,
            );
        }
        let mut tag_map = match (filter.tag, map_tag) {
            (Some(_), Some((k, v))) => {
                let keys = typed::<ByteArrayType>(group.get_column_reader(k).map_err(located)?);
                let values = typed::<ByteArrayType>(group.get_column_reader(v).map_err(located)?);
                match (keys, values) {
                    (Some(keys), Some(values)) => Some(TagMap {
                        keys,
                        values,
                        max_def_key: schema.column(k).max_def_level(),
                        max_def_value: schema.column(v).max_def_level(),
                    }),
                    _ => return Err(bad(format!("{TAGS_V2} is not a map of strings"))),
                }
            }
            _ => None,
        };
        loop {
            let mut got = None;
            for (i, r) in readers.iter_mut().enumerate() {
                let n = r
                    .batch(BATCH, &columns[i], &mut defs[i], &mut cells[i])
                    .map_err(located)?;
                if *got.get_or_insert(n) != n {
                    return Err(bad(format!(
                        "row group {rg}: column {} has fewer rows than the others",
                        columns[i].name
                    )));
                }
            }
            let n = got.unwrap_or(0);
            if let (Some(map), Some(name)) = (&mut tag_map, filter.tag) {
                let m = map
                    .batch(BATCH, name.as_bytes(), &mut tagged)
                    .map_err(located)?;
                if m != n {
                    return Err(bad(format!(
                        "row group {rg}: {TAGS_V2} has another number of rows than the other columns"
                    )));
                }
            }
            if n == 0 {
                break;
            }
            // `row` indexes every column's batch, not one slice.
            #[allow(clippy::needless_range_loop)]
            for row in 0..n {
                let at = row_base + row as u64 + 1;
                if has_start && let Some(m) = month {
                    let inside = match &cells[start_index][row] {
                        Cell::Bytes(b) => b.data().starts_with(m),
                        Cell::Month(ym) => ym[..] == m[..m.len().min(7)],
                        _ => false,
                    };
                    if !inside {
                        continue;
                    }
                }
                if let Some(name) = filter.tag {
                    let inside = if has_flat_tag {
                        matches!(&cells[tag_index][row], Cell::Bytes(b) if b.data() == name.as_bytes())
                    } else {
                        tag_map.is_some() && tagged.get(row) == Some(&true)
                    };
                    if !inside {
                        totals.outside_scope += 1;
                        continue;
                    }
                }
                let number = |col: usize| -> Result<f64, CurError> {
                    let value = match &cells[col][row] {
                        Cell::Null => return Ok(0.0),
                        Cell::Number(x) => Some(*x),
                        Cell::Bytes(b) => std::str::from_utf8(b.data())
                            .ok()
                            .and_then(|s| s.trim().parse::<f64>().ok()),
                        Cell::Month(_) => None,
                    };
                    value.filter(|x| x.is_finite()).ok_or_else(|| {
                        bad(format!(
                            "row {at}: {} is not a finite number: {}",
                            columns[col].name,
                            match &cells[col][row] {
                                Cell::Bytes(b) =>
                                    format!("{:?}", String::from_utf8_lossy(b.data())),
                                Cell::Number(x) => x.to_string(),
                                _ => "a date".into(),
                            }
                        ))
                    })
                };
                let (usd, quantity) = (number(1)?, number(2)?);
                let bytes = |col: usize| match &cells[col][row] {
                    Cell::Bytes(b) => b.data(),
                    _ => &[],
                };
                let resource = if has_resource { bytes(3) } else { &[] };
                // Values of a dictionary-encoded column share their dictionary entry's
                // bytes: rows of one usage type are summed here by that address, and
                // folded into the totals once per batch, not hashed row by row.
                let usage_type = bytes(0);
                let key = (usage_type.as_ptr() as usize, usage_type.len());
                let slot = match sums.iter().position(|s| s.key == key) {
                    Some(i) => Some(i),
                    None if sums.len() < MAX_SUMS => {
                        let per_resource = totals.per_resource(usage_type);
                        sums.push(Sum {
                            key,
                            row,
                            per_resource,
                            rows: 0,
                            quantity: 0.0,
                            usd: 0.0,
                        });
                        Some(sums.len() - 1)
                    }
                    None => None,
                };
                match slot.map(|i| &mut sums[i]) {
                    Some(s) if !s.per_resource => {
                        s.rows += 1;
                        s.quantity += quantity;
                        s.usd += usd;
                    }
                    _ => totals.add(usage_type, resource, quantity, usd),
                }
            }
            for s in sums.drain(..) {
                if s.rows > 0 {
                    let usage_type = match &cells[0][s.row] {
                        Cell::Bytes(b) => b.data(),
                        _ => &[],
                    };
                    totals.add_sum(usage_type, s.rows, s.quantity, s.usd);
                }
            }
            row_base += n as u64;
        }
    }
    Ok(fast_groups)
}

#[cfg(test)]
pub(super) mod tests {
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

    #[test]
    fn days_since_the_epoch_give_year_and_month() {
        assert_eq!(&year_month(0), b"1970-01");
        assert_eq!(&year_month(20_757), b"2026-10"); // 2026-10-31
        assert_eq!(&year_month(20_758), b"2026-11"); // 2026-11-01
        assert_eq!(&year_month(-1), b"1969-12");
        assert_eq!(&year_month(11_016), b"2000-02"); // 2000-02-29
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
