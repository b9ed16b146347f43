//! One suite of [`Store`] behaviour, run against every backend.
//!
//! Each `pub(crate) fn` here is one behaviour of the [`Store`] contract (the trait's
//! documentation and the shared record rules in `store.rs`), written against the trait only, so
//! that every backend is held to the same rules. A backend joins with one line in its test
//! module, naming the storage a store lives in and how to open a store on it:
//!
//! ```text
//! store_conformance_tests!(conformance, Harness::new(MemoryStore::new(), MemoryStore::clone));
//! ```
//!
//! which expands to one `#[test]` per suite function. A suite function missing from the macro's
//! list is never called, which the `dead_code` lint (denied in CI) reports.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::Barrier;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::domain::password::PasswordHash;
use crate::domain::store::{
    Account, AuditEntry, AuditFilter, BatchRecord, CLAIM_RETENTION_SECONDS,
    CONTACT_RETENTION_SECONDS, CaseFilter, CaseRecord, CaseScan, CaseStatus, ClaimRecord,
    CodeRefusal, ConfirmationRecord, ContactHash, F1RowRecord, FollowUp, FollowUpStatus,
    KEY_RETENTION_INTERVALS, RegionBatch, Retention, Role, Seconds, SessionRecord, Store,
    StoreCounts, StoreError, StoredKey, UnitRecord,
};

/// A store under test and the storage it lives in (a directory, a database, shared memory),
/// which outlives the store so that it can be closed and opened again on the same records.
pub(crate) struct Harness<S, G> {
    /// The open store.
    pub(crate) store: S,
    storage: G,
    open: fn(&G) -> S,
}

impl<S: Store, G> Harness<S, G> {
    /// Open a store on `storage` with `open`.
    pub(crate) fn new(storage: G, open: fn(&G) -> S) -> Self {
        Harness {
            store: open(&storage),
            storage,
            open,
        }
    }

    /// Close the store, then open another on the same storage (the first is dropped before:
    /// an embedded database locks its files).
    pub(crate) fn reopen(self) -> Self {
        let Harness {
            store,
            storage,
            open,
        } = self;
        drop(store);
        Harness::new(storage, open)
    }
}

/// One `#[test]` per suite function, in a module `$backend`, each on fresh stores made by
/// `$harness` (an expression giving a [`Harness`], evaluated once per store a test needs).
///
/// A backend that needs an outside service (a database server) adds `when $ready`: each test
/// returns at once, having run nothing, when `$ready` is false (the expression prints why).
macro_rules! store_conformance_tests {
    ($backend:ident, $harness:expr) => {
        $crate::domain::store::conformance::store_conformance_tests!(
            $backend, $harness, when true
        );
    };
    ($backend:ident, $harness:expr, when $ready:expr) => {
        $crate::domain::store::conformance::store_conformance_tests!(
            @tests $backend, $ready, $harness,
            a_new_store_is_empty,
            the_secret_is_drawn_once_per_name,
            parallel_callers_get_one_secret,
            accounts_are_unique_by_name_and_updated_in_place,
            units_are_unique_by_name_listed_by_name_and_kept,
            sessions_are_kept_found_ended_and_expired,
            sessions_of_one_account_end_together_but_the_kept_one,
            cases_are_numbered_from_one_and_kept_as_opened,
            case_scans_read_filtered_stretches_in_either_direction,
            parallel_openings_get_distinct_case_ids,
            a_code_is_consumed_by_exactly_one_of_parallel_uploads,
            an_upload_repeated_with_its_used_code_is_known_by_its_digest,
            expired_and_unknown_codes_are_refused_without_a_trace,
            a_reissued_code_replaces_the_old_one_until_the_upload,
            parallel_reissues_leave_one_code_and_an_upload_sees_old_or_new,
            trace_is_refused_before_the_upload_and_changes_nothing,
            record_batch_publishes_its_cases_and_only_the_next_batch,
            a_run_publishes_each_case_in_each_of_its_regions_or_nothing,
            retention_erases_contact_details_then_rows_then_cases,
            the_audit_log_is_appended_numbered_filtered_and_outside_the_digest,
            a_taken_batch_id_is_never_given_again,
            reports_number_rows_per_case_and_refuse_duplicates,
            a_claimed_sighting_is_refused_in_a_second_report_and_purged_with_age,
            parallel_reports_of_one_case_get_rows_one_to_eight,
            f1_rows_of_districts_are_ordered_by_district_case_and_row,
            follow_ups_replace_only_their_row,
            purge_erases_what_retention_no_longer_allows,
            a_purge_that_erases_nothing_changes_nothing,
            counts_count_each_kind_of_record,
            equal_contents_have_equal_digests,
            the_largest_records_still_decode,
            everything_survives_a_reopen,
        );
    };
    (@tests $backend:ident, $ready:expr, $harness:expr, $($test:ident),+ $(,)?) => {
        /// The store conformance suite (`store::conformance`) on this backend.
        mod $backend {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $test() {
                    if !$ready {
                        return;
                    }
                    $crate::domain::store::conformance::$test(|| $harness);
                }
            )+
        }
    };
}
pub(crate) use store_conformance_tests;

pub(crate) const NOW: Seconds = 1_700_000_000;

pub(crate) fn case(reference: &str) -> CaseRecord {
    CaseRecord {
        case_id: 0,
        reference: reference.into(),
        opened_by: "doctor".into(),
        facility: "bv-1".into(),
        province: 1,
        opened_at: NOW,
        code_expires_at: NOW + 86_400,
        status: CaseStatus::AwaitingUpload,
        f1_rows: 0,
    }
}

pub(crate) fn code(n: u8) -> [u8; 32] {
    [n; 32]
}

/// The digest of the upload accepted with `code(n)`.
pub(crate) fn digest_of(n: u8) -> [u8; 32] {
    [n ^ 0xa5; 32]
}

pub(crate) fn key(n: u8, rolling_start: u32, rolling_period: u32) -> StoredKey {
    StoredKey {
        key: [n; 16],
        rolling_start,
        rolling_period,
        published: [0xff; 18],
    }
}

pub(crate) fn row(case_id: u64, district: u32, report: u8) -> F1RowRecord {
    F1RowRecord {
        case_id,
        row_no: 0,
        report_id: [report; 16],
        district,
        received_at: NOW,
        first_contact: NOW - 3600,
        last_contact: NOW - 1800,
        duration_seconds: 1800,
        min_attenuation_db: 50,
        weighted_minutes: 30,
        confirmation: ConfirmationRecord::ConfirmedBothWays,
        sealed_contact: vec![report; 176],
        follow_up: FollowUp {
            status: FollowUpStatus::New,
            updated_at: NOW,
            updated_by: String::new(),
        },
    }
}

pub(crate) fn account(name: &str) -> Account {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    Account {
        username: name.into(),
        role: Role::TreatmentFacility {
            facility: "bv-1".into(),
        },
        password: PasswordHash::with_iterations(
            "correct horse battery staple",
            NonZeroU32::MIN,
            &mut rng,
        )
        .unwrap(),
        created_at: NOW,
        disabled: false,
        must_change_password: false,
    }
}

fn session(n: u8, expires_at: Seconds) -> SessionRecord {
    SessionRecord {
        token_hash: [n; 32],
        username: "admin".into(),
        created_at: NOW - 7200,
        expires_at,
    }
}

pub(crate) fn batch(batch_id: u64, cases: Vec<u64>) -> BatchRecord {
    BatchRecord {
        batch_id,
        region: 0,
        created_at: NOW + 300,
        first_interval: 100,
        last_interval: 243,
        entry_count: 1024,
        published_rpis: 288,
        byte_len: 4096,
        sha256: [batch_id as u8; 32],
        cases,
    }
}

fn follow_up(status: FollowUpStatus, at: Seconds) -> FollowUp {
    FollowUp {
        status,
        updated_at: at,
        updated_by: "unit-worker".into(),
    }
}

/// Open a case with `code(n)` and accept its upload: returns the case id.
pub(crate) fn uploaded_case(store: &dyn Store, n: u8) -> u64 {
    store
        .open_case(&case(&format!("ref-{n}")), &code(n))
        .unwrap();
    store
        .accept_upload(
            &code(n),
            &digest_of(n),
            NOW + 60,
            &[key(n, 100, 144)],
            &[([n; 16], NOW)],
        )
        .unwrap()
}

/// The stored daily keys of a case whose trace was requested.
fn keys_to_publish(store: &dyn Store, case_id: u64) -> Vec<StoredKey> {
    let uploads = store.uploads_to_publish().unwrap();
    let (upload, _) = uploads.iter().find(|(u, _)| u.case_id == case_id).unwrap();
    upload.keys.clone()
}

/// `op` is refused with an error that `expected` accepts, and leaves every record as it was.
fn assert_refused<T: std::fmt::Debug>(
    store: &dyn Store,
    op: impl FnOnce() -> Result<T, StoreError>,
    expected: impl Fn(&StoreError) -> bool,
) {
    let before = store.digest().unwrap();
    match op() {
        Err(e) if expected(&e) => {}
        other => panic!("unexpected outcome: {other:?}"),
    }
    assert_eq!(
        store.digest().unwrap(),
        before,
        "a refusal changed the store"
    );
}

/// Everything a fresh store lists is empty, and its counters start at 1.
pub(crate) fn a_new_store_is_empty<S: Store, G>(new: impl Fn() -> Harness<S, G>) {
    let h = new();
    let store = &h.store;
    assert_eq!(store.counts().unwrap(), StoreCounts::default());
    assert!(store.accounts().unwrap().is_empty());
    assert_eq!(store.account("admin").unwrap(), None);
    assert_eq!(store.session(&[1; 32]).unwrap(), None);
    assert!(store.cases().unwrap().is_empty());
    assert_eq!(store.case(1).unwrap(), None);
    assert!(store.uploads_to_publish().unwrap().is_empty());
    assert!(store.published_uploads().unwrap().is_empty());
    assert!(store.contact_hashes().unwrap().is_empty());
    assert_eq!(store.next_batch_id().unwrap(), 1);
    assert!(store.batches().unwrap().is_empty());
    assert!(!store.report_seen(&[1; 16]).unwrap());
    assert!(store.f1_rows(1).unwrap().is_empty());
    assert!(store.f1_rows_of_districts(&[0, 1]).unwrap().is_empty());
    assert_eq!(store.f1_row(1, 1).unwrap(), None);
    assert_eq!(store.purge(NOW, &Retention::default()).unwrap(), 0);
    assert_eq!(store.open_case(&case("first"), &code(1)).unwrap(), 1);
}

/// A secret is drawn the first time its name is asked for; later calls get the same bytes
/// whatever they would draw, and each name has its own.
pub(crate) fn the_secret_is_drawn_once_per_name<S: Store, G>(new: impl Fn() -> Harness<S, G>) {
    let h = new();
    let store = &h.store;
    assert_eq!(store.secret("codes", &mut || [7; 32]).unwrap(), [7; 32]);
    assert_eq!(store.secret("codes", &mut || [8; 32]).unwrap(), [7; 32]);
    assert_eq!(store.secret("tokens", &mut || [9; 32]).unwrap(), [9; 32]);
    assert_eq!(store.secret("codes", &mut || [10; 32]).unwrap(), [7; 32]);
    assert_eq!(store.secret("tokens", &mut || [11; 32]).unwrap(), [9; 32]);
}

/// Callers racing for a secret not yet drawn all get the same bytes: one of the drawn ones.
pub(crate) fn parallel_callers_get_one_secret<S: Store, G>(new: impl Fn() -> Harness<S, G>) {
    let h = new();
    let store = &h.store;
    let barrier = Barrier::new(8);
    let secrets: Vec<[u8; 32]> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..=8u8)
            .map(|i| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    store.secret("race", &mut || [i; 32]).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let distinct: BTreeSet<[u8; 32]> = secrets.iter().copied().collect();
    assert_eq!(distinct.len(), 1, "{secrets:?}");
    assert!((1..=8).contains(&secrets[0][0]), "{secrets:?}");
    assert_eq!(store.secret("race", &mut || [0; 32]).unwrap(), secrets[0]);
}

/// Accounts are listed by name; a taken name is refused and leaves its account as it was;
/// update replaces an existing account only.
fn unit(name: &str, districts: Vec<u32>, key: u8) -> UnitRecord {
    UnitRecord {
        name: name.into(),
        districts,
        public_key: [key; 32],
        registered_at: NOW,
        registered_by: "admin".into(),
    }
}

/// Registered units: a name is taken once (a second unit of that name changes nothing),
/// they are listed by name, they count in the digest and they survive a reopen.
pub(crate) fn units_are_unique_by_name_listed_by_name_and_kept<S: Store, G>(
    new: impl Fn() -> Harness<S, G>,
) {
    let mut h = new();
    assert!(h.store.units().unwrap().is_empty());
    let empty = h.store.digest().unwrap();
    let (south, north) = (unit("south", vec![20, 21], 2), unit("north", vec![10], 1));
    h.store.insert_unit(&south).unwrap();
    h.store.insert_unit(&north).unwrap();
    let with_units = h.store.digest().unwrap();
    assert_ne!(with_units, empty);
    assert_refused(
        &h.store,
        || h.store.insert_unit(&unit("north", vec![99], 9)),
        |e| matches!(e, StoreError::UnitExists),
    );
    assert_eq!(h.store.units().unwrap(), [north.clone(), south.clone()]);
    assert_eq!(h.store.counts().unwrap(), StoreCounts::default());
    h = h.reopen();
    assert_eq!(h.store.units().unwrap(), [north, south]);
    assert_eq!(h.store.digest().unwrap(), with_units);
}

pub(crate) fn accounts_are_unique_by_name_and_updated_in_place<S: Store, G>(
    new: impl Fn() -> Harness<S, G>,
) {
    let h = new();
    let store = &h.store;
    let mut unit = account("unit-7");
    unit.role = Role::PreventiveUnit {
        unit: "District 7".into(),
    };
    let mut oversight = account("hanoi-doh");
    oversight.role = Role::Oversight { province: 1 };
    oversight.must_change_password = true;
    for a in [
        account("doctor"),
        unit.clone(),
        account("admin"),
        oversight.clone(),
    ] {
        store.insert_account(&a).unwrap();
    }
    let names: Vec<String> = store
        .accounts()
        .unwrap()
        .into_iter()
        .map(|a| a.username)
        .collect();
    assert_eq!(names, ["admin", "doctor", "hanoi-doh", "unit-7"]);
    assert_eq!(store.account("unit-7").unwrap(), Some(unit.clone()));
    assert_eq!(store.account("hanoi-doh").unwrap(), Some(oversight));
    assert_eq!(store.account("nobody").unwrap(), None);

    let mut impostor = account("doctor");
    impostor.role = Role::Admin;
    assert_refused(
        store,
        || store.insert_account(&impostor),
        |e| matches!(e, StoreError::AccountExists),
    );
    assert_eq!(store.account("doctor").unwrap(), Some(account("doctor")));

    let mut disabled = account("doctor");
    disabled.disabled = true;
    store.update_account(&disabled).unwrap();
    assert_eq!(store.account("doctor").unwrap(), Some(disabled));
    assert_eq!(store.account("unit-7").unwrap(), Some(unit));
    assert!(
        store
            .account("admin")
            .unwrap()
            .unwrap()
            .password
            .verify("correct horse battery staple")
    );

    assert_refused(
        store,
        || store.update_account(&account("nobody")),
        |e| matches!(e, StoreError::NoSuchAccount),
    );
    assert_eq!(store.account("nobody").unwrap(), None);
    assert_eq!(store.counts().unwrap().accounts, 4);
}

/// A session is found by its token hash until it is deleted or a purge finds it expired.
pub(crate) fn sessions_are_kept_found_ended_and_expired<S: Store, G>(
    new: impl Fn() -> Harness<S, G>,
) {
    let h = new();
    let store = &h.store;
    store.insert_session(&session(1, NOW + 3600)).unwrap();
    store.insert_session(&session(2, NOW + 60)).unwrap();
    assert_eq!(
        store.session(&[1; 32]).unwrap(),
        Some(session(1, NOW + 3600))
    );
    assert_eq!(store.session(&[2; 32]).unwrap(), Some(session(2, NOW + 60)));
    assert_eq!(store.session(&[3; 32]).unwrap(), None);
    assert_eq!(store.counts().unwrap().sessions, 2);

    store.delete_session(&[1; 32]).unwrap();
    assert_eq!(store.session(&[1; 32]).unwrap(), None);
    assert_eq!(store.session(&[2; 32]).unwrap(), Some(session(2, NOW + 60)));
    // Ending a session that is not there is harmless.
    store.delete_session(&[1; 32]).unwrap();
    store.delete_session(&[3; 32]).unwrap();
    assert_eq!(store.counts().unwrap().sessions, 1);

    // A session is valid until its expiry: a purge one second before keeps it.
    assert_eq!(store.purge(NOW + 59, &Retention::default()).unwrap(), 0);
    assert!(store.session(&[2; 32]).unwrap().is_some());
    assert_eq!(store.purge(NOW + 60, &Retention::default()).unwrap(), 1);
    assert_eq!(store.session(&[2; 32]).unwrap(), None);
    assert_eq!(store.counts().unwrap().sessions, 0);
}

/// Ending the sessions of one account (after its password changed) ends all of them but the
/// one kept, and no session of another account; ending none changes nothing.
pub(crate) fn sessions_of_one_account_end_together_but_the_kept_one<S: Store, G>(
    new: impl Fn() -> Harness<S, G>,
) {
    let h = new();
    let store = &h.store;
    let of = |n: u8, username: &str| SessionRecord {
        username: username.into(),
        ..session(n, NOW + 3600)
    };
    for (n, name) in [(1, "alice"), (2, "alice"), (3, "alice"), (4, "bob")] {
        store.insert_session(&of(n, name)).unwrap();
    }
    assert_eq!(
        store.delete_sessions_of("alice", Some(&[2; 32])).unwrap(),
        2
    );
    assert_eq!(store.session(&[1; 32]).unwrap(), None);
    assert_eq!(store.session(&[2; 32]).unwrap(), Some(of(2, "alice")));
    assert_eq!(store.session(&[3; 32]).unwrap(), None);
    assert_eq!(store.session(&[4; 32]).unwrap(), Some(of(4, "bob")));
    let digest = store.digest().unwrap();
    assert_eq!(store.delete_sessions_of("carol", None).unwrap(), 0);
    assert_eq!(store.digest().unwrap(), digest);
    assert_eq!(store.delete_sessions_of("bob", None).unwrap(), 1);
    assert_eq!(store.counts().unwrap().sessions, 1);
    let h = h.reopen();
    assert_eq!(h.store.session(&[2; 32]).unwrap(), Some(of(2, "alice")));
    assert_eq!(h.store.session(&[1; 32]).unwrap(), None);
}

/// The digest of an accepted upload is kept with its code: the same digest finds the case
/// again, another digest, another code or a refused upload finds nothing.
pub(crate) fn an_upload_repeated_with_its_used_code_is_known_by_its_digest<S: Store, G>(
    new: impl Fn() -> Harness<S, G>,
) {
    let h = new();
    let store = &h.store;
    let a = uploaded_case(store, 1);
    store.open_case(&case("two"), &code(2)).unwrap();
    assert_eq!(
        store.repeated_upload(&code(1), &digest_of(1)).unwrap(),
        Some(a)
    );
    assert_eq!(
        store.repeated_upload(&code(1), &digest_of(2)).unwrap(),
        None
    );
    // Code 2 opened a case but no upload used it; code 3 opens nothing.
    assert_eq!(
        store.repeated_upload(&code(2), &digest_of(2)).unwrap(),
        None
    );
    assert_eq!(
        store.repeated_upload(&code(3), &digest_of(3)).unwrap(),
        None
    );
    // A second upload with the used code is refused and does not replace the digest.
    assert_refused(
        store,
        || store.accept_upload(&code(1), &digest_of(9), NOW + 70, &[], &[]),
        |e| matches!(e, StoreError::Code(CodeRefusal::Used)),
    );
    assert_eq!(
        store.repeated_upload(&code(1), &digest_of(9)).unwrap(),
        None
    );
    let h = h.reopen();
    assert_eq!(
        h.store.repeated_upload(&code(1), &digest_of(1)).unwrap(),
        Some(a)
    );
}

pub(crate) fn claim(rpi: u8, id: u8, case_id: u64, one_sided: bool) -> ClaimRecord {
    ClaimRecord {
        rpi: [rpi; 16],
        claim_id: [id; 32],
        case_id,
        one_sided,
        received_at: NOW,
    }
}

/// A report's claims are kept with it and listed per RPI; a report that repeats a claim (of
/// an earlier report, or twice in itself) is refused whole and changes nothing; claims go
/// with age, after [`CLAIM_RETENTION_SECONDS`], and survive a reopen until then.
pub(crate) fn a_claimed_sighting_is_refused_in_a_second_report_and_purged_with_age<S: Store, G>(
    new: impl Fn() -> Harness<S, G>,
) {
    let h = new();
    let store = &h.store;
    let a = uploaded_case(store, 1);
    let first = [claim(7, 1, a, true), claim(8, 1, a, true)];
    store
        .record_report(&[1; 16], NOW, vec![row(a, 1, 1)], &first)
        .unwrap();
    // Another sighting of RPI 7 is another claim.
    store
        .record_report(&[2; 16], NOW, vec![row(a, 1, 2)], &[claim(7, 2, a, false)])
        .unwrap();
    assert_eq!(
        store.claims_of_rpi(&[7; 16]).unwrap(),
        vec![claim(7, 1, a, true), claim(7, 2, a, false)]
    );
    assert_eq!(store.claims_of_rpi(&[9; 16]).unwrap(), vec![]);
    // The same sighting again, with a new report id: refused, nothing kept.
    assert_refused(
        store,
        || store.record_report(&[3; 16], NOW, vec![row(a, 1, 3)], &[claim(8, 1, a, true)]),
        |e| matches!(e, StoreError::ClaimedBefore),
    );
    assert_refused(
        store,
        || {
            let twice = [claim(9, 1, a, true), claim(9, 1, a, true)];
            store.record_report(&[3; 16], NOW, vec![row(a, 1, 3)], &twice)
        },
        |e| matches!(e, StoreError::ClaimedBefore),
    );
    assert!(!store.report_seen(&[3; 16]).unwrap());
    let h = h.reopen();
    let store = &h.store;
    assert_eq!(
        store.claims_of_rpi(&[8; 16]).unwrap(),
        vec![first[1].clone()]
    );
    store
        .purge(NOW + CLAIM_RETENTION_SECONDS - 1, &Retention::default())
        .unwrap();
    assert_eq!(store.claims_of_rpi(&[7; 16]).unwrap().len(), 2);
    store
        .purge(NOW + CLAIM_RETENTION_SECONDS, &Retention::default())
        .unwrap();
    assert_eq!(store.claims_of_rpi(&[7; 16]).unwrap(), vec![]);
    assert_eq!(store.claims_of_rpi(&[8; 16]).unwrap(), vec![]);
}

/// Case ids are assigned from 1 up whatever the caller put in `case_id`; a case is kept as
/// opened; a declaration code hash already in use is refused and changes nothing.
/// [`Store::scan_cases`] against the same filter applied to every case: for narrow and broad
/// filters, from either end or from a case, in both directions, the admitted cases in order
/// and no more than asked (more cases than a backend reads at a time, so that a narrow
/// filter needs several reads).
pub(crate) fn case_scans_read_filtered_stretches_in_either_direction<S: Store, G>(
    new: impl Fn() -> Harness<S, G>,
) {
    let h = new();
    let store = &h.store;
    const CASES: u64 = 300;
    for i in 1..=CASES {
        let record = CaseRecord {
            facility: if i % 3 == 0 { "bv-2" } else { "bv-1" }.into(),
            province: if i % 3 == 0 { 79 } else { 1 },
            opened_at: NOW + i * 60,
            reference: format!("HN-{i}"),
            ..case("")
        };
        let n = u8::try_from(i % 256).unwrap();
        let mut hash = code(n);
        hash[0] = u8::try_from(i / 256).unwrap();
        store.open_case(&record, &hash).unwrap();
        if i % 7 == 0 {
            store
                .accept_upload(&hash, &digest_of(n), NOW, &[], &[])
                .unwrap();
        }
    }
    let all = store.cases().unwrap();
    assert_eq!(all.len() as u64, CASES);
    let filters = [
        CaseFilter::default(),
        CaseFilter {
            facility: Some("bv-2".into()),
            status: Some("upload_received"),
            ..CaseFilter::default()
        },
        CaseFilter {
            province: Some(1),
            opened_from: Some(NOW + 100 * 60),
            opened_to: Some(NOW + 120 * 60),
            ..CaseFilter::default()
        },
        CaseFilter {
            search: Some("hn-29".into()),
            ..CaseFilter::default()
        },
        CaseFilter {
            search: Some("#42".into()),
            ..CaseFilter::default()
        },
        CaseFilter {
            facility: Some("nowhere".into()),
            ..CaseFilter::default()
        },
    ];
    for filter in &filters {
        for ascending in [false, true] {
            for from in [None, Some(1), Some(150), Some(CASES + 5)] {
                for limit in [1, 7, 400] {
                    let scan = CaseScan {
                        filter: filter.clone(),
                        from,
                        ascending,
                        limit,
                    };
                    let mut expected: Vec<u64> = all
                        .iter()
                        .filter(|c| filter.admits(c))
                        .map(|c| c.case_id)
                        .filter(|&id| match (from, ascending) {
                            (None, _) => true,
                            (Some(f), true) => id > f,
                            (Some(f), false) => id < f,
                        })
                        .collect();
                    if !ascending {
                        expected.reverse();
                    }
                    expected.truncate(limit);
                    let got: Vec<u64> = store
                        .scan_cases(&scan)
                        .unwrap()
                        .iter()
                        .map(|c| c.case_id)
                        .collect();
                    assert_eq!(got, expected, "{scan:?}");
                }
            }
        }
    }
    // The filters mean what they say.
    let one = |filter: CaseFilter| {
        store
            .scan_cases(&CaseScan {
                filter,
                from: None,
                ascending: true,
                limit: 1000,
            })
            .unwrap()
    };
    let narrow = one(filters[1].clone());
    assert!(!narrow.is_empty());
    assert!(narrow.iter().all(|c| c.case_id % 21 == 0));
    assert_eq!(one(filters[4].clone()).len(), 1);
    assert_eq!(one(filters[3].clone()).len(), 11); // HN-29 and HN-290 to HN-299
}

pub(crate) fn cases_are_numbered_from_one_and_kept_as_opened<S: Store, G>(
    new: impl Fn() -> Harness<S, G>,
) {
    let h = new();
    let store = &h.store;
    let mut first = case("HN-1");
    first.case_id = 42;
    assert_eq!(store.open_case(&first, &code(1)).unwrap(), 1);
    assert_eq!(
        store.case(1).unwrap(),
        Some(CaseRecord {
            case_id: 1,
            ..case("HN-1")
        })
    );
    assert_eq!(store.case(42).unwrap(), None);

    // Refused as a backend failure: the trait has no error of its own for it.
    assert_refused(
        store,
        || store.open_case(&case("collision"), &code(1)),
        |e| matches!(e, StoreError::Backend(_)),
    );
    assert_eq!(store.counts().unwrap().cases, 1);
    // The refused case took no id, and the first code still opens the first case.
    assert_eq!(store.open_case(&case("HN-2"), &code(2)).unwrap(), 2);
    assert_eq!(
        store
            .cases()
            .unwrap()
            .iter()
            .map(|c| (c.case_id, c.reference.as_str()))
            .collect::<Vec<_>>(),
        [(1, "HN-1"), (2, "HN-2")]
    );
    assert_eq!(
        store
            .accept_upload(&code(1), &digest_of(1), NOW, &[], &[])
            .unwrap(),
        1
    );
    assert_eq!(
        store.case(2).unwrap().unwrap().status,
        CaseStatus::AwaitingUpload
    );
}

/// Cases opened at once get the ids 1 to 8, each its own.
pub(crate) fn parallel_openings_get_distinct_case_ids<S: Store, G>(
    new: impl Fn() -> Harness<S, G>,
) {
    let h = new();
    let store = &h.store;
    let barrier = Barrier::new(8);
    let opened: Vec<(u8, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..=8u8)
            .map(|i| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    (
                        i,
                        store
                            .open_case(&case(&format!("HN-{i}")), &code(i))
                            .unwrap(),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ids: BTreeSet<u64> = opened.iter().map(|&(_, id)| id).collect();
    assert_eq!(ids, (1..=8).collect::<BTreeSet<u64>>(), "{opened:?}");
    for (i, case_id) in opened {
        assert_eq!(
            store.case(case_id).unwrap().unwrap().reference,
            format!("HN-{i}")
        );
        // Each code opens the case it was issued with.
        assert_eq!(
            store
                .accept_upload(&code(i), &digest_of(i), NOW, &[], &[])
                .unwrap(),
            case_id
        );
    }
}

/// Of eight uploads racing with one code, exactly one is accepted, and the store holds what
/// that upload alone would have left.
pub(crate) fn a_code_is_consumed_by_exactly_one_of_parallel_uploads<S: Store, G>(
    new: impl Fn() -> Harness<S, G>,
) {
    let h = new();
    let store = &h.store;
    let case_id = store.open_case(&case("HN-1"), &code(1)).unwrap();
    assert_eq!(case_id, 1);
    let barrier = Barrier::new(8);
    let results: Vec<Result<u64, StoreError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8u8)
            .map(|i| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    store.accept_upload(
                        &code(1),
                        &digest_of(1),
                        NOW + 60 + u64::from(i),
                        &[key(i, 100, 144)],
                        &[([i; 16], NOW + u64::from(i))],
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<usize> = (0..8).filter(|&i| results[i].is_ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for r in &results {
        match r {
            Ok(id) => assert_eq!(*id, case_id),
            Err(StoreError::Code(CodeRefusal::Used)) => {}
            Err(e) => panic!("unexpected refusal: {e}"),
        }
    }
    // The one upload kept is the winner's, and the case says when it came.
    let winner = winners[0] as u8;
    let at = NOW + 60 + u64::from(winner);
    let winners_keys = [key(winner, 100, 144)];
    let winners_hashes = [([winner; 16], NOW + u64::from(winner))];
    assert_eq!(
        store.contact_hashes().unwrap(),
        vec![(case_id, winners_hashes.to_vec())]
    );
    assert_eq!(
        store.case(case_id).unwrap().unwrap().status,
        CaseStatus::UploadReceived { at }
    );
    assert_eq!(store.counts().unwrap().uploads, 1);
    // Every record (the code marked used at the winner's time among them) is what the winner's
    // upload alone leaves in a store of the same backend: the losers wrote nothing.
    let alone = new();
    alone.store.open_case(&case("HN-1"), &code(1)).unwrap();
    alone
        .store
        .accept_upload(&code(1), &digest_of(1), at, &winners_keys, &winners_hashes)
        .unwrap();
    assert_eq!(store.digest().unwrap(), alone.store.digest().unwrap());
    // The code stays used, and the keys kept are the winner's.
    assert_refused(
        store,
        || store.accept_upload(&code(1), &digest_of(1), NOW + 61, &[], &[]),
        |e| matches!(e, StoreError::Code(CodeRefusal::Used)),
    );
    store
        .request_trace(case_id, "doctor", &[0], NOW + 100)
        .unwrap();
    let uploads = store.uploads_to_publish().unwrap();
    assert_eq!(uploads.len(), 1);
    assert_eq!(
        (uploads[0].0.case_id, uploads[0].0.received_at),
        (case_id, at)
    );
    assert_eq!(uploads[0].0.keys, winners_keys);
    assert_eq!(uploads[0].1, vec![0]);
}

/// A code is refused from its expiry on, an unknown code always; neither changes anything. A
/// used code is refused as used, even once expired.
/// A reissued code replaces every code of its case: the old one is then unknown, the new one
/// opens the case until its own expiry; once the upload came, reissuing is refused and
/// changes nothing; another case's code is left alone.
pub(crate) fn a_reissued_code_replaces_the_old_one_until_the_upload<S: Store, G>(
    new: impl Fn() -> Harness<S, G>,
) {
    let h = new();
    let store = &h.store;
    let case_id = store.open_case(&case("HN-1"), &code(1)).unwrap();
    let other = store.open_case(&case("HN-2"), &code(9)).unwrap();
    // Even past its old code's expiry (the patient came back late), the case gets a new one.
    let reissued = store
        .reissue_code(case_id, &code(2), NOW + 200_000)
        .unwrap();
    assert_eq!(reissued.code_expires_at, NOW + 200_000);
    assert_eq!(reissued.status, CaseStatus::AwaitingUpload);
    assert_eq!(store.case(case_id).unwrap(), Some(reissued));
    assert_eq!(store.counts().unwrap().cases, 2);
    assert_refused(
        store,
        || store.reissue_code(case_id, &code(9), NOW + 300_000),
        |e| matches!(e, StoreError::Backend(m) if m.contains("collision")),
    );
    assert_refused(
        store,
        || store.reissue_code(77, &code(3), NOW + 300_000),
        |e| matches!(e, StoreError::NoSuchCase(77)),
    );
    let upload = |n: u8, at: Seconds| {
        store.accept_upload(&code(n), &digest_of(n), at, &[key(n, 100, 144)], &[])
    };
    assert_refused(
        store,
        || upload(1, NOW + 60),
        |e| matches!(e, StoreError::Code(CodeRefusal::Unknown)),
    );
    assert_eq!(upload(2, NOW + 90_000).unwrap(), case_id);
    assert_refused(
        store,
        || store.reissue_code(case_id, &code(3), NOW + 300_000),
        |e| {
            matches!(
                e,
                StoreError::WrongCaseState {
                    case_id: 1,
                    status: CaseStatus::UploadReceived { .. }
                }
            )
        },
    );
    assert_refused(
        store,
        || upload(3, NOW + 90_000),
        |e| matches!(e, StoreError::Code(CodeRefusal::Unknown)),
    );
    assert_eq!(upload(9, NOW + 60).unwrap(), other);
    let h = h.reopen();
    assert_eq!(
        h.store.case(case_id).unwrap().unwrap().code_expires_at,
        NOW + 200_000
    );
}

/// Parallel reissues of one case leave exactly one live code (one of theirs); an upload with
/// the first code racing them either wins (and every reissue is refused) or is refused as
/// unknown.
pub(crate) fn parallel_reissues_leave_one_code_and_an_upload_sees_old_or_new<S: Store, G>(
    new: impl Fn() -> Harness<S, G>,
) {
    let h = new();
    let store = &h.store;
    let case_id = store.open_case(&case("HN-1"), &code(1)).unwrap();
    let barrier = Barrier::new(5);
    let (reissues, upload) = std::thread::scope(|s| {
        let reissues: Vec<_> = (2..=5u8)
            .map(|n| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    store.reissue_code(case_id, &code(n), NOW + 1000 + u64::from(n))
                })
            })
            .collect();
        let upload = s.spawn(|| {
            barrier.wait();
            store.accept_upload(&code(1), &digest_of(1), NOW + 60, &[key(1, 100, 144)], &[])
        });
        let reissues: Vec<_> = reissues.into_iter().map(|h| h.join().unwrap()).collect();
        (reissues, upload.join().unwrap())
    });
    match upload {
        Ok(id) => {
            assert_eq!(id, case_id);
            for r in &reissues {
                assert!(matches!(r, Err(StoreError::WrongCaseState { .. })), "{r:?}");
            }
        }
        Err(StoreError::Code(CodeRefusal::Unknown)) => {
            assert!(reissues.iter().any(Result::is_ok), "{reissues:?}");
        }
        Err(e) => panic!("unexpected refusal: {e}"),
    }
    // Exactly one of the codes 1 to 5 opens the case now (or none, after the upload).
    let live: Vec<u8> = (1..=5u8)
        .filter(|&n| {
            store
                .accept_upload(&code(n), &digest_of(n), NOW + 70, &[key(n, 100, 144)], &[])
                .is_ok()
        })
        .collect();
    let uploaded = matches!(
        store.case(case_id).unwrap().unwrap().status,
        CaseStatus::UploadReceived { at } if at == NOW + 60
    );
    if uploaded {
        assert!(live.is_empty(), "{live:?}");
    } else {
        assert_eq!(live.len(), 1, "{live:?}");
        let n = live[0];
        assert!(reissues[usize::from(n - 2)].is_ok(), "{n} {reissues:?}");
        assert_eq!(
            store.case(case_id).unwrap().unwrap().code_expires_at,
            NOW + 1000 + u64::from(n)
        );
    }
}

pub(crate) fn expired_and_unknown_codes_are_refused_without_a_trace<S: Store, G>(
    new: impl Fn() -> Harness<S, G>,
) {
    let h = new();
    let store = &h.store;
    let case_id = store.open_case(&case("HN-1"), &code(1)).unwrap();
    let before = store.digest().unwrap();
    let expires = NOW + 86_400;
    for now in [expires, expires + 1] {
        let refused = store.accept_upload(&code(1), &digest_of(1), now, &[key(1, 100, 144)], &[]);
        assert!(
            matches!(refused, Err(StoreError::Code(CodeRefusal::Expired))),
            "{refused:?}"
        );
    }
    let refused = store.accept_upload(&code(2), &digest_of(2), NOW, &[key(1, 100, 144)], &[]);
    assert!(
        matches!(refused, Err(StoreError::Code(CodeRefusal::Unknown))),
        "{refused:?}"
    );
    assert_eq!(store.digest().unwrap(), before);
    assert_eq!(
        store.case(case_id).unwrap().unwrap().status,
        CaseStatus::AwaitingUpload
    );
    assert_eq!(store.counts().unwrap().uploads, 0);
    // One second before expiry the code still works; after use, it is "used", even once
    // expired.
    assert_eq!(
        store
            .accept_upload(&code(1), &digest_of(1), expires - 1, &[], &[])
            .unwrap(),
        case_id
    );
    let after = store.digest().unwrap();
    assert_ne!(after, before);
    let refused = store.accept_upload(&code(1), &digest_of(1), expires + 10, &[], &[]);
    assert!(
        matches!(refused, Err(StoreError::Code(CodeRefusal::Used))),
        "{refused:?}"
    );
    assert_eq!(store.digest().unwrap(), after);
}

/// "Trace F1" needs the upload: before it, and on an unknown case, it is refused and changes
/// nothing.
pub(crate) fn trace_is_refused_before_the_upload_and_changes_nothing<S: Store, G>(
    new: impl Fn() -> Harness<S, G>,
) {
    let h = new();
    let store = &h.store;
    let awaiting = store.open_case(&case("no upload"), &code(1)).unwrap();
    assert_refused(
        store,
        || store.request_trace(awaiting, "doctor", &[0], NOW),
        |e| {
            matches!(e, StoreError::WrongCaseState {
                case_id,
                status: CaseStatus::AwaitingUpload
            } if *case_id == awaiting)
        },
    );
    assert_refused(
        store,
        || store.request_trace(77, "doctor", &[0], NOW),
        |e| matches!(e, StoreError::NoSuchCase(77)),
    );
    assert!(store.uploads_to_publish().unwrap().is_empty());
    // Once uploaded, the same case can be traced.
    store
        .accept_upload(&code(1), &digest_of(1), NOW + 60, &[], &[])
        .unwrap();
    assert!(matches!(
        store.request_trace(awaiting, "doctor", &[0], NOW + 120).unwrap().status,
        CaseStatus::TraceRequested { at, .. } if at == NOW + 120
    ));
}

/// A case traced to several regions is published in the batch of each, all in one run: the
/// run is recorded whole or, refused (a wrong id, an unknown case, a region or an id twice), not
/// at all.
pub(crate) fn a_run_publishes_each_case_in_each_of_its_regions_or_nothing<S: Store, G>(
    new: impl Fn() -> Harness<S, G>,
) {
    let h = new();
    let store = &h.store;
    let a = uploaded_case(store, 1);
    let b = uploaded_case(store, 2);
    store.request_trace(a, "doctor", &[74, 79], NOW).unwrap();
    store.request_trace(b, "doctor", &[79], NOW).unwrap();
    let waiting: Vec<(u64, Vec<u16>)> = store
        .uploads_to_publish()
        .unwrap()
        .into_iter()
        .map(|(u, regions)| (u.case_id, regions))
        .collect();
    assert_eq!(waiting, vec![(a, vec![74, 79]), (b, vec![79])]);
    let in_region = |id, region, cases| BatchRecord {
        region,
        ..batch(id, cases)
    };
    let (first, second) = (
        store.take_batch_id().unwrap(),
        store.take_batch_id().unwrap(),
    );
    let before = store.digest().unwrap();
    for wrong in [
        vec![],
        vec![
            in_region(first, 74, vec![a]),
            in_region(first, 79, vec![a, b]),
        ],
        vec![
            in_region(first, 79, vec![a]),
            in_region(second, 79, vec![a, b]),
        ],
        vec![in_region(first, 74, vec![a]), in_region(9, 79, vec![a, b])],
        vec![
            in_region(first, 74, vec![a]),
            in_region(second, 79, vec![a, 99]),
        ],
    ] {
        assert!(store.record_run(&wrong).is_err(), "{wrong:?}");
        assert_eq!(store.digest().unwrap(), before, "{wrong:?}");
    }
    let run = vec![
        in_region(first, 74, vec![a]),
        in_region(second, 79, vec![a, b]),
    ];
    store.record_run(&run).unwrap();
    assert_eq!(store.batches().unwrap(), run);
    assert!(store.uploads_to_publish().unwrap().is_empty());
    let published = |batches: Vec<RegionBatch>| CaseStatus::Published {
        at: NOW + 300,
        batches,
    };
    let region_batch = |region, batch_id| RegionBatch { region, batch_id };
    assert_eq!(
        store.case(a).unwrap().unwrap().status,
        published(vec![region_batch(74, first), region_batch(79, second)])
    );
    assert_eq!(
        store.case(b).unwrap().unwrap().status,
        published(vec![region_batch(79, second)])
    );
    assert_eq!(store.published_uploads().unwrap().len(), 2);
    assert_eq!(store.next_batch_id().unwrap(), second + 1);
    // And so after a reopen.
    let h = h.reopen();
    assert_eq!(h.store.batches().unwrap(), run);
    assert_eq!(
        h.store.case(b).unwrap().unwrap().status,
        published(vec![region_batch(79, second)])
    );
}

/// Audit entries are numbered from 1 in the order appended, read newest first through every
/// filter (account, action, time range, before a number, limit), kept across a reopen, and
/// never change the digest.
pub(crate) fn the_audit_log_is_appended_numbered_filtered_and_outside_the_digest<S: Store, G>(
    new: impl Fn() -> Harness<S, G>,
) {
    let h = new();
    let before = h.store.digest().unwrap();
    let entry = |at, account: &str, action: &str| AuditEntry {
        seq: 0,
        at,
        account: account.into(),
        client: Some("192.0.2.1".into()),
        action: action.into(),
        object: format!("case {at}"),
    };
    let appended: Vec<u64> = [
        entry(NOW, "doctor", "case_opened"),
        entry(NOW + 10, "admin", "login"),
        entry(NOW + 20, "doctor", "trace_requested"),
        entry(NOW + 30, "doctor", "f1_table_read"),
    ]
    .iter()
    .map(|e| h.store.append_audit(e).unwrap())
    .collect();
    assert_eq!(appended, vec![1, 2, 3, 4]);
    assert_eq!(
        h.store.digest().unwrap(),
        before,
        "the audit log is outside the digest"
    );
    let h = h.reopen();
    let read = |filter: AuditFilter| -> Vec<u64> {
        h.store
            .audit(&AuditFilter {
                limit: if filter.limit == 0 { 100 } else { filter.limit },
                ..filter
            })
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect()
    };
    assert_eq!(read(AuditFilter::default()), vec![4, 3, 2, 1]);
    let doctor = || Some("doctor".to_owned());
    assert_eq!(
        read(AuditFilter {
            account: doctor(),
            ..Default::default()
        }),
        vec![4, 3, 1]
    );
    let action = Some("login".to_owned());
    assert_eq!(
        read(AuditFilter {
            action,
            ..Default::default()
        }),
        vec![2]
    );
    let (from, to) = (Some(NOW + 10), Some(NOW + 30));
    assert_eq!(
        read(AuditFilter {
            from,
            to,
            ..Default::default()
        }),
        vec![3, 2]
    );
    let paged = AuditFilter {
        account: doctor(),
        before_seq: Some(4),
        limit: 1,
        ..Default::default()
    };
    assert_eq!(read(paged), vec![3]);
    let all = h
        .store
        .audit(&AuditFilter {
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        all[3],
        AuditEntry {
            seq: 1,
            ..entry(NOW, "doctor", "case_opened")
        }
    );
    assert_eq!(
        h.store
            .append_audit(&entry(NOW + 40, "-", "publication_run"))
            .unwrap(),
        5
    );
}

/// The configured retention: a row's sealed contact details go after `sealed_contact_days`
/// (the row stays), the row and its report after `f1_row_days`, a case with its code, upload
/// digest, upload, contact hashes and remaining rows after `case_days`; each purge removes
/// exactly that, and a second purge at the same time nothing.
pub(crate) fn retention_erases_contact_details_then_rows_then_cases<S: Store, G>(
    new: impl Fn() -> Harness<S, G>,
) {
    let h = new();
    let store = &h.store;
    let retention = Retention {
        sealed_contact_days: 10,
        f1_row_days: 20,
        case_days: 30,
    };
    let day = 86_400;
    let old = uploaded_case(store, 1);
    let recent = store
        .open_case(
            &CaseRecord {
                opened_at: NOW + 25 * day,
                ..case("recent")
            },
            &code(2),
        )
        .unwrap();
    let received = |at| F1RowRecord {
        received_at: at,
        ..row(old, 1, 1)
    };
    store
        .record_report(&[1; 16], NOW, vec![received(NOW)], &[])
        .unwrap();
    store
        .record_report(
            &[2; 16],
            NOW + 15 * day,
            vec![received(NOW + 15 * day)],
            &[],
        )
        .unwrap();
    let sealed = |row_no| {
        store
            .f1_row(old, row_no)
            .unwrap()
            .map(|r| !r.sealed_contact.is_empty())
    };
    assert_eq!((sealed(1), sealed(2)), (Some(true), Some(true)));
    // The protocol's own retention first (the upload's old daily key).
    store.purge(NOW, &retention).unwrap();
    // Day 10: row 1's contact details go, the row stays.
    assert_eq!(store.purge(NOW + 10 * day, &retention).unwrap(), 1);
    assert_eq!((sealed(1), sealed(2)), (Some(false), Some(true)));
    assert_eq!(store.purge(NOW + 10 * day, &retention).unwrap(), 0);
    // Day 20: row 1 and its report go (row 2 is 5 days old).
    let counts = store.counts().unwrap();
    store.purge(NOW + 20 * day, &retention).unwrap();
    assert_eq!((sealed(1), sealed(2)), (None, Some(true)));
    assert_eq!(store.counts().unwrap().f1_rows, counts.f1_rows - 1);
    assert_eq!(store.counts().unwrap().reports, counts.reports - 1);
    assert!(store.report_seen(&[2; 16]).unwrap() && !store.report_seen(&[1; 16]).unwrap());
    assert_eq!(store.f1_rows_of_districts(&[1]).unwrap().len(), 1);
    // Day 30: the old case goes with its code, upload and last row; the recent one stays.
    store.purge(NOW + 30 * day, &retention).unwrap();
    assert!(store.case(old).unwrap().is_none());
    assert!(store.case(recent).unwrap().is_some());
    assert!(store.f1_rows(old).unwrap().is_empty());
    assert!(store.f1_rows_of_districts(&[1]).unwrap().is_empty());
    assert!(
        store
            .contact_hashes()
            .unwrap()
            .iter()
            .all(|(c, _)| *c != old)
    );
    assert!(matches!(
        store.accept_upload(&code(1), &digest_of(1), NOW + 30 * day, &[], &[]),
        Err(StoreError::Code(CodeRefusal::Unknown))
    ));
    assert_eq!(
        store.repeated_upload(&code(1), &digest_of(1)).unwrap(),
        None
    );
    let after = store.digest().unwrap();
    assert_eq!(store.purge(NOW + 30 * day, &retention).unwrap(), 0);
    assert_eq!(store.digest().unwrap(), after);
    // Past the recent case's time too.
    store.purge(NOW + 55 * day, &retention).unwrap();
    assert_eq!(store.counts().unwrap().cases, 0);
}

/// A batch id taken is never given again, whether its batch is recorded or not (a crashed run
/// burns its id); a batch is recorded once, with a taken id or the next one.
pub(crate) fn a_taken_batch_id_is_never_given_again<S: Store, G>(new: impl Fn() -> Harness<S, G>) {
    let h = new();
    let a = uploaded_case(&h.store, 1);
    h.store.request_trace(a, "doctor", &[0], NOW).unwrap();
    assert_eq!(h.store.take_batch_id().unwrap(), 1);
    assert_eq!(h.store.take_batch_id().unwrap(), 2);
    assert_eq!(h.store.next_batch_id().unwrap(), 3);
    // Batch 1's run died: its id stays burnt, after a reopen too.
    let h = h.reopen();
    let store = &h.store;
    assert_eq!(store.next_batch_id().unwrap(), 3);
    let before = store.digest().unwrap();
    for wrong in [0, 4] {
        assert!(store.record_run(&[batch(wrong, vec![a])]).is_err());
        assert_eq!(store.digest().unwrap(), before);
    }
    store.record_run(&[batch(2, vec![a])]).unwrap();
    let before = store.digest().unwrap();
    assert!(store.record_run(&[batch(2, vec![a])]).is_err());
    assert_eq!(store.digest().unwrap(), before);
    assert_eq!(store.next_batch_id().unwrap(), 3);
    assert_eq!(store.take_batch_id().unwrap(), 3);
    assert_eq!(store.batches().unwrap(), vec![batch(2, vec![a])]);
}

/// Tracing is asked once (again changes nothing); a batch is recorded only with the next id
/// and only if all its cases exist, and moves exactly its cases to published.
pub(crate) fn record_batch_publishes_its_cases_and_only_the_next_batch<S: Store, G>(
    new: impl Fn() -> Harness<S, G>,
) {
    let h = new();
    let store = &h.store;
    let a = uploaded_case(store, 1);
    let b = uploaded_case(store, 2);
    let c = uploaded_case(store, 3);
    let awaiting = store.open_case(&case("no upload"), &code(4)).unwrap();
    assert!(matches!(
        store.request_trace(awaiting, "doctor", &[0], NOW),
        Err(StoreError::WrongCaseState { .. })
    ));
    assert!(matches!(
        store.request_trace(77, "doctor", &[0], NOW),
        Err(StoreError::NoSuchCase(77))
    ));
    for id in [a, b] {
        let traced = store.request_trace(id, "doctor", &[0], NOW + 100).unwrap();
        assert_eq!(
            traced.status,
            CaseStatus::TraceRequested {
                at: NOW + 100,
                by: "doctor".into(),
                regions: vec![0],
            }
        );
    }
    // Asking again changes nothing.
    let before = store.digest().unwrap();
    let again = store
        .request_trace(a, "someone else", &[0], NOW + 200)
        .unwrap();
    assert_eq!(
        again.status,
        CaseStatus::TraceRequested {
            at: NOW + 100,
            by: "doctor".into(),
            regions: vec![0],
        }
    );
    assert_eq!(store.digest().unwrap(), before);
    let waiting: Vec<u64> = store
        .uploads_to_publish()
        .unwrap()
        .iter()
        .map(|(u, _)| u.case_id)
        .collect();
    assert_eq!(waiting, vec![a, b]);
    assert!(store.published_uploads().unwrap().is_empty());
    assert_eq!(store.next_batch_id().unwrap(), 1);

    let before = store.digest().unwrap();
    for wrong in [0, 2] {
        assert!(store.record_run(&[batch(wrong, vec![a, b])]).is_err());
        assert_eq!(store.digest().unwrap(), before);
    }
    // A batch naming an unknown case is refused whole.
    assert!(matches!(
        store.record_run(&[batch(1, vec![a, 99])]),
        Err(StoreError::NoSuchCase(99))
    ));
    assert_eq!(store.digest().unwrap(), before);
    assert_eq!(store.next_batch_id().unwrap(), 1);

    store.record_run(&[batch(1, vec![a, b])]).unwrap();
    assert_eq!(store.next_batch_id().unwrap(), 2);
    assert_eq!(store.batches().unwrap(), vec![batch(1, vec![a, b])]);
    for id in [a, b] {
        assert_eq!(
            store.case(id).unwrap().unwrap().status,
            CaseStatus::Published {
                at: NOW + 300,
                batches: vec![RegionBatch {
                    region: 0,
                    batch_id: 1
                }],
            }
        );
    }
    assert_eq!(
        store.case(c).unwrap().unwrap().status,
        CaseStatus::UploadReceived { at: NOW + 60 }
    );
    assert!(store.uploads_to_publish().unwrap().is_empty());
    let published: Vec<(u64, Seconds)> = store
        .published_uploads()
        .unwrap()
        .iter()
        .map(|(u, at)| (u.case_id, *at))
        .collect();
    assert_eq!(published, vec![(a, NOW + 300), (b, NOW + 300)]);
    // A published case stays published when traced again.
    assert!(matches!(
        store.request_trace(a, "doctor", &[0], NOW + 400).unwrap().status,
        CaseStatus::Published { batches, .. } if batches[0].batch_id == 1
    ));
    // Batch 1 again is refused.
    let before = store.digest().unwrap();
    assert!(store.record_run(&[batch(1, vec![c])]).is_err());
    assert_eq!(store.digest().unwrap(), before);

    store.request_trace(c, "doctor", &[0], NOW + 500).unwrap();
    assert_eq!(
        store
            .uploads_to_publish()
            .unwrap()
            .iter()
            .map(|(u, _)| u.case_id)
            .collect::<Vec<_>>(),
        vec![c]
    );
    store.record_run(&[batch(2, vec![c])]).unwrap();
    assert_eq!(store.batches().unwrap().len(), 2);
    assert_eq!(store.published_uploads().unwrap().len(), 3);
    assert!(store.uploads_to_publish().unwrap().is_empty());
}

/// Rows are numbered 1, 2, ... per case in order of arrival; a report id is accepted once; a
/// refused report changes nothing, not even its other rows.
pub(crate) fn reports_number_rows_per_case_and_refuse_duplicates<S: Store, G>(
    new: impl Fn() -> Harness<S, G>,
) {
    let h = new();
    let store = &h.store;
    let a = uploaded_case(store, 1);
    let b = uploaded_case(store, 2);

    let stored = store
        .record_report(&[1; 16], NOW, vec![row(a, 1, 1), row(b, 2, 1)], &[])
        .unwrap();
    assert_eq!(
        stored
            .iter()
            .map(|r| (r.case_id, r.row_no))
            .collect::<Vec<_>>(),
        vec![(a, 1), (b, 1)]
    );
    // Two rows of one case in one report get consecutive numbers.
    let stored = store
        .record_report(&[2; 16], NOW + 1, vec![row(a, 3, 2), row(a, 1, 2)], &[])
        .unwrap();
    assert_eq!(
        stored
            .iter()
            .map(|r| (r.case_id, r.row_no))
            .collect::<Vec<_>>(),
        vec![(a, 2), (a, 3)]
    );
    assert!(store.report_seen(&[2; 16]).unwrap());
    assert!(!store.report_seen(&[3; 16]).unwrap());

    let before = store.digest().unwrap();
    let again = store.record_report(&[1; 16], NOW + 2, vec![row(b, 2, 1)], &[]);
    assert!(
        matches!(again, Err(StoreError::DuplicateReport)),
        "{again:?}"
    );
    assert_eq!(store.digest().unwrap(), before);
    // A report naming an unknown case changes nothing either, not even its other rows.
    let unknown = store.record_report(&[4; 16], NOW + 2, vec![row(b, 2, 4), row(99, 2, 4)], &[]);
    assert!(
        matches!(unknown, Err(StoreError::NoSuchCase(99))),
        "{unknown:?}"
    );
    assert_eq!(store.digest().unwrap(), before);
    assert!(!store.report_seen(&[4; 16]).unwrap());

    let table = store.f1_rows(a).unwrap();
    assert_eq!(
        table
            .iter()
            .map(|r| (r.row_no, r.report_id[0], r.district))
            .collect::<Vec<_>>(),
        vec![(1, 1, 1), (2, 2, 3), (3, 2, 1)]
    );
    assert_eq!(store.case(a).unwrap().unwrap().f1_rows, 3);
    assert_eq!(store.case(b).unwrap().unwrap().f1_rows, 1);
    assert_eq!(store.f1_row(a, 2).unwrap(), Some(table[1].clone()));
    assert_eq!(store.f1_row(a, 4).unwrap(), None);
    assert_eq!(store.counts().unwrap().reports, 2);
    assert_eq!(store.counts().unwrap().f1_rows, 4);

    // By district, then case, then row; districts asked twice or covering nothing are
    // harmless.
    let key_of = |r: &F1RowRecord| (r.district, r.case_id, r.row_no);
    let rows = store.f1_rows_of_districts(&[3, 1, 1, 7]).unwrap();
    assert_eq!(
        rows.iter().map(key_of).collect::<Vec<_>>(),
        vec![(1, a, 1), (1, a, 3), (3, a, 2)]
    );
    let rows = store.f1_rows_of_districts(&[2]).unwrap();
    assert_eq!(rows.iter().map(key_of).collect::<Vec<_>>(), vec![(2, b, 1)]);
    assert_eq!(rows[0], store.f1_rows(b).unwrap()[0]);
    assert!(store.f1_rows_of_districts(&[]).unwrap().is_empty());

    let followed = store
        .set_follow_up(a, 2, &follow_up(FollowUpStatus::Contacted, NOW + 5))
        .unwrap();
    assert_eq!(followed.follow_up.status, FollowUpStatus::Contacted);
    assert_eq!(store.f1_row(a, 2).unwrap().unwrap(), followed);
    assert!(matches!(
        store.set_follow_up(a, 9, &followed.follow_up),
        Err(StoreError::NoSuchRow { row_no: 9, .. })
    ));
}

/// Eight reports of one case arriving at once get the rows 1 to 8, each its own, and leave
/// what they would have left one after the other.
pub(crate) fn parallel_reports_of_one_case_get_rows_one_to_eight<S: Store, G>(
    new: impl Fn() -> Harness<S, G>,
) {
    let h = new();
    let store = &h.store;
    let case_id = uploaded_case(store, 1);
    let barrier = Barrier::new(8);
    let numbers: Vec<(u8, u32)> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..=8u8)
            .map(|i| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let stored = store
                        .record_report(&[i; 16], NOW, vec![row(case_id, 1, i)], &[])
                        .unwrap();
                    assert_eq!(stored.len(), 1);
                    (i, stored[0].row_no)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let distinct: BTreeSet<u32> = numbers.iter().map(|&(_, n)| n).collect();
    assert_eq!(distinct, (1..=8).collect::<BTreeSet<u32>>(), "{numbers:?}");
    let table = store.f1_rows(case_id).unwrap();
    assert_eq!(
        table.iter().map(|r| r.row_no).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<u32>>()
    );
    // Each row is its own report's, under the number its report was given.
    for r in &table {
        assert_eq!(r.sealed_contact, vec![r.report_id[0]; 176]);
        assert!(numbers.contains(&(r.report_id[0], r.row_no)), "{numbers:?}");
    }
    assert_eq!(store.case(case_id).unwrap().unwrap().f1_rows, 8);
    assert_eq!(store.f1_rows_of_districts(&[1]).unwrap(), table);
    assert_eq!(store.counts().unwrap().reports, 8);
    // The same reports one after the other, in the order the race numbered them, leave the
    // same records (the report records, naming their rows, among them).
    let sequential = new();
    uploaded_case(&sequential.store, 1);
    let mut in_order = numbers.clone();
    in_order.sort_by_key(|&(_, n)| n);
    for (i, _) in in_order {
        sequential
            .store
            .record_report(&[i; 16], NOW, vec![row(case_id, 1, i)], &[])
            .unwrap();
    }
    assert_eq!(store.digest().unwrap(), sequential.store.digest().unwrap());
}

/// Districts come in numeric order (not the order of their bytes or of the request), then
/// cases by id, then rows, whatever order the reports arrived in.
pub(crate) fn f1_rows_of_districts_are_ordered_by_district_case_and_row<S: Store, G>(
    new: impl Fn() -> Harness<S, G>,
) {
    let h = new();
    let store = &h.store;
    let a = uploaded_case(store, 1);
    let b = uploaded_case(store, 2);
    let (low, mid, high) = (1, 256, 70_000);
    store
        .record_report(&[1; 16], NOW, vec![row(b, high, 1), row(b, low, 1)], &[])
        .unwrap();
    store
        .record_report(&[2; 16], NOW, vec![row(a, mid, 2), row(a, low, 2)], &[])
        .unwrap();
    store
        .record_report(&[3; 16], NOW, vec![row(b, mid, 3), row(a, high, 3)], &[])
        .unwrap();
    let key_of = |r: &F1RowRecord| (r.district, r.case_id, r.row_no);
    let rows = store.f1_rows_of_districts(&[high, low, mid, 9]).unwrap();
    assert_eq!(
        rows.iter().map(key_of).collect::<Vec<_>>(),
        vec![
            (low, a, 2),
            (low, b, 2),
            (mid, a, 1),
            (mid, b, 3),
            (high, a, 3),
            (high, b, 1),
        ]
    );
    // The rows are the stored ones.
    for r in &rows {
        assert_eq!(store.f1_row(r.case_id, r.row_no).unwrap().as_ref(), Some(r));
    }
    assert_eq!(
        store
            .f1_rows_of_districts(&[mid])
            .unwrap()
            .iter()
            .map(key_of)
            .collect::<Vec<_>>(),
        vec![(mid, a, 1), (mid, b, 3)]
    );
}

/// A follow-up replaces its row's latest one and touches no other row; a row that does not
/// exist is refused and nothing changes.
pub(crate) fn follow_ups_replace_only_their_row<S: Store, G>(new: impl Fn() -> Harness<S, G>) {
    let h = new();
    let store = &h.store;
    let a = uploaded_case(store, 1);
    let b = uploaded_case(store, 2);
    store
        .record_report(
            &[1; 16],
            NOW,
            vec![row(a, 1, 1), row(a, 1, 1), row(b, 1, 1)],
            &[],
        )
        .unwrap();
    let untouched = (store.f1_row(a, 1).unwrap(), store.f1_row(b, 1).unwrap());
    for (status, at) in [
        (FollowUpStatus::Contacted, NOW + 10),
        (FollowUpStatus::Quarantined, NOW + 20),
    ] {
        let updated = store.set_follow_up(a, 2, &follow_up(status, at)).unwrap();
        assert_eq!(
            updated,
            F1RowRecord {
                row_no: 2,
                follow_up: follow_up(status, at),
                ..row(a, 1, 1)
            }
        );
        assert_eq!(store.f1_row(a, 2).unwrap(), Some(updated.clone()));
        assert_eq!(store.f1_rows_of_districts(&[1]).unwrap()[1], updated);
    }
    assert_eq!(
        (store.f1_row(a, 1).unwrap(), store.f1_row(b, 1).unwrap()),
        untouched
    );
    let closed = follow_up(FollowUpStatus::Closed, NOW);
    for (case_id, row_no) in [(a, 3), (b, 2), (99, 1), (a, 0)] {
        assert_refused(
            store,
            || store.set_follow_up(case_id, row_no, &closed),
            |e| match *e {
                StoreError::NoSuchRow {
                    case_id: c,
                    row_no: r,
                } => (c, r) == (case_id, row_no),
                _ => false,
            },
        );
    }
    assert_eq!(store.counts().unwrap().f1_rows, 3);
}

/// Sessions at their expiry, contact hashes heard 14 days or more ago and daily keys whose
/// every interval is older than 15 days go; the rest, and the uploads themselves, stay.
pub(crate) fn purge_erases_what_retention_no_longer_allows<S: Store, G>(
    new: impl Fn() -> Harness<S, G>,
) {
    let h = new();
    let store = &h.store;
    let now: Seconds = 1_700_006_400; // a multiple of 600
    store.insert_session(&session(1, now - 1)).unwrap();
    store.insert_session(&session(2, now)).unwrap();
    store.insert_session(&session(3, now + 1)).unwrap();

    let cutoff = now - CONTACT_RETENTION_SECONDS;
    let oldest = u32::try_from(now / 600 - KEY_RETENTION_INTERVALS).unwrap();
    // Case 1: one key past retention (its last interval is `oldest - 1`), one not (its
    // last interval is `oldest`), and one hash each side of the cutoff.
    store.open_case(&case("one"), &code(1)).unwrap();
    store
        .accept_upload(
            &code(1),
            &digest_of(1),
            now - 60,
            &[key(1, oldest - 144, 144), key(2, oldest - 143, 144)],
            &[([1; 16], cutoff), ([2; 16], cutoff + 1)],
        )
        .unwrap();
    // Case 2: every hash is old; its keys are fresh.
    store.open_case(&case("two"), &code(2)).unwrap();
    store
        .accept_upload(
            &code(2),
            &digest_of(2),
            now - 60,
            &[key(3, oldest + 144, 144)],
            &[([3; 16], cutoff - 86_400)],
        )
        .unwrap();
    // Traced, so that their keys can be read back (a purge does not look at case states).
    store.request_trace(1, "doctor", &[0], now - 30).unwrap();
    store.request_trace(2, "doctor", &[0], now - 30).unwrap();

    // Two sessions, two hashes, one key.
    assert_eq!(store.purge(now, &Retention::default()).unwrap(), 5);
    assert_eq!(store.session(&[1; 32]).unwrap(), None);
    assert_eq!(store.session(&[2; 32]).unwrap(), None);
    assert!(store.session(&[3; 32]).unwrap().is_some());
    assert_eq!(
        store.contact_hashes().unwrap(),
        vec![(1, vec![([2; 16], cutoff + 1)])]
    );
    let keys = |case_id: u64| keys_to_publish(store, case_id);
    assert_eq!(keys(1), vec![key(2, oldest - 143, 144)]);
    assert_eq!(keys(2), vec![key(3, oldest + 144, 144)]);
    // The uploads themselves stay: the cases still have them.
    assert_eq!(store.counts().unwrap().uploads, 2);

    // Purging again at the same time removes nothing and changes nothing.
    let digest = store.digest().unwrap();
    assert_eq!(store.purge(now, &Retention::default()).unwrap(), 0);
    assert_eq!(store.digest().unwrap(), digest);
    // One second later, the last session and the last hash go; the keys stay until the
    // next interval.
    assert_eq!(store.purge(now + 1, &Retention::default()).unwrap(), 2);
    assert_eq!(store.counts().unwrap().sessions, 0);
    assert!(store.contact_hashes().unwrap().is_empty());
    assert_eq!(keys(1), vec![key(2, oldest - 143, 144)]);
    assert_eq!(store.purge(now + 600, &Retention::default()).unwrap(), 1);
    assert!(keys(1).is_empty());
    assert_eq!(store.counts().unwrap().uploads, 2);
}

/// A purge that erases nothing (it returns 0) leaves every record as it was, an upload that
/// came without contact hashes included.
pub(crate) fn a_purge_that_erases_nothing_changes_nothing<S: Store, G>(
    new: impl Fn() -> Harness<S, G>,
) {
    let h = new();
    let store = &h.store;
    store.insert_session(&session(1, NOW + 3600)).unwrap();
    // Keys and hashes all within retention at `NOW + 1`.
    let fresh = u32::try_from(NOW / 600).unwrap() - 144;
    store.open_case(&case("no contacts"), &code(1)).unwrap();
    store
        .accept_upload(&code(1), &digest_of(1), NOW, &[key(1, fresh, 144)], &[])
        .unwrap();
    store.open_case(&case("contacts"), &code(2)).unwrap();
    store
        .accept_upload(
            &code(2),
            &digest_of(2),
            NOW,
            &[key(2, fresh, 144)],
            &[([2; 16], NOW)],
        )
        .unwrap();
    let (digest, hashes) = (store.digest().unwrap(), store.contact_hashes().unwrap());
    assert_eq!(store.purge(NOW + 1, &Retention::default()).unwrap(), 0);
    assert_eq!(store.digest().unwrap(), digest);
    assert_eq!(store.contact_hashes().unwrap(), hashes);
}

/// Each count follows its records, through refusals and purges.
pub(crate) fn counts_count_each_kind_of_record<S: Store, G>(new: impl Fn() -> Harness<S, G>) {
    let h = new();
    let store = &h.store;
    store.insert_account(&account("admin")).unwrap();
    assert!(store.insert_account(&account("admin")).is_err());
    store.insert_session(&session(1, NOW + 10)).unwrap();
    store.insert_session(&session(2, NOW + 3600)).unwrap();
    let a = uploaded_case(store, 1);
    uploaded_case(store, 2);
    store.open_case(&case("waiting"), &code(3)).unwrap();
    store.request_trace(a, "doctor", &[0], NOW).unwrap();
    store.record_run(&[batch(1, vec![a])]).unwrap();
    assert!(store.record_run(&[batch(1, vec![a])]).is_err());
    store
        .record_report(&[1; 16], NOW, vec![row(a, 1, 1), row(a, 2, 1)], &[])
        .unwrap();
    assert!(
        store
            .record_report(&[1; 16], NOW, vec![row(a, 1, 1)], &[])
            .is_err()
    );
    store.record_report(&[2; 16], NOW, vec![], &[]).unwrap();
    assert_eq!(
        store.counts().unwrap(),
        StoreCounts {
            accounts: 1,
            sessions: 2,
            cases: 3,
            uploads: 2,
            batches: 1,
            reports: 2,
            f1_rows: 2,
        }
    );
    // Far in the future: every session, hash and key goes, and, the configured retention
    // being longer still, nothing else.
    let long = Retention {
        sealed_contact_days: 1000,
        f1_row_days: 1000,
        case_days: 1000,
    };
    assert_eq!(store.purge(NOW + 100 * 86_400, &long).unwrap(), 2 + 2 + 2);
    assert_eq!(
        store.counts().unwrap(),
        StoreCounts {
            accounts: 1,
            sessions: 0,
            cases: 3,
            uploads: 2,
            batches: 1,
            reports: 2,
            f1_rows: 2,
        }
    );
}

/// The digest depends on the records only: not on the store, the order of insertion, or the
/// values a record had before; any different record changes it.
pub(crate) fn equal_contents_have_equal_digests<S: Store, G>(new: impl Fn() -> Harness<S, G>) {
    let (one, two) = (new(), new());
    let (x, y) = (&one.store, &two.store);
    assert_eq!(x.digest().unwrap(), y.digest().unwrap());
    for name in ["admin", "doctor"] {
        x.insert_account(&account(name)).unwrap();
    }
    for name in ["doctor", "admin"] {
        y.insert_account(&account(name)).unwrap();
    }
    x.insert_session(&session(1, NOW)).unwrap();
    x.insert_session(&session(2, NOW)).unwrap();
    y.insert_session(&session(2, NOW)).unwrap();
    y.insert_session(&session(1, NOW)).unwrap();
    for s in [x, y] {
        let a = uploaded_case(s, 1);
        s.record_report(&[1; 16], NOW, vec![row(a, 1, 1)], &[])
            .unwrap();
    }
    assert_eq!(x.digest().unwrap(), y.digest().unwrap());
    // Reading changes nothing.
    x.accounts().unwrap();
    x.f1_rows_of_districts(&[1]).unwrap();
    x.contact_hashes().unwrap();
    assert_eq!(x.digest().unwrap(), y.digest().unwrap());

    let contacted = follow_up(FollowUpStatus::Contacted, NOW + 1);
    x.set_follow_up(1, 1, &contacted).unwrap();
    assert_ne!(x.digest().unwrap(), y.digest().unwrap());
    y.set_follow_up(1, 1, &follow_up(FollowUpStatus::Tested, NOW + 1))
        .unwrap();
    assert_ne!(x.digest().unwrap(), y.digest().unwrap());
    y.set_follow_up(1, 1, &contacted).unwrap();
    assert_eq!(x.digest().unwrap(), y.digest().unwrap());

    // Every kind of record counts.
    let mut disabled = account("admin");
    disabled.disabled = true;
    let changes: [&dyn Fn(&S); 7] = [
        &|s: &S| s.update_account(&disabled).unwrap(),
        &|s: &S| s.delete_session(&[1; 32]).unwrap(),
        &|s: &S| {
            s.secret("codes", &mut || [1; 32]).unwrap();
        },
        &|s: &S| {
            s.open_case(&case("two"), &code(2)).unwrap();
        },
        &|s: &S| {
            s.request_trace(1, "doctor", &[0], NOW).unwrap();
        },
        &|s: &S| s.record_run(&[batch(1, vec![1])]).unwrap(),
        &|s: &S| {
            s.record_report(&[2; 16], NOW, vec![], &[]).unwrap();
        },
    ];
    for change in changes {
        let before = x.digest().unwrap();
        change(x);
        assert_ne!(x.digest().unwrap(), before);
        change(y);
        assert_eq!(x.digest().unwrap(), y.digest().unwrap());
    }
}

/// The largest records the workflow writes (long strings, fifteen keys, a full contact
/// history) are read back whole.
pub(crate) fn the_largest_records_still_decode<S: Store, G>(new: impl Fn() -> Harness<S, G>) {
    let h = new();
    let store = &h.store;
    let long = "x".repeat(4096);
    let mut record = case(&long);
    record.opened_by = long.clone();
    let case_id = store.open_case(&record, &code(1)).unwrap();
    let keys: Vec<StoredKey> = (0..15u8)
        .map(|i| key(i, 100 + 144 * u32::from(i), 144))
        .collect();
    let count = bluezone_protocol::MAX_UPLOAD_SIGHTINGS;
    let hashes: Vec<ContactHash> = (0..count)
        .map(|i| {
            let mut h = [0u8; 16];
            h[..4].copy_from_slice(&i.to_be_bytes());
            (h, NOW - u64::from(i))
        })
        .collect();
    store
        .accept_upload(&code(1), &digest_of(1), NOW, &keys, &hashes)
        .unwrap();
    assert_eq!(store.case(case_id).unwrap().unwrap().reference, long);
    assert_eq!(store.contact_hashes().unwrap(), vec![(case_id, hashes)]);
    store.request_trace(case_id, &long, &[0], NOW).unwrap();
    assert_eq!(store.uploads_to_publish().unwrap()[0].0.keys, keys);
}

/// Closed and opened again on the same storage, a store has every record, and its counters,
/// secrets and used codes go on where they were.
pub(crate) fn everything_survives_a_reopen<S: Store, G>(new: impl Fn() -> Harness<S, G>) {
    let mut h = new();
    let (digest, counts, secret, accounts, cases, hashes, batches, rows) = {
        let store = &h.store;
        let secret = store.secret("codes", &mut || [7; 32]).unwrap();
        assert_eq!(secret, [7; 32]);
        store.insert_account(&account("admin")).unwrap();
        store.insert_account(&account("doctor")).unwrap();
        let mut disabled = account("doctor");
        disabled.disabled = true;
        store.update_account(&disabled).unwrap();
        store.insert_session(&session(5, NOW + 3600)).unwrap();
        let a = uploaded_case(store, 1);
        let b = uploaded_case(store, 2);
        store.open_case(&case("waiting"), &code(3)).unwrap();
        store.request_trace(a, "doctor", &[0], NOW).unwrap();
        store.record_run(&[batch(1, vec![a])]).unwrap();
        store
            .record_report(&[1; 16], NOW + 20, vec![row(a, 1, 1)], &[])
            .unwrap();
        assert_eq!(b, 2);
        (
            store.digest().unwrap(),
            store.counts().unwrap(),
            secret,
            store.accounts().unwrap(),
            store.cases().unwrap(),
            store.contact_hashes().unwrap(),
            store.batches().unwrap(),
            store.f1_rows(a).unwrap(),
        )
    };
    assert_eq!(
        counts,
        StoreCounts {
            accounts: 2,
            sessions: 1,
            cases: 3,
            uploads: 2,
            batches: 1,
            reports: 1,
            f1_rows: 1,
        }
    );
    h = h.reopen();
    let store = &h.store;
    assert_eq!(store.digest().unwrap(), digest);
    assert_eq!(store.counts().unwrap(), counts);
    assert_eq!(store.secret("codes", &mut || [9; 32]).unwrap(), secret);
    assert_eq!(store.accounts().unwrap(), accounts);
    assert!(store.account("doctor").unwrap().unwrap().disabled);
    assert!(
        store
            .account("admin")
            .unwrap()
            .unwrap()
            .password
            .verify("correct horse battery staple")
    );
    assert_eq!(store.session(&[5; 32]).unwrap().unwrap().username, "admin");
    assert_eq!(store.cases().unwrap(), cases);
    assert_eq!(store.contact_hashes().unwrap(), hashes);
    assert_eq!(
        hashes,
        vec![(1, vec![([1; 16], NOW)]), (2, vec![([2; 16], NOW)])]
    );
    assert_eq!(store.batches().unwrap(), batches);
    assert!(store.report_seen(&[1; 16]).unwrap());
    assert_eq!(store.f1_rows(1).unwrap(), rows);
    assert_eq!(store.f1_rows_of_districts(&[1]).unwrap(), rows);
    assert_eq!(store.published_uploads().unwrap().len(), 1);
    // The counters go on where they were.
    assert_eq!(store.next_batch_id().unwrap(), 2);
    assert_eq!(store.open_case(&case("next"), &code(4)).unwrap(), 4);
    // The code used before the restart stays used; the one not used still works.
    assert!(matches!(
        store.accept_upload(&code(1), &digest_of(1), NOW + 100, &[], &[]),
        Err(StoreError::Code(CodeRefusal::Used))
    ));
    assert_eq!(
        store
            .accept_upload(&code(3), &digest_of(3), NOW + 100, &[], &[])
            .unwrap(),
        3
    );
}
