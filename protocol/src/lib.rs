//! The Bluezone contact-tracing protocol, sans IO.
//!
//! This crate is the protocol of [SPEC.md](https://github.com/bluezone-protocol/bluezone/blob/main/SPEC.md):
//! GAEN-compatible ephemeral identifiers, the phone's sighting log, and the byte layouts of
//! every record that crosses a boundary. It reads no clock, opens no socket and owns no global
//! random number generator: every function that needs the time takes a [`UnixTime`], and every
//! one that needs randomness takes a [`rand_core::CryptoRng`]. The reference server and the
//! simulator call it, so the protocol's logic exists once.
//!
//! ```
//! use bluezone_protocol::{Phone, PhoneConfig, UnixTime};
//! use rand_core::SeedableRng;
//! // A phone passes its OS randomness here (getrandom's `SysRng`); tests use a seeded RNG.
//! let mut rng = rand_chacha::ChaCha20Rng::from_seed([7; 32]);
//! let now = UnixTime(1_700_000_000);
//! let mut alice = Phone::new(PhoneConfig::default());
//! let mut bob = Phone::new(PhoneConfig::default());
//!
//! // Alice broadcasts; Bob's scanner hears her at -62 dBm.
//! let broadcast = alice.broadcast(now, &mut rng);
//! bob.hear(&broadcast.advertisement.to_bytes(), -62, now).unwrap();
//! assert_eq!(bob.sightings().len(), 1);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod advertisement;
pub mod bandwidth;
mod batch;
mod bloom;
mod error;
pub mod hpke;
mod keys;
mod matching;
mod phone;
mod report;
mod risk;
mod sighting;
mod time;
mod upload;
mod verify;
pub mod wire;

pub use advertisement::{ADVERTISEMENT_LEN, Advertisement};
pub use batch::{
    BATCH_HEADER_LEN, BATCH_INDEX_ENTRY_LEN, BATCH_INDEX_VERSION, BATCH_VERSION, BatchError,
    BatchIndex, BatchIndexEntry, BatchSpec, DEFAULT_TARGET_FP_RATE, MATCH_TOLERANCE_SECONDS,
    MAX_BATCH_ENTRIES, MAX_FILTER_BYTES, MAX_INDEX_ENTRIES, PublicationBatch, PublisherKeyPair,
    PublisherPublicKey,
};
pub use bloom::{BloomError, BloomFilter, BloomParams};
pub use error::{DecodeError, Error};
pub use keys::{
    AEM_LEN, AemKey, AssociatedEncryptedMetadata, DAILY_KEY_LEN, DailyKey, Metadata, RPI_LEN,
    RollingProximityId, RpiKey, derive_aem_key, derive_rpi_key, rpi_padded_data,
};
pub use matching::{CandidateExposure, MatchOutcome, match_sightings};
pub use phone::{Broadcast, Phone, PhoneConfig};
pub use report::{
    CONTACT_DETAILS_INFO, CONTACT_DETAILS_LEN, ContactDetails, ContactError, F1_REPORT_VERSION,
    F1Report, MAX_NAME_LEN, MAX_PHONE_DIGITS, MAX_REPORT_OWN_RPIS, MAX_REPORT_SIGHTINGS, OwnRpi,
    REPORT_SIZE_CLASSES, ReportId, SEALED_CONTACT_DETAILS_LEN, SealedContactDetails,
};
pub use risk::{RiskRule, attenuation_db, sighting_day};
pub use sighting::{
    DEFAULT_SIGHTING_CAPACITY, MAX_EXPORTED_SIGHTINGS, SIGHTING_EXPORT_VERSION,
    SIGHTING_PAYLOAD_BYTES, SIGHTING_RECORD_LEN, Sighting, SightingExport, SightingLog,
    SightingUpdate,
};
pub use time::{
    INTERVAL_SECONDS, INTERVALS_PER_DAY, IntervalNumber, RETENTION_DAYS, RETENTION_INTERVALS,
    RETENTION_SECONDS, SECONDS_PER_DAY, UnixTime,
};
pub use upload::{
    CLOCK_SKEW_SECONDS, CaseId, DeclarationCode, F0_UPLOAD_VERSION, F0Upload,
    MAX_DECLARATION_CODE_LEN, MAX_UPLOAD_KEYS, MAX_UPLOAD_SIGHTINGS, PUBLISH_BITMAP_LEN,
    PublishedEntry, PublishedIntervals, UPLOAD_SIZE_CLASSES, UPLOADED_KEY_RECORD_LEN, UploadError,
    UploadedKey,
};
pub use verify::{
    ClaimLedger, Confirmation, ContactHistoryStore, F1Row, MAX_INDEXED_KEYS,
    MAX_ONE_SIDED_ROWS_PER_CASE, MAX_ONE_SIDED_ROWS_PER_RPI, NoClaims, PublicationIndex,
    PublishedRpi, ROTATION_TOLERANCE_SECONDS, ReportVerification, VerifyError, claim_id, plausible,
    verify_report,
};
