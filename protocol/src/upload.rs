//! The F0 upload ("Send ID and contact history"): the F0 phone's daily keys for the contagious
//! window, the intervals of each it agrees to publish, and the sightings it kept.
//!
//! Layout: SPEC.md §7.2. The server parses it with [`F0Upload::parse`], checks it against its
//! clock with [`F0Upload::validate`], and turns it into publication entries with
//! [`F0Upload::published_entries`].

use core::fmt;

use crate::error::Error;
use crate::keys::{DAILY_KEY_LEN, DailyKey, RollingProximityId};
use crate::sighting::{SIGHTING_RECORD_LEN, Sighting};
use crate::time::{
    INTERVAL_SECONDS, INTERVALS_PER_DAY, IntervalNumber, RETENTION_INTERVALS, RETENTION_SECONDS,
    UnixTime,
};
use crate::wire::{self, MessageType, Reader};

/// Format version of the F0 upload written and read here.
pub const F0_UPLOAD_VERSION: u8 = 2;
/// Most daily keys in one upload (14 days of retention plus the day of the upload).
pub const MAX_UPLOAD_KEYS: usize = 15;
/// Most sightings of contact history in one upload.
pub const MAX_UPLOAD_SIGHTINGS: u32 = 65_536;
/// Longest F0 declaration code, in bytes.
pub const MAX_DECLARATION_CODE_LEN: usize = 32;
/// Bytes of one uploaded key record: key, rolling start, rolling period, publication bitmap.
pub const UPLOADED_KEY_RECORD_LEN: usize = DAILY_KEY_LEN + 4 + 1 + PUBLISH_BITMAP_LEN;
/// Bytes of the publication bitmap of one key: one bit per interval of a day.
pub const PUBLISH_BITMAP_LEN: usize = INTERVALS_PER_DAY as usize / 8;
/// The lengths an upload is padded to, smallest first: its length tells only which of these
/// six classes its content fell in.
pub const UPLOAD_SIZE_CLASSES: [usize; 6] = [1 << 12, 1 << 14, 1 << 16, 1 << 18, 1 << 20, 1 << 22];
/// How far in the future a timestamp may lie before the server refuses it, to absorb clock
/// skew between phone and server.
pub const CLOCK_SKEW_SECONDS: u64 = INTERVAL_SECONDS;

/// The F0 declaration code a health worker gives the F0 (seed step 2), as typed on the phone.
///
/// 1 to 32 characters from `0-9`, `A-Z` and `-`. Its exact form (length, alphabet, check
/// character) is the server's to define; the protocol only carries it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DeclarationCode(String);

impl DeclarationCode {
    /// Check and wrap a code.
    pub fn new(code: &str) -> Result<DeclarationCode, Error> {
        if code.is_empty() || code.len() > MAX_DECLARATION_CODE_LEN {
            return Err(UploadError::BadDeclarationCode.into());
        }
        if !code
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase() || b == b'-')
        {
            return Err(UploadError::BadDeclarationCode.into());
        }
        Ok(DeclarationCode(code.to_owned()))
    }

    /// The code's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DeclarationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A live code authorises an upload: keep it out of logs.
        f.write_str("DeclarationCode(<redacted>)")
    }
}

/// Which intervals of one key's validity the F0 agrees to publish: bit `j` stands for interval
/// `rolling_start + j`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PublishedIntervals([u8; PUBLISH_BITMAP_LEN]);

impl PublishedIntervals {
    /// The set whose bitmap is `bytes` (bit `j % 8` of byte `j / 8` stands for offset `j`).
    /// Offsets beyond a key's rolling period are refused later, by
    /// [`F0Upload::check_structure`].
    pub fn from_bytes(bytes: [u8; PUBLISH_BITMAP_LEN]) -> PublishedIntervals {
        PublishedIntervals(bytes)
    }

    /// Whether offset `j` (0 to 143) is published.
    pub fn contains(&self, j: u32) -> bool {
        j < INTERVALS_PER_DAY && self.0[(j / 8) as usize] & (1 << (j % 8)) != 0
    }

    /// Publish offset `j` (ignored past 143).
    pub fn insert(&mut self, j: u32) {
        if j < INTERVALS_PER_DAY {
            self.0[(j / 8) as usize] |= 1 << (j % 8);
        }
    }

    /// The published offsets, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().enumerate().flat_map(|(byte, &bits)| {
            (0..8u32)
                .filter(move |bit| bits & (1 << bit) != 0)
                .map(move |bit| byte as u32 * 8 + bit)
        })
    }

    /// Number of published intervals.
    pub fn len(&self) -> usize {
        self.0.iter().map(|b| b.count_ones() as usize).sum()
    }

    /// Whether nothing is published.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&b| b == 0)
    }

    /// The 18-byte bitmap (bit `j` in byte `j / 8`, mask `1 << (j % 8)`).
    pub fn as_bytes(&self) -> &[u8; PUBLISH_BITMAP_LEN] {
        &self.0
    }
}

impl fmt::Debug for PublishedIntervals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// One daily key of an upload, with the intervals to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadedKey {
    /// The key and its validity.
    pub key: DailyKey,
    /// The intervals of its validity to publish.
    pub published: PublishedIntervals,
}

impl UploadedKey {
    /// The published interval numbers, ascending.
    pub fn published_intervals(&self) -> impl Iterator<Item = IntervalNumber> + '_ {
        let start = self.key.rolling_start();
        self.published.iter().map(move |j| start.plus(j))
    }
}

/// A server's identifier of an F0 case.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CaseId(pub u64);

/// One RPI to publish: which case and interval it comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublishedEntry {
    /// The identifier the F0 phone broadcast.
    pub rpi: RollingProximityId,
    /// The case it belongs to.
    pub case: CaseId,
    /// The interval it was broadcast in.
    pub interval: IntervalNumber,
}

/// The F0 upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct F0Upload {
    /// The code that authorises it.
    pub code: DeclarationCode,
    /// The daily keys, ascending and non-overlapping in validity.
    pub keys: Vec<UploadedKey>,
    /// The F0 phone's contact history: the sightings it kept for the contagious window.
    pub contact_history: Vec<Sighting>,
}

/// Why an upload is refused (beyond malformed bytes, which are [`DecodeError`]s).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UploadError {
    /// The declaration code is empty, too long, or has a character outside `0-9A-Z-`.
    BadDeclarationCode,
    /// More than [`MAX_UPLOAD_KEYS`] keys.
    TooManyKeys(usize),
    /// More than [`MAX_UPLOAD_SIGHTINGS`] sightings.
    TooManySightings(usize),
    /// Two keys with the same sixteen bytes.
    DuplicateKey,
    /// Keys not in ascending order of validity, or whose validities overlap.
    OverlappingKeys,
    /// A published interval outside its key's validity.
    PublishedOutsideValidity {
        /// The key's rolling start.
        rolling_start: IntervalNumber,
        /// The offending offset into its validity.
        offset: u32,
    },
    /// A key or published interval later than the server's current interval (plus one for
    /// clock skew).
    IntervalInFuture(IntervalNumber),
    /// A published interval older than 14 days.
    IntervalTooOld(IntervalNumber),
    /// A sighting of the contact history outside the last 14 days or in the future.
    SightingOutOfWindow(RollingProximityId),
    /// The same RPI twice in the contact history.
    DuplicateSighting(RollingProximityId),
    /// The padding is not zeros, or the total length is not one of the size classes.
    BadPadding,
    /// The phone holds no key to share.
    NothingToUpload,
}

impl fmt::Display for UploadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UploadError::BadDeclarationCode => {
                f.write_str("the F0 declaration code must be 1 to 32 characters of 0-9, A-Z and -")
            }
            UploadError::TooManyKeys(n) => {
                write!(f, "{n} daily keys, more than the {MAX_UPLOAD_KEYS} allowed")
            }
            UploadError::TooManySightings(n) => {
                write!(
                    f,
                    "{n} sightings, more than the {MAX_UPLOAD_SIGHTINGS} allowed"
                )
            }
            UploadError::DuplicateKey => f.write_str("the same daily key appears twice"),
            UploadError::OverlappingKeys => {
                f.write_str("daily keys must be in ascending, non-overlapping order of validity")
            }
            UploadError::PublishedOutsideValidity {
                rolling_start,
                offset,
            } => write!(
                f,
                "key starting at interval {rolling_start} publishes offset {offset}, past its validity"
            ),
            UploadError::IntervalInFuture(i) => write!(f, "interval {i} is in the future"),
            UploadError::IntervalTooOld(i) => {
                write!(f, "interval {i} is older than the 14-day retention")
            }
            UploadError::SightingOutOfWindow(rpi) => {
                write!(f, "sighting of {rpi} lies outside the last 14 days")
            }
            UploadError::DuplicateSighting(rpi) => {
                write!(f, "RPI {rpi} appears twice in the contact history")
            }
            UploadError::BadPadding => {
                f.write_str("padding must be zeros up to one of the upload size classes")
            }
            UploadError::NothingToUpload => f.write_str("the phone holds no daily key to share"),
        }
    }
}

impl std::error::Error for UploadError {}

/// Bytes of an upload's content (before padding) with a code of `code_len` characters, `keys`
/// keys and `sightings` sightings.
pub(crate) fn content_len(code_len: usize, keys: usize, sightings: usize) -> usize {
    wire::HEADER_LEN
        + 1
        + code_len
        + 1
        + keys * UPLOADED_KEY_RECORD_LEN
        + 4
        + sightings * SIGHTING_RECORD_LEN
}

/// The size class that holds `content` bytes (the largest class for anything bigger).
pub(crate) fn size_class(content: usize) -> usize {
    UPLOAD_SIZE_CLASSES
        .iter()
        .copied()
        .find(|&c| c >= content)
        .unwrap_or(UPLOAD_SIZE_CLASSES[UPLOAD_SIZE_CLASSES.len() - 1])
}

impl F0Upload {
    /// Check the rules that need no clock: counts, order and overlap of keys, bitmaps inside
    /// validity, unique sightings.
    pub fn check_structure(&self) -> Result<(), UploadError> {
        if self.keys.len() > MAX_UPLOAD_KEYS {
            return Err(UploadError::TooManyKeys(self.keys.len()));
        }
        if self.contact_history.len() > MAX_UPLOAD_SIGHTINGS as usize {
            return Err(UploadError::TooManySightings(self.contact_history.len()));
        }
        let mut bytes: Vec<_> = self.keys.iter().map(|k| k.key.key_bytes()).collect();
        bytes.sort_unstable();
        if bytes.windows(2).any(|w| w[0] == w[1]) {
            return Err(UploadError::DuplicateKey);
        }
        if self
            .keys
            .windows(2)
            .any(|w| w[0].key.end() > w[1].key.rolling_start())
        {
            return Err(UploadError::OverlappingKeys);
        }
        for k in &self.keys {
            if let Some(offset) = k.published.iter().find(|&j| j >= k.key.rolling_period()) {
                return Err(UploadError::PublishedOutsideValidity {
                    rolling_start: k.key.rolling_start(),
                    offset,
                });
            }
        }
        let mut rpis: Vec<_> = self.contact_history.iter().map(|s| s.rpi).collect();
        rpis.sort_unstable();
        if let Some(w) = rpis.windows(2).find(|w| w[0] == w[1]) {
            return Err(UploadError::DuplicateSighting(w[0]));
        }
        Ok(())
    }

    /// Check the upload against the server's clock: no key or published interval in the
    /// future, no published interval older than 14 days, every sighting within the last 14 days.
    /// One interval (and [`CLOCK_SKEW_SECONDS`]) of skew is tolerated.
    pub fn validate(&self, now: UnixTime) -> Result<(), UploadError> {
        self.check_structure()?;
        let latest = now.interval().plus(1);
        let oldest = now.interval().minus(RETENTION_INTERVALS);
        for k in &self.keys {
            if k.key.rolling_start() > latest {
                return Err(UploadError::IntervalInFuture(k.key.rolling_start()));
            }
            for interval in k.published_intervals() {
                if interval > latest {
                    return Err(UploadError::IntervalInFuture(interval));
                }
                if interval < oldest {
                    return Err(UploadError::IntervalTooOld(interval));
                }
            }
        }
        let newest_seen = now.plus_seconds(CLOCK_SKEW_SECONDS);
        let oldest_seen = now.minus_seconds(RETENTION_SECONDS);
        if let Some(s) = self
            .contact_history
            .iter()
            .find(|s| s.last_seen > newest_seen || s.last_seen < oldest_seen)
        {
            return Err(UploadError::SightingOutOfWindow(s.rpi));
        }
        Ok(())
    }

    /// Number of intervals published over all keys.
    pub fn published_count(&self) -> usize {
        self.keys.iter().map(|k| k.published.len()).sum()
    }

    /// The RPIs to publish for `case`: one per published interval, in key then interval order.
    pub fn published_entries(&self, case: CaseId) -> Vec<PublishedEntry> {
        let mut entries = Vec::with_capacity(self.published_count());
        self.extend_published_entries(case, &mut entries);
        entries
    }

    /// [`published_entries`](Self::published_entries), appended to `out`.
    pub fn extend_published_entries(&self, case: CaseId, out: &mut Vec<PublishedEntry>) {
        for k in &self.keys {
            if k.published.is_empty() {
                continue;
            }
            // The whole day's RPIs through AES together, then the published ones picked.
            let rpis = k.key.expand();
            out.extend(k.published.iter().map(|j| PublishedEntry {
                rpi: rpis[j as usize],
                case,
                interval: k.key.rolling_start().plus(j),
            }));
        }
    }

    /// Length of the content before padding.
    fn content_len(&self) -> usize {
        content_len(
            self.code.0.len(),
            self.keys.len(),
            self.contact_history.len(),
        )
    }

    /// The message bytes, padded with zeros to the smallest size class that holds them.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        self.check_structure()?;
        let content = self.content_len();
        // With at most 15 keys and 65,536 sightings the content always fits the largest class.
        let total = UPLOAD_SIZE_CLASSES
            .iter()
            .copied()
            .find(|&c| c >= content)
            .ok_or(UploadError::TooManySightings(self.contact_history.len()))?;
        let mut out = Vec::with_capacity(total);
        wire::write_header(&mut out, MessageType::F0Upload, F0_UPLOAD_VERSION);
        out.push(self.code.0.len() as u8);
        out.extend_from_slice(self.code.0.as_bytes());
        out.push(self.keys.len() as u8);
        for k in &self.keys {
            out.extend_from_slice(k.key.key_bytes());
            out.extend_from_slice(&k.key.rolling_start().0.to_le_bytes());
            out.push(k.key.rolling_period() as u8);
            out.extend_from_slice(k.published.as_bytes());
        }
        out.extend_from_slice(&(self.contact_history.len() as u32).to_le_bytes());
        for s in &self.contact_history {
            s.write_record(&mut out);
        }
        out.resize(total, 0);
        Ok(out)
    }

    /// Parse an upload and check its structure (not its times: see [`validate`](Self::validate)).
    pub fn parse(bytes: &[u8]) -> Result<F0Upload, Error> {
        let mut r = Reader::new(bytes);
        r.header(MessageType::F0Upload, F0_UPLOAD_VERSION)?;
        let code_len = r.u8()? as usize;
        let code =
            core::str::from_utf8(r.take(code_len)?).map_err(|_| UploadError::BadDeclarationCode)?;
        let code = DeclarationCode::new(code)?;
        let key_count = r.u8()? as usize;
        if key_count > MAX_UPLOAD_KEYS {
            return Err(UploadError::TooManyKeys(key_count).into());
        }
        let mut keys = Vec::with_capacity(key_count);
        for _ in 0..key_count {
            let key_bytes = r.array::<DAILY_KEY_LEN>()?;
            let rolling_start = IntervalNumber(r.u32()?);
            let rolling_period = u32::from(r.u8()?);
            let published = PublishedIntervals(r.array()?);
            keys.push(UploadedKey {
                key: DailyKey::new(key_bytes, rolling_start, rolling_period)?,
                published,
            });
        }
        let count = r.count("sightings", MAX_UPLOAD_SIGHTINGS, SIGHTING_RECORD_LEN)?;
        let mut contact_history = Vec::with_capacity(count);
        for _ in 0..count {
            contact_history.push(Sighting::read_record(&mut r)?);
        }
        let padding = r.take(r.remaining())?;
        if padding.iter().any(|&b| b != 0) || !UPLOAD_SIZE_CLASSES.contains(&bytes.len()) {
            return Err(UploadError::BadPadding.into());
        }
        let upload = F0Upload {
            code,
            keys,
            contact_history,
        };
        upload.check_structure()?;
        Ok(upload)
    }
}

impl From<UploadError> for Error {
    fn from(e: UploadError) -> Error {
        Error::Upload(e)
    }
}
