//! The abuse rules of issue 13 against the real server on loopback: one test per rule, each
//! of which fails if its rule is taken out of the server.

mod harness;

use harness::{Server, TestUnit, config};
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
