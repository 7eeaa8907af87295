//! Row groups read below the parquet crate's column API, for speed. What Data Exports,
//! Athena, Spark and pyarrow write (strings dictionary-encoded; numbers and timestamps
//! dictionary-encoded or plain; RLE levels; data pages v1 or v2) is decoded page by
//! page, strings stay dictionary indices, and rows are summed per entry of the
//! usage-type dictionary: each entry's bytes are looked at once per row group, not once
//! per row.
//!
//! Anything else (another encoding, a chunk that falls back from its dictionary to
//! plain strings, a number that is not finite, a damaged page) makes [`read_group`]
//! give up on the row group without having counted any of it, and the caller reads it
//! through the column API, which handles every encoding and names the bad row or page.

use bytes::Bytes;
use parquet::basic::{Encoding, Type as PhysicalType};
use parquet::column::page::{Page, PageReader};
use parquet::errors::{ParquetError, Result};
use parquet::file::reader::RowGroupReader;

use super::super::{TAG_KEY_V2, Totals, counted_per_resource};
use super::hybrid::Hybrid;
use super::{BATCH, Kind, Wanted};

/// Cells of the dense per-resource sums beyond which a row group is left to the column
/// API (a resource dictionary that large is rare: writers fall back to plain strings).
const MAX_DENSE: usize = 1 << 20;

/// What [`read_group`] reads and keeps: the columns of `read_groups`, as it found them.
pub(super) struct Plan<'a> {
    pub usage_type: &'a Wanted,
    pub cost: &'a Wanted,
    pub amount: &'a Wanted,
    pub resource: Option<&'a Wanted>,
    /// The usage start and the month (`YYYY-MM`) rows must start in.
    pub month: Option<(&'a Wanted, &'a [u8])>,
    /// The tag value rows must carry, and where it is.
    pub tag: Option<(TagColumn<'a>, &'a [u8])>,
}

pub(super) enum TagColumn<'a> {
    Flat(&'a Wanted),
    /// CUR 2.0's `resource_tags` map: its key and value leaves (index, max definition).
    Map((usize, i16), (usize, i16)),
    /// No column carries the tag: no row is in scope.
    Absent,
}

/// The bits of a NaN: what a number index past its dictionary reads as.
const NAN: u64 = 0x7ff8_0000_0000_0000;

fn unsupported(what: &str) -> ParquetError {
    ParquetError::General(format!("not on the fast path: {what}"))
}

/// A column chunk's dictionary: byte strings as ranges of its page, or fixed-width
/// values as their bits.
enum Dict {
    Bytes(Bytes, Vec<(usize, usize)>),
    Fixed(Vec<u64>),
}

enum Values {
    Dict(Hybrid),
    /// Plain fixed-width values and how far they have been read.
    Plain(Bytes, usize),
}

struct PageState {
    /// Levels (values, nulls included) not read yet.
    left: usize,
    reps: Option<Hybrid>,
    defs: Option<Hybrid>,
    values: Values,
}

/// One column chunk, read level by level across its pages.
struct Column {
    pages: Box<dyn PageReader>,
    /// Byte strings (values are dictionary indices) or 8-byte numbers (values are bits).
    strings: bool,
    max_def: u32,
    max_rep: u32,
    /// The chunk's statistics say it has no nulls: definition levels are not decoded.
    no_nulls: bool,
    dict: Option<Dict>,
    page: Option<PageState>,
    indices: Vec<u32>,
}

fn level_width(max: u32) -> u8 {
    (32 - max.leading_zeros()) as u8
}

fn rle(width: u8, data: Bytes) -> Result<Hybrid> {
    Hybrid::new(width, data).ok_or_else(|| unsupported("values wider than 32 bits"))
}

impl Column {
    fn open(group: &dyn RowGroupReader, index: usize, max_def: i16, max_rep: i16) -> Result<Self> {
        let meta = group.metadata().column(index);
        let no_nulls = max_rep == 0
            && meta
                .statistics()
                .is_some_and(|s| s.null_count_opt() == Some(0));
        let strings = match meta.column_type() {
            PhysicalType::BYTE_ARRAY => true,
            PhysicalType::DOUBLE | PhysicalType::INT64 => false,
            other => return Err(unsupported(&format!("{other} column"))),
        };
        Ok(Column {
            pages: group.get_column_page_reader(index)?,
            strings,
            max_def: max_def.max(0) as u32,
            max_rep: max_rep.max(0) as u32,
            no_nulls,
            dict: None,
            page: None,
            indices: Vec::new(),
        })
    }

    /// Dictionary entries; the index of a null string is this number.
    fn entries(&self) -> usize {
        match &self.dict {
            Some(Dict::Bytes(_, at)) => at.len(),
            Some(Dict::Fixed(v)) => v.len(),
            None => 0,
        }
    }

    /// A string entry's bytes; the null index (and any other) gives none.
    fn entry(&self, index: usize) -> &[u8] {
        match &self.dict {
            Some(Dict::Bytes(buf, at)) => at.get(index).map_or(&[], |&(s, l)| &buf[s..s + l]),
            _ => &[],
        }
    }

    /// Whether each string entry passes `f`, with `false` for the null index after them.
    fn flags(&self, f: impl Fn(&[u8]) -> bool) -> Vec<bool> {
        let mut out: Vec<bool> = (0..self.entries()).map(|i| f(self.entry(i))).collect();
        out.push(false);
        out
    }

    fn load_dict(&mut self, buf: Bytes, n: usize, encoding: Encoding) -> Result<()> {
        if !matches!(encoding, Encoding::PLAIN | Encoding::PLAIN_DICTIONARY) || self.dict.is_some()
        {
            return Err(unsupported("dictionary page"));
        }
        let short = || ParquetError::EOF("dictionary page shorter than its entries".into());
        self.dict = Some(if self.strings {
            let mut at = Vec::with_capacity(n.min(buf.len() / 4));
            let mut i = 0;
            for _ in 0..n {
                let len = buf.get(i..i + 4).ok_or_else(short)?;
                let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
                i += 4;
                if buf.len() - i < len {
                    return Err(short());
                }
                at.push((i, len));
                i += len;
            }
            Dict::Bytes(buf, at)
        } else {
            let bytes = buf
                .get(..n.checked_mul(8).ok_or_else(short)?)
                .ok_or_else(short)?;
            Dict::Fixed(
                bytes
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect(),
            )
        });
        Ok(())
    }

    fn values(&self, encoding: Encoding, buf: Bytes) -> Result<Values> {
        match encoding {
            Encoding::RLE_DICTIONARY | Encoding::PLAIN_DICTIONARY => {
                let width = *buf.first().unwrap_or(&0);
                if self.dict.is_none() || width > 32 {
                    return Err(unsupported("dictionary indices without a dictionary"));
                }
                Ok(Values::Dict(rle(width, buf.slice(1..))?))
            }
            // Plain strings (a dictionary that overflowed) take the column API; a page
            // of nulls only has no values to decode.
            Encoding::PLAIN => Ok(Values::Plain(buf, 0)),
            other => Err(unsupported(&format!("{other} values"))),
        }
    }

    /// Moves to the next data page, reading a dictionary page on the way; `false` at the
    /// end of the chunk.
    fn next_page(&mut self) -> Result<bool> {
        loop {
            let Some(page) = self.pages.next().transpose()? else {
                return Ok(false);
            };
            let short = || ParquetError::EOF("levels longer than their page".into());
            let state = match page {
                Page::DictionaryPage {
                    buf,
                    num_values,
                    encoding,
                    ..
                } => {
                    self.load_dict(buf, num_values as usize, encoding)?;
                    continue;
                }
                Page::DataPage {
                    buf,
                    num_values,
                    encoding,
                    def_level_encoding,
                    rep_level_encoding,
                    statistics,
                } => {
                    let no_nulls = self.no_nulls
                        || self.max_rep == 0
                            && statistics.is_some_and(|s| s.null_count_opt() == Some(0));
                    let mut at = 0;
                    let mut levels = |max: u32, encoding: Encoding| -> Result<_> {
                        if max == 0 {
                            return Ok(None);
                        }
                        if encoding != Encoding::RLE {
                            return Err(unsupported(&format!("{encoding} levels")));
                        }
                        let len = buf.get(at..at + 4).ok_or_else(short)?;
                        let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
                        let data = buf.get(at + 4..at + 4 + len).ok_or_else(short)?;
                        let data = buf.slice_ref(data);
                        at += 4 + len;
                        Ok(Some(rle(level_width(max), data)?))
                    };
                    let reps = levels(self.max_rep, rep_level_encoding)?;
                    // A flat page without nulls (its own or its chunk's statistics say
                    // so): every level is the maximum and need not be decoded.
                    let defs = levels(self.max_def, def_level_encoding)?.filter(|_| !no_nulls);
                    PageState {
                        left: num_values as usize,
                        reps,
                        defs,
                        values: self.values(encoding, buf.slice(at..))?,
                    }
                }
                Page::DataPageV2 {
                    buf,
                    num_values,
                    encoding,
                    num_nulls,
                    def_levels_byte_len,
                    rep_levels_byte_len,
                    ..
                } => {
                    let no_nulls = self.no_nulls || self.max_rep == 0 && num_nulls == 0;
                    let (r, d) = (rep_levels_byte_len as usize, def_levels_byte_len as usize);
                    if buf.len() < r + d {
                        return Err(short());
                    }
                    let level = |max: u32, data: Bytes| -> Result<_> {
                        (max > 0).then(|| rle(level_width(max), data)).transpose()
                    };
                    PageState {
                        left: num_values as usize,
                        reps: level(self.max_rep, buf.slice(..r))?,
                        defs: level(self.max_def, buf.slice(r..r + d))?.filter(|_| !no_nulls),
                        values: self.values(encoding, buf.slice(r + d..))?,
                    }
                }
            };
            self.page = Some(state);
            return Ok(true);
        }
    }

    /// Reads up to `n` levels, crossing pages: appends their repetition levels to
    /// `reps` (repeated columns), their definition levels to `defs` (optional ones;
    /// none when no page read has nulls), and for each present value its dictionary index (strings) or its bits (numbers)
    /// to `values`. Fewer than `n` only at the end of the chunk.
    fn read(
        &mut self,
        n: usize,
        reps: &mut Vec<u32>,
        defs: &mut Vec<u32>,
        values: &mut Vec<u64>,
    ) -> Result<usize> {
        let early = || ParquetError::EOF("a page ends before its values".into());
        let first_def = defs.len();
        let mut got = 0;
        while got < n {
            if self.page.as_ref().is_none_or(|p| p.left == 0) && !self.next_page()? {
                break;
            }
            let page = self.page.as_mut().expect("a page");
            let k = (n - got).min(page.left);
            // Pages without nulls decode no levels. Once a page of this read has some,
            // the levels of those pages are the maximum, so `defs` stays one per level.
            let decodes_defs = page.defs.is_some();
            if decodes_defs && defs.len() < first_def + got {
                defs.resize(first_def + got, self.max_def);
            }
            let levels = |d: &mut Option<Hybrid>, into: &mut Vec<u32>| -> Result<_> {
                let Some(d) = d else { return Ok(None) };
                let s = into.len();
                into.resize(s + k, 0);
                if d.get_batch(&mut into[s..]) != k {
                    return Err(early());
                }
                Ok(Some(s))
            };
            levels(&mut page.reps, reps)?;
            let present = match levels(&mut page.defs, defs)? {
                Some(s) => defs[s..].iter().filter(|&&d| d == self.max_def).count(),
                None => k,
            };
            if !decodes_defs && defs.len() > first_def {
                defs.resize(first_def + got + k, self.max_def);
            }
            match &mut page.values {
                Values::Dict(d) => {
                    self.indices.resize(present, 0);
                    if d.get_batch(&mut self.indices) != present {
                        return Err(early());
                    }
                    match &self.dict {
                        // An index past the dictionary reads as NaN: the sums are then
                        // not finite, and the row group goes to the column API.
                        Some(Dict::Fixed(v)) => values.extend(
                            self.indices
                                .iter()
                                .map(|&i| v.get(i as usize).copied().unwrap_or(NAN)),
                        ),
                        Some(Dict::Bytes(_, at)) => {
                            let entries = at.len();
                            if self.indices.iter().any(|&i| i as usize >= entries) {
                                return Err(ParquetError::General(
                                    "index past the dictionary".into(),
                                ));
                            }
                            values.extend(self.indices.iter().map(|&i| u64::from(i)))
                        }
                        None => return Err(unsupported("dictionary indices without a dictionary")),
                    }
                }
                Values::Plain(_, _) if self.strings && present > 0 => {
                    return Err(unsupported("plain strings"));
                }
                Values::Plain(buf, at) => {
                    let bytes = buf.get(*at..*at + present * 8).ok_or_else(early)?;
                    values.extend(
                        bytes
                            .chunks_exact(8)
                            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))),
                    );
                    *at += present * 8;
                }
            }
            page.left -= k;
            got += k;
        }
        Ok(got)
    }
}

/// A flat column read row by row: one value per row, nulls as the null index (strings)
/// or zero (numbers).
struct Rows {
    column: Column,
    defs: Vec<u32>,
    present: Vec<u64>,
    /// This batch's values.
    values: Vec<u64>,
}

impl Rows {
    fn open(group: &dyn RowGroupReader, w: &Wanted) -> Result<Self> {
        Ok(Rows {
            column: Column::open(group, w.index, w.max_def, 0)?,
            defs: Vec::new(),
            present: Vec::new(),
            values: Vec::new(),
        })
    }

    fn batch(&mut self, n: usize) -> Result<usize> {
        self.defs.clear();
        self.values.clear();
        let k = self
            .column
            .read(n, &mut Vec::new(), &mut self.defs, &mut self.values)?;
        if self.values.len() < k {
            // Some nulls: spread the present values over their rows.
            std::mem::swap(&mut self.values, &mut self.present);
            let null = match self.column.strings {
                true => self.column.entries() as u64,
                false => 0,
            };
            let mut present = self.present.iter();
            self.values.clear();
            self.values
                .extend(self.defs.iter().map(|&d| match d == self.column.max_def {
                    true => present.next().copied().unwrap_or(null),
                    false => null,
                }));
        }
        if self.values.len() != k {
            return Err(ParquetError::General("levels and values disagree".into()));
        }
        Ok(k)
    }
}

/// CUR 2.0's `resource_tags` map, read record by record from its two leaves.
struct MapTag {
    keys: Column,
    values: Column,
    name: Vec<u8>,
    key_hit: Vec<bool>,
    value_hit: Vec<bool>,
    reps: Vec<u32>,
    kdefs: Vec<u32>,
    vdefs: Vec<u32>,
    kvals: Vec<u64>,
    vvals: Vec<u64>,
    /// Read positions in the levels, key values and value values.
    at: (usize, usize, usize),
    /// Whether the record being read carries the tag.
    open: Option<bool>,
}

impl MapTag {
    /// Whether each of the next `n` records carries the tag, into `out`.
    fn batch(&mut self, n: usize, out: &mut Vec<bool>) -> Result<()> {
        out.clear();
        let disagree = || ParquetError::General("resource_tags keys and values disagree".into());
        loop {
            if self.at.0 == self.reps.len() {
                for v in [&mut self.reps, &mut self.kdefs, &mut self.vdefs] {
                    v.clear();
                }
                self.kvals.clear();
                self.vvals.clear();
                self.at = (0, 0, 0);
                let k = self
                    .keys
                    .read(BATCH, &mut self.reps, &mut self.kdefs, &mut self.kvals)?;
                let v =
                    self.values
                        .read(BATCH, &mut Vec::new(), &mut self.vdefs, &mut self.vvals)?;
                if k != v {
                    return Err(disagree());
                }
                if k == 0 {
                    out.extend(self.open.take());
                    break;
                }
                if self.key_hit.len() != self.keys.entries() + 1 {
                    self.key_hit = self.keys.flags(|k| k == TAG_KEY_V2.as_bytes());
                }
                if self.value_hit.len() != self.values.entries() + 1 {
                    let name = std::mem::take(&mut self.name);
                    self.value_hit = self.values.flags(|v| v == name);
                    self.name = name;
                }
            }
            while self.at.0 < self.reps.len() {
                let j = self.at.0;
                if self.reps[j] == 0 {
                    if let Some(done) = self.open.take() {
                        out.push(done);
                        if out.len() == n {
                            return Ok(());
                        }
                    }
                    self.open = Some(false);
                }
                let key = (self.kdefs[j] == self.keys.max_def).then(|| {
                    self.at.1 += 1;
                    self.kvals.get(self.at.1 - 1)
                });
                let value = (self.vdefs[j] == self.values.max_def).then(|| {
                    self.at.2 += 1;
                    self.vvals.get(self.at.2 - 1)
                });
                let hit = |v: Option<Option<&u64>>, flags: &[bool]| match v {
                    Some(Some(&i)) => Ok(flags.get(i as usize).copied().unwrap_or(false)),
                    Some(None) => Err(disagree()),
                    None => Ok(false),
                };
                let open = self.open.as_mut().ok_or_else(disagree)?;
                if hit(key, &self.key_hit)? && hit(value, &self.value_hit)? {
                    *open = true;
                }
                self.at.0 += 1;
            }
        }
        match out.len() == n {
            true => Ok(()),
            false => Err(disagree()),
        }
    }
}

/// One usage type's rows (or one resource's, for types counted per resource).
#[derive(Clone, Copy, Default)]
struct Sum {
    rows: u64,
    quantity: f64,
    usd: f64,
}

impl Sum {
    #[inline]
    fn add(&mut self, quantity: u64, usd: u64) {
        self.rows += 1;
        self.quantity += f64::from_bits(quantity);
        self.usd += f64::from_bits(usd);
    }
}

/// Days from 1970-01-01 to the first of a month (Howard Hinnant's algorithm).
fn first_of_month(year: i64, month: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

/// The month `YYYY-MM` as a range of timestamps in units of `per_day`.
fn month_range(month: &[u8], per_day: i64) -> Option<(i64, i64)> {
    let text = std::str::from_utf8(month.get(..7)?).ok()?;
    let (y, m) = text.split_once('-')?;
    let (y, m): (i64, i64) = (y.parse().ok()?, m.parse().ok()?);
    if y.to_string().len() != 4 || !(1..=12).contains(&m) {
        return None;
    }
    let next = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    Some((
        first_of_month(y, m).checked_mul(per_day)?,
        first_of_month(next.0, next.1).checked_mul(per_day)?,
    ))
}

/// Which rows start in the month: by the usage start's dictionary entries (string
/// dates) or by its range of timestamps.
enum Month {
    /// String dates: which dictionary entries start with the month.
    Prefix(Rows, Vec<bool>, Vec<u8>),
    Range(Rows, i64, i64),
}

impl Month {
    fn open(group: &dyn RowGroupReader, month: Option<(&Wanted, &[u8])>) -> Result<Option<Self>> {
        let Some((w, m)) = month else {
            return Ok(None);
        };
        Ok(Some(match w.kind {
            Kind::Bytes => Month::Prefix(Rows::open(group, w)?, Vec::new(), m.to_vec()),
            Kind::Timestamp(per_day) => {
                let (lo, hi) = month_range(m, per_day).ok_or_else(|| unsupported("month"))?;
                Month::Range(Rows::open(group, w)?, lo, hi)
            }
            _ => return Err(unsupported("usage start type")),
        }))
    }

    /// Reads the batch's `n` usage starts; rows of another month get 0 in `keep`.
    fn keep(&mut self, n: usize, keep: &mut Vec<u8>) -> Result<()> {
        keep.resize(n, 2);
        match self {
            Month::Prefix(rows, flags, prefix) => {
                same_length(n, rows.batch(BATCH)?)?;
                if flags.len() != rows.column.entries() + 1 {
                    *flags = rows.column.flags(|d| d.starts_with(prefix));
                }
                for (k, &v) in keep.iter_mut().zip(&rows.values) {
                    *k *= u8::from(flags.get(v as usize) == Some(&true));
                }
            }
            Month::Range(rows, lo, hi) => {
                same_length(n, rows.batch(BATCH)?)?;
                // A null start (zero after `batch`) is in no month.
                for (i, (k, &v)) in keep.iter_mut().zip(&rows.values).enumerate() {
                    let v = v as i64;
                    let there = rows.defs.is_empty() || rows.defs[i] == rows.column.max_def;
                    *k *= u8::from(there && *lo <= v && v < *hi);
                }
            }
        }
        Ok(())
    }
}

/// Which rows carry the tag: by the tag column's dictionary entries, by CUR 2.0's map,
/// or none (no column carries it).
enum Tag {
    Flat(Box<Rows>, Vec<bool>, Vec<u8>),
    Map(Box<MapTag>, Vec<bool>),
    Absent,
}

impl Tag {
    fn open(
        group: &dyn RowGroupReader,
        tag: &Option<(TagColumn<'_>, &[u8])>,
    ) -> Result<Option<Self>> {
        Ok(match tag {
            None => None,
            Some((TagColumn::Flat(w), name)) => {
                if !matches!(w.kind, Kind::Bytes) {
                    return Err(unsupported("tag type"));
                }
                Some(Tag::Flat(
                    Box::new(Rows::open(group, w)?),
                    Vec::new(),
                    name.to_vec(),
                ))
            }
            Some((TagColumn::Map((k, kd), (v, vd)), name)) => Some(Tag::Map(
                Box::new(MapTag {
                    keys: Column::open(group, *k, *kd, 1)?,
                    values: Column::open(group, *v, *vd, 1)?,
                    name: name.to_vec(),
                    key_hit: Vec::new(),
                    value_hit: Vec::new(),
                    reps: Vec::new(),
                    kdefs: Vec::new(),
                    vdefs: Vec::new(),
                    kvals: Vec::new(),
                    vvals: Vec::new(),
                    at: (0, 0, 0),
                    open: None,
                }),
                Vec::new(),
            )),
            Some((TagColumn::Absent, _)) => Some(Tag::Absent),
        })
    }

    /// Reads the batch's `n` tags; counted rows (2 in `keep`, made all 2 when empty)
    /// without the tag get 1: outside the scope.
    fn keep(&mut self, n: usize, keep: &mut Vec<u8>) -> Result<()> {
        if keep.is_empty() {
            keep.resize(n, 2);
        }
        match self {
            Tag::Flat(rows, flags, name) => {
                same_length(n, rows.batch(BATCH)?)?;
                if flags.len() != rows.column.entries() + 1 {
                    *flags = rows.column.flags(|v| v == name);
                }
                let f: &[bool] = flags;
                mark_untagged(keep, rows.values.iter().map(|&v| f[v as usize]));
            }
            Tag::Map(map, tagged) => {
                map.batch(n, tagged)?;
                mark_untagged(keep, tagged.iter().copied());
            }
            Tag::Absent => mark_untagged(keep, std::iter::repeat(false)),
        }
        Ok(())
    }
}

/// Counted rows (2 in `keep`) that `tagged` says lack the tag get 1: outside the scope.
fn mark_untagged(keep: &mut [u8], tagged: impl Iterator<Item = bool>) {
    for (k, t) in keep.iter_mut().zip(tagged) {
        if *k == 2 && !t {
            *k = 1;
        }
    }
}

fn same_length(n: usize, m: usize) -> Result<()> {
    match m == n {
        true => Ok(()),
        false => Err(ParquetError::General("columns of unequal length".into())),
    }
}

/// Reads one row group into new totals, or `None` when the fast path cannot (see the
/// module's note): the caller then reads it through the column API.
pub(super) fn read_group(group: &dyn RowGroupReader, plan: &Plan<'_>) -> Option<Totals> {
    read(group, plan).ok()
}

fn read(group: &dyn RowGroupReader, plan: &Plan<'_>) -> Result<Totals> {
    let mut sums = GroupSums::open(group, plan)?;
    loop {
        let n = sums.read_batch()?;
        if n == 0 {
            break;
        }
        sums.add_batch(n)?;
    }
    sums.into_totals()
}

/// One row group on the fast path: its columns, and its rows summed so far.
struct GroupSums {
    types: Rows,
    costs: Rows,
    amounts: Rows,
    /// Read only when a usage type of the row group is counted per resource.
    resources: Option<Rows>,
    month: Option<Month>,
    tag: Option<Tag>,
    /// Per usage-type entry (the null index last): its sum, and for types counted per
    /// resource, its row in the dense per-resource sums (`width` sums each, one per
    /// resource entry and the null index). Made at the first batch.
    sums: Vec<Sum>,
    slot: Vec<u32>,
    by_resource: Vec<Sum>,
    width: usize,
    outside_scope: u64,
    /// Per row of the batch: 0 left out (another month), 1 outside the scope, 2
    /// counted; empty when every row counts.
    keep: Vec<u8>,
}

impl GroupSums {
    fn open(group: &dyn RowGroupReader, plan: &Plan<'_>) -> Result<Self> {
        let kinds_ok = matches!(plan.usage_type.kind, Kind::Bytes)
            && matches!(plan.cost.kind, Kind::Double)
            && matches!(plan.amount.kind, Kind::Double)
            && plan.resource.is_none_or(|r| matches!(r.kind, Kind::Bytes));
        if !kinds_ok {
            return Err(unsupported("column types"));
        }
        Ok(GroupSums {
            types: Rows::open(group, plan.usage_type)?,
            costs: Rows::open(group, plan.cost)?,
            amounts: Rows::open(group, plan.amount)?,
            resources: plan.resource.map(|r| Rows::open(group, r)).transpose()?,
            month: Month::open(group, plan.month)?,
            tag: Tag::open(group, &plan.tag)?,
            sums: Vec::new(),
            slot: Vec::new(),
            by_resource: Vec::new(),
            width: 0,
            outside_scope: 0,
            keep: Vec::new(),
        })
    }

    /// Reads the next batch of every column and marks in `keep` which of its rows
    /// count: how many rows, 0 at the end of the row group.
    fn read_batch(&mut self) -> Result<usize> {
        let n = self.types.batch(BATCH)?;
        same_length(n, self.costs.batch(BATCH)?)?;
        same_length(n, self.amounts.batch(BATCH)?)?;
        if self.sums.is_empty() {
            self.make_sums(n)?;
        } else if let Some(r) = &mut self.resources {
            same_length(n, r.batch(BATCH)?)?;
        }
        self.keep.clear();
        if let Some(m) = &mut self.month {
            m.keep(n, &mut self.keep)?;
        }
        if let Some(t) = &mut self.tag {
            t.keep(n, &mut self.keep)?;
        }
        Ok(n)
    }

    /// Makes the sums at the first batch (of `n` rows), the dictionaries being known
    /// once a page is read; reads the resources' first batch when a usage type is
    /// counted per resource, and drops the column when none is.
    fn make_sums(&mut self, n: usize) -> Result<()> {
        let entries = self.types.column.entries();
        self.sums = vec![Sum::default(); entries + 1];
        let per_resource: Vec<usize> = (0..entries)
            .filter(|&i| counted_per_resource(self.types.column.entry(i)))
            .collect();
        self.slot = vec![u32::MAX; entries + 1];
        if !per_resource.is_empty() {
            if let Some(r) = &mut self.resources {
                same_length(n, r.batch(BATCH)?)?;
            }
            self.width = self.resources.as_ref().map_or(0, |r| r.column.entries()) + 1;
            if per_resource.len() * self.width > MAX_DENSE {
                return Err(unsupported("resource dictionary size"));
            }
            for (k, &i) in per_resource.iter().enumerate() {
                self.slot[i] = k as u32;
            }
            self.by_resource = vec![Sum::default(); per_resource.len() * self.width];
        } else {
            // No type here is counted per resource: the column is not read at all.
            self.resources = None;
        }
        Ok(())
    }

    /// Adds each counted row of the batch's `n` to its usage type's sum, or its
    /// resource's, and counts the rows outside the scope.
    fn add_batch(&mut self, n: usize) -> Result<()> {
        // Indices are checked against their dictionary as they are read; a dictionary
        // that changed size since the sums were made is not one the sums fit.
        let res_entries = self.resources.as_ref().map_or(0, |r| r.column.entries());
        if self.sums.len() != self.types.column.entries() + 1
            || (!self.by_resource.is_empty() && self.width != res_entries + 1)
        {
            return Err(unsupported("a dictionary after data pages"));
        }
        let (t, q, u) = (
            &self.types.values[..n],
            &self.amounts.values[..n],
            &self.costs.values[..n],
        );
        let res: &[u64] = self.resources.as_ref().map_or(&[], |r| &r.values);
        let (sums, slot, by_resource, width) = (
            &mut self.sums,
            &self.slot,
            &mut self.by_resource,
            self.width,
        );
        // Row `i` into its usage type's sum, or its resource's.
        macro_rules! add {
            ($i:expr) => {{
                let i = $i;
                let ty = t[i] as usize;
                match slot[ty] {
                    u32::MAX => sums[ty].add(q[i], u[i]),
                    s => {
                        let r = res.get(i).map_or(width - 1, |&r| r as usize);
                        by_resource[s as usize * width + r].add(q[i], u[i]);
                    }
                }
            }};
        }
        if self.keep.is_empty() {
            for i in 0..n {
                add!(i);
            }
        } else {
            for (i, &k) in self.keep.iter().enumerate() {
                if k != 2 {
                    self.outside_scope += u64::from(k);
                    continue;
                }
                add!(i);
            }
        }
        Ok(())
    }

    /// The row group's totals, from its sums; an error when a sum is not finite.
    fn into_totals(self) -> Result<Totals> {
        let mut totals = Totals {
            outside_scope: self.outside_scope,
            ..Totals::default()
        };
        let finite = |s: &Sum| s.quantity.is_finite() && s.usd.is_finite();
        let resource_entry = |r: usize| {
            self.resources
                .as_ref()
                .map_or(&[][..], |c| c.column.entry(r))
        };
        let width = self.width;
        for (ty, s) in self.sums.iter().enumerate() {
            let usage_type = self.types.column.entry(ty);
            match self.slot[ty] {
                u32::MAX if s.rows > 0 => {
                    if !finite(s) {
                        return Err(unsupported("a number that is not finite"));
                    }
                    totals.add_sum(usage_type, s.rows, s.quantity, s.usd);
                }
                u32::MAX => {}
                k => {
                    let row = &self.by_resource[k as usize * width..(k as usize + 1) * width];
                    for (r, s) in row.iter().enumerate().filter(|(_, s)| s.rows > 0) {
                        if !finite(s) {
                            return Err(unsupported("a number that is not finite"));
                        }
                        totals.add_resource_sum(
                            usage_type,
                            resource_entry(r),
                            s.rows,
                            s.quantity,
                            s.usd,
                        );
                    }
                }
            }
        }
        Ok(totals)
    }
}
