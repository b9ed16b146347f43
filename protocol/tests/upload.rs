//! The F0 upload: what the phone chooses to publish, the byte layout, and the server's checks.

use bluezone_protocol::{
    Advertisement, AssociatedEncryptedMetadata, CaseId, DailyKey, DeclarationCode, Error, F0Upload,
    IntervalNumber, Phone, PhoneConfig, PublishedIntervals, RollingProximityId, Sighting,
    UPLOAD_SIZE_CLASSES, UnixTime, UploadError, UploadedKey,
};
use bluezone_testkit::{MIDNIGHT, at};
use proptest::collection::vec;
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

mod common;

fn code() -> DeclarationCode {
    DeclarationCode::new("7K3M-9QX2-PA4T").unwrap()
}

fn advertisement(byte: u8) -> Advertisement {
    Advertisement {
        rpi: RollingProximityId([byte; 16]),
        aem: AssociatedEncryptedMetadata([0; 4]),
    }
}

/// A phone that broadcast for three days and heard: a close contact on day 0 from 10:00 to
/// 10:25, a distant one (too weak to count) on day 1 at 14:00, a close one on day 2 at 09:00.
fn f0_phone(rng: &mut ChaCha20Rng) -> Phone {
    let mut phone = Phone::new(PhoneConfig::default());
    for day in 0..3 {
        phone.broadcast(at(day, 0), rng);
    }
    for (i, t) in [36_000u64, 36_300, 36_600, 36_900, 37_200, 37_500]
        .iter()
        .enumerate()
    {
        phone
            .hear(&advertisement(1 + i as u8 / 3).to_bytes(), -70, at(0, *t))
            .unwrap();
    }
    phone
        .hear(&advertisement(9).to_bytes(), -115, at(1, 50_400))
        .unwrap();
    phone
        .hear(&advertisement(10).to_bytes(), -65, at(2, 32_400))
        .unwrap();
    phone
        .hear(&advertisement(10).to_bytes(), -66, at(2, 32_700))
        .unwrap();
    phone
}

#[test]
fn publishes_only_intervals_with_someone_near_and_switches_key() {
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    let mut phone = f0_phone(&mut rng);
    let now = at(2, 43_200); // day 2, noon
    let upload = phone
        .prepare_f0_upload(code(), at(0, 0), &[], now, &mut rng)
        .unwrap();

    assert_eq!(upload.keys.len(), 3);
    let published: Vec<Vec<IntervalNumber>> = upload
        .keys
        .iter()
        .map(|k| k.published_intervals().collect())
        .collect();
    let day0 = at(0, 0).interval().0;
    let day2 = at(2, 0).interval().0;
    // Day 0: 10:00-10:15 (RPI 1) and 10:15-10:25 (RPI 2): intervals 60, 61, 62.
    assert_eq!(published[0], [60, 61, 62].map(|j| IntervalNumber(day0 + j)));
    // Day 1: the only sighting was too far to count.
    assert!(published[1].is_empty());
    // Day 2: 09:00 and 09:05 fall in interval 54.
    assert_eq!(published[2], [IntervalNumber(day2 + 54)]);

    // Today's key was cut at the current interval; a fresh key broadcasts from now on.
    assert_eq!(upload.keys[2].key.end(), now.interval());
    let after = phone.broadcast(now, &mut rng);
    for k in &upload.keys {
        assert!(!k.key.covers(now.interval()));
        assert_ne!(k.key.rpi_key().rpi(now.interval()), after.advertisement.rpi);
    }
    assert_eq!(
        phone.daily_keys().last().unwrap().rolling_start(),
        now.interval()
    );

    // Contact history: every sighting of the window.
    assert_eq!(upload.contact_history.len(), 4);
    upload.validate(now).unwrap();
}

#[test]
fn the_user_may_redact_intervals() {
    let mut rng = ChaCha20Rng::from_seed([2; 32]);
    let mut phone = f0_phone(&mut rng);
    let redacted = [(at(0, 36_000), at(0, 36_600))]; // 10:00-10:10: interval 60 only
    let upload = phone
        .prepare_f0_upload(code(), at(0, 0), &redacted, at(2, 43_200), &mut rng)
        .unwrap();
    let day0 = at(0, 0).interval().0;
    let published: Vec<_> = upload.keys[0].published_intervals().collect();
    assert_eq!(published, [61, 62].map(|j| IntervalNumber(day0 + j)));
}

#[test]
fn the_contagious_window_bounds_keys_and_history() {
    let mut rng = ChaCha20Rng::from_seed([3; 32]);
    let mut phone = f0_phone(&mut rng);
    let upload = phone
        .prepare_f0_upload(code(), at(1, 0), &[], at(2, 43_200), &mut rng)
        .unwrap();
    assert_eq!(upload.keys.len(), 2);
    assert_eq!(upload.contact_history.len(), 2);
}

#[test]
fn round_trip_and_published_entries() {
    let mut rng = ChaCha20Rng::from_seed([4; 32]);
    let mut phone = f0_phone(&mut rng);
    let upload = phone
        .prepare_f0_upload(code(), at(0, 0), &[], at(2, 43_200), &mut rng)
        .unwrap();
    let bytes = upload.to_bytes().unwrap();
    assert_eq!(bytes.len(), UPLOAD_SIZE_CLASSES[0]);
    assert_eq!(F0Upload::parse(&bytes).unwrap(), upload);

    let entries = upload.published_entries(CaseId(42));
    assert_eq!(entries.len(), upload.published_count());
    assert_eq!(entries.len(), 4);
    for e in &entries {
        let key = upload
            .keys
            .iter()
            .find(|k| k.key.covers(e.interval))
            .unwrap();
        assert_eq!(key.key.rpi_key().rpi(e.interval), e.rpi);
        assert_eq!(e.case, CaseId(42));
    }
}

fn key(byte: u8, start: u32, period: u32, published: &[u32]) -> UploadedKey {
    let mut p = PublishedIntervals::default();
    published.iter().for_each(|&j| p.insert(j));
    UploadedKey {
        key: DailyKey::new([byte; 16], IntervalNumber(start), period).unwrap(),
        published: p,
    }
}

fn upload(keys: Vec<UploadedKey>) -> F0Upload {
    F0Upload {
        code: code(),
        keys,
        contact_history: Vec::new(),
    }
}

#[test]
fn structural_rules_are_enforced() {
    let day = at(5, 0).interval().0;
    let overlapping = upload(vec![key(1, day, 144, &[]), key(2, day + 100, 44, &[])]);
    assert_eq!(
        overlapping.check_structure(),
        Err(UploadError::OverlappingKeys)
    );
    let duplicate = upload(vec![key(1, day, 144, &[]), key(1, day + 144, 144, &[])]);
    assert_eq!(duplicate.check_structure(), Err(UploadError::DuplicateKey));
    let outside = upload(vec![key(1, day, 10, &[3, 10])]);
    assert!(matches!(
        outside.check_structure(),
        Err(UploadError::PublishedOutsideValidity { offset: 10, .. })
    ));
    let too_many = upload(
        (0..16)
            .map(|i| key(i, day + 144 * u32::from(i), 144, &[]))
            .collect(),
    );
    assert_eq!(
        too_many.check_structure(),
        Err(UploadError::TooManyKeys(16))
    );
    assert!(too_many.to_bytes().is_err());
    assert!(DeclarationCode::new("abc").is_err());
    assert!(DeclarationCode::new("").is_err());
    assert!(DeclarationCode::new(&"A".repeat(33)).is_err());
}

#[test]
fn time_rules_use_the_server_clock() {
    let now = at(20, 43_200);
    let today = now.interval().day_start().0;
    let current_offset = now.interval().0 - today;
    // Publishing the next interval is tolerated (clock skew); two ahead is not.
    let ok = upload(vec![key(1, today, 144, &[current_offset + 1])]);
    assert_eq!(ok.validate(now), Ok(()));
    let future = upload(vec![key(1, today, 144, &[current_offset + 2])]);
    assert_eq!(
        future.validate(now),
        Err(UploadError::IntervalInFuture(IntervalNumber(
            today + current_offset + 2
        )))
    );
    let old_day = today - 15 * 144;
    let old = upload(vec![key(1, old_day, 144, &[0])]);
    assert_eq!(
        old.validate(now),
        Err(UploadError::IntervalTooOld(IntervalNumber(old_day)))
    );
    let mut stale = upload(vec![]);
    stale.contact_history.push(Sighting {
        rpi: RollingProximityId([7; 16]),
        aem: AssociatedEncryptedMetadata([0; 4]),
        first_seen: now.minus_seconds(15 * 86_400),
        last_seen: now.minus_seconds(15 * 86_400),
        scans: 1,
        rssi_min: -60,
        rssi_max: -60,
        rssi_mean: -60,
    });
    assert_eq!(
        stale.validate(now),
        Err(UploadError::SightingOutOfWindow(RollingProximityId(
            [7; 16]
        )))
    );
}

#[test]
fn malformed_uploads_are_refused() {
    let day = at(5, 0).interval().0;
    let good = upload(vec![key(1, day, 144, &[0, 143])])
        .to_bytes()
        .unwrap();
    assert_eq!(good.len(), 4096);
    F0Upload::parse(&good).unwrap();

    let mut dirty_padding = good.clone();
    *dirty_padding.last_mut().unwrap() = 1;
    assert_eq!(
        F0Upload::parse(&dirty_padding),
        Err(Error::Upload(UploadError::BadPadding))
    );
    assert_eq!(
        F0Upload::parse(&good[..4000]),
        Err(Error::Upload(UploadError::BadPadding))
    );
    let mut longer = good.clone();
    longer.push(0);
    assert_eq!(
        F0Upload::parse(&longer),
        Err(Error::Upload(UploadError::BadPadding))
    );

    // Key count 16.
    let code_len = good[4] as usize;
    let mut many = good.clone();
    many[5 + code_len] = 16;
    assert_eq!(
        F0Upload::parse(&many),
        Err(Error::Upload(UploadError::TooManyKeys(16)))
    );
    // Rolling period 0.
    let mut period = good.clone();
    period[5 + code_len + 1 + 20] = 0;
    assert_eq!(
        F0Upload::parse(&period),
        Err(Error::InvalidRollingPeriod(0))
    );
    // Lower-case code.
    let mut lower = good;
    lower[5] = b'a';
    assert_eq!(
        F0Upload::parse(&lower),
        Err(Error::Upload(UploadError::BadDeclarationCode))
    );
}

fn arb_upload() -> impl Strategy<Value = F0Upload> {
    let base = at(5, 0).interval().0;
    (
        vec((any::<[u8; 16]>(), 1u32..=144, any::<[u8; 18]>()), 0..=15),
        vec(
            (any::<[u8; 16]>(), 0u64..1000, 1u32..50, -100i8..-30),
            0..30,
        ),
    )
        .prop_map(move |(keys, sightings)| {
            let mut uploaded = Vec::new();
            for (i, (bytes, period, bitmap)) in keys.into_iter().enumerate() {
                let mut published = PublishedIntervals::default();
                (0..period)
                    .filter(|j| bitmap[(j / 8) as usize] & (1 << (j % 8)) != 0)
                    .for_each(|j| published.insert(j));
                let mut bytes = bytes;
                bytes[0] = i as u8; // distinct keys
                uploaded.push(UploadedKey {
                    key: DailyKey::new(bytes, IntervalNumber(base + 144 * i as u32), period)
                        .unwrap(),
                    published,
                });
            }
            let mut contact_history: Vec<Sighting> = sightings
                .into_iter()
                .map(|(rpi, t, scans, rssi)| Sighting {
                    rpi: RollingProximityId(rpi),
                    aem: AssociatedEncryptedMetadata([1, 2, 3, 4]),
                    first_seen: UnixTime(MIDNIGHT + t),
                    last_seen: UnixTime(MIDNIGHT + t + 60),
                    scans,
                    rssi_min: rssi,
                    rssi_max: rssi,
                    rssi_mean: rssi,
                })
                .collect();
            contact_history.sort_by_key(|s| s.rpi);
            contact_history.dedup_by_key(|s| s.rpi);
            F0Upload {
                code: code(),
                keys: uploaded,
                contact_history,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn upload_round_trips_at_a_size_class(upload in arb_upload()) {
        let bytes = upload.to_bytes().unwrap();
        prop_assert!(UPLOAD_SIZE_CLASSES.contains(&bytes.len()));
        prop_assert_eq!(F0Upload::parse(&bytes).unwrap(), upload);
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn every_truncation_of_an_upload_is_refused(upload in arb_upload()) {
        let bytes = upload.to_bytes().unwrap();
        for len in 0..bytes.len() {
            prop_assert!(F0Upload::parse(&bytes[..len]).is_err(), "prefix of {} accepted", len);
        }
    }

    #[test]
    fn upload_parser_never_panics(bytes in common::arb_message(2, 5000)) {
        let _ = F0Upload::parse(&bytes);
    }
}
