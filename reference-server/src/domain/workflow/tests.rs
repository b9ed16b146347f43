//! The workflow's tests, step by step, on a sled store, publishing into memory.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use bluezone_protocol::hpke::derive_keypair;
use bluezone_protocol::{
    BatchIndex, ContactDetails, DEFAULT_TARGET_FP_RATE, DeclarationCode, Phone, PhoneConfig,
    PublicationBatch, PublisherKeyPair, RiskRule, UnixTime,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::{IndexScope, MemorySink, Principal, ReportOutcome, Workflow, sha256};
use crate::domain::code::{self, IssuedCode};
use crate::domain::error::{ApiError, ErrorCode};
use crate::domain::settings::{Settings, ThrottleConfig, Unit};
use crate::domain::store::{
    CaseStatus, ConfirmationRecord, FollowUp, FollowUpStatus, RegionBatch, Role, Seconds, SledStore,
};

const NOW: Seconds = 1_700_000_000;
const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const PUBLISHER_SEED: [u8; 32] = [7; 32];

fn settings() -> Settings {
    let unit = |name: &str, districts: Vec<u32>| Unit {
        name: name.into(),
        districts,
        public_key: derive_keypair(format!("unit {name}").as_bytes()).1,
    };
    Settings {
        code_ttl_seconds: 86_400,
        session_ttl_seconds: 12 * 3600,
        filter_target_fp_rate: DEFAULT_TARGET_FP_RATE,
        filter_kind: bluezone_protocol::FilterKind::default(),
        dummy_quantum: 0,
        throttle: ThrottleConfig::default(),
        units: vec![unit("north", vec![1]), unit("south", vec![2])],
        facilities: Vec::new(),
        regions: Default::default(),
        retention: Default::default(),
        risk_rule: RiskRule::default(),
    }
}

fn open(dir: &Path) -> (Workflow, Option<String>) {
    let store = SledStore::open(&dir.join("store")).unwrap();
    Workflow::open(
        Box::new(store),
        settings(),
        PublisherKeyPair::from_seed(PUBLISHER_SEED).unwrap(),
        Arc::new(MemorySink::new()),
        Box::new(ChaCha20Rng::seed_from_u64(1)),
        NOW,
    )
    .unwrap()
}

fn principal(username: &str, role: Role) -> Principal {
    Principal::in_process(username, role)
}

fn admin() -> Principal {
    principal("admin", Role::Admin)
}

/// The admin of the first start, its password the one printed.
fn first_admin() -> Principal {
    Principal {
        must_change_password: true,
        ..admin()
    }
}

fn doctor() -> Principal {
    principal(
        "doctor",
        Role::TreatmentFacility {
            facility: String::new(),
        },
    )
}

fn worker(unit: &str) -> Principal {
    principal(
        &format!("{unit}-worker"),
        Role::PreventiveUnit { unit: unit.into() },
    )
}

fn code_of(e: Result<impl std::fmt::Debug, ApiError>) -> ErrorCode {
    match e {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.code,
    }
}

/// Two phones that heard each other every 5 minutes for half an hour, three hours ago.
fn phones(rng: &mut ChaCha20Rng) -> Vec<Phone> {
    let mut phones = vec![
        Phone::new(PhoneConfig::default()),
        Phone::new(PhoneConfig::default()),
    ];
    let from = NOW - 3 * 3600;
    for t in (from..from + 1800).step_by(300) {
        let sent: Vec<[u8; 20]> = phones
            .iter_mut()
            .map(|p| p.broadcast(UnixTime(t), rng).advertisement.to_bytes())
            .collect();
        phones[0].hear(&sent[1], -55, UnixTime(t)).unwrap();
        phones[1].hear(&sent[0], -55, UnixTime(t)).unwrap();
    }
    phones
}

/// The F0 upload of `phone` with `code`, for the last two days.
fn upload(phone: &mut Phone, code: &str, rng: &mut ChaCha20Rng) -> bluezone_protocol::F0Upload {
    phone
        .prepare_f0_upload(
            DeclarationCode::new(code).unwrap(),
            UnixTime(NOW - 2 * 86_400),
            &[],
            UnixTime(NOW),
            rng,
        )
        .unwrap()
}

/// The ids of the batches the workflow handed to its sink.
fn batch_ids(workflow: &Workflow) -> Vec<u64> {
    (1..=16)
        .filter(|&id| workflow.publication().batch(id).unwrap().is_some())
        .collect()
}

/// The batch index last handed to the sink.
fn index_bytes(workflow: &Workflow) -> Vec<u8> {
    workflow
        .publication()
        .index(IndexScope::All)
        .unwrap()
        .expect("an index")
}

#[test]
fn first_open_creates_an_admin_whose_password_logs_in() {
    let dir = tempfile::tempdir().unwrap();
    let (workflow, password) = open(dir.path());
    let password = password.expect("first open creates admin");
    assert_eq!(password.len(), 20);
    let wrong = workflow.login("admin", "not the password at all", CLIENT, NOW);
    assert_eq!(code_of(wrong), ErrorCode::LoginFailed);
    let session = workflow.login("admin", &password, CLIENT, NOW).unwrap();
    assert_eq!(session.expires_at, NOW + 12 * 3600);
    assert_eq!(
        workflow
            .authenticate(&session.token, None, NOW + 60)
            .unwrap(),
        first_admin()
    );
    assert_eq!(
        code_of(workflow.authenticate(&session.token, None, session.expires_at)),
        ErrorCode::SessionInvalid
    );
    let accounts = workflow.store().accounts().unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].role, Role::Admin);
    drop(workflow);

    let (workflow, again) = open(dir.path());
    assert_eq!(again, None);
    // The same admin, not a new one, and the session of before the restart still works.
    assert_eq!(workflow.store().accounts().unwrap(), accounts);
    assert_eq!(
        workflow
            .authenticate(&session.token, None, NOW + 60)
            .unwrap(),
        first_admin()
    );
    workflow.logout(&session.token).unwrap();
    assert_eq!(
        code_of(workflow.authenticate(&session.token, None, NOW + 60)),
        ErrorCode::SessionInvalid
    );
}

/// A password someone else set (creation, reset) opens a session that can only replace it:
/// every role's call is refused until then, the same password is refused as the new one.
#[test]
fn a_password_set_by_someone_else_must_be_replaced_first() {
    let dir = tempfile::tempdir().unwrap();
    let (workflow, _) = open(dir.path());
    let first = "the admin chose this one";
    let facility = Role::TreatmentFacility {
        facility: String::new(),
    };
    workflow
        .create_account(&admin(), "doctor", first, facility, true, NOW)
        .unwrap();
    let session = workflow.login("doctor", first, CLIENT, NOW).unwrap();
    let who = workflow.authenticate(&session.token, None, NOW).unwrap();
    assert!(who.must_change_password);
    let refused = ErrorCode::PasswordChangeRequired;
    assert_eq!(code_of(workflow.open_case(&who, "HN-1", NOW)), refused);
    assert_eq!(code_of(workflow.cases(&who)), refused);
    assert_eq!(
        code_of(workflow.change_password(&who, &session.token, first, first, CLIENT, NOW)),
        ErrorCode::PasswordRejected
    );
    let own = "only the doctor knows this";
    workflow
        .change_password(&who, &session.token, first, own, CLIENT, NOW)
        .unwrap();
    let who = workflow.authenticate(&session.token, None, NOW).unwrap();
    assert!(!who.must_change_password);
    workflow.open_case(&who, "HN-1", NOW).unwrap();
    // An admin's reset hands over a password again.
    workflow.reset_password(&admin(), "doctor", NOW).unwrap();
    let account = workflow.store().account("doctor").unwrap().unwrap();
    assert!(account.must_change_password);
}

#[test]
fn each_role_may_do_only_its_own_steps() {
    let dir = tempfile::tempdir().unwrap();
    let (workflow, _) = open(dir.path());
    let doctor = doctor();
    let north = worker("north");
    let password = "correct horse battery staple";

    let forbidden = ErrorCode::ForbiddenRole;
    let facility_account = Role::TreatmentFacility {
        facility: String::new(),
    };
    assert_eq!(
        code_of(workflow.create_account(&doctor, "eve", password, facility_account, false, NOW)),
        forbidden
    );
    assert_eq!(code_of(workflow.publish_on_demand(&doctor, NOW)), forbidden);
    assert_eq!(code_of(workflow.accounts(&doctor)), forbidden);
    assert_eq!(
        code_of(workflow.unit_rows(&doctor, "north", NOW)),
        forbidden
    );
    assert_eq!(code_of(workflow.open_case(&north, "HN-1", NOW)), forbidden);
    assert_eq!(
        code_of(workflow.open_case(&admin(), "HN-1", NOW)),
        forbidden
    );
    assert_eq!(code_of(workflow.cases(&north)), forbidden);
    assert_eq!(code_of(workflow.request_trace(&north, 1, NOW)), forbidden);
    assert_eq!(code_of(workflow.publish_on_demand(&north, NOW)), forbidden);
    assert_eq!(
        code_of(workflow.unit_rows(&north, "south", NOW)),
        ErrorCode::ForbiddenDistrict
    );
    assert_eq!(
        code_of(workflow.unit_rows(&worker("gone"), "gone", NOW)),
        ErrorCode::UnknownUnit
    );
    let unknown_unit = Role::PreventiveUnit {
        unit: "east".into(),
    };
    assert_eq!(
        code_of(workflow.create_account(
            &admin(),
            "east-worker",
            password,
            unknown_unit,
            false,
            NOW
        )),
        ErrorCode::UnknownUnit
    );
    assert_eq!(
        code_of(workflow.create_account(&admin(), "Eve!", password, Role::Admin, false, NOW)),
        ErrorCode::BadRequest
    );
    // Nothing was created by the refusals.
    assert_eq!(workflow.store().counts().unwrap().accounts, 1);
    assert_eq!(workflow.store().counts().unwrap().cases, 0);

    // What each may do.
    let opened = workflow.open_case(&doctor, "HN-1", NOW).unwrap();
    assert_eq!(opened.case.case_id, 1);
    assert_eq!(opened.case.status, CaseStatus::AwaitingUpload);
    assert_eq!(opened.case.code_expires_at, NOW + 86_400);
    assert!(code::normalize(&opened.code).is_ok());
    assert_eq!(workflow.cases(&doctor).unwrap(), vec![opened.case.clone()]);
    assert_eq!(workflow.case(&admin(), 1).unwrap(), opened.case);
    assert_eq!(code_of(workflow.case(&doctor, 2)), ErrorCode::NotFound);
    // Tracing before the upload is refused.
    assert_eq!(
        code_of(workflow.request_trace(&doctor, 1, NOW)),
        ErrorCode::CaseNotReady
    );
    assert!(workflow.unit_rows(&north, "north", NOW).unwrap().is_empty());
    assert!(
        workflow
            .publish_on_demand(&admin(), NOW)
            .unwrap()
            .is_empty()
    );
    assert_eq!(workflow.accounts(&admin()).unwrap().len(), 1);
}

#[test]
fn publish_writes_a_signed_batch_and_index() {
    let dir = tempfile::tempdir().unwrap();
    let (workflow, _) = open(dir.path());
    let publisher = PublisherKeyPair::from_seed(PUBLISHER_SEED)
        .unwrap()
        .public_key();
    assert_eq!(workflow.publisher_key(), publisher);
    let read_index = |w: &Workflow| BatchIndex::open(&index_bytes(w), &publisher).unwrap();
    assert!(read_index(&workflow).entries.is_empty());

    // Nothing waiting: no batch.
    assert!(workflow.publish(NOW).unwrap().is_empty());
    assert!(batch_ids(&workflow).is_empty());

    // A case whose upload arrived but was not traced is not published either.
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let mut phones = phones(&mut rng);
    let opened = workflow.open_case(&doctor(), "HN-1", NOW).unwrap();
    let f0 = upload(&mut phones[0], &opened.code, &mut rng);
    let case_id = workflow
        .accept_upload(&f0.to_bytes().unwrap(), CLIENT, NOW)
        .unwrap()
        .real()
        .unwrap();
    assert!(workflow.publish(NOW).unwrap().is_empty());
    assert!(batch_ids(&workflow).is_empty());

    let traced = workflow
        .request_trace(&doctor(), case_id, NOW + 10)
        .unwrap();
    assert!(matches!(traced.status, CaseStatus::TraceRequested { .. }));
    let run = workflow.publish(NOW + 20).unwrap();
    assert_eq!(run.len(), 1, "one region, one batch");
    let record = &run[0];
    assert_eq!(record.batch_id, 1);
    assert_eq!(record.cases, vec![case_id]);
    assert_eq!(record.published_rpis as usize, f0.published_count());
    assert!(record.published_rpis > 0);
    assert_eq!(batch_ids(&workflow), vec![1]);

    let bytes = workflow.publication().batch(1).unwrap().unwrap();
    let batch = PublicationBatch::open(&bytes, &publisher).unwrap();
    assert_eq!(batch.batch_id, 1);
    assert_eq!(batch.created_at, UnixTime(NOW + 20));
    assert_eq!(batch.entry_count, record.entry_count);
    assert_eq!(record.byte_len as usize, bytes.len());
    assert_eq!(record.sha256, sha256(&bytes));
    // Signed by this publisher only.
    let other = PublisherKeyPair::from_seed([8; 32]).unwrap().public_key();
    assert!(PublicationBatch::open(&bytes, &other).is_err());

    let index = read_index(&workflow);
    assert_eq!(index.generated_at, UnixTime(NOW + 20));
    assert_eq!(index.entries.len(), 1);
    let entry = &index.entries[0];
    assert_eq!(entry.batch_id, 1);
    assert_eq!(entry.sha256, sha256(&bytes));
    assert_eq!(entry.byte_len as usize, bytes.len());
    assert_eq!(entry.entry_count, batch.entry_count);
    entry.check(&bytes).unwrap();

    assert!(matches!(
        workflow.case(&doctor(), case_id).unwrap().status,
        CaseStatus::Published { at, ref batches } if at == NOW + 20 && batches == &[RegionBatch { region: 0, batch_id: 1 }]
    ));
    assert_eq!(workflow.index_len(), record.published_rpis as usize);
    assert_eq!(workflow.store().batches().unwrap(), vec![record.clone()]);
    // Published once only.
    assert!(workflow.publish(NOW + 30).unwrap().is_empty());
    assert_eq!(batch_ids(&workflow), vec![1]);

    // After a restart, the verification index is rebuilt from the store.
    drop(workflow);
    let (workflow, _) = open(dir.path());
    assert_eq!(workflow.index_len(), record.published_rpis as usize);
    assert_eq!(read_index(&workflow).entries.len(), 1);
    assert_eq!(workflow.store().next_batch_id().unwrap(), 2);
}

/// "Trace F1" to provinces: a run builds one batch per region its cases are traced to, each
/// with exactly the RPIs of those cases; each region's index lists its batches only and is
/// rewritten only when that list changes; an unknown region is refused and changes nothing.
#[test]
fn a_run_makes_one_batch_per_region_and_each_region_its_own_index() {
    let dir = tempfile::tempdir().unwrap();
    let (workflow, _) = open(dir.path());
    let publisher = workflow.publisher_key();
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut phones = phones(&mut rng);
    phones.extend(self::phones(&mut rng));
    let mut uploaded = |phone: usize, t: Seconds| {
        let opened = workflow.open_case(&doctor(), "HCM", t).unwrap();
        let f0 = upload(&mut phones[phone], &opened.code, &mut rng);
        let id = workflow
            .accept_upload(&f0.to_bytes().unwrap(), CLIENT, t)
            .unwrap()
            .real()
            .expect("a real upload");
        (id, f0.published_count() as u32)
    };
    let (a, a_rpis) = uploaded(0, NOW);
    let (b, b_rpis) = uploaded(1, NOW);
    let before = workflow.store().digest().unwrap();
    for wrong in [&[][..], &[3], &[79, 3]] {
        let refused = workflow.request_trace_to(&doctor(), a, wrong, NOW + 5);
        assert_eq!(code_of(refused), ErrorCode::UnknownRegion, "{wrong:?}");
    }
    assert_eq!(workflow.store().digest().unwrap(), before);

    workflow
        .request_trace_to(&doctor(), a, &[79, 74, 79], NOW + 10)
        .unwrap();
    workflow
        .request_trace_to(&doctor(), b, &[79], NOW + 10)
        .unwrap();
    let run = workflow.publish(NOW + 20).unwrap();
    let summary: Vec<(u16, Vec<u64>, u32)> = run
        .iter()
        .map(|r| (r.region, r.cases.clone(), r.published_rpis))
        .collect();
    assert_eq!(
        summary,
        vec![(74, vec![a], a_rpis), (79, vec![a, b], a_rpis + b_rpis)]
    );
    let sink = workflow.publication();
    for record in &run {
        let bytes = sink.batch(record.batch_id).unwrap().unwrap();
        assert_eq!(
            PublicationBatch::open(&bytes, &publisher).unwrap().region,
            record.region
        );
    }
    let listed = |scope| {
        let bytes = sink.index(scope).unwrap().expect("an index");
        let index = BatchIndex::open(&bytes, &publisher).unwrap();
        let ids: Vec<(u64, u16)> = index
            .entries
            .iter()
            .map(|e| (e.batch_id, e.region))
            .collect();
        (ids, bytes)
    };
    let (b74, b79) = (run[0].batch_id, run[1].batch_id);
    assert_eq!(listed(IndexScope::All).0, vec![(b74, 74), (b79, 79)]);
    assert_eq!(listed(IndexScope::Region(74)).0, vec![(b74, 74)]);
    assert_eq!(listed(IndexScope::Region(79)).0, vec![(b79, 79)]);
    // Every configured province has an index, empty until it has a batch; so has region 0.
    assert!(listed(IndexScope::Region(0)).0.is_empty());
    assert!(listed(IndexScope::Region(1)).0.is_empty());
    assert!(sink.index(IndexScope::Region(3)).unwrap().is_none());
    assert!(matches!(
        workflow.case(&doctor(), a).unwrap().status,
        CaseStatus::Published { ref batches, .. } if batches == &[
            RegionBatch { region: 74, batch_id: b74 },
            RegionBatch { region: 79, batch_id: b79 },
        ]
    ));

    // A later run for province 79 only: 74's index and region 0's keep their bytes (a phone
    // polling them is answered 304), 79's and the complete index change.
    let (held_74, held_0) = (
        listed(IndexScope::Region(74)).1,
        listed(IndexScope::Region(0)).1,
    );
    let (c, _) = uploaded(2, NOW + 30);
    workflow
        .request_trace_to(&doctor(), c, &[79], NOW + 40)
        .unwrap();
    let later = workflow.publish(NOW + 50).unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(listed(IndexScope::Region(74)).1, held_74);
    assert_eq!(listed(IndexScope::Region(0)).1, held_0);
    let b79_later = later[0].batch_id;
    assert_eq!(
        listed(IndexScope::Region(79)).0,
        vec![(b79, 79), (b79_later, 79)]
    );
    assert_eq!(listed(IndexScope::All).0.len(), 3);
}

#[test]
fn an_upload_consumes_its_declaration_code_once() {
    let dir = tempfile::tempdir().unwrap();
    let (workflow, _) = open(dir.path());
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut phones = phones(&mut rng);
    let opened = workflow.open_case(&doctor(), "HN-1", NOW).unwrap();

    // A code no case has.
    let mut guess = upload(&mut phones[0], &opened.code, &mut rng);
    let unknown = IssuedCode::generate(&mut rng);
    guess.code = DeclarationCode::new(unknown.display()).unwrap();
    assert_eq!(
        code_of(workflow.accept_upload(&guess.to_bytes().unwrap(), CLIENT, NOW)),
        ErrorCode::DeclarationCodeInvalid
    );

    let f0 = upload(&mut phones[0], &opened.code, &mut rng);
    let bytes = f0.to_bytes().unwrap();
    let case_id = workflow
        .accept_upload(&bytes, CLIENT, NOW + 5)
        .unwrap()
        .real()
        .unwrap();
    assert_eq!(case_id, opened.case.case_id);
    assert_eq!(
        workflow.case(&doctor(), case_id).unwrap().status,
        CaseStatus::UploadReceived { at: NOW + 5 }
    );
    let digest = workflow.store().digest().unwrap();
    // The same bytes again (a phone that lost the answer) get the same answer.
    assert_eq!(
        workflow
            .accept_upload(&bytes, CLIENT, NOW + 6)
            .unwrap()
            .real()
            .unwrap(),
        case_id
    );
    // The same code typed in its canonical form is the same code, in another upload.
    let mut canonical = f0.clone();
    canonical.code = DeclarationCode::new(&code::normalize(&opened.code).unwrap()).unwrap();
    assert_eq!(
        code_of(workflow.accept_upload(&canonical.to_bytes().unwrap(), CLIENT, NOW + 7)),
        ErrorCode::DeclarationCodeUsed
    );
    assert_eq!(workflow.store().digest().unwrap(), digest);

    // What is kept: the keys the phone uploaded and one keyed hash per sighting.
    let hashes = workflow.store().contact_hashes().unwrap();
    assert_eq!(hashes.len(), 1);
    assert_eq!(hashes[0].0, case_id);
    assert_eq!(hashes[0].1.len(), f0.contact_history.len());
    assert!(!f0.contact_history.is_empty());
    assert!(
        hashes[0]
            .1
            .iter()
            .all(|(h, _)| f0.contact_history.iter().all(|s| h != &s.rpi.0))
    );

    // An expired code.
    let late = workflow.open_case(&doctor(), "HN-2", NOW).unwrap();
    let f0 = upload(&mut phones[1], &late.code, &mut rng);
    let expired = workflow.accept_upload(&f0.to_bytes().unwrap(), CLIENT, NOW + 86_400);
    assert_eq!(code_of(expired), ErrorCode::DeclarationCodeExpired);
    assert_eq!(
        workflow.case(&doctor(), late.case.case_id).unwrap().status,
        CaseStatus::AwaitingUpload
    );
}

#[test]
fn malformed_uploads_do_not_charge_the_code_throttle() {
    let dir = tempfile::tempdir().unwrap();
    let (workflow, _) = open(dir.path());
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let mut phones = phones(&mut rng);
    let limit = ThrottleConfig::default().code_failures_per_client;

    for i in 0..2 * limit {
        let garbage = vec![i as u8; 64 + i as usize];
        assert_eq!(
            code_of(workflow.accept_upload(&garbage, CLIENT, NOW)),
            ErrorCode::MalformedUpload
        );
    }
    assert_eq!(
        code_of(workflow.accept_upload(&[], CLIENT, NOW)),
        ErrorCode::MalformedUpload
    );
    let opened = workflow.open_case(&doctor(), "HN-1", NOW).unwrap();
    let f0 = upload(&mut phones[0], &opened.code, &mut rng);
    assert_eq!(
        workflow
            .accept_upload(&f0.to_bytes().unwrap(), CLIENT, NOW)
            .unwrap()
            .real()
            .unwrap(),
        opened.case.case_id
    );

    // Wrong codes are charged: `limit` of them, then the client is throttled, even with a
    // right code, while another client is not.
    for _ in 0..limit {
        let mut guess = f0.clone();
        guess.code = DeclarationCode::new(IssuedCode::generate(&mut rng).display()).unwrap();
        assert_eq!(
            code_of(workflow.accept_upload(&guess.to_bytes().unwrap(), CLIENT, NOW + 1)),
            ErrorCode::DeclarationCodeInvalid
        );
    }
    let second = workflow.open_case(&doctor(), "HN-2", NOW).unwrap();
    let f0 = upload(&mut phones[1], &second.code, &mut rng);
    let bytes = f0.to_bytes().unwrap();
    let throttled = workflow.accept_upload(&bytes, CLIENT, NOW + 2).unwrap_err();
    assert_eq!(throttled.code, ErrorCode::DeclarationCodeThrottled);
    // The client's window opened at its first attempt (at NOW, refunded since).
    assert_eq!(throttled.retry_after, Some(3600 - 2));
    let other = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
    assert_eq!(
        workflow
            .accept_upload(&bytes, other, NOW + 2)
            .unwrap()
            .real()
            .unwrap(),
        second.case.case_id
    );
}

#[test]
fn a_report_verifies_and_reaches_its_unit_only() {
    let dir = tempfile::tempdir().unwrap();
    let (workflow, _) = open(dir.path());
    let publisher = workflow.publisher_key();
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let mut phones = phones(&mut rng);
    let opened = workflow.open_case(&doctor(), "HN-1", NOW).unwrap();
    let f0 = upload(&mut phones[0], &opened.code, &mut rng);
    let case_id = workflow
        .accept_upload(&f0.to_bytes().unwrap(), CLIENT, NOW)
        .unwrap()
        .real()
        .unwrap();
    workflow.request_trace(&doctor(), case_id, NOW).unwrap();
    assert_eq!(workflow.publish(NOW).unwrap().len(), 1);

    // The F1's phone fetches the batch, matches and reports (district 1: unit north).
    let index = index_bytes(&workflow);
    let f1 = &mut phones[1];
    let entries = f1
        .batches_to_fetch(&index, &publisher, &[], UnixTime(NOW))
        .unwrap();
    assert_eq!(entries.len(), 1);
    let bytes = workflow
        .publication()
        .batch(entries[0].batch_id)
        .unwrap()
        .unwrap();
    let outcome = f1.match_batch(&bytes, &publisher, UnixTime(NOW)).unwrap();
    let exposure = outcome.passing().next().expect("the F1 was near the F0");
    let contact = ContactDetails {
        phone_number: "84900000001".into(),
        name: String::new(),
        district: 1,
        consent_time: UnixTime(NOW),
    };
    let unit_key = workflow.settings().units[0].public_key;
    let report = f1
        .prepare_f1_report(exposure, &contact, &unit_key, &mut rng)
        .unwrap()
        .to_bytes()
        .unwrap();
    let outcome = workflow
        .accept_report(&report, CLIENT, NOW + 60)
        .unwrap()
        .real()
        .unwrap();
    assert_eq!(
        outcome,
        ReportOutcome {
            verified: true,
            rows: 1
        }
    );
    assert_eq!(
        code_of(workflow.accept_report(&report, CLIENT, NOW + 61)),
        ErrorCode::ReportDuplicate
    );
    assert_eq!(
        code_of(workflow.accept_report(&report[..report.len() - 1], CLIENT, NOW + 61)),
        ErrorCode::MalformedReport
    );

    let table = workflow.f1_table(&doctor(), case_id, NOW).unwrap();
    assert_eq!(table.len(), 1);
    assert_eq!((table[0].row_no, table[0].district), (1, 1));
    assert_eq!(table[0].confirmation, ConfirmationRecord::ConfirmedBothWays);
    assert_eq!(
        workflow.unit_rows(&worker("north"), "north", NOW).unwrap(),
        table
    );
    assert!(
        workflow
            .unit_rows(&worker("south"), "south", NOW)
            .unwrap()
            .is_empty()
    );

    // Only the unit of the row's district records its follow-up.
    assert_eq!(
        code_of(workflow.set_follow_up(&worker("south"), case_id, 1, FollowUpStatus::Closed, NOW)),
        ErrorCode::ForbiddenDistrict
    );
    assert_eq!(
        code_of(workflow.set_follow_up(&worker("north"), case_id, 2, FollowUpStatus::Closed, NOW)),
        ErrorCode::NotFound
    );
    let row = workflow
        .set_follow_up(
            &worker("north"),
            case_id,
            1,
            FollowUpStatus::Contacted,
            NOW + 120,
        )
        .unwrap();
    assert_eq!(
        row.follow_up,
        FollowUp {
            status: FollowUpStatus::Contacted,
            updated_at: NOW + 120,
            updated_by: "north-worker".into(),
        }
    );
    assert_eq!(
        workflow.f1_table(&doctor(), case_id, NOW).unwrap(),
        vec![row]
    );
}

#[test]
fn decoys_are_answered_store_nothing_and_are_counted_apart() {
    let dir = tempfile::tempdir().unwrap();
    let (workflow, _) = open(dir.path());
    let digest = workflow.store().digest().unwrap();
    for len in [4096, 65_536] {
        let decoy = bluezone_protocol::decoy_upload(len).unwrap();
        let answered = workflow.accept_upload(&decoy, CLIENT, NOW).unwrap();
        assert_eq!(answered, super::Answered::Decoy);
    }
    let decoy = bluezone_protocol::decoy_report(1024).unwrap();
    assert_eq!(
        workflow.accept_report(&decoy, CLIENT, NOW).unwrap(),
        super::Answered::Decoy
    );
    assert_eq!(workflow.store().digest().unwrap(), digest);
    let metrics = workflow.metrics.render(None, 0);
    for line in [
        "bluezone_decoy_uploads_total 2\n",
        "bluezone_decoy_reports_total 1\n",
        "bluezone_uploads_accepted_total 0\n",
        "bluezone_reports_verified_total 0\n",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    // A decoy with a stray byte is malformed, as any other bad upload.
    let mut stray = bluezone_protocol::decoy_upload(4096).unwrap();
    stray[100] = 1;
    assert_eq!(
        code_of(workflow.accept_upload(&stray, CLIENT, NOW)),
        ErrorCode::MalformedUpload
    );
}

#[test]
fn registered_units_follow_the_configured_units_rules_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (workflow, _) = open(dir.path());
    let key = |seed: &str| hex::encode(derive_keypair(seed.as_bytes()).0.public_key().as_bytes());
    let config =
        |name: &str, districts: Vec<u32>, public_key: String| crate::domain::settings::UnitConfig {
            name: name.into(),
            districts,
            public_key,
        };
    let east = config("east", vec![7, 8], key("east"));
    assert_eq!(
        code_of(workflow.register_unit(&doctor(), &east, NOW)),
        ErrorCode::ForbiddenRole
    );
    for (refused, code) in [
        (config("north", vec![9], key("x")), ErrorCode::UnitExists),
        (
            config("west", vec![9, 2], key("x")),
            ErrorCode::UnitDistrictTaken,
        ),
        (config("west", vec![9], "00".into()), ErrorCode::UnitInvalid),
        (config("West", vec![9], key("x")), ErrorCode::UnitInvalid),
    ] {
        assert_eq!(
            code_of(workflow.register_unit(&admin(), &refused, NOW)),
            code
        );
    }
    let unit = workflow.register_unit(&admin(), &east, NOW).unwrap();
    assert_eq!(unit.districts, vec![7, 8]);
    assert_eq!(workflow.unit_of_district(8), Some(unit.clone()));
    let names = |w: &Workflow| w.units().into_iter().map(|u| u.name).collect::<Vec<_>>();
    assert_eq!(names(&workflow), ["north", "south", "east"]);
    drop(workflow);
    let (workflow, _) = open(dir.path());
    assert_eq!(names(&workflow), ["north", "south", "east"]);
    assert_eq!(workflow.unit("east"), Some(unit));
}

/// Two instances on one store (as on PostgreSQL): a unit one registers is found by the other
/// for its districts and listed by it, and the other refuses a unit that overlaps it.
#[test]
fn a_unit_registered_by_one_instance_is_seen_by_another() {
    let store = crate::domain::store::MemoryStore::new();
    let instance = || {
        Workflow::open(
            Box::new(store.clone()),
            settings(),
            PublisherKeyPair::from_seed(PUBLISHER_SEED).unwrap(),
            Arc::new(MemorySink::new()),
            Box::new(ChaCha20Rng::seed_from_u64(9)),
            NOW,
        )
        .unwrap()
        .0
    };
    // All three opened before the unit exists.
    let (a, b, c) = (instance(), instance(), instance());
    assert_eq!(b.unit_of_district(7), None);
    let key = |seed: &str| hex::encode(derive_keypair(seed.as_bytes()).0.public_key().as_bytes());
    let east = crate::domain::settings::UnitConfig {
        name: "east".into(),
        districts: vec![7, 8],
        public_key: key("east"),
    };
    let unit = a.register_unit(&admin(), &east, NOW).unwrap();
    assert_eq!(b.unit_of_district(8), Some(unit.clone()));
    assert_eq!(b.unit("east"), Some(unit));
    assert!(b.units().iter().any(|u| u.name == "east"));
    let overlapping = crate::domain::settings::UnitConfig {
        name: "east2".into(),
        districts: vec![7],
        public_key: key("east2"),
    };
    assert_eq!(
        code_of(c.register_unit(&admin(), &overlapping, NOW)),
        ErrorCode::UnitDistrictTaken
    );
}

#[test]
fn a_reissued_code_replaces_the_old_one_and_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let (workflow, _) = open(dir.path());
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let mut phones = phones(&mut rng);
    let opened = workflow.open_case(&doctor(), "HN-1", NOW).unwrap();
    let id = opened.case.case_id;
    for who in [admin(), worker("north")] {
        assert_eq!(
            code_of(workflow.reissue_code(&who, id, NOW)),
            ErrorCode::ForbiddenRole
        );
    }
    assert_eq!(
        code_of(workflow.reissue_code(&doctor(), id + 1, NOW)),
        ErrorCode::NotFound
    );
    // A day later the first code has expired; the new one runs a day from now.
    let later = NOW + 86_400;
    let reissued = workflow.reissue_code(&doctor(), id, later).unwrap();
    assert_eq!(reissued.case.case_id, id);
    assert_eq!(reissued.case.code_expires_at, later + 86_400);
    assert_ne!(reissued.code, opened.code);
    let old = upload(&mut phones[0], &opened.code, &mut rng);
    assert_eq!(
        code_of(workflow.accept_upload(&old.to_bytes().unwrap(), CLIENT, later)),
        ErrorCode::DeclarationCodeInvalid
    );
    let new = upload(&mut phones[0], &reissued.code, &mut rng);
    let accepted = workflow.accept_upload(&new.to_bytes().unwrap(), CLIENT, later + 1);
    assert_eq!(accepted.unwrap().real(), Some(id));
    let digest = workflow.store().digest().unwrap();
    assert_eq!(
        code_of(workflow.reissue_code(&doctor(), id, later + 2)),
        ErrorCode::DeclarationCodeUsed
    );
    assert_eq!(workflow.store().digest().unwrap(), digest);
    let filter = crate::domain::store::AuditFilter {
        action: Some("code_reissued".into()),
        limit: 10,
        ..Default::default()
    };
    let entries = workflow.store().audit(&filter).unwrap();
    assert_eq!(
        entries.len(),
        1,
        "only the reissue that happened: {entries:?}"
    );
    assert_eq!(entries[0].account, "doctor");
    assert_eq!(entries[0].object, format!("case {id}"));
}

#[test]
fn a_sealed_code_opens_only_for_its_session_and_case_and_for_ten_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let (workflow, _) = open(dir.path());
    let code = "ABCD-EFGH-JKMN-P";
    let sealed = workflow.seal_code("token-a", 7, code, NOW);
    assert!(
        !sealed.contains("ABCD"),
        "the code is not readable in the cookie"
    );
    assert_ne!(
        sealed,
        workflow.seal_code("token-a", 7, code, NOW),
        "a fresh nonce each time"
    );
    assert_eq!(
        workflow.open_code("token-a", 7, &sealed, NOW).as_deref(),
        Some(code)
    );
    let last = NOW + super::CODE_SHOWN_SECONDS - 1;
    assert_eq!(
        workflow.open_code("token-a", 7, &sealed, last).as_deref(),
        Some(code)
    );
    assert_eq!(workflow.open_code("token-a", 7, &sealed, last + 1), None);
    assert_eq!(workflow.open_code("token-b", 7, &sealed, NOW), None);
    assert_eq!(workflow.open_code("token-a", 8, &sealed, NOW), None);
    let mut tampered = sealed.clone().into_bytes();
    let last_hex = tampered.len() - 1;
    tampered[last_hex] = if tampered[last_hex] == b'0' {
        b'1'
    } else {
        b'0'
    };
    let tampered = String::from_utf8(tampered).unwrap();
    assert_eq!(workflow.open_code("token-a", 7, &tampered, NOW), None);
    for junk in ["", "zz", "00", &sealed[..30]] {
        assert_eq!(workflow.open_code("token-a", 7, junk, NOW), None, "{junk}");
    }
}
