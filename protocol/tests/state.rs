//! A phone's saved state (SPEC.md appendix A): a restored phone goes on exactly as the original
//! would, and every refusal has its own error.

use bluezone_protocol::hpke::derive_keypair;
use bluezone_protocol::{
    BatchSpec, CaseId, ContactDetails, DEFAULT_TARGET_FP_RATE, DeclarationCode, FilterKind, Phone,
    PhoneConfig, PublicationBatch, PublicationIndex, PublisherKeyPair, StateError, StateKey,
    UnixTime,
};
use bluezone_testkit::{MIDNIGHT, at, scan};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const KEY: [u8; 32] = [0x5a; 32];

/// One step of a phone's life.
#[derive(Clone, Debug)]
enum Step {
    /// Both phones broadcast and hear each other every 5 minutes for this many minutes.
    Meet { day: u64, minutes: u64, rssi: i8 },
    /// The phone hears a stranger's advertisement once.
    Stranger { day: u64, seconds: u64, rssi: i8 },
    /// The phone forgets what retention no longer allows.
    Purge { day: u64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..16u64, 5..90u64, -90..-40i8).prop_map(|(day, minutes, rssi)| Step::Meet {
            day,
            minutes,
            rssi
        }),
        (0..16u64, 0..86_400u64, -100..-30i8).prop_map(|(day, seconds, rssi)| Step::Stranger {
            day,
            seconds,
            rssi
        }),
        (0..17u64).prop_map(|day| Step::Purge { day }),
    ]
}

/// Play `steps` on `phone`, meeting `friend`.
fn live(phone: &mut Phone, friend: &mut Phone, steps: &[Step], rng: &mut ChaCha20Rng) {
    let mut steps = steps.to_vec();
    // A phone lives forwards: steps in time order.
    steps.sort_by_key(|s| match s {
        Step::Meet { day, .. } | Step::Purge { day } => at(*day, 43_200),
        Step::Stranger { day, seconds, .. } => at(*day, *seconds),
    });
    for s in steps {
        match s {
            Step::Meet { day, minutes, rssi } => {
                let from = at(day, 43_200);
                scan(
                    rng,
                    &mut [&mut *phone, &mut *friend],
                    from,
                    from.plus_seconds(minutes * 60),
                    &[(0, 1, rssi), (1, 0, rssi)],
                );
            }
            Step::Stranger { day, seconds, rssi } => {
                let mut stranger = Phone::new(PhoneConfig::default());
                let now = at(day, seconds);
                let ad = stranger.broadcast(now, rng).advertisement.to_bytes();
                phone.hear(&ad, rssi, now).unwrap();
            }
            Step::Purge { day } => phone.purge(at(day, 0)),
        }
    }
}

/// What a phone does next, as bytes: its broadcast, its F0 upload, its match of a batch of
/// `friend`'s keys and the F1 report it then prepares, all from one seeded generator.
fn what_it_does_next(phone: &mut Phone, friend: &mut Phone, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let now = at(16, 3600);
    let mut out = vec![
        phone
            .broadcast(now, &mut rng)
            .advertisement
            .to_bytes()
            .to_vec(),
    ];
    let upload = phone
        .prepare_f0_upload(
            DeclarationCode::new("CODE").unwrap(),
            at(3, 0),
            &[],
            now,
            &mut rng,
        )
        .map(|u| u.to_bytes().unwrap())
        .unwrap_or_default();
    out.push(upload);
    // The friend becomes an F0; its keys are published; the phone matches and reports.
    let friend_upload = friend.prepare_f0_upload(
        DeclarationCode::new("CODE").unwrap(),
        at(3, 0),
        &[],
        now,
        &mut rng,
    );
    let Ok(friend_upload) = friend_upload else {
        // They never met closely enough for the friend to publish anything.
        out.push(format!("{friend_upload:?}").into_bytes());
        return out;
    };
    let publisher = PublisherKeyPair::from_seed([3; 32]).unwrap();
    let entries = PublicationIndex::new([1; 32])
        .publish(&friend_upload, CaseId(1), now)
        .unwrap();
    let spec = BatchSpec {
        batch_id: 1,
        region: 0,
        created_at: now,
        target_fp_rate: DEFAULT_TARGET_FP_RATE,
        dummy_quantum: 0,
        filter_kind: FilterKind::default(),
    };
    let (_, bytes) = PublicationBatch::build(&entries, &spec, &publisher, &mut rng).unwrap();
    let outcome = phone.match_batch(&bytes, &publisher.public_key(), now);
    out.push(format!("{outcome:?}").into_bytes());
    let Ok(outcome) = outcome else {
        return out;
    };
    let (_, unit) = derive_keypair(b"unit");
    for exposure in outcome.passing() {
        let contact = ContactDetails {
            phone_number: "84912345678".into(),
            name: "Lan".into(),
            district: 1,
            consent_time: now,
        };
        let report = phone
            .prepare_f1_report(exposure, &contact, &unit, &mut rng)
            .unwrap();
        out.push(report.to_bytes().unwrap());
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn a_restored_phone_goes_on_exactly_as_the_original(
        steps in proptest::collection::vec(step(), 0..8),
        seed in any::<u64>(),
    ) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut phone = Phone::new(PhoneConfig::default());
        let mut friend = Phone::new(PhoneConfig::default());
        live(&mut phone, &mut friend, &steps, &mut rng);
        let key = StateKey::from_bytes(KEY);
        let sealed = phone.save(&key, &mut rng).unwrap();
        let mut restored = Phone::restore(&sealed, &key, *phone.config()).unwrap();
        // The same state, byte for byte (same nonce: same generator state).
        let mut a = ChaCha20Rng::seed_from_u64(1);
        let mut b = ChaCha20Rng::seed_from_u64(1);
        prop_assert_eq!(phone.save(&key, &mut a).unwrap(), restored.save(&key, &mut b).unwrap());
        prop_assert_eq!(restored.sightings().len(), phone.sightings().len());
        // And the same future.
        let mut friend_copy = friend.clone();
        prop_assert_eq!(
            what_it_does_next(&mut phone, &mut friend, seed),
            what_it_does_next(&mut restored, &mut friend_copy, seed)
        );
    }

    #[test]
    fn damaged_states_are_refused_without_panic(
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        bit in 0..8u8,
    ) {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let mut phone = Phone::new(PhoneConfig::default());
        let mut friend = Phone::new(PhoneConfig::default());
        live(&mut phone, &mut friend, &[Step::Meet { day: 1, minutes: 30, rssi: -60 }], &mut rng);
        let key = StateKey::from_bytes(KEY);
        let sealed = phone.save(&key, &mut rng).unwrap();
        let short = &sealed[..cut.index(sealed.len())];
        prop_assert!(Phone::restore(short, &key, PhoneConfig::default()).is_err());
        let mut flipped = sealed.clone();
        let at = flip.index(sealed.len());
        flipped[at] ^= 1 << bit;
        let refused = Phone::restore(&flipped, &key, PhoneConfig::default()).unwrap_err();
        let expected_kind = match at {
            0..=2 => matches!(refused, StateError::Malformed(_)),
            3 => matches!(refused, StateError::UnknownVersion { message_type: 0x07, .. }),
            4..=11 => refused == StateError::WrongKey,
            _ => refused == StateError::Tampered,
        };
        prop_assert!(expected_kind, "byte {} bit {}: {:?}", at, bit, refused);
    }
}

#[test]
fn each_refusal_has_its_own_error() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let phone = Phone::new(PhoneConfig::default());
    let key = StateKey::from_bytes(KEY);
    let sealed = phone.save(&key, &mut rng).unwrap();
    assert!(Phone::restore(&sealed, &key, PhoneConfig::default()).is_ok());
    let other = StateKey::from_bytes([0x5b; 32]);
    assert_eq!(
        Phone::restore(&sealed, &other, PhoneConfig::default()).unwrap_err(),
        StateError::WrongKey
    );
    let mut tampered = sealed.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert_eq!(
        Phone::restore(&tampered, &key, PhoneConfig::default()).unwrap_err(),
        StateError::Tampered
    );
    let mut newer = sealed.clone();
    newer[3] = 2;
    assert_eq!(
        Phone::restore(&newer, &key, PhoneConfig::default()).unwrap_err(),
        StateError::UnknownVersion {
            message_type: 0x07,
            found: 2
        }
    );
    assert!(matches!(
        Phone::restore(b"BZ\x05\x01", &key, PhoneConfig::default()).unwrap_err(),
        StateError::Malformed(_)
    ));
    // The test's time base is the testkit's.
    assert_eq!(at(0, 0), UnixTime(MIDNIGHT));
}

#[test]
fn a_restored_phone_that_met_an_f0_reports_as_the_original_would() {
    let mut rng = ChaCha20Rng::seed_from_u64(21);
    let mut phone = Phone::new(PhoneConfig::default());
    let mut friend = Phone::new(PhoneConfig::default());
    let steps = [
        Step::Meet {
            day: 12,
            minutes: 60,
            rssi: -55,
        },
        Step::Stranger {
            day: 13,
            seconds: 600,
            rssi: -80,
        },
    ];
    live(&mut phone, &mut friend, &steps, &mut rng);
    let key = StateKey::from_bytes(KEY);
    let sealed = phone.save(&key, &mut rng).unwrap();
    let mut restored = Phone::restore(&sealed, &key, PhoneConfig::default()).unwrap();
    let mut friend_copy = friend.clone();
    let original = what_it_does_next(&mut phone, &mut friend, 4);
    // Broadcast, own upload, match outcome, and at least one F1 report.
    assert!(original.len() >= 4, "{} steps", original.len());
    assert_eq!(
        original,
        what_it_does_next(&mut restored, &mut friend_copy, 4)
    );

    // Saved after it matched the batch: the restored phone still knows it did (and refuses it
    // again, as the original does).
    let sealed = phone.save(&key, &mut rng).unwrap();
    let mut restored = Phone::restore(&sealed, &key, PhoneConfig::default()).unwrap();
    let again = what_it_does_next(&mut phone, &mut friend.clone(), 5);
    assert!(String::from_utf8_lossy(&again[2]).contains("AlreadySeen"));
    assert_eq!(
        again,
        what_it_does_next(&mut restored, &mut friend.clone(), 5)
    );
}
