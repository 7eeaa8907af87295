//! CUR files in CSV (plain or gzip), read twice over if need be: first by simd-csv's
//! zero-copy reader ([`fast`]), and when that finds anything wrong, or quoting the two
//! readers could split differently, again by the `csv` crate's reader ([`exact`]),
//! which names the line of every error. Both fold records through [`columns`].

use std::io::Read;
use std::path::Path;

mod columns;
mod exact;
mod fast;

use super::io::{Bounded, Counted, Inflated, Shared};
use super::{CurError, Filter, Totals};
use exact::read_csv_exact;
use fast::read_csv_fast;

/// Reads one CSV or gzip CSV file into `totals`.
pub(super) fn read_into(
    totals: &mut Totals,
    path: &Path,
    filter: Filter<'_>,
) -> Result<(), CurError> {
    read_csv(totals, path, filter, None, Inflate::Inline)
}

/// Where gzip data is inflated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Inflate {
    /// On the thread that parses it.
    Inline,
    /// On a thread of its own, a part ahead of the parser: for a gzip file read while
    /// cores are left over.
    Apart,
}

/// A byte range of a plain CSV file that starts at a record boundary, with what
/// reading it needs and the range does not hold: the header, and the lines before it.
#[derive(Debug, Clone)]
pub(super) struct Chunk {
    pub(super) start: u64,
    pub(super) len: u64,
    pub(super) lines_before: u64,
    pub(super) headers: csv::ByteRecord,
}

/// Reads a CSV file, or one chunk of a plain one, into `totals`: with the SIMD
/// tokenizer, and when that finds anything wrong (a number, a record's length, the
/// data), again with the `csv` crate's reader, which says where. `inflate` says where the
/// first reader's gzip data is decompressed (the second's inline).
pub(super) fn read_csv(
    totals: &mut Totals,
    path: &Path,
    filter: Filter<'_>,
    chunk: Option<&Chunk>,
    inflate: Inflate,
) -> Result<(), CurError> {
    let mut fast = Totals::default();
    if read_csv_fast(&mut fast, path, filter, chunk, inflate).is_some() {
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

fn open_csv(path: &Path, chunk: Option<&Chunk>, inflate: Inflate) -> Result<CsvInput, CurError> {
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
    } else if gzip && inflate == Inflate::Apart {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cost::cur::read;

    /// Both CSV readers on one file: (fast, exact).
    fn both_csv(path: &Path, filter: Filter<'_>) -> (Option<Totals>, Result<Totals, CurError>) {
        let mut fast = Totals::default();
        let fast = read_csv_fast(&mut fast, path, filter, None, Inflate::Inline).map(|()| fast);
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
}
