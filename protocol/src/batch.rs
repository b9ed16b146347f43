//! Publication batches (seed step 4, "the System sends the F0's data to every App"): a signed
//! Bloom filter over the RPIs of the intervals F0s agreed to publish, and the signed index that
//! lets phones fetch only the batches they have not seen.
//!
//! Keys are never published: nobody can enumerate a batch, so nobody can follow an F0 around or
//! replay their RPIs. A filter hit on a phone is only a candidate; the server verifies every
//! report exactly (two-stage matching).
//!
//! Layouts: SPEC.md §8.3 (batch) and §8.4 (index); filter definitions: SPEC.md §8.1 (kind 1,
//! partitioned Bloom filter; kind 2, Golomb-Rice coded compressed Bloom filter).

use core::fmt;
use core::ops::Deref;

use rand_core::CryptoRng;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::bloom::{BloomError, BloomFilter, BloomParams, Id, Salt};
use crate::error::Error;
use crate::gcs::{CompressedError, CompressedFilter, CompressedParams};
use crate::keys::{RPI_LEN, RollingProximityId};
use crate::time::{INTERVAL_SECONDS, IntervalNumber, UnixTime};
use crate::upload::PublishedEntry;
use crate::wire::{self, MessageType, Reader};

/// Format version of publication batches written and read here.
pub const BATCH_VERSION: u8 = 2;
/// Format version of batch indexes written and read here.
pub const BATCH_INDEX_VERSION: u8 = 1;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Length of an Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Bytes of a batch before its filter.
pub const BATCH_HEADER_LEN: usize = 60;
/// Largest filter a phone accepts: 64 MiB, about 15 million entries at a false-positive rate
/// of 2^-24.
pub const MAX_FILTER_BYTES: usize = 64 << 20;
/// Most entries (real and dummy) one batch may hold.
pub const MAX_BATCH_ENTRIES: u32 = 1 << 26;
/// Bytes of one batch index entry.
pub const BATCH_INDEX_ENTRY_LEN: usize = 68;
/// Most batches one index lists.
pub const MAX_INDEX_ENTRIES: u32 = 100_000;
/// Default target false-positive rate of the filter: 2^-24.
pub const DEFAULT_TARGET_FP_RATE: f64 = 1.0 / (1u64 << 24) as f64;
/// How far a sighting may lie from the interval of its RPI and still count: GAEN's tolerance
/// for clock skew between phones, two hours.
pub const MATCH_TOLERANCE_SECONDS: u64 = 2 * 3600;

/// Why a batch or an index is refused (beyond malformed bytes, which are [`DecodeError`]s).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum BatchError {
    /// The Ed25519 signature does not verify under the pinned publisher key: the bytes were
    /// changed, or another key signed them.
    BadSignature,
    /// A batch this phone has already processed (a replay).
    AlreadySeen(u64),
    /// A batch created more than 14 days ago: nothing in it can still match.
    Expired(u64),
    /// Filter parameters that break SPEC.md §8.1.1 (size, hash count): kind 1.
    BadFilter(BloomError),
    /// A compressed filter whose parameters or coded stream break SPEC.md §8.1.2: kind 2.
    BadCompressedFilter(CompressedError),
    /// A filter kind this implementation does not read (SPEC.md §8.3).
    UnknownFilterKind(u8),
    /// The covered interval range ends before it starts.
    BadIntervalRange,
    /// A filter larger than [`MAX_FILTER_BYTES`] or more entries than [`MAX_BATCH_ENTRIES`].
    TooLarge,
    /// A signing key seed ring refuses (never happens with 32 random bytes).
    BadSigningKey,
    /// The downloaded bytes do not match their index entry (length or SHA-256).
    DigestMismatch(u64),
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchError::BadSignature => {
                f.write_str("signature does not verify under the publisher key")
            }
            BatchError::AlreadySeen(id) => write!(f, "batch {id} was already processed"),
            BatchError::Expired(id) => write!(f, "batch {id} is older than 14 days"),
            BatchError::BadFilter(e) => write!(f, "bad filter parameters: {e}"),
            BatchError::BadCompressedFilter(e) => write!(f, "bad compressed filter: {e}"),
            BatchError::UnknownFilterKind(k) => write!(f, "filter kind {k} is not supported"),
            BatchError::BadIntervalRange => f.write_str("interval range ends before it starts"),
            BatchError::TooLarge => f.write_str("batch larger than a phone accepts"),
            BatchError::BadSigningKey => f.write_str("signing key rejected"),
            BatchError::DigestMismatch(id) => {
                write!(f, "batch {id} does not match its index entry")
            }
        }
    }
}

impl std::error::Error for BatchError {}

impl From<BatchError> for Error {
    fn from(e: BatchError) -> Error {
        Error::Batch(e)
    }
}

/// The publisher's Ed25519 public key, pinned in every phone.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublisherPublicKey(pub [u8; PUBLIC_KEY_LEN]);

impl PublisherPublicKey {
    fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), BatchError> {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(message, signature)
            .map_err(|_| BatchError::BadSignature)
    }
}

impl fmt::Debug for PublisherPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublisherPublicKey(")?;
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))?;
        write!(f, ")")
    }
}

/// The publisher's Ed25519 signing key (server side).
///
/// Not `Clone`; the seed is overwritten with zeros when the key pair is dropped (the key pair
/// ring expands from it is ring's, and not wiped: see the crate's "Secrets in memory").
pub struct PublisherKeyPair {
    seed: [u8; 32],
    pair: Ed25519KeyPair,
}

impl PublisherKeyPair {
    /// The key pair of a 32-byte seed (RFC 8032 private key).
    pub fn from_seed(seed: [u8; 32]) -> Result<PublisherKeyPair, Error> {
        let pair =
            Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|_| BatchError::BadSigningKey)?;
        Ok(PublisherKeyPair { seed, pair })
    }

    /// A fresh key pair.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> PublisherKeyPair {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        // Every 32-byte seed is a valid Ed25519 private key.
        let pair = PublisherKeyPair::from_seed(seed).expect("any 32-byte seed is an Ed25519 key");
        seed.zeroize();
        pair
    }

    /// The seed, to store the key (a reference: what the caller copies out is its to wipe).
    pub fn seed(&self) -> &[u8; 32] {
        &self.seed
    }

    /// The public key phones pin.
    pub fn public_key(&self) -> PublisherPublicKey {
        let mut out = [0u8; PUBLIC_KEY_LEN];
        out.copy_from_slice(self.pair.public_key().as_ref());
        PublisherPublicKey(out)
    }

    /// The Ed25519 signature of `message`: what ends every batch and index (SPEC.md §8.3).
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        let mut out = [0u8; SIGNATURE_LEN];
        out.copy_from_slice(self.pair.sign(message).as_ref());
        out
    }
}

impl Drop for PublisherKeyPair {
    fn drop(&mut self) {
        self.seed.zeroize();
    }
}

impl ZeroizeOnDrop for PublisherKeyPair {}

impl fmt::Debug for PublisherKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublisherKeyPair(public: {:?})", self.public_key())
    }
}

/// The filter kind of a batch: the byte at offset 14 of its header (SPEC.md §8.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FilterKind {
    /// Kind 1: a partitioned Bloom filter (SPEC.md §8.1.1), about 1.44 · log2(1/ε) bits per
    /// entry.
    Bloom,
    /// Kind 2: a compressed Bloom filter with one hash function, its sorted values' gaps
    /// Golomb-Rice coded (SPEC.md §8.1.2), about 1.06 · log2(1/ε) bits per entry at 2^-24.
    /// What servers publish by default.
    #[default]
    Compressed,
}

impl FilterKind {
    /// Both kinds, in the order of their codes.
    pub const ALL: [FilterKind; 2] = [FilterKind::Bloom, FilterKind::Compressed];

    /// The code on the wire: 1 or 2.
    pub fn code(self) -> u8 {
        match self {
            FilterKind::Bloom => 1,
            FilterKind::Compressed => 2,
        }
    }

    /// The kind of a wire code, if it is one.
    pub fn from_code(code: u8) -> Option<FilterKind> {
        match code {
            1 => Some(FilterKind::Bloom),
            2 => Some(FilterKind::Compressed),
            _ => None,
        }
    }
}

impl fmt::Display for FilterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FilterKind::Bloom => f.write_str("kind 1, partitioned Bloom filter"),
            FilterKind::Compressed => f.write_str("kind 2, Golomb-Rice compressed Bloom filter"),
        }
    }
}

/// The filter of a batch, of either kind.
#[derive(Clone, Debug)]
pub enum BatchFilter {
    /// Kind 1.
    Bloom(BloomFilter),
    /// Kind 2.
    Compressed(CompressedFilter),
}

impl BatchFilter {
    /// Its kind.
    pub fn kind(&self) -> FilterKind {
        match self {
            BatchFilter::Bloom(_) => FilterKind::Bloom,
            BatchFilter::Compressed(_) => FilterKind::Compressed,
        }
    }

    /// The salt its hash is keyed with.
    pub fn salt(&self) -> &Salt {
        match self {
            BatchFilter::Bloom(f) => f.salt(),
            BatchFilter::Compressed(f) => f.salt(),
        }
    }

    /// The filter's bytes as the batch carries them.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            BatchFilter::Bloom(f) => f.as_bytes(),
            BatchFilter::Compressed(f) => f.as_bytes(),
        }
    }

    /// The two parameters of the header: (`k`, `m`) for kind 1, (`P`, `M`) for kind 2.
    fn header_params(&self) -> (u8, u32) {
        match self {
            BatchFilter::Bloom(f) => (f.params().hashes, f.params().bits),
            BatchFilter::Compressed(f) => (f.params().rice, f.params().range),
        }
    }

    /// Whether `id` may be in the filter. For kind 2 this decodes the stream: to test many
    /// identifiers use [`contains_all`](Self::contains_all).
    pub fn contains(&self, id: &Id) -> bool {
        match self {
            BatchFilter::Bloom(f) => f.contains(id),
            BatchFilter::Compressed(f) => f.contains(id),
        }
    }

    /// Query every identifier of `ids`: clears `out`, then pushes one answer per identifier.
    pub fn contains_all(&self, ids: &[Id], out: &mut Vec<bool>) {
        match self {
            BatchFilter::Bloom(f) => f.contains_all(ids, out),
            BatchFilter::Compressed(f) => f.contains_all(ids, out),
        }
    }

    /// Number of identifiers of `ids` the filter may hold.
    pub fn count_contained(&self, ids: &[Id]) -> usize {
        match self {
            BatchFilter::Bloom(f) => f.count_contained(ids),
            BatchFilter::Compressed(f) => f.count_contained(ids),
        }
    }

    /// Predicted false-positive rate with `n` entries.
    pub fn predicted_fp_rate(&self, n: u64) -> f64 {
        match self {
            BatchFilter::Bloom(f) => f.params().predicted_fp_rate(n),
            BatchFilter::Compressed(f) => f.params().predicted_fp_rate(n),
        }
    }
}

/// What the server decides about a batch it builds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchSpec {
    /// Unique, increasing identifier of the batch.
    pub batch_id: u64,
    /// Region the batch is for (0: the whole country).
    pub region: u16,
    /// When the batch is built.
    pub created_at: UnixTime,
    /// Target false-positive rate of the filter ([`DEFAULT_TARGET_FP_RATE`] by default).
    pub target_fp_rate: f64,
    /// Kind of filter to build ([`FilterKind::Compressed`] by default).
    pub filter_kind: FilterKind,
    /// When non-zero, dummy entries round the entry count up to a multiple of this, so the
    /// batch does not tell exactly how many RPIs were published.
    pub dummy_quantum: u32,
}

/// A publication batch as the server builds it: its header and its filter.
///
/// Anyone can fill in one of these, so matching does not take it: a phone matches a
/// [`VerifiedBatch`], which only [`VerifiedBatch::open`] (or [`PublicationBatch::open`]) makes,
/// from bytes whose signature verified.
#[derive(Clone, Debug)]
pub struct PublicationBatch {
    /// Unique, increasing identifier.
    pub batch_id: u64,
    /// Region it is for (0: the whole country).
    pub region: u16,
    /// When it was built.
    pub created_at: UnixTime,
    /// First interval any of its RPIs belongs to.
    pub first_interval: IntervalNumber,
    /// Last interval any of its RPIs belongs to (inclusive).
    pub last_interval: IntervalNumber,
    /// Entries inserted into the filter, dummies included.
    pub entry_count: u32,
    /// The filter.
    pub filter: BatchFilter,
}

impl PublicationBatch {
    /// Build a batch over `entries` (server side): size the filter for the entry count and the
    /// target rate, draw a fresh salt and the dummy entries from `rng`, insert, and sign.
    /// Returns the batch and its bytes.
    pub fn build<R: CryptoRng + ?Sized>(
        entries: &[PublishedEntry],
        spec: &BatchSpec,
        signer: &PublisherKeyPair,
        rng: &mut R,
    ) -> Result<(PublicationBatch, Vec<u8>), Error> {
        let real = u32::try_from(entries.len()).map_err(|_| BatchError::TooLarge)?;
        let total = match spec.dummy_quantum {
            0 => real,
            q => real
                .div_ceil(q)
                .max(1)
                .checked_mul(q)
                .ok_or(BatchError::TooLarge)?,
        };
        if total > MAX_BATCH_ENTRIES {
            return Err(BatchError::TooLarge.into());
        }
        let mut salt = [0u8; 16];
        rng.fill_bytes(&mut salt);
        let dummies: Vec<[u8; RPI_LEN]> = (real..total)
            .map(|_| {
                let mut dummy = [0u8; RPI_LEN];
                rng.fill_bytes(&mut dummy);
                dummy
            })
            .collect();
        let filter = match spec.filter_kind {
            FilterKind::Bloom => {
                let params = BloomParams::for_target(u64::from(total), spec.target_fp_rate)
                    .map_err(BatchError::BadFilter)?;
                if params.byte_len() > MAX_FILTER_BYTES {
                    return Err(BatchError::TooLarge.into());
                }
                let mut filter = BloomFilter::new(params, salt).map_err(BatchError::BadFilter)?;
                filter.insert_all(entries.iter().map(|e| e.rpi.0));
                filter.insert_all(dummies);
                BatchFilter::Bloom(filter)
            }
            FilterKind::Compressed => {
                let params = CompressedParams::for_target(spec.target_fp_rate)
                    .map_err(BatchError::BadCompressedFilter)?;
                let ids = entries.iter().map(|e| e.rpi.0).chain(dummies);
                let filter = CompressedFilter::build(params, salt, ids).map_err(|e| match e {
                    CompressedError::TooLarge { .. } => BatchError::TooLarge,
                    e => BatchError::BadCompressedFilter(e),
                })?;
                BatchFilter::Compressed(filter)
            }
        };

        let created = spec.created_at.interval();
        let first_interval = entries.iter().map(|e| e.interval).min().unwrap_or(created);
        let last_interval = entries.iter().map(|e| e.interval).max().unwrap_or(created);
        let batch = PublicationBatch {
            batch_id: spec.batch_id,
            region: spec.region,
            created_at: spec.created_at,
            first_interval,
            last_interval,
            entry_count: total,
            filter,
        };
        let bytes = batch.signed_bytes(signer);
        Ok((batch, bytes))
    }

    fn signed_bytes(&self, signer: &PublisherKeyPair) -> Vec<u8> {
        let filter = self.filter.as_bytes();
        let (small, large) = self.filter.header_params();
        let mut out = Vec::with_capacity(BATCH_HEADER_LEN + filter.len() + SIGNATURE_LEN);
        wire::write_header(&mut out, MessageType::PublicationBatch, BATCH_VERSION);
        out.extend_from_slice(&self.batch_id.to_le_bytes());
        out.extend_from_slice(&self.region.to_le_bytes());
        out.push(self.filter.kind().code());
        out.push(small);
        out.extend_from_slice(&self.created_at.0.to_le_bytes());
        out.extend_from_slice(&self.first_interval.0.to_le_bytes());
        out.extend_from_slice(&self.last_interval.0.to_le_bytes());
        out.extend_from_slice(&self.entry_count.to_le_bytes());
        out.extend_from_slice(&large.to_le_bytes());
        out.extend_from_slice(self.filter.salt());
        // At most MAX_FILTER_BYTES, checked when the filter was built.
        out.extend_from_slice(&(filter.len() as u32).to_le_bytes());
        debug_assert_eq!(out.len(), BATCH_HEADER_LEN);
        out.extend_from_slice(filter);
        let signature = signer.sign(&out);
        out.extend_from_slice(&signature);
        out
    }

    /// Parse a batch and verify its signature under the pinned `publisher` key (phone side):
    /// the same as [`VerifiedBatch::open`].
    pub fn open(bytes: &[u8], publisher: &PublisherPublicKey) -> Result<VerifiedBatch, Error> {
        VerifiedBatch::open(bytes, publisher)
    }

    /// Whether `rpi` may be in the batch (a filter test: false positives happen at about the
    /// target rate; false negatives never).
    pub fn may_contain(&self, rpi: &RollingProximityId) -> bool {
        self.filter.contains(&rpi.0)
    }

    /// The span of time in which a sighting of one of this batch's RPIs can lie: from two hours
    /// before the first interval to two hours after the last one.
    pub fn plausible_sighting_window(&self) -> (UnixTime, UnixTime) {
        (
            self.first_interval
                .start()
                .minus_seconds(MATCH_TOLERANCE_SECONDS),
            self.last_interval
                .start()
                .plus_seconds(INTERVAL_SECONDS + MATCH_TOLERANCE_SECONDS),
        )
    }
}

/// A publication batch whose signature verified under the pinned publisher key: what
/// [`match_sightings`](crate::match_sightings) and
/// [`Phone::match_verified`](crate::Phone::match_verified) take.
///
/// Only [`VerifiedBatch::open`] makes one, so holding one proves the check was done; open the
/// bytes once and many phones can match the same value. It reads as the [`PublicationBatch`]
/// inside (through `Deref`), which cannot be changed or taken out of it.
#[derive(Clone, Debug)]
pub struct VerifiedBatch(PublicationBatch);

impl VerifiedBatch {
    /// Parse a batch and verify its signature under the pinned `publisher` key (phone side).
    /// Nothing of an unverified batch is returned.
    pub fn open(bytes: &[u8], publisher: &PublisherPublicKey) -> Result<VerifiedBatch, Error> {
        let mut r = Reader::new(bytes);
        r.header(MessageType::PublicationBatch, BATCH_VERSION)?;
        let batch_id = r.u64()?;
        let region = r.u16()?;
        let kind = r.u8()?;
        let kind = FilterKind::from_code(kind).ok_or(BatchError::UnknownFilterKind(kind))?;
        let small = r.u8()?;
        let created_at = UnixTime(r.u64()?);
        let first_interval = IntervalNumber(r.u32()?);
        let last_interval = IntervalNumber(r.u32()?);
        let entry_count = r.u32()?;
        let large = r.u32()?;
        let salt = r.array::<16>()?;
        let filter_len = r.u32()? as usize;
        if filter_len > MAX_FILTER_BYTES || entry_count > MAX_BATCH_ENTRIES {
            return Err(BatchError::TooLarge.into());
        }
        // The cheap checks of the parameters come before the signature; decoding the stream
        // of kind 2 only after it.
        match kind {
            FilterKind::Bloom => {
                let params = BloomParams {
                    bits: large,
                    hashes: small,
                };
                params.validate().map_err(BatchError::BadFilter)?;
                if params.byte_len() != filter_len {
                    return Err(BatchError::BadFilter(BloomError::WrongLength {
                        expected: params.byte_len(),
                        actual: filter_len,
                    })
                    .into());
                }
            }
            FilterKind::Compressed => CompressedParams {
                range: large,
                rice: small,
            }
            .validate()
            .map_err(BatchError::BadCompressedFilter)?,
        }
        let filter_bytes = r.take(filter_len)?;
        let signed_len = bytes.len() - r.remaining();
        let signature = r.take(SIGNATURE_LEN)?;
        r.finish()?;
        publisher.verify(&bytes[..signed_len], signature)?;
        if last_interval < first_interval {
            return Err(BatchError::BadIntervalRange.into());
        }
        let filter = match kind {
            FilterKind::Bloom => {
                let params = BloomParams {
                    bits: large,
                    hashes: small,
                };
                BatchFilter::Bloom(
                    BloomFilter::from_parts(params, salt, filter_bytes.to_vec())
                        .map_err(BatchError::BadFilter)?,
                )
            }
            FilterKind::Compressed => {
                let params = CompressedParams {
                    range: large,
                    rice: small,
                };
                BatchFilter::Compressed(
                    CompressedFilter::from_parts(params, salt, entry_count, filter_bytes)
                        .map_err(BatchError::BadCompressedFilter)?,
                )
            }
        };
        Ok(VerifiedBatch(PublicationBatch {
            batch_id,
            region,
            created_at,
            first_interval,
            last_interval,
            entry_count,
            filter,
        }))
    }

    /// The batch, header and filter.
    pub fn batch(&self) -> &PublicationBatch {
        &self.0
    }
}

impl Deref for VerifiedBatch {
    type Target = PublicationBatch;

    fn deref(&self) -> &PublicationBatch {
        &self.0
    }
}

/// Region 0: the whole country. Every phone fetches its batches, whatever regions it
/// subscribes to (SPEC.md §8.5).
pub const WHOLE_COUNTRY: u16 = 0;

/// One batch as the index lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchIndexEntry {
    /// The batch's identifier.
    pub batch_id: u64,
    /// Its region.
    pub region: u16,
    /// When it was built.
    pub created_at: UnixTime,
    /// First interval it covers.
    pub first_interval: IntervalNumber,
    /// Last interval it covers (inclusive).
    pub last_interval: IntervalNumber,
    /// Length of the batch file in bytes.
    pub byte_len: u32,
    /// Entries in it, dummies included.
    pub entry_count: u32,
    /// SHA-256 of the batch file.
    pub sha256: [u8; 32],
}

impl BatchIndexEntry {
    /// The index entry of a batch the server just built.
    pub fn describe(batch: &PublicationBatch, bytes: &[u8]) -> BatchIndexEntry {
        BatchIndexEntry {
            batch_id: batch.batch_id,
            region: batch.region,
            created_at: batch.created_at,
            first_interval: batch.first_interval,
            last_interval: batch.last_interval,
            byte_len: bytes.len() as u32,
            entry_count: batch.entry_count,
            sha256: sha256(bytes),
        }
    }

    /// Whether a phone subscribed to `regions` fetches this batch: its region is 0 (the whole
    /// country) or one of them (SPEC.md §8.5).
    pub fn concerns(&self, regions: &[u16]) -> bool {
        self.region == WHOLE_COUNTRY || regions.contains(&self.region)
    }

    /// Whether downloaded `bytes` are the batch this entry describes.
    pub fn check(&self, bytes: &[u8]) -> Result<(), BatchError> {
        if bytes.len() != self.byte_len as usize || sha256(bytes) != self.sha256 {
            return Err(BatchError::DigestMismatch(self.batch_id));
        }
        Ok(())
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    out
}

/// The signed list of published batches that phones poll.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchIndex {
    /// When the index was written.
    pub generated_at: UnixTime,
    /// The batches, ascending by identifier.
    pub entries: Vec<BatchIndexEntry>,
}

impl BatchIndex {
    /// The signed index bytes.
    pub fn to_bytes(&self, signer: &PublisherKeyPair) -> Result<Vec<u8>, Error> {
        let count = u32::try_from(self.entries.len())
            .ok()
            .filter(|&n| n <= MAX_INDEX_ENTRIES)
            .ok_or(BatchError::TooLarge)?;
        let mut out = Vec::with_capacity(
            wire::HEADER_LEN + 12 + self.entries.len() * BATCH_INDEX_ENTRY_LEN + SIGNATURE_LEN,
        );
        wire::write_header(&mut out, MessageType::BatchIndex, BATCH_INDEX_VERSION);
        out.extend_from_slice(&self.generated_at.0.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        for e in &self.entries {
            out.extend_from_slice(&e.batch_id.to_le_bytes());
            out.extend_from_slice(&e.region.to_le_bytes());
            out.extend_from_slice(&[0, 0]); // reserved
            out.extend_from_slice(&e.created_at.0.to_le_bytes());
            out.extend_from_slice(&e.first_interval.0.to_le_bytes());
            out.extend_from_slice(&e.last_interval.0.to_le_bytes());
            out.extend_from_slice(&e.byte_len.to_le_bytes());
            out.extend_from_slice(&e.entry_count.to_le_bytes());
            out.extend_from_slice(&e.sha256);
        }
        let signature = signer.sign(&out);
        out.extend_from_slice(&signature);
        Ok(out)
    }

    /// Parse an index and verify its signature under the pinned `publisher` key.
    pub fn open(bytes: &[u8], publisher: &PublisherPublicKey) -> Result<BatchIndex, Error> {
        let mut r = Reader::new(bytes);
        r.header(MessageType::BatchIndex, BATCH_INDEX_VERSION)?;
        let generated_at = UnixTime(r.u64()?);
        let count = r.count(
            "batch index entries",
            MAX_INDEX_ENTRIES,
            BATCH_INDEX_ENTRY_LEN,
        )?;
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            let batch_id = r.u64()?;
            let region = r.u16()?;
            r.reserved::<2>("index_entry.reserved")?;
            entries.push(BatchIndexEntry {
                batch_id,
                region,
                created_at: UnixTime(r.u64()?),
                first_interval: IntervalNumber(r.u32()?),
                last_interval: IntervalNumber(r.u32()?),
                byte_len: r.u32()?,
                entry_count: r.u32()?,
                sha256: r.array()?,
            });
        }
        let signed_len = bytes.len() - r.remaining();
        let signature = r.take(SIGNATURE_LEN)?;
        r.finish()?;
        publisher.verify(&bytes[..signed_len], signature)?;
        Ok(BatchIndex {
            generated_at,
            entries,
        })
    }
}
