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
//!
//! # Secrets in memory
//!
//! The secret key material of this crate is overwritten with zeros when the value holding it is
//! dropped ([`zeroize`]): daily keys ([`DailyKey`], which also implements
//! [`Zeroize`](zeroize::Zeroize) to wipe one on demand), the expanded AES keys of RPIK and AEMK
//! ([`RpiKey`], [`AemKey`]), HPKE private keys ([`hpke::HpkePrivateKey`], likewise
//! [`Zeroize`](zeroize::Zeroize)) with the X25519 shared secrets, the key schedule's secrets
//! and the AEAD key and exporter secret of the HPKE contexts, and the publisher's Ed25519 seed
//! ([`PublisherKeyPair`]). The private key types are not `Clone`, so that no copy outlives the
//! one that is wiped; daily keys are, because a phone hands them over in its F0 upload, and
//! every clone is wiped when it is dropped in turn.
//!
//! The limits: copies the compiler makes when a value is moved or passed by value, registers
//! and spilled temporaries, bytes a caller copies out ([`DailyKey::key_bytes`],
//! [`hpke::HpkePrivateKey::to_bytes`], [`PublisherKeyPair::seed`]), and state held inside ring
//! (the HMAC and HKDF states, the Ed25519 key pair it expands from the seed, the AES-GCM key)
//! are not covered. Wiping narrows how long a secret sits in memory; it does not protect a
//! process whose memory an attacker can read.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod advertisement;
pub mod bandwidth;
mod batch;
mod bloom;
mod decoy;
mod error;
mod gcs;
pub mod hpke;
mod keys;
mod matching;
mod phone;
mod report;
mod risk;
mod seen;
mod sighting;
mod state;
mod time;
mod upload;
mod verify;
pub mod wire;

pub use advertisement::{ADVERTISEMENT_LEN, Advertisement};
pub use batch::{
    BATCH_HEADER_LEN, BATCH_INDEX_ENTRY_LEN, BATCH_INDEX_VERSION, BATCH_VERSION, BatchError,
    BatchFilter, BatchIndex, BatchIndexEntry, BatchSpec, DEFAULT_TARGET_FP_RATE, FilterKind,
    MATCH_TOLERANCE_SECONDS, MAX_BATCH_ENTRIES, MAX_FILTER_BYTES, MAX_INDEX_ENTRIES,
    PublicationBatch, PublisherKeyPair, PublisherPublicKey, VerifiedBatch, WHOLE_COUNTRY,
};
pub use bloom::{BloomError, BloomFilter, BloomParams};
pub use decoy::{
    DECOY_UPLOAD_WINDOW_SECONDS, DecoySchedule, MAX_DECOY_WAIT_MEANS, MIN_DECOY_WAIT_SECONDS,
    ReportBody, UploadBody, decoy_report, decoy_upload, parse_report_body, parse_upload_body,
};
pub use error::{DecodeError, Error};
pub use gcs::{CompressedError, CompressedFilter, CompressedParams};
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
pub use state::{
    MAX_STATE_BATCHES, MAX_STATE_KEYS, MAX_STATE_SIGHTINGS, SEALED_STATE_VERSION, STATE_KEY_LEN,
    STATE_VERSION, StateError, StateKey,
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
