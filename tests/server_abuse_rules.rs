//! The abuse rules of issue 13 against the real server on loopback: one test per rule, each
//! of which fails if its rule is taken out of the server.

mod harness;

use bluezone_protocol::{DeclarationCode, Phone, PhoneConfig, UnixTime};
use harness::{Server, TestUnit, config, scan, unix_now};
use rand_chacha::ChaCha20Rng;
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

/// The bytes of an F0 upload with `code` from a phone that heard another for half an hour.
fn upload_bytes(code: &str, rng: &mut ChaCha20Rng, now: u64) -> Vec<u8> {
    let mut phones = vec![
        Phone::new(PhoneConfig::default()),
        Phone::new(PhoneConfig::default()),
    ];
    scan(rng, &mut phones, now - 3600, now - 1800, &[(0, 1, -55)]);
    phones[0]
        .prepare_f0_upload(
            DeclarationCode::new(code).unwrap(),
            UnixTime(now - 86_400),
            &[],
            UnixTime(now),
            rng,
        )
        .unwrap()
        .to_bytes()
        .unwrap()
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
