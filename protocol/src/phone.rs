//! The app-side state of one phone: its daily keys, what it broadcasts, what it heard.

use rand_core::CryptoRng;

use crate::advertisement::Advertisement;
use crate::error::Error;
use crate::keys::{DailyKey, Metadata};
use crate::sighting::{DEFAULT_SIGHTING_CAPACITY, SightingLog, SightingUpdate};
use crate::time::{IntervalNumber, RETENTION_INTERVALS, UnixTime};

/// Settings of one phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhoneConfig {
    /// Transmit power written into the metadata of every advertisement, in dBm. Apps take it
    /// from the calibration table of their device model (GAEN's `tx` column).
    pub tx_power_dbm: i8,
    /// Most sightings the phone keeps (see [`SightingLog`]).
    pub sighting_capacity: usize,
}

impl Default for PhoneConfig {
    fn default() -> Self {
        PhoneConfig {
            tx_power_dbm: 0,
            sighting_capacity: DEFAULT_SIGHTING_CAPACITY,
        }
    }
}

/// What to broadcast now, and until when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Broadcast {
    /// The 20-byte payload.
    pub advertisement: Advertisement,
    /// The interval whose RPI this is.
    pub interval: IntervalNumber,
    /// When to ask again: the start of the next interval, when the RPI changes. The Bluetooth
    /// address must change at the same moment, or the two could be linked.
    pub rotate_at: UnixTime,
}

/// One phone running the protocol: sans-IO, so the app supplies the time of every call and
/// the randomness, and moves the bytes over Bluetooth and HTTP itself.
#[derive(Clone, Debug)]
pub struct Phone {
    config: PhoneConfig,
    /// Own daily keys, oldest first, at most one valid per interval.
    keys: Vec<DailyKey>,
    sightings: SightingLog,
}

impl Phone {
    /// A phone with no keys and no sightings yet.
    pub fn new(config: PhoneConfig) -> Phone {
        Phone {
            config,
            keys: Vec::new(),
            sightings: SightingLog::with_capacity(config.sighting_capacity),
        }
    }

    /// This phone's settings.
    pub fn config(&self) -> &PhoneConfig {
        &self.config
    }

    /// What to broadcast at `now`. Draws a new daily key from `rng` when no key covers the
    /// current interval (the first call of each UTC day); otherwise uses no randomness.
    pub fn broadcast<R: CryptoRng + ?Sized>(&mut self, now: UnixTime, rng: &mut R) -> Broadcast {
        let interval = now.interval();
        let key = match self.keys.iter().rposition(|k| k.covers(interval)) {
            Some(i) => &self.keys[i],
            None => {
                self.keys.push(DailyKey::generate(rng, now));
                &self.keys[self.keys.len() - 1]
            }
        };
        let rpi = key.rpi_key().rpi(interval);
        let metadata = Metadata::v1(self.config.tx_power_dbm).to_bytes();
        Broadcast {
            advertisement: Advertisement {
                rpi,
                aem: key.aem_key().encrypt(&rpi, &metadata),
            },
            interval,
            rotate_at: interval.end(),
        }
    }

    /// Ingest an advertisement payload heard at `now` with `rssi_dbm`.
    pub fn hear(
        &mut self,
        payload: &[u8],
        rssi_dbm: i8,
        now: UnixTime,
    ) -> Result<SightingUpdate, Error> {
        self.sightings.ingest(payload, rssi_dbm, now)
    }

    /// Erase daily keys whose validity ended 14 days or more before `now`, and sightings last
    /// seen 14 days or more before `now`. Apps call this at least once a day.
    pub fn purge(&mut self, now: UnixTime) {
        let cutoff = now.interval().minus(RETENTION_INTERVALS);
        self.keys.retain(|k| k.end() > cutoff);
        self.sightings.purge(now);
    }

    /// Own daily keys still retained, oldest first.
    pub fn daily_keys(&self) -> &[DailyKey] {
        &self.keys
    }

    /// The sighting log.
    pub fn sightings(&self) -> &SightingLog {
        &self.sightings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::AemKey;
    use crate::time::{INTERVAL_SECONDS, SECONDS_PER_DAY};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    const MIDNIGHT: UnixTime = UnixTime(1_585_785_600);

    #[test]
    fn rpi_is_stable_within_an_interval_and_rotates_at_its_end() {
        let mut rng = ChaCha20Rng::from_seed([1; 32]);
        let mut phone = Phone::new(PhoneConfig::default());
        let a = phone.broadcast(MIDNIGHT.plus_seconds(10), &mut rng);
        let b = phone.broadcast(MIDNIGHT.plus_seconds(599), &mut rng);
        let c = phone.broadcast(MIDNIGHT.plus_seconds(600), &mut rng);
        assert_eq!(a, b);
        assert_eq!(a.rotate_at, MIDNIGHT.plus_seconds(INTERVAL_SECONDS));
        assert_ne!(a.advertisement.rpi, c.advertisement.rpi);
        assert_eq!(phone.daily_keys().len(), 1);
    }

    #[test]
    fn each_utc_day_gets_an_independent_key_and_the_aem_carries_tx_power() {
        let mut rng = ChaCha20Rng::from_seed([2; 32]);
        let config = PhoneConfig {
            tx_power_dbm: -12,
            ..PhoneConfig::default()
        };
        let mut phone = Phone::new(config);
        let day1 = phone.broadcast(MIDNIGHT.plus_seconds(3600), &mut rng);
        let day2 = phone.broadcast(MIDNIGHT.plus_seconds(SECONDS_PER_DAY), &mut rng);
        let keys = phone.daily_keys();
        assert_eq!(keys.len(), 2);
        assert_ne!(keys[0].key_bytes(), keys[1].key_bytes());
        assert_eq!(
            keys[1].rolling_start(),
            MIDNIGHT.plus_seconds(SECONDS_PER_DAY).interval()
        );

        assert_eq!(keys[0].rpi_key().rpi(day1.interval), day1.advertisement.rpi);
        let aem_key = AemKey::new(keys[0].key_bytes());
        let metadata = aem_key.decrypt(&day1.advertisement.rpi, &day1.advertisement.aem);
        assert_eq!(Metadata::parse(&metadata).unwrap().tx_power_dbm, -12);
        assert_eq!(keys[1].rpi_key().rpi(day2.interval), day2.advertisement.rpi);
    }

    #[test]
    fn keys_and_sightings_are_erased_after_fourteen_days() {
        let mut rng = ChaCha20Rng::from_seed([3; 32]);
        let mut phone = Phone::new(PhoneConfig::default());
        let first = phone.broadcast(MIDNIGHT, &mut rng);
        let heard_at = MIDNIGHT.plus_seconds(SECONDS_PER_DAY - 1);
        phone.hear(&[5u8; 20], -70, heard_at).unwrap();
        // The sighting goes 14 days after it was last seen.
        phone.purge(heard_at.plus_seconds(14 * SECONDS_PER_DAY - 1));
        assert_eq!(phone.sightings().len(), 1);
        phone.purge(heard_at.plus_seconds(14 * SECONDS_PER_DAY));
        assert!(phone.sightings().is_empty());
        // The key's validity ends at the next midnight; 14 days after that it goes.
        let key_end = MIDNIGHT.plus_seconds(SECONDS_PER_DAY);
        phone.purge(key_end.plus_seconds(14 * SECONDS_PER_DAY - 1));
        assert_eq!(phone.daily_keys().len(), 1);
        phone.purge(key_end.plus_seconds(14 * SECONDS_PER_DAY));
        assert!(phone.daily_keys().is_empty());
        // A later broadcast makes a fresh key, unrelated to the erased one.
        let later = phone.broadcast(key_end.plus_seconds(14 * SECONDS_PER_DAY), &mut rng);
        assert_ne!(first.advertisement.rpi, later.advertisement.rpi);
    }

    #[test]
    fn two_phones_hear_each_other() {
        let mut rng = ChaCha20Rng::from_seed([4; 32]);
        let mut alice = Phone::new(PhoneConfig::default());
        let mut bob = Phone::new(PhoneConfig::default());
        let now = MIDNIGHT.plus_seconds(7 * 3600);
        let a = alice.broadcast(now, &mut rng);
        let b = bob.broadcast(now, &mut rng);
        bob.hear(&a.advertisement.to_bytes(), -65, now).unwrap();
        alice.hear(&b.advertisement.to_bytes(), -68, now).unwrap();
        assert_eq!(
            bob.sightings().get(&a.advertisement.rpi).unwrap().rssi_max,
            -65
        );
        assert_eq!(
            alice.sightings().get(&b.advertisement.rpi).unwrap().scans,
            1
        );
    }
}
