//! The official Exposure Notification cryptography v1.2 test vectors, read from
//! `tests/vectors/gaen-v1.2.txt`, against the protocol library. (`protocol/cli/tests/cli.rs`
//! checks the same file through `bluezone derive`.)

use bluezone_protocol::{
    Advertisement, AemKey, AssociatedEncryptedMetadata, DailyKey, IntervalNumber, Metadata,
    RollingProximityId, RpiKey, UnixTime, derive_aem_key, derive_rpi_key,
};
use bluezone_testkit::gaen::GaenVectors;

fn vectors() -> GaenVectors {
    let v = GaenVectors::official();
    assert_eq!(
        v.intervals.len(),
        144,
        "the file holds one whole day of RPIs"
    );
    v
}

#[test]
fn derived_keys_match() {
    let v = vectors();
    assert_eq!(derive_rpi_key(&v.tek), v.rpik);
    assert_eq!(derive_aem_key(&v.tek), v.aemk);
}

#[test]
fn every_rpi_and_aem_matches_one_at_a_time() {
    let v = vectors();
    let rpi_key = RpiKey::new(&v.tek);
    let aem_key = AemKey::new(&v.tek);
    for &(interval, rpi, aem) in &v.intervals {
        let derived = rpi_key.rpi(IntervalNumber(interval));
        assert_eq!(
            derived,
            RollingProximityId(rpi),
            "RPI of interval {interval}"
        );
        assert_eq!(
            aem_key.encrypt(&derived, &v.metadata),
            AssociatedEncryptedMetadata(aem),
            "AEM of interval {interval}"
        );
        // And back: the server opens the AEM to the sender's metadata (version 1.0, 8 dBm).
        let opened = aem_key.decrypt(&derived, &AssociatedEncryptedMetadata(aem));
        assert_eq!(opened, v.metadata);
        assert_eq!(Metadata::parse(&opened).unwrap(), Metadata::v1(8));
    }
}

#[test]
fn whole_day_expansion_matches() {
    let v = vectors();
    let first = v.intervals[0].0;
    let key = DailyKey::new(v.tek, IntervalNumber(first), 144).unwrap();
    // The key was generated at unix 1585785600, a UTC midnight.
    assert_eq!(UnixTime(1_585_785_600).interval(), IntervalNumber(first));
    let expanded = key.expand();
    assert_eq!(expanded.len(), v.intervals.len());
    for (j, (rpi, &(interval, want_rpi, _))) in expanded.iter().zip(&v.intervals).enumerate() {
        assert_eq!(interval, first + j as u32);
        assert_eq!(rpi.0, want_rpi);
    }
}

#[test]
fn the_advertisement_is_rpi_then_aem() {
    let v = vectors();
    let (_, rpi, aem) = v.intervals[0];
    let advertisement = Advertisement {
        rpi: RollingProximityId(rpi),
        aem: AssociatedEncryptedMetadata(aem),
    };
    let bytes = advertisement.to_bytes();
    assert_eq!(&bytes[..16], &rpi);
    assert_eq!(&bytes[16..], &aem);
    assert_eq!(Advertisement::parse(&bytes).unwrap(), advertisement);
}
