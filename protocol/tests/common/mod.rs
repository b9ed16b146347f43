//! Proptest strategies shared by the protocol's integration tests (the helpers other crates'
//! tests use too are in `bluezone-testkit`).
#![allow(dead_code)]

use bluezone_protocol::{AssociatedEncryptedMetadata, RollingProximityId, Sighting, UnixTime};
use proptest::collection::{btree_set, vec};
use proptest::prelude::*;

/// A valid sighting of `rpi`: any AEM, times, scan count and consistent RSSI summary.
pub fn arb_sighting(rpi: [u8; 16]) -> impl Strategy<Value = Sighting> {
    (
        any::<[u8; 4]>(),
        0u64..=u64::MAX / 2,
        0u64..1_000_000,
        1u32..=u32::MAX,
        any::<[i8; 3]>(),
    )
        .prop_map(move |(aem, first, span, scans, mut rssi)| {
            rssi.sort_unstable();
            Sighting {
                rpi: RollingProximityId(rpi),
                aem: AssociatedEncryptedMetadata(aem),
                first_seen: UnixTime(first),
                last_seen: UnixTime(first + span),
                scans,
                rssi_min: rssi[0],
                rssi_mean: rssi[1],
                rssi_max: rssi[2],
            }
        })
}

/// Up to `max` sightings of distinct RPIs, in RPI order.
pub fn arb_sightings(min: usize, max: usize) -> impl Strategy<Value = Vec<Sighting>> {
    btree_set(any::<[u8; 16]>(), min..max)
        .prop_flat_map(|rpis| rpis.into_iter().map(arb_sighting).collect::<Vec<_>>())
}

/// Arbitrary bytes, optionally starting with the header of message type `message_type`
/// version 1, for the never-panics properties.
pub fn arb_message(message_type: u8, max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    (vec(any::<u8>(), 0..max_len), any::<bool>()).prop_map(move |(mut bytes, header)| {
        if header && bytes.len() >= 4 {
            bytes[..4].copy_from_slice(&[b'B', b'Z', message_type, 1]);
        }
        bytes
    })
}
