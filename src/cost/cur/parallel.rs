//! Reading CUR files on several threads: whole files, Parquet row groups and ranges of
//! a large plain CSV file (cut at record boundaries) are units of work, each folded into
//! a [`Totals`] of its own by a worker, then merged; with fewer units than threads, a
//! gzip file is inflated on a thread of its own while its worker parses. Memory stays
//! that of one unit per worker; the result is the one [`super::read_filtered`] gives.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::csv::{Chunk, Inflate, read_csv};
use super::guard::guarded;
use super::{CurError, Filter, Totals, parquet};

/// A plain CSV file smaller than this is one unit: cutting it costs more than it saves.
const SPLIT_ABOVE: u64 = 32 << 20;

enum Unit {
    Whole(PathBuf),
    /// A gzip file, decompressed on a thread of its own when cores are left over.
    Gzip(PathBuf),
    Csv(PathBuf, Chunk),
    Parquet(PathBuf, Range<usize>),
}

impl Unit {
    fn path(&self) -> &Path {
        match self {
            Unit::Whole(f) | Unit::Gzip(f) | Unit::Csv(f, _) | Unit::Parquet(f, _) => f,
        }
    }
}

/// Reads a file, a directory of CUR files or an export folder on `threads` threads.
pub fn read_parallel(path: &Path, filter: Filter<'_>, threads: usize) -> Result<Totals, CurError> {
    let threads = threads.max(1);
    let listed = match path.is_dir() {
        true => super::discovery::export_files(path, filter.month)?,
        false => None,
    };
    let files = match listed {
        Some(files) => files,
        None => super::discovery::files(path)?,
    };
    let mut units = Vec::new();
    for f in files {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.ends_with(".parquet") {
            let n = parquet::row_groups(&f)?;
            // About `threads` units per file, whole row groups each.
            let per = n.div_ceil(threads).max(1);
            let mut start = 0;
            while start < n {
                units.push(Unit::Parquet(f.clone(), start..(start + per).min(n)));
                start += per;
            }
            if n == 0 {
                units.push(Unit::Whole(f));
            }
        } else if name.ends_with(".csv") && threads > 1 {
            match chunks(&f, threads)? {
                Some(chunks) => units.extend(chunks.into_iter().map(|c| Unit::Csv(f.clone(), c))),
                None => units.push(Unit::Whole(f)),
            }
        } else if name.ends_with(".gz") {
            units.push(Unit::Gzip(f));
        } else {
            units.push(Unit::Whole(f));
        }
    }
    // One gzip stream inflates on one core: a spare core can inflate while another parses.
    let inflate = match units.len() < threads {
        true => Inflate::Apart,
        false => Inflate::Inline,
    };
    let next = AtomicUsize::new(0);
    let results: Vec<Vec<(usize, Result<Totals, CurError>)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.min(units.len()).max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(unit) = units.get(i) else { break };
                        let mut totals = Totals::default();
                        // A reader that panics on damaged input fails this unit only.
                        let result = guarded(|| match unit {
                            Unit::Whole(f) => super::read_file(&mut totals, f, filter),
                            Unit::Csv(f, c) => {
                                read_csv(&mut totals, f, filter, Some(c), Inflate::Inline)
                            }
                            Unit::Gzip(f) => read_csv(&mut totals, f, filter, None, inflate),
                            Unit::Parquet(f, groups) => {
                                parquet::read_groups(&mut totals, f, filter, Some(groups.clone()))
                            }
                        })
                        .unwrap_or_else(|message| {
                            Err(CurError::Damaged {
                                path: unit.path().to_owned(),
                                message,
                            })
                        });
                        let failed = result.is_err();
                        done.push((i, result.map(|()| totals)));
                        if failed {
                            // The others stop at their next unit.
                            next.store(usize::MAX / 2, Ordering::Relaxed);
                            break;
                        }
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a CUR worker panicked"))
            .collect()
    });
    let mut all: Vec<(usize, Result<Totals, CurError>)> = results.into_iter().flatten().collect();
    // The first unit's error, as a one-thread read would report it.
    all.sort_by_key(|(i, _)| *i);
    let mut totals = Totals::default();
    for (_, r) in all {
        totals.merge(r?);
    }
    Ok(totals)
}

/// Cuts a plain CSV file into about `n` ranges at record boundaries: a line break
/// outside quotes (quote parity is counted over the bytes before each cut, in
/// parallel). `None` when the file is too small to be worth it.
fn chunks(path: &Path, n: usize) -> Result<Option<Vec<Chunk>>, CurError> {
    use std::io::{Read, Seek, SeekFrom};
    let io = |source| CurError::Io {
        path: path.to_owned(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size < SPLIT_ABOVE || n < 2 {
        return Ok(None);
    }
    // The header, and where the first record starts.
    let mut csv = csv::ReaderBuilder::new().from_reader(std::fs::File::open(path).map_err(io)?);
    let headers = match csv.byte_headers() {
        Ok(h) => h.clone(),
        // Let the one-unit reader report it, with its location.
        Err(_) => return Ok(None),
    };
    let mut record = csv::ByteRecord::new();
    let data_start = match csv.read_byte_record(&mut record) {
        Ok(true) => record.position().map_or(0, |p| p.byte()),
        _ => return Ok(None),
    };
    let header_lines = record.position().map_or(1, |p| p.line() - 1);
    drop(csv);
    // Raw cuts, then quotes and line breaks in each segment between them.
    let raw: Vec<u64> = (0..=n as u64)
        .map(|k| data_start + (size - data_start) * k / n as u64)
        .collect();
    let counts: Vec<Result<(u64, u64), std::io::Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = raw
            .windows(2)
            .map(|w| {
                let (from, to) = (w[0], w[1]);
                scope.spawn(move || -> Result<(u64, u64), std::io::Error> {
                    let mut f = std::fs::File::open(path)?;
                    f.seek(SeekFrom::Start(from))?;
                    let mut left = to - from;
                    let mut buf = vec![0u8; 1 << 20];
                    let (mut quotes, mut lines) = (0u64, 0u64);
                    while left > 0 {
                        let want = buf.len().min(left as usize);
                        let got = f.read(&mut buf[..want])?;
                        if got == 0 {
                            break;
                        }
                        quotes += memchr::memchr_iter(b'"', &buf[..got]).count() as u64;
                        lines += memchr::memchr_iter(b'\n', &buf[..got]).count() as u64;
                        left -= got as u64;
                    }
                    Ok((quotes, lines))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a counting thread panicked"))
            .collect()
    });
    let mut cuts = vec![(data_start, header_lines)];
    let (mut quotes, mut lines) = (0u64, header_lines);
    let mut f = std::fs::File::open(path).map_err(io)?;
    for (k, c) in counts.into_iter().enumerate().take(n - 1) {
        let (q, l) = c.map_err(io)?;
        quotes += q;
        lines += l;
        // From the raw cut, the first line break outside quotes.
        let mut in_quotes = quotes % 2 == 1;
        let mut at = raw[k + 1];
        f.seek(SeekFrom::Start(at)).map_err(io)?;
        let mut buf = vec![0u8; 1 << 16];
        let mut extra_lines = 0u64;
        let cut = 'scan: loop {
            let got = f.read(&mut buf).map_err(io)?;
            if got == 0 {
                break 'scan None;
            }
            for i in memchr::memchr2_iter(b'"', b'\n', &buf[..got]) {
                if buf[i] == b'"' {
                    in_quotes = !in_quotes;
                } else {
                    extra_lines += 1;
                    if !in_quotes {
                        break 'scan Some(at + i as u64 + 1);
                    }
                }
            }
            at += got as u64;
        };
        let Some(cut) = cut else { break };
        if cut > cuts.last().map_or(0, |c| c.0) && cut < size {
            cuts.push((cut, lines + extra_lines));
        }
        // The quotes and lines counted past the raw cut belong to the next segment's
        // count already; only the line count up to the cut is kept above.
    }
    let mut out = Vec::new();
    for (i, &(start, lines_before)) in cuts.iter().enumerate() {
        let end = cuts.get(i + 1).map_or(size, |c| c.0);
        out.push(Chunk {
            start,
            len: end - start,
            lines_before,
            headers: headers.clone(),
        });
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CSV of `rows` rows whose quoted fields hold commas, quotes and line breaks.
    fn hostile_csv(path: &Path, rows: usize) {
        use std::io::Write;
        let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        writeln!(w, "lineItem/UsageStartDate,lineItem/LineItemDescription,lineItem/UsageType,lineItem/ResourceId,lineItem/UsageAmount,lineItem/UnblendedCost").unwrap();
        for i in 0..rows {
            let t = [
                "USE1-EU-AWS-Out-Bytes",
                "EU-ReplWriteRequestUnits",
                "APN1-USE1-AWS-Out-Bytes",
            ][i % 3];
            let description = match i % 4 {
                0 => "\"a plain, quoted field\"".to_owned(),
                1 => format!("\"line one\nline two \"\"{i}\"\"\n\""),
                2 => "unquoted".to_owned(),
                _ => "\"\"".to_owned(),
            };
            writeln!(
                w,
                "2026-11-0{}T00:00:00Z,{description},{t},arn:aws:dynamodb:eu-west-1:1:table/t{},{}.5,0.{:03}",
                1 + i % 9,
                i % 5,
                i % 1000,
                i % 997
            )
            .unwrap();
        }
    }

    #[test]
    fn parallel_reading_gives_what_one_thread_gives() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.csv");
        hostile_csv(&p, 600_000); // over SPLIT_ABOVE
        assert!(std::fs::metadata(&p).unwrap().len() > SPLIT_ABOVE);
        let filter = Filter {
            month: Some("2026-11"),
            tag: None,
        };
        let one = super::super::read_filtered(&p, filter).unwrap();
        let cut = chunks(&p, 7).unwrap().unwrap();
        assert_eq!(
            cut.len(),
            7,
            "cuts inside quoted line breaks move to record ends"
        );
        for threads in [2, 3, 7] {
            let many = read_parallel(&p, filter, threads).unwrap();
            assert_eq!(many.rows, one.rows, "{threads} threads");
            let (a, b) = (
                many.into_lines(),
                super::super::read_filtered(&p, filter)
                    .unwrap()
                    .into_lines(),
            );
            assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(&b) {
                assert_eq!((&x.usage_type, &x.resource), (&y.usage_type, &y.resource));
                assert!((x.quantity - y.quantity).abs() < 1e-6 * y.quantity.abs().max(1.0));
                assert!((x.usd - y.usd).abs() < 1e-6 * y.usd.abs().max(1.0));
            }
        }
    }

    #[test]
    fn a_bad_row_in_a_later_chunk_keeps_its_line_number() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.csv");
        hostile_csv(&p, 600_000);
        let mut text = std::fs::read(&p).unwrap();
        // The last record's cost becomes "n/a"; its line is the file's last line.
        let cut = text[..text.len() - 1]
            .iter()
            .rposition(|b| *b == b',')
            .unwrap();
        text.truncate(cut + 1);
        text.extend_from_slice(b"n/a\n");
        std::fs::write(&p, &text).unwrap();
        let line = text.iter().filter(|b| **b == b'\n').count();
        let filter = Filter::default();
        let one = super::super::read_filtered(&p, filter)
            .err()
            .unwrap()
            .to_string();
        let many = read_parallel(&p, filter, 4).err().unwrap().to_string();
        assert_eq!(one, many);
        assert!(
            one.contains(&format!(
                ":{line}:6: lineItem/UnblendedCost is not a number"
            )),
            "{one}"
        );
    }

    #[test]
    fn gzip_inflated_on_a_thread_of_its_own_reads_and_fails_as_one_thread_does() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("cur.csv");
        hostile_csv(&plain, 100_000);
        let text = std::fs::read(&plain).unwrap();
        assert!(text.len() > 4 * super::super::io::PART, "several parts");
        let p = dir.path().join("cur.csv.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&text).unwrap();
        let compressed = gz.finish().unwrap();
        std::fs::write(&p, &compressed).unwrap();
        let filter = Filter {
            month: Some("2026-11"),
            tag: None,
        };
        // One file on two threads: inflated apart.
        let (one, two) = (
            super::super::read_filtered(&p, filter).unwrap(),
            read_parallel(&p, filter, 2).unwrap(),
        );
        assert!(one.rows > 0);
        assert_eq!(one.rows, two.rows);
        assert_eq!(one.into_lines(), two.into_lines());
        // Data cut short: the same located error either way, and no thread left waiting.
        std::fs::write(&p, &compressed[..compressed.len() / 2]).unwrap();
        let one = super::super::read_filtered(&p, filter)
            .err()
            .unwrap()
            .to_string();
        let two = read_parallel(&p, filter, 2).err().unwrap().to_string();
        assert_eq!(one, two);
        assert!(one.contains(": byte "), "{one}");
    }
}
