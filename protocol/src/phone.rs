//! The app-side state of one phone: its daily keys, what it broadcasts, what it heard.

use rand_core::CryptoRng;

use crate::advertisement::Advertisement;
use crate::batch::{BatchError, BatchIndex, BatchIndexEntry, PublisherPublicKey, VerifiedBatch};
use crate::decoy::{self, DECOY_UPLOAD_WINDOW_SECONDS};
use crate::error::Error;
use crate::hpke::HpkePublicKey;
use crate::keys::{AEM_LEN, AemKey, DailyKey, Metadata, RpiKey};
use crate::matching::{CandidateExposure, MatchOutcome, match_sightings};
use crate::report::{
    ContactDetails, F1Report, MAX_REPORT_OWN_RPIS, MAX_REPORT_SIGHTINGS, OwnRpi, ReportId,
    SealedContactDetails,
};
use crate::risk::RiskRule;
use crate::seen::SeenBatches;
use crate::sighting::{DEFAULT_SIGHTING_CAPACITY, Sighting, SightingLog, SightingUpdate};
use crate::time::{
    INTERVALS_PER_DAY, IntervalNumber, RETENTION_INTERVALS, RETENTION_SECONDS, UnixTime,
};
use crate::upload::{
    self, DeclarationCode, F0Upload, MAX_UPLOAD_KEYS, MAX_UPLOAD_SIGHTINGS, PublishedIntervals,
    UploadError, UploadedKey,
};

/// Settings of one phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhoneConfig {
    /// Transmit power written into the metadata of every advertisement, in dBm. Apps take it
    /// from the calibration table of their device model (GAEN's `tx` column).
    pub tx_power_dbm: i8,
    /// Correction added to every RSSI this phone's radio reports, in dB (GAEN's
    /// `rssi_correction` for the device model).
    pub rssi_correction_db: i8,
    /// Most sightings the phone keeps (see [`SightingLog`]).
    pub sighting_capacity: usize,
    /// The risk rule for matching and for choosing the intervals an F0 upload publishes.
    pub risk_rule: RiskRule,
}

impl Default for PhoneConfig {
    fn default() -> Self {
        PhoneConfig {
            tx_power_dbm: -24,
            rssi_correction_db: 0,
            sighting_capacity: DEFAULT_SIGHTING_CAPACITY,
            risk_rule: RiskRule::default(),
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
    /// Publication batches already matched: (id, creation time) in increasing id order, kept
    /// 14 days, packed (about 4 bytes a batch, see [`SeenBatches`]): a phone remembers up to
    /// about 56 batches, which counts when a simulator holds millions of phones.
    seen_batches: SeenBatches,
}

/// The broadcast of `interval` under a daily key's RPIK and AEMK, with the encoded metadata.
fn broadcast_with(
    rpik: &RpiKey,
    aemk: &AemKey,
    metadata: &[u8; AEM_LEN],
    interval: IntervalNumber,
) -> Broadcast {
    let rpi = rpik.rpi(interval);
    Broadcast {
        advertisement: Advertisement {
            rpi,
            aem: aemk.encrypt(&rpi, metadata),
        },
        interval,
        rotate_at: interval.end(),
    }
}

impl Phone {
    /// A phone with no keys and no sightings yet.
    pub fn new(config: PhoneConfig) -> Phone {
        Phone {
            config,
            keys: Vec::new(),
            sightings: SightingLog::with_capacity(config.sighting_capacity),
            seen_batches: SeenBatches::default(),
        }
    }

    /// What a saved state holds (SPEC.md appendix A); the matched batches in increasing id
    /// order.
    pub(crate) fn parts(&self) -> (&[DailyKey], &SightingLog, Vec<(u64, UnixTime)>) {
        (
            &self.keys,
            &self.sightings,
            self.seen_batches.iter().collect(),
        )
    }

    /// A phone from what a saved state holds; `seen_batches` must be in strictly increasing id
    /// order.
    pub(crate) fn from_parts(
        config: PhoneConfig,
        keys: Vec<DailyKey>,
        sightings: SightingLog,
        seen_batches: Vec<(u64, UnixTime)>,
    ) -> Phone {
        debug_assert!(seen_batches.windows(2).all(|w| w[0].0 < w[1].0));
        Phone {
            config,
            keys,
            sightings,
            seen_batches: SeenBatches::from_sorted(&seen_batches),
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
        let metadata = Metadata::v1(self.config.tx_power_dbm).to_bytes();
        broadcast_with(&key.rpi_key(), &key.aem_key(), &metadata, interval)
    }

    /// What [`broadcast`](Self::broadcast) returns at `now` when a daily key already covers
    /// it, or `None` when one would have to be drawn first. It leaves the phone unchanged, so
    /// many threads may ask one phone at once (a simulator playing a day's contacts, a radio
    /// stack that only reads).
    pub fn broadcast_if_keyed(&self, now: UnixTime) -> Option<Broadcast> {
        let mut out = Vec::with_capacity(1);
        self.broadcasts_if_keyed([now], &mut out).then(|| out[0])
    }

    /// [`broadcast_if_keyed`](Self::broadcast_if_keyed) at each of `times`, in order, appended
    /// to `out`; each daily key's RPIK and AEMK are derived once for the run of times it
    /// covers. `false` (with `out` holding the broadcasts before it) at the first time no key
    /// covers.
    pub fn broadcasts_if_keyed(
        &self,
        times: impl IntoIterator<Item = UnixTime>,
        out: &mut Vec<Broadcast>,
    ) -> bool {
        let metadata = Metadata::v1(self.config.tx_power_dbm).to_bytes();
        let mut derived: Option<(usize, RpiKey, AemKey)> = None;
        for now in times {
            let interval = now.interval();
            let Some(i) = self.keys.iter().rposition(|k| k.covers(interval)) else {
                return false;
            };
            if derived.as_ref().is_none_or(|(j, _, _)| *j != i) {
                derived = Some((i, self.keys[i].rpi_key(), self.keys[i].aem_key()));
            }
            if let Some((_, rpik, aemk)) = &derived {
                out.push(broadcast_with(rpik, aemk, &metadata, interval));
            }
        }
        true
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
        let oldest = now.minus_seconds(RETENTION_SECONDS);
        self.seen_batches.retain(|_, created| created >= oldest);
    }

    /// Open a batch index under the pinned publisher key and list the batches still worth
    /// fetching for a phone subscribed to `regions` (province codes; region 0, the whole
    /// country, is always included): of region 0 or one of `regions`, not matched yet, and
    /// created within the last 14 days. Works on the complete index and on a region's index
    /// alike (SPEC.md §8.5).
    pub fn batches_to_fetch(
        &self,
        index: &[u8],
        publisher: &PublisherPublicKey,
        regions: &[u16],
        now: UnixTime,
    ) -> Result<Vec<BatchIndexEntry>, Error> {
        let index = BatchIndex::open(index, publisher)?;
        let oldest = now.minus_seconds(RETENTION_SECONDS);
        Ok(index
            .entries
            .into_iter()
            .filter(|e| {
                e.concerns(regions)
                    && e.created_at >= oldest
                    && !self.seen_batches.contains(e.batch_id)
            })
            .collect())
    }

    /// Match a downloaded publication batch against the retained sightings (seed step 5).
    ///
    /// The batch must verify under the pinned `publisher` key, must not have been matched
    /// before, and must be less than 14 days old; otherwise it is refused with its own error
    /// and the phone's state does not change. On success the batch is remembered as seen and
    /// the outcome lists the candidate exposures, scored with the phone's risk rule.
    ///
    /// [`VerifiedBatch::open`] then [`match_verified`](Self::match_verified).
    pub fn match_batch(
        &mut self,
        batch: &[u8],
        publisher: &PublisherPublicKey,
        now: UnixTime,
    ) -> Result<MatchOutcome, Error> {
        let batch = VerifiedBatch::open(batch, publisher)?;
        self.match_verified(&batch, now)
    }

    /// [`match_batch`](Self::match_batch) for a batch already opened: the same replay and age
    /// checks, the phone's risk rule and RSSI correction, and the batch remembered as seen. Many
    /// phones can match one [`VerifiedBatch`], verified once.
    pub fn match_verified(
        &mut self,
        batch: &VerifiedBatch,
        now: UnixTime,
    ) -> Result<MatchOutcome, Error> {
        if self.seen_batches.contains(batch.batch_id) {
            return Err(BatchError::AlreadySeen(batch.batch_id).into());
        }
        if batch.created_at < now.minus_seconds(RETENTION_SECONDS) {
            return Err(BatchError::Expired(batch.batch_id).into());
        }
        let outcome = match_sightings(
            batch,
            self.sightings.iter(),
            &self.config.risk_rule,
            self.config.rssi_correction_db,
        );
        self.seen_batches.insert(batch.batch_id, batch.created_at);
        Ok(outcome)
    }

    /// Send the data back (seed step 5, second half): the F1 report of a candidate exposure,
    /// with the phone's own RPIs for the intervals its sightings cover (and nothing else of its
    /// keys), and `contact` sealed to `unit`, the public key of the preventive-medicine unit of
    /// `contact.district`.
    ///
    /// The app calls this only for exposures that pass the risk rule and with the user's
    /// consent, which `contact.consent_time` records.
    pub fn prepare_f1_report<R: CryptoRng + ?Sized>(
        &self,
        exposure: &CandidateExposure,
        contact: &ContactDetails,
        unit: &HpkePublicKey,
        rng: &mut R,
    ) -> Result<F1Report, Error> {
        let mut sightings = exposure.sightings.clone();
        sightings.sort_by_key(|s| s.rpi);
        sightings.dedup_by_key(|s| s.rpi);
        sightings.truncate(usize::from(MAX_REPORT_SIGHTINGS));

        let mut intervals: Vec<IntervalNumber> = Vec::new();
        for s in &sightings {
            let (first, last) = (s.first_seen.interval(), s.last_seen.interval());
            let last = last.min(first.plus(INTERVALS_PER_DAY));
            intervals.extend((first.0..=last.0).map(IntervalNumber));
        }
        intervals.sort_unstable();
        intervals.dedup();
        let mut own_rpis = Vec::new();
        for interval in intervals {
            if let Some(key) = self.keys.iter().rev().find(|k| k.covers(interval)) {
                own_rpis.push(OwnRpi {
                    interval,
                    rpi: key.rpi_key().rpi(interval),
                });
            }
        }
        own_rpis.truncate(usize::from(MAX_REPORT_OWN_RPIS));

        let mut report_id = ReportId::default();
        rng.fill_bytes(&mut report_id.0);
        let sealed = SealedContactDetails::seal(contact, &report_id, unit, rng)?;
        Ok(F1Report {
            report_id,
            district: contact.district,
            rssi_correction_db: self.config.rssi_correction_db,
            sightings,
            own_rpis,
            contact: sealed,
        })
    }

    /// Identifiers of the batches matched in the last 14 days.
    pub fn seen_batches(&self) -> impl Iterator<Item = u64> + '_ {
        self.seen_batches.iter().map(|(id, _)| id)
    }

    /// Share contact history (seed step 3): the F0 upload for a contagious window that starts
    /// at `contagious_from`, authorised by `code`, then a switch to a fresh daily key.
    ///
    /// The upload holds every retained key whose validity meets the window, and for each the
    /// intervals to publish: by default an interval of the window is published only if the
    /// phone had a sighting in it that the risk rule counts (an interval with nobody near has
    /// no one to warn), and never one that falls in a `redacted` range (start included, end
    /// excluded) the user chose to withhold. The contact history is every sighting last seen
    /// in the window, at most [`MAX_UPLOAD_SIGHTINGS`], the strongest kept if there are more.
    ///
    /// The key in use is cut short at the current interval and a fresh key takes over at once,
    /// so that no RPI the phone broadcasts from now on belongs to an uploaded key. (The RPI of
    /// the current interval is therefore never published.)
    pub fn prepare_f0_upload<R: CryptoRng + ?Sized>(
        &mut self,
        code: DeclarationCode,
        contagious_from: UnixTime,
        redacted: &[(UnixTime, UnixTime)],
        now: UnixTime,
        rng: &mut R,
    ) -> Result<F0Upload, Error> {
        self.switch_to_fresh_key(now, rng);
        let current = now.interval();
        let window_start = contagious_from.interval();
        let rule = &self.config.risk_rule;
        let correction = self.config.rssi_correction_db;

        // Intervals in which the phone had a sighting the risk rule counts.
        let mut near: Vec<IntervalNumber> = Vec::new();
        for s in self.sightings.iter() {
            if rule.is_relevant(&s, correction) {
                let (first, last) = (s.first_seen.interval(), s.last_seen.interval());
                near.extend(
                    (first.0..=last.0.min(first.0.saturating_add(INTERVALS_PER_DAY)))
                        .map(IntervalNumber),
                );
            }
        }
        near.sort_unstable();
        near.dedup();
        let is_redacted = |i: IntervalNumber| {
            redacted
                .iter()
                .any(|&(from, to)| i.start() < to && from < i.end())
        };

        let mut keys = Vec::new();
        for key in &self.keys {
            if key.end() <= window_start || key.rolling_start() >= current {
                continue;
            }
            let mut published = PublishedIntervals::default();
            for j in 0..key.rolling_period() {
                let interval = key.rolling_start().plus(j);
                if interval >= window_start
                    && interval < current
                    && near.binary_search(&interval).is_ok()
                    && !is_redacted(interval)
                {
                    published.insert(j);
                }
            }
            keys.push(UploadedKey {
                key: key.clone(),
                published,
            });
        }
        if keys.is_empty() {
            return Err(UploadError::NothingToUpload.into());
        }
        // At most 15 keys: the newest ones (older keys would be past retention anyway).
        let excess = keys.len().saturating_sub(MAX_UPLOAD_KEYS);
        keys.drain(..excess);

        let mut contact_history: Vec<Sighting> = self
            .sightings
            .iter()
            .filter(|s| s.last_seen >= contagious_from)
            .collect();
        if contact_history.len() > MAX_UPLOAD_SIGHTINGS as usize {
            contact_history.sort_by(|a, b| b.rssi_max.cmp(&a.rssi_max).then(a.rpi.cmp(&b.rpi)));
            contact_history.truncate(MAX_UPLOAD_SIGHTINGS as usize);
            contact_history.sort_by_key(|s| s.rpi);
        }
        Ok(F0Upload {
            code,
            keys,
            contact_history,
        })
    }

    /// A decoy upload (SPEC.md §7.6) of the size class of the upload this phone would send at
    /// `now` for a contagious window of the last [`DECOY_UPLOAD_WINDOW_SECONDS`]: its keys
    /// meeting the window (a fresh key for the current interval included) and its sightings
    /// last seen in it, with a declaration code of 16 characters (the reference server's
    /// `XXXX-XXXX-XXXX-C`). Its length says what a real upload of this phone would say.
    pub fn prepare_decoy_upload(&self, now: UnixTime) -> Vec<u8> {
        let from = now.minus_seconds(DECOY_UPLOAD_WINDOW_SECONDS);
        let keys = self
            .keys
            .iter()
            .filter(|k| k.end() > from.interval() && k.rolling_start() < now.interval())
            .count()
            .min(MAX_UPLOAD_KEYS);
        let sightings = self
            .sightings
            .iter()
            .filter(|s| s.last_seen >= from)
            .count()
            .min(MAX_UPLOAD_SIGHTINGS as usize);
        let len = upload::size_class(upload::content_len(16, keys, sightings));
        decoy::decoy_upload(len).unwrap_or_default()
    }

    /// End the key in use at the current interval and start a fresh one now.
    fn switch_to_fresh_key<R: CryptoRng + ?Sized>(&mut self, now: UnixTime, rng: &mut R) {
        let current = now.interval();
        self.keys.retain_mut(|k| {
            if k.covers(current) {
                let elapsed = current.0 - k.rolling_start().0;
                match DailyKey::new(*k.key_bytes(), k.rolling_start(), elapsed) {
                    Ok(cut) => *k = cut,
                    // Drawn in this very interval: it published nothing yet; drop it.
                    Err(_) => return false,
                }
            }
            true
        });
        self.keys.push(DailyKey::generate(rng, now));
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
    fn broadcast_if_keyed_is_broadcast_without_drawing_a_key() {
        let mut rng = ChaCha20Rng::from_seed([3; 32]);
        let mut phone = Phone::new(PhoneConfig::default());
        assert_eq!(phone.broadcast_if_keyed(MIDNIGHT.plus_seconds(10)), None);
        assert!(phone.daily_keys().is_empty());
        let first = phone.broadcast(MIDNIGHT.plus_seconds(10), &mut rng);
        for t in [10, 700, SECONDS_PER_DAY - 1] {
            let now = MIDNIGHT.plus_seconds(t);
            let read = phone
                .broadcast_if_keyed(now)
                .expect("the day's key covers it");
            assert_eq!(read, phone.clone().broadcast(now, &mut rng));
        }
        assert_eq!(
            phone.broadcast_if_keyed(MIDNIGHT.plus_seconds(10)),
            Some(first)
        );
        // The next UTC day has no key yet, and asking does not make one.
        assert_eq!(
            phone.broadcast_if_keyed(MIDNIGHT.plus_seconds(SECONDS_PER_DAY)),
            None
        );
        assert_eq!(phone.daily_keys().len(), 1);
        // Many times at once: the same broadcasts, across two days' keys, up to the first
        // time no key covers.
        phone.broadcast(MIDNIGHT.plus_seconds(SECONDS_PER_DAY), &mut rng);
        let times: Vec<UnixTime> = [5, 900, SECONDS_PER_DAY + 5, 901, 2 * SECONDS_PER_DAY, 7]
            .map(|t| MIDNIGHT.plus_seconds(t))
            .to_vec();
        let mut out = Vec::new();
        assert!(!phone.broadcasts_if_keyed(times.iter().copied(), &mut out));
        assert_eq!(out.len(), 4);
        for (t, b) in times.iter().zip(&out) {
            assert_eq!(phone.broadcast_if_keyed(*t), Some(*b));
        }
        assert_ne!(out[2].advertisement.rpi, out[1].advertisement.rpi);
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
