//! Parquet's RLE / bit-packing hybrid encoding, decoded: dictionary indices and
//! repetition and definition levels are stored in it. The parquet crate has a decoder
//! but exposes it only behind its `experimental` feature, which also builds arrow; this
//! one is the format's few rules
//! (<https://parquet.apache.org/docs/file-format/data-pages/encodings/>).
//!
//! A run starts with a ULEB128 header: an even header `2n` is a run of `n` copies of one
//! value, stored in ceil(width / 8) little-endian bytes; an odd header `2g + 1` is `g`
//! groups of 8 values packed `width` bits each, least significant bit first.

use bytes::Bytes;

pub(super) struct Hybrid {
    data: Bytes,
    /// The next run header's byte.
    pos: usize,
    width: usize,
    rle_left: usize,
    rle_value: u32,
    packed_left: usize,
    /// The bit the next packed value starts at, and the bit its run started at.
    bit: usize,
    run_bit: usize,
}

impl Hybrid {
    /// A decoder of `data` for values of `width` bits (at most 32), or `None` when the
    /// width is wider.
    pub(super) fn new(width: u8, data: Bytes) -> Option<Self> {
        (width <= 32).then_some(Hybrid {
            data,
            pos: 0,
            width: usize::from(width),
            rle_left: 0,
            rle_value: 0,
            packed_left: 0,
            bit: 0,
            run_bit: 0,
        })
    }

    /// Reads the next run's header; `false` at the end of the data (or a header cut
    /// short).
    fn next_run(&mut self) -> bool {
        let mut header: u64 = 0;
        let mut shift = 0;
        loop {
            let Some(&b) = self.data.get(self.pos) else {
                return false;
            };
            self.pos += 1;
            header |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 56 {
                return false;
            }
        }
        let count = usize::try_from(header >> 1).unwrap_or(usize::MAX);
        let left = self.data.len() - self.pos;
        if header & 1 == 1 {
            // Writers may cut the last group short: only whole values present count.
            let bytes = count.saturating_mul(self.width).min(left);
            self.packed_left = match self.width {
                0 => count.saturating_mul(8),
                w => (count.saturating_mul(8)).min(bytes * 8 / w),
            };
            self.bit = self.pos * 8;
            self.run_bit = self.bit;
            self.pos += bytes;
        } else {
            let bytes = self.width.div_ceil(8);
            let Some(v) = self.data.get(self.pos..self.pos + bytes) else {
                return false;
            };
            let mut le = [0u8; 4];
            le[..bytes].copy_from_slice(v);
            self.rle_value = u32::from_le_bytes(le);
            self.rle_left = count;
            self.pos += bytes;
        }
        true
    }

    /// Fills `out` with the next values; fewer only at the end of the data.
    pub(super) fn get_batch(&mut self, out: &mut [u32]) -> usize {
        let mut got = 0;
        while got < out.len() {
            if self.rle_left > 0 {
                let k = (out.len() - got).min(self.rle_left);
                out[got..got + k].fill(self.rle_value);
                self.rle_left -= k;
                got += k;
            } else if self.packed_left > 0 {
                let k = (out.len() - got).min(self.packed_left);
                let into_group = (self.bit - self.run_bit) % (8 * self.width.max(1));
                unpack(
                    &self.data,
                    self.bit,
                    into_group,
                    self.width,
                    &mut out[got..got + k],
                );
                self.bit += k * self.width;
                self.packed_left -= k;
                got += k;
            } else if !self.next_run() {
                break;
            }
        }
        got
    }
}

/// Values of `width` bits from bit `bit` of `data` on, into `out`; `into_group` is how
/// many bits into its group of 8 values `bit` is. Whole groups are unpacked by code
/// made for their width; values before and after them one by one.
fn unpack(data: &[u8], bit: usize, into_group: usize, width: usize, out: &mut [u32]) {
    if width == 0 {
        out.fill(0);
        return;
    }
    let head = match into_group {
        0 => 0,
        n => ((8 * width - n) / width).min(out.len()),
    };
    unpack_each(data, bit, width, &mut out[..head]);
    let (bit, rest) = (bit + head * width, &mut out[head..]);
    let groups = (rest.len() / 8).min(data.len().saturating_sub(bit / 8) / width);
    let (packed, rest) = rest.split_at_mut(groups * 8);
    macro_rules! widths {
        ($($w:literal)*) => {
            match width {
                $($w => unpack_groups::<$w>(data, bit / 8, packed),)*
                _ => unpack_each(data, bit, width, packed),
            }
        };
    }
    widths!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32);
    unpack_each(data, bit + groups * 8 * width, width, rest);
}

/// `out.len() / 8` whole groups of 8 values of `W` bits (`W` bytes each), the first at
/// byte `start` of `data`, into `out`.
fn unpack_groups<const W: usize>(data: &[u8], start: usize, out: &mut [u32]) {
    let mask = (1u64 << W) - 1;
    let group = |bytes: &[u8], values: &mut [u32]| {
        for (j, v) in values.iter_mut().enumerate() {
            let b = j * W;
            let word = u64::from_le_bytes(bytes[b / 8..b / 8 + 8].try_into().expect("8 bytes"));
            *v = ((word >> (b % 8)) & mask) as u32;
        }
    };
    // A group's values are read as 8-byte words from inside it: groups with 8 bytes
    // after them are read in place, the last ones from a padded copy.
    let in_place = (data.len().saturating_sub(start + 8) / W).min(out.len() / 8);
    for (g, values) in out.chunks_exact_mut(8).enumerate() {
        let at = start + g * W;
        if g < in_place {
            group(&data[at..at + W + 8], values);
        } else {
            let mut bytes = [0u8; 40];
            bytes[..W].copy_from_slice(&data[at..at + W]);
            group(&bytes, values);
        }
    }
}

/// Values of `width` bits from bit `bit` of `data` on, one by one.
fn unpack_each(data: &[u8], bit: usize, width: usize, out: &mut [u32]) {
    if width == 0 {
        out.fill(0);
        return;
    }
    let mask = (1u64 << width) - 1;
    // Each value is read from the 8 bytes its first bit is in (width + 7 <= 39 bits);
    // the values whose 8 bytes pass the end of the data are read from a padded copy.
    let whole = (data.len().saturating_sub(7) * 8).saturating_sub(bit) / width;
    let whole = whole.min(out.len());
    for (i, o) in out[..whole].iter_mut().enumerate() {
        let b = bit + i * width;
        let word = u64::from_le_bytes(data[b / 8..b / 8 + 8].try_into().expect("8 bytes"));
        *o = ((word >> (b % 8)) & mask) as u32;
    }
    for (i, o) in out.iter_mut().enumerate().skip(whole) {
        let b = bit + i * width;
        let mut le = [0u8; 8];
        let tail = data.get(b / 8..).unwrap_or_default();
        let n = tail.len().min(8);
        le[..n].copy_from_slice(&tail[..n]);
        *o = ((u64::from_le_bytes(le) >> (b % 8)) & mask) as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(width: u8, data: &[u8], n: usize) -> Vec<u32> {
        let mut d = Hybrid::new(width, Bytes::copy_from_slice(data)).unwrap();
        let mut out = vec![u32::MAX; n];
        let got = d.get_batch(&mut out);
        out.truncate(got);
        out
    }

    #[test]
    fn the_formats_example_of_bit_packing_decodes() {
        // The Parquet spec's example: 0..=7 in 3 bits is 10001000 11000110 11111010.
        assert_eq!(
            decode(3, &[0b11, 0b1000_1000, 0b1100_0110, 0b1111_1010], 100),
            (0..8).collect::<Vec<_>>()
        );
    }

    #[test]
    fn runs_mix_and_values_are_read_across_calls() {
        // 300 copies of 5 (header 600 = 0xd8 0x04), then one group of 8 values of 17
        // bits, then 2 copies of 0x1_2345 (3 bytes).
        let values: Vec<u32> = (0..8).map(|i| (i * 16_411 + 7) & 0x1_ffff).collect();
        let mut packed = vec![0u8; 17];
        for (i, v) in values.iter().enumerate() {
            for b in 0..17 {
                if v >> b & 1 == 1 {
                    let at = i * 17 + b;
                    packed[at / 8] |= 1 << (at % 8);
                }
            }
        }
        let mut data = vec![0xd8, 0x04, 5, 0, 0, 0b11];
        data.extend(&packed);
        data.extend([4, 0x45, 0x23, 0x01]);
        let mut d = Hybrid::new(17, Bytes::from(data)).unwrap();
        let mut all = Vec::new();
        let mut out = [0u32; 7];
        loop {
            let n = d.get_batch(&mut out);
            all.extend_from_slice(&out[..n]);
            if n < out.len() {
                break;
            }
        }
        let mut want = vec![5; 300];
        want.extend(&values);
        want.extend([0x1_2345, 0x1_2345]);
        assert_eq!(all, want);
    }

    #[test]
    fn cut_data_gives_what_is_there_and_no_more() {
        // Two groups of 4-bit values announced, one byte present: two values.
        assert_eq!(decode(4, &[0b101, 0x21], 100), vec![1, 2]);
        // An RLE value cut short, and a header that never ends.
        assert_eq!(decode(16, &[4, 0x01], 10), Vec::<u32>::new());
        assert_eq!(decode(8, &[0xff; 12], 10), Vec::<u32>::new());
        assert!(Hybrid::new(33, Bytes::new()).is_none());
    }

    #[test]
    fn groups_unpack_as_values_one_by_one_do_at_every_width_and_offset() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let data: Vec<u8> = (0..300)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for width in 1..=32 {
            for first in [0, 1, 5, 8, 13] {
                // Values from value `first` of a run starting at byte 3, up to the end.
                let bit = 24 + first * width;
                let n = (data.len() * 8 - bit) / width;
                let (mut grouped, mut each) = (vec![0; n], vec![0; n]);
                unpack(&data, bit, (first % 8) * width, width, &mut grouped);
                unpack_each(&data, bit, width, &mut each);
                assert_eq!(grouped, each, "width {width}, from value {first}");
                assert!(each.iter().all(|&v| u64::from(v) < 1u64 << width));
            }
        }
    }
}
