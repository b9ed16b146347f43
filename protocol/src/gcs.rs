//! Compressed Bloom filter with one hash function, Golomb-Rice coded: filter kind 2 of a
//! publication batch (SPEC.md §8.1.2).
//!
//! The idea is Mitzenmacher's compressed Bloom filter ("Compressed Bloom Filters", 2002) with a
//! single hash function, the construction BIP 158 calls a Golomb-coded set. The definition below
//! is **normative**; ports must reproduce it bit for bit.
//!
//! # Normative definition
//!
//! Parameters, which travel with the filter: `n` (the batch's entry count, at most 2²⁶), the
//! range factor `M` (2 ≤ M ≤ 2³² − 1), the Rice parameter `P` (0 ≤ P ≤ 32) and a 16-byte
//! `salt`. Let `N = n · M` (below 2⁵⁸).
//!
//! 1. For each entry `id`: `h = AES-128(key = salt, block = id)` (as kind 1, SPEC.md §8.1.1),
//!    `x = LE64(h[0..8])`, and the value `v = (x · N) >> 64`, the product taken in 128 bits.
//!    So `v < N`. (Multiply-shift instead of `x mod N`: every value is the image of
//!    `⌊2⁶⁴/N⌋` or `⌈2⁶⁴/N⌉` hashes, a relative non-uniformity below `N / 2⁶⁴ ≤ 2⁻⁶`, and
//!    it changes the false-positive rate by a relative amount of its square, under 2⁻¹².)
//! 2. Sort the `n` values ascending (equal values are kept: a gap may be 0).
//! 3. For each value in order, its gap `d = v − previous` (previous starts at 0) is written as
//!    `q = d >> P` one-bits, a zero bit, then `r = d mod 2^P` in `P` bits, most significant bit
//!    first.
//! 4. The bits fill bytes most significant bit first: stream bit `j` is bit `7 − (j mod 8)` of
//!    byte `⌊j / 8⌋`. The last byte is padded with zero bits. The filter is
//!    `⌈(total bits) / 8⌉` bytes; `n = 0` gives the empty filter.
//!
//! A *query* hashes the identifier the same way and answers "maybe present" if and only if its
//! value is one of the decoded values. A phone sorts its queries' values and decodes the
//! stream once, merging the two sorted lists.
//!
//! A reader MUST refuse: `M` or `P` outside their ranges; more than 2²⁶ entries or a coded
//! length above 64 MiB; a stream that ends before `n` values are decoded (too short); a value
//! that reaches `N` (gaps overrunning the range); bytes left after the byte holding the last
//! bit (too long); and padding bits that are not zero.
//!
//! # Parameters (server policy: readers use the transmitted `M` and `P`)
//!
//! A query value that is not one of the `n` stored values lands on a stored value with
//! probability `1 − (1 − 1/N)ⁿ ≈ 1 − e^(−1/M) < 1/M`; so the false-positive rate is just under
//! `1/M`, and the server takes `M = ⌈1/ε⌉`, the smallest range meeting the target (a larger
//! `M` would only cost bits, as the coded size grows with `M`).
//!
//! The gaps are close to geometric with mean `M`: `Pr(d ≥ t) ≈ e^(−t/M)`. A Rice code with
//! parameter `P` spends `P + 1` bits plus one per unit of `q`, and
//! `E[q] = Σ_{j≥1} Pr(d ≥ j·2^P) = 1 / (e^(2^P/M) − 1)`, so the expected size per entry is
//!
//! ```text
//! bits(P) = P + 1 + 1 / (e^(2^P / M) − 1).
//! ```
//!
//! The server takes the integer `P` in `0 ..= 32` that minimises `bits(P)` (the smaller on a
//! tie). For `M = 2²⁴` that is `P = 23`: 25.54 bits per entry against the bound
//! `log2(1/ε) = 24`, 1.064 times it; `P = 24` would give 25.58. Over all `M`, the excess over
//! `log2 M` ranges from 1.47 bits (at `M ≈ 1.5 · 2^P`, BIP 158's observation) to about 1.56.
//!
//! # Test vector
//!
//! SPEC.md §12.4 and `tests/vectors/gcs-kind2-v1.txt`, checked by the Rust tests and
//! reproduced by `tests/vectors/gcs_check.py`.

use core::borrow::Borrow;
use core::fmt;

use aes::Aes128Enc;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};

use crate::bloom::{Id, Salt, hash_ids};

/// Smallest range factor `M`.
pub const MIN_RANGE: u32 = 2;
/// Largest Rice parameter `P`.
pub const MAX_RICE: u8 = 32;
/// Most values one compressed filter holds: 2²⁶ (as a batch, `MAX_BATCH_ENTRIES`).
pub const MAX_VALUES: u32 = 1 << 26;
/// Longest coded stream accepted: 64 MiB (as a batch, `MAX_FILTER_BYTES`).
pub const MAX_CODED_BYTES: usize = 64 << 20;

/// Zero bytes kept after the coded stream, so that a decoder reads whole 8-byte words.
const PAD: usize = 8;

type Block = aes::Block;

/// Why compressed-filter parameters or a coded stream are refused.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum CompressedError {
    /// The range factor `M` is below [`MIN_RANGE`].
    RangeOutOfBounds {
        /// The rejected value.
        range: u32,
    },
    /// The Rice parameter `P` is above [`MAX_RICE`].
    RiceOutOfBounds {
        /// The rejected value.
        rice: u8,
    },
    /// The target false-positive rate is not in [1/(2³² − 1), 1/2] (this includes NaN).
    InvalidTargetRate {
        /// The rejected value.
        target_fp: f64,
    },
    /// More values than [`MAX_VALUES`].
    TooManyValues {
        /// The count given.
        n: u64,
    },
    /// A coded stream longer than [`MAX_CODED_BYTES`].
    TooLarge {
        /// Its length in bytes.
        bytes: usize,
    },
    /// The stream ends before `n` values are decoded.
    StreamTooShort,
    /// Bytes are left after the byte holding the last value's last bit.
    StreamTooLong {
        /// How many bytes are left over.
        extra: usize,
    },
    /// The padding bits after the last value are not zero.
    NonZeroPadding,
    /// A decoded value reaches `n · M`: the gaps overrun the declared range.
    Overrun {
        /// Index of the first value out of range.
        index: u32,
    },
}

impl fmt::Display for CompressedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompressedError::RangeOutOfBounds { range } => {
                write!(f, "range factor {range} is below {MIN_RANGE}")
            }
            CompressedError::RiceOutOfBounds { rice } => {
                write!(f, "Rice parameter {rice} is above {MAX_RICE}")
            }
            CompressedError::InvalidTargetRate { target_fp } => {
                write!(
                    f,
                    "target false-positive rate {target_fp} is not in [1/(2^32 - 1), 1/2]"
                )
            }
            CompressedError::TooManyValues { n } => {
                write!(f, "{n} values, more than {MAX_VALUES}")
            }
            CompressedError::TooLarge { bytes } => {
                write!(
                    f,
                    "coded filter of {bytes} bytes, more than {MAX_CODED_BYTES}"
                )
            }
            CompressedError::StreamTooShort => f.write_str("coded filter ends too early"),
            CompressedError::StreamTooLong { extra } => {
                write!(f, "{extra} bytes after the coded filter's last value")
            }
            CompressedError::NonZeroPadding => f.write_str("coded filter's padding is not zero"),
            CompressedError::Overrun { index } => {
                write!(f, "value {index} of the coded filter overruns n·M")
            }
        }
    }
}

impl std::error::Error for CompressedError {}

/// Parameters of a compressed filter besides its entry count: the range factor `M` and the
/// Rice parameter `P`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CompressedParams {
    /// Range factor `M`: values lie in `[0, n·M)`; the false-positive rate is just under `1/M`.
    pub range: u32,
    /// Rice parameter `P`: bits of each gap written in binary.
    pub rice: u8,
}

impl CompressedParams {
    /// `M = ⌈1/ε⌉` and the `P` that minimises the expected size (module documentation).
    ///
    /// # Errors
    ///
    /// [`CompressedError::InvalidTargetRate`] unless `1/(2³² − 1) ≤ target_fp ≤ 1/2` (`M` must fit
    /// 32 bits and be at least 2).
    pub fn for_target(target_fp: f64) -> Result<Self, CompressedError> {
        // Written so that NaN fails too.
        if !(1.0 / 4_294_967_295.0..=0.5).contains(&target_fp) {
            return Err(CompressedError::InvalidTargetRate { target_fp });
        }
        let range = (1.0 / target_fp).ceil().min(f64::from(u32::MAX)) as u32;
        Ok(Self::for_range(range.max(MIN_RANGE)))
    }

    /// The parameters for range factor `range` with the size-minimising Rice parameter.
    pub fn for_range(range: u32) -> Self {
        let rice = (0..=MAX_RICE)
            .map(|p| (p, expected_bits_per_value(range, p)))
            .fold((0, f64::INFINITY), |best, (p, bits)| {
                if bits < best.1 { (p, bits) } else { best }
            })
            .0;
        CompressedParams { range, rice }
    }

    /// Checks `M ≥ 2` and `P ≤ 32`.
    ///
    /// # Errors
    ///
    /// The first violated bound, in that order.
    pub fn validate(&self) -> Result<(), CompressedError> {
        if self.range < MIN_RANGE {
            return Err(CompressedError::RangeOutOfBounds { range: self.range });
        }
        if self.rice > MAX_RICE {
            return Err(CompressedError::RiceOutOfBounds { rice: self.rice });
        }
        Ok(())
    }

    /// Expected coded bits per entry, `P + 1 + 1/(e^(2^P/M) − 1)`.
    pub fn expected_bits_per_value(&self) -> f64 {
        expected_bits_per_value(self.range, self.rice)
    }

    /// Predicted false-positive rate with `n` entries: `1 − (1 − 1/(n·M))ⁿ`.
    pub fn predicted_fp_rate(&self, n: u64) -> f64 {
        let big_n = n as f64 * f64::from(self.range);
        if n == 0 {
            return 0.0;
        }
        -(n as f64 * (-1.0 / big_n).ln_1p()).exp_m1()
    }
}

fn expected_bits_per_value(range: u32, rice: u8) -> f64 {
    let ratio = 2f64.powi(i32::from(rice)) / f64::from(range.max(1));
    f64::from(rice) + 1.0 + 1.0 / ratio.exp_m1()
}

/// A Golomb-Rice coded set of hashed identifiers (see the [module documentation](self)).
#[derive(Clone)]
pub struct CompressedFilter {
    params: CompressedParams,
    salt: Salt,
    cipher: Aes128Enc,
    n: u32,
    /// The coded stream followed by [`PAD`] zero bytes.
    coded: Vec<u8>,
    /// Where decoding can resume: filled while a received filter is checked (it is decoded
    /// whole then anyway), so that matching jumps over the values between its sorted queries.
    /// Empty for a filter built here. Never on the wire.
    jumps: Jumps,
}

/// Values between two points where decoding of a received filter can resume. A query decodes
/// at most `SKIP − 1` values in vain (half that on average), and the resume points cost
/// 12 bytes per `SKIP` values, with 4 more for the bucket index: about 1 byte a value (4 MB
/// for a 4M-entry batch, whose stream is about 12.8 MB).
const SKIP: u32 = 16;

/// The resume points of a received filter and an index on them by value, so that a query
/// finds where to start decoding with one bucket lookup and a search among the one or two
/// points of its bucket, instead of a binary search over all of them.
#[derive(Clone, Debug, Default)]
struct Jumps {
    /// Per resume point `k`, before the value of index `k · SKIP`: the value before it (0 for
    /// `k = 0`), nondecreasing in `k` since the values are sorted ...
    before: Vec<u64>,
    /// ... and the stream bit where the code of that value starts (below 2²⁹: the stream is
    /// at most 64 MiB).
    bit: Vec<u32>,
    /// `bucket_first[j]`: how many points have `before` below `j << shift`, for every bucket
    /// `j` a value can fall in and one past the last.
    bucket_first: Vec<u32>,
    /// Values of bucket `j` are those in `[j << shift, (j + 1) << shift)`.
    shift: u32,
}

impl Jumps {
    /// The index on `before` for values in `[0, range)`, with about as many buckets as points.
    fn index(before: Vec<u64>, bit: Vec<u32>, range: u64) -> Jumps {
        let points = before.len().max(1) as u64;
        let width = range.div_ceil(points).max(1);
        let shift = 64 - (width - 1).leading_zeros();
        let buckets = (range.saturating_sub(1) >> shift) as usize + 1;
        let mut bucket_first = Vec::with_capacity(buckets + 1);
        let mut k = 0usize;
        for j in 0..=buckets as u64 {
            let low = j << shift;
            while k < before.len() && before[k] < low {
                k += 1;
            }
            bucket_first.push(k as u32);
        }
        Jumps {
            before,
            bit,
            bucket_first,
            shift,
        }
    }

    /// The last resume point whose value before is below `v`: (its index, its bit, that
    /// value); `None` when there is none (no points, or `v` is 0).
    fn before(&self, v: u64) -> Option<(usize, u32, u64)> {
        let j = (v >> self.shift) as usize;
        let (lo, hi) = match self.bucket_first.get(j..).and_then(|b| b.get(..2)) {
            Some(&[lo, hi]) => (lo as usize, hi as usize),
            // Past the last bucket (never for a value below the range): every point is below.
            _ => (self.before.len(), self.before.len()),
        };
        let k = lo + self.before[lo..hi].partition_point(|&b| b < v);
        let k = k.checked_sub(1)?;
        Some((k, self.bit[k], self.before[k]))
    }
}

impl fmt::Debug for CompressedFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompressedFilter")
            .field("params", &self.params)
            .field("n", &self.n)
            .field("bytes", &self.as_bytes().len())
            .finish_non_exhaustive()
    }
}

impl CompressedFilter {
    /// The filter of `ids` (every one counts, duplicates too: `n` is their number).
    ///
    /// # Errors
    ///
    /// Invalid parameters, more than [`MAX_VALUES`] identifiers, or a stream longer than
    /// [`MAX_CODED_BYTES`].
    pub fn build<I>(params: CompressedParams, salt: Salt, ids: I) -> Result<Self, CompressedError>
    where
        I: IntoIterator,
        I::Item: Borrow<Id>,
    {
        params.validate()?;
        let cipher = Aes128Enc::new(&Array::from(salt));
        let mut hashes = Vec::new();
        hash_into(&cipher, ids.into_iter(), &mut hashes);
        let n = u32::try_from(hashes.len())
            .ok()
            .filter(|&n| n <= MAX_VALUES)
            .ok_or(CompressedError::TooManyValues {
                n: hashes.len() as u64,
            })?;
        let big_n = u64::from(n) * u64::from(params.range);
        hashes.iter_mut().for_each(|x| *x = reduce(*x, big_n));
        hashes.sort_unstable();
        let coded = encode(&hashes, params.rice);
        if coded.len() > MAX_CODED_BYTES {
            return Err(CompressedError::TooLarge { bytes: coded.len() });
        }
        Ok(Self::assemble(params, salt, cipher, n, coded))
    }

    /// A filter from received parts, its whole stream checked (every refusal of the module
    /// documentation).
    ///
    /// # Errors
    ///
    /// The first problem found, each with its own [`CompressedError`].
    pub fn from_parts(
        params: CompressedParams,
        salt: Salt,
        n: u32,
        coded: &[u8],
    ) -> Result<Self, CompressedError> {
        params.validate()?;
        if n > MAX_VALUES {
            return Err(CompressedError::TooManyValues { n: u64::from(n) });
        }
        if coded.len() > MAX_CODED_BYTES {
            return Err(CompressedError::TooLarge { bytes: coded.len() });
        }
        let len_bits = coded.len() as u64 * 8;
        // Every value takes at least P + 1 bits: refuse a short stream before decoding it.
        if u64::from(n) * (u64::from(params.rice) + 1) > len_bits {
            return Err(CompressedError::StreamTooShort);
        }
        let big_n = u64::from(n) * u64::from(params.range);
        let mut decoder = Decoder::new(coded, params.rice);
        let points = n.div_ceil(SKIP) as usize;
        let (mut before, mut bit) = (Vec::with_capacity(points), Vec::with_capacity(points));
        for index in 0..n {
            if index % SKIP == 0 {
                before.push(decoder.value);
                // At most the stream's length in bits (checked after every value), 2²⁹.
                bit.push(decoder.pos as u32);
            }
            let v = decoder.next_value();
            if decoder.pos > len_bits {
                return Err(CompressedError::StreamTooShort);
            }
            if v >= big_n {
                return Err(CompressedError::Overrun { index });
            }
        }
        let used = decoder.pos.div_ceil(8) as usize;
        if used < coded.len() {
            return Err(CompressedError::StreamTooLong {
                extra: coded.len() - used,
            });
        }
        let tail_bits = (decoder.pos % 8) as u32;
        if tail_bits != 0 && coded[used - 1] & (0xff >> tail_bits) != 0 {
            return Err(CompressedError::NonZeroPadding);
        }
        let mut filter = Self::assemble(
            params,
            salt,
            Aes128Enc::new(&Array::from(salt)),
            n,
            coded.to_vec(),
        );
        filter.jumps = Jumps::index(before, bit, big_n);
        Ok(filter)
    }

    fn assemble(
        params: CompressedParams,
        salt: Salt,
        cipher: Aes128Enc,
        n: u32,
        mut coded: Vec<u8>,
    ) -> Self {
        coded.extend_from_slice(&[0; PAD]);
        CompressedFilter {
            params,
            salt,
            cipher,
            n,
            coded,
            jumps: Jumps::default(),
        }
    }

    /// The parameters `M` and `P`.
    pub fn params(&self) -> CompressedParams {
        self.params
    }

    /// The salt.
    pub fn salt(&self) -> &Salt {
        &self.salt
    }

    /// The number of coded values `n`.
    pub fn len(&self) -> u32 {
        self.n
    }

    /// Whether the filter holds no value.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The coded stream.
    pub fn as_bytes(&self) -> &[u8] {
        &self.coded[..self.coded.len() - PAD]
    }

    /// The value of `id` in `[0, n·M)` (steps 1 of the definition).
    pub fn value(&self, id: &Id) -> u64 {
        let mut block = Block::from(*id);
        self.cipher.encrypt_block(&mut block);
        reduce(first_word(&block.0), self.range())
    }

    fn range(&self) -> u64 {
        u64::from(self.n) * u64::from(self.params.range)
    }

    /// The decoded values, ascending.
    pub fn values(&self) -> impl Iterator<Item = u64> + '_ {
        let mut decoder = Decoder::new(&self.coded, self.params.rice);
        (0..self.n).map(move |_| decoder.next_value())
    }

    /// Whether `id` may be in the filter. This decodes the stream up to `id`'s value: to test
    /// many identifiers, use [`contains_all`](Self::contains_all), which decodes it once.
    pub fn contains(&self, id: &Id) -> bool {
        let v = self.value(id);
        self.values().find(|&x| x >= v) == Some(v)
    }

    /// Query every identifier of `ids`: clears `out`, then pushes one answer per identifier,
    /// in order, identical to what [`contains`](Self::contains) would return. One pass over
    /// the stream, stopping after the largest query.
    pub fn contains_all(&self, ids: &[Id], out: &mut Vec<bool>) {
        out.clear();
        out.resize(ids.len(), false);
        let mut queries = Vec::with_capacity(ids.len());
        hash_into(&self.cipher, ids.iter(), &mut queries);
        let big_n = self.range();
        let mut order: Vec<(u64, u32)> = queries
            .iter()
            .enumerate()
            .map(|(i, &x)| (reduce(x, big_n), i as u32))
            .collect();
        order.sort_unstable();
        let mut decoder = Decoder::new(&self.coded, self.params.rice);
        // Values decoded so far, and the last of them.
        let mut decoded = 0u32;
        let mut current = None;
        for (v, i) in order {
            if current.is_none_or(|c| c < v) {
                // Jump to the last resume point whose preceding value is below `v`, if it is
                // ahead: every value before it is below `v`.
                if let Some((k, bit, before)) = self.jumps.before(v)
                    && k as u32 * SKIP > decoded
                {
                    decoder = Decoder::at(&self.coded, self.params.rice, bit, before);
                    decoded = k as u32 * SKIP;
                    current = Some(before);
                }
            }
            while current.is_none_or(|c| c < v) {
                if decoded == self.n {
                    return;
                }
                decoded += 1;
                current = Some(decoder.next_value());
            }
            if current == Some(v) {
                out[i as usize] = true;
            }
        }
    }

    /// Number of identifiers of `ids` for which [`contains`](Self::contains) is true.
    pub fn count_contained(&self, ids: &[Id]) -> usize {
        let mut answers = Vec::new();
        self.contains_all(ids, &mut answers);
        answers.iter().filter(|&&hit| hit).count()
    }
}

/// `x = LE64(h[0..8])`.
fn first_word(h: &[u8; 16]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&h[..8]);
    u64::from_le_bytes(a)
}

/// `(x · N) >> 64`: below `N` for every `x`.
#[inline(always)]
fn reduce(x: u64, big_n: u64) -> u64 {
    ((u128::from(x) * u128::from(big_n)) >> 64) as u64
}

/// `x` of every identifier of `ids`, appended to `out`.
fn hash_into(cipher: &Aes128Enc, ids: impl Iterator<Item = impl Borrow<Id>>, out: &mut Vec<u64>) {
    hash_ids(cipher, ids, out, first_word);
}

/// Steps 3 and 4: the Rice codes of the gaps of the sorted `values`.
fn encode(values: &[u64], rice: u8) -> Vec<u8> {
    let mut w = BitWriter {
        out: Vec::with_capacity(values.len() * (usize::from(rice) + 3) / 8 + 1),
        acc: 0,
        pending: 0,
    };
    let p = u32::from(rice);
    let mut previous = 0;
    for &v in values {
        let gap = v - previous;
        previous = v;
        let mut q = gap >> p;
        while q >= 32 {
            w.write(0xffff_ffff, 32);
            q -= 32;
        }
        // q < 32 one-bits, then a zero bit.
        w.write(((1u64 << q) - 1) << 1, q as u32 + 1);
        w.write(gap & ((1u64 << p) - 1), p);
    }
    w.finish()
}

/// Writes bits most significant first.
struct BitWriter {
    out: Vec<u8>,
    /// The low `pending` bits are not yet written.
    acc: u64,
    pending: u32,
}

impl BitWriter {
    /// Appends the low `bits` (at most 32) bits of `value`.
    #[inline(always)]
    fn write(&mut self, value: u64, bits: u32) {
        self.acc = (self.acc << bits) | value;
        self.pending += bits;
        while self.pending >= 8 {
            self.pending -= 8;
            self.out.push((self.acc >> self.pending) as u8);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.pending > 0 {
            self.out.push((self.acc << (8 - self.pending)) as u8);
        }
        self.out
    }
}

/// Decodes the values of a stream. Bits past the end read as zero (the caller compares
/// `pos` with the stream's length), so decoding never panics, whatever the bytes.
///
/// The stream is read through a 64-bit buffer refilled a word at a time, so a value costs a
/// few shifts and one count of leading ones: the phone decodes a 4M-entry batch's stream in one
/// pass per match.
struct Decoder<'a> {
    bytes: &'a [u8],
    rice: u32,
    /// The next byte to load into `buf`.
    next: usize,
    /// The stream's next bits, most significant first; past the `avail` valid ones, either
    /// the stream's following bits or zeros (so OR-ing them in again changes nothing).
    buf: u64,
    /// Valid bits in `buf`.
    avail: u32,
    /// Bits consumed.
    pos: u64,
    value: u64,
}

impl<'a> Decoder<'a> {
    fn new(bytes: &'a [u8], rice: u8) -> Self {
        Decoder {
            bytes,
            rice: u32::from(rice),
            next: 0,
            buf: 0,
            avail: 0,
            pos: 0,
            value: 0,
        }
    }

    /// A decoder that goes on from stream bit `bit`, the value before being `value`.
    fn at(bytes: &'a [u8], rice: u8, bit: u32, value: u64) -> Self {
        let mut d = Decoder {
            bytes,
            rice: u32::from(rice),
            next: (bit / 8) as usize,
            buf: 0,
            avail: 0,
            pos: u64::from(bit & !7),
            value,
        };
        d.refill();
        d.consume(bit % 8);
        d
    }

    /// Load whole bytes until at least 56 bits are valid; past the end of the stream, zeros.
    #[inline(always)]
    fn refill(&mut self) {
        if let Some(chunk) = self.bytes.get(self.next..self.next.wrapping_add(8)) {
            let word = u64::from_be_bytes(<[u8; 8]>::try_from(chunk).unwrap_or_default());
            self.buf |= word >> self.avail;
            let taken = (63 - self.avail) >> 3;
            self.next += taken as usize;
            self.avail += taken * 8;
        } else {
            while self.avail <= 56 {
                let byte = self.bytes.get(self.next).copied().unwrap_or(0);
                self.buf |= u64::from(byte) << (56 - self.avail);
                self.next = self.next.saturating_add(1);
                self.avail += 8;
            }
        }
    }

    #[inline(always)]
    fn consume(&mut self, bits: u32) {
        self.buf = self.buf.checked_shl(bits).unwrap_or(0);
        self.avail -= bits;
        self.pos += u64::from(bits);
    }

    /// The next value (the previous one plus the next gap).
    #[inline(always)]
    fn next_value(&mut self) -> u64 {
        let mut q = 0u64;
        loop {
            if self.avail < 32 {
                self.refill();
            }
            let ones = self.buf.leading_ones();
            if ones < self.avail {
                q += u64::from(ones);
                self.consume(ones + 1);
                break;
            }
            q += u64::from(self.avail);
            let all = self.avail;
            self.consume(all);
        }
        if self.avail < self.rice {
            self.refill();
        }
        let r = self.buf.checked_shr(64 - self.rice).unwrap_or(0);
        self.consume(self.rice);
        let gap = q.saturating_mul(1u64 << self.rice) | r;
        self.value = self.value.saturating_add(gap);
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition in the simplest terms: a string of '0'/'1' characters.
    fn reference_encode(values: &[u64], rice: u8) -> Vec<u8> {
        let mut bits = String::new();
        let mut previous = 0;
        for &v in values {
            let gap = v - previous;
            previous = v;
            bits.extend(std::iter::repeat_n('1', (gap >> rice) as usize));
            bits.push('0');
            for i in (0..rice).rev() {
                bits.push(if (gap >> i) & 1 == 1 { '1' } else { '0' });
            }
        }
        while !bits.len().is_multiple_of(8) {
            bits.push('0');
        }
        bits.as_bytes()
            .chunks(8)
            .map(|c| c.iter().fold(0u8, |acc, &b| (acc << 1) | (b - b'0')))
            .collect()
    }

    #[test]
    fn rice_parameter_at_two_to_the_minus_24() {
        let p = CompressedParams::for_target(2f64.powi(-24)).unwrap();
        assert_eq!(
            p,
            CompressedParams {
                range: 1 << 24,
                rice: 23
            }
        );
        let bits = p.expected_bits_per_value();
        assert!((bits - 25.54).abs() < 0.01, "{bits}");
        assert!(bits / 24.0 < 1.08);
        for bad in [0.0, 0.75, 1.0, f64::NAN, 1e-12] {
            assert!(CompressedParams::for_target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn decode_refusals_each_have_their_own_error() {
        let params = CompressedParams { range: 16, rice: 4 };
        let ok = CompressedFilter::build(params, [1; 16], [[1u8; 16], [2; 16], [3; 16]]).unwrap();
        let coded = ok.as_bytes().to_vec();
        let back = CompressedFilter::from_parts(params, [1; 16], 3, &coded).unwrap();
        assert_eq!(
            back.values().collect::<Vec<_>>(),
            ok.values().collect::<Vec<_>>()
        );
        let err =
            |n, bytes: &[u8]| CompressedFilter::from_parts(params, [1; 16], n, bytes).unwrap_err();
        assert_eq!(err(3, &coded[..1]), CompressedError::StreamTooShort);
        assert_eq!(err(4, &coded), CompressedError::StreamTooShort);
        let mut long = coded.clone();
        long.push(0);
        assert_eq!(err(3, &long), CompressedError::StreamTooLong { extra: 1 });
        // Three gaps of 47 (110 1111 each) overrun 3·16 = 48 at the second value.
        assert_eq!(
            err(3, &[0b1101_1111, 0b1011_1111, 0b0111_1000]),
            CompressedError::Overrun { index: 1 }
        );
        // One value 0 (5 bits: 0 0000), then three padding bits, one of them set.
        assert_eq!(err(1, &[0b0000_0001]), CompressedError::NonZeroPadding);
        assert!(CompressedFilter::from_parts(params, [1; 16], 1, &[0]).is_ok());
        assert_eq!(
            err(MAX_VALUES + 1, &coded),
            CompressedError::TooManyValues {
                n: u64::from(MAX_VALUES) + 1
            }
        );
        let bad = |range, rice| {
            CompressedFilter::from_parts(CompressedParams { range, rice }, [0; 16], 0, &[])
                .unwrap_err()
        };
        assert_eq!(bad(1, 4), CompressedError::RangeOutOfBounds { range: 1 });
        assert_eq!(bad(16, 33), CompressedError::RiceOutOfBounds { rice: 33 });
        // All ones: a quotient running off the end.
        assert_eq!(err(1, &[0xff; 40]), CompressedError::StreamTooShort);
    }

    proptest! {
        #[test]
        fn encoding_matches_the_reference_and_round_trips(
            mut values in proptest::collection::vec(0u64..5_000, 0..200),
            rice in 0u8..=MAX_RICE,
        ) {
            values.sort_unstable();
            let coded = encode(&values, rice);
            prop_assert_eq!(&coded, &reference_encode(&values, rice));
            let n = values.len() as u32;
            let params = CompressedParams { range: 5_000, rice };
            let f = CompressedFilter::from_parts(params, [0; 16], n, &coded).unwrap();
            prop_assert_eq!(f.values().collect::<Vec<_>>(), values);
        }

        #[test]
        fn every_entry_matches_and_answers_agree(
            ids in proptest::collection::vec(any::<Id>(), 0..300),
            others in proptest::collection::vec(any::<Id>(), 0..50),
            salt in any::<Salt>(),
            range in 2u32..100_000,
        ) {
            let params = CompressedParams::for_range(range);
            let f = CompressedFilter::build(params, salt, &ids).unwrap();
            let back = CompressedFilter::from_parts(params, salt, f.len(), f.as_bytes()).unwrap();
            prop_assert_eq!(back.as_bytes(), f.as_bytes());
            prop_assert_eq!(back.count_contained(&ids), ids.len());
            let mut all = ids.clone();
            all.extend(&others);
            let mut answers = Vec::new();
            back.contains_all(&all, &mut answers);
            for (id, hit) in all.iter().zip(&answers) {
                prop_assert_eq!(*hit, back.contains(id));
            }
        }

        #[test]
        fn jumps_between_sorted_queries_give_the_answers_of_a_full_decode(
            seed in any::<u64>(),
            members in 0usize..400,
            others in 0usize..400,
            count in prop_oneof![Just(3_000usize), 0usize..3_000],
            range in prop::sample::select(vec![2u32, 3, 64, 1 << 20, u32::MAX]),
        ) {
            // Thousands of values, so that matching jumps over many resume points.
            let mut rng = seed;
            let mut next_id = || {
                let mut id = [0u8; 16];
                for b in id.iter_mut() {
                    rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    *b = (rng >> 56) as u8;
                }
                id
            };
            let ids: Vec<Id> = (0..count).map(|_| next_id()).collect();
            let params = CompressedParams::for_range(range);
            let f = CompressedFilter::build(params, [9; 16], &ids).unwrap();
            let back = CompressedFilter::from_parts(params, [9; 16], f.len(), f.as_bytes()).unwrap();
            prop_assert_eq!(back.jumps.before.len(), count.div_ceil(SKIP as usize));
            // The bucket index finds what a binary search over every point finds, at the
            // points' own values, next to them, and anywhere in the range.
            let sorted: Vec<u64> = back.values().collect();
            let mut probes: Vec<u64> = back.jumps.before.iter()
                .flat_map(|&b| [b.saturating_sub(1), b, b + 1])
                .collect();
            probes.extend(sorted.iter().step_by(5).copied());
            probes.extend((0..200u64).map(|i| back.range() / 200 * i));
            for v in probes.into_iter().filter(|&v| v < back.range()) {
                let at = back.jumps.before.partition_point(|&b| b < v);
                let expected = at.checked_sub(1).map(|k| (k, back.jumps.bit[k], back.jumps.before[k]));
                prop_assert_eq!(back.jumps.before(v), expected);
                if let Some((k, bit, before)) = expected {
                    // And decoding from that point gives the values from index k · SKIP on.
                    let mut d = Decoder::at(&back.coded, params.rice, bit, before);
                    let from = k * SKIP as usize;
                    for x in &sorted[from..(from + 2 * SKIP as usize).min(sorted.len())] {
                        prop_assert_eq!(d.next_value(), *x);
                    }
                }
            }
            let values: std::collections::HashSet<u64> = sorted.iter().copied().collect();
            let mut queries: Vec<Id> = ids.iter().step_by(7).take(members).copied().collect();
            queries.extend((0..others).map(|_| next_id()));
            let mut answers = Vec::new();
            back.contains_all(&queries, &mut answers);
            for (id, hit) in queries.iter().zip(&answers) {
                prop_assert_eq!(*hit, values.contains(&back.value(id)));
            }
            // Built here (no resume points), the answers are the same.
            let mut built = Vec::new();
            f.contains_all(&queries, &mut built);
            prop_assert_eq!(built, answers);
        }

        #[test]
        fn corrupted_or_truncated_streams_never_panic(
            ids in proptest::collection::vec(any::<Id>(), 1..100),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
            cut in any::<usize>(),
            rice in 0u8..=MAX_RICE,
        ) {
            let params = CompressedParams { range: 1000, rice };
            let f = CompressedFilter::build(params, [5; 16], &ids).unwrap();
            let mut bytes = f.as_bytes().to_vec();
            for (at, x) in flips {
                let len = bytes.len();
                bytes[at % len] ^= x;
            }
            if let Ok(g) = CompressedFilter::from_parts(params, [5; 16], f.len(), &bytes) {
                let _ = g.count_contained(&ids);
            }
            let cut = cut % f.as_bytes().len();
            prop_assert!(CompressedFilter::from_parts(params, [5; 16], f.len(), &f.as_bytes()[..cut]).is_err());
        }
    }
}
