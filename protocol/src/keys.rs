//! Daily keys and the identifiers derived from them, exactly as in the Exposure Notification
//! cryptography specification v1.2 (GAEN).
//!
//! ```text
//! RPIK = HKDF-SHA256(IKM = daily key, salt = none, info = "EN-RPIK", L = 16)
//! RPI  = AES-128(RPIK, "EN-RPI" || 0x000000000000 || interval as u32 little-endian)
//! AEMK = HKDF-SHA256(IKM = daily key, salt = none, info = "EN-AEMK", L = 16)
//! AEM  = AES-128-CTR(AEMK, IV = RPI, metadata)      (4 bytes: the first 4 of AES-128(AEMK, RPI) XOR metadata)
//! ```
//!
//! HKDF comes from ring; AES-128 from the `aes` crate (ring exposes no raw block cipher).

use core::fmt;

use aes::Aes128;
use aes::cipher::{Array, BlockCipherEncrypt, KeyInit};
use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::Error;
use crate::time::{INTERVALS_PER_DAY, IntervalNumber, UnixTime};

/// Length of a daily key in bytes.
pub const DAILY_KEY_LEN: usize = 16;
/// Length of a rolling proximity identifier in bytes.
pub const RPI_LEN: usize = 16;
/// Length of the associated encrypted metadata in bytes.
pub const AEM_LEN: usize = 4;

const RPIK_INFO: &[u8] = b"EN-RPIK";
const AEMK_INFO: &[u8] = b"EN-AEMK";
const RPI_PAD: &[u8; 6] = b"EN-RPI";

/// A daily key: GAEN's Temporary Exposure Key.
///
/// Sixteen bytes from a cryptographic RNG, valid for `rolling_period` intervals from
/// `rolling_start` (normally one whole UTC day: 144 intervals from a multiple of 144). Every
/// daily key is an independent random value, never derived from another one, so a key that
/// leaks exposes one day and nothing else.
///
/// The key bytes are overwritten with zeros when the value is dropped, and by
/// [`Zeroize::zeroize`] (see the crate's "Secrets in memory" for the limits).
#[derive(Clone, PartialEq, Eq)]
pub struct DailyKey {
    key: [u8; DAILY_KEY_LEN],
    rolling_start: IntervalNumber,
    rolling_period: u32,
}

impl DailyKey {
    /// A daily key from its parts. `rolling_period` must be in `1..=144`.
    pub fn new(
        key: [u8; DAILY_KEY_LEN],
        rolling_start: IntervalNumber,
        rolling_period: u32,
    ) -> Result<DailyKey, Error> {
        if rolling_period == 0 || rolling_period > INTERVALS_PER_DAY {
            return Err(Error::InvalidRollingPeriod(rolling_period));
        }
        if rolling_start.0.checked_add(rolling_period).is_none() {
            return Err(Error::InvalidRollingStart(rolling_start));
        }
        Ok(DailyKey {
            key,
            rolling_start,
            rolling_period,
        })
    }

    /// A fresh random key valid from the interval of `now` to the end of that UTC day.
    ///
    /// At midnight this is a whole day (144 intervals); a key made mid-day, as after an F0
    /// upload, covers the rest of the day only.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R, now: UnixTime) -> DailyKey {
        let mut key = [0u8; DAILY_KEY_LEN];
        rng.fill_bytes(&mut key);
        let start = now.interval();
        let day_end = start.day_start().0.saturating_add(INTERVALS_PER_DAY);
        DailyKey {
            key,
            rolling_start: start,
            rolling_period: day_end.saturating_sub(start.0).max(1),
        }
    }

    /// The sixteen secret bytes.
    pub fn key_bytes(&self) -> &[u8; DAILY_KEY_LEN] {
        &self.key
    }

    /// The first interval this key is valid for (GAEN's `rollingStartIntervalNumber`).
    pub fn rolling_start(&self) -> IntervalNumber {
        self.rolling_start
    }

    /// How many intervals this key is valid for (GAEN's `rollingPeriod`, 1 to 144).
    pub fn rolling_period(&self) -> u32 {
        self.rolling_period
    }

    /// The first interval after this key's validity.
    pub fn end(&self) -> IntervalNumber {
        self.rolling_start.plus(self.rolling_period)
    }

    /// Whether `interval` lies in this key's validity.
    pub fn covers(&self, interval: IntervalNumber) -> bool {
        self.rolling_start <= interval && interval < self.end()
    }

    /// RPIK of this key, ready to compute its identifiers.
    pub fn rpi_key(&self) -> RpiKey {
        RpiKey::new(&self.key)
    }

    /// AEMK of this key, ready to encrypt or decrypt its metadata.
    pub fn aem_key(&self) -> AemKey {
        AemKey::new(&self.key)
    }

    /// The RPIs of every interval of this key's validity: element `j` is the RPI of interval
    /// `rolling_start + j`.
    pub fn expand(&self) -> Vec<RollingProximityId> {
        self.rpi_key()
            .rpis(self.rolling_start, self.rolling_period as usize)
    }
}

impl Zeroize for DailyKey {
    /// Overwrite the key bytes with zeros (the validity is not secret and stays).
    fn zeroize(&mut self) {
        self.key.zeroize();
    }
}

impl Drop for DailyKey {
    fn drop(&mut self) {
        self.zeroize();
    }
}

impl ZeroizeOnDrop for DailyKey {}

impl fmt::Debug for DailyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key bytes are a secret: never in logs.
        f.debug_struct("DailyKey")
            .field("key", &"<secret>")
            .field("rolling_start", &self.rolling_start)
            .field("rolling_period", &self.rolling_period)
            .finish()
    }
}

/// RPIK = HKDF-SHA256(daily key, no salt, "EN-RPIK", 16). Public for test vectors and ports.
pub fn derive_rpi_key(daily_key: &[u8; DAILY_KEY_LEN]) -> [u8; 16] {
    hkdf_sha256_16(daily_key, RPIK_INFO)
}

/// AEMK = HKDF-SHA256(daily key, no salt, "EN-AEMK", 16). Public for test vectors and ports.
pub fn derive_aem_key(daily_key: &[u8; DAILY_KEY_LEN]) -> [u8; 16] {
    hkdf_sha256_16(daily_key, AEMK_INFO)
}

/// HKDF-SHA256 with no salt (RFC 5869: a salt of 32 zero bytes, which HMAC treats exactly like
/// the empty key ring is given here) and a 16-byte output.
fn hkdf_sha256_16(ikm: &[u8], info: &'static [u8]) -> [u8; 16] {
    struct Len16;
    impl ring::hkdf::KeyType for Len16 {
        fn len(&self) -> usize {
            16
        }
    }
    let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, &[]).extract(ikm);
    let mut out = [0u8; 16];
    // ring refuses only outputs longer than 255 * 32 bytes; 16 is always accepted.
    prk.expand(&[info], Len16)
        .and_then(|okm| okm.fill(&mut out))
        .expect("HKDF-SHA256 always yields 16 bytes");
    out
}

/// RPIK, expanded for AES: makes the rolling proximity identifiers of one daily key.
///
/// Deriving it once and asking for many identifiers is what a server does when it expands an
/// upload, and what a phone does once per day.
///
/// The expanded key is overwritten with zeros when the value is dropped.
#[derive(Clone)]
pub struct RpiKey(Aes128);

impl RpiKey {
    /// Derive RPIK from the sixteen bytes of a daily key.
    pub fn new(daily_key: &[u8; DAILY_KEY_LEN]) -> RpiKey {
        RpiKey(aes_key(derive_rpi_key(daily_key)))
    }

    /// The rolling proximity identifier of `interval`.
    pub fn rpi(&self, interval: IntervalNumber) -> RollingProximityId {
        let mut block = Array::from(rpi_padded_data(interval));
        self.0.encrypt_block(&mut block);
        RollingProximityId(block.into())
    }

    /// The RPIs of consecutive intervals from `first`, one per element of `out` (interval
    /// numbers wrap after `u32::MAX`, which callers keep away from).
    ///
    /// Same result as calling [`rpi`](Self::rpi) for each, but the blocks go through AES
    /// together, which lets the cipher pipeline them.
    pub fn rpis_into(&self, first: IntervalNumber, out: &mut [RollingProximityId]) {
        let mut blocks = [Block::default(); RPI_CHUNK];
        let mut interval = first;
        for chunk in out.chunks_mut(RPI_CHUNK) {
            let blocks = &mut blocks[..chunk.len()];
            self.encrypt_intervals(interval, blocks);
            for (rpi, block) in chunk.iter_mut().zip(blocks.iter()) {
                rpi.0 = block.0;
            }
            interval = IntervalNumber(interval.0.wrapping_add(chunk.len() as u32));
        }
    }

    /// The RPIs of `count` consecutive intervals from `first` (at most 144: one key's day).
    fn rpis(&self, first: IntervalNumber, count: usize) -> Vec<RollingProximityId> {
        let mut blocks = [Block::default(); RPI_CHUNK];
        let blocks = &mut blocks[..count.min(RPI_CHUNK)];
        self.encrypt_intervals(first, blocks);
        blocks.iter().map(|b| RollingProximityId(b.0)).collect()
    }

    /// Encrypt the padded data of consecutive intervals from `first` into `blocks`, in one
    /// call to the cipher, which pipelines them.
    fn encrypt_intervals(&self, first: IntervalNumber, blocks: &mut [Block]) {
        let template = Block::from(rpi_padded_data(IntervalNumber(0)));
        let mut interval = first.0;
        for block in blocks.iter_mut() {
            *block = template;
            block[12..].copy_from_slice(&interval.to_le_bytes());
            interval = interval.wrapping_add(1);
        }
        self.0.encrypt_blocks(blocks);
    }
}

/// A day's worth of blocks per call to the cipher.
const RPI_CHUNK: usize = INTERVALS_PER_DAY as usize;

type Block = aes::Block;

/// AES-128 expanded from `key`, whose bytes are then wiped.
fn aes_key(mut key: [u8; 16]) -> Aes128 {
    let cipher = Aes128::new(&Array::from(key));
    key.zeroize();
    cipher
}

// Wiped by the `zeroize` feature of `aes`, which clears the round keys when they are dropped.
impl ZeroizeOnDrop for RpiKey {}
impl ZeroizeOnDrop for AemKey {}

impl fmt::Debug for RpiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RpiKey(<secret>)")
    }
}

/// AEMK, expanded for AES: encrypts and decrypts the metadata of one daily key's
/// advertisements.
///
/// The expanded key is overwritten with zeros when the value is dropped.
#[derive(Clone)]
pub struct AemKey(Aes128);

impl AemKey {
    /// Derive AEMK from the sixteen bytes of a daily key.
    pub fn new(daily_key: &[u8; DAILY_KEY_LEN]) -> AemKey {
        AemKey::from_key_bytes(derive_aem_key(daily_key))
    }

    /// AEMK from its own sixteen bytes (as [`derive_aem_key`] gives them).
    pub fn from_key_bytes(aemk: [u8; 16]) -> AemKey {
        AemKey(aes_key(aemk))
    }

    /// AEM = metadata encrypted under AEMK with AES-128-CTR, IV = the RPI it travels with.
    pub fn encrypt(
        &self,
        rpi: &RollingProximityId,
        metadata: &[u8; AEM_LEN],
    ) -> AssociatedEncryptedMetadata {
        AssociatedEncryptedMetadata(self.apply_keystream(rpi, metadata))
    }

    /// The metadata inside `aem` (CTR mode: the same operation as encryption).
    ///
    /// Any four bytes decrypt to some four bytes: only the key that made the AEM gives back the
    /// metadata that went in. [`Metadata::parse`] tells whether the result is well formed.
    pub fn decrypt(
        &self,
        rpi: &RollingProximityId,
        aem: &AssociatedEncryptedMetadata,
    ) -> [u8; AEM_LEN] {
        self.apply_keystream(rpi, &aem.0)
    }

    fn apply_keystream(&self, rpi: &RollingProximityId, input: &[u8; AEM_LEN]) -> [u8; 4] {
        // AES-CTR whose initial counter block is the RPI: 4 bytes use only the first block.
        let mut block = Array::from(rpi.0);
        self.0.encrypt_block(&mut block);
        let mut out = *input;
        for (o, k) in out.iter_mut().zip(block.iter()) {
            *o ^= k;
        }
        out
    }
}

impl fmt::Debug for AemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AemKey(<secret>)")
    }
}

/// `"EN-RPI" || 0x000000000000 || interval as u32 little-endian`: the block AES encrypts to
/// make an RPI.
pub fn rpi_padded_data(interval: IntervalNumber) -> [u8; 16] {
    let mut data = [0u8; 16];
    data[..6].copy_from_slice(RPI_PAD);
    data[12..].copy_from_slice(&interval.0.to_le_bytes());
    data
}

/// A rolling proximity identifier (RPI): the 16 bytes a phone broadcasts for one interval.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RollingProximityId(pub [u8; RPI_LEN]);

impl RollingProximityId {
    /// The sixteen bytes.
    pub fn as_bytes(&self) -> &[u8; RPI_LEN] {
        &self.0
    }
}

impl fmt::Display for RollingProximityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for RollingProximityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RollingProximityId({self})")
    }
}

/// Associated encrypted metadata (AEM): 4 bytes of [`Metadata`] encrypted under the sender's
/// AEMK, broadcast beside the RPI. Receivers cannot read it; the server can, once it holds
/// the sender's daily key.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AssociatedEncryptedMetadata(pub [u8; AEM_LEN]);

impl fmt::Display for AssociatedEncryptedMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for AssociatedEncryptedMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AssociatedEncryptedMetadata({self})")
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    bytes.iter().try_for_each(|b| write!(f, "{b:02x}"))
}

/// The 4 bytes of Bluetooth metadata a phone encrypts into its AEM (GAEN Bluetooth
/// specification v1.2):
///
/// | byte | content |
/// |---|---|
/// | 0 | version: bits 7-6 major, bits 5-4 minor, bits 3-0 reserved (zero) |
/// | 1 | transmit power of the advertisement, signed, dBm |
/// | 2, 3 | reserved (zero) |
///
/// Readers ignore the reserved bits, as GAEN requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metadata {
    /// Major version, 0 to 3; this specification writes 1.
    pub version_major: u8,
    /// Minor version, 0 to 3; this specification writes 0.
    pub version_minor: u8,
    /// Transmit power in dBm, as measured for the sending device's radio.
    pub tx_power_dbm: i8,
}

impl Metadata {
    /// Version 1.0 metadata with the given transmit power.
    pub fn v1(tx_power_dbm: i8) -> Metadata {
        Metadata {
            version_major: 1,
            version_minor: 0,
            tx_power_dbm,
        }
    }

    /// The 4-byte layout. Version fields are masked to their 2 bits.
    pub fn to_bytes(&self) -> [u8; AEM_LEN] {
        [
            ((self.version_major & 0b11) << 6) | ((self.version_minor & 0b11) << 4),
            self.tx_power_dbm as u8,
            0,
            0,
        ]
    }

    /// Read decrypted metadata. Major version 1 is the only one defined; anything else (which
    /// is also what an AEM decrypted under the wrong key looks like three times in four)
    /// is refused.
    pub fn parse(bytes: &[u8; AEM_LEN]) -> Result<Metadata, Error> {
        let version_major = bytes[0] >> 6;
        if version_major != 1 {
            return Err(Error::UnsupportedMetadataVersion(version_major));
        }
        Ok(Metadata {
            version_major,
            version_minor: (bytes[0] >> 4) & 0b11,
            tx_power_dbm: bytes[1] as i8,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEK: [u8; 16] = [
        0x75, 0xc7, 0x34, 0xc6, 0xdd, 0x1a, 0x78, 0x2d, 0xe7, 0xa9, 0x65, 0xda, 0x5e, 0xb9, 0x31,
        0x25,
    ];

    #[test]
    fn zeroize_wipes_the_daily_key_and_keeps_its_validity() {
        let mut key = DailyKey::new(TEK, IntervalNumber(2_642_976), 144).unwrap();
        key.zeroize();
        assert_eq!(key.key_bytes(), &[0; DAILY_KEY_LEN]);
        assert_eq!(key.rolling_start(), IntervalNumber(2_642_976));
        assert_eq!(key.rolling_period(), 144);
        // The wiped key is the all-zero key: it no longer makes the RPIs of TEK.
        assert_ne!(
            key.rpi_key().rpi(IntervalNumber(2_642_976)),
            RpiKey::new(&TEK).rpi(IntervalNumber(2_642_976))
        );
    }

    #[test]
    fn batched_and_single_rpi_derivation_agree() {
        let rpi_key = RpiKey::new(&TEK);
        let mut batch = [RollingProximityId::default(); 37];
        rpi_key.rpis_into(IntervalNumber(2_642_970), &mut batch);
        for (i, rpi) in batch.iter().enumerate() {
            assert_eq!(*rpi, rpi_key.rpi(IntervalNumber(2_642_970 + i as u32)));
        }
    }

    #[test]
    fn metadata_round_trips_through_the_aem() {
        let rpi = RpiKey::new(&TEK).rpi(IntervalNumber(2_642_976));
        let aem_key = AemKey::new(&TEK);
        let metadata = Metadata::v1(-17);
        let aem = aem_key.encrypt(&rpi, &metadata.to_bytes());
        let opened = aem_key.decrypt(&rpi, &aem);
        assert_eq!(Metadata::parse(&opened).unwrap(), metadata);
        assert_eq!(metadata.to_bytes(), [0x40, 0xef, 0, 0]);
    }

    #[test]
    fn unknown_metadata_major_version_is_refused() {
        assert_eq!(
            Metadata::parse(&[0x80, 0, 0, 0]),
            Err(Error::UnsupportedMetadataVersion(2))
        );
        // Reserved bits are ignored.
        assert_eq!(Metadata::parse(&[0x5f, 8, 1, 2]).unwrap().tx_power_dbm, 8);
    }

    #[test]
    fn generated_key_runs_to_the_end_of_its_utc_day() {
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([7; 32]);
        let midnight = UnixTime(1_585_785_600);
        let whole = DailyKey::generate(&mut rng, midnight);
        assert_eq!(whole.rolling_start(), IntervalNumber(2_642_976));
        assert_eq!(whole.rolling_period(), 144);
        let noon = DailyKey::generate(&mut rng, midnight.plus_seconds(12 * 3600 + 5));
        assert_eq!(noon.rolling_start(), IntervalNumber(2_642_976 + 72));
        assert_eq!(noon.rolling_period(), 72);
        assert_eq!(noon.end(), IntervalNumber(2_642_976 + 144));
        assert_ne!(whole.key_bytes(), noon.key_bytes());
    }

    #[test]
    fn rolling_period_is_validated() {
        assert_eq!(
            DailyKey::new(TEK, IntervalNumber(0), 0),
            Err(Error::InvalidRollingPeriod(0))
        );
        assert_eq!(
            DailyKey::new(TEK, IntervalNumber(0), 145),
            Err(Error::InvalidRollingPeriod(145))
        );
        assert!(DailyKey::new(TEK, IntervalNumber(u32::MAX - 3), 10).is_err());
        assert!(
            format!("{:?}", DailyKey::new(TEK, IntervalNumber(0), 1).unwrap()).contains("<secret>")
        );
    }

    use rand_core::SeedableRng;
}
