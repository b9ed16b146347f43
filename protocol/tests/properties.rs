//! Properties of the key schedule, the sighting log and every byte layout, checked with
//! proptest over random keys, intervals, scans and byte strings.

mod common;

use std::collections::{BTreeMap, HashSet};

use bluezone_protocol::{
    ADVERTISEMENT_LEN, Advertisement, AemKey, AssociatedEncryptedMetadata, DecodeError,
    IntervalNumber, Metadata, RollingProximityId, RpiKey, Sighting, SightingExport, SightingLog,
    UnixTime,
};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;

fn arb_export() -> impl Strategy<Value = SightingExport> {
    common::arb_sightings(0, 40).prop_map(|sightings| SightingExport { sightings })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Distinct (key, interval) pairs give distinct RPIs. Within one key this holds by
    /// construction (AES is a permutation); across keys a collision would have probability
    /// about n^2 / 2^129.
    #[test]
    fn distinct_key_interval_pairs_give_distinct_rpis(
        pairs in vec((any::<[u8; 16]>(), any::<u32>()), 1..64),
        extra_intervals in vec(any::<u32>(), 0..16),
    ) {
        let mut inputs: HashSet<([u8; 16], u32)> = pairs.iter().copied().collect();
        // Several intervals under the same key, too.
        for interval in extra_intervals {
            inputs.insert((pairs[0].0, interval));
        }
        let rpis: HashSet<RollingProximityId> = inputs
            .iter()
            .map(|(key, interval)| RpiKey::new(key).rpi(IntervalNumber(*interval)))
            .collect();
        prop_assert_eq!(rpis.len(), inputs.len());
    }

    #[test]
    fn batched_expansion_equals_one_at_a_time(key in any::<[u8; 16]>(), first in any::<u32>(), n in 0usize..200) {
        let rpi_key = RpiKey::new(&key);
        let mut batch = vec![RollingProximityId::default(); n];
        rpi_key.rpis_into(IntervalNumber(first), &mut batch);
        for (i, rpi) in batch.iter().enumerate() {
            prop_assert_eq!(*rpi, rpi_key.rpi(IntervalNumber(first.wrapping_add(i as u32))));
        }
    }

    #[test]
    fn aem_decrypts_to_the_metadata_that_went_in(
        key in any::<[u8; 16]>(),
        interval in any::<u32>(),
        metadata in any::<[u8; 4]>(),
    ) {
        let rpi = RpiKey::new(&key).rpi(IntervalNumber(interval));
        let aem_key = AemKey::new(&key);
        let aem = aem_key.encrypt(&rpi, &metadata);
        prop_assert_eq!(aem_key.decrypt(&rpi, &aem), metadata);
    }

    #[test]
    fn metadata_layout_round_trips(minor in 0u8..4, tx in any::<i8>()) {
        let metadata = Metadata { version_major: 1, version_minor: minor, tx_power_dbm: tx };
        prop_assert_eq!(Metadata::parse(&metadata.to_bytes()), Ok(metadata));
    }

    #[test]
    fn advertisement_layout_round_trips(bytes in any::<[u8; 20]>()) {
        let advertisement = Advertisement::parse(&bytes).unwrap();
        prop_assert_eq!(advertisement.to_bytes(), bytes);
    }

    #[test]
    fn advertisement_of_any_other_length_is_refused(bytes in vec(any::<u8>(), 0..64)) {
        prop_assume!(bytes.len() != ADVERTISEMENT_LEN);
        prop_assert_eq!(
            Advertisement::parse(&bytes),
            Err(DecodeError::WrongLength { expected: ADVERTISEMENT_LEN, found: bytes.len() })
        );
    }

    #[test]
    fn sighting_export_round_trips(export in arb_export()) {
        let bytes = export.to_bytes().unwrap();
        prop_assert_eq!(SightingExport::parse(&bytes), Ok(export));
    }

    #[test]
    fn every_truncation_of_a_sighting_export_is_refused(export in arb_export()) {
        let bytes = export.to_bytes().unwrap();
        for len in 0..bytes.len() {
            let truncated = SightingExport::parse(&bytes[..len]);
            prop_assert!(
                matches!(truncated, Err(DecodeError::Truncated { .. })),
                "prefix of {} of {} bytes gave {:?}", len, bytes.len(), truncated
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert_eq!(SightingExport::parse(&longer), Err(DecodeError::TrailingBytes { extra: 1 }));
    }

    #[test]
    fn sighting_export_parser_never_panics(bytes in common::arb_message(1, 600)) {
        let _ = SightingExport::parse(&bytes);
    }

    /// Whatever scans arrive, in whatever order, each RPI keeps one sighting whose summary is
    /// exactly that of its scans, and the log survives an export and re-import.
    #[test]
    fn sighting_log_summarises_scans_exactly(
        scans in vec((0u8..6, 0u64..100_000, any::<i8>()), 1..200),
    ) {
        let base = 1_700_000_000u64;
        let mut log = SightingLog::default();
        let mut expected: BTreeMap<u8, Vec<(u64, i8)>> = BTreeMap::new();
        for &(who, at, rssi) in &scans {
            let advertisement = Advertisement {
                rpi: RollingProximityId([who; 16]),
                aem: AssociatedEncryptedMetadata([who; 4]),
            };
            log.record(&advertisement, rssi, UnixTime(base + at));
            expected.entry(who).or_default().push((base + at, rssi));
        }
        prop_assert_eq!(log.len(), expected.len());
        for (who, seen) in &expected {
            let s = log.get(&RollingProximityId([*who; 16])).unwrap();
            prop_assert_eq!(s.scans as usize, seen.len());
            prop_assert_eq!(s.first_seen.0, seen.iter().map(|x| x.0).min().unwrap());
            prop_assert_eq!(s.last_seen.0, seen.iter().map(|x| x.0).max().unwrap());
            prop_assert_eq!(s.rssi_min, seen.iter().map(|x| x.1).min().unwrap());
            prop_assert_eq!(s.rssi_max, seen.iter().map(|x| x.1).max().unwrap());
            let sum: i64 = seen.iter().map(|x| i64::from(x.1)).sum();
            prop_assert_eq!(i64::from(s.rssi_mean), sum.div_euclid(seen.len() as i64));
        }
        let export = SightingExport::from_log(&log);
        let parsed = SightingExport::parse(&export.to_bytes().unwrap()).unwrap();
        prop_assert_eq!(parsed.sightings, log.iter().collect::<Vec<_>>());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// An export keeps the order its writer chose (here descending RPI, not the log's order).
    #[test]
    fn export_order_is_preserved(rpis in btree_map(any::<[u8; 16]>(), any::<u32>(), 1..20)) {
        let sightings: Vec<Sighting> = rpis
            .iter()
            .rev()
            .map(|(rpi, t)| Sighting {
                rpi: RollingProximityId(*rpi),
                aem: AssociatedEncryptedMetadata([0; 4]),
                first_seen: UnixTime(u64::from(*t)),
                last_seen: UnixTime(u64::from(*t)),
                scans: 1,
                rssi_min: -60,
                rssi_max: -60,
                rssi_mean: -60,
            })
            .collect();
        let export = SightingExport { sightings };
        let parsed = SightingExport::parse(&export.to_bytes().unwrap()).unwrap();
        prop_assert_eq!(parsed, export);
    }
}
