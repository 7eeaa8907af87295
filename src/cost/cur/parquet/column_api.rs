//! Row groups read through the parquet crate's column API: any encoding it knows, the
//! needed columns a batch of records at a time, every value checked and a bad one named
//! by its row. The fast path hands over any row group it gives up on.

use std::path::Path;

use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::{
    ByteArray, ByteArrayType, DataType, DoubleType, FloatType, Int32Type, Int64Type, Int96Type,
};
use parquet::file::reader::RowGroupReader;
use parquet::schema::types::SchemaDescriptor;

use super::{BATCH, Columns, Kind, Wanted, bad, row_group_error};
use crate::cost::cur::{CurError, Filter, TAG_KEY_V2, TAGS_V2, Totals};

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
pub(super) fn year_month(days: i64) -> [u8; 7] {
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

/// A file's row groups read through the column API, with the buffers its batches reuse.
pub(super) struct ColumnApi<'a> {
    path: &'a Path,
    columns: &'a Columns,
    schema: &'a SchemaDescriptor,
    filter: Filter<'a>,
    /// Per needed column: the batch's definition levels and values.
    defs: Vec<Vec<i16>>,
    cells: Vec<Vec<Cell>>,
    /// Per record of the batch: whether CUR 2.0's tag map holds the tag.
    tagged: Vec<bool>,
    sums: Vec<Sum>,
}

impl<'a> ColumnApi<'a> {
    pub(super) fn new(
        path: &'a Path,
        columns: &'a Columns,
        schema: &'a SchemaDescriptor,
        filter: Filter<'a>,
    ) -> Self {
        ColumnApi {
            path,
            columns,
            schema,
            filter,
            defs: columns.wanted.iter().map(|_| Vec::new()).collect(),
            cells: columns.wanted.iter().map(|_| Vec::new()).collect(),
            tagged: Vec::new(),
            sums: Vec::with_capacity(MAX_SUMS),
        }
    }

    /// Reads row group `rg` into `totals`, a batch at a time; errors number its rows
    /// from `row_base + 1`, as rows of the file. Returns how many rows it read.
    pub(super) fn read_group(
        &mut self,
        totals: &mut Totals,
        group: &dyn RowGroupReader,
        rg: usize,
        row_base: u64,
    ) -> Result<u64, CurError> {
        let mut readers = self.readers(group, rg)?;
        let mut tag_map = self.tag_map(group, rg)?;
        let mut rows = 0;
        loop {
            let n = self.read_batch(&mut readers, tag_map.as_mut(), rg)?;
            if n == 0 {
                break;
            }
            self.fold_batch(totals, n, tag_map.is_some(), row_base + rows)?;
            rows += n as u64;
        }
        Ok(rows)
    }

    /// Row group `rg`'s reader of each needed column.
    fn readers(&self, group: &dyn RowGroupReader, rg: usize) -> Result<Vec<Reader>, CurError> {
        let mut readers = Vec::new();
        for c in &self.columns.wanted {
            let r = group
                .get_column_reader(c.index)
                .map_err(|e| row_group_error(self.path, rg, e))?;
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
                .ok_or_else(|| {
                    bad(
                        self.path,
                        format!("column {} changes type in row group {rg}", c.name),
                    )
                })?,
            );
        }
        Ok(readers)
    }

    /// Row group `rg`'s reader of CUR 2.0's tag map, when rows are kept by tag and the
    /// file has the map.
    fn tag_map(&self, group: &dyn RowGroupReader, rg: usize) -> Result<Option<TagMap>, CurError> {
        let (Some(_), Some((k, v))) = (self.filter.tag, self.columns.map_tag) else {
            return Ok(None);
        };
        let located = |e| row_group_error(self.path, rg, e);
        let keys = typed::<ByteArrayType>(group.get_column_reader(k).map_err(located)?);
        let values = typed::<ByteArrayType>(group.get_column_reader(v).map_err(located)?);
        match (keys, values) {
            (Some(keys), Some(values)) => Ok(Some(TagMap {
                keys,
                values,
                max_def_key: self.schema.column(k).max_def_level(),
                max_def_value: self.schema.column(v).max_def_level(),
            })),
            _ => Err(bad(self.path, format!("{TAGS_V2} is not a map of strings"))),
        }
    }

    /// Reads the next batch of every needed column, and of the tag map: how many rows,
    /// 0 at the end of the row group.
    fn read_batch(
        &mut self,
        readers: &mut [Reader],
        tag_map: Option<&mut TagMap>,
        rg: usize,
    ) -> Result<usize, CurError> {
        let located = |e| row_group_error(self.path, rg, e);
        let mut got = None;
        for (i, r) in readers.iter_mut().enumerate() {
            let n = r
                .batch(
                    BATCH,
                    &self.columns.wanted[i],
                    &mut self.defs[i],
                    &mut self.cells[i],
                )
                .map_err(located)?;
            if *got.get_or_insert(n) != n {
                return Err(bad(
                    self.path,
                    format!(
                        "row group {rg}: column {} has fewer rows than the others",
                        self.columns.wanted[i].name
                    ),
                ));
            }
        }
        let n = got.unwrap_or(0);
        if let (Some(map), Some(name)) = (tag_map, self.filter.tag) {
            let m = map
                .batch(BATCH, name.as_bytes(), &mut self.tagged)
                .map_err(located)?;
            if m != n {
                return Err(bad(
                    self.path,
                    format!(
                        "row group {rg}: {TAGS_V2} has another number of rows than the other columns"
                    ),
                ));
            }
        }
        Ok(n)
    }

    /// Folds the batch's `n` rows into `totals`: rows of another month are left out,
    /// rows without the tag counted outside the scope (`tag_map`: the tag map was read).
    /// `row_base`: the file's rows before the batch.
    fn fold_batch(
        &mut self,
        totals: &mut Totals,
        n: usize,
        tag_map: bool,
        row_base: u64,
    ) -> Result<(), CurError> {
        for row in 0..n {
            let at = row_base + row as u64 + 1;
            if !self.in_month(row) {
                continue;
            }
            if !self.in_scope(row, tag_map) {
                totals.outside_scope += 1;
                continue;
            }
            let (usd, quantity) = (self.number(1, row, at)?, self.number(2, row, at)?);
            self.add(totals, row, quantity, usd);
        }
        for s in self.sums.drain(..) {
            if s.rows > 0 {
                let usage_type = bytes(&self.cells[0][s.row]);
                totals.add_sum(usage_type, s.rows, s.quantity, s.usd);
            }
        }
        Ok(())
    }

    /// Whether the row starts in the month rows are kept by (any row, without one or
    /// without a usage start column).
    fn in_month(&self, row: usize) -> bool {
        let (Some(start), Some(m)) = (self.columns.start, self.filter.month) else {
            return true;
        };
        let m = m.as_bytes();
        match &self.cells[start][row] {
            Cell::Bytes(b) => b.data().starts_with(m),
            Cell::Month(ym) => ym[..] == m[..m.len().min(7)],
            _ => false,
        }
    }

    /// Whether the row carries the tag rows are kept by (any row, without one): in the
    /// tag's own column, or in CUR 2.0's map (`tag_map`: read for this batch).
    fn in_scope(&self, row: usize, tag_map: bool) -> bool {
        let Some(name) = self.filter.tag else {
            return true;
        };
        match self.columns.flat_tag {
            Some(i) => matches!(&self.cells[i][row], Cell::Bytes(b) if b.data() == name.as_bytes()),
            None => tag_map && self.tagged.get(row) == Some(&true),
        }
    }

    /// Column `col`'s value in the row as a CUR number: null is zero; a value that is
    /// not a finite number is an error naming the row, `at` in the file.
    fn number(&self, col: usize, row: usize, at: u64) -> Result<f64, CurError> {
        let cell = &self.cells[col][row];
        let value = match cell {
            Cell::Null => return Ok(0.0),
            Cell::Number(x) => Some(*x),
            Cell::Bytes(b) => std::str::from_utf8(b.data())
                .ok()
                .and_then(|s| s.trim().parse::<f64>().ok()),
            Cell::Month(_) => None,
        };
        value.filter(|x| x.is_finite()).ok_or_else(|| {
            bad(
                self.path,
                format!(
                    "row {at}: {} is not a finite number: {}",
                    self.columns.wanted[col].name,
                    match cell {
                        Cell::Bytes(b) => format!("{:?}", String::from_utf8_lossy(b.data())),
                        Cell::Number(x) => x.to_string(),
                        _ => "a date".into(),
                    }
                ),
            )
        })
    }

    /// Adds the row to its usage type's sum in the batch, or to `totals` when its type
    /// is counted per resource or the sums are full.
    fn add(&mut self, totals: &mut Totals, row: usize, quantity: f64, usd: f64) {
        let resource = match self.columns.resource {
            Some(i) => bytes(&self.cells[i][row]),
            None => &[],
        };
        // Values of a dictionary-encoded column share their dictionary entry's
        // bytes: rows of one usage type are summed here by that address, and
        // folded into the totals once per batch, not hashed row by row.
        let usage_type = bytes(&self.cells[0][row]);
        let key = (usage_type.as_ptr() as usize, usage_type.len());
        let slot = match self.sums.iter().position(|s| s.key == key) {
            Some(i) => Some(i),
            None if self.sums.len() < MAX_SUMS => {
                let per_resource = totals.per_resource(usage_type);
                self.sums.push(Sum {
                    key,
                    row,
                    per_resource,
                    rows: 0,
                    quantity: 0.0,
                    usd: 0.0,
                });
                Some(self.sums.len() - 1)
            }
            None => None,
        };
        match slot.map(|i| &mut self.sums[i]) {
            Some(s) if !s.per_resource => {
                s.rows += 1;
                s.quantity += quantity;
                s.usd += usd;
            }
            _ => totals.add(usage_type, resource, quantity, usd),
        }
    }
}

/// A cell's bytes: none unless it holds bytes.
fn bytes(cell: &Cell) -> &[u8] {
    match cell {
        Cell::Bytes(b) => b.data(),
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_since_the_epoch_give_year_and_month() {
        assert_eq!(&year_month(0), b"1970-01");
        assert_eq!(&year_month(20_757), b"2026-10"); // 2026-10-31
        assert_eq!(&year_month(20_758), b"2026-11"); // 2026-11-01
        assert_eq!(&year_month(-1), b"1969-12");
        assert_eq!(&year_month(11_016), b"2000-02"); // 2000-02-29
    }
}
