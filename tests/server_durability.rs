//! Durability: everything the server acknowledged is there after `SIGKILL` and a restart, and
//! the restarted server verifies reports against what it published before (its in-memory
//! index is rebuilt from the store).

mod harness;

use bluezone_protocol::{DeclarationCode, Phone, PhoneConfig, UnixTime};
use bluezone_testkit::scan;
use harness::{Server, TestUnit, config, sync_and_report, unix_now};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::json;

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let units = vec![TestUnit::new("north", vec![1])];
    let text = config(&dir.path().join("data"), &units, "");
    let server = Server::start(dir.path(), &text);
    let admin_password = server.admin_password.clone().unwrap();
    let (admin, doctor, unit_tokens) = server.set_up_accounts(&units);
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let now = unix_now();

    // Eight pairs (F0, F1) in contact two hours ago.
    const PAIRS: usize = 8;
    let mut f0s = Vec::new();
    let mut f1s = Vec::new();
    for _ in 0..PAIRS {
        let mut pair = vec![
            Phone::new(PhoneConfig::default()),
            Phone::new(PhoneConfig::default()),
        ];
        scan(
            &mut rng,
            &mut pair,
            UnixTime(now - 7200),
            UnixTime(now - 5400),
            &[(0, 1, -55), (1, 0, -55)],
        );
        f1s.push(pair.pop().unwrap());
        f0s.push(pair.pop().unwrap());
    }
    let upload_case = |phone: &mut Phone, rng: &mut ChaCha20Rng| {
        let reply = server.post_json("/api/v1/cases", Some(&doctor), &json!({}));
        let case = reply.json();
        let code = case["declaration_code"].as_str().unwrap().to_owned();
        let upload = phone
            .prepare_f0_upload(
                DeclarationCode::new(&code).unwrap(),
                UnixTime(now - 86_400),
                &[],
                UnixTime(now),
                rng,
            )
            .unwrap();
        let reply = server.post_bytes("/phone/v1/uploads", &upload.to_bytes().unwrap());
        assert_eq!(reply.status, 201, "{}", reply.text());
        case["case_id"].as_u64().unwrap()
    };
    // The first six cases are traced, published and reported; the last two only uploaded.
    let cases: Vec<u64> = f0s.iter_mut().map(|p| upload_case(p, &mut rng)).collect();
    for case in &cases[..6] {
        let reply = server.post_json(
            &format!("/api/v1/cases/{case}/trace"),
            Some(&doctor),
            &json!({}),
        );
        assert_eq!(reply.status, 200);
    }
    let run = server.post_json("/api/v1/publication/run", Some(&admin), &json!({}));
    assert_eq!(run.json()["batches"][0]["cases"], json!(&cases[..6]));
    let mut reports = Vec::new();
    for phone in &mut f1s[..5] {
        let ids = sync_and_report(&server, phone, "84911111111", 1, &mut rng, now);
        assert_eq!(ids.len(), 1);
        reports.push(ids[0]);
    }
    let before = server.store_digest(&admin);
    server.kill();

    let server = Server::start(dir.path(), &text);
    assert!(
        server.admin_password.is_none(),
        "a restart must not create a second admin"
    );
    let admin = server.login("admin", &admin_password);
    // Everything is there; the one new record is the session of this login.
    let mut expected = before["counts"].clone();
    expected["sessions"] = json!(expected["sessions"].as_u64().unwrap() + 1);
    assert_eq!(server.store_digest(&admin)["counts"], expected);
    let doctor = server.login("doctor", "correct horse battery staple");
    for (i, case) in cases.iter().enumerate() {
        let reply = server.get(&format!("/api/v1/cases/{case}"), Some(&doctor), &[]);
        let status = reply.json()["status"].as_str().unwrap().to_owned();
        let expected = if i < 6 {
            "published"
        } else {
            "upload_received"
        };
        assert_eq!(status, expected, "case {case}");
        let rows = server
            .get(&format!("/api/v1/cases/{case}/f1"), Some(&doctor), &[])
            .json();
        let expected_rows = usize::from(i < 5);
        assert_eq!(rows.as_array().unwrap().len(), expected_rows, "case {case}");
        if i < 5 {
            assert_eq!(rows[0]["f1_id"], json!(hex::encode(reports[i].0)));
        }
    }
    let unit = server.login("north-worker", "correct horse battery staple");
    assert_ne!(unit, unit_tokens[0]);
    let listed = server
        .get("/api/v1/units/north/f1", Some(&unit), &[])
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 5);

    // The sixth F1 reports after the restart: the rebuilt index verifies it.
    let ids = sync_and_report(&server, &mut f1s[5], "84922222222", 1, &mut rng, now);
    assert_eq!(ids.len(), 1);
    let rows = server
        .get(
            &format!("/api/v1/cases/{}/f1", cases[5]),
            Some(&doctor),
            &[],
        )
        .json();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    // The unpublished cases can still be traced and published.
    for case in &cases[6..] {
        server.post_json(
            &format!("/api/v1/cases/{case}/trace"),
            Some(&doctor),
            &json!({}),
        );
    }
    let run = server.post_json("/api/v1/publication/run", Some(&admin), &json!({}));
    assert_eq!(run.json()["batches"][0]["batch_id"], json!(2));
    assert_eq!(run.json()["batches"][0]["cases"], json!(&cases[6..]));
}
