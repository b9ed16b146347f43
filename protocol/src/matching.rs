//! On-phone matching (seed step 5, first half): test the phone's sightings against a verified
//! publication batch, group the hits into candidate exposures, and apply the risk rule.

use std::collections::BTreeMap;

use crate::batch::VerifiedBatch;
use crate::risk::{RiskRule, sighting_day};
use crate::sighting::Sighting;

/// The hits of one UTC day: what the phone would report as an F1 if the risk rule says so.
///
/// Hits cannot be grouped by F0 (RPIs of different intervals are unlinkable without the key,
/// which the phone never gets), so, like the Corona-Warn-App's daily risk, they are grouped by
/// the UTC day of their first scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CandidateExposure {
    /// Days since the epoch.
    pub day: u64,
    /// The sightings whose RPI the filter holds, in RPI order.
    pub sightings: Vec<Sighting>,
    /// Their weighted exposure in percent-seconds, scored with the assumed transmit power.
    pub weighted_exposure: u64,
    /// Whether it reaches the risk rule's threshold.
    pub passes: bool,
}

impl CandidateExposure {
    /// Weighted exposure in minutes (rounded down).
    pub fn weighted_minutes(&self) -> u64 {
        self.weighted_exposure / (60 * 100)
    }
}

/// The result of matching one batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchOutcome {
    /// The batch matched.
    pub batch_id: u64,
    /// Sightings tested (those in the batch's plausible time window).
    pub tested: usize,
    /// Sightings the filter holds.
    pub hits: usize,
    /// The hits grouped by day and scored, ascending by day.
    pub exposures: Vec<CandidateExposure>,
}

impl MatchOutcome {
    /// The candidate exposures that pass the risk rule.
    pub fn passing(&self) -> impl Iterator<Item = &CandidateExposure> {
        self.exposures.iter().filter(|e| e.passes)
    }
}

/// Test `sightings` against `batch`, group and score the hits.
///
/// This is matching alone: [`Phone::match_verified`](crate::Phone::match_verified) adds the
/// phone's replay and age checks and its own risk rule and RSSI correction. Only sightings that overlap the batch's plausible window (its interval range widened by
/// two hours each side) are tested: an RPI heard outside it cannot be one the batch publishes.
pub fn match_sightings(
    batch: &VerifiedBatch,
    sightings: impl IntoIterator<Item = Sighting>,
    rule: &RiskRule,
    rssi_correction_db: i8,
) -> MatchOutcome {
    let (from, to) = batch.plausible_sighting_window();
    let candidates: Vec<Sighting> = sightings
        .into_iter()
        .filter(|s| s.last_seen >= from && s.first_seen < to)
        .collect();
    let ids: Vec<[u8; 16]> = candidates.iter().map(|s| s.rpi.0).collect();
    let mut answers = Vec::with_capacity(ids.len());
    batch.filter.contains_all(&ids, &mut answers);

    let mut by_day: BTreeMap<u64, Vec<Sighting>> = BTreeMap::new();
    let mut hits = 0;
    for (s, hit) in candidates.iter().zip(answers) {
        if hit {
            hits += 1;
            by_day.entry(sighting_day(s)).or_default().push(*s);
        }
    }
    let exposures = by_day
        .into_iter()
        .map(|(day, sightings)| {
            let weighted_exposure = sightings
                .iter()
                .map(|s| rule.weighted_exposure(s, rule.assumed_tx_power_dbm, rssi_correction_db))
                .sum();
            CandidateExposure {
                day,
                passes: rule.passes(weighted_exposure),
                sightings,
                weighted_exposure,
            }
        })
        .collect();
    MatchOutcome {
        batch_id: batch.batch_id,
        tested: candidates.len(),
        hits,
        exposures,
    }
}
