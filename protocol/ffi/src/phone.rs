//! The exported phone, its records and its error: conversions around
//! [`bluezone_protocol::Phone`], nothing more.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bluezone_protocol as protocol;
use bluezone_protocol::hpke::HpkePublicKey;
use bluezone_protocol::{
    AEM_LEN, AssociatedEncryptedMetadata, BatchError, ContactError, DeclarationCode,
    IntervalNumber, PublisherPublicKey, RPI_LEN, RollingProximityId, STATE_KEY_LEN, StateError,
    StateKey, UnixTime, UploadError,
};
use rand_core::UnwrapErr;

/// The operating system's generator. It fails only on a broken OS, where `getrandom` panics
/// and the bindings raise their internal error: no call goes on without randomness.
fn os_rng() -> UnwrapErr<getrandom::SysRng> {
    UnwrapErr(getrandom::SysRng)
}

/// A fresh 32-byte key to seal the phone's saved state with, from the operating system's
/// generator. The app creates it once and keeps it in the platform keystore.
#[uniffi::export]
pub fn generate_state_key() -> Vec<u8> {
    StateKey::generate(&mut os_rng()).as_bytes().to_vec()
}

/// A phone's settings: calibration of its device model and the risk rule.
///
/// [`default_settings`] gives the protocol's defaults; an app sets the two calibration values
/// from GAEN's calibration table for the device model.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct PhoneSettings {
    /// Transmit power written into every advertisement's metadata, dBm.
    pub tx_power_dbm: i8,
    /// Correction added to every RSSI this phone's radio reports, dB.
    pub rssi_correction_db: i8,
    /// Most sightings the phone keeps.
    pub sighting_capacity: u32,
    /// Upper bounds (exclusive) of the first three attenuation buckets, dB, ascending.
    pub attenuation_bounds_db: Vec<u8>,
    /// Weight of each of the four buckets, percent.
    pub bucket_weights_percent: Vec<u8>,
    /// A day's hits pass when their weighted exposure reaches this many minutes.
    pub min_weighted_minutes: u32,
    /// Time one scan stands for, seconds.
    pub scan_period_seconds: u32,
    /// Transmit power assumed for every sender when scoring, dBm.
    pub assumed_tx_power_dbm: i8,
}

/// The protocol's default settings (`PhoneConfig::default()`).
#[uniffi::export]
pub fn default_settings() -> PhoneSettings {
    let c = protocol::PhoneConfig::default();
    let r = c.risk_rule;
    PhoneSettings {
        tx_power_dbm: c.tx_power_dbm,
        rssi_correction_db: c.rssi_correction_db,
        sighting_capacity: u32::try_from(c.sighting_capacity).unwrap_or(u32::MAX),
        attenuation_bounds_db: r.attenuation_bounds_db.to_vec(),
        bucket_weights_percent: r.bucket_weights_percent.to_vec(),
        min_weighted_minutes: r.min_weighted_minutes,
        scan_period_seconds: r.scan_period_seconds,
        assumed_tx_power_dbm: r.assumed_tx_power_dbm,
    }
}

impl PhoneSettings {
    fn to_config(&self) -> Result<protocol::PhoneConfig, PhoneError> {
        Ok(protocol::PhoneConfig {
            tx_power_dbm: self.tx_power_dbm,
            rssi_correction_db: self.rssi_correction_db,
            sighting_capacity: self.sighting_capacity as usize,
            risk_rule: protocol::RiskRule {
                attenuation_bounds_db: fixed(&self.attenuation_bounds_db, "attenuation_bounds_db")?,
                bucket_weights_percent: fixed(
                    &self.bucket_weights_percent,
                    "bucket_weights_percent",
                )?,
                min_weighted_minutes: self.min_weighted_minutes,
                scan_period_seconds: self.scan_period_seconds,
                assumed_tx_power_dbm: self.assumed_tx_power_dbm,
            },
        })
    }
}

/// `bytes` as an array of exactly `N`, or [`PhoneError::InvalidArgument`] naming `what`.
fn fixed<const N: usize>(bytes: &[u8], what: &str) -> Result<[u8; N], PhoneError> {
    bytes.try_into().map_err(|_| PhoneError::InvalidArgument {
        reason: format!("{what} must be {N} bytes, not {}", bytes.len()),
    })
}

/// What to broadcast now, and until when.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Broadcast {
    /// The 20-byte advertisement payload (RPI then AEM).
    pub advertisement: Vec<u8>,
    /// The 10-minute interval whose RPI this is.
    pub interval: u32,
    /// When to call [`Phone::broadcast`] again (unix seconds): the RPI changes then, and the
    /// Bluetooth address must change at the same moment.
    pub rotate_at: u64,
}

/// What [`Phone::hear`] did with an advertisement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum SightingUpdate {
    /// First time this RPI was heard.
    New,
    /// The RPI was known: its sighting was updated.
    Updated,
    /// The sighting log is full: the advertisement was not kept.
    Dropped,
}

/// Everything the phone keeps about one RPI it heard. Plain data: an app may store it (with a
/// pending [`CandidateExposure`]) and hand it back later.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Sighting {
    /// The 16-byte rolling proximity identifier.
    pub rpi: Vec<u8>,
    /// The 4-byte encrypted metadata first heard with it.
    pub aem: Vec<u8>,
    /// First heard, unix seconds.
    pub first_seen: u64,
    /// Last heard, unix seconds.
    pub last_seen: u64,
    /// Scans that heard it.
    pub scans: u32,
    /// Weakest RSSI, dBm.
    pub rssi_min: i8,
    /// Strongest RSSI, dBm.
    pub rssi_max: i8,
    /// Mean RSSI, dBm.
    pub rssi_mean: i8,
}

impl From<&protocol::Sighting> for Sighting {
    fn from(s: &protocol::Sighting) -> Sighting {
        Sighting {
            rpi: s.rpi.0.to_vec(),
            aem: s.aem.0.to_vec(),
            first_seen: s.first_seen.0,
            last_seen: s.last_seen.0,
            scans: s.scans,
            rssi_min: s.rssi_min,
            rssi_max: s.rssi_max,
            rssi_mean: s.rssi_mean,
        }
    }
}

impl Sighting {
    fn to_protocol(&self) -> Result<protocol::Sighting, PhoneError> {
        Ok(protocol::Sighting {
            rpi: RollingProximityId(fixed::<RPI_LEN>(&self.rpi, "sighting rpi")?),
            aem: AssociatedEncryptedMetadata(fixed::<AEM_LEN>(&self.aem, "sighting aem")?),
            first_seen: UnixTime(self.first_seen),
            last_seen: UnixTime(self.last_seen),
            scans: self.scans,
            rssi_min: self.rssi_min,
            rssi_max: self.rssi_max,
            rssi_mean: self.rssi_mean,
        })
    }
}

/// One day's hits of a matched batch, scored with the phone's risk rule: what the phone
/// reports as an F1 if it passes and the user consents.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct CandidateExposure {
    /// Days since the unix epoch (UTC) of the first scan of these hits.
    pub day: u64,
    /// The sightings whose RPI the batch holds, in RPI order.
    pub sightings: Vec<Sighting>,
    /// Weighted exposure, percent-seconds.
    pub weighted_exposure: u64,
    /// Weighted exposure in whole minutes.
    pub weighted_minutes: u64,
    /// Whether it reaches the risk rule's threshold: only these are reported.
    pub passes: bool,
}

impl From<&protocol::CandidateExposure> for CandidateExposure {
    fn from(e: &protocol::CandidateExposure) -> CandidateExposure {
        CandidateExposure {
            day: e.day,
            sightings: e.sightings.iter().map(Sighting::from).collect(),
            weighted_exposure: e.weighted_exposure,
            weighted_minutes: e.weighted_minutes(),
            passes: e.passes,
        }
    }
}

impl CandidateExposure {
    fn to_protocol(&self) -> Result<protocol::CandidateExposure, PhoneError> {
        Ok(protocol::CandidateExposure {
            day: self.day,
            sightings: self
                .sightings
                .iter()
                .map(Sighting::to_protocol)
                .collect::<Result<_, _>>()?,
            weighted_exposure: self.weighted_exposure,
            passes: self.passes,
        })
    }
}

/// The result of matching one batch.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct MatchOutcome {
    /// The batch matched.
    pub batch_id: u64,
    /// Sightings tested (those in the batch's plausible time window).
    pub tested: u64,
    /// Sightings the batch holds.
    pub hits: u64,
    /// The hits grouped by day and scored, ascending by day; report those that pass.
    pub exposures: Vec<CandidateExposure>,
}

/// One batch as the signed index lists it.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct BatchIndexEntry {
    /// The batch's identifier: fetch `/publication/v1/batches/<batch_id>.bin`.
    pub batch_id: u64,
    /// Its region (0: the whole country).
    pub region: u16,
    /// When it was built, unix seconds.
    pub created_at: u64,
    /// First interval it covers.
    pub first_interval: u32,
    /// Last interval it covers (inclusive).
    pub last_interval: u32,
    /// Length of the batch file in bytes.
    pub byte_len: u32,
    /// Entries in it, dummies included.
    pub entry_count: u32,
    /// SHA-256 of the batch file (32 bytes).
    pub sha256: Vec<u8>,
}

impl From<&protocol::BatchIndexEntry> for BatchIndexEntry {
    fn from(e: &protocol::BatchIndexEntry) -> BatchIndexEntry {
        BatchIndexEntry {
            batch_id: e.batch_id,
            region: e.region,
            created_at: e.created_at.0,
            first_interval: e.first_interval.0,
            last_interval: e.last_interval.0,
            byte_len: e.byte_len,
            entry_count: e.entry_count,
            sha256: e.sha256.to_vec(),
        }
    }
}

impl BatchIndexEntry {
    fn to_protocol(&self) -> Result<protocol::BatchIndexEntry, PhoneError> {
        Ok(protocol::BatchIndexEntry {
            batch_id: self.batch_id,
            region: self.region,
            created_at: UnixTime(self.created_at),
            first_interval: IntervalNumber(self.first_interval),
            last_interval: IntervalNumber(self.last_interval),
            byte_len: self.byte_len,
            entry_count: self.entry_count,
            sha256: fixed(&self.sha256, "index entry sha256")?,
        })
    }
}

/// A time range the user withholds from an F0 upload, unix seconds, `from` included, `to`
/// excluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Record)]
pub struct TimeRange {
    /// Start, included.
    pub from: u64,
    /// End, excluded.
    pub to: u64,
}

/// The F0 upload to POST to `/phone/v1/uploads`.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct F0Upload {
    /// The message bytes (SPEC.md §7), padded to a size class.
    pub bytes: Vec<u8>,
    /// Daily keys it shares.
    pub key_count: u32,
    /// RPIs it asks the server to publish.
    pub published_count: u64,
    /// Sightings of its contact history.
    pub sighting_count: u32,
}

/// The F1's contact details, which only the preventive-medicine unit can read.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
pub struct ContactDetails {
    /// Digits only, international form without `+` (`84912345678`), 1 to 15 digits.
    pub phone_number: String,
    /// Name, empty when not given, at most 95 bytes of UTF-8.
    pub name: String,
    /// Administrative code of the F1's district: decides the unit.
    pub district: u32,
    /// When the user consented to the report, unix seconds.
    pub consent_time: u64,
}

impl fmt::Debug for ContactDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Personal data: never in logs.
        f.debug_struct("ContactDetails")
            .field("district", &self.district)
            .finish_non_exhaustive()
    }
}

/// One of the reporter's own RPIs in an F1 report.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct OwnRpi {
    /// The interval.
    pub interval: u32,
    /// The 16-byte RPI the reporter broadcast in it.
    pub rpi: Vec<u8>,
}

/// The F1 report to POST to `/phone/v1/reports`, and what it holds (for an app that shows
/// the user what is sent).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct F1Report {
    /// The message bytes (SPEC.md §10), padded to a size class.
    pub bytes: Vec<u8>,
    /// The report's random 16-byte identifier.
    pub report_id: Vec<u8>,
    /// The district whose unit can open the contact details.
    pub district: u32,
    /// The sightings it reports.
    pub sightings: Vec<Sighting>,
    /// The reporter's own RPIs for the intervals of those sightings.
    pub own_rpis: Vec<OwnRpi>,
}

/// Why a call was refused. Each variant is its own exception class in the bindings.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Error)]
pub enum PhoneError {
    /// An argument the app passed has the wrong shape (a key of the wrong length, a record
    /// field out of range); `reason` says which.
    InvalidArgument {
        /// What is wrong.
        reason: String,
    },
    /// Bytes that do not follow their SPEC.md layout (an advertisement, a batch, an index).
    Malformed {
        /// What is wrong.
        reason: String,
    },
    /// The declaration code is empty, too long, or has a character outside `0-9A-Z-`.
    BadDeclarationCode,
    /// The phone holds no daily key to share.
    NothingToUpload,
    /// An F0 upload the protocol refuses to build, for another reason.
    UploadRefused {
        /// What is wrong.
        reason: String,
    },
    /// The batch or index signature does not verify under the pinned publisher key.
    BadSignature,
    /// A batch this phone has already matched (a replay).
    BatchAlreadySeen {
        /// The batch.
        batch_id: u64,
    },
    /// A batch created more than 14 days ago.
    BatchExpired {
        /// The batch.
        batch_id: u64,
    },
    /// The downloaded batch is not the one its index entry describes (length or SHA-256).
    DigestMismatch {
        /// The batch.
        batch_id: u64,
    },
    /// A batch or index refused for another reason.
    BatchRefused {
        /// What is wrong.
        reason: String,
    },
    /// The phone number is empty, longer than 15 digits, or not all digits.
    BadPhoneNumber,
    /// The name is longer than 95 bytes.
    NameTooLong,
    /// Contact details or their seal refused for another reason (a bad unit key).
    ContactRefused {
        /// What is wrong.
        reason: String,
    },
    /// The saved state was sealed under another key.
    StateWrongKey,
    /// The saved state's bytes were changed or damaged (authentication failed).
    StateTampered,
    /// The saved state was written by a newer library; keep the bytes for it.
    StateUnknownVersion {
        /// The message type whose version is unknown (0x07 sealed state, 0x06 state).
        message_type: u8,
        /// The version found.
        found: u8,
    },
    /// The bytes are not a saved state, or its content breaks a rule of SPEC.md appendix A.
    StateMalformed {
        /// What is wrong.
        reason: String,
    },
    /// The phone holds more than a saved state can.
    StateTooLarge {
        /// What is over its limit.
        reason: String,
    },
    /// Any other refusal of the protocol library.
    Other {
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for PhoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PhoneError::InvalidArgument { reason } => write!(f, "invalid argument: {reason}"),
            PhoneError::Malformed { reason } => write!(f, "malformed input: {reason}"),
            PhoneError::BadDeclarationCode => {
                f.write_str("the declaration code must be 1 to 32 characters of 0-9, A-Z and -")
            }
            PhoneError::NothingToUpload => f.write_str("the phone holds no key to share"),
            PhoneError::UploadRefused { reason } => write!(f, "F0 upload refused: {reason}"),
            PhoneError::BadSignature => {
                f.write_str("signature does not verify under the publisher key")
            }
            PhoneError::BatchAlreadySeen { batch_id } => {
                write!(f, "batch {batch_id} was already matched")
            }
            PhoneError::BatchExpired { batch_id } => {
                write!(f, "batch {batch_id} is older than 14 days")
            }
            PhoneError::DigestMismatch { batch_id } => {
                write!(f, "batch {batch_id} does not match its index entry")
            }
            PhoneError::BatchRefused { reason } => write!(f, "batch refused: {reason}"),
            PhoneError::BadPhoneNumber => f.write_str("phone number must be 1 to 15 digits"),
            PhoneError::NameTooLong => f.write_str("name longer than 95 bytes"),
            PhoneError::ContactRefused { reason } => {
                write!(f, "contact details refused: {reason}")
            }
            PhoneError::StateWrongKey => f.write_str("saved state sealed under another key"),
            PhoneError::StateTampered => f.write_str("saved state changed or damaged"),
            PhoneError::StateUnknownVersion {
                message_type,
                found,
            } => write!(
                f,
                "saved state: version {found} of message type {message_type:#04x} is newer than this library"
            ),
            PhoneError::StateMalformed { reason } => write!(f, "not a saved state: {reason}"),
            PhoneError::StateTooLarge { reason } => write!(f, "cannot save: {reason}"),
            PhoneError::Other { reason } => f.write_str(reason),
        }
    }
}

impl std::error::Error for PhoneError {}

impl From<StateError> for PhoneError {
    fn from(e: StateError) -> PhoneError {
        match e {
            StateError::WrongKey => PhoneError::StateWrongKey,
            StateError::Tampered => PhoneError::StateTampered,
            StateError::UnknownVersion {
                message_type,
                found,
            } => PhoneError::StateUnknownVersion {
                message_type,
                found,
            },
            StateError::Malformed(d) => PhoneError::StateMalformed {
                reason: d.to_string(),
            },
            e @ StateError::TooLarge { .. } => PhoneError::StateTooLarge {
                reason: e.to_string(),
            },
            other => PhoneError::Other {
                reason: other.to_string(),
            },
        }
    }
}

impl From<protocol::Error> for PhoneError {
    fn from(e: protocol::Error) -> PhoneError {
        use protocol::Error as E;
        let reason = e.to_string();
        match e {
            E::Decode(_)
            | E::InvalidRollingPeriod(_)
            | E::InvalidRollingStart(_)
            | E::UnsupportedMetadataVersion(_) => PhoneError::Malformed { reason },
            E::Upload(UploadError::BadDeclarationCode) => PhoneError::BadDeclarationCode,
            E::Upload(UploadError::NothingToUpload) => PhoneError::NothingToUpload,
            E::Upload(_) => PhoneError::UploadRefused { reason },
            E::Batch(BatchError::BadSignature) => PhoneError::BadSignature,
            E::Batch(BatchError::AlreadySeen(batch_id)) => {
                PhoneError::BatchAlreadySeen { batch_id }
            }
            E::Batch(BatchError::Expired(batch_id)) => PhoneError::BatchExpired { batch_id },
            E::Batch(BatchError::DigestMismatch(batch_id)) => {
                PhoneError::DigestMismatch { batch_id }
            }
            E::Batch(_) => PhoneError::BatchRefused { reason },
            E::Contact(ContactError::BadPhoneNumber) => PhoneError::BadPhoneNumber,
            E::Contact(ContactError::NameTooLong) => PhoneError::NameTooLong,
            E::Contact(_) => PhoneError::ContactRefused { reason },
            E::State(s) => s.into(),
            _ => PhoneError::Other { reason },
        }
    }
}

impl From<BatchError> for PhoneError {
    fn from(e: BatchError) -> PhoneError {
        protocol::Error::from(e).into()
    }
}

/// One phone: its daily keys, what it heard and the batches it matched.
///
/// `Send + Sync`: every method locks the state for its whole call (see the crate's docs).
#[derive(uniffi::Object)]
pub struct Phone {
    inner: Mutex<protocol::Phone>,
}

impl Phone {
    fn wrap(phone: protocol::Phone) -> Arc<Phone> {
        Arc::new(Phone {
            inner: Mutex::new(phone),
        })
    }

    /// The state, even after a panic in another call: every protocol call leaves the phone
    /// consistent before anything can panic, so a poisoned lock holds a usable phone.
    fn lock(&self) -> MutexGuard<'_, protocol::Phone> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[uniffi::export]
impl Phone {
    /// A new phone with no keys and no sightings.
    #[uniffi::constructor]
    pub fn new(settings: PhoneSettings) -> Result<Arc<Phone>, PhoneError> {
        Ok(Phone::wrap(protocol::Phone::new(settings.to_config()?)))
    }

    /// The phone saved in `sealed` (by [`Phone::save`]) under the 32-byte `state_key`,
    /// running with `settings` (the app's current ones: settings are not part of the state).
    /// A wrong key, tampered bytes and a newer version are each refused with their own error;
    /// the app should keep the bytes in every case.
    #[uniffi::constructor]
    pub fn restore(
        sealed: Vec<u8>,
        state_key: Vec<u8>,
        settings: PhoneSettings,
    ) -> Result<Arc<Phone>, PhoneError> {
        let key = StateKey::from_bytes(fixed::<STATE_KEY_LEN>(&state_key, "state key")?);
        let phone = protocol::Phone::restore(&sealed, &key, settings.to_config()?)?;
        Ok(Phone::wrap(phone))
    }

    /// The phone's state sealed under the 32-byte `state_key`, to write to storage.
    pub fn save(&self, state_key: Vec<u8>) -> Result<Vec<u8>, PhoneError> {
        let key = StateKey::from_bytes(fixed::<STATE_KEY_LEN>(&state_key, "state key")?);
        Ok(self.lock().save(&key, &mut os_rng())?)
    }

    /// What to broadcast at `now` (unix seconds). Starts a new daily key when none covers
    /// the current interval.
    pub fn broadcast(&self, now: u64) -> Broadcast {
        let b = self.lock().broadcast(UnixTime(now), &mut os_rng());
        Broadcast {
            advertisement: b.advertisement.to_bytes().to_vec(),
            interval: b.interval.0,
            rotate_at: b.rotate_at.0,
        }
    }

    /// Record an advertisement payload heard at `now` with `rssi_dbm` as the radio reports it.
    pub fn hear(
        &self,
        payload: Vec<u8>,
        rssi_dbm: i8,
        now: u64,
    ) -> Result<SightingUpdate, PhoneError> {
        Ok(match self.lock().hear(&payload, rssi_dbm, UnixTime(now))? {
            protocol::SightingUpdate::New => SightingUpdate::New,
            protocol::SightingUpdate::Updated => SightingUpdate::Updated,
            protocol::SightingUpdate::Dropped => SightingUpdate::Dropped,
        })
    }

    /// Sightings currently kept.
    pub fn sighting_count(&self) -> u64 {
        self.lock().sightings().len() as u64
    }

    /// The F0 upload authorised by the declaration `code`, for a contagious window from
    /// `contagious_from`, withholding the `redacted` ranges. The phone switches to a fresh
    /// daily key at once, so save the state after this call.
    pub fn prepare_f0_upload(
        &self,
        code: String,
        contagious_from: u64,
        redacted: Vec<TimeRange>,
        now: u64,
    ) -> Result<F0Upload, PhoneError> {
        let code = DeclarationCode::new(&code)?;
        let redacted: Vec<(UnixTime, UnixTime)> = redacted
            .iter()
            .map(|r| (UnixTime(r.from), UnixTime(r.to)))
            .collect();
        let upload = self.lock().prepare_f0_upload(
            code,
            UnixTime(contagious_from),
            &redacted,
            UnixTime(now),
            &mut os_rng(),
        )?;
        Ok(F0Upload {
            bytes: upload.to_bytes()?,
            key_count: upload.keys.len() as u32,
            published_count: upload.published_count() as u64,
            sighting_count: upload.contact_history.len() as u32,
        })
    }

    /// Open a signed batch index under the pinned 32-byte `publisher_key` and list the
    /// batches to fetch: of region 0 or one of `regions` (the provinces the phone subscribes
    /// to, by GSO code), not matched yet, created within the last 14 days (SPEC.md §8.5). The
    /// index is a region's (`/publication/v1/regions/<region>/index.bin`, polled for region 0
    /// and each subscription) or the complete one (`/publication/v1/index.bin`).
    pub fn batches_to_fetch(
        &self,
        index: Vec<u8>,
        publisher_key: Vec<u8>,
        regions: Vec<u16>,
        now: u64,
    ) -> Result<Vec<BatchIndexEntry>, PhoneError> {
        let publisher = PublisherPublicKey(fixed(&publisher_key, "publisher key")?);
        let entries = self
            .lock()
            .batches_to_fetch(&index, &publisher, &regions, UnixTime(now))?;
        Ok(entries.iter().map(BatchIndexEntry::from).collect())
    }

    /// Check a downloaded batch against its index `entry` (length and SHA-256) and its
    /// signature under the pinned `publisher_key`, then match it against the sightings. The
    /// batch is remembered as matched; a replay or a batch older than 14 days is refused and
    /// leaves the phone unchanged.
    pub fn match_batch(
        &self,
        entry: BatchIndexEntry,
        batch: Vec<u8>,
        publisher_key: Vec<u8>,
        now: u64,
    ) -> Result<MatchOutcome, PhoneError> {
        let publisher = PublisherPublicKey(fixed(&publisher_key, "publisher key")?);
        let entry = entry.to_protocol()?;
        entry.check(&batch)?;
        let outcome = self.lock().match_batch(&batch, &publisher, UnixTime(now))?;
        if outcome.batch_id != entry.batch_id {
            // Signed, but not the batch the index entry names: the caller mixed them up.
            return Err(PhoneError::InvalidArgument {
                reason: format!(
                    "batch {} was passed with the index entry of batch {}",
                    outcome.batch_id, entry.batch_id
                ),
            });
        }
        Ok(MatchOutcome {
            batch_id: outcome.batch_id,
            tested: outcome.tested as u64,
            hits: outcome.hits as u64,
            exposures: outcome
                .exposures
                .iter()
                .map(CandidateExposure::from)
                .collect(),
        })
    }

    /// The F1 report of `exposure` (from [`Phone::match_batch`], passing), with `contact`
    /// sealed to `unit_public_key`, the 32-byte HPKE key of the preventive-medicine unit of
    /// `contact.district`. Call only with the user's consent, recorded in
    /// `contact.consent_time`.
    pub fn prepare_f1_report(
        &self,
        exposure: CandidateExposure,
        contact: ContactDetails,
        unit_public_key: Vec<u8>,
    ) -> Result<F1Report, PhoneError> {
        let unit = HpkePublicKey::from_bytes(&unit_public_key).map_err(|e| {
            PhoneError::InvalidArgument {
                reason: format!("unit public key: {e}"),
            }
        })?;
        let contact = protocol::ContactDetails {
            phone_number: contact.phone_number,
            name: contact.name,
            district: contact.district,
            consent_time: UnixTime(contact.consent_time),
        };
        let report = self.lock().prepare_f1_report(
            &exposure.to_protocol()?,
            &contact,
            &unit,
            &mut os_rng(),
        )?;
        Ok(F1Report {
            bytes: report.to_bytes()?,
            report_id: report.report_id.0.to_vec(),
            district: report.district,
            sightings: report.sightings.iter().map(Sighting::from).collect(),
            own_rpis: report
                .own_rpis
                .iter()
                .map(|o| OwnRpi {
                    interval: o.interval.0,
                    rpi: o.rpi.0.to_vec(),
                })
                .collect(),
        })
    }

    /// Forget daily keys, sightings and matched batches past the 14-day retention at `now`.
    /// Call at least once a day, then save.
    pub fn purge(&self, now: u64) {
        self.lock().purge(UnixTime(now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn one_phone_is_shared_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Phone>();

        let listener = Phone::new(default_settings()).unwrap();
        let speakers: Vec<Arc<Phone>> = (0..4)
            .map(|_| Phone::new(default_settings()).unwrap())
            .collect();
        std::thread::scope(|scope| {
            for speaker in &speakers {
                let listener = Arc::clone(&listener);
                scope.spawn(move || {
                    for t in 0..10 {
                        let now = NOW + 60 * t;
                        let sent = speaker.broadcast(now);
                        listener.hear(sent.advertisement, -60, now).unwrap();
                    }
                });
            }
        });
        // Ten minutes of one RPI per speaker (NOW is 200 seconds into an interval, so the
        // ten scans span two intervals): every scan was recorded, none lost to a race.
        assert_eq!(listener.sighting_count(), 8);
    }

    #[test]
    fn a_scanned_declaration_code_goes_into_the_upload_as_typed() {
        let phone = Phone::new(default_settings()).unwrap();
        for t in 0..3 {
            phone.broadcast(NOW - 3600 + 600 * t);
        }
        // The payload of the console's QR code (SPEC.md §7.4): the displayed form's 16 bytes.
        let payload = "7M2K-Q9XH-4T8B-N";
        let upload = phone
            .prepare_f0_upload(payload.into(), NOW - 86_400, Vec::new(), NOW)
            .unwrap();
        match protocol::parse_upload_body(&upload.bytes).unwrap() {
            protocol::UploadBody::F0(f0) => assert_eq!(f0.code.as_str(), payload),
            protocol::UploadBody::Decoy => panic!("a real upload"),
        }
        // A QR code of anything else is no code.
        for other in [
            "https://example.org/7M2K",
            "7m2k-q9xh-4t8b-n",
            "",
            "7M2K Q9XH",
        ] {
            let refused = phone.prepare_f0_upload(other.into(), NOW - 86_400, Vec::new(), NOW);
            assert_eq!(
                refused.unwrap_err(),
                PhoneError::BadDeclarationCode,
                "{other:?}"
            );
        }
    }

    #[test]
    fn arguments_of_the_wrong_length_are_refused_by_name() {
        let phone = Phone::new(default_settings()).unwrap();
        let refused = phone.save(vec![0; 31]).unwrap_err();
        assert_eq!(
            refused,
            PhoneError::InvalidArgument {
                reason: "state key must be 32 bytes, not 31".into()
            }
        );
        let mut settings = default_settings();
        settings.bucket_weights_percent.pop();
        assert!(matches!(
            Phone::new(settings),
            Err(PhoneError::InvalidArgument { .. })
        ));
    }
}
