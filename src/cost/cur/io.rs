//! Readers that wrap a CUR file's bytes: counting compressed bytes (to locate bad gzip
//! data), bounding and following CSV records (lines, quoting, a record's length), and
//! inflating gzip on a thread of its own.

use std::io::Read;

use super::MAX_RECORD;

/// Counts what passes through, shared with the reader's owner.
pub(super) type Shared<T> = std::rc::Rc<std::cell::Cell<T>>;

/// Counts the bytes read from the compressed file, to say where gzip data went bad.
pub(super) struct Counted<R> {
    pub(super) inner: R,
    pub(super) bytes: Shared<u64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.set(self.bytes.get() + n as u64);
        Ok(n)
    }
}

/// Tracks lines and bounds every CSV record (a quoted field may hold line breaks) to
/// `MAX_RECORD` bytes, so no input can make the CSV reader's buffer grow without end.
/// Quotes are followed as the `csv` crate reads them, and input the two CSV readers
/// could read differently is marked `unusual`: then the SIMD reader's result is not
/// used.
pub(super) struct Bounded<R> {
    inner: R,
    /// Line breaks seen so far.
    pub(super) lines: Shared<u64>,
    /// The line a too-long record started on, once one is found.
    pub(super) too_long: Shared<Option<u64>>,
    /// A quote inside an unquoted field, a closing quote followed by more of the field,
    /// or a carriage return outside quotes not before a line feed.
    pub(super) unusual: Shared<bool>,
    record_bytes: usize,
    in_quotes: bool,
    /// The last byte of the previous read.
    prev: Option<u8>,
    /// The previous read ended on a carriage return outside quotes, or on a quote
    /// inside a quoted field (closing, or the first of an escaped pair).
    cr_last: bool,
    quote_last: bool,
}

impl<R> Bounded<R> {
    pub(super) fn new(inner: R) -> Self {
        Bounded {
            inner,
            lines: Shared::default(),
            too_long: Shared::default(),
            unusual: Shared::default(),
            record_bytes: 0,
            in_quotes: false,
            prev: None,
            cr_last: false,
            quote_last: false,
        }
    }

    /// Where a quote inside a quoted field leads, by the byte after it: the escaped
    /// pair's second quote (`true`: skip it), or out of the field.
    fn after_quote(&mut self, next: u8) -> bool {
        match next {
            b'"' => return true,
            b',' | b'\n' | b'\r' => {}
            _ => self.unusual.set(true),
        }
        self.in_quotes = false;
        false
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let data = &buf[..n];
        let Some(&first) = data.first() else {
            return Ok(0);
        };
        // Bytes after a carriage return or a quote that ended the previous read.
        if std::mem::take(&mut self.cr_last) && first != b'\n' {
            self.unusual.set(true);
        }
        let mut skip = std::mem::take(&mut self.quote_last) && self.after_quote(first);
        let mut last = 0;
        for i in memchr::memchr3_iter(b'"', b'\n', b'\r', data) {
            self.record_bytes += i + 1 - last;
            last = i + 1;
            if std::mem::take(&mut skip) {
                continue;
            }
            match data[i] {
                b'"' if self.in_quotes => match data.get(i + 1) {
                    Some(&next) => skip = self.after_quote(next),
                    None => self.quote_last = true,
                },
                b'"' => {
                    let prev = if i == 0 { self.prev } else { Some(data[i - 1]) };
                    if matches!(prev, None | Some(b',' | b'\n' | b'\r')) {
                        self.in_quotes = true;
                    } else {
                        // The `csv` crate keeps it as a character of the field.
                        self.unusual.set(true);
                    }
                }
                b'\r' => {
                    if !self.in_quotes && data.get(i + 1).is_some_and(|&b| b != b'\n') {
                        self.unusual.set(true);
                    }
                    self.cr_last = !self.in_quotes && i + 1 == n;
                }
                _ => {
                    self.lines.set(self.lines.get() + 1);
                    if !self.in_quotes {
                        self.record_bytes = 0;
                    }
                }
            }
            if self.record_bytes > MAX_RECORD {
                break;
            }
        }
        self.prev = Some(data[n - 1]);
        self.record_bytes += n - last;
        if self.record_bytes > MAX_RECORD {
            self.too_long.set(Some(self.lines.get() + 1));
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "record too long",
            ));
        }
        Ok(n)
    }
}

/// Gzip data decompressed on a thread of its own, a part at a time, while the reader
/// parses the part before: at most `PARTS_AHEAD` parts wait, so memory stays bounded.
/// The thread ends at the end of the data, on an error (passed on to the reader), or
/// when the reader is dropped.
pub(super) struct Inflated {
    parts: std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
    /// Parts read, sent back to be filled again.
    spent: std::sync::mpsc::Sender<Vec<u8>>,
    part: Vec<u8>,
    at: usize,
}

pub(super) const PART: usize = 1 << 20;
const PARTS_AHEAD: usize = 4;

impl Inflated {
    pub(super) fn start(file: std::fs::File) -> Self {
        let (send, parts) = std::sync::mpsc::sync_channel(PARTS_AHEAD);
        let (spent, reuse) = std::sync::mpsc::channel::<Vec<u8>>();
        std::thread::spawn(move || {
            let mut gz =
                flate2::read::MultiGzDecoder::new(std::io::BufReader::with_capacity(1 << 16, file));
            loop {
                let mut part = reuse.try_recv().unwrap_or_default();
                part.resize(PART, 0);
                // Whether the data ended, after filling the part as far as it goes.
                let mut n = 0;
                let ended = loop {
                    if n == PART {
                        break Ok(false);
                    }
                    match gz.read(&mut part[n..]) {
                        Ok(0) => break Ok(true),
                        Ok(k) => n += k,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                part.truncate(n);
                if !part.is_empty() && send.send(Ok(part)).is_err() {
                    return;
                }
                match ended {
                    Ok(false) => {}
                    Ok(true) => return,
                    Err(e) => {
                        let _ = send.send(Err(e));
                        return;
                    }
                }
            }
        });
        Inflated {
            parts,
            spent,
            part: Vec::new(),
            at: 0,
        }
    }
}

impl Read for Inflated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.part.len() {
            match self.parts.recv() {
                Ok(Ok(part)) => {
                    let _ = self.spent.send(std::mem::replace(&mut self.part, part));
                    self.at = 0;
                }
                Ok(Err(e)) => return Err(e),
                // The thread is done: the end of the data.
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.part.len() - self.at);
        buf[..n].copy_from_slice(&self.part[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use crate::cost::cur::read;

    #[test]
    fn memory_stays_bounded_whatever_the_field_length() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("long.csv.gz");
        // 64 MiB of one field, compressed to a few KB.
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&p).unwrap(),
            flate2::Compression::default(),
        );
        gz.write_all(b"lineItem/UsageType,lineItem/UsageAmount,lineItem/UnblendedCost\nUSE1-EU-AWS-Out-Bytes,1,1\n\"")
            .unwrap();
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..64 {
            gz.write_all(&chunk).unwrap();
        }
        gz.finish().unwrap();
        let e = read(&p, None).err().unwrap().to_string();
        assert_eq!(
            e,
            format!(
                "{}:3: a CSV record longer than 1 MiB; not a CUR file?",
                p.display()
            )
        );
    }
}
