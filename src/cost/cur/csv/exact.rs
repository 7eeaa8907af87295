//! The exact CSV reader: the `csv` crate's, which locates every error (the line, the
//! column, or the byte of the compressed file).

use std::path::Path;

use super::columns::CsvColumns;
use super::{Chunk, CsvInput, Inflate, open_csv};
use crate::cost::cur::{CurError, Filter, Totals};

/// [`read_csv`](super::read_csv) with the `csv` crate's reader, which gives every error
/// its line.
pub(super) fn read_csv_exact(
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
    } = open_csv(path, chunk, Inflate::Inline)?;
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
        let line = match e.position() {
            Some(p) => lines_before + p.line(),
            // Not a CSV error but a read error: in gzip data, or of the file itself.
            None if gzip && matches!(e.kind(), csv::ErrorKind::Io(_)) => {
                let csv::ErrorKind::Io(source) = e.into_kind() else {
                    unreachable!("an I/O error, matched above")
                };
                return CurError::Gzip {
                    path: path.to_owned(),
                    offset: compressed.get(),
                    source,
                };
            }
            None => lines_before + lines.get() + 1,
        };
        CurError::Csv {
            path: path.to_owned(),
            line,
            source: e,
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use crate::cost::cur::{CurError, read};

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
