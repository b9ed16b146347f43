//! Preventive-medicine units registered by an admin over the JSON API, not in the configuration
//! file: held to the configured units' rules, stored (they survive a restart), listed to phones
//! by `GET /phone/v1/config`, and used to accept and route F1 reports, on the real binary.

mod harness;

use harness::{Server, TestUnit, config, share_history, sync_and_report, unix_now};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

fn unit_body(unit: &TestUnit) -> Value {
    json!({
        "name": unit.name,
        "districts": unit.districts,
        "public_key": hex::encode(unit.private_key.public_key().as_bytes()),
    })
}

fn config_units(server: &Server) -> Vec<(String, Vec<u64>)> {
    let config = server.get("/phone/v1/config", None, &[]).json();
    config["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let districts = u["districts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap())
                .collect();
            (u["name"].as_str().unwrap().to_owned(), districts)
        })
        .collect()
}

#[test]
fn an_admin_registers_a_unit_that_phones_report_to_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let north = TestUnit::new("north", vec![1]);
    let south = TestUnit::new("south", vec![2, 3]);
    let text = config(&dir.path().join("data"), std::slice::from_ref(&north), "");
    let server = Server::start(dir.path(), &text);
    let admin_password = server.admin_password.clone().unwrap();
    let (admin, doctor, _) = server.set_up_accounts(std::slice::from_ref(&north));

    // Before it is registered, a report to district 2 has no unit.
    let refused = server.post_json(
        "/api/v1/accounts",
        Some(&admin),
        &json!({"username": "south-worker", "password": "correct horse battery staple",
                "role": "preventive_unit", "unit": "south", "must_change_password": false}),
    );
    assert_eq!(refused.error_code(), "unknown_unit");

    let registered = server.post_json("/api/v1/units", Some(&admin), &unit_body(&south));
    assert_eq!(registered.status, 201, "{}", registered.text());
    assert_eq!(registered.json(), unit_body(&south));
    assert_eq!(
        config_units(&server),
        [("north".into(), vec![1]), ("south".into(), vec![2, 3])]
    );

    // The configured units' rules, each refusal with its own code and nothing stored.
    let digest = server.store_digest(&admin);
    let mut key_of_north = unit_body(&south);
    key_of_north["name"] = json!("north");
    let mut overlapping = unit_body(&TestUnit::new("east", vec![4, 3]));
    overlapping["districts"] = json!([4, 3]);
    let mut short_key = unit_body(&TestUnit::new("west", vec![5]));
    short_key["public_key"] = json!("abcd");
    let mut bad_name = unit_body(&TestUnit::new("west", vec![5]));
    bad_name["name"] = json!("West Unit");
    for (body, status, code, words) in [
        (&key_of_north, 409, "unit_exists", "unit north twice"),
        (
            &overlapping,
            409,
            "unit_district_taken",
            "district 3 covered by both south and east",
        ),
        (
            &short_key,
            400,
            "unit_invalid",
            "public_key must be 64 hex characters",
        ),
        (&bad_name, 400, "unit_invalid", "1 to 64 characters"),
    ] {
        let reply = server.post_json("/api/v1/units", Some(&admin), body);
        assert_eq!(reply.status, status, "{}", reply.text());
        assert_eq!(reply.error_code(), code);
        let message = reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains(words), "{message}");
    }
    let by_doctor = server.post_json(
        "/api/v1/units",
        Some(&doctor),
        &unit_body(&TestUnit::new("west", vec![5])),
    );
    assert_eq!(by_doctor.error_code(), "forbidden_role");
    assert_eq!(
        server.store_digest(&admin),
        digest,
        "refusals store nothing"
    );

    // It is stored: after a restart it is still served, and reports are routed to it.
    server.kill();
    let server = Server::start(dir.path(), &text);
    let admin = server.login("admin", &admin_password);
    let doctor = server.login("doctor", "correct horse battery staple");
    assert_eq!(
        config_units(&server),
        [("north".into(), vec![1]), ("south".into(), vec![2, 3])]
    );
    let listed = server.get("/api/v1/units", Some(&doctor), &[]).json();
    assert_eq!(listed["units"][1], unit_body(&south));
    let worker = server.post_json(
        "/api/v1/accounts",
        Some(&admin),
        &json!({"username": "south-worker", "password": "correct horse battery staple",
                "role": "preventive_unit", "unit": "south", "must_change_password": false}),
    );
    assert_eq!(worker.status, 201, "{}", worker.text());
    let south_worker = server.login("south-worker", "correct horse battery staple");

    let mut rng = ChaCha20Rng::seed_from_u64(16);
    let now = unix_now();
    let mut phones = harness::phones_that_met(&mut rng, 2, &[(0, 1, -55), (1, 0, -55)], now);
    let opened = server
        .post_json(
            "/api/v1/cases",
            Some(&doctor),
            &json!({"reference": "HP-7"}),
        )
        .json();
    let case_id = opened["case_id"].as_u64().unwrap();
    share_history(
        &server,
        &mut phones[0],
        opened["declaration_code"].as_str().unwrap(),
        &mut rng,
        now,
    );
    server.post_json(
        &format!("/api/v1/cases/{case_id}/trace"),
        Some(&doctor),
        &json!({}),
    );
    server.post_json("/api/v1/publication/run", Some(&admin), &json!({}));
    let reports = sync_and_report(&server, &mut phones[1], "84900000002", 3, &mut rng, now);
    assert_eq!(reports.len(), 1, "the report to district 3 is verified");
    let rows = server
        .get("/api/v1/units/south/f1", Some(&south_worker), &[])
        .json();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["district"], json!(3));
}
