//! Helpers shared by the protocol's integration tests.
#![allow(dead_code)]

use bluezone_protocol::{
    AssociatedEncryptedMetadata, Phone, RollingProximityId, Sighting, UnixTime,
};
use proptest::collection::{btree_set, vec};
use proptest::prelude::*;
use rand_core::CryptoRng;

/// A UTC midnight (2023-11-15; interval 2,833,344, a multiple of 144).
pub const MIDNIGHT: u64 = 1_700_006_400;

/// `seconds` into day `day` after [`MIDNIGHT`].
pub fn at(day: u64, seconds: u64) -> UnixTime {
    UnixTime(MIDNIGHT + day * 86_400 + seconds)
}

/// Every 5 minutes from `from` (included) to `to` (excluded), every phone broadcasts, and for
/// each `(listener, speaker, rssi)` the listener hears the speaker's advertisement.
pub fn scan<R: CryptoRng>(
    rng: &mut R,
    phones: &mut [&mut Phone],
    from: UnixTime,
    to: UnixTime,
    hearing: &[(usize, usize, i8)],
) {
    let mut now = from;
    while now < to {
        let sent: Vec<[u8; 20]> = phones
            .iter_mut()
            .map(|p| p.broadcast(now, rng).advertisement.to_bytes())
            .collect();
        for &(listener, speaker, rssi) in hearing {
            phones[listener].hear(&sent[speaker], rssi, now).unwrap();
        }
        now = now.plus_seconds(300);
    }
}

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
