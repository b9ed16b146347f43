//! A phone's saved state (SPEC.md, appendix A): what an app writes to its storage so that a
//! [`Phone`] survives a restart, encrypted and authenticated under a 256-bit key the app keeps
//! in the platform keystore (Android Keystore, iOS Keychain).
//!
//! [`Phone::save`] writes a *sealed state*: a header, a key check, a random nonce and the
//! AES-256-GCM ciphertext of the *state* (the phone's daily keys, the batches it matched, its
//! sighting log). [`Phone::restore`] reads it back with the same key and the app's current
//! [`PhoneConfig`] (the configuration is the app's, not the state's, so an app update can change
//! its calibration or risk rule). A restored phone goes on exactly as the original would: same
//! broadcasts, same matches, same reports.
//!
//! Each refusal has its own error ([`StateError`]): a different key, tampered or damaged bytes,
//! a version this library does not know; the app keeps the stored bytes in every case.
//!
//! # Nonces
//!
//! The nonce is 96 random bits from the caller's generator. AES-GCM stays within its bounds
//! for 2³² seals under one key with random nonces; a phone that saves every minute reaches that
//! after about 8,000 years.

use rand_core::CryptoRng;
use ring::{aead, hmac};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{DecodeError, Error};
use crate::keys::DailyKey;
use crate::phone::{Phone, PhoneConfig};
use crate::sighting::{STATE_SIGHTING_LEN, SightingLog};
use crate::time::{IntervalNumber, UnixTime};
use crate::wire::{self, MessageType, Reader};

/// Length of a state key: 256 bits.
pub const STATE_KEY_LEN: usize = 32;

/// Format version of the sealed state (message type 0x07).
pub const SEALED_STATE_VERSION: u8 = 1;

/// Format version of the state inside it (message type 0x06).
pub const STATE_VERSION: u8 = 1;

/// Most daily keys a saved state holds (a phone keeps 15 days of them, and one more a day
/// after each upload).
pub const MAX_STATE_KEYS: u32 = 256;

/// Most matched batches a saved state remembers (14 days of hourly batches in every one of
/// Vietnam's 63 provinces is 21,168).
pub const MAX_STATE_BATCHES: u32 = 100_000;

/// Most sightings a saved state holds.
pub const MAX_STATE_SIGHTINGS: u32 = 1_000_000;

/// Bytes of the key check.
pub const KEY_CHECK_LEN: usize = 8;

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Header, key check and nonce: what precedes the ciphertext.
const SEALED_PREFIX_LEN: usize = wire::HEADER_LEN + KEY_CHECK_LEN + NONCE_LEN;
const KEY_CHECK_LABEL: &[u8] = b"bluezone phone state key check v1";
const STATE_KEY_RECORD_LEN: usize = 24;
const STATE_BATCH_RECORD_LEN: usize = 16;

/// The 256-bit key a phone's state is sealed under. The app generates it once, keeps it in the
/// platform keystore, and hands it over at every save and restore.
///
/// Not `Clone`; its bytes are overwritten with zeros when it is dropped.
pub struct StateKey([u8; STATE_KEY_LEN]);

impl StateKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; STATE_KEY_LEN]) -> StateKey {
        StateKey(bytes)
    }

    /// A fresh key from `rng` (the OS generator in an app).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> StateKey {
        let mut bytes = [0u8; STATE_KEY_LEN];
        rng.fill_bytes(&mut bytes);
        StateKey(bytes)
    }

    /// The key's bytes, to put in the keystore.
    pub fn as_bytes(&self) -> &[u8; STATE_KEY_LEN] {
        &self.0
    }

    /// The first 8 bytes of HMAC-SHA256(key, "bluezone phone state key check v1"): tells a
    /// wrong key from damaged bytes without revealing the key.
    fn check(&self) -> [u8; KEY_CHECK_LEN] {
        let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &self.0), KEY_CHECK_LABEL);
        let mut out = [0u8; KEY_CHECK_LEN];
        out.copy_from_slice(&mac.as_ref()[..KEY_CHECK_LEN]);
        out
    }

    fn aead(&self) -> aead::LessSafeKey {
        // A 32-byte key is always a valid AES-256 key.
        let unbound = aead::UnboundKey::new(&aead::AES_256_GCM, &self.0)
            .unwrap_or_else(|_| unreachable!("AES-256-GCM takes 32-byte keys"));
        aead::LessSafeKey::new(unbound)
    }
}

impl Drop for StateKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl core::fmt::Debug for StateKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("StateKey(..)")
    }
}

/// Why a saved state was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateError {
    /// Sealed under another key (its key check differs).
    WrongKey,
    /// The key is right but the bytes were changed or damaged (authentication failed).
    Tampered,
    /// A sealed-state or state version this library does not read. Newer apps write newer
    /// versions; the bytes are left for them.
    UnknownVersion {
        /// The message type whose version is unknown (0x07 sealed state, 0x06 state).
        message_type: u8,
        /// The version found.
        found: u8,
    },
    /// The bytes are not a sealed state, or its state breaks a rule of SPEC.md appendix A.
    Malformed(DecodeError),
    /// The phone holds more than a state can (see the `MAX_STATE_*` limits).
    TooLarge {
        /// What is over its limit.
        what: &'static str,
        /// The limit.
        limit: u32,
    },
}

impl core::fmt::Display for StateError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StateError::WrongKey => f.write_str("sealed under another key"),
            StateError::Tampered => f.write_str("changed or damaged since it was saved"),
            StateError::UnknownVersion {
                message_type,
                found,
            } => write!(
                f,
                "version {found} of message type {message_type:#04x} is newer than this library"
            ),
            StateError::Malformed(e) => write!(f, "not a saved phone state: {e}"),
            StateError::TooLarge { what, limit } => {
                write!(f, "more than {limit} {what} to save")
            }
        }
    }
}

impl std::error::Error for StateError {}

impl From<StateError> for Error {
    fn from(e: StateError) -> Error {
        Error::State(e)
    }
}

/// A decode error, with an unknown version reported as such.
fn refused(e: DecodeError) -> StateError {
    match e {
        DecodeError::UnsupportedVersion {
            message_type,
            found,
        } => StateError::UnknownVersion {
            message_type,
            found,
        },
        other => StateError::Malformed(other),
    }
}

impl Phone {
    /// The phone's state, sealed under `key` (SPEC.md appendix A), with a nonce from `rng`.
    ///
    /// Fails only if the phone holds more than a state can (`MAX_STATE_*`).
    pub fn save<R: CryptoRng + ?Sized>(
        &self,
        key: &StateKey,
        rng: &mut R,
    ) -> Result<Vec<u8>, StateError> {
        let state = Zeroizing::new(self.state_bytes()?);
        let mut out = Vec::with_capacity(SEALED_PREFIX_LEN + state.len() + TAG_LEN);
        wire::write_header(
            &mut out,
            MessageType::SealedPhoneState,
            SEALED_STATE_VERSION,
        );
        out.extend_from_slice(&key.check());
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        out.extend_from_slice(&nonce);
        let aad = out.clone();
        let mut sealed = Vec::from(&state[..]);
        key.aead()
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(&aad),
                &mut sealed,
            )
            .map_err(|_| StateError::TooLarge {
                what: "bytes for AES-GCM",
                limit: u32::MAX,
            })?;
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The phone saved in `sealed` under `key`, running with `config`.
    pub fn restore(
        sealed: &[u8],
        key: &StateKey,
        config: PhoneConfig,
    ) -> Result<Phone, StateError> {
        let mut r = Reader::new(sealed);
        r.header(MessageType::SealedPhoneState, SEALED_STATE_VERSION)
            .map_err(refused)?;
        let check: [u8; KEY_CHECK_LEN] = r.array().map_err(refused)?;
        let nonce: [u8; NONCE_LEN] = r.array().map_err(refused)?;
        if r.remaining() < TAG_LEN {
            return Err(StateError::Malformed(DecodeError::Truncated {
                offset: SEALED_PREFIX_LEN,
                needed: TAG_LEN,
                available: r.remaining(),
            }));
        }
        if check != key.check() {
            return Err(StateError::WrongKey);
        }
        let mut opened = Zeroizing::new(sealed[SEALED_PREFIX_LEN..].to_vec());
        let state = key
            .aead()
            .open_in_place(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(&sealed[..SEALED_PREFIX_LEN]),
                &mut opened,
            )
            .map_err(|_| StateError::Tampered)?;
        Phone::from_state(state, config)
    }

    /// The state (message type 0x06), before sealing.
    fn state_bytes(&self) -> Result<Vec<u8>, StateError> {
        let (keys, sightings, seen) = self.parts();
        let too_large = |what, limit| StateError::TooLarge { what, limit };
        let key_count = u32::try_from(keys.len())
            .ok()
            .filter(|&n| n <= MAX_STATE_KEYS)
            .ok_or(too_large("daily keys", MAX_STATE_KEYS))?;
        let seen_count = u32::try_from(seen.len())
            .ok()
            .filter(|&n| n <= MAX_STATE_BATCHES)
            .ok_or(too_large("matched batches", MAX_STATE_BATCHES))?;
        if sightings.len() > MAX_STATE_SIGHTINGS as usize {
            return Err(too_large("sightings", MAX_STATE_SIGHTINGS));
        }
        let mut out = Vec::with_capacity(
            wire::HEADER_LEN
                + 4
                + keys.len() * STATE_KEY_RECORD_LEN
                + 4
                + seen.len() * STATE_BATCH_RECORD_LEN
                + 12
                + sightings.len() * STATE_SIGHTING_LEN,
        );
        wire::write_header(&mut out, MessageType::PhoneState, STATE_VERSION);
        out.extend_from_slice(&key_count.to_le_bytes());
        for key in keys {
            out.extend_from_slice(key.key_bytes());
            out.extend_from_slice(&key.rolling_start().0.to_le_bytes());
            out.extend_from_slice(&key.rolling_period().to_le_bytes());
        }
        out.extend_from_slice(&seen_count.to_le_bytes());
        for (batch_id, created_at) in seen {
            out.extend_from_slice(&batch_id.to_le_bytes());
            out.extend_from_slice(&created_at.0.to_le_bytes());
        }
        sightings.write_state(&mut out);
        Ok(out)
    }

    /// A phone from its state's bytes.
    fn from_state(bytes: &[u8], config: PhoneConfig) -> Result<Phone, StateError> {
        let mut r = Reader::new(bytes);
        r.header(MessageType::PhoneState, STATE_VERSION)
            .map_err(refused)?;
        let key_count = r
            .count("daily keys", MAX_STATE_KEYS, STATE_KEY_RECORD_LEN)
            .map_err(refused)?;
        let mut keys = Vec::with_capacity(key_count);
        for _ in 0..key_count {
            let bytes = Zeroizing::new(r.array::<16>().map_err(refused)?);
            let start = IntervalNumber(r.u32().map_err(refused)?);
            let period = r.u32().map_err(refused)?;
            let key = DailyKey::new(*bytes, start, period).map_err(|_| {
                StateError::Malformed(DecodeError::InvalidField {
                    field: "state.key",
                    rule: "rolling period 1..=144, and start + period within u32",
                })
            })?;
            keys.push(key);
        }
        let seen_count = r
            .count("matched batches", MAX_STATE_BATCHES, STATE_BATCH_RECORD_LEN)
            .map_err(refused)?;
        let mut seen: Vec<(u64, UnixTime)> = Vec::with_capacity(seen_count);
        for _ in 0..seen_count {
            let batch_id = r.u64().map_err(refused)?;
            let created_at = UnixTime(r.u64().map_err(refused)?);
            if seen.last().is_some_and(|&(last, _)| last >= batch_id) {
                return Err(StateError::Malformed(DecodeError::InvalidField {
                    field: "state.batch_id",
                    rule: "strictly ascending",
                }));
            }
            seen.push((batch_id, created_at));
        }
        let sightings =
            SightingLog::read_state(&mut r, config.sighting_capacity, MAX_STATE_SIGHTINGS)
                .map_err(refused)?;
        r.finish().map_err(refused)?;
        Ok(Phone::from_parts(config, keys, sightings, seen))
    }
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;

    const KEY: [u8; STATE_KEY_LEN] = [0x11; STATE_KEY_LEN];

    /// A phone that broadcast on two days and heard one advertisement.
    fn phone() -> Phone {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let mut phone = Phone::new(PhoneConfig::default());
        phone.broadcast(UnixTime(1_700_000_000), &mut rng);
        phone.broadcast(UnixTime(1_700_090_000), &mut rng);
        let mut other = Phone::new(PhoneConfig::default());
        let heard = other.broadcast(UnixTime(1_700_090_000), &mut rng);
        let payload = heard.advertisement.to_bytes();
        phone.hear(&payload, -60, UnixTime(1_700_090_000)).unwrap();
        phone.hear(&payload, -71, UnixTime(1_700_090_300)).unwrap();
        phone
    }

    /// `state` sealed as `Phone::save` seals, with a fixed nonce.
    fn seal(state: &[u8], key: &StateKey) -> Vec<u8> {
        let mut out = Vec::new();
        wire::write_header(
            &mut out,
            MessageType::SealedPhoneState,
            SEALED_STATE_VERSION,
        );
        out.extend_from_slice(&key.check());
        out.extend_from_slice(&[7; NONCE_LEN]);
        let mut sealed = state.to_vec();
        key.aead()
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key([7; NONCE_LEN]),
                aead::Aad::from(&out.clone()),
                &mut sealed,
            )
            .unwrap();
        out.extend_from_slice(&sealed);
        out
    }

    fn restore(sealed: &[u8]) -> Result<Phone, StateError> {
        Phone::restore(sealed, &StateKey::from_bytes(KEY), PhoneConfig::default())
    }

    #[test]
    fn an_empty_phone_has_the_documented_state() {
        let state = Phone::new(PhoneConfig::default()).state_bytes().unwrap();
        // Header, no keys, no batches, nothing dropped, no sightings (SPEC.md appendix A.2).
        assert_eq!(
            hex::encode(&state),
            format!("425a0601{}", "00".repeat(4 + 4 + 8 + 4))
        );
    }

    #[test]
    fn the_sealed_empty_state_of_the_spec() {
        // SPEC.md appendix A.3: key 11 × 32, nonce 07 × 12, the empty phone's state.
        let key = StateKey::from_bytes(KEY);
        let state = Phone::new(PhoneConfig::default()).state_bytes().unwrap();
        let sealed = seal(&state, &key);
        let vector = include_str!("../tests/vectors/phone-state-v1.txt");
        let expected: String = vector
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .flat_map(|l| l.split_whitespace())
            .collect();
        assert_eq!(hex::encode(&sealed), expected);
        let restored = restore(&sealed).unwrap();
        assert!(restored.sightings().is_empty() && restored.daily_keys().is_empty());
    }

    #[test]
    fn a_newer_state_inside_is_an_unknown_version_not_damage() {
        let key = StateKey::from_bytes(KEY);
        let mut state = phone().state_bytes().unwrap();
        assert!(restore(&seal(&state, &key)).is_ok());
        state[3] = STATE_VERSION + 1;
        assert_eq!(
            restore(&seal(&state, &key)).unwrap_err(),
            StateError::UnknownVersion {
                message_type: 0x06,
                found: STATE_VERSION + 1
            }
        );
    }

    #[test]
    fn authenticated_states_that_break_a_rule_are_malformed() {
        let key = StateKey::from_bytes(KEY);
        let good = phone().state_bytes().unwrap();
        let sightings_at = good.len() - STATE_SIGHTING_LEN;
        let broken = |at: usize, byte: u8| {
            let mut s = good.clone();
            s[at] = byte;
            restore(&seal(&s, &key)).unwrap_err()
        };
        // A rolling period of 0 in the first key.
        assert!(matches!(broken(4 + 4 + 20, 0), StateError::Malformed(_)));
        // Zero scans.
        assert!(matches!(
            broken(sightings_at + 36, 0),
            StateError::Malformed(DecodeError::Truncated { .. } | DecodeError::InvalidField { .. })
        ));
        // An RSSI sum outside scans × [min, max].
        assert!(matches!(
            broken(sightings_at + 42, 0x00),
            StateError::Malformed(DecodeError::InvalidField { .. })
        ));
        // Bytes after the end.
        let mut long = good.clone();
        long.push(0);
        assert!(matches!(
            restore(&seal(&long, &key)).unwrap_err(),
            StateError::Malformed(DecodeError::TrailingBytes { extra: 1 })
        ));
    }

    #[test]
    fn state_keys_are_wiped_and_checked_without_revealing_them() {
        let key = StateKey::from_bytes(KEY);
        assert_ne!(&key.check()[..], &KEY[..KEY_CHECK_LEN]);
        assert_ne!(key.check(), StateKey::from_bytes([0x12; 32]).check());
        let mut key = key;
        key.0.zeroize();
        assert_eq!(key.as_bytes(), &[0; STATE_KEY_LEN]);
        assert_eq!(format!("{key:?}"), "StateKey(..)");
    }
}
