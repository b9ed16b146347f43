//! F1 reports end to end: phones meet, the F0 uploads, the server publishes, the F1 matches and
//! reports, the server verifies; and each way a report can be wrong is refused with its own
//! error.

use std::collections::HashSet;

use bluezone_protocol::hpke::{self, HpkeError};
use bluezone_protocol::{
    AssociatedEncryptedMetadata, BatchSpec, CandidateExposure, CaseId, Confirmation,
    ContactDetails, ContactError, ContactHistoryStore, DEFAULT_TARGET_FP_RATE, DeclarationCode,
    F1Report, FilterKind, IntervalNumber, NoClaims, OwnRpi, Phone, PhoneConfig, PublicationBatch,
    PublicationIndex, PublisherKeyPair, REPORT_SIZE_CLASSES, ReportId, RiskRule,
    RollingProximityId, SEALED_CONTACT_DETAILS_LEN, SealedContactDetails, Sighting, UnixTime,
    VerifyError, verify_report,
};
use bluezone_testkit::{at, scan};
use proptest::collection::vec;
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

const DISTRICT: u32 = 1; // Ba Đình, Hà Nội

mod common;

fn contact(phone: &str) -> ContactDetails {
    ContactDetails {
        phone_number: phone.into(),
        name: "Nguyễn Văn An".into(),
        district: DISTRICT,
        consent_time: at(2, 9000),
    }
}

/// The server side of the test: publication index, contact histories, the publisher key.
struct Server {
    index: PublicationIndex,
    history: ContactHistoryStore,
    publisher: PublisherKeyPair,
    batch: Vec<u8>,
    seen: HashSet<ReportId>,
}

impl Server {
    fn verify(
        &mut self,
        report: &F1Report,
    ) -> Result<bluezone_protocol::ReportVerification, VerifyError> {
        let result = verify_report(
            report,
            &self.index,
            &self.history,
            &RiskRule::default(),
            &NoClaims,
            |id| self.seen.contains(id),
        );
        if result.is_ok() {
            self.seen.insert(report.report_id);
        }
        result
    }
}

/// Alice (F0) and Bob meet on day 0, 10:00 to 10:30, hearing each other. Dave only hears Alice
/// through Mallory's relay, who rebroadcasts Alice's advertisements elsewhere; Alice never
/// hears Dave. Alice uploads on day 2 at 00:00; the batch is published at 01:00.
struct World {
    rng: ChaCha20Rng,
    server: Server,
    bob: Phone,
    dave: Phone,
    unit: (hpke::HpkePrivateKey, hpke::HpkePublicKey),
}

fn world() -> World {
    let mut rng = ChaCha20Rng::from_seed([21; 32]);
    let mut alice = Phone::new(PhoneConfig::default());
    let mut bob = Phone::new(PhoneConfig::default());
    let mut dave = Phone::new(PhoneConfig::default());
    // Bob and Alice hear each other; Dave hears Alice through the relay.
    let hearing = [(1, 0, -62), (0, 1, -64), (2, 0, -60)];
    let phones = &mut [&mut alice, &mut bob, &mut dave];
    scan(&mut rng, phones, at(0, 36_000), at(0, 37_800), &hearing);
    let upload = alice
        .prepare_f0_upload(
            DeclarationCode::new("CODE").unwrap(),
            at(0, 0),
            &[],
            at(2, 0),
            &mut rng,
        )
        .unwrap();
    let mut server = Server {
        index: PublicationIndex::new([1; 32]),
        history: ContactHistoryStore::new(&[2; 32]),
        publisher: PublisherKeyPair::generate(&mut rng),
        batch: Vec::new(),
        seen: HashSet::new(),
    };
    let published_at = at(2, 3600);
    upload.validate(at(2, 0)).unwrap();
    server
        .history
        .store(CaseId(7), &upload.contact_history, at(2, 0));
    let entries = server
        .index
        .publish(&upload, CaseId(7), published_at)
        .unwrap();
    let spec = BatchSpec {
        batch_id: 1,
        region: 0,
        created_at: published_at,
        target_fp_rate: DEFAULT_TARGET_FP_RATE,
        filter_kind: FilterKind::default(),
        dummy_quantum: 0,
    };
    server.batch = PublicationBatch::build(&entries, &spec, &server.publisher, &mut rng)
        .unwrap()
        .1;
    let unit = hpke::generate_keypair(&mut rng);
    World {
        rng,
        server,
        bob,
        dave,
        unit,
    }
}

fn report_of(w: &mut World, phone: Phone, number: &str) -> F1Report {
    let mut phone = phone;
    let key = w.server.publisher.public_key();
    let outcome = phone
        .match_batch(&w.server.batch, &key, at(2, 7200))
        .unwrap();
    let exposure = outcome
        .passing()
        .next()
        .expect("a passing exposure")
        .clone();
    phone
        .prepare_f1_report(&exposure, &contact(number), &w.unit.1, &mut w.rng)
        .unwrap()
}

#[test]
fn an_honest_mutual_contact_verifies_both_ways_with_its_contact_time() {
    let mut w = world();
    let bob = w.bob.clone();
    let report = report_of(&mut w, bob, "84912345678");
    // Over the wire and back.
    let bytes = report.to_bytes().unwrap();
    assert!(REPORT_SIZE_CLASSES.contains(&bytes.len()));
    let report = F1Report::parse(&bytes).unwrap();

    let verification = w.server.verify(&report).unwrap();
    assert!(verification.rejected.is_empty());
    let [row] = verification.rows.as_slice() else {
        panic!("one row expected: {:?}", verification.rows)
    };
    assert_eq!(row.case, CaseId(7));
    assert_eq!(row.confirmation, Confirmation::ConfirmedBothWays);
    assert_eq!(row.first_contact, at(0, 36_000));
    assert_eq!(row.last_contact, at(0, 37_500));
    // 6 scans of 5 minutes: 30 minutes.
    assert_eq!(row.duration_seconds, 1800);
    assert_eq!(row.district, DISTRICT);
    // -24 dBm true transmit power (Alice's default), -62 dBm received: 38 dB.
    assert_eq!(row.min_attenuation_db, 38);
    assert_eq!(row.weighted_minutes, 24);

    // Only the unit opens the phone number.
    let details = report.open_contact(&w.unit.0).unwrap();
    assert_eq!(details.phone_number, "84912345678");
    assert_eq!(details.name, "Nguyễn Văn An");
    let other_unit = hpke::generate_keypair(&mut w.rng);
    assert_eq!(
        report.open_contact(&other_unit.0),
        Err(ContactError::Hpke(HpkeError::OpenFailed))
    );

    // The same report again is refused.
    assert_eq!(
        w.server.verify(&report),
        Err(VerifyError::DuplicateReport(report.report_id))
    );
}

#[test]
fn a_relayed_beacon_verifies_only_one_sided() {
    let mut w = world();
    let dave = w.dave.clone();
    let report = report_of(&mut w, dave, "84987654321");
    let verification = w.server.verify(&report).unwrap();
    assert_eq!(verification.rows.len(), 1);
    assert_eq!(verification.rows[0].confirmation, Confirmation::OneSided);
}

fn single_sighting_report(w: &mut World, sighting: Sighting) -> F1Report {
    let exposure = CandidateExposure {
        day: 0,
        sightings: vec![sighting],
        weighted_exposure: 0,
        passes: true,
    };
    w.bob
        .prepare_f1_report(&exposure, &contact("84900000000"), &w.unit.1, &mut w.rng)
        .unwrap()
}

/// A sighting of Alice's first published RPI, as Bob heard it, moved in time or altered.
fn bobs_first_sighting(w: &World) -> Sighting {
    let key = w.server.publisher.public_key();
    let mut bob = w.bob.clone();
    let outcome = bob.match_batch(&w.server.batch, &key, at(2, 7200)).unwrap();
    let mut s = outcome.exposures[0].sightings.clone();
    s.sort_by_key(|s| s.first_seen);
    let mut first = s[0];
    // Long enough alone to pass the risk rule, so only the check under test can refuse it.
    first.scans = 10;
    first
}

#[test]
fn each_bad_report_is_refused_with_its_own_error() {
    let mut w = world();
    let genuine = bobs_first_sighting(&w);

    // An RPI nobody published.
    let mut unpublished = genuine;
    unpublished.rpi = RollingProximityId([0xab; 16]);
    let report = single_sighting_report(&mut w, unpublished);
    assert_eq!(
        w.server.verify(&report),
        Err(VerifyError::UnpublishedRpi(unpublished.rpi))
    );

    // Heard three hours after its interval: outside GAEN's two-hour tolerance.
    let mut late = genuine;
    late.first_seen = genuine.first_seen.plus_seconds(3 * 3600);
    late.last_seen = late.first_seen.plus_seconds(300);
    let report = single_sighting_report(&mut w, late);
    assert!(matches!(
        w.server.verify(&report),
        Err(VerifyError::OutsideTolerance { .. })
    ));

    // First heard after publication: see a_sighting_first_heard_after_publication_is_a_replay.

    // An AEM that is not Alice's.
    let mut forged = genuine;
    forged.aem = AssociatedEncryptedMetadata([0xff; 4]);
    let report = single_sighting_report(&mut w, forged);
    assert_eq!(
        w.server.verify(&report),
        Err(VerifyError::BadMetadata(forged.rpi))
    );

    // A tampered ciphertext: the server cannot open it (it has no unit key) and stores it as
    // received; the unit's opening refuses it.
    let mut report = single_sighting_report(&mut w, genuine);
    report.contact.0[60] ^= 1;
    assert_eq!(
        report.open_contact(&w.unit.0),
        Err(ContactError::Hpke(HpkeError::OpenFailed))
    );
    // A sealed box moved to another report (or relabelled with another district) fails too.
    let mut moved = single_sighting_report(&mut w, genuine);
    moved.report_id = ReportId([9; 16]);
    assert_eq!(
        moved.open_contact(&w.unit.0),
        Err(ContactError::Hpke(HpkeError::OpenFailed))
    );
    let mut relabelled = single_sighting_report(&mut w, genuine);
    relabelled.district = 2;
    assert!(relabelled.open_contact(&w.unit.0).is_err());
}

#[test]
fn a_sighting_first_heard_after_publication_is_a_replay() {
    // Alice's RPI of 10:00 is published at 10:40 (a fast-tracked case); Mallory replays it to
    // Eve at 10:50, within the two-hour tolerance of its interval.
    let mut rng = ChaCha20Rng::from_seed([5; 32]);
    let mut alice = Phone::new(PhoneConfig::default());
    let mut bob = Phone::new(PhoneConfig::default());
    let phones = &mut [&mut alice, &mut bob];
    scan(
        &mut rng,
        phones,
        at(0, 36_000),
        at(0, 37_800),
        &[(1, 0, -60), (0, 1, -60)],
    );
    let upload = alice
        .prepare_f0_upload(
            DeclarationCode::new("C").unwrap(),
            at(0, 0),
            &[],
            at(0, 38_000),
            &mut rng,
        )
        .unwrap();
    let mut index = PublicationIndex::new([3; 32]);
    let published_at = at(0, 38_400);
    index.publish(&upload, CaseId(1), published_at).unwrap();
    let history = ContactHistoryStore::new(&[4; 32]);
    let rule = RiskRule::default();

    let heard = bob.sightings().iter().next().unwrap();
    let mut replayed = heard;
    replayed.first_seen = at(0, 39_000);
    replayed.last_seen = at(0, 39_000 + 1800);
    replayed.scans = 10;
    let unit = hpke::generate_keypair(&mut rng);
    let exposure = CandidateExposure {
        day: 0,
        sightings: vec![replayed],
        weighted_exposure: 0,
        passes: true,
    };
    let report = bob
        .prepare_f1_report(&exposure, &contact("84911111111"), &unit.1, &mut rng)
        .unwrap();
    assert_eq!(
        verify_report(&report, &index, &history, &rule, &NoClaims, |_| false),
        Err(VerifyError::SeenAfterPublication(replayed.rpi))
    );
    // The genuine sighting of the same RPI, heard before publication, verifies.
    let exposure = CandidateExposure {
        day: 0,
        sightings: bob.sightings().iter().collect(),
        weighted_exposure: 0,
        passes: true,
    };
    let report = bob
        .prepare_f1_report(&exposure, &contact("84911111111"), &unit.1, &mut rng)
        .unwrap();
    assert!(verify_report(&report, &index, &history, &rule, &NoClaims, |_| false).is_ok());
}

#[test]
fn a_short_contact_is_under_the_threshold() {
    let mut w = world();
    let mut brief = bobs_first_sighting(&w);
    brief.scans = 1;
    brief.last_seen = brief.first_seen;
    let report = single_sighting_report(&mut w, brief);
    assert_eq!(
        w.server.verify(&report),
        Err(VerifyError::BelowRiskThreshold(CaseId(7)))
    );
}

#[test]
fn the_report_carries_own_rpis_of_the_contact_intervals_only() {
    let mut w = world();
    let bob = w.bob.clone();
    let report = report_of(&mut w, bob.clone(), "84912345678");
    let intervals: Vec<u32> = report.own_rpis.iter().map(|o| o.interval.0).collect();
    let day0 = at(0, 0).interval().0;
    assert_eq!(intervals, [60, 61, 62].map(|j| day0 + j));
    for own in &report.own_rpis {
        let key = bob
            .daily_keys()
            .iter()
            .find(|k| k.covers(own.interval))
            .unwrap();
        assert_eq!(key.rpi_key().rpi(own.interval), own.rpi);
    }
}

fn arb_report() -> impl Strategy<Value = F1Report> {
    (
        any::<[u8; 16]>(),
        any::<u32>(),
        any::<i8>(),
        common::arb_sightings(1, 40),
        vec((any::<u32>(), any::<[u8; 16]>()), 0..40),
        any::<[u8; 32]>(),
    )
        .prop_map(|(id, district, correction, sightings, own, seed)| {
            let mut sealed = [0u8; SEALED_CONTACT_DETAILS_LEN];
            ChaCha20Rng::from_seed(seed).fill_bytes(&mut sealed);
            F1Report {
                report_id: ReportId(id),
                district,
                rssi_correction_db: correction,
                sightings,
                own_rpis: own
                    .into_iter()
                    .map(|(i, rpi)| OwnRpi {
                        interval: IntervalNumber(i),
                        rpi: RollingProximityId(rpi),
                    })
                    .collect(),
                contact: SealedContactDetails(sealed),
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn report_round_trips(report in arb_report()) {
        let bytes = report.to_bytes().unwrap();
        prop_assert!(REPORT_SIZE_CLASSES.contains(&bytes.len()));
        prop_assert_eq!(F1Report::parse(&bytes).unwrap(), report);
    }

    #[test]
    fn every_truncation_of_a_report_is_refused(report in arb_report()) {
        let bytes = report.to_bytes().unwrap();
        for len in 0..bytes.len() {
            prop_assert!(F1Report::parse(&bytes[..len]).is_err(), "prefix of {} accepted", len);
        }
        let mut longer = bytes;
        longer.push(0);
        prop_assert!(F1Report::parse(&longer).is_err());
    }

    #[test]
    fn report_parser_never_panics(bytes in common::arb_message(5, 2000)) {
        let _ = F1Report::parse(&bytes);
    }

    #[test]
    fn contact_details_seal_and_open(
        digits in "[0-9]{1,15}",
        name in "\\PC{0,20}",
        district in any::<u32>(),
        seed in any::<[u8; 32]>(),
    ) {
        prop_assume!(name.len() <= 95);
        let mut rng = ChaCha20Rng::from_seed(seed);
        let unit = hpke::generate_keypair(&mut rng);
        let details = ContactDetails { phone_number: digits, name, district, consent_time: UnixTime(1) };
        let id = ReportId([3; 16]);
        let sealed = SealedContactDetails::seal(&details, &id, &unit.1, &mut rng).unwrap();
        prop_assert_eq!(sealed.open(&id, district, &unit.0).unwrap(), details);
    }
}

#[test]
fn malformed_contact_details_are_refused() {
    let mut rng = ChaCha20Rng::from_seed([8; 32]);
    let unit = hpke::generate_keypair(&mut rng);
    let id = ReportId([1; 16]);
    for (phone, name) in [
        ("", ""),
        ("+84912345678", ""),
        ("1234567890123456", ""),
        ("84", &*"x".repeat(96)),
    ] {
        let details = ContactDetails {
            phone_number: phone.into(),
            name: name.into(),
            district: 1,
            consent_time: UnixTime(0),
        };
        let e = SealedContactDetails::seal(&details, &id, &unit.1, &mut rng).unwrap_err();
        assert!(
            matches!(e, ContactError::BadPhoneNumber | ContactError::NameTooLong),
            "{phone:?}"
        );
    }
}
