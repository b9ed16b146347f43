//! The abuse rules of issue 13 against the real server on loopback: one test per rule, each
//! of which fails if its rule is taken out of the server.

mod harness;

use bluezone_protocol::{
    AssociatedEncryptedMetadata, ContactDetails, F1Report, MAX_ONE_SIDED_ROWS_PER_RPI, Phone,
    PhoneConfig, ReportId, RollingProximityId, SealedContactDetails, Sighting, UnixTime,
};
use bluezone_testkit::scan;
use harness::{
    Server, TestUnit, config, publisher_key, share_history, sync_and_report, unix_now, upload_bytes,
};
use rand_chacha::ChaCha20Rng;
use rand_core::Rng;
use rand_core::SeedableRng;
use serde_json::json;

const PASSWORD: &str = "correct horse battery staple";

/// A password change ends the account's other sessions; the session that made the change,
/// and other accounts' sessions, go on.
#[test]
fn a_password_change_ends_the_accounts_other_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let units = vec![TestUnit::new("north", vec![1])];
    let server = Server::start(dir.path(), &config(&dir.path().join("data"), &units, ""));
    let (admin, doctor, _) = server.set_up_accounts(&units);
    // The doctor is logged in twice more: a second browser, and a stolen token.
    let laptop = server.login("doctor", PASSWORD);
    let stolen = server.login("doctor", PASSWORD);
    for token in [&doctor, &laptop, &stolen] {
        assert_eq!(server.get("/api/v1/me", Some(token), &[]).status, 200);
    }

    let new_password = "a new and much longer passphrase";
    let reply = server.post_json(
        "/api/v1/me/password",
        Some(&laptop),
        &json!({"current": PASSWORD, "new": new_password}),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());

    for token in [&doctor, &stolen] {
        let reply = server.get("/api/v1/cases", Some(token), &[]);
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (401, "session_invalid"),
            "a session of the old password still works"
        );
    }
    assert_eq!(server.get("/api/v1/cases", Some(&laptop), &[]).status, 200);
    assert_eq!(
        server.get("/api/v1/accounts", Some(&admin), &[]).status,
        200
    );
    // The old password no longer logs in; the new one does.
    let reply = server.post_json(
        "/api/v1/login",
        None,
        &json!({"username": "doctor", "password": PASSWORD}),
    );
    assert_eq!(reply.error_code(), "login_failed");
    server.login("doctor", new_password);
}

/// Log in as `username` from `client` (through the loopback proxy the server trusts).
fn login_from(server: &Server, client: &str, username: &str, password: &str) -> (u16, String) {
    let reply = server.post_json_with(
        "/api/v1/login",
        None,
        &json!({"username": username, "password": password}),
        &[("X-Forwarded-For", client)],
    );
    let code = if reply.status == 200 {
        String::new()
    } else {
        reply.error_code()
    };
    (reply.status, code)
}

/// Strangers guessing `admin`'s password from other addresses are held to their limits, per
/// address and over all of them, and the owner, who logged in from 127.0.0.1 before, still
/// logs in. A wrong current password on `/api/v1/me/password` counts as a failed login.
#[test]
fn strangers_cannot_lock_the_owner_out_and_password_changes_are_throttled() {
    let dir = tempfile::tempdir().unwrap();
    let units = vec![TestUnit::new("north", vec![1])];
    let extra = "trusted_proxies = [\"127.0.0.1\"]\n[throttle]\n\
                 login_failures_per_account = 3\nlogin_failures_per_account_all_clients = 5\n";
    let server = Server::start(dir.path(), &config(&dir.path().join("data"), &units, extra));
    // The owners log in from 127.0.0.1 (no X-Forwarded-For: the peer itself).
    let (admin, doctor, _) = server.set_up_accounts(&units);
    let admin_password = server.admin_password.clone().unwrap();

    // A stranger at one address: three wrong guesses, then refused even with the right one.
    for _ in 0..3 {
        let got = login_from(&server, "203.0.113.5", "admin", "guess guess guess");
        assert_eq!(got, (401, "login_failed".into()));
    }
    let got = login_from(&server, "203.0.113.5", "admin", &admin_password);
    assert_eq!(got, (429, "login_throttled".into()));
    // Others at other addresses: the account-wide limit of 5 over all strangers holds.
    for _ in 0..2 {
        let got = login_from(&server, "203.0.113.6", "admin", "guess guess guess");
        assert_eq!(got, (401, "login_failed".into()));
    }
    for stranger in ["203.0.113.6", "198.51.100.9"] {
        let got = login_from(&server, stranger, "admin", &admin_password);
        assert_eq!(got, (429, "login_throttled".into()), "{stranger}");
    }
    // The owner, at the address it logged in from before, is not locked out.
    let got = login_from(&server, "127.0.0.1", "admin", &admin_password);
    assert_eq!(got, (200, String::new()), "the owner was locked out");
    server.login("admin", &admin_password);

    // Wrong current passwords on a password change: the limit of the (account, address) pair.
    let change = |current: &str| {
        server.post_json(
            "/api/v1/me/password",
            Some(&doctor),
            &json!({"current": current, "new": "another long enough passphrase"}),
        )
    };
    for _ in 0..3 {
        let reply = change("not the current password");
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (401, "login_failed")
        );
    }
    let reply = change(PASSWORD);
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (429, "login_throttled"),
        "wrong current passwords are not throttled"
    );
    assert!(reply.header("retry-after").is_some());
    assert_eq!(server.get("/api/v1/me", Some(&admin), &[]).status, 200);
}

/// A phone that lost the 201 and sends the same upload again gets 201 again, as often as it
/// retries, and the retries do not use up the client's budget of wrong codes: a fresh code
/// from the same address still works. Other bytes with the used code stay 409.
#[test]
fn a_repeated_upload_is_answered_as_the_first_and_costs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let units = vec![TestUnit::new("north", vec![1])];
    let extra = "[throttle]\ncode_failures_per_client = 3\n";
    let server = Server::start(dir.path(), &config(&dir.path().join("data"), &units, extra));
    let (admin, doctor, _) = server.set_up_accounts(&units);
    let mut rng = ChaCha20Rng::seed_from_u64(13);
    let now = unix_now();
    let open = || {
        let reply = server.post_json("/api/v1/cases", Some(&doctor), &json!({}));
        assert_eq!(reply.status, 201, "{}", reply.text());
        reply.json()["declaration_code"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    let code = open();
    let upload = upload_bytes(&code, &mut rng, now);
    let first = server.post_bytes("/phone/v1/uploads", &upload);
    assert_eq!(first.status, 201, "{}", first.text());
    let after_first = server.store_digest(&admin);
    for retry in 0..5 {
        let again = server.post_bytes("/phone/v1/uploads", &upload);
        assert_eq!(
            (again.status, again.json()),
            (first.status, first.json()),
            "retry {retry}: {}",
            again.text()
        );
    }
    assert_eq!(
        server.store_digest(&admin),
        after_first,
        "a retry changed the store"
    );

    // Another upload with the used code is still refused, and counts as a wrong code.
    let other = upload_bytes(&code, &mut rng, now);
    let reply = server.post_bytes("/phone/v1/uploads", &other);
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (409, "declaration_code_used")
    );
    // Five retries and one wrong code: a budget of three would be spent if retries counted.
    let fresh = open();
    let reply = server.post_bytes("/phone/v1/uploads", &upload_bytes(&fresh, &mut rng, now));
    assert_eq!(reply.status, 201, "{}", reply.text());
}

/// A hand-made report of one sighting, sealed to the unit of `district`.
fn forged_report(
    server: &Server,
    sighting: Sighting,
    district: u32,
    rng: &mut ChaCha20Rng,
) -> Vec<u8> {
    let (_, units) = publisher_key(server);
    let unit = units
        .iter()
        .find(|(districts, _)| districts.contains(&district))
        .map(|(_, key)| *key)
        .unwrap();
    let mut id = [0u8; 16];
    rng.fill_bytes(&mut id);
    let report_id = ReportId(id);
    let details = ContactDetails {
        phone_number: "84900000000".into(),
        name: String::new(),
        district,
        consent_time: UnixTime(unix_now()),
    };
    F1Report {
        report_id,
        district,
        rssi_correction_db: 0,
        sightings: vec![sighting],
        own_rpis: vec![],
        contact: SealedContactDetails::seal(&details, &report_id, &unit, rng).unwrap(),
    }
    .to_bytes()
    .unwrap()
}

/// One beacon of a published F0, overheard, cannot mint F1 rows: a sighting claiming hours of
/// it is refused, the same sighting twice is refused, and variations of a plausible one give
/// at most `MAX_ONE_SIDED_ROWS_PER_RPI` one-sided rows, which the API and the console show
/// apart from the row confirmed both ways.
#[test]
fn one_overheard_beacon_mints_a_bounded_number_of_one_sided_rows() {
    let dir = tempfile::tempdir().unwrap();
    let units = vec![
        TestUnit::new("north", vec![1]),
        TestUnit::new("south", vec![2]),
    ];
    let server = Server::start(dir.path(), &config(&dir.path().join("data"), &units, ""));
    let (admin, doctor, _) = server.set_up_accounts(&units);
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let now = unix_now();

    // The F0 and a real F1 hear each other for half an hour, three hours ago; an attacker
    // overhears one of the F0's beacons then.
    let mut phones = vec![
        Phone::new(PhoneConfig::default()),
        Phone::new(PhoneConfig::default()),
    ];
    let start = harness::meetings_start(now, 1800);
    scan(
        &mut rng,
        &mut phones,
        UnixTime(start),
        UnixTime(start + 1800),
        &[(0, 1, -60), (1, 0, -60)],
    );
    let heard_at = start + 600;
    let beacon = phones[0]
        .broadcast(UnixTime(heard_at), &mut rng)
        .advertisement;
    let interval_start = heard_at - heard_at % 600;

    let reply = server.post_json("/api/v1/cases", Some(&doctor), &json!({}));
    let case_id = reply.json()["case_id"].as_u64().unwrap();
    let code = reply.json()["declaration_code"]
        .as_str()
        .unwrap()
        .to_owned();
    share_history(&server, &mut phones[0], &code, &mut rng, now);
    let trace = server.post_json(
        &format!("/api/v1/cases/{case_id}/trace"),
        Some(&doctor),
        &json!({}),
    );
    assert_eq!(trace.status, 200, "{}", trace.text());
    let run = server.post_json("/api/v1/publication/run", Some(&admin), &json!({}));
    assert_eq!(run.status, 200, "{}", run.text());
    let honest = sync_and_report(&server, &mut phones[1], "84911111111", 1, &mut rng, now);
    assert_eq!(honest.len(), 1);

    let sighting = |first: u64, last: u64, scans: u32, rssi_max: i8| Sighting {
        rpi: RollingProximityId(beacon.rpi.0),
        aem: AssociatedEncryptedMetadata(beacon.aem.0),
        first_seen: UnixTime(first),
        last_seen: UnixTime(last),
        scans,
        rssi_min: -90,
        rssi_max,
        rssi_mean: -90,
    };
    let post = |bytes: Vec<u8>| {
        let reply = server.post_bytes("/phone/v1/reports", &bytes);
        let code = if reply.status == 200 {
            String::new()
        } else {
            reply.error_code()
        };
        (reply.status, code)
    };
    let refused = (422, "report_rejected".to_owned());

    // The attack: four hours of one beacon, thirty times, to either unit.
    for i in 0..30u32 {
        let long = sighting(interval_start - 7_000, interval_start + 7_000, 50, -90);
        assert_eq!(
            post(forged_report(&server, long, 1 + i % 2, &mut rng)),
            refused,
            "report {i}"
        );
    }
    // A sighting that fits its RPI (600 s, 3 scans of 300 s) verifies, one-sided, once.
    let fits = sighting(interval_start, interval_start + 600, 3, -90);
    assert_eq!(
        post(forged_report(&server, fits, 1, &mut rng)),
        (200, String::new())
    );
    assert_eq!(
        post(forged_report(&server, fits, 2, &mut rng)),
        refused,
        "claimed twice"
    );
    // Variations of it (other bytes, same claim) add at most the per-RPI bound.
    let mut accepted = 1;
    for k in 1..=8i8 {
        let variant = sighting(interval_start, interval_start + 600, 3, -90 + k);
        if post(forged_report(
            &server,
            variant,
            1 + (k as u32) % 2,
            &mut rng,
        ))
        .0 == 200
        {
            accepted += 1;
        }
    }
    assert_eq!(accepted, MAX_ONE_SIDED_ROWS_PER_RPI);

    // The API lists the row confirmed both ways first, then the one-sided ones, flagged.
    let table = server
        .get(&format!("/api/v1/cases/{case_id}/f1"), Some(&doctor), &[])
        .json();
    let flags: Vec<bool> = table
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["one_sided"].as_bool().unwrap())
        .collect();
    let mut expected = vec![false];
    expected.extend(vec![true; MAX_ONE_SIDED_ROWS_PER_RPI as usize]);
    assert_eq!(flags, expected);
    // The console shows them in two sections, both ways first.
    let cookie = format!("bz_session={doctor}");
    let page = server.get(
        &format!("/console/cases/{case_id}"),
        None,
        &[("Cookie", &cookie)],
    );
    assert_eq!(page.status, 200);
    let html = page.text();
    let both = html
        .find("data-one-sided=\"false\"")
        .expect("a both-ways section");
    let one = html
        .find("data-one-sided=\"true\"")
        .expect("a one-sided section");
    assert!(both < one);
}

/// Reports are throttled per client address: every report counts, accepted or not, and once
/// the address's budget is spent the next is refused with `report_throttled` and
/// `Retry-After` before it is looked at. Other routes are not affected.
#[test]
fn reports_are_throttled_per_client_address() {
    let dir = tempfile::tempdir().unwrap();
    let units = [TestUnit::new("north", vec![1])];
    let extra = "[throttle]\nreports_per_client = 3\nreport_window_seconds = 3600\n";
    let server = Server::start(dir.path(), &config(&dir.path().join("data"), &units, extra));
    for attempt in 0..3 {
        let reply = server.post_bytes("/phone/v1/reports", b"not a report");
        assert_eq!(
            (reply.status, reply.error_code()),
            (400, "malformed_report".to_owned()),
            "attempt {attempt}"
        );
    }
    let refused = server.post_bytes("/phone/v1/reports", b"not a report");
    assert_eq!(
        (refused.status, refused.error_code()),
        (429, "report_throttled".to_owned())
    );
    let wait: u64 = refused
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&wait), "Retry-After: {wait}");
    // Uploads have budgets of their own.
    let upload = server.post_bytes("/phone/v1/uploads", b"not an upload");
    assert_eq!(upload.error_code(), "malformed_upload");
}
