//! Bad input and abuse against the real server on loopback: each is refused with its own
//! stable error code, and the store's digest is the same afterwards (nothing was written).

mod harness;

use bluezone_protocol::{DeclarationCode, F0Upload, Phone, UnixTime};
use bluezone_server::domain::code::IssuedCode;
use harness::{Server, TestUnit, config, phone_with_history, unix_now};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::json;

fn upload_with(phone: &mut Phone, code: &str, rng: &mut ChaCha20Rng, now: u64) -> F0Upload {
    phone
        .prepare_f0_upload(
            DeclarationCode::new(code).unwrap(),
            UnixTime(now - 86_400),
            &[],
            UnixTime(now),
            rng,
        )
        .unwrap()
}

#[test]
fn each_abuse_gets_its_own_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let units = vec![
        TestUnit::new("north", vec![1]),
        TestUnit::new("south", vec![2]),
    ];
    let text = config(&dir.path().join("data"), &units, "code_ttl_seconds = 2");
    let server = Server::start(dir.path(), &text);
    let (admin, doctor, unit_tokens) = server.set_up_accounts(&units);
    let mut rng = ChaCha20Rng::seed_from_u64(99);
    let now = unix_now();

    // One code used by an upload, one left to expire.
    let open = |reference: &str| {
        let reply = server.post_json(
            "/api/v1/cases",
            Some(&doctor),
            &json!({"reference": reference}),
        );
        assert_eq!(reply.status, 201, "{}", reply.text());
        reply.json()["declaration_code"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let used_code = open("used");
    let expiring_code = open("expiring");
    let mut f0 = phone_with_history(&mut rng, now);
    let upload = upload_with(&mut f0, &used_code, &mut rng, now);
    let accepted = server.post_bytes("/phone/v1/uploads", &upload.to_bytes().unwrap());
    assert_eq!(accepted.status, 201, "{}", accepted.text());
    std::thread::sleep(std::time::Duration::from_millis(3100));

    let before = server.store_digest(&admin);
    let now = unix_now();
    let mut other = phone_with_history(&mut rng, now);
    let wrong = IssuedCode::generate(&mut rng);
    let mut post_upload = |code: &str| {
        let upload = upload_with(&mut other, code, &mut rng, now);
        server.post_bytes("/phone/v1/uploads", &upload.to_bytes().unwrap())
    };

    // A wrong code (well formed, opens no case), and a mistyped one (bad check character).
    let reply = post_upload(wrong.display());
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (404, "declaration_code_invalid")
    );
    let mut mistyped = used_code.clone();
    let last = mistyped.pop().unwrap();
    mistyped.push(if last == '0' { '1' } else { '0' });
    let reply = post_upload(&mistyped);
    assert_eq!(reply.error_code(), "declaration_code_invalid");

    // A reused code, and an expired one.
    let reply = post_upload(&used_code);
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (409, "declaration_code_used")
    );
    let reply = post_upload(&expiring_code);
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (410, "declaration_code_expired")
    );

    // Another unit's F1 list.
    let reply = server.get("/api/v1/units/south/f1", Some(&unit_tokens[0]), &[]);
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (403, "forbidden_district")
    );
    // A unit worker on a treatment-facility route, and a doctor on an admin route.
    let reply = server.get("/api/v1/cases", Some(&unit_tokens[0]), &[]);
    assert_eq!(reply.error_code(), "forbidden_role");
    let reply = server.post_json("/api/v1/publication/run", Some(&doctor), &json!({}));
    assert_eq!(reply.error_code(), "forbidden_role");

    // A forged session, and none.
    let forged = "ab".repeat(32);
    let reply = server.get("/api/v1/cases", Some(&forged), &[]);
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (401, "session_invalid")
    );
    let reply = server.get("/api/v1/cases", Some("not-hex"), &[]);
    assert_eq!(reply.error_code(), "session_invalid");
    let reply = server.get("/api/v1/cases", None, &[]);
    assert_eq!(reply.error_code(), "unauthenticated");

    // Oversized bodies: one byte over each limit.
    let reply = server.post_bytes("/phone/v1/uploads", &vec![0u8; (4 << 20) + 1]);
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (413, "body_too_large")
    );
    let reply = server.post_bytes("/phone/v1/reports", &vec![0u8; (64 << 10) + 1]);
    assert_eq!(reply.error_code(), "body_too_large");
    let big = json!({"reference": "x".repeat(70_000)});
    let reply = server.post_json("/api/v1/cases", Some(&doctor), &big);
    assert_eq!(reply.error_code(), "body_too_large");

    // Malformed uploads and reports: garbage, and a valid upload cut short.
    let valid = upload_with(&mut other, &used_code, &mut rng, now)
        .to_bytes()
        .unwrap();
    for bytes in [&b"BZ"[..], &valid[..valid.len() / 2], &[0xffu8; 4096][..]] {
        let reply = server.post_bytes("/phone/v1/uploads", bytes);
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (400, "malformed_upload")
        );
        let reply = server.post_bytes("/phone/v1/reports", bytes);
        assert_eq!(reply.error_code(), "malformed_report");
    }
    // Malformed JSON, an unknown field, an unknown route.
    let reply = server.post_json(
        "/api/v1/cases",
        Some(&doctor),
        &json!(["not", "an", "object"]),
    );
    assert_eq!(reply.error_code(), "bad_request");
    let reply = server.post_json(
        "/api/v1/cases",
        Some(&doctor),
        &json!({"reference": "r", "name": "x"}),
    );
    assert_eq!(reply.error_code(), "bad_request");
    let reply = server.get("/no/such/route", None, &[]);
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (404, "route_not_found")
    );
    let reply = server.get("/phone/v1/uploads", None, &[]);
    assert_eq!(reply.error_code(), "method_not_allowed");

    assert_eq!(
        server.store_digest(&admin),
        before,
        "a refused request changed the store"
    );
}

#[test]
fn wrong_codes_and_wrong_passwords_are_throttled() {
    let dir = tempfile::tempdir().unwrap();
    let units = vec![TestUnit::new("north", vec![1])];
    let extra = "[throttle]\ncode_failures_per_client = 3\nlogin_failures_per_account = 3\n";
    let server = Server::start(dir.path(), &config(&dir.path().join("data"), &units, extra));
    let (_admin, doctor, _) = server.set_up_accounts(&units);
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let now = unix_now();
    let reply = server.post_json("/api/v1/cases", Some(&doctor), &json!({}));
    let good_code = reply.json()["declaration_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut phone = phone_with_history(&mut rng, now);
    for _ in 0..3 {
        let wrong = IssuedCode::generate(&mut rng);
        let upload = upload_with(&mut phone, wrong.display(), &mut rng, now);
        let reply = server.post_bytes("/phone/v1/uploads", &upload.to_bytes().unwrap());
        assert_eq!(reply.error_code(), "declaration_code_invalid");
    }
    // The fourth attempt is refused before its code is looked at, even a right one.
    let upload = upload_with(&mut phone, &good_code, &mut rng, now);
    let reply = server.post_bytes("/phone/v1/uploads", &upload.to_bytes().unwrap());
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (429, "declaration_code_throttled")
    );
    let wait: u64 = reply.header("retry-after").unwrap().parse().unwrap();
    assert!(wait > 3000 && wait <= 3600, "{wait}");

    // Three wrong passwords lock the account for the window, right password or not.
    for _ in 0..3 {
        let reply = server.post_json(
            "/api/v1/login",
            None,
            &json!({"username": "doctor", "password": "wrong password!"}),
        );
        assert_eq!(reply.error_code(), "login_failed");
    }
    let reply = server.post_json(
        "/api/v1/login",
        None,
        &json!({"username": "doctor", "password": "correct horse battery staple"}),
    );
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (429, "login_throttled")
    );
}
