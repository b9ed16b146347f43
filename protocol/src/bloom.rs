//! Salted Bloom filter over 16-byte identifiers.
//!
//! This module is the reference implementation of the filter used by the
//! contact-tracing protocol. The definition below is **normative**: the Kotlin
//! and Swift ports must reproduce it bit for bit, so that a filter built on one
//! platform answers identically on every other.
//!
//! # Normative definition
//!
//! Parameters, which travel with the filter:
//!
//! * `bits` — *m*, a `u32` with 64 ≤ *m* ≤ 2³² − 8 and *m* a multiple of 8, so
//!   the filter is exactly *m*/8 whole bytes;
//! * `hashes` — *k*, a `u8` with 1 ≤ *k* ≤ 32;
//! * `salt` — 16 bytes, drawn fresh at random for every filter.
//!
//! The filter is *m*/8 bytes, all zero initially. For a 16-byte identifier `id`:
//!
//! 1. `h = AES-128(key = salt, plaintext = id)`: one 16-byte block, no mode,
//!    no padding.
//! 2. `a = h[0..8]` read as a little-endian `u64`; `b = h[8..16]` read as a
//!    little-endian `u64`.
//! 3. Enhanced double hashing, all arithmetic modulo 2⁶⁴: `x₀ = a`, `y₀ = b`;
//!    for `i = 0 .. k−1`:
//!    * position `pᵢ = ((xᵢ >> 32) · m) >> 32` — a 64-bit product of two
//!      values below 2³², so it cannot overflow, and `pᵢ < m`;
//!    * `xᵢ₊₁ = xᵢ + yᵢ`, `yᵢ₊₁ = yᵢ + (i + 1)`.
//!
//!    In closed form `xᵢ = a + i·b + (i³ − i)/6 (mod 2⁶⁴)`.
//! 4. Bit `p` lives in byte `p >> 3` of the filter, under the mask
//!    `1 << (p & 7)` (least significant bit first).
//!
//! *Insert* sets the *k* bits `p₀ … p_{k−1}` (positions may repeat). A *query*
//! answers "maybe present" if and only if all *k* bits are set, and "absent"
//! otherwise; implementations may stop at the first clear bit.
//!
//! # Test vector
//!
//! `salt = 00 01 02 … 0f`, `id = aa × 16`, *m* = 1024, *k* = 5:
//!
//! * `h = fb d4 9b 09 1a 38 f8 7a d5 c3 ee 25 80 ba 41 4c`
//! * `a = 0x7af8381a099bd4fb`, `b = 0x4c41ba8025eec3d5`
//! * positions `[491, 796, 77, 382, 687]`
//! * after inserting `id` into the empty filter, the non-zero bytes are
//!   `[9] = 0x20`, `[47] = 0x40`, `[61] = 0x08`, `[85] = 0x80`, `[99] = 0x10`.
//!
//! (Checked independently by `check_vector.py` with Python's `cryptography`.)
//!
//! # Example
//!
//! ```
//! use bluezone_protocol::{BloomFilter, BloomParams};
//!
//! let params = BloomParams::for_target(1000, 1e-6)?;
//! assert_eq!((params.hashes, params.bits), (20, 28_760));
//! let salt = [0x42; 16]; // use fresh random bytes in practice
//! let mut filter = BloomFilter::new(params, salt)?;
//! filter.insert(&[7; 16]);
//! assert!(filter.contains(&[7; 16]));
//! assert!(!filter.contains(&[8; 16]));
//!
//! // Receiving side: rebuild from the transmitted parameters, salt and bytes.
//! let received = BloomFilter::from_parts(params, salt, filter.as_bytes().to_vec())?;
//! let mut answers = Vec::new();
//! received.contains_all(&[[7; 16], [8; 16]], &mut answers);
//! assert_eq!(answers, [true, false]);
//! # Ok::<(), bluezone_protocol::BloomError>(())
//! ```
//!
//! # Choosing parameters
//!
//! [`BloomParams::for_target`] derives the parameters for *n* elements and a
//! target false-positive rate ε:
//!
//! * `k = clamp(round(log2(1/ε)), 1, 32)` (round half away from zero);
//! * `m = ceil(−k·n / ln(1 − ε^(1/k)))`, rounded up to a multiple of 8 and to
//!   at least 64; an error if that exceeds 2³² − 8.
//!
//! This derivation is advisory, not part of the wire format: it uses
//! floating-point `ln`/`pow`, whose last bits differ between platform math
//! libraries, so a port may land 8 bits away in rare edge cases. Receivers
//! must use the `bits` and `hashes` sent with the filter, never re-derive them.
//!
//! The predicted false-positive rate of *m* bits, *k* hashes and *n* elements
//! is `(1 − e^(−k·n/m))^k` ([`BloomParams::predicted_fp_rate`]). When
//! `k = log2(1/ε)` exactly (ε a power of two), `ε^(1/k) = 1/2` and the size is
//! `m/n = k / ln 2 = log2(1/ε) / ln 2 ≈ 1.44 · log2(1/ε)` bits per element —
//! about 44 % above the information-theoretic bound of `log2(1/ε)` bits per
//! element. At that size about half the filter's bits are set.

use core::borrow::Borrow;
use core::fmt;
use core::iter::FusedIterator;

use aes::Aes128Enc;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};

/// Length of an identifier in bytes.
pub const ID_LEN: usize = 16;
/// Length of a salt (the AES-128 key) in bytes.
pub const SALT_LEN: usize = 16;
/// Smallest permitted filter size in bits.
pub const MIN_BITS: u32 = 64;
/// Largest permitted filter size in bits: 2³² − 8.
pub const MAX_BITS: u32 = u32::MAX - 7;
/// Largest permitted number of hash functions.
pub const MAX_HASHES: u8 = 32;

/// A 16-byte identifier.
pub type Id = [u8; ID_LEN];
/// A 16-byte per-filter salt, used as the AES-128 key.
pub type Salt = [u8; SALT_LEN];

/// Identifiers encrypted together by the batch operations: enough for the
/// AES backend to pipeline (it works on 8 or more blocks at a time) and for
/// queries to keep many memory loads in flight.
const CHUNK: usize = 64;

/// Filters smaller than this mostly stay in cache, and
/// [`BloomFilter::insert_all`] sets their bits directly.
const SCATTER_MIN_BYTES: usize = 1 << 20;
/// Upper bound on the scratch memory of [`BloomFilter::insert_all`].
const SCATTER_MAX_BYTES: usize = 16 << 20;

type Block = aes::Block;

/// Write buffers of [`BloomFilter::insert_all`] for large filters: one
/// fixed-capacity buffer per region of the filter (at least 2²⁰ bits, i.e.
/// 128 KiB, so that a region stays in L2 while it is written and the number
/// of buffers being filled stays small; at most 4096 regions). A full buffer
/// is applied to its region at once, while the region's cache lines are hot;
/// setting bits commutes, so the order of writes does not matter. (Regions
/// of 2¹⁸, 2²⁰ and 2²² bits built a 4M-entry, 2⁻²⁴ filter in 0.89 s, 0.79 s
/// and 1.02 s on the reference machine.)
struct Scatter {
    /// `n_regions · cap` positions; region `r` owns `buf[r·cap ..][..cap]`.
    buf: Vec<u32>,
    /// Positions currently held for each region.
    fill: Vec<u32>,
    cap: usize,
    shift: u32,
}

impl Scatter {
    fn new(bits: u32, n_positions: usize) -> Self {
        let shift = (u32::BITS - (bits - 1).leading_zeros())
            .saturating_sub(12)
            .max(20);
        let n_regions = ((bits - 1) >> shift) as usize + 1;
        // Aim for 16 writes per 64-byte line of a region per flush, but no
        // more than the whole batch needs, nor the memory bound.
        let lines_per_region = 1usize << (shift - 9);
        let cap = (16 * lines_per_region)
            .min((n_positions / n_regions).saturating_mul(5) / 4 + 64)
            .min(SCATTER_MAX_BYTES / 4 / n_regions)
            .max(1);
        Self {
            buf: vec![0; n_regions * cap],
            fill: vec![0; n_regions],
            cap,
            shift,
        }
    }

    #[inline(always)]
    fn push(&mut self, bits: &mut [u8], p: u32) {
        let r = (p >> self.shift) as usize;
        let f = self.fill[r] as usize;
        self.buf[r * self.cap + f] = p;
        if f + 1 == self.cap {
            self.flush(bits, r, self.cap);
            self.fill[r] = 0;
        } else {
            self.fill[r] = (f + 1) as u32;
        }
    }

    #[inline(never)]
    fn flush(&self, bits: &mut [u8], r: usize, len: usize) {
        for &p in &self.buf[r * self.cap..][..len] {
            bits[(p >> 3) as usize] |= 1 << (p & 7);
        }
    }

    fn flush_all(&mut self, bits: &mut [u8]) {
        for r in 0..self.fill.len() {
            self.flush(bits, r, self.fill[r] as usize);
            self.fill[r] = 0;
        }
    }
}

/// Errors from parameter validation, parameter derivation and filter
/// construction.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum BloomError {
    /// `bits` is below [`MIN_BITS`].
    TooFewBits {
        /// The rejected value.
        bits: u32,
    },
    /// `bits` is not a multiple of 8.
    BitsNotMultipleOf8 {
        /// The rejected value.
        bits: u32,
    },
    /// `hashes` is 0 or above [`MAX_HASHES`].
    InvalidHashCount {
        /// The rejected value.
        hashes: u8,
    },
    /// The target false-positive rate is not in the open interval (0, 1)
    /// (this includes NaN).
    InvalidTargetRate {
        /// The rejected value.
        target_fp: f64,
    },
    /// The derived filter would need more than [`MAX_BITS`] bits.
    TooLarge {
        /// Requested element count.
        n: u64,
        /// Requested false-positive rate.
        target_fp: f64,
    },
    /// The filter bytes passed to [`BloomFilter::from_parts`] do not have the
    /// length the parameters require.
    WrongLength {
        /// `bits / 8`.
        expected: usize,
        /// Length actually given.
        actual: usize,
    },
}

impl fmt::Display for BloomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooFewBits { bits } => {
                write!(
                    f,
                    "bloom filter size {bits} bits is below the minimum of {MIN_BITS}"
                )
            }
            Self::BitsNotMultipleOf8 { bits } => {
                write!(f, "bloom filter size {bits} bits is not a multiple of 8")
            }
            Self::InvalidHashCount { hashes } => {
                write!(
                    f,
                    "bloom filter hash count {hashes} is outside 1..={MAX_HASHES}"
                )
            }
            Self::InvalidTargetRate { target_fp } => {
                write!(f, "target false-positive rate {target_fp} is not in (0, 1)")
            }
            Self::TooLarge { n, target_fp } => write!(
                f,
                "a bloom filter for {n} elements at false-positive rate {target_fp} \
                 would exceed {MAX_BITS} bits"
            ),
            Self::WrongLength { expected, actual } => write!(
                f,
                "bloom filter is {actual} bytes but its parameters require {expected}"
            ),
        }
    }
}

impl std::error::Error for BloomError {}

/// Filter parameters: size in bits (*m*) and number of hash functions (*k*).
///
/// These, together with the salt, must be transmitted with the filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BloomParams {
    /// Filter size *m* in bits: at least [`MIN_BITS`], a multiple of 8
    /// (so at most [`MAX_BITS`]).
    pub bits: u32,
    /// Number of hash functions *k*: 1 ..= [`MAX_HASHES`].
    pub hashes: u8,
}

impl BloomParams {
    /// Derives parameters for `n` elements at false-positive rate
    /// `target_fp`, as described in the [module documentation](self):
    /// `k = clamp(round(log2(1/ε)), 1, 32)`,
    /// `m = ceil(−k·n / ln(1 − ε^(1/k)))` rounded up to a multiple of 8 and
    /// to at least 64.
    ///
    /// # Errors
    ///
    /// [`BloomError::InvalidTargetRate`] unless `0 < target_fp < 1`;
    /// [`BloomError::TooLarge`] if *m* would exceed [`MAX_BITS`].
    pub fn for_target(n: u64, target_fp: f64) -> Result<Self, BloomError> {
        // Written so that NaN fails too.
        if !(target_fp > 0.0 && target_fp < 1.0) {
            return Err(BloomError::InvalidTargetRate { target_fp });
        }
        // log2(1/ε) = −log2(ε), exact for powers of two and finite even for
        // subnormal ε. The clamp makes the cast lossless.
        let k = (-target_fp.log2())
            .round()
            .clamp(1.0, f64::from(MAX_HASHES)) as u8;
        let kf = f64::from(k);
        // t = ε^(1/k) is in (0, 1), so ln(1 − t) is finite and negative.
        // ln_1p(−t) is ln(1 − t) without cancellation for small t.
        let t = target_fp.powf(1.0 / kf);
        let m = (-kf * n as f64 / (-t).ln_1p()).ceil();
        // MAX_BITS is a multiple of 8, so rounding up to a multiple of 8
        // cannot push an m that passes this check past it.
        if m.is_nan() || m > f64::from(MAX_BITS) {
            return Err(BloomError::TooLarge { n, target_fp });
        }
        let m = m as u32; // lossless: 0 ≤ m ≤ MAX_BITS, integral
        let bits = m.next_multiple_of(8).max(MIN_BITS);
        Ok(Self { bits, hashes: k })
    }

    /// Checks the invariants: `bits ≥ 64`, `bits % 8 == 0`,
    /// `1 ≤ hashes ≤ 32`.
    ///
    /// # Errors
    ///
    /// The first violated invariant, in that order.
    pub fn validate(&self) -> Result<(), BloomError> {
        if self.bits < MIN_BITS {
            return Err(BloomError::TooFewBits { bits: self.bits });
        }
        if !self.bits.is_multiple_of(8) {
            return Err(BloomError::BitsNotMultipleOf8 { bits: self.bits });
        }
        if self.hashes == 0 || self.hashes > MAX_HASHES {
            return Err(BloomError::InvalidHashCount {
                hashes: self.hashes,
            });
        }
        Ok(())
    }

    /// Filter length in bytes, `bits / 8`.
    pub fn byte_len(&self) -> usize {
        (self.bits / 8) as usize
    }

    /// Predicted false-positive rate `(1 − e^(−k·n/m))^k` after inserting
    /// `n` distinct elements.
    pub fn predicted_fp_rate(&self, n: u64) -> f64 {
        let k = f64::from(self.hashes);
        let m = f64::from(self.bits);
        // 1 − e^(−x) = −expm1(−x), accurate when x is small.
        let fill = -(-k * n as f64 / m).exp_m1();
        fill.powi(i32::from(self.hashes))
    }
}

/// The *k* bit positions of one identifier (step 3 of the definition), in
/// order `p₀, p₁, …, p_{k−1}`.
///
/// Obtained from [`BloomFilter::positions`], or from a hash directly with
/// [`Positions::from_hash`].
#[derive(Clone, Debug)]
pub struct Positions {
    x: u64,
    y: u64,
    m: u64,
    i: u32,
    k: u32,
}

impl Positions {
    /// Positions for the 16-byte AES output `hash` (step 1's `h`) under
    /// `params`. `params` is not validated here; with invalid parameters the
    /// positions are still computed by the formula but no filter accepts them.
    pub fn from_hash(hash: &[u8; 16], params: BloomParams) -> Self {
        let (a, b) = split_hash(hash);
        Self {
            x: a,
            y: b,
            m: u64::from(params.bits),
            i: 0,
            k: u32::from(params.hashes),
        }
    }
}

impl Iterator for Positions {
    type Item = u32;

    #[inline]
    fn next(&mut self) -> Option<u32> {
        if self.i >= self.k {
            return None;
        }
        let p = position(self.x, self.m);
        self.x = self.x.wrapping_add(self.y);
        self.i += 1;
        self.y = self.y.wrapping_add(u64::from(self.i));
        Some(p)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.k - self.i) as usize;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Positions {}
impl FusedIterator for Positions {}

/// Step 2: `a`, `b` from the AES output.
#[inline(always)]
fn split_hash(h: &[u8; 16]) -> (u64, u64) {
    let mut lo = [0u8; 8];
    let mut hi = [0u8; 8];
    lo.copy_from_slice(&h[..8]);
    hi.copy_from_slice(&h[8..]);
    (u64::from_le_bytes(lo), u64::from_le_bytes(hi))
}

/// Step 3's `pᵢ = ((xᵢ >> 32) · m) >> 32`, with `m < 2³²`.
#[inline(always)]
fn position(x: u64, m: u64) -> u32 {
    (((x >> 32) * m) >> 32) as u32
}

/// A salted Bloom filter over 16-byte identifiers, following the
/// [normative definition](self).
///
/// Holds its parameters, salt, the filter bytes and the expanded AES-128 key.
#[derive(Clone)]
pub struct BloomFilter {
    params: BloomParams,
    salt: Salt,
    bits: Vec<u8>,
    cipher: Aes128Enc,
}

impl fmt::Debug for BloomFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BloomFilter")
            .field("params", &self.params)
            .field("salt", &self.salt)
            .field("byte_len", &self.bits.len())
            .finish_non_exhaustive()
    }
}

impl BloomFilter {
    /// An empty filter. `salt` should be fresh random bytes for every filter.
    ///
    /// # Errors
    ///
    /// Any error of [`BloomParams::validate`].
    pub fn new(params: BloomParams, salt: Salt) -> Result<Self, BloomError> {
        params.validate()?;
        let bytes = vec![0u8; params.byte_len()];
        Ok(Self::assemble(params, salt, bytes))
    }

    /// A filter from received parts: parameters, salt and the filter bytes.
    ///
    /// # Errors
    ///
    /// Any error of [`BloomParams::validate`], or
    /// [`BloomError::WrongLength`] if `bytes.len() != params.bits / 8`.
    pub fn from_parts(params: BloomParams, salt: Salt, bytes: Vec<u8>) -> Result<Self, BloomError> {
        params.validate()?;
        if bytes.len() != params.byte_len() {
            return Err(BloomError::WrongLength {
                expected: params.byte_len(),
                actual: bytes.len(),
            });
        }
        Ok(Self::assemble(params, salt, bytes))
    }

    fn assemble(params: BloomParams, salt: Salt, bits: Vec<u8>) -> Self {
        let cipher = Aes128Enc::new(&Array::from(salt));
        Self {
            params,
            salt,
            bits,
            cipher,
        }
    }

    /// The filter's parameters.
    pub fn params(&self) -> BloomParams {
        self.params
    }

    /// The filter's salt.
    pub fn salt(&self) -> &Salt {
        &self.salt
    }

    /// The filter bytes (`bits / 8` of them; bit `p` is
    /// `bytes[p >> 3] & (1 << (p & 7))`).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bits
    }

    /// Step 1 of the definition: `h = AES-128(salt, id)`.
    pub fn hash(&self, id: &Id) -> [u8; 16] {
        let mut block = Block::from(*id);
        self.cipher.encrypt_block(&mut block);
        block.0
    }

    /// The *k* bit positions of `id`, in order.
    pub fn positions(&self, id: &Id) -> Positions {
        Positions::from_hash(&self.hash(id), self.params)
    }

    /// Inserts `id`.
    pub fn insert(&mut self, id: &Id) {
        let h = self.hash(id);
        self.insert_hash(&h);
    }

    /// Whether `id` may be present: `false` means certainly absent.
    pub fn contains(&self, id: &Id) -> bool {
        let h = self.hash(id);
        Positions::from_hash(&h, self.params).all(|p| self.bit(p))
    }

    /// Inserts every identifier in `ids`; the same result as calling
    /// [`insert`](Self::insert) on each, but faster. AES runs on several
    /// blocks at once and, when the batch is large next to the filter, the
    /// bit positions are first gathered per 32 KiB region of the filter and
    /// set a region at a time, so that one fetch of a cache line serves
    /// several writes. That path allocates up to 16 MiB of scratch memory
    /// once per call.
    pub fn insert_all<I>(&mut self, ids: I)
    where
        I: IntoIterator,
        I::Item: Borrow<Id>,
        I::IntoIter: ExactSizeIterator,
    {
        let ids = ids.into_iter().map(|id| *id.borrow());
        let lines = self.bits.len() / 64;
        let n_positions = ids.len().saturating_mul(usize::from(self.params.hashes));
        if self.bits.len() < SCATTER_MIN_BYTES || n_positions < lines {
            self.for_each_hash(ids, |f, h| f.insert_hash(&h));
            return;
        }
        let mut sc = Scatter::new(self.params.bits, n_positions);
        let m = u64::from(self.params.bits);
        let k = u64::from(self.params.hashes);
        self.for_each_hash(ids, |f, h| {
            let (mut x, mut y) = split_hash(&h);
            for i in 0..k {
                sc.push(&mut f.bits, position(x, m));
                x = x.wrapping_add(y);
                y = y.wrapping_add(i + 1);
            }
        });
        sc.flush_all(&mut self.bits);
    }

    /// Calls `f(self, h)` with `h = AES-128(salt, id)` for every `id` in
    /// `ids`, in order, encrypting [`CHUNK`] blocks at a time.
    #[inline(always)]
    fn for_each_hash(
        &mut self,
        mut ids: impl Iterator<Item = Id>,
        mut f: impl FnMut(&mut Self, [u8; 16]),
    ) {
        let mut blocks = [Block::default(); CHUNK];
        loop {
            let mut len = 0;
            for (block, id) in blocks.iter_mut().zip(ids.by_ref()) {
                block.0 = id;
                len += 1;
            }
            if len == 0 {
                return;
            }
            let blocks = &mut blocks[..len];
            self.cipher.encrypt_blocks(blocks);
            for block in blocks.iter() {
                f(self, block.0);
            }
        }
    }

    /// Queries every identifier in `ids`: clears `out`, then pushes one
    /// answer per identifier, in order, identical to what
    /// [`contains`](Self::contains) would return. Reusing `out` across calls
    /// avoids allocation.
    pub fn contains_all(&self, ids: &[Id], out: &mut Vec<bool>) {
        out.clear();
        out.reserve(ids.len());
        let mut blocks = [Block::default(); CHUNK];
        let mut answers = [false; CHUNK];
        for chunk in ids.chunks(CHUNK) {
            let blocks = &mut blocks[..chunk.len()];
            for (block, id) in blocks.iter_mut().zip(chunk) {
                block.0 = *id;
            }
            self.cipher.encrypt_blocks(blocks);
            let answers = &mut answers[..chunk.len()];
            self.contains_hashes(blocks, answers);
            out.extend_from_slice(answers);
        }
    }

    /// Number of identifiers in `ids` for which [`contains`](Self::contains)
    /// is true, computed like [`contains_all`](Self::contains_all) without
    /// storing the answers.
    pub fn count_contained(&self, ids: &[Id]) -> usize {
        let mut blocks = [Block::default(); CHUNK];
        let mut answers = [false; CHUNK];
        let mut count = 0;
        for chunk in ids.chunks(CHUNK) {
            let blocks = &mut blocks[..chunk.len()];
            for (block, id) in blocks.iter_mut().zip(chunk) {
                block.0 = *id;
            }
            self.cipher.encrypt_blocks(blocks);
            let answers = &mut answers[..chunk.len()];
            self.contains_hashes(blocks, answers);
            count += answers.iter().filter(|&&a| a).count();
        }
        count
    }

    #[inline(always)]
    fn insert_hash(&mut self, h: &[u8; 16]) {
        for p in Positions::from_hash(h, self.params) {
            self.bits[(p >> 3) as usize] |= 1 << (p & 7);
        }
    }

    #[inline(always)]
    fn bit(&self, p: u32) -> bool {
        (self.bits[(p >> 3) as usize] >> (p & 7)) & 1 != 0
    }

    /// Queries up to [`CHUNK`] hashed identifiers round by round: round `i`
    /// tests bit `pᵢ` of every identifier still undecided, then drops those
    /// whose bit was clear (each identifier still stops at its first clear
    /// bit). The probes of a round are independent loads, kept apart from
    /// the compaction that depends on their results, so the cache misses of
    /// a whole round overlap instead of waiting on one another.
    fn contains_hashes(&self, hashes: &[Block], answers: &mut [bool]) {
        debug_assert!(hashes.len() <= CHUNK && hashes.len() == answers.len());
        let m = u64::from(self.params.bits);
        let mut x = [0u64; CHUNK];
        let mut y = [0u64; CHUNK];
        let mut live = [0u8; CHUNK]; // indices of undecided identifiers
        let mut hit = [false; CHUNK];
        for (j, h) in hashes.iter().enumerate() {
            (x[j], y[j]) = split_hash(&h.0);
            live[j] = j as u8; // CHUNK ≤ 256
        }
        let mut n_live = hashes.len();
        for i in 0..u64::from(self.params.hashes) {
            for (&j, hit) in live[..n_live].iter().zip(&mut hit) {
                let j = usize::from(j);
                *hit = self.bit(position(x[j], m));
                x[j] = x[j].wrapping_add(y[j]);
                y[j] = y[j].wrapping_add(i + 1);
            }
            // Branch-free compaction: always copy, advance on a hit.
            let mut kept = 0;
            for r in 0..n_live {
                live[kept] = live[r];
                kept += usize::from(hit[r]);
            }
            n_live = kept;
            if n_live == 0 {
                break;
            }
        }
        answers.fill(false);
        for &j in &live[..n_live] {
            answers[usize::from(j)] = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Independent re-computation of the definition: AES directly, then the
    /// closed form `xᵢ = a + i·b + (i³ − i)/6` and the position via u128.
    fn reference_positions(salt: &Salt, id: &Id, m: u32, k: u8) -> Vec<u32> {
        let cipher = aes::Aes128::new(&Array::from(*salt));
        let mut block = Array::from(*id);
        cipher.encrypt_block(&mut block);
        let h: [u8; 16] = block.into();
        let a = u64::from_le_bytes(h[0..8].try_into().unwrap());
        let b = u64::from_le_bytes(h[8..16].try_into().unwrap());
        (0..u64::from(k))
            .map(|i| {
                let x = a
                    .wrapping_add(i.wrapping_mul(b))
                    .wrapping_add((i * i * i - i) / 6);
                let hi = u128::from(x >> 32);
                ((hi * u128::from(m)) / (1u128 << 32)) as u32
            })
            .collect()
    }

    fn params_strategy() -> impl Strategy<Value = BloomParams> {
        (prop_oneof![8u32..=4096, 8u32..=(MAX_BITS / 8)], 1u8..=32).prop_map(|(bytes, hashes)| {
            BloomParams {
                bits: bytes * 8,
                hashes,
            }
        })
    }

    #[test]
    fn test_vector() {
        let salt: Salt = core::array::from_fn(|i| i as u8);
        let id: Id = [0xaa; 16];
        let params = BloomParams {
            bits: 1024,
            hashes: 5,
        };
        let f = BloomFilter::new(params, salt).unwrap();
        let h = f.hash(&id);
        let positions: Vec<u32> = f.positions(&id).collect();
        println!("h = {h:02x?}\npositions = {positions:?}");
        assert_eq!(
            h,
            [
                0xfb, 0xd4, 0x9b, 0x09, 0x1a, 0x38, 0xf8, 0x7a, 0xd5, 0xc3, 0xee, 0x25, 0x80, 0xba,
                0x41, 0x4c
            ]
        );
        assert_eq!(positions, [491, 796, 77, 382, 687]);
        assert_eq!(positions, reference_positions(&salt, &id, 1024, 5));

        let mut f = f;
        f.insert(&id);
        let mut expected = [0u8; 128];
        for (i, v) in [(9, 0x20), (47, 0x40), (61, 0x08), (85, 0x80), (99, 0x10)] {
            expected[i] = v;
        }
        assert_eq!(f.as_bytes(), &expected[..]);
        assert!(f.contains(&id));
    }

    #[test]
    fn positions_at_extreme_hashes() {
        // x >> 32 = 2³² − 1 must still give p < m for the largest m.
        let params = BloomParams {
            bits: MAX_BITS,
            hashes: 32,
        };
        for h in [[0xffu8; 16], [0u8; 16]] {
            let ps: Vec<u32> = Positions::from_hash(&h, params).collect();
            assert_eq!(ps.len(), 32);
            assert!(ps.iter().all(|&p| p < MAX_BITS));
        }
        let ps: Vec<u32> = Positions::from_hash(&[0xff; 16], params).collect();
        assert_eq!(ps[0], MAX_BITS - 1);
    }

    proptest! {
        #[test]
        fn positions_match_closed_form(
            params in params_strategy(),
            salt in any::<Salt>(),
            id in any::<Id>(),
        ) {
            let wrong_len = matches!(
                BloomFilter::from_parts(params, salt, Vec::new()),
                Err(BloomError::WrongLength { .. })
            );
            prop_assert!(wrong_len);
            // Build without allocating a multi-GiB filter: only hashing is
            // needed, so use the smallest filter with the same salt.
            let small = BloomFilter::new(BloomParams { bits: 64, hashes: 1 }, salt).unwrap();
            let ps: Vec<u32> = Positions::from_hash(&small.hash(&id), params).collect();
            prop_assert_eq!(ps.len(), usize::from(params.hashes));
            prop_assert!(ps.iter().all(|&p| p < params.bits));
            prop_assert_eq!(ps, reference_positions(&salt, &id, params.bits, params.hashes));
        }

        #[test]
        fn filter_positions_match_reference(
            bytes in 8u32..=4096,
            hashes in 1u8..=32,
            salt in any::<Salt>(),
            id in any::<Id>(),
        ) {
            let params = BloomParams { bits: bytes * 8, hashes };
            let f = BloomFilter::new(params, salt).unwrap();
            let ps: Vec<u32> = f.positions(&id).collect();
            prop_assert_eq!(f.positions(&id).len(), usize::from(hashes));
            prop_assert_eq!(ps, reference_positions(&salt, &id, params.bits, hashes));
        }

        #[test]
        fn no_false_negatives(
            bytes in 8u32..=2048,
            hashes in 1u8..=32,
            salt in any::<Salt>(),
            ids in proptest::collection::vec(any::<Id>(), 0..300),
            split in 0usize..300,
        ) {
            let params = BloomParams { bits: bytes * 8, hashes };
            let mut f = BloomFilter::new(params, salt).unwrap();
            let split = split.min(ids.len());
            for id in &ids[..split] {
                f.insert(id);
            }
            f.insert_all(&ids[split..]);
            for id in &ids {
                prop_assert!(f.contains(id));
            }
            let mut out = vec![false; 3];
            f.contains_all(&ids, &mut out);
            prop_assert_eq!(out.len(), ids.len());
            prop_assert!(out.iter().all(|&a| a));
            prop_assert_eq!(f.count_contained(&ids), ids.len());
        }

        #[test]
        fn batch_forms_match_single_forms(
            bytes in 8u32..=256,
            hashes in 1u8..=8,
            salt in any::<Salt>(),
            members in proptest::collection::vec(any::<Id>(), 0..200),
            queries in proptest::collection::vec(any::<Id>(), 0..400),
        ) {
            let params = BloomParams { bits: bytes * 8, hashes };
            let mut single = BloomFilter::new(params, salt).unwrap();
            let mut batch = BloomFilter::new(params, salt).unwrap();
            for id in &members {
                single.insert(id);
            }
            batch.insert_all(&members);
            prop_assert_eq!(single.as_bytes(), batch.as_bytes());

            // Small, well-filled filters: many queries are false positives,
            // so both answers are exercised.
            let expected: Vec<bool> = queries.iter().map(|q| single.contains(q)).collect();
            let mut out = Vec::new();
            single.contains_all(&queries, &mut out);
            prop_assert_eq!(&out, &expected);
            prop_assert_eq!(
                single.count_contained(&queries),
                expected.iter().filter(|&&a| a).count()
            );
        }

        #[test]
        fn from_parts_round_trip(
            bytes in 8u32..=512,
            hashes in 1u8..=32,
            salt in any::<Salt>(),
            ids in proptest::collection::vec(any::<Id>(), 0..50),
        ) {
            let params = BloomParams { bits: bytes * 8, hashes };
            let mut f = BloomFilter::new(params, salt).unwrap();
            f.insert_all(&ids);
            let g = BloomFilter::from_parts(params, salt, f.as_bytes().to_vec()).unwrap();
            prop_assert_eq!(g.params(), params);
            prop_assert_eq!(g.salt(), &salt);
            for id in &ids {
                prop_assert!(g.contains(id));
            }
        }

        #[test]
        fn for_target_gives_valid_params(n in 0u64..=100_000_000, log_eps in 0.01f64..60.0) {
            let eps = (-log_eps).exp2();
            let k = (log_eps.round()).clamp(1.0, 32.0);
            let m = k * n as f64 / -(1.0 - eps.powf(1.0 / k)).ln();
            let p = match BloomParams::for_target(n, eps) {
                Ok(p) => p,
                Err(e) => {
                    prop_assert_eq!(e, BloomError::TooLarge { n, target_fp: eps });
                    prop_assert!(m > f64::from(MAX_BITS) * 0.999_999);
                    return Ok(());
                }
            };
            prop_assert!(m <= f64::from(MAX_BITS) * 1.000_001);
            prop_assert!(f64::from(p.bits) >= m * 0.999_999);
            prop_assert!(f64::from(p.bits) <= (m * 1.000_001).max(64.0) + 8.0);
            prop_assert!(p.validate().is_ok());
            prop_assert_eq!(
                u32::from(p.hashes),
                (log_eps.round() as u32).clamp(1, 32)
            );
            // The derived size meets the target (up to the rounding of m).
            prop_assert!(p.predicted_fp_rate(n) <= eps * (1.0 + 1e-9));
        }
    }

    #[test]
    fn batch_forms_match_at_chunk_boundaries() {
        // 512 bits, k = 3, 100 members: about 9 % of non-members are false
        // positives, so both answers occur; lengths straddle CHUNK.
        let params = BloomParams {
            bits: 512,
            hashes: 3,
        };
        let id = |i: u32, tag: u8| -> Id {
            let mut id = [tag; 16];
            id[..4].copy_from_slice(&i.to_le_bytes());
            id
        };
        let members: Vec<Id> = (0..100).map(|i| id(i, 1)).collect();
        let mut f = BloomFilter::new(params, [7; 16]).unwrap();
        f.insert_all(&members);
        let queries: Vec<Id> = (0..1000).map(|i| id(i, 2)).collect();
        let mut out = Vec::new();
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 1, 1000] {
            let q = &queries[..len];
            f.contains_all(q, &mut out);
            let expected: Vec<bool> = q.iter().map(|q| f.contains(q)).collect();
            assert_eq!(out, expected, "len {len}");
            assert_eq!(
                f.count_contained(q),
                expected.iter().filter(|&&a| a).count()
            );
        }
        let positives = out.iter().filter(|&&a| a).count();
        assert!(positives > 20 && positives < 200, "{positives}");
    }

    #[test]
    fn insert_all_buffered_path_matches_single_inserts() {
        // Filters of at least SCATTER_MIN_BYTES take the buffered path when
        // the batch has at least one position per cache line. 2²⁴ + 2¹⁷
        // bits: 65 regions of 2¹⁸ bits, the last one half size, 33,024
        // lines. Each case inserts in two halves: 20,000 ids × k = 32 is
        // ~9,800 positions per region, over the buffer capacity of 8,192, so
        // buffers fill and flush mid-batch; 1,000 ids × k = 5 is below the
        // threshold (direct path); 40,000 × 1 is just above it.
        let bits = (1 << 24) + (1 << 17);
        let last_region = ((1 << 24) / 8) as usize..;
        for (n, hashes) in [(40_000u32, 32u8), (2_000, 5), (80_000, 1)] {
            let params = BloomParams { bits, hashes };
            let ids: Vec<Id> = (0..n)
                .map(|i| {
                    let mut id = [0x5a; 16];
                    id[..4].copy_from_slice(&i.to_be_bytes());
                    id
                })
                .collect();
            let salt = [3; 16];
            let mut single = BloomFilter::new(params, salt).unwrap();
            let mut batch = BloomFilter::new(params, salt).unwrap();
            for id in &ids {
                single.insert(id);
            }
            batch.insert_all(&ids[..n as usize / 2]);
            batch.insert_all(&ids[n as usize / 2..]);
            assert!(
                single.as_bytes() == batch.as_bytes(),
                "n = {n}, k = {hashes}"
            );
            assert!(
                batch.as_bytes()[last_region.clone()]
                    .iter()
                    .any(|&b| b != 0)
            );
            assert_eq!(batch.count_contained(&ids), ids.len());
        }
    }

    #[test]
    fn from_parts_rejects_wrong_lengths() {
        let params = BloomParams {
            bits: 1024,
            hashes: 7,
        };
        for len in [0, 1, 127, 129, 1024] {
            assert_eq!(
                BloomFilter::from_parts(params, [0; 16], vec![0; len]).unwrap_err(),
                BloomError::WrongLength {
                    expected: 128,
                    actual: len
                }
            );
        }
        assert!(BloomFilter::from_parts(params, [0; 16], vec![0; 128]).is_ok());
        // Invalid parameters are reported before the length.
        assert_eq!(
            BloomFilter::from_parts(
                BloomParams {
                    bits: 60,
                    hashes: 7
                },
                [0; 16],
                vec![0; 0]
            )
            .unwrap_err(),
            BloomError::TooFewBits { bits: 60 }
        );
    }

    #[test]
    fn validate_rejects_bad_params() {
        let p = |bits, hashes| BloomParams { bits, hashes };
        assert_eq!(p(0, 3).validate(), Err(BloomError::TooFewBits { bits: 0 }));
        assert_eq!(
            p(56, 3).validate(),
            Err(BloomError::TooFewBits { bits: 56 })
        );
        assert_eq!(
            p(63, 3).validate(),
            Err(BloomError::TooFewBits { bits: 63 })
        );
        assert_eq!(
            p(100, 3).validate(),
            Err(BloomError::BitsNotMultipleOf8 { bits: 100 })
        );
        assert_eq!(
            p(u32::MAX, 3).validate(),
            Err(BloomError::BitsNotMultipleOf8 { bits: u32::MAX })
        );
        assert_eq!(
            p(64, 0).validate(),
            Err(BloomError::InvalidHashCount { hashes: 0 })
        );
        assert_eq!(
            p(64, 33).validate(),
            Err(BloomError::InvalidHashCount { hashes: 33 })
        );
        assert_eq!(
            p(64, 255).validate(),
            Err(BloomError::InvalidHashCount { hashes: 255 })
        );
        assert!(BloomFilter::new(p(64, 0), [0; 16]).is_err());
        assert!(BloomFilter::new(p(72, 33), [0; 16]).is_err());
        for ok in [p(64, 1), p(72, 32), p(MAX_BITS, 5)] {
            assert_eq!(ok.validate(), Ok(()));
        }
        assert_eq!(p(MAX_BITS, 1).byte_len(), (1usize << 29) - 1);
    }

    #[test]
    fn for_target_rejects_bad_rates() {
        for eps in [
            0.0,
            -0.0,
            1.0,
            -0.5,
            1.5,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            let err = BloomParams::for_target(1000, eps).unwrap_err();
            assert!(
                matches!(err, BloomError::InvalidTargetRate { .. }),
                "{eps}: {err}"
            );
        }
    }

    #[test]
    fn for_target_rejects_oversized_filters() {
        for (n, eps) in [
            (u64::MAX, 0.5),
            (u64::MAX, 1e-300),
            (1 << 40, 0.01),
            (200_000_000, 2f64.powi(-24)),
            (1, f64::MIN_POSITIVE / 1e10), // subnormal ε: k = 32, huge m per element
        ] {
            let err = BloomParams::for_target(n, eps).unwrap_err();
            assert_eq!(err, BloomError::TooLarge { n, target_fp: eps });
            assert!(err.to_string().contains("would exceed"));
        }
    }

    #[test]
    fn for_target_examples() {
        // ε = 2⁻²⁴: k = 24, ε^(1/k) = 1/2, m = 24·n/ln 2.
        let p = BloomParams::for_target(4_000_000, 2f64.powi(-24)).unwrap();
        assert_eq!(p.hashes, 24);
        let exact = 24.0 * 4.0e6 / core::f64::consts::LN_2;
        assert_eq!(p.bits, (exact.ceil() as u32).next_multiple_of(8));
        assert!((p.predicted_fp_rate(4_000_000) / 2f64.powi(-24) - 1.0).abs() < 1e-6);

        // Minimum size and k clamps.
        assert_eq!(
            BloomParams::for_target(0, 0.01).unwrap(),
            BloomParams {
                bits: 64,
                hashes: 7
            }
        );
        assert_eq!(BloomParams::for_target(10, 0.9).unwrap().hashes, 1);
        assert_eq!(BloomParams::for_target(10, 1e-30).unwrap().hashes, 32);
        // Rounding half away from zero: log2(1/ε) = 2.5 → k = 3.
        assert_eq!(
            BloomParams::for_target(10, 2f64.powf(-2.5)).unwrap().hashes,
            3
        );
        // Largest representable size is reachable.
        let p = BloomParams::for_target(100_000_000, 0.01).unwrap();
        assert!(p.bits <= MAX_BITS && p.bits.is_multiple_of(8));
    }

    #[test]
    fn errors_display() {
        let errs = [
            BloomError::TooFewBits { bits: 8 },
            BloomError::BitsNotMultipleOf8 { bits: 65 },
            BloomError::InvalidHashCount { hashes: 0 },
            BloomError::InvalidTargetRate { target_fp: 2.0 },
            BloomError::TooLarge {
                n: 1,
                target_fp: 0.1,
            },
            BloomError::WrongLength {
                expected: 8,
                actual: 9,
            },
        ];
        for e in errs {
            let boxed: Box<dyn std::error::Error> = Box::new(e.clone());
            assert!(!boxed.to_string().is_empty());
        }
    }
}
