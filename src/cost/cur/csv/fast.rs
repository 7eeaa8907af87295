//! The fast CSV reader: simd-csv's zero-copy reader, which says nothing of what it finds
//! wrong.

use std::path::Path;

use super::columns::CsvColumns;
use super::{Chunk, Inflate, open_csv};
use crate::cost::cur::{Filter, Totals};

/// [`read_csv`](super::read_csv) with `simd_csv`'s zero-copy reader (about three times
/// the `csv` crate's speed); `None` when anything is wrong, without saying what.
pub(super) fn read_csv_fast(
    totals: &mut Totals,
    path: &Path,
    filter: Filter<'_>,
    chunk: Option<&Chunk>,
    inflate: Inflate,
) -> Option<()> {
    let input = open_csv(path, chunk, inflate).ok()?;
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
