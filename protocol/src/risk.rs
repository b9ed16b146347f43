//! The risk rule: which sightings count as a close contact, and when a contact is long and close
//! enough to report.
//!
//! Attenuation is transmit power minus received power: `tx_power − (rssi + rssi_correction)`, in
//! dB; lower means closer. The phone scoring a match does not know the sender's transmit power
//! (it is in the AEM, under a key the phone never receives), so it uses
//! [`RiskRule::assumed_tx_power_dbm`]; the server, which opens the AEM, rescores with the true
//! value.
//!
//! All arithmetic is on integers, so every port computes the same decision.

use crate::sighting::Sighting;
use crate::time::SECONDS_PER_DAY;

/// Attenuation buckets, weights and threshold of the risk rule.
///
/// The defaults are the Corona-Warn-App's exposure-window parameters of 2021
/// (`minutesAtAttenuationWeights`: below 63 dB 0.8, 63 to 73 dB 1.0, 73 to 79 dB 0.1, above that
/// 0) with the close-contact threshold of public-health guidance: 15 (weighted) minutes in a UTC
/// day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RiskRule {
    /// Upper bounds (exclusive) of the first three attenuation buckets in dB, ascending: bucket
    /// 0 is `< bounds[0]`, bucket 1 `< bounds[1]`, bucket 2 `< bounds[2]`, bucket 3 the rest.
    pub attenuation_bounds_db: [u8; 3],
    /// Weight of each bucket, in percent.
    pub bucket_weights_percent: [u8; 4],
    /// A day's hits are reported when their weighted exposure reaches this many minutes.
    pub min_weighted_minutes: u32,
    /// Time one scan stands for, in seconds: scanners sample every few minutes, and each scan
    /// that hears an RPI is taken to cover this much time (GAEN phones scan about every 5
    /// minutes).
    pub scan_period_seconds: u32,
    /// Transmit power the phone assumes for every sender when it scores a match, in dBm. A
    /// common calibrated value for Android phones under GAEN's calibration table.
    pub assumed_tx_power_dbm: i8,
}

impl Default for RiskRule {
    fn default() -> Self {
        RiskRule {
            attenuation_bounds_db: [63, 73, 79],
            bucket_weights_percent: [80, 100, 10, 0],
            min_weighted_minutes: 15,
            scan_period_seconds: 300,
            assumed_tx_power_dbm: -24,
        }
    }
}

impl RiskRule {
    /// The bucket (0 to 3) of an attenuation in dB.
    pub fn bucket(&self, attenuation_db: i16) -> usize {
        self.attenuation_bounds_db
            .iter()
            .position(|&bound| attenuation_db < i16::from(bound))
            .unwrap_or(3)
    }

    /// Weight in percent of an attenuation.
    pub fn weight_percent(&self, attenuation_db: i16) -> u8 {
        self.bucket_weights_percent[self.bucket(attenuation_db)]
    }

    /// The time a sighting stands for, in seconds: one scan period per scan, but no more than
    /// its span plus one scan period.
    pub fn exposure_seconds(&self, sighting: &Sighting) -> u64 {
        let period = u64::from(self.scan_period_seconds);
        (u64::from(sighting.scans) * period).min(sighting.duration_seconds() + period)
    }

    /// Exposure of one sighting in percent-seconds (seconds × weight in percent), with the
    /// attenuation computed from its mean RSSI and `tx_power_dbm`.
    pub fn weighted_exposure(
        &self,
        sighting: &Sighting,
        tx_power_dbm: i8,
        rssi_correction_db: i8,
    ) -> u64 {
        let attenuation = attenuation_db(tx_power_dbm, sighting.rssi_mean, rssi_correction_db);
        self.exposure_seconds(sighting) * u64::from(self.weight_percent(attenuation))
    }

    /// Whether a sighting is close enough to count at all (its bucket has a weight), scored
    /// with the assumed transmit power.
    pub fn is_relevant(&self, sighting: &Sighting, rssi_correction_db: i8) -> bool {
        let attenuation = attenuation_db(
            self.assumed_tx_power_dbm,
            sighting.rssi_mean,
            rssi_correction_db,
        );
        self.weight_percent(attenuation) > 0
    }

    /// Whether a total exposure in percent-seconds reaches the threshold.
    pub fn passes(&self, weighted_exposure: u64) -> bool {
        weighted_exposure >= u64::from(self.min_weighted_minutes) * 60 * 100
    }
}

/// `tx_power − (rssi + rssi_correction)` in dB.
pub fn attenuation_db(tx_power_dbm: i8, rssi_dbm: i8, rssi_correction_db: i8) -> i16 {
    i16::from(tx_power_dbm) - (i16::from(rssi_dbm) + i16::from(rssi_correction_db))
}

/// The UTC day (days since the epoch) a sighting is attributed to: that of its first scan.
pub fn sighting_day(sighting: &Sighting) -> u64 {
    sighting.first_seen.0 / SECONDS_PER_DAY
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AssociatedEncryptedMetadata, RollingProximityId, UnixTime};

    fn sighting(first: u64, last: u64, scans: u32, rssi: i8) -> Sighting {
        Sighting {
            rpi: RollingProximityId([1; 16]),
            aem: AssociatedEncryptedMetadata([0; 4]),
            first_seen: UnixTime(first),
            last_seen: UnixTime(last),
            scans,
            rssi_min: rssi,
            rssi_max: rssi,
            rssi_mean: rssi,
        }
    }

    #[test]
    fn buckets_follow_the_bounds() {
        let rule = RiskRule::default();
        assert_eq!(rule.bucket(40), 0);
        assert_eq!(rule.bucket(62), 0);
        assert_eq!(rule.bucket(63), 1);
        assert_eq!(rule.bucket(78), 2);
        assert_eq!(rule.bucket(79), 3);
        assert_eq!(rule.weight_percent(-5), 80);
        assert_eq!(rule.weight_percent(100), 0);
    }

    #[test]
    fn attenuation_subtracts_corrected_rssi_from_tx_power() {
        assert_eq!(attenuation_db(-24, -90, 0), 66);
        assert_eq!(attenuation_db(8, -60, -5), 73);
        assert_eq!(attenuation_db(i8::MAX, i8::MIN, i8::MIN), 127 + 256);
    }

    #[test]
    fn exposure_counts_scans_bounded_by_span() {
        let rule = RiskRule::default();
        // Three scans over 10 minutes: 15 minutes of scans, but only 10 + 5 of span.
        assert_eq!(rule.exposure_seconds(&sighting(0, 600, 3, -90)), 900);
        // Two scans over 30 minutes (missed scans): 10 minutes.
        assert_eq!(rule.exposure_seconds(&sighting(0, 1800, 2, -90)), 600);
        // One scan: one scan period.
        assert_eq!(rule.exposure_seconds(&sighting(0, 0, 1, -90)), 300);
    }

    #[test]
    fn fifteen_weighted_minutes_pass() {
        let rule = RiskRule::default();
        // -24 - (-90) = 66 dB: bucket 1, weight 100%.
        let s = sighting(0, 600, 3, -90);
        assert_eq!(rule.weighted_exposure(&s, -24, 0), 900 * 100);
        assert!(rule.passes(900 * 100));
        assert!(!rule.passes(900 * 100 - 1));
        // Far away (-24 - (-110) = 86 dB): weight 0, not relevant.
        assert!(!rule.is_relevant(&sighting(0, 600, 3, -110), 0));
        assert!(rule.is_relevant(&s, 0));
    }
}
